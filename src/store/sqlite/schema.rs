//! Connection settings and versioned schema migrations.
//!
//! The schema version is SQLite's `PRAGMA user_version`. Migrations are an ordered list; each
//! runs in its own `BEGIN IMMEDIATE` transaction together with the version bump, so a crash
//! mid-migration leaves the previous version intact, and two processes opening the same new
//! file at once cannot both apply a step.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::rows::DbResult;
use crate::error::{Error, Result};

/// One schema step.
pub(super) struct Migration {
    /// The `user_version` after this step.
    pub version: u32,
    /// What it does.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every step, in order; `version` is the position plus one. Never edit a released step: add one.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "change revision",
        sql: include_str!("../migrations/0002_revision.sql"),
    },
    Migration {
        version: 3,
        name: "audit trail",
        sql: include_str!("../migrations/0003_audit.sql"),
    },
    Migration {
        version: 4,
        name: "state checks without temporary indexes",
        sql: include_str!("../migrations/0004_checks.sql"),
    },
    Migration {
        version: 5,
        name: "audit trail in columns",
        sql: include_str!("../migrations/0005_audit_columns.sql"),
    },
];

/// The newest schema version this library knows.
pub(super) fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// How committed transactions survive a crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// WAL with `synchronous=NORMAL` (default): a commit is durable once it returns if the
    /// process crashes, but an operating-system crash or power loss may roll back the
    /// transactions committed since the last WAL checkpoint. The database is never corrupted.
    #[default]
    Normal,
    /// WAL with `synchronous=FULL`: every commit is fsynced before it returns, so it also
    /// survives power loss; each write costs one fsync.
    Full,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// Settings every connection gets. `writer` connections also switch the file to WAL.
pub(super) fn configure(
    conn: &Connection,
    file: bool,
    writer: bool,
    durability: Durability,
    busy_timeout: Duration,
) -> Result<()> {
    conn.busy_timeout(busy_timeout).db()?;
    conn.pragma_update(None, "foreign_keys", true).db()?;
    // Statement journals (which undo one failed statement of a transaction) and temporary
    // sort tables in memory: a bulk insert otherwise spills its statement journal to a
    // temporary file and writes each changed page there.
    conn.pragma_update(None, "temp_store", "MEMORY").db()?;
    if file && writer {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .db()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Storage {
                detail: format!("sqlite refused WAL journal mode (got {mode})"),
                retryable: false,
                source: None,
            });
        }
    }
    conn.pragma_update(None, "synchronous", durability.pragma())
        .db()?;
    if !writer {
        conn.pragma_update(None, "query_only", true).db()?;
    }
    if file && writer {
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            super::checkpoint::BACKSTOP_PAGES,
        )
        .db()?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn user_version(conn: &Connection) -> Result<u32> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .db()?;
    u32::try_from(version).map_err(|_| Error::Storage {
        detail: format!("sqlite user_version {version} is not a keyprov schema version"),
        retryable: false,
        source: None,
    })
}

/// Brings the schema to [`latest_version`], returning the version found before.
///
/// # Errors
/// [`Error::Config`] naming `location` when the database was written by a newer keyprov
/// (its version is above [`latest_version`]); `Storage` when a step fails (then the database
/// keeps the version before that step).
pub(super) fn migrate(conn: &mut Connection, location: &str) -> Result<u32> {
    let found = user_version(conn)?;
    let latest = latest_version();
    if found > latest {
        return Err(newer(location, found, latest));
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        // Another process may have migrated while we waited for the write lock.
        let current = user_version(&tx)?;
        if current > latest {
            return Err(newer(location, current, latest));
        }
        if current >= migration.version {
            continue;
        }
        tx.execute_batch(migration.sql).map_err(|e| {
            super::rows::storage(
                format!(
                    "schema migration {} ({}) failed",
                    migration.version, migration.name
                ),
                e,
            )
        })?;
        tx.pragma_update(None, "user_version", migration.version)
            .db()?;
        tx.commit().db()?;
        tracing::info!(
            location,
            version = migration.version,
            name = migration.name,
            "sqlite schema migrated"
        );
    }
    Ok(found)
}

fn newer(location: &str, found: u32, latest: u32) -> Error {
    Error::Config {
        key: location.to_owned(),
        problem: format!(
            "the database has schema version {found}, newer than the {latest} this keyprov knows; \
             upgrade keyprov"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
        }
    }

    #[test]
    fn migrate_applies_once_and_refuses_newer_versions() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, "mem").unwrap(), 0);
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        assert_eq!(migrate(&mut conn, "mem").unwrap(), latest_version());

        conn.pragma_update(None, "user_version", latest_version() + 1)
            .unwrap();
        let err = migrate(&mut conn, "mem").unwrap_err();
        assert!(
            matches!(&err, Error::Config { key, .. } if key == "mem"),
            "{err:?}"
        );
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
