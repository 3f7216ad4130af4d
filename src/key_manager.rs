//! The boundary to the OAuth2 servers that own clients: the [`KeyManager`] trait, what it
//! returns, and the registry that pairs each configured key manager with its implementation.
//!
//! The core holds no HTTP client; adapters (`km-oidc`, `km-wso2is`, `km-keycloak`) implement
//! the trait. Errors are the core [`Error`]: `ClientNotFound`, `SecretNotProven`,
//! `KeyManagerUnavailable` (retryable), `KeyManagerCredentialsRejected`, `KeyManagerProtocol`,
//! and `NotSupported` for what an adapter cannot do (see [`Capabilities`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::KeyManagerConfig;
use crate::error::{Error, Result, UnusableReason};
use crate::model::{ClientSnapshot, ConsumerKey, KeyManagerId, OrganizationId};
use crate::secret::ConsumerSecret;

/// What an adapter can do. Operations it cannot do answer [`Error::NotSupported`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`KeyManager::client`] reads a client through an admin or registration API.
    pub client_lookup: bool,
    /// [`KeyManager::client_credentials_token`] obtains tokens (and so proves secrets).
    pub client_credentials: bool,
    /// [`KeyManager::jwks`] returns the signing keys.
    pub jwks: bool,
    /// [`KeyManager::introspect`] introspects opaque tokens (RFC 7662).
    pub introspection: bool,
}

impl Capabilities {
    /// Every capability.
    pub const ALL: Capabilities = Capabilities {
        client_lookup: true,
        client_credentials: true,
        jwks: true,
        introspection: true,
    };

    /// No capability; set fields with the `with_*` methods.
    pub const NONE: Capabilities = Capabilities {
        client_lookup: false,
        client_credentials: false,
        jwks: false,
        introspection: false,
    };

    /// Sets [`Capabilities::client_lookup`].
    pub const fn with_client_lookup(mut self, yes: bool) -> Self {
        self.client_lookup = yes;
        self
    }

    /// Sets [`Capabilities::client_credentials`].
    pub const fn with_client_credentials(mut self, yes: bool) -> Self {
        self.client_credentials = yes;
        self
    }

    /// Sets [`Capabilities::jwks`].
    pub const fn with_jwks(mut self, yes: bool) -> Self {
        self.jwks = yes;
        self
    }

    /// Sets [`Capabilities::introspection`].
    pub const fn with_introspection(mut self, yes: bool) -> Self {
        self.introspection = yes;
        self
    }
}

/// What a key manager says about a client. `None` means the key manager does not say, and the
/// corresponding usability check is skipped.
///
/// It never carries the client's secret: where a key manager returns one in clear, the adapter
/// compares it itself, in constant time, inside [`KeyManager::prove_secret`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The client id.
    pub consumer_key: Option<ConsumerKey>,
    /// Its name.
    pub client_name: Option<String>,
    /// Whether it is enabled.
    pub enabled: Option<bool>,
    /// Whether it is confidential (has a secret).
    pub confidential: Option<bool>,
    /// Whether it is bearer-only (Keycloak).
    pub bearer_only: Option<bool>,
    /// The grant types it may use, when the key manager lists them.
    pub grant_types: Option<Vec<String>>,
    /// Whether it may use `client_credentials`, when the key manager says so explicitly
    /// (Keycloak's `serviceAccountsEnabled`); takes precedence over `grant_types`.
    pub client_credentials_allowed: Option<bool>,
    /// When its secret expires (`None`: never, or not said).
    pub secret_expires_at: Option<DateTime<Utc>>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Token format, as the key manager spells it (`JWT`, `Default`, ...).
    pub token_type: Option<String>,
    /// Access-token lifetime in seconds.
    pub access_token_lifetime_s: Option<i64>,
    /// Other non-secret properties worth displaying.
    pub additional: BTreeMap<String, String>,
}

impl ClientInfo {
    /// A description with only the client id set.
    pub fn new(consumer_key: ConsumerKey) -> Self {
        Self {
            consumer_key: Some(consumer_key),
            ..Self::default()
        }
    }

