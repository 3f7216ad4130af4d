//! IS's HTTP calls and wire types: raw sends with bounded retries, the DCR read, and the
//! `client_credentials` request (done here rather than through km-oidc so that IS's
//! "application not active" refusal can be told from a wrong secret).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyprov::{AccessToken, ClientInfo, ConsumerKey};
use km_oidc::client::{Http, endpoint_label};
use km_oidc::{EndpointKind, TokenAuthMethod};
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{IsError, classify_token, transport};

/// Any HTTP answer.
#[derive(Debug)]
pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Raw {
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
    ) -> Result<T, IsError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let text = String::from_utf8_lossy(&self.body);
            let detail = if text.trim_start().starts_with('<') {
                "with an HTML page instead of JSON".to_owned()
            } else {
                format!("malformed JSON: {e}")
            };
            IsError::protocol(endpoint, detail)
        })
    }
}

/// Sends a request; `idempotent` ones are retried on transport failures, 429 and 5xx within
/// the HTTP settings' retry budget. Redirects surface as their 3xx status.
pub(crate) async fn send(
    http: &Http,
    endpoint: &str,
    idempotent: bool,
    build: impl Fn(&reqwest::Client) -> RequestBuilder,
) -> Result<Raw, IsError> {
    let policy = http.retry_policy();
    let budget = if idempotent { policy.max_attempts } else { 1 };
    let mut attempt = 1;
    loop {
        let outcome = match build(http.reqwest()).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => Ok(Raw {
                        status,
                        body: body.to_vec(),
                    }),
                    Err(e) => Err(transport(endpoint, e)),
                }
            }
            Err(e) => Err(transport(endpoint, e)),
        };
        let retry = match &outcome {
            Ok(raw) => raw.status == 429 || raw.status >= 500,
            Err(e) => e.is_retryable(),
        };
        if !retry || attempt >= budget {
            return outcome;
        }
        attempt += 1;
        let wait = policy.backoff(attempt);
        tracing::debug!(endpoint, attempt, ?wait, "retrying an idempotent IS call");
        tokio::time::sleep(wait).await;
    }
}

/// Accepts a number, a numeric string, or null.
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Accepts a bool, `"true"`/`"false"`, or null.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Accepts an array of strings, one string, or null.
fn lenient_strings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => Some(
            items
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        Value::String(s) => Some(vec![s]),
        _ => None,
    })
}

/// The DCR read answer of IS 5.11, 6.x (six members) and 7.x (many `ext_*` more). Every
/// member but `client_id` is optional and unknown members are ignored.
#[derive(Clone, Default, Deserialize)]
pub(crate) struct DcrApplication {
    pub(crate) client_id: String,
    /// Possibly a hash: never compared, never kept.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) client_secret: Option<SecretString>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(crate) client_secret_expires_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient_strings")]
    pub(crate) redirect_uris: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_strings")]
    pub(crate) grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) client_name: Option<String>,
    #[serde(default)]
    pub(crate) ext_application_display_name: Option<String>,
    #[serde(default)]
    pub(crate) ext_application_owner: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(crate) ext_application_token_lifetime: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(crate) ext_user_token_lifetime: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(crate) ext_refresh_token_lifetime: Option<i64>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(crate) ext_pkce_mandatory: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(crate) ext_public_client: Option<bool>,
    #[serde(default)]
    pub(crate) ext_token_type: Option<String>,
    #[serde(default)]
    pub(crate) token_type_extension: Option<String>,
    #[serde(default)]
    pub(crate) token_endpoint_auth_method: Option<String>,
    #[serde(default, deserialize_with = "lenient_strings")]
    pub(crate) ext_allowed_audience: Option<Vec<String>>,
}

impl DcrApplication {
    /// The token type IS states (7.x), if it does.
    pub(crate) fn stated_token_type(&self) -> Option<&str> {
        self.ext_token_type
            .as_deref()
            .or(self.token_type_extension.as_deref())
            .filter(|t| !t.is_empty())
    }

    /// What the read says, as the core wants it; `learned` is a token type learned from a
    /// probe token when IS does not state one.
    pub(crate) fn to_client_info(&self, key: &ConsumerKey, learned: Option<String>) -> ClientInfo {
        let mut info = ClientInfo::new(key.clone());
        info.client_name = self
            .ext_application_display_name
            .clone()
            .or(self.client_name.clone());
        info.grant_types = self.grant_types.clone();
        info.confidential = match (self.ext_public_client, &self.token_endpoint_auth_method) {
            (Some(public), _) => Some(!public),
            (None, Some(method)) => Some(method != "none"),
            (None, None) => None,
        };
        info.secret_expires_at = self
            .client_secret_expires_at
            .filter(|at| *at > 0)
            .and_then(|at| chrono::DateTime::from_timestamp(at, 0));
        info.redirect_uris = self.redirect_uris.clone().unwrap_or_default();
        info.token_type = self.stated_token_type().map(str::to_owned).or(learned);
        info.access_token_lifetime_s = self.ext_application_token_lifetime;
        let mut extra = BTreeMap::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                extra.insert(k.to_owned(), v);
            }
        };
        put("owner", self.ext_application_owner.clone());
        put("client_name", self.client_name.clone());
        put(
            "token_endpoint_auth_method",
            self.token_endpoint_auth_method.clone(),
        );
        put(
            "allowed_audience",
            self.ext_allowed_audience
                .as_ref()
                .filter(|a| !a.is_empty())
                .map(|a| a.join(" ")),
        );
        put(
            "user_token_lifetime_s",
            self.ext_user_token_lifetime.map(|v| v.to_string()),
        );
        put(
            "refresh_token_lifetime_s",
            self.ext_refresh_token_lifetime.map(|v| v.to_string()),
        );
        put(
            "pkce_mandatory",
            self.ext_pkce_mandatory.map(|v| v.to_string()),
        );
        info.additional = extra;
        info
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

