//! Re-checks move a mapping only on evidence: after the adapter's admin secret was rotated at
//! Keycloak, a re-check fails with the credentials error and the mapping keeps its state; a
//! client really deleted is still found out.

use keyprov::{Error, MappingState};

use crate::common::*;

#[tokio::test]
async fn a_rotated_admin_secret_keeps_the_mapping_then_a_deleted_client_orphans_it() {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    let config = adapter(&kc, &admin);
    let w = world_with(kc, config, |km| km).await;
    let client = w.kc.confidential_client("pizza");
    let mapped = w
        .provision(&client.client_id, Some(&client.secret))
        .await
        .unwrap()
        .mapping;

    // The operator rotates the adapter's admin secret in Keycloak; the adapter still holds the
    // old one (and its cached admin token is revoked with it).
    w.kc.rotate_secret(&admin.client_id)
        .expect("the admin client exists");
    w.kc.revoke_tokens();
    let err = w
        .provisioner
        .recheck(&keyprov::Actor::service("ops").unwrap(), mapped.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
    let stored = w.store.mapping(mapped.id).await.unwrap().unwrap();
    assert_eq!(stored.state, MappingState::Active, "no evidence, no change");

    // With working credentials, a deleted client is positive evidence.
    let fresh_admin = w.kc.admin_service_account("keyprov-admin-2");
    assert!(w.kc.delete_client(&client.client_id));
    let checker = keyprov::Provisioner::builder()
        .store(w.store.clone())
        .key_managers(
            keyprov::KeyManagers::new()
                .with(
                    keyprov::KeyManagerConfig::new(KM)
                        .unwrap()
                        .out_of_band(true),
                    std::sync::Arc::new(
                        km_keycloak::KeycloakKeyManager::new(adapter(&w.kc, &fresh_admin)).unwrap(),
                    ),
                )
                .unwrap(),
        )
        .build()
        .unwrap();
    let after = checker
        .recheck(&keyprov::Actor::service("ops").unwrap(), mapped.id)
        .await
        .unwrap();
    assert_eq!(after.state, MappingState::Orphaned);
}
