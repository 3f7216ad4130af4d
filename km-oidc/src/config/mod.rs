//! Settings of the standards-based adapter and of its HTTP client, and the connection
//! settings every adapter shares ([`ConnectionSettings`]).

mod connection;

use std::collections::BTreeMap;
use std::fmt;

use keyprov::KeyManagerId;
use keyprov::config::{ConfigTable, Section};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use self::connection::{
    AdminAuth, ConnectionSettings, HttpSettings, KeyNames, RetryPolicy, ServerAuth, VendorDefaults,
    connection_key, http_url, millis, read_connection,
};
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

/// Access to one client's RFC 7592 configuration endpoint.
#[derive(Clone)]
pub struct RegistrationAccess {
    /// The registration access token issued with the client.
    pub token: SecretString,
    /// Its `registration_client_uri`; default `{registration_endpoint}/{client_id}`.
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

impl RegistrationAccess {
    fn read(s: &mut Section<'_>) -> keyprov::Result<Self> {
        Ok(Self {
            token: s.require_secret("token")?,
            uri: s.get("uri")?,
        })
    }
}

/// The adapter's settings (the `[key_managers.connection]` table of the native file): the
/// shared [`ConnectionSettings`] plus `registration_endpoint`, `token_resource` and
/// `registrations`.
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
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// The key manager id every error carries.
    pub key_manager: KeyManagerId,
    /// Issuer, discovery, endpoint overrides, client authentication, introspection
    /// credentials, HTTP settings. Discovery is read from
    /// `{issuer}/.well-known/openid-configuration` unless `discovery_url` says otherwise.
    pub connection: ConnectionSettings,
    /// Registration endpoint, overriding discovery.
    pub registration_endpoint: Option<String>,
    /// RFC 8707 `resource` sent with token requests (oidc-provider issues JWTs per resource).
    pub token_resource: Option<String>,
    /// Registration access tokens by client id, enabling RFC 7592 client reads.
    pub registrations: BTreeMap<String, RegistrationAccess>,
}

impl OidcConfig {
    /// Settings for the issuer, discovering everything else.
    pub fn new(key_manager: KeyManagerId, issuer: impl Into<String>) -> Self {
        Self::with_connection(
            key_manager,
            ConnectionSettings {
                issuer: Some(issuer.into()),
                ..ConnectionSettings::default()
            },
        )
    }

    /// Settings with these connection settings and nothing else.
    pub fn with_connection(key_manager: KeyManagerId, connection: ConnectionSettings) -> Self {
        Self {
            key_manager,
            connection,
            registration_endpoint: None,
            token_resource: None,
            registrations: BTreeMap::new(),
        }
    }

