//! Scheduled drift re-checks ([P10](crate::guide::provisioning)): a [`Reconciler`] re-checks
//! every mapping against its key manager, pass after pass.
//!
//! - **One pass at a time** per store: each pass holds the store's
//!   [pass lock](crate::store::Store::pass_lock). On PostgreSQL that is an advisory lock every
//!   node sees, held on a connection of its own, so a node that dies mid-pass releases it and
//!   another node's next pass does the work. The SQLite and in-memory stores are single-node:
//!   their lock is in process memory, and two processes sharing one SQLite file each run their
//!   own passes.
//! - **Per key manager**: at most [`concurrency`](ReconcilerBuilder::concurrency) re-checks in
//!   flight at each key manager (their key managers' re-checks run side by side).
//! - **Outages change nothing**: a key manager that is unreachable, fails or throttles (901424),
//!   or that rejects the adapter's admin credentials (901425), keeps its mappings' states; it is
//!   left alone for the rest of the pass and [backs off](Backoff) (30 s, doubling up to 30 min
//!   by default) across passes. Its mappings meanwhile count as `deferred`.
//! - **Schedule**: [`Reconciler::spawn`] runs a pass every
//!   [`interval`](ReconcilerBuilder::interval) plus a random [`jitter`](ReconcilerBuilder::jitter)
//!   (also before the first pass), so that nodes started together do not call key managers
//!   together. [`Reconciler::run_pass`] runs one pass now.
//! - **Summary**: each pass returns a [`PassSummary`] (counts per outcome, per key manager),
//!   logs it, and publishes it to [`Reconciler::subscribe`].
//! - **Identity**: the reconciler acts as a named service (`reconciler` unless
//!   [`service`](ReconcilerBuilder::service) says otherwise), recorded in its logs.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> keyprov::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use keyprov::reconciler::{PassEnd, Reconciler};
//! use keyprov::store::MemoryStore;
//! use keyprov::testkit::ScriptedKeyManager;
//! use keyprov::{Actor, ConsumerKey, ConsumerSecret, KeyManagerConfig, KeyManagers, KeyType,
//!               MappingState, NewApplication, OrganizationId, ProvisionRequest, Provisioner,
//!               UserId};
//!
//! let is = Arc::new(ScriptedKeyManager::new("IS"));
//! is.add_client("client-1", "secret-1");
//! let key_managers = KeyManagers::new()
//!     .with(KeyManagerConfig::new("IS")?.out_of_band(true), is.clone())?;
//! let provisioner = Provisioner::builder()
//!     .store(Arc::new(MemoryStore::new()))
//!     .key_managers(key_managers)
//!     .build()?;
//! let alice = UserId::new("alice")?;
//! let app = provisioner
//!     .create_application(NewApplication::new("PizzaApp", alice.clone(), OrganizationId::new("acme")?))
//!     .await?;
//! let request = ProvisionRequest::new(app.id, "IS", KeyType::Production, ConsumerKey::new("client-1")?)
//!     .secret(ConsumerSecret::new("secret-1"));
//! let mapping = provisioner.provision(&Actor::User(alice), request).await?.mapping;
//!
//! let reconciler = Reconciler::builder(provisioner.clone())
//!     .interval(Duration::from_secs(15 * 60))
//!     .concurrency(4)
//!     .build()?;
//! is.remove_client("client-1"); // deleted in the key manager's console
//! let summary = reconciler.run_pass().await?;
//! assert_eq!(summary.end, PassEnd::Completed);
//! assert_eq!(summary.counts().orphaned, 1);
//! let now = provisioner.store().mapping(mapping.id).await?.expect("still stored");
//! assert_eq!(now.state, MappingState::Orphaned);
//!
//! // In a service: passes every 15 minutes (plus jitter) until stopped.
//! let running = reconciler.spawn();
//! running.stop().await;
//! # Ok(()) }
//! ```

mod backoff;
mod pass;
mod summary;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use backoff::Backoff;
pub use summary::{BackoffStatus, KeyManagerPass, PassCounts, PassEnd, PassSummary};

use backoff::{Backoffs, random_up_to};

use crate::error::{Error, Result};
use crate::model::{Actor, KeyManagerId};
use crate::provisioner::Provisioner;
use crate::store::PassLock;

/// The service name the reconciler acts as unless told otherwise.
pub const DEFAULT_SERVICE: &str = "reconciler";

/// Builds a [`Reconciler`].
#[derive(Debug)]
pub struct ReconcilerBuilder {
    provisioner: Provisioner,
    interval: Duration,
    jitter: Option<Duration>,
    concurrency: usize,
    per_key_manager: HashMap<KeyManagerId, usize>,
    backoff: Backoff,
    service: String,
    lock: Option<Arc<dyn PassLock>>,
}

