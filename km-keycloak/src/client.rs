//! Keycloak's HTTP calls and wire types: the admin service account's token (cached, refreshed
//! once on a 401), the admin API client search and the OIDC registration read.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use keyprov::{ClientInfo, ConsumerKey};
use km_oidc::client::{ClientRegistration, Http, HttpAnswer, TokenRequest, endpoint_label};
use km_oidc::{EndpointKind, OidcError, TokenAuthMethod};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::KeycloakConfig;
use crate::error::KeycloakError;

/// The members of Keycloak's `ClientRepresentation` that matter here. `secret` is
/// deliberately absent: it is never read (it may be masked, and the secret is proven with a
/// token request), so it never lands in memory outside the raw answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClientRepresentation {
    #[serde(default)]
    pub(crate) id: Option<String>,
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
    #[serde(default)]
    pub(crate) public_client: Option<bool>,
    #[serde(default)]
    pub(crate) bearer_only: Option<bool>,
    #[serde(default)]
    pub(crate) service_accounts_enabled: Option<bool>,
    #[serde(default)]
    pub(crate) standard_flow_enabled: Option<bool>,
    #[serde(default)]
    pub(crate) implicit_flow_enabled: Option<bool>,
    #[serde(default)]
    pub(crate) direct_access_grants_enabled: Option<bool>,
    #[serde(default)]
    pub(crate) client_authenticator_type: Option<String>,
    #[serde(default)]
    pub(crate) protocol: Option<String>,
    #[serde(default)]
    pub(crate) redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) attributes: BTreeMap<String, Value>,
}

