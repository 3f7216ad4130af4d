//! Settings of the Keycloak adapter: where the realm lives, the admin service account, how
//! clients are looked up.

use std::time::Duration;

use keyprov::KeyManagerId;
use keyprov::config::{ConfigTable, Section};
use km_oidc::config::{KeyNames, connection_key, http_url, millis, read_connection};
use km_oidc::{
    AdminAuth, ConnectionSettings, HttpSettings, OidcConfig, ServerAuth, TokenAuthMethod,
    VendorDefaults,
};
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::KeycloakError;

/// Which Keycloak API reads clients ([P4](keyprov::guide::provisioning#p4-validation-against-the-key-manager)).
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

/// The adapter's settings (the `[key_managers.connection]` table of the native file, with
/// `type = "keycloak"` on the key manager): `base_url`, `relative_path`, `realm`,
/// `admin_realm`, `admin`, `client_lookup`, `admin_token_refresh_margin`, and the shared
/// [`ConnectionSettings`] (the realm's discovery document; its standard paths when
/// `discovery = false`; introspection with the admin service account unless
/// `introspection_auth` says otherwise).
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
#[derive(Clone, Debug)]
pub struct KeycloakConfig {
    /// The key manager id every error carries.
    pub key_manager: KeyManagerId,
    /// Scheme, host and port, e.g. `https://sso.example.com`.
    pub base_url: String,
    /// Keycloak's `http-relative-path`: empty on Keycloak 17+, `/auth` on 16 and older.
    pub relative_path: String,
    /// The realm whose clients are provisioned.
    pub realm: String,
    /// The realm of the admin service account; default: `realm`. Keycloak refuses tokens of
    /// another realm on the registration API, and on the admin API accepts only `master`
    /// accounts granted the `{realm}-realm` roles.
    pub admin_realm: Option<String>,
    /// The admin service account (a confidential client with service accounts):
    /// [`AdminAuth::ClientCredentials`]; Keycloak's admin APIs take no Basic.
    pub admin: AdminAuth,
    /// Which API reads clients.
    pub client_lookup: ClientLookup,
    /// How long before its expiry the cached admin token is replaced (at most half its life).
    pub admin_token_refresh_margin: Duration,
    /// Issuer (the realm's, unless Keycloak's public hostname differs from `base_url`),
    /// discovery, endpoint overrides, client authentication (mapped clients and the admin
    /// account), introspection credentials, HTTP settings.
    pub connection: ConnectionSettings,
}

