//! The in-memory backend: one lock over plain maps, so every call is atomic.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{DeletedApplication, LocalPassLock, PassLock, Snapshot, StateChange, Store};
use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
use crate::error::{ConflictRule, Error, Result};
use crate::events::{ChangeLog, Changes, Committed, Event, Revision};
use crate::model::{
    Api, ApiId, Application, ApplicationId, ConsumerKey, KeyManagerId, KeyMapping, KeyType,
    MappingId, MappingState, Subscription, UserId,
};

#[derive(Clone, Debug, Default)]
struct State {
    applications: HashMap<ApplicationId, Application>,
    apis: BTreeMap<ApiId, Api>,
    subscriptions: BTreeMap<(ApplicationId, ApiId), Subscription>,
    mappings: HashMap<MappingId, KeyMapping>,
    by_consumer_key: HashMap<(KeyManagerId, ConsumerKey), MappingId>,
    by_slot: HashMap<(ApplicationId, KeyType, KeyManagerId), MappingId>,
    revision: Revision,
    audit: Vec<AuditRecord>,
    audited: u64,
}

/// A store that keeps everything in process memory. Nothing survives the process; use it in
/// tests, or when the embedding service persists elsewhere.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    log: ChangeLog,
    pass_lock: LocalPassLock,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose change stream buffers `capacity` changes per slow subscriber
    /// (default [`ChangeLog::DEFAULT_CAPACITY`]); one that falls further behind reloads.
    pub fn with_change_buffer(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            log: ChangeLog::with_capacity(capacity),
            pass_lock: LocalPassLock::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change: every change is
        // applied by infallible map operations after its checks.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Publishes `events` under the lock, so that subscribers see them in revision order.
    /// Also records the events' audit entries under the context in effect.
    fn publish(&mut self, log: &ChangeLog, events: impl IntoIterator<Item = Event>) -> Revision {
        let events: Vec<Event> = events.into_iter().collect();
        if let Some(context) = crate::audit::current() {
            self.record(crate::audit::entries_for(&context, &events));
        }
        self.revision = log.publish_after(self.revision, events);
        self.revision
    }

    fn record(&mut self, entries: impl IntoIterator<Item = AuditEntry>) {
        for entry in entries {
            self.audited += 1;
            self.audit.push(AuditRecord {
                sequence: self.audited,
                entry,
            });
        }
    }

    fn add_application(&mut self, application: &Application) -> Result<()> {
        let duplicate = self.applications.values().any(|a| {
            a.owner == application.owner
                && a.organization == application.organization
                && a.name == application.name
        });
        if duplicate || self.applications.contains_key(&application.id) {
            return Err(Error::ApplicationExists {
                name: application.name.clone(),
            });
        }
        self.applications
            .insert(application.id, application.clone());
        Ok(())
    }

    fn add_mapping(&mut self, mapping: &KeyMapping) -> Result<()> {
        if !self.applications.contains_key(&mapping.application) {
            return Err(Error::ApplicationNotFound(mapping.application));
        }
        let slot = (
            mapping.application,
            mapping.key_type,
            mapping.key_manager.clone(),
        );
        let key = (mapping.key_manager.clone(), mapping.consumer_key.clone());
        if self.by_slot.contains_key(&slot) {
            return Err(Error::MappingExists(ConflictRule::KeyTypeAlreadyMapped));
        }
        if self.by_consumer_key.contains_key(&key) {
            return Err(Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped));
        }
        if self.mappings.contains_key(&mapping.id) {
            return Err(Error::Storage {
                detail: format!("mapping id {} already exists", mapping.id),
                retryable: false,
                source: None,
            });
        }
        self.by_slot.insert(slot, mapping.id);
        self.by_consumer_key.insert(key, mapping.id);
        self.mappings.insert(mapping.id, mapping.clone());
        Ok(())
    }
}

fn sorted<T, K: Ord>(mut items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    items.sort_by_key(key);
    items
}

#[async_trait]
impl Store for MemoryStore {
    fn changes(&self) -> Result<Changes> {
        Ok(self.log.subscribe())
    }

    fn pass_lock(&self) -> std::sync::Arc<dyn PassLock> {
        std::sync::Arc::new(self.pass_lock.clone())
    }

