//! The provisioning service: applications, APIs, subscriptions, and mapping out-of-band clients
//! into applications, following the [provisioning rules](crate::guide::provisioning).
//!
//! Every method that changes something returns the [`Revision`] at which the change is
//! visible (in a [`Committed`], or in [`Provisioned::revision`]): a gateway that follows the
//! same store answers accordingly once [`Gateway::wait_for`](crate::gateway::Gateway::wait_for)
//! that revision returns.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use serde::Deserialize;

pub mod import;

use crate::audit::{AuditAction, AuditContext, AuditEntry, AuditQuery, AuditRecord};
use crate::config::GlobalSettings;
use crate::error::{ConflictRule, Error, Result, UnsupportedReason};
use crate::events::{ChangeSource, Committed, Revision};
use crate::key_manager::{AccessToken, KeyManagers, RegisteredKeyManager, SecretProof};
use crate::model::{
    Actor, Api, ApiId, Application, ApplicationId, ClientSnapshot, ConsumerKey, KeyMapping,
    KeyType, MAX_NAME_LEN, MappingId, MappingMode, MappingState, OrganizationId, RequestId,
    Subscription, SubscriptionState, UserId, check_text, now,
};
use crate::policy::{GrantedBy, PolicyRequest, ProvisioningPolicy, Validation, Wso2Policy};
use crate::secret::ConsumerSecret;
use crate::store::Store;

/// The key manager WSO2 uses when a request names none.
pub const DEFAULT_KEY_MANAGER: &str = "Resident Key Manager";

/// A request to map an out-of-band client into an application.
///
/// The client id and the secret have distinct types, so they cannot be swapped by mistake:
///
/// ```
/// use keyprov::{ApplicationId, ConsumerKey, ConsumerSecret, KeyType, ProvisionRequest};
///
/// let request = ProvisionRequest::new(
///     ApplicationId::random(),
///     "IS",
///     KeyType::Production,
///     ConsumerKey::new("7ByCQ4eKkfLSf0ZJzm9Bq2l1rRIa")?,
/// )
/// .secret(ConsumerSecret::new("the client's secret"));
/// assert!(request.consumer_secret.is_some());
/// # Ok::<(), keyprov::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProvisionRequest {
    /// The application that receives the keys.
    pub application: ApplicationId,
    /// Key manager name or id.
    pub key_manager: String,
    /// Production or sandbox.
    pub key_type: KeyType,
    /// The client id.
    pub consumer_key: ConsumerKey,
    /// The client secret; required when validation runs, unless the key manager allows
    /// mapping without one.
    pub consumer_secret: Option<ConsumerSecret>,
}

impl ProvisionRequest {
    /// A request without a secret (add one with [`ProvisionRequest::secret`]).
    pub fn new(
        application: ApplicationId,
        key_manager: impl Into<String>,
        key_type: KeyType,
        consumer_key: ConsumerKey,
    ) -> Self {
        Self {
            application,
            key_manager: key_manager.into(),
            key_type,
            consumer_key,
            consumer_secret: None,
        }
    }

    /// Sets the client secret.
    pub fn secret(mut self, secret: ConsumerSecret) -> Self {
        self.consumer_secret = Some(secret);
        self
    }
}

/// A request for a `client_credentials` token of an application's mapped client
/// ([P8](crate::guide::provisioning)).
///
/// ```
/// use keyprov::{ApplicationId, ConsumerSecret, KeyType, TokenRequest};
///
/// let request = TokenRequest::new(ApplicationId::random(), "IS", KeyType::Sandbox,
///                                 ConsumerSecret::new("the client's secret"))
///     .scopes(["read", "write"]);
/// assert_eq!(request.scopes, ["read", "write"]);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenRequest {
    /// The application.
    pub application: ApplicationId,
    /// Key manager name or id.
    pub key_manager: String,
    /// Which of the application's mappings.
    pub key_type: KeyType,
    /// The mapped client's secret (never stored).
    pub consumer_secret: ConsumerSecret,
    /// Scopes to ask for; none by default.
    pub scopes: Vec<String>,
}

