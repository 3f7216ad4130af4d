//! The provisioning service's rules and error paths (P1–P8 in `docs/provisioning.md`), on the
//! in-memory store with the scripted key manager (every backend runs the storage conformance
//! suite).

use std::sync::Arc;

use keyprov::config::GlobalSettings;
use keyprov::error::{ConflictRule, UnsupportedReason, UnusableReason};
use keyprov::events::{Changes, Event};
use keyprov::policy::{GrantedBy, Validation};
use keyprov::provisioner::MapKeysRequest;
use keyprov::store::{MemoryStore, Store};
use keyprov::testkit::{Outage, ScriptedKeyManager};
use keyprov::{
    Actor, Api, ApiId, ConsumerKey, ConsumerSecret, Error, KeyManagerConfig, KeyManagers, KeyType,
    MappingState, NewApplication, OrganizationId, Outcome, ProvisionRequest, Provisioner,
    SubscriptionState, TokenRequest, UserId,
};
use tokio::sync::broadcast::error::TryRecvError;

const SECRET: &str = "s3cr3t-Value-9f2c";

struct World {
    provisioner: Provisioner,
    km: Arc<ScriptedKeyManager>,
    events: Changes,
    alice: Actor,
    app: keyprov::Application,
}

struct Setup {
    global: GlobalSettings,
    km: KeyManagerConfig,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            global: GlobalSettings::default(),
            km: KeyManagerConfig::new("IS").unwrap().out_of_band(true),
        }
    }
}

fn org() -> OrganizationId {
    OrganizationId::new("carbon.super").unwrap()
}

fn store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

async fn world_with(setup: Setup, store: Arc<dyn Store>) -> World {
    let km = Arc::new(ScriptedKeyManager::new(setup.km.id.as_str()));
    km.add_client("client-prod", SECRET);
    km.add_client("client-sandbox", SECRET);
    let provisioner = Provisioner::builder()
        .store(store)
        .key_managers(KeyManagers::new().with(setup.km, km.clone()).unwrap())
        .global(setup.global)
        .build()
        .unwrap();
    let alice = Actor::User(UserId::new("alice").unwrap());
    let app = provisioner
        .create_application(NewApplication::new(
            "PizzaApp",
            UserId::new("alice").unwrap(),
            org(),
        ))
        .await
        .unwrap()
        .into_inner();
    World {
        events: provisioner.store().changes().unwrap(),
        provisioner,
        km,
        alice,
        app,
    }
}

async fn world() -> World {
    world_with(Setup::default(), store()).await
}

impl World {
    fn request(&self, key_type: KeyType, key: &str, secret: Option<&str>) -> ProvisionRequest {
        let request =
            ProvisionRequest::new(self.app.id, "IS", key_type, ConsumerKey::new(key).unwrap());
        match secret {
            Some(secret) => request.secret(ConsumerSecret::new(secret)),
            None => request,
        }
    }

    async fn provision(
        &self,
        key_type: KeyType,
        key: &str,
        secret: Option<&str>,
    ) -> keyprov::Result<keyprov::Provisioned> {
        self.provisioner
            .provision(&self.alice, self.request(key_type, key, secret))
            .await
    }

    async fn state_of(&self, mapping: keyprov::MappingId) -> MappingState {
        let stored = self.provisioner.store().mapping(mapping).await.unwrap();
        stored.expect("the mapping exists").state
    }

    async fn rows(&self) -> usize {
        self.provisioner.store().all_mappings().await.unwrap().len()
    }

    fn no_event(&mut self) {
        assert!(
            matches!(
                self.events.try_recv().map(|c| c.event),
                Err(TryRecvError::Empty)
            ),
            "an event was published"
        );
    }
}

