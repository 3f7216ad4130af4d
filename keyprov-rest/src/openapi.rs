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
