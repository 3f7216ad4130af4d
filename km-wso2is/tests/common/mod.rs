//! Shared set-up: emulators, adapters, a provisioner on the in-memory store, JWT checks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{DecodingKey, Validation};
use keyprov::store::MemoryStore;
use keyprov::{
    Actor, Application, JwkSet, KeyManager, KeyManagerConfig, KeyManagers, NewApplication,
    OrganizationId, Provisioner, UserId,
};
use km_oidc::{HttpSettings, RetryPolicy};
use km_wso2is::emulator::{IsVersion, Wso2IsEmulator};
use km_wso2is::{Wso2IsConfig, Wso2IsKeyManager};
use serde_json::Value;

pub const KM: &str = "IS";

/// Short timeouts and quick retries, so that fault tests stay fast.
pub fn fast_http() -> HttpSettings {
    HttpSettings {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(500),
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        },
        ..HttpSettings::default()
    }
}

pub async fn is(version: IsVersion) -> Wso2IsEmulator {
    Wso2IsEmulator::start(version).await.unwrap()
}

pub fn config(is: &Wso2IsEmulator) -> Wso2IsConfig {
    is.config(KM).http(fast_http())
}

pub fn adapter(config: Wso2IsConfig) -> Arc<Wso2IsKeyManager> {
    Arc::new(Wso2IsKeyManager::new(config).unwrap())
}

pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A provisioner with one key manager (out-of-band on) and an application owned by alice.
pub struct World {
    pub provisioner: Provisioner,
    pub alice: Actor,
    pub app: Application,
}

impl World {
    pub async fn new(km: Arc<dyn KeyManager>, issuer: String) -> World {
        let config = KeyManagerConfig::new(KM)
            .unwrap()
            .out_of_band(true)
            .issuer(issuer);
        let provisioner = Provisioner::builder()
            .store(Arc::new(MemoryStore::new()))
            .key_managers(KeyManagers::new().with(config, km).unwrap())
            .build()
            .unwrap();
        let owner = UserId::new("alice").unwrap();
        let app = provisioner
            .create_application(NewApplication::new(
                "shop",
                owner.clone(),
                OrganizationId::new("org").unwrap(),
            ))
            .await
            .unwrap()
            .into_inner();
        World {
            provisioner,
            alice: Actor::User(owner),
            app,
        }
    }

    pub async fn stored(&self) -> usize {
        self.provisioner
            .keys(&self.alice, self.app.id)
            .await
            .unwrap()
            .len()
    }
}

pub fn install_jwt_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

/// Verifies a JWT's signature against the key set (by `kid`) and returns header and claims.
pub fn verify(token: &str, jwks: &JwkSet) -> (jsonwebtoken::Header, Value) {
    install_jwt_provider();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = km_oidc::client::find_signing_key(jwks, header.kid.as_deref()).expect("key by kid");
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(serde_json::to_value(jwk).unwrap()).unwrap();
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap();
    (data.header, data.claims)
}
