//! Settings of the WSO2 IS adapter: where IS is, which tenant, how the adapter authenticates
//! to IS's admin APIs, and the HTTP client (timeouts, IS's self-signed CA).

use keyprov::KeyManagerId;
use keyprov::config::{ConfigTable, Section};
pub use km_oidc::AdminAuth;
use km_oidc::config::{KeyNames, connection_key, http_url, read_connection};
use km_oidc::{ConnectionSettings, HttpSettings, OidcConfig, ServerAuth, VendorDefaults};

use crate::error::IsError;

/// DCR path under the (tenant-qualified) base URL.
pub(crate) const DCR_PATH: &str = "/api/identity/oauth2/dcr/v1.1/register";

/// The scope a bearer admin token needs to read clients through DCR, asked for when
/// [`AdminAuth::ClientCredentials`] names no scopes.
pub const DCR_VIEW_SCOPE: &str = "internal_dcr_view";

/// The adapter's settings (the `[key_managers.connection]` table of the native file, with
/// `type = "wso2is"` on the key manager): `base_url`, `tenant`, `admin`, and the shared
/// [`ConnectionSettings`] (IS's standard paths when `discovery = false`; introspection by the
/// admin user's Basic unless `introspection_auth` says otherwise).
///
/// # Example
/// ```
/// use km_wso2is::{AdminAuth, Wso2IsConfig};
/// use keyprov::KeyManagerId;
///
/// let config = Wso2IsConfig::new(
///     KeyManagerId::new("IS").unwrap(),
///     "https://is.example.com:9443",
///     AdminAuth::basic("admin", "admin"),
/// )
/// .tenant("acme.com");
/// assert_eq!(config.issuer(), "https://is.example.com:9443/t/acme.com/oauth2/token");
/// config.validate().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Wso2IsConfig {
    /// The key manager id every error carries.
    pub key_manager: KeyManagerId,
    /// `https://{host}:{port}` of IS, without a tenant.
    pub base_url: String,
    /// Tenant domain; paths become `/t/{tenant}/...`. `None` or `carbon.super`: root paths.
    pub tenant: Option<String>,
    /// Admin credentials for the DCR API: an admin user's Basic (every IS version), or a
    /// `client_credentials` token of an admin application (IS 7.x; scopes default to
    /// `internal_dcr_view`).
    pub admin: AdminAuth,
    /// Issuer (default `{base}{/t/tenant}/oauth2/token`), discovery, endpoint overrides,
    /// client authentication, introspection credentials, HTTP settings (`ca_certs_pem` for
    /// IS's self-signed certificate).
    pub connection: ConnectionSettings,
}