/// A `client_credentials` request. Never retried: a lost answer would mint a second token and
/// a refusal will not change.
pub(crate) async fn client_credentials(
    http: &Http,
    token_url: &str,
    client_id: &str,
    secret: &str,
    method: TokenAuthMethod,
    scopes: &[String],
) -> Result<AccessToken, IsError> {
    let endpoint = endpoint_label(EndpointKind::Token, token_url);
    let raw = send(http, &endpoint, false, |c| {
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if !scopes.is_empty() {
            form.push(("scope", scopes.join(" ")));
        }
        let request = c
            .post(token_url)
            .header(reqwest::header::ACCEPT, "application/json");
        let request = match method {
            TokenAuthMethod::ClientSecretBasic => {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request.basic_auth(enc(client_id), Some(enc(secret)))
            }
            TokenAuthMethod::ClientSecretPost => {
                form.push(("client_id", client_id.to_owned()));
                form.push(("client_secret", secret.to_owned()));
                request
            }
        };
        request.form(&form)
    })
    .await?;
    if !raw.ok() {
        return Err(classify_token(&endpoint, raw.status, &raw.body));
    }
    let answer: TokenAnswer = raw.json(&endpoint)?;
    if answer.access_token.is_empty() {
        return Err(IsError::protocol(&endpoint, "empty access_token"));
    }
    Ok(AccessToken {
        access_token: SecretString::from(answer.access_token),
        token_type: answer.token_type.unwrap_or_else(|| "Bearer".to_owned()),
        expires_in: answer.expires_in.and_then(|s| u64::try_from(s).ok()),
        scopes: answer
            .scope
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

/// Applies the admin credentials (Basic user, or a bearer token).
pub(crate) fn with_admin(request: RequestBuilder, admin: &AdminHeader) -> RequestBuilder {
    match admin {
        AdminHeader::Basic { username, password } => {
            request.basic_auth(username, Some(password.expose_secret()))
        }
        AdminHeader::Bearer(token) => request.bearer_auth(token.expose_secret()),
    }
}

/// The `Authorization` the DCR API gets.
#[derive(Clone)]
pub(crate) enum AdminHeader {
    Basic {
        username: String,
        password: SecretString,
    },
    Bearer(SecretString),
}

/// IS's token type for an access token: `JWT` when it is a JWS with a JSON header, else
/// `Default` (IS's name for opaque tokens).
pub(crate) fn token_type_of(token: &str) -> &'static str {
    let mut parts = token.split('.');
    let is_jwt = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(_), Some(_), None) => URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
            .is_some_and(|h| h.get("alg").is_some()),
        _ => false,
    };
    if is_jwt { "JWT" } else { "Default" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_type_is_read_from_the_token_shape() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"at+jwt"}"#);
        assert_eq!(token_type_of(&format!("{header}.e30.c2ln")), "JWT");
        assert_eq!(
            token_type_of("3f2a9c4e-1b6d-4c8e-9f00-2a7b5d6e8c01"),
            "Default"
        );
        assert_eq!(token_type_of("a.b.c"), "Default", "not a JSON header");
    }

    #[test]
    fn dcr_read_is_lenient() {
        let app: DcrApplication = serde_json::from_str(
            r#"{"client_id":"c","client_secret":"s3cret","ext_application_token_lifetime":"3600",
                "ext_public_client":"false","ext_allowed_audience":"aud1","brand_new_field":{"x":1},
                "grant_types":null,"token_type_extension":"JWT"}"#,
        )
        .unwrap();
        let info = app.to_client_info(&ConsumerKey::new("c").unwrap(), None);
        assert_eq!(info.access_token_lifetime_s, Some(3600));
        assert_eq!(info.confidential, Some(true));
        assert_eq!(info.grant_types, None);
        assert_eq!(info.token_type.as_deref(), Some("JWT"));
        assert_eq!(
            info.additional.get("allowed_audience").map(String::as_str),
            Some("aud1")
        );
        assert!(!format!("{info:?}").contains("s3cret"));
    }
}
