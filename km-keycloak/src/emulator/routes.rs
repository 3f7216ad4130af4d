//! Keycloak's routes on km-oidc's engine: realm endpoints, the OIDC registration read, the
//! admin API, with Keycloak's role checks and error bodies.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use km_oidc::emulator::{ClientRecord, Engine, Refusal};
use serde_json::{Value, json};

use super::Realms;
use super::model::{
    AdminErrorStyle, ClientFlags, client_representation, oidc_representation, secret_value,
};

pub(crate) fn routes(prefix: &str, realms: Arc<Realms>) -> Router<Engine> {
    let realm = format!("{prefix}/realms/{{realm}}");
    let admin = format!("{prefix}/admin/realms/{{realm}}");
    Router::new()
        .route(
            &format!("{realm}/.well-known/openid-configuration"),
            get(discovery),
        )
        .route(
            &format!("{realm}/protocol/openid-connect/certs"),
            get(certs),
        )
        .route(
            &format!("{realm}/protocol/openid-connect/token"),
            post(token),
        )
        .route(
            &format!("{realm}/protocol/openid-connect/token/introspect"),
            post(introspect),
        )
        .route(
            &format!("{realm}/clients-registrations/openid-connect/{{client_id}}"),
            get(registration_read),
        )
        .route(&format!("{admin}/clients"), get(admin_clients))
        .route(&format!("{admin}/clients/{{id}}"), get(admin_client))
        .route(
            &format!("{admin}/clients/{{id}}/client-secret"),
            get(admin_client_secret),
        )
        .layer(Extension(realms))
}

fn json_error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn no_realm() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        json!({"error": "Realm does not exist"}),
    )
}

fn admin_error(realms: &Realms, status: StatusCode, error: &str) -> Response {
    let body = match realms.error_style() {
        AdminErrorStyle::OAuth => json!({
            "error": error,
            "error_description": "For more on this error consult the server log.",
        }),
        AdminErrorStyle::ErrorMessage => json!({"errorMessage": error}),
    };
    json_error(status, body)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The service account behind a bearer token: its realm and its flags (read now, like
/// Keycloak reads role mappings from its database).
struct Caller {
    realm: String,
    flags: ClientFlags,
}

fn caller(engine: &Engine, realms: &Realms, headers: &HeaderMap) -> Option<Caller> {
    let token = bearer(headers)?;
    if realms.is_revoked(token) {
        return None;
    }
    let claims = engine.introspect(token);
    if claims["active"] != json!(true) {
        return None;
    }
    let realm = claims["iss"]
        .as_str()?
        .strip_prefix(&format!("{}/realms/", realms.server_url(engine)))?
        .to_owned();
    let account = engine.client(claims["azp"].as_str()?)?;
    let flags = ClientFlags::of(&account)?;
    Some(Caller { realm, flags })
}

fn find(engine: &Engine, realm: &str, client_id: &str) -> Option<(ClientRecord, ClientFlags)> {
    let record = engine.client(client_id)?;
    let flags = ClientFlags::of(&record).filter(|f| f.realm == realm)?;
    Some((record, flags))
}

fn find_by_uuid(engine: &Engine, realm: &str, id: &str) -> Option<(ClientRecord, ClientFlags)> {
    engine.clients().into_iter().find_map(|record| {
        let flags = ClientFlags::of(&record).filter(|f| f.realm == realm && f.id == id)?;
        Some((record, flags))
    })
}

async fn discovery(
    State(engine): State<Engine>,
    Extension(realms): Extension<Arc<Realms>>,
    Path(realm): Path<String>,
) -> Response {
    if !realms.exists(&realm) {
        return no_realm();
    }
    let issuer = realms.issuer(&engine, &realm);
    let oidc = format!("{issuer}/protocol/openid-connect");
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{oidc}/auth"),
        "token_endpoint": format!("{oidc}/token"),
        "introspection_endpoint": format!("{oidc}/token/introspect"),
        "userinfo_endpoint": format!("{oidc}/userinfo"),
        "end_session_endpoint": format!("{oidc}/logout"),
        "jwks_uri": format!("{oidc}/certs"),
        "registration_endpoint": format!("{issuer}/clients-registrations/openid-connect"),
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password",
            "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic",
            "client_secret_post", "tls_client_auth", "client_secret_jwt"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "none", "id_token", "token", "code id_token"],
        "subject_types_supported": ["public", "pairwise"],
    }))
    .into_response()
}

