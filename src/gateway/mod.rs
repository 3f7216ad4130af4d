//! The gateway side: from a bearer token, the API being called and the endpoint's key type,
//! to an [`Authorized`] context or a typed [`Denial`]. The steps, their denials and the cache
//! rules are described in the [gateway guide](crate::guide::gateway); the measured costs in
//! the [performance guide](crate::guide::performance).
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> keyprov::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use keyprov::gateway::Gateway;
//! use keyprov::store::MemoryStore;
//! use keyprov::testkit::ScriptedKeyManager;
//! use keyprov::{Actor, Api, ApiId, KeyManagerConfig, KeyManagers, KeyType, NewApplication,
//!               OrganizationId, Provisioner, UserId};
//!
//! let km = KeyManagerConfig::new("IS")?.out_of_band(true).issuer("https://is.example/oauth2/token");
//! let key_managers = KeyManagers::new().with(km, Arc::new(ScriptedKeyManager::new("IS")))?;
//! let provisioner = Provisioner::builder()
//!     .store(Arc::new(MemoryStore::new()))
//!     .key_managers(key_managers.clone())
//!     .build()?;
//! let gateway = Gateway::builder().key_managers(key_managers).build()?;
//! // Load the view from the provisioner's store and apply its changes as they happen.
//! let _following = gateway.follow(&provisioner).await?;
//!
//! let org = OrganizationId::new("carbon.super")?;
//! let api = provisioner
//!     .put_api(Api::new(ApiId::new("pizzashack-1.0.0")?, "PizzaShack", "1.0.0", "/pizzashack/1.0.0", org))
//!     .await?;
//! // Read your own write: wait until the gateway has applied it.
//! gateway.wait_for(api.revision, Duration::from_secs(1)).await?;
//! match gateway.resolve("not-a-token", &api.id, KeyType::Production).await {
//!     Ok(ctx) => println!("application {} may call", ctx.application),
//!     Err(denial) => println!("{} {}: {denial}", denial.status(), denial.code()),
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::events::{Change, ChangeSource, Event, Revision};
use crate::key_manager::{KeyManager, KeyManagers};
use crate::model::{
    ApplicationId, ConsumerKey, KeyManagerId, KeyType, MappingId, SubscriptionState,
};
use crate::store::Store;

mod cache;
mod checks;
mod claims;
mod explain;
mod header;
mod json;
mod jwks;
mod reach;
mod refusal;
mod remote;
mod resolver;
mod token;
mod view;

// Not public API: the private parsers, for the fuzz targets in `fuzz/` only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz;

pub use explain::{ExplainedStep, Explanation};
pub use refusal::{Denial, Malformed};
pub use token::Algorithm;

use cache::{TokenCache, TokenHasher};
use claims::ClaimNames;
use jwks::{KeyCache, KeySet};
use view::View;

/// How the gateway validates tokens. Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewaySettings {
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 30 s.
    pub leeway: Duration,
    /// Refuse tokens without `exp`. Default `true`; `false` for parity with WSO2.
    pub require_exp: bool,
    /// Longest token accepted, in bytes. Default 16 KiB.
    pub max_token_len: usize,
    /// Verified tokens kept (bounded). Default 100,000; 0 disables the cache.
    pub cache_capacity: usize,
    /// Positive introspection answers kept (bounded). Default 10,000.
    pub introspection_cache_capacity: usize,
    /// Longest time a token without `exp` stays cached. Default 5 minutes.
    pub max_cache_ttl: Duration,
    /// Least time between two fetches of a key manager's keys, whatever triggers them (unknown
    /// `kid`, periodic refresh, failed attempt). Default 10 s.
    pub jwks_min_refresh_interval: Duration,
    /// Age after which [`Gateway::refresh_keys`] refetches a key set. Default 15 minutes.
    pub jwks_refresh_interval: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(30),
            require_exp: true,
            max_token_len: 16 * 1024,
            cache_capacity: 100_000,
            introspection_cache_capacity: 10_000,
            max_cache_ttl: Duration::from_secs(300),
            jwks_min_refresh_interval: Duration::from_secs(10),
            jwks_refresh_interval: Duration::from_secs(15 * 60),
        }
    }
}

impl GatewaySettings {
    /// Accepts tokens without `exp` (WSO2 parity) or not.
    pub fn require_exp(mut self, yes: bool) -> Self {
        self.require_exp = yes;
        self
    }

