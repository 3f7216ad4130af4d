//! Storage: the [`Store`] trait and its backends.
//!
//! Every backend enforces the [uniqueness rules (P3)](crate::guide::provisioning) itself
//! (unique constraints, not a read before the write), so that concurrent attempts have exactly
//! one winner, and every write is atomic. Every write publishes its changes, numbered by
//! [`Revision`], on the store's change stream ([`Store::changes`]) once it is durable. All
//! backends pass one conformance suite (`tests/conformance/`).
//!
//! - [`MemoryStore`]: in-process, for tests and embedding.
//! - `SqliteStore` (feature `sqlite`, default): an embedded SQLite file, or in-memory.
//! - [`PostgresStore`] (feature `postgres`): a shared PostgreSQL database for several nodes,
//!   with a change feed over `LISTEN/NOTIFY` ([`postgres::ChangeFeed`]).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
use crate::error::Result;
use crate::events::{Changes, Committed, Revision};
use crate::model::{
    Api, ApiId, Application, ApplicationId, ConsumerKey, KeyManagerId, KeyMapping, MappingId,
    MappingState, Subscription, UserId,
};

mod lock;
mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use lock::{LocalPassLock, PassGuard, PassLock};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{Durability, Execution, SqliteOptions, SqliteStore};

/// The changes deleting an application makes, in the order they are published: each mapping
/// removed, each subscription removed, then the application.
pub(crate) fn deletion_events(
    mappings: &[KeyMapping],
    subscriptions: &[Subscription],
    application: ApplicationId,
) -> Vec<crate::events::Event> {
    use crate::events::Event;
    mappings
        .iter()
        .map(|m| Event::MappingRemoved { mapping: m.clone() })
        .chain(subscriptions.iter().map(|s| Event::SubscriptionRemoved {
            application: s.application,
            api: s.api.clone(),
        }))
        .chain([Event::ApplicationDeleted { application }])
        .collect()
}

/// What deleting an application removed, so that events can be published for each part.
#[derive(Clone, Debug, PartialEq)]
pub struct DeletedApplication {
    /// The application.
    pub application: Application,
    /// Its mappings, each removed.
    pub mappings: Vec<KeyMapping>,
    /// Its subscriptions, each removed.
    pub subscriptions: Vec<Subscription>,
    /// The revision of the last change the deletion made.
    pub revision: Revision,
}

/// A mapping's state change: the mapping as it is now and the state before.
#[derive(Clone, Debug, PartialEq)]
pub struct StateChange {
    /// The mapping as it is now.
    pub mapping: KeyMapping,
    /// Its state before.
    pub previous: MappingState,
}

/// Everything a gateway's view holds, read at one revision.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The revision the snapshot reflects: every change up to it, none after.
    pub revision: Revision,
    /// Every API.
    pub apis: Vec<Api>,
    /// Every mapping.
    pub mappings: Vec<KeyMapping>,
    /// Every subscription.
    pub subscriptions: Vec<Subscription>,
}

