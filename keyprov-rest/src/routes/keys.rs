//! An application's keys: `map-keys`, `oauth-keys` and `generate-token`.

use axum::Json;
use axum::extract::{Request, State};
use http::StatusCode;
use keyprov::provisioner::DEFAULT_KEY_MANAGER;
use keyprov::{
    AccessToken, ConsumerKey, ConsumerSecret, KeyMapping, KeyType, MappingMode, ProvisionRequest,
    TokenRequest,
};

use super::{APP, PathParams, clamp};
use crate::DevPortal;
use crate::body::JsonObject;
use crate::error::RestError;
use crate::openapi::{BodyRefusals, Refusals, UpstreamRefusals};
use crate::wire;

/// A mapping in WSO2's shape; never a secret.
pub(crate) fn key_of(
    portal: &DevPortal,
    mapping: &KeyMapping,
    token: Option<AccessToken>,
) -> wire::ApplicationKey {
    let name = portal
        .provisioner
        .key_managers()
        .by_id(&mapping.key_manager)
        .map_or_else(
            || mapping.key_manager.to_string(),
            |km| km.config.name.to_string(),
        );
    let mut additional = serde_json::Map::new();
    for (k, v) in &mapping.snapshot.additional {
        additional.insert(k.clone(), v.clone().into());
    }
    if let Some(client_name) = &mapping.snapshot.client_name {
        additional.insert("clientName".into(), client_name.clone().into());
    }
    additional.insert("validated".into(), mapping.validated.into());
    additional.insert("secretProven".into(), mapping.secret_proven.into());
    wire::ApplicationKey {
        key_mapping_id: Some(mapping.id.to_string()),
        key_manager: Some(name),
        consumer_key: Some(mapping.consumer_key.to_string()),
        supported_grant_types: Some(mapping.snapshot.grant_types.clone()),
        callback_url: Some(
            mapping
                .snapshot
                .redirect_uris
                .first()
                .cloned()
                .unwrap_or_default(),
        ),
        key_state: Some(mapping.state.to_string()),
        key_type: Some(mapping.key_type.into()),
        mode: Some(match mapping.mode {
            MappingMode::Mapped => wire::KeyMode::Mapped,
            MappingMode::Created => wire::KeyMode::Created,
        }),
        token: token.map(Into::into),
        additional_properties: Some(additional),
    }
}

/// Map an out-of-band client (consumer key and secret) into an application.
#[utoipa::path(
    post,
    operation_id = "mapKeys",
    path = "/applications/{applicationId}/map-keys",
    tag = "Application Keys",
    params(("applicationId" = String, Path, description = "The application's UUID")),
    request_body = wire::ApplicationKeyMappingRequest,
    responses(
        (status = 200, description = "Keys are mapped", body = wire::ApplicationKey),
        Refusals,
        BodyRefusals,
        UpstreamRefusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage"]))
)]
pub(crate) async fn map(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<Json<wire::ApplicationKey>, RestError> {
    let (parts, body) = request.into_parts();
    let actor = portal.actor(&parts, APP).await?;
    let application = path.application()?;
    let body = JsonObject::read(&portal, &parts, body).await?;
    let consumer_key = ConsumerKey::new(body.required_str("consumerKey")?)?;
    let key_type: KeyType = body.required_str("keyType")?.parse()?;
    let key_manager = body
        .optional_str("keyManager")?
        .unwrap_or(DEFAULT_KEY_MANAGER)
        .to_owned();
    let mut request = ProvisionRequest::new(application, key_manager, key_type, consumer_key);
    if let Some(secret) = body.optional_str("consumerSecret")? {
        request = request.secret(ConsumerSecret::new(secret));
    }
    let done = portal.provisioner.provision(&actor, request).await?;
    Ok(Json(key_of(&portal, &done.mapping, done.token)))
}

/// Retrieve all keys of an application.
#[utoipa::path(
    get,
    operation_id = "listKeys",
    path = "/applications/{applicationId}/oauth-keys",
    tag = "Application Keys",
    params(("applicationId" = String, Path, description = "The application's UUID")),
    responses(
        (status = 200, description = "Keys are returned", body = wire::ApplicationKeyList),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage"]))
)]
pub(crate) async fn list(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<Json<wire::ApplicationKeyList>, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, APP).await?;
    let application = path.application()?;
    let keys = portal.provisioner.keys(&actor, application).await?;
    let list: Vec<_> = keys.iter().map(|m| key_of(&portal, m, None)).collect();
    Ok(Json(wire::ApplicationKeyList {
        count: Some(clamp(list.len())),
        list: Some(list),
    }))
}

