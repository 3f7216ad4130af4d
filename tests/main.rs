//! The core's integration tests, in one binary.

mod gateway;
mod provisioning;
mod secrets;
