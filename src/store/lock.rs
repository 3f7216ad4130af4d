//! The pass lock: at most one holder at a time runs a reconciler pass
//! ([`Reconciler`](crate::reconciler::Reconciler)) over a store.
//!
//! A backend shared by several nodes takes it in the database (PostgreSQL: a session-level
//! advisory lock on a connection of its own, released when that connection closes, so a node
//! that dies mid-pass releases it). A single-node backend takes it in process memory
//! ([`LocalPassLock`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::error::Result;

/// A lock that one holder at a time takes for the length of a pass. Never waits for another
/// holder.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> keyprov::Result<()> {
/// use keyprov::store::{LocalPassLock, PassLock};
///
/// let lock = LocalPassLock::new();
/// let guard = lock.try_acquire().await?.expect("free");
/// assert!(lock.try_acquire().await?.is_none(), "held");
/// guard.release().await;
/// assert!(lock.try_acquire().await?.is_some(), "free again");
/// # Ok(()) }
/// ```
#[async_trait]
pub trait PassLock: fmt::Debug + Send + Sync + 'static {
    /// Takes the lock, or answers `None` at once when another holder has it.
    ///
    /// # Errors
    /// `Storage` when the backend cannot be asked (retryable when it may answer later).
    async fn try_acquire(&self) -> Result<Option<Box<dyn PassGuard>>>;
}

/// The lock, held. Dropping it releases the lock too; [`PassGuard::release`] does so before it
/// returns, so that the next [`PassLock::try_acquire`] finds it free.
#[async_trait]
pub trait PassGuard: fmt::Debug + Send + Sync {
    /// Whether the lock is still held. `false` once the backend may have handed it to
    /// someone else (PostgreSQL: the lock's connection was lost).
    fn is_held(&self) -> bool;

    /// Releases the lock.
    async fn release(self: Box<Self>);
}

/// A lock in process memory: one holder per process (per value and its clones). For
/// single-node stores ([`MemoryStore`](super::MemoryStore), `SqliteStore`): two processes
/// that share one SQLite file do not exclude each other.
#[derive(Clone, Debug, Default)]
pub struct LocalPassLock {
    held: Arc<AtomicBool>,
}

impl LocalPassLock {
    /// A free lock.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl PassLock for LocalPassLock {
    async fn try_acquire(&self) -> Result<Option<Box<dyn PassGuard>>> {
        let taken = self
            .held
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        Ok(taken.then(|| {
            Box::new(LocalGuard {
                held: self.held.clone(),
            }) as Box<dyn PassGuard>
        }))
    }
}

#[derive(Debug)]
struct LocalGuard {
    held: Arc<AtomicBool>,
}

#[async_trait]
impl PassGuard for LocalGuard {
    fn is_held(&self) -> bool {
        true
    }

    async fn release(self: Box<Self>) {}
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        self.held.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_dropped_guard_releases() {
        let lock = LocalPassLock::new();
        let clone = lock.clone();
        let guard = lock.try_acquire().await.unwrap().unwrap();
        assert!(guard.is_held());
        assert!(clone.try_acquire().await.unwrap().is_none());
        drop(guard);
        let again = clone.try_acquire().await.unwrap();
        assert!(again.is_some());
        assert!(LocalPassLock::new().try_acquire().await.unwrap().is_some());
    }
}
