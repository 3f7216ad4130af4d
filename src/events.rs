//! Changes: what a gateway must know to keep its view right, each with the [`Revision`] at
//! which its store made it ([provisioning rules, P6](crate::guide::provisioning)).
//!
//! Stores publish their changes themselves, after the change is durable, in revision order:
//! a gateway follows a store (or a provisioner, which hands over its store) with
//! [`Gateway::follow`](crate::gateway::Gateway::follow), and
//! [`Gateway::wait_for`](crate::gateway::Gateway::wait_for) waits until it has applied the
//! revision a write returned. Changes never carry a secret.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::model::{
    Api, ApiId, Application, ApplicationId, KeyMapping, MappingState, Subscription,
};
use crate::store::Store;

/// A change a gateway must know about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// An application was created.
    ApplicationCreated {
        /// The application.
        application: Application,
    },
    /// An application was deleted; its mappings were removed first, each with its own event.
    ApplicationDeleted {
        /// The application.
        application: ApplicationId,
    },
    /// An API was created or changed.
    ApiChanged {
        /// The API as it is now.
        api: Api,
    },
    /// A mapping was created.
    MappingCreated {
        /// The mapping.
        mapping: KeyMapping,
    },
    /// A mapping was removed. It carries the mapping's own key type (WSO2 sends the
    /// application's, a bug).
    MappingRemoved {
        /// The mapping as it was.
        mapping: KeyMapping,
    },
    /// A mapping's state changed (P10 drift, or an operator).
    MappingStateChanged {
        /// The mapping as it is now.
        mapping: KeyMapping,
        /// The state before.
        previous: MappingState,
    },
    /// A subscription was created or its state changed.
    SubscriptionChanged {
        /// The subscription as it is now.
        subscription: Subscription,
    },
    /// A subscription was removed.
    SubscriptionRemoved {
        /// The application.
        application: ApplicationId,
        /// The API.
        api: ApiId,
    },
    /// Events may have been missed (a change feed lost its database connection and is
    /// listening again): reload the view from storage, then keep applying events. Events that
    /// follow it may repeat what the reload already shows; applying them again is harmless.
    Resync,
}

/// A position in a store's history of changes. Every change a store makes gets the next
/// revision; on PostgreSQL the counter lives in the shared database, so every node agrees.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Revision(u64);

impl Revision {
    /// The revision of an empty store: before any change.
    pub const ZERO: Revision = Revision(0);

    /// A revision from its number.
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// Its number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One change and its revision, as a store publishes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The revision the change produced.
    pub revision: Revision,
    /// What changed.
    #[serde(flatten)]
    pub event: Event,
}

/// The result of a write together with the revision at which it is visible: wait for that
/// revision on a gateway to read your own write there.
///
/// It dereferences to the value, so `created.id` reads the value's field.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Committed<T> {
    /// What the write produced.
    pub value: T,
    /// The revision of the store once the write is visible.
    pub revision: Revision,
}

impl<T> Committed<T> {
    /// A value with its revision.
    pub fn new(value: T, revision: Revision) -> Self {
        Self { value, revision }
    }

    /// The value, without its revision.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The revision at which the write is visible.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Maps the value, keeping the revision.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Committed<U> {
        Committed::new(f(self.value), self.revision)
    }
}

impl<T> Deref for Committed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// A subscription to a store's changes. Every change published after it was taken arrives
/// in revision order; a subscriber that falls more than the store's buffer behind is told it
/// lagged (reload from the store, then go on).
pub type Changes = broadcast::Receiver<Change>;

/// Where changes come from: a store, or anything that holds one (a
/// [`Provisioner`](crate::Provisioner)). A gateway follows one.
pub trait ChangeSource {
    /// The store whose changes to follow and from which to load.
    fn change_store(&self) -> Arc<dyn Store>;
}

impl ChangeSource for Arc<dyn Store> {
    fn change_store(&self) -> Arc<dyn Store> {
        self.clone()
    }
}

impl<S: Store> ChangeSource for Arc<S> {
    fn change_store(&self) -> Arc<dyn Store> {
        self.clone()
    }
}

/// The in-process half of a store's change stream: numbers changes and broadcasts them.
/// Stores call [`ChangeLog::publish`] after a change is durable, while still holding their
/// write lock, so that subscribers see changes in revision order.
pub struct ChangeLog {
    sender: broadcast::Sender<Change>,
}

impl ChangeLog {
    /// Changes kept per slow subscriber before it is told it lagged.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A log with the default buffer.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A log that buffers up to `capacity` changes per slow subscriber.
    pub fn with_capacity(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> Changes {
        self.sender.subscribe()
    }

    /// Publishes one change (nobody listening is fine).
    pub fn publish(&self, change: Change) {
        let _ = self.sender.send(change);
    }

    /// Publishes `events` as the revisions after `before`, in order, and returns the last one
    /// (`before` when there is none).
    pub fn publish_after(
        &self,
        before: Revision,
        events: impl IntoIterator<Item = Event>,
    ) -> Revision {
        let mut revision = before;
        for event in events {
            revision = Revision(revision.0 + 1);
            self.publish(Change { revision, event });
        }
        revision
    }
}

impl Default for ChangeLog {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ChangeLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeLog")
            .field("subscribers", &self.sender.receiver_count())
            .finish()
    }
}
