//! The connection settings every adapter shares, with one meaning in every adapter's
//! `[key_managers.connection]` table, read and checked once here.

use std::fmt;
use std::time::Duration;

use keyprov::KeyManagerId;
use keyprov::config::{ConfigTable, Section};
use secrecy::SecretString;

use super::{OidcConfig, TokenAuthMethod};
use crate::error::OidcError;

/// Names a key of the connection table in messages (`http.retry.max_attempts` in,
/// `key_managers[0].connection.http.retry.max_attempts (line 12)` out).
pub type KeyNames<'a> = &'a dyn Fn(&str) -> String;

/// How [`OidcConfig::validate`] and the vendor adapters' `validate` name keys of a
/// configuration built in code: `key_managers.{id}.connection.{key}`.
pub fn connection_key(key_manager: &KeyManagerId) -> impl Fn(&str) -> String + '_ {
    move |key| format!("key_managers.{key_manager}.connection.{key}")
}

/// Reads an adapter's connection table strictly with `read`, then checks the settings with
/// `check`, which names keys as the file spells them, with their lines.
///
/// # Errors
/// [`keyprov::Error::Config`] from either.
pub fn read_connection<T>(
    table: &ConfigTable,
    read: impl FnOnce(&mut Section<'_>) -> keyprov::Result<T>,
    check: impl FnOnce(&T, KeyNames<'_>) -> keyprov::Result<()>,
) -> keyprov::Result<T> {
    let settings = table.read(read)?;
    check(&settings, &|k| table.key(k))?;
    Ok(settings)
}

/// Checks that `value` is an absolute `http` or `https` URL.
///
/// # Errors
/// [`OidcError::Config`] naming `name`.
pub fn http_url(key: KeyNames<'_>, name: &str, value: &str) -> Result<url::Url, OidcError> {
    let url = url::Url::parse(value)
        .map_err(|e| OidcError::config(key(name), format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(OidcError::config(key(name), "must be http or https"));
    }
    Ok(url)
}

/// Reads a duration written in milliseconds.
///
/// # Errors
/// [`keyprov::Error::Config`] when the value is not a non-negative integer.
pub fn millis(s: &mut Section<'_>, key: &'static str) -> keyprov::Result<Option<Duration>> {
    Ok(s.get::<u64>(key)?.map(Duration::from_millis))
}

/// Credentials the adapter itself presents (introspection, vendor admin APIs).
///
/// In the file: `{ kind = "client_secret_basic", client_id = "...", client_secret = "..." }`,
/// `kind = "client_secret_post"` likewise, `{ kind = "user_basic", username, password }`,
/// `{ kind = "bearer", token }`.
#[derive(Clone)]
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

impl ServerAuth {
    fn read(s: &mut Section<'_>) -> keyprov::Result<Self> {
        let kinds = [
            "client_secret_basic",
            "client_secret_post",
            "user_basic",
            "bearer",
        ];
        Ok(match s.choice("kind", &kinds)? {
            "client_secret_basic" => ServerAuth::ClientSecretBasic {
                client_id: s.require("client_id")?,
                client_secret: s.require_secret("client_secret")?,
            },
            "client_secret_post" => ServerAuth::ClientSecretPost {
                client_id: s.require("client_id")?,
                client_secret: s.require_secret("client_secret")?,
            },
            "user_basic" => ServerAuth::UserBasic {
                username: s.require("username")?,
                password: s.require_secret("password")?,
            },
            _ => ServerAuth::Bearer {
                token: s.require_secret("token")?,
            },
        })
    }
}

/// How a vendor adapter authenticates to its server's admin APIs: the `admin` key of the
/// connection table.
///
/// In the file: `{ kind = "basic", username = "...", password = "..." }` or
/// `{ kind = "client_credentials", client_id = "...", client_secret = "...", scopes = [...] }`.
#[derive(Clone)]
pub enum AdminAuth {
    /// HTTP Basic of an admin user (WSO2 IS; for a tenant, the user name carries the tenant
    /// domain, `admin@acme.com`).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// A bearer token the adapter obtains with `client_credentials` for its own admin client
    /// (a Keycloak service account; an IS 7.x admin application).
    ClientCredentials {
        /// The admin client's id.
        client_id: String,
        /// Its secret.
        client_secret: SecretString,
        /// Scopes to ask for; empty: the adapter's default (IS: `internal_dcr_view`;
        /// Keycloak: none).
        scopes: Vec<String>,
    },
}

impl AdminAuth {
    /// Basic of an admin user.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        AdminAuth::Basic {
            username: username.into(),
            password: SecretString::from(password.into()),
        }
    }

    /// A token obtained with `client_credentials`, asking for the adapter's default scopes.
    pub fn client_credentials(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        AdminAuth::ClientCredentials {
            client_id: client_id.into(),
            client_secret: SecretString::from(secret.into()),
            scopes: Vec::new(),
        }
    }

    /// Reads the table at `admin`, which must be present.
    ///
    /// # Errors
    /// [`keyprov::Error::Config`] naming the key.
    pub fn require(s: &mut Section<'_>) -> keyprov::Result<Self> {
        s.table("admin", Self::read)?
            .ok_or_else(|| keyprov::Error::config(s.key("admin"), "missing"))
    }

    fn read(s: &mut Section<'_>) -> keyprov::Result<Self> {
        Ok(match s.choice("kind", &["basic", "client_credentials"])? {
            "basic" => AdminAuth::Basic {
                username: s.require("username")?,
                password: s.require_secret("password")?,
            },
            _ => AdminAuth::ClientCredentials {
                client_id: s.require("client_id")?,
                client_secret: s.require_secret("client_secret")?,
                scopes: s.get_or("scopes", Vec::new())?,
            },
        })
    }

    /// Checks that the user name or client id is not blank.
    ///
    /// # Errors
    /// [`OidcError::Config`] naming `admin.username` or `admin.client_id`.
    pub fn validate(&self, key: KeyNames<'_>) -> Result<(), OidcError> {
        let (name, value) = match self {
            AdminAuth::Basic { username, .. } => ("admin.username", username),
            AdminAuth::ClientCredentials { client_id, .. } => ("admin.client_id", client_id),
        };
        if value.trim().is_empty() {
            return Err(OidcError::config(key(name), "must not be empty"));
        }
        Ok(())
    }
}

impl fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminAuth::Basic { username, .. } => write!(f, "Basic({username}, [redacted])"),
            AdminAuth::ClientCredentials {
                client_id, scopes, ..
            } => write!(f, "ClientCredentials({client_id}, [redacted], {scopes:?})"),
        }
    }
}

