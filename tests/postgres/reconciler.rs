//! One reconciler pass at a time across nodes, and the hand-over when the node running it
//! dies: the pass lock is a session-level advisory lock, so it goes with its connection.
//!
//! The hand-over test re-executes this test binary running the ignored `reconciler_worker`
//! test, which reads its orders from `KEYPROV_PG_RECONCILER_WORKER`.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use keyprov::reconciler::{PassEnd, Reconciler};
use keyprov::store::Store;
use keyprov::store::postgres::{PostgresConfig, PostgresStore};
use keyprov::{KeyManager, KeyManagerId, MappingState};
use km_keycloak::{KeycloakConfig, KeycloakKeyManager};

use super::{TestSchema, eventually};
use crate::reconciler::{key_managers, one_keycloak, provisioner, state, summary_where};

const ENV: &str = "KEYPROV_PG_RECONCILER_WORKER";
const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
#[ignore = "needs PostgreSQL (KEYPROV_PG_URL)"]
async fn the_pass_lock_has_one_holder_across_stores_and_goes_with_its_connection() {
    let schema = TestSchema::new();
    let one = schema.open().await;
    let two = schema.open().await;
    let held = one.pass_lock().try_acquire().await.unwrap().expect("free");
    assert!(held.is_held());
    assert!(two.pass_lock().try_acquire().await.unwrap().is_none());
    // Another schema is another lock.
    let elsewhere = TestSchema::new();
    let other = elsewhere.open().await;
    assert!(other.pass_lock().try_acquire().await.unwrap().is_some());

    held.release().await;
    let taken = two
        .pass_lock()
        .try_acquire()
        .await
        .unwrap()
        .expect("released");
    assert!(one.pass_lock().try_acquire().await.unwrap().is_none());

    // The holder's connection dies: the holder learns it lost the lock, and it is free.
    let pass_connection = format!("{}-pass", schema.app_name());
    assert_eq!(schema.terminate(&pass_connection).await, 1);
    assert!(eventually(WAIT, async || !taken.is_held()).await);
    assert!(one.pass_lock().try_acquire().await.unwrap().is_some());
}

#[tokio::test]
#[ignore = "needs PostgreSQL (KEYPROV_PG_URL)"]
async fn a_pass_that_loses_its_lock_stops_starting_rechecks() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let (kc, p, _) = one_keycloak(store, 6).await;
    kc.slow_admin(Duration::from_millis(150));
    let reconciler = Reconciler::builder(p).concurrency(1).build().unwrap();
    let pass = tokio::spawn({
        let reconciler = reconciler.clone();
        async move { reconciler.run_pass().await }
    });
    kc.wait_for_admin_request().await;
    assert_eq!(
        schema
            .terminate(&format!("{}-pass", schema.app_name()))
            .await,
        1
    );
    let summary = pass.await.unwrap().unwrap();
    assert_eq!(summary.end, PassEnd::LockLost);
    assert!(summary.counts().total() < 6, "{summary:?}");
}

/// A node dies (SIGKILL) in the middle of a pass; another node, refused while the first held
/// the lock, takes over and completes a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (KEYPROV_PG_URL)"]
async fn a_node_that_dies_mid_pass_hands_over_to_another_process() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let (kc, p, mappings) = one_keycloak(store, 12).await;
    // The last four clients (the last in a pass's order) were deleted: a completed pass
    // orphans them. Slow admin reads keep the worker's pass (one at a time) long.
    for i in 8..12 {
        assert!(kc.emulator.delete_client(&format!("c{i}")));
    }
    kc.slow_admin(Duration::from_millis(150));

    let orders = [
        schema.url.as_str(),
        schema.schema.as_str(),
        kc.emulator.base_url(),
        kc.emulator.realm(),
        kc.admin.client_id.as_str(),
        kc.admin.secret.as_str(),
    ]
    .join("|");
    let mut worker = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "postgres::reconciler::reconciler_worker",
            "--ignored",
            "--nocapture",
        ])
        .env(ENV, orders)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start worker process");
    let worker_started = eventually(WAIT, async || {
        kc.emulator.faults().in_flight("/admin") > 0 && lock_holders(&schema).await == 1
    })
    .await;
    if !worker_started {
        worker.kill().unwrap();
        let out = worker.wait_with_output().unwrap();
        panic!(
            "the worker did not start a pass: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // This node's passes are refused while the worker holds the lock.
    let reconciler = Reconciler::builder(p.clone())
        .interval(Duration::from_millis(100))
        .jitter(Duration::from_millis(50))
        .build()
        .unwrap();
    let running = reconciler.spawn();
    let refused = summary_where(&reconciler, |s| s.is_some()).await;
    assert_eq!(refused.end, PassEnd::LockHeldElsewhere);
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker is still in its pass"
    );

    worker.kill().unwrap(); // SIGKILL
    let status = worker.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    // It died before reaching the deleted clients.
    for m in &mappings {
        assert_eq!(state(&p, m.id).await, MappingState::Active);
    }

    let completed = summary_where(&reconciler, |s| {
        s.as_ref().is_some_and(|s| s.end == PassEnd::Completed)
    })
    .await;
    running.stop().await;
    let c = completed.counts();
    assert_eq!(
        (completed.mappings, c.unchanged, c.orphaned),
        (12, 8, 4),
        "{completed:?}"
    );
    for (i, m) in mappings.iter().enumerate() {
        let expected = if i >= 8 {
            MappingState::Orphaned
        } else {
            MappingState::Active
        };
        assert_eq!(state(&p, m.id).await, expected);
    }
    assert_eq!(lock_holders(&schema).await, 0, "released after the pass");
}

/// Sessions holding the schema's pass lock.
async fn lock_holders(schema: &TestSchema) -> i64 {
    super::admin(&schema.url)
        .await
        .query_one(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1",
            &[&format!("{}-pass", schema.app_name())],
        )
        .await
        .unwrap()
        .get(0)
}

/// The node that dies. Not a test of its own: run by the hand-over test above. A run with
/// `--include-ignored` must leave it out (`--skip reconciler_worker`, as `.ci/run` does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "worker process of a_node_that_dies_mid_pass_hands_over_to_another_process"]
async fn reconciler_worker() {
    let orders = std::env::var(ENV).unwrap_or_else(|_| {
        panic!(
            "reconciler_worker is a worker process that the hand-over test starts, not a \
             test: with --include-ignored, add --skip reconciler_worker"
        )
    });
    let parts: Vec<&str> = orders.split('|').collect();
    let [url, schema, base_url, realm, admin_id, admin_secret] = parts[..] else {
        panic!("orders: {orders}");
    };
    let config = PostgresConfig::builder(url)
        .schema(schema)
        .application_name(format!("kp-{schema}"))
        .build()
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(config).await.unwrap());
    let id = KeyManagerId::new("kc").unwrap();
    let adapter: Arc<dyn KeyManager> = Arc::new(
        KeycloakKeyManager::new(KeycloakConfig::new(
            id.clone(),
            base_url,
            realm,
            admin_id,
            admin_secret,
        ))
        .unwrap(),
    );
    let p = provisioner(store, key_managers(vec![(id, adapter)]));
    let reconciler = Reconciler::builder(p).concurrency(1).build().unwrap();
    let summary = reconciler.run_pass().await.unwrap();
    // Reached only when the parent does not kill this process.
    println!("PASS {:?}", summary.end);
}
