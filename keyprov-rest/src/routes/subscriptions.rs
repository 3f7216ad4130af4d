//! `/subscriptions` and `/subscriptions/{subscriptionId}`.
//!
//! keyprov identifies a subscription by its application and API; the `subscriptionId` is that
//! pair, encoded (base64url of `<applicationId>:<apiId>`), so that no table of ids is kept.

use axum::Json;
use axum::extract::{OriginalUri, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{StatusCode, header};
use keyprov::{ApiId, ApplicationId};

use super::{PathParams, SUB, clamp, pagination};
use crate::DevPortal;
use crate::body::{JsonObject, query, query_usize};
use crate::error::RestError;
use crate::openapi::{BodyRefusals, Refusals};
use crate::wire::{self, UNLIMITED};

/// The id of the subscription of `application` to `api`.
pub(crate) fn subscription_id(application: ApplicationId, api: &ApiId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{application}:{api}"))
}

fn parse_subscription_id(id: &str) -> Result<(ApplicationId, ApiId), RestError> {
    let invalid = || RestError::invalid("subscriptionId", "is not a subscription id");
    let raw = URL_SAFE_NO_PAD.decode(id).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let (application, api) = text.split_once(':').ok_or_else(invalid)?;
    let application = application.parse().map_err(|_| invalid())?;
    let api = ApiId::new(api).map_err(|_| invalid())?;
    Ok((application, api))
}

fn wire_of(subscription: &keyprov::Subscription) -> wire::Subscription {
    wire::Subscription {
        subscription_id: Some(subscription_id(subscription.application, &subscription.api)),
        application_id: subscription.application.to_string(),
        api_id: subscription.api.to_string(),
        throttling_policy: UNLIMITED.to_owned(),
        requested_throttling_policy: Some(UNLIMITED.to_owned()),
        status: Some(subscription.state.into()),
        redirection_params: Some(String::new()),
    }
}

/// The subscriptions of an application (`applicationId` is required), optionally only to one
/// API (`apiId`).
#[utoipa::path(
    get,
    operation_id = "listSubscriptions",
    path = "/subscriptions",
    tag = "Subscriptions",
    params(
        ("apiId" = Option<String>, Query, description = "Only the subscription to this API"),
        ("applicationId" = Option<String>, Query, description = "The application (required by keyprov)"),
        ("offset" = Option<i32>, Query, description = "Subscriptions skipped (default 0)"),
        ("limit" = Option<i32>, Query, description = "Maximum number returned (default 25)"),
    ),
    responses(
        (status = 200, description = "Subscription list returned", body = wire::SubscriptionList),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:sub_manage"]))
)]
pub(crate) async fn list(
    State(portal): State<DevPortal>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Result<Json<wire::SubscriptionList>, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, SUB).await?;
    let q = query(raw.as_deref());
    let limit = query_usize(&q, "limit", 25)?;
    let offset = query_usize(&q, "offset", 0)?;
    let application: ApplicationId = q
        .get("applicationId")
        .ok_or_else(|| RestError::invalid("applicationId", "is required"))?
        .parse()?;
    let api = q.get("apiId").map(ApiId::new).transpose()?;
    let mut all = portal
        .provisioner
        .subscriptions(&actor, application)
        .await?;
    if let Some(api) = &api {
        all.retain(|s| &s.api == api);
    }
    let total = all.len();
    let list: Vec<_> = all.iter().skip(offset).take(limit).map(wire_of).collect();
    Ok(Json(wire::SubscriptionList {
        count: Some(clamp(list.len())),
        list: Some(list),
        pagination: Some(pagination("/subscriptions", offset, limit, total)),
    }))
}

/// Subscribe an application to an API. Subscribing again answers the existing subscription.
#[utoipa::path(
    post,
    operation_id = "createSubscription",
    path = "/subscriptions",
    tag = "Subscriptions",
    request_body = wire::Subscription,
    responses(
        (status = 201, description = "Created", body = wire::Subscription,
            headers(("Location" = String, description = "The subscription"))),
        Refusals,
        BodyRefusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:sub_manage"]))
)]
pub(crate) async fn create(
    State(portal): State<DevPortal>,
    OriginalUri(uri): OriginalUri,
    request: Request,
) -> Result<Response, RestError> {
    let (parts, body) = request.into_parts();
    let actor = portal.actor(&parts, SUB).await?;
    let body = JsonObject::read(&portal, &parts, body).await?;
    let application: ApplicationId = body.required_str("applicationId")?.parse()?;
    let api = ApiId::new(body.required_str("apiId")?)?;
    let policy = body.required_str("throttlingPolicy")?;
    if policy.is_empty() {
        return Err(RestError::invalid("throttlingPolicy", "must not be empty"));
    }
    body.optional_str("requestedThrottlingPolicy")?;
    body.optional_str("status")?;
    let subscription = portal
        .provisioner
        .subscribe(&actor, application, &api)
        .await?;
    let out = wire_of(&subscription);
    let location = format!(
        "{}/{}",
        uri.path().trim_end_matches('/'),
        out.subscription_id.as_deref().unwrap_or_default()
    );
    let mut response = (StatusCode::CREATED, Json(out)).into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn find(
    portal: &DevPortal,
    actor: &keyprov::Actor,
    path: &PathParams,
) -> Result<keyprov::Subscription, RestError> {
    let (application, api) = parse_subscription_id(path.get("subscriptionId")?)?;
    portal
        .provisioner
        .subscriptions(actor, application)
        .await?
        .into_iter()
        .find(|s| s.api == api)
        .ok_or_else(|| keyprov::Error::SubscriptionNotFound { application, api }.into())
}

/// Get the details of a subscription.
#[utoipa::path(
    get,
    operation_id = "getSubscription",
    path = "/subscriptions/{subscriptionId}",
    tag = "Subscriptions",
    params(("subscriptionId" = String, Path, description = "Subscription Id")),
    responses(
        (status = 200, description = "Subscription returned", body = wire::Subscription),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:sub_manage"]))
)]
pub(crate) async fn get(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<Json<wire::Subscription>, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, SUB).await?;
    let subscription = find(&portal, &actor, &path).await?;
    Ok(Json(wire_of(&subscription)))
}

/// Remove a subscription.
#[utoipa::path(
    delete,
    operation_id = "deleteSubscription",
    path = "/subscriptions/{subscriptionId}",
    tag = "Subscriptions",
    params(("subscriptionId" = String, Path, description = "Subscription Id")),
    responses(
        (status = 200, description = "Resource successfully deleted"),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe", "apim:sub_manage"]))
)]
pub(crate) async fn delete(
    State(portal): State<DevPortal>,
    path: PathParams,
    request: Request,
) -> Result<StatusCode, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, SUB).await?;
    let (application, api) = parse_subscription_id(path.get("subscriptionId")?)?;
    portal
        .provisioner
        .unsubscribe(&actor, application, &api)
        .await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_ids_round_trip_and_refuse_garbage() {
        let app = ApplicationId::random();
        let api = ApiId::new("pizza:shack/1.0.0").unwrap();
        let id = subscription_id(app, &api);
        assert!(!id.contains('/') && !id.contains('='));
        assert_eq!(parse_subscription_id(&id).unwrap(), (app, api));
        for bad in ["", "***", "bm90LWEtdXVpZDphcGk"] {
            let err = parse_subscription_id(bad).unwrap_err();
            assert_eq!(err.body().error[0].code, "subscriptionId", "{bad}");
        }
    }
}
