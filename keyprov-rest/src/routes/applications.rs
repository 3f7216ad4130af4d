//! `/applications` and `/applications/{applicationId}`.

use axum::Json;
use axum::extract::{OriginalUri, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use keyprov::{Application, NewApplication};

use super::{APP, APP_ADMIN, PathParams, clamp, pagination};
use crate::DevPortal;
use crate::auth::user_of;
use crate::body::{JsonObject, query, query_usize};
use crate::error::RestError;
use crate::openapi::{BodyRefusals, Refusals};
use crate::wire::{self, UNLIMITED};

/// WSO2's limit on application names.
const MAX_NAME_CHARS: usize = 70;
/// WSO2's limit on descriptions.
const MAX_DESCRIPTION_CHARS: usize = 512;

pub(crate) fn info(app: &Application, subscriptions: usize) -> wire::ApplicationInfo {
    wire::ApplicationInfo {
        application_id: Some(app.id.to_string()),
        name: Some(app.name.clone()),
        throttling_policy: Some(UNLIMITED.to_owned()),
        description: Some(String::new()),
        status: Some("APPROVED".to_owned()),
        groups: Some(Vec::new()),
        subscription_count: Some(clamp(subscriptions)),
        attributes: Some(serde_json::Map::new()),
        owner: Some(app.owner.to_string()),
    }
}

fn full(
    app: &Application,
    subscriptions: usize,
    keys: Vec<wire::ApplicationKey>,
) -> wire::Application {
    wire::Application {
        application_id: Some(app.id.to_string()),
        name: app.name.clone(),
        throttling_policy: UNLIMITED.to_owned(),
        description: Some(String::new()),
        token_type: Some(wire::TokenType::Jwt),
        status: Some("APPROVED".to_owned()),
        groups: Some(Vec::new()),
        subscription_count: Some(clamp(subscriptions)),
        keys: Some(keys),
        attributes: Some(Default::default()),
        subscription_scopes: Some(Vec::new()),
        owner: Some(app.owner.to_string()),
        hash_enabled: Some(false),
    }
}

/// Retrieve/search the caller's applications.
#[utoipa::path(
    get,
    operation_id = "listApplications",
    path = "/applications",
    tag = "Applications",
    params(
        ("query" = Option<String>, Query, description = "An exact application name"),
        ("sortBy" = Option<String>, Query, description = "`name`, `throttlingPolicy` or `status`"),
        ("sortOrder" = Option<String>, Query, description = "`asc` or `desc`"),
        ("limit" = Option<i32>, Query, description = "Maximum number of applications returned (default 25)"),
        ("offset" = Option<i32>, Query, description = "Applications skipped (default 0)"),
    ),
    responses(
        (status = 200, description = "Application list returned", body = wire::ApplicationList),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage", "apim:app_import_export"]))
)]
pub(crate) async fn list(
    State(portal): State<DevPortal>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Result<Json<wire::ApplicationList>, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, APP_ADMIN).await?;
    let q = query(raw.as_deref());
    let limit = query_usize(&q, "limit", 25)?;
    let offset = query_usize(&q, "offset", 0)?;
    let descending = match q.get("sortOrder").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(RestError::invalid("sortOrder", "must be asc or desc")),
    };
    let by_name = match q.get("sortBy").map(String::as_str) {
        None => false,
        Some("name") => true,
        // Every application has the same policy and status: creation order stands.
        Some("throttlingPolicy" | "status") => false,
        Some(_) => {
            return Err(RestError::invalid(
                "sortBy",
                "must be name, throttlingPolicy or status",
            ));
        }
    };
    let owner = user_of(&actor)?;
    let mut apps = portal.provisioner.applications(&actor, owner).await?;
    if let Some(name) = q.get("query") {
        apps.retain(|a| &a.name == name);
    }
    if by_name {
        apps.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if descending {
        apps.reverse();
    }
    let total = apps.len();
    let mut list = Vec::new();
    for app in apps.iter().skip(offset).take(limit) {
        let subscriptions = portal.provisioner.subscriptions(&actor, app.id).await?;
        list.push(info(app, subscriptions.len()));
    }
    Ok(Json(wire::ApplicationList {
        count: Some(clamp(list.len())),
        list: Some(list),
        pagination: Some(pagination("/applications", offset, limit, total)),
    }))
}

/// Create a new application owned by the caller.
#[utoipa::path(
    post,
    operation_id = "createApplication",
    path = "/applications",
    tag = "Applications",
    request_body = wire::Application,
    responses(
        (status = 201, description = "Created", body = wire::Application,
            headers(("Location" = String, description = "The new application"))),
        Refusals,
        BodyRefusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage"]))
)]
pub(crate) async fn create(
    State(portal): State<DevPortal>,
    OriginalUri(uri): OriginalUri,
    request: Request,
) -> Result<Response, RestError> {
    let (parts, body) = request.into_parts();
    let actor = portal.actor(&parts, APP).await?;
    let body = JsonObject::read(&portal, &parts, body).await?;
    let name = body.required_str("name")?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(RestError::invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    let policy = body.required_str("throttlingPolicy")?;
    if policy.is_empty() {
        return Err(RestError::invalid("throttlingPolicy", "must not be empty"));
    }
    if let Some(description) = body.optional_str("description")?
        && description.chars().count() > MAX_DESCRIPTION_CHARS
    {
        return Err(RestError::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if let Some(token_type) = body.optional_str("tokenType")?
        && !matches!(token_type, "JWT" | "OAUTH")
    {
        return Err(RestError::invalid("tokenType", "must be JWT or OAUTH"));
    }
    body.optional_strings("groups")?;
    body.optional_object("attributes")?;
    let owner = user_of(&actor)?.clone();
    let created = portal
        .provisioner
        .create_application(NewApplication::new(
            name,
            owner,
            portal.settings.organization.clone(),
        ))
        .await?;
    let location = format!("{}/{}", uri.path().trim_end_matches('/'), created.id);
    let mut response = (StatusCode::CREATED, Json(full(&created, 0, Vec::new()))).into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Get the details of an application, with its keys.
#[utoipa::path(
    get,
    operation_id = "getApplication",
    path = "/applications/{applicationId}",
    tag = "Applications",
    params(("applicationId" = String, Path, description = "The application's UUID")),
    responses(
        (status = 200, description = "Application returned", body = wire::Application),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage"]))
)]
pub(crate) async fn get(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<Json<wire::Application>, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, APP).await?;
    let id = path.application()?;
    let app = portal.provisioner.application(&actor, id).await?;
    let subscriptions = portal.provisioner.subscriptions(&actor, id).await?;
    let keys = portal.provisioner.keys(&actor, id).await?;
    let keys = keys
        .iter()
        .map(|m| super::keys::key_of(&portal, m, None))
        .collect();
    Ok(Json(full(&app, subscriptions.len(), keys)))
}

/// Remove an application, with its subscriptions and key mappings (the clients at their key
/// managers are left untouched).
#[utoipa::path(
    delete,
    operation_id = "deleteApplication",
    path = "/applications/{applicationId}",
    tag = "Applications",
    params(("applicationId" = String, Path, description = "The application's UUID")),
    responses(
        (status = 200, description = "Resource successfully deleted"),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:app_manage", "apim:app_import_export"]))
)]
pub(crate) async fn delete(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<StatusCode, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, APP_ADMIN).await?;
    let id = path.application()?;
    portal.provisioner.delete_application(&actor, id).await?;
    Ok(StatusCode::OK)
}
