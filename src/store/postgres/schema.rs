//! Versioned migrations, applied on open under an advisory lock so that several processes
//! opening the same database at once apply each migration exactly once.
//!
//! A migration is never edited once released; changes come as a new version.

use super::error::{Context, from_pg};
use crate::error::{Error, Result};

/// `(version, SQL)`, applied in order. Constraint names are relied on by `error.rs`.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE applications (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    owner        text NOT NULL,
    organization text NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT applications_name_key UNIQUE (owner, organization, name)
);
CREATE INDEX applications_owner_idx ON applications (owner, created_at, id);

CREATE TABLE apis (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    version      text NOT NULL,
    context      text NOT NULL,
    organization text NOT NULL,
    key_managers jsonb NOT NULL,
    audience     text
);

CREATE TABLE subscriptions (
    application uuid NOT NULL,
    api         text NOT NULL,
    state       text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (application, api),
    CONSTRAINT subscriptions_application_fkey FOREIGN KEY (application)
        REFERENCES applications (id) ON DELETE CASCADE,
    CONSTRAINT subscriptions_api_fkey FOREIGN KEY (api)
        REFERENCES apis (id) ON DELETE CASCADE
);

-- P3: both halves of the uniqueness rule are constraints, so they hold across processes.
-- The slot constraint is declared first so that an insert violating both reports it, as the
-- other backends do.
CREATE TABLE mappings (
    id            uuid PRIMARY KEY,
    application   uuid NOT NULL,
    key_type      text NOT NULL,
    key_manager   text NOT NULL,
    consumer_key  text NOT NULL,
    mode          text NOT NULL,
    state         text NOT NULL,
    validated     boolean NOT NULL,
    secret_proven boolean NOT NULL,
    snapshot      jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    created_by    jsonb NOT NULL,
    CONSTRAINT mappings_slot_key UNIQUE (application, key_type, key_manager),
    CONSTRAINT mappings_consumer_key_key UNIQUE (key_manager, consumer_key),
    CONSTRAINT mappings_application_fkey FOREIGN KEY (application)
        REFERENCES applications (id) ON DELETE CASCADE
);

-- Events too large for a NOTIFY payload: the notification carries the id.
CREATE TABLE event_outbox (
    id         bigserial PRIMARY KEY,
    payload    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"#,
    ),
    (
        2,
        r#"
-- The change counter. A write advances it by the number of changes it publishes, in its own
-- transaction and just before committing: the row lock orders the writers, so revisions
-- commit, and are notified, in order on every node.
CREATE TABLE change_revision (
    id    integer PRIMARY KEY CHECK (id = 0),
    value bigint NOT NULL
);
INSERT INTO change_revision (id, value) VALUES (0, 0);
"#,
    ),
    (
        3,
        r#"
-- The audit trail: searchable fields as columns, the entry itself as JSON. No foreign keys:
-- records outlive what they describe.
CREATE TABLE audit_log (
    sequence    bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    application uuid,
    key_manager text,
    entry       jsonb NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_application_idx ON audit_log (application, sequence);
CREATE INDEX audit_log_key_manager_idx ON audit_log (key_manager, sequence);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, sequence);
"#,
    ),
];

/// Brings the schema to the latest version.
///
/// # Errors
/// `Storage` when a statement fails (the transaction is rolled back); `Config` when the
/// database holds a newer schema than this build knows.
pub(super) async fn migrate(client: &mut tokio_postgres::Client, schema: &str) -> Result<i32> {
    let ctx = Context::default();
    let pg = |e| from_pg(e, "migrate", &ctx);
    let tx = client.transaction().await.map_err(pg)?;
    // Released at commit or rollback; concurrent openers wait here, then see the work done.
    tx.execute(
        "SELECT pg_advisory_xact_lock(7369001, hashtext($1))",
        &[&schema],
    )
    .await
    .map_err(pg)?;
    // `schema` is validated by the config builder to be a plain lowercase identifier.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(pg)?;
    let current: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.schema_migrations"),
            &[],
        )
        .await
        .map_err(pg)?
        .get(0);
    let latest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > latest {
        return Err(Error::config(
            "postgres.schema",
            format!(
                "database schema {schema} is at version {current}, newer than this build ({latest})"
            ),
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(&format!("SET LOCAL search_path = {schema}; {sql}"))
            .await
            .map_err(pg)?;
        tx.execute(
            &format!("INSERT INTO {schema}.schema_migrations (version) VALUES ($1)"),
            &[version],
        )
        .await
        .map_err(pg)?;
        tracing::info!(schema, version, "applied keyprov migration");
    }
    tx.commit().await.map_err(pg)?;
    Ok(latest)
}
