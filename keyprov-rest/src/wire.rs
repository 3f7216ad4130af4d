//! The JSON objects, with WSO2's names and types. Requests are read field by field (see
//! `body.rs`); these types describe them in the OpenAPI document and write the responses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What every application reports for the settings keyprov does not have (throttling tiers).
pub(crate) const UNLIMITED: &str = "Unlimited";

/// WSO2's `Application`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Identifier (read-only).
    #[schema(
        nullable = false,
        read_only,
        example = "01234567-0123-0123-0123-012345678901"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// Name, unique per owner.
    #[schema(min_length = 1, max_length = 70, example = "CalculatorApp")]
    pub name: String,
    /// Accepted and reported as `Unlimited`: keyprov does not throttle.
    #[schema(min_length = 1, example = "Unlimited")]
    pub throttling_policy: String,
    /// Accepted, not stored.
    #[schema(nullable = false, max_length = 512)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Always `JWT`.
    #[schema(nullable = false, example = "JWT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<TokenType>,
    /// Always `APPROVED` (read-only).
    #[schema(nullable = false, read_only, example = "APPROVED")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// Number of subscriptions (read-only).
    #[schema(nullable = false, read_only)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_count: Option<i32>,
    /// The application's keys (read-only).
    #[schema(nullable = false, read_only)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<ApplicationKey>>,
    /// Accepted, not stored.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_scopes: Option<Vec<ScopeInfo>>,
    /// The user who owns it (read-only).
    #[schema(nullable = false, read_only, example = "admin")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Always `false` (read-only).
    #[schema(nullable = false, read_only)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_enabled: Option<bool>,
}

/// WSO2's application token types.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
pub enum TokenType {
    /// Opaque tokens.
    #[serde(rename = "OAUTH")]
    Oauth,
    /// JWTs.
    #[serde(rename = "JWT")]
    Jwt,
}

/// WSO2's `ScopeInfo`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeInfo {
    /// Key.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Name.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Roles.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Description.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// WSO2's `ApplicationInfo`: an application in a list.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationInfo {
    /// Identifier.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// Name.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Always `Unlimited`.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttling_policy: Option<String>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Always `APPROVED`.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// Number of subscriptions.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_count: Option<i32>,
    /// Always empty.
    #[schema(nullable = false, value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// The owner.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// WSO2's `Pagination`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Pagination {
    /// Offset asked for.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i32>,
    /// Limit asked for.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Number of items in all.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i32>,
    /// Query of the next page; empty on the last.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Query of the previous page; empty on the first.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// WSO2's `ApplicationList`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApplicationList {
    /// Number returned.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// The applications.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<Vec<ApplicationInfo>>,
    /// Where this page is.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
}

/// WSO2's subscription states.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionStatus {
    /// Blocked.
    Blocked,
    /// Production calls blocked.
    ProdOnlyBlocked,
    /// Unblocked.
    Unblocked,
    /// Awaiting approval.
    OnHold,
    /// Rejected.
    Rejected,
    /// A tier change awaits approval (never reported by keyprov).
    TierUpdatePending,
}

impl From<keyprov::SubscriptionState> for SubscriptionStatus {
    fn from(state: keyprov::SubscriptionState) -> Self {
        use keyprov::SubscriptionState as S;
        match state {
            S::Unblocked => Self::Unblocked,
            S::Blocked => Self::Blocked,
            S::ProdOnlyBlocked => Self::ProdOnlyBlocked,
            S::OnHold => Self::OnHold,
            S::Rejected => Self::Rejected,
        }
    }
}

/// WSO2's `Subscription`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Identifier (read-only).
    #[schema(nullable = false, read_only)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The application.
    pub application_id: String,
    /// The API (required by keyprov).
    pub api_id: String,
    /// Accepted and reported as `Unlimited`.
    pub throttling_policy: String,
    /// Reported as `Unlimited`.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_throttling_policy: Option<String>,
    /// The state.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SubscriptionStatus>,
    /// Always empty (read-only).
    #[schema(nullable = false, read_only)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirection_params: Option<String>,
}

/// WSO2's `SubscriptionList`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionList {
    /// Number returned.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// The subscriptions.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<Vec<Subscription>>,
    /// Where this page is.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
}

/// WSO2's key types.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyType {
    /// Production.
    Production,
    /// Sandbox.
    Sandbox,
}

impl From<keyprov::KeyType> for KeyType {
    fn from(kt: keyprov::KeyType) -> Self {
        match kt {
            keyprov::KeyType::Production => Self::Production,
            keyprov::KeyType::Sandbox => Self::Sandbox,
        }
    }
}

/// How a key came to be (WSO2 API Manager 4.x's `mode`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyMode {
    /// An out-of-band client mapped into the application.
    Mapped,
    /// A client the portal created.
    Created,
}

