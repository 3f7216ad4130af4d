//! PostgreSQL figures, printed as `name: value` lines (run in release):
//!
//! ```text
//! eval "$(.ci/postgres.sh start)"
//! cargo run --release --features postgres --example bench_postgres          # full
//! cargo run --release --features postgres --example bench_postgres -- --smoke
//! ```
//!
//! - `pg_provision_per_s`: full provisioning calls (P1–P4 with validation by a scripted key
//!   manager, then the insert and its NOTIFY) by 4 concurrent callers on node A.
//! - `pg_insert_mapping_per_s`: the store's `insert_mapping` alone, same callers (the
//!   provisioner adds three reads per call).
//! - `propagation_p50_ms` / `propagation_p99_ms`: from node A's provision call returning to
//!   the mapping being in node B's in-memory view, fed by node B's own `ChangeFeed` (its own
//!   pool and listening connection). A mapping already visible when the call returns counts 0.
//!
//! Needs `KEYPROV_PG_URL`; works in a throwaway schema dropped at the end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use keyprov::store::Store;
use keyprov::store::postgres::{ChangeFeed, PostgresConfig, PostgresStore};
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, ApplicationId, Broadcast, Event, GlobalSettings, KeyManagerConfig, KeyManagers,
    KeyMapping, KeyType, MappingId, MappingMode, MappingState, NewApplication, ProvisionRequest,
    Provisioner,
};

const CALLERS: usize = 4;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let Ok(url) = std::env::var("KEYPROV_PG_URL") else {
        println!("SKIP bench_postgres: set KEYPROV_PG_URL");
        return Ok(());
    };
    let (provisions, samples) = if smoke { (200, 40) } else { (4000, 400) };
    let schema = format!(
        "kp_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let config = |name: &str| {
        PostgresConfig::builder(url.clone())
            .schema(schema.clone())
            .application_name(name)
            .pool_size(8)
            .build()
    };
    let result = run(
        config("kp-bench-a")?,
        config("kp-bench-b")?,
        provisions,
        samples,
    )
    .await;
    drop_schema(&url, &schema).await?;
    let (p50, p99) = result?;
    println!("propagation_p50_ms: {p50:.2}");
    println!("propagation_p99_ms: {p99:.2}");
    println!("propagation_samples: {samples}");
    Ok(())
}

async fn run(
    node_a: PostgresConfig,
    node_b: PostgresConfig,
    provisions: usize,
    samples: usize,
) -> anyhow::Result<(f64, f64)> {
    let km = Arc::new(ScriptedKeyManager::new("IS"));
    for i in 0..provisions + samples {
        km.add_client(&format!("client-{i}"), &format!("secret-{i}"));
    }
    let key_managers =
        KeyManagers::new().with(KeyManagerConfig::new("IS")?.out_of_band(true), km.clone())?;
    let store_a = Arc::new(PostgresStore::open(node_a).await?);
    let provisioner = Provisioner::builder()
        .store(store_a.clone())
        .key_managers(key_managers)
        .global(GlobalSettings::default())
        .build()?;

    // Node B: its feed and its view (mapping id -> when it became visible).
    let events = Broadcast::new(65_536);
    let mut rx = events.subscribe();
    let _feed = ChangeFeed::start(node_b.clone(), Arc::new(events.clone())).await?;
    let _store_b = PostgresStore::open(node_b).await?;
    let seen: Arc<Mutex<HashMap<MappingId, Instant>>> = Arc::default();
    let view = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(event) = rx.recv().await {
                if let Event::MappingCreated { mapping } = event {
                    seen.lock().unwrap().insert(mapping.id, Instant::now());
                }
            }
        })
    };

    let mut apps = Vec::with_capacity(provisions + samples);
    for i in 0..provisions + samples {
        let app = provisioner
            .create_application(NewApplication {
                name: format!("bench-{i}"),
                owner: "bench".parse()?,
                organization: "org".parse()?,
            })
            .await?;
        apps.push(app.id);
    }
    let owner = Actor::User("bench".parse()?);

    // Throughput: 4 callers, each a sequence of single provisioning calls.
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let (provisioner, owner) = (provisioner.clone(), owner.clone());
            let mine: Vec<_> = (c..provisions)
                .step_by(CALLERS)
                .map(|i| (i, apps[i]))
                .collect();
            tokio::spawn(async move {
                for (i, app) in mine {
                    let request = ProvisionRequest::new(
                        app,
                        "IS",
                        KeyType::Production,
                        format!("client-{i}"),
                        format!("secret-{i}"),
                    );
                    provisioner.provision(&owner, request).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for caller in callers {
        caller.await??;
    }
    let per_s = provisions as f64 / started.elapsed().as_secs_f64();
    println!("pg_provision_per_s: {per_s:.0}");

    // For comparison: the store's insert alone (one statement: row + NOTIFY), same callers,
    // on the same applications' free SANDBOX slots.
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let store = store_a.clone();
            let mine: Vec<_> = (c..provisions)
                .step_by(CALLERS)
                .map(|i| (i, apps[i]))
                .collect();
            tokio::spawn(async move {
                for (i, app) in mine {
                    store.insert_mapping(&sandbox_mapping(app, i)?).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for caller in callers {
        caller.await??;
    }
    let insert_per_s = provisions as f64 / started.elapsed().as_secs_f64();
    println!("pg_insert_mapping_per_s: {insert_per_s:.0}");

    // Propagation: one call at a time, each timed to node B's view.
    let mut lags = Vec::with_capacity(samples);
    for (i, app) in apps.iter().enumerate().skip(provisions) {
        let request = ProvisionRequest::new(
            *app,
            "IS",
            KeyType::Production,
            format!("client-{i}"),
            format!("secret-{i}"),
        );
        let id = provisioner.provision(&owner, request).await?.mapping.id;
        let returned = Instant::now();
        let deadline = returned + Duration::from_secs(5);
        let visible = loop {
            if let Some(at) = seen.lock().unwrap().get(&id).copied() {
                break at;
            }
            if Instant::now() > deadline {
                bail!("mapping {id} never reached node B");
            }
            tokio::time::sleep(Duration::from_micros(100)).await;
        };
        lags.push(visible.saturating_duration_since(returned).as_secs_f64() * 1000.0);
    }
    view.abort();
    lags.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lags[((lags.len() as f64 - 1.0) * p).round() as usize];
    Ok((pct(0.50), pct(0.99)))
}

fn sandbox_mapping(application: ApplicationId, i: usize) -> anyhow::Result<KeyMapping> {
    let at = keyprov::model::now();
    Ok(KeyMapping {
        id: MappingId::random(),
        application,
        key_type: KeyType::Sandbox,
        key_manager: "IS".parse()?,
        consumer_key: format!("direct-{i}").parse()?,
        mode: MappingMode::Mapped,
        state: MappingState::Active,
        validated: false,
        secret_proven: false,
        snapshot: Default::default(),
        created_at: at,
        updated_at: at,
        created_by: Actor::System,
    })
}

async fn drop_schema(url: &str, schema: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connect to drop the bench schema")?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await?;
    Ok(())
}
