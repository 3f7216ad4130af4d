//! The adapter's own error, how HTTP answers are classified into it, and its ONE mapping into
//! the core [`keyprov::Error`] ([`OidcError::into_core`]).
//!
//! Vendor adapters reuse [`classify`] for their own endpoints and override it where their server
//! bends the standard (WSO2's 401-with-empty-body for an unknown client, for instance), then map
//! through [`OidcError::into_core`] like this crate does.

use std::fmt;

mod refusals;

pub use refusals::{ClientVerdict, Description, TOKEN_REFUSALS, TokenRefusal, recognise};

use keyprov::error::{BoxError, UnusableReason};
use keyprov::{Error, KeyManagerId};
use serde::Deserialize;

/// What an endpoint is for; decides how its refusals are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointKind {
    /// RFC 8414 / OpenID Connect discovery.
    Discovery,
    /// RFC 7517 key set.
    Jwks,
    /// RFC 6749 token endpoint; refusals speak about the *client's* credentials.
    Token,
    /// RFC 7662 introspection; refusals speak about the adapter's introspection credentials.
    Introspection,
    /// RFC 7592 client configuration endpoint, authorized by the client's registration access
    /// token. RFC 7592 §2.1 answers 401 both for an unknown client and for a wrong token, so a
    /// 401 proves nothing (inconclusive); a 404, which some servers send, means not found.
    RegistrationManagement,
    /// RFC 7591 registration, or a vendor admin API authorized by the adapter's admin
    /// credentials: 401/403 mean those credentials were refused, 404 means not found.
    Admin,
}

impl fmt::Display for EndpointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndpointKind::Discovery => "discovery",
            EndpointKind::Jwks => "jwks",
            EndpointKind::Token => "token",
            EndpointKind::Introspection => "introspection",
            EndpointKind::RegistrationManagement => "client configuration",
            EndpointKind::Admin => "admin",
        })
    }
}

/// Everything that can go wrong talking to an authorization server.
///
/// `endpoint` is always `"<kind> <path>"`, e.g. `token /oauth2/token`, never a full URL with a
/// query (which could carry a secret).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The client's own credentials were refused (`invalid_client`).
    #[error("{endpoint} refused the client's credentials")]
    InvalidClient {
        /// The endpoint.
        endpoint: String,
    },
    /// The client exists but may not use the grant: a row of [`TOKEN_REFUSALS`] says so.
    #[error("{endpoint} refused the grant for this client")]
    GrantNotAllowed {
        /// The endpoint.
        endpoint: String,
    },
    /// The client exists but is disabled: a row of [`TOKEN_REFUSALS`] says so.
    #[error("{endpoint}: the client is disabled")]
    ClientDisabled {
        /// The endpoint.
        endpoint: String,
    },
    /// The adapter's admin, registration or introspection credentials were refused.
    #[error("{endpoint} refused the configured credentials (http {status})")]
    AdminRejected {
        /// The endpoint.
        endpoint: String,
        /// The HTTP status.
        status: u16,
    },
    /// The client does not exist.
    #[error("{endpoint}: client not found")]
    NotFound {
        /// The endpoint.
        endpoint: String,
    },
    /// The answer cannot tell an unknown client from wrong credentials (RFC 7592's 401).
    #[error("{endpoint}: client unknown or registration access token refused (http 401)")]
    Inconclusive {
        /// The endpoint.
        endpoint: String,
    },
    /// Timeout, connection failure, dropped connection, 429 or 5xx (retryable).
    #[error("{endpoint}: {detail}")]
    Unavailable {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        detail: String,
        /// The transport error.
        #[source]
        source: Option<BoxError>,
    },
    /// The answer does not follow the protocol (malformed JSON, HTML page, unexpected status).
    #[error("{endpoint}: {detail}")]
    Protocol {
        /// The endpoint.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
    /// The server refused the request with an OAuth2 error not covered above.
    #[error("{endpoint} refused the request: {error}")]
    Refused {
        /// The endpoint.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The OAuth2 `error` code.
        error: String,
        /// Its `error_description`.
        description: Option<String>,
    },
    /// The operation needs something the configuration does not provide.
    #[error("{operation} is not configured")]
    NotSupported {
        /// The operation.
        operation: &'static str,
    },
    /// The configuration is invalid.
    #[error("invalid configuration at {key}: {problem}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl OidcError {
    /// A protocol error.
    pub fn protocol(endpoint: impl fmt::Display, detail: impl Into<String>) -> Self {
        OidcError::Protocol {
            endpoint: endpoint.to_string(),
            detail: detail.into(),
        }
    }

    /// A configuration error.
    pub fn config(key: impl Into<String>, problem: impl Into<String>) -> Self {
        OidcError::Config {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// Whether a retry of an idempotent request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, OidcError::Unavailable { .. })
    }

    /// The one mapping into the core error, tagged with the key manager's id.
    pub fn into_core(self, key_manager: &KeyManagerId) -> Error {
        let key_manager = key_manager.clone();
        match self {
            OidcError::InvalidClient { .. } => Error::SecretNotProven { key_manager },
            OidcError::GrantNotAllowed { .. } => Error::ClientNotUsable {
                key_manager,
                reason: UnusableReason::NoClientCredentials,
            },
            OidcError::ClientDisabled { .. } => Error::ClientNotUsable {
                key_manager,
                reason: UnusableReason::Disabled,
            },
            OidcError::AdminRejected { .. } => Error::KeyManagerCredentialsRejected { key_manager },
            OidcError::NotFound { .. } => Error::ClientNotFound { key_manager },
            OidcError::Inconclusive { .. } => Error::ClientLookupInconclusive { key_manager },
            OidcError::Unavailable {
                endpoint,
                detail,
                source,
            } => Error::KeyManagerUnavailable {
                key_manager,
                detail: format!("{endpoint}: {detail}"),
                source,
            },
            OidcError::Protocol { endpoint, detail } => Error::KeyManagerProtocol {
                key_manager,
                endpoint,
                detail,
            },
            OidcError::Refused {
                error, description, ..
            } if error == "invalid_scope" || error == "invalid_target" => Error::invalid(
                "scopes",
                description.unwrap_or_else(|| format!("refused by the key manager: {error}")),
            ),
            OidcError::Refused {
                endpoint,
                status,
                error,
                description,
            } => Error::KeyManagerProtocol {
                key_manager,
                endpoint,
                detail: match description {
                    Some(d) => format!("http {status} {error}: {d}"),
                    None => format!("http {status} {error}"),
                },
            },
            OidcError::NotSupported { operation } => Error::NotSupported {
                key_manager,
                operation,
            },
            OidcError::Config { key, problem } => Error::config(key, problem),
        }
    }
}

/// An error body in any of the shapes servers use: RFC 6749 `{error, error_description}`, or
/// Keycloak's admin `{errorMessage}`. Every member is optional.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// OAuth2 error code.
    #[serde(default)]
    pub error: Option<String>,
    /// Its description.
    #[serde(default)]
    pub error_description: Option<String>,
    /// Keycloak admin API message.
    #[serde(default, rename = "errorMessage")]
    pub error_message: Option<String>,
}

