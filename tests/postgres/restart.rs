//! A real server restart: a throwaway server (started by `.ci/postgres.sh`) is stopped and
//! started again under a live store and change feed.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use keyprov::store::Store;
use keyprov::store::postgres::{ChangeFeed, PostgresConfig, PostgresStore};
use keyprov::{Event, KeyType};

use super::{application, eventually, mapping};

/// A throwaway server, removed on drop.
struct Throwaway {
    script: String,
    dir: String,
    url: String,
}

impl Throwaway {
    /// Panics when no server can be started (no PostgreSQL installed, and not root to install it).
    fn start() -> Self {
        let script = format!("{}/.ci/postgres.sh", env!("CARGO_MANIFEST_DIR"));
        let tmp = tempfile::tempdir().unwrap();
        // Port 1 never answers, so the script starts its own server.
        let out = Command::new("bash")
            .args([&script, "start"])
            .env("KEYPROV_PG_PORT", "1")
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test needs PostgreSQL's initdb and pg_ctl: .ci/postgres.sh could not start a \
             throwaway server: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap()
                .trim_matches('\'')
                .to_owned()
        };
        let url = value("KEYPROV_PG_URL");
        let dir = value("KEYPROV_PG_STOP")
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned();
        Self { script, dir, url }
    }

    fn run(&self, action: &str) {
        let status = Command::new("bash")
            .args([&self.script, action, &self.dir])
            .status()
            .unwrap();
        assert!(status.success(), "postgres.sh {action}");
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([&self.script, "stop", &self.dir])
            .status();
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or pass --include-ignored with initdb installed"]
async fn store_and_feed_recover_after_the_server_restarts() {
    let server = Throwaway::start();
    let config = PostgresConfig::builder(server.url.clone())
        .connect_timeout(Duration::from_secs(2))
        .wait_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let store = Arc::new(PostgresStore::open(config.clone()).await.unwrap());
    let events = Arc::new(keyprov::events::ChangeLog::with_capacity(256));
    let mut rx = events.subscribe();
    let feed = ChangeFeed::start(config, events.clone()).await.unwrap();
    let app = application("alice", "before");
    store.create_application(&app).await.unwrap();

    server.run("halt");
    let err = store
        .insert_mapping(&mapping(app.id, "IS", KeyType::Production, "during"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(matches!(err, keyprov::Error::Storage { .. }), "{err:?}");
    server.run("resume");

    // The pool reconnects by itself; the write that failed left nothing.
    let m = mapping(app.id, "IS", KeyType::Production, "after");
    let mut written = false;
    for _ in 0..50 {
        match store.insert_mapping(&m).await {
            Ok(_) => {
                written = true;
                break;
            }
            Err(err) => {
                assert!(err.is_retryable(), "{err:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(written, "the pool did not recover");
    assert_eq!(store.mappings_of(app.id).await.unwrap(), vec![m.clone()]);

    // The feed reconnected, asked for a resync, and delivers new changes.
    assert!(eventually(Duration::from_secs(10), async || feed.reconnects() >= 1).await);
    // A change made after the feed listens again arrives as an event. (The write above may
    // have committed before the feed was back: the resync is what covers it.)
    let m = mapping(app.id, "IS", KeyType::Sandbox, "after-reconnect");
    store.insert_mapping(&m).await.unwrap();
    let mut saw_resync = false;
    let mut saw_mapping = false;
    while !(saw_resync && saw_mapping) {
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("events after the restart")
            .unwrap()
            .event;
        saw_resync |= event == Event::Resync;
        saw_mapping |= matches!(&event, Event::MappingCreated { mapping } if mapping.id == m.id);
    }
}
