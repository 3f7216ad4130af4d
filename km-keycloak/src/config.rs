//! Settings of the Keycloak adapter: where the realm lives, the admin service account, how
//! clients are looked up.

use std::fmt;
use std::time::Duration;

use keyprov::KeyManagerId;
use km_oidc::{HttpSettings, OidcConfig, ServerAuth, TokenAuthMethod};
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::KeycloakError;

/// Which Keycloak API reads clients (behaviour.md P4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientLookup {
    /// `GET /admin/realms/{r}/clients?clientId=`: the full `ClientRepresentation`, so
    /// `enabled`, `publicClient`, `bearerOnly` and `serviceAccountsEnabled` are all known.
    #[default]
    AdminApi,
    /// `GET /realms/{r}/clients-registrations/openid-connect/{clientId}`, as WSO2's Keycloak
    /// connector does: public clients and missing service accounts are known (from
    /// `token_endpoint_auth_method` and `grant_types`), `enabled` and `bearerOnly` are not, so
    /// disabled and bearer-only clients are only caught by the secret proof.
    RegistrationApi,
}

/// The adapter's settings (the `[key_managers.connection]` table of the native file).
///
/// # Example
/// ```
/// use keyprov::KeyManagerId;
/// use km_keycloak::KeycloakConfig;
///
/// let config = KeycloakConfig::new(
///     KeyManagerId::new("keycloak").unwrap(),
///     "https://sso.example.com",
///     "apis",
///     "keyprov-admin",
///     "admin-secret",
/// );
/// assert_eq!(config.issuer(), "https://sso.example.com/realms/apis");
/// config.validate().unwrap();
/// ```
#[derive(Clone, Deserialize)]
pub struct KeycloakConfig {
    /// The key manager id every error carries.
    pub key_manager: KeyManagerId,
    /// Scheme, host and port, e.g. `https://sso.example.com`.
    pub base_url: String,
    /// Keycloak's `http-relative-path`: empty on Keycloak 17+, `/auth` on 16 and older.
    #[serde(default)]
    pub relative_path: String,
    /// The realm whose clients are provisioned.
    pub realm: String,
    /// The realm of the admin service account; default: `realm`. Keycloak refuses tokens of
    /// another realm on the registration API, and on the admin API accepts only `master`
    /// accounts granted the `{realm}-realm` roles.
    #[serde(default)]
    pub admin_realm: Option<String>,
    /// Client id of the admin service account (a confidential client with service accounts).
    pub admin_client_id: String,
    /// Its secret.
    pub admin_client_secret: SecretString,
    /// Which API reads clients.
    #[serde(default)]
    pub client_lookup: ClientLookup,
    /// Client authentication at the token endpoint (mapped clients and the admin account).
    #[serde(default)]
    pub token_auth_method: TokenAuthMethod,
    /// The realm's issuer when Keycloak's public hostname differs from `base_url`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// How long before its expiry the cached admin token is replaced (at most half its life).
    #[serde(default = "default_refresh_margin", with = "millis")]
    pub admin_token_refresh_margin: Duration,
    /// HTTP client settings.
    #[serde(default)]
    pub http: HttpSettings,
}

fn default_refresh_margin() -> Duration {
    Duration::from_secs(30)
}

impl fmt::Debug for KeycloakConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakConfig")
            .field("key_manager", &self.key_manager)
            .field("base_url", &self.base_url)
            .field("relative_path", &self.relative_path)
            .field("realm", &self.realm)
            .field("admin_realm", &self.admin_realm)
            .field("admin_client_id", &self.admin_client_id)
            .field("admin_client_secret", &"[redacted]")
            .field("client_lookup", &self.client_lookup)
            .field("token_auth_method", &self.token_auth_method)
            .field("issuer", &self.issuer)
            .field(
                "admin_token_refresh_margin",
                &self.admin_token_refresh_margin,
            )
            .field("http", &self.http)
            .finish()
    }
}

