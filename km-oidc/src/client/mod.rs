//! The HTTP side, reusable by vendor adapters: a client with timeouts, custom CAs and no
//! redirects ([`Http`]), bounded retries of idempotent reads, and the standard calls
//! (discovery, JWKS, `client_credentials`, introspection, RFC 7591/7592) with their wire types.
//!
//! Every call returns [`OidcError`]; adapters map it once with [`OidcError::into_core`].

use keyprov::{AccessToken, Introspection, JwkSet};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

mod wire;

pub use wire::{ClientRegistration, ProviderMetadata, find_signing_key, signing_keys};

use crate::config::{HttpSettings, RetryPolicy, ServerAuth, TokenAuthMethod};
use crate::error::{EndpointKind, OidcError, classify, describe_body};

/// Sends the oauth2 crate's requests through [`Http::send_once`], so that token answers are
/// classified like every other answer.
struct OAuthSender {
    http: Http,
    label: String,
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthSender {
    type Error = OidcError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, OidcError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.http.send_for_oauth2(&self.label, request))
    }
}

/// A successful (2xx) answer.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    /// The status.
    pub status: StatusCode,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// Parses the body as JSON, or names the endpoint in a protocol error.
    ///
    /// # Errors
    /// [`OidcError::Protocol`] on a non-JSON or malformed body.
    pub fn json<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, OidcError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let detail = match describe_body(&self.body) {
                d if d.contains("HTML") => d,
                _ => format!("malformed JSON: {e}"),
            };
            OidcError::protocol(endpoint, detail)
        })
    }
}

/// The HTTP client: reqwest with rustls, explicit connect and request timeouts, extra CA
/// certificates, redirects off, and the retry policy for idempotent reads.
#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
    retry: RetryPolicy,
}

/// `"<kind> <path>"`, the endpoint label used in every error.
pub fn endpoint_label(kind: EndpointKind, url: &str) -> String {
    let path = url::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "(invalid url)".to_owned());
    format!("{kind} {path}")
}

