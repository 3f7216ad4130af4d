//! PostgreSQL tests. They need a server, so they are ignored by default: set `KEYPROV_PG_URL`
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`, or `eval "$(.ci/postgres.sh start)"`) and
//! pass `-- --include-ignored`, as `.ci/run` does. Run without `KEYPROV_PG_URL`, they fail.
//! Each test works in its own schema, dropped at the end (also when the test panics).

pub mod conformance;
mod faults;
mod feed;
mod nodes;
mod race;
mod reconciler;
mod restart;
mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use keyprov::store::Store;
use keyprov::store::postgres::{PostgresConfig, PostgresStore};
use keyprov::{
    Actor, Api, ApiId, Application, ApplicationId, ConsumerKey, Event, KeyManagerId, KeyMapping,
    KeyType, MappingId, MappingMode, MappingState, OrganizationId, Subscription, UserId,
};

/// The server URL; panics without `KEYPROV_PG_URL`, so that a run that asked for these
/// tests cannot pass without a server.
pub fn pg_url() -> String {
    match std::env::var("KEYPROV_PG_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "this test needs PostgreSQL and KEYPROV_PG_URL is not set: \
             run `eval \"$(.ci/postgres.sh start)\"` first, or .ci/run"
        ),
    }
}

/// A uniquely named schema, dropped when this value is.
pub struct TestSchema {
    pub url: String,
    pub schema: String,
}

impl TestSchema {
    /// Panics without `KEYPROV_PG_URL`.
    pub fn new() -> Self {
        let url = pg_url();
        let schema = format!("kp_t_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Self { url, schema }
    }

    /// The application name the store's connections report.
    pub fn app_name(&self) -> String {
        format!("kp-{}", self.schema)
    }

    pub fn config(&self) -> keyprov::store::postgres::PostgresConfigBuilder {
        PostgresConfig::builder(self.url.clone())
            .schema(self.schema.clone())
            .application_name(self.app_name())
            .pool_size(8)
    }

    pub async fn open(&self) -> Arc<PostgresStore> {
        Arc::new(
            PostgresStore::open(self.config().build().unwrap())
                .await
                .unwrap(),
        )
    }

    /// A store that does not run its own change feed.
    pub async fn open_without_feed(&self) -> Arc<PostgresStore> {
        Arc::new(
            PostgresStore::open(self.config().change_feed(false).build().unwrap())
                .await
                .unwrap(),
        )
    }

    /// Terminates every backend whose application_name is `name`; returns how many.
    pub async fn terminate(&self, name: &str) -> i64 {
        let admin = admin(&self.url).await;
        admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&name],
            )
            .await
            .unwrap()
            .get(0)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Drop runs outside async; a short-lived runtime on its own thread does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let client = admin(&url).await;
                // The test's runtime is blocked in this drop, so its connections cannot
                // finish what they were doing: end them before dropping their tables.
                let _ = client
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name LIKE $1",
                        &[&format!("kp-{schema}%")],
                    )
                    .await;
                let _ = client
                    .batch_execute(&format!(
                        "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                    ))
                    .await;
            });
        })
        .join();
    }
}

/// A plain connection for test-side SQL.
pub async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to KEYPROV_PG_URL");
    tokio::spawn(connection);
    client
}

pub fn application(owner: &str, name: &str) -> Application {
    Application {
        id: ApplicationId::random(),
        name: name.into(),
        owner: UserId::new(owner).unwrap(),
        organization: OrganizationId::new("org").unwrap(),
        created_at: crate::postgres::now_ms(),
    }
}

pub fn api(id: &str) -> Api {
    Api::new(
        ApiId::new(id).unwrap(),
        id,
        "1.0.0",
        format!("/{id}/1.0.0"),
        OrganizationId::new("org").unwrap(),
    )
}

pub fn subscription(application: ApplicationId, api: &str) -> Subscription {
    let at = crate::postgres::now_ms();
    Subscription {
        application,
        api: ApiId::new(api).unwrap(),
        state: keyprov::SubscriptionState::Unblocked,
        created_at: at,
        updated_at: at,
    }
}

pub fn mapping(application: ApplicationId, km: &str, key_type: KeyType, key: &str) -> KeyMapping {
    let at = crate::postgres::now_ms();
    KeyMapping {
        id: MappingId::random(),
        application,
        key_type,
        key_manager: KeyManagerId::new(km).unwrap(),
        consumer_key: ConsumerKey::new(key).unwrap(),
        mode: MappingMode::Mapped,
        state: MappingState::Active,
        validated: true,
        secret_proven: true,
        snapshot: Default::default(),
        created_at: at,
        updated_at: at,
        created_by: Actor::service("ops").unwrap(),
    }
}

/// What a gateway node keeps in memory, maintained the way the gateway's view is: apply
/// events, reload from the store on `Resync` or when the broadcast says it lagged.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct View {
    pub mappings: HashMap<MappingId, KeyMapping>,
    pub subscriptions: HashMap<(ApplicationId, ApiId), Subscription>,
}

impl View {
    pub async fn load(store: &dyn Store) -> Self {
        let mut view = View::default();
        for m in store.all_mappings().await.unwrap() {
            view.mappings.insert(m.id, m);
        }
        for s in store.all_subscriptions().await.unwrap() {
            view.subscriptions.insert((s.application, s.api.clone()), s);
        }
        view
    }

    /// Applies one event; returns false when the view must be reloaded.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::MappingCreated { mapping } | Event::MappingStateChanged { mapping, .. } => {
                self.mappings.insert(mapping.id, mapping.clone());
            }
            Event::MappingRemoved { mapping } => {
                self.mappings.remove(&mapping.id);
            }
            Event::SubscriptionChanged { subscription } => {
                let key = (subscription.application, subscription.api.clone());
                self.subscriptions.insert(key, subscription.clone());
            }
            Event::SubscriptionRemoved { application, api } => {
                self.subscriptions.remove(&(*application, api.clone()));
            }
            Event::ApplicationDeleted { application } => {
                self.mappings.retain(|_, m| m.application != *application);
                self.subscriptions.retain(|(a, _), _| a != application);
            }
            Event::Resync => return false,
            _ => {}
        }
        true
    }

    /// Runs a view fed by `events` until the returned handle is dropped; `view` is shared.
    pub fn follow(
        store: Arc<dyn Store>,
        mut events: tokio::sync::broadcast::Receiver<keyprov::Change>,
        view: Arc<tokio::sync::Mutex<View>>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let reload = match events.recv().await {
                    Ok(change) => !view.lock().await.apply(&change.event),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(_) => return,
                };
                if reload {
                    let fresh = View::load(&*store).await;
                    *view.lock().await = fresh;
                }
            }
        })
    }
}

/// Now, to the millisecond (the precision every store keeps).
pub fn now_ms() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap()
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
