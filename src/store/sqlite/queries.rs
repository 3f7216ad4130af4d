//! The [`Store`] implementation: one SQL statement, or one transaction, per call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::insert::{INSERT_APPLICATION, INSERT_AUDIT, INSERT_MAPPING, insert_rows};
use super::rows::{
    self, API_COLUMNS, APPLICATION_COLUMNS, AUDIT_COLUMNS, DbResult, MAPPING_COLUMNS,
    SUBSCRIPTION_COLUMNS, collect, id_text, json, ms, optional,
};
use super::{Bulk, SqliteStore};
use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
use crate::error::{Error, Result};
use crate::events::{Changes, Committed, Event, Revision};
use crate::model::{
    Api, ApiId, Application, ApplicationId, ConsumerKey, KeyManagerId, KeyMapping, MappingId,
    MappingState, Subscription, UserId,
};
use crate::store::{DeletedApplication, Snapshot, StateChange, Store, deletion_events};

#[async_trait]
impl Store for SqliteStore {
    fn changes(&self) -> Result<Changes> {
        Ok(self.inner.log.subscribe())
    }

    fn pass_lock(&self) -> std::sync::Arc<dyn crate::store::PassLock> {
        std::sync::Arc::new(self.inner.pass_lock.clone())
    }

    async fn revision(&self) -> Result<Revision> {
        self.read(current_revision).await
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        self.read(|conn| {
            // One read transaction: the rows and the counter are from the same commit.
            conn.execute_batch("BEGIN DEFERRED").db()?;
            let read = (|| {
                let revision = current_revision(conn)?;
                let apis = collect(
                    conn,
                    sql!("SELECT ", API_COLUMNS, " FROM apis ORDER BY id"),
                    [],
                    rows::api,
                )?;
                let mappings = collect(
                    conn,
                    sql!(
                        "SELECT ",
                        MAPPING_COLUMNS,
                        " FROM key_mappings ORDER BY created_at, id"
                    ),
                    [],
                    rows::mapping,
                )?;
                let subscriptions = collect(
                    conn,
                    sql!(
                        "SELECT ",
                        SUBSCRIPTION_COLUMNS,
                        " FROM subscriptions ORDER BY application, api"
                    ),
                    [],
                    rows::subscription,
                )?;
                Ok(Snapshot {
                    revision,
                    apis,
                    mappings,
                    subscriptions,
                })
            })();
            conn.execute_batch("COMMIT").db()?;
            read
        })
        .await
    }

    async fn create_application(&self, application: &Application) -> Result<Revision> {
        let a = application.clone();
        self.write_changes(move |tx| {
            insert_rows(tx, &INSERT_APPLICATION, std::slice::from_ref(&a))?;
            Ok(((), vec![Event::ApplicationCreated { application: a }]))
        })
        .await
        .map(|((), revision)| revision)
    }

    async fn all_applications(&self) -> Result<Vec<Application>> {
        self.read(move |conn| {
            let sql = sql!(
                "SELECT ",
                APPLICATION_COLUMNS,
                " FROM applications ORDER BY created_at, id"
            );
            collect(conn, sql, [], rows::application)
        })
        .await
    }

    async fn import(
        &self,
        applications: Vec<Application>,
        mappings: Vec<KeyMapping>,
    ) -> Result<Revision> {
        // About 1 KiB of pages per row, up to 128 MiB, so that the transaction's pages stay
        // in memory until its commit writes them to the WAL. (With 32 MiB, pages spilled to
        // the WAL early and an import of 100,000 rows ran about 3 % slower.)
        let cache_kib = i64::try_from(mappings.len())
            .unwrap_or(i64::MAX)
            .clamp(2_000, 131_072);
        self.write_changes_with(Some(Bulk { cache_kib }), move |tx| {
            let mut events = Vec::with_capacity(applications.len() + mappings.len());
            insert_rows(tx, &INSERT_APPLICATION, &applications)?;
            insert_rows(tx, &INSERT_MAPPING, &mappings)?;
            events.extend(
                applications
                    .into_iter()
                    .map(|application| Event::ApplicationCreated { application }),
            );
            events.extend(
                mappings
                    .into_iter()
                    .map(|mapping| Event::MappingCreated { mapping }),
            );
            Ok(((), events))
        })
        .await
        .map(|((), revision)| revision)
    }

