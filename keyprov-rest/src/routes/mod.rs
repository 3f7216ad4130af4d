//! The operations, at WSO2's paths.

use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::routing::{get, post};
use http::StatusCode;
use http::request::Parts;
use keyprov::{ApplicationId, MappingId};

use crate::DevPortal;
use crate::auth::scopes::{APP_IMPORT_EXPORT, APP_MANAGE, SUB_MANAGE, SUBSCRIBE};
use crate::error::RestError;

pub(crate) mod applications;
pub(crate) mod key_managers;
pub(crate) mod keys;
pub(crate) mod subscriptions;

/// Scopes of the application and key operations.
pub(crate) const APP: &[&str] = &[SUBSCRIBE, APP_MANAGE];
/// Scopes of listing and deleting applications (WSO2 adds import/export).
pub(crate) const APP_ADMIN: &[&str] = &[SUBSCRIBE, APP_MANAGE, APP_IMPORT_EXPORT];
/// Scopes of the subscription operations.
pub(crate) const SUB: &[&str] = &[SUBSCRIBE, SUB_MANAGE];
/// Scopes of reading key managers.
pub(crate) const READ: &[&str] = &[SUBSCRIBE];

pub(crate) fn routes() -> Router<DevPortal> {
    Router::new()
        .route(
            "/applications",
            get(applications::list).post(applications::create),
        )
        .route(
            "/applications/{applicationId}",
            get(applications::get).delete(applications::delete),
        )
        .route("/applications/{applicationId}/map-keys", post(keys::map))
        .route("/applications/{applicationId}/oauth-keys", get(keys::list))
        .route(
            "/applications/{applicationId}/oauth-keys/{keyMappingId}",
            get(keys::get).delete(keys::remove),
        )
        .route(
            "/applications/{applicationId}/oauth-keys/{keyMappingId}/clean-up",
            post(keys::clean_up),
        )
        .route(
            "/applications/{applicationId}/oauth-keys/{keyMappingId}/generate-token",
            post(keys::generate_token),
        )
        .route(
            "/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/subscriptions/{subscriptionId}",
            get(subscriptions::get).delete(subscriptions::delete),
        )
        .route("/key-managers", get(key_managers::list))
}

pub(crate) async fn not_found() -> RestError {
    RestError::new(
        StatusCode::NOT_FOUND,
        404,
        "no such resource: see the OpenAPI document for the paths served",
    )
}

pub(crate) async fn method_not_allowed() -> RestError {
    RestError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        405,
        "this method is not allowed on this resource",
    )
}

/// The path parameters, without axum's plain-text rejections.
pub(crate) struct PathParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, RestError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| RestError::invalid("path", "must be valid percent-encoded UTF-8"))?;
        Ok(PathParams(
            raw.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ))
    }
}

impl PathParams {
    pub(crate) fn get(&self, name: &'static str) -> Result<&str, RestError> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| RestError::invalid(name, "is required"))
    }

    pub(crate) fn application(&self) -> Result<ApplicationId, RestError> {
        Ok(self.get("applicationId")?.parse::<ApplicationId>()?)
    }

    pub(crate) fn mapping(&self) -> Result<MappingId, RestError> {
        Ok(self.get("keyMappingId")?.parse::<MappingId>()?)
    }
}

/// WSO2's `Pagination` for a page of `total` items.
pub(crate) fn pagination(
    path: &str,
    offset: usize,
    limit: usize,
    total: usize,
) -> crate::wire::Pagination {
    let link = |offset: usize| format!("{path}?limit={limit}&offset={offset}");
    crate::wire::Pagination {
        offset: Some(clamp(offset)),
        limit: Some(clamp(limit)),
        total: Some(clamp(total)),
        next: Some(if offset.saturating_add(limit) < total {
            link(offset + limit)
        } else {
            String::new()
        }),
        previous: Some(if offset > 0 && limit > 0 {
            link(offset.saturating_sub(limit))
        } else {
            String::new()
        }),
    }
}

pub(crate) fn clamp(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
