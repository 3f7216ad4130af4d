//! An in-process Keycloak (feature `emulator`), dressed from km-oidc's engine.
//!
//! It serves, under an optional `http-relative-path` (`/auth` for Keycloak 16 and older):
//! `/realms/{r}/.well-known/openid-configuration`, `.../protocol/openid-connect/{token,certs,
//! token/introspect}`, the OIDC registration read
//! `/realms/{r}/clients-registrations/openid-connect/{clientId}`, and the admin API
//! `/admin/realms/{r}/clients?clientId=`, `/clients/{id}`, `/clients/{id}/client-secret`.
//!
//! What it reproduces: realms (`master` always exists; tokens carry `iss = {base}/realms/{r}`),
//! `realm-management` role checks (`view-clients`, `manage-clients`, `realm-admin`; a token of
//! another realm is refused by the registration API, and by the admin API unless it is a
//! `master` account with roles on the realm), secret masking for `view-clients`-only callers
//! (26.8+, switchable), client flags (`enabled`, `publicClient`, `bearerOnly`,
//! `serviceAccountsEnabled`) and Keycloak's answers to each at the token endpoint, wrong
//! secrets answered `unauthorized_client` (20+) or `invalid_client`, token claims (`typ:
//! Bearer`, `azp`, `client_id` (25+) or `clientId`, `preferred_username:
//! service-account-{clientId}`, `aud: account`, header `typ: JWT`, RS256), an `enc` key next
//! to the signing key in `certs`, admin error bodies as `{error, error_description}` or
//! `{errorMessage}`, revocation of every token issued so far. Faults and request counters
//! come from km-oidc ([`KeycloakEmulator::faults`]).
//!
//! Simplifications: one signing key set for all realms; client ids are unique across realms.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use keyprov::{ConsumerKey, KeyManager, KeyManagerId};
//! use km_keycloak::KeycloakKeyManager;
//! use km_keycloak::emulator::KeycloakEmulator;
//!
//! let kc = KeycloakEmulator::start("demo").await?;
//! let admin = kc.admin_service_account("keyprov-admin");
//! let app = kc.confidential_client("billing");
//! let km = KeycloakKeyManager::new(kc.adapter_config(KeyManagerId::new("keycloak")?, &admin))?;
//! let info = km.client(&ConsumerKey::new(app.client_id.as_str())?).await?;
//! assert_eq!(info.client_credentials_allowed, Some(true));
//! # Ok(()) }
//! ```

mod model;
mod routes;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use keyprov::KeyManagerId;
use km_oidc::emulator::{
    Alg, ClaimsContext, ClientRecord, Emulator, Engine, Faults, Flavour, Paths,
};
use serde_json::{Map, Value, json};

use crate::config::KeycloakConfig;
pub use model::{
    AdminErrorStyle, ClientFlags, Credentials, KeycloakClient, KeycloakVersion, MASKED_SECRET,
};

/// The scope string of a service-account token: the default client scopes, then the asked.
pub(crate) fn token_scope(asked: &[String]) -> String {
    let mut scopes = vec!["profile".to_owned(), "email".to_owned()];
    scopes.extend(
        asked
            .iter()
            .filter(|s| !scopes.contains(s))
            .cloned()
            .collect::<Vec<_>>(),
    );
    scopes.join(" ")
}

#[derive(Debug)]
struct RealmState {
    realms: BTreeSet<String>,
    masking: bool,
    error_style: AdminErrorStyle,
    issued: HashSet<String>,
    revoked: HashSet<String>,
}

/// Realm-wide state the routes share with the test.
#[derive(Debug)]
pub(crate) struct Realms {
    prefix: String,
    version: KeycloakVersion,
    state: Mutex<RealmState>,
}

