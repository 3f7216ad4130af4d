//! The PostgreSQL backend (feature `postgres`): several nodes share one database.
//!
//! - **Uniqueness (P3)** is two `UNIQUE` constraints on `mappings`, so it holds across
//!   processes; a violation becomes [`Error::MappingExists`] naming the rule, by constraint name.
//! - **Changes ([P6](crate::guide::provisioning))**: every write advances a counter in the
//!   database (its [`Revision`](crate::events::Revision), which every node agrees on) and
//!   writes `pg_notify('<schema>_events', <change JSON>)` in the transaction of the change (the
//!   outbox table carries changes over 8000 bytes), so a notification is delivered iff the
//!   change committed, in revision order. Each store runs a [`ChangeFeed`] that LISTENs and
//!   republishes every node's changes on [`Store::changes`](crate::store::Store::changes);
//!   after a lost connection it reconnects and publishes [`Event::Resync`], upon which
//!   gateways reload their view from the tables.
//! - **Faults**: connection loss, server shutdown, serialization failures and statement
//!   timeouts are retryable [`Error::Storage`]; the pool drops dead connections and opens new
//!   ones by itself. Multi-row changes run in one transaction.
//! - **One reconciler pass at a time** across nodes: [`PostgresPassLock`], a session-level
//!   advisory lock on a connection of its own, which a node that dies releases.
//! - **Migrations** are versioned and applied by [`PostgresStore::open`] under an advisory lock.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use keyprov::gateway::Gateway;
//! use keyprov::store::postgres::{PostgresConfig, PostgresStore};
//! use keyprov::{KeyManagers, Provisioner};
//!
//! # async fn run(key_managers: KeyManagers) -> keyprov::Result<()> {
//! let config = PostgresConfig::builder("postgres://keyprov@db.internal/keyprov").build()?;
//! let store = Arc::new(PostgresStore::open(config).await?); // migrated, change feed listening
//! let provisioner = Provisioner::builder()
//!     .store(store.clone())
//!     .key_managers(key_managers.clone())
//!     .build()?;
//! let gateway = Gateway::builder().key_managers(key_managers).build()?;
//! let _following = gateway.follow(&provisioner).await?; // every node's changes arrive here
//! let api = provisioner.revision().await?;
//! // A revision returned on any node can be waited for on every node.
//! gateway.wait_for(api, Duration::from_secs(2)).await?;
//! # Ok(()) }
//! ```

mod batch;
mod config;
mod error;
mod feed;
mod lock;
mod rows;
mod schema;
mod store;

pub use config::{PostgresConfig, PostgresConfigBuilder};
pub use feed::ChangeFeed;
pub use lock::PostgresPassLock;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::events::ChangeLog;
#[cfg(doc)]
use crate::events::Event;

/// A [`Store`](super::Store) on PostgreSQL. Cheap to share behind an `Arc`; holds a pool of
/// connections.
pub struct PostgresStore {
    pool: Pool,
    config: PostgresConfig,
    channel: String,
    batcher: batch::Batcher,
    log: Arc<ChangeLog>,
    feed: Option<ChangeFeed>,
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
    /// Connects, brings the schema to the latest version (creating it if needed), and starts
    /// the store's change feed (unless the config turns it off). Safe when several processes
    /// open the same database at once.
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
        let mut store = Self {
            batcher: batch::Batcher::start(pool.clone(), config.channel()),
            pool,
            channel: config.channel(),
            config,
            log: Arc::new(ChangeLog::new()),
            feed: None,
        };
        let mut client = store.conn("open").await?;
        schema::migrate(&mut client, store.config.schema()).await?;
        drop(client);
        if store.config.change_feed {
            store.feed = Some(ChangeFeed::start(store.config.clone(), store.log.clone()).await?);
        }
        Ok(store)
    }

    /// The store's change feed, when it runs (to watch its connection).
    pub fn change_feed(&self) -> Option<&ChangeFeed> {
        self.feed.as_ref()
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

    /// The newest schema version this library knows.
    pub fn latest_schema_version() -> i32 {
        schema::MIGRATIONS.last().map_or(0, |(v, _)| *v)
    }

    async fn conn(&self, what: &str) -> Result<Object> {
        self.pool.get().await.map_err(|e| error::from_pool(e, what))
    }
}
