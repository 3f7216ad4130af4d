//! Opaque tokens are bearer credentials: the gateway sends one only to the key managers that
//! may have issued it (opted in to introspection, holding a mapping of an application
//! subscribed to the API, or named by the token's prefix), in a documented order. Two real
//! authorization servers (the km-oidc emulator) over HTTP record every token presented to
//! their introspection endpoints.

use std::sync::Arc;

use keyprov::gateway::Gateway;
use keyprov::store::{MemoryStore, Store};
use keyprov::{
    Actor, Api, ApiId, ApplicationId, ConsumerKey, ConsumerSecret, KeyManager, KeyManagerConfig,
    KeyManagerId, KeyManagers, KeyType, NewApplication, OrganizationId, ProvisionRequest,
    Provisioner, UserId,
};
use km_oidc::emulator::{ClientSpec, Emulator, Flavour, RegisteredClient, TokenFormat};
use km_oidc::{OidcConfig, OidcKeyManager, ServerAuth};
use secrecy::SecretString;

use super::support::WAIT;

/// One authorization server: its emulator, the client whose tokens the tests use, and the
/// adapter (introspecting with a client of its own).
struct Idp {
    server: Emulator,
    client: RegisteredClient,
    adapter: Arc<dyn KeyManager>,
}

impl Idp {
    async fn start(name: &str, flavour: Flavour) -> Idp {
        let server = Emulator::builder().flavour(flavour).start().await.unwrap();
        let spec = || {
            ClientSpec::new()
                .grant_types(["client_credentials"])
                .token_format(TokenFormat::Opaque)
        };
        let client = server.engine().create_client(spec());
        let resource_server = server.engine().create_client(spec());
        let config = OidcConfig::new(KeyManagerId::new(name).unwrap(), server.issuer())
            .introspection_auth(ServerAuth::ClientSecretBasic {
                client_id: resource_server.client_id,
                client_secret: SecretString::from(resource_server.client_secret),
            });
        let adapter = Arc::new(OidcKeyManager::new(config).unwrap()) as Arc<dyn KeyManager>;
        Idp {
            server,
            client,
            adapter,
        }
    }

    async fn token(&self) -> String {
        self.adapter
            .client_credentials_token(
                &ConsumerKey::new(self.client.client_id.as_str()).unwrap(),
                &ConsumerSecret::new(self.client.client_secret.as_str()),
                &[],
            )
            .await
            .unwrap()
            .secret()
            .to_owned()
    }

    /// How many times `token` reached this server's introspection endpoint.
    fn received(&self, token: &str) -> usize {
        self.server
            .engine()
            .introspected()
            .iter()
            .filter(|t| *t == token)
            .count()
    }
}

struct Setup {
    gateway: Gateway,
    provisioner: Provisioner,
    store: Arc<MemoryStore>,
    api: ApiId,
    owner: Actor,
    org: OrganizationId,
}

impl Setup {
    /// A gateway and a provisioner on `kms` (name, config tweak, server), one API, and nothing
    /// mapped yet.
    async fn new(kms: Vec<(KeyManagerConfig, &Idp)>) -> Setup {
        let mut registry = KeyManagers::new();
        for (config, idp) in kms {
            let config = config.out_of_band(true).issuer(idp.server.issuer());
            registry = registry.with(config, idp.adapter.clone()).unwrap();
        }
        let gateway = Gateway::builder()
            .key_managers(registry.clone())
            .build()
            .unwrap();
        let store = Arc::new(MemoryStore::new());
        let provisioner = Provisioner::builder()
            .store(store.clone() as Arc<dyn Store>)
            .key_managers(registry)
            .build()
            .unwrap();
        gateway.follow(&provisioner).await.unwrap();
        let org = OrganizationId::new("org-1").unwrap();
        let api = Api::new(
            ApiId::new("orders").unwrap(),
            "orders",
            "1",
            "/orders/1",
            org.clone(),
        );
        let api = provisioner.put_api(api).await.unwrap().value.id;
        Setup {
            gateway,
            provisioner,
            store,
            api,
            owner: Actor::User(UserId::new("alice").unwrap()),
            org,
        }
    }