impl Realms {
    fn lock(&self) -> MutexGuard<'_, RealmState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn version(&self) -> KeycloakVersion {
        self.version
    }
    pub(crate) fn exists(&self, realm: &str) -> bool {
        self.lock().realms.contains(realm)
    }
    pub(crate) fn masking(&self) -> bool {
        self.lock().masking
    }
    pub(crate) fn error_style(&self) -> AdminErrorStyle {
        self.lock().error_style
    }
    pub(crate) fn record_issued(&self, token: &str) {
        self.lock().issued.insert(token.to_owned());
    }
    pub(crate) fn is_revoked(&self, token: &str) -> bool {
        self.lock().revoked.contains(token)
    }
    pub(crate) fn server_url(&self, engine: &Engine) -> String {
        engine.url(&self.prefix)
    }
    pub(crate) fn issuer(&self, engine: &Engine, realm: &str) -> String {
        format!("{}/realms/{realm}", self.server_url(engine))
    }
}

fn claims(prefix: &str, version: KeycloakVersion, ctx: &ClaimsContext<'_>) -> Map<String, Value> {
    let client = ctx.client;
    let flags = ClientFlags::of(client);
    let realm = flags.as_ref().map_or("", |f| f.realm.as_str());
    let sub = flags.as_ref().map_or(client.client_id.clone(), |f| {
        f.service_account_user_id.clone()
    });
    let mut resource_access = Map::new();
    resource_access.insert(
        "account".into(),
        json!({"roles": ["manage-account", "manage-account-links", "view-profile"]}),
    );
    for (target, roles) in flags.iter().flat_map(|f| &f.admin_roles) {
        let holder = if target == realm {
            "realm-management".to_owned()
        } else {
            format!("{target}-realm")
        };
        resource_access.insert(holder, json!({ "roles": roles }));
    }
    let mut out = Map::new();
    out.insert("exp".into(), ctx.exp.into());
    out.insert("iat".into(), ctx.iat.into());
    out.insert("jti".into(), format!("trrtcc:{}", ctx.jti).into());
    // ctx.issuer is the base URL: the flavour's issuer path is empty, realms add their own.
    out.insert(
        "iss".into(),
        format!("{}{prefix}/realms/{realm}", ctx.issuer).into(),
    );
    out.insert("aud".into(), "account".into());
    out.insert("sub".into(), sub.into());
    out.insert("typ".into(), "Bearer".into());
    out.insert("azp".into(), client.client_id.clone().into());
    out.insert("acr".into(), "1".into());
    out.insert(
        "realm_access".into(),
        json!({"roles": ["offline_access", format!("default-roles-{realm}"), "uma_authorization"]}),
    );
    out.insert("resource_access".into(), resource_access.into());
    out.insert("scope".into(), token_scope(ctx.scopes).into());
    out.insert("email_verified".into(), false.into());
    out.insert("clientHost".into(), "127.0.0.1".into());
    out.insert(
        "preferred_username".into(),
        format!("service-account-{}", client.client_id).into(),
    );
    out.insert("clientAddress".into(), "127.0.0.1".into());
    let id_claim = if version.has_client_id_claim() {
        "client_id"
    } else {
        "clientId"
    };
    out.insert(id_claim.into(), client.client_id.clone().into());
    out
}

/// Builds a [`KeycloakEmulator`].
#[derive(Debug)]
pub struct KeycloakEmulatorBuilder {
    realms: Vec<String>,
    version: KeycloakVersion,
    prefix: String,
    lifespan: Duration,
}