#[tokio::test]
async fn happy_path_validates_proves_the_secret_and_returns_the_token() {
    let mut w = world().await;
    let done = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap();
    assert_eq!(done.granted_by, GrantedBy::KeyManagerFlag);
    assert_eq!(done.validation, Validation::Runs);
    let m = &done.mapping;
    assert!(m.validated && m.secret_proven);
    assert_eq!(m.state, MappingState::Active);
    assert_eq!(m.key_type, KeyType::Production);
    assert_eq!(m.consumer_key.as_str(), "client-prod");
    assert_eq!(
        m.snapshot.grant_types,
        vec!["client_credentials".to_string()]
    );
    let token = done.token.expect("token from the proof");
    assert!(!token.secret().is_empty());
    match w.events.try_recv().map(|c| c.event).unwrap() {
        Event::MappingCreated { mapping } => assert_eq!(&mapping, m),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.provisioner.keys(&w.alice, w.app.id).await.unwrap(),
        vec![m.clone()]
    );
}

#[tokio::test]
async fn bad_input_names_the_field_and_stores_nothing() {
    let mut w = world().await;
    let long = "k".repeat(10 * 1024);
    let cases: [(&str, &str); 6] = [
        ("", "empty"),
        ("   ", "empty"),
        (&long, "at most 512 bytes"),
        ("abc\u{0}def", "control"),
        ("abc\u{7}def", "control"),
        (" client-prod", "whitespace"),
    ];
    for (key, reason) in cases {
        // The typed request cannot even be built; the wire form names the field.
        assert!(ConsumerKey::new(key).is_err());
        let body = serde_json::json!({
            "consumerKey": key,
            "consumerSecret": SECRET,
            "keyManager": "IS",
            "keyType": "PRODUCTION",
        });
        let body: MapKeysRequest = serde_json::from_value(body).unwrap();
        let err = body.into_request(w.app.id).unwrap_err();
        let Error::InvalidInput(invalid) = &err else {
            panic!("{key:?}: {err:?}")
        };
        assert_eq!(invalid.field, "consumerKey");
        assert!(
            invalid.reason.contains(reason),
            "{key:?}: {}",
            invalid.reason
        );
        assert_eq!(err.code(), 901400);
    }
    assert_eq!(w.km.calls(), 0, "bad input never reaches the key manager");
    assert_eq!(w.rows().await, 0);
    w.no_event();
}

#[tokio::test]
async fn unknown_key_type_spelling_is_refused() {
    let w = world().await;
    let body: MapKeysRequest = serde_json::from_str(
        r#"{"consumerKey":"client-prod","consumerSecret":"x","keyManager":"IS","keyType":"PRODUCTIONS"}"#,
    )
    .unwrap();
    let err = body.into_request(w.app.id).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(i) if i.field == "keyType"),
        "{err:?}"
    );
    let body: MapKeysRequest =
        serde_json::from_str(r#"{"consumerKey":"c","keyType":"sandbox"}"#).unwrap();
    let request = body.into_request(w.app.id).unwrap();
    assert_eq!(request.key_type, KeyType::Sandbox);
    assert_eq!(request.key_manager, "Resident Key Manager");
}

#[tokio::test]
async fn unknown_key_manager_application_and_foreign_caller() {
    let w = world().await;
    let mut request = w.request(KeyType::Production, "client-prod", Some(SECRET));
    request.key_manager = "Okta".into();
    let err = w
        .provisioner
        .provision(&w.alice, request)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyManagerNotFound { ref name } if name == "Okta"));
    assert_eq!(err.code(), 901403);

    let mut request = w.request(KeyType::Production, "client-prod", Some(SECRET));
    request.application = keyprov::ApplicationId::random();
    let err = w
        .provisioner
        .provision(&w.alice, request)
        .await
        .unwrap_err();
    assert_eq!(err.code(), 404);

    let mallory = Actor::User(UserId::new("mallory").unwrap());
    let err = w
        .provisioner
        .provision(
            &mallory,
            w.request(KeyType::Production, "client-prod", Some(SECRET)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(id) if id == w.app.id));
    assert_eq!(err.code(), 403);
    // An administrative caller may map for any application.
    w.provisioner
        .provision(
            &Actor::service("ops").unwrap(),
            w.request(KeyType::Production, "client-prod", Some(SECRET)),
        )
        .await
        .unwrap();
    assert_eq!(
        w.km.calls(),
        2,
        "only the system call reached the key manager (lookup + proof)"
    );
}

