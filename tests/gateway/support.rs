//! A small world for gateway tests: real keys generated in-test, real signatures, a provisioner
//! over the memory store that the gateway follows, and scripted key managers serving JWKS.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyprov::gateway::{Gateway, GatewaySettings};
use keyprov::model::AllowedKeyManagers;
use keyprov::store::{MemoryStore, Store};
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, Api, ApiId, ApplicationId, ConsumerKey, Jwk, JwkSet, KeyManager, KeyManagerConfig,
    KeyManagerId, KeyManagers, KeyMapping, KeyType, NewApplication, OrganizationId,
    ProvisionRequest, Provisioner, Revision, UserId,
};
use serde_json::{Value, json};

pub const ISS_A: &str = "https://a.example/oauth2/token";
pub const ISS_B: &str = "https://b.example/realms/r";
pub const ISS_OFF: &str = "https://off.example/token";
pub const SECRET: &str = "secret-never-logged-4242";
/// Longest a test waits for a gateway to apply a change.
pub const WAIT: Duration = Duration::from_secs(5);

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A signing key of any supported type, with its key id.
pub enum Signer {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub struct Key {
    pub kid: String,
    pub signer: Signer,
}

impl Key {
    pub fn rsa(kid: &str) -> Self {
        Key {
            kid: kid.into(),
            signer: Signer::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()),
        }
    }
    pub fn p256(kid: &str) -> Self {
        Key {
            kid: kid.into(),
            signer: Signer::P256(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            ),
        }
    }
    pub fn p384(kid: &str) -> Self {
        Key {
            kid: kid.into(),
            signer: Signer::P384(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
            ),
        }
    }
    pub fn ed25519(kid: &str) -> Self {
        Key {
            kid: kid.into(),
            signer: Signer::Ed(Ed25519KeyPair::generate().unwrap()),
        }
    }

    pub fn jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            kid: Some(self.kid.clone()),
            use_: Some("sig".into()),
            ..Jwk::default()
        };
        match &self.signer {
            Signer::Rsa(pair) => {
                let public = pair.public_key();
                jwk.kty = "RSA".into();
                jwk.n = Some(b64(public.modulus().big_endian_without_leading_zero()));
                jwk.e = Some(b64(public.exponent().big_endian_without_leading_zero()));
            }
            Signer::P256(pair) | Signer::P384(pair) => {
                let point = pair.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                jwk.kty = "EC".into();
                jwk.crv = Some(if half == 32 { "P-256" } else { "P-384" }.into());
                jwk.x = Some(b64(&point[1..1 + half]));
                jwk.y = Some(b64(&point[1 + half..]));
            }
            Signer::Ed(pair) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64(pair.public_key().as_ref()));
            }
        }
        jwk
    }

    /// SubjectPublicKeyInfo DER of the public key.
    pub fn spki_der(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Rsa(p) => p.public_key().as_der().unwrap().as_ref().to_vec(),
            Signer::P256(p) | Signer::P384(p) => p.public_key().as_der().unwrap().as_ref().to_vec(),
            Signer::Ed(p) => p.public_key().as_der().unwrap().as_ref().to_vec(),
        }
    }

    pub fn pem(&self) -> String {
        let body = STANDARD.encode(self.spki_der());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    pub fn default_alg(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::P256(_) => "ES256",
            Signer::P384(_) => "ES384",
            Signer::Ed(_) => "EdDSA",
        }
    }

    /// Signs `signing_input` with the algorithm `alg` (which must suit the key).
    pub fn sign_raw(&self, alg: &str, signing_input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair) => {
                let encoding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("not an RSA alg: {other}"),
                };
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &rng, signing_input, &mut sig).unwrap();
                sig
            }
            Signer::P256(pair) | Signer::P384(pair) => {
                pair.sign(&rng, signing_input).unwrap().as_ref().to_vec()
            }
            Signer::Ed(pair) => pair.sign(signing_input).as_ref().to_vec(),
        }
    }

    /// A compact JWS with this header and claims, signed with the header's `alg`.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let alg = header["alg"].as_str().unwrap();
        let sig = self.sign_raw(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A token with the key's default algorithm and kid.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": self.default_alg(), "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }
}