/// The caller's mapping `keyMappingId` of the application.
async fn owned_mapping(
    portal: &DevPortal,
    actor: &keyprov::Actor,
    path: &PathParams,
) -> Result<KeyMapping, RestError> {
    let application = path.application()?;
    let mapping = path.mapping()?;
    portal
        .provisioner
        .keys(actor, application)
        .await?
        .into_iter()
        .find(|m| m.id == mapping)
        .ok_or_else(|| keyprov::Error::MappingNotFound(mapping).into())
}

/// Get the details of one key of an application.
#[utoipa::path(
    get,
    operation_id = "getKey",
    path = "/applications/{applicationId}/oauth-keys/{keyMappingId}",
    tag = "Application Keys",
    params(
        ("applicationId" = String, Path, description = "The application's UUID"),
        ("keyMappingId" = String, Path, description = "The key mapping's UUID"),
    ),
    responses(
        (status = 200, description = "The key is returned", body = wire::ApplicationKey),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage"]))
)]
pub(crate) async fn get(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<Json<wire::ApplicationKey>, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, APP).await?;
    let mapping = owned_mapping(&portal, &actor, &path).await?;
    Ok(Json(key_of(&portal, &mapping, None)))
}

async fn remove_mapping(
    portal: DevPortal,
    path: PathParams,
    request: Request,
) -> Result<StatusCode, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, APP).await?;
    let application = path.application()?;
    let mapping = path.mapping()?;
    portal
        .provisioner
        .remove_mapping(&actor, application, mapping)
        .await?;
    Ok(StatusCode::OK)
}

/// Remove a key mapping: the application may then map another client for that key type. The
/// client at its key manager is left untouched.
#[utoipa::path(
    delete,
    operation_id = "removeKey",
    path = "/applications/{applicationId}/oauth-keys/{keyMappingId}",
    tag = "Application Keys",
    params(
        ("applicationId" = String, Path, description = "The application's UUID"),
        ("keyMappingId" = String, Path, description = "The key mapping's UUID"),
    ),
    responses(
        (status = 200, description = "The mapping is removed"),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage"]))
)]
pub(crate) async fn remove(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<StatusCode, RestError> {
    remove_mapping(portal, path, request).await
}

/// Clean up keys: WSO2's way of removing an application's keys for a mapping; the same as
/// `DELETE` on the key.
#[utoipa::path(
    post,
    operation_id = "cleanUpKey",
    path = "/applications/{applicationId}/oauth-keys/{keyMappingId}/clean-up",
    tag = "Application Keys",
    params(
        ("applicationId" = String, Path, description = "The application's UUID"),
        ("keyMappingId" = String, Path, description = "The key mapping's UUID"),
    ),
    responses(
        (status = 200, description = "Clean up is performed"),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage"]))
)]
pub(crate) async fn clean_up(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<StatusCode, RestError> {
    remove_mapping(portal, path, request).await
}

/// Generate an access token for a mapped key by the `client_credentials` grant, with the
/// client's secret supplied in the request (keyprov never stores it).
#[utoipa::path(
    post,
    operation_id = "generateToken",
    path = "/applications/{applicationId}/oauth-keys/{keyMappingId}/generate-token",
    tag = "Application Tokens",
    params(
        ("applicationId" = String, Path, description = "The application's UUID"),
        ("keyMappingId" = String, Path, description = "The key mapping's UUID"),
    ),
    request_body = wire::ApplicationTokenGenerateRequest,
    responses(
        (status = 200, description = "Token is generated", body = wire::ApplicationToken),
        Refusals,
        BodyRefusals,
        UpstreamRefusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage"]))
)]
pub(crate) async fn generate_token(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<Json<wire::ApplicationToken>, RestError> {
    let (parts, body) = request.into_parts();
    let actor = portal.actor(&parts, APP).await?;
    let mapping = owned_mapping(&portal, &actor, &path).await?;
    let body = JsonObject::read(&portal, &parts, body).await?;
    let secret = body.required_str("consumerSecret")?;
    let scopes = body.optional_strings("scopes")?;
    body.optional_i64("validityPeriod")?;
    body.optional_str("revokeToken")?;
    body.optional_object("additionalProperties")?;
    let request = TokenRequest::new(
        mapping.application,
        mapping.key_manager.as_str(),
        mapping.key_type,
        ConsumerSecret::new(secret),
    )
    .scopes(scopes);
    let token = portal.provisioner.token(&actor, request).await?;
    Ok(Json(token.into()))
}