fn default_refresh_margin() -> Duration {
    Duration::from_secs(30)
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
            admin: AdminAuth::client_credentials(admin_client_id, admin_client_secret),
            client_lookup: ClientLookup::default(),
            admin_token_refresh_margin: default_refresh_margin(),
            connection: ConnectionSettings::default(),
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
        read_connection(table, |s| Self::read(key_manager, s), Self::check)
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
        self.connection.token_auth_method = method;
        self
    }

    /// Sets the admin token refresh margin.
    pub fn admin_token_refresh_margin(mut self, margin: Duration) -> Self {
        self.admin_token_refresh_margin = margin;
        self
    }

    /// Sets the HTTP settings.
    pub fn http(mut self, http: HttpSettings) -> Self {
        self.connection.http = http;
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
        self.connection
            .issuer
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

    /// The admin service account: client id, secret, scopes.
    pub(crate) fn service_account(&self) -> Option<(&str, &SecretString, &[String])> {
        match &self.admin {
            AdminAuth::ClientCredentials {
                client_id,
                client_secret,
                scopes,
            } => Some((client_id, client_secret, scopes)),
            AdminAuth::Basic { .. } => None,
        }
    }

    /// The standards-based settings of the realm: discovery, tokens of mapped clients, JWKS,
    /// introspection with the admin service account's credentials.
    pub fn oidc_config(&self) -> OidcConfig {
        let realm = self.realm_url(&self.realm);
        let oidc = |path: &str| format!("{realm}/protocol/openid-connect{path}");
        let same_realm = self.admin_realm.as_ref().is_none_or(|r| *r == self.realm);
        self.connection.resolve(
            self.key_manager.clone(),
            VendorDefaults {
                issuer: self.issuer(),
                discovery_url: Some(format!("{realm}/.well-known/openid-configuration")),
                token_endpoint: oidc("/token"),
                jwks_uri: oidc("/certs"),
                introspection_endpoint: oidc("/token/introspect"),
                introspection_auth: self.service_account().filter(|_| same_realm).map(
                    |(client_id, secret, _)| ServerAuth::ClientSecretBasic {
                        client_id: client_id.to_owned(),
                        client_secret: secret.clone(),
                    },
                ),
            },
        )
    }

    fn read(key_manager: KeyManagerId, s: &mut Section<'_>) -> keyprov::Result<Self> {
        Ok(Self {
            key_manager,
            base_url: s.require("base_url")?,
            relative_path: s.get_or("relative_path", String::new())?,
            realm: s.require("realm")?,
            admin_realm: s.get("admin_realm")?,
            admin: AdminAuth::require(s)?,
            client_lookup: s.get_or("client_lookup", ClientLookup::default())?,
            admin_token_refresh_margin: millis(s, "admin_token_refresh_margin")?
                .unwrap_or_else(default_refresh_margin),
            connection: ConnectionSettings::read(s)?,
        })
    }

    /// Checks what the types cannot.
    ///
    /// # Errors
    /// [`keyprov::Error::Config`] naming the key (`key_managers.{id}.connection.{key}`).
    pub fn validate(&self) -> keyprov::Result<()> {
        self.check(&connection_key(&self.key_manager))
    }

    fn check(&self, key: KeyNames<'_>) -> keyprov::Result<()> {
        self.check_inner(key)
            .map_err(|e| e.into_core(&self.key_manager))
    }

    fn check_inner(&self, key: KeyNames<'_>) -> Result<(), KeycloakError> {
        let url = http_url(key, "base_url", &self.base_url)?;
        if url.query().is_some() {
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
        if blank(&self.realm) {
            return Err(KeycloakError::config(key("realm"), "must not be empty"));
        }
        if self.admin_realm.as_deref().is_some_and(blank) {
            return Err(KeycloakError::config(
                key("admin_realm"),
                "must not be empty",
            ));
        }
        if self.service_account().is_none() {
            return Err(KeycloakError::config(
                key("admin.kind"),
                "Keycloak's admin APIs take a service account: kind = \"client_credentials\"",
            ));
        }
        self.admin.validate(key)?;
        self.oidc_config().validate_keys(key)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> KeyManagerId {
        KeyManagerId::new("kc").unwrap()
    }

    fn read(text: &str) -> keyprov::Result<KeycloakConfig> {
        let table = ConfigTable::parse("key_managers[0].connection", text)?;
        KeycloakConfig::from_connection(id(), &table)
    }

    const MINIMAL: &str = "base_url = \"https://sso\"\nrealm = \"apis\"\n\
        admin = { kind = \"client_credentials\", client_id = \"adm\", client_secret = \"s\" }\n";

    #[test]
    fn reads_the_native_connection_table() {
        let config = read(
            r#"
            base_url = "https://sso.example.com/"
            relative_path = "/auth"
            realm = "apis"
            admin = { kind = "client_credentials", client_id = "keyprov-admin", client_secret = "adm-s3cret", scopes = ["profile"] }
            client_lookup = "registration_api"
            admin_token_refresh_margin = 10000
            [http]
            request_timeout = 2500
            "#,
        )
        .unwrap();
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
        assert_eq!(
            config.connection.http.request_timeout,
            Duration::from_millis(2500)
        );
        let (client_id, _, scopes) = config.service_account().unwrap();
        assert_eq!(
            (client_id, scopes),
            ("keyprov-admin", &["profile".to_owned()][..])
        );
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn the_realm_paths_fill_what_the_table_leaves_unset() {
        let config = read(&format!("{MINIMAL}discovery = false")).unwrap();
        let oidc = config.oidc_config().connection;
        assert_eq!(
            oidc.token_endpoint.as_deref(),
            Some("https://sso/realms/apis/protocol/openid-connect/token")
        );
        assert_eq!(
            oidc.jwks_uri.as_deref(),
            Some("https://sso/realms/apis/protocol/openid-connect/certs")
        );
        assert!(matches!(
            oidc.introspection_auth,
            Some(ServerAuth::ClientSecretBasic { ref client_id, .. }) if client_id == "adm"
        ));
        let master = read(&format!("{MINIMAL}admin_realm = \"master\"")).unwrap();
        assert!(
            master.oidc_config().connection.introspection_auth.is_none(),
            "a master account cannot introspect the realm's tokens"
        );
        let discovered = read(MINIMAL).unwrap().oidc_config().connection;
        assert_eq!(discovered.token_endpoint, None, "discovery says");
        assert_eq!(
            discovered.discovery_url.as_deref(),
            Some("https://sso/realms/apis/.well-known/openid-configuration")
        );
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
                    admin: AdminAuth::client_credentials("", "s"),
                    ..ok.clone()
                },
                "admin.client_id",
            ),
            (
                KeycloakConfig {
                    admin: AdminAuth::basic("admin", "pw"),
                    ..ok.clone()
                },
                "admin.kind",
            ),
        ];
        for (config, key) in cases {
            let err = config.validate().unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("key_managers.kc.connection.{key}")),
                "{key}: {err}"
            );
        }
        let err = read("base_url = \"https://x\"").unwrap_err().to_string();
        assert!(
            err.contains("key_managers[0].connection.realm: missing"),
            "{err}"
        );
        let err = read("base_url = \"https://x\"\nrealm = \"r\"\nadmin = { kind = \"basic\", username = \"u\", password = \"p\" }")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key_managers[0].connection.admin.kind (line 3): Keycloak's admin APIs take a service account"),
            "{err}"
        );
    }

    #[test]
    fn refuses_unknown_keys_with_the_nearest_known_one() {
        let cases = [
            (
                "relm = \"x\"",
                "relm (line 4): unknown key; did you mean realm?",
            ),
            (
                "admin_relam = \"master\"",
                "admin_relam (line 4): unknown key; did you mean admin_realm?",
            ),
            (
                "client_lokup = \"admin_api\"",
                "client_lokup (line 4): unknown key; did you mean client_lookup?",
            ),
            ("tenant = \"acme\"", "tenant (line 4): unknown key"),
            (
                "admin_client_id = \"adm\"",
                "admin_client_id (line 4): unknown key",
            ),
            (
                "[http]\nca_cert_pem = []",
                "http.ca_cert_pem (line 5): unknown key; did you mean ca_certs_pem?",
            ),
        ];
        for (extra, expected) in cases {
            let err = read(&format!("{MINIMAL}{extra}")).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("invalid configuration at key_managers[0].connection.{expected}"),
            );
        }
    }
}
