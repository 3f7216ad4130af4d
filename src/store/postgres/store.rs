//! `impl Store for PostgresStore`. Every change and its notification share one transaction
//! (a single statement where possible, so the hot path is one round trip).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use super::batch::{AuditRow, MappingColumns, PendingInsert, UNNEST_MAPPINGS};
use super::error::{Context, from_pg};
use super::rows::{
    self, API_COLUMNS, APPLICATION_COLUMNS, MAPPING_COLUMNS, MAX_INLINE_PAYLOAD,
    SUBSCRIPTION_COLUMNS, notify, to_json,
};
use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
use crate::error::{Error, Result};
use crate::events::{Change, Changes, Committed, Event, Revision};
use crate::model::{
    Api, ApiId, Application, ApplicationId, ConsumerKey, KeyManagerId, KeyMapping, MappingId,
    MappingState, Subscription, UserId,
};
use crate::store::{DeletedApplication, Snapshot, StateChange, Store, deletion_events};

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn run<C: GenericClient + Sync>(
    client: &C,
    what: &str,
    ctx: &Context,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>> {
    let statement = client
        .prepare_cached(sql)
        .await
        .map_err(|e| from_pg(e, what, ctx))?;
    client
        .query(&statement, params)
        .await
        .map_err(|e| from_pg(e, what, ctx))
}

fn first<T>(rows: Vec<Row>, decode: impl Fn(&Row) -> Result<T>) -> Result<Option<T>> {
    rows.first().map(decode).transpose()
}

fn all<T>(rows: Vec<Row>, decode: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(decode).collect()
}

impl PostgresStore {
    async fn read(&self, what: &str, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let client = self.conn(what).await?;
        run(&client, what, &Context::default(), sql, params).await
    }

    /// One statement `sql` (which must return at least one row when it changed something),
    /// then the events built from its rows, in one transaction. Returns the rows and the
    /// revision of the last event.
    async fn write(
        &self,
        what: &str,
        ctx: &Context,
        sql: &str,
        params: Params<'_>,
        events: impl Fn(&[Row]) -> Result<Vec<Event>>,
    ) -> Result<(Vec<Row>, Revision)> {
        let mut client = self.conn(what).await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| from_pg(e, what, ctx))?;
        let rows = run(&tx, what, ctx, sql, params).await?;
        let revision = publish(&tx, &self.channel, events(&rows)?, what, ctx).await?;
        tx.commit().await.map_err(|e| from_pg(e, what, ctx))?;
        Ok((rows, revision))
    }
}

/// Advances the change counter by the number of `events` and notifies each with its
/// revision, inside the caller's transaction; returns the last revision (the current one when
/// there is no event). Called last before the commit: the counter's row lock, held until the
/// commit, puts writers' commits, and so their notifications, in revision order.
async fn publish<C: GenericClient + Sync>(
    tx: &C,
    channel: &str,
    events: Vec<Event>,
    what: &str,
    ctx: &Context,
) -> Result<Revision> {
    if let Some(context) = crate::audit::current() {
        record_audit(tx, &crate::audit::entries_for(&context, &events), what, ctx).await?;
    }
    if events.is_empty() {
        return current_revision(tx, what, ctx).await;
    }
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let rows = run(
        tx,
        what,
        ctx,
        "UPDATE change_revision SET value = value + $1 WHERE id = 0 RETURNING value",
        &[&count],
    )
    .await?;
    let last: i64 = rows
        .first()
        .ok_or_else(|| super::error::corrupt(what, "the change counter row is missing"))?
        .get(0);
    let first = revision_of(last - count).get() + 1;
    let changes = events
        .into_iter()
        .zip(first..)
        .map(|(event, revision)| Change {
            revision: Revision::new(revision),
            event,
        });
    let payloads = changes
        .map(|change| serde_json::to_string(&change).map_err(|e| super::error::corrupt(what, e)))
        .collect::<Result<Vec<_>>>()?;
    if payloads.iter().all(|p| p.len() <= MAX_INLINE_PAYLOAD) {
        // One round trip for them all (an import publishes thousands), in revision order.
        run(
            tx,
            what,
            ctx,
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, ord) \
             ORDER BY ord",
            &[&channel, &payloads],
        )
        .await?;
    } else {
        for payload in &payloads {
            notify(tx, channel, payload).await?;
        }
    }
    Ok(revision_of(last))
}

