//! Conversions between rows and the domain model, and from driver errors to [`Error`].

use std::borrow::Cow;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::{ErrorCode, Row, ffi};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ConflictRule, Error, Result};
use crate::model::{Api, ApiId, Application, ClientSnapshot, KeyMapping, Subscription};

/// A storage error wrapping the driver's; `SQLITE_BUSY` and `SQLITE_LOCKED` are retryable.
pub(super) fn storage(detail: impl Into<String>, e: rusqlite::Error) -> Error {
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    Error::storage(format!("sqlite: {}", detail.into()), retryable, e)
}

/// `.db()?` turns a driver result into ours.
pub(super) trait DbResult<T> {
    fn db(self) -> Result<T>;
}

impl<T> DbResult<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T> {
        self.map_err(|e| {
            let detail = e.to_string();
            storage(detail, e)
        })
    }
}

/// Which constraint a failed write hit.
pub(super) enum Violation {
    /// A UNIQUE or PRIMARY KEY constraint; the message lists `table.column`s.
    Unique(String),
    /// A FOREIGN KEY constraint.
    ForeignKey,
}

/// The constraint violation behind `e`, if that is what it is.
pub(super) fn violation(e: &rusqlite::Error) -> Option<Violation> {
    let rusqlite::Error::SqliteFailure(failure, message) = e else {
        return None;
    };
    match failure.extended_code {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            Some(Violation::Unique(message.clone().unwrap_or_default()))
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Violation::ForeignKey),
        _ => None,
    }
}

/// The P3 rule a UNIQUE violation on `key_mappings` names, from SQLite's message
/// (`UNIQUE constraint failed: key_mappings.key_manager, key_mappings.consumer_key`).
pub(super) fn conflict_rule(message: &str) -> Option<ConflictRule> {
    if message.contains("key_mappings.consumer_key") {
        Some(ConflictRule::ConsumerKeyAlreadyMapped)
    } else if message.contains("key_mappings.key_type") {
        Some(ConflictRule::KeyTypeAlreadyMapped)
    } else {
        None
    }
}

fn corrupt(column: &str, problem: impl std::fmt::Display) -> Error {
    Error::Storage {
        detail: format!("sqlite: invalid value in column {column}: {problem}"),
        retryable: false,
        source: None,
    }
}

/// Milliseconds since the epoch, the precision stored.
pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// JSON text for a column.
pub(super) fn json<T: Serialize>(column: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| corrupt(column, e))
}

/// The stored JSON of a client snapshot: `{}` when it is empty (a mapping that was not
/// validated), which reads back as the empty snapshot.
pub(super) fn snapshot_json(snapshot: &ClientSnapshot) -> Result<Cow<'static, str>> {
    if *snapshot == ClientSnapshot::default() {
        Ok(Cow::Borrowed("{}"))
    } else {
        json("key_mappings.snapshot", snapshot).map(Cow::Owned)
    }
}

/// The stored text of a UUID (hyphenated, lowercase).
pub(super) fn id_text(id: &uuid::Uuid) -> String {
    id.hyphenated()
        .encode_lower(&mut uuid::Uuid::encode_buffer())
        .to_owned()
}

fn get<T: rusqlite::types::FromSql>(row: &Row<'_>, i: usize) -> Result<T> {
    row.get(i).db()
}

fn parse<T: FromStr>(row: &Row<'_>, i: usize, column: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = get(row, i)?;
    text.parse().map_err(|e| corrupt(column, e))
}

fn time(row: &Row<'_>, i: usize, column: &str) -> Result<DateTime<Utc>> {
    let millis: i64 = get(row, i)?;
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| corrupt(column, format!("{millis} is out of range")))
}

fn from_json<T: DeserializeOwned>(row: &Row<'_>, i: usize, column: &str) -> Result<T> {
    let text: String = get(row, i)?;
    serde_json::from_str(&text).map_err(|e| corrupt(column, e))
}

fn uuid<T: From<uuid::Uuid>>(row: &Row<'_>, i: usize, column: &str) -> Result<T> {
    let text: String = get(row, i)?;
    uuid::Uuid::parse_str(&text)
        .map(T::from)
        .map_err(|e| corrupt(column, e))
}

pub(super) const APPLICATION_COLUMNS: &str = "id, name, owner, organization, created_at";

pub(super) fn application(row: &Row<'_>) -> Result<Application> {
    Ok(Application {
        id: uuid(row, 0, "applications.id")?,
        name: get(row, 1)?,
        owner: parse(row, 2, "applications.owner")?,
        organization: parse(row, 3, "applications.organization")?,
        created_at: time(row, 4, "applications.created_at")?,
    })
}

pub(super) const API_COLUMNS: &str =
    "id, name, version, context, organization, key_managers, audience";

pub(super) fn api(row: &Row<'_>) -> Result<Api> {
    Ok(Api {
        id: parse::<ApiId>(row, 0, "apis.id")?,
        name: get(row, 1)?,
        version: get(row, 2)?,
        context: get(row, 3)?,
        organization: parse(row, 4, "apis.organization")?,
        key_managers: from_json(row, 5, "apis.key_managers")?,
        audience: get(row, 6)?,
    })
}

pub(super) const SUBSCRIPTION_COLUMNS: &str = "application, api, state, created_at, updated_at";

