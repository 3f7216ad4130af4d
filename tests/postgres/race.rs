//! P3 across processes: two OS processes × 16 tasks map one consumer key to 32 different
//! applications at the same instant; exactly one row and one winner overall.
//!
//! The parent re-executes this test binary running the ignored `race_worker` test, which
//! reads its orders from `KEYPROV_PG_RACE_WORKER`.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyprov::error::ConflictRule;
use keyprov::store::Store;
use keyprov::store::postgres::{PostgresConfig, PostgresStore};
use keyprov::{Error, KeyType};

use super::{TestSchema, admin, application, mapping};

const ROUNDS: usize = 3;
const TASKS: usize = 16;
const ENV: &str = "KEYPROV_PG_RACE_WORKER";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn two_processes_racing_for_one_consumer_key_leave_one_row_and_one_winner() {
    let schema = TestSchema::new();
    // Create the schema before the workers open it (they would also cope on their own).
    drop(schema.open().await);
    // Both processes start their rounds at the same wall-clock instant, after their setup.
    let start_at = unix_ms() + 3000;
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|w| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "postgres::race::race_worker",
                    "--ignored",
                    "--nocapture",
                ])
                .env(
                    ENV,
                    format!("{}|{}|{w}|{start_at}", schema.url, schema.schema),
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start worker process")
        })
        .collect();
    let mut wins = [0usize; ROUNDS];
    let mut conflicts = [0usize; ROUNDS];
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "worker failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = 0;
        for line in stdout.lines().filter_map(|l| l.strip_prefix("RACE ")) {
            let v: Vec<usize> = line.split(' ').map(|n| n.parse().unwrap()).collect();
            wins[v[0]] += v[1];
            conflicts[v[0]] += v[2];
            lines += 1;
        }
        assert_eq!(lines, ROUNDS, "worker output: {stdout}");
    }
    let admin = admin(&schema.url).await;
    for round in 0..ROUNDS {
        assert_eq!(wins[round], 1, "round {round}: winners");
        assert_eq!(conflicts[round], 2 * TASKS - 1, "round {round}: conflicts");
        let rows: i64 = admin
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}.mappings WHERE consumer_key = $1",
                    schema.schema
                ),
                &[&format!("contended-{round}")],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 1, "round {round}: rows");
    }
}

/// One racing process. Not a test of its own: run by the test above. A run with
/// `--include-ignored` must leave it out (`--skip race_worker`, as `.ci/run` does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "worker process of two_processes_racing_for_one_consumer_key_leave_one_row_and_one_winner"]
async fn race_worker() {
    let orders = std::env::var(ENV).unwrap_or_else(|_| {
        panic!(
            "race_worker is a worker process that the race test starts, not a test: \
             with --include-ignored, add --skip race_worker"
        )
    });
    let parts: Vec<&str> = orders.split('|').collect();
    let (url, schema, worker, start_at) = (
        parts[0],
        parts[1],
        parts[2],
        parts[3].parse::<u64>().unwrap(),
    );
    let config = PostgresConfig::builder(url)
        .schema(schema)
        .pool_size(TASKS)
        .application_name(format!("kp-{schema}"))
        .build()
        .unwrap();
    let store = std::sync::Arc::new(PostgresStore::open(config).await.unwrap());
    let mut apps = Vec::new();
    for t in 0..TASKS {
        let app = application("racer", &format!("w{worker}-t{t}"));
        store.create_application(&app).await.unwrap();
        apps.push(app);
    }
    // Open every pooled connection before the start so the race is not a connect race.
    let warm: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.apis().await.unwrap() })
        })
        .collect();
    for w in warm {
        w.await.unwrap();
    }
    for round in 0..ROUNDS {
        let at = start_at + round as u64 * 400;
        tokio::time::sleep(Duration::from_millis(at.saturating_sub(unix_ms()))).await;
        let tasks: Vec<_> = apps
            .iter()
            .map(|app| {
                let store = store.clone();
                let m = mapping(
                    app.id,
                    &format!("km-{round}"),
                    KeyType::Production,
                    &format!("contended-{round}"),
                );
                tokio::spawn(async move { store.insert_mapping(&m).await })
            })
            .collect();
        let (mut won, mut lost) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => won += 1,
                Err(Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped)) => lost += 1,
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        println!("RACE {round} {won} {lost}");
    }
}