/// Writes audit entries in one statement, inside the caller's transaction.
async fn record_audit<C: GenericClient + Sync>(
    client: &C,
    entries: &[AuditEntry],
    what: &str,
    ctx: &Context,
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let at: Vec<_> = entries.iter().map(|e| e.at).collect();
    let actor: Vec<String> = entries.iter().map(AuditEntry::actor_key).collect();
    let application: Vec<_> = entries
        .iter()
        .map(|e| e.application.map(|a| *a.as_uuid()))
        .collect();
    let key_manager: Vec<_> = entries.iter().map(|e| e.key_manager.as_deref()).collect();
    let entry = entries.iter().map(to_json).collect::<Result<Vec<_>>>()?;
    run(
        client,
        what,
        ctx,
        "INSERT INTO audit_log (at, actor, application, key_manager, entry) \
         SELECT at, actor, application, key_manager, entry \
         FROM unnest($1::timestamptz[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[]) \
         WITH ORDINALITY AS a(at, actor, application, key_manager, entry, ord) ORDER BY ord",
        &[&at, &actor, &application, &key_manager, &entry],
    )
    .await?;
    Ok(())
}

async fn current_revision<C: GenericClient + Sync>(
    client: &C,
    what: &str,
    ctx: &Context,
) -> Result<Revision> {
    let rows = run(
        client,
        what,
        ctx,
        "SELECT value FROM change_revision WHERE id = 0",
        &[],
    )
    .await?;
    let value: i64 = rows
        .first()
        .ok_or_else(|| super::error::corrupt(what, "the change counter row is missing"))?
        .get(0);
    Ok(revision_of(value))
}

/// Bytes the `{"revision":N,` prefix can take.
const REVISION_PREFIX_ROOM: usize = 32;

pub(super) fn revision_of(value: i64) -> Revision {
    Revision::new(u64::try_from(value).unwrap_or_default())
}

#[async_trait]
impl Store for PostgresStore {
    fn pass_lock(&self) -> std::sync::Arc<dyn crate::store::PassLock> {
        std::sync::Arc::new(super::PostgresPassLock::new(self.config.clone()))
    }

    fn changes(&self) -> Result<Changes> {
        match &self.feed {
            Some(_) => Ok(self.log.subscribe()),
            None => Err(Error::config(
                "change_feed",
                "this PostgreSQL store was opened without its change feed: \
                 build its config with change_feed(true) to follow its changes",
            )),
        }
    }

