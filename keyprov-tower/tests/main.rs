//! The layer in real servers on loopback, driven by real clients (reqwest, tonic), with real
//! tokens from the WSO2 IS emulator.

mod grpc;
mod http;
mod support;