    /// Sets the leeway.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Sets the verified-token cache capacity (0 disables it).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Sets the least time between two key-set fetches of one key manager.
    pub fn jwks_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.jwks_min_refresh_interval = interval;
        self
    }

    /// Sets the age after which a key set is refetched by [`Gateway::refresh_keys`].
    pub fn jwks_refresh_interval(mut self, interval: Duration) -> Self {
        self.jwks_refresh_interval = interval;
        self
    }
}

/// A call the gateway allows: who calls, with which keys, under which subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorized {
    /// The application.
    pub application: ApplicationId,
    /// The mapping that made the client id that application's.
    pub mapping: MappingId,
    /// The key type, from the mapping (never from the token).
    pub key_type: KeyType,
    /// The subscription's state (allows this key type).
    pub subscription: SubscriptionState,
    /// The key manager that issued the token.
    pub key_manager: KeyManagerId,
    /// The client id.
    pub consumer_key: ConsumerKey,
    /// Scopes from the key manager's scopes claim, for resource-level checks.
    pub scopes: Scopes,
    /// `exp`, seconds since the epoch, when the token has one.
    pub expires_at: Option<i64>,
}

/// The scopes a token grants (a space-separated string or a list in the token), shared
/// cheaply between the cache and every resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Arc<str>);

impl Scopes {
    /// From scope names (names never contain spaces, RFC 6749 §3.3; any that do are split).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut joined = String::new();
        for name in names.into_iter().flat_map(str::split_ascii_whitespace) {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(name);
        }
        Scopes(joined.into())
    }

    /// From a space-separated string: copied as is when already in the joined form (one space
    /// between names, none at either end, no other whitespace), the usual case; otherwise
    /// normalized as [`Scopes::new`] does.
    pub(crate) fn from_joined(text: &str) -> Self {
        // One pass: no whitespace but single spaces between names.
        let mut previous = b' ';
        let mut joined = true;
        for &b in text.as_bytes() {
            joined &= !(b == b' ' && previous == b' ') && (b == b' ' || !b.is_ascii_whitespace());
            previous = b;
        }
        let joined = joined && previous != b' ';
        if joined {
            Scopes(text.into())
        } else {
            Scopes::new([text])
        }
    }

    /// Each scope, in token order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether the token grants `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|s| s == scope)
    }

    /// How many scopes.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes as one space-separated string (the OAuth2 `scope` format).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A lock-protected shard alone on its cache line: a reader takes the lock with an atomic
/// write, which must neither evict nor wait for a neighbouring shard's lock on another core.
#[repr(align(64))]
#[derive(Debug, Default)]
pub(crate) struct Shard<T>(std::sync::RwLock<T>);

impl<T> std::ops::Deref for Shard<T> {
    type Target = std::sync::RwLock<T>;
    fn deref(&self) -> &std::sync::RwLock<T> {
        &self.0
    }
}

/// One configured key manager as the gateway uses it.
#[derive(Debug)]
struct KmState {
    config: crate::config::KeyManagerConfig,
    client: Arc<dyn KeyManager>,
    keys: KeyCache,
    /// Positions in [`ClaimNames`] of the consumer-key claims to try, in order, and their names.
    consumer_key_claims: Vec<(usize, String)>,
    scopes_claim: usize,
    /// Copies of `config.id`, one per thread (round robin): every resolution hands the id
    /// out, and threads counting references on one shared counter would contend for it.
    ids: [KeyManagerId; ID_COPIES],
}

const ID_COPIES: usize = 8;

impl KmState {
    /// This thread's copy of the key manager's id (a reference count, no allocation).
    fn handed_out_id(&self) -> KeyManagerId {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static PICK: usize = NEXT.fetch_add(1, Ordering::Relaxed) % ID_COPIES;
        }
        self.ids[PICK.with(|p| *p)].clone()
    }
}

#[derive(Debug)]
struct Inner {
    settings: GatewaySettings,
    kms: Vec<KmState>,
    /// Issuer → its id (position in `issuer_slots`).
    issuers: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    /// Per issuer id, the key manager slots with that issuer, global ones first.
    issuer_slots: Vec<Vec<u32>>,
    names: ClaimNames,
    view: View,
    /// The revision of the last change applied (or of the last snapshot loaded).
    applied: tokio::sync::watch::Sender<Revision>,
    /// Whether a view was ever loaded or a change applied: an unknown API means a wiring
    /// mistake until then.
    has_view: std::sync::atomic::AtomicBool,
    hasher: TokenHasher,
    jwt_cache: TokenCache,
    opaque_cache: TokenCache,
    headers: header::HeaderCache,
}

