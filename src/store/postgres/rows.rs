//! Rows to domain values, and the NOTIFY payload of an event.

use deadpool_postgres::GenericClient;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;

use super::error::{Context, corrupt, from_pg};
use crate::error::Result;
use crate::events::Event;
use crate::model::{
    Api, ApiId, Application, ConsumerKey, KeyManagerId, KeyMapping, OrganizationId, Subscription,
    UserId,
};

/// Largest payload sent inline; PostgreSQL refuses 8000 bytes and more.
pub(super) const MAX_INLINE_PAYLOAD: usize = 7900;

pub(super) const APPLICATION_COLUMNS: &str = "id, name, owner, organization, created_at";
pub(super) const API_COLUMNS: &str =
    "id, name, version, context, organization, key_managers, audience";
pub(super) const SUBSCRIPTION_COLUMNS: &str = "application, api, state, created_at, updated_at";
pub(super) const MAPPING_COLUMNS: &str = "id, application, key_type, key_manager, consumer_key, \
     mode, state, validated, secret_proven, snapshot, created_at, updated_at, created_by";

fn parse<T: std::str::FromStr>(row: &Row, column: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: &str = get(row, column)?;
    text.parse().map_err(|e| corrupt(column, e))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, column: &str) -> Result<T> {
    row.try_get(column).map_err(|e| corrupt(column, e))
}

fn json<T: DeserializeOwned>(row: &Row, column: &str) -> Result<T> {
    let value: serde_json::Value = get(row, column)?;
    serde_json::from_value(value).map_err(|e| corrupt(column, e))
}

pub(super) fn application(row: &Row) -> Result<Application> {
    Ok(Application {
        id: get::<uuid::Uuid>(row, "id")?.into(),
        name: get(row, "name")?,
        owner: parse::<UserId>(row, "owner")?,
        organization: parse::<OrganizationId>(row, "organization")?,
        created_at: get(row, "created_at")?,
    })
}

pub(super) fn api(row: &Row) -> Result<Api> {
    Ok(Api {
        id: parse::<ApiId>(row, "id")?,
        name: get(row, "name")?,
        version: get(row, "version")?,
        context: get(row, "context")?,
        organization: parse::<OrganizationId>(row, "organization")?,
        key_managers: json(row, "key_managers")?,
        audience: get(row, "audience")?,
    })
}

pub(super) fn subscription(row: &Row) -> Result<Subscription> {
    Ok(Subscription {
        application: get::<uuid::Uuid>(row, "application")?.into(),
        api: parse::<ApiId>(row, "api")?,
        state: parse(row, "state")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(super) fn mapping(row: &Row) -> Result<KeyMapping> {
    Ok(KeyMapping {
        id: get::<uuid::Uuid>(row, "id")?.into(),
        application: get::<uuid::Uuid>(row, "application")?.into(),
        key_type: parse(row, "key_type")?,
        key_manager: parse::<KeyManagerId>(row, "key_manager")?,
        consumer_key: parse::<ConsumerKey>(row, "consumer_key")?,
        mode: parse(row, "mode")?,
        state: parse(row, "state")?,
        validated: get(row, "validated")?,
        secret_proven: get(row, "secret_proven")?,
        snapshot: json(row, "snapshot")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        created_by: json(row, "created_by")?,
    })
}

/// An audit record from `SELECT sequence, entry`.
pub(super) fn audit_record(row: &Row) -> Result<crate::audit::AuditRecord> {
    let sequence: i64 = row.get(0);
    let entry: serde_json::Value = row.get(1);
    Ok(crate::audit::AuditRecord {
        sequence: u64::try_from(sequence).map_err(|e| corrupt("audit_log.sequence", e))?,
        entry: serde_json::from_value(entry).map_err(|e| corrupt("audit_log.entry", e))?,
    })
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| corrupt("encode", e))
}

/// A change's JSON as a NOTIFY payload: itself when small enough, else `{"outbox":id}` after
/// storing it in `event_outbox`. Call inside the transaction of the change.
pub(super) async fn notify<C: GenericClient + Sync>(
    client: &C,
    channel: &str,
    payload: &str,
) -> Result<()> {
    let ctx = Context::default();
    let statement = if payload.len() <= MAX_INLINE_PAYLOAD {
        "SELECT pg_notify($1, $2)"
    } else {
        // Old outbox rows go in the same statement: a listener away for longer than an hour
        // resynchronises from the tables anyway.
        "WITH o AS (INSERT INTO event_outbox (payload) VALUES ($2) RETURNING id), \
              d AS (DELETE FROM event_outbox WHERE created_at < now() - interval '1 hour') \
         SELECT pg_notify($1, json_build_object('outbox', o.id)::text) FROM o"
    };
    let statement = client
        .prepare_cached(statement)
        .await
        .map_err(|e| from_pg(e, "notify", &ctx))?;
    client
        .query(&statement, &[&channel, &payload])
        .await
        .map_err(|e| from_pg(e, "notify", &ctx))?;
    Ok(())
}

pub(super) fn encode(event: &Event) -> Result<String> {
    serde_json::to_string(event).map_err(|e| corrupt("encode event", e))
}
