//! The same flows on PostgreSQL, each in a fresh schema dropped at the end. They need a server:
//! set `KEYPROV_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`) and pass
//! `-- --include-ignored`; run without it, they fail.

use crate::Env;
use crate::flows;

/// An environment whose store is a fresh schema of the server `KEYPROV_PG_URL` names.
struct PgEnv {
    env: Env,
    url: String,
    schema: String,
}

impl PgEnv {
    fn new() -> Self {
        let url = match std::env::var("KEYPROV_PG_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => panic!("this test needs PostgreSQL and KEYPROV_PG_URL is not set"),
        };
        let schema = format!(
            "kp_cli_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let env = Env::new(|_| format!("{url}?schema={schema}"));
        Self { env, url, schema }
    }
}

impl PgEnv {
    fn drop_schema(&self, schema: &str) {
        let (url, schema) = (self.url.clone(), schema.to_owned());
        self.env.rt.block_on(async move {
            if let Ok((client, connection)) =
                tokio_postgres::connect(&url, tokio_postgres::NoTls).await
            {
                tokio::spawn(connection);
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await;
            }
        });
    }
}

impl Drop for PgEnv {
    fn drop(&mut self) {
        self.drop_schema(&self.schema);
    }
}

#[test]
#[ignore = "needs PostgreSQL (KEYPROV_PG_URL)"]
fn postgres_applications() {
    flows::applications(&PgEnv::new().env);
}

#[test]
#[ignore = "needs PostgreSQL (KEYPROV_PG_URL)"]
fn postgres_mapping_and_tokens() {
    flows::mapping_and_tokens(&PgEnv::new().env);
}

#[test]
#[ignore = "needs PostgreSQL (KEYPROV_PG_URL)"]
fn postgres_recheck() {
    flows::recheck(&PgEnv::new().env);
}

#[test]
#[ignore = "needs PostgreSQL (KEYPROV_PG_URL)"]
fn postgres_import_export_audit() {
    let first = PgEnv::new();
    let second = format!("{}?schema={}_2", first.url, first.schema);
    flows::import_export_audit(&first.env, &second);
    first.drop_schema(&format!("{}_2", first.schema));
}