impl Wso2IsConfig {
    /// Settings for IS at `base_url` (root tenant), discovering endpoints.
    pub fn new(key_manager: KeyManagerId, base_url: impl Into<String>, admin: AdminAuth) -> Self {
        Self {
            key_manager,
            base_url: base_url.into(),
            tenant: None,
            admin,
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

    /// Sets the tenant domain.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the HTTP settings.
    pub fn http(mut self, http: HttpSettings) -> Self {
        self.connection.http = http;
        self
    }

    /// Sets the introspection credentials.
    pub fn introspection_auth(mut self, auth: ServerAuth) -> Self {
        self.connection.introspection_auth = Some(auth);
        self
    }

    /// Turns discovery off: IS's standard paths are used.
    pub fn without_discovery(mut self) -> Self {
        self.connection.discovery = false;
        self
    }

    /// `{base}` or `{base}/t/{tenant}`.
    pub fn tenant_base(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.tenant.as_deref() {
            Some(t) if !t.is_empty() && t != "carbon.super" => format!("{base}/t/{t}"),
            _ => base.to_owned(),
        }
    }

    /// The issuer of IS's tokens.
    pub fn issuer(&self) -> String {
        self.connection
            .issuer
            .clone()
            .unwrap_or_else(|| format!("{}/oauth2/token", self.tenant_base()))
    }

    /// The DCR endpoint, `{tenant base}/api/identity/oauth2/dcr/v1.1/register`.
    pub fn dcr_endpoint(&self) -> String {
        format!("{}{DCR_PATH}", self.tenant_base())
    }

    /// The introspection credentials in use, if any.
    pub(crate) fn effective_introspection_auth(&self) -> Option<ServerAuth> {
        self.oidc().connection.introspection_auth
    }

    /// The settings of the standards part (discovery, token, JWKS, introspection).
    pub(crate) fn oidc(&self) -> OidcConfig {
        let base = self.tenant_base();
        self.connection.resolve(
            self.key_manager.clone(),
            VendorDefaults {
                issuer: self.issuer(),
                discovery_url: None,
                token_endpoint: format!("{base}/oauth2/token"),
                jwks_uri: format!("{base}/oauth2/jwks"),
                introspection_endpoint: format!("{base}/oauth2/introspect"),
                // IS introspects for an admin user.
                introspection_auth: match &self.admin {
                    AdminAuth::Basic { username, password } => Some(ServerAuth::UserBasic {
                        username: username.clone(),
                        password: password.clone(),
                    }),
                    _ => None,
                },
            },
        )
    }

    fn check(&self, key: KeyNames<'_>) -> keyprov::Result<()> {
        self.check_inner(key)
            .map_err(|e| e.into_core(&self.key_manager))
    }

    fn check_inner(&self, key: KeyNames<'_>) -> Result<(), IsError> {
        http_url(key, "base_url", &self.base_url)?;
        if let Some(t) = &self.tenant
            && (t.is_empty() || t.contains(['/', '?', '#', ' ']))
        {
            return Err(IsError::config(key("tenant"), "must be a tenant domain"));
        }
        self.admin.validate(key)?;
        Ok(self.oidc().validate_keys(key)?)
    }

    fn read(key_manager: KeyManagerId, s: &mut Section<'_>) -> keyprov::Result<Self> {
        Ok(Self {
            key_manager,
            base_url: s.require("base_url")?,
            tenant: s.get("tenant")?,
            admin: AdminAuth::require(s)?,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> KeyManagerId {
        KeyManagerId::new("IS").unwrap()
    }

    fn read(text: &str) -> keyprov::Result<Wso2IsConfig> {
        let table = ConfigTable::parse("key_managers[0].connection", text)?;
        Wso2IsConfig::from_connection(id(), &table)
    }

    #[test]
    fn reads_the_native_connection_table() {
        let config = read(
            r#"
            base_url = "https://is.example.com:9443"
            tenant = "acme.com"
            admin = { kind = "client_credentials", client_id = "apim", client_secret = "adm-s3cret" }
            [http]
            request_timeout = 2500
            "#,
        )
        .unwrap();
        assert_eq!(
            config.dcr_endpoint(),
            "https://is.example.com:9443/t/acme.com/api/identity/oauth2/dcr/v1.1/register"
        );
        assert_eq!(
            config.connection.http.request_timeout,
            std::time::Duration::from_millis(2500)
        );
        match &config.admin {
            AdminAuth::ClientCredentials { scopes, .. } => {
                assert!(scopes.is_empty(), "the adapter's default: {DCR_VIEW_SCOPE}")
            }
            other => panic!("{other:?}"),
        }
        assert!(
            config.effective_introspection_auth().is_none(),
            "bearer admin gives no user for introspection"
        );
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn root_tenant_and_explicit_paths() {
        let config = Wso2IsConfig::new(id(), "https://is:9443/", AdminAuth::basic("admin", "pw"))
            .tenant("carbon.super")
            .without_discovery();
        assert_eq!(config.issuer(), "https://is:9443/oauth2/token");
        let oidc = config.oidc().connection;
        assert_eq!(
            oidc.introspection_endpoint.as_deref(),
            Some("https://is:9443/oauth2/introspect")
        );
        assert!(matches!(
            oidc.introspection_auth,
            Some(ServerAuth::UserBasic { .. })
        ));
    }

    #[test]
    fn refuses_what_cannot_work() {
        let bad = Wso2IsConfig::new(id(), "is.example.com", AdminAuth::basic("admin", "pw"));
        assert!(bad.validate().unwrap_err().to_string().contains("base_url"));
        let bad =
            Wso2IsConfig::new(id(), "https://is", AdminAuth::basic("admin", "pw")).tenant("a/b");
        assert!(bad.validate().unwrap_err().to_string().contains("tenant"));
        let err = read(r#"base_url = "https://is""#).unwrap_err().to_string();
        assert!(
            err.contains("key_managers[0].connection.admin: missing"),
            "{err}"
        );
        let err = read("\nbase_url = \"https://is\"\ntenant = \"a/b\"\nadmin = { kind = \"basic\", username = \"u\", password = \"p\" }")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key_managers[0].connection.tenant (line 3): must be a tenant domain"),
            "{err}"
        );
    }

    #[test]
    fn refuses_unknown_keys_with_the_nearest_known_one() {
        let base = "base_url = \"https://is\"\nadmin = { kind = \"basic\", username = \"u\", password = \"p\" }\n";
        let cases = [
            (
                "tennant = \"acme.com\"",
                "tennant (line 3): unknown key; did you mean tenant?",
            ),
            (
                "isuer = \"https://is\"",
                "isuer (line 3): unknown key; did you mean issuer?",
            ),
            (
                "[http]\nrequest_timout = 1",
                "http.request_timout (line 4): unknown key; did you mean request_timeout?",
            ),
            ("realm = \"apis\"", "realm (line 3): unknown key"),
        ];
        for (extra, expected) in cases {
            let err = read(&format!("{base}{extra}")).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("invalid configuration at key_managers[0].connection.{expected}"),
            );
        }
        let err = read("base_url = \"https://is\"\nadmin = { kind = \"basic\", usrname = \"u\", password = \"p\" }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("admin.username: missing"), "{err}");
        let err = read("base_url = \"https://is\"\nadmin = { kind = \"basic\", username = \"u\", usrname = \"u\", password = \"p\" }")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admin.usrname (line 2): unknown key; did you mean username?"),
            "{err}"
        );
    }
}
