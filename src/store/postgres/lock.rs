//! The pass lock on PostgreSQL: `pg_try_advisory_lock` on a connection of its own, opened for
//! each attempt and kept for the length of the pass.
//!
//! The lock belongs to the connection's session, so it ends with the connection: a node that
//! dies mid-pass (or loses its connection) releases it, and another node's next attempt takes
//! it. The lock is per schema, so stores on different schemas of one database do not exclude
//! each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tokio_postgres::Client;

use super::config::PostgresConfig;
use super::error::{Context, from_pg};
use crate::error::Result;
use crate::store::{PassGuard, PassLock};

/// The advisory lock's first key, apart from the migrations' (the second is the schema's hash).
const LOCK_CLASS: i32 = 7369002;

/// The pass lock of a [`PostgresStore`](super::PostgresStore) (see
/// [`Store::pass_lock`](crate::store::Store::pass_lock)). Its connection reports
/// `application_name` `<config's application name>-pass`.
#[derive(Debug)]
pub struct PostgresPassLock {
    config: PostgresConfig,
}

impl PostgresPassLock {
    pub(super) fn new(config: PostgresConfig) -> Self {
        Self { config }
    }

    /// The `application_name` of the connection that holds the lock (to find it in
    /// `pg_stat_activity` or `pg_locks`).
    pub fn application_name(&self) -> String {
        format!("{}-pass", self.config.application_name())
    }
}

#[async_trait]
impl PassLock for PostgresPassLock {
    async fn try_acquire(&self) -> Result<Option<Box<dyn PassGuard>>> {
        let ctx = Context::default();
        let (client, connection) = self
            .config
            .connection(&self.application_name())
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| from_pg(e, "pass lock connect", &ctx))?;
        let held = Arc::new(AtomicBool::new(true));
        let alive = held.clone();
        // Driving the connection; when it ends, the session and its lock are gone.
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "pass lock connection lost");
            }
            alive.store(false, Ordering::SeqCst);
        });
        let guard = PgGuard {
            client,
            driver,
            held,
            schema: self.config.schema().to_owned(),
        };
        let taken: bool = guard
            .client
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&LOCK_CLASS, &guard.schema],
            )
            .await
            .map_err(|e| from_pg(e, "pass lock", &ctx))?
            .get(0);
        Ok(taken.then(|| Box::new(guard) as Box<dyn PassGuard>))
    }
}

#[derive(Debug)]
struct PgGuard {
    client: Client,
    driver: JoinHandle<()>,
    held: Arc<AtomicBool>,
    schema: String,
}

#[async_trait]
impl PassGuard for PgGuard {
    fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst) && !self.client.is_closed()
    }

    async fn release(self: Box<Self>) {
        // Unlocking before closing makes the lock free at once for the next attempt; closing
        // alone frees it when the server notices, a moment later.
        if let Err(error) = self
            .client
            .execute(
                "SELECT pg_advisory_unlock($1, hashtext($2))",
                &[&LOCK_CLASS, &self.schema],
            )
            .await
        {
            tracing::warn!(%error, "pass lock: unlock failed, closing its connection instead");
        }
    }
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
