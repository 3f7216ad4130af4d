//! The embedded SQLite backend (feature `sqlite`, default), on [`rusqlite`] with SQLite bundled.
//!
//! - A file database runs in WAL mode with one writer connection and a few reader connections:
//!   a read uses the writer when it is idle (its page cache is warm) and a reader while a write
//!   runs. An in-memory database has one connection.
//! - A caller waits for its connection on an async, first-come-first-served lock (holding no
//!   thread), keeps it for that one call, and runs the synchronous SQLite call,
//!   by default ([`Execution::InPlace`]), in place under `tokio::task::block_in_place` on a
//!   multi-thread runtime (the worker hands its other tasks to another thread first), on the
//!   blocking pool (`spawn_blocking`) on a current-thread runtime, and directly outside a
//!   runtime. [`Execution::BlockingPool`] always uses the blocking pool; it costs two thread
//!   hand-offs per call, which dominated the provisioning benchmark.
//! - Durability is [`Durability::Normal`] by default (WAL, `synchronous=NORMAL`: a commit
//!   survives a crash of the process, but an OS crash or power loss may lose the last commits;
//!   the file is never corrupted); [`Durability::Full`] fsyncs every commit. WAL checkpoints
//!   run on a background thread, not inside commits.
//! - The schema is migrated on open ([`SqliteStore::schema_version`]); opening a database
//!   written by a newer keyprov fails with [`Error::Config`].
//! - P3 is enforced by two UNIQUE constraints, `(application, key_type, key_manager)` and
//!   `(key_manager, consumer_key)`; foreign keys are on, and deleting an application removes
//!   its mappings and subscriptions in one transaction.
//! - Timestamps are stored in milliseconds; the client snapshot is JSON text. No secret exists
//!   in the model, so none can be stored.
//!
//! # Example
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use keyprov::store::{SqliteStore, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("keyprov.db"))?);
//! assert!(store.apis().await?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::{Error, Result};
use crate::events::{ChangeLog, Event, Revision};

// `concat!` takes only literals and the column lists are shared constants: each statement is
// built once per process, then served from SQLite's per-connection statement cache.
macro_rules! sql {
    ($($part:expr),+ $(,)?) => {{
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        SQL.get_or_init(|| [$($part),+].concat()).as_str()
    }};
}

mod checkpoint;
mod insert;
mod queries;
mod rows;
mod schema;

pub use schema::Durability;

use rows::DbResult;

/// How a bulk write differs from others ([`SqliteStore::write_changes_with`]).
#[derive(Clone, Copy, Debug)]
struct Bulk {
    /// The page cache for the transaction, in KiB.
    cache_kib: i64,
}

/// Where the synchronous SQLite calls run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Execution {
    /// `block_in_place` on a multi-thread runtime, the blocking pool on a current-thread one,
    /// directly outside a runtime (default).
    #[default]
    InPlace,
    /// Always Tokio's blocking pool (`spawn_blocking`); requires a runtime.
    BlockingPool,
}

/// Options for [`SqliteStore::open_with`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Crash durability of commits (default [`Durability::Normal`]).
    pub durability: Durability,
    /// Reader connections of a file database (default 4; 0 reads through the writer).
    pub readers: usize,
    /// How long a call waits for another process's lock before failing with a retryable
    /// storage error (default 5 s).
    pub busy_timeout: Duration,
    /// Where calls run (default [`Execution::InPlace`]).
    pub execution: Execution,
    /// How often the background thread checkpoints the WAL of a file database (default
    /// 100 ms).
    pub checkpoint_interval: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Normal,
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            execution: Execution::InPlace,
            checkpoint_interval: Duration::from_millis(100),
        }
    }
}

impl SqliteOptions {
    /// Sets the durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the number of reader connections.
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// Sets where calls run.
    pub fn execution(mut self, execution: Execution) -> Self {
        self.execution = execution;
        self
    }

    /// Sets how long a call waits for another connection's lock.
    pub fn busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }
}

