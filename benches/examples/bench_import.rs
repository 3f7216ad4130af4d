//! Bulk import against one provisioning call per row, validation off (the key manager is never
//! called, so this measures the checks and the storage).
//!
//! ```text
//! cargo run --release -p keyprov-benches --example bench_import [-- ROWS]
//! KEYPROV_PG_URL=postgres://... cargo run --release -p keyprov-benches --features postgres --example bench_import
//! ```
//!
//! For each backend (an SQLite file; PostgreSQL when `KEYPROV_PG_URL` is set and the
//! `postgres` feature is on), on a fresh store each: `Provisioner::import` of ROWS rows
//! (default 100,000; one application per 2 rows, created by the import), then the same kind of
//! rows provisioned one `Provisioner::provision` call at a time, in sequence, into applications
//! created beforehand (on SQLite all ROWS of them; on PostgreSQL the first `SINGLE_ROWS`,
//! default 2,000, where 100,000 calls would take minutes). Prints
//! `import_rows_per_s_<backend>:`, `single_calls_per_s_<backend>:` and
//! `import_vs_single_calls_<backend>:` (the ratio). `--smoke` runs 2,000 rows and 500 calls.

use std::sync::Arc;
use std::time::Instant;

use keyprov::import::{ImportOptions, ImportRow};
use keyprov::store::{SqliteStore, Store};
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, ConsumerKey, GlobalSettings, KeyManager, KeyManagerConfig, KeyManagers, KeyType,
    NewApplication, OrganizationId, ProvisionRequest, Provisioner, UserId,
};

fn provisioner(store: Arc<dyn Store>) -> anyhow::Result<Provisioner> {
    let km: Arc<dyn KeyManager> = Arc::new(ScriptedKeyManager::new("IS"));
    Ok(Provisioner::builder()
        .store(store)
        .key_managers(KeyManagers::new().with(KeyManagerConfig::new("IS")?.out_of_band(true), km)?)
        .global(GlobalSettings {
            enable_key_provisioning: false,
            enable_provisioned_app_validation: false,
        })
        .build()?)
}

fn org() -> anyhow::Result<OrganizationId> {
    Ok(OrganizationId::new("carbon.super")?)
}

/// Two rows (production and sandbox) per application.
fn rows(n: usize) -> anyhow::Result<Vec<ImportRow>> {
    let owner = UserId::new("bench")?;
    (0..n)
        .map(|i| {
            let key_type = if i % 2 == 0 {
                KeyType::Production
            } else {
                KeyType::Sandbox
            };
            Ok(ImportRow::new(
                i as u64 + 2,
                owner.clone(),
                format!("app-{}", i / 2),
                key_type,
                "IS",
                ConsumerKey::new(format!("client-{i}"))?,
            ))
        })
        .collect()
}

/// Rows per second of one import of `n` rows into `store`.
async fn import(store: Arc<dyn Store>, n: usize) -> anyhow::Result<f64> {
    let p = provisioner(store)?;
    let operator = Actor::service("bench")?;
    let rows = rows(n)?;
    let start = Instant::now();
    let report = p
        .import(&operator, rows, ImportOptions::new(org()?))
        .await?;
    let elapsed = start.elapsed();
    anyhow::ensure!(
        report.is_clean() && report.stored == n,
        "import: {:?}",
        report.failures.first()
    );
    anyhow::ensure!(p.store().all_mappings().await?.len() == n, "rows missing");
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// Calls per second of `n` provisioning calls in sequence into `store`.
async fn single_calls(store: Arc<dyn Store>, n: usize) -> anyhow::Result<f64> {
    let p = provisioner(store)?;
    let operator = Actor::service("bench")?;
    let mut apps = Vec::with_capacity(n.div_ceil(2));
    for i in 0..n.div_ceil(2) {
        let app = p
            .create_application(NewApplication::new(
                format!("app-{i}"),
                UserId::new("bench")?,
                org()?,
            ))
            .await?;
        apps.push(app.id);
    }
    let start = Instant::now();
    for i in 0..n {
        let key_type = if i % 2 == 0 {
            KeyType::Production
        } else {
            KeyType::Sandbox
        };
        let request = ProvisionRequest::new(
            apps[i / 2],
            "IS",
            key_type,
            ConsumerKey::new(format!("client-{i}"))?,
        );
        p.provision(&operator, request).await?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn print(backend: &str, import: f64, single: f64) {
    println!("import_rows_per_s_{backend}: {import:.0}");
    println!("single_calls_per_s_{backend}: {single:.0}");
    println!("import_vs_single_calls_{backend}: {:.1}", import / single);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let rows_arg = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok());
    let n = rows_arg.unwrap_or(if smoke { 2_000 } else { 100_000 });
    let single_env = std::env::var("SINGLE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok());
    println!("rows: {n}");

    let dir = tempfile::tempdir()?;
    let sqlite = |name: &str| -> anyhow::Result<Arc<dyn Store>> {
        Ok(Arc::new(SqliteStore::open(dir.path().join(name))?))
    };
    let import_rate = import(sqlite("import.db")?, n).await?;
    let single_n = single_env
        .unwrap_or(if smoke { 500 } else { 20_000 })
        .min(n);
    let single_rate = single_calls(sqlite("single.db")?, single_n).await?;
    println!("single_call_rows_sqlite: {single_n}");
    print("sqlite", import_rate, single_rate);

    postgres(n, single_env.unwrap_or(if smoke { 500 } else { 2_000 })).await
}

#[cfg(feature = "postgres")]
async fn postgres(n: usize, single_n: usize) -> anyhow::Result<()> {
    use keyprov::store::postgres::{PostgresConfig, PostgresStore};

    let Ok(url) = std::env::var("KEYPROV_PG_URL") else {
        println!("SKIP postgres: set KEYPROV_PG_URL");
        return Ok(());
    };
    let mut schemas = Vec::new();
    let mut open = |tag: &str| {
        let schema = format!(
            "kp_bench_{tag}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        schemas.push(schema.clone());
        PostgresConfig::builder(url.clone())
            .schema(schema)
            .pool_size(4)
            .build()
    };
    let (import_config, single_config) = (open("imp")?, open("one")?);
    let result = async {
        let import_rate = import(Arc::new(PostgresStore::open(import_config).await?), n).await?;
        let single_n = single_n.min(n);
        let single_rate = single_calls(
            Arc::new(PostgresStore::open(single_config).await?),
            single_n,
        )
        .await?;
        println!("single_call_rows_postgres: {single_n}");
        print("postgres", import_rate, single_rate);
        anyhow::Ok(())
    }
    .await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    for schema in schemas {
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await?;
    }
    result
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_: usize, _: usize) -> anyhow::Result<()> {
    if std::env::var_os("KEYPROV_PG_URL").is_some() {
        println!("SKIP postgres: build with --features postgres");
    }
    Ok(())
}
