//! keyprov's benchmarks, in a package of their own (not published) so that their dependencies
//! (criterion, jsonwebtoken) stay out of the root package's examples and tests. The library is
//! empty: the benchmarks are the `gateway` criterion bench and the examples.
//!
//! ```text
//! cargo bench -p keyprov-benches
//! cargo run --release -p keyprov-benches --example bench_gateway
//! cargo run --release -p keyprov-benches --example bench_provision
//! cargo run --release -p keyprov-benches --features postgres --example bench_postgres
//! cargo build --release -p keyprov-benches --example gateway_profile
//! ```