#[tokio::test]
async fn the_gate_refuses_with_its_reason_and_grants_by_global_fallback() {
    let mut setup = Setup::default();
    setup.km = setup.km.out_of_band(false);
    let w = world_with(setup, store()).await;
    let err = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ProvisioningDisabled(_)), "{err:?}");
    assert_eq!(err.code(), 901420);

    let mut setup = Setup::default();
    setup.km = setup.km.out_of_band(false);
    setup.global.enable_key_provisioning = true;
    let w = world_with(setup, store()).await;
    let done = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap();
    assert_eq!(done.granted_by, GrantedBy::GlobalFallback);

    let mut setup = Setup::default();
    setup.km.enabled = false;
    let w = world_with(setup, store()).await;
    let err = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 901403);

    let mut setup = Setup::default();
    setup.km.token_type = keyprov::model::TokenType::Exchanged;
    let w = world_with(setup, store()).await;
    let err = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::KeyManagerUnsupported {
            reason: UnsupportedReason::ExchangedTokensOnly,
            ..
        }
    ));
    assert_eq!(w.rows().await, 0);
}

#[tokio::test]
async fn validation_failures_are_distinct_and_store_nothing() {
    let mut w = world().await;
    let err = w
        .provision(KeyType::Production, "nobody", Some(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ClientNotFound { .. }), "{err:?}");
    assert_eq!(err.code(), 901421);

    let err = w
        .provision(KeyType::Production, "client-prod", Some("wrong"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
    assert_eq!(err.code(), 901422);

    let err = w
        .provision(KeyType::Production, "client-prod", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(i) if i.field == "consumerSecret"),
        "{err:?}"
    );
    let err = w
        .provision(KeyType::Production, "client-prod", Some("  "))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(i) if i.field == "consumerSecret"),
        "{err:?}"
    );

    type Change = fn(&mut keyprov::ClientInfo);
    let unusable: [(Change, UnusableReason); 4] = [
        (|c| c.enabled = Some(false), UnusableReason::Disabled),
        (|c| c.confidential = Some(false), UnusableReason::Public),
        (|c| c.bearer_only = Some(true), UnusableReason::BearerOnly),
        (
            |c| c.grant_types = Some(vec!["authorization_code".into()]),
            UnusableReason::NoClientCredentials,
        ),
    ];
    for (change, reason) in unusable {
        w.km.add_client("client-x", SECRET);
        w.km.update_client("client-x", change);
        let err = w
            .provision(KeyType::Production, "client-x", Some(SECRET))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::ClientNotUsable { reason: r, .. } if *r == reason),
            "{err:?}"
        );
        assert_eq!(err.code(), 901423);
    }

    w.km.reject_admin_credentials(true);
    let err = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyManagerCredentialsRejected { .. }));
    assert!(!err.is_retryable());
    w.km.reject_admin_credentials(false);

    w.km.set_outage(Some(Outage::Unavailable));
    let err = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyManagerUnavailable { .. }));
    assert!(err.is_retryable());
    w.km.set_outage(Some(Outage::Malformed));
    let err = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyManagerProtocol { .. }));
    w.km.set_outage(None);

    assert_eq!(w.rows().await, 0);
    w.no_event();
    // After all that, the right call still works: nothing was half-written.
    w.provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap();
}

#[tokio::test]
async fn validation_off_never_contacts_the_key_manager() {
    let mut setup = Setup::default();
    setup.global.enable_provisioned_app_validation = false;
    let w = world_with(setup, store()).await;
    let done = w
        .provision(KeyType::Production, "not-even-registered", None)
        .await
        .unwrap();
    assert_eq!(done.validation, Validation::SkippedGlobally);
    assert!(!done.mapping.validated && !done.mapping.secret_proven);
    assert!(done.token.is_none());
    assert_eq!(w.km.calls(), 0);
    // Without validation the store's constraints alone decide P3, with the same typed errors.
    let err = w
        .provision(KeyType::Production, "another", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MappingExists(ConflictRule::KeyTypeAlreadyMapped)
        ),
        "{err:?}"
    );
    let err = w
        .provision(KeyType::Sandbox, "not-even-registered", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped)
        ),
        "{err:?}"
    );
    assert_eq!(w.rows().await, 1);

    let mut setup = Setup::default();
    setup.km.provisioned_app_validation = false;
    let w = world_with(setup, store()).await;
    let done = w
        .provision(KeyType::Sandbox, "client-sandbox", None)
        .await
        .unwrap();
    assert_eq!(done.validation, Validation::SkippedForKeyManager);
    assert_eq!(w.km.calls(), 0);
}

