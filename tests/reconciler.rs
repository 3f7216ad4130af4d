//! Scheduled drift re-checks against real key managers: the Keycloak and OIDC emulators over
//! HTTP. Outages, concurrency and in-flight requests are observed at the emulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyprov::audit::AuditQuery;
use keyprov::events::Event;
use keyprov::reconciler::{Backoff, PassEnd, PassSummary, Reconciler};
use keyprov::store::{MemoryStore, PassGuard, PassLock, SqliteStore, Store};
use keyprov::{
    Actor, ApplicationId, ConsumerKey, Error, KeyManager, KeyManagerConfig, KeyManagerId,
    KeyManagers, KeyMapping, KeyType, MappingId, MappingMode, MappingState, NewApplication,
    OrganizationId, Provisioner, UserId,
};
use km_keycloak::KeycloakKeyManager;
use km_keycloak::emulator::{Credentials, KeycloakEmulator};
use km_oidc::emulator::{ClientSpec, Emulator, Fault};
use km_oidc::{OidcConfig, OidcKeyManager, RegistrationAccess};
use secrecy::SecretString;

use crate::secrets::Captured;

/// Longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(10);

/// A Keycloak emulator with an admin service account, and the adapter on it.
pub struct Kc {
    pub emulator: KeycloakEmulator,
    pub admin: Credentials,
    pub id: KeyManagerId,
}

impl Kc {
    pub async fn start(name: &str) -> Kc {
        let emulator = KeycloakEmulator::start("demo").await.unwrap();
        let admin = emulator.admin_service_account("keyprov-admin");
        Kc {
            emulator,
            admin,
            id: KeyManagerId::new(name).unwrap(),
        }
    }

    pub fn adapter(&self) -> Arc<dyn KeyManager> {
        let config = self.emulator.adapter_config(self.id.clone(), &self.admin);
        Arc::new(KeycloakKeyManager::new(config).unwrap())
    }

    /// A confidential client, its id.
    pub fn client(&self, client_id: &str) -> String {
        self.emulator.confidential_client(client_id).client_id
    }

    /// Makes each admin read take `latency`, so that concurrent re-checks overlap at the
    /// server and passes last.
    pub fn slow_admin(&self, latency: Duration) {
        self.emulator
            .faults()
            .inject(Fault::Latency(latency).on("/admin"));
    }

    /// Waits (at most [`WAIT`]) until an admin read is being served: a pass has begun.
    pub async fn wait_for_admin_request(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.emulator.faults().in_flight("/admin") == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no pass started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Requests on the admin API in flight at most, since the start.
    pub fn max_admin_in_flight(&self) -> u64 {
        self.emulator.faults().max_in_flight("/admin")
    }
}

pub fn key_managers(adapters: Vec<(KeyManagerId, Arc<dyn KeyManager>)>) -> KeyManagers {
    let mut kms = KeyManagers::new();
    for (id, adapter) in adapters {
        kms = kms
            .with(
                KeyManagerConfig::new(id.as_str())
                    .unwrap()
                    .out_of_band(true),
                adapter,
            )
            .unwrap();
    }
    kms
}

pub fn provisioner(store: Arc<dyn Store>, kms: KeyManagers) -> Provisioner {
    Provisioner::builder()
        .store(store)
        .key_managers(kms)
        .build()
        .unwrap()
}

/// Stores a mapping of `client_id` at `km` (in an application of its own) in `state`, created
/// `order` milliseconds after a fixed instant, so that passes take them in that order.
pub async fn map(
    provisioner: &Provisioner,
    km: &KeyManagerId,
    client_id: &str,
    state: MappingState,
    order: i64,
) -> KeyMapping {
    let app = provisioner
        .create_application(NewApplication::new(
            format!("app-{}", ApplicationId::random()),
            UserId::new("alice").unwrap(),
            OrganizationId::new("acme").unwrap(),
        ))
        .await
        .unwrap();
    let at = DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000 + order).unwrap();
    let mapping = KeyMapping {
        id: MappingId::random(),
        application: app.id,
        key_type: KeyType::Production,
        key_manager: km.clone(),
        consumer_key: ConsumerKey::new(client_id).unwrap(),
        mode: MappingMode::Mapped,
        state,
        validated: true,
        secret_proven: true,
        snapshot: Default::default(),
        created_at: at,
        updated_at: at,
        created_by: Actor::User(UserId::new("alice").unwrap()),
    };
    provisioner.store().insert_mapping(&mapping).await.unwrap();
    mapping
}

