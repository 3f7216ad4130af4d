//! What a vendor emulator changes: paths, issuer, token claims and header, error bodies,
//! resource servers, client authentication strictness.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::keys::Alg;
use super::registry::{ClientRecord, TokenFormat};

/// The standard endpoints' paths; `None` disables an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// Discovery documents (OIDC and RFC 8414 spellings).
    pub discovery: Vec<String>,
    /// Token endpoint.
    pub token: Option<String>,
    /// Key set.
    pub jwks: Option<String>,
    /// Introspection.
    pub introspection: Option<String>,
    /// RFC 7591 registration; RFC 7592 lives at `{registration}/{client_id}`.
    pub registration: Option<String>,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            discovery: vec![
                "/.well-known/openid-configuration".into(),
                "/.well-known/oauth-authorization-server".into(),
            ],
            token: Some("/token".into()),
            jwks: Some("/jwks".into()),
            introspection: Some("/introspect".into()),
            registration: Some("/reg".into()),
        }
    }
}

/// What the claims hook gets to build an access token's claims.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClaimsContext<'a> {
    /// The issuer.
    pub issuer: &'a str,
    /// The client the token is for.
    pub client: &'a ClientRecord,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// The RFC 8707 resource, if one was asked for.
    pub resource: Option<&'a str>,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// A unique token id.
    pub jti: &'a str,
}

/// Builds an access token's claims (also what introspection reports for it).
pub type ClaimsFn = Arc<dyn Fn(&ClaimsContext<'_>) -> Map<String, Value> + Send + Sync>;

/// Shapes an OAuth2 error answer: status, `error` code, description.
pub type ErrorBodyFn = Arc<dyn Fn(StatusCode, &str, &str) -> Response + Send + Sync>;

/// How a resource server (RFC 8707 `resource`) gets its tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceServer {
    /// Token format for this resource.
    pub format: TokenFormat,
    /// Scopes it accepts (others are dropped); empty: any the client may have.
    pub scopes: Vec<String>,
}

/// A vendor's dress for the engine. Start from [`Flavour::standard`] and change fields.
#[derive(Clone)]
pub struct Flavour {
    /// A name for logs.
    pub name: String,
    /// Endpoint paths.
    pub paths: Paths,
    /// Appended to the base URL to make the issuer (`/oauth2/token` for WSO2 IS,
    /// `/realms/{r}` for Keycloak).
    pub issuer_path: String,
    /// Signing algorithm of the first key (and of rotated keys).
    pub alg: Alg,
    /// JWT header `typ` (`at+jwt`, `JWT`).
    pub jwt_typ: String,
    /// Access token lifetime.
    pub access_token_ttl: Duration,
    /// Claims of access tokens.
    pub claims: ClaimsFn,
    /// Error answers.
    pub error_body: ErrorBodyFn,
    /// Refuse a client that authenticates with another method than its registered one
    /// (oidc-provider does).
    pub strict_auth_method: bool,
    /// Bearer token required by RFC 7591 registration; `None`: open registration.
    pub initial_access_token: Option<String>,
    /// Known resource servers; when empty, any `resource` is accepted and becomes `aud`.
    pub resources: BTreeMap<String, ResourceServer>,
    /// Grant types of clients registered without `grant_types` (RFC 7591 says
    /// `authorization_code`).
    pub default_grant_types: Vec<String>,
    /// Text every opaque access token starts with (empty: none), as some servers mark theirs.
    pub opaque_token_prefix: String,
}

impl fmt::Debug for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flavour")
            .field("name", &self.name)
            .field("paths", &self.paths)
            .field("issuer_path", &self.issuer_path)
            .field("alg", &self.alg)
            .field("jwt_typ", &self.jwt_typ)
            .field("strict_auth_method", &self.strict_auth_method)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

impl Default for Flavour {
    fn default() -> Self {
        Self::standard()
    }
}

impl Flavour {
    /// A plain standards-based server shaped like `oidc-provider`: issuer = base URL, `at+jwt`
    /// RS256 tokens with `iss, sub (= client id), client_id, aud (= resource), scope, jti, iat,
    /// exp` (no `azp`), RFC 6749 error bodies, strict client authentication method.
    pub fn standard() -> Self {
        Self {
            name: "standard".into(),
            paths: Paths::default(),
            issuer_path: String::new(),
            alg: Alg::RS256,
            jwt_typ: "at+jwt".into(),
            access_token_ttl: Duration::from_secs(600),
            claims: Arc::new(standard_claims),
            error_body: Arc::new(oauth_error),
            strict_auth_method: true,
            initial_access_token: None,
            resources: BTreeMap::new(),
            default_grant_types: vec!["authorization_code".into()],
            opaque_token_prefix: String::new(),
        }
    }

    /// Starts every opaque access token with `prefix`.
    pub fn with_opaque_token_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.opaque_token_prefix = prefix.into();
        self
    }

    /// Sets the signing algorithm.
    pub fn with_alg(mut self, alg: Alg) -> Self {
        self.alg = alg;
        self
    }

    /// Sets the claims hook.
    pub fn with_claims(
        mut self,
        claims: impl Fn(&ClaimsContext<'_>) -> Map<String, Value> + Send + Sync + 'static,
    ) -> Self {
        self.claims = Arc::new(claims);
        self
    }

    /// Sets the error body hook.
    pub fn with_error_body(
        mut self,
        body: impl Fn(StatusCode, &str, &str) -> Response + Send + Sync + 'static,
    ) -> Self {
        self.error_body = Arc::new(body);
        self
    }

    /// Requires this initial access token for RFC 7591 registration.
    pub fn with_initial_access_token(mut self, token: impl Into<String>) -> Self {
        self.initial_access_token = Some(token.into());
        self
    }

    /// Declares a resource server.
    pub fn with_resource(mut self, resource: impl Into<String>, server: ResourceServer) -> Self {
        self.resources.insert(resource.into(), server);
        self
    }
}

/// The standard claims (see [`Flavour::standard`]).
pub fn standard_claims(ctx: &ClaimsContext<'_>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(ctx.issuer));
    claims.insert("sub".into(), json!(ctx.client.client_id));
    claims.insert("client_id".into(), json!(ctx.client.client_id));
    if let Some(resource) = ctx.resource {
        claims.insert("aud".into(), json!(resource));
    }
    if !ctx.scopes.is_empty() {
        claims.insert("scope".into(), json!(ctx.scopes.join(" ")));
    }
    claims.insert("jti".into(), json!(ctx.jti));
    claims.insert("iat".into(), json!(ctx.iat));
    claims.insert("exp".into(), json!(ctx.exp));
    claims
}

/// An RFC 6749 error answer `{error, error_description}`.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Basic realm=\"emulator\""),
        );
    }
    response
}
