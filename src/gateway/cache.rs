//! The verified-token cache: what a token proved (its key manager, client id, times, audience,
//! scopes), keyed by a 128-bit keyed hash of the token, never the token itself.
//!
//! What may change after verification (the API's settings, the mapping, the subscription, the
//! key manager's election, whether the verifying key is still served) is not cached: it is
//! checked on a hit, or memoized together with the change counters it depends on (see
//! [`Memo`]), so a removed or suspended mapping, a blocked subscription or a dropped key takes
//! effect on the next call, and a change elsewhere leaves the memo valid.

use std::hash::BuildHasher;
use std::sync::RwLock;

use hashbrown::HashTable;

use arc_swap::ArcSwapOption;

use super::Shard;

use crate::model::{ApplicationId, ConsumerKey, KeyType, MappingId, SubscriptionState};

const SHARDS: usize = 32;

/// Two independently seeded 64-bit hashes: a forged token would have to collide with a cached
/// one under both secret seeds.
#[derive(Debug)]
pub(crate) struct TokenHasher {
    a: foldhash::quality::RandomState,
    b: foldhash::quality::RandomState,
}

impl TokenHasher {
    pub(crate) fn new() -> Self {
        Self {
            a: foldhash::quality::RandomState::default(),
            b: foldhash::quality::RandomState::default(),
        }
    }

    pub(crate) fn key(&self, token: &[u8]) -> TokenKey {
        TokenKey(self.a.hash_one(token), self.b.hash_one(token))
    }
}

/// The cache key of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TokenKey(u64, u64);

/// What a token proved when it was verified (or introspected). Laid out to keep a cache
/// entry on two cache lines: absent times and issuer are stored as sentinels.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The key manager slot that verified it (a gateway has fewer than 2^16 key managers).
    km: u16,
    /// The issuer's position in the gateway's issuer table ([`NO_ISSUER`] for introspected
    /// tokens), to re-check the election for the API's organization.
    issuer: u16,
    /// The number of the key that verified the signature ([`super::jwks::VerifyingKey::id`]);
    /// meaningless for introspected tokens.
    key: u32,
    /// `exp`, or [`ABSENT`]. A token whose `exp` is `i64::MIN` is expired and never cached.
    exp: i64,
    /// `nbf`, or [`ABSENT`] (the same as no lower bound).
    nbf: i64,
    pub consumer_key: ConsumerKey,
    pub audience: super::claims::Audience,
    pub scopes: super::Scopes,
    /// The last decision for this token, valid while the view's generation is unchanged.
    pub memo: ArcSwapOption<Memo>,
}

const NO_ISSUER: u16 = u16::MAX;
const ABSENT: i64 = i64::MIN;

impl Verified {
    /// What a token proved. `exp` and `nbf` passed the time check moments ago; `signed` is
    /// the issuer and key number of a JWT, `None` for an introspected token.
    pub(crate) fn new(
        km: u32,
        signed: Option<(u32, u32)>,
        consumer_key: ConsumerKey,
        (exp, nbf): (Option<i64>, Option<i64>),
        audience: super::claims::Audience,
        scopes: super::Scopes,
    ) -> Self {
        debug_assert!(exp != Some(ABSENT), "an expired token is never cached");
        Self {
            km: u16::try_from(km).expect("the builder allows fewer than 2^16 key managers"),
            issuer: signed.map_or(NO_ISSUER, |(i, _)| {
                u16::try_from(i)
                    .ok()
                    .filter(|i| *i != NO_ISSUER)
                    .expect("fewer issuers than key managers")
            }),
            key: signed.map_or(0, |(_, k)| k),
            exp: exp.unwrap_or(ABSENT),
            nbf: nbf.unwrap_or(ABSENT),
            consumer_key,
            audience,
            scopes,
            memo: ArcSwapOption::empty(),
        }
    }

    /// The key manager slot that verified (or introspected) it.
    pub(crate) fn km(&self) -> u32 {
        u32::from(self.km)
    }

    pub(crate) fn issuer(&self) -> Option<u32> {
        (self.issuer != NO_ISSUER).then_some(u32::from(self.issuer))
    }

    /// The number of the key that verified it, for a JWT.
    pub(crate) fn key(&self) -> Option<u32> {
        (self.issuer != NO_ISSUER).then_some(self.key)
    }

    pub(crate) fn exp(&self) -> Option<i64> {
        (self.exp != ABSENT).then_some(self.exp)
    }

    pub(crate) fn nbf(&self) -> Option<i64> {
        (self.nbf != ABSENT).then_some(self.nbf)
    }
}

/// A memoized positive decision for this API and key type, valid while the change counters it
/// depends on (the application's, the API's, the view's load generation and the key
/// manager's key epoch) still sum to `stamp`.
#[derive(Debug)]
pub(crate) struct Memo {
    pub stamp: u64,
    /// The application's and the API's change counters.
    pub counters: (u32, u32),
    pub api: Box<str>,
    pub key_type: KeyType,
    pub application: ApplicationId,
    pub mapping: MappingId,
    pub subscription: SubscriptionState,
}