    /// Whether the client can be provisioned ([P4.2](crate::guide::provisioning#p4-validation-against-the-key-manager)), from what the key manager said.
    ///
    /// # Errors
    /// The first reason it cannot.
    pub fn usability(&self, now: DateTime<Utc>) -> std::result::Result<(), UnusableReason> {
        if self.enabled == Some(false) {
            return Err(UnusableReason::Disabled);
        }
        if self.bearer_only == Some(true) {
            return Err(UnusableReason::BearerOnly);
        }
        if self.confidential == Some(false) {
            return Err(UnusableReason::Public);
        }
        let client_credentials = self.client_credentials_allowed.or_else(|| {
            self.grant_types
                .as_ref()
                .map(|grants| grants.iter().any(|g| g == "client_credentials"))
        });
        if client_credentials == Some(false) {
            return Err(UnusableReason::NoClientCredentials);
        }
        if self.secret_expires_at.is_some_and(|at| at <= now) {
            return Err(UnusableReason::SecretExpired);
        }
        Ok(())
    }

    /// The display snapshot stored on the mapping.
    pub fn snapshot(&self) -> ClientSnapshot {
        ClientSnapshot {
            client_name: self.client_name.clone(),
            grant_types: self.grant_types.clone().unwrap_or_default(),
            redirect_uris: self.redirect_uris.clone(),
            token_type: self.token_type.clone(),
            access_token_lifetime_s: self.access_token_lifetime_s,
            additional: self.additional.clone(),
        }
    }
}

/// An access token obtained from a key manager. The token is a bearer credential: it is
/// redacted from `Debug`.
#[derive(Clone)]
pub struct AccessToken {
    /// The token itself.
    pub access_token: SecretString,
    /// The token type (`Bearer`).
    pub token_type: String,
    /// Seconds until it expires, when the key manager says.
    pub expires_in: Option<u64>,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

impl AccessToken {
    /// The token text, for the `Authorization` header.
    pub fn secret(&self) -> &str {
        self.access_token.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// How a secret was proven.
#[derive(Clone, Debug)]
pub enum SecretProof {
    /// A `client_credentials` token request succeeded; here is the token.
    TokenIssued(AccessToken),
    /// The key manager returned the secret in clear and it matched (constant-time comparison).
    Compared,
}

/// One JSON Web Key (RFC 7517). Unknown members are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC`, `OKP`.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Public key use: `sig` or `enc`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Algorithm the key is meant for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// RSA modulus (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Curve (`P-256`, `P-384`, `Ed25519`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC / OKP x coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// A JSON Web Key Set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// The answer of token introspection (RFC 7662).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Every other member (`client_id`, `exp`, `scope`, `iss`, ...).
    #[serde(flatten)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Introspection {
    /// A string claim.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(|v| v.as_str())
    }

    /// `exp`, in seconds since the epoch.
    pub fn exp(&self) -> Option<i64> {
        self.claims.get("exp").and_then(|v| v.as_i64())
    }
}

/// An OAuth2 server that owns clients: WSO2 Identity Server, Keycloak, any standards-based IdP.
///
/// Implementations are used as `Arc<dyn KeyManager>`. Every method that cannot be done answers
/// [`Error::NotSupported`], as announced by [`KeyManager::capabilities`].
#[async_trait]
pub trait KeyManager: fmt::Debug + Send + Sync + 'static {
    /// What this adapter can do.
    fn capabilities(&self) -> Capabilities;

    /// The issuer (`iss`) of the key manager's tokens when the adapter knows it from its own
    /// settings (WSO2 IS and Keycloak derive it from their base URL and tenant or realm; a
    /// standards-based server from its discovery document). [`KeyManagers::register`] uses it
    /// when the configuration sets none. `None`: the adapter does not know.
    fn issuer(&self) -> Option<String> {
        None
    }