/// The resolver. Cheap to clone (shared state); use one per process.
///
/// Build it on the key managers whose tokens it accepts, [follow](Gateway::follow) a provisioner
/// or a store, then [resolve](Gateway::resolve) each request's bearer token for the API and the
/// endpoint's key type.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> keyprov::Result<()> {
/// use std::sync::Arc;
/// use keyprov::gateway::{Denial, Gateway, Malformed};
/// use keyprov::store::{MemoryStore, Store};
/// use keyprov::testkit::ScriptedKeyManager;
/// use keyprov::{ApiId, KeyManagerConfig, KeyManagers, KeyType};
///
/// let km = KeyManagerConfig::new("IS")?.issuer("https://is.example/oauth2/token");
/// let gateway = Gateway::builder()
///     .key_managers(KeyManagers::new().with(km, Arc::new(ScriptedKeyManager::new("IS")))?)
///     .build()?;
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let _following = gateway.follow(&store).await?;
///
/// let denial = gateway
///     .resolve("not.a.jwt", &ApiId::new("pizzashack")?, KeyType::Production)
///     .await
///     .unwrap_err();
/// assert_eq!(denial.status(), 401);
/// println!("{}: {denial}", denial.code());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
}

/// Builds a [`Gateway`].
#[derive(Debug, Default)]
pub struct GatewayBuilder {
    key_managers: KeyManagers,
    settings: GatewaySettings,
}

impl GatewayBuilder {
    /// The key managers whose tokens the gateway may accept.
    pub fn key_managers(mut self, key_managers: KeyManagers) -> Self {
        self.key_managers = key_managers;
        self
    }

    /// The validation settings.
    pub fn settings(mut self, settings: GatewaySettings) -> Self {
        self.settings = settings;
        self
    }

    /// Builds the gateway with an empty view (see [`Gateway::follow`]).
    ///
    /// # Errors
    /// [`Error::Config`] when a key manager's settings are invalid, when an enabled key
    /// manager has no issuer (neither configured nor known to its adapter: its tokens could
    /// never be matched), when a configured PEM key cannot be used, or when two key managers of
    /// the same scope share an issuer or an opaque token prefix, or when there are 65,535 key
    /// managers or more.
    pub fn build(self) -> Result<Gateway> {
        let mut kms = Vec::new();
        let mut issuers = HashMap::<Box<str>, u32, _>::default();
        let mut issuer_slots: Vec<Vec<u32>> = Vec::new();
        let mut extra_claims = Vec::new();
        for registered in self.key_managers.iter() {
            let config = registered.config.clone();
            config.validate()?;
            if config.enabled && config.issuer.is_none() {
                return Err(Error::config(
                    format!("key_managers.{}.issuer", config.id),
                    "the gateway matches tokens to key managers by issuer, and this key manager \
                     has none: set `issuer` to the `iss` of its tokens \
                     (KeyManagerConfig::issuer, or `issuer = \"...\"` in the file)",
                ));
            }
            if let Some(claim) = &config.consumer_key_claim {
                extra_claims.push(claim.clone());
            }
            extra_claims.push(config.scopes_claim.clone());
            let fixed = match &config.jwks {
                crate::config::JwksSource::KeyManager => None,
                crate::config::JwksSource::Pem { keys } => {
                    Some(KeySet::from_pem(keys).map_err(|problem| {
                        Error::config(format!("key_managers.{}.jwks", config.id), problem)
                    })?)
                }
            };
            kms.push((config, registered.client.clone(), fixed));
        }
        if kms.len() >= usize::from(u16::MAX) {
            return Err(Error::config(
                "key_managers",
                format!("a gateway takes fewer than {} key managers", u16::MAX),
            ));
        }
        let names = ClaimNames::new(extra_claims.iter().map(String::as_str));
        let mut states = Vec::with_capacity(kms.len());
        for (slot, (config, client, fixed)) in kms.into_iter().enumerate() {
            let slot = slot as u32;
            if let Some(issuer) = &config.issuer {
                let next = issuer_slots.len() as u32;
                let id = *issuers.entry(issuer.as_str().into()).or_insert(next);
                if id == next {
                    issuer_slots.push(Vec::new());
                }
                issuer_slots[id as usize].push(slot);
            }
            let consumer_key_claims = match &config.consumer_key_claim {
                Some(claim) => vec![claim.clone()],
                None => claims::DEFAULT_CONSUMER_KEY_CLAIMS
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect(),
            }
            .into_iter()
            .map(|name| (names.position(&name).unwrap_or(usize::MAX), name))
            .collect();
            let scopes_claim = names.position(&config.scopes_claim).unwrap_or(usize::MAX);
            states.push(KmState {
                client,
                keys: KeyCache::fetched(fixed),
                consumer_key_claims,
                scopes_claim,
                ids: std::array::from_fn(|_| config.id.deep_copy()),
                config,
            });
        }
        for slots in &mut issuer_slots {
            slots.sort_by_key(|s| states[*s as usize].config.organization.is_some());
            for pair in slots.windows(2) {
                let (a, b) = (
                    &states[pair[0] as usize].config,
                    &states[pair[1] as usize].config,
                );
                if a.organization == b.organization {
                    return Err(Error::config(
                        format!("key_managers.{}.issuer", b.id),
                        format!(
                            "the issuer is also the one of key manager {} in the same scope",
                            a.id
                        ),
                    ));
                }
            }
        }
        // A prefix must select exactly one key manager for any API.
        for (i, a) in states.iter().enumerate() {
            for b in &states[i + 1..] {
                let (a, b) = (&a.config, &b.config);
                let overlap = a.organization.is_none()
                    || b.organization.is_none()
                    || a.organization == b.organization;
                if overlap
                    && a.opaque_token_prefix.is_some()
                    && a.opaque_token_prefix == b.opaque_token_prefix
                {
                    return Err(Error::config(
                        format!("key_managers.{}.opaque_token_prefix", b.id),
                        format!(
                            "the prefix is also the one of key manager {}, which serves the same \
                             APIs: a prefix must select one key manager",
                            a.id
                        ),
                    ));
                }
            }
        }
        let km_slots = states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.config.id.clone(), i as u32))
            .collect();
        let introspecting = states
            .iter()
            .map(|s| s.config.introspect_opaque_tokens)
            .collect();
        Ok(Gateway {
            inner: Arc::new(Inner {
                jwt_cache: TokenCache::new(self.settings.cache_capacity),
                opaque_cache: TokenCache::new(self.settings.introspection_cache_capacity),
                headers: Default::default(),
                settings: self.settings,
                kms: states,
                issuers,
                issuer_slots,
                names,
                view: View::new(km_slots, introspecting),
                applied: tokio::sync::watch::Sender::new(Revision::ZERO),
                has_view: std::sync::atomic::AtomicBool::new(false),
                hasher: TokenHasher::new(),
            }),
        })
    }
}

