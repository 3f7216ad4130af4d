//! What only a file database can show: restarts, migrations, the bytes on disk, lock contention.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use keyprov::store::{SqliteOptions, SqliteStore, Store};
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, Error, KeyManager, KeyManagerConfig, KeyManagers, KeyType, NewApplication,
    OrganizationId, ProvisionRequest, Provisioner, SubscriptionState, UserId,
};
use rusqlite::Connection;

use super::support::{api, application, by_id, mapping, subscription};

fn user_version(path: &Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_a_file_keeps_every_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyprov.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let mut apps = Vec::new();
    let mut mappings = Vec::new();
    store.put_api(&api("orders")).await.unwrap();
    for i in 0..20 {
        let app = application(&format!("app-{i}"), "alice", "carbon.super", i);
        store.create_application(&app).await.unwrap();
        for (j, key_type) in KeyType::ALL.iter().enumerate() {
            let m = mapping(
                app.id,
                *key_type,
                "IS",
                &format!("key-{i}-{j}"),
                i * 10 + j as i64,
            );
            store.insert_mapping(&m).await.unwrap();
            mappings.push(m);
        }
        store
            .put_subscription(&subscription(
                app.id,
                "orders",
                SubscriptionState::Unblocked,
            ))
            .await
            .unwrap();
        apps.push(app);
    }
    let subscriptions = store.all_subscriptions().await.unwrap();
    drop(store);

    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        by_id(reopened.all_mappings().await.unwrap()),
        by_id(mappings.clone())
    );
    for m in &mappings {
        assert_eq!(reopened.mapping(m.id).await.unwrap().as_ref(), Some(m));
    }
    for app in &apps {
        assert_eq!(
            reopened.application(app.id).await.unwrap().as_ref(),
            Some(app)
        );
    }
    assert_eq!(reopened.all_subscriptions().await.unwrap(), subscriptions);
    assert_eq!(reopened.apis().await.unwrap(), vec![api("orders")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_newer_schemas_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyprov.db");
    let latest = SqliteStore::latest_schema_version();
    assert!(latest >= 1);
    let app = application("app", "alice", "carbon.super", 0);
    {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version(), latest);
        store.create_application(&app).await.unwrap();
    }
    assert_eq!(user_version(&path), i64::from(latest));
    for _ in 0..3 {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.application(app.id).await.unwrap(), Some(app.clone()));
        assert_eq!(user_version(&path), i64::from(latest));
    }

    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", latest + 1)
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Config { key, problem } if key.contains("keyprov.db") && problem.contains("newer")),
        "{err:?}"
    );
    assert_eq!(user_version(&path), i64::from(latest + 1), "left untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_database_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "this is not a database, just some text that is long enough",
    )
    .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Storage {
                retryable: false,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_gives_a_retryable_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyprov.db");
    let store = SqliteStore::open_with(
        &path,
        SqliteOptions::default().busy_timeout(Duration::from_millis(50)),
    )
    .unwrap();
    let app = application("app", "alice", "carbon.super", 0);
    store.create_application(&app).await.unwrap();

    // Another process (here: another connection) holds the write lock.
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store
        .insert_mapping(&mapping(app.id, KeyType::Production, "IS", "k", 0))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "driver error kept as source"
    );
    other.execute_batch("ROLLBACK").unwrap();
    store
        .insert_mapping(&mapping(app.id, KeyType::Production, "IS", "k", 0))
        .await
        .unwrap();
}

