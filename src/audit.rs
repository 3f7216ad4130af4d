//! The audit trail: who changed which mapping, when, with what outcome, and under which
//! request.
//!
//! Every store keeps one. The provisioner records, under the caller ([`Actor`]) and a
//! [`RequestId`]:
//! - each mapping created, removed or changed in state (by hand or by a drift re-check), and each
//!   application deleted, **in the same transaction as the change**, so a change is never
//!   without its record and a record never without its change;
//! - each refused provisioning attempt, with its error code;
//! - each mapping stored by a bulk import ([`AuditAction::Imported`]), all under the import's
//!   request id.
//!
//! A record never holds a secret: the model has none to copy. Query with [`AuditQuery`] through
//! [`Provisioner::audit`](crate::Provisioner::audit); records older than a retention period
//! go with [`Provisioner::prune_audit`](crate::Provisioner::prune_audit).
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use keyprov::audit::{AuditAction, AuditQuery};
//! use keyprov::store::MemoryStore;
//! use keyprov::testkit::ScriptedKeyManager;
//! use keyprov::*;
//!
//! let km = Arc::new(ScriptedKeyManager::new("IS"));
//! km.add_client("client-1", "s3cret");
//! let provisioner = Provisioner::builder()
//!     .store(Arc::new(MemoryStore::new()))
//!     .key_managers(KeyManagers::new().with(KeyManagerConfig::new("IS")?.out_of_band(true), km)?)
//!     .build()?;
//! let app = provisioner
//!     .create_application(NewApplication::new("PizzaApp", UserId::new("alice")?, OrganizationId::new("acme")?))
//!     .await?;
//! let carol = Actor::admin("carol")?;
//! let request = ProvisionRequest::new(app.id, "IS", KeyType::Production, ConsumerKey::new("client-1")?)
//!     .secret(ConsumerSecret::new("s3cret"));
//! provisioner.provision(&carol, request).await?;
//!
//! let trail = provisioner.audit(&carol, &AuditQuery::new().application(app.id)).await?;
//! assert_eq!(trail.len(), 1);
//! assert_eq!(trail[0].action, AuditAction::MappingCreated);
//! assert_eq!(trail[0].actor, carol);
//! assert_eq!(trail[0].code, None, "it succeeded");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::ops::Deref;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::Event;
pub use crate::model::RequestId;
use crate::model::{Actor, ApplicationId, KeyType, MappingId};

/// What a record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A client was mapped.
    MappingCreated,
    /// A mapping was removed (by itself, or with its application).
    MappingRemoved,
    /// A mapping's state changed, by hand or by a drift re-check.
    MappingStateChanged,
    /// An application was deleted (its mappings each have their own record).
    ApplicationDeleted,
    /// A provisioning attempt was refused; the record carries the error code.
    ProvisioningRefused,
    /// A mapping was stored by a bulk import.
    Imported,
}

impl AuditAction {
    /// The stored spelling (`mapping_created`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::MappingCreated => "mapping_created",
            AuditAction::MappingRemoved => "mapping_removed",
            AuditAction::MappingStateChanged => "mapping_state_changed",
            AuditAction::ApplicationDeleted => "application_deleted",
            AuditAction::ProvisioningRefused => "provisioning_refused",
            AuditAction::Imported => "imported",
        }
    }

    /// The action stored as [`as_str`](Self::as_str) spells it.
    pub(crate) fn from_stored(text: &str) -> Option<Self> {
        [
            AuditAction::MappingCreated,
            AuditAction::MappingRemoved,
            AuditAction::MappingStateChanged,
            AuditAction::ApplicationDeleted,
            AuditAction::ProvisioningRefused,
            AuditAction::Imported,
        ]
        .into_iter()
        .find(|action| action.as_str() == text)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that happened, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// Under which request.
    pub request_id: RequestId,
    /// What.
    pub action: AuditAction,
    /// The error code of a refusal; `None` when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    /// The application concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<ApplicationId>,
    /// The key manager concerned (for a refusal, a short escaped prefix of what was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_manager: Option<String>,
    /// The key type concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<KeyType>,
    /// The mapping concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<MappingId>,
    /// The client concerned (a consumer key is an identifier, not a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_key: Option<String>,
    /// A short account (the states of a state change, the message of a refusal).
    pub detail: String,
}

impl AuditEntry {
    /// An entry for `action` by the context's caller, now, with nothing else set.
    pub fn new(context: &AuditContext, action: AuditAction) -> Self {
        Self::at(crate::model::now(), context, action)
    }

    fn at(at: DateTime<Utc>, context: &AuditContext, action: AuditAction) -> Self {
        Self {
            at,
            actor: context.actor.clone(),
            request_id: context.request_id.clone(),
            action,
            code: None,
            application: None,
            key_manager: None,
            key_type: None,
            mapping: None,
            consumer_key: None,
            detail: String::new(),
        }
    }

    fn about(mut self, mapping: &crate::model::KeyMapping) -> Self {
        self.application = Some(mapping.application);
        self.key_manager = Some(mapping.key_manager.as_str().to_owned());
        self.key_type = Some(mapping.key_type);
        self.mapping = Some(mapping.id);
        self.consumer_key = Some(mapping.consumer_key.as_str().to_owned());
        self
    }

    /// Sets the error code.
    pub fn code(mut self, code: u32) -> Self {
        self.code = Some(code);
        self
    }

    /// Sets the application.
    pub fn application(mut self, application: ApplicationId) -> Self {
        self.application = Some(application);
        self
    }

    /// Sets the key manager.
    pub fn key_manager(mut self, key_manager: impl Into<String>) -> Self {
        self.key_manager = Some(key_manager.into());
        self
    }