impl Gateway {
    /// A builder.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    /// The settings in force.
    pub fn settings(&self) -> &GatewaySettings {
        &self.inner.settings
    }

    /// Applies one change to the view and records its revision. Removing or suspending a
    /// mapping and blocking or removing a subscription take effect on the next call, cached
    /// tokens included. [`Gateway::follow`] calls this for every change of a store; call it
    /// yourself only to feed the gateway from another transport.
    pub fn apply(&self, change: &Change) {
        self.inner.view.apply(&change.event);
        self.advance(change.revision);
    }

    fn advance(&self, revision: Revision) {
        self.inner.has_view.store(true, Ordering::Release);
        self.inner.applied.send_if_modified(|applied| {
            let newer = revision > *applied;
            if newer {
                *applied = revision;
            }
            newer
        });
    }

    /// The revision of the last change the view reflects.
    pub fn applied_revision(&self) -> Revision {
        *self.inner.applied.borrow()
    }

    /// Waits until the view reflects `revision` (a value a write returned), for at most
    /// `timeout`: after it, the gateway answers as the store was at that revision or later.
    ///
    /// # Errors
    /// [`Error::NotCaughtUp`] (retryable) when the time ran out first: the gateway follows
    /// nothing, follows another store, or is behind.
    pub async fn wait_for(&self, revision: Revision, timeout: Duration) -> Result<()> {
        let mut applied = self.inner.applied.subscribe();
        let reached = tokio::time::timeout(timeout, applied.wait_for(|r| *r >= revision)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::NotCaughtUp {
                wanted: revision,
                applied: self.applied_revision(),
            }),
        }
    }

    /// Replaces the view with a snapshot of `store`.
    ///
    /// # Errors
    /// The store's `Storage` error; the view is then left as it was.
    pub async fn load(&self, store: &dyn Store) -> Result<()> {
        let snapshot = store.snapshot().await?;
        self.inner
            .view
            .load(&snapshot.apis, &snapshot.mappings, &snapshot.subscriptions);
        tracing::debug!(
            apis = snapshot.apis.len(),
            mappings = snapshot.mappings.len(),
            subscriptions = snapshot.subscriptions.len(),
            revision = %snapshot.revision,
            "gateway view loaded"
        );
        self.advance(snapshot.revision);
        Ok(())
    }

    /// Follows a store's changes: subscribes to them, loads the view, then applies each change
    /// as it arrives, in a task. It reloads the view when it falls behind or the store's change
    /// feed asks for it, and ends when the store is dropped or [`Following::stop`] is called.
    /// `source` is a [`Provisioner`](crate::Provisioner) or a store.
    ///
    /// Subscribing before loading means no change between the two is missed. Wait for a
    /// write's revision with [`Gateway::wait_for`].
    ///
    /// # Errors
    /// [`Error::Config`] when the store has no change stream; the first load's `Storage` error.
    pub async fn follow(&self, source: &impl ChangeSource) -> Result<Following> {
        let store = source.change_store();
        let mut changes = store.changes()?;
        self.load(store.as_ref()).await?;
        let store = Arc::downgrade(&store);
        let gateway = self.clone();
        let task = tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let reason = match changes.recv().await {
                    Ok(Change {
                        event: Event::Resync,
                        ..
                    }) => "the change feed asked for a resync",
                    // Already in the view (a snapshot was loaded after it was published).
                    Ok(change) if change.revision <= gateway.applied_revision() => continue,
                    Ok(change) => {
                        gateway.apply(&change);
                        continue;
                    }
                    Err(RecvError::Lagged(_)) => "the gateway fell behind the changes",
                    Err(RecvError::Closed) => break,
                };
                tracing::warn!(reason, "reloading the gateway view from storage");
                loop {
                    let Some(store) = store.upgrade() else { return };
                    match gateway.load(store.as_ref()).await {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "gateway reload failed; retrying");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            }
        });
        Ok(Following { task })
    }

    /// Refetches every key set older than [`GatewaySettings::jwks_refresh_interval`] (within
    /// the rate limit). A failed fetch keeps the keys already held.
    pub async fn refresh_keys(&self) {
        for slot in 0..self.inner.kms.len() {
            let km = &self.inner.kms[slot];
            if km.config.enabled && km.keys.is_stale(self.inner.settings.jwks_refresh_interval) {
                self.inner.fetch_keys(slot as u32).await;
            }
        }
    }

    /// Spawns a task that calls [`Gateway::refresh_keys`] every `every`.
    pub fn spawn_key_refresh(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let gateway = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                gateway.refresh_keys().await;
            }
        })
    }

    /// How many mappings the view holds.
    pub fn mapping_count(&self) -> usize {
        self.inner.view.mapping_count()
    }

    /// Empties the verified-token and introspection caches (for tests and benchmarks; never
    /// needed for correctness).
    pub fn clear_caches(&self) {
        self.inner.jwt_cache.clear();
        self.inner.opaque_cache.clear();
    }
}

