//! km-oidc's integration tests: one binary, one module per concern.

mod common;
mod emulator;
mod faults;
mod grant_refusals;
mod suite;

mod against_emulator {
    crate::adapter_suite!(server: crate::common::Server::emulator());
}

mod against_oidc_provider {
    crate::adapter_suite!(
        #[ignore = "needs Node and oidc-provider: run .ci/run, or .ci/oidc-provider.sh and pass --include-ignored"]
        server: crate::common::Server::oidc_provider()
    );
}