    /// Sets the key type.
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = Some(key_type);
        self
    }

    /// Sets the consumer key.
    pub fn consumer_key(mut self, consumer_key: impl Into<String>) -> Self {
        self.consumer_key = Some(consumer_key.into());
        self
    }

    /// Sets the account.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// The actor as one searchable string (`user:alice`, `admin:carol`, `service:reconciler`).
    pub fn actor_key(&self) -> String {
        actor_key(&self.actor)
    }
}

/// An entry as stored, numbered in the order the store recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the trail (increasing, not necessarily contiguous).
    pub sequence: u64,
    /// What was recorded.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

impl Deref for AuditRecord {
    type Target = AuditEntry;
    fn deref(&self) -> &AuditEntry {
        &self.entry
    }
}

/// The actor of a stored [`actor_key`] (`kind:id`).
pub(crate) fn actor_from_key(key: &str) -> Option<Actor> {
    let (kind, id) = key.split_once(':')?;
    match kind {
        "user" => Actor::user(id).ok(),
        "admin" => Actor::admin(id).ok(),
        "service" => Actor::service(id).ok(),
        _ => None,
    }
}

/// The actor as one searchable string.
pub(crate) fn actor_key(actor: &Actor) -> String {
    let (kind, id) = match actor {
        Actor::User(id) => ("user:", id.as_str()),
        Actor::Admin(id) => ("admin:", id.as_str()),
        Actor::Service(id) => ("service:", id.as_str()),
    };
    [kind, id].concat()
}

/// Which records to read: every set field must match. Oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Only this application's records.
    pub application: Option<ApplicationId>,
    /// Only this key manager's records.
    pub key_manager: Option<String>,
    /// Only this caller's records.
    pub actor: Option<Actor>,
    /// Only records at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only records before this instant.
    pub until: Option<DateTime<Utc>>,
    /// At most this many records (the oldest that match); default 1,000.
    pub limit: Option<usize>,
}

impl AuditQuery {
    /// Every record (up to the default limit).
    pub fn new() -> Self {
        Self::default()
    }

    /// Only this application's records.
    pub fn application(mut self, application: ApplicationId) -> Self {
        self.application = Some(application);
        self
    }

    /// Only this key manager's records.
    pub fn key_manager(mut self, key_manager: impl Into<String>) -> Self {
        self.key_manager = Some(key_manager.into());
        self
    }

    /// Only this caller's records.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Only records at or after `since`.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Only records before `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// At most `limit` records.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The limit in effect.
    pub fn effective_limit(&self) -> usize {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT)
    }

    /// Records returned when no limit is set.
    pub const DEFAULT_LIMIT: usize = 1_000;

    /// Whether `entry` matches (for stores that filter in memory).
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.application
            .is_none_or(|a| entry.application == Some(a))
            && self
                .key_manager
                .as_deref()
                .is_none_or(|k| entry.key_manager.as_deref() == Some(k))
            && self.actor.as_ref().is_none_or(|a| entry.actor == *a)
            && self.since.is_none_or(|t| entry.at >= t)
            && self.until.is_none_or(|t| entry.at < t)
    }
}

/// Who is acting and under which request: what a store records its changes under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditContext {
    /// The caller.
    pub actor: Actor,
    /// The request.
    pub request_id: RequestId,
    /// Whether the mappings created are a bulk import's.
    pub import: bool,
}

impl AuditContext {
    /// A context for `actor` under `request_id`.
    pub fn new(actor: Actor, request_id: RequestId) -> Self {
        Self {
            actor,
            request_id,
            import: false,
        }
    }
}

tokio::task_local! {
    static CONTEXT: AuditContext;
}

/// Runs `future` with `context` in effect: every change a store makes inside it is recorded in
/// its audit trail under that context, in the change's own transaction. The provisioner runs
/// each of its calls this way; a store used directly, outside any context, records nothing.
pub async fn scope<F: Future>(context: AuditContext, future: F) -> F::Output {
    CONTEXT.scope(context, future).await
}

/// The context in effect, if any. A store calls this before its write, on the caller's task.
pub fn current() -> Option<AuditContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// The records a store writes for `events` under `context`: one per mapping created, removed
/// or changed in state, and one per application deleted. Other changes are not audited.
pub fn entries_for<'a>(
    context: &AuditContext,
    events: impl IntoIterator<Item = &'a Event>,
) -> Vec<AuditEntry> {
    // One time for all: they are recorded together.
    let at = crate::model::now();
    events
        .into_iter()
        .filter_map(|event| match event {
            Event::MappingCreated { mapping } => {
                let action = if context.import {
                    AuditAction::Imported
                } else {
                    AuditAction::MappingCreated
                };
                let detail = [
                    mapping.mode.as_str(),
                    " ",
                    mapping.state.as_str(),
                    if mapping.validated { ", validated" } else { "" },
                ]
                .concat();
                Some(
                    AuditEntry::at(at, context, action)
                        .about(mapping)
                        .detail(detail),
                )
            }
            Event::MappingRemoved { mapping } => {
                Some(AuditEntry::at(at, context, AuditAction::MappingRemoved).about(mapping))
            }
            Event::MappingStateChanged { mapping, previous } => Some(
                AuditEntry::at(at, context, AuditAction::MappingStateChanged)
                    .about(mapping)
                    .detail(format!("{previous} -> {}", mapping.state)),
            ),
            Event::ApplicationDeleted { application } => Some(
                AuditEntry::at(at, context, AuditAction::ApplicationDeleted)
                    .application(*application),
            ),
            _ => None,
        })
        .collect()
}