    /// Reads the adapter's table from the native configuration file
    /// ([`keyprov::config::KeyManagerEntry::connection`]). Unknown keys are refused.
    ///
    /// # Errors
    /// [`keyprov::Error::Config`] naming the key as the file spells it, with its line.
    pub fn from_connection(
        key_manager: KeyManagerId,
        table: &ConfigTable,
    ) -> keyprov::Result<Self> {
        let read = |s: &mut Section<'_>| {
            Ok(Self {
                connection: ConnectionSettings::read(s)?,
                registration_endpoint: s.get("registration_endpoint")?,
                token_resource: s.get("token_resource")?,
                registrations: s
                    .named_tables("registrations", |_, r| RegistrationAccess::read(r))?,
                key_manager: key_manager.clone(),
            })
        };
        read_connection(table, read, |config: &Self, key| {
            config
                .validate_keys(key)
                .map_err(|e| e.into_core(&key_manager))
        })
    }

    /// Sets the token endpoint client authentication.
    pub fn token_auth_method(mut self, method: TokenAuthMethod) -> Self {
        self.connection.token_auth_method = method;
        self
    }

    /// Sets the RFC 8707 resource of token requests.
    pub fn token_resource(mut self, resource: impl Into<String>) -> Self {
        self.token_resource = Some(resource.into());
        self
    }

    /// Sets the introspection credentials.
    pub fn introspection_auth(mut self, auth: ServerAuth) -> Self {
        self.connection.introspection_auth = Some(auth);
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
        self.connection.http = http;
        self
    }

    /// Checks what the types cannot, naming keys `key_managers.{id}.connection.{key}`.
    ///
    /// # Errors
    /// [`OidcError::Config`] naming the key.
    pub fn validate(&self) -> Result<(), OidcError> {
        self.validate_keys(&connection_key(&self.key_manager))
    }

    /// As [`OidcConfig::validate`], naming keys with `key` (a vendor adapter checks the
    /// settings it resolved with the names of its own table).
    ///
    /// # Errors
    /// [`OidcError::Config`] naming the key.
    pub fn validate_keys(&self, key: KeyNames<'_>) -> Result<(), OidcError> {
        let c = &self.connection;
        c.validate(key)?;
        if let Some(url) = &self.registration_endpoint {
            http_url(key, "registration_endpoint", url)?;
        }
        if c.discovery && c.issuer.is_none() && c.discovery_url.is_none() {
            return Err(OidcError::config(
                key("issuer"),
                "discovery needs an issuer or a discovery_url",
            ));
        }
        if !c.discovery && c.token_endpoint.is_none() {
            return Err(OidcError::config(
                key("token_endpoint"),
                "required when discovery is off",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id() -> KeyManagerId {
        KeyManagerId::new("idp").unwrap()
    }

    fn read(text: &str) -> keyprov::Result<OidcConfig> {
        let table = ConfigTable::parse("key_managers[0].connection", text)?;
        OidcConfig::from_connection(id(), &table)
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(2), Duration::from_millis(100));
        assert_eq!(p.backoff(3), Duration::from_millis(200));
        assert_eq!(p.backoff(30), Duration::from_secs(2));
    }

    #[test]
    fn reads_the_native_connection_table() {
        let config = read(
            r#"
            issuer = "https://idp.example.com"
            token_auth_method = "client_secret_post"
            introspection_auth = { kind = "client_secret_basic", client_id = "rs", client_secret = "rs-s3cret" }
            [http]
            request_timeout = 2500
            ca_certs_pem = ["pem"]
            retry = { max_attempts = 5, max_backoff = 900 }
            [registrations.abc]
            token = "rat-s3cret"
            "#,
        )
        .unwrap();
        let c = &config.connection;
        assert_eq!(c.token_auth_method, TokenAuthMethod::ClientSecretPost);
        assert_eq!(c.http.request_timeout, Duration::from_millis(2500));
        assert_eq!(
            c.http.connect_timeout,
            HttpSettings::default().connect_timeout
        );
        assert_eq!(c.http.ca_certs_pem, ["pem"]);
        assert_eq!(
            c.http.retry,
            RetryPolicy {
                max_attempts: 5,
                max_backoff: Duration::from_millis(900),
                ..RetryPolicy::default()
            }
        );
        assert!(matches!(
            &c.introspection_auth,
            Some(ServerAuth::ClientSecretBasic { client_id, .. }) if client_id == "rs"
        ));
        assert!(config.registrations.contains_key("abc"));
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn refuses_unknown_keys_at_every_level() {
        let cases = [
            (
                "issuer = \"https://x\"\ntoken_auth_methd = \"client_secret_post\"",
                "key_managers[0].connection.token_auth_methd (line 2): unknown key; did you mean token_auth_method?",
            ),
            (
                "issuer = \"https://x\"\n[http]\nrequest_timeout = 1\nconect_timeout = 1",
                "key_managers[0].connection.http.conect_timeout (line 4): unknown key; did you mean connect_timeout?",
            ),
            (
                "issuer = \"https://x\"\n[http.retry]\nmax_attempt = 2",
                "key_managers[0].connection.http.retry.max_attempt (line 3): unknown key; did you mean max_attempts?",
            ),
            (
                "issuer = \"https://x\"\nintrospection_auth = { kind = \"bearer\", token = \"t\", tokn = \"s3cret\" }",
                "key_managers[0].connection.introspection_auth.tokn (line 2): unknown key; did you mean token?",
            ),
            (
                "issuer = \"https://x\"\n[registrations.abc]\ntoken = \"t\"\nuri = \"u\"\nurl = \"u\"",
                "key_managers[0].connection.registrations.abc.url (line 5): unknown key; did you mean uri?",
            ),
            (
                "issuer = \"https://x\"\nbase_url = \"https://x\"",
                "key_managers[0].connection.base_url (line 2): unknown key",
            ),
        ];
        for (text, expected) in cases {
            let err = read(text).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid configuration at {expected}"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_echoed() {
        let err = read(
            "issuer = \"https://x\"\nintrospection_auth = { kind = \"user_basic\", username = \"u\", password = 8675309 }",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("introspection_auth.password (line 2)"),
            "{err}"
        );
        assert!(!err.contains("8675309"), "{err}");
    }

    #[test]
    fn refuses_what_cannot_work() {
        let mut config = OidcConfig::new(id(), "ftp://x");
        assert!(config.validate().is_err());
        config.connection.issuer = None;
        assert!(config.validate().is_err(), "discovery without issuer");
        let err = read("issuer = 3").unwrap_err().to_string();
        assert!(
            err.contains("key_managers[0].connection.issuer (line 1): invalid type"),
            "{err}"
        );
        let err = read("\nissuer = \"https://x\"\n[http]\nrequest_timeout = 0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "key_managers[0].connection.http.request_timeout (line 4): must be positive"
            ),
            "{err}"
        );
        let err = OidcConfig::new(id(), "https://x")
            .http(HttpSettings {
                retry: RetryPolicy {
                    max_attempts: 0,
                    ..RetryPolicy::default()
                },
                ..HttpSettings::default()
            })
            .validate()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("key_managers.idp.connection.http.retry.max_attempts"),
            "{err}"
        );
    }
}