/// Every cell of every table, as text.
fn dump(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.iter().any(|t| t == "key_mappings"), "{tables:?}");
    let mut out = String::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let value: rusqlite::types::Value = row.get(i).unwrap();
                out.push_str(&format!("{table}: {value:?}\n"));
                if let rusqlite::types::Value::Text(text) = value {
                    out.push_str(&text);
                    out.push('\n');
                }
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_never_holds_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyprov.db");
    let secret = format!("s3cr3t-{}", uuid::Uuid::new_v4().simple());
    let consumer_key = format!("client-{}", uuid::Uuid::new_v4().simple());
    let km = Arc::new(ScriptedKeyManager::new("IS"));
    km.add_client(&consumer_key, &secret);
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let provisioner = Provisioner::builder()
        .store(Arc::clone(&store) as Arc<dyn Store>)
        .key_managers(
            KeyManagers::new()
                .with(
                    KeyManagerConfig::new("IS").unwrap().out_of_band(true),
                    km as Arc<dyn KeyManager>,
                )
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = provisioner
        .create_application(NewApplication::new(
            "shop",
            UserId::new("alice").unwrap(),
            OrganizationId::new("carbon.super").unwrap(),
        ))
        .await
        .unwrap();
    let done = provisioner
        .provision(
            &Actor::service("ops").unwrap(),
            ProvisionRequest::new(
                app.id,
                "IS",
                KeyType::Production,
                keyprov::ConsumerKey::new(&consumer_key).unwrap(),
            )
            .secret(secret.as_str().into()),
        )
        .await
        .unwrap();
    assert!(
        done.mapping.secret_proven,
        "the secret went through validation"
    );
    let token = done.token.expect("the proof issued a token");

    let rows = dump(&path);
    assert!(
        rows.contains(&consumer_key),
        "the dump sees the mapping:\n{rows}"
    );
    assert!(!rows.contains(&secret), "secret in a row:\n{rows}");
    assert!(!rows.contains(token.secret()), "token in a row:\n{rows}");

    // The bytes on disk, before and after a checkpoint folds the WAL into the file.
    let files = |path: &Path| -> Vec<u8> {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", path.display());
            if let Ok(content) = std::fs::read(&file) {
                bytes.extend(content);
            }
        }
        bytes
    };
    let before = files(&path);
    assert!(
        contains(&before, &consumer_key),
        "the files hold the mapping"
    );
    assert!(!contains(&before, &secret));
    assert!(!contains(&before, token.secret()));
    drop(provisioner);
    drop(store);
    let after = files(&path);
    assert!(contains(&after, &consumer_key));
    assert!(!contains(&after, &secret));
    assert!(!contains(&after, token.secret()));
}

async fn round_trip(store: &SqliteStore) {
    let app = application("app", "alice", "carbon.super", 0);
    store.create_application(&app).await.unwrap();
    let m = mapping(app.id, KeyType::Production, "IS", "k", 0);
    store.insert_mapping(&m).await.unwrap();
    assert_eq!(store.mappings_of(app.id).await.unwrap(), vec![m]);
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("keyprov.db")).unwrap();
    round_trip(&store).await;
    round_trip(&SqliteStore::in_memory().unwrap()).await;
}

#[test]
fn works_outside_a_runtime() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    // Outside a runtime every call completes on its first poll.
    let mut call = std::pin::pin!(async {
        round_trip(&SqliteStore::in_memory().unwrap()).await;
    });
    let polled = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(matches!(polled, Poll::Ready(())));
}

/// Two stores on one file (as two processes would be) race for one consumer key: SQLite's own
/// locking and the UNIQUE constraint, not our connection mutex, decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_have_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyprov.db");
    let stores: Vec<Arc<dyn Store>> = vec![
        Arc::new(SqliteStore::open(&path).unwrap()),
        Arc::new(SqliteStore::open(&path).unwrap()),
    ];
    let mut attempts = Vec::new();
    for i in 0..32 {
        let app = application(&format!("app-{i}"), "alice", "carbon.super", i);
        stores[0].create_application(&app).await.unwrap();
        attempts.push(mapping(app.id, KeyType::Production, "IS", "contested", i));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(attempts.len()));
    let handles: Vec<_> = attempts
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, m)| {
            let (store, barrier) = (Arc::clone(&stores[i % 2]), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                store.insert_mapping(&m).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (handle, attempt) in handles.into_iter().zip(&attempts) {
        match handle.await.unwrap() {
            Ok(_) => winners.push(attempt.clone()),
            Err(Error::MappingExists(keyprov::error::ConflictRule::ConsumerKeyAlreadyMapped)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    for store in &stores {
        assert_eq!(store.all_mappings().await.unwrap(), winners);
    }
}
