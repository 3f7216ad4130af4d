//! The shared storage conformance suite runs on PostgreSQL through this factory (one schema
//! per case, dropped after it): see the invocation in `tests/conformance/mod.rs`.

use std::sync::Arc;

use keyprov::store::Store;

use super::TestSchema;
use crate::conformance::Fixture;

/// A store in a fresh schema; panics without `KEYPROV_PG_URL`.
pub async fn conformance_fixture() -> Fixture {
    let schema = TestSchema::new();
    let store: Arc<dyn Store> = schema.open().await;
    Fixture::with_guard(store, schema)
}
