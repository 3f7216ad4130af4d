//! [`Wso2IsKeyManager`]: the `KeyManager` of WSO2 Identity Server 5.11, 6.x and 7.x.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use keyprov::{
    AccessToken, Capabilities, ClientInfo, ConsumerKey, ConsumerSecret, Error, Introspection,
    JwkSet, KeyManager, KeyManagerId, Result,
};
use km_oidc::client::endpoint_label;
use km_oidc::{EndpointKind, OidcError, OidcKeyManager, ServerAuth};
use secrecy::{ExposeSecret, SecretString};

use crate::client::{self, AdminHeader, DcrApplication, with_admin};
use crate::config::{AdminAuth, DCR_VIEW_SCOPE, Wso2IsConfig};
use crate::error::{IsError, classify_dcr};

/// The token sent to introspection to check the admin user's credentials.
const CREDENTIAL_PROBE_TOKEN: &str = "keyprov-admin-credential-check";

struct CachedToken {
    token: SecretString,
    valid_until: Instant,
}

/// A key manager for WSO2 Identity Server.
///
/// - client lookup: `GET {tenant base}/api/identity/oauth2/dcr/v1.1/register/{client_id}` with
///   the admin credentials; IS's 401-with-empty-body is resolved into "client not found" or
///   "admin credentials rejected" by checking the credentials on their own (introspection with
///   the admin user's Basic, or a fresh admin token carrying `internal_dcr_view`);
/// - secrets are proven with a `client_credentials` token request (IS may hash secrets);
///   a refusal "application is not in active state" means the client is disabled;
/// - token type from `ext_token_type` / `token_type_extension` (7.x), else learned from the
///   shape of the tokens this adapter obtained for the client (a probe token);
/// - JWKS, discovery and introspection (admin Basic) through km-oidc.
///
/// # Example
/// ```no_run
/// # async fn run() -> keyprov::Result<()> {
/// use keyprov::{ConsumerKey, KeyManager, KeyManagerId};
/// use km_wso2is::{AdminAuth, Wso2IsConfig, Wso2IsKeyManager};
///
/// let km = Wso2IsKeyManager::new(Wso2IsConfig::new(
///     KeyManagerId::new("IS")?,
///     "https://is.example.com:9443",
///     AdminAuth::basic("admin", "admin"),
/// ))?;
/// let client = km.client(&ConsumerKey::new("abc123")?).await?;
/// println!("{:?} uses {:?} tokens", client.client_name, client.token_type);
/// # Ok(()) }
/// ```
pub struct Wso2IsKeyManager {
    config: Wso2IsConfig,
    oidc: OidcKeyManager,
    admin_token: tokio::sync::Mutex<Option<CachedToken>>,
    learned: Mutex<HashMap<String, &'static str>>,
}

