//! The core's integration tests, in one binary.

mod conformance;
mod front_page;
mod gateway;
#[cfg(feature = "postgres")]
mod postgres;
mod provisioning;
mod readme_toml;
mod reconciler;
mod secrets;