impl TokenRequest {
    /// A request without scopes.
    pub fn new(
        application: ApplicationId,
        key_manager: impl Into<String>,
        key_type: KeyType,
        consumer_secret: ConsumerSecret,
    ) -> Self {
        Self {
            application,
            key_manager: key_manager.into(),
            key_type,
            consumer_secret,
            scopes: Vec::new(),
        }
    }

    /// Sets the scopes to ask for.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
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
    /// [`Error::InvalidInput`] for `keyType` when it is not `PRODUCTION` or `SANDBOX`, and for
    /// `consumerKey` when it is blank, too long or has control characters.
    pub fn into_request(self, application: ApplicationId) -> Result<ProvisionRequest> {
        Ok(ProvisionRequest {
            application,
            key_manager: self
                .key_manager
                .unwrap_or_else(|| DEFAULT_KEY_MANAGER.to_owned()),
            key_type: self.key_type.parse()?,
            consumer_key: ConsumerKey::new(self.consumer_key)?,
            consumer_secret: self.consumer_secret,
        })
    }
}

/// Whether a provisioning request stored a new mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The mapping was created now.
    Created,
    /// The same caller had already mapped this client to this application, key type and key
    /// manager (a retry of a request that succeeded): nothing was changed and the key manager
    /// was not contacted again.
    AlreadyExisted,
}

/// The outcome of a successful provisioning.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Provisioned {
    /// Created now, or already there.
    pub outcome: Outcome,
    /// The stored mapping.
    pub mapping: KeyMapping,
    /// Why the gate opened.
    pub granted_by: GrantedBy,
    /// Whether validation ran, and if not why.
    pub validation: Validation,
    /// The token obtained while proving the secret, as WSO2's map-keys response returns it
    /// (none when the mapping already existed).
    pub token: Option<AccessToken>,
    /// The revision at which the mapping is visible.
    pub revision: Revision,
}

/// A new application.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NewApplication {
    /// Name, unique per owner within the organization.
    pub name: String,
    /// Owner.
    pub owner: UserId,
    /// Organization.
    pub organization: OrganizationId,
}

impl NewApplication {
    /// An application named `name`, owned by `owner` in `organization`.
    pub fn new(name: impl Into<String>, owner: UserId, organization: OrganizationId) -> Self {
        Self {
            name: name.into(),
            owner,
            organization,
        }
    }
}

/// The provisioning service. Cheap to clone; share it between tasks.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> keyprov::Result<()> {
/// use std::sync::Arc;
/// use keyprov::store::MemoryStore;
/// use keyprov::testkit::ScriptedKeyManager;
/// use keyprov::{Actor, ConsumerKey, ConsumerSecret, KeyManagerConfig, KeyManagers, KeyType,
///               NewApplication, OrganizationId, Outcome, ProvisionRequest, Provisioner, UserId};
///
/// let is = ScriptedKeyManager::new("IS");
/// is.add_client("client-1", "secret-1"); // created in the key manager's own console
/// let key_managers = KeyManagers::new()
///     .with(KeyManagerConfig::new("IS")?.out_of_band(true), Arc::new(is))?;
/// let provisioner = Provisioner::builder()
///     .store(Arc::new(MemoryStore::new()))
///     .key_managers(key_managers)
///     .build()?;
///
/// let alice = UserId::new("alice")?;
/// let app = provisioner
///     .create_application(NewApplication::new("PizzaApp", alice.clone(), OrganizationId::new("acme")?))
///     .await?;
/// let request = ProvisionRequest::new(app.id, "IS", KeyType::Production, ConsumerKey::new("client-1")?)
///     .secret(ConsumerSecret::new("secret-1"));
/// let done = provisioner.provision(&Actor::User(alice.clone()), request.clone()).await?;
/// assert_eq!(done.outcome, Outcome::Created);
/// assert!(done.mapping.secret_proven);
///
/// // A retry of the same request is answered as a success, without calling the key manager.
/// let again = provisioner.provision(&Actor::User(alice), request).await?;
/// assert_eq!(again.outcome, Outcome::AlreadyExisted);
/// assert_eq!(again.mapping.id, done.mapping.id);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Provisioner {
    inner: Arc<Inner>,
    request_id: Option<RequestId>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    key_managers: KeyManagers,
    policy: Arc<dyn ProvisioningPolicy>,
}

