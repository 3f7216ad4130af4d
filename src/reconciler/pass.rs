//! One pass: take the lock, list the mappings, re-check them with a few workers per key
//! manager, sum up.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Inner;
use super::summary::{KeyManagerPass, PassEnd, PassSummary};
use crate::error::{Error, Result};
use crate::model::{KeyManagerId, KeyMapping, MappingState, now};
use crate::store::PassGuard;

/// What stops a pass early.
#[derive(Clone, Debug)]
struct Halt {
    stop: Option<watch::Receiver<bool>>,
    guard: Arc<Box<dyn PassGuard>>,
}

impl Halt {
    fn reason(&self) -> Option<PassEnd> {
        if self.stop.as_ref().is_some_and(|s| *s.borrow()) {
            Some(PassEnd::Stopped)
        } else if !self.guard.is_held() {
            Some(PassEnd::LockLost)
        } else {
            None
        }
    }
}

/// What one re-check came to.
enum Checked {
    Unchanged,
    Moved(MappingState),
    Inconclusive,
    Unavailable,
    Deferred,
    Removed,
    Failed(u32),
}

/// One pass (see [`Reconciler::run_pass`](super::Reconciler::run_pass)).
pub(super) async fn run(
    inner: &Arc<Inner>,
    stop: Option<watch::Receiver<bool>>,
) -> Result<PassSummary> {
    let number = inner.passes.fetch_add(1, Ordering::SeqCst) + 1;
    let started_at = now();
    let clock = Instant::now();
    let Some(guard) = inner.lock.try_acquire().await? else {
        let summary = PassSummary::empty(number, PassEnd::LockHeldElsewhere, started_at);
        tracing::debug!(
            service = %inner.service,
            number,
            "reconciler pass skipped: another pass holds the lock"
        );
        inner.published.send_replace(Some(summary.clone()));
        return Ok(summary);
    };
    let guard = Arc::new(guard);
    let mut mappings = match inner.provisioner.store().all_mappings().await {
        Ok(mappings) => mappings,
        Err(error) => {
            release(guard).await;
            return Err(error);
        }
    };
    mappings.sort_by_key(|m| (m.created_at, m.id));
    let listed = mappings.len();
    let mut queues: BTreeMap<KeyManagerId, VecDeque<KeyMapping>> = BTreeMap::new();
    for mapping in mappings {
        queues
            .entry(mapping.key_manager.clone())
            .or_default()
            .push_back(mapping);
    }
    let halt = Halt { stop, guard };
    let mut workers = JoinSet::new();
    let mut key_managers = BTreeMap::new();
    for (km, queue) in queues {
        let queue = Arc::new(Mutex::new(queue));
        key_managers.insert(km.clone(), KeyManagerPass::default());
        for _ in 0..inner.limit(&km) {
            workers.spawn(worker(
                inner.clone(),
                km.clone(),
                queue.clone(),
                halt.clone(),
            ));
        }
    }
    let mut end = PassEnd::Completed;
    while let Some(done) = workers.join_next().await {
        let (km, part, halted) = match done {
            Ok(result) => result,
            // A worker cannot panic short of a bug in an adapter; the pass goes on.
            Err(error) => {
                tracing::error!(%error, "reconciler worker failed");
                continue;
            }
        };
        if let Some(reason) = halted {
            end = reason;
        }
        let entry = key_managers.entry(km).or_default();
        merge(entry, part);
    }
    {
        let backoffs = inner.backoffs();
        for (km, part) in &mut key_managers {
            part.backoff = backoffs
                .status(km)
                .filter(|_| backoffs.blocked(km, Instant::now()));
        }
    }
    let Halt { guard, .. } = halt;
    release(guard).await;
    let summary = PassSummary {
        number,
        end,
        started_at,
        duration: clock.elapsed(),
        mappings: listed,
        key_managers,
    };
    log(&inner.service, &summary);
    inner.published.send_replace(Some(summary.clone()));
    Ok(summary)
}

async fn release(guard: Arc<Box<dyn PassGuard>>) {
    // Every worker has ended, so this is the last clone (dropping it would release too).
    if let Ok(guard) = Arc::try_unwrap(guard) {
        guard.release().await;
    }
}