/// A Keycloak emulator as key manager `kc`, a provisioner over `store` with it, and `n`
/// mapped clients `c0`, `c1`, ... (`ACTIVE`, in that order).
pub async fn one_keycloak(store: Arc<dyn Store>, n: i64) -> (Kc, Provisioner, Vec<KeyMapping>) {
    let kc = Kc::start("kc").await;
    let p = provisioner(store, key_managers(vec![(kc.id.clone(), kc.adapter())]));
    let mut mappings = Vec::new();
    for i in 0..n {
        let client = kc.client(&format!("c{i}"));
        mappings.push(map(&p, &kc.id, &client, MappingState::Active, i).await);
    }
    (kc, p, mappings)
}

pub async fn state(provisioner: &Provisioner, id: MappingId) -> MappingState {
    provisioner
        .store()
        .mapping(id)
        .await
        .unwrap()
        .unwrap()
        .state
}

/// Waits (at most [`WAIT`]) for a published summary that `accept`s.
pub async fn summary_where(
    reconciler: &Reconciler,
    accept: impl FnMut(&Option<PassSummary>) -> bool,
) -> PassSummary {
    let mut rx = reconciler.subscribe();
    tokio::time::timeout(WAIT, rx.wait_for(accept))
        .await
        .expect("no such summary in time")
        .unwrap()
        .clone()
        .unwrap()
}

/// Sleeps until the wall-clock instant `until` (a backoff's announced end) has passed.
async fn until(instant: DateTime<Utc>) {
    let left = (instant - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(20)).await;
}

