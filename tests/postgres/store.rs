//! The PostgreSQL store itself: round trips, P3 by constraint, typed errors, migrations.

use std::sync::Arc;

use keyprov::error::ConflictRule;
use keyprov::store::Store;
use keyprov::store::postgres::{PostgresConfig, PostgresStore};
use keyprov::{Error, KeyType, MappingState};

use super::{TestSchema, admin, api, application, mapping, subscription};

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn round_trips_every_record_and_deletes_an_application_whole() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let app = application("alice", "shop");
    store.create_application(&app).await.unwrap();
    assert_eq!(store.application(app.id).await.unwrap(), Some(app.clone()));
    assert_eq!(
        store.applications_of(&app.owner).await.unwrap(),
        vec![app.clone()]
    );

    let mut pizza = api("pizza");
    pizza.key_managers = keyprov::model::AllowedKeyManagers::Only(vec!["IS".parse().unwrap()]);
    pizza.audience = Some("pizza-aud".into());
    store.put_api(&pizza).await.unwrap();
    store.put_api(&api("burger")).await.unwrap();
    assert_eq!(store.api(&pizza.id).await.unwrap(), Some(pizza.clone()));
    let ids: Vec<_> = store
        .apis()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(
        ids,
        vec!["burger".parse().unwrap(), "pizza".parse().unwrap()]
    );

    let sub = store
        .put_subscription(&subscription(app.id, "pizza"))
        .await
        .unwrap()
        .into_inner();
    let mut blocked = sub.clone();
    blocked.state = keyprov::SubscriptionState::Blocked;
    blocked.created_at = crate::postgres::now_ms() + chrono::Duration::days(1);
    let stored = store.put_subscription(&blocked).await.unwrap().into_inner();
    assert_eq!(
        stored.created_at, sub.created_at,
        "created_at kept on replace"
    );
    assert_eq!(stored.state, keyprov::SubscriptionState::Blocked);
    store
        .put_subscription(&subscription(app.id, "burger"))
        .await
        .unwrap();

    let mut m = mapping(app.id, "IS", KeyType::Production, "client-1");
    m.snapshot.client_name = Some("Shop client".into());
    m.snapshot.grant_types = vec!["client_credentials".into()];
    m.snapshot.additional.insert("x".into(), "y".into());
    m.created_by = keyprov::Actor::User("alice".parse().unwrap());
    store.insert_mapping(&m).await.unwrap();
    assert_eq!(store.mapping(m.id).await.unwrap(), Some(m.clone()));
    assert_eq!(
        store
            .mapping_by_consumer_key(&m.key_manager, &m.consumer_key)
            .await
            .unwrap(),
        Some(m.clone())
    );
    let at = crate::postgres::now_ms();
    let suspended = store
        .set_mapping_state(m.id, MappingState::Suspended, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (suspended.mapping.state, suspended.mapping.updated_at),
        (MappingState::Suspended, at)
    );
    let sandbox = mapping(app.id, "IS", KeyType::Sandbox, "client-2");
    store.insert_mapping(&sandbox).await.unwrap();
    assert_eq!(store.mappings_of(app.id).await.unwrap().len(), 2);

    let deleted = store.delete_application(app.id).await.unwrap().unwrap();
    assert_eq!(deleted.application, app);
    assert_eq!(deleted.mappings.len(), 2);
    assert_eq!(deleted.subscriptions.len(), 2);
    assert!(store.all_mappings().await.unwrap().is_empty());
    assert!(store.all_subscriptions().await.unwrap().is_empty());
    assert!(store.delete_application(app.id).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn uniqueness_is_enforced_by_constraints_and_names_the_rule() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let (a, b) = (application("alice", "a"), application("bob", "b"));
    store.create_application(&a).await.unwrap();
    store.create_application(&b).await.unwrap();
    store
        .insert_mapping(&mapping(a.id, "IS", KeyType::Production, "k1"))
        .await
        .unwrap();
    let same_slot = store
        .insert_mapping(&mapping(a.id, "IS", KeyType::Production, "k2"))
        .await;
    assert!(
        matches!(
            same_slot,
            Err(Error::MappingExists(ConflictRule::KeyTypeAlreadyMapped))
        ),
        "{same_slot:?}"
    );
    let same_key = store
        .insert_mapping(&mapping(b.id, "IS", KeyType::Production, "k1"))
        .await;
    assert!(
        matches!(
            same_key,
            Err(Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped))
        ),
        "{same_key:?}"
    );
    // The same consumer key under another key manager is allowed.
    store
        .insert_mapping(&mapping(b.id, "Keycloak", KeyType::Production, "k1"))
        .await
        .unwrap();
    assert_eq!(store.all_mappings().await.unwrap().len(), 2);

    // Concurrent attempts inside one process: exactly one winner.
    let mut apps = Vec::new();
    for i in 0..24 {
        let app = application("carol", &format!("c{i}"));
        store.create_application(&app).await.unwrap();
        apps.push(app);
    }
    let tasks: Vec<_> = apps
        .iter()
        .map(|app| {
            let store = store.clone();
            let m = mapping(app.id, "IS", KeyType::Sandbox, "contended");
            tokio::spawn(async move { store.insert_mapping(&m).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn missing_parents_and_duplicate_names_are_typed_errors() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let ghost = application("alice", "ghost");
    let err = store
        .insert_mapping(&mapping(ghost.id, "IS", KeyType::Production, "k"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ApplicationNotFound(id) if id == ghost.id),
        "{err:?}"
    );
    let err = store
        .put_subscription(&subscription(ghost.id, "nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ApplicationNotFound(_) | Error::ApiNotFound(_)),
        "{err:?}"
    );
    let app = application("alice", "shop");
    store.create_application(&app).await.unwrap();
    let err = store
        .put_subscription(&subscription(app.id, "nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ApiNotFound(api) if api.as_str() == "nope"),
        "{err:?}"
    );
    let mut twin = application("alice", "shop");
    twin.organization = app.organization.clone();
    let err = store.create_application(&twin).await.unwrap_err();
    assert!(
        matches!(&err, Error::ApplicationExists { name } if name == "shop"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    // Another owner may use the name.
    store
        .create_application(&application("bob", "shop"))
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn concurrent_opens_apply_each_migration_once() {
    let schema = TestSchema::new();
    let config = schema.config().pool_size(2).build().unwrap();
    let opens: Vec<_> = (0..6)
        .map(|_| tokio::spawn(PostgresStore::open(config.clone())))
        .collect();
    for open in opens {
        let store = open.await.unwrap().expect("every concurrent open succeeds");
        assert_eq!(
            store.schema_version().await.unwrap(),
            PostgresStore::latest_schema_version()
        );
    }
    let admin = admin(&schema.url).await;
    let rows: i64 = admin
        .query_one(
            &format!("SELECT count(*) FROM {}.schema_migrations", schema.schema),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        rows,
        i64::from(PostgresStore::latest_schema_version()),
        "each migration once"
    );

    // A database migrated by a newer build is refused, not written to.
    admin
        .execute(
            &format!(
                "INSERT INTO {}.schema_migrations (version) VALUES (99)",
                schema.schema
            ),
            &[],
        )
        .await
        .unwrap();
    let err = PostgresStore::open(config).await.unwrap_err();
    assert!(
        matches!(&err, Error::Config { problem, .. } if problem.contains("99")),
        "{err:?}"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn the_store_is_usable_as_a_dyn_store() {
    let schema = TestSchema::new();
    let store: Arc<dyn Store> = schema.open().await;
    let app = application("dora", "dyn");
    store.create_application(&app).await.unwrap();
    assert!(store.application(app.id).await.unwrap().is_some());
    let debug = format!("{store:?}");
    assert!(debug.contains(&schema.schema), "{debug}");
    let _ = PostgresConfig::builder(&schema.url);
}

/// Concurrent inserts are group-committed (one statement per batch); a batch that hits a
/// constraint is retried row by row, so every caller still gets its own answer, and exactly
/// the committed rows are announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn a_burst_of_inserts_gets_each_callers_own_answer_and_one_event_per_row() {
    use keyprov::store::postgres::ChangeFeed;
    use keyprov::{ApplicationId, Event};

    let schema = TestSchema::new();
    let store = schema.open().await;
    let events = Arc::new(keyprov::events::ChangeLog::with_capacity(4096));
    let mut rx = events.subscribe();
    let feed = ChangeFeed::start(schema.config().build().unwrap(), events.clone())
        .await
        .unwrap();
    let mut apps = Vec::new();
    for i in 0..48 {
        let app = application("alice", &format!("burst-{i}"));
        store.create_application(&app).await.unwrap();
        apps.push(app.id);
    }
    // 32 free rows, 16 racing for one consumer key, 1 for an application that does not exist.
    let mut rows: Vec<_> = (0..32)
        .map(|i| mapping(apps[i], "IS", KeyType::Production, &format!("solo-{i}")))
        .collect();
    rows.extend((32..48).map(|i| mapping(apps[i], "IS", KeyType::Production, "shared")));
    let orphan = ApplicationId::random();
    rows.push(mapping(orphan, "IS", KeyType::Production, "orphan"));
    let barrier = Arc::new(tokio::sync::Barrier::new(rows.len()));
    let tasks: Vec<_> = rows
        .iter()
        .cloned()
        .map(|m| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.insert_mapping(&m).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    for (i, answer) in answers[..32].iter().enumerate() {
        assert!(answer.is_ok(), "solo-{i}: {answer:?}");
    }
    let shared = &answers[32..48];
    assert_eq!(shared.iter().filter(|a| a.is_ok()).count(), 1, "{shared:?}");
    for answer in shared.iter().filter(|a| a.is_err()) {
        assert!(
            matches!(
                answer,
                Err(Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped))
            ),
            "{answer:?}"
        );
    }
    assert!(
        matches!(answers[48], Err(Error::ApplicationNotFound(id)) if id == orphan),
        "{:?}",
        answers[48]
    );
    let stored = store.all_mappings().await.unwrap();
    assert_eq!(stored.len(), 33);
    // Exactly the stored rows are announced, once each.
    let mut announced = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while announced.len() < 33 {
        match tokio::time::timeout_at(deadline, rx.recv())
            .await
            .map(|r| r.map(|c| c.event))
        {
            Ok(Ok(Event::MappingCreated { mapping })) => announced.push(mapping.id),
            Ok(Ok(_)) => {}
            other => panic!("after {} events: {other:?}", announced.len()),
        }
    }
    let extra = tokio::time::timeout(std::time::Duration::from_millis(300), rx.recv()).await;
    assert!(extra.is_err(), "an event for a row not stored: {extra:?}");
    let mut stored: Vec<_> = stored.into_iter().map(|m| m.id).collect();
    stored.sort();
    announced.sort();
    assert_eq!(announced, stored);
    drop(feed);
}