/// Builds a [`Provisioner`].
#[derive(Debug)]
pub struct ProvisionerBuilder {
    store: Option<Arc<dyn Store>>,
    key_managers: KeyManagers,
    policy: Arc<dyn ProvisioningPolicy>,
}

impl Default for ProvisionerBuilder {
    fn default() -> Self {
        Self {
            store: None,
            key_managers: KeyManagers::default(),
            policy: Arc::new(Wso2Policy::default()),
        }
    }
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

    /// WSO2's policy ([`Wso2Policy`]) over these global settings (the default: WSO2's
    /// defaults). Replaces a policy set before.
    pub fn global(mut self, global: GlobalSettings) -> Self {
        self.policy = Arc::new(Wso2Policy::new(global));
        self
    }

    /// A policy of your own (see [`ProvisioningPolicy`]). Replaces a policy set before.
    pub fn policy(mut self, policy: impl ProvisioningPolicy) -> Self {
        self.policy = Arc::new(policy);
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
            }),
            request_id: None,
        })
    }
}

fn authorize(caller: &Actor, application: &Application) -> Result<()> {
    match caller {
        Actor::User(user) if *user != application.owner => Err(Error::Forbidden(application.id)),
        _ => Ok(()),
    }
}

impl Provisioner {
    /// A handle on the same provisioner whose calls are recorded in the audit trail under
    /// `request_id` (every call otherwise gets a random one). Cheap: it shares everything.
    pub fn with_request_id(&self, request_id: RequestId) -> Provisioner {
        Provisioner {
            inner: Arc::clone(&self.inner),
            request_id: Some(request_id),
        }
    }

    fn audit_context(&self, caller: &Actor) -> AuditContext {
        let request_id = self.request_id.clone().unwrap_or_else(RequestId::random);
        AuditContext::new(caller.clone(), request_id)
    }

    /// Runs `call` in an audit scope for `caller`: the store records the changes it makes.
    async fn audited<T>(
        &self,
        caller: &Actor,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        crate::audit::scope(self.audit_context(caller), call).await
    }

    /// The audit trail's records that match `query`, oldest first
    /// ([`audit`](crate::audit)). Administrators and services read any; a user reads only
    /// the records of an application they own, so the query must name one.
    ///
    /// # Errors
    /// `Forbidden` for a user whose query names no application of theirs (an
    /// `ApplicationNotFound` for an unknown one); `Storage`.
    pub async fn audit(&self, caller: &Actor, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        if !caller.is_privileged() {
            match query.application {
                Some(application) => {
                    self.owned_application(caller, application).await?;
                }
                None => {
                    return Err(Error::invalid(
                        "application",
                        "a user reads the audit trail of one of their applications",
                    ));
                }
            }
        }
        self.inner.store.audit(query).await
    }

    /// Removes the audit records from before `older_than` (a retention period applied by the
    /// embedding service or by `keyprov audit prune`); returns how many went.
    ///
    /// # Errors
    /// `NotPermitted` for a user; `Storage`.
    pub async fn prune_audit(
        &self,
        caller: &Actor,
        older_than: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        if !caller.is_privileged() {
            return Err(Error::NotPermitted {
                operation: "prune the audit trail",
            });
        }
        let removed = self.inner.store.prune_audit(older_than).await?;
        tracing::info!(%caller, removed, before = %older_than, "audit trail pruned");
        Ok(removed)
    }