pub(super) fn subscription(row: &Row<'_>) -> Result<Subscription> {
    Ok(Subscription {
        application: uuid(row, 0, "subscriptions.application")?,
        api: parse(row, 1, "subscriptions.api")?,
        state: parse(row, 2, "subscriptions.state")?,
        created_at: time(row, 3, "subscriptions.created_at")?,
        updated_at: time(row, 4, "subscriptions.updated_at")?,
    })
}

pub(super) const MAPPING_COLUMNS: &str = "id, application, key_type, key_manager, consumer_key, \
     mode, state, validated, secret_proven, snapshot, created_at, updated_at, created_by";

pub(super) fn mapping(row: &Row<'_>) -> Result<KeyMapping> {
    Ok(KeyMapping {
        id: uuid(row, 0, "key_mappings.id")?,
        application: uuid(row, 1, "key_mappings.application")?,
        key_type: parse(row, 2, "key_mappings.key_type")?,
        key_manager: parse(row, 3, "key_mappings.key_manager")?,
        consumer_key: parse(row, 4, "key_mappings.consumer_key")?,
        mode: parse(row, 5, "key_mappings.mode")?,
        state: parse(row, 6, "key_mappings.state")?,
        validated: get(row, 7)?,
        secret_proven: get(row, 8)?,
        snapshot: from_json(row, 9, "key_mappings.snapshot")?,
        created_at: time(row, 10, "key_mappings.created_at")?,
        updated_at: time(row, 11, "key_mappings.updated_at")?,
        created_by: from_json(row, 12, "key_mappings.created_by")?,
    })
}

pub(super) const AUDIT_COLUMNS: &str = "sequence, at, actor, request_id, action, code, \
     application, key_manager, key_type, mapping, consumer_key, detail";

/// An audit record from `SELECT AUDIT_COLUMNS`.
pub(super) fn audit_record(row: &Row<'_>) -> Result<crate::audit::AuditRecord> {
    use crate::audit::{AuditAction, AuditEntry, AuditRecord};
    let sequence: i64 = get(row, 0)?;
    let actor: String = get(row, 2)?;
    let action: String = get(row, 4)?;
    let code: Option<i64> = get(row, 5)?;
    let key_type: Option<String> = get(row, 8)?;
    let optional_uuid = |i: usize, column: &str| -> Result<Option<uuid::Uuid>> {
        get::<Option<String>>(row, i)?
            .map(|text| uuid::Uuid::parse_str(&text).map_err(|e| corrupt(column, e)))
            .transpose()
    };
    Ok(AuditRecord {
        sequence: u64::try_from(sequence).map_err(|e| corrupt("audit_log.sequence", e))?,
        entry: AuditEntry {
            at: time(row, 1, "audit_log.at")?,
            actor: crate::audit::actor_from_key(&actor)
                .ok_or_else(|| corrupt("audit_log.actor", format!("{actor:?} is not an actor")))?,
            request_id: parse(row, 3, "audit_log.request_id")?,
            action: AuditAction::from_stored(&action).ok_or_else(|| {
                corrupt("audit_log.action", format!("{action:?} is not an action"))
            })?,
            code: code
                .map(u32::try_from)
                .transpose()
                .map_err(|e| corrupt("audit_log.code", e))?,
            application: optional_uuid(6, "audit_log.application")?.map(Into::into),
            key_manager: get(row, 7)?,
            key_type: key_type
                .map(|text| text.parse())
                .transpose()
                .map_err(|e| corrupt("audit_log.key_type", e))?,
            mapping: optional_uuid(9, "audit_log.mapping")?.map(Into::into),
            consumer_key: get(row, 10)?,
            detail: get(row, 11)?,
        },
    })
}

/// Runs a prepared query and converts every row.
pub(super) fn collect<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    convert: fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let mut rows = stmt.query(params).db()?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().db()? {
        out.push(convert(row)?);
    }
    Ok(out)
}

/// Runs a prepared query expected to return at most one row.
pub(super) fn optional<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    convert: fn(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let mut rows = stmt.query(params).db()?;
    rows.next().db()?.map(convert).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_name_the_p3_rule() {
        assert_eq!(
            conflict_rule(
                "UNIQUE constraint failed: key_mappings.key_manager, key_mappings.consumer_key"
            ),
            Some(ConflictRule::ConsumerKeyAlreadyMapped)
        );
        assert_eq!(
            conflict_rule(
                "UNIQUE constraint failed: key_mappings.application, key_mappings.key_type, key_mappings.key_manager"
            ),
            Some(ConflictRule::KeyTypeAlreadyMapped)
        );
        assert_eq!(
            conflict_rule("UNIQUE constraint failed: key_mappings.id"),
            None
        );
    }

    #[test]
    fn busy_and_locked_are_retryable_and_keep_the_driver_error() {
        use std::error::Error as _;
        for (code, retryable) in [
            (ffi::SQLITE_BUSY, true),
            (ffi::SQLITE_LOCKED, true),
            (ffi::SQLITE_CORRUPT, false),
        ] {
            let e = rusqlite::Error::SqliteFailure(ffi::Error::new(code), None);
            let err: Result<()> = Err(e).db();
            let err = err.unwrap_err();
            assert_eq!(err.is_retryable(), retryable, "{err}");
            assert!(err.source().is_some(), "{err:?}");
            assert_eq!(err.code(), 901430);
        }
    }
}
