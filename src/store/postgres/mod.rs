//! The PostgreSQL backend (feature `postgres`): several nodes share one database.
//!
//! - **Uniqueness (P3)** is two `UNIQUE` constraints on `mappings`, so it holds across
//!   processes; a violation becomes [`Error::MappingExists`] naming the rule, by constraint name.
//! - **Events (P6)**: every change writes `pg_notify('<schema>_events', <event JSON>)` in the
//!   transaction of the change (the outbox table carries events over 8000 bytes), so a
//!   notification is delivered iff the change committed. A [`ChangeFeed`] on each node LISTENs
//!   and republishes the events into a local [`EventSink`](crate::EventSink); after a lost
//!   connection it reconnects and publishes [`Event::Resync`], upon which consumers reload
//!   their view from the tables. On a node that uses the feed, leave the provisioner's own
//!   event sink unconnected (its default), or its events arrive twice (harmless: every event
//!   carries the state after the change, so applying one again changes nothing).
//! - **Faults**: connection loss, server shutdown, serialization failures and statement
//!   timeouts are retryable [`Error::Storage`]; the pool drops dead connections and opens new
//!   ones by itself. Multi-row changes run in one transaction.
//! - **Migrations** are versioned and applied by [`PostgresStore::open`] under an advisory lock.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use keyprov::store::postgres::{ChangeFeed, PostgresConfig, PostgresStore};
//! use keyprov::Broadcast;
//!
//! # async fn run() -> keyprov::Result<()> {
//! let config = PostgresConfig::builder("postgres://keyprov@db.internal/keyprov").build()?;
//! let store = Arc::new(PostgresStore::open(config.clone()).await?);
//! // Every node: events of every node's changes arrive here.
//! let events = Broadcast::default();
//! let feed = ChangeFeed::start(config, Arc::new(events.clone())).await?;
//! # drop((store, feed)); Ok(()) }
//! ```

mod batch;
mod config;
mod error;
mod feed;
mod rows;
mod schema;
mod store;

pub use config::{PostgresConfig, PostgresConfigBuilder};
pub use feed::ChangeFeed;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};

use crate::error::{Error, Result};
#[cfg(doc)]
use crate::events::Event;

/// A [`Store`](super::Store) on PostgreSQL. Cheap to share behind an `Arc`; holds a pool of
/// connections.
pub struct PostgresStore {
    pool: Pool,
    config: PostgresConfig,
    channel: String,
    batcher: batch::Batcher,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("schema", &self.config.schema())
            .field("connections", &status.size)
            .field("max_connections", &status.max_size)
            .finish()
    }
}

impl PostgresStore {
    /// Connects, and brings the schema to the latest version (creating it if needed). Safe
    /// when several processes open the same database at once.
    ///
    /// # Errors
    /// Retryable [`Error::Storage`] when the database cannot be reached; non-retryable
    /// `Storage` when a migration fails (nothing of it is kept); [`Error::Config`] when the
    /// database holds a newer schema than this build.
    pub async fn open(config: PostgresConfig) -> Result<Self> {
        let manager = Manager::from_config(
            config.connection(config.application_name()),
            tokio_postgres::NoTls,
            ManagerConfig {
                // A connection whose backend went away is noticed by its driver task and
                // dropped at checkout; the first call after a restart may still fail
                // (retryable), the next gets a new connection.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.wait_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| Error::storage("open: cannot build the connection pool", false, e))?;
        let store = Self {
            batcher: batch::Batcher::start(pool.clone(), config.channel()),
            pool,
            channel: config.channel(),
            config,
        };
        let mut client = store.conn("open").await?;
        schema::migrate(&mut client, store.config.schema()).await?;
        Ok(store)
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// The schema version the database is at.
    ///
    /// # Errors
    /// `Storage` on backend failure.
    pub async fn schema_version(&self) -> Result<i32> {
        let client = self.conn("schema_version").await?;
        let row = client
            .query_one("SELECT max(version) FROM schema_migrations", &[])
            .await
            .map_err(|e| error::from_pg(e, "schema_version", &Default::default()))?;
        Ok(row.get(0))
    }

    async fn conn(&self, what: &str) -> Result<Object> {
        self.pool.get().await.map_err(|e| error::from_pool(e, what))
    }
}
