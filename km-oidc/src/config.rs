//! Settings of the standards-based adapter and of its HTTP client.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use keyprov::KeyManagerId;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::OidcError;

/// How a client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    /// HTTP Basic with the form-urlencoded id and secret.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// Credentials the adapter itself presents (introspection, vendor admin APIs).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum ServerAuth {
    /// HTTP Basic with a client id (form-urlencoded as RFC 6749 §2.3.1 requires) and secret.
    ClientSecretBasic {
        /// The client id.
        client_id: String,
        /// The secret.
        client_secret: SecretString,
    },
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost {
        /// The client id.
        client_id: String,
        /// The secret.
        client_secret: SecretString,
    },
    /// HTTP Basic of a user, sent as is (WSO2 IS introspection takes an admin user).
    UserBasic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// A fixed bearer token.
    Bearer {
        /// The token.
        token: SecretString,
    },
}

impl fmt::Debug for ServerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAuth::ClientSecretBasic { client_id, .. } => {
                write!(f, "ClientSecretBasic({client_id}, [redacted])")
            }
            ServerAuth::ClientSecretPost { client_id, .. } => {
                write!(f, "ClientSecretPost({client_id}, [redacted])")
            }
            ServerAuth::UserBasic { username, .. } => {
                write!(f, "UserBasic({username}, [redacted])")
            }
            ServerAuth::Bearer { .. } => f.write_str("Bearer([redacted])"),
        }
    }
}

/// Access to one client's RFC 7592 configuration endpoint.
#[derive(Clone, Deserialize)]
pub struct RegistrationAccess {
    /// The registration access token issued with the client.
    pub token: SecretString,
    /// Its `registration_client_uri`; default `{registration_endpoint}/{client_id}`.
    #[serde(default)]
    pub uri: Option<String>,
}

impl fmt::Debug for RegistrationAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationAccess")
            .field("token", &"[redacted]")
            .field("uri", &self.uri)
            .finish()
    }
}

/// Bounded retries of idempotent reads (discovery, JWKS, client reads, introspection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each time.
    #[serde(with = "millis")]
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    #[serde(with = "millis")]
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retry at all.
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };

    /// The wait before attempt `attempt` (2 = first retry).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(2));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// The HTTP client's settings. Redirects are never followed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// TCP + TLS connect timeout.
    #[serde(with = "millis")]
    pub connect_timeout: Duration,
    /// Whole-request timeout (connect, send, read the body).
    #[serde(with = "millis")]
    pub request_timeout: Duration,
    /// Extra trusted CA certificates, PEM (a self-signed IS certificate, a private CA).
    pub ca_certs_pem: Vec<String>,
    /// Retries of idempotent reads.
    pub retry: RetryPolicy,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            ca_certs_pem: Vec::new(),
            retry: RetryPolicy::default(),
        }
    }
}

/// The adapter's settings (the `[key_managers.connection]` table of the native file).
///
/// # Example
/// ```
/// use km_oidc::{OidcConfig, TokenAuthMethod};
/// use keyprov::KeyManagerId;
///
/// let config = OidcConfig::new(KeyManagerId::new("idp").unwrap(), "https://idp.example.com")
///     .token_auth_method(TokenAuthMethod::ClientSecretPost);
/// config.validate().unwrap();
/// ```
#[derive(Clone, Debug, Deserialize)]
pub struct OidcConfig {
    /// The key manager id every error carries.
    pub key_manager: KeyManagerId,
    /// The issuer; discovery is read from `{issuer}/.well-known/openid-configuration` unless
    /// `discovery_url` says otherwise.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Explicit discovery document URL.
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// Whether to read discovery at all (else every endpoint must be explicit).
    #[serde(default = "yes")]
    pub discovery: bool,
    /// Token endpoint, overriding discovery.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// JWKS URI, overriding discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Introspection endpoint, overriding discovery.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// Registration endpoint, overriding discovery.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// Client authentication used for token requests of mapped clients.
    #[serde(default)]
    pub token_auth_method: TokenAuthMethod,
    /// RFC 8707 `resource` sent with token requests (oidc-provider issues JWTs per resource).
    #[serde(default)]
    pub token_resource: Option<String>,
    /// Credentials for introspection; without them introspection is not supported.
    #[serde(default)]
    pub introspection_auth: Option<ServerAuth>,
    /// Registration access tokens by client id, enabling RFC 7592 client reads.
    #[serde(default)]
    pub registrations: BTreeMap<String, RegistrationAccess>,
    /// HTTP client settings.
    #[serde(default)]
    pub http: HttpSettings,
}

fn yes() -> bool {
    true
}

impl OidcConfig {
    /// Settings for the issuer, discovering everything else.
    pub fn new(key_manager: KeyManagerId, issuer: impl Into<String>) -> Self {
        Self {
            key_manager,
            issuer: Some(issuer.into()),
            discovery_url: None,
            discovery: true,
            token_endpoint: None,
            jwks_uri: None,
            introspection_endpoint: None,
            registration_endpoint: None,
            token_auth_method: TokenAuthMethod::default(),
            token_resource: None,
            introspection_auth: None,
            registrations: BTreeMap::new(),
            http: HttpSettings::default(),
        }
    }

