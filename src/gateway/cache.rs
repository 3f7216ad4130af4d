//! The verified-token cache: what a token proved (its key manager, client id, times, audience,
//! scopes), keyed by a 128-bit keyed hash of the token, never the token itself.
//!
//! What may change after verification (the API's settings, the mapping, the subscription, the
//! key manager's election) is not cached: it is checked against the view on every hit, so a
//! removed or suspended mapping or a blocked subscription takes effect on the next call.

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

/// What a token proved when it was verified (or introspected).
#[derive(Debug)]
pub(crate) struct Verified {
    /// The key manager slot that verified it.
    pub km: u32,
    /// The issuer's position in the gateway's issuer table (`None` for introspected tokens),
    /// to re-check the election for the API's organization.
    pub issuer: Option<u32>,
    pub consumer_key: ConsumerKey,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub audience: super::claims::Audience,
    pub scopes: super::Scopes,
    /// The last decision for this token, valid while the view's generation is unchanged.
    pub memo: ArcSwapOption<Memo>,
}

/// A memoized positive decision: for this API and key type, at this view generation.
#[derive(Debug)]
pub(crate) struct Memo {
    pub generation: u64,
    pub api: Box<str>,
    pub key_type: KeyType,
    pub application: ApplicationId,
    pub mapping: MappingId,
    pub subscription: SubscriptionState,
}

#[derive(Debug)]
struct Entry {
    key: TokenKey,
    /// Seconds since the epoch after which the entry is dead (never past `exp`).
    until: i64,
    /// Held in the table itself: caching a token allocates nothing beyond its text.
    value: Verified,
}

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
        match shard.find_mut(key.0, |e| e.key == key) {
            Some(e) => {
                e.until = until;
                e.value = value;
            }
            None => {
                shard.insert_unique(key.0, Entry { key, until, value }, |e| e.key.0);
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
        Verified {
            km: 0,
            issuer: None,
            consumer_key: ConsumerKey::new("c").unwrap(),
            exp: None,
            nbf: None,
            audience: Default::default(),
            scopes: Default::default(),
            memo: ArcSwapOption::empty(),
        }
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
}
