//! IS's DCR API (`/api/identity/oauth2/dcr/v1.1/register`), with its field sets per version
//! and its quirks: 401 with an empty body for an unknown client and for wrong credentials,
//! 403 with no body for a user without permission, 400 for a conflict.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use km_oidc::emulator::{ClientRecord, ClientSpec, Engine, TokenFormat};
use serde_json::{Map, Value, json};

use super::oauth::basic_user;
use super::{IsSettings, IsVersion};

pub(crate) fn routes(path: &str) -> Router<Engine> {
    Router::new().route(path, post(create).get(by_name)).route(
        &format!("{path}/{{client_id}}"),
        get(read).put(update).delete(delete),
    )
}

/// A trace id as IS 6+ puts in error bodies.
pub(crate) fn trace_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// How IS shows a hashed secret: base64 of its SHA-256.
pub(crate) fn hash_secret(secret: &str) -> String {
    STANDARD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        secret.as_bytes(),
    ))
}

/// The DCR read answer of `record` in the version's field set.
pub(crate) fn dcr_json(record: &ClientRecord, settings: &IsSettings) -> Value {
    let meta = |k: &str| record.metadata.get(k).cloned();
    let secret = if settings.hash_secrets {
        hash_secret(&record.client_secret)
    } else {
        record.client_secret.clone()
    };
    let name = record.client_name.clone().unwrap_or_default();
    let mut out = json!({
        "client_id": record.client_id,
        "client_secret": secret,
        "client_secret_expires_at": record.secret_expires_at.unwrap_or(0),
        "redirect_uris": record.redirect_uris,
        "grant_types": record.grant_types,
        "client_name": name,
    });
    if settings.version >= IsVersion::V7 {
        let token_type = meta("token_type").unwrap_or(json!("Default"));
        let lifetime = meta("app_token_lifetime").unwrap_or(json!(3600));
        let extra = json!({
            "ext_application_display_name": meta("display_name").unwrap_or(json!(name)),
            "ext_application_owner": meta("owner").unwrap_or(json!("admin")),
            "ext_application_token_lifetime": lifetime,
            "ext_user_token_lifetime": 3600,
            "ext_refresh_token_lifetime": 86400,
            "ext_id_token_lifetime": 3600,
            "ext_pkce_mandatory": false,
            "ext_pkce_support_plain": false,
            "ext_public_client": meta("public_client").unwrap_or(json!(false)),
            "ext_token_type": token_type,
            "token_type_extension": token_type,
            "token_endpoint_auth_method": record.token_endpoint_auth_method,
            "jwks_uri": null,
            "ext_allowed_audience": meta("allowed_audience").unwrap_or(json!([])),
            "tls_client_certificate_bound_access_tokens": false,
            "require_signed_request_object": false,
            "ext_is_fapi_conformant": false,
        });
        if let (Value::Object(o), Value::Object(e)) = (&mut out, extra) {
            o.extend(e);
        }
    }
    out
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// Who calls: the owner name for new applications, or the status of an empty answer.
fn authorize(
    engine: &Engine,
    settings: &IsSettings,
    headers: &HeaderMap,
    scope: &str,
) -> Result<String, StatusCode> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth.starts_with("Basic ") {
        return match basic_user(settings, headers) {
            Some(user) if user.admin => Ok(user.username.clone()),
            Some(_) => Err(StatusCode::FORBIDDEN),
            None => Err(StatusCode::UNAUTHORIZED),
        };
    }
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return Err(StatusCode::UNAUTHORIZED);
    };
    if settings.version < IsVersion::V7 {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let answer = engine.introspect(token.trim());
    if answer["active"] != json!(true) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let granted = answer["scope"].as_str().unwrap_or_default();
    if !granted.split_whitespace().any(|s| s == scope) {
        return Err(StatusCode::FORBIDDEN);
    }
    Ok(answer["sub"].as_str().unwrap_or("admin").to_owned())
}

fn bad_request(engine: &Engine, description: &str) -> Response {
    engine.error(
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
        description,
    )
}

fn name_taken(engine: &Engine, name: &str, except: Option<&str>) -> bool {
    engine
        .clients()
        .iter()
        .any(|c| c.client_name.as_deref() == Some(name) && Some(c.client_id.as_str()) != except)
}

