//! The contract, in pages: what keyprov promises and why. The same pages are the Markdown files
//! under `docs/` in the repository.

#[doc = include_str!("../docs/provisioning.md")]
pub mod provisioning {}

#[doc = include_str!("../docs/gateway.md")]
pub mod gateway {}

#[doc = include_str!("../docs/key-managers.md")]
pub mod key_managers {}

#[doc = include_str!("../docs/errors.md")]
pub mod errors {}

#[doc = include_str!("../docs/wso2-differences.md")]
pub mod wso2_differences {}

#[doc = include_str!("../docs/performance.md")]
pub mod performance {}