/// Bounded retries of idempotent reads (discovery, JWKS, client reads, introspection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
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

    fn read(s: &mut Section<'_>) -> keyprov::Result<Self> {
        let d = Self::default();
        Ok(Self {
            max_attempts: s.get_or("max_attempts", d.max_attempts)?,
            initial_backoff: millis(s, "initial_backoff")?.unwrap_or(d.initial_backoff),
            max_backoff: millis(s, "max_backoff")?.unwrap_or(d.max_backoff),
        })
    }
}

/// The HTTP client's settings. Redirects are never followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// TCP + TLS connect timeout (`connect_timeout`, milliseconds).
    pub connect_timeout: Duration,
    /// Whole-request timeout: connect, send, read the body (`request_timeout`, milliseconds).
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

impl HttpSettings {
    fn read(s: &mut Section<'_>) -> keyprov::Result<Self> {
        let d = Self::default();
        Ok(Self {
            connect_timeout: millis(s, "connect_timeout")?.unwrap_or(d.connect_timeout),
            request_timeout: millis(s, "request_timeout")?.unwrap_or(d.request_timeout),
            ca_certs_pem: s.get_or("ca_certs_pem", d.ca_certs_pem)?,
            retry: s.table("retry", RetryPolicy::read)?.unwrap_or(d.retry),
        })
    }

