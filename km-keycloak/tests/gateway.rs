//! The adapter behind a gateway: a client provisioned through `keyprov::Provisioner`, and its
//! tokens resolved by a [`Gateway`] that matches them to the key manager by the issuer the
//! adapter reports ([`KeyManager::issuer`]). See the
//! [gateway guide](keyprov::guide::gateway).

use std::time::Duration;

use keyprov::gateway::Gateway;
use keyprov::{
    Api, ApiId, ConsumerSecret, KeyManager, KeyManagerConfig, KeyManagers, KeyType, OrganizationId,
    TokenRequest,
};
use km_keycloak::KeycloakKeyManager;

use crate::common::*;

const WAIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn the_adapters_issuer_fills_the_configuration() {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    let km = KeycloakKeyManager::new(adapter(&kc, &admin)).unwrap();
    assert_eq!(KeyManager::issuer(&km), Some(kc.issuer()));
    assert_eq!(kc.issuer(), format!("{}/realms/{REALM}", kc.base_url()));
    let key_managers = KeyManagers::new()
        .with(
            KeyManagerConfig::new(KM).unwrap().out_of_band(true),
            std::sync::Arc::new(km),
        )
        .unwrap();
    let registered = key_managers.iter().next().unwrap();
    assert_eq!(registered.config.issuer, Some(kc.issuer()));
    Gateway::builder()
        .key_managers(key_managers)
        .build()
        .expect("an issuer is known, so the gateway accepts the key manager");
}

#[tokio::test]
async fn provisioned_client_tokens_resolve_at_the_gateway() {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    let config = adapter(&kc, &admin);
    // No issuer configured: the adapter's is used.
    let w = world_with(kc, config, |mut km| {
        km.issuer = None;
        km
    })
    .await;
    let gateway = Gateway::builder()
        .key_managers(w.provisioner.key_managers().clone())
        .build()
        .unwrap();
    let _following = gateway.follow(&w.provisioner).await.unwrap();

    let api = w
        .provisioner
        .put_api(Api::new(
            ApiId::new("billing-1.0.0").unwrap(),
            "Billing",
            "1.0.0",
            "/billing/1.0.0",
            OrganizationId::new("carbon.super").unwrap(),
        ))
        .await
        .unwrap();
    w.provisioner
        .subscribe(&w.alice, w.app.id, &api.id)
        .await
        .unwrap();
    let client = w.kc.confidential_client("billing-service");
    let done = w
        .provision(&client.client_id, Some(&client.secret))
        .await
        .unwrap();
    gateway.wait_for(done.revision, WAIT).await.unwrap();

    let token = w
        .provisioner
        .token(
            &w.alice,
            TokenRequest::new(
                w.app.id,
                KM,
                KeyType::Production,
                ConsumerSecret::new(client.secret.as_str()),
            ),
        )
        .await
        .unwrap();
    let allowed = gateway
        .resolve(token.secret(), &api.id, KeyType::Production)
        .await
        .unwrap_or_else(|denial| panic!("{denial}"));
    assert_eq!(allowed.application, w.app.id);
    assert_eq!(allowed.mapping, done.mapping.id);
    assert_eq!(allowed.key_manager, km_id());
    assert_eq!(allowed.consumer_key.as_str(), "billing-service");
    let denial = gateway
        .resolve(token.secret(), &api.id, KeyType::Sandbox)
        .await
        .unwrap_err();
    assert_eq!(denial.code(), "key_type_mismatch");

    // Drift: the client is disabled at Keycloak; once the suspension is applied, the same
    // token is refused.
    assert!(w.kc.set_enabled(&client.client_id, false));
    let rechecked = w
        .provisioner
        .recheck(&keyprov::Actor::service("ops").unwrap(), done.mapping.id)
        .await
        .unwrap();
    assert_eq!(rechecked.state, keyprov::MappingState::Suspended);
    gateway.wait_for(rechecked.revision, WAIT).await.unwrap();
    let denial = gateway
        .resolve(token.secret(), &api.id, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(denial.code(), "mapping_not_active");
}
