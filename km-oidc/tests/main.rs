//! km-oidc's integration tests: one binary, one module per concern.

mod common;
mod emulator;
mod faults;
mod suite;

mod against_emulator {
    crate::adapter_suite!(crate::common::Server::emulator());
}

mod against_oidc_provider {
    crate::adapter_suite!(crate::common::Server::oidc_provider());
}