impl std::fmt::Debug for Wso2IsKeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wso2IsKeyManager")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Wso2IsKeyManager {
    /// Builds the adapter; discovery happens on first use.
    ///
    /// # Errors
    /// [`Error::Config`] when the settings are invalid or a CA certificate is unreadable.
    pub fn new(config: Wso2IsConfig) -> Result<Self> {
        config.validate()?;
        let oidc = OidcKeyManager::new(config.oidc())?;
        Ok(Self {
            config,
            oidc,
            admin_token: tokio::sync::Mutex::new(None),
            learned: Mutex::new(HashMap::new()),
        })
    }

    /// The key manager id.
    pub fn id(&self) -> &KeyManagerId {
        &self.config.key_manager
    }

    /// The settings.
    pub fn config(&self) -> &Wso2IsConfig {
        &self.config
    }

    /// The issuer of IS's tokens (`{base}{/t/tenant}/oauth2/token`), for the gateway's
    /// key manager settings.
    pub fn issuer(&self) -> String {
        self.config.issuer()
    }

    /// The standards part (discovery, JWKS, introspection).
    pub fn oidc(&self) -> &OidcKeyManager {
        &self.oidc
    }

    fn map_err(&self, err: IsError) -> Error {
        err.into_core(&self.config.key_manager)
    }

    async fn token_url(&self) -> Result<String> {
        Ok(self.oidc.endpoints().await?.token.clone())
    }

    /// A fresh or cached admin bearer token (admin auth by `client_credentials`).
    async fn admin_header(&self, fresh: bool) -> Result<AdminHeader> {
        let (client_id, secret, scopes) = match &self.config.admin {
            AdminAuth::Basic { username, password } => {
                return Ok(AdminHeader::Basic {
                    username: username.clone(),
                    password: password.clone(),
                });
            }
            AdminAuth::ClientCredentials {
                client_id,
                client_secret,
                scopes,
            } => (client_id, client_secret, scopes),
        };
        let default_scopes = [DCR_VIEW_SCOPE.to_owned()];
        let scopes = if scopes.is_empty() {
            &default_scopes[..]
        } else {
            scopes
        };
        let mut cached = self.admin_token.lock().await;
        if !fresh
            && let Some(c) = cached.as_ref()
            && c.valid_until > Instant::now()
        {
            return Ok(AdminHeader::Bearer(c.token.clone()));
        }
        let token_url = self.token_url().await?;
        let endpoint = endpoint_label(EndpointKind::Token, &token_url);
        let token = client::client_credentials(
            self.oidc.http(),
            &token_url,
            client_id,
            secret.expose_secret(),
            self.config.connection.token_auth_method,
            scopes,
        )
        .await
        .map_err(|e| match e {
            IsError::Oidc(
                OidcError::InvalidClient { .. }
                | OidcError::GrantNotAllowed { .. }
                | OidcError::ClientDisabled { .. }
                | OidcError::NotFound { .. },
            ) => IsError::AdminToken {
                endpoint: endpoint.clone(),
                detail: "the admin client was refused a token".into(),
            },
            other => other,
        })
        .map_err(|e| self.map_err(e))?;
        // IS drops scopes the client may not have; an answer without `scope` is taken at its word.
        if !token.scopes.is_empty() && !token.scopes.iter().any(|s| s == DCR_VIEW_SCOPE) {
            return Err(self.map_err(IsError::AdminToken {
                endpoint,
                detail: format!("the admin token was not granted {DCR_VIEW_SCOPE}"),
            }));
        }
        let ttl = Duration::from_secs(token.expires_in.unwrap_or(300).saturating_sub(30));
        *cached = Some(CachedToken {
            token: token.access_token.clone(),
            valid_until: Instant::now() + ttl,
        });
        Ok(AdminHeader::Bearer(token.access_token))
    }

    /// Checks the admin credentials on their own: `Ok` when IS accepts them.
    async fn check_admin_credentials(&self) -> Result<()> {
        match &self.config.admin {
            AdminAuth::ClientCredentials { .. } => {
                // A fresh token proves the client credentials; a read by name proves that IS
                // accepts the token on DCR (5.11/6.x do not take bearer tokens there).
                let admin = self.admin_header(true).await?;
                let probe = format!("keyprov-credential-check-{}", std::process::id());
                let url = format!(
                    "{}?client_name={}",
                    self.config.dcr_endpoint(),
                    url::form_urlencoded::byte_serialize(probe.as_bytes()).collect::<String>()
                );
                let endpoint = endpoint_label(EndpointKind::Admin, &self.config.dcr_endpoint());
                let raw = self.dcr_get(&url, &endpoint, &admin).await?;
                match raw.status {
                    200..=299 | 404 => Ok(()),
                    status => Err(
                        self.map_err(match classify_dcr(&endpoint, status, &raw.body) {
                            IsError::Unauthorized { .. } => {
                                IsError::Oidc(OidcError::AdminRejected { endpoint, status })
                            }
                            other => other,
                        }),
                    ),
                }
            }
            AdminAuth::Basic { username, password } => {
                let endpoints = self.oidc.endpoints().await?;
                let url = endpoints
                    .introspection
                    .clone()
                    .unwrap_or_else(|| format!("{}/oauth2/introspect", self.config.tenant_base()));
                let auth = ServerAuth::UserBasic {
                    username: username.clone(),
                    password: password.clone(),
                };
                self.oidc
                    .http()
                    .introspect(&url, &auth, CREDENTIAL_PROBE_TOKEN)
                    .await
                    .map(|_| ())
                    .map_err(|e| self.oidc.map_err(e))
            }
        }
    }

    async fn dcr_get(&self, url: &str, endpoint: &str, admin: &AdminHeader) -> Result<client::Raw> {
        client::send(self.oidc.http(), endpoint, true, |c| {
            with_admin(c.get(url), admin).header(reqwest::header::ACCEPT, "application/json")
        })
        .await
        .map_err(|e| self.map_err(e))
    }

    /// Reads a client through DCR, resolving IS's ambiguous 401.
    async fn read_client(&self, key: &ConsumerKey) -> Result<DcrApplication> {
        let id = url::form_urlencoded::byte_serialize(key.as_str().as_bytes()).collect::<String>();
        let url = format!("{}/{id}", self.config.dcr_endpoint());
        let endpoint = endpoint_label(EndpointKind::Admin, &url);
        let mut raw = self
            .dcr_get(&url, &endpoint, &self.admin_header(false).await?)
            .await?;
        if raw.status == 401 && matches!(self.config.admin, AdminAuth::ClientCredentials { .. }) {
            // The cached admin token may have expired or been revoked: once more, fresh.
            raw = self
                .dcr_get(&url, &endpoint, &self.admin_header(true).await?)
                .await?;
        }
        if !raw.ok() {
            return Err(match classify_dcr(&endpoint, raw.status, &raw.body) {
                IsError::Unauthorized { .. } => {
                    self.check_admin_credentials().await?;
                    self.map_err(IsError::Oidc(OidcError::NotFound { endpoint }))
                }
                other => self.map_err(other),
            });
        }
        let app: DcrApplication = raw.json(&endpoint).map_err(|e| self.map_err(e))?;
        if app.client_id != key.as_str() {
            return Err(self.map_err(IsError::protocol(
                endpoint,
                "the answer describes another client",
            )));
        }
        Ok(app)
    }

    /// Obtains a token for the client and names its type as IS does: `JWT` or `Default`
    /// (opaque). The type is remembered for later [`KeyManager::client`] reads of IS versions
    /// that do not state it (5.11, 6.x).
    ///
    /// # Errors
    /// As [`KeyManager::client_credentials_token`].
    pub async fn probe_token_type(
        &self,
        key: &ConsumerKey,
        secret: &ConsumerSecret,
    ) -> Result<&'static str> {
        let token = self.client_credentials_token(key, secret, &[]).await?;
        Ok(client::token_type_of(token.secret()))
    }

    fn learned_type(&self, key: &ConsumerKey) -> Option<String> {
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key.as_str())
            .map(|t| (*t).to_owned())
    }
}

