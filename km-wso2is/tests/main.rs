//! km-wso2is against its emulator over real HTTP on loopback, and against the wire fixtures.

mod common;
mod console;
mod drift;
mod faults;
mod fixtures;
mod gateway;
mod provisioning;
mod tokens;
mod versions;
