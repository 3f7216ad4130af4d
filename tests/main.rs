//! Integration tests of the core: one binary, one module per concern.

#[cfg(feature = "postgres")]
mod postgres;