/// A [`Store`](super::Store) in an embedded SQLite database: a file, or memory.
///
/// Cheap to clone (clones share the connections and the change stream).
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use keyprov::store::SqliteStore;
/// use keyprov::{Actor, NewApplication, OrganizationId, Provisioner, UserId};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("keyprov.db");
/// let alice = UserId::new("alice")?;
/// let id = {
///     let provisioner = Provisioner::builder()
///         .store(Arc::new(SqliteStore::open(&path)?))
///         .build()?;
///     let app = provisioner
///         .create_application(NewApplication::new("PizzaApp", alice.clone(), OrganizationId::new("acme")?))
///         .await?;
///     app.id
/// };
/// // Durable: a store opened again on the file has it.
/// let provisioner = Provisioner::builder()
///     .store(Arc::new(SqliteStore::open(&path)?))
///     .build()?;
/// let app = provisioner.application(&Actor::User(alice), id).await?;
/// assert_eq!(app.name, "PizzaApp");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    // Declared first so that it stops before the other connections close.
    _checkpointer: Option<checkpoint::Checkpointer>,
    execution: Execution,
    path: Option<PathBuf>,
    schema_version: u32,
    // Async locks: callers queue for a connection without holding a thread, in FIFO order.
    writer: Arc<Mutex<Connection>>,
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    log: Arc<ChangeLog>,
    pass_lock: super::LocalPassLock,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("schema_version", &self.inner.schema_version)
            .field("readers", &self.inner.readers.len())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` with default options, and
    /// migrates its schema.
    ///
    /// # Errors
    /// [`Error::Config`] when the file was written by a newer keyprov; [`Error::Storage`]
    /// when it cannot be opened, is not a database, or a migration fails.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// As [`SqliteStore::open`], with options.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let location = path.display().to_string();
        let open = |flags| {
            Connection::open_with_flags(&path, flags)
                .map_err(|e| rows::storage(format!("cannot open {location}"), e))
        };
        let rw = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let mut writer = open(rw)?;
        schema::configure(
            &writer,
            true,
            true,
            options.durability,
            options.busy_timeout,
        )?;
        let found = schema::migrate(&mut writer, &location)?;
        let readers = (0..options.readers)
            .map(|_| {
                let reader = open(
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                schema::configure(
                    &reader,
                    true,
                    false,
                    options.durability,
                    options.busy_timeout,
                )?;
                Ok(Arc::new(Mutex::new(reader)))
            })
            .collect::<Result<Vec<_>>>()?;
        let checkpointer = open(rw)?;
        schema::configure(
            &checkpointer,
            true,
            true,
            options.durability,
            options.busy_timeout,
        )?;
        let checkpointer =
            checkpoint::Checkpointer::start(checkpointer, options.checkpoint_interval)?;
        tracing::debug!(path = %location, found, readers = readers.len(), "sqlite store opened");
        Ok(Self::from_parts(
            Some(path),
            writer,
            readers,
            Some(checkpointer),
            options.execution,
        ))
    }

    /// A private in-memory database (one connection); everything is lost when the last clone
    /// is dropped.
    ///
    /// # Errors
    /// [`Error::Storage`] when SQLite cannot allocate it.
    pub fn in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory().db()?;
        schema::configure(
            &conn,
            false,
            true,
            Durability::Normal,
            Duration::from_secs(5),
        )?;
        schema::migrate(&mut conn, ":memory:")?;
        Ok(Self::from_parts(
            None,
            conn,
            Vec::new(),
            None,
            Execution::InPlace,
        ))
    }

    fn from_parts(
        path: Option<PathBuf>,
        writer: Connection,
        readers: Vec<Arc<Mutex<Connection>>>,
        checkpointer: Option<checkpoint::Checkpointer>,
        execution: Execution,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                _checkpointer: checkpointer,
                execution,
                path,
                schema_version: schema::latest_version(),
                writer: Arc::new(Mutex::new(writer)),
                readers,
                next_reader: AtomicUsize::new(0),
                log: Arc::new(ChangeLog::new()),
                pass_lock: super::LocalPassLock::new(),
            }),
        }
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The schema version of the database (the newest this library knows, once opened).
    pub fn schema_version(&self) -> u32 {
        self.inner.schema_version
    }

    /// The newest schema version this library knows.
    pub fn latest_schema_version() -> u32 {
        schema::latest_version()
    }

    /// Runs `f` with the writer connection.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let mut conn = Arc::clone(&self.inner.writer).lock_owned().await;
        // A panic inside `f` drops its transaction (rolling it back) while unwinding, so the
        // connection stays consistent for the next caller.
        run(self.inner.execution, move || f(&mut conn)).await
    }

    /// Runs `f` in an immediate transaction on the writer connection; advances the change
    /// counter by the number of events `f` returns, commits, then publishes them (still
    /// holding the writer, so subscribers see revision order). Returns `f`'s value and the
    /// revision of its last event (the current revision when there is none).
    async fn write_changes<T, F>(&self, f: F) -> Result<(T, Revision)>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<(T, Vec<Event>)> + Send + 'static,
    {
        self.write_changes_with(None, f).await
    }

    /// As [`Self::write_changes`], for one large transaction (a bulk import) when `bulk` is
    /// set: the connection's page cache is raised to `bulk.cache_kib` for it, so that its dirty
    /// pages stay in memory instead of spilling to the WAL and being read back, and its commit
    /// leaves the WAL checkpoint to the background thread (the automatic backstop would
    /// otherwise copy the whole transaction into the database inside the commit). Both
    /// settings are restored afterwards.
    async fn write_changes_with<T, F>(&self, bulk: Option<Bulk>, f: F) -> Result<(T, Revision)>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<(T, Vec<Event>)> + Send + 'static,
    {
        let log = Arc::clone(&self.inner.log);
        let audit = crate::audit::current();
        self.write(move |conn| {
            let before: Option<i64> = match bulk {
                Some(Bulk { cache_kib }) => {
                    let before = conn
                        .pragma_query_value(None, "cache_size", |row| row.get(0))
                        .db()?;
                    conn.pragma_update(None, "cache_size", -cache_kib).db()?;
                    conn.pragma_update(None, "wal_autocheckpoint", 0).db()?;
                    Some(before)
                }
                None => None,
            };
            let result = (|| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .db()?;
                let (value, events) = f(&tx)?;
                if let Some(context) = &audit {
                    queries::record_audit(&tx, &crate::audit::entries_for(context, &events))?;
                }
                let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
                let last: i64 = tx
                    .prepare_cached(
                        "UPDATE change_revision SET value = value + ?1 WHERE id = 0 RETURNING value",
                    )
                    .db()?
                    .query_row([count], |row| row.get(0))
                    .db()?;
                tx.commit().db()?;
                let before = Revision::new(u64::try_from(last - count).unwrap_or_default());
                Ok((value, log.publish_after(before, events)))
            })();
            if let Some(before) = before {
                conn.pragma_update(None, "cache_size", before).db()?;
                conn.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)
                    .db()?;
            }
            result
        })
        .await
    }

    /// Runs `f` with the writer connection if it is idle, else with a reader connection.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.reader().await;
        run(self.inner.execution, move || f(&conn)).await
    }

    async fn reader(&self) -> OwnedMutexGuard<Connection> {
        let inner = &self.inner;
        if inner.readers.is_empty() {
            return Arc::clone(&inner.writer).lock_owned().await;
        }
        // An idle writer has the warmest page cache: a reader connection must drop its cache
        // whenever another connection has written since its last read.
        if let Ok(conn) = Arc::clone(&inner.writer).try_lock_owned() {
            return conn;
        }
        let n = inner.readers.len();
        let start = inner.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(conn) = Arc::clone(&inner.readers[(start + i) % n]).try_lock_owned() {
                return conn;
            }
        }
        Arc::clone(&inner.readers[start % n]).lock_owned().await
    }
}

async fn run<T: Send + 'static>(
    execution: Execution,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let flavor = Handle::try_current().map(|h| h.runtime_flavor());
    match (execution, flavor) {
        (Execution::InPlace, Ok(RuntimeFlavor::MultiThread)) => tokio::task::block_in_place(f),
        (Execution::InPlace, Err(_)) => f(),
        _ => tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::storage("sqlite call did not complete", false, e))?,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Connection, name: &str) -> String {
        conn.pragma_query_value(None, name, |row| {
            Ok(match row.get_ref(0)? {
                rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                other => other.as_str()?.to_owned(),
            })
        })
        .unwrap()
    }

    #[test]
    fn file_connections_use_wal_foreign_keys_and_a_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions::default()
            .readers(2)
            .busy_timeout(Duration::from_millis(1234));
        let store = SqliteStore::open_with(dir.path().join("k.db"), options).unwrap();
        let writer = store.inner.writer.blocking_lock();
        assert_eq!(pragma(&writer, "journal_mode"), "wal");
        assert_eq!(pragma(&writer, "synchronous"), "1", "NORMAL");
        assert_eq!(pragma(&writer, "query_only"), "0");
        assert_eq!(pragma(&writer, "foreign_keys"), "1");
        assert_eq!(pragma(&writer, "busy_timeout"), "1234");
        assert_eq!(store.inner.readers.len(), 2);
        for reader in &store.inner.readers {
            let reader = reader.blocking_lock();
            assert_eq!(pragma(&reader, "query_only"), "1");
            assert_eq!(pragma(&reader, "foreign_keys"), "1");
            assert_eq!(pragma(&reader, "busy_timeout"), "1234");
        }
    }

    #[test]
    fn full_durability_syncs_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions::default().durability(Durability::Full);
        let store = SqliteStore::open_with(dir.path().join("k.db"), options).unwrap();
        assert_eq!(
            pragma(&store.inner.writer.blocking_lock(), "synchronous"),
            "2",
            "FULL"
        );
    }
}
