//! The adapter behind a gateway: a client provisioned through `keyprov::Provisioner`, and its
//! tokens resolved by a [`Gateway`] that matches them to the key manager by the issuer the
//! adapter reports ([`KeyManager::issuer`]). See the
//! [gateway guide](keyprov::guide::gateway).

use std::sync::Arc;
use std::time::Duration;

use keyprov::gateway::Gateway;
use keyprov::store::MemoryStore;
use keyprov::{
    Actor, Api, ApiId, ConsumerKey, ConsumerSecret, KeyManager, KeyManagerConfig, KeyManagers,
    KeyType, NewApplication, OrganizationId, ProvisionRequest, Provisioner, TokenRequest, UserId,
};
use km_wso2is::emulator::IsVersion;

use crate::common::*;

const WAIT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn the_adapters_issuer_fills_the_configuration() {
    for tenant in [None, Some("acme.com")] {
        let mut builder = km_wso2is::emulator::Wso2IsEmulator::builder().version(IsVersion::V7);
        if let Some(tenant) = tenant {
            builder = builder.tenant(tenant);
        }
        let is = builder.start().await.unwrap();
        let km = adapter(config(&is));
        assert_eq!(
            KeyManager::issuer(km.as_ref()),
            Some(is.issuer()),
            "{tenant:?}"
        );
        let key_managers = KeyManagers::new()
            .with(KeyManagerConfig::new(KM).unwrap().out_of_band(true), km)
            .unwrap();
        let registered = key_managers.iter().next().unwrap();
        assert_eq!(registered.config.issuer, Some(is.issuer()), "{tenant:?}");
        Gateway::builder()
            .key_managers(key_managers)
            .build()
            .expect("an issuer is known, so the gateway accepts the key manager");
    }
}

#[tokio::test]
async fn provisioned_client_tokens_resolve_at_the_gateway_on_every_version() {
    for version in IsVersion::ALL {
        let is = is(version).await;
        let client = is.console().create_jwt_client("billing").unwrap();
        // No issuer configured: the adapter's is used.
        let key_managers = KeyManagers::new()
            .with(
                KeyManagerConfig::new(KM).unwrap().out_of_band(true),
                adapter(config(&is)),
            )
            .unwrap();
        let provisioner = Provisioner::builder()
            .store(Arc::new(MemoryStore::new()))
            .key_managers(key_managers.clone())
            .build()
            .unwrap();
        let gateway = Gateway::builder()
            .key_managers(key_managers)
            .build()
            .unwrap();
        let _following = gateway.follow(&provisioner).await.unwrap();

        let alice = UserId::new("alice").unwrap();
        let caller = Actor::User(alice.clone());
        let org = OrganizationId::new("carbon.super").unwrap();
        let shop = provisioner
            .create_application(NewApplication::new("shop", alice, org.clone()))
            .await
            .unwrap();
        let api = provisioner
            .put_api(Api::new(
                ApiId::new("billing-1.0.0").unwrap(),
                "Billing",
                "1.0.0",
                "/billing/1.0.0",
                org,
            ))
            .await
            .unwrap();
        provisioner
            .subscribe(&caller, shop.id, &api.id)
            .await
            .unwrap();
        let request = ProvisionRequest::new(
            shop.id,
            KM,
            KeyType::Production,
            ConsumerKey::new(client.client_id.as_str()).unwrap(),
        )
        .secret(ConsumerSecret::new(client.client_secret.as_str()));
        let done = provisioner.provision(&caller, request).await.unwrap();
        gateway.wait_for(done.revision, WAIT).await.unwrap();

        let token = provisioner
            .token(
                &caller,
                TokenRequest::new(
                    shop.id,
                    KM,
                    KeyType::Production,
                    ConsumerSecret::new(client.client_secret.as_str()),
                ),
            )
            .await
            .unwrap();
        let allowed = gateway
            .resolve(token.secret(), &api.id, KeyType::Production)
            .await
            .unwrap_or_else(|denial| panic!("IS {version}: {denial}"));
        assert_eq!(allowed.application, shop.id, "IS {version}");
        assert_eq!(allowed.mapping, done.mapping.id, "IS {version}");
        assert_eq!(allowed.key_manager.as_str(), KM, "IS {version}");
        assert_eq!(
            allowed.consumer_key.as_str(),
            client.client_id,
            "IS {version}"
        );
        let denial = gateway
            .resolve(token.secret(), &api.id, KeyType::Sandbox)
            .await
            .unwrap_err();
        assert_eq!(denial.code(), "key_type_mismatch", "IS {version}");

        // Once the removal is applied, the same token is refused.
        let removed = provisioner
            .remove_mapping(&caller, shop.id, done.mapping.id)
            .await
            .unwrap();
        gateway.wait_for(removed.revision, WAIT).await.unwrap();
        let denial = gateway
            .resolve(token.secret(), &api.id, KeyType::Production)
            .await
            .unwrap_err();
        assert_eq!(denial.code(), "no_mapping", "IS {version}");
    }
}
