//! The router over real HTTP on loopback, against the WSO2 IS emulator.

mod bearer;
mod common;
mod errors;
mod openapi;
mod operations;
mod secrets;
