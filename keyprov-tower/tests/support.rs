//! A world on loopback: the WSO2 IS emulator, the SQLite store, a provisioner, a gateway
//! following it, one application with PRODUCTION and SANDBOX keys subscribed to one API, a
//! second API it is not subscribed to, and a second key manager whose keys are a PEM key of
//! the test (for tokens the emulator would not sign, such as expired ones).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyprov::config::{JwksSource, PemKey};
use keyprov::gateway::{Following, Gateway};
use keyprov::store::SqliteStore;
use keyprov::{
    Actor, Api, ApiId, ApplicationId, ConsumerKey, ConsumerSecret, KeyManager, KeyManagerConfig,
    KeyManagers, KeyType, MappingId, NewApplication, OrganizationId, ProvisionRequest, Provisioner,
    Revision, TokenRequest, UserId,
};
use km_wso2is::emulator::{IsTokenType, IsVersion, Protocol, Wso2IsEmulator};
use serde_json::{Value, json};

pub const LOCAL_ISSUER: &str = "https://local.test/oauth2/token";

pub struct World {
    pub is: Wso2IsEmulator,
    pub provisioner: Provisioner,
    pub gateway: Gateway,
    _following: Following,
    _dir: tempfile::TempDir,
    pub caller: Actor,
    pub app: ApplicationId,
    pub api: ApiId,
    pub other_api: ApiId,
    pub prod_mapping: MappingId,
    pub prod_client: String,
    prod_secret: String,
    sandbox_secret: String,
    local_key: RsaKeyPair,
}

fn pem(key: &RsaKeyPair) -> String {
    let der = key.public_key().as_der().unwrap();
    let body = STANDARD.encode(der.as_ref());
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

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl World {
    pub async fn new() -> World {
        let is = Wso2IsEmulator::start(IsVersion::V7).await.unwrap();
        let local_key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let is_config = KeyManagerConfig::new("IS")
            .unwrap()
            .out_of_band(true)
            .issuer(is.issuer());
        let mut local_config = KeyManagerConfig::new("LOCAL")
            .unwrap()
            .out_of_band(true)
            .issuer(LOCAL_ISSUER);
        local_config.jwks = JwksSource::Pem {
            keys: vec![PemKey {
                kid: Some("local-1".into()),
                pem: pem(&local_key),
            }],
        };
        let key_managers = KeyManagers::new()
            .with(
                is_config,
                Arc::new(is.key_manager("IS").unwrap()) as Arc<dyn KeyManager>,
            )
            .unwrap()
            .with(
                local_config,
                Arc::new(is.key_manager("LOCAL").unwrap()) as Arc<dyn KeyManager>,
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("keyprov.db")).unwrap());
        let provisioner = Provisioner::builder()
            .store(store)
            .key_managers(key_managers.clone())
            .build()
            .unwrap();
        let gateway = Gateway::builder()
            .key_managers(key_managers)
            .build()
            .unwrap();
        let following = gateway.follow(&provisioner).await.unwrap();

        let console = is.console();
        let protocol = Protocol::new()
            .grant_types(["client_credentials"])
            .token_type(IsTokenType::Jwt);
        let prod = console.create_traditional_application("Prod").unwrap();
        console
            .update_protocol(&prod.client_id, protocol.clone())
            .unwrap();
        let sandbox = console.create_traditional_application("Sandbox").unwrap();
        console
            .update_protocol(&sandbox.client_id, protocol)
            .unwrap();

        let org = OrganizationId::new("carbon.super").unwrap();
        let alice = UserId::new("alice").unwrap();
        let caller = Actor::User(alice.clone());
        let app = provisioner
            .create_application(NewApplication::new("PizzaApp", alice, org.clone()))
            .await
            .unwrap();
        let mut mappings = Vec::new();
        for (kt, client) in [(KeyType::Production, &prod), (KeyType::Sandbox, &sandbox)] {
            let request = ProvisionRequest::new(
                app.id,
                "IS",
                kt,
                ConsumerKey::new(&client.client_id).unwrap(),
            )
            .secret(ConsumerSecret::new(client.client_secret.as_str()));
            mappings.push(
                provisioner
                    .provision(&caller, request)
                    .await
                    .unwrap()
                    .mapping,
            );
        }
        let mut apis = Vec::new();
        for name in ["pizzashack", "menu"] {
            let api = provisioner
                .put_api(Api::new(
                    ApiId::new(format!("{name}-1.0.0")).unwrap(),
                    name,
                    "1.0.0",
                    format!("/{name}/1.0.0"),
                    org.clone(),
                ))
                .await
                .unwrap();
            apis.push(api.id.clone());
        }
        let subscription = provisioner
            .subscribe(&caller, app.id, &apis[0])
            .await
            .unwrap();
        let world = World {
            is,
            provisioner,
            gateway,
            _following: following,
            _dir: dir,
            caller,
            app: app.id,
            api: apis[0].clone(),
            other_api: apis[1].clone(),
            prod_mapping: mappings[0].id,
            prod_client: prod.client_id.clone(),
            prod_secret: prod.client_secret.as_str().to_owned(),
            sandbox_secret: sandbox.client_secret.as_str().to_owned(),
            local_key,
        };
        world.sync(subscription.revision).await;
        world
    }

    /// Waits until the gateway has applied `revision`.
    pub async fn sync(&self, revision: Revision) {
        self.gateway
            .wait_for(revision, Duration::from_secs(5))
            .await
            .unwrap();
    }

    /// A token from the emulator's token endpoint, through keyprov.
    pub async fn token(&self, key_type: KeyType, scopes: &[&str]) -> String {
        let secret = match key_type {
            KeyType::Production => &self.prod_secret,
            _ => &self.sandbox_secret,
        };
        let mut request = TokenRequest::new(
            self.app,
            "IS",
            key_type,
            ConsumerSecret::new(secret.as_str()),
        );
        request.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        let token = self.provisioner.token(&self.caller, request).await.unwrap();
        token.secret().to_owned()
    }

    /// A token signed by the second key manager's PEM key with these claims over the usual.
    pub fn local_token(&self, extra: Value) -> String {
        let mut claims = json!({
            "iss": LOCAL_ISSUER,
            "client_id": "local-client",
            "iat": now(),
            "exp": now() + 600,
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": "local-1"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.local_key.public_modulus_len()];
        self.local_key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// A token signed by another emulator, whose issuer the gateway does not know.
pub async fn foreign_token() -> (Wso2IsEmulator, String) {
    let other = Wso2IsEmulator::start(IsVersion::V7).await.unwrap();
    let console = other.console();
    let client = console.create_traditional_application("Foreign").unwrap();
    console
        .update_protocol(
            &client.client_id,
            Protocol::new()
                .grant_types(["client_credentials"])
                .token_type(IsTokenType::Jwt),
        )
        .unwrap();
    let answer: Value = reqwest::Client::new()
        .post(other.url("/oauth2/token"))
        .basic_auth(&client.client_id, Some(client.client_secret.as_str()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().unwrap().to_owned();
    (other, token)
}

/// The same token with one signature character changed (a valid base64url character, so that
/// the token stays well-formed and only the signature check fails).
pub fn tampered(token: &str) -> String {
    let at = token.rfind('.').unwrap() + 10;
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// Serves `router` on a loopback port; the base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}
