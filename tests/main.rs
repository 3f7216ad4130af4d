//! The core's integration tests, in one binary.

mod conformance;
mod provisioning;
mod secrets;
