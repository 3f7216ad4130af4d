//! The provisioning service: applications, subscriptions, and mapping out-of-band clients
//! (behaviour.md P1–P8).

use std::sync::Arc;

use serde::Deserialize;

use crate::config::GlobalSettings;
use crate::error::{ConflictRule, Error, Result, UnsupportedReason};
use crate::events::{Broadcast, Event, EventSink};
use crate::key_manager::{AccessToken, KeyManagers, RegisteredKeyManager, SecretProof};
use crate::model::{
    Actor, Api, ApiId, Application, ApplicationId, ConsumerKey, KeyMapping, KeyType, MAX_NAME_LEN,
    MappingId, MappingMode, MappingState, OrganizationId, Subscription, SubscriptionState, UserId,
    check_text, now,
};
use crate::policy::{GrantedBy, ProvisioningPolicy, Validation};
use crate::secret::ConsumerSecret;
use crate::store::Store;

/// The key manager WSO2 uses when a request names none.
pub const DEFAULT_KEY_MANAGER: &str = "Resident Key Manager";

/// A request to map an out-of-band client into an application.
#[derive(Clone, Debug)]
pub struct ProvisionRequest {
    /// The application that receives the keys.
    pub application: ApplicationId,
    /// Key manager name or id.
    pub key_manager: String,
    /// Production or sandbox.
    pub key_type: KeyType,
    /// The client id, as typed by the caller (validated by the service).
    pub consumer_key: String,
    /// The client secret; required when validation runs, unless the key manager allows
    /// mapping without one.
    pub consumer_secret: Option<ConsumerSecret>,
}

impl ProvisionRequest {
    /// A request with a secret.
    pub fn new(
        application: ApplicationId,
        key_manager: impl Into<String>,
        key_type: KeyType,
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<ConsumerSecret>,
    ) -> Self {
        Self {
            application,
            key_manager: key_manager.into(),
            key_type,
            consumer_key: consumer_key.into(),
            consumer_secret: Some(consumer_secret.into()),
        }
    }
}

/// The body of WSO2's `POST /applications/{applicationId}/map-keys`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapKeysRequest {
    /// Client id (required).
    pub consumer_key: String,
    /// Client secret.
    #[serde(default)]
    pub consumer_secret: Option<ConsumerSecret>,
    /// Key manager name or id; default `Resident Key Manager`.
    #[serde(default)]
    pub key_manager: Option<String>,
    /// `PRODUCTION` or `SANDBOX` (required).
    pub key_type: String,
}

impl MapKeysRequest {
    /// The request for `application`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for `keyType` when it is not `PRODUCTION` or `SANDBOX`.
    pub fn into_request(self, application: ApplicationId) -> Result<ProvisionRequest> {
        Ok(ProvisionRequest {
            application,
            key_manager: self
                .key_manager
                .unwrap_or_else(|| DEFAULT_KEY_MANAGER.to_owned()),
            key_type: self.key_type.parse()?,
            consumer_key: self.consumer_key,
            consumer_secret: self.consumer_secret,
        })
    }
}

/// The outcome of a successful provisioning.
#[derive(Clone, Debug)]
pub struct Provisioned {
    /// The stored mapping.
    pub mapping: KeyMapping,
    /// Why the gate opened.
    pub granted_by: GrantedBy,
    /// Whether validation ran, and if not why.
    pub validation: Validation,
    /// The token obtained while proving the secret, as WSO2's map-keys response returns it.
    pub token: Option<AccessToken>,
}

/// A new application.
#[derive(Clone, Debug)]
pub struct NewApplication {
    /// Name, unique per owner within the organization.
    pub name: String,
    /// Owner.
    pub owner: UserId,
    /// Organization.
    pub organization: OrganizationId,
}

/// The provisioning service. Cheap to clone; share it between tasks.
#[derive(Clone, Debug)]
pub struct Provisioner {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    key_managers: KeyManagers,
    policy: ProvisioningPolicy,
    events: Arc<dyn EventSink>,
}

/// Builds a [`Provisioner`].
#[derive(Debug, Default)]
pub struct ProvisionerBuilder {
    store: Option<Arc<dyn Store>>,
    key_managers: KeyManagers,
    policy: ProvisioningPolicy,
    events: Option<Arc<dyn EventSink>>,
}