/// WSO2's `ApplicationKey`. The consumer secret is never returned: keyprov does not store it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationKey {
    /// The mapping's identifier (read-only).
    #[schema(nullable = false, read_only)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_mapping_id: Option<String>,
    /// The key manager's name.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_manager: Option<String>,
    /// The client id (read-only).
    #[schema(nullable = false, read_only)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_key: Option<String>,
    /// Grant types the client may use, as its key manager said.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported_grant_types: Option<Vec<String>>,
    /// The client's first redirect URI, as its key manager said.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// The mapping's state: `ACTIVE`, `SUSPENDED` or `ORPHANED`.
    #[schema(nullable = false, example = "ACTIVE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_state: Option<String>,
    /// Production or sandbox.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<KeyType>,
    /// `MAPPED` for an out-of-band client.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<KeyMode>,
    /// The token obtained while proving the secret (map-keys only).
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<ApplicationToken>,
    /// What the key manager reported about the client (strings only).
    #[schema(nullable = false, value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_properties: Option<serde_json::Map<String, serde_json::Value>>,
}

/// WSO2's `ApplicationKeyList`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApplicationKeyList {
    /// Number returned.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// The keys.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<Vec<ApplicationKey>>,
}

/// WSO2's `ApplicationKeyMappingRequest`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationKeyMappingRequest {
    /// The client id.
    #[schema(example = "oYhwZu4P2ThDmiDprBk6c0YfjR8a")]
    pub consumer_key: String,
    /// The client secret, proven at the key manager and never stored.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_secret: Option<String>,
    /// Key manager name or id; `Resident Key Manager` when absent, as in WSO2.
    #[schema(nullable = false, example = "Resident Key Manager")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_manager: Option<String>,
    /// Production or sandbox.
    pub key_type: KeyType,
}

/// WSO2's `ApplicationToken`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationToken {
    /// The access token.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Granted scopes.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_scopes: Option<Vec<String>>,
    /// Seconds until it expires.
    #[schema(nullable = false, format = Int64)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_time: Option<i64>,
}

impl std::fmt::Debug for ApplicationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplicationToken")
            .field("access_token", &"[redacted]")
            .field("token_scopes", &self.token_scopes)
            .field("validity_time", &self.validity_time)
            .finish()
    }
}

impl From<keyprov::AccessToken> for ApplicationToken {
    fn from(token: keyprov::AccessToken) -> Self {
        Self {
            access_token: Some(token.secret().to_owned()),
            token_scopes: Some(token.scopes.clone()),
            validity_time: token.expires_in.and_then(|s| i64::try_from(s).ok()),
        }
    }
}

/// WSO2's `ApplicationTokenGenerateRequest`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationTokenGenerateRequest {
    /// The mapped client's secret (required by keyprov; never stored).
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_secret: Option<String>,
    /// Accepted, not used: the key manager decides the lifetime.
    #[schema(nullable = false, format = Int64)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_period: Option<i64>,
    /// Scopes to ask for.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Accepted, not used.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_token: Option<String>,
    /// Accepted, not used.
    #[schema(nullable = false, value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_properties: Option<serde_json::Map<String, serde_json::Value>>,
}

/// WSO2's `KeyManagerInfo`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyManagerInfo {
    /// Identifier.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name, as map-keys takes it.
    pub name: String,
    /// Always `default`.
    #[serde(rename = "type")]
    pub r#type: String,
    /// The name again.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it is enabled.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_grant_types: Option<Vec<String>>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_endpoint: Option<String>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_info_endpoint: Option<String>,
    /// Whether tokens may be generated for its mapped clients.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_token_generation: Option<bool>,
    /// Always `false`.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_token_encryption: Option<bool>,
    /// Always `false`.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_token_hashing: Option<bool>,
    /// Always `false`: keyprov does not create clients.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_o_auth_app_creation: Option<bool>,
    /// Whether the portal offers "Provide Existing OAuth Keys": the provisioning policy's gate
    /// for this key manager (its own flag, or the deployment-wide fallback).
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_map_o_auth_consumer_apps: Option<bool>,
    /// Always empty.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_configuration: Option<Vec<KeyManagerApplicationConfiguration>>,
    /// `outOfBandProvisioning` (the key manager's own flag) and, when the gate is shut,
    /// `provisioningRefused` (why).
    #[schema(nullable = false, value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_properties: Option<serde_json::Map<String, serde_json::Value>>,
}

/// WSO2's `KeyManagerApplicationConfiguration`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyManagerApplicationConfiguration {
    /// Name.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Label.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Input type.
    #[serde(rename = "type")]
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Required.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Masked.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<bool>,
    /// Multiple values.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiple: Option<bool>,
    /// Tooltip.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tooltip: Option<String>,
    /// Default.
    #[schema(nullable = false, value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// Values.
    #[schema(nullable = false, value_type = Vec<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<serde_json::Value>>,
}

/// WSO2's `KeyManagerList`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyManagerList {
    /// Number returned.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// The key managers.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<Vec<KeyManagerInfo>>,
}