#[tokio::test]
async fn allow_mapping_without_secret_checks_existence_only() {
    let mut setup = Setup::default();
    setup.km.allow_mapping_without_secret = true;
    let w = world_with(setup, store()).await;
    let err = w
        .provision(KeyType::Production, "nobody", None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ClientNotFound { .. }));
    let done = w
        .provision(KeyType::Production, "client-prod", None)
        .await
        .unwrap();
    assert!(done.mapping.validated && !done.mapping.secret_proven);
    assert_eq!(w.km.calls(), 2, "two lookups, no token request");
}

#[tokio::test]
async fn conflicts_name_the_rule_and_never_the_other_application() {
    let w = world().await;
    w.provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap();
    let err = w
        .provision(KeyType::Production, "client-sandbox", Some(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::MappingExists(ConflictRule::KeyTypeAlreadyMapped)
    ));
    assert_eq!(err.code(), 901409);

    let bob = UserId::new("bob").unwrap();
    let bobs = w
        .provisioner
        .create_application(NewApplication::new("BobApp", bob.clone(), org()))
        .await
        .unwrap();
    let mut request = w.request(KeyType::Sandbox, "client-prod", Some(SECRET));
    request.application = bobs.id;
    let err = w
        .provisioner
        .provision(&Actor::User(bob), request)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped)
    ));
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(&w.app.id.to_string()) && !text.contains("PizzaApp"),
        "{text}"
    );
}

#[tokio::test]
async fn removal_leaves_the_client_alone_and_frees_the_slot() {
    let mut w = world().await;
    let m = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap()
        .mapping;
    let _ = w.events.try_recv().map(|c| c.event);
    let mallory = Actor::User(UserId::new("mallory").unwrap());
    assert_eq!(
        w.provisioner
            .remove_mapping(&mallory, w.app.id, m.id)
            .await
            .unwrap_err()
            .code(),
        403
    );
    let err = w
        .provisioner
        .remove_mapping(&w.alice, w.app.id, keyprov::MappingId::random())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MappingNotFound(_)));
    let err = w
        .provisioner
        .update_client(&w.alice, w.app.id, m.id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MappedClientImmutable));

    let calls = w.km.calls();
    let removed = w
        .provisioner
        .remove_mapping(&w.alice, w.app.id, m.id)
        .await
        .unwrap();
    assert_eq!(removed.value, m);
    assert_eq!(w.km.calls(), calls, "removal does not call the key manager");
    match w.events.try_recv().map(|c| c.event).unwrap() {
        Event::MappingRemoved { mapping } => assert_eq!(mapping.key_type, KeyType::Production),
        other => panic!("{other:?}"),
    }
    // The client still works at the KM and can be mapped again.
    w.provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap();
}

#[tokio::test]
async fn deleting_an_application_removes_its_mappings_with_an_event_each() {
    let mut w = world().await;
    let api = Api::new(
        ApiId::new("pizzashack-1.0.0").unwrap(),
        "PizzaShackAPI",
        "1.0.0",
        "/pizzashack/1.0.0",
        org(),
    );
    w.provisioner.put_api(api.clone()).await.unwrap();
    w.provisioner
        .subscribe(&w.alice, w.app.id, &api.id)
        .await
        .unwrap();
    w.provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap();
    w.provision(KeyType::Sandbox, "client-sandbox", Some(SECRET))
        .await
        .unwrap();
    while w.events.try_recv().map(|c| c.event).is_ok() {}

    w.provisioner
        .delete_application(&w.alice, w.app.id)
        .await
        .unwrap();
    let mut removed_types = vec![];
    let mut rest = vec![];
    while let Ok(event) = w.events.try_recv().map(|c| c.event) {
        match event {
            Event::MappingRemoved { mapping } => removed_types.push(mapping.key_type),
            other => rest.push(other),
        }
    }
    removed_types.sort();
    assert_eq!(removed_types, vec![KeyType::Production, KeyType::Sandbox]);
    assert!(matches!(rest[0], Event::SubscriptionRemoved { .. }));
    assert!(
        matches!(rest[1], Event::ApplicationDeleted { application } if application == w.app.id)
    );
    assert_eq!(w.rows().await, 0);
    assert_eq!(
        w.km.calls(),
        4,
        "two lookups and two proofs; deletion called nothing"
    );
    assert_eq!(
        w.provisioner
            .application(&w.alice, w.app.id)
            .await
            .unwrap_err()
            .code(),
        404
    );
}

