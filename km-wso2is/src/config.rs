//! Settings of the WSO2 IS adapter: where IS is, which tenant, how the adapter authenticates
//! to IS's admin APIs, and the HTTP client (timeouts, IS's self-signed CA).

use std::fmt;

use keyprov::KeyManagerId;
use km_oidc::{HttpSettings, OidcConfig, ServerAuth, TokenAuthMethod};
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::IsError;

/// DCR path under the (tenant-qualified) base URL.
pub(crate) const DCR_PATH: &str = "/api/identity/oauth2/dcr/v1.1/register";

/// The scope a bearer admin token needs to read clients through DCR.
pub const DCR_VIEW_SCOPE: &str = "internal_dcr_view";

/// How the adapter authenticates to IS's DCR API.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum AdminAuth {
    /// HTTP Basic of an admin user (every IS version). For a tenant, the user name carries
    /// the tenant domain (`admin@acme.com`).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// A bearer token the adapter obtains with `client_credentials` for its own admin
    /// client, asking for `scopes` (IS 7.x: `internal_dcr_view`, plus `internal_dcr_create`,
    /// `_update`, `_delete` for tooling that writes).
    ClientCredentials {
        /// The admin client's id.
        client_id: String,
        /// Its secret.
        client_secret: SecretString,
        /// Scopes to ask for; default `["internal_dcr_view"]`.
        #[serde(default = "default_admin_scopes")]
        scopes: Vec<String>,
    },
}

fn default_admin_scopes() -> Vec<String> {
    vec![DCR_VIEW_SCOPE.to_owned()]
}

