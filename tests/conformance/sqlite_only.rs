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

/// A provisioner over `store` with `km` as the out-of-band key manager `IS`.
fn out_of_band(store: Arc<dyn Store>, km: Arc<ScriptedKeyManager>) -> Provisioner {
    Provisioner::builder()
        .store(store)
        .key_managers(
            KeyManagers::new()
                .with(
                    KeyManagerConfig::new("IS").unwrap().out_of_band(true),
                    km as Arc<dyn KeyManager>,
                )
                .unwrap(),
        )
        .build()
        .unwrap()
}

async fn alices_application(provisioner: &Provisioner, name: &str) -> keyprov::Application {
    provisioner
        .create_application(NewApplication::new(
            name,
            UserId::new("alice").unwrap(),
            OrganizationId::new("carbon.super").unwrap(),
        ))
        .await
        .unwrap()
        .value
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
    let provisioner = out_of_band(Arc::clone(&store) as Arc<dyn Store>, km);
    let app = alices_application(&provisioner, "shop").await;
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

/// A database written by schema version 3 (before the state checks were rewritten and the
/// audit trail moved from JSON into columns) opens with every row and record as it was, and
/// the rebuilt tables keep their constraints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_database_is_migrated_with_its_rows_and_audit_records() {
    use keyprov::MappingState;
    use keyprov::audit::{AuditAction, AuditQuery, RequestId};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyprov.db");
    let app = application("app", "alice", "carbon.super", 0);
    let mut suspended = mapping(app.id, KeyType::Production, "IS", "client-1", 10);
    suspended.state = MappingState::Suspended;
    let plain = mapping(app.id, KeyType::Sandbox, "IS", "client-2", 20);
    let request = RequestId::random();
    {
        let conn = Connection::open(&path).unwrap();
        for sql in [
            include_str!("../../src/store/migrations/0001_initial.sql"),
            include_str!("../../src/store/migrations/0002_revision.sql"),
            include_str!("../../src/store/migrations/0003_audit.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO applications VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                app.id.to_string(),
                app.name,
                app.owner.as_str(),
                app.organization.as_str(),
                app.created_at.timestamp_millis()
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO apis VALUES \
             ('orders', 'Orders', '1.0', '/orders', 'carbon.super', '{\"kind\":\"all\"}', NULL)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO subscriptions VALUES (?1, 'orders', 'PROD_ONLY_BLOCKED', 5, 6)",
            [app.id.to_string()],
        )
        .unwrap();
        for m in [&suspended, &plain] {
            conn.execute(
                "INSERT INTO key_mappings VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                rusqlite::params![
                    m.id.to_string(),
                    m.application.to_string(),
                    m.key_type.as_str(),
                    m.key_manager.as_str(),
                    m.consumer_key.as_str(),
                    m.mode.as_str(),
                    m.state.as_str(),
                    m.validated,
                    m.secret_proven,
                    serde_json::to_string(&m.snapshot).unwrap(),
                    m.created_at.timestamp_millis(),
                    m.updated_at.timestamp_millis(),
                    serde_json::to_string(&m.created_by).unwrap(),
                ],
            )
            .unwrap();
        }
        // Two records as version 3 wrote them: the searchable fields in columns, the whole
        // entry as JSON.
        let entry = serde_json::json!({
            "at": "2026-11-30T10:00:00.123Z",
            "actor": {"kind": "admin", "id": "carol"},
            "request_id": request.as_str(),
            "action": "mapping_state_changed",
            "application": app.id.to_string(),
            "key_manager": "IS",
            "key_type": "PRODUCTION",
            "mapping": suspended.id.to_string(),
            "consumer_key": "client-1",
            "detail": "ACTIVE -> SUSPENDED",
        });
        conn.execute(
            "INSERT INTO audit_log (at, actor, application, key_manager, entry) \
             VALUES (1796032800123, 'admin:carol', ?1, 'IS', ?2)",
            rusqlite::params![app.id.to_string(), entry.to_string()],
        )
        .unwrap();
        let refusal = serde_json::json!({
            "at": "2026-11-30T10:00:01Z",
            "actor": {"kind": "user", "id": "bob"},
            "request_id": "req-7",
            "action": "provisioning_refused",
            "code": 900967,
            "key_manager": "IS",
            "detail": "the key manager is not available",
        });
        conn.execute(
            "INSERT INTO audit_log (at, actor, application, key_manager, entry) \
             VALUES (1796032801000, 'user:bob', NULL, 'IS', ?1)",
            [refusal.to_string()],
        )
        .unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version(), SqliteStore::latest_schema_version());
    assert_eq!(store.application(app.id).await.unwrap(), Some(app.clone()));
    assert_eq!(
        by_id(store.mappings_of(app.id).await.unwrap()),
        by_id(vec![suspended.clone(), plain.clone()])
    );
    let subscriptions = store.subscriptions_of(app.id).await.unwrap();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].state, SubscriptionState::ProdOnlyBlocked);

    let trail = store.audit(&AuditQuery::new()).await.unwrap();
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert_eq!(trail[0].sequence, 1);
    assert_eq!(trail[0].at.timestamp_millis(), 1_796_032_800_123);
    assert_eq!(trail[0].actor, Actor::admin("carol").unwrap());
    assert_eq!(trail[0].request_id, request);
    assert_eq!(trail[0].action, AuditAction::MappingStateChanged);
    assert_eq!(trail[0].code, None);
    assert_eq!(trail[0].application, Some(app.id));
    assert_eq!(trail[0].key_manager.as_deref(), Some("IS"));
    assert_eq!(trail[0].key_type, Some(KeyType::Production));
    assert_eq!(trail[0].mapping, Some(suspended.id));
    assert_eq!(trail[0].consumer_key.as_deref(), Some("client-1"));
    assert_eq!(trail[0].detail, "ACTIVE -> SUSPENDED");
    assert_eq!(trail[1].actor, Actor::user("bob").unwrap());
    assert_eq!(trail[1].action, AuditAction::ProvisioningRefused);
    assert_eq!(trail[1].code, Some(900_967));
    assert_eq!(trail[1].application, None);
    assert_eq!(trail[1].request_id.as_str(), "req-7");
    let by_application = store
        .audit(&AuditQuery::new().application(app.id))
        .await
        .unwrap();
    assert_eq!(by_application.len(), 1);

    // Records written after the migration continue the sequence, and searches still use it.
    let km = Arc::new(ScriptedKeyManager::new("IS"));
    km.add_client("client-3", "s3cret");
    let provisioner = out_of_band(Arc::new(store.clone()), km);
    let other = alices_application(&provisioner, "other").await;
    let alice = Actor::user("alice").unwrap();
    let request = ProvisionRequest::new(
        other.id,
        "IS",
        KeyType::Production,
        keyprov::ConsumerKey::new("client-3").unwrap(),
    )
    .secret("s3cret".into());
    provisioner.provision(&alice, request).await.unwrap();
    let trail = store.audit(&AuditQuery::new().actor(alice)).await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].sequence, 3);
    assert_eq!(trail[0].action, AuditAction::MappingCreated);

    // The rebuilt tables keep their constraints: P3, the state checks, the cascade.
    let duplicate = mapping(other.id, KeyType::Sandbox, "IS", "client-1", 30);
    assert!(
        matches!(
            store.insert_mapping(&duplicate).await,
            Err(Error::MappingExists(_))
        ),
        "the consumer key is mapped already"
    );
    drop(provisioner);
    {
        let conn = Connection::open(&path).unwrap();
        let bad_state = conn.execute(
            "UPDATE key_mappings SET state = 'LOST' WHERE id = ?1",
            [plain.id.to_string()],
        );
        assert!(bad_state.is_err(), "{bad_state:?}");
        let bad_subscription = conn.execute("UPDATE subscriptions SET state = 'GONE'", []);
        assert!(bad_subscription.is_err(), "{bad_subscription:?}");
    }
    store.delete_application(app.id).await.unwrap();
    assert!(store.mappings_of(app.id).await.unwrap().is_empty());
    assert!(store.subscriptions_of(app.id).await.unwrap().is_empty());
}