impl Http {
    /// Builds the client.
    ///
    /// # Errors
    /// [`OidcError::Config`] when a CA certificate is not valid PEM.
    pub fn new(settings: &HttpSettings) -> Result<Self, OidcError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("keyprov-km-oidc/", env!("CARGO_PKG_VERSION")));
        for (index, pem) in settings.ca_certs_pem.iter().enumerate() {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                OidcError::config(format!("http.ca_certs_pem[{index}]"), e.to_string())
            })?;
            if certs.is_empty() {
                return Err(OidcError::config(
                    format!("http.ca_certs_pem[{index}]"),
                    "no certificate in the PEM text",
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| OidcError::config("http", e.to_string()))?;
        Ok(Self {
            client,
            retry: settings.retry,
        })
    }

    /// The underlying reqwest client, for vendor calls not covered here.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Sends one request once; a non-2xx answer is classified with [`classify`].
    ///
    /// # Errors
    /// Transport failures as [`OidcError::Unavailable`], refusals as classified.
    pub async fn send_once(
        &self,
        kind: EndpointKind,
        url: &str,
        request: RequestBuilder,
    ) -> Result<HttpAnswer, OidcError> {
        let endpoint = endpoint_label(kind, url);
        let response = request.send().await.map_err(|e| transport(&endpoint, e))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let location = response.headers().get(reqwest::header::LOCATION).cloned();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport(&endpoint, e))?
            .to_vec();
        if status.is_success() {
            return Ok(HttpAnswer {
                status,
                content_type,
                body,
            });
        }
        if status.is_redirection() {
            let to = location
                .and_then(|l| l.to_str().ok().map(str::to_owned))
                .unwrap_or_default();
            return Err(OidcError::protocol(
                endpoint,
                format!("unexpected redirect (http {}) to {to:?}", status.as_u16()),
            ));
        }
        Err(classify(kind, &endpoint, status.as_u16(), &body))
    }

    /// Sends an idempotent request, retrying [`OidcError::Unavailable`] with backoff up to the
    /// policy's attempt budget. `build` makes a fresh request for each attempt.
    ///
    /// # Errors
    /// The last attempt's error.
    pub async fn send_idempotent(
        &self,
        kind: EndpointKind,
        url: &str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<HttpAnswer, OidcError> {
        let mut attempt = 1;
        loop {
            match self.send_once(kind, url, build(&self.client)).await {
                Err(e) if e.is_retryable() && attempt < self.retry.max_attempts => {
                    attempt += 1;
                    let wait = self.retry.backoff(attempt);
                    tracing::debug!(error = %e, attempt, ?wait, "retrying an idempotent read");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// `GET` a JSON document, retried as an idempotent read.
    ///
    /// # Errors
    /// As [`Http::send_idempotent`] and [`HttpAnswer::json`].
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        kind: EndpointKind,
        url: &str,
        bearer: Option<&SecretString>,
    ) -> Result<T, OidcError> {
        let answer = self
            .send_idempotent(kind, url, |c| {
                let request = c
                    .get(url)
                    .header(reqwest::header::ACCEPT, "application/json");
                match bearer {
                    Some(token) => request.bearer_auth(token.expose_secret()),
                    None => request,
                }
            })
            .await?;
        answer.json(&endpoint_label(kind, url))
    }

    /// Reads a discovery document and checks its `issuer` (RFC 8414 §3.3) when one is expected.
    ///
    /// # Errors
    /// As [`Http::get_json`]; [`OidcError::Protocol`] when the issuer differs.
    pub async fn discover(
        &self,
        url: &str,
        expected_issuer: Option<&str>,
    ) -> Result<ProviderMetadata, OidcError> {
        let metadata: ProviderMetadata = self.get_json(EndpointKind::Discovery, url, None).await?;
        if let Some(expected) = expected_issuer
            && metadata.issuer.trim_end_matches('/') != expected.trim_end_matches('/')
        {
            return Err(OidcError::protocol(
                endpoint_label(EndpointKind::Discovery, url),
                format!(
                    "issuer {:?} differs from the configured {expected:?}",
                    metadata.issuer
                ),
            ));
        }
        Ok(metadata)
    }

    /// Fetches a key set.
    ///
    /// # Errors
    /// As [`Http::get_json`].
    pub async fn jwks(&self, url: &str) -> Result<JwkSet, OidcError> {
        self.get_json(EndpointKind::Jwks, url, None).await
    }

    /// A `client_credentials` token request through the `oauth2` crate. Never retried: a retry
    /// after a lost answer would mint a second token, and a refusal will not change.
    ///
    /// # Errors
    /// [`OidcError::InvalidClient`] when the credentials are refused, and transport errors.
    pub async fn client_credentials(
        &self,
        token_url: &str,
        request: &TokenRequest<'_>,
    ) -> Result<AccessToken, OidcError> {
        let owned = OwnedTokenRequest {
            token_url: token_url.to_owned(),
            client_id: request.client_id.to_owned(),
            client_secret: request.client_secret.to_owned(),
            method: request.method,
            scopes: request.scopes.to_vec(),
            extra: request.extra.clone(),
        };
        self.exchange_client_credentials(owned).await
    }

    // Owned data in a boxed `Send` future: the oauth2 crate's futures are generic over
    // lifetimes, which a future borrowing the caller's data cannot satisfy under async_trait.
    fn exchange_client_credentials(
        &self,
        request: OwnedTokenRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<AccessToken, OidcError>> + Send>>
    {
        let http = self.clone();
        Box::pin(async move {
            let endpoint = endpoint_label(EndpointKind::Token, &request.token_url);
            let url = TokenUrl::new(request.token_url.clone())
                .map_err(|e| OidcError::config("token_endpoint", e.to_string()))?;
            let client = BasicClient::new(ClientId::new(request.client_id))
                .set_client_secret(ClientSecret::new(request.client_secret))
                .set_token_uri(url)
                .set_auth_type(match request.method {
                    TokenAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
                    TokenAuthMethod::ClientSecretPost => AuthType::RequestBody,
                });
            let mut exchange = client
                .exchange_client_credentials()
                .add_scopes(request.scopes.into_iter().map(Scope::new));
            for (name, value) in request.extra {
                exchange = exchange.add_extra_param(name, value);
            }
            let sender = OAuthSender {
                http,
                label: endpoint.clone(),
            };
            let response = exchange.request_async(&sender).await.map_err(|e| match e {
                RequestTokenError::Request(classified) => classified,
                RequestTokenError::Parse(err, body) => {
                    let detail = match describe_body(&body) {
                        d if d.contains("HTML") => d,
                        _ => format!("malformed token response: {err}"),
                    };
                    OidcError::protocol(&endpoint, detail)
                }
                // 2xx answers only reach here; error answers are classified by the sender.
                RequestTokenError::ServerResponse(body) => OidcError::protocol(
                    &endpoint,
                    format!("error body in a success answer: {:?}", body.error()),
                ),
                RequestTokenError::Other(detail) => OidcError::protocol(&endpoint, detail),
            })?;
            Ok(AccessToken {
                access_token: SecretString::from(response.access_token().secret().to_owned()),
                token_type: "Bearer".to_owned(),
                expires_in: response.expires_in().map(|d| d.as_secs()),
                scopes: response
                    .scopes()
                    .map(|s| s.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default(),
            })
        })
    }

    async fn send_for_oauth2(
        &self,
        endpoint: &str,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, OidcError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let method = Method::from_bytes(parts.method.as_str().as_bytes())
            .map_err(|e| OidcError::protocol(endpoint, e.to_string()))?;
        let builder = self
            .client
            .request(method, &url)
            .headers(parts.headers)
            .body(body);
        let answer = self.send_once(EndpointKind::Token, &url, builder).await?;
        if !answer
            .content_type
            .as_deref()
            .is_some_and(|ct| ct.contains("json"))
        {
            let detail = match describe_body(&answer.body) {
                d if d.contains("HTML") => d,
                _ => format!("content type {:?} instead of JSON", answer.content_type),
            };
            return Err(OidcError::protocol(endpoint, detail));
        }
        let mut response = oauth2::http::Response::builder().status(answer.status.as_u16());
        if let Some(ct) = &answer.content_type {
            response = response.header(oauth2::http::header::CONTENT_TYPE, ct);
        }
        response
            .body(answer.body)
            .map_err(|e| OidcError::protocol(endpoint, e.to_string()))
    }

    /// Introspects a token (RFC 7662). `POST`, but without side effects, so it is retried as
    /// an idempotent read.
    ///
    /// # Errors
    /// [`OidcError::AdminRejected`] when `auth` is refused, transport and protocol errors.
    pub async fn introspect(
        &self,
        url: &str,
        auth: &ServerAuth,
        token: &str,
    ) -> Result<Introspection, OidcError> {
        let answer = self
            .send_idempotent(EndpointKind::Introspection, url, |c| {
                let mut form = vec![("token", token.to_owned())];
                let request = apply_auth(c.post(url), auth, &mut form);
                request
                    .header(reqwest::header::ACCEPT, "application/json")
                    .form(&form)
            })
            .await?;
        answer.json(&endpoint_label(EndpointKind::Introspection, url))
    }

    /// Registers a client (RFC 7591), with an initial access token when the server needs one.
    /// Not retried.
    ///
    /// # Errors
    /// [`OidcError::AdminRejected`] when the initial access token is refused.
    pub async fn register(
        &self,
        registration_endpoint: &str,
        initial_access_token: Option<&SecretString>,
        metadata: &serde_json::Value,
    ) -> Result<ClientRegistration, OidcError> {
        let mut request = self.client.post(registration_endpoint).json(metadata);
        if let Some(token) = initial_access_token {
            request = request.bearer_auth(token.expose_secret());
        }
        let answer = self
            .send_once(EndpointKind::Admin, registration_endpoint, request)
            .await?;
        answer.json(&endpoint_label(EndpointKind::Admin, registration_endpoint))
    }

    /// Reads a client's configuration (RFC 7592 §2.1), retried as an idempotent read.
    ///
    /// # Errors
    /// [`OidcError::NotFound`] on 401/404 (RFC 7592 answers 401 for an unknown client).
    pub async fn read_registration(
        &self,
        client_uri: &str,
        token: &SecretString,
    ) -> Result<ClientRegistration, OidcError> {
        self.get_json(
            EndpointKind::RegistrationManagement,
            client_uri,
            Some(token),
        )
        .await
    }

    /// Deletes a client (RFC 7592 §2.3). Not retried.
    ///
    /// # Errors
    /// As [`Http::read_registration`].
    pub async fn delete_registration(
        &self,
        client_uri: &str,
        token: &SecretString,
    ) -> Result<(), OidcError> {
        let request = self
            .client
            .request(Method::DELETE, client_uri)
            .bearer_auth(token.expose_secret());
        self.send_once(EndpointKind::RegistrationManagement, client_uri, request)
            .await
            .map(|_| ())
    }
}

/// Applies the adapter's own credentials to a form request.
pub fn apply_auth(
    request: RequestBuilder,
    auth: &ServerAuth,
    form: &mut Vec<(&'static str, String)>,
) -> RequestBuilder {
    match auth {
        ServerAuth::ClientSecretBasic {
            client_id,
            client_secret,
        } => {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request.basic_auth(enc(client_id), Some(enc(client_secret.expose_secret())))
        }
        ServerAuth::ClientSecretPost {
            client_id,
            client_secret,
        } => {
            form.push(("client_id", client_id.clone()));
            form.push(("client_secret", client_secret.expose_secret().to_owned()));
            request
        }
        ServerAuth::UserBasic { username, password } => {
            request.basic_auth(username, Some(password.expose_secret()))
        }
        ServerAuth::Bearer { token } => request.bearer_auth(token.expose_secret()),
    }
}

fn transport(endpoint: &str, err: reqwest::Error) -> OidcError {
    let detail = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "connection dropped while reading the answer"
    } else {
        "connection dropped or refused"
    };
    OidcError::Unavailable {
        endpoint: endpoint.to_owned(),
        detail: detail.to_owned(),
        source: Some(Box::new(err.without_url())),
    }
}

struct OwnedTokenRequest {
    token_url: String,
    client_id: String,
    client_secret: String,
    method: TokenAuthMethod,
    scopes: Vec<String>,
    extra: Vec<(String, String)>,
}

/// A `client_credentials` request.
#[derive(Clone)]
pub struct TokenRequest<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The secret.
    pub client_secret: &'a str,
    /// How to authenticate.
    pub method: TokenAuthMethod,
    /// Scopes to ask for.
    pub scopes: &'a [String],
    /// Extra form parameters (`resource`, `audience`).
    pub extra: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_pem_is_a_config_error() {
        let settings = HttpSettings {
            ca_certs_pem: vec!["not a certificate".into()],
            ..HttpSettings::default()
        };
        assert!(matches!(
            Http::new(&settings),
            Err(OidcError::Config { .. })
        ));
    }
}
