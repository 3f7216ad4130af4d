//! Opaque tokens are introspected at the key manager and cached until they expire.

use keyprov::gateway::GatewaySettings;
use keyprov::testkit::Outage;
use keyprov::{ConsumerKey, ConsumerSecret, KeyManager, KeyType};

use super::support::*;

/// A world whose key managers A and B opted in to introspection.
async fn introspecting_world() -> World {
    World::with(GatewaySettings::default(), |c| {
        c[0].introspect_opaque_tokens = true;
        c[1].introspect_opaque_tokens = true;
    })
    .await
}

async fn opaque_token(w: &World, client: &str) -> String {
    w.km_a
        .client_credentials_token(
            &ConsumerKey::new(client).unwrap(),
            &ConsumerSecret::new(SECRET),
            &[],
        )
        .await
        .unwrap()
        .secret()
        .to_owned()
}

#[tokio::test]
async fn an_opaque_token_is_introspected_once_then_served_from_the_cache() {
    let w = introspecting_world().await;
    let token = opaque_token(&w, "client-prod").await;
    assert!(!token.contains('.'));
    let ok = w
        .gateway
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap();
    assert_eq!(ok.mapping, w.prod.id);
    let calls = w.km_a.introspect_calls();
    assert!(calls >= 1);
    for _ in 0..5 {
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .unwrap();
    }
    assert_eq!(
        w.km_a.introspect_calls(),
        calls,
        "positive answers are cached"
    );
    // The cache does not outlive the mapping.
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
    assert_eq!(r.code(), "no_mapping");
}

#[tokio::test]
async fn inactive_and_unavailable_introspection_are_refused() {
    let w = introspecting_world().await;
    let r = w
        .gateway
        .resolve("not-a-token-anyone-issued", &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "inactive_token");
    let calls = w.km_a.introspect_calls();
    let again = w
        .gateway
        .resolve("not-a-token-anyone-issued", &w.api, KeyType::Production)
        .await;
    assert!(again.is_err());
    assert!(
        w.km_a.introspect_calls() > calls,
        "negative answers are not cached"
    );
    let token = opaque_token(&w, "client-prod").await;
    w.km_a.set_outage(Some(Outage::Unavailable));
    w.km_b.set_outage(Some(Outage::Unavailable));
    let r = w
        .gateway
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "introspection_unavailable");
}

#[tokio::test]
async fn an_opaque_token_goes_through_mapping_and_subscription_checks() {
    let w = introspecting_world().await;
    let sbx = opaque_token(&w, "client-sbx").await;
    let r = w
        .gateway
        .resolve(&sbx, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "key_type_mismatch");
    let unmapped = opaque_token(&w, "client-extra").await;
    let r = w
        .gateway
        .resolve(&unmapped, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "no_mapping");
}
