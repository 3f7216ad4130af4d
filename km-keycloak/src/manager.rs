//! [`KeycloakKeyManager`]: the `KeyManager` of one Keycloak realm.

use async_trait::async_trait;
use keyprov::{
    AccessToken, Capabilities, ClientInfo, ConsumerKey, ConsumerSecret, Error, Introspection,
    JwkSet, KeyManager, KeyManagerId, Result,
};
use km_oidc::client::endpoint_label;
use km_oidc::{EndpointKind, OidcError, OidcKeyManager};
use serde_json::{Map, Value};

use crate::client::{AdminSession, registration_to_client_info};
use crate::config::{ClientLookup, KeycloakConfig};
use crate::error::KeycloakError;

/// The client id a Keycloak access token (or its introspection) is for: `azp`, then
/// `client_id` (newer versions), then `clientId` (older service-account clients).
///
/// # Example
/// ```
/// let claims = serde_json::json!({"azp": "billing", "clientId": "billing"});
/// assert_eq!(km_keycloak::token_client_id(claims.as_object().unwrap()), Some("billing"));
/// ```
pub fn token_client_id(claims: &Map<String, Value>) -> Option<&str> {
    ["azp", "client_id", "clientId"]
        .iter()
        .find_map(|name| claims.get(*name).and_then(Value::as_str))
        .filter(|id| !id.is_empty())
}

/// A key manager for one Keycloak realm (17+, or older with `relative_path = "/auth"`).
///
/// - client lookup through the admin API (default) or the OIDC registration API, authorized by
///   an admin service account whose token is cached until shortly before it expires and
///   replaced once on a 401;
/// - secrets proven with a `client_credentials` token request, which works whether Keycloak
///   shows the secret, masks it (`**********`, 26.8+) or the caller may not read it;
/// - tokens, JWKS and introspection through the realm's standard endpoints (km-oidc).
///
/// # Example
/// ```no_run
/// # async fn run() -> keyprov::Result<()> {
/// use keyprov::{ConsumerKey, KeyManager, KeyManagerId};
/// use km_keycloak::{KeycloakConfig, KeycloakKeyManager};
///
/// let config = KeycloakConfig::new(
///     KeyManagerId::new("keycloak")?,
///     "https://sso.example.com",
///     "apis",
///     "keyprov-admin",
///     std::env::var("KEYCLOAK_ADMIN_SECRET").unwrap_or_default(),
/// );
/// let km = KeycloakKeyManager::new(config)?;
/// let info = km.client(&ConsumerKey::new("billing-service")?).await?;
/// println!("enabled: {:?}", info.enabled);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct KeycloakKeyManager {
    config: KeycloakConfig,
    oidc: OidcKeyManager,
    admin: AdminSession,
}

impl KeycloakKeyManager {
    /// Builds the adapter; nothing is contacted until first use.
    ///
    /// # Errors
    /// [`Error::Config`] when the settings are invalid or a CA certificate is unreadable.
    pub fn new(config: KeycloakConfig) -> Result<Self> {
        config.validate()?;
        let oidc = OidcKeyManager::new(config.oidc_config())?;
        let admin = AdminSession::new(oidc.http().clone(), &config)
            .map_err(|e| e.into_core(&config.key_manager))?;
        Ok(Self {
            config,
            oidc,
            admin,
        })
    }

    /// The key manager id.
    pub fn id(&self) -> &KeyManagerId {
        &self.config.key_manager
    }

    /// The settings.
    pub fn config(&self) -> &KeycloakConfig {
        &self.config
    }

    /// The realm's standards-based adapter (endpoints, HTTP client).
    pub fn oidc(&self) -> &OidcKeyManager {
        &self.oidc
    }

    fn map_err(&self, err: impl Into<KeycloakError>) -> Error {
        err.into().into_core(&self.config.key_manager)
    }

    async fn lookup(&self, key: &ConsumerKey) -> std::result::Result<ClientInfo, KeycloakError> {
        match self.config.client_lookup {
            ClientLookup::AdminApi => {
                let url = self.config.admin_search_url(key.as_str());
                match self.admin.find_client(&url, key.as_str()).await? {
                    Some(rep) => Ok(rep.to_client_info(key)),
                    None => Err(OidcError::NotFound {
                        endpoint: endpoint_label(EndpointKind::Admin, &url),
                    }
                    .into()),
                }
            }
            ClientLookup::RegistrationApi => {
                let url = self.config.registration_read_url(key.as_str());
                let registration = self.admin.read_registration(&url).await?;
                if registration.client_id != key.as_str() {
                    return Err(OidcError::protocol(
                        endpoint_label(EndpointKind::Admin, &url),
                        "the answer describes another client",
                    )
                    .into());
                }
                Ok(registration_to_client_info(&registration, key))
            }
        }
    }
}

#[async_trait]
impl KeyManager for KeycloakKeyManager {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
            .with_introspection(self.oidc.config().connection.introspection_auth.is_some())
    }

    fn issuer(&self) -> Option<String> {
        Some(self.config().issuer())
    }

    async fn client(&self, consumer_key: &ConsumerKey) -> Result<ClientInfo> {
        self.lookup(consumer_key).await.map_err(|e| self.map_err(e))
    }

    async fn client_credentials_token(
        &self,
        consumer_key: &ConsumerKey,
        secret: &ConsumerSecret,
        scopes: &[String],
    ) -> Result<AccessToken> {
        self.oidc
            .client_credentials_token(consumer_key, secret, scopes)
            .await
    }

    async fn jwks(&self) -> Result<JwkSet> {
        self.oidc.jwks().await
    }

    async fn introspect(&self, token: &str) -> Result<Introspection> {
        let mut answer = self.oidc.introspect(token).await?;
        if answer.active
            && answer.str_claim("client_id").is_none()
            && let Some(id) = token_client_id(&answer.claims).map(str::to_owned)
        {
            answer.claims.insert("client_id".into(), Value::String(id));
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn client_id_from_azp_then_client_id_then_client_id_camel() {
        let new = claims(include_str!("../tests/fixtures/token-claims-26.json"));
        assert_eq!(token_client_id(&new), Some("billing-service"));
        let old = claims(include_str!("../tests/fixtures/token-claims-19.json"));
        assert!(old.get("client_id").is_none() && old.get("clientId").is_some());
        assert_eq!(token_client_id(&old), Some("billing-service"));
        let mut no_azp = old.clone();
        no_azp.remove("azp");
        assert_eq!(token_client_id(&no_azp), Some("billing-service"));
        let only_client_id = claims(r#"{"client_id":"a","sub":"x"}"#);
        assert_eq!(token_client_id(&only_client_id), Some("a"));
        assert_eq!(token_client_id(&claims(r#"{"azp":""}"#)), None);
        assert_eq!(token_client_id(&claims(r#"{"sub":"x"}"#)), None);
    }
}