    /// Looks a client up at the key manager ([P4.1](crate::guide::provisioning#p4-validation-against-the-key-manager)).
    ///
    /// # Errors
    /// `ClientNotFound` when it does not exist; `KeyManagerCredentialsRejected` when the key
    /// manager refuses the adapter's admin credentials; `KeyManagerUnavailable` (retryable) on
    /// timeouts, 429 and 5xx; `KeyManagerProtocol` on malformed answers.
    async fn client(&self, consumer_key: &ConsumerKey) -> Result<ClientInfo>;

    /// Obtains a token with the `client_credentials` grant ([P8](crate::guide::provisioning#p8-tokens-for-a-mapped-client)). Never retried
    /// blindly.
    ///
    /// # Errors
    /// `SecretNotProven` when the key manager refuses the client's credentials, and the
    /// transport errors of [`KeyManager::client`].
    async fn client_credentials_token(
        &self,
        consumer_key: &ConsumerKey,
        secret: &ConsumerSecret,
        scopes: &[String],
    ) -> Result<AccessToken>;

    /// Proves that `secret` is the client's secret ([P4.3](crate::guide::provisioning#p4-validation-against-the-key-manager)). The default asks for a
    /// `client_credentials` token, which survives secret hashing and masking.
    ///
    /// # Errors
    /// As [`KeyManager::client_credentials_token`].
    async fn prove_secret(
        &self,
        consumer_key: &ConsumerKey,
        secret: &ConsumerSecret,
    ) -> Result<SecretProof> {
        self.client_credentials_token(consumer_key, secret, &[])
            .await
            .map(SecretProof::TokenIssued)
    }

    /// The key manager's current signing keys.
    ///
    /// # Errors
    /// Transport and protocol errors as for [`KeyManager::client`].
    async fn jwks(&self) -> Result<JwkSet>;

    /// Introspects an opaque token (RFC 7662).
    ///
    /// # Errors
    /// Transport and protocol errors as for [`KeyManager::client`].
    async fn introspect(&self, token: &str) -> Result<Introspection>;
}

/// A configured key manager: its settings and its implementation.
#[derive(Clone, Debug)]
pub struct RegisteredKeyManager {
    /// The settings (flags, issuer, claims).
    pub config: KeyManagerConfig,
    /// The implementation.
    pub client: Arc<dyn KeyManager>,
}

/// Every configured key manager, looked up by id or name within an organization, or globally.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use keyprov::testkit::ScriptedKeyManager;
/// use keyprov::{KeyManagerConfig, KeyManagers, OrganizationId};
///
/// let acme = OrganizationId::new("acme")?;
/// let named = |id: &str, name: &str| -> keyprov::Result<KeyManagerConfig> {
///     Ok(KeyManagerConfig { id: id.parse()?, ..KeyManagerConfig::new(name)? })
/// };
/// let key_managers = KeyManagers::new()
///     .with(named("global-is", "IS")?, Arc::new(ScriptedKeyManager::new("global-is")))?
///     // An organization's own key manager may reuse a global name; it wins in its organization.
///     .with(named("acme-is", "IS")?.organization(acme.clone()), Arc::new(ScriptedKeyManager::new("acme-is")))?;
/// assert_eq!(key_managers.resolve("IS", &acme).unwrap().config.id.as_str(), "acme-is");
/// let other = OrganizationId::new("other")?;
/// assert_eq!(key_managers.resolve("IS", &other).unwrap().config.id.as_str(), "global-is");
/// // The same id twice is a configuration error.
/// let again = key_managers.clone().with(named("global-is", "other")?, Arc::new(ScriptedKeyManager::new("x")));
/// assert_eq!(again.unwrap_err().code(), 901431);
/// # Ok::<(), keyprov::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct KeyManagers {
    entries: Vec<RegisteredKeyManager>,
}

