//! The core's integration tests, in one binary.

#[cfg(feature = "postgres")]
mod postgres;
mod provisioning;
mod secrets;
