//! The standard endpoints as axum handlers. They are public so that a vendor emulator can
//! mount them at its own paths, or wrap them (`Paths` decides where [`standard_routes`] puts
//! them).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{Map, Value};

use super::engine::{Engine, Refusal};
use super::flavour::Flavour;
use super::registry::ClientSpec;

/// The standard routes at the flavour's paths.
pub fn standard_routes(flavour: &Flavour) -> Router<Engine> {
    let paths = &flavour.paths;
    let mut router = Router::new();
    for path in &paths.discovery {
        router = router.route(path, get(discovery));
    }
    if let Some(p) = &paths.token {
        router = router.route(p, post(token));
    }
    if let Some(p) = &paths.jwks {
        router = router.route(p, get(jwks));
    }
    if let Some(p) = &paths.introspection {
        router = router.route(p, post(introspect));
    }
    if let Some(p) = &paths.registration {
        router = router.route(p, post(register)).route(
            &format!("{p}/{{client_id}}"),
            get(read_client).put(update_client).delete(delete_client),
        );
    }
    router
}

/// `GET` discovery.
pub async fn discovery(State(engine): State<Engine>) -> Json<Value> {
    Json(engine.discovery_document())
}

/// `GET` JWKS.
pub async fn jwks(State(engine): State<Engine>) -> Response {
    Json(engine.jwks()).into_response()
}

/// `POST` token: `client_credentials` only, with real client authentication.
pub async fn token(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let client = match engine.authenticate(&headers, &form) {
        Ok(client) => client,
        Err(refusal) => return engine.refuse(&refusal),
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return engine.error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
        None => {
            return engine.error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "missing grant_type",
            );
        }
    }
    // oidc-provider's answer (lib/actions/token.js), after client authentication.
    if !client.grant_types.iter().any(|g| g == "client_credentials") {
        return engine.error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "requested grant type is not allowed for this client",
        );
    }
    let scopes = form
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    match engine.issue_token(&client, scopes, form.get("resource").map(String::as_str)) {
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

/// `POST` introspection, authorized by any enabled client's credentials. Every token
/// presented is recorded ([`Engine::introspected`]), authorized or not.
pub async fn introspect(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(token) = form.get("token") {
        engine.record_introspection(token);
    }
    if let Err(refusal) = engine.authenticate(&headers, &form) {
        return engine.refuse(&refusal);
    }
    match form.get("token") {
        Some(token) => Json(engine.introspect(token)).into_response(),
        None => engine.error(StatusCode::BAD_REQUEST, "invalid_request", "missing token"),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// `POST` RFC 7591 registration, with the flavour's initial access token if it has one.
pub async fn register(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Json(body): Json<Map<String, Value>>,
) -> Response {
    if let Some(expected) = &engine.flavour().initial_access_token
        && bearer(&headers) != Some(expected.as_str())
    {
        return engine.error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "invalid initial access token",
        );
    }
    let spec = ClientSpec::from_registration(&body);
    let created = engine.create_client(spec);
    let record = engine
        .client(&created.client_id)
        .expect("the client was just created");
    let body = record.registration_json(created.registration_client_uri);
    (StatusCode::CREATED, Json(body)).into_response()
}

/// RFC 7592 §2.1: the token must be this client's registration access token; an unknown
/// client answers 401 like a wrong token.
fn authorize_management(
    engine: &Engine,
    headers: &HeaderMap,
    client_id: &str,
) -> Result<super::registry::ClientRecord, Refusal> {
    let refuse = || {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "invalid registration access token",
        )
    };
    let client = engine.client(client_id).ok_or_else(refuse)?;
    match bearer(headers) {
        Some(token) if token == client.registration_access_token => Ok(client),
        _ => Err(refuse()),
    }
}

/// `GET` RFC 7592 client read.
pub async fn read_client(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    match authorize_management(&engine, &headers, &client_id) {
        Ok(client) => Json(client.registration_json(engine.registration_client_uri(&client_id)))
            .into_response(),
        Err(refusal) => engine.refuse(&refusal),
    }
}

/// `PUT` RFC 7592 client update: replaces the metadata, keeps id, secret and tokens.
pub async fn update_client(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> Response {
    if let Err(refusal) = authorize_management(&engine, &headers, &client_id) {
        return engine.refuse(&refusal);
    }
    if body.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
        return engine.error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id must match the client being updated",
        );
    }
    let spec = ClientSpec::from_registration(&body);
    let default_grants = engine.flavour().default_grant_types.clone();
    engine.update_client(&client_id, |c| {
        c.client_name = spec.client_name;
        c.grant_types = spec.grant_types.unwrap_or(default_grants);
        c.redirect_uris = spec.redirect_uris;
        c.scopes = spec.scopes;
        if let Some(method) = spec.auth_method {
            c.token_endpoint_auth_method = method;
        }
        c.metadata.extend(spec.metadata);
    });
    let client = engine.client(&client_id).expect("authorized above");
    Json(client.registration_json(engine.registration_client_uri(&client_id))).into_response()
}

/// `DELETE` RFC 7592 client delete (204).
pub async fn delete_client(
    State(engine): State<Engine>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    match authorize_management(&engine, &headers, &client_id) {
        Ok(_) => {
            engine.delete_client(&client_id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refusal) => engine.refuse(&refusal),
    }
}
