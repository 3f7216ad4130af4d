//! What a pass did: counts per outcome, per key manager and in total.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::KeyManagerId;

/// How many mappings ended a pass in each way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassCounts {
    /// Re-checked; the state was already right.
    pub unchanged: usize,
    /// Moved to `ORPHANED`: the key manager says the client does not exist.
    pub orphaned: usize,
    /// Moved to `SUSPENDED`: the client exists and cannot be used (disabled, expired secret).
    pub suspended: usize,
    /// Moved back to `ACTIVE` from `SUSPENDED` or `ORPHANED`.
    pub reactivated: usize,
    /// Left as they were: the key manager's answer could not tell a missing client from
    /// wrong credentials (901428).
    pub inconclusive: usize,
    /// Left as they were: the key manager was unreachable, failed or throttled (901424). The
    /// key manager is then backing off.
    pub unavailable: usize,
    /// Not re-checked: their key manager was backing off.
    pub deferred: usize,
    /// Removed from storage after the pass listed them.
    pub removed: usize,
    /// Left as they were after another error; [`KeyManagerPass::errors`] has the codes.
    pub errors: usize,
}

impl PassCounts {
    /// Mappings whose key manager answered (every count but `unavailable`, `deferred` and
    /// `removed`).
    pub fn answered(&self) -> usize {
        self.unchanged
            + self.orphaned
            + self.suspended
            + self.reactivated
            + self.inconclusive
            + self.errors
    }

    /// Mappings whose state changed.
    pub fn changed(&self) -> usize {
        self.orphaned + self.suspended + self.reactivated
    }

    /// Every mapping counted.
    pub fn total(&self) -> usize {
        self.answered() + self.unavailable + self.deferred + self.removed
    }

    pub(super) fn add(&mut self, other: &PassCounts) {
        self.unchanged += other.unchanged;
        self.orphaned += other.orphaned;
        self.suspended += other.suspended;
        self.reactivated += other.reactivated;
        self.inconclusive += other.inconclusive;
        self.unavailable += other.unavailable;
        self.deferred += other.deferred;
        self.removed += other.removed;
        self.errors += other.errors;
    }
}

/// A key manager that failed and is left alone until `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackoffStatus {
    /// Failures in a row (each doubles the wait, up to the configured maximum).
    pub failures: u32,
    /// Its mappings are deferred until then.
    pub until: DateTime<Utc>,
}

/// One key manager's part of a pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyManagerPass {
    /// Its mappings' outcomes.
    pub counts: PassCounts,
    /// Error codes ([`Error::code`](crate::Error::code)) counted in `counts.errors`, with how
    /// many times each.
    pub errors: BTreeMap<u32, usize>,
    /// Set when the key manager is backing off at the end of the pass.
    pub backoff: Option<BackoffStatus>,
}

/// How a pass ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PassEnd {
    /// Every mapping listed at the start was counted.
    Completed,
    /// Another pass held the lock (on another node, or another reconciler of this store):
    /// nothing was done.
    LockHeldElsewhere,
    /// The lock was lost mid-pass (its connection broke): the pass stopped starting
    /// re-checks, as another node may now run one.
    LockLost,
    /// The reconciler was stopped mid-pass; re-checks in flight finished.
    Stopped,
}

impl fmt::Display for PassEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PassEnd::Completed => "completed",
            PassEnd::LockHeldElsewhere => "lock held elsewhere",
            PassEnd::LockLost => "lock lost",
            PassEnd::Stopped => "stopped",
        })
    }
}

/// The summary of one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassSummary {
    /// This reconciler's pass number, from 1 (attempts that found the lock held count too).
    pub number: u64,
    /// How it ended.
    pub end: PassEnd,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// Mappings listed at the start.
    pub mappings: usize,
    /// Per key manager, with every key manager that held mappings.
    pub key_managers: BTreeMap<KeyManagerId, KeyManagerPass>,
}

impl PassSummary {
    pub(super) fn empty(number: u64, end: PassEnd, started_at: DateTime<Utc>) -> Self {
        Self {
            number,
            end,
            started_at,
            duration: Duration::ZERO,
            mappings: 0,
            key_managers: BTreeMap::new(),
        }
    }

    /// The counts over every key manager.
    pub fn counts(&self) -> PassCounts {
        let mut total = PassCounts::default();
        for km in self.key_managers.values() {
            total.add(&km.counts);
        }
        total
    }

    /// One key manager's part (empty when it held no mapping).
    pub fn key_manager(&self, id: &KeyManagerId) -> KeyManagerPass {
        self.key_managers.get(id).cloned().unwrap_or_default()
    }
}
