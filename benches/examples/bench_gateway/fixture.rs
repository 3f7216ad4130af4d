//! Shared by `examples/bench_gateway`, `examples/gateway_profile` and the criterion bench
//! `gateway.rs` (all in `benches/`): a gateway with N mappings, an RSA-2048 key served as JWKS
//! by a scripted key manager, and pre-signed distinct tokens.

#![allow(dead_code)]

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyprov::gateway::{Gateway, GatewaySettings};
use keyprov::model::MappingMode;
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, Api, ApiId, ApplicationId, Event, Jwk, JwkSet, KeyManager, KeyManagerConfig,
    KeyManagerId, KeyManagers, KeyMapping, KeyType, MappingId, MappingState, OrganizationId,
    Subscription, SubscriptionState,
};

pub const ISSUER: &str = "https://idp.example.com/realms/bench";
pub const KID: &str = "bench-rsa-1";

pub struct Fixture {
    pub gateway: Gateway,
    pub api: ApiId,
    /// The API as the gateway was given it.
    pub api_definition: Api,
    pub key: RsaKeyPair,
    pub jwk: Jwk,
    /// The verification key, parsed once, for the bare-verify baseline.
    pub parsed: ParsedPublicKey,
    pub mappings: usize,
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn client(i: usize) -> String {
    format!("bench-client-{i:08}")
}

fn now() -> i64 {
    now_ms().timestamp()
}

/// Now, to the millisecond.
pub fn now_ms() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// `event` as the next change (the fixture feeds the gateway by hand, in order).
pub fn change(event: Event) -> keyprov::Change {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    keyprov::Change {
        revision: keyprov::Revision::new(NEXT.fetch_add(1, Ordering::Relaxed)),
        event,
    }
}

pub fn mapping_event(km: &KeyManagerId, i: usize, application: ApplicationId) -> Event {
    let at = now_ms();
    Event::MappingCreated {
        mapping: KeyMapping {
            id: MappingId::random(),
            application,
            key_type: KeyType::Production,
            key_manager: km.clone(),
            consumer_key: client(i).parse().unwrap(),
            mode: MappingMode::Mapped,
            state: MappingState::Active,
            validated: true,
            secret_proven: true,
            snapshot: Default::default(),
            created_at: at,
            updated_at: at,
            created_by: Actor::service("ops").unwrap(),
        },
    }
}

/// Application id of mapping `i`: deterministic so that subscriptions can be created apart.
pub fn application(i: usize) -> ApplicationId {
    ApplicationId(uuid::Uuid::from_u128(
        0x5eed_0000_0000_0000_0000_0000_0000_0000 | i as u128,
    ))
}

impl Fixture {
    /// A gateway knowing one key manager and one API; mappings are added with
    /// [`Fixture::add_mappings`].
    pub fn new(settings: GatewaySettings) -> Fixture {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = key.public_key();
        let jwk = Jwk {
            kty: "RSA".into(),
            kid: Some(KID.into()),
            use_: Some("sig".into()),
            alg: Some("RS256".into()),
            n: Some(b64(public.modulus().big_endian_without_leading_zero())),
            e: Some(b64(public.exponent().big_endian_without_leading_zero())),
            ..Jwk::default()
        };
        let parsed =
            ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public.as_ref()).unwrap();
        let km = Arc::new(ScriptedKeyManager::new("KC"));
        km.set_jwks(JwkSet {
            keys: vec![jwk.clone()],
        });
        let config = KeyManagerConfig::new("KC")
            .unwrap()
            .out_of_band(true)
            .issuer(ISSUER);
        let kms = KeyManagers::new()
            .with(config, km as Arc<dyn KeyManager>)
            .unwrap();
        let gateway = Gateway::builder()
            .key_managers(kms)
            .settings(settings)
            .build()
            .unwrap();
        let org = OrganizationId::new("bench-org").unwrap();
        let api = Api::new(
            ApiId::new("bench-api").unwrap(),
            "bench",
            "1.0.0",
            "/bench/1.0.0",
            org,
        );
        gateway.apply(&change(Event::ApiChanged { api: api.clone() }));
        Fixture {
            gateway,
            api: api.id.clone(),
            api_definition: api,
            key,
            jwk,
            parsed,
            mappings: 0,
        }
    }

    /// Adds mappings `from..to` (one application each) without their subscriptions.
    pub fn add_mappings(&mut self, from: usize, to: usize) {
        let km: KeyManagerId = "KC".parse().unwrap();
        for i in from..to {
            self.gateway
                .apply(&change(mapping_event(&km, i, application(i))));
        }
        self.mappings = self.mappings.max(to);
    }

    /// Subscribes the applications of mappings `from..to` to the API.
    pub fn add_subscriptions(&self, from: usize, to: usize) {
        let at = now_ms();
        for i in from..to {
            self.gateway.apply(&change(Event::SubscriptionChanged {
                subscription: Subscription {
                    application: application(i),
                    api: self.api.clone(),
                    state: SubscriptionState::Unblocked,
                    created_at: at,
                    updated_at: at,
                },
            }));
        }
    }

    /// A realistic access token (Keycloak-like claims, about 700 bytes) for mapping `i`.
    pub fn token(&self, i: usize, serial: usize) -> String {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": KID});
        let claims = serde_json::json!({
            "exp": now() + 3600,
            "iat": now(),
            "jti": format!("{serial:08}-6f1c-4a8e-9d7b-2f4e8c1a3b5d"),
            "iss": ISSUER,
            "aud": "account",
            "sub": "0b6a3c1e-8f2d-4e7a-9c5b-1d3f5a7e9b2c",
            "typ": "Bearer",
            "azp": client(i),
            "acr": "1",
            "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-bench"]},
            "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
            "scope": "profile email orders:read orders:write",
            "clientHost": "10.0.12.34",
            "email_verified": false,
            "preferred_username": format!("service-account-{}", client(i)),
            "clientAddress": "10.0.12.34",
            "client_id": client(i),
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", b64(&sig))
    }

    /// Resolves once through the async path, which fetches the key set.
    pub fn warm_up(&self, token: &str) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(self.gateway.resolve(token, &self.api, KeyType::Production))
            .expect("warm-up token resolves");
    }
}

/// The signing input and decoded signature of a token, for the bare-verify baseline.
pub fn split(token: &str) -> (Vec<u8>, Vec<u8>) {
    let at = token.rfind('.').unwrap();
    (
        token.as_bytes()[..at].to_vec(),
        URL_SAFE_NO_PAD.decode(&token[at + 1..]).unwrap(),
    )
}
