//! Faults: statement timeout, unreachable server, backends terminated under the pool.

use std::time::{Duration, Instant};

use keyprov::store::Store;
use keyprov::store::postgres::{PostgresConfig, PostgresStore};
use keyprov::{Error, KeyType, MappingState};

use super::{TestSchema, admin, application, mapping, subscription};

fn sql_state(err: &Error) -> Option<String> {
    let source = std::error::Error::source(err)?;
    let pg = source.downcast_ref::<tokio_postgres::Error>()?;
    pg.code().map(|c| c.code().to_owned())
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn a_long_statement_is_cut_by_the_statement_timeout_with_a_typed_error() {
    let schema = TestSchema::new();
    let store = PostgresStore::open(
        schema
            .config()
            .statement_timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let app = application("alice", "shop");
    store.create_application(&app).await.unwrap();
    let m = mapping(app.id, "IS", KeyType::Production, "k");
    store.insert_mapping(&m).await.unwrap();

    // Another session holds the row: the update waits on the lock until the timeout.
    let mut locker = admin(&schema.url).await;
    let tx = locker.transaction().await.unwrap();
    tx.execute(
        &format!(
            "SELECT 1 FROM {}.mappings WHERE id = $1 FOR UPDATE",
            schema.schema
        ),
        &[m.id.as_uuid()],
    )
    .await
    .unwrap();
    let started = Instant::now();
    let err = store
        .set_mapping_state(m.id, MappingState::Suspended, crate::postgres::now_ms())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert!(err.to_string().contains("statement timeout"), "{err}");
    assert_eq!(sql_state(&err).as_deref(), Some("57014"), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
    tx.rollback().await.unwrap();

    // Nothing was written, and the store works on.
    assert_eq!(
        store.mapping(m.id).await.unwrap().unwrap().state,
        MappingState::Active
    );
    let now = store
        .set_mapping_state(m.id, MappingState::Suspended, crate::postgres::now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.mapping.state, MappingState::Suspended);
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_storage_error() {
    // Port 1 on loopback: nothing listens, the connection is refused.
    let config = PostgresConfig::builder("postgres://postgres@127.0.0.1:1/test")
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let err = PostgresStore::open(config).await.unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.code(), 901430);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn terminated_backends_fail_the_call_in_flight_retryably_and_the_pool_recovers() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let app = application("alice", "shop");
    store.create_application(&app).await.unwrap();
    let m = mapping(app.id, "IS", KeyType::Production, "k");
    store.insert_mapping(&m).await.unwrap();
    // Open several pooled connections.
    let warm: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.all_mappings().await.unwrap() })
        })
        .collect();
    for w in warm {
        w.await.unwrap();
    }

    // A call in flight (waiting on a lock) when its backend is terminated.
    let mut locker = admin(&schema.url).await;
    let tx = locker.transaction().await.unwrap();
    tx.execute(
        &format!(
            "SELECT 1 FROM {}.mappings WHERE id = $1 FOR UPDATE",
            schema.schema
        ),
        &[m.id.as_uuid()],
    )
    .await
    .unwrap();
    let in_flight = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .set_mapping_state(m.id, MappingState::Orphaned, crate::postgres::now_ms())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = schema.terminate(&schema.app_name()).await;
    assert!(killed >= 1, "no backend of the pool found");
    let err = in_flight.await.unwrap().unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    tx.rollback().await.unwrap();

    // The pool recovers by itself: within a few attempts calls succeed again, and every
    // failure on the way is retryable.
    let mut failures = 0;
    let mut recovered = false;
    for i in 0..20 {
        match store
            .create_application(&application("alice", &format!("after-{i}")))
            .await
        {
            Ok(_) => {
                recovered = true;
                break;
            }
            Err(err) => {
                assert!(err.is_retryable(), "{err:?}");
                failures += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(recovered, "pool did not recover after {failures} failures");
    // The interrupted update left nothing behind.
    assert_eq!(
        store.mapping(m.id).await.unwrap().unwrap().state,
        MappingState::Active
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn multi_row_changes_are_all_or_nothing_while_backends_are_killed() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    store.put_api(&super::api("pizza")).await.unwrap();
    let mut apps = Vec::new();
    for i in 0..30 {
        let app = application("alice", &format!("a{i}"));
        store.create_application(&app).await.unwrap();
        for (kt, n) in [(KeyType::Production, 0), (KeyType::Sandbox, 1)] {
            store
                .insert_mapping(&mapping(app.id, "IS", kt, &format!("k{i}-{n}")))
                .await
                .unwrap();
        }
        store
            .put_subscription(&subscription(app.id, "pizza"))
            .await
            .unwrap();
        apps.push(app);
    }
    let killer = {
        let (url, name) = (schema.url.clone(), schema.app_name());
        tokio::spawn(async move {
            let admin = admin(&url).await;
            for _ in 0..200 {
                let _ = admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1",
                        &[&name],
                    )
                    .await;
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let admin = admin(&schema.url).await;
    let count = |table: &str| {
        format!(
            "SELECT count(*) FROM {}.{table} WHERE application = $1",
            schema.schema
        )
    };
    let mut retried = 0;
    for app in &apps {
        // Whatever happened to the call, the application is there whole or gone whole.
        let outcome = store.delete_application(app.id).await;
        if let Err(err) = &outcome {
            assert!(err.is_retryable(), "{err:?}");
            retried += 1;
        }
        let exists = store.application(app.id).await.ok().flatten().is_some()
            || admin
                .query_opt(
                    &format!("SELECT 1 FROM {}.applications WHERE id = $1", schema.schema),
                    &[app.id.as_uuid()],
                )
                .await
                .unwrap()
                .is_some();
        let mappings: i64 = admin
            .query_one(&count("mappings"), &[app.id.as_uuid()])
            .await
            .unwrap()
            .get(0);
        let subs: i64 = admin
            .query_one(&count("subscriptions"), &[app.id.as_uuid()])
            .await
            .unwrap()
            .get(0);
        if exists {
            assert_eq!((mappings, subs), (2, 1), "partial delete of {}", app.id);
        } else {
            assert_eq!((mappings, subs), (0, 0), "orphans of {}", app.id);
        }
    }
    killer.abort();
    eprintln!("delete_application calls failed by termination: {retried}");
}
