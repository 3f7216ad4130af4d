//! Changes reach tokens already in the verified-token cache on the very next call once the
//! gateway has applied their revision.

use std::sync::Arc;
use std::time::Duration;

use keyprov::gateway::{Denial, Gateway, GatewaySettings};
use keyprov::store::{MemoryStore, Store};
use keyprov::{Error, KeyType, MappingState, Provisioner, Revision, SubscriptionState};

use super::invalidation::warm_then_change_elsewhere;
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
    let removed = w
        .provisioner
        .remove_mapping(&w.owner, w.app, w.prod.id)
        .await
        .unwrap();
    w.sync(removed.revision).await;
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
    warm_then_change_elsewhere(&w, &token).await;
    let suspended = w
        .provisioner
        .set_mapping_state(
            &keyprov::Actor::admin("ops").unwrap(),
            w.prod.id,
            MappingState::Suspended,
        )
        .await
        .unwrap();
    w.sync(suspended.revision).await;
    assert_eq!(
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .unwrap_err(),
        Denial::MappingNotActive {
            state: MappingState::Suspended
        }
    );
    let active = w
        .provisioner
        .set_mapping_state(
            &keyprov::Actor::admin("ops").unwrap(),
            w.prod.id,
            MappingState::Active,
        )
        .await
        .unwrap();
    w.sync(active.revision).await;
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
    warm_then_change_elsewhere(&w, &token).await;
    let blocked = w
        .provisioner
        .set_subscription_state(w.app, &w.api, SubscriptionState::Blocked)
        .await
        .unwrap();
    w.sync(blocked.revision).await;
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
    let removed = w
        .provisioner
        .unsubscribe(&w.owner, w.app, &w.api)
        .await
        .unwrap();
    w.sync(removed).await;
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
    warm_then_change_elsewhere(&w, &token).await;
    let deleted = w
        .provisioner
        .delete_application(&w.owner, w.app)
        .await
        .unwrap();
    w.sync(deleted).await;
    assert!(
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_err()
    );
}

/// A second gateway (as on a peer node) loads what existed before it started, and recovers
/// from lagging behind the store's change stream by reloading.
#[tokio::test]
async fn a_following_gateway_loads_the_store_and_recovers_from_lagging() {
    let w = World::new().await;
    let kms = w.provisioner.key_managers().clone();
    // A store that buffers two changes per subscriber, with the world's rows.
    let store = Arc::new(MemoryStore::with_change_buffer(2));
    let admin = Provisioner::builder()
        .store(store.clone())
        .key_managers(kms.clone())
        .build()
        .unwrap();
    copy_world(&w, &admin).await;
    let follower = Gateway::builder()
        .key_managers(kms)
        .settings(GatewaySettings::default())
        .build()
        .unwrap();
    let following = follower.follow(&admin).await.unwrap();
    // Loaded from the store: the mapping created before it started is known at once.
    let token = w.prod_token();
    follower
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap();
    // More changes than the stream buffers, published before the follower runs: it lags,
    // reloads from the store, and ends up right.
    let mut last = Revision::ZERO;
    for state in [
        SubscriptionState::OnHold,
        SubscriptionState::Rejected,
        SubscriptionState::Unblocked,
        SubscriptionState::Blocked,
    ] {
        last = admin
            .set_subscription_state(w.app, &w.api, state)
            .await
            .unwrap()
            .revision;
    }
    follower.wait_for(last, WAIT).await.unwrap();
    let refused = follower
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "subscription_refuses");
    assert!(following.is_running());
    following.stop();
}

/// A write made on the store itself, not through a provisioner, reaches the gateway too: the
/// store publishes its changes.
#[tokio::test]
async fn a_write_on_the_store_itself_reaches_the_gateway() {
    let w = World::new().await;
    let token = w.prod_token();
    warm(&w, &token).await;
    let removed = w.store.delete_mapping(w.prod.id).await.unwrap().unwrap();
    w.sync(removed.revision).await;
    let r = w
        .gateway
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "no_mapping");
}

/// Waiting for a revision the gateway cannot reach times out with a typed, retryable error
/// that says where the gateway is.
#[tokio::test]
async fn waiting_for_an_unreached_revision_times_out_with_not_caught_up() {
    let w = World::new().await;
    let applied = w.gateway.applied_revision();
    assert_eq!(applied, w.store.revision().await.unwrap());
    let wanted = Revision::new(applied.get() + 10);
    let err = w
        .gateway
        .wait_for(wanted, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotCaughtUp { wanted: w2, applied: a2 } if w2 == wanted && a2 == applied),
        "{err:?}"
    );
    assert_eq!(err.code(), 901432);
    assert!(err.is_retryable());
    // A gateway that follows nothing never catches up with anything after zero.
    let idle = Gateway::builder()
        .key_managers(w.provisioner.key_managers().clone())
        .build()
        .unwrap();
    assert!(idle.wait_for(Revision::ZERO, WAIT).await.is_ok());
    assert!(
        idle.wait_for(Revision::new(1), Duration::from_millis(20))
            .await
            .is_err()
    );
}

/// Every change gets the next revision, in order, on the stream a gateway follows.
#[tokio::test]
async fn changes_arrive_in_revision_order_without_gaps() {
    let w = World::new().await;
    let mut changes = w.store.changes().unwrap();
    let start = w.store.revision().await.unwrap();
    w.provisioner
        .set_subscription_state(w.app, &w.api, SubscriptionState::Blocked)
        .await
        .unwrap();
    let deleted = w
        .provisioner
        .delete_application(&w.owner, w.app)
        .await
        .unwrap();
    let mut expected = start.get();
    while expected < deleted.get() {
        let change = changes.recv().await.unwrap();
        expected += 1;
        assert_eq!(change.revision.get(), expected, "{change:?}");
    }
    // The deletion's last change is the application's own.
    assert_eq!(expected, deleted.get());
}

/// Copies the world's APIs, application, subscriptions and mappings into another provisioner's
/// store (same ids), so that the world's tokens resolve there.
async fn copy_world(w: &World, into: &Provisioner) {
    let target = into.store();
    for api in w.store.apis().await.unwrap() {
        target.put_api(&api).await.unwrap();
    }
    let app = w.store.application(w.app).await.unwrap().unwrap();
    target.create_application(&app).await.unwrap();
    for s in w.store.subscriptions_of(w.app).await.unwrap() {
        target.put_subscription(&s).await.unwrap();
    }
    for m in w.store.mappings_of(w.app).await.unwrap() {
        target.insert_mapping(&m).await.unwrap();
    }
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
