//! The emulator's Keycloak clients: flags kept in the engine's `ClientRecord::metadata`, the
//! specs tests create them from, and their wire representations.

use std::collections::BTreeMap;
use std::fmt;

use km_oidc::emulator::{ClientRecord, ClientSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where the flags live in [`ClientRecord::metadata`].
pub(crate) const FLAGS: &str = "keycloak";

/// What Keycloak shows instead of a secret to holders of only `view-clients` (26.8+).
pub const MASKED_SECRET: &str = "**********";

/// A Keycloak version; decides the emulator's defaults where Keycloak changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeycloakVersion {
    /// Major.
    pub major: u16,
    /// Minor.
    pub minor: u16,
}

impl KeycloakVersion {
    /// A version.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// From 20, wrong client credentials answer 401 `unauthorized_client` (before:
    /// `invalid_client`).
    pub fn says_unauthorized_client(self) -> bool {
        self.major >= 20
    }

    /// From 25, service-account tokens carry `client_id` (before: `clientId`).
    pub fn has_client_id_claim(self) -> bool {
        self.major >= 25
    }

    /// From 26.8, secrets are masked for holders of only `view-clients`.
    pub fn masks_secrets(self) -> bool {
        self >= KeycloakVersion::new(26, 8)
    }
}

impl Default for KeycloakVersion {
    fn default() -> Self {
        KeycloakVersion::new(26, 8)
    }
}

/// Shape of the admin API's error bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AdminErrorStyle {
    /// `{"error": ..., "error_description": ...}` (current versions).
    #[default]
    OAuth,
    /// `{"errorMessage": ...}` (older versions, and many admin validation errors).
    ErrorMessage,
}

/// A client's Keycloak fields, as the emulator keeps them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ClientFlags {
    /// Internal id (UUID) used by the admin API.
    pub id: String,
    /// The realm the client belongs to.
    pub realm: String,
    /// Public: no secret.
    pub public_client: bool,
    /// Bearer-only: may not obtain tokens.
    pub bearer_only: bool,
    /// Service accounts (`client_credentials`).
    pub service_accounts_enabled: bool,
    /// Authorization code flow.
    pub standard_flow_enabled: bool,
    /// Resource owner password grant.
    pub direct_access_grants_enabled: bool,
    /// The service-account user's id (`sub` of its tokens).
    pub service_account_user_id: String,
    /// `realm-management` roles of its service account, by the realm they apply to (a
    /// `master` account's roles on another realm are its `{realm}-realm` client roles).
    pub admin_roles: BTreeMap<String, Vec<String>>,
    /// Client attributes (`access.token.lifespan`, `client.secret.expiration.time`, ...).
    pub attributes: BTreeMap<String, String>,
}

impl ClientFlags {
    pub(crate) fn of(record: &ClientRecord) -> Option<ClientFlags> {
        serde_json::from_value(record.metadata.get(FLAGS)?.clone()).ok()
    }

    pub(crate) fn store(&self, record: &mut ClientRecord) {
        record.grant_types = self.grant_types();
        record.token_endpoint_auth_method = if self.public_client {
            "none".into()
        } else {
            "client_secret_basic".into()
        };
        record.metadata.insert(
            FLAGS.into(),
            serde_json::to_value(self).expect("flags serialize"),
        );
    }

    /// The grant types the flags allow, as the registration API lists them.
    pub fn grant_types(&self) -> Vec<String> {
        let mut grants = Vec::new();
        if self.standard_flow_enabled {
            grants.push("authorization_code");
        }
        if self.direct_access_grants_enabled {
            grants.push("password");
        }
        if self.service_accounts_enabled && !self.public_client {
            grants.push("client_credentials");
        }
        if !grants.is_empty() {
            grants.push("refresh_token");
        }
        grants.into_iter().map(str::to_owned).collect()
    }

    /// Whether its service account may read clients of `realm`.
    pub fn may_view_clients(&self, realm: &str) -> bool {
        self.has_role(realm, &["view-clients", "manage-clients", "realm-admin"])
    }

    /// Whether its service account sees secrets of `realm` in clear.
    pub fn may_manage_clients(&self, realm: &str) -> bool {
        self.has_role(realm, &["manage-clients", "realm-admin"])
    }

    fn has_role(&self, realm: &str, any: &[&str]) -> bool {
        self.admin_roles
            .get(realm)
            .is_some_and(|roles| roles.iter().any(|r| any.contains(&r.as_str())))
    }
}

/// A client to create; the constructors say what kind.
#[derive(Clone)]
pub struct KeycloakClient {
    pub(crate) client_id: String,
    pub(crate) secret: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) realm: Option<String>,
    pub(crate) enabled: bool,
    pub(crate) public_client: bool,
    pub(crate) bearer_only: bool,
    pub(crate) service_accounts: bool,
    pub(crate) standard_flow: bool,
    pub(crate) admin_roles: BTreeMap<String, Vec<String>>,
    pub(crate) attributes: BTreeMap<String, String>,
}

impl fmt::Debug for KeycloakClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakClient")
            .field("client_id", &self.client_id)
            .field("realm", &self.realm)
            .field("public_client", &self.public_client)
            .field("bearer_only", &self.bearer_only)
            .field("service_accounts", &self.service_accounts)
            .finish_non_exhaustive()
    }
}

