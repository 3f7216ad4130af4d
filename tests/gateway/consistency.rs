//! Changes reach tokens already in the verified-token cache on the very next call.

use std::sync::Arc;
use std::time::Duration;

use keyprov::gateway::{Gateway, GatewaySettings, Refusal};
use keyprov::store::Store;
use keyprov::{Broadcast, EventSink, KeyType, MappingState, Provisioner, SubscriptionState};

use super::support::*;

#[tokio::test]
async fn removing_a_mapping_refuses_a_cached_token_on_the_next_call() {
    let w = World::new().await;
    let token = w.prod_token();
    for _ in 0..3 {
        // Accepted, and from the second call on, served from the cache.
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .unwrap();
    }
    assert!(
        w.gateway
            .resolve_now(&token, &w.api, KeyType::Production)
            .is_some()
    );
    w.provisioner
        .remove_mapping(&w.owner, w.app, w.prod.id)
        .await
        .unwrap();
    let r = w
        .gateway
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "no_mapping", "{r}");
}

#[tokio::test]
async fn suspending_a_mapping_refuses_then_reactivating_accepts_again() {
    let w = World::new().await;
    let token = w.prod_token();
    warm(&w, &token).await;
    w.provisioner
        .set_mapping_state(w.prod.id, MappingState::Suspended)
        .await
        .unwrap();
    assert_eq!(
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .unwrap_err(),
        Refusal::MappingNotActive {
            state: MappingState::Suspended
        }
    );
    w.provisioner
        .set_mapping_state(w.prod.id, MappingState::Active)
        .await
        .unwrap();
    assert!(
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn blocking_or_removing_a_subscription_refuses_a_cached_token() {
    let w = World::new().await;
    let token = w.prod_token();
    warm(&w, &token).await;
    w.provisioner
        .set_subscription_state(w.app, &w.api, SubscriptionState::Blocked)
        .await
        .unwrap();
    let r = w
        .gateway
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "subscription_refuses");
    w.provisioner
        .set_subscription_state(w.app, &w.api, SubscriptionState::Unblocked)
        .await
        .unwrap();
    w.provisioner
        .unsubscribe(&w.owner, w.app, &w.api)
        .await
        .unwrap();
    let r = w
        .gateway
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "not_subscribed");
}

#[tokio::test]
async fn deleting_the_application_refuses_its_tokens() {
    let w = World::new().await;
    let token = w.prod_token();
    warm(&w, &token).await;
    w.provisioner
        .delete_application(&w.owner, w.app)
        .await
        .unwrap();
    assert!(
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_err()
    );
}

/// A second gateway that follows a broadcast (as a peer node would through the database's
/// change feed) sees the same changes, loads what existed before it started, and recovers
/// from lagging by reloading.
#[tokio::test]
async fn a_following_gateway_loads_the_store_and_applies_events() {
    let w = World::new().await;
    let events = Broadcast::new(2);
    let kms = w.provisioner.key_managers().clone();
    let follower = Gateway::builder()
        .key_managers(kms.clone())
        .settings(GatewaySettings::default())
        .build()
        .unwrap();
    let store: Arc<dyn Store> = w.store.clone();
    let task = follower.follow(&events, store.clone()).await.unwrap();
    // Loaded from the store: the mapping created before it started is known.
    let token = w.prod_token();
    follower
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap();
    let admin = Provisioner::builder()
        .store(store)
        .key_managers(kms)
        .events(Arc::new(events.clone()))
        .build()
        .unwrap();
    // More changes than the broadcast buffers, published before the follower runs: it lags,
    // reloads from the store, and ends up right.
    for state in [
        SubscriptionState::OnHold,
        SubscriptionState::Rejected,
        SubscriptionState::Unblocked,
        SubscriptionState::Blocked,
    ] {
        admin
            .set_subscription_state(w.app, &w.api, state)
            .await
            .unwrap();
    }
    let refused = wait_for(|| async {
        follower
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_err_and(|r| r.code() == "subscription_refuses")
    })
    .await;
    assert!(refused, "the follower never saw the subscription blocked");
    admin
        .set_subscription_state(w.app, &w.api, SubscriptionState::Unblocked)
        .await
        .unwrap();
    admin
        .remove_mapping(&w.owner, w.app, w.prod.id)
        .await
        .unwrap();
    let removed = wait_for(|| async {
        follower
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_err_and(|r| r.code() == "no_mapping")
    })
    .await;
    assert!(removed, "the follower never saw the mapping removed");
    task.abort();
}

/// A change feed that lost its connection publishes `Event::Resync`: a following gateway
/// reloads from the store and so sees a change whose own event never arrived.
#[tokio::test]
async fn a_resync_event_reloads_changes_whose_events_were_missed() {
    let w = World::new().await;
    let events = Broadcast::new(64);
    let follower = Gateway::builder()
        .key_managers(w.provisioner.key_managers().clone())
        .build()
        .unwrap();
    let store: Arc<dyn Store> = w.store.clone();
    let task = follower.follow(&events, store.clone()).await.unwrap();
    let token = w.prod_token();
    follower
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap();
    // Removed behind the follower's back: no event reaches it.
    store.delete_mapping(w.prod.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        follower
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_ok(),
        "without an event the follower still holds the mapping"
    );
    events.publish(&keyprov::Event::Resync);
    let removed = wait_for(|| async {
        follower
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_err_and(|r| r.code() == "no_mapping")
    })
    .await;
    assert!(removed, "the follower did not reload on Resync");
    task.abort();
}

/// Accepted, then served from the cache with a memoized decision (the path a change must
/// still reach).
async fn warm(w: &World, token: &str) {
    for _ in 0..3 {
        w.gateway
            .resolve(token, &w.api, KeyType::Production)
            .await
            .unwrap();
    }
}

async fn wait_for<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
