//! The consumer secret never leaks: not in `Debug`/`Display`, errors, events, log lines or the
//! values returned to callers.

use std::io::Write;
use std::sync::{Arc, Mutex};

use keyprov::events::{Broadcast, Event};
use keyprov::store::MemoryStore;
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, ConsumerSecret, KeyManagerConfig, KeyManagers, KeyType, NewApplication, OrganizationId,
    ProvisionRequest, Provisioner, UserId,
};

const SECRET: &str = "Zq8-very-secret-4471";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

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
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let km = Arc::new(ScriptedKeyManager::new("IS"));
    km.add_client("client-1", SECRET);
    let broadcast = Broadcast::new(64);
    let mut events = broadcast.subscribe();
    let provisioner = Provisioner::builder()
        .store(Arc::new(MemoryStore::new()))
        .key_managers(
            KeyManagers::new()
                .with(KeyManagerConfig::new("IS").unwrap().out_of_band(true), km)
                .unwrap(),
        )
        .events(Arc::new(broadcast))
        .build()
        .unwrap();
    let alice = UserId::new("alice").unwrap();
    let app = provisioner
        .create_application(NewApplication {
            name: "App".into(),
            owner: alice.clone(),
            organization: OrganizationId::new("org").unwrap(),
        })
        .await
        .unwrap();
    let request = ProvisionRequest::new(app.id, "IS", KeyType::Production, "client-1", SECRET);
    let mut seen = vec![format!("{request:?}")];
    let done = provisioner
        .provision(&Actor::User(alice.clone()), request)
        .await
        .unwrap();
    seen.push(format!("{done:?}"));
    seen.push(serde_json::to_string(&done.mapping).unwrap());

    // Failure paths carry no secret either.
    let wrong = ProvisionRequest::new(app.id, "IS", KeyType::Sandbox, "client-1", SECRET);
    let err = provisioner
        .provision(&Actor::User(alice.clone()), wrong)
        .await
        .unwrap_err();
    seen.push(format!("{err} {err:?}"));
    let err = provisioner
        .token(
            &Actor::User(alice),
            app.id,
            "IS",
            KeyType::Sandbox,
            &ConsumerSecret::new(SECRET),
            &[],
        )
        .await
        .unwrap_err();
    seen.push(format!("{err} {err:?}"));

    while let Ok(event) = events.try_recv() {
        seen.push(format!("{event:?}"));
        seen.push(serde_json::to_string(&event).unwrap());
        if let Event::MappingCreated { mapping } = event {
            seen.push(serde_json::to_string(&mapping.snapshot).unwrap());
        }
    }
    seen.push(String::from_utf8(logs.0.lock().unwrap().clone()).unwrap());
    assert!(
        seen.last()
            .unwrap()
            .contains("out-of-band client provisioned"),
        "the log capture works"
    );
    for text in &seen {
        assert!(!text.contains(SECRET), "secret leaked in: {text}");
    }
}