#[tokio::test]
async fn tokens_for_provisioned_applications() {
    let mut setup = Setup::default();
    setup.km.enable_token_generation = true;
    let w = world_with(setup, store()).await;
    let secret = ConsumerSecret::new(SECRET);
    let err = w
        .provisioner
        .token(
            &w.alice,
            TokenRequest::new(w.app.id, "IS", KeyType::Production, secret.clone()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoKeys { .. }), "{err:?}");

    let m = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap()
        .mapping;
    let token = w
        .provisioner
        .token(
            &w.alice,
            TokenRequest::new(w.app.id, "IS", KeyType::Production, secret.clone()).scopes(["read"]),
        )
        .await
        .unwrap();
    let seen = w.km.introspect(token.secret()).await.unwrap();
    assert!(seen.active);
    assert_eq!(seen.str_claim("client_id"), Some("client-prod"));

    let err = w
        .provisioner
        .token(
            &w.alice,
            TokenRequest::new(
                w.app.id,
                "IS",
                KeyType::Production,
                ConsumerSecret::new("bad"),
            ),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }));

    w.provisioner
        .set_mapping_state(&Actor::admin("ops").unwrap(), m.id, MappingState::Suspended)
        .await
        .unwrap();
    let err = w
        .provisioner
        .token(
            &w.alice,
            TokenRequest::new(w.app.id, "IS", KeyType::Production, secret.clone()),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::MappingNotActive {
            state: MappingState::Suspended,
            ..
        }
    ));

    let mut setup = Setup::default();
    setup.km.enable_token_generation = false;
    let w = world_with(setup, store()).await;
    w.provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap();
    let err = w
        .provisioner
        .token(
            &w.alice,
            TokenRequest::new(w.app.id, "IS", KeyType::Production, secret.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 901405);
}

use keyprov::KeyManager as _;

#[tokio::test]
async fn subscriptions_change_state_and_publish() {
    let mut w = world().await;
    let api = ApiId::new("weather").unwrap();
    let err = w
        .provisioner
        .subscribe(&w.alice, w.app.id, &api)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApiNotFound(_)));
    w.provisioner
        .put_api(Api::new(api.clone(), "Weather", "v1", "/weather", org()))
        .await
        .unwrap();
    while w.events.try_recv().map(|c| c.event).is_ok() {}
    let s = w
        .provisioner
        .subscribe(&w.alice, w.app.id, &api)
        .await
        .unwrap();
    assert_eq!(s.state, SubscriptionState::Unblocked);
    let s = w
        .provisioner
        .set_subscription_state(w.app.id, &api, SubscriptionState::ProdOnlyBlocked)
        .await
        .unwrap();
    assert_eq!(s.state, SubscriptionState::ProdOnlyBlocked);
    let mut states = vec![];
    while let Ok(Event::SubscriptionChanged { subscription }) = w.events.try_recv().map(|c| c.event)
    {
        states.push(subscription.state);
    }
    assert_eq!(
        states,
        vec![
            SubscriptionState::Unblocked,
            SubscriptionState::ProdOnlyBlocked
        ]
    );
    w.provisioner
        .unsubscribe(&w.alice, w.app.id, &api)
        .await
        .unwrap();
    let err = w
        .provisioner
        .unsubscribe(&w.alice, w.app.id, &api)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SubscriptionNotFound { .. }));
}

