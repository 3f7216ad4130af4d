//! Re-checks move a mapping only on evidence: after the admin password changed at IS (the
//! adapter still holds the old one), IS answers 401 for every read, which is not proof that the
//! client is gone: the re-check fails with the credentials error and the mapping keeps its state.
//! With working credentials, a deleted client is found out.

use std::sync::Arc;

use keyprov::store::{MemoryStore, Store};
use keyprov::{
    ConsumerKey, ConsumerSecret, Error, KeyManagerConfig, KeyManagers, KeyType, MappingState,
    NewApplication, OrganizationId, ProvisionRequest, Provisioner, UserId,
};
use km_oidc::AdminAuth;
use km_wso2is::emulator::IsVersion;

use crate::common::*;

#[tokio::test]
async fn a_changed_admin_password_keeps_the_mapping_then_a_deleted_client_orphans_it() {
    for version in [IsVersion::V5_11, IsVersion::V7] {
        let is = is(version).await;
        let client = is
            .console()
            .create_traditional_application("Billing")
            .unwrap();
        let protocol = km_wso2is::emulator::Protocol::new().grant_types(["client_credentials"]);
        is.console()
            .update_protocol(&client.client_id, protocol)
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let provisioner = |config: km_wso2is::Wso2IsConfig| {
            Provisioner::builder()
                .store(store.clone())
                .key_managers(
                    KeyManagers::new()
                        .with(
                            KeyManagerConfig::new(KM).unwrap().out_of_band(true),
                            adapter(config),
                        )
                        .unwrap(),
                )
                .build()
                .unwrap()
        };
        let good = provisioner(config(&is));
        let owner = UserId::new("alice").unwrap();
        let app = good
            .create_application(NewApplication::new(
                "shop",
                owner.clone(),
                OrganizationId::new("org").unwrap(),
            ))
            .await
            .unwrap();
        let request = ProvisionRequest::new(
            app.id,
            KM,
            KeyType::Production,
            ConsumerKey::new(&client.client_id).unwrap(),
        )
        .secret(ConsumerSecret::new(client.client_secret.as_str()));
        let mapped = good
            .provision(&keyprov::Actor::User(owner), request)
            .await
            .unwrap()
            .mapping;

        let mut stale = config(&is);
        stale.admin = AdminAuth::basic("admin", "the-password-before-it-changed");
        let err = provisioner(stale)
            .recheck(&keyprov::Actor::service("ops").unwrap(), mapped.id)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::KeyManagerCredentialsRejected { .. }),
            "{version:?}: {err:?}"
        );
        let stored = store.mapping(mapped.id).await.unwrap().unwrap();
        assert_eq!(
            stored.state,
            MappingState::Active,
            "{version:?}: no evidence, no change"
        );

        assert!(is.console().delete(&client.client_id).is_ok());
        let after = good
            .recheck(&keyprov::Actor::service("ops").unwrap(), mapped.id)
            .await
            .unwrap();
        assert_eq!(after.state, MappingState::Orphaned, "{version:?}");
    }
}