fn enc(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

impl KeycloakConfig {
    /// Settings for `realm` at `base_url`, with an admin service account of the same realm.
    pub fn new(
        key_manager: KeyManagerId,
        base_url: impl Into<String>,
        realm: impl Into<String>,
        admin_client_id: impl Into<String>,
        admin_client_secret: impl Into<String>,
    ) -> Self {
        Self {
            key_manager,
            base_url: base_url.into(),
            relative_path: String::new(),
            realm: realm.into(),
            admin_realm: None,
            admin_client_id: admin_client_id.into(),
            admin_client_secret: SecretString::from(admin_client_secret.into()),
            client_lookup: ClientLookup::default(),
            token_auth_method: TokenAuthMethod::default(),
            issuer: None,
            admin_token_refresh_margin: default_refresh_margin(),
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
        let config: KeycloakConfig = table.try_into().map_err(|e: toml::de::Error| {
            keyprov::Error::config(
                format!("key_managers.{key_manager}.connection"),
                e.to_string().replace('\n', " ").trim().to_owned(),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Sets the `http-relative-path` (`/auth` for Keycloak 16 and older).
    pub fn relative_path(mut self, path: impl Into<String>) -> Self {
        self.relative_path = path.into();
        self
    }

    /// Sets the admin service account's realm.
    pub fn admin_realm(mut self, realm: impl Into<String>) -> Self {
        self.admin_realm = Some(realm.into());
        self
    }

    /// Sets the client lookup API.
    pub fn client_lookup(mut self, lookup: ClientLookup) -> Self {
        self.client_lookup = lookup;
        self
    }

    /// Sets the token endpoint client authentication.
    pub fn token_auth_method(mut self, method: TokenAuthMethod) -> Self {
        self.token_auth_method = method;
        self
    }

    /// Sets the admin token refresh margin.
    pub fn admin_token_refresh_margin(mut self, margin: Duration) -> Self {
        self.admin_token_refresh_margin = margin;
        self
    }

    /// Sets the HTTP settings.
    pub fn http(mut self, http: HttpSettings) -> Self {
        self.http = http;
        self
    }

    /// `{base_url}{relative_path}`.
    pub fn server_url(&self) -> String {
        format!(
            "{}{}",
            self.base_url.trim_end_matches('/'),
            self.relative_path.trim_end_matches('/')
        )
    }

    fn realm_url(&self, realm: &str) -> String {
        format!("{}/realms/{}", self.server_url(), enc(realm))
    }

    /// The realm's issuer, as its tokens' `iss` carries it.
    pub fn issuer(&self) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| self.realm_url(&self.realm))
    }

    /// Where the admin service account gets its token.
    pub fn admin_token_url(&self) -> String {
        let realm = self.admin_realm.as_deref().unwrap_or(&self.realm);
        format!("{}/protocol/openid-connect/token", self.realm_url(realm))
    }

    /// `GET` a client by client id through the admin API.
    pub fn admin_search_url(&self, client_id: &str) -> String {
        format!(
            "{}/admin/realms/{}/clients?clientId={}",
            self.server_url(),
            enc(&self.realm),
            enc(client_id)
        )
    }

    /// `GET` a client through the OIDC client registration API.
    pub fn registration_read_url(&self, client_id: &str) -> String {
        format!(
            "{}/clients-registrations/openid-connect/{}",
            self.realm_url(&self.realm),
            enc(client_id)
        )
    }

    /// The standards-based settings of the realm: discovery, tokens of mapped clients, JWKS,
    /// introspection with the admin service account's credentials.
    pub fn oidc_config(&self) -> OidcConfig {
        let mut oidc = OidcConfig::new(self.key_manager.clone(), self.issuer())
            .token_auth_method(self.token_auth_method)
            .http(self.http.clone());
        oidc.discovery_url = Some(format!(
            "{}/.well-known/openid-configuration",
            self.realm_url(&self.realm)
        ));
        if self.admin_realm.as_ref().is_none_or(|r| *r == self.realm) {
            oidc = oidc.introspection_auth(ServerAuth::ClientSecretBasic {
                client_id: self.admin_client_id.clone(),
                client_secret: self.admin_client_secret.clone(),
            });
        }
        oidc
    }

    /// Checks what serde cannot.
    ///
    /// # Errors
    /// [`keyprov::Error::Config`] naming the key.
    pub fn validate(&self) -> keyprov::Result<()> {
        self.check().map_err(|e| e.into_core(&self.key_manager))
    }

    fn check(&self) -> Result<(), KeycloakError> {
        let key = |k: &str| format!("key_managers.{}.connection.{k}", self.key_manager);
        let url = url::Url::parse(&self.base_url)
            .map_err(|e| KeycloakError::config(key("base_url"), format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(KeycloakError::config(
                key("base_url"),
                "must be an http or https URL without a query",
            ));
        }
        if url.path().trim_matches('/').contains("realms") {
            return Err(KeycloakError::config(
                key("base_url"),
                "give the server URL; the realm goes in `realm`",
            ));
        }
        if !self.relative_path.is_empty() && !self.relative_path.starts_with('/') {
            return Err(KeycloakError::config(
                key("relative_path"),
                "must start with '/' (e.g. \"/auth\")",
            ));
        }
        let blank = |s: &str| s.trim().is_empty();
        if blank(&self.realm) || self.admin_realm.as_deref().is_some_and(blank) {
            return Err(KeycloakError::config(key("realm"), "must not be empty"));
        }
        if blank(&self.admin_client_id) {
            return Err(KeycloakError::config(
                key("admin_client_id"),
                "must not be empty",
            ));
        }
        self.oidc_config().validate().map_err(KeycloakError::Oidc)?;
        Ok(())
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> KeyManagerId {
        KeyManagerId::new("kc").unwrap()
    }

    #[test]
    fn reads_the_native_connection_table() {
        let table: toml::Table = toml::from_str(
            r#"
            base_url = "https://sso.example.com/"
            relative_path = "/auth"
            realm = "apis"
            admin_client_id = "keyprov-admin"
            admin_client_secret = "adm-s3cret"
            client_lookup = "registration_api"
            admin_token_refresh_margin = 10000
            [http]
            request_timeout = 2500
            "#,
        )
        .unwrap();
        let config = KeycloakConfig::from_connection(id(), &table).unwrap();
        assert_eq!(config.issuer(), "https://sso.example.com/auth/realms/apis");
        assert_eq!(
            config.admin_token_url(),
            "https://sso.example.com/auth/realms/apis/protocol/openid-connect/token"
        );
        assert_eq!(
            config.admin_search_url("a b&c"),
            "https://sso.example.com/auth/admin/realms/apis/clients?clientId=a+b%26c"
        );
        assert_eq!(config.client_lookup, ClientLookup::RegistrationApi);
        assert_eq!(config.admin_token_refresh_margin, Duration::from_secs(10));
        assert_eq!(config.http.request_timeout, Duration::from_millis(2500));
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn refuses_what_cannot_work() {
        let ok = KeycloakConfig::new(id(), "https://sso.example.com", "apis", "adm", "s");
        ok.validate().unwrap();
        let cases = [
            (
                KeycloakConfig {
                    base_url: "https://sso.example.com/realms/apis".into(),
                    ..ok.clone()
                },
                "base_url",
            ),
            (ok.clone().relative_path("auth"), "relative_path"),
            (
                KeycloakConfig {
                    realm: " ".into(),
                    ..ok.clone()
                },
                "realm",
            ),
            (
                KeycloakConfig {
                    admin_client_id: String::new(),
                    ..ok.clone()
                },
                "admin_client_id",
            ),
        ];
        for (config, key) in cases {
            let err = config.validate().unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        let table: toml::Table = toml::from_str("base_url = \"https://x\"").unwrap();
        let err = KeycloakConfig::from_connection(id(), &table).unwrap_err();
        assert!(err.to_string().contains("realm"), "{err}");
    }

    #[test]
    fn the_readme_example_is_a_valid_native_file() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let text = &readme[start..start + readme[start..].find("```").unwrap()];
        let file = keyprov::Config::from_toml_str(text).unwrap();
        let entry = &file.key_managers[0];
        assert_eq!(entry.kind.as_deref(), Some("keycloak"));
        let config =
            KeycloakConfig::from_connection(entry.config.id.clone(), &entry.connection.to_table())
                .unwrap();
        assert_eq!(
            entry.config.issuer.as_deref(),
            Some(config.issuer().as_str())
        );
    }
}