impl KeyManagers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key manager. When `config` sets no issuer, the adapter's
    /// ([`KeyManager::issuer`]) is used.
    ///
    /// # Errors
    /// [`Error::Config`] when its id is already registered, or its name is already used in the
    /// same scope (organization or global).
    pub fn register(
        &mut self,
        mut config: KeyManagerConfig,
        client: Arc<dyn KeyManager>,
    ) -> Result<()> {
        if config.issuer.is_none() {
            config.issuer = client.issuer();
        }
        if self.entries.iter().any(|e| e.config.id == config.id) {
            return Err(Error::config(
                format!("key_managers.{}", config.id),
                "a key manager with this id is already registered",
            ));
        }
        if self
            .entries
            .iter()
            .any(|e| e.config.name == config.name && e.config.organization == config.organization)
        {
            return Err(Error::config(
                format!("key_managers.{}.name", config.id),
                format!(
                    "the name {:?} is already used in the same scope",
                    config.name.as_str()
                ),
            ));
        }
        self.entries.push(RegisteredKeyManager { config, client });
        Ok(())
    }

    /// Builder-style [`KeyManagers::register`].
    ///
    /// # Errors
    /// As [`KeyManagers::register`].
    pub fn with(mut self, config: KeyManagerConfig, client: Arc<dyn KeyManager>) -> Result<Self> {
        self.register(config, client)?;
        Ok(self)
    }

    /// The key manager with this id, whatever its scope.
    pub fn by_id(&self, id: &KeyManagerId) -> Option<&RegisteredKeyManager> {
        self.entries.iter().find(|e| &e.config.id == id)
    }

    /// The key manager that `name_or_id` designates for `organization`: an id of a key manager
    /// of that organization or global, else a name, the organization's own before a global one.
    pub fn resolve(
        &self,
        name_or_id: &str,
        organization: &OrganizationId,
    ) -> Option<&RegisteredKeyManager> {
        let visible = |e: &&RegisteredKeyManager| {
            e.config.organization.is_none() || e.config.organization.as_ref() == Some(organization)
        };
        self.entries
            .iter()
            .filter(visible)
            .find(|e| e.config.id.as_str() == name_or_id)
            .or_else(|| {
                self.entries
                    .iter()
                    .filter(visible)
                    .filter(|e| e.config.name.as_str() == name_or_id)
                    .max_by_key(|e| e.config.organization.is_some())
            })
    }

    /// Every registered key manager, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredKeyManager> {
        self.entries.iter()
    }

    /// Number of registered key managers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        crate::model::now()
    }

    #[test]
    fn usability_reports_the_first_reason() {
        let key = ConsumerKey::new("c").unwrap();
        let ok = ClientInfo::new(key.clone());
        assert_eq!(ok.usability(now()), Ok(()));

        let mut c = ok.clone();
        c.enabled = Some(false);
        assert_eq!(c.usability(now()), Err(UnusableReason::Disabled));

        let mut c = ok.clone();
        c.confidential = Some(false);
        assert_eq!(c.usability(now()), Err(UnusableReason::Public));

        let mut c = ok.clone();
        c.bearer_only = Some(true);
        assert_eq!(c.usability(now()), Err(UnusableReason::BearerOnly));

        let mut c = ok.clone();
        c.grant_types = Some(vec!["authorization_code".into()]);
        assert_eq!(c.usability(now()), Err(UnusableReason::NoClientCredentials));
        c.client_credentials_allowed = Some(true);
        assert_eq!(
            c.usability(now()),
            Ok(()),
            "explicit flag wins over the grant list"
        );

        let mut c = ok.clone();
        c.secret_expires_at = Some(now() - chrono::Duration::seconds(1));
        assert_eq!(c.usability(now()), Err(UnusableReason::SecretExpired));
    }

    #[test]
    fn access_token_debug_is_redacted() {
        let token = AccessToken {
            access_token: SecretString::from("eyJhbGciOiJSUzI1NiJ9.secret-token".to_string()),
            token_type: "Bearer".into(),
            expires_in: Some(3600),
            scopes: vec![],
        };
        let text = format!("{token:?}");
        assert!(!text.contains("secret-token"), "{text}");
        assert!(text.contains("[redacted]"));
    }
}
