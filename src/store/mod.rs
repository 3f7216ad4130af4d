//! Storage: the [`Store`] trait and its backends.
//!
//! Every backend enforces the uniqueness rules of behaviour.md P3 itself (unique constraints,
//! not a read before the write), so that concurrent attempts have exactly one winner, and every
//! write is atomic. All backends pass one conformance suite (`tests/conformance/`).
//!
//! - [`MemoryStore`]: in-process, for tests and embedding.
//! - `SqliteStore` (feature `sqlite`, default): an embedded SQLite file, or in-memory.
//! - The PostgreSQL backend lives behind feature `postgres`.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::model::{
    Api, ApiId, Application, ApplicationId, ConsumerKey, KeyManagerId, KeyMapping, MappingId,
    MappingState, Subscription, UserId,
};

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{Durability, Execution, SqliteOptions, SqliteStore};

/// What deleting an application removed, so that events can be published for each part.
#[derive(Clone, Debug, PartialEq)]
pub struct DeletedApplication {
    /// The application.
    pub application: Application,
    /// Its mappings, each removed.
    pub mappings: Vec<KeyMapping>,
    /// Its subscriptions, each removed.
    pub subscriptions: Vec<Subscription>,
}

/// Durable state: applications, APIs, subscriptions and key mappings.
///
/// Implementations are used as `Arc<dyn Store>` and must be safe under concurrent calls.
#[async_trait]
pub trait Store: fmt::Debug + Send + Sync + 'static {
    /// Stores a new application.
    ///
    /// # Errors
    /// `ApplicationExists` when the owner already has an application of that name in the
    /// organization; `Storage` on backend failure.
    async fn create_application(&self, application: &Application) -> Result<()>;

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
    async fn put_api(&self, api: &Api) -> Result<()>;

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
    async fn put_subscription(&self, subscription: &Subscription) -> Result<Subscription>;

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
    ) -> Result<Option<Subscription>>;

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
    async fn insert_mapping(&self, mapping: &KeyMapping) -> Result<()>;

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
    async fn delete_mapping(&self, id: MappingId) -> Result<Option<KeyMapping>>;

    /// Sets a mapping's state and `updated_at`, returning the mapping as it is now.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    async fn set_mapping_state(
        &self,
        id: MappingId,
        state: MappingState,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyMapping>>;
}
