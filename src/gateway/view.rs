//! The gateway's in-memory view of APIs, mappings and subscriptions, loaded from a
//! [`Store`](crate::store::Store) and kept current by [`Event`]s.
//!
//! Mappings and subscriptions live in sharded hash tables behind read-write locks (reads never
//! contend with each other on the same cache line unless they hit the same shard); APIs, which
//! change rarely, are copied on write behind an `ArcSwap`.
//!
//! With a million mappings the tables are far larger than the CPU caches, so every pointer a
//! lookup follows is a likely cache miss: client ids are kept inside the entry when short, and
//! subscriptions name their API by a small interned number rather than a string.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;
use hashbrown::HashTable;

use super::Shard;
use super::reach::Reach;
use crate::events::Event;
use crate::model::{
    AllowedKeyManagers, Api, ApplicationId, KeyManagerId, KeyMapping, KeyType, MappingId,
    MappingState, OrganizationId, Subscription, SubscriptionState,
};

const SHARDS: usize = 64;

/// Change stamps: a power of two. 128 KiB of counters, small enough to stay in a core's
/// second-level cache; two unrelated changes share a counter with probability 1/16,384.
const STAMPS: usize = 16_384;

type Hasher = foldhash::fast::RandomState;

/// What the view knows about an API.
#[derive(Debug)]
pub(crate) struct ApiEntry {
    /// The API's interned number, which subscriptions are keyed by.
    pub index: u32,
    pub organization: OrganizationId,
    /// Key manager slots allowed; `None`: all.
    pub allowed: Option<Vec<u32>>,
    pub audience: Option<String>,
}

/// What the view knows about a mapping.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MappingFacts {
    pub id: MappingId,
    pub application: ApplicationId,
    pub key_type: KeyType,
    pub state: MappingState,
}

/// Client ids up to this many bytes (most: UUIDs are 36) are stored inside the entry.
const INLINE_KEY: usize = 38;

/// A string key kept inline when short (no pointer to chase on a lookup), boxed otherwise.
#[derive(Debug)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Boxed(Box<str>),
}

impl Key {
    fn new(value: &str) -> Self {
        match value.len() {
            len @ 0..=INLINE_KEY => {
                let mut bytes = [0; INLINE_KEY];
                bytes[..len].copy_from_slice(value.as_bytes());
                Key::Inline {
                    len: len as u8,
                    bytes,
                }
            }
            _ => Key::Boxed(value.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // The bytes were copied whole from a `&str`.
            Key::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("an inline key holds a whole UTF-8 string"),
            Key::Boxed(b) => b,
        }
    }

    fn is(&self, value: &str) -> bool {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)] == value.as_bytes(),
            Key::Boxed(b) => **b == *value,
        }
    }
}

/// No stored hash: it is recomputed when a table grows, which keeps the entry small.
#[derive(Debug)]
struct MappingEntry {
    km: u32,
    consumer_key: Key,
    facts: MappingFacts,
}

#[derive(Debug)]
struct SubscriptionEntry {
    application: ApplicationId,
    api: u32,
    state: SubscriptionState,
}

pub(crate) type ApiMap = HashMap<Box<str>, Arc<ApiEntry>, Hasher>;

/// The view. Key managers are addressed by their slot in the gateway's registry; mappings of a
/// key manager the gateway does not know are not kept (no token can reach them).
#[derive(Debug)]
pub(crate) struct View {
    hasher: Hasher,
    /// Bumped by every full load: every memoized decision is then stale.
    generation: AtomicU64,
    /// Change counters, each bumped after a change to what it covers: one per application
    /// (its mappings and subscriptions) and one per API, by hash. A memoized decision records
    /// the sum of the counters it depends on; the counters only grow, so the sum changes
    /// exactly when one of them did, and an unrelated change leaves the decision valid.
    stamps: Box<[AtomicU64]>,
    km_slots: HashMap<KeyManagerId, u32>,
    /// API id to its interned number; only grows (APIs are few), written by changes only.
    api_numbers: Mutex<HashMap<Box<str>, u32>>,
    apis: ArcSwap<ApiMap>,
    mappings: Box<[Shard<HashTable<MappingEntry>>]>,
    subscriptions: Box<[Shard<HashTable<SubscriptionEntry>>]>,
    /// Which key managers may be asked about an opaque token for an API.
    reach: Reach,
}

