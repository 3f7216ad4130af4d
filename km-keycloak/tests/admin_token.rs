//! The admin service account's token: cached until shortly before expiry, replaced once on a
//! 401. Token requests are counted at the emulator.

use std::sync::Arc;
use std::time::Duration;

use keyprov::{ConsumerKey, Error, KeyManager};
use km_keycloak::KeycloakKeyManager;
use km_keycloak::emulator::KeycloakEmulator;
use km_oidc::emulator::Fault;

use crate::common::*;

fn key(id: &str) -> ConsumerKey {
    ConsumerKey::new(id).unwrap()
}

#[tokio::test]
async fn cached_until_shortly_before_expiry() {
    let kc = KeycloakEmulator::builder()
        .realm(REALM)
        .access_token_lifespan(Duration::from_secs(4))
        .start()
        .await
        .unwrap();
    let admin = kc.admin_service_account("keyprov-admin");
    kc.confidential_client("billing");
    let km = KeycloakKeyManager::new(
        adapter(&kc, &admin).admin_token_refresh_margin(Duration::from_secs(3)),
    )
    .unwrap();
    let admin_path = format!("/admin/realms/{REALM}/clients");
    for _ in 0..5 {
        km.client(&key("billing")).await.unwrap();
    }
    assert_eq!(kc.token_requests(REALM), 1, "one token for five lookups");
    assert_eq!(kc.faults().requests(&admin_path), 5);
    // Margin 3 s is capped at half the 4 s life: replaced after 2 s, before it expires.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    km.client(&key("billing")).await.unwrap();
    assert_eq!(kc.token_requests(REALM), 2, "replaced before expiry");
    assert_eq!(
        kc.faults().requests(&admin_path),
        6,
        "no lookup was refused"
    );
}

#[tokio::test]
async fn concurrent_lookups_share_one_token_request() {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    kc.confidential_client("billing");
    let km = Arc::new(KeycloakKeyManager::new(adapter(&kc, &admin)).unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let km = km.clone();
            tokio::spawn(async move { km.client(&key("billing")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(kc.token_requests(REALM), 1);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    kc.confidential_client("billing");
    let km = KeycloakKeyManager::new(adapter(&kc, &admin)).unwrap();
    km.client(&key("billing")).await.unwrap();
    assert_eq!(kc.token_requests(REALM), 1);

    kc.revoke_tokens();
    km.client(&key("billing")).await.unwrap();
    assert_eq!(kc.token_requests(REALM), 2, "refreshed after the 401");
    km.client(&key("billing")).await.unwrap();
    assert_eq!(kc.token_requests(REALM), 2, "and cached again");
}

#[tokio::test]
async fn a_second_401_is_credentials_rejected_after_exactly_one_refresh() {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    kc.confidential_client("billing");
    let km = KeycloakKeyManager::new(adapter(&kc, &admin)).unwrap();
    let admin_path = format!("/admin/realms/{REALM}/clients");
    kc.faults().inject(Fault::Status(401).on(&admin_path));
    let err = km.client(&key("billing")).await.unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
    assert_eq!(kc.token_requests(REALM), 2, "first token, one replacement");
    assert_eq!(kc.faults().requests(&admin_path), 2, "no retry loop");
}