    async fn revision(&self) -> Result<Revision> {
        let client = self.conn("revision").await?;
        current_revision(&client, "revision", &Context::default()).await
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let what = "snapshot";
        let ctx = Context::default();
        let mut client = self.conn(what).await?;
        // One snapshot for the counter and the rows: REPEATABLE READ, read only.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| from_pg(e, what, &ctx))?;
        let revision = current_revision(&tx, what, &ctx).await?;
        let sql = format!("SELECT {API_COLUMNS} FROM apis ORDER BY id COLLATE \"C\"");
        let apis = all(run(&tx, what, &ctx, &sql, &[]).await?, rows::api)?;
        let sql = format!("SELECT {MAPPING_COLUMNS} FROM mappings ORDER BY created_at, id");
        let mappings = all(run(&tx, what, &ctx, &sql, &[]).await?, rows::mapping)?;
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY application, api COLLATE \"C\""
        );
        let subscriptions = all(run(&tx, what, &ctx, &sql, &[]).await?, rows::subscription)?;
        tx.commit().await.map_err(|e| from_pg(e, what, &ctx))?;
        Ok(Snapshot {
            revision,
            apis,
            mappings,
            subscriptions,
        })
    }

    async fn create_application(&self, application: &Application) -> Result<Revision> {
        let ctx = Context {
            application_name: Some(application.name.clone()),
            ..Context::default()
        };
        let event = Event::ApplicationCreated {
            application: application.clone(),
        };
        let sql = format!(
            "INSERT INTO applications ({APPLICATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5) RETURNING id"
        );
        let params: Params<'_> = &[
            application.id.as_uuid(),
            &application.name,
            &application.owner.as_str(),
            &application.organization.as_str(),
            &application.created_at,
        ];
        let (_, revision) = self
            .write("create_application", &ctx, &sql, params, |_| {
                Ok(vec![event.clone()])
            })
            .await?;
        Ok(revision)
    }

    async fn application(&self, id: ApplicationId) -> Result<Option<Application>> {
        let sql = format!("SELECT {APPLICATION_COLUMNS} FROM applications WHERE id = $1");
        let rows = self.read("application", &sql, &[id.as_uuid()]).await?;
        first(rows, rows::application)
    }

    async fn applications_of(&self, owner: &UserId) -> Result<Vec<Application>> {
        let sql = format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications WHERE owner = $1 ORDER BY created_at, id"
        );
        let rows = self
            .read("applications_of", &sql, &[&owner.as_str()])
            .await?;
        all(rows, rows::application)
    }

    async fn delete_application(&self, id: ApplicationId) -> Result<Option<DeletedApplication>> {
        let what = "delete_application";
        let ctx = Context::default();
        let mut client = self.conn(what).await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| from_pg(e, what, &ctx))?;
        // The change counter first: a concurrent insert_mapping holds it while its foreign
        // key check waits for the application row, so taking the row first would deadlock.
        run(
            &tx,
            what,
            &ctx,
            "SELECT value FROM change_revision WHERE id = 0 FOR UPDATE",
            &[],
        )
        .await?;
        // Locking the parent row makes a concurrent insert_mapping for this application
        // wait and then fail its foreign key instead of slipping in. The children go before
        // the parent so that their rows are returned (the cascade would remove them silently).
        let sql =
            format!("SELECT {APPLICATION_COLUMNS} FROM applications WHERE id = $1 FOR UPDATE");
        let Some(application) = first(
            run(&tx, what, &ctx, &sql, &[id.as_uuid()]).await?,
            rows::application,
        )?
        else {
            tx.rollback().await.map_err(|e| from_pg(e, what, &ctx))?;
            return Ok(None);
        };
        let sql =
            format!("DELETE FROM mappings WHERE application = $1 RETURNING {MAPPING_COLUMNS}");
        let mut mappings = all(
            run(&tx, what, &ctx, &sql, &[id.as_uuid()]).await?,
            rows::mapping,
        )?;
        mappings.sort_by_key(|m| (m.created_at, m.id));
        let sql = format!(
            "DELETE FROM subscriptions WHERE application = $1 RETURNING {SUBSCRIPTION_COLUMNS}"
        );
        let mut subscriptions = all(
            run(&tx, what, &ctx, &sql, &[id.as_uuid()]).await?,
            rows::subscription,
        )?;
        subscriptions.sort_by(|a, b| a.api.cmp(&b.api));
        let sql = "DELETE FROM applications WHERE id = $1";
        run(&tx, what, &ctx, sql, &[id.as_uuid()]).await?;
        let events = deletion_events(&mappings, &subscriptions, id);
        let revision = publish(&tx, &self.channel, events, what, &ctx).await?;
        tx.commit().await.map_err(|e| from_pg(e, what, &ctx))?;
        Ok(Some(DeletedApplication {
            application,
            mappings,
            subscriptions,
            revision,
        }))
    }

    async fn put_api(&self, api: &Api) -> Result<Revision> {
        let sql = format!(
            "INSERT INTO apis ({API_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version, \
             context = excluded.context, organization = excluded.organization, \
             key_managers = excluded.key_managers, audience = excluded.audience RETURNING id"
        );
        let key_managers = to_json(&api.key_managers)?;
        let event = Event::ApiChanged { api: api.clone() };
        let params: Params<'_> = &[
            &api.id.as_str(),
            &api.name,
            &api.version,
            &api.context,
            &api.organization.as_str(),
            &key_managers,
            &api.audience,
        ];
        let (_, revision) = self
            .write("put_api", &Context::default(), &sql, params, |_| {
                Ok(vec![event.clone()])
            })
            .await?;
        Ok(revision)
    }

    async fn api(&self, id: &ApiId) -> Result<Option<Api>> {
        let sql = format!("SELECT {API_COLUMNS} FROM apis WHERE id = $1");
        first(self.read("api", &sql, &[&id.as_str()]).await?, rows::api)
    }

    async fn apis(&self) -> Result<Vec<Api>> {
        // Byte order, as the other backends sort ids.
        let sql = format!("SELECT {API_COLUMNS} FROM apis ORDER BY id COLLATE \"C\"");
        all(self.read("apis", &sql, &[]).await?, rows::api)
    }

    async fn put_subscription(
        &self,
        subscription: &Subscription,
    ) -> Result<Committed<Subscription>> {
        let ctx = Context {
            application: Some(subscription.application),
            api: Some(subscription.api.clone()),
            ..Context::default()
        };
        let sql = format!(
            "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (application, api) DO UPDATE SET state = excluded.state, \
             updated_at = excluded.updated_at RETURNING {SUBSCRIPTION_COLUMNS}"
        );
        let params: Params<'_> = &[
            subscription.application.as_uuid(),
            &subscription.api.as_str(),
            &subscription.state.as_str(),
            &subscription.created_at,
            &subscription.updated_at,
        ];
        let (rows, revision) = self
            .write("put_subscription", &ctx, &sql, params, |rows| {
                all(rows.to_vec(), rows::subscription).map(|subs| {
                    subs.into_iter()
                        .map(|subscription| Event::SubscriptionChanged { subscription })
                        .collect()
                })
            })
            .await?;
        let stored = first(rows, rows::subscription)?
            .ok_or_else(|| super::error::corrupt("put_subscription", "no row returned"))?;
        Ok(Committed::new(stored, revision))
    }

    async fn subscription(
        &self,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Option<Subscription>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE application = $1 AND api = $2"
        );
        let rows = self
            .read(
                "subscription",
                &sql,
                &[application.as_uuid(), &api.as_str()],
            )
            .await?;
        first(rows, rows::subscription)
    }

    async fn delete_subscription(
        &self,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Option<Committed<Subscription>>> {
        let sql = format!(
            "DELETE FROM subscriptions WHERE application = $1 AND api = $2 \
             RETURNING {SUBSCRIPTION_COLUMNS}"
        );
        let event = Event::SubscriptionRemoved {
            application,
            api: api.clone(),
        };
        let params: Params<'_> = &[application.as_uuid(), &api.as_str()];
        let (rows, revision) = self
            .write(
                "delete_subscription",
                &Context::default(),
                &sql,
                params,
                |rows| {
                    Ok(if rows.is_empty() {
                        vec![]
                    } else {
                        vec![event.clone()]
                    })
                },
            )
            .await?;
        Ok(first(rows, rows::subscription)?.map(|s| Committed::new(s, revision)))
    }

    async fn subscriptions_of(&self, application: ApplicationId) -> Result<Vec<Subscription>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE application = $1 \
             ORDER BY api COLLATE \"C\""
        );
        let rows = self
            .read("subscriptions_of", &sql, &[application.as_uuid()])
            .await?;
        all(rows, rows::subscription)
    }

    async fn all_subscriptions(&self) -> Result<Vec<Subscription>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY application, api COLLATE \"C\""
        );
        all(
            self.read("all_subscriptions", &sql, &[]).await?,
            rows::subscription,
        )
    }

    async fn insert_mapping(&self, mapping: &KeyMapping) -> Result<Revision> {
        let what = "insert_mapping";
        let ctx = Context {
            application: Some(mapping.application),
            ..Context::default()
        };
        let snapshot = to_json(&mapping.snapshot)?;
        let created_by = to_json(&mapping.created_by)?;
        let event = Event::MappingCreated {
            mapping: mapping.clone(),
        };
        let payload = rows::encode(&event)?;
        // The revision is prefixed to the payload in SQL: leave it room.
        if payload.len() + REVISION_PREFIX_ROOM > MAX_INLINE_PAYLOAD {
            // Rare: the event travels through the outbox, in an explicit transaction.
            let insert = format!(
                "INSERT INTO mappings ({MAPPING_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id"
            );
            let (key_type, key_manager, consumer_key, mode, state) = (
                mapping.key_type.as_str(),
                mapping.key_manager.as_str(),
                mapping.consumer_key.as_str(),
                mapping.mode.as_str(),
                mapping.state.as_str(),
            );
            let params: Params<'_> = &[
                mapping.id.as_uuid(),
                mapping.application.as_uuid(),
                &key_type,
                &key_manager,
                &consumer_key,
                &mode,
                &state,
                &mapping.validated,
                &mapping.secret_proven,
                &snapshot,
                &mapping.created_at,
                &mapping.updated_at,
                &created_by,
            ];
            let (_, revision) = self
                .write(what, &ctx, &insert, params, |_| Ok(vec![event.clone()]))
                .await?;
            return Ok(revision);
        }
        // The hot path: the group-committing writer (batch.rs); the row and its notification
        // share one statement, so one implicit transaction.
        let audit = match crate::audit::current() {
            Some(context) => crate::audit::entries_for(&context, [&event])
                .into_iter()
                .next()
                .map(|entry| -> Result<AuditRow> {
                    Ok(AuditRow {
                        at: entry.at,
                        actor: entry.actor_key(),
                        entry: to_json(&entry)?,
                    })
                })
                .transpose()?,
            None => None,
        };
        self.batcher
            .insert(PendingInsert {
                mapping: mapping.clone(),
                snapshot,
                created_by,
                payload,
                ctx,
                audit,
            })
            .await
    }

    async fn mapping(&self, id: MappingId) -> Result<Option<KeyMapping>> {
        let sql = format!("SELECT {MAPPING_COLUMNS} FROM mappings WHERE id = $1");
        first(
            self.read("mapping", &sql, &[id.as_uuid()]).await?,
            rows::mapping,
        )
    }

    async fn mapping_by_consumer_key(
        &self,
        key_manager: &KeyManagerId,
        consumer_key: &ConsumerKey,
    ) -> Result<Option<KeyMapping>> {
        let sql = format!(
            "SELECT {MAPPING_COLUMNS} FROM mappings WHERE key_manager = $1 AND consumer_key = $2"
        );
        let params: Params<'_> = &[&key_manager.as_str(), &consumer_key.as_str()];
        first(
            self.read("mapping_by_consumer_key", &sql, params).await?,
            rows::mapping,
        )
    }

    async fn mappings_of(&self, application: ApplicationId) -> Result<Vec<KeyMapping>> {
        let sql = format!(
            "SELECT {MAPPING_COLUMNS} FROM mappings WHERE application = $1 ORDER BY created_at, id"
        );
        let rows = self
            .read("mappings_of", &sql, &[application.as_uuid()])
            .await?;
        all(rows, rows::mapping)
    }

    async fn all_mappings(&self) -> Result<Vec<KeyMapping>> {
        let sql = format!("SELECT {MAPPING_COLUMNS} FROM mappings ORDER BY created_at, id");
        all(self.read("all_mappings", &sql, &[]).await?, rows::mapping)
    }

    async fn delete_mapping(&self, id: MappingId) -> Result<Option<Committed<KeyMapping>>> {
        let sql = format!("DELETE FROM mappings WHERE id = $1 RETURNING {MAPPING_COLUMNS}");
        let (rows, revision) = self
            .write(
                "delete_mapping",
                &Context::default(),
                &sql,
                &[id.as_uuid()],
                |rows| {
                    all(rows.to_vec(), rows::mapping).map(|ms| {
                        ms.into_iter()
                            .map(|mapping| Event::MappingRemoved { mapping })
                            .collect()
                    })
                },
            )
            .await?;
        Ok(first(rows, rows::mapping)?.map(|m| Committed::new(m, revision)))
    }

    async fn set_mapping_state(
        &self,
        id: MappingId,
        state: MappingState,
        at: DateTime<Utc>,
    ) -> Result<Option<Committed<StateChange>>> {
        // The old state comes from the row lock taken by the update itself, so concurrent
        // changes each see the state they replaced.
        let columns = MAPPING_COLUMNS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE mappings m SET state = $2, updated_at = $3 \
             FROM (SELECT id, state AS previous FROM mappings WHERE id = $1 FOR UPDATE) old \
             WHERE m.id = old.id RETURNING {columns}, old.previous"
        );
        let params: Params<'_> = &[id.as_uuid(), &state.as_str(), &at];
        let (rows, revision) = self
            .write(
                "set_mapping_state",
                &Context::default(),
                &sql,
                params,
                |rows| {
                    let mut events = Vec::new();
                    for row in rows {
                        let mapping = rows::mapping(row)?;
                        let previous: MappingState = row
                            .get::<_, &str>("previous")
                            .parse()
                            .map_err(|e| super::error::corrupt("previous", e))?;
                        if previous != mapping.state {
                            events.push(Event::MappingStateChanged { mapping, previous });
                        }
                    }
                    Ok(events)
                },
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let mapping = rows::mapping(row)?;
        let previous: MappingState = row
            .get::<_, &str>("previous")
            .parse()
            .map_err(|e| super::error::corrupt("previous", e))?;
        Ok(Some(Committed::new(
            StateChange { mapping, previous },
            revision,
        )))
    }

    async fn all_applications(&self) -> Result<Vec<Application>> {
        let sql = format!("SELECT {APPLICATION_COLUMNS} FROM applications ORDER BY created_at, id");
        all(
            self.read("all_applications", &sql, &[]).await?,
            rows::application,
        )
    }

    async fn import(
        &self,
        applications: Vec<Application>,
        mappings: Vec<KeyMapping>,
    ) -> Result<Revision> {
        let what = "import";
        let ctx = Context::default();
        let mut client = self.conn(what).await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| from_pg(e, what, &ctx))?;
        // The applications, then the mappings, in slices of one statement each (unnest), so
        // 100,000 rows are a few hundred round trips.
        let app_sql = format!(
            "INSERT INTO applications ({APPLICATION_COLUMNS}) SELECT * FROM unnest($1::uuid[], \
             $2::text[], $3::text[], $4::text[], $5::timestamptz[])"
        );
        for chunk in applications.chunks(1_000) {
            let ids: Vec<_> = chunk.iter().map(|a| *a.id.as_uuid()).collect();
            let names: Vec<_> = chunk.iter().map(|a| a.name.as_str()).collect();
            let owners: Vec<_> = chunk.iter().map(|a| a.owner.as_str()).collect();
            let organizations: Vec<_> = chunk.iter().map(|a| a.organization.as_str()).collect();
            let created: Vec<_> = chunk.iter().map(|a| a.created_at).collect();
            let params: Params<'_> = &[&ids, &names, &owners, &organizations, &created];
            run(&tx, what, &ctx, &app_sql, params).await?;
        }
        let mapping_sql = format!("INSERT INTO mappings ({MAPPING_COLUMNS}) {UNNEST_MAPPINGS}");
        for chunk in mappings.chunks(1_000) {
            let rows = chunk
                .iter()
                .map(|m| Ok((m, to_json(&m.snapshot)?, to_json(&m.created_by)?)))
                .collect::<Result<Vec<_>>>()?;
            let columns = MappingColumns::of(rows.into_iter());
            run(&tx, what, &ctx, &mapping_sql, &columns.params()).await?;
        }
        let events = applications
            .into_iter()
            .map(|application| Event::ApplicationCreated { application })
            .chain(
                mappings
                    .into_iter()
                    .map(|mapping| Event::MappingCreated { mapping }),
            )
            .collect();
        let revision = publish(&tx, &self.channel, events, what, &ctx).await?;
        tx.commit().await.map_err(|e| from_pg(e, what, &ctx))?;
        Ok(revision)
    }

    async fn record_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        let client = self.conn("record_audit").await?;
        record_audit(&client, entries, "record_audit", &Context::default()).await
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let application = query.application.map(|a| *a.as_uuid());
        let actor = query.actor.as_ref().map(crate::audit::actor_key);
        let limit = i64::try_from(query.effective_limit()).unwrap_or(i64::MAX);
        let sql = "SELECT sequence, entry FROM audit_log \
                   WHERE ($1::uuid IS NULL OR application = $1) \
                   AND ($2::text IS NULL OR key_manager = $2) \
                   AND ($3::text IS NULL OR actor = $3) \
                   AND ($4::timestamptz IS NULL OR at >= $4) \
                   AND ($5::timestamptz IS NULL OR at < $5) \
                   ORDER BY sequence LIMIT $6";
        let params: Params<'_> = &[
            &application,
            &query.key_manager,
            &actor,
            &query.since,
            &query.until,
            &limit,
        ];
        all(self.read("audit", sql, params).await?, rows::audit_record)
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        let client = self.conn("prune_audit").await?;
        client
            .execute("DELETE FROM audit_log WHERE at < $1", &[&before])
            .await
            .map_err(|e| from_pg(e, "prune_audit", &Context::default()))
    }
}