/// Durable state: applications, APIs, subscriptions and key mappings.
///
/// Implementations are used as `Arc<dyn Store>` and must be safe under concurrent calls.
/// Each write publishes its changes on [`Store::changes`] after it is durable, one
/// [`Revision`] per change, in revision order, and returns the revision of its last change
/// (a write that changed nothing returns the store's current revision).
#[async_trait]
pub trait Store: fmt::Debug + Send + Sync + 'static {
    /// Subscribes to the changes published from now on.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) when this store was opened without a change
    /// stream (a PostgreSQL store opened with its change feed off).
    fn changes(&self) -> Result<Changes>;

    /// The lock a [`Reconciler`](crate::reconciler::Reconciler) holds for each pass, so that
    /// one pass at a time runs over this store's data: a lock every node of a shared database
    /// sees (PostgreSQL), or a [`LocalPassLock`] of this store value for single-node stores.
    fn pass_lock(&self) -> Arc<dyn PassLock>;

    /// The current revision.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn revision(&self) -> Result<Revision>;

    /// APIs, mappings and subscriptions, with the revision they reflect, read consistently.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn snapshot(&self) -> Result<Snapshot>;

    /// Stores a new application.
    ///
    /// # Errors
    /// `ApplicationExists` when the owner already has an application of that name in the
    /// organization; `Storage` on backend failure.
    async fn create_application(&self, application: &Application) -> Result<Revision>;

    /// An application by id.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn application(&self, id: ApplicationId) -> Result<Option<Application>>;

    /// The applications a user owns, oldest first.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn applications_of(&self, owner: &UserId) -> Result<Vec<Application>>;

    /// Deletes an application with its mappings and subscriptions, atomically.
    ///
    /// # Errors
    /// `Storage` on backend failure (then nothing was deleted).
    async fn delete_application(&self, id: ApplicationId) -> Result<Option<DeletedApplication>>;

    /// Creates or replaces an API.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn put_api(&self, api: &Api) -> Result<Revision>;

    /// An API by id.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn api(&self, id: &ApiId) -> Result<Option<Api>>;

    /// Every API.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn apis(&self) -> Result<Vec<Api>>;

    /// Creates or replaces the subscription of `subscription.application` to
    /// `subscription.api` (keeping the original `created_at` when replacing).
    ///
    /// # Errors
    /// `ApplicationNotFound` / `ApiNotFound` when either does not exist; `Storage` on backend
    /// failure.
    async fn put_subscription(
        &self,
        subscription: &Subscription,
    ) -> Result<Committed<Subscription>>;

    /// One subscription.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn subscription(
        &self,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Option<Subscription>>;

    /// Removes a subscription, returning it.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn delete_subscription(
        &self,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Option<Committed<Subscription>>>;

    /// An application's subscriptions.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn subscriptions_of(&self, application: ApplicationId) -> Result<Vec<Subscription>>;

    /// Every subscription (to load a gateway's view).
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn all_subscriptions(&self) -> Result<Vec<Subscription>>;

    /// Inserts a mapping, enforcing both halves of P3 atomically.
    ///
    /// # Errors
    /// `MappingExists(rule)` naming the rule hit; `ApplicationNotFound` when the application
    /// does not exist (any more); `Storage` on backend failure. On error nothing is stored.
    async fn insert_mapping(&self, mapping: &KeyMapping) -> Result<Revision>;

    /// A mapping by id.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn mapping(&self, id: MappingId) -> Result<Option<KeyMapping>>;

    /// The mapping of a consumer key at a key manager.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn mapping_by_consumer_key(
        &self,
        key_manager: &KeyManagerId,
        consumer_key: &ConsumerKey,
    ) -> Result<Option<KeyMapping>>;

    /// An application's mappings, oldest first.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn mappings_of(&self, application: ApplicationId) -> Result<Vec<KeyMapping>>;

    /// Every mapping (to load a gateway's view).
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn all_mappings(&self) -> Result<Vec<KeyMapping>>;

    /// Deletes a mapping, returning it.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn delete_mapping(&self, id: MappingId) -> Result<Option<Committed<KeyMapping>>>;

    /// Sets a mapping's state and `updated_at`, returning the mapping as it is now and the
    /// state it replaced. The change is published only when the state differs.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn set_mapping_state(
        &self,
        id: MappingId,
        state: MappingState,
        at: DateTime<Utc>,
    ) -> Result<Option<Committed<StateChange>>>;

    /// Every application, oldest first.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn all_applications(&self) -> Result<Vec<Application>>;

    /// Stores `applications`, then `mappings`, in one transaction: all or nothing. Publishes
    /// an application created for each application, then a mapping created for each mapping,
    /// in that order.
    ///
    /// # Errors
    /// As [`Store::create_application`] and [`Store::insert_mapping`] for the first row that
    /// fails (`ApplicationExists`, `MappingExists` naming the rule, `ApplicationNotFound`);
    /// then nothing is stored and nothing published. `Storage` on backend failure.
    async fn import(
        &self,
        applications: Vec<Application>,
        mappings: Vec<KeyMapping>,
    ) -> Result<Revision>;

    /// Appends entries to the audit trail (what changed nothing else, such as a refused
    /// attempt). Changes made inside an [audit scope](crate::audit::scope) are recorded by
    /// the write that makes them, in its transaction: every write of a backend records
    /// [`audit::entries_for`](crate::audit::entries_for) its events under
    /// [`audit::current`](crate::audit::current), when there is one.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn record_audit(&self, entries: &[AuditEntry]) -> Result<()>;

    /// The audit records that match `query`, oldest first.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;

    /// Removes the audit records from before `before`; returns how many went.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64>;
}