async fn certs(
    State(engine): State<Engine>,
    Extension(realms): Extension<Arc<Realms>>,
    Path(realm): Path<String>,
) -> Response {
    if !realms.exists(&realm) {
        return no_realm();
    }
    let mut keys = Vec::new();
    for key in engine.jwks().keys {
        let mut sig = serde_json::to_value(&key).unwrap_or_default();
        sig["use"] = "sig".into();
        let mut enc = sig.clone();
        // Keycloak also publishes an encryption key; adapters must select `use == sig`.
        enc["use"] = "enc".into();
        enc["alg"] = "RSA-OAEP".into();
        enc["kid"] = format!("{}-enc", key.kid.unwrap_or_default()).into();
        keys.push(sig);
        keys.push(enc);
    }
    Json(json!({ "keys": keys })).into_response()
}

/// The client id a token request presents (Basic or form), for the public-client answer.
fn presented_client_id(headers: &HeaderMap, form: &HashMap<String, String>) -> Option<String> {
    use base64::Engine as _;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| text.split_once(':').map(|(id, _)| id.to_owned()));
    basic
        .map(|id| {
            url::form_urlencoded::parse(format!("x={id}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or(id)
        })
        .or_else(|| form.get("client_id").cloned())
}

async fn token(
    State(engine): State<Engine>,
    Extension(realms): Extension<Arc<Realms>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !realms.exists(&realm) {
        return no_realm();
    }
    let refuse = |status, error: &str, description: &str| {
        engine.refuse(&Refusal::new(status, error, description))
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type",
            );
        }
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing form parameter: grant_type",
            );
        }
    }
    let bad_credentials = || {
        let code = if realms.version().says_unauthorized_client() {
            "unauthorized_client"
        } else {
            "invalid_client"
        };
        refuse(
            StatusCode::UNAUTHORIZED,
            code,
            "Invalid client or Invalid client credentials",
        )
    };
    // Keycloak's `AuthenticationProcessor.handleClientAuthException`: an unknown or disabled
    // client is 400 "Invalid client credentials" (a wrong secret is 401, above).
    let unknown_or_disabled = || {
        let code = if realms.version().says_unauthorized_client() {
            "unauthorized_client"
        } else {
            "invalid_client"
        };
        refuse(StatusCode::BAD_REQUEST, code, "Invalid client credentials")
    };
    let presented = presented_client_id(&headers, &form);
    match presented.as_deref().map(|id| find(&engine, &realm, id)) {
        Some(None) => return unknown_or_disabled(),
        Some(Some((record, _))) if !record.enabled => return unknown_or_disabled(),
        _ => {}
    }
    // Public clients authenticate with their id alone, then may not use service accounts.
    // Statuses, codes and descriptions as Keycloak's `TokenEndpoint.checkClient` (bearer-only:
    // 400 `invalid_client`) and `ClientCredentialsGrantType.process` (public, service accounts
    // off: 401 `unauthorized_client`).
    if let Some((_, flags)) = presented.and_then(|id| find(&engine, &realm, &id))
        && flags.public_client
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Public client not allowed to retrieve service account",
        );
    }
    let client = match engine.authenticate(&headers, &form) {
        Ok(client) => client,
        Err(r) if r.status == StatusCode::BAD_REQUEST => return engine.refuse(&r),
        Err(_) => return bad_credentials(),
    };
    let Some(flags) = ClientFlags::of(&client).filter(|f| f.realm == realm) else {
        return bad_credentials();
    };
    if flags.bearer_only {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Bearer-only not allowed",
        );
    }
    if !flags.service_accounts_enabled {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Client not enabled to retrieve service account",
        );
    }
    let scopes: Vec<String> = form
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    match engine.issue_token(&client, scopes.clone(), None) {
        Ok(mut answer) => {
            if let Some(token) = answer["access_token"].as_str() {
                realms.record_issued(token);
            }
            answer["scope"] = super::token_scope(&scopes).into();
            answer["refresh_expires_in"] = 0.into();
            answer["not-before-policy"] = 0.into();
            let mut response = Json(answer).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
            response
        }
        Err(refusal) => engine.refuse(&refusal),
    }
}

async fn introspect(
    State(engine): State<Engine>,
    Extension(realms): Extension<Arc<Realms>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !realms.exists(&realm) {
        return no_realm();
    }
    let authenticated = engine
        .authenticate(&headers, &form)
        .ok()
        .and_then(|c| ClientFlags::of(&c))
        .is_some_and(|f| f.realm == realm && !f.public_client);
    if !authenticated {
        return engine.refuse(&Refusal::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "Authentication failed.",
        ));
    }
    let Some(token) = form.get("token") else {
        return engine.refuse(&Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Token not provided.",
        ));
    };
    let mut answer = engine.introspect(token);
    let foreign = answer["iss"].as_str() != Some(realms.issuer(&engine, &realm).as_str());
    if realms.is_revoked(token) || foreign {
        return Json(json!({"active": false})).into_response();
    }
    if answer["active"] == json!(true) {
        answer["username"] = answer["preferred_username"].clone();
    }
    Json(answer).into_response()
}

