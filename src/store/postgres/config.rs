//! Connection settings for the PostgreSQL backend.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// Settings of a [`PostgresStore`](super::PostgresStore) and its
/// [`ChangeFeed`](super::ChangeFeed).
///
/// Built with [`PostgresConfig::builder`], which validates every value.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use keyprov::store::postgres::PostgresConfig;
///
/// let config = PostgresConfig::builder("postgres://keyprov@db.internal/keyprov")
///     .schema("keyprov")
///     .pool_size(16)
///     .statement_timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(config.channel(), "keyprov_events");
/// # Ok::<(), keyprov::Error>(())
/// ```
#[derive(Clone)]
pub struct PostgresConfig {
    pub(super) pg: tokio_postgres::Config,
    pub(super) schema: String,
    pub(super) pool_size: usize,
    pub(super) statement_timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) wait_timeout: Duration,
    pub(super) application_name: String,
    pub(super) synchronous_commit: bool,
    pub(super) change_feed: bool,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // tokio_postgres::Config's Debug redacts the password.
        f.debug_struct("PostgresConfig")
            .field("pg", &self.pg)
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("application_name", &self.application_name)
            .field("synchronous_commit", &self.synchronous_commit)
            .field("change_feed", &self.change_feed)
            .finish()
    }
}

impl PostgresConfig {
    /// A builder from a libpq-style URL or key/value string
    /// (`postgres://user:password@host:5432/db` or `host=... dbname=...`).
    pub fn builder(url: impl Into<String>) -> PostgresConfigBuilder {
        PostgresConfigBuilder {
            url: url.into(),
            schema: "keyprov".into(),
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(10),
            application_name: "keyprov".into(),
            synchronous_commit: true,
            change_feed: true,
        }
    }

    /// The schema holding keyprov's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The `LISTEN/NOTIFY` channel of this schema: `<schema>_events`.
    pub fn channel(&self) -> String {
        format!("{}_events", self.schema)
    }

    /// The `application_name` the pool's connections report (the change feed's adds `-feed`).
    pub fn application_name(&self) -> &str {
        &self.application_name
    }

    /// The statement timeout set on every connection.
    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// Whether a commit waits for its WAL flush (the default, `true`); see
    /// [`PostgresConfigBuilder::synchronous_commit`].
    pub fn synchronous_commit(&self) -> bool {
        self.synchronous_commit
    }

    /// The driver configuration for one connection, with `application_name` set.
    pub(super) fn connection(&self, application_name: &str) -> tokio_postgres::Config {
        let mut pg = self.pg.clone();
        pg.application_name(application_name);
        pg
    }
}

/// Builds a [`PostgresConfig`].
#[derive(Clone)]
pub struct PostgresConfigBuilder {
    url: String,
    schema: String,
    pool_size: usize,
    statement_timeout: Duration,
    connect_timeout: Duration,
    wait_timeout: Duration,
    application_name: String,
    synchronous_commit: bool,
    change_feed: bool,
}

