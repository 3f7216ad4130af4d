//! The change feed: one dedicated connection LISTENing on the schema's channel, turning
//! notifications back into [`Change`]s on a local [`ChangeLog`].
//!
//! PostgreSQL delivers notifications in commit order, and only while the listener is
//! connected. So after a lost connection the feed reconnects with exponential backoff,
//! LISTENs again, and only then publishes [`Event::Resync`]: a consumer that reloads from the
//! tables on `Resync` sees every change committed before the reload, and receives every
//! change committed after LISTEN as an event. Nothing is missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Notification};

use super::config::PostgresConfig;
use super::error::{Context, corrupt, from_pg};
use crate::error::Result;
use crate::events::{Change, ChangeLog, Event, Revision};

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often an idle listener checks that its connection is alive (a half-open TCP
/// connection delivers nothing and reports nothing otherwise).
const HEARTBEAT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Status {
    connected: AtomicBool,
    reconnects: AtomicU64,
    received: AtomicU64,
}

/// Listens for the changes every node writes and republishes them locally. Stops when
/// dropped.
///
/// Start it **before** loading a view from storage, so that no change falls between the
/// load and the first event.
#[derive(Debug)]
pub struct ChangeFeed {
    task: JoinHandle<()>,
    status: Arc<Status>,
    application_name: String,
}

impl ChangeFeed {
    /// Connects, LISTENs, and returns; changes then flow into `sink` until the feed is
    /// dropped. The connection reports `application_name` `<config's application name>-feed`.
    /// [`PostgresStore::open`](super::PostgresStore::open) starts one for its own
    /// [`Store::changes`](crate::store::Store::changes); start another only to forward changes
    /// elsewhere.
    ///
    /// # Errors
    /// Retryable [`crate::Error::Storage`] when the first connection fails (later losses are
    /// handled by reconnecting).
    pub async fn start(config: PostgresConfig, sink: Arc<ChangeLog>) -> Result<Self> {
        let application_name = format!("{}-feed", config.application_name());
        let listener = Listener::connect(&config, &application_name).await?;
        let status = Arc::new(Status::default());
        status.connected.store(true, Ordering::SeqCst);
        let task = tokio::spawn(run(
            config,
            application_name.clone(),
            listener,
            sink,
            status.clone(),
        ));
        Ok(Self {
            task,
            status,
            application_name,
        })
    }

    /// Whether the listening connection is up.
    pub fn is_connected(&self) -> bool {
        self.status.connected.load(Ordering::SeqCst)
    }

    /// How many times the feed reconnected (each followed by [`Event::Resync`]).
    pub fn reconnects(&self) -> u64 {
        self.status.reconnects.load(Ordering::SeqCst)
    }

    /// How many changes it republished (excluding `Resync`).
    pub fn received(&self) -> u64 {
        self.status.received.load(Ordering::SeqCst)
    }

    /// The `application_name` of its connection (to find it in `pg_stat_activity`).
    pub fn application_name(&self) -> &str {
        &self.application_name
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Listener {
    client: Client,
    notifications: mpsc::UnboundedReceiver<Notification>,
    driver: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Listener {
    async fn connect(config: &PostgresConfig, application_name: &str) -> Result<Self> {
        let ctx = Context::default();
        let (client, mut connection) = config
            .connection(application_name)
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| from_pg(e, "change feed connect", &ctx))?;
        let (tx, notifications) = mpsc::unbounded_channel();
        // Polling the connection drives its I/O; the task ends when the connection does,
        // which closes the channel and tells the feed.
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if tx.send(n).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::warn!(%error, "change feed connection lost");
                        return;
                    }
                    None => return,
                }
            }
        });
        let listener = Self {
            client,
            notifications,
            driver,
        };
        listener
            .client
            .batch_execute(&format!("LISTEN {}", config.channel()))
            .await
            .map_err(|e| from_pg(e, "change feed listen", &ctx))?;
        Ok(listener)
    }

    /// The change a notification stands for (reading the outbox for large ones).
    async fn change(&self, notification: &Notification) -> Result<Change> {
        let payload = notification.payload();
        let value: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| corrupt("notification", e))?;
        if let Some(id) = value.get("outbox").and_then(serde_json::Value::as_i64) {
            let row = self
                .client
                .query_opt("SELECT payload FROM event_outbox WHERE id = $1", &[&id])
                .await
                .map_err(|e| from_pg(e, "change feed outbox", &Context::default()))?
                .ok_or_else(|| corrupt("change feed outbox", format!("event {id} is gone")))?;
            let text: String = row.get(0);
            return serde_json::from_str(&text).map_err(|e| corrupt("outbox event", e));
        }
        serde_json::from_value(value).map_err(|e| corrupt("notification", e))
    }
}

async fn run(
    config: PostgresConfig,
    application_name: String,
    mut listener: Listener,
    sink: Arc<ChangeLog>,
    status: Arc<Status>,
) {
    let resync = || Change {
        revision: Revision::ZERO,
        event: Event::Resync,
    };
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let alive = tokio::select! {
            notification = listener.notifications.recv() => match notification {
                Some(n) => {
                    match listener.change(&n).await {
                        Ok(change) => {
                            status.received.fetch_add(1, Ordering::SeqCst);
                            sink.publish(change);
                        }
                        // An event we cannot read (outbox row expired, a newer writer's
                        // format): consumers reload rather than miss it.
                        Err(error) => {
                            tracing::warn!(%error, "change feed could not read an event; asking for a resync");
                            sink.publish(resync());
                        }
                    }
                    true
                }
                None => false,
            },
            _ = heartbeat.tick() => {
                tokio::time::timeout(HEARTBEAT, listener.client.simple_query("SELECT 1"))
                    .await
                    .is_ok_and(|r| r.is_ok())
            }
        };
        if alive {
            continue;
        }
        status.connected.store(false, Ordering::SeqCst);
        let mut backoff = FIRST_BACKOFF;
        listener = loop {
            tokio::time::sleep(backoff).await;
            match Listener::connect(&config, &application_name).await {
                Ok(listener) => break listener,
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "change feed reconnect failed");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        status.connected.store(true, Ordering::SeqCst);
        status.reconnects.fetch_add(1, Ordering::SeqCst);
        tracing::info!("change feed listening again; publishing resync");
        sink.publish(resync());
    }
}
