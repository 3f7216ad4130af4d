//! Integration tests of the core crate: one test binary, one module per area.

mod conformance;
