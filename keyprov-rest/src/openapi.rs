//! The OpenAPI document of the router, generated from the handlers and the wire types.

use axum::Json;
use utoipa::openapi::security::{Flow, OAuth2, Password, Scopes, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorListItem};
use crate::routes::{applications, key_managers, keys, subscriptions};
use crate::wire;

/// Where the router serves its OpenAPI document, relative to where it is mounted.
pub const OPENAPI_PATH: &str = "/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyprov - WSO2 Developer Portal compatible key endpoints",
        description = "Applications, subscriptions, out-of-band key mapping and tokens, at the paths and with the JSON of WSO2 API Manager's Developer Portal REST API.",
        license(name = "Apache-2.0"),
    ),
    paths(
        applications::list,
        applications::create,
        applications::get,
        applications::delete,
        keys::map,
        keys::list,
        keys::get,
        keys::remove,
        keys::clean_up,
        keys::generate_token,
        subscriptions::list,
        subscriptions::create,
        subscriptions::get,
        subscriptions::delete,
        key_managers::list,
    ),
    components(schemas(
        ErrorBody,
        ErrorListItem,
        wire::Application,
        wire::ApplicationInfo,
        wire::ApplicationList,
        wire::ApplicationKey,
        wire::ApplicationKeyList,
        wire::ApplicationKeyMappingRequest,
        wire::ApplicationToken,
        wire::ApplicationTokenGenerateRequest,
        wire::Subscription,
        wire::SubscriptionList,
        wire::KeyManagerInfo,
        wire::KeyManagerList,
        wire::Pagination,
    )),
    modifiers(&Security)
)]
struct Document;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scopes = Scopes::from_iter([
            ("apim:subscribe", "Subscribe API"),
            ("apim:app_manage", "Retrieve, Manage applications"),
            ("apim:sub_manage", "Retrieve, Manage subscriptions"),
            (
                "apim:app_import_export",
                "Import and export applications related operations",
            ),
        ]);
        let flow = Flow::Password(Password::new("/oauth2/token", scopes));
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "OAuth2Security",
                SecurityScheme::OAuth2(OAuth2::new([flow])),
            );
    }
}

/// The router's OpenAPI document (OpenAPI 3.1), as served at [`OPENAPI_PATH`].
///
/// ```
/// let doc = keyprov_rest::openapi();
/// assert!(doc.paths.paths.contains_key("/applications/{applicationId}/map-keys"));
/// ```
pub fn openapi() -> utoipa::openapi::OpenApi {
    Document::openapi()
}

pub(crate) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

/// Failures any operation may answer (documented on every operation).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Refusals {
    /// Invalid input, named in `error[0].code`.
    #[response(
        status = 400,
        description = "Bad Request: invalid input (the field is named), or a key manager refusing the client or the secret"
    )]
    BadRequest(ErrorBody),
    /// No or an invalid token.
    #[response(status = 401, description = "Unauthorized")]
    Unauthorized(ErrorBody),
    /// Not the owner, a scope missing, or provisioning disabled.
    #[response(status = 403, description = "Forbidden")]
    Forbidden(ErrorBody),
    /// No such application, key, subscription or API.
    #[response(status = 404, description = "Not Found")]
    NotFound(ErrorBody),
    /// The key manager or the store is unavailable.
    #[response(status = 503, description = "Service Unavailable: try again after Retry-After seconds",
        headers(("Retry-After" = i32, description = "Seconds to wait")))]
    Unavailable(ErrorBody),
}

/// Failures of the operations that take a body or change something.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum BodyRefusals {
    /// A rule refuses the change, named in `error[0].code`.
    #[response(
        status = 409,
        description = "Conflict: a uniqueness rule (named), an existing name, or a mapping that is not ACTIVE"
    )]
    Conflict(ErrorBody),
    /// The body is over the limit.
    #[response(status = 413, description = "Payload Too Large")]
    TooLarge(ErrorBody),
    /// The body is not JSON.
    #[response(status = 415, description = "Unsupported Media Type")]
    UnsupportedMediaType(ErrorBody),
}

/// Failures of the operations that call a key manager.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum UpstreamRefusals {
    /// The key manager answered outside its protocol or refused keyprov's credentials.
    #[response(
        status = 502,
        description = "Bad Gateway: the key manager answered outside its protocol"
    )]
    BadGateway(ErrorBody),
}
