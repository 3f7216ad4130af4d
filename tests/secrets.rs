//! The consumer secret never leaks: not in `Debug`/`Display`, errors, events, log lines or the
//! values returned to callers.

use std::io::Write;
use std::sync::{Arc, Mutex};

use keyprov::events::Event;
use keyprov::store::MemoryStore;
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, ConsumerSecret, KeyManagerConfig, KeyManagers, KeyType, NewApplication, OrganizationId,
    ProvisionRequest, Provisioner, TokenRequest, UserId,
};

const SECRET: &str = "Zq8-very-secret-4471";

/// Log lines written while a test runs (with [`Captured::install`]).
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Captures this thread's log lines, at every level, until the guard drops.
    pub(crate) fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            // Plain text whatever features the workspace build unifies (ANSI colours would
            // split `key=value` pairs).
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// What was written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_secret_appears_nowhere() {
    let logs = Captured::default();
    let _guard = logs.install();

    let km = Arc::new(ScriptedKeyManager::new("IS"));
    km.add_client("client-1", SECRET);
    let store = Arc::new(MemoryStore::new());
    let mut events = keyprov::store::Store::changes(store.as_ref()).unwrap();
    let provisioner = Provisioner::builder()
        .store(store)
        .key_managers(
            KeyManagers::new()
                .with(KeyManagerConfig::new("IS").unwrap().out_of_band(true), km)
                .unwrap(),
        )
        .build()
        .unwrap();
    let alice = UserId::new("alice").unwrap();
    let app = provisioner
        .create_application(NewApplication::new(
            "App",
            alice.clone(),
            OrganizationId::new("org").unwrap(),
        ))
        .await
        .unwrap();
    let request = ProvisionRequest::new(
        app.id,
        "IS",
        KeyType::Production,
        keyprov::ConsumerKey::new("client-1").unwrap(),
    )
    .secret(SECRET.into());
    let mut seen = vec![format!("{request:?}")];
    let done = provisioner
        .provision(&Actor::User(alice.clone()), request)
        .await
        .unwrap();
    seen.push(format!("{done:?}"));
    seen.push(serde_json::to_string(&done.mapping).unwrap());

    // Failure paths carry no secret either.
    let wrong = ProvisionRequest::new(
        app.id,
        "IS",
        KeyType::Sandbox,
        keyprov::ConsumerKey::new("client-1").unwrap(),
    )
    .secret(SECRET.into());
    let err = provisioner
        .provision(&Actor::User(alice.clone()), wrong)
        .await
        .unwrap_err();
    seen.push(format!("{err} {err:?}"));
    let err = provisioner
        .token(
            &Actor::User(alice),
            TokenRequest::new(app.id, "IS", KeyType::Sandbox, ConsumerSecret::new(SECRET)),
        )
        .await
        .unwrap_err();
    seen.push(format!("{err} {err:?}"));

    while let Ok(change) = events.try_recv() {
        seen.push(format!("{change:?}"));
        seen.push(serde_json::to_string(&change).unwrap());
        if let Event::MappingCreated { mapping } = change.event {
            seen.push(serde_json::to_string(&mapping.snapshot).unwrap());
        }
    }
    seen.push(logs.text());
    assert!(
        seen.last()
            .unwrap()
            .contains("out-of-band client provisioned"),
        "the log capture works"
    );
    let log = seen.last().unwrap();
    assert!(
        log.contains("provisioning refused") && log.contains("code=901409"),
        "refusals are logged with their code: {log}"
    );
    for text in &seen {
        assert!(!text.contains(SECRET), "secret leaked in: {text}");
    }
}