impl ProvisionerBuilder {
    /// The store (required).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The key managers.
    pub fn key_managers(mut self, key_managers: KeyManagers) -> Self {
        self.key_managers = key_managers;
        self
    }

    /// The global settings (default: WSO2's defaults).
    pub fn global(mut self, global: GlobalSettings) -> Self {
        self.policy = ProvisioningPolicy::new(global);
        self
    }

    /// Where events go (default: a [`Broadcast`] nobody listens to).
    pub fn events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = Some(events);
        self
    }

    /// The service.
    ///
    /// # Errors
    /// [`Error::Config`] when no store was given or a key manager's settings are invalid.
    pub fn build(self) -> Result<Provisioner> {
        let store = self
            .store
            .ok_or_else(|| Error::config("store", "a store is required"))?;
        for km in self.key_managers.iter() {
            km.config.validate()?;
        }
        Ok(Provisioner {
            inner: Arc::new(Inner {
                store,
                key_managers: self.key_managers,
                policy: self.policy,
                events: self.events.unwrap_or_else(|| Arc::new(Broadcast::new(1))),
            }),
        })
    }
}

fn authorize(caller: &Actor, application: &Application) -> Result<()> {
    match caller {
        Actor::System => Ok(()),
        Actor::User(user) if *user == application.owner => Ok(()),
        Actor::User(_) => Err(Error::Forbidden(application.id)),
    }
}

