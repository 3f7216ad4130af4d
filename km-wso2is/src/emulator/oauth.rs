//! IS's OAuth2 endpoints: token (with IS's scope handling and inactive applications),
//! introspection authorized by an admin user, discovery, and IS's token claims.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use km_oidc::emulator::{ClaimsContext, Engine};
use serde_json::{Map, Value, json};

use super::{IsSettings, IsVersion};
use crate::config::DCR_PATH;

/// What the inactive-application refusal says (IS's `AccessTokenIssuer`).
pub(crate) const INACTIVE: &str = "Oauth application is not in active state.";

pub(crate) fn routes(prefix: &str) -> Router<Engine> {
    Router::new()
        .route(&format!("{prefix}/oauth2/token"), post(token))
        .route(&format!("{prefix}/oauth2/introspect"), post(introspect))
        .route(
            &format!("{prefix}/oauth2/token/.well-known/openid-configuration"),
            get(discovery),
        )
        .route(
            &format!("{prefix}/oauth2/oidcdiscovery/.well-known/openid-configuration"),
            get(discovery),
        )
}

/// IS's error body: `{error_description, error}`, plus `traceId` from 6.x.
pub(crate) fn error_body(
    version: IsVersion,
) -> impl Fn(StatusCode, &str, &str) -> Response + Send + Sync + 'static {
    move |status, error, description| {
        let mut body = json!({"error_description": description, "error": error});
        if version >= IsVersion::V6 {
            body["traceId"] = json!(super::dcr::trace_id());
        }
        (status, Json(body)).into_response()
    }
}

/// IS's access token claims for `client_credentials`.
pub(crate) fn claims(
    version: IsVersion,
) -> impl Fn(&ClaimsContext<'_>) -> Map<String, Value> + Send + Sync + 'static {
    move |ctx| {
        let client = ctx.client;
        let meta = |k: &str| client.metadata.get(k).cloned();
        let mut aud = vec![json!(client.client_id)];
        if let Some(Value::Array(extra)) = meta("allowed_audience") {
            aud.extend(extra);
        }
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(ctx.issuer));
        claims.insert("sub".into(), meta("owner").unwrap_or(json!("admin")));
        claims.insert("aut".into(), json!("APPLICATION"));
        claims.insert("azp".into(), json!(client.client_id));
        if version >= IsVersion::V6 {
            claims.insert("client_id".into(), json!(client.client_id));
        }
        claims.insert(
            "aud".into(),
            if aud.len() == 1 {
                aud.remove(0)
            } else {
                Value::Array(aud)
            },
        );
        claims.insert("scope".into(), json!(ctx.scopes.join(" ")));
        claims.insert("nbf".into(), json!(ctx.iat));
        claims.insert("iat".into(), json!(ctx.iat));
        claims.insert("exp".into(), json!(ctx.exp));
        claims.insert("jti".into(), json!(ctx.jti));
        claims
    }
}

async fn token(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let client = match engine.authenticate(&headers, &form) {
        Ok(client) => client,
        Err(mut refusal) => {
            if refusal.error == "invalid_client" {
                refusal.description = "Client Authentication failed.".into();
            }
            return engine.refuse(&refusal);
        }
    };
    if client.metadata.get("state").and_then(Value::as_str) == Some("INACTIVE") {
        return engine.error(StatusCode::UNAUTHORIZED, "invalid_client", INACTIVE);
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return engine.error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type value",
            );
        }
        None => {
            return engine.error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant_type parameter value",
            );
        }
    }
    if !client.grant_types.iter().any(|g| g == "client_credentials") {
        return engine.error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "The authenticated client is not authorized to use this authorization grant type",
        );
    }
    // IS grants what the client may have and silently drops the rest.
    let mut scopes: Vec<String> = form
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    scopes.retain(|s| {
        if client.scopes.is_empty() {
            !s.starts_with("internal_")
        } else {
            client.scopes.contains(s)
        }
    });
    if scopes.is_empty() {
        scopes.push("default".into());
    }
    match engine.issue_token(&client, scopes, None) {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
            response
        }
        Err(refusal) => engine.refuse(&refusal),
    }
}

/// The user of an `Authorization: Basic` header, if the password matches.
pub(crate) fn basic_user<'a>(
    settings: &'a IsSettings,
    headers: &HeaderMap,
) -> Option<&'a super::IsUser> {
    let text = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let raw = String::from_utf8(STANDARD.decode(text.trim()).ok()?).ok()?;
    let (user, password) = raw.split_once(':')?;
    settings.user(user, password)
}

async fn introspect(
    State(engine): State<Engine>,
    Extension(settings): Extension<Arc<IsSettings>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match basic_user(&settings, &headers) {
        Some(user) if user.admin => {}
        Some(_) => return StatusCode::FORBIDDEN.into_response(),
        None => return StatusCode::UNAUTHORIZED.into_response(),
    }
    let Some(token) = form.get("token") else {
        return engine.error(StatusCode::BAD_REQUEST, "invalid_request", "Invalid input");
    };
    let mut answer = engine.introspect(token);
    if answer["active"] == json!(true) {
        answer["token_type"] = json!("Bearer");
        if let Some(sub) = answer.get("sub").cloned() {
            answer["username"] = sub;
        }
    }
    Json(answer).into_response()
}

async fn discovery(
    State(engine): State<Engine>,
    Extension(settings): Extension<Arc<IsSettings>>,
) -> Json<Value> {
    let mut doc = engine.discovery_document();
    let p = &settings.prefix;
    doc["token_endpoint"] = json!(engine.url(&format!("{p}/oauth2/token")));
    doc["introspection_endpoint"] = json!(engine.url(&format!("{p}/oauth2/introspect")));
    doc["registration_endpoint"] = json!(engine.url(&format!("{p}{DCR_PATH}")));
    Json(doc)
}