impl ErrorBody {
    /// Parses a body leniently: anything that is not a JSON object gives `None`.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .filter(|b| b.error.is_some() || b.error_message.is_some())
    }
}

/// Classifies a non-2xx answer (behaviour of the standards; vendors override where needed).
pub fn classify(kind: EndpointKind, endpoint: &str, status: u16, body: &[u8]) -> OidcError {
    let endpoint = endpoint.to_owned();
    if status == 429 || (500..=599).contains(&status) {
        return OidcError::Unavailable {
            detail: format!("http {status}"),
            endpoint,
            source: None,
        };
    }
    let parsed = ErrorBody::parse(body);
    let code = parsed.as_ref().and_then(|b| b.error.as_deref());
    let description = parsed.as_ref().and_then(|b| b.error_description.as_deref());
    if kind == EndpointKind::Token
        && let Some(row) = recognise(status, code, description)
    {
        return match row.verdict {
            ClientVerdict::GrantNotAllowed => OidcError::GrantNotAllowed { endpoint },
            ClientVerdict::Disabled => OidcError::ClientDisabled { endpoint },
            ClientVerdict::NotFound => OidcError::NotFound { endpoint },
            ClientVerdict::InvalidClient => OidcError::InvalidClient { endpoint },
        };
    }
    match (kind, status, code) {
        (EndpointKind::Token, 400 | 401, Some("invalid_client")) => {
            return OidcError::InvalidClient { endpoint };
        }
        // Keycloak >= 20 answers wrong credentials with 401 unauthorized_client.
        (EndpointKind::Token, 401, _) => return OidcError::InvalidClient { endpoint },
        (EndpointKind::RegistrationManagement, 401, _) => {
            return OidcError::Inconclusive { endpoint };
        }
        (EndpointKind::RegistrationManagement, 404, _) => {
            return OidcError::NotFound { endpoint };
        }
        (EndpointKind::RegistrationManagement | EndpointKind::Introspection, 403, _)
        | (EndpointKind::Admin | EndpointKind::Introspection, 401 | 403, _) => {
            return OidcError::AdminRejected { endpoint, status };
        }
        (EndpointKind::Admin, 404, _) => return OidcError::NotFound { endpoint },
        _ => {}
    }
    match parsed {
        Some(body) => OidcError::Refused {
            endpoint,
            status,
            error: body
                .error
                .or(body.error_message.clone())
                .unwrap_or_default(),
            description: body.error_description.or(body.error_message),
        },
        None => OidcError::Protocol {
            endpoint,
            detail: format!("unexpected http {status} {}", describe_body(body)),
        },
    }
}

