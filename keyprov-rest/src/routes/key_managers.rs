//! `GET /key-managers`.

use axum::Json;
use axum::extract::{Request, State};
use keyprov::policy::{Gate, PolicyRequest};
use keyprov::{Application, ApplicationId, ConsumerKey, KeyType};

use super::{READ, clamp};
use crate::DevPortal;
use crate::auth::user_of;
use crate::error::RestError;
use crate::openapi::Refusals;
use crate::wire;

/// The key managers of the router's organization and the global ones, with whether the portal
/// should offer "Provide Existing OAuth Keys" for each.
///
/// `enableMapOAuthConsumerApps` is the provisioning policy's answer for an application of the
/// caller in the router's organization: the key manager's own flag, or the deployment-wide
/// fallback, as map-keys would decide. `additionalProperties.outOfBandProvisioning` is the key
/// manager's own flag, and `additionalProperties.provisioningRefused` says why the gate is shut.
#[utoipa::path(
    get,
    operation_id = "listKeyManagers",
    path = "/key-managers",
    tag = "Key Managers (Collection)",
    responses(
        (status = 200, description = "Key managers returned", body = wire::KeyManagerList),
        Refusals,
    ),
    security(("OAuth2Security" = ["apim:subscribe"]))
)]
pub(crate) async fn list(
    State(portal): State<DevPortal>,
    request: Request,
) -> Result<Json<wire::KeyManagerList>, RestError> {
    let (parts, _) = request.into_parts();
    let actor = portal.actor(&parts, READ).await?;
    let organization = &portal.settings.organization;
    // The policy is pure: ask it about an application the caller would own here. Its id, name
    // and client id are placeholders that the built-in policy does not look at.
    let probe = Application {
        id: ApplicationId::from(uuid::Uuid::nil()),
        name: "probe".to_owned(),
        owner: user_of(&actor)?.clone(),
        organization: organization.clone(),
        created_at: chrono::Utc::now(),
    };
    let client = ConsumerKey::new("probe")?;
    let policy = portal.provisioner.policy();
    let list: Vec<_> = portal
        .provisioner
        .key_managers()
        .iter()
        .filter(|km| {
            km.config
                .organization
                .as_ref()
                .is_none_or(|o| o == organization)
        })
        .map(|km| {
            let config = &km.config;
            let request = PolicyRequest::new(&actor, &probe, config, KeyType::Production, &client);
            let gate = policy.gate(&request);
            let mut additional = serde_json::Map::new();
            additional.insert(
                "outOfBandProvisioning".into(),
                config.enable_map_oauth_consumer_apps.into(),
            );
            if let Gate::Refused(_) = gate {
                additional.insert("provisioningRefused".into(), gate.to_string().into());
            }
            wire::KeyManagerInfo {
                id: Some(config.id.to_string()),
                name: config.name.to_string(),
                r#type: "default".to_owned(),
                display_name: Some(config.name.to_string()),
                description: Some(String::new()),
                enabled: Some(config.enabled),
                available_grant_types: Some(vec!["client_credentials".to_owned()]),
                token_endpoint: Some(String::new()),
                revoke_endpoint: Some(String::new()),
                user_info_endpoint: Some(String::new()),
                enable_token_generation: Some(config.enable_token_generation),
                enable_token_encryption: Some(false),
                enable_token_hashing: Some(false),
                enable_o_auth_app_creation: Some(false),
                enable_map_o_auth_consumer_apps: Some(gate.is_granted()),
                application_configuration: Some(Vec::new()),
                additional_properties: Some(additional),
            }
        })
        .collect();
    Ok(Json(wire::KeyManagerList {
        count: Some(clamp(list.len())),
        list: Some(list),
    }))
}