fn attribute_i64(attributes: &BTreeMap<String, Value>, name: &str) -> Option<i64> {
    match attributes.get(name)? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

impl ClientRepresentation {
    /// What the representation says about usability (step 2 of
    /// [P4](keyprov::guide::provisioning#p4-validation-against-the-key-manager)) and for display.
    pub(crate) fn to_client_info(&self, key: &ConsumerKey) -> ClientInfo {
        let mut info = ClientInfo::new(key.clone());
        info.client_name = self.name.clone().filter(|n| !n.is_empty());
        info.enabled = self.enabled;
        info.confidential = self.public_client.map(|public| !public);
        info.bearer_only = self.bearer_only;
        info.client_credentials_allowed = self.service_accounts_enabled;
        let flows = [
            (self.standard_flow_enabled, "authorization_code"),
            (self.implicit_flow_enabled, "implicit"),
            (self.direct_access_grants_enabled, "password"),
            (self.service_accounts_enabled, "client_credentials"),
        ];
        if flows.iter().any(|(flag, _)| flag.is_some()) {
            info.grant_types = Some(
                flows
                    .iter()
                    .filter(|(flag, _)| *flag == Some(true))
                    .map(|(_, grant)| (*grant).to_owned())
                    .collect(),
            );
        }
        info.redirect_uris = self.redirect_uris.clone().unwrap_or_default();
        info.token_type = Some("JWT".to_owned());
        info.access_token_lifetime_s = attribute_i64(&self.attributes, "access.token.lifespan");
        info.secret_expires_at = attribute_i64(&self.attributes, "client.secret.expiration.time")
            .filter(|at| *at > 0)
            .and_then(|at| chrono::DateTime::from_timestamp(at, 0));
        let extra = [
            ("id", &self.id),
            ("clientAuthenticatorType", &self.client_authenticator_type),
            ("protocol", &self.protocol),
        ];
        for (name, value) in extra {
            if let Some(value) = value {
                info.additional.insert(name.to_owned(), value.clone());
            }
        }
        info
    }
}

/// What the OIDC registration read says (no `enabled`, no `bearerOnly`).
pub(crate) fn registration_to_client_info(
    registration: &ClientRegistration,
    key: &ConsumerKey,
) -> ClientInfo {
    let mut info = registration.to_client_info(key);
    info.token_type = Some("JWT".to_owned());
    info
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

/// The admin service account: its token, cached until shortly before it expires, and
/// authorized `GET`s that replace a refused token once.
pub(crate) struct AdminSession {
    http: Http,
    token_url: String,
    client_id: String,
    secret: SecretString,
    scopes: Vec<String>,
    method: TokenAuthMethod,
    margin: Duration,
    // A tokio mutex held across the token request: concurrent callers wait for one request
    // instead of each asking for a token.
    cached: Mutex<Option<Cached>>,
}

impl fmt::Debug for AdminSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminSession")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl AdminSession {
    /// # Errors
    /// [`KeycloakError::Config`] when the admin credentials are not a service account's.
    pub(crate) fn new(http: Http, config: &KeycloakConfig) -> Result<Self, KeycloakError> {
        let (client_id, secret, scopes) = config
            .service_account()
            .ok_or_else(|| KeycloakError::config("admin.kind", "a service account is required"))?;
        Ok(Self {
            http,
            token_url: config.admin_token_url(),
            client_id: client_id.to_owned(),
            secret: secret.clone(),
            scopes: scopes.to_vec(),
            method: config.connection.token_auth_method,
            margin: config.admin_token_refresh_margin,
            cached: Mutex::new(None),
        })
    }

    async fn token(&self) -> Result<SecretString, KeycloakError> {
        let mut slot = self.cached.lock().await;
        if let Some(cached) = slot.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        *slot = None;
        let request = TokenRequest {
            client_id: &self.client_id,
            client_secret: self.secret.expose_secret(),
            method: self.method,
            scopes: &self.scopes,
            extra: Vec::new(),
        };
        let issued = self
            .http
            .client_credentials(&self.token_url, &request)
            .await
            .map_err(KeycloakError::AdminToken)?;
        // Keycloak always says; without it, keep the token for a minute at most.
        let life = Duration::from_secs(issued.expires_in.unwrap_or(60));
        let margin = self.margin.min(life / 2);
        *slot = Some(Cached {
            token: issued.access_token.clone(),
            refresh_at: Instant::now() + (life - margin),
        });
        tracing::debug!(lifetime = ?life, "admin service account token obtained");
        Ok(issued.access_token)
    }

    async fn forget(&self, refused: &SecretString) {
        let mut slot = self.cached.lock().await;
        if slot
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == refused.expose_secret())
        {
            *slot = None;
        }
    }

    async fn get_with(&self, url: &str, token: &SecretString) -> Result<HttpAnswer, OidcError> {
        self.http
            .send_idempotent(EndpointKind::Admin, url, |c| {
                c.get(url)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .bearer_auth(token.expose_secret())
            })
            .await
    }

    /// An authorized `GET`. A 401 (token expired early, revoked, or signed with a rotated
    /// key) replaces the token once; a second 401 means the credentials are refused.
    pub(crate) async fn get(&self, url: &str) -> Result<HttpAnswer, KeycloakError> {
        let token = self.token().await?;
        match self.get_with(url, &token).await {
            Err(OidcError::AdminRejected { status: 401, .. }) => {
                tracing::debug!("admin token refused with 401: replacing it once");
                self.forget(&token).await;
                let token = self.token().await?;
                Ok(self.get_with(url, &token).await?)
            }
            other => Ok(other?),
        }
    }

    /// Finds a client by client id through the admin API (`[]` when there is none).
    pub(crate) async fn find_client(
        &self,
        url: &str,
        client_id: &str,
    ) -> Result<Option<ClientRepresentation>, KeycloakError> {
        let endpoint = endpoint_label(EndpointKind::Admin, url);
        let answer = self.get(url).await.map_err(|e| match e {
            // The search answers `[]` for an unknown client: a 404 is a wrong realm or path.
            KeycloakError::Oidc(OidcError::NotFound { endpoint }) => {
                KeycloakError::Oidc(OidcError::protocol(
                    endpoint,
                    "http 404: no such realm, or wrong base_url / relative_path",
                ))
            }
            other => other,
        })?;
        let found: Vec<ClientRepresentation> = answer.json(&endpoint)?;
        // `clientId=` is an exact match unless `search=true`; keep only the exact one anyway.
        Ok(found.into_iter().find(|c| c.client_id == client_id))
    }

    /// Reads a client through the OIDC registration API.
    pub(crate) async fn read_registration(
        &self,
        url: &str,
    ) -> Result<ClientRegistration, KeycloakError> {
        let answer = self.get(url).await?;
        Ok(answer.json(&endpoint_label(EndpointKind::Admin, url))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> ConsumerKey {
        ConsumerKey::new(id).unwrap()
    }

    #[test]
    fn client_representation_of_keycloak_26() {
        let text = include_str!("../tests/fixtures/client-representation.json");
        assert!(text.contains("\"secret\""), "the fixture carries a secret");
        let rep: ClientRepresentation = serde_json::from_str(text).unwrap();
        let info = rep.to_client_info(&key("billing-service"));
        assert_eq!(info.usability(chrono::Utc::now()), Ok(()));
        assert_eq!(info.client_name.as_deref(), Some("Billing service"));
        assert_eq!(info.client_credentials_allowed, Some(true));
        assert_eq!(
            info.grant_types.as_deref(),
            Some(&["client_credentials".to_owned()][..])
        );
        assert_eq!(info.access_token_lifetime_s, Some(600));
        assert_eq!(
            info.additional.get("id").map(String::as_str),
            Some("5f1d3c2e-8b7a-4c61-9d0e-2a4b6c8d0e1f")
        );
        assert!(!format!("{info:?}{rep:?}").contains("s3cret"));
    }

    #[test]
    fn flags_decide_usability() {
        let text = include_str!("../tests/fixtures/client-representation-public.json");
        let rep: ClientRepresentation = serde_json::from_str(text).unwrap();
        let info = rep.to_client_info(&key("spa"));
        assert_eq!(
            info.usability(chrono::Utc::now()),
            Err(keyprov::error::UnusableReason::Public)
        );
        assert!(
            info.grant_types
                .unwrap()
                .contains(&"authorization_code".to_owned())
        );
        // A reduced representation (caller with query-clients only) says nothing.
        let bare: ClientRepresentation = serde_json::from_str(r#"{"clientId":"x"}"#).unwrap();
        let info = bare.to_client_info(&key("x"));
        assert_eq!(info.grant_types, None);
        assert_eq!(info.enabled, None);
    }

    #[test]
    fn registration_read_of_keycloak() {
        let text = include_str!("../tests/fixtures/registration-read.json");
        let reg: ClientRegistration = serde_json::from_str(text).unwrap();
        let info = registration_to_client_info(&reg, &key("billing-service"));
        assert_eq!(info.confidential, Some(true));
        assert_eq!(info.usability(chrono::Utc::now()), Ok(()));
        assert_eq!(info.enabled, None, "the registration API does not say");
        assert!(!format!("{reg:?}{info:?}").contains("s3cret"));
    }
}