impl KeycloakEmulatorBuilder {
    /// Adds a realm; the first one added is the default realm (default: `demo`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realms.push(realm.into());
        self
    }

    /// Sets the version whose behaviour to reproduce (default 26.8).
    pub fn version(mut self, version: KeycloakVersion) -> Self {
        self.version = version;
        self
    }

    /// Serves under this `http-relative-path` (`/auth` for Keycloak 16 and older).
    pub fn relative_path(mut self, path: impl Into<String>) -> Self {
        self.prefix = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// Sets the realms' access token lifespan (default 300 s, Keycloak's default).
    pub fn access_token_lifespan(mut self, lifespan: Duration) -> Self {
        self.lifespan = lifespan;
        self
    }

    /// Binds `127.0.0.1:0` and serves in the background of the current tokio runtime.
    ///
    /// # Errors
    /// When the loopback listener cannot be bound.
    pub async fn start(self) -> std::io::Result<KeycloakEmulator> {
        let mut realms: BTreeSet<String> = self.realms.iter().cloned().collect();
        let default_realm = self
            .realms
            .first()
            .cloned()
            .unwrap_or_else(|| "demo".to_owned());
        realms.insert(default_realm.clone());
        realms.insert("master".to_owned());
        let shared = Arc::new(Realms {
            prefix: self.prefix.clone(),
            version: self.version,
            state: Mutex::new(RealmState {
                realms,
                masking: self.version.masks_secrets(),
                error_style: AdminErrorStyle::default(),
                issued: HashSet::new(),
                revoked: HashSet::new(),
            }),
        });
        let (prefix, version) = (self.prefix.clone(), self.version);
        let mut flavour = Flavour::standard()
            .with_alg(Alg::RS256)
            .with_claims(move |ctx| claims(&prefix, version, ctx));
        flavour.name = format!("keycloak {}.{}", version.major, version.minor);
        flavour.paths = Paths {
            discovery: Vec::new(),
            token: None,
            jwks: None,
            introspection: None,
            registration: None,
        };
        flavour.jwt_typ = "JWT".into();
        flavour.access_token_ttl = self.lifespan;
        flavour.strict_auth_method = false;
        let inner = Emulator::builder()
            .flavour(flavour)
            .routes(routes::routes(&self.prefix, shared.clone()))
            .start()
            .await?;
        Ok(KeycloakEmulator {
            inner,
            realms: shared,
            default_realm,
        })
    }
}

/// A running Keycloak emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct KeycloakEmulator {
    inner: Emulator,
    realms: Arc<Realms>,
    default_realm: String,
}

impl KeycloakEmulator {
    /// A builder (realms, version, relative path, token lifespan).
    pub fn builder() -> KeycloakEmulatorBuilder {
        KeycloakEmulatorBuilder {
            realms: Vec::new(),
            version: KeycloakVersion::default(),
            prefix: String::new(),
            lifespan: Duration::from_secs(300),
        }
    }

    /// Starts a Keycloak 26.8 with `realm` (and `master`).
    ///
    /// # Errors
    /// As [`KeycloakEmulatorBuilder::start`].
    pub async fn start(realm: &str) -> std::io::Result<KeycloakEmulator> {
        Self::builder().realm(realm).start().await
    }

    /// The default realm.
    pub fn realm(&self) -> &str {
        &self.default_realm
    }

    /// The version it reproduces.
    pub fn version(&self) -> KeycloakVersion {
        self.realms.version
    }

    /// `http://127.0.0.1:{port}` (what the adapter's `base_url` is).
    pub fn base_url(&self) -> &str {
        self.inner.base_url()
    }

    /// The base URL with the relative path.
    pub fn server_url(&self) -> String {
        self.realms.server_url(self.inner.engine())
    }

    /// The default realm's issuer.
    pub fn issuer(&self) -> String {
        self.realm_issuer(&self.default_realm)
    }

    /// A realm's issuer.
    pub fn realm_issuer(&self, realm: &str) -> String {
        self.realms.issuer(self.inner.engine(), realm)
    }

    /// The path of a realm's token endpoint (for [`Faults::requests`]).
    pub fn token_path(&self, realm: &str) -> String {
        format!(
            "{}/realms/{realm}/protocol/openid-connect/token",
            self.realms.prefix
        )
    }

    /// Token requests received by a realm so far.
    pub fn token_requests(&self, realm: &str) -> u64 {
        self.faults().requests(&self.token_path(realm))
    }

    /// Adds a realm.
    pub fn add_realm(&self, realm: &str) {
        self.realms.lock().realms.insert(realm.to_owned());
    }