#[tokio::test]
async fn drift_recheck_moves_mappings_between_states() {
    let mut w = world().await;
    let m = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap()
        .mapping;
    while w.events.try_recv().map(|c| c.event).is_ok() {}
    let same = w
        .provisioner
        .recheck(&Actor::service("ops").unwrap(), m.id)
        .await
        .unwrap();
    assert_eq!(same.state, MappingState::Active);
    w.no_event();

    w.km.update_client("client-prod", |c| c.enabled = Some(false));
    assert_eq!(
        w.provisioner
            .recheck(&Actor::service("ops").unwrap(), m.id)
            .await
            .unwrap()
            .state,
        MappingState::Suspended
    );
    match w.events.try_recv().map(|c| c.event).unwrap() {
        Event::MappingStateChanged { mapping, previous } => {
            assert_eq!(previous, MappingState::Active);
            assert_eq!(mapping.state, MappingState::Suspended);
        }
        other => panic!("{other:?}"),
    }

    w.km.set_outage(Some(Outage::Unavailable));
    assert!(
        w.provisioner
            .recheck(&Actor::service("ops").unwrap(), m.id)
            .await
            .unwrap_err()
            .is_retryable()
    );
    w.km.set_outage(None);
    assert_eq!(
        w.state_of(m.id).await,
        MappingState::Suspended,
        "an outage changes nothing"
    );
    w.km.reject_admin_credentials(true);
    let err = w
        .provisioner
        .recheck(&Actor::service("ops").unwrap(), m.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), 901425, "{err}");
    w.km.reject_admin_credentials(false);
    assert_eq!(
        w.state_of(m.id).await,
        MappingState::Suspended,
        "refused admin credentials are no evidence either"
    );

    w.km.remove_client("client-prod");
    assert_eq!(
        w.provisioner
            .recheck(&Actor::service("ops").unwrap(), m.id)
            .await
            .unwrap()
            .state,
        MappingState::Orphaned
    );
    w.km.add_client("client-prod", SECRET);
    assert_eq!(
        w.provisioner
            .recheck(&Actor::service("ops").unwrap(), m.id)
            .await
            .unwrap()
            .state,
        MappingState::Active
    );
}

/// A retry of a request that already succeeded is a success that says so, answered from the
/// store without calling the key manager; the same client for another caller, key type or
/// application is still the 901409 conflict.
#[tokio::test]
async fn administrators_and_services_act_with_their_identity_on_record() {
    let logs = crate::secrets::Captured::default();
    let _guard = logs.install();
    let w = world().await;
    let carol = Actor::admin("carol").unwrap();
    let done = w
        .provisioner
        .provision(
            &carol,
            w.request(KeyType::Production, "client-prod", Some(SECRET)),
        )
        .await
        .unwrap();
    assert_eq!(done.mapping.created_by, carol);
    let stored = w
        .provisioner
        .store()
        .mapping(done.mapping.id)
        .await
        .unwrap();
    assert_eq!(stored.unwrap().created_by, carol, "the identity is stored");

    // A user may neither set a state by hand nor re-check another user's mapping.
    let err = w
        .provisioner
        .set_mapping_state(&w.alice, done.mapping.id, MappingState::Suspended)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotPermitted { .. }), "{err:?}");
    assert_eq!(err.code(), 403);
    let mallory = Actor::user("mallory").unwrap();
    let err = w
        .provisioner
        .recheck(&mallory, done.mapping.id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(id) if id == w.app.id));
    assert_eq!(w.state_of(done.mapping.id).await, MappingState::Active);
    // The owner may re-check; a scheduled job changes the state and is named in the log.
    let owner_check = w.provisioner.recheck(&w.alice, done.mapping.id).await;
    assert_eq!(owner_check.unwrap().state, MappingState::Active);
    let job = Actor::service("nightly-review").unwrap();
    w.provisioner
        .set_mapping_state(&job, done.mapping.id, MappingState::Suspended)
        .await
        .unwrap();
    assert_eq!(w.state_of(done.mapping.id).await, MappingState::Suspended);
    w.provisioner
        .remove_mapping(&carol, w.app.id, done.mapping.id)
        .await
        .unwrap();

    let log = logs.text();
    for line in [
        "mapping state changed",
        "caller=service nightly-review",
        "mapping removed",
        "caller=admin carol",
    ] {
        assert!(log.contains(line), "{line:?} is not in the log:\n{log}");
    }
}

