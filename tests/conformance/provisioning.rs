//! Provisioning-level atomicity (P5/P6 in `docs/provisioning.md`): through
//! `Provisioner::provision`, a failure at any step leaves no row and publishes no change (the
//! store's revision does not move).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use keyprov::error::{ConflictRule, UnusableReason};
use keyprov::store::Store;
use keyprov::testkit::{Outage, ScriptedKeyManager};
use keyprov::{
    AccessToken, Actor, Application, Capabilities, ClientInfo, ConsumerKey, ConsumerSecret, Error,
    Event, Introspection, JwkSet, KeyManager, KeyManagerConfig, KeyManagers, KeyType,
    NewApplication, OrganizationId, ProvisionRequest, Provisioner, Revision, UserId,
};

use super::support::mapping;

type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The scripted key manager, plus a step that runs once when the provisioner looks the client
/// up: after its own checks, before it stores the mapping. It lets a test change the world in
/// that window, as a concurrent request would.
struct WindowKeyManager {
    inner: Arc<ScriptedKeyManager>,
    during_lookup: Mutex<Option<Hook>>,
}

impl fmt::Debug for WindowKeyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowKeyManager")
            .field("inner", &self.inner)
            .finish()
    }
}

#[async_trait]
impl KeyManager for WindowKeyManager {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn client(&self, consumer_key: &ConsumerKey) -> keyprov::Result<ClientInfo> {
        let hook = self.during_lookup.lock().unwrap().take();
        if let Some(hook) = hook {
            hook().await;
        }
        self.inner.client(consumer_key).await
    }

    async fn client_credentials_token(
        &self,
        consumer_key: &ConsumerKey,
        secret: &ConsumerSecret,
        scopes: &[String],
    ) -> keyprov::Result<AccessToken> {
        self.inner
            .client_credentials_token(consumer_key, secret, scopes)
            .await
    }

    async fn jwks(&self) -> keyprov::Result<JwkSet> {
        self.inner.jwks().await
    }

    async fn introspect(&self, token: &str) -> keyprov::Result<Introspection> {
        self.inner.introspect(token).await
    }
}

struct Setup {
    store: Arc<dyn Store>,
    provisioner: Provisioner,
    km: Arc<ScriptedKeyManager>,
    window: Arc<WindowKeyManager>,
    app: Application,
}

fn alice() -> Actor {
    Actor::User(UserId::new("alice").unwrap())
}

