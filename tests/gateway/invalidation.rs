//! A change invalidates only the cached decisions it affects: after changes elsewhere a
//! cached token is still served from its memoized decision, and a change to its API refuses it
//! on the very next call (changes to its mapping, subscription and application: in
//! `consistency`, after the same changes elsewhere).

use keyprov::model::AllowedKeyManagers;
use keyprov::store::Store;
use keyprov::{
    Api, ConsumerKey, ConsumerSecret, KeyManagerId, KeyType, MappingState, ProvisionRequest,
    SubscriptionState,
};

use super::support::*;

/// Resolves `token` until its decision is memoized, then makes changes that do not concern
/// it (another application's subscription and mapping, another API): it stays accepted,
/// without any I/O.
pub(super) async fn warm_then_change_elsewhere(w: &World, token: &str) {
    for _ in 0..3 {
        w.gateway
            .resolve(token, &w.api, KeyType::Production)
            .await
            .unwrap();
    }
    let app2 = w.mapped_b.application;
    w.provisioner
        .set_subscription_state(app2, &w.api, SubscriptionState::Blocked)
        .await
        .unwrap();
    w.provisioner
        .set_mapping_state(
            &keyprov::Actor::admin("ops").unwrap(),
            w.mapped_b.id,
            MappingState::Suspended,
        )
        .await
        .unwrap();
    let other = api_named(w, &w.api_unsubscribed)
        .await
        .audience("elsewhere");
    let last = w.provisioner.put_api(other).await.unwrap();
    w.sync(last.revision).await;
    let ok = w
        .gateway
        .resolve_now(token, &w.api, KeyType::Production)
        .expect("served from the cache")
        .unwrap();
    assert_eq!(ok.mapping, w.prod.id);
}

async fn api_named(w: &World, id: &keyprov::ApiId) -> Api {
    w.store
        .apis()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.id == *id)
        .unwrap()
}

async fn refused_now(w: &World, token: &str) -> String {
    let r = w
        .gateway
        .resolve(token, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    r.code().to_owned()
}

#[tokio::test]
async fn an_api_that_stops_allowing_the_key_manager_refuses_cached_tokens() {
    let w = World::new().await;
    let token = w.prod_token();
    warm_then_change_elsewhere(&w, &token).await;
    let api = api_named(&w, &w.api)
        .await
        .key_managers(AllowedKeyManagers::Only(vec![
            KeyManagerId::new("KC").unwrap(),
        ]));
    let changed = w.provisioner.put_api(api).await.unwrap();
    w.sync(changed.revision).await;
    assert_eq!(refused_now(&w, &token).await, "key_manager_not_allowed");
}

#[tokio::test]
async fn an_api_that_starts_requiring_an_audience_refuses_cached_tokens() {
    let w = World::new().await;
    let token = w.prod_token();
    warm_then_change_elsewhere(&w, &token).await;
    let api = api_named(&w, &w.api)
        .await
        .audience("https://api.example/new");
    let changed = w.provisioner.put_api(api).await.unwrap();
    w.sync(changed.revision).await;
    assert_eq!(refused_now(&w, &token).await, "wrong_audience");
}

/// The client id is mapped again, to another application: the cached token now resolves to
/// that application, never to the one its memo names.
#[tokio::test]
async fn a_client_mapped_again_to_another_application_resolves_to_it() {
    let w = World::new().await;
    let token = w.prod_token();
    warm_then_change_elsewhere(&w, &token).await;
    let removed = w
        .provisioner
        .remove_mapping(&w.owner, w.app, w.prod.id)
        .await
        .unwrap();
    w.sync(removed.revision).await;
    assert_eq!(refused_now(&w, &token).await, "no_mapping");
    let app2 = w.mapped_b.application;
    let w_app2 = w
        .provisioner
        .set_subscription_state(app2, &w.api, SubscriptionState::Unblocked)
        .await
        .unwrap();
    w.sync(w_app2.revision).await;
    let request = ProvisionRequest::new(
        app2,
        "IS",
        KeyType::Production,
        ConsumerKey::new("client-prod").unwrap(),
    )
    .secret(ConsumerSecret::new(SECRET));
    let remapped = w.provisioner.provision(&w.owner, request).await.unwrap();
    let revision = w.store.revision().await.unwrap();
    w.sync(revision).await;
    let ok = w
        .gateway
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap();
    assert_eq!((ok.application, ok.mapping), (app2, remapped.mapping.id));
}