fn shard_of(hash: u64) -> usize {
    (hash >> 58) as usize % SHARDS
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl View {
    /// A view of the key managers in `km_slots`; `introspecting` tells, per slot, which
    /// opted in to introspection.
    pub(crate) fn new(km_slots: HashMap<KeyManagerId, u32>, introspecting: Vec<bool>) -> Self {
        Self {
            reach: Reach::new(introspecting),
            hasher: Hasher::default(),
            generation: AtomicU64::new(0),
            stamps: (0..STAMPS).map(|_| AtomicU64::new(0)).collect(),
            km_slots,
            api_numbers: Mutex::default(),
            apis: ArcSwap::from_pointee(ApiMap::default()),
            mappings: (0..SHARDS).map(|_| Shard::default()).collect(),
            subscriptions: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    fn mapping_hash(&self, km: u32, consumer_key: &str) -> u64 {
        self.hasher.hash_one((km, consumer_key))
    }

    /// The change counter covering an application's mappings and subscriptions.
    pub(crate) fn application_stamp(&self, application: ApplicationId) -> u32 {
        (self.hasher.hash_one(application) >> 50) as u32 & (STAMPS as u32 - 1)
    }

    /// The change counter covering an API (by its interned number).
    pub(crate) fn api_stamp(api: u32) -> u32 {
        // Fibonacci hashing spreads the small consecutive numbers over the table.
        (api.wrapping_mul(0x9e37_79b9) >> 18) & (STAMPS as u32 - 1)
    }

    /// The sum of the load generation and two change counters. A decision computed after
    /// reading it is still right while it is unchanged: changes are applied before their
    /// counter is bumped (release) and these reads acquire.
    pub(crate) fn stamp(&self, application: u32, api: u32) -> u64 {
        let at = |i: u32| self.stamps[i as usize].load(Ordering::Acquire);
        self.generation
            .load(Ordering::Acquire)
            .wrapping_add(at(application))
            .wrapping_add(at(api))
    }

    fn bump(&self, stamp: u32) {
        self.stamps[stamp as usize].fetch_add(1, Ordering::Release);
    }

    fn bump_application(&self, application: ApplicationId) {
        self.bump(self.application_stamp(application));
    }

    /// The interned number of an API id, assigned on first sight.
    fn api_number(&self, api: &str) -> u32 {
        let mut numbers = self.api_numbers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = numbers.get(api) {
            return *n;
        }
        let n = u32::try_from(numbers.len()).expect("fewer than 2^32 APIs");
        numbers.insert(api.into(), n);
        n
    }

    /// The interned number of an API id, if it was ever seen.
    fn known_api_number(&self, api: &str) -> Option<u32> {
        let numbers = self.api_numbers.lock().unwrap_or_else(|p| p.into_inner());
        numbers.get(api).copied()
    }

    fn rehash_mapping(&self, e: &MappingEntry) -> u64 {
        self.mapping_hash(e.km, e.consumer_key.as_str())
    }

    fn rehash_subscription(&self, e: &SubscriptionEntry) -> u64 {
        self.subscription_hash(e.application, e.api)
    }

    fn subscription_hash(&self, application: ApplicationId, api: u32) -> u64 {
        // The shard comes from the application alone so that deleting an application touches
        // one shard; the low bits mix in the API.
        let app = self.hasher.hash_one(application);
        let api = self.hasher.hash_one(api);
        (app & !(0x3f << 58)) ^ (api >> 6) | (app & (0x3f << 58))
    }

    /// The APIs, borrowed (no reference counted) while the guard lives.
    pub(crate) fn apis(&self) -> arc_swap::Guard<Arc<ApiMap>> {
        self.apis.load()
    }

    /// Runs `f` on the API's entry without cloning it.
    pub(crate) fn with_api<R>(&self, api: &str, f: impl FnOnce(Option<&ApiEntry>) -> R) -> R {
        let guard = self.apis.load();
        f(guard.get(api).map(|a| &**a))
    }

    pub(crate) fn mapping(&self, km: u32, consumer_key: &str) -> Option<MappingFacts> {
        let hash = self.mapping_hash(km, consumer_key);
        let shard = read(&self.mappings[shard_of(hash)]);
        shard
            .find(hash, |e| e.km == km && e.consumer_key.is(consumer_key))
            .map(|e| e.facts)
    }

    /// The state of `application`'s subscription to the API numbered `api`
    /// ([`ApiEntry::index`]).
    pub(crate) fn subscription(
        &self,
        application: ApplicationId,
        api: u32,
    ) -> Option<SubscriptionState> {
        let hash = self.subscription_hash(application, api);
        let shard = read(&self.subscriptions[shard_of(hash)]);
        shard
            .find(hash, |e| e.application == application && e.api == api)
            .map(|e| e.state)
    }

    /// Whether the key manager in `slot` (one that opted in to introspection) holds a mapping
    /// of an application subscribed to the API numbered `api`.
    pub(crate) fn reaches(&self, slot: u32, api: u32) -> bool {
        self.reach.holds(slot, api)
    }

    /// Which key managers (by id) hold a mapping of this client id; for `explain` only (scans).
    pub(crate) fn mapped_elsewhere(&self, consumer_key: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for shard in self.mappings.iter() {
            for e in read(shard).iter() {
                if e.consumer_key.is(consumer_key) {
                    out.push(e.km);
                }
            }
        }
        out
    }

    pub(crate) fn mapping_count(&self) -> usize {
        self.mappings.iter().map(|s| read(s).len()).sum()
    }

    fn api_entry(&self, api: &Api) -> ApiEntry {
        ApiEntry {
            index: self.api_number(api.id.as_str()),
            organization: api.organization.clone(),
            allowed: match &api.key_managers {
                AllowedKeyManagers::All => None,
                AllowedKeyManagers::Only(ids) => Some(
                    ids.iter()
                        .filter_map(|id| self.km_slots.get(id).copied())
                        .collect(),
                ),
            },
            audience: api.audience.clone(),
        }
    }

    fn put_api(&self, api: &Api) {
        let entry = Arc::new(self.api_entry(api));
        self.apis.rcu(|current| {
            let mut next = ApiMap::clone(current);
            next.insert(api.id.as_str().into(), entry.clone());
            next
        });
        self.bump(Self::api_stamp(entry.index));
    }

    fn upsert_mapping(&self, mapping: &KeyMapping) {
        let Some(&km) = self.km_slots.get(&mapping.key_manager) else {
            return;
        };
        let key = mapping.consumer_key.as_str();
        let hash = self.mapping_hash(km, key);
        let facts = MappingFacts {
            id: mapping.id,
            application: mapping.application,
            key_type: mapping.key_type,
            state: mapping.state,
        };
        let mut shard = write(&self.mappings[shard_of(hash)]);
        let before = match shard.find_mut(hash, |e| e.km == km && e.consumer_key.is(key)) {
            Some(e) => Some(std::mem::replace(&mut e.facts, facts).application),
            None => {
                shard.insert_unique(
                    hash,
                    MappingEntry {
                        km,
                        consumer_key: Key::new(key),
                        facts,
                    },
                    |e| self.rehash_mapping(e),
                );
                None
            }
        };
        drop(shard);
        match before {
            None => self.reach.add_mapping(mapping.application, km),
            Some(before) if before != mapping.application => {
                self.reach.remove_mapping(before, km);
                self.reach.add_mapping(mapping.application, km);
                self.bump_application(before);
            }
            Some(_) => {}
        }
        self.bump_application(mapping.application);
    }

    fn remove_mapping(&self, mapping: &KeyMapping) {
        let Some(&km) = self.km_slots.get(&mapping.key_manager) else {
            return;
        };
        let key = mapping.consumer_key.as_str();
        let hash = self.mapping_hash(km, key);
        let mut shard = write(&self.mappings[shard_of(hash)]);
        if let Ok(entry) = shard.find_entry(hash, |e| {
            e.km == km && e.consumer_key.is(key) && e.facts.id == mapping.id
        }) {
            let (removed, _) = entry.remove();
            drop(shard);
            self.reach.remove_mapping(removed.facts.application, km);
            self.bump_application(removed.facts.application);
        }
    }

    fn put_subscription(&self, s: &Subscription) {
        let api = self.api_number(s.api.as_str());
        let hash = self.subscription_hash(s.application, api);
        let mut shard = write(&self.subscriptions[shard_of(hash)]);
        let added = match shard.find_mut(hash, |e| e.application == s.application && e.api == api) {
            Some(e) => {
                e.state = s.state;
                false
            }
            None => {
                shard.insert_unique(
                    hash,
                    SubscriptionEntry {
                        application: s.application,
                        api,
                        state: s.state,
                    },
                    |e| self.rehash_subscription(e),
                );
                true
            }
        };
        drop(shard);
        if added {
            self.reach.add_subscription(s.application, api);
        }
        self.bump_application(s.application);
    }

    fn remove_subscription(&self, application: ApplicationId, api: &str) {
        let Some(api) = self.known_api_number(api) else {
            return;
        };
        let hash = self.subscription_hash(application, api);
        let mut shard = write(&self.subscriptions[shard_of(hash)]);
        let removed = shard
            .find_entry(hash, |e| e.application == application && e.api == api)
            .map(|entry| entry.remove())
            .is_ok();
        drop(shard);
        if removed {
            self.reach.remove_subscription(application, api);
        }
        self.bump_application(application);
    }

    fn remove_application(&self, application: ApplicationId) {
        let hash = self.subscription_hash(application, 0);
        let mut apis = Vec::new();
        write(&self.subscriptions[shard_of(hash)]).retain(|e| {
            let other = e.application != application;
            if !other {
                apis.push(e.api);
            }
            other
        });
        for api in apis {
            self.reach.remove_subscription(application, api);
        }
        self.bump_application(application);
    }

    /// Applies one change, bumping the change counters of what it touched. Idempotent, so
    /// replaying events already reflected in a load is harmless.
    pub(crate) fn apply(&self, event: &Event) {
        match event {
            // A resync is acted on by whoever can reach the store (`Gateway::follow`).
            Event::ApplicationCreated { .. } | Event::Resync => {}
            Event::ApplicationDeleted { application } => self.remove_application(*application),
            Event::ApiChanged { api } => self.put_api(api),
            Event::MappingCreated { mapping } | Event::MappingStateChanged { mapping, .. } => {
                self.upsert_mapping(mapping)
            }
            Event::MappingRemoved { mapping } => self.remove_mapping(mapping),
            Event::SubscriptionChanged { subscription } => self.put_subscription(subscription),
            Event::SubscriptionRemoved { application, api } => {
                self.remove_subscription(*application, api.as_str())
            }
        }
    }

    /// Replaces everything with a full load.
    pub(crate) fn load(
        &self,
        apis: &[Api],
        mappings: &[KeyMapping],
        subscriptions: &[Subscription],
    ) {
        let mut api_map = ApiMap::default();
        for api in apis {
            api_map.insert(api.id.as_str().into(), Arc::new(self.api_entry(api)));
        }
        self.reach.clear();
        let mut mapping_shards: Vec<HashTable<MappingEntry>> =
            (0..SHARDS).map(|_| HashTable::new()).collect();
        for m in mappings {
            let Some(&km) = self.km_slots.get(&m.key_manager) else {
                continue;
            };
            self.reach.add_mapping(m.application, km);
            let hash = self.mapping_hash(km, m.consumer_key.as_str());
            mapping_shards[shard_of(hash)].insert_unique(
                hash,
                MappingEntry {
                    km,
                    consumer_key: Key::new(m.consumer_key.as_str()),
                    facts: MappingFacts {
                        id: m.id,
                        application: m.application,
                        key_type: m.key_type,
                        state: m.state,
                    },
                },
                |e| self.rehash_mapping(e),
            );
        }
        let mut sub_shards: Vec<HashTable<SubscriptionEntry>> =
            (0..SHARDS).map(|_| HashTable::new()).collect();
        for s in subscriptions {
            let api = self.api_number(s.api.as_str());
            self.reach.add_subscription(s.application, api);
            let hash = self.subscription_hash(s.application, api);
            sub_shards[shard_of(hash)].insert_unique(
                hash,
                SubscriptionEntry {
                    application: s.application,
                    api,
                    state: s.state,
                },
                |e| self.rehash_subscription(e),
            );
        }
        self.apis.store(Arc::new(api_map));
        for (lock, mut table) in self.mappings.iter().zip(mapping_shards) {
            table.shrink_to_fit(|e| self.rehash_mapping(e));
            *write(lock) = table;
        }
        for (lock, table) in self.subscriptions.iter().zip(sub_shards) {
            *write(lock) = table;
        }
        self.generation.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, ClientSnapshot, MappingMode, now};

    fn mapping(key: &str, application: ApplicationId) -> KeyMapping {
        KeyMapping {
            id: MappingId::random(),
            application,
            key_type: KeyType::Production,
            key_manager: "km".parse().unwrap(),
            consumer_key: key.parse().unwrap(),
            mode: MappingMode::Mapped,
            state: MappingState::Active,
            validated: false,
            secret_proven: false,
            snapshot: ClientSnapshot::default(),
            created_at: now(),
            updated_at: now(),
            created_by: Actor::service("ops").unwrap(),
        }
    }

    fn api(id: &str) -> Api {
        Api {
            id: id.parse().unwrap(),
            name: id.into(),
            version: "1".into(),
            context: format!("/{id}"),
            organization: "org".parse().unwrap(),
            key_managers: AllowedKeyManagers::All,
            audience: None,
        }
    }

    fn view() -> View {
        View::new(HashMap::from([("km".parse().unwrap(), 0)]), vec![true])
    }

    /// Keys at, around and far beyond the inline size, many of them so that the tables grow
    /// (their hashes are then recomputed from the keys): each is found, under its own key
    /// manager only, and removed.
    #[test]
    fn keys_inline_and_boxed_survive_growth_and_removal() {
        let v = view();
        let app = ApplicationId::random();
        let keys: Vec<String> = (0..3000)
            .map(|i| {
                let len = [1, INLINE_KEY - 1, INLINE_KEY, INLINE_KEY + 1, 200][i % 5];
                let stem = format!("k{i}-");
                format!("{stem}{}", "x".repeat(len.saturating_sub(stem.len())))
            })
            .collect();
        let mappings: Vec<KeyMapping> = keys.iter().map(|k| mapping(k, app)).collect();
        for m in &mappings {
            v.apply(&Event::MappingCreated { mapping: m.clone() });
        }
        assert_eq!(v.mapping_count(), keys.len());
        for (k, m) in keys.iter().zip(&mappings) {
            assert_eq!(v.mapping(0, k).map(|f| f.id), Some(m.id), "{k}");
            assert!(v.mapping(1, k).is_none());
        }
        assert!(v.mapping(0, &format!("{}y", keys[3])).is_none());
        assert!(v.mapping(0, &keys[2][..INLINE_KEY - 1]).is_none());
        for m in mappings.iter().step_by(2) {
            v.apply(&Event::MappingRemoved { mapping: m.clone() });
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(v.mapping(0, k).is_some(), i % 2 == 1, "{k}");
        }
        assert_eq!(v.mapping_count(), keys.len() / 2);
    }

    /// Subscriptions name their API by number: one arriving before its API, its API arriving
    /// later, a removal for an API never seen, and an application deleted.
    #[test]
    fn subscriptions_by_interned_api_number() {
        let v = view();
        let (a, b) = (ApplicationId::random(), ApplicationId::random());
        let sub = |application, api: &str, state| Event::SubscriptionChanged {
            subscription: Subscription {
                application,
                api: api.parse().unwrap(),
                state,
                created_at: now(),
                updated_at: now(),
            },
        };
        v.apply(&sub(a, "orders", SubscriptionState::Unblocked));
        v.apply(&sub(b, "orders", SubscriptionState::Blocked));
        v.apply(&sub(a, "billing", SubscriptionState::ProdOnlyBlocked));
        for id in ["orders", "billing", "search"] {
            v.apply(&Event::ApiChanged { api: api(id) });
        }
        let number = |id: &str| v.apis().get(id).unwrap().index;
        let (orders, billing, search) = (number("orders"), number("billing"), number("search"));
        assert_ne!(orders, billing);
        assert_ne!(billing, search);
        assert_eq!(
            v.subscription(a, orders),
            Some(SubscriptionState::Unblocked)
        );
        assert_eq!(v.subscription(b, orders), Some(SubscriptionState::Blocked));
        assert_eq!(
            v.subscription(a, billing),
            Some(SubscriptionState::ProdOnlyBlocked)
        );
        assert_eq!(v.subscription(b, billing), None);
        assert_eq!(v.subscription(a, search), None);
        v.apply(&Event::SubscriptionRemoved {
            application: a,
            api: "never-seen".parse().unwrap(),
        });
        v.apply(&Event::SubscriptionRemoved {
            application: a,
            api: "orders".parse().unwrap(),
        });
        assert_eq!(v.subscription(a, orders), None);
        assert_eq!(
            v.subscription(a, billing),
            Some(SubscriptionState::ProdOnlyBlocked)
        );
        v.apply(&Event::ApplicationDeleted { application: a });
        assert_eq!(v.subscription(a, billing), None);
        assert_eq!(v.subscription(b, orders), Some(SubscriptionState::Blocked));
    }

    /// Each change moves the counter of what it touched, and no other: a decision memoized
    /// for another application or another API stays valid.
    #[test]
    fn changes_move_only_their_own_counters() {
        let v = view();
        v.apply(&Event::ApiChanged { api: api("orders") });
        v.apply(&Event::ApiChanged {
            api: api("billing"),
        });
        let number = |id: &str| View::api_stamp(v.apis().get(id).unwrap().index);
        let (orders, billing) = (number("orders"), number("billing"));
        // Two applications whose counters differ from each other and from the APIs'.
        let fresh = |taken: &[u32]| loop {
            let app = ApplicationId::random();
            if !taken.contains(&v.application_stamp(app)) {
                return (app, v.application_stamp(app));
            }
        };
        assert_ne!(orders, billing);
        let (a, sa) = fresh(&[orders, billing]);
        let (b, sb) = fresh(&[orders, billing, sa]);
        let m = mapping("client-a", a);
        let subscription = |application, state| Event::SubscriptionChanged {
            subscription: Subscription {
                application,
                api: "orders".parse().unwrap(),
                state,
                created_at: now(),
                updated_at: now(),
            },
        };
        let mut suspended = m.clone();
        suspended.state = MappingState::Suspended;
        let mut moved = m.clone();
        moved.application = b;
        let cases: Vec<(Event, Vec<u32>)> = vec![
            (Event::MappingCreated { mapping: m.clone() }, vec![sa]),
            (subscription(a, SubscriptionState::Unblocked), vec![sa]),
            (subscription(b, SubscriptionState::Blocked), vec![sb]),
            (
                Event::MappingStateChanged {
                    mapping: suspended,
                    previous: MappingState::Active,
                },
                vec![sa],
            ),
            // The client now belongs to another application: both are affected.
            (Event::MappingCreated { mapping: moved }, vec![sa, sb]),
            (Event::MappingRemoved { mapping: m.clone() }, vec![sb]),
            (
                Event::SubscriptionRemoved {
                    application: a,
                    api: "orders".parse().unwrap(),
                },
                vec![sa],
            ),
            (Event::ApplicationDeleted { application: b }, vec![sb]),
            (
                Event::ApiChanged {
                    api: api("billing"),
                },
                vec![billing],
            ),
            (
                Event::ApplicationCreated {
                    application: crate::model::Application {
                        id: ApplicationId::random(),
                        name: "other".into(),
                        owner: "someone".parse().unwrap(),
                        organization: "org".parse().unwrap(),
                        created_at: now(),
                    },
                },
                vec![],
            ),
        ];
        for (event, moves) in cases {
            let before: Vec<u64> = [sa, sb, orders, billing]
                .iter()
                .map(|c| v.stamp(*c, *c))
                .collect();
            v.apply(&event);
            for (c, was) in [sa, sb, orders, billing].into_iter().zip(before) {
                assert_eq!(
                    v.stamp(c, c) != was,
                    moves.contains(&c),
                    "counter {c} after {event:?}"
                );
            }
        }
        // A full load makes every memoized decision stale.
        let before = v.stamp(sa, orders);
        v.load(&[], &[], &[]);
        assert_ne!(v.stamp(sa, orders), before);
    }
}
