//! A Keycloak emulator, the adapter pointed at it, and a provisioner using the adapter.

use std::sync::Arc;
use std::time::Duration;

use keyprov::store::{MemoryStore, Store};
use keyprov::{
    Actor, Application, ConsumerKey, ConsumerSecret, KeyManagerConfig, KeyManagerId, KeyManagers,
    KeyType, NewApplication, OrganizationId, ProvisionRequest, Provisioned, Provisioner, UserId,
};
use km_keycloak::emulator::{Credentials, KeycloakEmulator};
use km_keycloak::{KeycloakConfig, KeycloakKeyManager};
use km_oidc::{HttpSettings, RetryPolicy};

pub const KM: &str = "Keycloak";
pub const REALM: &str = "apis";

pub fn km_id() -> KeyManagerId {
    KeyManagerId::new(KM).unwrap()
}

/// Short timeouts and a fast retry so that failure tests stay quick.
pub fn fast_http() -> HttpSettings {
    HttpSettings {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(1500),
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
        },
        ..HttpSettings::default()
    }
}

pub async fn keycloak() -> KeycloakEmulator {
    KeycloakEmulator::start(REALM).await.unwrap()
}

/// The adapter for the emulator's default realm with this admin account.
pub fn adapter(kc: &KeycloakEmulator, admin: &Credentials) -> KeycloakConfig {
    kc.adapter_config(km_id(), admin).http(fast_http())
}

pub struct World {
    pub kc: KeycloakEmulator,
    pub km: Arc<KeycloakKeyManager>,
    pub provisioner: Provisioner,
    pub store: Arc<dyn Store>,
    pub app: Application,
    pub alice: Actor,
}

pub async fn world() -> World {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    let config = adapter(&kc, &admin);
    world_with(kc, config, |km| km).await
}

pub async fn world_with(
    kc: KeycloakEmulator,
    config: KeycloakConfig,
    km_settings: impl FnOnce(KeyManagerConfig) -> KeyManagerConfig,
) -> World {
    let km = Arc::new(KeycloakKeyManager::new(config).unwrap());
    let settings = km_settings(
        KeyManagerConfig::new(KM)
            .unwrap()
            .out_of_band(true)
            .issuer(kc.issuer()),
    );
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let provisioner = Provisioner::builder()
        .store(store.clone())
        .key_managers(KeyManagers::new().with(settings, km.clone()).unwrap())
        .build()
        .unwrap();
    let owner = UserId::new("alice").unwrap();
    let app = provisioner
        .create_application(NewApplication::new(
            "Billing",
            owner.clone(),
            OrganizationId::new("carbon.super").unwrap(),
        ))
        .await
        .unwrap()
        .into_inner();
    World {
        kc,
        km,
        provisioner,
        store,
        app,
        alice: Actor::User(owner),
    }
}

impl World {
    pub async fn provision(&self, key: &str, secret: Option<&str>) -> keyprov::Result<Provisioned> {
        let mut request =
            ProvisionRequest::new(self.app.id, KM, KeyType::Production, ConsumerKey::new(key)?);
        if let Some(secret) = secret {
            request = request.secret(ConsumerSecret::new(secret));
        }
        self.provisioner.provision(&self.alice, request).await
    }

    /// Mappings stored for the application.
    pub async fn stored(&self) -> usize {
        self.store.mappings_of(self.app.id).await.unwrap().len()
    }
}