    async fn revision(&self) -> Result<Revision> {
        Ok(self.lock().revision)
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let state = self.lock();
        Ok(Snapshot {
            revision: state.revision,
            apis: state.apis.values().cloned().collect(),
            mappings: state.mappings.values().cloned().collect(),
            subscriptions: state.subscriptions.values().cloned().collect(),
        })
    }

    async fn create_application(&self, application: &Application) -> Result<Revision> {
        let mut state = self.lock();
        state.add_application(application)?;
        let event = Event::ApplicationCreated {
            application: application.clone(),
        };
        Ok(state.publish(&self.log, [event]))
    }

    async fn all_applications(&self) -> Result<Vec<Application>> {
        let apps = self.lock().applications.values().cloned().collect();
        Ok(sorted(apps, |a: &Application| (a.created_at, a.id)))
    }

    async fn import(
        &self,
        applications: Vec<Application>,
        mappings: Vec<KeyMapping>,
    ) -> Result<Revision> {
        let mut state = self.lock();
        // Applied to a copy first: one refused row leaves the store as it was.
        let mut next = state.clone();
        for application in &applications {
            next.add_application(application)?;
        }
        for mapping in &mappings {
            next.add_mapping(mapping)?;
        }
        *state = next;
        let events = applications
            .into_iter()
            .map(|application| Event::ApplicationCreated { application })
            .chain(
                mappings
                    .into_iter()
                    .map(|mapping| Event::MappingCreated { mapping }),
            );
        Ok(state.publish(&self.log, events))
    }

