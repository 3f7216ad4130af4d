//! Every write publishes its changes on the store's stream once durable, one revision each, in
//! revision order, and returns the revision of its last change; failed writes publish nothing.

use std::sync::Arc;
use std::time::Duration;

use keyprov::events::Changes;
use keyprov::store::Store;
use keyprov::{Change, Event, KeyType, MappingState, SubscriptionState};

use super::support::*;

/// The next change (a PostgreSQL store delivers them through its LISTEN connection).
async fn next(changes: &mut Changes) -> Change {
    tokio::time::timeout(Duration::from_secs(10), changes.recv())
        .await
        .expect("a change within 10 s")
        .expect("the stream is open")
}

/// The next change after `revision`: a PostgreSQL store may still deliver changes made before
/// the subscription (its LISTEN connection receives them a moment after their commit).
async fn next_after(changes: &mut Changes, revision: keyprov::Revision) -> Change {
    loop {
        let change = next(changes).await;
        if change.revision > revision {
            return change;
        }
    }
}

fn kind(event: &Event) -> &'static str {
    match event {
        Event::ApplicationCreated { .. } => "application_created",
        Event::ApplicationDeleted { .. } => "application_deleted",
        Event::ApiChanged { .. } => "api_changed",
        Event::MappingCreated { .. } => "mapping_created",
        Event::MappingRemoved { .. } => "mapping_removed",
        Event::MappingStateChanged { .. } => "mapping_state_changed",
        Event::SubscriptionChanged { .. } => "subscription_changed",
        Event::SubscriptionRemoved { .. } => "subscription_removed",
        _ => "other",
    }
}

pub async fn every_write_publishes_its_changes_in_revision_order(store: Arc<dyn Store>) {
    let mut changes = store.changes().unwrap();
    let start = store.revision().await.unwrap();
    let mut returned = Vec::new();

    let app = application("app", "alice", "carbon.super", 0);
    returned.push((
        "create_application",
        store.create_application(&app).await.unwrap(),
    ));
    returned.push(("put_api", store.put_api(&api("a")).await.unwrap()));
    let sub = subscription(app.id, "a", SubscriptionState::Unblocked);
    returned.push((
        "put_subscription",
        store.put_subscription(&sub).await.unwrap().revision,
    ));
    let m = mapping(app.id, KeyType::Production, "IS", "k", 0);
    returned.push(("insert_mapping", store.insert_mapping(&m).await.unwrap()));
    let changed = store
        .set_mapping_state(m.id, MappingState::Suspended, at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.previous, MappingState::Active);
    returned.push(("set_mapping_state", changed.revision));
    // The same state again changes nothing: no change, the revision stays.
    let same = store
        .set_mapping_state(m.id, MappingState::Suspended, at(6))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        same.revision, changed.revision,
        "no change, no new revision"
    );
    let other = mapping(app.id, KeyType::Sandbox, "IS", "k2", 1);
    store.insert_mapping(&other).await.unwrap();
    returned.push((
        "delete_mapping",
        store
            .delete_mapping(other.id)
            .await
            .unwrap()
            .unwrap()
            .revision,
    ));
    let deleted = store.delete_application(app.id).await.unwrap().unwrap();
    returned.push(("delete_application", deleted.revision));

    let expected_kinds = [
        "application_created",
        "api_changed",
        "subscription_changed",
        "mapping_created",
        "mapping_state_changed",
        "mapping_created",
        "mapping_removed",
        // The deletion: its mapping, its subscription, then the application.
        "mapping_removed",
        "subscription_removed",
        "application_deleted",
    ];
    let mut seen = Vec::new();
    let mut events = Vec::new();
    for (i, expected) in expected_kinds.iter().enumerate() {
        let change = if i == 0 {
            next_after(&mut changes, start).await
        } else {
            next(&mut changes).await
        };
        assert_eq!(
            change.revision.get(),
            start.get() + 1 + i as u64,
            "change {i} ({expected}) has the next revision: {change:?}"
        );
        assert_eq!(kind(&change.event), *expected, "{change:?}");
        seen.push(change.revision);
        events.push(change.event);
    }
    // Each write returned the revision of its last change.
    let last_of = |index: usize| seen[index];
    assert_eq!(returned[0].1, last_of(0), "create_application");
    assert_eq!(returned[1].1, last_of(1), "put_api");
    assert_eq!(returned[2].1, last_of(2), "put_subscription");
    assert_eq!(returned[3].1, last_of(3), "insert_mapping");
    assert_eq!(returned[4].1, last_of(4), "set_mapping_state");
    assert_eq!(returned[5].1, last_of(6), "delete_mapping");
    assert_eq!(returned[6].1, last_of(9), "delete_application");
    assert_eq!(store.revision().await.unwrap(), last_of(9));
    // The removal carries the mapping's own key type.
    match &events[6] {
        Event::MappingRemoved { mapping } => assert_eq!(mapping.key_type, KeyType::Sandbox),
        other => panic!("{other:?}"),
    }
}

pub async fn failed_writes_publish_nothing(store: Arc<dyn Store>) {
    let app = stored_application(&store, "app").await;
    let first = mapping(app.id, KeyType::Production, "IS", "taken", 0);
    store.insert_mapping(&first).await.unwrap();
    let mut changes = store.changes().unwrap();
    let before = store.revision().await.unwrap();

    // A conflict, a subscription to an unknown API, an application that exists.
    let clash = mapping(app.id, KeyType::Sandbox, "IS", "taken", 1);
    assert!(store.insert_mapping(&clash).await.is_err());
    let ghost = subscription(app.id, "no-such-api", SubscriptionState::Unblocked);
    assert!(store.put_subscription(&ghost).await.is_err());
    assert!(store.create_application(&app).await.is_err());
    // Deleting what is not there changes nothing either.
    assert!(
        store
            .delete_mapping(keyprov::MappingId::random())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.revision().await.unwrap(), before);

    // The next change is the next revision: nothing was published in between.
    let after = store.put_api(&api("b")).await.unwrap();
    assert_eq!(after.get(), before.get() + 1);
    let change = next_after(&mut changes, before).await;
    assert_eq!(change.revision, after);
    assert_eq!(kind(&change.event), "api_changed");
}

pub async fn snapshot_holds_everything_at_its_revision(store: Arc<dyn Store>) {
    let app = stored_application(&store, "app").await;
    store.put_api(&api("a")).await.unwrap();
    store
        .put_subscription(&subscription(app.id, "a", SubscriptionState::Blocked))
        .await
        .unwrap();
    let m = mapping(app.id, KeyType::Production, "IS", "k", 0);
    let last = store.insert_mapping(&m).await.unwrap();
    let snapshot = store.snapshot().await.unwrap();
    assert_eq!(snapshot.revision, last);
    assert_eq!(snapshot.apis, vec![api("a")]);
    assert_eq!(snapshot.mappings, vec![m]);
    assert_eq!(snapshot.subscriptions.len(), 1);
    assert_eq!(snapshot.subscriptions[0].state, SubscriptionState::Blocked);
}