impl KeycloakClient {
    /// A confidential client with service accounts enabled (what a machine-to-machine client
    /// provisioned into an API application looks like).
    pub fn confidential(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            secret: None,
            name: None,
            realm: None,
            enabled: true,
            public_client: false,
            bearer_only: false,
            service_accounts: true,
            standard_flow: false,
            admin_roles: BTreeMap::new(),
            attributes: BTreeMap::new(),
        }
    }

    /// A public client (a browser app): standard flow, no secret, no service account.
    pub fn public(client_id: impl Into<String>) -> Self {
        Self {
            public_client: true,
            service_accounts: false,
            standard_flow: true,
            ..Self::confidential(client_id)
        }
    }

    /// A bearer-only client (a resource server of old): may not obtain tokens.
    pub fn bearer_only(client_id: impl Into<String>) -> Self {
        Self {
            bearer_only: true,
            service_accounts: false,
            ..Self::confidential(client_id)
        }
    }

    /// Fixes the secret (default: random).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Puts the client in another realm than the emulator's default one.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Enables or disables it.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Switches service accounts (`client_credentials`).
    pub fn service_accounts(mut self, on: bool) -> Self {
        self.service_accounts = on;
        self
    }

    /// Switches the authorization code flow.
    pub fn standard_flow(mut self, on: bool) -> Self {
        self.standard_flow = on;
        self
    }

    /// Grants its service account `realm-management` roles on `realm` (`view-clients`,
    /// `manage-clients`, `realm-admin`, `query-clients`).
    pub fn admin_roles<I, S>(mut self, realm: impl Into<String>, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.admin_roles
            .insert(realm.into(), roles.into_iter().map(Into::into).collect());
        self
    }

    /// Sets a client attribute (`access.token.lifespan`, ...).
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    pub(crate) fn into_spec(self, default_realm: &str) -> (ClientSpec, ClientFlags) {
        let flags = ClientFlags {
            id: uuid::Uuid::new_v4().to_string(),
            realm: self.realm.unwrap_or_else(|| default_realm.to_owned()),
            public_client: self.public_client,
            bearer_only: self.bearer_only,
            service_accounts_enabled: self.service_accounts,
            standard_flow_enabled: self.standard_flow,
            direct_access_grants_enabled: false,
            service_account_user_id: uuid::Uuid::new_v4().to_string(),
            admin_roles: self.admin_roles,
            attributes: self.attributes,
        };
        let mut spec = ClientSpec::new()
            .client_id(self.client_id)
            .enabled(self.enabled)
            .grant_types(flags.grant_types());
        if let Some(secret) = self.secret {
            spec = spec.secret(secret);
        }
        if let Some(name) = self.name {
            spec = spec.name(name);
        }
        (spec, flags)
    }
}

/// A client just created: what a test hands to the adapter.
#[derive(Clone)]
#[non_exhaustive]
pub struct Credentials {
    /// The client id.
    pub client_id: String,
    /// The secret (empty for public clients).
    pub secret: String,
    /// The internal id (UUID).
    pub id: String,
    /// The realm.
    pub realm: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("secret", &"[redacted]")
            .field("id", &self.id)
            .field("realm", &self.realm)
            .finish()
    }
}

/// The admin API's `ClientRepresentation`.
pub(crate) fn client_representation(c: &ClientRecord, f: &ClientFlags, masked: bool) -> Value {
    let mut rep = json!({
        "id": f.id,
        "clientId": c.client_id,
        "name": c.client_name.clone().unwrap_or_default(),
        "surrogateAuthRequired": false,
        "enabled": c.enabled,
        "alwaysDisplayInConsole": false,
        "clientAuthenticatorType": "client-secret",
        "redirectUris": c.redirect_uris,
        "webOrigins": [],
        "notBefore": 0,
        "bearerOnly": f.bearer_only,
        "consentRequired": false,
        "standardFlowEnabled": f.standard_flow_enabled,
        "implicitFlowEnabled": false,
        "directAccessGrantsEnabled": f.direct_access_grants_enabled,
        "serviceAccountsEnabled": f.service_accounts_enabled,
        "publicClient": f.public_client,
        "frontchannelLogout": true,
        "protocol": "openid-connect",
        "attributes": f.attributes,
        "fullScopeAllowed": true,
        "defaultClientScopes": ["web-origins", "acr", "profile", "roles", "basic", "email"],
        "optionalClientScopes": ["address", "phone", "offline_access", "microprofile-jwt"],
        "access": {"view": true, "configure": !masked, "manage": !masked},
    });
    if !f.public_client {
        rep["secret"] = secret_value(&c.client_secret, masked).into();
    }
    rep
}

pub(crate) fn secret_value(secret: &str, masked: bool) -> String {
    if masked {
        MASKED_SECRET.to_owned()
    } else {
        secret.to_owned()
    }
}

/// The OIDC client registration API's representation.
pub(crate) fn oidc_representation(
    c: &ClientRecord,
    f: &ClientFlags,
    masked: bool,
    registration_client_uri: String,
) -> Value {
    let mut rep = json!({
        "client_id": c.client_id,
        "client_name": c.client_name,
        "redirect_uris": c.redirect_uris,
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "grant_types": f.grant_types(),
        "response_types": if f.standard_flow_enabled { json!(["code"]) } else { json!(["none"]) },
        "scope": "web-origins acr profile roles basic email",
        "subject_type": "public",
        "client_id_issued_at": c.issued_at,
        "client_secret_expires_at": 0,
        "registration_client_uri": registration_client_uri,
        "registration_access_token": c.registration_access_token,
        "tls_client_certificate_bound_access_tokens": false,
    });
    if !f.public_client {
        rep["client_secret"] = secret_value(&c.client_secret, masked).into();
    }
    rep
}