#[tokio::test]
async fn a_retry_of_a_successful_request_is_answered_as_already_existing() {
    let w = world().await;
    let first = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Created);
    assert!(first.token.is_some());
    let calls = w.km.calls();
    let again = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyExisted);
    assert_eq!(again.mapping, first.mapping);
    assert!(again.token.is_none());
    assert!(again.revision >= first.revision);
    assert_eq!(w.km.calls(), calls, "the key manager is not called again");
    assert_eq!(w.rows().await, 1);

    // Another caller (the system acting for the owner) is not the same request.
    let err = w
        .provisioner
        .provision(
            &Actor::service("ops").unwrap(),
            w.request(KeyType::Production, "client-prod", Some(SECRET)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 901409);
    // Nor is the same client for the other key type.
    let err = w
        .provision(KeyType::Sandbox, "client-prod", Some(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped)
    ));
    assert_eq!(w.km.calls(), calls);
}

/// Identical requests racing: one creates, every other one is told it already existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_concurrent_requests_create_once_and_the_rest_already_existed() {
    let w = world().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (p, barrier) = (w.provisioner.clone(), barrier.clone());
            let (caller, request) = (
                w.alice.clone(),
                w.request(KeyType::Production, "client-prod", Some(SECRET)),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                p.provision(&caller, request).await
            })
        })
        .collect();
    let mut created = 0;
    let mut existed = 0;
    for task in tasks {
        match task.await.unwrap().unwrap().outcome {
            Outcome::Created => created += 1,
            Outcome::AlreadyExisted => existed += 1,
        }
    }
    assert_eq!((created, existed), (1, 15));
    assert_eq!(w.rows().await, 1);
}

/// A caller who does not own the application gets 403 before anything about key managers is
/// looked at: the same answer for an unknown and a closed key manager.
#[tokio::test]
async fn a_non_owner_learns_nothing_about_key_managers() {
    let setup = Setup {
        km: KeyManagerConfig::new("IS").unwrap(), // provisioning off
        ..Setup::default()
    };
    let w = world_with(setup, store()).await;
    let mallory = Actor::User(UserId::new("mallory").unwrap());
    for km in ["IS", "no-such-km"] {
        let request = ProvisionRequest::new(
            w.app.id,
            km,
            KeyType::Production,
            ConsumerKey::new("client-prod").unwrap(),
        )
        .secret(ConsumerSecret::new(SECRET));
        let err = w
            .provisioner
            .provision(&mallory, request)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Forbidden(id) if id == w.app.id),
            "{km}: {err:?}"
        );
        assert_eq!(err.code(), 403);
    }
    // The owner, for comparison, learns why.
    let err = w
        .provision(KeyType::Production, "client-prod", Some(SECRET))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 901420);
    assert_eq!(w.km.calls(), 0);
}