/// Aligned to a cache line and two lines long (checked below on 64-bit targets): a first-sight
/// insert writes two lines, never four, and a hit reads them.
#[derive(Debug)]
#[repr(align(64))]
struct Entry {
    key: TokenKey,
    /// Seconds since the epoch after which the entry is dead (never past `exp`).
    until: i64,
    /// Held in the table itself: caching a token allocates nothing beyond its text.
    value: Verified,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Entry>() == 128);

/// A bounded map from token hash to [`Verified`].
#[derive(Debug)]
pub(crate) struct TokenCache {
    per_shard: usize,
    shards: Box<[Shard<HashTable<Entry>>]>,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            per_shard: capacity.div_ceil(SHARDS),
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    fn shard(&self, key: TokenKey) -> &RwLock<HashTable<Entry>> {
        &self.shards[(key.0 >> 59) as usize % SHARDS]
    }

    /// Runs `f` on a live entry without cloning it; `None` when absent or dead.
    pub(crate) fn with<R>(
        &self,
        key: TokenKey,
        now: i64,
        f: impl FnOnce(&Verified) -> R,
    ) -> Option<R> {
        let shard = self.shard(key).read().unwrap_or_else(|p| p.into_inner());
        let entry = shard.find(key.0, |e| e.key == key)?;
        (now < entry.until).then(|| f(&entry.value))
    }

    pub(crate) fn insert(&self, key: TokenKey, until: i64, now: i64, value: Verified) {
        if self.per_shard == 0 || until <= now {
            return;
        }
        let mut shard = self.shard(key).write().unwrap_or_else(|p| p.into_inner());
        if shard.len() >= self.per_shard {
            shard.retain(|e| e.until > now);
            if shard.len() >= self.per_shard {
                // Still full of live entries: drop an eighth. Which ones does not matter for
                // correctness, only for the hit rate.
                let mut drop = self.per_shard / 8 + 1;
                shard.retain(|_| {
                    if drop > 0 {
                        drop -= 1;
                        false
                    } else {
                        true
                    }
                });
            }
        }
        // One probe finds the entry or the free slot.
        match shard.entry(key.0, |e| e.key == key, |e| e.key.0) {
            hashbrown::hash_table::Entry::Occupied(mut e) => {
                let e = e.get_mut();
                e.until = until;
                e.value = value;
            }
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(Entry { key, until, value });
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    pub(crate) fn clear(&self) {
        for s in self.shards.iter() {
            s.write().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified() -> Verified {
        Verified::new(
            0,
            None,
            ConsumerKey::new("c").unwrap(),
            (None, None),
            Default::default(),
            Default::default(),
        )
    }

    #[test]
    fn absent_times_and_issuer_round_trip() {
        let v = Verified::new(
            3,
            Some((7, 2)),
            ConsumerKey::new("c").unwrap(),
            (Some(1_700_000_000), None),
            Default::default(),
            Default::default(),
        );
        assert_eq!(
            (v.issuer(), v.key(), v.exp(), v.nbf()),
            (Some(7), Some(2), Some(1_700_000_000), None)
        );
        let v = Verified::new(
            3,
            None,
            ConsumerKey::new("c").unwrap(),
            (None, Some(-5)),
            Default::default(),
            Default::default(),
        );
        assert_eq!(
            (v.issuer(), v.key(), v.exp(), v.nbf()),
            (None, None, None, Some(-5))
        );
    }

    #[test]
    fn bounded_and_never_past_until() {
        let hasher = TokenHasher::new();
        let cache = TokenCache::new(64);
        for i in 0..10_000u32 {
            cache.insert(hasher.key(&i.to_be_bytes()), 200, 100, verified());
        }
        assert!(cache.len() <= 64, "{}", cache.len());
        let key = hasher.key(b"t");
        cache.insert(key, 200, 100, verified());
        assert!(cache.with(key, 199, |_| ()).is_some());
        assert!(cache.with(key, 200, |_| ()).is_none());
        cache.insert(hasher.key(b"dead"), 100, 100, verified());
        assert!(cache.with(hasher.key(b"dead"), 50, |_| ()).is_none());
    }

    /// Inserting a token already cached replaces its entry in place: one entry, the new
    /// deadline and the new value.
    #[test]
    fn inserting_again_replaces_the_entry() {
        let hasher = TokenHasher::new();
        let cache = TokenCache::new(64);
        let key = hasher.key(b"t");
        cache.insert(key, 200, 100, verified());
        let mut again = verified();
        again.km = 5;
        cache.insert(key, 300, 100, again);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.with(key, 250, |v| v.km()), Some(5));
        assert_eq!(cache.with(key, 300, |v| v.km()), None);
    }
}