async fn registration_read(
    State(engine): State<Engine>,
    Extension(realms): Extension<Arc<Realms>>,
    Path((realm, client_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !realms.exists(&realm) {
        return no_realm();
    }
    // Only a token of this very realm (and hostname) is accepted here.
    let Some(caller) = caller(&engine, &realms, &headers).filter(|c| c.realm == realm) else {
        return json_error(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_token", "error_description": "Not authorized to view client. Not valid token or client credentials provided."}),
        );
    };
    if !caller.flags.may_view_clients(&realm) {
        return json_error(
            StatusCode::FORBIDDEN,
            json!({"error": "insufficient_scope", "error_description": "Forbidden"}),
        );
    }
    let Some((record, flags)) = find(&engine, &realm, &client_id) else {
        return json_error(
            StatusCode::NOT_FOUND,
            json!({"error": "invalid_request", "error_description": "Client not found"}),
        );
    };
    let masked = realms.masking() && !caller.flags.may_manage_clients(&realm);
    let uri = format!(
        "{}/clients-registrations/openid-connect/{client_id}",
        realms.issuer(&engine, &realm)
    );
    Json(oidc_representation(&record, &flags, masked, uri)).into_response()
}

/// Admin API authorization: a token of the realm, or of `master` with roles on the realm.
fn admin_caller(
    engine: &Engine,
    realms: &Realms,
    headers: &HeaderMap,
    realm: &str,
) -> Result<Caller, Box<Response>> {
    let Some(caller) = caller(engine, realms, headers) else {
        return Err(Box::new(admin_error(
            realms,
            StatusCode::UNAUTHORIZED,
            "HTTP 401 Unauthorized",
        )));
    };
    if !realms.exists(realm) {
        return Err(Box::new(admin_error(
            realms,
            StatusCode::NOT_FOUND,
            "Realm not found.",
        )));
    }
    let allowed =
        (caller.realm == realm || caller.realm == "master") && caller.flags.may_view_clients(realm);
    if !allowed {
        return Err(Box::new(admin_error(
            realms,
            StatusCode::FORBIDDEN,
            "unknown_error",
        )));
    }
    Ok(caller)
}

async fn admin_clients(
    State(engine): State<Engine>,
    Extension(realms): Extension<Arc<Realms>>,
    Path(realm): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match admin_caller(&engine, &realms, &headers, &realm) {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let masked = realms.masking() && !caller.flags.may_manage_clients(&realm);
    let search = query.get("search").is_some_and(|s| s == "true");
    let wanted = query.get("clientId");
    let found: Vec<Value> = engine
        .clients()
        .into_iter()
        .filter_map(|record| {
            let flags = ClientFlags::of(&record).filter(|f| f.realm == realm)?;
            let matches = match wanted {
                None => true,
                Some(w) if search => record.client_id.contains(w.as_str()),
                Some(w) => record.client_id == *w,
            };
            matches.then(|| client_representation(&record, &flags, masked))
        })
        .collect();
    Json(found).into_response()
}

async fn admin_client(
    State(engine): State<Engine>,
    Extension(realms): Extension<Arc<Realms>>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let caller = match admin_caller(&engine, &realms, &headers, &realm) {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    match find_by_uuid(&engine, &realm, &id) {
        Some((record, flags)) => {
            let masked = realms.masking() && !caller.flags.may_manage_clients(&realm);
            Json(client_representation(&record, &flags, masked)).into_response()
        }
        None => admin_error(&realms, StatusCode::NOT_FOUND, "Could not find client"),
    }
}

async fn admin_client_secret(
    State(engine): State<Engine>,
    Extension(realms): Extension<Arc<Realms>>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let caller = match admin_caller(&engine, &realms, &headers, &realm) {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    match find_by_uuid(&engine, &realm, &id) {
        Some((record, flags)) if !flags.public_client => {
            let masked = realms.masking() && !caller.flags.may_manage_clients(&realm);
            Json(json!({"type": "secret", "value": secret_value(&record.client_secret, masked)}))
                .into_response()
        }
        Some(_) => Json(json!({"type": "secret"})).into_response(),
        None => admin_error(&realms, StatusCode::NOT_FOUND, "Could not find client"),
    }
}
