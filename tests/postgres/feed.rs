//! The change feed: every committed change arrives as its event, nothing for a change that
//! did not commit, and a node's view converges after its listener's connection is killed.

use std::sync::Arc;
use std::time::Duration;

use keyprov::store::Store;
use keyprov::store::postgres::ChangeFeed;
use keyprov::{Event, KeyType, MappingState};
use tokio::sync::broadcast::Receiver;

use super::{TestSchema, View, api, application, eventually, mapping, subscription};

async fn next(rx: &mut Receiver<keyprov::Change>) -> Event {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event within 5 s")
        .expect("broadcast open")
        .event
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn every_committed_change_arrives_as_its_event_in_commit_order() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let events = Arc::new(keyprov::events::ChangeLog::with_capacity(1024));
    let mut rx = events.subscribe();
    let feed = ChangeFeed::start(schema.config().build().unwrap(), events.clone())
        .await
        .unwrap();
    assert!(feed.is_connected());

    let app = application("alice", "shop");
    let other = application("bob", "other");
    store.create_application(&app).await.unwrap();
    store.create_application(&other).await.unwrap();
    let pizza = api("pizza");
    store.put_api(&pizza).await.unwrap();
    let sub = store
        .put_subscription(&subscription(app.id, "pizza"))
        .await
        .unwrap()
        .into_inner();
    let m = mapping(app.id, "IS", KeyType::Production, "k1");
    store.insert_mapping(&m).await.unwrap();
    // Failed or no-op changes publish nothing.
    assert!(
        store
            .insert_mapping(&mapping(other.id, "IS", KeyType::Production, "k1"))
            .await
            .is_err()
    );
    assert!(store.create_application(&app).await.is_err());
    let at = crate::postgres::now_ms();
    let suspended = store
        .set_mapping_state(m.id, MappingState::Suspended, at)
        .await
        .unwrap()
        .unwrap()
        .into_inner()
        .mapping;
    store
        .set_mapping_state(m.id, MappingState::Suspended, at)
        .await
        .unwrap();
    store.delete_subscription(app.id, &pizza.id).await.unwrap();
    assert!(
        store
            .delete_subscription(app.id, &pizza.id)
            .await
            .unwrap()
            .is_none()
    );
    store.delete_mapping(m.id).await.unwrap();
    let m2 = mapping(app.id, "IS", KeyType::Sandbox, "k2");
    store.insert_mapping(&m2).await.unwrap();
    let sub2 = store
        .put_subscription(&subscription(app.id, "pizza"))
        .await
        .unwrap()
        .into_inner();
    store.delete_application(app.id).await.unwrap();

    let expected = vec![
        Event::ApplicationCreated {
            application: app.clone(),
        },
        Event::ApplicationCreated {
            application: other.clone(),
        },
        Event::ApiChanged { api: pizza.clone() },
        Event::SubscriptionChanged { subscription: sub },
        Event::MappingCreated { mapping: m.clone() },
        Event::MappingStateChanged {
            mapping: suspended.clone(),
            previous: MappingState::Active,
        },
        Event::SubscriptionRemoved {
            application: app.id,
            api: pizza.id.clone(),
        },
        Event::MappingRemoved { mapping: suspended },
        Event::MappingCreated {
            mapping: m2.clone(),
        },
        Event::SubscriptionChanged { subscription: sub2 },
        Event::MappingRemoved { mapping: m2 },
        Event::SubscriptionRemoved {
            application: app.id,
            api: pizza.id.clone(),
        },
        Event::ApplicationDeleted {
            application: app.id,
        },
    ];
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        got.push(next(&mut rx).await);
    }
    assert_eq!(got, expected);
    // And nothing more (the failed and no-op calls above published nothing).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.try_recv().is_err());
    assert_eq!(feed.received(), expected.len() as u64);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn events_too_large_for_notify_travel_through_the_outbox() {
    let schema = TestSchema::new();
    let store = schema.open().await;
    let events = Arc::new(keyprov::events::ChangeLog::with_capacity(16));
    let mut rx = events.subscribe();
    let _feed = ChangeFeed::start(schema.config().build().unwrap(), events.clone())
        .await
        .unwrap();
    let app = application("alice", "big");
    store.create_application(&app).await.unwrap();
    assert!(matches!(
        next(&mut rx).await,
        Event::ApplicationCreated { .. }
    ));
    let mut m = mapping(app.id, "IS", KeyType::Production, "big-client");
    for i in 0..400 {
        m.snapshot.redirect_uris.push(format!(
            "https://app.example/callback/{i}/{}",
            "x".repeat(40)
        ));
    }
    assert!(serde_json::to_string(&m).unwrap().len() > 8000);
    store.insert_mapping(&m).await.unwrap();
    assert_eq!(
        next(&mut rx).await,
        Event::MappingCreated { mapping: m.clone() }
    );
    store.delete_mapping(m.id).await.unwrap();
    assert_eq!(next(&mut rx).await, Event::MappingRemoved { mapping: m });
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn a_view_converges_after_its_listener_is_terminated_while_changes_happen() {
    let schema = TestSchema::new();
    // The stores' own feeds are off: the listener under test is the only one.
    let writer = schema.open_without_feed().await;
    let reader: Arc<dyn Store> = schema.open_without_feed().await;
    // Node B: feed first, then the view's initial load.
    let events = Arc::new(keyprov::events::ChangeLog::with_capacity(4096));
    let feed = ChangeFeed::start(schema.config().build().unwrap(), events.clone())
        .await
        .unwrap();
    let rx = events.subscribe();
    let view = Arc::new(tokio::sync::Mutex::new(View::load(&*reader).await));
    let _follower = View::follow(reader.clone(), rx, view.clone());

    let writes = {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer.put_api(&api("pizza")).await.unwrap();
            let mut live = Vec::new();
            for i in 0..120 {
                let app = application("alice", &format!("app-{i}"));
                writer.create_application(&app).await.unwrap();
                let m = mapping(app.id, "IS", KeyType::Production, &format!("key-{i}"));
                writer.insert_mapping(&m).await.unwrap();
                writer
                    .put_subscription(&subscription(app.id, "pizza"))
                    .await
                    .unwrap();
                live.push(m);
                if i % 3 == 0 {
                    let gone = live.remove(0);
                    writer.delete_mapping(gone.id).await.unwrap();
                }
                if i % 5 == 0 && !live.is_empty() {
                    let m = &live[live.len() / 2];
                    writer
                        .set_mapping_state(m.id, MappingState::Suspended, crate::postgres::now_ms())
                        .await
                        .unwrap();
                }
                if i % 7 == 0 {
                    writer.delete_application(app.id).await.unwrap();
                    live.retain(|m| m.application != app.id);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // Kill the listener three times while the writes go on.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(eventually(Duration::from_secs(10), async || feed.is_connected()).await);
        let killed = schema.terminate(feed.application_name()).await;
        assert_eq!(killed, 1, "the listener's backend");
    }
    writes.await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || feed.reconnects() >= 3).await,
        "reconnects: {}",
        feed.reconnects()
    );
    let truth = View::load(&*reader).await;
    assert!(truth.mappings.len() > 40, "{}", truth.mappings.len());
    let converged = eventually(Duration::from_secs(10), async || {
        *view.lock().await == truth
    })
    .await;
    let seen = view.lock().await.clone();
    assert!(
        converged,
        "view differs: {} mappings vs {} stored, {} subscriptions vs {}",
        seen.mappings.len(),
        truth.mappings.len(),
        seen.subscriptions.len(),
        truth.subscriptions.len()
    );
}