    /// A new application, subscribed to the API, with `idp`'s client mapped under `km`.
    async fn map(&self, km: &str, idp: &Idp) -> ApplicationId {
        let app = self
            .provisioner
            .create_application(NewApplication::new(
                format!("app-of-{km}"),
                UserId::new("alice").unwrap(),
                self.org.clone(),
            ))
            .await
            .unwrap()
            .id;
        self.provisioner
            .subscribe(&self.owner, app, &self.api)
            .await
            .unwrap();
        let request = ProvisionRequest::new(
            app,
            km,
            KeyType::Production,
            ConsumerKey::new(idp.client.client_id.as_str()).unwrap(),
        )
        .secret(ConsumerSecret::new(idp.client.client_secret.as_str()));
        self.provisioner
            .provision(&self.owner, request)
            .await
            .unwrap();
        self.sync().await;
        app
    }

    async fn sync(&self) {
        let revision = self.store.revision().await.unwrap();
        self.gateway.wait_for(revision, WAIT).await.unwrap();
    }
}

fn km(name: &str) -> KeyManagerConfig {
    KeyManagerConfig::new(name).unwrap()
}

/// Only A holds a mapping of an application subscribed to the API: A's token goes to A alone,
/// although B also opted in and comes first in the configuration.
#[tokio::test]
async fn the_key_manager_that_does_not_own_the_token_never_receives_it() {
    let (a, b) = (
        Idp::start("A", Flavour::standard()).await,
        Idp::start("B", Flavour::standard()).await,
    );
    let s = Setup::new(vec![
        (km("B").introspect_opaque_tokens(true), &b),
        (km("A").introspect_opaque_tokens(true), &a),
    ])
    .await;
    let app = s.map("A", &a).await;
    let token = a.token().await;
    let explanation = s.gateway.explain(&token, &s.api, KeyType::Production).await;
    let ok = explanation.outcome.as_ref().unwrap();
    assert_eq!(ok.application, app);
    let text = explanation.to_string();
    assert!(
        text.contains("key manager B is not asked: it holds no mapping of an application subscribed to api orders"),
        "{text}"
    );
    assert!(text.contains("asking, in this order: A"), "{text}");
    s.gateway.clear_caches();
    s.gateway
        .resolve(&token, &s.api, KeyType::Production)
        .await
        .unwrap();
    assert_eq!(a.received(&token), 2);
    assert!(b.server.engine().introspected().is_empty());
    assert_eq!(b.server.faults().requests("/introspect"), 0);
}