#[async_trait]
impl KeyManager for Wso2IsKeyManager {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL.with_introspection(self.config.effective_introspection_auth().is_some())
    }

    fn issuer(&self) -> Option<String> {
        Some(self.config.issuer())
    }

    async fn client(&self, consumer_key: &ConsumerKey) -> Result<ClientInfo> {
        let app = self.read_client(consumer_key).await?;
        Ok(app.to_client_info(consumer_key, self.learned_type(consumer_key)))
    }

    async fn client_credentials_token(
        &self,
        consumer_key: &ConsumerKey,
        secret: &ConsumerSecret,
        scopes: &[String],
    ) -> Result<AccessToken> {
        let token_url = self.token_url().await?;
        let token = client::client_credentials(
            self.oidc.http(),
            &token_url,
            consumer_key.as_str(),
            secret.expose(),
            self.config.connection.token_auth_method,
            scopes,
        )
        .await
        .map_err(|e| self.map_err(e))?;
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                consumer_key.as_str().to_owned(),
                client::token_type_of(token.secret()),
            );
        Ok(token)
    }

    async fn jwks(&self) -> Result<JwkSet> {
        self.oidc.jwks().await
    }

    async fn introspect(&self, token: &str) -> Result<Introspection> {
        self.oidc.introspect(token).await
    }
}