impl fmt::Debug for PostgresConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PostgresConfigBuilder")
            .field("url", &"[redacted]")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresConfigBuilder {
    /// The schema for keyprov's tables (default `keyprov`); created if missing. Lowercase ASCII
    /// letters, digits and `_`, starting with a letter or `_`, at most 48 bytes.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Most connections in the pool (default 16).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Longest a statement may run before the server cancels it (default 5 s).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Longest a new connection may take to open (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest a call waits for a free pooled connection (default 10 s).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// The `application_name` reported by the connections (default `keyprov`), handy in
    /// `pg_stat_activity`.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Opt-in, trading durability for write throughput: `false` sets PostgreSQL's
    /// `synchronous_commit = off` on keyprov's connections, so a commit returns before its WAL
    /// is flushed. The database stays consistent, but a server crash (not a client or
    /// connection failure) may lose the changes of the last few hundred milliseconds that
    /// callers were told succeeded, and other nodes may have seen their events (after the
    /// restart their change feed reconnects and resynchronises, dropping them from views).
    /// Default `true`: a successful call is durable.
    pub fn synchronous_commit(mut self, durable: bool) -> Self {
        self.synchronous_commit = durable;
        self
    }

    /// Whether [`PostgresStore::open`](super::PostgresStore::open) starts the store's change
    /// feed, a dedicated connection that LISTENs for every node's changes (default `true`).
    /// Without it the store still writes its changes for other nodes, but
    /// [`Store::changes`](crate::store::Store::changes) is refused, so no gateway can follow
    /// it.
    pub fn change_feed(mut self, on: bool) -> Self {
        self.change_feed = on;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting when the URL does not parse, the schema name is
    /// not a plain identifier, the pool size is 0 or a timeout is zero.
    pub fn build(self) -> Result<PostgresConfig> {
        let mut pg: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| Error::config("postgres.url", format!("not a postgres URL: {e}")))?;
        if !valid_schema(&self.schema) {
            return Err(Error::config(
                "postgres.schema",
                "must be lowercase ASCII letters, digits or '_', start with a letter or '_', at most 48 bytes",
            ));
        }
        if self.pool_size == 0 {
            return Err(Error::config("postgres.pool_size", "must be at least 1"));
        }
        for (key, value) in [
            ("postgres.statement_timeout", self.statement_timeout),
            ("postgres.connect_timeout", self.connect_timeout),
            ("postgres.wait_timeout", self.wait_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::config(key, "must be greater than zero"));
            }
        }
        // Server-side settings travel in the startup packet, so every pooled (and re-opened)
        // connection has them without an extra round trip.
        let mut options = pg.get_options().unwrap_or_default().to_owned();
        options.push_str(&format!(
            " -c statement_timeout={} -c search_path={}",
            self.statement_timeout.as_millis().max(1),
            self.schema
        ));
        if !self.synchronous_commit {
            options.push_str(" -c synchronous_commit=off");
        }
        pg.options(options.trim());
        pg.connect_timeout(self.connect_timeout);
        pg.keepalives(true);
        pg.keepalives_idle(std::time::Duration::from_secs(30));
        Ok(PostgresConfig {
            pg,
            schema: self.schema,
            pool_size: self.pool_size,
            statement_timeout: self.statement_timeout,
            connect_timeout: self.connect_timeout,
            wait_timeout: self.wait_timeout,
            application_name: self.application_name,
            synchronous_commit: self.synchronous_commit,
            change_feed: self.change_feed,
        })
    }
}

fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 48
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_refuses_bad_values_naming_the_setting() {
        let url = "postgres://u@localhost/db";
        for (builder, key) in [
            (PostgresConfig::builder("not a url ::"), "postgres.url"),
            (
                PostgresConfig::builder(url).schema("Bad"),
                "postgres.schema",
            ),
            (
                PostgresConfig::builder(url).schema("a;drop"),
                "postgres.schema",
            ),
            (PostgresConfig::builder(url).schema(""), "postgres.schema"),
            (
                PostgresConfig::builder(url).pool_size(0),
                "postgres.pool_size",
            ),
            (
                PostgresConfig::builder(url).statement_timeout(Duration::ZERO),
                "postgres.statement_timeout",
            ),
        ] {
            match builder.build() {
                Err(Error::Config { key: got, .. }) => assert_eq!(got, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn options_carry_timeout_and_search_path_and_debug_hides_password() {
        let config = PostgresConfig::builder(
            "postgres://u:hunter2@localhost/db?options=-c%20work_mem%3D4MB",
        )
        .schema("tenant_a")
        .statement_timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
        let options = config.pg.get_options().unwrap();
        assert!(options.contains("work_mem=4MB"), "{options}");
        assert!(options.contains("statement_timeout=1500"), "{options}");
        assert!(options.contains("search_path=tenant_a"), "{options}");
        assert_eq!(config.channel(), "tenant_a_events");
        assert!(
            !options.contains("synchronous_commit"),
            "durable by default: {options}"
        );
        let relaxed = PostgresConfig::builder("postgres://u@localhost/db")
            .synchronous_commit(false)
            .build()
            .unwrap();
        let options = relaxed.pg.get_options().unwrap();
        assert!(options.contains("synchronous_commit=off"), "{options}");
        assert!(!relaxed.synchronous_commit());
        assert!(!format!("{config:?}").contains("hunter2"));
        let builder = PostgresConfig::builder("postgres://u:hunter2@localhost/db");
        assert!(!format!("{builder:?}").contains("hunter2"));
    }
}
