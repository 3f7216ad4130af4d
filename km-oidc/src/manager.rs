//! [`OidcKeyManager`]: the `KeyManager` of any standards-based authorization server.

use async_trait::async_trait;
use keyprov::{
    AccessToken, Capabilities, ClientInfo, ConsumerKey, ConsumerSecret, Error, Introspection,
    JwkSet, KeyManager, KeyManagerId, Result,
};
use tokio::sync::OnceCell;

use crate::client::{Http, ProviderMetadata, TokenRequest};
use crate::config::OidcConfig;
use crate::error::OidcError;

/// The endpoints in use, from discovery with explicit settings taking precedence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// The issuer, when known.
    pub issuer: Option<String>,
    /// Token endpoint.
    pub token: String,
    /// Key set.
    pub jwks: Option<String>,
    /// Introspection.
    pub introspection: Option<String>,
    /// Registration (RFC 7591).
    pub registration: Option<String>,
}

/// A key manager for any server that speaks the standards: discovery, JWKS, `client_credentials`
/// with `client_secret_basic` or `client_secret_post`, introspection, RFC 7592 client reads.
///
/// Client lookup (step 1 of
/// [P4](keyprov::guide::provisioning#p4-validation-against-the-key-manager)) reads RFC 7592
/// when the client's registration access token is configured; otherwise the standards offer no
/// way to read a client, and
/// [`KeyManager::client`] answers a description with nothing known, leaving the secret proof
/// (a token request) to establish that the client exists and may use `client_credentials`.
///
/// # Example
/// ```no_run
/// # async fn run() -> keyprov::Result<()> {
/// use km_oidc::{OidcConfig, OidcKeyManager};
/// use keyprov::{ConsumerKey, ConsumerSecret, KeyManager, KeyManagerId};
///
/// let config = OidcConfig::new(KeyManagerId::new("idp")?, "https://idp.example.com");
/// let km = OidcKeyManager::new(config)?;
/// let token = km
///     .client_credentials_token(&ConsumerKey::new("my-client")?, &ConsumerSecret::new("s"), &[])
///     .await?;
/// println!("expires in {:?}", token.expires_in);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct OidcKeyManager {
    config: OidcConfig,
    http: Http,
    endpoints: OnceCell<Endpoints>,
}

impl OidcKeyManager {
    /// Builds the adapter; discovery happens on first use and is cached once it succeeds.
    ///
    /// # Errors
    /// [`Error::Config`] when the settings are invalid or a CA certificate is unreadable.
    pub fn new(config: OidcConfig) -> Result<Self> {
        config
            .validate()
            .and_then(|()| Http::new(&config.connection.http))
            .map(|http| Self {
                http,
                config: config.clone(),
                endpoints: OnceCell::new(),
            })
            .map_err(|e| e.into_core(&config.key_manager))
    }

    /// The key manager id.
    pub fn id(&self) -> &KeyManagerId {
        &self.config.key_manager
    }

    /// The settings.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The HTTP client, for vendor adapters that add their own calls.
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// Maps an adapter error into the core error with this key manager's id.
    pub fn map_err(&self, err: OidcError) -> Error {
        err.into_core(&self.config.key_manager)
    }

    /// The endpoints, reading discovery the first time.
    ///
    /// # Errors
    /// Discovery failures, mapped.
    pub async fn endpoints(&self) -> Result<&Endpoints> {
        self.endpoints
            .get_or_try_init(|| self.resolve())
            .await
            .map_err(|e| self.map_err(e))
    }