fn merge(into: &mut KeyManagerPass, part: KeyManagerPass) {
    into.counts.add(&part.counts);
    for (code, n) in part.errors {
        *into.errors.entry(code).or_default() += n;
    }
}

/// Takes mappings of one key manager off its queue until the queue is empty or the pass is
/// halted; one of `limit` such workers per key manager.
async fn worker(
    inner: Arc<Inner>,
    km: KeyManagerId,
    queue: Arc<Mutex<VecDeque<KeyMapping>>>,
    halt: Halt,
) -> (KeyManagerId, KeyManagerPass, Option<PassEnd>) {
    let mut part = KeyManagerPass::default();
    loop {
        if let Some(reason) = halt.reason() {
            return (km, part, Some(reason));
        }
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let Some(mapping) = next else {
            return (km, part, None);
        };
        let outcome = check(&inner, &mapping).await;
        let c = &mut part.counts;
        match outcome {
            Checked::Unchanged => c.unchanged += 1,
            Checked::Moved(MappingState::Orphaned) => c.orphaned += 1,
            Checked::Moved(MappingState::Suspended) => c.suspended += 1,
            Checked::Moved(_) => c.reactivated += 1,
            Checked::Inconclusive => c.inconclusive += 1,
            Checked::Unavailable => c.unavailable += 1,
            Checked::Deferred => c.deferred += 1,
            Checked::Removed => c.removed += 1,
            Checked::Failed(code) => {
                c.errors += 1;
                *part.errors.entry(code).or_default() += 1;
            }
        }
    }
}

async fn check(inner: &Inner, mapping: &KeyMapping) -> Checked {
    let km = &mapping.key_manager;
    if inner.backoffs().blocked(km, Instant::now()) {
        return Checked::Deferred;
    }
    match inner
        .provisioner
        .recheck_from(&inner.actor, mapping.id)
        .await
    {
        Ok((before, now)) => {
            inner.backoffs().succeeded(km);
            let after = now.value.state;
            if after == before {
                return Checked::Unchanged;
            }
            // The provisioner logs the change, with this reconciler as its caller.
            Checked::Moved(after)
        }
        Err(Error::MappingNotFound(_)) => Checked::Removed,
        Err(Error::ClientLookupInconclusive { .. }) => {
            inner.backoffs().succeeded(km);
            tracing::warn!(
                service = %inner.service,
                mapping = %mapping.id,
                key_manager = %km,
                "drift: the key manager cannot tell a missing client from wrong credentials; state kept"
            );
            Checked::Inconclusive
        }
        Err(
            error @ (Error::KeyManagerUnavailable { .. }
            | Error::KeyManagerCredentialsRejected { .. }),
        ) => {
            let status = inner.backoffs().failed(km, &inner.backoff, Instant::now());
            if let Some(status) = status {
                tracing::warn!(
                    service = %inner.service,
                    key_manager = %km,
                    failures = status.failures,
                    until = %status.until,
                    code = error.code(),
                    %error,
                    "drift: key manager failing; backing off, states kept"
                );
            }
            match error {
                Error::KeyManagerUnavailable { .. } => Checked::Unavailable,
                other => Checked::Failed(other.code()),
            }
        }
        Err(error) => {
            tracing::warn!(
                service = %inner.service,
                mapping = %mapping.id,
                key_manager = %km,
                code = error.code(),
                %error,
                "drift: re-check failed; state kept"
            );
            Checked::Failed(error.code())
        }
    }
}

fn log(service: &str, summary: &PassSummary) {
    let c = summary.counts();
    tracing::info!(
        service,
        number = summary.number,
        end = %summary.end,
        mappings = summary.mappings,
        unchanged = c.unchanged,
        orphaned = c.orphaned,
        suspended = c.suspended,
        reactivated = c.reactivated,
        inconclusive = c.inconclusive,
        unavailable = c.unavailable,
        deferred = c.deferred,
        removed = c.removed,
        errors = c.errors,
        duration_ms = u64::try_from(summary.duration.as_millis()).unwrap_or(u64::MAX),
        "reconciler pass"
    );
}
