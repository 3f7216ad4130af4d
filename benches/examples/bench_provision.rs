//! Provisioning throughput on an embedded SQLite file, validation off
//! (`enable_provisioned_app_validation = false`: the key manager is never called, so this
//! measures the library and its storage).
//!
//! ```text
//! cargo run --release -p keyprov-benches --example bench_provision [-- CALLS]
//! ```
//!
//! Prints `name: value` lines: `provision_per_s` (one caller, calls in sequence, default
//! options) and its latency percentiles; the same with 4 concurrent callers; for comparison,
//! one caller with every call on Tokio's blocking pool (`_blocking_pool`), and one caller with
//! `synchronous=FULL` (`_sync_full`, an fsync per commit, instead of the default WAL with
//! `synchronous=NORMAL`). Every call is a full `Provisioner::provision`: three reads (the
//! application, the two P3 pre-checks) and one insert.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyprov::store::{Durability, Execution, SqliteOptions, SqliteStore, Store};
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, ApplicationId, GlobalSettings, KeyManager, KeyManagerConfig, KeyManagers, KeyType,
    NewApplication, OrganizationId, ProvisionRequest, Provisioner, UserId,
};

const WARMUP: usize = 500;

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

async fn applications(
    p: &Provisioner,
    prefix: &str,
    n: usize,
) -> anyhow::Result<Vec<ApplicationId>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let app = p
            .create_application(NewApplication::new(
                format!("{prefix}-{i}"),
                UserId::new("bench")?,
                OrganizationId::new("carbon.super")?,
            ))
            .await?;
        ids.push(app.id);
    }
    Ok(ids)
}

/// Provisions one client into each application from `callers` concurrent tasks, each calling
/// in sequence; returns the wall time and every call's latency.
async fn run(
    p: &Provisioner,
    apps: &[ApplicationId],
    prefix: &str,
    callers: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let chunk = apps.len().div_ceil(callers);
    let start = Instant::now();
    let tasks: Vec<_> = apps
        .chunks(chunk)
        .enumerate()
        .map(|(c, apps)| {
            let (p, apps, prefix) = (p.clone(), apps.to_vec(), prefix.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(apps.len());
                for (i, application) in apps.into_iter().enumerate() {
                    let request = ProvisionRequest::new(
                        application,
                        "IS",
                        KeyType::Production,
                        keyprov::ConsumerKey::new(format!("{prefix}-{c}-{i}"))?,
                    );
                    let t = Instant::now();
                    p.provision(&Actor::service("ops").unwrap(), request)
                        .await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(apps.len());
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok((start.elapsed(), latencies))
}

fn percentile_us(sorted: &[Duration], p: f64) -> u128 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_micros()
}

async fn measure(
    n: usize,
    callers: usize,
    options: SqliteOptions,
    suffix: &str,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open_with(
        dir.path().join("bench.db"),
        options,
    )?);
    let p = provisioner(Arc::clone(&store) as Arc<dyn Store>)?;
    let warm = applications(&p, "warm", WARMUP).await?;
    run(&p, &warm, "warm", callers).await?;
    let apps = applications(&p, "app", n).await?;
    let (wall, mut latencies) = run(&p, &apps, "key", callers).await?;
    let rows = store.all_mappings().await?.len();
    anyhow::ensure!(
        rows == n + WARMUP,
        "expected {} mappings, found {rows}",
        n + WARMUP
    );
    latencies.sort();
    println!(
        "provision_per_s{suffix}: {:.0}",
        n as f64 / wall.as_secs_f64()
    );
    println!("p50_us{suffix}: {}", percentile_us(&latencies, 0.50));
    println!("p99_us{suffix}: {}", percentile_us(&latencies, 0.99));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 20_000,
    };
    println!(
        "driver: rusqlite (SQLite {} bundled), WAL",
        rusqlite::version()
    );
    println!("calls: {n}");
    // Figures on a shared machine depend on what else runs; say so next to them.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let one_minute = load.split_whitespace().next().unwrap_or("?");
        println!("load_average_1m: {one_minute}");
    }
    let defaults = SqliteOptions::default();
    measure(n, 1, defaults.clone(), "").await?;
    measure(n, 4, defaults.clone(), "_4_callers").await?;
    // For comparison: every call on the blocking pool; an fsync per commit.
    let pool = defaults.clone().execution(Execution::BlockingPool);
    measure(n / 4, 1, pool, "_blocking_pool").await?;
    let full = defaults.durability(Durability::Full);
    measure(n.min(2_000), 1, full, "_sync_full").await?;
    Ok(())
}