    /// Every application, oldest first: for administrators and services (operators' listings
    /// and exports).
    ///
    /// # Errors
    /// `NotPermitted` for a user (who lists with [`Provisioner::applications`]); `Storage`.
    pub async fn all_applications(&self, caller: &Actor) -> Result<Vec<Application>> {
        if !caller.is_privileged() {
            return Err(Error::NotPermitted {
                operation: "list every application",
            });
        }
        self.inner.store.all_applications().await
    }

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
    pub fn policy(&self) -> &dyn ProvisioningPolicy {
        self.inner.policy.as_ref()
    }

    /// The store's current revision.
    ///
    /// # Errors
    /// `Storage`.
    pub async fn revision(&self) -> Result<Revision> {
        self.inner.store.revision().await
    }

    /// Creates an application.
    ///
    /// # Errors
    /// `InvalidInput` for a bad name; `ApplicationExists`; `Storage`.
    pub async fn create_application(&self, new: NewApplication) -> Result<Committed<Application>> {
        check_text("name", &new.name, MAX_NAME_LEN)?;
        let application = Application {
            id: ApplicationId::random(),
            name: new.name,
            owner: new.owner,
            organization: new.organization,
            created_at: now(),
        };
        let revision = self.inner.store.create_application(&application).await?;
        Ok(Committed::new(application, revision))
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

    /// The applications `owner` owns, oldest first.
    ///
    /// # Errors
    /// `Forbidden` when a user asks for another user's applications; `Storage`.
    pub async fn applications(&self, caller: &Actor, owner: &UserId) -> Result<Vec<Application>> {
        let applications = self.inner.store.applications_of(owner).await?;
        match caller {
            Actor::User(user) if user != owner => match applications.first() {
                Some(first) => Err(Error::Forbidden(first.id)),
                None => Ok(Vec::new()),
            },
            _ => Ok(applications),
        }
    }

    /// Deletes an application with its mappings and subscriptions
    /// ([P7](crate::guide::provisioning)). Clients at key managers are never touched. The
    /// store publishes a removal for each mapping, then for each subscription, then the
    /// application's. Returns the revision of the last.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `Storage`.
    pub async fn delete_application(&self, caller: &Actor, id: ApplicationId) -> Result<Revision> {
        self.owned_application(caller, id).await?;
        let deleted = self
            .audited(caller, self.inner.store.delete_application(id))
            .await?
            .ok_or(Error::ApplicationNotFound(id))?;
        tracing::info!(
            application = %id,
            %caller,
            mappings = deleted.mappings.len(),
            revision = %deleted.revision,
            "application deleted"
        );
        Ok(deleted.revision)
    }

    /// Creates or replaces an API.
    ///
    /// # Errors
    /// `InvalidInput` for a bad name, context or version; `Storage`.
    pub async fn put_api(&self, api: Api) -> Result<Committed<Api>> {
        check_text("name", &api.name, MAX_NAME_LEN)?;
        check_text("context", &api.context, MAX_NAME_LEN)?;
        check_text("version", &api.version, MAX_NAME_LEN)?;
        let revision = self.inner.store.put_api(&api).await?;
        Ok(Committed::new(api, revision))
    }

    /// Subscribes an application to an API (state `UNBLOCKED`); subscribing again keeps the
    /// existing subscription and its state (its revision is then the store's current one).
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `ApiNotFound`; `Storage`.
    pub async fn subscribe(
        &self,
        caller: &Actor,
        application: ApplicationId,
        api: &ApiId,
    ) -> Result<Committed<Subscription>> {
        self.owned_application(caller, application).await?;
        let revision = self.inner.store.revision().await?;
        if let Some(existing) = self.inner.store.subscription(application, api).await? {
            return Ok(Committed::new(existing, revision));
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
    ) -> Result<Committed<Subscription>> {
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
    ) -> Result<Committed<Subscription>> {
        let at = now();
        let subscription = Subscription {
            application,
            api: api.clone(),
            state,
            created_at: at,
            updated_at: at,
        };
        self.inner.store.put_subscription(&subscription).await
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
    ) -> Result<Revision> {
        self.owned_application(caller, application).await?;
        let removed = self
            .inner
            .store
            .delete_subscription(application, api)
            .await?
            .ok_or_else(|| Error::SubscriptionNotFound {
                application,
                api: api.clone(),
            })?;
        Ok(removed.revision)
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
                name: preview(name_or_id),
            })
    }

