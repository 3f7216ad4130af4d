//! Change events (behaviour.md P6): what a gateway must know to keep its caches right.
//!
//! The provisioner publishes an event only after the change is durable; events never carry a
//! secret.

use std::fmt;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::model::{
    Api, ApiId, Application, ApplicationId, KeyMapping, MappingState, Subscription,
};

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

/// Where events go. Publishing must not block: sinks buffer or drop, never wait.
pub trait EventSink: fmt::Debug + Send + Sync + 'static {
    /// Publishes one event.
    fn publish(&self, event: &Event);
}

/// An in-process broadcast of events: every subscriber sees every event published after it
/// subscribed. A subscriber that falls more than `capacity` events behind is told it lagged
/// and should reload its view from storage.
#[derive(Clone)]
pub struct Broadcast {
    sender: broadcast::Sender<Event>,
}

impl Broadcast {
    /// A broadcast that buffers up to `capacity` events per slow subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

impl Default for Broadcast {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast")
            .field("subscribers", &self.sender.receiver_count())
            .finish()
    }
}

impl EventSink for Broadcast {
    fn publish(&self, event: &Event) {
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.sender.send(event.clone());
    }
}