async fn setup(store: Arc<dyn Store>) -> Setup {
    let km = Arc::new(ScriptedKeyManager::new("IS"));
    km.add_client("client-1", "secret-1");
    let window = Arc::new(WindowKeyManager {
        inner: Arc::clone(&km),
        during_lookup: Mutex::new(None),
    });
    let provisioner = Provisioner::builder()
        .store(Arc::clone(&store))
        .key_managers(
            KeyManagers::new()
                .with(
                    KeyManagerConfig::new("IS").unwrap().out_of_band(true),
                    Arc::clone(&window) as Arc<dyn KeyManager>,
                )
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = provisioner
        .create_application(NewApplication::new(
            "shop",
            UserId::new("alice").unwrap(),
            OrganizationId::new("carbon.super").unwrap(),
        ))
        .await
        .unwrap()
        .into_inner();
    Setup {
        store,
        provisioner,
        km,
        window,
        app,
    }
}

impl Setup {
    fn request(&self, key: &str, secret: &str) -> ProvisionRequest {
        ProvisionRequest::new(
            self.app.id,
            "IS",
            KeyType::Production,
            ConsumerKey::new(key).unwrap(),
        )
        .secret(ConsumerSecret::new(secret))
    }

    fn open_window(&self, hook: impl Future<Output = ()> + Send + 'static) {
        *self.window.during_lookup.lock().unwrap() = Some(Box::new(move || Box::pin(hook)));
    }

    /// Provisions `request`, expecting an error; asserts that no mapping of the application
    /// was stored and that no change was published. Returns the error.
    async fn fails(&self, request: ProvisionRequest) -> Error {
        self.fails_beside(request, 0).await
    }

    /// As [`Setup::fails`], when the window's hook itself makes `hook_changes` changes.
    async fn fails_beside(&self, request: ProvisionRequest, hook_changes: u64) -> Error {
        let before = self.store.revision().await.unwrap();
        let before = Revision::new(before.get() + hook_changes);
        let err = self
            .provisioner
            .provision(&alice(), request)
            .await
            .expect_err("provisioning must fail");
        assert!(
            self.store
                .mappings_of(self.app.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_unchanged_since(&self.store, before).await;
        err
    }
}

/// No change was published since `before`: every change advances the store's revision. (A
/// hook may have written in between: the caller then passes the revision after the hook.)
async fn assert_unchanged_since(store: &Arc<dyn Store>, before: Revision) {
    assert_eq!(
        store.revision().await.unwrap(),
        before,
        "a change was published"
    );
}

/// The next change on `changes` after `revision`, with a bound on the wait (PostgreSQL
/// delivers through LISTEN, so changes made just before the subscription may still arrive).
async fn next_change(
    changes: &mut keyprov::events::Changes,
    revision: Revision,
) -> keyprov::Change {
    loop {
        let change = tokio::time::timeout(std::time::Duration::from_secs(10), changes.recv())
            .await
            .expect("a change within 10 s")
            .expect("open stream");
        if change.revision > revision {
            return change;
        }
    }
}

pub async fn success_stores_one_row_and_publishes_one_event(store: Arc<dyn Store>) {
    let s = setup(store).await;
    let mut changes = s.store.changes().unwrap();
    let before = s.store.revision().await.unwrap();
    let done = s
        .provisioner
        .provision(&alice(), s.request("client-1", "secret-1"))
        .await
        .unwrap();
    assert_eq!(done.revision.get(), before.get() + 1, "one change");
    assert!(done.mapping.validated && done.mapping.secret_proven);
    assert_eq!(
        s.store.all_mappings().await.unwrap(),
        vec![done.mapping.clone()]
    );
    let change = next_change(&mut changes, before).await;
    assert_eq!(change.revision, done.revision);
    match change.event {
        Event::MappingCreated { mapping } => assert_eq!(mapping, done.mapping),
        other => panic!("expected MappingCreated, got {other:?}"),
    }
    assert_unchanged_since(&s.store, done.revision).await;
}

pub async fn key_manager_unavailable_leaves_nothing(store: Arc<dyn Store>) {
    let s = setup(store).await;
    s.km.set_outage(Some(Outage::Unavailable));
    let err = s.fails(s.request("client-1", "secret-1")).await;
    assert!(
        matches!(err, Error::KeyManagerUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

pub async fn client_not_found_leaves_nothing(store: Arc<dyn Store>) {
    let s = setup(store).await;
    let err = s.fails(s.request("no-such-client", "secret-1")).await;
    assert!(matches!(err, Error::ClientNotFound { .. }), "{err:?}");
}

pub async fn wrong_secret_leaves_nothing(store: Arc<dyn Store>) {
    let s = setup(store).await;
    let err = s.fails(s.request("client-1", "not-the-secret")).await;
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
}

pub async fn unusable_client_leaves_nothing(store: Arc<dyn Store>) {
    let s = setup(store).await;
    s.km.update_client("client-1", |c| c.enabled = Some(false));
    let err = s.fails(s.request("client-1", "secret-1")).await;
    assert!(
        matches!(
            err,
            Error::ClientNotUsable {
                reason: UnusableReason::Disabled,
                ..
            }
        ),
        "{err:?}"
    );
}

/// Another request maps the same client to another application after the provisioner's early
/// P3 check: the store's constraint refuses ours.
pub async fn conflict_at_insert_leaves_nothing(store: Arc<dyn Store>) {
    let s = setup(store).await;
    let rival_app = super::support::application("rival", "bob", "carbon.super", 0);
    s.store.create_application(&rival_app).await.unwrap();
    let rival = mapping(rival_app.id, KeyType::Production, "IS", "client-1", 0);
    {
        let (store, rival) = (Arc::clone(&s.store), rival.clone());
        s.open_window(async move {
            store.insert_mapping(&rival).await.unwrap();
        });
    }
    let err = s.fails_beside(s.request("client-1", "secret-1"), 1).await;
    assert!(
        matches!(
            err,
            Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped)
        ),
        "{err:?}"
    );
    assert_eq!(s.store.all_mappings().await.unwrap(), vec![rival]);
}

/// The application is deleted after the provisioner read it: the insert is refused.
pub async fn application_deleted_before_insert_leaves_nothing(store: Arc<dyn Store>) {
    let s = setup(store).await;
    {
        let (store, id) = (Arc::clone(&s.store), s.app.id);
        s.open_window(async move {
            store
                .delete_application(id)
                .await
                .unwrap()
                .expect("deleted");
        });
    }
    let err = s.fails_beside(s.request("client-1", "secret-1"), 1).await;
    assert!(
        matches!(err, Error::ApplicationNotFound(id) if id == s.app.id),
        "{err:?}"
    );
    assert!(s.store.all_mappings().await.unwrap().is_empty());
}

/// 32 concurrent requests map one client into 32 applications: one succeeds, one event.
pub async fn concurrent_provisioning_has_one_winner(store: Arc<dyn Store>) {
    let s = setup(store).await;
    let mut apps = Vec::new();
    for i in 0..32 {
        let app = s
            .provisioner
            .create_application(NewApplication::new(
                format!("app-{i}"),
                UserId::new("alice").unwrap(),
                OrganizationId::new("carbon.super").unwrap(),
            ))
            .await
            .unwrap();
        apps.push(app.id);
    }
    let mut changes = s.store.changes().unwrap();
    let before = s.store.revision().await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(apps.len()));
    let handles: Vec<_> = apps
        .iter()
        .map(|&app| {
            let (p, barrier) = (s.provisioner.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let request = ProvisionRequest::new(
                    app,
                    "IS",
                    KeyType::Production,
                    ConsumerKey::new("client-1").unwrap(),
                )
                .secret(ConsumerSecret::new("secret-1"));
                p.provision(&alice(), request).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for handle in handles {
        match handle.await.unwrap() {
            Ok(done) => winners.push(done.mapping),
            Err(Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner");
    assert_eq!(s.store.all_mappings().await.unwrap(), winners);
    let change = next_change(&mut changes, before).await;
    match change.event {
        Event::MappingCreated { mapping } => assert_eq!(mapping, winners[0]),
        other => panic!("expected MappingCreated, got {other:?}"),
    }
    assert_eq!(change.revision.get(), before.get() + 1);
    assert_unchanged_since(&s.store, change.revision).await;
}
