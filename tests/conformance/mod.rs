//! The storage conformance suite: every backend runs the same cases.
//!
//! A backend joins with one macro invocation whose factory is an `async` expression that yields
//! an `Arc<dyn Store>` (or a [`Fixture`] that also keeps a temporary directory alive). A backend
//! that needs a server is marked `#[ignore = "why"]` (every case gets the attribute), and its
//! factory panics when the server is missing, so that a run asking for it cannot pass without:
//!
//! ```ignore
//! store_conformance!(#[ignore = "needs PostgreSQL"] postgres, async { postgres_store().await });
//! ```
//!
//! Every case runs on a multi-thread runtime so that the race cases race for real.

use std::any::Any;
use std::sync::Arc;

use keyprov::store::{Execution, MemoryStore, SqliteOptions, SqliteStore, Store};

pub mod support;

mod audit;
mod changes;
mod crud;
mod provisioning;
mod races;
mod sqlite_only;

/// A store under test, and whatever must outlive it (a temporary directory).
pub struct Fixture {
    /// The store.
    pub store: Arc<dyn Store>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl Fixture {
    /// A store that needs `guard` kept alive until the test ends.
    pub fn with_guard(store: Arc<dyn Store>, guard: impl Any + Send + Sync) -> Self {
        Self {
            store,
            _guard: Some(Box::new(guard)),
        }
    }
}

/// What a conformance factory may yield.
pub trait IntoFixture {
    /// The fixture.
    fn into_fixture(self) -> Fixture;
}

impl IntoFixture for Arc<dyn Store> {
    fn into_fixture(self) -> Fixture {
        Fixture {
            store: self,
            _guard: None,
        }
    }
}

impl IntoFixture for Fixture {
    fn into_fixture(self) -> Fixture {
        self
    }
}

/// Instantiates every conformance case for one backend, as module `$backend`; attributes
/// before the backend's name (`#[ignore = "why"]`) go on every case.
#[macro_export]
macro_rules! store_conformance {
    ($(#[$attr:meta])* $backend:ident, $factory:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            $crate::store_conformance!(@cases [$(#[$attr])*] $factory;
                crud::applications_round_trip,
                crud::application_exists,
                crud::apis_round_trip,
                crud::subscriptions_round_trip,
                crud::subscription_needs_application_and_api,
                crud::mappings_round_trip,
                crud::mapping_needs_application,
                crud::uniqueness_rules,
                crud::set_mapping_state,
                crud::delete_application_cascades,
                changes::every_write_publishes_its_changes_in_revision_order,
                changes::failed_writes_publish_nothing,
                changes::snapshot_holds_everything_at_its_revision,
                races::same_consumer_key_has_one_winner,
                races::same_key_slot_has_one_winner,
                races::same_consumer_key_under_other_key_managers_is_allowed,
                races::delete_application_is_atomic_under_concurrent_inserts,
                races::pass_lock_has_one_holder,
                provisioning::success_stores_one_row_and_publishes_one_event,
                provisioning::key_manager_unavailable_leaves_nothing,
                provisioning::client_not_found_leaves_nothing,
                provisioning::wrong_secret_leaves_nothing,
                provisioning::unusable_client_leaves_nothing,
                provisioning::conflict_at_insert_leaves_nothing,
                provisioning::application_deleted_before_insert_leaves_nothing,
                provisioning::concurrent_provisioning_has_one_winner,
                audit::every_change_and_refusal_is_recorded_with_who_and_which_request,
                audit::a_failed_write_records_nothing,
                audit::import_is_all_or_nothing,
                audit::prune_removes_only_older_records,
                audit::provisioner_import_checks_every_row_then_stores_all,
            );
        }
    };
    // The attributes travel as one bracketed token tree, unpacked per case by `@case`.
    (@cases $attrs:tt $factory:expr; $($module:ident :: $case:ident),+ $(,)?) => {
        $(
            $crate::store_conformance!(@case $attrs $factory; $module::$case);
        )+
    };
    (@case [$(#[$attr:meta])*] $factory:expr; $module:ident :: $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        $(#[$attr])*
        async fn $case() {
            let fixture = $crate::conformance::IntoFixture::into_fixture($factory.await);
            $crate::conformance::$module::$case(::std::sync::Arc::clone(&fixture.store)).await;
            drop(fixture);
        }
    };
}

/// A SQLite store on a fresh file in a temporary directory removed after the test.
pub fn sqlite_file(options: SqliteOptions) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store =
        SqliteStore::open_with(dir.path().join("keyprov.db"), options).expect("open sqlite file");
    Fixture::with_guard(Arc::new(store), dir)
}

store_conformance!(memory, async {
    Arc::new(MemoryStore::new()) as Arc<dyn Store>
});
store_conformance!(sqlite_memory, async {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite")) as Arc<dyn Store>
});
store_conformance!(sqlite_file, async { sqlite_file(SqliteOptions::default()) });
store_conformance!(sqlite_file_blocking_pool, async {
    sqlite_file(SqliteOptions::default().execution(Execution::BlockingPool))
});
#[cfg(feature = "postgres")]
store_conformance!(
    #[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
    postgres,
    async { crate::postgres::conformance::conformance_fixture().await }
);
