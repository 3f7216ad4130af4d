//! The core's integration tests, in one binary.

mod conformance;
mod gateway;
mod provisioning;
mod secrets;