fn strings(body: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    body.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

fn token_type_of(body: &Map<String, Value>) -> Option<String> {
    body.get("ext_token_type")
        .or(body.get("token_type_extension"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub(crate) fn format_of(token_type: &str) -> TokenFormat {
    if token_type.eq_ignore_ascii_case("JWT") {
        TokenFormat::Jwt
    } else {
        TokenFormat::Opaque
    }
}

async fn create(
    State(engine): State<Engine>,
    Extension(settings): Extension<Arc<IsSettings>>,
    headers: HeaderMap,
    Json(body): Json<Map<String, Value>>,
) -> Response {
    let owner = match authorize(&engine, &settings, &headers, "internal_dcr_create") {
        Ok(owner) => owner,
        Err(status) => return empty(status),
    };
    let Some(name) = body.get("client_name").and_then(Value::as_str) else {
        return bad_request(&engine, "Required parameter client_name is missing");
    };
    if name_taken(&engine, name, None) {
        return bad_request(
            &engine,
            &format!("Application with the name {name} already exist in the system"),
        );
    }
    let token_type = token_type_of(&body).unwrap_or_else(|| "Default".into());
    let mut spec = ClientSpec::new()
        .name(name)
        .grant_types(
            strings(&body, "grant_types").unwrap_or_else(|| vec!["client_credentials".into()]),
        )
        .redirect_uris(strings(&body, "redirect_uris").unwrap_or_default())
        .token_format(format_of(&token_type))
        .metadata("owner", owner)
        .metadata("state", "ACTIVE")
        .metadata("token_type", token_type);
    if let Some(public) = body.get("ext_public_client").and_then(Value::as_bool) {
        spec = spec.metadata("public_client", public);
    }
    if let Some(aud) = strings(&body, "ext_allowed_audience") {
        spec = spec.metadata("allowed_audience", aud);
    }
    let created = engine.create_client(spec);
    let record = engine.client(&created.client_id).expect("just created");
    (StatusCode::CREATED, Json(dcr_json(&record, &settings))).into_response()
}

async fn by_name(
    State(engine): State<Engine>,
    Extension(settings): Extension<Arc<IsSettings>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(status) = authorize(&engine, &settings, &headers, "internal_dcr_view") {
        return empty(status);
    }
    let Some(name) = query.get("client_name") else {
        return bad_request(&engine, "Required parameter client_name is missing");
    };
    match engine
        .clients()
        .into_iter()
        .find(|c| c.client_name.as_deref() == Some(name.as_str()))
    {
        Some(record) => Json(dcr_json(&record, &settings)).into_response(),
        None => engine.error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Application not available for given client_name: {name}"),
        ),
    }
}

async fn read(
    State(engine): State<Engine>,
    Extension(settings): Extension<Arc<IsSettings>>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    if let Err(status) = authorize(&engine, &settings, &headers, "internal_dcr_view") {
        return empty(status);
    }
    match engine.client(&client_id) {
        Some(record) => Json(dcr_json(&record, &settings)).into_response(),
        // The quirk: not 404.
        None => empty(StatusCode::UNAUTHORIZED),
    }
}

async fn update(
    State(engine): State<Engine>,
    Extension(settings): Extension<Arc<IsSettings>>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> Response {
    if let Err(status) = authorize(&engine, &settings, &headers, "internal_dcr_update") {
        return empty(status);
    }
    if engine.client(&client_id).is_none() {
        return empty(StatusCode::UNAUTHORIZED);
    }
    let name = body.get("client_name").and_then(Value::as_str);
    if let Some(name) = name
        && name_taken(&engine, name, Some(&client_id))
    {
        return bad_request(
            &engine,
            &format!("Application with the name {name} already exist in the system"),
        );
    }
    let token_type = token_type_of(&body);
    engine.update_client(&client_id, |c| {
        if let Some(name) = name {
            c.client_name = Some(name.to_owned());
        }
        if let Some(grants) = strings(&body, "grant_types") {
            c.grant_types = grants;
        }
        if let Some(uris) = strings(&body, "redirect_uris") {
            c.redirect_uris = uris;
        }
        if let Some(t) = token_type {
            c.token_format = format_of(&t);
            c.metadata.insert("token_type".into(), t.into());
        }
    });
    let record = engine.client(&client_id).expect("checked above");
    Json(dcr_json(&record, &settings)).into_response()
}

async fn delete(
    State(engine): State<Engine>,
    Extension(settings): Extension<Arc<IsSettings>>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    if let Err(status) = authorize(&engine, &settings, &headers, "internal_dcr_delete") {
        return empty(status);
    }
    if engine.delete_client(&client_id) {
        empty(StatusCode::NO_CONTENT)
    } else {
        empty(StatusCode::UNAUTHORIZED)
    }
}