    async fn record_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        let entries = entries.to_vec();
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .db()?;
            record_audit(&tx, &entries)?;
            tx.commit().db()
        })
        .await
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let query = query.clone();
        self.read(move |conn| {
            let mut sql = sql!("SELECT ", AUDIT_COLUMNS, " FROM audit_log WHERE 1 = 1").to_owned();
            let mut values: Vec<rusqlite::types::Value> = Vec::new();
            let mut filter = |clause: &str, value: rusqlite::types::Value| {
                values.push(value);
                sql.push_str(&format!(" AND {clause} ?{}", values.len()));
            };
            if let Some(application) = &query.application {
                filter("application =", id_text(&application.0).into());
            }
            if let Some(key_manager) = &query.key_manager {
                filter("key_manager =", key_manager.clone().into());
            }
            if let Some(actor) = &query.actor {
                filter("actor =", crate::audit::actor_key(actor).into());
            }
            if let Some(since) = query.since {
                filter("at >=", ms(since).into());
            }
            if let Some(until) = query.until {
                filter("at <", ms(until).into());
            }
            let limit = i64::try_from(query.effective_limit()).unwrap_or(i64::MAX);
            values.push(limit.into());
            sql.push_str(&format!(" ORDER BY sequence LIMIT ?{}", values.len()));
            let mut stmt = conn.prepare(&sql).db()?;
            let mut found = stmt.query(rusqlite::params_from_iter(values)).db()?;
            let mut out = Vec::new();
            while let Some(row) = found.next().db()? {
                out.push(rows::audit_record(row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        self.write(move |conn| {
            let removed = conn
                .prepare_cached("DELETE FROM audit_log WHERE at < ?1")
                .db()?
                .execute([ms(before)])
                .db()?;
            Ok(u64::try_from(removed).unwrap_or_default())
        })
        .await
    }

    async fn application(&self, id: ApplicationId) -> Result<Option<Application>> {
        self.read(move |conn| {
            let sql = sql!(
                "SELECT ",
                APPLICATION_COLUMNS,
                " FROM applications WHERE id = ?1"
            );
            optional(conn, sql, [id_text(&id.0)], rows::application)
        })
        .await
    }

    async fn applications_of(&self, owner: &UserId) -> Result<Vec<Application>> {
        let owner = owner.to_string();
        self.read(move |conn| {
            let sql = sql!(
                "SELECT ",
                APPLICATION_COLUMNS,
                " FROM applications WHERE owner = ?1 ORDER BY created_at, id"
            );
            collect(conn, sql, [owner], rows::application)
        })
        .await
    }

    async fn delete_application(&self, id: ApplicationId) -> Result<Option<DeletedApplication>> {
        let (deleted, revision) = self
            .write_changes(move |tx| {
                let key = id_text(&id.0);
                let sql = sql!(
                    "SELECT ",
                    APPLICATION_COLUMNS,
                    " FROM applications WHERE id = ?1"
                );
                let Some(application) = optional(tx, sql, [&key], rows::application)? else {
                    return Ok((None, Vec::new()));
                };
                let sql = sql!(
                    "DELETE FROM key_mappings WHERE application = ?1 RETURNING ",
                    MAPPING_COLUMNS
                );
                let mut mappings = collect(tx, sql, [&key], rows::mapping)?;
                mappings.sort_by_key(|m| (m.created_at, m.id));
                let sql = sql!(
                    "DELETE FROM subscriptions WHERE application = ?1 RETURNING ",
                    SUBSCRIPTION_COLUMNS
                );
                let mut subscriptions = collect(tx, sql, [&key], rows::subscription)?;
                subscriptions.sort_by(|a, b| a.api.cmp(&b.api));
                tx.prepare_cached("DELETE FROM applications WHERE id = ?1")
                    .db()?
                    .execute([&key])
                    .db()?;
                let events = deletion_events(&mappings, &subscriptions, id);
                Ok((Some((application, mappings, subscriptions)), events))
            })
            .await?;
        Ok(deleted.map(
            |(application, mappings, subscriptions)| DeletedApplication {
                application,
                mappings,
                subscriptions,
                revision,
            },
        ))
    }

    async fn put_api(&self, api: &Api) -> Result<Revision> {
        let api = api.clone();
        self.write_changes(move |conn| {
            // An upsert, not INSERT OR REPLACE: a replace deletes the row first, which foreign
            // keys would see.
            let sql = sql!(
                "INSERT INTO apis (",
                API_COLUMNS,
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                 version = excluded.version, context = excluded.context, \
                 organization = excluded.organization, key_managers = excluded.key_managers, \
                 audience = excluded.audience"
            );
            conn.prepare_cached(sql)
                .db()?
                .execute(params![
                    api.id.as_str(),
                    api.name,
                    api.version,
                    api.context,
                    api.organization.as_str(),
                    json("apis.key_managers", &api.key_managers)?,
                    api.audience,
                ])
                .db()?;
            Ok(((), vec![Event::ApiChanged { api }]))
        })
        .await
        .map(|((), revision)| revision)
    }

    async fn api(&self, id: &ApiId) -> Result<Option<Api>> {
        let id = id.to_string();
        self.read(move |conn| {
            let sql = sql!("SELECT ", API_COLUMNS, " FROM apis WHERE id = ?1");
            optional(conn, sql, [id], rows::api)
        })
        .await
    }

    async fn apis(&self) -> Result<Vec<Api>> {
        self.read(|conn| {
            let sql = sql!("SELECT ", API_COLUMNS, " FROM apis ORDER BY id");
            collect(conn, sql, [], rows::api)
        })
        .await
    }

    async fn put_subscription(
        &self,
        subscription: &Subscription,
    ) -> Result<Committed<Subscription>> {
        let s = subscription.clone();
        self.write_changes(move |tx| {
            let app = id_text(&s.application.0);
            let exists = |sql: &str, key: &str| -> Result<bool> {
                tx.prepare_cached(sql)
                    .db()?
                    .query_row([key], |_| Ok(()))
                    .optional()
                    .db()
                    .map(|found| found.is_some())
            };
            if !exists("SELECT 1 FROM applications WHERE id = ?1", &app)? {
                return Err(Error::ApplicationNotFound(s.application));
            }
            if !exists("SELECT 1 FROM apis WHERE id = ?1", s.api.as_str())? {
                return Err(Error::ApiNotFound(s.api));
            }
            let sql = sql!(
                "INSERT INTO subscriptions (",
                SUBSCRIPTION_COLUMNS,
                ") VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (application, api) DO UPDATE SET state = excluded.state, \
                 updated_at = excluded.updated_at RETURNING ",
                SUBSCRIPTION_COLUMNS
            );
            let stored = optional(
                tx,
                sql,
                params![
                    app,
                    s.api.as_str(),
                    s.state.as_str(),
                    ms(s.created_at),
                    ms(s.updated_at)
                ],
                rows::subscription,
            )?
            .ok_or_else(|| Error::Storage {
                detail: "sqlite: upsert of a subscription returned no row".to_owned(),
                retryable: false,
                source: None,
            })?;
            let event = Event::SubscriptionChanged {
                subscription: stored.clone(),
            };
            Ok((stored, vec![event]))
        })
        .await
        .map(|(stored, revision)| Committed::new(stored, revision))
    }

    async fn subscription(
        &self,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Option<Subscription>> {
        let api = api.to_string();
        self.read(move |conn| {
            let sql = sql!(
                "SELECT ",
                SUBSCRIPTION_COLUMNS,
                " FROM subscriptions WHERE application = ?1 AND api = ?2"
            );
            optional(
                conn,
                sql,
                [id_text(&application.0), api],
                rows::subscription,
            )
        })
        .await
    }

    async fn delete_subscription(
        &self,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Option<Committed<Subscription>>> {
        let api = api.to_string();
        self.write_changes(move |conn| {
            let sql = sql!(
                "DELETE FROM subscriptions WHERE application = ?1 AND api = ?2 RETURNING ",
                SUBSCRIPTION_COLUMNS
            );
            let removed = optional(
                conn,
                sql,
                [id_text(&application.0), api],
                rows::subscription,
            )?;
            let events = removed
                .iter()
                .map(|s| Event::SubscriptionRemoved {
                    application: s.application,
                    api: s.api.clone(),
                })
                .collect();
            Ok((removed, events))
        })
        .await
        .map(|(removed, revision)| removed.map(|s| Committed::new(s, revision)))
    }

    async fn subscriptions_of(&self, application: ApplicationId) -> Result<Vec<Subscription>> {
        self.read(move |conn| {
            let sql = sql!(
                "SELECT ",
                SUBSCRIPTION_COLUMNS,
                " FROM subscriptions WHERE application = ?1 ORDER BY api"
            );
            collect(conn, sql, [id_text(&application.0)], rows::subscription)
        })
        .await
    }

    async fn all_subscriptions(&self) -> Result<Vec<Subscription>> {
        self.read(|conn| {
            let sql = sql!(
                "SELECT ",
                SUBSCRIPTION_COLUMNS,
                " FROM subscriptions ORDER BY application, api"
            );
            collect(conn, sql, [], rows::subscription)
        })
        .await
    }

    async fn insert_mapping(&self, mapping: &KeyMapping) -> Result<Revision> {
        let m = mapping.clone();
        self.write_changes(move |tx| {
            insert_rows(tx, &INSERT_MAPPING, std::slice::from_ref(&m))?;
            Ok(((), vec![Event::MappingCreated { mapping: m }]))
        })
        .await
        .map(|((), revision)| revision)
    }

    async fn mapping(&self, id: MappingId) -> Result<Option<KeyMapping>> {
        self.read(move |conn| {
            let sql = sql!(
                "SELECT ",
                MAPPING_COLUMNS,
                " FROM key_mappings WHERE id = ?1"
            );
            optional(conn, sql, [id_text(&id.0)], rows::mapping)
        })
        .await
    }

    async fn mapping_by_consumer_key(
        &self,
        key_manager: &KeyManagerId,
        consumer_key: &ConsumerKey,
    ) -> Result<Option<KeyMapping>> {
        let (km, key) = (key_manager.to_string(), consumer_key.to_string());
        self.read(move |conn| {
            let sql = sql!(
                "SELECT ",
                MAPPING_COLUMNS,
                " FROM key_mappings WHERE key_manager = ?1 AND consumer_key = ?2"
            );
            optional(conn, sql, [km, key], rows::mapping)
        })
        .await
    }

    async fn mappings_of(&self, application: ApplicationId) -> Result<Vec<KeyMapping>> {
        self.read(move |conn| {
            let sql = sql!(
                "SELECT ",
                MAPPING_COLUMNS,
                " FROM key_mappings WHERE application = ?1 ORDER BY created_at, id"
            );
            collect(conn, sql, [id_text(&application.0)], rows::mapping)
        })
        .await
    }

    async fn all_mappings(&self) -> Result<Vec<KeyMapping>> {
        self.read(|conn| {
            let sql = sql!(
                "SELECT ",
                MAPPING_COLUMNS,
                " FROM key_mappings ORDER BY created_at, id"
            );
            collect(conn, sql, [], rows::mapping)
        })
        .await
    }

    async fn delete_mapping(&self, id: MappingId) -> Result<Option<Committed<KeyMapping>>> {
        self.write_changes(move |conn| {
            let sql = sql!(
                "DELETE FROM key_mappings WHERE id = ?1 RETURNING ",
                MAPPING_COLUMNS
            );
            let removed = optional(conn, sql, [id_text(&id.0)], rows::mapping)?;
            let events = removed
                .iter()
                .map(|m| Event::MappingRemoved { mapping: m.clone() })
                .collect();
            Ok((removed, events))
        })
        .await
        .map(|(removed, revision)| removed.map(|m| Committed::new(m, revision)))
    }

    async fn set_mapping_state(
        &self,
        id: MappingId,
        state: MappingState,
        at: DateTime<Utc>,
    ) -> Result<Option<Committed<StateChange>>> {
        self.write_changes(move |conn| {
            let sql = sql!(
                "SELECT ",
                MAPPING_COLUMNS,
                " FROM key_mappings WHERE id = ?1"
            );
            let Some(before) = optional(conn, sql, [id_text(&id.0)], rows::mapping)? else {
                return Ok((None, Vec::new()));
            };
            let sql = sql!(
                "UPDATE key_mappings SET state = ?2, updated_at = ?3 WHERE id = ?1 RETURNING ",
                MAPPING_COLUMNS
            );
            let mapping = optional(
                conn,
                sql,
                params![id_text(&id.0), state.as_str(), ms(at)],
                rows::mapping,
            )?
            .ok_or_else(|| Error::Storage {
                detail: "sqlite: the mapping vanished inside its transaction".to_owned(),
                retryable: false,
                source: None,
            })?;
            let previous = before.state;
            let events = if previous == state {
                Vec::new()
            } else {
                vec![Event::MappingStateChanged {
                    mapping: mapping.clone(),
                    previous,
                }]
            };
            Ok((Some(StateChange { mapping, previous }), events))
        })
        .await
        .map(|(change, revision)| change.map(|c| Committed::new(c, revision)))
    }
}

/// Writes audit entries inside the caller's transaction.
pub(super) fn record_audit(tx: &rusqlite::Transaction<'_>, entries: &[AuditEntry]) -> Result<()> {
    insert_rows(tx, &INSERT_AUDIT, entries)
}

fn current_revision(conn: &rusqlite::Connection) -> Result<Revision> {
    let value: i64 = conn
        .prepare_cached("SELECT value FROM change_revision WHERE id = 0")
        .db()?
        .query_row([], |row| row.get(0))
        .db()?;
    Ok(Revision::new(u64::try_from(value).unwrap_or_default()))
}