    /// Maps an out-of-band client into an application, following the
    /// [provisioning rules](crate::guide::provisioning) in order: ownership (P2) → the gate
    /// (P1, by the [`ProvisioningPolicy`]) → input → uniqueness (P3) → validation at the key
    /// manager (P4) → store (P5), whose change is published (P6). Nothing is stored unless
    /// every step succeeds. A caller who does not own the application gets `Forbidden` before
    /// anything about key managers is looked at.
    ///
    /// A retry of a request that already succeeded (same caller, application, key type, key
    /// manager and client) is answered with [`Outcome::AlreadyExisted`] and the stored
    /// mapping, without contacting the key manager. Every refusal is logged (`tracing`, at
    /// `info`, with its code; never the secret).
    ///
    /// # Errors
    /// Each rule has its own: `ApplicationNotFound`, `Forbidden`, `KeyManagerNotFound`
    /// (unknown or disabled), `KeyManagerUnsupported` (exchanged-only), `ProvisioningDisabled`,
    /// `PolicyRefused` (a custom policy's code), `InvalidInput` (naming the field),
    /// `MappingExists` (naming the rule), `ClientNotFound`, `ClientNotUsable`,
    /// `SecretNotProven`, `KeyManagerUnavailable` (retryable), `KeyManagerCredentialsRejected`,
    /// `KeyManagerProtocol`, `Storage`.
    pub async fn provision(
        &self,
        caller: &Actor,
        request: ProvisionRequest,
    ) -> Result<Provisioned> {
        let application = request.application;
        let key_type = request.key_type;
        let key_manager = preview(&request.key_manager);
        let consumer_key = preview(request.consumer_key.as_str());
        let context = self.audit_context(caller);
        let result =
            crate::audit::scope(context.clone(), self.try_provision(caller, request)).await;
        if let Err(error) = &result {
            let entry = AuditEntry::new(&context, AuditAction::ProvisioningRefused)
                .code(error.code())
                .application(application)
                .key_manager(key_manager.clone())
                .key_type(key_type)
                .consumer_key(consumer_key)
                .detail(error.to_string());
            if let Err(not_recorded) = self.inner.store.record_audit(&[entry]).await {
                tracing::warn!(%application, error = %not_recorded, "a refused attempt could not be recorded in the audit trail");
            }
        }
        match &result {
            Ok(done) => tracing::info!(
                application = %done.mapping.application,
                key_manager = %done.mapping.key_manager,
                key_type = %done.mapping.key_type,
                mapping = %done.mapping.id,
                validated = done.mapping.validated,
                outcome = ?done.outcome,
                "out-of-band client provisioned"
            ),
            Err(error) => tracing::info!(
                %application,
                key_manager,
                %key_type,
                caller = %caller,
                code = error.code(),
                %error,
                "provisioning refused"
            ),
        }
        result
    }