/// A short, secret-free description of a body that is not what was expected.
pub(crate) fn describe_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        "with an empty body".to_owned()
    } else if trimmed.starts_with('<') {
        "with an HTML page instead of JSON".to_owned()
    } else {
        format!("with a non-JSON body of {} bytes", body.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn km() -> KeyManagerId {
        KeyManagerId::new("oidc").unwrap()
    }

    #[test]
    fn token_refusals_speak_about_the_client() {
        let wrong = br#"{"error":"invalid_client","error_description":"x"}"#;
        for status in [400, 401] {
            let err = classify(EndpointKind::Token, "token /t", status, wrong);
            assert!(matches!(err, OidcError::InvalidClient { .. }), "{err:?}");
        }
        let kc = br#"{"error":"unauthorized_client"}"#;
        let err = classify(EndpointKind::Token, "token /t", 401, kc).into_core(&km());
        assert_eq!(err.code(), 901422);
        let err = classify(EndpointKind::Token, "token /t", 400, kc).into_core(&km());
        assert!(matches!(
            err,
            Error::ClientNotUsable {
                reason: UnusableReason::NoClientCredentials,
                ..
            }
        ));
        // Keycloak: the client authenticated but may not use the grant (401, told apart by
        // the description).
        for description in [
            "Public client not allowed to retrieve service account",
            "Bearer-only client not allowed to retrieve service account",
            "Client not enabled to retrieve service account",
        ] {
            let body =
                format!(r#"{{"error":"unauthorized_client","error_description":"{description}"}}"#);
            let err = classify(EndpointKind::Token, "token /t", 401, body.as_bytes());
            assert!(
                matches!(err, OidcError::GrantNotAllowed { .. }),
                "{description}: {err:?}"
            );
        }
        let wrong_kc =
            br#"{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}"#;
        let err = classify(EndpointKind::Token, "token /t", 401, wrong_kc);
        assert!(matches!(err, OidcError::InvalidClient { .. }), "{err:?}");
        // Keycloak: unknown or disabled client.
        let unknown_kc =
            br#"{"error":"unauthorized_client","error_description":"Invalid client credentials"}"#;
        let err = classify(EndpointKind::Token, "token /t", 400, unknown_kc);
        assert!(matches!(err, OidcError::InvalidClient { .. }), "{err:?}");
        let scope = br#"{"error":"invalid_scope"}"#;
        let err = classify(EndpointKind::Token, "token /t", 400, scope).into_core(&km());
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    }

    #[test]
    fn admin_refusals_speak_about_our_credentials() {
        for status in [401, 403] {
            let err = classify(EndpointKind::Admin, "admin /c", status, b"").into_core(&km());
            assert!(matches!(err, Error::KeyManagerCredentialsRejected { .. }));
        }
        let err = classify(EndpointKind::Admin, "admin /c", 404, b"").into_core(&km());
        assert!(matches!(err, Error::ClientNotFound { .. }));
        let err = classify(EndpointKind::RegistrationManagement, "reg /c", 401, b"");
        assert!(matches!(err, OidcError::Inconclusive { .. }), "{err:?}");
        assert_eq!(err.into_core(&km()).code(), 901428);
        let err = classify(EndpointKind::RegistrationManagement, "reg /c", 404, b"");
        assert!(matches!(err, OidcError::NotFound { .. }), "{err:?}");
        let err = classify(EndpointKind::RegistrationManagement, "reg /c", 403, b"");
        assert!(matches!(err, OidcError::AdminRejected { .. }));
    }

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        for status in [429, 500, 502, 503, 599] {
            let err = classify(EndpointKind::Jwks, "jwks /k", status, b"<html>");
            assert!(err.is_retryable());
            assert!(err.into_core(&km()).is_retryable());
        }
        let err = classify(EndpointKind::Jwks, "jwks /k", 404, b"<html>");
        assert!(!err.is_retryable());
    }

    #[test]
    fn html_pages_are_protocol_errors_naming_the_endpoint() {
        let err = classify(
            EndpointKind::Discovery,
            "discovery /.well-known/x",
            404,
            b"<html/>",
        )
        .into_core(&km());
        match err {
            Error::KeyManagerProtocol {
                endpoint, detail, ..
            } => {
                assert_eq!(endpoint, "discovery /.well-known/x");
                assert!(detail.contains("HTML"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keycloak_error_message_is_understood() {
        let body = br#"{"errorMessage":"Client already exists"}"#;
        match classify(EndpointKind::Admin, "admin /c", 409, body) {
            OidcError::Refused {
                error, description, ..
            } => {
                assert_eq!(error, "Client already exists");
                assert_eq!(description.as_deref(), Some("Client already exists"));
            }
            other => panic!("{other:?}"),
        }
    }
}