/// A policy of the embedding service's own wraps WSO2's rule and adds a refusal with its own
/// code; WSO2's rule still applies to everything else.
#[tokio::test]
async fn a_custom_policy_adds_its_own_refusals() {
    use keyprov::Wso2Policy;
    use keyprov::policy::{CustomRefusal, Gate, GateRefusal, PolicyRequest, Validation};

    #[derive(Debug)]
    struct NoSandboxForAcme(Wso2Policy);

    impl keyprov::ProvisioningPolicy for NoSandboxForAcme {
        fn gate(&self, request: &PolicyRequest<'_>) -> Gate {
            if request.application.organization.as_str() == "acme"
                && request.key_type == KeyType::Sandbox
            {
                return Gate::Refused(GateRefusal::Custom(CustomRefusal::new(
                    990001,
                    "acme applications may not map sandbox keys",
                )));
            }
            self.0.gate(request)
        }
        fn validation(&self, request: &PolicyRequest<'_>) -> Validation {
            self.0.validation(request)
        }
    }

    let km = Arc::new(ScriptedKeyManager::new("IS"));
    km.add_client("client-prod", SECRET);
    km.add_client("client-sandbox", SECRET);
    let provisioner = Provisioner::builder()
        .store(store())
        .key_managers(
            KeyManagers::new()
                .with(
                    KeyManagerConfig::new("IS").unwrap().out_of_band(true),
                    km.clone(),
                )
                .unwrap(),
        )
        .policy(NoSandboxForAcme(Wso2Policy::default()))
        .build()
        .unwrap();
    let alice = UserId::new("alice").unwrap();
    let acme = OrganizationId::new("acme").unwrap();
    let app = provisioner
        .create_application(NewApplication::new("A", alice.clone(), acme))
        .await
        .unwrap();
    let caller = Actor::User(alice);
    let request = |kt, key: &str| {
        ProvisionRequest::new(app.id, "IS", kt, ConsumerKey::new(key).unwrap())
            .secret(ConsumerSecret::new(SECRET))
    };
    let err = provisioner
        .provision(&caller, request(KeyType::Sandbox, "client-sandbox"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::PolicyRefused { code: 990001, reason } if reason.contains("sandbox")),
        "{err:?}"
    );
    assert_eq!(err.code(), 990001);
    assert_eq!(km.calls(), 0, "refused before the key manager");
    provisioner
        .provision(&caller, request(KeyType::Production, "client-prod"))
        .await
        .unwrap();
}

/// The key manager's name is input like any other field: checked before the lookup, and never
/// echoed back whole.
#[tokio::test]
async fn the_key_manager_name_is_checked_and_never_echoed_whole() {
    let w = world().await;
    let huge = "k".repeat(1 << 20);
    for (name, reason) in [
        ("", "empty"),
        ("I\u{0}S", "control"),
        (huge.as_str(), "at most 255"),
    ] {
        let request = ProvisionRequest::new(
            w.app.id,
            name,
            KeyType::Production,
            ConsumerKey::new("client-prod").unwrap(),
        )
        .secret(ConsumerSecret::new(SECRET));
        let err = w
            .provisioner
            .provision(&w.alice, request)
            .await
            .unwrap_err();
        let Error::InvalidInput(invalid) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(invalid.field, "keyManager");
        assert!(invalid.reason.contains(reason), "{}", invalid.reason);
        assert!(err.to_string().len() < 200, "the message stays short");
    }
    // An unknown but well-formed name is 901403 with at most a short prefix of it.
    let long = "x".repeat(200);
    let request = ProvisionRequest::new(
        w.app.id,
        long.as_str(),
        KeyType::Production,
        ConsumerKey::new("client-prod").unwrap(),
    )
    .secret(ConsumerSecret::new(SECRET));
    let err = w
        .provisioner
        .provision(&w.alice, request)
        .await
        .unwrap_err();
    assert_eq!(err.code(), 901403);
    assert!(!err.to_string().contains(&long), "{err}");
    assert_eq!(w.km.calls(), 0);
}

/// The secret is input too: control characters or an oversized secret are refused before the
/// key manager is contacted, and the message never quotes it.
#[tokio::test]
async fn a_malformed_secret_is_refused_before_the_key_manager_and_never_quoted() {
    let w = world().await;
    let huge = "s".repeat(1 << 20);
    let cases = [
        (format!("{SECRET}\u{0}"), "control"),
        (format!("{SECRET}\n"), "control"),
        (huge, "at most 1024 bytes"),
    ];
    for (secret, reason) in &cases {
        let err = w
            .provision(KeyType::Production, "client-prod", Some(secret))
            .await
            .unwrap_err();
        let Error::InvalidInput(invalid) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(invalid.field, "consumerSecret");
        assert!(invalid.reason.contains(reason), "{}", invalid.reason);
        assert!(!err.to_string().contains(SECRET));
        assert!(err.to_string().len() < 200);
        let token = w
            .provisioner
            .token(
                &w.alice,
                TokenRequest::new(
                    w.app.id,
                    "IS",
                    KeyType::Production,
                    ConsumerSecret::new(secret.as_str()),
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(token.code(), 901400, "{token}");
    }
    assert_eq!(w.km.calls(), 0, "the key manager was never contacted");
    assert_eq!(w.rows().await, 0);
}