/// A key manager that did not opt in is never sent a token, even when it holds the mapping;
/// with no candidate left the token is refused without being sent anywhere.
#[tokio::test]
async fn introspection_is_opt_in() {
    let (a, b) = (
        Idp::start("A", Flavour::standard()).await,
        Idp::start("B", Flavour::standard()).await,
    );
    let s = Setup::new(vec![
        (km("A"), &a),
        (km("B").introspect_opaque_tokens(true), &b),
    ])
    .await;
    s.map("A", &a).await;
    let token = a.token().await;
    let denial = s
        .gateway
        .resolve(&token, &s.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(
        (denial.status(), denial.code()),
        (401, "no_introspection_candidate")
    );
    assert!(
        denial.to_string().contains("opted in to introspection"),
        "{denial}"
    );
    assert!(!denial.to_string().contains(&token));
    assert!(a.server.engine().introspected().is_empty());
    assert!(b.server.engine().introspected().is_empty());
}

/// Both hold mappings for the API: global key managers are asked first, then the API
/// organization's, each in configuration order; the first that knows the token decides.
#[tokio::test]
async fn candidates_are_asked_in_a_documented_order() {
    let (a, b, c) = (
        Idp::start("A", Flavour::standard()).await,
        Idp::start("B", Flavour::standard()).await,
        Idp::start("C", Flavour::standard()).await,
    );
    let org = OrganizationId::new("org-1").unwrap();
    let s = Setup::new(vec![
        (km("C").introspect_opaque_tokens(true).organization(org), &c),
        (km("B").introspect_opaque_tokens(true), &b),
        (km("A").introspect_opaque_tokens(true), &a),
    ])
    .await;
    s.map("A", &a).await;
    s.map("B", &b).await;
    s.map("C", &c).await;
    let token = c.token().await;
    let explanation = s.gateway.explain(&token, &s.api, KeyType::Production).await;
    assert!(explanation.outcome.is_ok(), "{explanation}");
    assert!(
        explanation
            .to_string()
            .contains("asking, in this order: B, A, C"),
        "{explanation}"
    );
    for idp in [&a, &b, &c] {
        assert_eq!(
            idp.received(&token),
            1,
            "every candidate is asked once, in turn"
        );
    }
    // A's token stops at A: C, after it, never sees it.
    let token = a.token().await;
    s.gateway
        .resolve(&token, &s.api, KeyType::Production)
        .await
        .unwrap();
    assert_eq!(
        (b.received(&token), a.received(&token), c.received(&token)),
        (1, 1, 0)
    );
}

/// A prefix selects exactly one key manager: B's `kc_` tokens go to B alone, and tokens
/// without the prefix never go to B, although both hold mappings for the API.
#[tokio::test]
async fn a_token_prefix_selects_exactly_one_key_manager() {
    let (a, b) = (
        Idp::start("A", Flavour::standard()).await,
        Idp::start("B", Flavour::standard().with_opaque_token_prefix("kc_")).await,
    );
    let s = Setup::new(vec![
        (km("A").introspect_opaque_tokens(true), &a),
        (km("B").opaque_token_prefix("kc_"), &b),
    ])
    .await;
    let (app_a, app_b) = (s.map("A", &a).await, s.map("B", &b).await);
    let token_b = b.token().await;
    assert!(token_b.starts_with("kc_"));
    let explanation = s
        .gateway
        .explain(&token_b, &s.api, KeyType::Production)
        .await;
    assert_eq!(explanation.outcome.as_ref().unwrap().application, app_b);
    assert!(
        explanation
            .to_string()
            .contains("the token starts with the opaque token prefix of key manager B"),
        "{explanation}"
    );
    assert_eq!(b.received(&token_b), 1);
    assert!(a.server.engine().introspected().is_empty());
    let token_a = a.token().await;
    let ok = s
        .gateway
        .resolve(&token_a, &s.api, KeyType::Production)
        .await
        .unwrap();
    assert_eq!(ok.application, app_a);
    assert_eq!(a.received(&token_a), 1);
    assert_eq!(b.server.engine().introspected(), vec![token_b.clone()]);
    // A token that claims B's prefix but that B did not issue: asked at B only, refused.
    let forged = format!("kc_{}", &token_a);
    let denial = s
        .gateway
        .resolve(&forged, &s.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(denial.code(), "inactive_token");
    assert_eq!(a.received(&forged), 0);
    assert_eq!(b.received(&forged), 1);
}

/// Two key managers serving the same APIs may not share a prefix: it must select one.
#[tokio::test]
async fn two_key_managers_may_not_share_a_prefix() {
    let (a, b) = (
        Idp::start("A", Flavour::standard()).await,
        Idp::start("B", Flavour::standard()).await,
    );
    let kms = KeyManagers::new()
        .with(
            km("A").opaque_token_prefix("x_").issuer(a.server.issuer()),
            a.adapter.clone(),
        )
        .unwrap()
        .with(
            km("B").opaque_token_prefix("x_").issuer(b.server.issuer()),
            b.adapter.clone(),
        )
        .unwrap();
    let err = Gateway::builder().key_managers(kms).build().unwrap_err();
    assert!(
        err.to_string()
            .contains("key_managers.B.opaque_token_prefix"),
        "{err}"
    );
}
