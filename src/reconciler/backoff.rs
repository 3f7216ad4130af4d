//! Per-key-manager backoff, and the random delays of the schedule.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::summary::BackoffStatus;
use crate::model::KeyManagerId;

/// How long a failing key manager is left alone: `initial` after the first failure, doubling
/// with each failure in a row, at most `max`. A success ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// 30 seconds, doubling up to 30 minutes.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(30 * 60),
        }
    }
}

impl Backoff {
    /// The wait after `failures` failures in a row (from 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        self.initial
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max)
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    until: Instant,
    until_wall: DateTime<Utc>,
}

/// The key managers backing off, kept from pass to pass.
#[derive(Debug, Default)]
pub(super) struct Backoffs {
    entries: HashMap<KeyManagerId, Entry>,
}

impl Backoffs {
    /// Whether `km` is to be left alone now.
    pub(super) fn blocked(&self, km: &KeyManagerId, now: Instant) -> bool {
        self.entries.get(km).is_some_and(|e| e.until > now)
    }

    /// Records a failure. Failures of calls started before the backoff began (concurrent
    /// re-checks of one key manager) do not lengthen it. Returns the new status when it did.
    pub(super) fn failed(
        &mut self,
        km: &KeyManagerId,
        policy: &Backoff,
        now: Instant,
    ) -> Option<BackoffStatus> {
        let entry = self.entries.entry(km.clone()).or_insert(Entry {
            failures: 0,
            until: now,
            until_wall: Utc::now(),
        });
        if entry.until > now {
            return None;
        }
        entry.failures += 1;
        let delay = policy.delay(entry.failures);
        entry.until = now + delay;
        entry.until_wall = Utc::now() + delay;
        Some(status(entry))
    }

    /// Records a success: the backoff ends.
    pub(super) fn succeeded(&mut self, km: &KeyManagerId) {
        self.entries.remove(km);
    }

    /// The status of `km`, while its failures are remembered.
    pub(super) fn status(&self, km: &KeyManagerId) -> Option<BackoffStatus> {
        self.entries.get(km).map(status)
    }
}

fn status(entry: &Entry) -> BackoffStatus {
    BackoffStatus {
        failures: entry.failures,
        until: entry.until_wall,
    }
}

/// A uniformly random duration in `[0, max]`.
pub(super) fn random_up_to(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    // A v4 UUID's second half holds 62 random bits (two are its variant).
    let random = uuid::Uuid::new_v4().as_u64_pair().1 & ((1 << 62) - 1);
    Duration::from_nanos(random % nanos.saturating_add(1).min(1 << 62))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_maximum() {
        let policy = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(5),
        };
        let waits: Vec<u64> = (1..=5).map(|n| policy.delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn concurrent_failures_count_once_and_a_success_ends_it() {
        let policy = Backoff {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(60),
        };
        let km = KeyManagerId::new("kc").unwrap();
        let mut backoffs = Backoffs::default();
        let start = Instant::now();
        assert!(!backoffs.blocked(&km, start));
        let first = backoffs.failed(&km, &policy, start).unwrap();
        assert_eq!(first.failures, 1);
        assert!(
            backoffs.failed(&km, &policy, start).is_none(),
            "already backing off"
        );
        assert!(backoffs.blocked(&km, start + Duration::from_secs(9)));
        let later = start + Duration::from_secs(10);
        assert!(!backoffs.blocked(&km, later));
        assert_eq!(backoffs.failed(&km, &policy, later).unwrap().failures, 2);
        assert!(backoffs.blocked(&km, later + Duration::from_secs(19)));
        backoffs.succeeded(&km);
        assert!(backoffs.status(&km).is_none());
        assert!(!backoffs.blocked(&km, later));
    }

    #[test]
    fn random_delays_stay_within_bounds_and_vary() {
        let max = Duration::from_millis(10);
        let draws: Vec<Duration> = (0..200).map(|_| random_up_to(max)).collect();
        assert!(draws.iter().all(|d| *d <= max));
        assert!(draws.iter().any(|d| *d != draws[0]), "not constant");
        assert_eq!(random_up_to(Duration::ZERO), Duration::ZERO);
    }
}