/// Valid claims for `client` from `iss`.
pub fn claims(iss: &str, client: &str) -> Value {
    json!({
        "iss": iss,
        "sub": "owner-of-the-app",
        "azp": client,
        "iat": now(),
        "exp": now() + 600,
        "scope": "read write",
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

pub struct World {
    pub gateway: Gateway,
    pub provisioner: Provisioner,
    pub store: Arc<MemoryStore>,
    pub km_a: Arc<ScriptedKeyManager>,
    pub km_b: Arc<ScriptedKeyManager>,
    pub key_a: Key,
    pub key_b: Key,
    pub owner: Actor,
    pub app: ApplicationId,
    /// Accepts every key manager; the app is subscribed.
    pub api: ApiId,
    /// Accepts only key manager B; the app is subscribed.
    pub api_b_only: ApiId,
    /// The app is not subscribed.
    pub api_unsubscribed: ApiId,
    /// Requires audience `https://api.example/aud`; the app is subscribed.
    pub api_aud: ApiId,
    pub prod: KeyMapping,
    /// `client-b`, mapped under key manager B (production, in a second application).
    pub mapped_b: KeyMapping,
}

pub fn km_config(name: &str, issuer: &str) -> KeyManagerConfig {
    KeyManagerConfig::new(name)
        .unwrap()
        .out_of_band(true)
        .issuer(issuer)
}

fn api(id: &str, org: &OrganizationId, allowed: AllowedKeyManagers, aud: Option<&str>) -> Api {
    let api = Api::new(
        ApiId::new(id).unwrap(),
        id,
        "1.0.0",
        format!("/{id}/1.0.0"),
        org.clone(),
    )
    .key_managers(allowed);
    match aud {
        Some(aud) => api.audience(aud),
        None => api,
    }
}

impl World {
    pub async fn new() -> World {
        World::with(GatewaySettings::default(), |_| {}).await
    }

    /// A world whose gateway has `settings`; `tune` may change the key manager configs
    /// (A, B, disabled) before registration.
    pub async fn with(
        settings: GatewaySettings,
        tune: impl FnOnce(&mut [KeyManagerConfig; 3]),
    ) -> World {
        let key_a = Key::rsa("a-1");
        let key_b = Key::p256("b-1");
        let km_a = Arc::new(ScriptedKeyManager::new("IS"));
        let km_b = Arc::new(ScriptedKeyManager::new("KC"));
        let km_off = Arc::new(ScriptedKeyManager::new("OFF"));
        km_a.set_jwks(JwkSet {
            keys: vec![key_a.jwk()],
        });
        km_b.set_jwks(JwkSet {
            keys: vec![key_b.jwk()],
        });
        for client in ["client-prod", "client-sbx", "client-extra"] {
            km_a.add_client(client, SECRET);
        }
        km_b.add_client("client-b", SECRET);
        let mut off = km_config("OFF", ISS_OFF);
        off.enabled = false;
        let mut configs = [km_config("IS", ISS_A), km_config("KC", ISS_B), off];
        tune(&mut configs);
        let [ca, cb, coff] = configs;
        let kms = KeyManagers::new()
            .with(ca, km_a.clone() as Arc<dyn KeyManager>)
            .unwrap()
            .with(cb, km_b.clone() as Arc<dyn KeyManager>)
            .unwrap()
            .with(coff, km_off as Arc<dyn KeyManager>)
            .unwrap();
        let gateway = Gateway::builder()
            .key_managers(kms.clone())
            .settings(settings)
            .build()
            .unwrap();
        let store = Arc::new(MemoryStore::new());
        let provisioner = Provisioner::builder()
            .store(store.clone() as Arc<dyn Store>)
            .key_managers(kms)
            .build()
            .unwrap();
        gateway.follow(&provisioner).await.unwrap();
        let org = OrganizationId::new("org-1").unwrap();
        let owner = Actor::User(UserId::new("alice").unwrap());
        let apis = [
            api("api-all", &org, AllowedKeyManagers::All, None),
            api(
                "api-b-only",
                &org,
                AllowedKeyManagers::Only(vec![KeyManagerId::new("KC").unwrap()]),
                None,
            ),
            api("api-unsubscribed", &org, AllowedKeyManagers::All, None),
            api(
                "api-aud",
                &org,
                AllowedKeyManagers::All,
                Some("https://api.example/aud"),
            ),
        ];
        for a in &apis {
            provisioner.put_api(a.clone()).await.unwrap();
        }
        let new_app =
            |name: &str| NewApplication::new(name, UserId::new("alice").unwrap(), org.clone());
        let app = provisioner
            .create_application(new_app("app"))
            .await
            .unwrap()
            .id;
        let app2 = provisioner
            .create_application(new_app("app2"))
            .await
            .unwrap()
            .id;
        for a in [&apis[0], &apis[1], &apis[3]] {
            provisioner.subscribe(&owner, app, &a.id).await.unwrap();
        }
        provisioner
            .subscribe(&owner, app2, &apis[0].id)
            .await
            .unwrap();
        let map = |app, km: &str, kt, client: &str| {
            ProvisionRequest::new(app, km, kt, ConsumerKey::new(client).unwrap())
                .secret(keyprov::ConsumerSecret::new(SECRET))
        };
        let prod = provisioner
            .provision(&owner, map(app, "IS", KeyType::Production, "client-prod"))
            .await
            .unwrap()
            .mapping;
        provisioner
            .provision(&owner, map(app, "IS", KeyType::Sandbox, "client-sbx"))
            .await
            .unwrap();
        let mapped_b = provisioner
            .provision(&owner, map(app2, "KC", KeyType::Production, "client-b"))
            .await
            .unwrap()
            .mapping;
        let revision = store.revision().await.unwrap();
        gateway.wait_for(revision, WAIT).await.unwrap();
        World {
            gateway,
            provisioner,
            store,
            km_a,
            km_b,
            key_a,
            key_b,
            owner,
            app,
            api: apis[0].id.clone(),
            api_b_only: apis[1].id.clone(),
            api_unsubscribed: apis[2].id.clone(),
            api_aud: apis[3].id.clone(),
            prod,
            mapped_b,
        }
    }

    /// Waits until the gateway has applied `revision`.
    pub async fn sync(&self, revision: Revision) {
        self.gateway.wait_for(revision, WAIT).await.unwrap();
    }

    /// A valid production token of key manager A.
    pub fn prod_token(&self) -> String {
        self.key_a.token(&claims(ISS_A, "client-prod"))
    }
}