    /// P1 (the key manager), the gate, and the input checks that need no I/O: what a request
    /// must pass before uniqueness and the key manager are looked at.
    fn admit(
        &self,
        caller: &Actor,
        application: &Application,
        key_manager: &str,
        key_type: KeyType,
        consumer_key: &ConsumerKey,
        secret: Option<ConsumerSecret>,
    ) -> Result<Admitted<'_>> {
        // P1, after the name is checked like any other input.
        check_text("keyManager", key_manager, MAX_NAME_LEN)?;
        let km = self.key_manager(key_manager, &application.organization)?;
        let policy_request =
            PolicyRequest::new(caller, application, &km.config, key_type, consumer_key);
        let granted_by = self.inner.policy.gate(&policy_request).check(&km.config)?;
        let validation = self.inner.policy.validation(&policy_request);
        // Input
        let secret = secret.filter(|s| !s.is_blank());
        if let Some(secret) = &secret {
            secret.check()?;
        }
        if validation.runs() && secret.is_none() && !km.config.allow_mapping_without_secret {
            return Err(Error::invalid(
                "consumerSecret",
                "is required when provisioned clients are validated against their key manager",
            ));
        }
        Ok(Admitted {
            km,
            granted_by,
            validation,
            secret,
        })
    }

    async fn try_provision(
        &self,
        caller: &Actor,
        request: ProvisionRequest,
    ) -> Result<Provisioned> {
        // P2 first: a non-owner learns nothing about key managers.
        let application = self.owned_application(caller, request.application).await?;
        let ProvisionRequest {
            key_manager,
            key_type,
            consumer_key,
            consumer_secret,
            ..
        } = request;
        let Admitted {
            km,
            granted_by,
            validation,
            secret,
        } = self.admit(
            caller,
            &application,
            &key_manager,
            key_type,
            &consumer_key,
            consumer_secret,
        )?;
        // P3, before the key manager is called: a retry is answered from the store, and a
        // mapping that cannot be stored spares the key manager a call. The store's
        // constraints are the authority either way.
        let existing = self
            .inner
            .store
            .mapping_by_consumer_key(&km.config.id, &consumer_key)
            .await?;
        if let Some(existing) = existing {
            return self
                .already_existed(
                    caller,
                    &application,
                    key_type,
                    existing,
                    granted_by,
                    validation,
                )
                .await;
        }
        if self
            .inner
            .store
            .mappings_of(application.id)
            .await?
            .iter()
            .any(|m| m.key_type == key_type && m.key_manager == km.config.id)
        {
            return Err(Error::MappingExists(ConflictRule::KeyTypeAlreadyMapped));
        }
        // P4
        let (snapshot, secret_proven, token) =
            validate(km, &consumer_key, secret.as_ref(), validation).await?;
        // P5, P6 (the store publishes the change)
        let mapping = KeyMapping {
            secret_proven,
            snapshot,
            ..new_mapping(
                caller,
                application.id,
                key_type,
                km,
                consumer_key,
                validation,
                (MappingId::random(), now()),
            )
        };
        match self.inner.store.insert_mapping(&mapping).await {
            Ok(revision) => Ok(Provisioned {
                outcome: Outcome::Created,
                mapping,
                granted_by,
                validation,
                token,
                revision,
            }),
            // An identical request may have won the race since the check above.
            Err(Error::MappingExists(rule)) => {
                match self
                    .inner
                    .store
                    .mapping_by_consumer_key(&mapping.key_manager, &mapping.consumer_key)
                    .await?
                {
                    Some(existing) if same_request(caller, &application, key_type, &existing) => {
                        self.already_existed(
                            caller,
                            &application,
                            key_type,
                            existing,
                            granted_by,
                            validation,
                        )
                        .await
                    }
                    _ => Err(Error::MappingExists(rule)),
                }
            }
            Err(other) => Err(other),
        }
    }

    async fn already_existed(
        &self,
        caller: &Actor,
        application: &Application,
        key_type: KeyType,
        existing: KeyMapping,
        granted_by: GrantedBy,
        validation: Validation,
    ) -> Result<Provisioned> {
        if !same_request(caller, application, key_type, &existing) {
            return Err(Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped));
        }
        Ok(Provisioned {
            outcome: Outcome::AlreadyExisted,
            mapping: existing,
            granted_by,
            validation,
            token: None,
            revision: self.inner.store.revision().await?,
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

    /// Removes a mapping ([P7](crate::guide::provisioning)): the row goes, the change is
    /// published, the client at the key manager is left untouched, and the application may
    /// map another client for that key type.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `MappingNotFound` when it does not exist or belongs
    /// to another application; `Storage`.
    pub async fn remove_mapping(
        &self,
        caller: &Actor,
        application: ApplicationId,
        mapping: MappingId,
    ) -> Result<Committed<KeyMapping>> {
        self.owned_application(caller, application).await?;
        match self.inner.store.mapping(mapping).await? {
            Some(m) if m.application == application => {}
            _ => return Err(Error::MappingNotFound(mapping)),
        }
        let removed = self
            .audited(caller, self.inner.store.delete_mapping(mapping))
            .await?
            .ok_or(Error::MappingNotFound(mapping))?;
        tracing::info!(
            %application,
            %mapping,
            key_manager = %removed.key_manager,
            key_type = %removed.key_type,
            %caller,
            revision = %removed.revision,
            "mapping removed"
        );
        Ok(removed)
    }

    /// Refuses to change the client behind a `MAPPED` key ([P7](crate::guide::provisioning)):
    /// the key manager owns it.
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

    /// Sets a mapping's state ([P10](crate::guide::provisioning): an operator or a drift check
    /// suspends or re-activates it). The change is published, and logged with the caller, only
    /// when the state differs.
    ///
    /// # Errors
    /// `NotPermitted` when the caller is an [`Actor::User`] (only administrators and services
    /// set states by hand); `MappingNotFound`; `Storage`.
    pub async fn set_mapping_state(
        &self,
        caller: &Actor,
        mapping: MappingId,
        state: MappingState,
    ) -> Result<Committed<KeyMapping>> {
        if !caller.is_privileged() {
            return Err(Error::NotPermitted {
                operation: "set a mapping's state",
            });
        }
        self.store_state(caller, mapping, state).await
    }

    async fn store_state(
        &self,
        caller: &Actor,
        mapping: MappingId,
        state: MappingState,
    ) -> Result<Committed<KeyMapping>> {
        let changed = self
            .audited(
                caller,
                self.inner.store.set_mapping_state(mapping, state, now()),
            )
            .await?
            .ok_or(Error::MappingNotFound(mapping))?;
        tracing::info!(
            application = %changed.mapping.application,
            %mapping,
            key_manager = %changed.mapping.key_manager,
            from = %changed.previous,
            to = %state,
            %caller,
            revision = %changed.revision,
            "mapping state changed"
        );
        Ok(changed.map(|c| c.mapping))
    }

    /// Re-checks a mapping against its key manager ([P10](crate::guide::provisioning), drift)
    /// and moves it to `ACTIVE` (client exists and is usable), `SUSPENDED` (exists, not
    /// usable) or `ORPHANED` (gone). The change is published when the state changes. The state
    /// moves only on positive evidence: an unreachable key manager, refused admin credentials or
    /// an answer that cannot tell a missing client from wrong credentials leave it as it is.
    ///
    /// The owner of the application may re-check its own mappings; administrators and services
    /// any mapping. A change is logged with the caller.
    ///
    /// # Errors
    /// `MappingNotFound`; `Forbidden` when a user re-checks another user's mapping;
    /// `KeyManagerNotFound` when its key manager is no longer registered;
    /// `KeyManagerUnavailable` (retryable), `KeyManagerCredentialsRejected`,
    /// `ClientLookupInconclusive` (901428) and the key manager's other errors; `Storage`.
    pub async fn recheck(
        &self,
        caller: &Actor,
        mapping: MappingId,
    ) -> Result<Committed<KeyMapping>> {
        Ok(self.recheck_from(caller, mapping).await?.1)
    }

    /// [`Provisioner::recheck`], with the state the mapping had before.
    pub(crate) async fn recheck_from(
        &self,
        caller: &Actor,
        mapping: MappingId,
    ) -> Result<(MappingState, Committed<KeyMapping>)> {
        let found = self
            .inner
            .store
            .mapping(mapping)
            .await?
            .ok_or(Error::MappingNotFound(mapping))?;
        if !caller.is_privileged() {
            self.owned_application(caller, found.application).await?;
        }
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
        let before = found.state;
        if state == before {
            let revision = self.inner.store.revision().await?;
            return Ok((before, Committed::new(found, revision)));
        }
        Ok((before, self.store_state(caller, mapping, state).await?))
    }

    /// Obtains a `client_credentials` token for an application's mapped client
    /// ([P8](crate::guide::provisioning)). The secret is the caller's: it is not stored.
    ///
    /// # Errors
    /// `ApplicationNotFound`; `Forbidden`; `KeyManagerNotFound` (unknown or disabled);
    /// `KeyManagerUnsupported` (901405) when token generation is disabled for the key
    /// manager; `NoKeys`; `MappingNotActive`; `SecretNotProven`; the key manager's transport
    /// errors.
    pub async fn token(&self, caller: &Actor, request: TokenRequest) -> Result<AccessToken> {
        let app = self.owned_application(caller, request.application).await?;
        check_text("keyManager", &request.key_manager, MAX_NAME_LEN)?;
        request.consumer_secret.check()?;
        let km = self.key_manager(&request.key_manager, &app.organization)?;
        if !km.config.enabled {
            return Err(Error::KeyManagerNotFound {
                name: preview(&request.key_manager),
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
            .mappings_of(request.application)
            .await?
            .into_iter()
            .find(|m| m.key_type == request.key_type && m.key_manager == km.config.id)
            .ok_or_else(|| Error::NoKeys {
                key_manager: km.config.id.clone(),
                key_type: request.key_type,
            })?;
        if mapping.state != MappingState::Active {
            return Err(Error::MappingNotActive {
                id: mapping.id,
                state: mapping.state,
            });
        }
        km.client
            .client_credentials_token(
                &mapping.consumer_key,
                &request.consumer_secret,
                &request.scopes,
            )
            .await
    }
}

impl ChangeSource for Provisioner {
    fn change_store(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }
}

/// What [`Provisioner::admit`] let through.
struct Admitted<'a> {
    km: &'a RegisteredKeyManager,
    granted_by: GrantedBy,
    validation: Validation,
    secret: Option<ConsumerSecret>,
}

/// P4: when validation runs, the client must exist and be usable, and a given secret must be
/// accepted. Returns what the key manager said, whether the secret was proven, and the token
/// obtained while proving it.
async fn validate(
    km: &RegisteredKeyManager,
    consumer_key: &ConsumerKey,
    secret: Option<&ConsumerSecret>,
    validation: Validation,
) -> Result<(ClientSnapshot, bool, Option<AccessToken>)> {
    if !validation.runs() {
        return Ok((ClientSnapshot::default(), false, None));
    }
    let info = km.client.client(consumer_key).await?;
    info.usability(now())
        .map_err(|reason| Error::ClientNotUsable {
            key_manager: km.config.id.clone(),
            reason,
        })?;
    let mut token = None;
    if let Some(secret) = secret
        && let SecretProof::TokenIssued(issued) =
            km.client.prove_secret(consumer_key, secret).await?
    {
        token = Some(issued);
    }
    Ok((info.snapshot(), secret.is_some(), token))
}

/// A new `MAPPED`, `ACTIVE` mapping, not validated at the key manager yet, with its
/// identifier and creation time.
fn new_mapping(
    caller: &Actor,
    application: ApplicationId,
    key_type: KeyType,
    km: &RegisteredKeyManager,
    consumer_key: ConsumerKey,
    validation: Validation,
    (id, at): (MappingId, DateTime<Utc>),
) -> KeyMapping {
    KeyMapping {
        id,
        application,
        key_type,
        key_manager: km.config.id.clone(),
        consumer_key,
        mode: MappingMode::Mapped,
        state: MappingState::Active,
        validated: validation.runs(),
        secret_proven: false,
        snapshot: ClientSnapshot::default(),
        created_at: at,
        updated_at: at,
        created_by: caller.clone(),
    }
}

/// Whether `existing` is what this caller's request would have stored: the retry of a request
/// that succeeded.
fn same_request(
    caller: &Actor,
    application: &Application,
    key_type: KeyType,
    existing: &KeyMapping,
) -> bool {
    existing.application == application.id
        && existing.key_type == key_type
        && existing.created_by == *caller
}

/// Caller text as it may appear in a message or a log: escaped, at most 64 characters.
pub(crate) fn preview(text: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}