    fn validate(&self, key: KeyNames<'_>) -> Result<(), OidcError> {
        for (name, timeout) in [
            ("http.connect_timeout", self.connect_timeout),
            ("http.request_timeout", self.request_timeout),
        ] {
            if timeout.is_zero() {
                return Err(OidcError::config(key(name), "must be positive"));
            }
        }
        if self.retry.max_attempts == 0 {
            return Err(OidcError::config(
                key("http.retry.max_attempts"),
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The settings of the standards part that every adapter's connection table has, each key
/// with the same meaning in all of them. A vendor adapter fills what is unset from what it
/// knows of its server ([`ConnectionSettings::resolve`]).
///
/// | key | meaning |
/// |---|---|
/// | `issuer` | the `iss` of its tokens; discovery is read under it |
/// | `discovery` | read the discovery document (default `true`) |
/// | `discovery_url` | where the discovery document is, when not under the issuer |
/// | `token_endpoint`, `jwks_uri`, `introspection_endpoint` | override discovery (or the vendor's standard paths) |
/// | `token_auth_method` | `client_secret_basic` (default) or `client_secret_post` |
/// | `introspection_auth` | credentials for introspection ([`ServerAuth`]) |
/// | `http` | `connect_timeout`, `request_timeout` (ms), `ca_certs_pem`, `retry` (`max_attempts`, `initial_backoff`, `max_backoff`) |
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    /// The issuer of its tokens.
    pub issuer: Option<String>,
    /// Whether to read discovery at all.
    pub discovery: bool,
    /// Explicit discovery document URL.
    pub discovery_url: Option<String>,
    /// Token endpoint, overriding discovery.
    pub token_endpoint: Option<String>,
    /// JWKS URI, overriding discovery.
    pub jwks_uri: Option<String>,
    /// Introspection endpoint, overriding discovery.
    pub introspection_endpoint: Option<String>,
    /// Client authentication of token requests (mapped clients, and the adapter's own).
    pub token_auth_method: TokenAuthMethod,
    /// Credentials for introspection; without them (and no vendor default) introspection is
    /// not supported.
    pub introspection_auth: Option<ServerAuth>,
    /// HTTP client settings.
    pub http: HttpSettings,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            discovery: true,
            discovery_url: None,
            token_endpoint: None,
            jwks_uri: None,
            introspection_endpoint: None,
            token_auth_method: TokenAuthMethod::default(),
            introspection_auth: None,
            http: HttpSettings::default(),
        }
    }
}

/// What a vendor adapter knows of its server, for what the connection table leaves unset.
#[derive(Clone, Debug)]
pub struct VendorDefaults {
    /// The issuer of its tokens.
    pub issuer: String,
    /// Its discovery document, when not under the issuer.
    pub discovery_url: Option<String>,
    /// Its standard token endpoint, used when discovery is off.
    pub token_endpoint: String,
    /// Its standard JWKS URI, used when discovery is off.
    pub jwks_uri: String,
    /// Its standard introspection endpoint, used when discovery is off.
    pub introspection_endpoint: String,
    /// Introspection credentials when the table gives none.
    pub introspection_auth: Option<ServerAuth>,
}

impl ConnectionSettings {
    /// Reads the shared keys from an adapter's connection table; the adapter reads its own
    /// from the same section, so that a key neither knows is refused.
    ///
    /// # Errors
    /// [`keyprov::Error::Config`] naming the key and its line.
    pub fn read(s: &mut Section<'_>) -> keyprov::Result<Self> {
        let d = Self::default();
        Ok(Self {
            issuer: s.get("issuer")?,
            discovery: s.get_or("discovery", d.discovery)?,
            discovery_url: s.get("discovery_url")?,
            token_endpoint: s.get("token_endpoint")?,
            jwks_uri: s.get("jwks_uri")?,
            introspection_endpoint: s.get("introspection_endpoint")?,
            token_auth_method: s.get_or("token_auth_method", d.token_auth_method)?,
            introspection_auth: s.table("introspection_auth", ServerAuth::read)?,
            http: s.table("http", HttpSettings::read)?.unwrap_or(d.http),
        })
    }

    /// Checks the URLs, timeouts and retries.
    ///
    /// # Errors
    /// [`OidcError::Config`] naming the key.
    pub fn validate(&self, key: KeyNames<'_>) -> Result<(), OidcError> {
        let urls = [
            ("issuer", &self.issuer),
            ("discovery_url", &self.discovery_url),
            ("token_endpoint", &self.token_endpoint),
            ("jwks_uri", &self.jwks_uri),
            ("introspection_endpoint", &self.introspection_endpoint),
        ];
        for (name, value) in urls {
            if let Some(value) = value {
                http_url(key, name, value)?;
            }
        }
        self.http.validate(key)
    }

    /// The standards part's settings for a vendor adapter: what the table sets, else the
    /// vendor's defaults (its standard paths only when discovery is off).
    pub fn resolve(&self, key_manager: KeyManagerId, defaults: VendorDefaults) -> OidcConfig {
        let standard = |set: &Option<String>, path: String| {
            set.clone().or_else(|| (!self.discovery).then_some(path))
        };
        let connection = ConnectionSettings {
            issuer: self.issuer.clone().or(Some(defaults.issuer)),
            discovery: self.discovery,
            discovery_url: self.discovery_url.clone().or(defaults.discovery_url),
            token_endpoint: standard(&self.token_endpoint, defaults.token_endpoint),
            jwks_uri: standard(&self.jwks_uri, defaults.jwks_uri),
            introspection_endpoint: standard(
                &self.introspection_endpoint,
                defaults.introspection_endpoint,
            ),
            token_auth_method: self.token_auth_method,
            introspection_auth: self
                .introspection_auth
                .clone()
                .or(defaults.introspection_auth),
            http: self.http.clone(),
        };
        OidcConfig::with_connection(key_manager, connection)
    }
}