    /// Reads the adapter's table from the native configuration file.
    ///
    /// # Errors
    /// [`keyprov::Error::Config`] naming the key.
    pub fn from_connection(
        key_manager: KeyManagerId,
        table: &toml::Table,
    ) -> keyprov::Result<Self> {
        let mut table = table.clone();
        table.insert(
            "key_manager".into(),
            toml::Value::String(key_manager.as_str().to_owned()),
        );
        let config: OidcConfig = table.try_into().map_err(|e: toml::de::Error| {
            keyprov::Error::config(
                format!("key_managers.{key_manager}.connection"),
                e.to_string().replace('\n', " ").trim().to_owned(),
            )
        })?;
        config.validate().map_err(|e| e.into_core(&key_manager))?;
        Ok(config)
    }

    /// Sets the token endpoint client authentication.
    pub fn token_auth_method(mut self, method: TokenAuthMethod) -> Self {
        self.token_auth_method = method;
        self
    }

    /// Sets the RFC 8707 resource of token requests.
    pub fn token_resource(mut self, resource: impl Into<String>) -> Self {
        self.token_resource = Some(resource.into());
        self
    }

    /// Sets the introspection credentials.
    pub fn introspection_auth(mut self, auth: ServerAuth) -> Self {
        self.introspection_auth = Some(auth);
        self
    }

    /// Adds a client's registration access token (RFC 7592).
    pub fn registration(
        mut self,
        client_id: impl Into<String>,
        access: RegistrationAccess,
    ) -> Self {
        self.registrations.insert(client_id.into(), access);
        self
    }

    /// Sets the HTTP settings.
    pub fn http(mut self, http: HttpSettings) -> Self {
        self.http = http;
        self
    }

    /// Checks what serde cannot.
    ///
    /// # Errors
    /// [`OidcError::Config`] naming the key.
    pub fn validate(&self) -> Result<(), OidcError> {
        let key = |k: &str| format!("key_managers.{}.connection.{k}", self.key_manager);
        let urls = [
            ("issuer", &self.issuer),
            ("discovery_url", &self.discovery_url),
            ("token_endpoint", &self.token_endpoint),
            ("jwks_uri", &self.jwks_uri),
            ("introspection_endpoint", &self.introspection_endpoint),
            ("registration_endpoint", &self.registration_endpoint),
        ];
        for (name, value) in urls {
            if let Some(value) = value {
                let url = url::Url::parse(value)
                    .map_err(|e| OidcError::config(key(name), format!("not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(OidcError::config(key(name), "must be http or https"));
                }
            }
        }
        if self.discovery && self.issuer.is_none() && self.discovery_url.is_none() {
            return Err(OidcError::config(
                key("issuer"),
                "discovery needs an issuer or a discovery_url",
            ));
        }
        if !self.discovery && self.token_endpoint.is_none() {
            return Err(OidcError::config(
                key("token_endpoint"),
                "required when discovery is off",
            ));
        }
        if self.http.request_timeout.is_zero() || self.http.connect_timeout.is_zero() {
            return Err(OidcError::config(key("http"), "timeouts must be positive"));
        }
        if self.http.retry.max_attempts == 0 {
            return Err(OidcError::config(
                key("http.retry.max_attempts"),
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(2), Duration::from_millis(100));
        assert_eq!(p.backoff(3), Duration::from_millis(200));
        assert_eq!(p.backoff(30), Duration::from_secs(2));
    }

    #[test]
    fn reads_the_native_connection_table() {
        let table: toml::Table = toml::from_str(
            r#"
            issuer = "https://idp.example.com"
            token_auth_method = "client_secret_post"
            introspection_auth = { kind = "client_secret_basic", client_id = "rs", client_secret = "rs-s3cret" }
            [http]
            request_timeout = 2500
            [registrations.abc]
            token = "rat-s3cret"
            "#,
        )
        .unwrap();
        let config =
            OidcConfig::from_connection(KeyManagerId::new("idp").unwrap(), &table).unwrap();
        assert_eq!(config.token_auth_method, TokenAuthMethod::ClientSecretPost);
        assert_eq!(config.http.request_timeout, Duration::from_millis(2500));
        assert_eq!(config.http.retry, RetryPolicy::default());
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn refuses_what_cannot_work() {
        let id = KeyManagerId::new("idp").unwrap();
        let mut config = OidcConfig::new(id.clone(), "ftp://x");
        assert!(config.validate().is_err());
        config.issuer = None;
        assert!(config.validate().is_err(), "discovery without issuer");
        let table: toml::Table = toml::from_str("issuer = 3").unwrap();
        let err = OidcConfig::from_connection(id, &table).unwrap_err();
        assert!(
            err.to_string().contains("key_managers.idp.connection"),
            "{err}"
        );
    }
}