    async fn resolve(&self) -> std::result::Result<Endpoints, OidcError> {
        let c = &self.config.connection;
        let discovered = if c.discovery {
            let url = match (&c.discovery_url, &c.issuer) {
                (Some(url), _) => url.clone(),
                (None, Some(issuer)) => format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                ),
                (None, None) => {
                    return Err(OidcError::NotSupported {
                        operation: "discovery",
                    });
                }
            };
            self.http.discover(&url, c.issuer.as_deref()).await?
        } else {
            ProviderMetadata::default()
        };
        let token = c
            .token_endpoint
            .clone()
            .unwrap_or(discovered.token_endpoint);
        if token.is_empty() {
            return Err(OidcError::NotSupported { operation: "token" });
        }
        Ok(Endpoints {
            issuer: c
                .issuer
                .clone()
                .or((!discovered.issuer.is_empty()).then_some(discovered.issuer)),
            token,
            jwks: c.jwks_uri.clone().or(discovered.jwks_uri),
            introspection: c
                .introspection_endpoint
                .clone()
                .or(discovered.introspection_endpoint),
            registration: self
                .config
                .registration_endpoint
                .clone()
                .or(discovered.registration_endpoint),
        })
    }

    /// Reads a client through RFC 7592, given its registration access token.
    ///
    /// # Errors
    /// `ClientNotFound` on 401/404 (RFC 7592 §2.1), `KeyManagerCredentialsRejected` on 403, and
    /// transport errors.
    pub async fn read_registered_client(
        &self,
        consumer_key: &ConsumerKey,
        access: &crate::config::RegistrationAccess,
    ) -> Result<ClientInfo> {
        let uri = match &access.uri {
            Some(uri) => uri.clone(),
            None => {
                let endpoints = self.endpoints().await?;
                let base = endpoints.registration.as_deref().ok_or_else(|| {
                    self.map_err(OidcError::NotSupported {
                        operation: "registration endpoint",
                    })
                })?;
                format!(
                    "{}/{}",
                    base.trim_end_matches('/'),
                    url::form_urlencoded::byte_serialize(consumer_key.as_str().as_bytes())
                        .collect::<String>()
                )
            }
        };
        let registration = self
            .http
            .read_registration(&uri, &access.token)
            .await
            .map_err(|e| self.map_err(e))?;
        if registration.client_id != consumer_key.as_str() {
            return Err(self.map_err(OidcError::protocol(
                crate::client::endpoint_label(
                    crate::error::EndpointKind::RegistrationManagement,
                    &uri,
                ),
                "the answer describes another client",
            )));
        }
        Ok(registration.to_client_info(consumer_key))
    }
}

#[async_trait]
impl KeyManager for OidcKeyManager {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
            .with_client_lookup(!self.config.registrations.is_empty())
            .with_client_credentials(true)
            .with_jwks(true)
            .with_introspection(self.config.connection.introspection_auth.is_some())
    }

    /// The configured issuer, else the discovered one once [`OidcKeyManager::endpoints`] has
    /// read the discovery document (call it before registering the key manager when only a
    /// discovery URL is configured).
    fn issuer(&self) -> Option<String> {
        self.config
            .connection
            .issuer
            .clone()
            .or_else(|| self.endpoints.get().and_then(|e| e.issuer.clone()))
    }

    async fn client(&self, consumer_key: &ConsumerKey) -> Result<ClientInfo> {
        match self.config.registrations.get(consumer_key.as_str()) {
            Some(access) => self.read_registered_client(consumer_key, access).await,
            None => Ok(ClientInfo::new(consumer_key.clone())),
        }
    }

    async fn client_credentials_token(
        &self,
        consumer_key: &ConsumerKey,
        secret: &ConsumerSecret,
        scopes: &[String],
    ) -> Result<AccessToken> {
        let endpoints = self.endpoints().await?;
        let request = TokenRequest {
            client_id: consumer_key.as_str(),
            client_secret: secret.expose(),
            method: self.config.connection.token_auth_method,
            scopes,
            extra: self
                .config
                .token_resource
                .iter()
                .map(|r| ("resource".to_owned(), r.clone()))
                .collect(),
        };
        self.http
            .client_credentials(&endpoints.token, &request)
            .await
            .map_err(|e| self.map_err(e))
    }

    async fn jwks(&self) -> Result<JwkSet> {
        let endpoints = self.endpoints().await?;
        let url = endpoints
            .jwks
            .as_deref()
            .ok_or_else(|| self.map_err(OidcError::NotSupported { operation: "jwks" }))?;
        self.http.jwks(url).await.map_err(|e| self.map_err(e))
    }

    async fn introspect(&self, token: &str) -> Result<Introspection> {
        let auth = self
            .config
            .connection
            .introspection_auth
            .as_ref()
            .ok_or_else(|| {
                self.map_err(OidcError::NotSupported {
                    operation: "introspect",
                })
            })?;
        let endpoints = self.endpoints().await?;
        let url = endpoints.introspection.as_deref().ok_or_else(|| {
            self.map_err(OidcError::NotSupported {
                operation: "introspect",
            })
        })?;
        self.http
            .introspect(url, auth, token)
            .await
            .map_err(|e| self.map_err(e))
    }
}