#[tokio::test]
async fn a_pass_orphans_deleted_clients_suspends_disabled_ones_and_reactivates_restored_ones() {
    let logs = Captured::default();
    let _guard = logs.install();
    let kc = Kc::start("kc").await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let p = provisioner(
        store.clone(),
        key_managers(vec![(kc.id.clone(), kc.adapter())]),
    );
    let ok = map(&p, &kc.id, &kc.client("ok"), MappingState::Active, 0).await;
    let deleted = map(&p, &kc.id, &kc.client("deleted"), MappingState::Active, 1).await;
    let disabled = map(&p, &kc.id, &kc.client("disabled"), MappingState::Active, 2).await;
    let restored = map(
        &p,
        &kc.id,
        &kc.client("restored"),
        MappingState::Suspended,
        3,
    )
    .await;
    let gone_km = KeyManagerId::new("removed-km").unwrap();
    let stranded = map(&p, &gone_km, "whatever", MappingState::Active, 4).await;
    assert!(kc.emulator.delete_client("deleted"));
    assert!(kc.emulator.set_enabled("disabled", false));
    let mut changes = store.changes().unwrap();

    let reconciler = Reconciler::builder(p.clone()).build().unwrap();
    let summary = reconciler.run_pass().await.unwrap();

    assert_eq!(summary.end, PassEnd::Completed);
    assert_eq!((summary.number, summary.mappings), (1, 5));
    let c = summary.counts();
    assert_eq!(
        (
            c.unchanged,
            c.orphaned,
            c.suspended,
            c.reactivated,
            c.errors
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!((c.unavailable, c.deferred, c.inconclusive), (0, 0, 0));
    assert_eq!(c.total(), 5);
    let stray = summary.key_manager(&gone_km);
    assert_eq!(stray.errors.get(&901403), Some(&1), "{stray:?}");
    assert_eq!(state(&p, ok.id).await, MappingState::Active);
    assert_eq!(state(&p, deleted.id).await, MappingState::Orphaned);
    assert_eq!(state(&p, disabled.id).await, MappingState::Suspended);
    assert_eq!(state(&p, restored.id).await, MappingState::Active);
    assert_eq!(state(&p, stranded.id).await, MappingState::Active);
    let mut moved = Vec::new();
    while let Ok(change) = changes.try_recv() {
        if let Event::MappingStateChanged { mapping, .. } = change.event {
            moved.push((mapping.id, mapping.state));
        }
    }
    moved.sort();
    let mut expected = vec![
        (deleted.id, MappingState::Orphaned),
        (disabled.id, MappingState::Suspended),
        (restored.id, MappingState::Active),
    ];
    expected.sort();
    assert_eq!(moved, expected, "one published change per moved mapping");
    // Each change is logged and audited with the reconciler's identity as its caller.
    let me = Actor::service("reconciler").unwrap();
    assert_eq!(reconciler.actor(), &me);
    let audited = p
        .audit(&Actor::admin("ops").unwrap(), &AuditQuery::new().actor(me))
        .await
        .unwrap();
    let mut audited: Vec<_> = audited.iter().filter_map(|r| r.entry.mapping).collect();
    audited.sort();
    assert_eq!(
        audited,
        expected.iter().map(|(id, _)| *id).collect::<Vec<_>>()
    );
    let text = logs.text();
    assert_eq!(
        text.lines()
            .filter(
                |l| l.contains("mapping state changed") && l.contains("caller=service reconciler")
            )
            .count(),
        3,
        "{text}"
    );
    assert_eq!(reconciler.last_summary(), Some(summary));

    // Nothing left to move: the next pass changes nothing.
    let again = reconciler.run_pass().await.unwrap();
    assert_eq!(again.number, 2);
    let c = again.counts();
    assert_eq!((c.unchanged, c.changed(), c.errors), (4, 0, 1));
}

#[tokio::test]
async fn an_unavailable_key_manager_keeps_its_states_and_backs_off_while_others_go_on() {
    let down = Kc::start("down").await;
    let up = Kc::start("up").await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let p = provisioner(
        store,
        key_managers(vec![
            (down.id.clone(), down.adapter()),
            (up.id.clone(), up.adapter()),
        ]),
    );
    let mut at_down = Vec::new();
    for i in 0..4 {
        let client = down.client(&format!("d{i}"));
        at_down.push(map(&p, &down.id, &client, MappingState::Active, i).await);
    }
    let up_ok = map(&p, &up.id, &up.client("u-ok"), MappingState::Active, 10).await;
    let up_gone = map(&p, &up.id, &up.client("u-gone"), MappingState::Active, 11).await;
    assert!(up.emulator.delete_client("u-gone"));
    // Deleted during the outage: no evidence arrives, so nothing moves.
    assert!(down.emulator.delete_client("d1"));
    down.emulator
        .faults()
        .inject(Fault::Status(503).on("/admin"));
    let backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(10),
    };
    let reconciler = Reconciler::builder(p.clone())
        .key_manager_concurrency(down.id.clone(), 1)
        .backoff(backoff)
        .build()
        .unwrap();

    let first = reconciler.run_pass().await.unwrap();
    assert_eq!(first.end, PassEnd::Completed);
    let d = first.key_manager(&down.id);
    assert_eq!((d.counts.unavailable, d.counts.deferred), (1, 3), "{d:?}");
    assert_eq!(d.counts.answered(), 0);
    let status = d.backoff.expect("backing off");
    assert_eq!(status.failures, 1);
    assert!(status.until >= first.started_at + backoff.initial);
    let u = first.key_manager(&up.id);
    assert_eq!((u.counts.unchanged, u.counts.orphaned), (1, 1));
    assert_eq!(u.backoff, None);
    assert_eq!(first.counts().unavailable, 1);
    for m in &at_down {
        assert_eq!(state(&p, m.id).await, MappingState::Active);
    }
    assert_eq!(state(&p, up_ok.id).await, MappingState::Active);
    assert_eq!(state(&p, up_gone.id).await, MappingState::Orphaned);
    assert_eq!(reconciler.backoffs().keys().collect::<Vec<_>>(), [&down.id]);

    // Within the backoff the key manager gets no request at all.
    let requests = down.emulator.faults().total_requests();
    let second = reconciler.run_pass().await.unwrap();
    let d = second.key_manager(&down.id);
    assert_eq!((d.counts.unavailable, d.counts.deferred), (0, 4), "{d:?}");
    assert_eq!(down.emulator.faults().total_requests(), requests);

    // Still failing after the backoff: one more attempt, and twice the wait.
    until(status.until).await;
    let third = reconciler.run_pass().await.unwrap();
    let d = third.key_manager(&down.id);
    assert_eq!((d.counts.unavailable, d.counts.deferred), (1, 3), "{d:?}");
    let status = d.backoff.expect("backing off again");
    assert_eq!(status.failures, 2);
    assert!(status.until >= third.started_at + backoff.initial * 2);
    assert!(status.until <= Utc::now() + backoff.initial * 2);

    // Back: the next pass after the backoff sees the deletion and ends the backoff.
    down.emulator.faults().clear();
    until(status.until).await;
    let fourth = reconciler.run_pass().await.unwrap();
    let d = fourth.key_manager(&down.id);
    assert_eq!((d.counts.unchanged, d.counts.orphaned), (3, 1), "{d:?}");
    assert_eq!(d.backoff, None);
    assert!(reconciler.backoffs().is_empty());
    assert_eq!(state(&p, at_down[1].id).await, MappingState::Orphaned);
}

#[tokio::test]
async fn a_key_manager_that_stopped_counts_as_unavailable_and_nothing_moves() {
    let (kc, p, mappings) = one_keycloak(Arc::new(MemoryStore::new()), 3).await;
    kc.emulator.delete_client("c0");
    drop(kc.emulator);
    let reconciler = Reconciler::builder(p.clone()).build().unwrap();
    let summary = reconciler.run_pass().await.unwrap();
    let c = summary.counts();
    assert!(c.unavailable >= 1, "{c:?}");
    assert_eq!(c.unavailable + c.deferred, 3, "{c:?}");
    assert_eq!(c.changed(), 0);
    for m in &mappings {
        assert_eq!(state(&p, m.id).await, MappingState::Active);
    }
}

#[tokio::test]
async fn each_key_manager_gets_at_most_its_concurrency_limit_of_rechecks() {
    let wide = Kc::start("wide").await;
    let narrow = Kc::start("narrow").await;
    let p = provisioner(
        Arc::new(MemoryStore::new()),
        key_managers(vec![
            (wide.id.clone(), wide.adapter()),
            (narrow.id.clone(), narrow.adapter()),
        ]),
    );
    for i in 0..9 {
        let client = wide.client(&format!("w{i}"));
        map(&p, &wide.id, &client, MappingState::Active, i).await;
    }
    for i in 0..4 {
        let client = narrow.client(&format!("n{i}"));
        map(&p, &narrow.id, &client, MappingState::Active, 10 + i).await;
    }
    wide.slow_admin(Duration::from_millis(100));
    narrow.slow_admin(Duration::from_millis(100));
    let reconciler = Reconciler::builder(p)
        .concurrency(3)
        .key_manager_concurrency(narrow.id.clone(), 1)
        .build()
        .unwrap();
    let summary = reconciler.run_pass().await.unwrap();
    assert_eq!(summary.counts().unchanged, 13);
    assert_eq!(wide.max_admin_in_flight(), 3);
    assert_eq!(narrow.max_admin_in_flight(), 1);
}

#[tokio::test]
async fn an_inconclusive_lookup_keeps_the_state_and_is_counted() {
    let idp = Emulator::start().await.unwrap();
    let client = idp
        .engine()
        .create_client(ClientSpec::new().name("billing"));
    let id = KeyManagerId::new("idp").unwrap();
    let adapter = OidcKeyManager::new(OidcConfig::new(id.clone(), idp.issuer()).registration(
        client.client_id.clone(),
        RegistrationAccess {
            token: SecretString::from(client.registration_access_token.clone()),
            uri: None,
        },
    ))
    .unwrap();
    let p = provisioner(
        Arc::new(MemoryStore::new()),
        key_managers(vec![(id.clone(), Arc::new(adapter))]),
    );
    let m = map(&p, &id, &client.client_id, MappingState::Active, 0).await;
    let reconciler = Reconciler::builder(p.clone()).build().unwrap();
    assert_eq!(reconciler.run_pass().await.unwrap().counts().unchanged, 1);
    // An RFC 7592 read of a deleted client answers 401, as a wrong token would.
    assert!(idp.engine().delete_client(&client.client_id));
    let summary = reconciler.run_pass().await.unwrap();
    let c = summary.counts();
    assert_eq!((c.inconclusive, c.changed(), c.errors), (1, 0, 0));
    assert_eq!(summary.key_manager(&id).backoff, None);
    assert_eq!(state(&p, m.id).await, MappingState::Active);
}

/// Refused admin credentials are the adapter's problem, not the clients': states stay, the
/// key manager backs off (no storm of refused logins), and the log says so without the secret.
#[tokio::test]
async fn refused_admin_credentials_keep_states_back_off_and_log_no_secret() {
    let logs = Captured::default();
    let _guard = logs.install();
    let (kc, p, mappings) = one_keycloak(Arc::new(MemoryStore::new()), 3).await;
    kc.emulator.delete_client("c2");
    assert!(
        kc.emulator
            .set_admin_roles(&kc.admin.client_id, kc.emulator.realm(), &[])
    );
    let reconciler = Reconciler::builder(p.clone())
        .concurrency(1)
        .service("drift-checker")
        .build()
        .unwrap();
    let summary = reconciler.run_pass().await.unwrap();
    let part = summary.key_manager(&kc.id);
    assert_eq!(
        (part.counts.errors, part.counts.deferred),
        (1, 2),
        "{part:?}"
    );
    assert_eq!(part.errors.get(&901425), Some(&1));
    assert!(part.backoff.is_some());
    for m in &mappings {
        assert_eq!(state(&p, m.id).await, MappingState::Active);
    }
    let text = logs.text();
    assert!(text.contains("backing off"), "{text}");
    assert!(text.contains("drift-checker"), "{text}");
    assert!(text.contains("reconciler pass"), "{text}");
    assert!(
        !text.contains(&kc.admin.secret),
        "the admin secret leaked: {text}"
    );
}

#[tokio::test]
async fn spawned_passes_run_on_schedule_pick_up_drift_and_stop() {
    let (kc, p, mappings) = one_keycloak(Arc::new(MemoryStore::new()), 1).await;
    let reconciler = Reconciler::builder(p.clone())
        .interval(Duration::from_millis(30))
        .jitter(Duration::from_millis(20))
        .build()
        .unwrap();
    let running = reconciler.spawn();
    let second = summary_where(&reconciler, |s| s.as_ref().is_some_and(|s| s.number >= 2)).await;
    assert_eq!(second.end, PassEnd::Completed);
    assert_eq!(second.counts().unchanged, 1);

    kc.emulator.delete_client("c0");
    let seen = summary_where(&reconciler, |s| {
        s.as_ref().is_some_and(|s| s.counts().orphaned == 1)
    })
    .await;
    assert!(seen.number > second.number);
    assert_eq!(state(&p, mappings[0].id).await, MappingState::Orphaned);
    tokio::time::timeout(WAIT, running.stop())
        .await
        .expect("stops");
}

#[tokio::test]
async fn stopping_mid_pass_lets_rechecks_in_flight_finish_and_starts_no_more() {
    let (kc, p, _) = one_keycloak(Arc::new(MemoryStore::new()), 5).await;
    kc.slow_admin(Duration::from_millis(200));
    let reconciler = Reconciler::builder(p)
        .concurrency(1)
        .jitter(Duration::ZERO)
        .build()
        .unwrap();
    let running = reconciler.spawn();
    kc.wait_for_admin_request().await;
    tokio::time::timeout(WAIT, running.stop())
        .await
        .expect("stops");
    let last = reconciler.last_summary().expect("the pass was summarized");
    assert_eq!(last.end, PassEnd::Stopped);
    assert!(last.counts().total() < 5, "{last:?}");
    assert_eq!(last.counts().unchanged, last.counts().total());
}

#[tokio::test]
async fn a_mapping_removed_during_a_pass_is_counted_as_removed() {
    let (kc, p, mappings) = one_keycloak(Arc::new(MemoryStore::new()), 3).await;
    kc.slow_admin(Duration::from_millis(200));
    let reconciler = Reconciler::builder(p.clone())
        .concurrency(1)
        .build()
        .unwrap();
    let pass = tokio::spawn({
        let reconciler = reconciler.clone();
        async move { reconciler.run_pass().await }
    });
    kc.wait_for_admin_request().await;
    assert!(
        p.store()
            .delete_mapping(mappings[2].id)
            .await
            .unwrap()
            .is_some()
    );
    let summary = pass.await.unwrap().unwrap();
    let c = summary.counts();
    assert_eq!(
        (summary.mappings, c.unchanged, c.removed, c.errors),
        (3, 2, 1, 0)
    );
}

#[tokio::test]
async fn one_pass_at_a_time_over_a_store() {
    let (kc, p, _) = one_keycloak(Arc::new(MemoryStore::new()), 3).await;
    kc.slow_admin(Duration::from_millis(100));
    let first = Reconciler::builder(p.clone())
        .concurrency(1)
        .build()
        .unwrap();
    let second = Reconciler::builder(p.clone()).build().unwrap();
    let running = tokio::spawn({
        let first = first.clone();
        async move { first.run_pass().await }
    });
    kc.wait_for_admin_request().await;
    let skipped = second.run_pass().await.unwrap();
    assert_eq!(skipped.end, PassEnd::LockHeldElsewhere);
    assert_eq!((skipped.mappings, skipped.counts().total()), (0, 0));
    let done = running.await.unwrap().unwrap();
    assert_eq!((done.end, done.counts().unchanged), (PassEnd::Completed, 3));
    assert_eq!(second.run_pass().await.unwrap().end, PassEnd::Completed);
}

#[tokio::test]
async fn the_builder_refuses_settings_that_cannot_work() {
    let p = provisioner(Arc::new(MemoryStore::new()), KeyManagers::new());
    let config_key = |result: keyprov::Result<Reconciler>| match result.unwrap_err() {
        Error::Config { key, .. } => key,
        Error::InvalidInput(input) => input.field.into_owned(),
        other => panic!("{other:?}"),
    };
    let b = || Reconciler::builder(p.clone());
    assert_eq!(
        config_key(b().interval(Duration::ZERO).build()),
        "reconciler.interval"
    );
    assert_eq!(
        config_key(b().concurrency(0).build()),
        "reconciler.concurrency"
    );
    let km = KeyManagerId::new("kc").unwrap();
    assert_eq!(
        config_key(b().key_manager_concurrency(km, 0).build()),
        "reconciler.concurrency"
    );
    let inverted = Backoff {
        initial: Duration::from_secs(10),
        max: Duration::from_secs(1),
    };
    assert_eq!(
        config_key(b().backoff(inverted).build()),
        "reconciler.backoff"
    );
    assert_eq!(config_key(b().service(" ").build()), "service");
    assert_eq!(config_key(b().service("a\u{7}b").build()), "service");
    let named = b().service("drift-checker").build().unwrap();
    let empty = named.run_pass().await.unwrap();
    assert_eq!((empty.end, empty.mappings), (PassEnd::Completed, 0));
}

/// A lock whose backend cannot be asked, counting the attempts.
#[derive(Debug, Default)]
struct Unreachable(AtomicUsize);

#[async_trait]
impl PassLock for Unreachable {
    async fn try_acquire(&self) -> keyprov::Result<Option<Box<dyn PassGuard>>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(Error::Storage {
            detail: "pass lock: connection refused".into(),
            retryable: true,
            source: None,
        })
    }
}

#[tokio::test]
async fn a_pass_that_cannot_take_the_lock_fails_and_the_schedule_tries_again() {
    let (kc, p, mappings) = one_keycloak(Arc::new(MemoryStore::new()), 1).await;
    kc.emulator.delete_client("c0");
    let lock = Arc::new(Unreachable::default());
    let reconciler = Reconciler::builder(p.clone())
        .interval(Duration::from_millis(20))
        .jitter(Duration::ZERO)
        .lock(lock.clone())
        .build()
        .unwrap();
    let err = reconciler.run_pass().await.unwrap_err();
    assert!(
        matches!(err, Error::Storage { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert_eq!(reconciler.last_summary(), None);
    let running = reconciler.spawn();
    let deadline = tokio::time::Instant::now() + WAIT;
    while lock.0.load(Ordering::SeqCst) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "not tried again");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.stop().await;
    // Nothing was re-checked without the lock.
    assert_eq!(kc.emulator.faults().total_requests(), 0);
    assert_eq!(state(&p, mappings[0].id).await, MappingState::Active);
}