impl AdminAuth {
    /// Basic of an admin user.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        AdminAuth::Basic {
            username: username.into(),
            password: SecretString::from(password.into()),
        }
    }

    /// Bearer obtained with `client_credentials`, scope `internal_dcr_view`.
    pub fn client_credentials(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        AdminAuth::ClientCredentials {
            client_id: client_id.into(),
            client_secret: SecretString::from(secret.into()),
            scopes: default_admin_scopes(),
        }
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

/// The adapter's settings (the `[key_managers.connection]` table of the native file, with
/// `kind = "wso2is"` on the key manager).
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
#[derive(Clone, Debug, Deserialize)]
pub struct Wso2IsConfig {
    /// The key manager id every error carries.
    pub key_manager: KeyManagerId,
    /// `https://{host}:{port}` of IS, without a tenant.
    pub base_url: String,
    /// Tenant domain; paths become `/t/{tenant}/...`. `None` or `carbon.super`: root paths.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Admin credentials for the DCR API.
    pub admin: AdminAuth,
    /// The issuer; default `{base}{/t/tenant}/oauth2/token`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Read `{issuer}/.well-known/openid-configuration`; when off, IS's standard paths are used.
    #[serde(default = "yes")]
    pub discovery: bool,
    /// Token endpoint override.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// JWKS override.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Introspection endpoint override.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// Introspection credentials; default: the admin user's Basic (IS wants an admin user).
    /// Without them (admin auth by bearer) introspection is not supported.
    #[serde(default)]
    pub introspection_auth: Option<ServerAuth>,
    /// Client authentication of token requests for mapped clients.
    #[serde(default)]
    pub token_auth_method: TokenAuthMethod,
    /// HTTP client settings (timeouts, `ca_certs_pem` for IS's self-signed certificate).
    #[serde(default)]
    pub http: HttpSettings,
}

fn yes() -> bool {
    true
}

impl Wso2IsConfig {
    /// Settings for IS at `base_url` (root tenant), discovering endpoints.
    pub fn new(key_manager: KeyManagerId, base_url: impl Into<String>, admin: AdminAuth) -> Self {
        Self {
            key_manager,
            base_url: base_url.into(),
            tenant: None,
            admin,
            issuer: None,
            discovery: true,
            token_endpoint: None,
            jwks_uri: None,
            introspection_endpoint: None,
            introspection_auth: None,
            token_auth_method: TokenAuthMethod::default(),
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
        let config: Wso2IsConfig = table.try_into().map_err(|e: toml::de::Error| {
            keyprov::Error::config(
                format!("key_managers.{key_manager}.connection"),
                e.to_string().replace('\n', " ").trim().to_owned(),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Sets the tenant domain.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the HTTP settings.
    pub fn http(mut self, http: HttpSettings) -> Self {
        self.http = http;
        self
    }

    /// Sets the introspection credentials.
    pub fn introspection_auth(mut self, auth: ServerAuth) -> Self {
        self.introspection_auth = Some(auth);
        self
    }

    /// Turns discovery off: IS's standard paths are used.
    pub fn without_discovery(mut self) -> Self {
        self.discovery = false;
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
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("{}/oauth2/token", self.tenant_base()))
    }

    /// The DCR endpoint, `{tenant base}/api/identity/oauth2/dcr/v1.1/register`.
    pub fn dcr_endpoint(&self) -> String {
        format!("{}{DCR_PATH}", self.tenant_base())
    }

    /// The introspection credentials in use, if any.
    pub(crate) fn effective_introspection_auth(&self) -> Option<ServerAuth> {
        self.introspection_auth.clone().or(match &self.admin {
            AdminAuth::Basic { username, password } => Some(ServerAuth::UserBasic {
                username: username.clone(),
                password: password.clone(),
            }),
            AdminAuth::ClientCredentials { .. } => None,
        })
    }

    /// The settings of the standards part (discovery, token, JWKS, introspection).
    pub(crate) fn oidc(&self) -> OidcConfig {
        let base = self.tenant_base();
        let mut oidc = OidcConfig::new(self.key_manager.clone(), self.issuer())
            .token_auth_method(self.token_auth_method)
            .http(self.http.clone());
        oidc.discovery = self.discovery;
        let standard = |path: &str| (!self.discovery).then(|| format!("{base}{path}"));
        oidc.token_endpoint = self
            .token_endpoint
            .clone()
            .or_else(|| standard("/oauth2/token"));
        oidc.jwks_uri = self.jwks_uri.clone().or_else(|| standard("/oauth2/jwks"));
        oidc.introspection_endpoint = self
            .introspection_endpoint
            .clone()
            .or_else(|| standard("/oauth2/introspect"));
        oidc.introspection_auth = self.effective_introspection_auth();
        oidc
    }

    /// Checks what serde cannot.
    ///
    /// # Errors
    /// [`IsError`] of kind configuration, naming the key.
    pub(crate) fn validate_inner(&self) -> Result<(), IsError> {
        let key = |k: &str| format!("key_managers.{}.connection.{k}", self.key_manager);
        let url = url::Url::parse(&self.base_url)
            .map_err(|e| IsError::config(key("base_url"), format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(IsError::config(key("base_url"), "must be http or https"));
        }
        if let Some(t) = &self.tenant
            && (t.is_empty() || t.contains(['/', '?', '#', ' ']))
        {
            return Err(IsError::config(key("tenant"), "must be a tenant domain"));
        }
        match &self.admin {
            AdminAuth::Basic { username, .. } if username.is_empty() => {
                return Err(IsError::config(key("admin.username"), "must not be empty"));
            }
            AdminAuth::ClientCredentials { client_id, .. } if client_id.is_empty() => {
                return Err(IsError::config(key("admin.client_id"), "must not be empty"));
            }
            _ => {}
        }
        self.oidc().validate().map_err(IsError::Oidc)
    }

    /// Checks what serde cannot.
    ///
    /// # Errors
    /// [`keyprov::Error::Config`] naming the key.
    pub fn validate(&self) -> keyprov::Result<()> {
        self.validate_inner()
            .map_err(|e| e.into_core(&self.key_manager))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> KeyManagerId {
        KeyManagerId::new("IS").unwrap()
    }

    #[test]
    fn reads_the_native_connection_table() {
        let table: toml::Table = toml::from_str(
            r#"
            base_url = "https://is.example.com:9443"
            tenant = "acme.com"
            admin = { kind = "client_credentials", client_id = "apim", client_secret = "adm-s3cret" }
            [http]
            request_timeout = 2500
            "#,
        )
        .unwrap();
        let config = Wso2IsConfig::from_connection(id(), &table).unwrap();
        assert_eq!(
            config.dcr_endpoint(),
            "https://is.example.com:9443/t/acme.com/api/identity/oauth2/dcr/v1.1/register"
        );
        match &config.admin {
            AdminAuth::ClientCredentials { scopes, .. } => {
                assert_eq!(scopes, &vec!["internal_dcr_view".to_owned()])
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
        let oidc = config.oidc();
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
        let table: toml::Table = toml::from_str(r#"base_url = "https://is""#).unwrap();
        let err = Wso2IsConfig::from_connection(id(), &table).unwrap_err();
        assert!(err.to_string().contains("admin"), "{err}");
    }
}