    async fn record_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        self.lock().record(entries.iter().cloned());
        Ok(())
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        Ok(self
            .lock()
            .audit
            .iter()
            .filter(|r| query.matches(r))
            .take(query.effective_limit())
            .cloned()
            .collect())
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut state = self.lock();
        let was = state.audit.len();
        state.audit.retain(|r| r.at >= before);
        Ok(u64::try_from(was - state.audit.len()).unwrap_or_default())
    }

    async fn application(&self, id: ApplicationId) -> Result<Option<Application>> {
        Ok(self.lock().applications.get(&id).cloned())
    }

    async fn applications_of(&self, owner: &UserId) -> Result<Vec<Application>> {
        let state = self.lock();
        let apps = state
            .applications
            .values()
            .filter(|a| &a.owner == owner)
            .cloned()
            .collect();
        Ok(sorted(apps, |a| (a.created_at, a.id)))
    }

    async fn delete_application(&self, id: ApplicationId) -> Result<Option<DeletedApplication>> {
        let mut state = self.lock();
        let Some(application) = state.applications.remove(&id) else {
            return Ok(None);
        };
        let mapping_ids: Vec<MappingId> = state
            .mappings
            .values()
            .filter(|m| m.application == id)
            .map(|m| m.id)
            .collect();
        let mut mappings = Vec::with_capacity(mapping_ids.len());
        for mapping_id in mapping_ids {
            if let Some(m) = state.mappings.remove(&mapping_id) {
                state
                    .by_consumer_key
                    .remove(&(m.key_manager.clone(), m.consumer_key.clone()));
                state
                    .by_slot
                    .remove(&(m.application, m.key_type, m.key_manager.clone()));
                mappings.push(m);
            }
        }
        let keys: Vec<_> = state
            .subscriptions
            .keys()
            .filter(|(a, _)| *a == id)
            .cloned()
            .collect();
        let subscriptions: Vec<Subscription> = keys
            .into_iter()
            .filter_map(|k| state.subscriptions.remove(&k))
            .collect();
        let mappings = sorted(mappings, |m| (m.created_at, m.id));
        let revision = state.publish(
            &self.log,
            super::deletion_events(&mappings, &subscriptions, id),
        );
        Ok(Some(DeletedApplication {
            application,
            mappings,
            subscriptions,
            revision,
        }))
    }

    async fn put_api(&self, api: &Api) -> Result<Revision> {
        let mut state = self.lock();
        state.apis.insert(api.id.clone(), api.clone());
        Ok(state.publish(&self.log, [Event::ApiChanged { api: api.clone() }]))
    }

    async fn api(&self, id: &ApiId) -> Result<Option<Api>> {
        Ok(self.lock().apis.get(id).cloned())
    }

    async fn apis(&self) -> Result<Vec<Api>> {
        Ok(self.lock().apis.values().cloned().collect())
    }

    async fn put_subscription(
        &self,
        subscription: &Subscription,
    ) -> Result<Committed<Subscription>> {
        let mut state = self.lock();
        if !state.applications.contains_key(&subscription.application) {
            return Err(Error::ApplicationNotFound(subscription.application));
        }
        if !state.apis.contains_key(&subscription.api) {
            return Err(Error::ApiNotFound(subscription.api.clone()));
        }
        let key = (subscription.application, subscription.api.clone());
        let mut stored = subscription.clone();
        if let Some(existing) = state.subscriptions.get(&key) {
            stored.created_at = existing.created_at;
        }
        state.subscriptions.insert(key, stored.clone());
        let event = Event::SubscriptionChanged {
            subscription: stored.clone(),
        };
        let revision = state.publish(&self.log, [event]);
        Ok(Committed::new(stored, revision))
    }

    async fn subscription(
        &self,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Option<Subscription>> {
        Ok(self
            .lock()
            .subscriptions
            .get(&(application, api.clone()))
            .cloned())
    }

    async fn delete_subscription(
        &self,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Option<Committed<Subscription>>> {
        let mut state = self.lock();
        let Some(removed) = state.subscriptions.remove(&(application, api.clone())) else {
            return Ok(None);
        };
        let event = Event::SubscriptionRemoved {
            application,
            api: api.clone(),
        };
        let revision = state.publish(&self.log, [event]);
        Ok(Some(Committed::new(removed, revision)))
    }

    async fn subscriptions_of(&self, application: ApplicationId) -> Result<Vec<Subscription>> {
        let state = self.lock();
        Ok(state
            .subscriptions
            .values()
            .filter(|s| s.application == application)
            .cloned()
            .collect())
    }

    async fn all_subscriptions(&self) -> Result<Vec<Subscription>> {
        Ok(self.lock().subscriptions.values().cloned().collect())
    }

    async fn insert_mapping(&self, mapping: &KeyMapping) -> Result<Revision> {
        let mut state = self.lock();
        state.add_mapping(mapping)?;
        let event = Event::MappingCreated {
            mapping: mapping.clone(),
        };
        Ok(state.publish(&self.log, [event]))
    }

    async fn mapping(&self, id: MappingId) -> Result<Option<KeyMapping>> {
        Ok(self.lock().mappings.get(&id).cloned())
    }

    async fn mapping_by_consumer_key(
        &self,
        key_manager: &KeyManagerId,
        consumer_key: &ConsumerKey,
    ) -> Result<Option<KeyMapping>> {
        let state = self.lock();
        Ok(state
            .by_consumer_key
            .get(&(key_manager.clone(), consumer_key.clone()))
            .and_then(|id| state.mappings.get(id))
            .cloned())
    }

    async fn mappings_of(&self, application: ApplicationId) -> Result<Vec<KeyMapping>> {
        let state = self.lock();
        let found = state
            .mappings
            .values()
            .filter(|m| m.application == application)
            .cloned()
            .collect();
        Ok(sorted(found, |m| (m.created_at, m.id)))
    }

    async fn all_mappings(&self) -> Result<Vec<KeyMapping>> {
        Ok(self.lock().mappings.values().cloned().collect())
    }

    async fn delete_mapping(&self, id: MappingId) -> Result<Option<Committed<KeyMapping>>> {
        let mut state = self.lock();
        let Some(m) = state.mappings.remove(&id) else {
            return Ok(None);
        };
        state
            .by_consumer_key
            .remove(&(m.key_manager.clone(), m.consumer_key.clone()));
        state
            .by_slot
            .remove(&(m.application, m.key_type, m.key_manager.clone()));
        let revision = state.publish(&self.log, [Event::MappingRemoved { mapping: m.clone() }]);
        Ok(Some(Committed::new(m, revision)))
    }

    async fn set_mapping_state(
        &self,
        id: MappingId,
        new_state: MappingState,
        at: DateTime<Utc>,
    ) -> Result<Option<Committed<StateChange>>> {
        let mut state = self.lock();
        let Some(m) = state.mappings.get_mut(&id) else {
            return Ok(None);
        };
        let previous = m.state;
        m.state = new_state;
        m.updated_at = at;
        let mapping = m.clone();
        let events = (previous != new_state).then(|| Event::MappingStateChanged {
            mapping: mapping.clone(),
            previous,
        });
        let revision = state.publish(&self.log, events);
        Ok(Some(Committed::new(
            StateChange { mapping, previous },
            revision,
        )))
    }
}