impl ReconcilerBuilder {
    /// The time between passes (default 15 minutes).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The most added at random to each wait, the first included (default a tenth of the
    /// interval).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// The most re-checks in flight at one key manager (default 4).
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit;
        self
    }

    /// The most re-checks in flight at key manager `id`, instead of
    /// [`concurrency`](Self::concurrency).
    pub fn key_manager_concurrency(mut self, id: KeyManagerId, limit: usize) -> Self {
        self.per_key_manager.insert(id, limit);
        self
    }

    /// How long a failing key manager is left alone (default [`Backoff::default`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The service name the reconciler acts as (default [`DEFAULT_SERVICE`]).
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = name.into();
        self
    }

    /// The lock each pass holds (default: the store's,
    /// [`Store::pass_lock`](crate::store::Store::pass_lock)).
    pub fn lock(mut self, lock: Arc<dyn PassLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    /// The reconciler.
    ///
    /// # Errors
    /// [`Error::Config`] for a zero interval or concurrency limit, a backoff whose maximum is
    /// below its start or zero, and [`Error::InvalidInput`] for a blank, too long or
    /// control-character service name.
    pub fn build(self) -> Result<Reconciler> {
        if self.interval.is_zero() {
            return Err(Error::config("reconciler.interval", "must be above zero"));
        }
        if self.concurrency == 0 || self.per_key_manager.values().any(|n| *n == 0) {
            return Err(Error::config(
                "reconciler.concurrency",
                "must be at least 1",
            ));
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return Err(Error::config(
                "reconciler.backoff",
                "the first wait must be above zero and at most the longest",
            ));
        }
        let actor = Actor::service(self.service.as_str())?;
        let lock = self
            .lock
            .unwrap_or_else(|| self.provisioner.store().pass_lock());
        let (published, _) = watch::channel(None);
        Ok(Reconciler {
            inner: Arc::new(Inner {
                actor,
                service: self.service,
                jitter: self.jitter.unwrap_or(self.interval / 10),
                interval: self.interval,
                provisioner: self.provisioner,
                concurrency: self.concurrency,
                per_key_manager: self.per_key_manager,
                backoff: self.backoff,
                lock,
                backoffs: Mutex::default(),
                passes: AtomicU64::new(0),
                published,
            }),
        })
    }
}

/// Re-checks every mapping against its key manager, on demand ([`Reconciler::run_pass`]) or on
/// a schedule ([`Reconciler::spawn`]). Cheap to clone; clones share the backoff state and the
/// published summaries. See the [module docs](self) for an example.
#[derive(Clone, Debug)]
pub struct Reconciler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provisioner: Provisioner,
    interval: Duration,
    jitter: Duration,
    concurrency: usize,
    per_key_manager: HashMap<KeyManagerId, usize>,
    backoff: Backoff,
    service: String,
    actor: Actor,
    lock: Arc<dyn PassLock>,
    backoffs: Mutex<Backoffs>,
    passes: AtomicU64,
    published: watch::Sender<Option<PassSummary>>,
}

impl Inner {
    fn backoffs(&self) -> MutexGuard<'_, Backoffs> {
        // Every update is a single map operation: a panic cannot leave it half done.
        self.backoffs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn limit(&self, km: &KeyManagerId) -> usize {
        self.per_key_manager
            .get(km)
            .copied()
            .unwrap_or(self.concurrency)
    }
}

impl Reconciler {
    /// A builder over `provisioner`'s store and key managers.
    pub fn builder(provisioner: Provisioner) -> ReconcilerBuilder {
        ReconcilerBuilder {
            provisioner,
            interval: Duration::from_secs(15 * 60),
            jitter: None,
            concurrency: 4,
            per_key_manager: HashMap::new(),
            backoff: Backoff::default(),
            service: DEFAULT_SERVICE.to_owned(),
            lock: None,
        }
    }

    /// The identity it acts as.
    pub fn actor(&self) -> &Actor {
        &self.inner.actor
    }

    /// The last pass's summary, if any pass ran.
    pub fn last_summary(&self) -> Option<PassSummary> {
        self.inner.published.borrow().clone()
    }

    /// Each pass's summary as it ends (the last one first, if any).
    pub fn subscribe(&self) -> watch::Receiver<Option<PassSummary>> {
        self.inner.published.subscribe()
    }

    /// The key managers backing off now, and until when.
    pub fn backoffs(&self) -> BTreeMap<KeyManagerId, BackoffStatus> {
        let now = Instant::now();
        let backoffs = self.inner.backoffs();
        self.inner
            .provisioner
            .key_managers()
            .iter()
            .filter(|km| backoffs.blocked(&km.config.id, now))
            .filter_map(|km| Some((km.config.id.clone(), backoffs.status(&km.config.id)?)))
            .collect()
    }

    /// Runs one pass now: takes the pass lock (or returns at once with
    /// [`PassEnd::LockHeldElsewhere`]), re-checks every mapping, logs and publishes the
    /// summary. A failed re-check leaves its mapping as it was and is counted.
    ///
    /// # Errors
    /// `Storage` when the lock cannot be asked for or the mappings cannot be listed (then
    /// nothing was re-checked).
    pub async fn run_pass(&self) -> Result<PassSummary> {
        pass::run(&self.inner, None).await
    }

    /// Runs passes in the background of the current tokio runtime, the first after a random
    /// part of the jitter, then every interval plus jitter, until the handle is stopped or
    /// dropped. A pass that fails to start is logged and tried again at the next turn.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(&self) -> ReconcilerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let reconciler = self.clone();
        let task = tokio::spawn(async move {
            let mut wait = random_up_to(reconciler.inner.jitter);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => return,
                }
                if *stopped.borrow() {
                    return;
                }
                if let Err(error) = pass::run(&reconciler.inner, Some(stopped.clone())).await {
                    tracing::warn!(
                        service = %reconciler.inner.service,
                        code = error.code(),
                        %error,
                        "reconciler pass could not start"
                    );
                }
                wait = reconciler.inner.interval + random_up_to(reconciler.inner.jitter);
            }
        });
        ReconcilerHandle { stop, task }
    }
}

/// Runs the passes that [`Reconciler::spawn`] started. Dropping it stops them too (after the
/// re-checks in flight), without waiting.
#[derive(Debug)]
pub struct ReconcilerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ReconcilerHandle {
    /// Stops: no re-check starts any more, the ones in flight finish (the pass ends as
    /// [`PassEnd::Stopped`]), and this returns once the task has ended.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        let task = &mut self.task;
        // The task ends by itself; an error here is a panic inside it, already reported.
        let _ = task.await;
    }

    /// Whether the task has ended (it ends only when stopped, or on a panic).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for ReconcilerHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