impl Inner {
    /// The denial for an API the view does not hold: [`Denial::NotFollowing`] while there is
    /// no view at all.
    fn unknown_api(&self, api: &crate::model::ApiId) -> Denial {
        if self.has_view.load(Ordering::Acquire) {
            Denial::UnknownApi { api: api.clone() }
        } else {
            Denial::NotFollowing
        }
    }
}

/// A gateway following a store (see [`Gateway::follow`]). The task goes on when this is
/// dropped; it ends with the store, or with [`Following::stop`].
#[derive(Debug)]
pub struct Following {
    task: tokio::task::JoinHandle<()>,
}

impl Following {
    /// Stops following: the view keeps what it has and no longer changes.
    pub fn stop(self) {
        self.task.abort();
    }

    /// Whether the task still runs.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

/// Whole seconds since the epoch, read once per resolution.
///
/// On Linux this is the kernel's coarse wall clock: the time at the last scheduler tick, 1 to
/// 10 ms behind, read in about 5 ns. The precise clock took 35–45 ns on the test machines'
/// VMs, a seventh of a cache hit. Token times are whole seconds, so a token expires or becomes
/// valid at most one tick late.
#[cfg(target_os = "linux")]
fn unix_now() -> i64 {
    rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse).tv_sec
}

/// Whole seconds since the epoch, read once per resolution.
#[cfg(not(target_os = "linux"))]
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod clock_tests {
    /// The resolution's clock is the wall clock (not a monotonic one, which counts from boot),
    /// to within its coarse resolution.
    #[test]
    fn unix_now_is_the_wall_clock() {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let ours = super::unix_now();
        assert!((ours - wall).abs() <= 1, "ours {ours}, wall {wall}");
    }
}