    /// Creates a client.
    pub fn create_client(&self, client: KeycloakClient) -> Credentials {
        let (spec, flags) = client.into_spec(&self.default_realm);
        let created = self.engine().create_client(spec);
        self.engine()
            .update_client(&created.client_id, |record| flags.store(record));
        Credentials {
            secret: if flags.public_client {
                String::new()
            } else {
                created.client_secret
            },
            client_id: created.client_id,
            id: flags.id,
            realm: flags.realm,
        }
    }

    /// A confidential client with service accounts in the default realm.
    pub fn confidential_client(&self, client_id: &str) -> Credentials {
        self.create_client(KeycloakClient::confidential(client_id))
    }

    /// An admin service account of the default realm holding `realm-management`
    /// `view-clients` (what the adapter needs; secrets are masked for it on 26.8+).
    pub fn admin_service_account(&self, client_id: &str) -> Credentials {
        let realm = self.default_realm.clone();
        self.create_client(
            KeycloakClient::confidential(client_id).admin_roles(realm, ["view-clients"]),
        )
    }

    /// Adapter settings for the default realm with this admin service account.
    pub fn adapter_config(&self, key_manager: KeyManagerId, admin: &Credentials) -> KeycloakConfig {
        let mut config = KeycloakConfig::new(
            key_manager,
            self.base_url(),
            self.default_realm.clone(),
            admin.client_id.clone(),
            admin.secret.clone(),
        )
        .relative_path(self.realms.prefix.clone());
        if admin.realm != self.default_realm {
            config = config.admin_realm(admin.realm.clone());
        }
        config
    }

    /// A client's record (engine side) and flags.
    pub fn client(&self, client_id: &str) -> Option<(ClientRecord, ClientFlags)> {
        let record = self.engine().client(client_id)?;
        let flags = ClientFlags::of(&record)?;
        Some((record, flags))
    }

    /// Changes a client's flags; `false` if it does not exist.
    pub fn update_flags(&self, client_id: &str, change: impl FnOnce(&mut ClientFlags)) -> bool {
        self.engine().update_client(client_id, |record| {
            if let Some(mut flags) = ClientFlags::of(record) {
                change(&mut flags);
                flags.store(record);
            }
        })
    }

    /// Enables or disables a client.
    pub fn set_enabled(&self, client_id: &str, enabled: bool) -> bool {
        self.engine().set_enabled(client_id, enabled)
    }

    /// Replaces a service account's `realm-management` roles on `realm`.
    pub fn set_admin_roles(&self, client_id: &str, realm: &str, roles: &[&str]) -> bool {
        self.update_flags(client_id, |f| {
            f.admin_roles.insert(
                realm.to_owned(),
                roles.iter().map(|r| (*r).to_owned()).collect(),
            );
        })
    }

    /// Deletes a client.
    pub fn delete_client(&self, client_id: &str) -> bool {
        self.engine().delete_client(client_id)
    }

    /// Gives a client a new secret and returns it.
    pub fn rotate_secret(&self, client_id: &str) -> Option<String> {
        self.engine().rotate_secret(client_id)
    }

    /// Masks secrets (`**********`) for callers without `manage-clients`, as 26.8+ does.
    pub fn set_secret_masking(&self, on: bool) {
        self.realms.lock().masking = on;
    }

    /// Shapes the admin API's error bodies.
    pub fn set_admin_error_style(&self, style: AdminErrorStyle) {
        self.realms.lock().error_style = style;
    }

    /// Revokes every token issued so far (as a "not before" push or a key rotation does).
    pub fn revoke_tokens(&self) {
        let mut state = self.realms.lock();
        let issued: Vec<String> = state.issued.drain().collect();
        state.revoked.extend(issued);
    }

    /// Faults and request counters.
    pub fn faults(&self) -> &Faults {
        self.inner.faults()
    }

    /// The engine underneath (clients, keys).
    pub fn engine(&self) -> &Engine {
        self.inner.engine()
    }
}