impl Provisioner {
    /// A builder.
    pub fn builder() -> ProvisionerBuilder {
        ProvisionerBuilder::default()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The key managers.
    pub fn key_managers(&self) -> &KeyManagers {
        &self.inner.key_managers
    }

    /// The policy.
    pub fn policy(&self) -> &ProvisioningPolicy {
        &self.inner.policy
    }

    fn publish(&self, event: Event) {
        self.inner.events.publish(&event);
    }

    /// Creates an application.
    ///
    /// # Errors
    /// `InvalidInput` for a bad name; `ApplicationExists`; `Storage`.
    pub async fn create_application(&self, new: NewApplication) -> Result<Application> {
        check_text("name", &new.name, MAX_NAME_LEN)?;
        let application = Application {
            id: ApplicationId::random(),
            name: new.name,
            owner: new.owner,
            organization: new.organization,
            created_at: now(),
        };
        self.inner.store.create_application(&application).await?;
        self.publish(Event::ApplicationCreated {
            application: application.clone(),
        });
        Ok(application)
    }

    async fn owned_application(&self, caller: &Actor, id: ApplicationId) -> Result<Application> {
        let application = self
            .inner
            .store
            .application(id)
            .await?
            .ok_or(Error::ApplicationNotFound(id))?;
        authorize(caller, &application)?;
        Ok(application)
    }

    /// An application the caller owns.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden` when the caller is not the owner.
    pub async fn application(&self, caller: &Actor, id: ApplicationId) -> Result<Application> {
        self.owned_application(caller, id).await
    }

    /// Deletes an application with its mappings and subscriptions (P7). Clients at key
    /// managers are never touched. Publishes `MappingRemoved` for each mapping, then
    /// `SubscriptionRemoved` for each subscription, then `ApplicationDeleted`.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `Storage`.
    pub async fn delete_application(&self, caller: &Actor, id: ApplicationId) -> Result<()> {
        self.owned_application(caller, id).await?;
        let deleted = self
            .inner
            .store
            .delete_application(id)
            .await?
            .ok_or(Error::ApplicationNotFound(id))?;
        for mapping in deleted.mappings {
            self.publish(Event::MappingRemoved { mapping });
        }
        for s in deleted.subscriptions {
            self.publish(Event::SubscriptionRemoved {
                application: s.application,
                api: s.api,
            });
        }
        self.publish(Event::ApplicationDeleted { application: id });
        Ok(())
    }

    /// Creates or replaces an API.
    ///
    /// # Errors
    /// `InvalidInput` for a bad name or context; `Storage`.
    pub async fn put_api(&self, api: Api) -> Result<Api> {
        check_text("name", &api.name, MAX_NAME_LEN)?;
        check_text("context", &api.context, MAX_NAME_LEN)?;
        check_text("version", &api.version, MAX_NAME_LEN)?;
        self.inner.store.put_api(&api).await?;
        self.publish(Event::ApiChanged { api: api.clone() });
        Ok(api)
    }

    /// Subscribes an application to an API (state `UNBLOCKED`); subscribing again keeps the
    /// existing subscription and its state.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `ApiNotFound`; `Storage`.
    pub async fn subscribe(
        &self,
        caller: &Actor,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Subscription> {
        self.owned_application(caller, application).await?;
        if let Some(existing) = self.inner.store.subscription(application, api).await? {
            return Ok(existing);
        }
        self.write_subscription(application, api, SubscriptionState::Unblocked)
            .await
    }

    /// Sets a subscription's state (an administrative action: block, approve, reject).
    ///
    /// # Errors
    /// `SubscriptionNotFound`; `Storage`.
    pub async fn set_subscription_state(
        &self,
        application: ApplicationId,
        api: &ApiId,
        state: SubscriptionState,
    ) -> Result<Subscription> {
        if self
            .inner
            .store
            .subscription(application, api)
            .await?
            .is_none()
        {
            return Err(Error::SubscriptionNotFound {
                application,
                api: api.clone(),
            });
        }
        self.write_subscription(application, api, state).await
    }

    async fn write_subscription(
        &self,
        application: ApplicationId,
        api: &ApiId,
        state: SubscriptionState,
    ) -> Result<Subscription> {
        let at = now();
        let subscription = Subscription {
            application,
            api: api.clone(),
            state,
            created_at: at,
            updated_at: at,
        };
        let stored = self.inner.store.put_subscription(&subscription).await?;
        self.publish(Event::SubscriptionChanged {
            subscription: stored.clone(),
        });
        Ok(stored)
    }

    /// Removes a subscription.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `SubscriptionNotFound`; `Storage`.
    pub async fn unsubscribe(
        &self,
        caller: &Actor,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<()> {
        self.owned_application(caller, application).await?;
        self.inner
            .store
            .delete_subscription(application, api)
            .await?
            .ok_or_else(|| Error::SubscriptionNotFound {
                application,
                api: api.clone(),
            })?;
        self.publish(Event::SubscriptionRemoved {
            application,
            api: api.clone(),
        });
        Ok(())
    }

    /// The application's subscriptions.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `Storage`.
    pub async fn subscriptions(
        &self,
        caller: &Actor,
        application: ApplicationId,
    ) -> Result<Vec<Subscription>> {
        self.owned_application(caller, application).await?;
        self.inner.store.subscriptions_of(application).await
    }

    fn key_manager(
        &self,
        name_or_id: &str,
        organization: &OrganizationId,
    ) -> Result<&RegisteredKeyManager> {
        self.inner
            .key_managers
            .resolve(name_or_id, organization)
            .ok_or_else(|| Error::KeyManagerNotFound {
                name: name_or_id.to_owned(),
            })
    }

    /// Maps an out-of-band client into an application, following P1 (gate) → P2 (owner) →
    /// input validation → P3 (uniqueness) → P4 (validation at the key manager) → P5 (store)
    /// → P6 (event). Nothing is stored, and no event published, unless every step succeeds.
    ///
    /// # Errors
    /// Each rule has its own: `ApplicationNotFound`, `KeyManagerNotFound` (unknown or
    /// disabled), `KeyManagerUnsupported` (exchanged-only), `ProvisioningDisabled`,
    /// `Forbidden`, `InvalidInput` (naming the field), `MappingExists` (naming the rule),
    /// `ClientNotFound`, `ClientNotUsable`, `SecretNotProven`, `KeyManagerUnavailable`
    /// (retryable), `KeyManagerCredentialsRejected`, `KeyManagerProtocol`, `Storage`.
    pub async fn provision(
        &self,
        caller: &Actor,
        request: ProvisionRequest,
    ) -> Result<Provisioned> {
        let application = self
            .inner
            .store
            .application(request.application)
            .await?
            .ok_or(Error::ApplicationNotFound(request.application))?;
        // P1
        let km = self.key_manager(&request.key_manager, &application.organization)?;
        let granted_by = self.inner.policy.gate(&km.config).check(&km.config)?;
        // P2
        authorize(caller, &application)?;
        // Input
        let consumer_key = ConsumerKey::new(request.consumer_key)?;
        let validation = self.inner.policy.validation(&km.config);
        let secret = request.consumer_secret.filter(|s| !s.is_blank());
        if validation.runs() && secret.is_none() && !km.config.allow_mapping_without_secret {
            return Err(Error::invalid(
                "consumerSecret",
                "is required when provisioned clients are validated against their key manager",
            ));
        }
        // P3, early when validation will call the key manager: spares it a call for a mapping
        // that cannot be stored. The store's constraints are the authority either way.
        if validation.runs() {
            if self
                .inner
                .store
                .mapping_by_consumer_key(&km.config.id, &consumer_key)
                .await?
                .is_some()
            {
                return Err(Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped));
            }
            if self
                .inner
                .store
                .mappings_of(application.id)
                .await?
                .iter()
                .any(|m| m.key_type == request.key_type && m.key_manager == km.config.id)
            {
                return Err(Error::MappingExists(ConflictRule::KeyTypeAlreadyMapped));
            }
        }
        // P4
        let mut snapshot = Default::default();
        let mut secret_proven = false;
        let mut token = None;
        if validation.runs() {
            let info = km.client.client(&consumer_key).await?;
            info.usability(now())
                .map_err(|reason| Error::ClientNotUsable {
                    key_manager: km.config.id.clone(),
                    reason,
                })?;
            if let Some(secret) = &secret {
                match km.client.prove_secret(&consumer_key, secret).await? {
                    SecretProof::TokenIssued(issued) => token = Some(issued),
                    SecretProof::Compared => {}
                }
                secret_proven = true;
            }
            snapshot = info.snapshot();
        }
        // P5
        let at = now();
        let mapping = KeyMapping {
            id: MappingId::random(),
            application: application.id,
            key_type: request.key_type,
            key_manager: km.config.id.clone(),
            consumer_key,
            mode: MappingMode::Mapped,
            state: MappingState::Active,
            validated: validation.runs(),
            secret_proven,
            snapshot,
            created_at: at,
            updated_at: at,
            created_by: caller.clone(),
        };
        self.inner.store.insert_mapping(&mapping).await?;
        // P6
        self.publish(Event::MappingCreated {
            mapping: mapping.clone(),
        });
        tracing::info!(
            application = %mapping.application,
            key_manager = %mapping.key_manager,
            key_type = %mapping.key_type,
            mapping = %mapping.id,
            validated = mapping.validated,
            "out-of-band client provisioned"
        );
        Ok(Provisioned {
            mapping,
            granted_by,
            validation,
            token,
        })
    }

    /// The application's keys (mappings), oldest first.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `Storage`.
    pub async fn keys(
        &self,
        caller: &Actor,
        application: ApplicationId,
    ) -> Result<Vec<KeyMapping>> {
        self.owned_application(caller, application).await?;
        self.inner.store.mappings_of(application).await
    }

    /// Removes a mapping (P7): the row goes, the event is published, the client at the key
    /// manager is left untouched, and the application may map another client for that key type.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `MappingNotFound` when it does not exist or belongs
    /// to another application; `Storage`.
    pub async fn remove_mapping(
        &self,
        caller: &Actor,
        application: ApplicationId,
        mapping: MappingId,
    ) -> Result<KeyMapping> {
        self.owned_application(caller, application).await?;
        match self.inner.store.mapping(mapping).await? {
            Some(m) if m.application == application => {}
            _ => return Err(Error::MappingNotFound(mapping)),
        }
        let removed = self
            .inner
            .store
            .delete_mapping(mapping)
            .await?
            .ok_or(Error::MappingNotFound(mapping))?;
        self.publish(Event::MappingRemoved {
            mapping: removed.clone(),
        });
        Ok(removed)
    }

    /// Refuses to change the client behind a `MAPPED` key (P7): the key manager owns it.
    ///
    /// # Errors
    /// `MappedClientImmutable` for a `MAPPED` key; `NotSupported` for a `CREATED` one (the
    /// library does not manage created clients yet); `MappingNotFound`; `Forbidden`.
    pub async fn update_client(
        &self,
        caller: &Actor,
        application: ApplicationId,
        mapping: MappingId,
    ) -> Result<()> {
        self.owned_application(caller, application).await?;
        let found = match self.inner.store.mapping(mapping).await? {
            Some(m) if m.application == application => m,
            _ => return Err(Error::MappingNotFound(mapping)),
        };
        match found.mode {
            MappingMode::Mapped => Err(Error::MappedClientImmutable),
            MappingMode::Created => Err(Error::NotSupported {
                key_manager: found.key_manager,
                operation: "update_client",
            }),
        }
    }

    /// Sets a mapping's state (P10: an operator or a drift check suspends or re-activates it).
    ///
    /// # Errors
    /// `MappingNotFound`; `Storage`.
    pub async fn set_mapping_state(
        &self,
        mapping: MappingId,
        state: MappingState,
    ) -> Result<KeyMapping> {
        let previous = self
            .inner
            .store
            .mapping(mapping)
            .await?
            .ok_or(Error::MappingNotFound(mapping))?
            .state;
        let updated = self
            .inner
            .store
            .set_mapping_state(mapping, state, now())
            .await?
            .ok_or(Error::MappingNotFound(mapping))?;
        if previous != state {
            self.publish(Event::MappingStateChanged {
                mapping: updated.clone(),
                previous,
            });
        }
        Ok(updated)
    }

    /// Re-checks a mapping against its key manager (P10, drift) and moves it to `ACTIVE`
    /// (client exists and is usable), `SUSPENDED` (exists, not usable) or `ORPHANED` (gone).
    /// Publishes `MappingStateChanged` when the state changes. Transport failures leave the
    /// state as it is.
    ///
    /// # Errors
    /// `MappingNotFound`; `KeyManagerNotFound` when its key manager is no longer registered;
    /// the key manager's transport errors (`KeyManagerUnavailable`, ...); `Storage`.
    pub async fn recheck(&self, mapping: MappingId) -> Result<KeyMapping> {
        let found = self
            .inner
            .store
            .mapping(mapping)
            .await?
            .ok_or(Error::MappingNotFound(mapping))?;
        let km = self
            .inner
            .key_managers
            .by_id(&found.key_manager)
            .ok_or_else(|| Error::KeyManagerNotFound {
                name: found.key_manager.to_string(),
            })?;
        let state = match km.client.client(&found.consumer_key).await {
            Ok(info) if info.usability(now()).is_ok() => MappingState::Active,
            Ok(_) => MappingState::Suspended,
            Err(Error::ClientNotFound { .. }) => MappingState::Orphaned,
            Err(other) => return Err(other),
        };
        if state == found.state {
            return Ok(found);
        }
        self.set_mapping_state(mapping, state).await
    }

    /// Obtains a `client_credentials` token for an application's mapped client (P8). The
    /// secret is the caller's: it is not stored.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `KeyManagerNotFound` (unknown or disabled);
    /// `KeyManagerUnsupported` (901405) when token generation is disabled for the key
    /// manager; `NoKeys`; `MappingNotActive`; `SecretNotProven`; the key manager's transport
    /// errors.
    pub async fn token(
        &self,
        caller: &Actor,
        application: ApplicationId,
        key_manager: &str,
        key_type: KeyType,
        secret: &ConsumerSecret,
        scopes: &[String],
    ) -> Result<AccessToken> {
        let app = self.owned_application(caller, application).await?;
        let km = self.key_manager(key_manager, &app.organization)?;
        if !km.config.enabled {
            return Err(Error::KeyManagerNotFound {
                name: key_manager.to_owned(),
            });
        }
        if !km.config.enable_token_generation {
            return Err(Error::KeyManagerUnsupported {
                key_manager: km.config.id.clone(),
                reason: UnsupportedReason::TokenGenerationDisabled,
            });
        }
        let mapping = self
            .inner
            .store
            .mappings_of(application)
            .await?
            .into_iter()
            .find(|m| m.key_type == key_type && m.key_manager == km.config.id)
            .ok_or_else(|| Error::NoKeys {
                key_manager: km.config.id.clone(),
                key_type,
            })?;
        if mapping.state != MappingState::Active {
            return Err(Error::MappingNotActive {
                id: mapping.id,
                state: mapping.state,
            });
        }
        km.client
            .client_credentials_token(&mapping.consumer_key, secret, scopes)
            .await
    }
}
