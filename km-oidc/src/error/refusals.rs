//! What a token endpoint's refusal says about the client, server by server.
//!
//! RFC 6749 §5.2 has `unauthorized_client` for "this client may not use this grant", but servers
//! differ in the status (400, 401, 403), the code (oidc-provider says `invalid_request`) and in
//! what else they send under the same code (Keycloak's wrong secret, Entra ID's unknown or
//! disabled application). Only the status, code and description together tell a refused grant
//! from a wrong secret, so every wording we know is one row of [`TOKEN_REFUSALS`], with where
//! it was read. The wire fixtures in `tests/fixtures/grant_refusals/` hold one answer per server.

/// What a recognised refusal means for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientVerdict {
    /// The client authenticated, or may have, but may not use `client_credentials`.
    GrantNotAllowed,
    /// The client exists but is disabled.
    Disabled,
    /// The server says it does not know the client.
    NotFound,
    /// The client's credentials were refused.
    InvalidClient,
}

/// How a row reads `error_description`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Description {
    /// Any description, or none.
    Any,
    /// Exactly this text.
    Exact(&'static str),
    /// Text starting with this (the rest names the client or its grants).
    Prefix(&'static str),
    /// Text containing this.
    Contains(&'static str),
}

impl Description {
    fn matches(self, description: Option<&str>) -> bool {
        match (self, description) {
            (Description::Any, _) => true,
            (Description::Exact(text), Some(d)) => d == text,
            (Description::Prefix(text), Some(d)) => d.starts_with(text),
            (Description::Contains(text), Some(d)) => d.contains(text),
            (_, None) => false,
        }
    }
}

/// One known answer of one server's token endpoint.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct TokenRefusal {
    /// The server (and versions, when they differ).
    pub server: &'static str,
    /// HTTP statuses it answers with.
    pub statuses: &'static [u16],
    /// The OAuth2 `error` code.
    pub error: &'static str,
    /// Its `error_description`.
    pub description: Description,
    /// What it means.
    pub verdict: ClientVerdict,
    /// Where the wording was read.
    pub source: &'static str,
}

impl TokenRefusal {
    /// Whether an answer is this row.
    pub fn matches(&self, status: u16, error: Option<&str>, description: Option<&str>) -> bool {
        self.statuses.contains(&status)
            && error == Some(self.error)
            && self.description.matches(description)
    }
}

const fn row(
    server: &'static str,
    statuses: &'static [u16],
    error: &'static str,
    description: Description,
    verdict: ClientVerdict,
    source: &'static str,
) -> TokenRefusal {
    TokenRefusal {
        server,
        statuses,
        error,
        description,
        verdict,
        source,
    }
}

use ClientVerdict::{Disabled, GrantNotAllowed, InvalidClient, NotFound};
use Description::{Any, Contains, Exact, Prefix};

/// The known token endpoint refusals, first match wins: rows with a description come before
/// the catch-all rows of the same code.
pub const TOKEN_REFUSALS: &[TokenRefusal] = &[
    row(
        "oidc-provider 7 and later",
        &[400],
        "invalid_request",
        Exact("requested grant type is not allowed for this client"),
        GrantNotAllowed,
        "oidc-provider lib/actions/token.js, allowedGrantTypeCheck (9.13.3)",
    ),
    row(
        "oidc-provider 6 and older",
        &[400],
        "unauthorized_client",
        Exact("requested grant type is restricted to this client"),
        GrantNotAllowed,
        "panva/openid-client#106 (an answer quoted from the server)",
    ),
    row(
        "Ory Hydra (fosite)",
        &[400, 401],
        "unauthorized_client",
        Contains("is not allowed to use authorization grant"),
        GrantNotAllowed,
        "ory/fosite handler/oauth2/flow_client_credentials.go and errors.go \
         (old fosite versions answer 401, current ones 400)",
    ),
    row(
        "Keycloak",
        &[401],
        "unauthorized_client",
        Exact("Client not enabled to retrieve service account"),
        GrantNotAllowed,
        "keycloak services/.../grants/ClientCredentialsGrantType.java",
    ),
    row(
        "Keycloak",
        &[401],
        "unauthorized_client",
        Contains("not allowed to retrieve service account"),
        GrantNotAllowed,
        "keycloak ClientCredentialsGrantType.java (public and bearer-only clients)",
    ),
    row(
        "Keycloak",
        &[400],
        "invalid_client",
        Exact("Bearer-only not allowed"),
        GrantNotAllowed,
        "keycloak TokenEndpoint.checkClient (as km-keycloak's emulator reproduces it)",
    ),
    row(
        "Keycloak",
        &[400],
        "unauthorized_client",
        Exact("Invalid client credentials"),
        InvalidClient,
        "keycloak AuthenticationProcessor (an unknown or disabled client; it does not say which)",
    ),
    row(
        "WSO2 Identity Server",
        &[400],
        "unauthorized_client",
        Exact("The authenticated client is not authorized to use this authorization grant type"),
        GrantNotAllowed,
        "wso2-extensions/identity-inbound-auth-oauth AccessTokenIssuer.java",
    ),
    row(
        "WSO2 Identity Server 5.11, 6.x",
        &[400, 401],
        "invalid_client",
        Prefix("Oauth application is not in active state"),
        Disabled,
        "wso2/product-is#5531 quotes it; not checked against a running server",
    ),
    row(
        "WSO2 Identity Server 7.x",
        &[400, 401],
        "invalid_client",
        Exact("Application is disabled and access is restricted."),
        Disabled,
        "identity-inbound-auth-oauth AccessTokenIssuer.java",
    ),
    row(
        "WSO2 Identity Server 5.11",
        &[401],
        "invalid_client",
        Prefix("A valid OAuth client could not be found"),
        NotFound,
        "wso2/product-is#22336",
    ),
    row(
        "Okta",
        &[400],
        "unauthorized_client",
        Prefix("The client is not authorized to use the provided grant type."),
        GrantNotAllowed,
        "Okta developer documentation; answers quoted in public troubleshooting notes",
    ),
    row(
        "Auth0",
        &[403],
        "unauthorized_client",
        Prefix("Grant type 'client_credentials' not allowed for the client"),
        GrantNotAllowed,
        "auth0/ruby-auth0#190 (body), auth0/auth0-java#165 (status 403)",
    ),
    row(
        "Microsoft Entra ID",
        &[400],
        "unauthorized_client",
        Prefix("AADSTS700016:"),
        NotFound,
        "Azure/azure-sdk-for-python#8314, vippsas/vipps-ecom-api#183",
    ),
    row(
        "Microsoft Entra ID",
        &[400],
        "unauthorized_client",
        Prefix("AADSTS7000112:"),
        Disabled,
        "Worklytics/psoxy#74",
    ),
    // RFC 6749 §5.2, and servers that send no description (Spring Authorization Server).
    row(
        "RFC 6749 (Spring Authorization Server)",
        &[400],
        "unauthorized_client",
        Any,
        GrantNotAllowed,
        "spring-authorization-server OAuth2ClientCredentialsAuthenticationProvider.java",
    ),
    row(
        "RFC 6749",
        &[400],
        "unsupported_grant_type",
        Any,
        GrantNotAllowed,
        "RFC 6749 §5.2: the server does not offer the grant at all",
    ),
];

/// The first row an answer matches.
pub fn recognise(
    status: u16,
    error: Option<&str>,
    description: Option<&str>,
) -> Option<&'static TokenRefusal> {
    TOKEN_REFUSALS
        .iter()
        .find(|r| r.matches(status, error, description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_rows_come_before_the_catch_all_of_their_code() {
        for (index, row) in TOKEN_REFUSALS.iter().enumerate() {
            if row.description != Any {
                continue;
            }
            for later in &TOKEN_REFUSALS[index + 1..] {
                let shadowed = later.error == row.error
                    && later.statuses.iter().any(|s| row.statuses.contains(s));
                assert!(!shadowed, "{} shadows {}", row.server, later.server);
            }
        }
    }

    #[test]
    fn entra_id_tells_unknown_and_disabled_apart_from_a_refused_grant() {
        let unknown = "AADSTS700016: Application with identifier 'x' was not found";
        let row = recognise(400, Some("unauthorized_client"), Some(unknown)).unwrap();
        assert_eq!(row.verdict, NotFound);
        let disabled = "AADSTS7000112: Application 'x'(y) is disabled.";
        let row = recognise(400, Some("unauthorized_client"), Some(disabled)).unwrap();
        assert_eq!(row.verdict, Disabled);
        let other = recognise(400, Some("unauthorized_client"), None).unwrap();
        assert_eq!(other.verdict, GrantNotAllowed);
    }

    #[test]
    fn a_description_is_not_enough_without_its_code_and_status() {
        let text = Some("requested grant type is not allowed for this client");
        assert!(recognise(400, Some("invalid_request"), text).is_some());
        assert!(recognise(400, Some("invalid_request"), Some("missing grant_type")).is_none());
        assert!(recognise(401, Some("invalid_request"), text).is_none());
        assert!(recognise(403, Some("unauthorized_client"), None).is_none());
    }
}
