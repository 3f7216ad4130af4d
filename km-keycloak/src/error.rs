//! The adapter's private error and its one mapping into [`keyprov::Error`].
//!
//! Keycloak answers are classified by km-oidc's [`km_oidc::error::classify`] (which parses
//! both `{error, error_description}` and the admin API's `{errorMessage}`); this module only
//! says what those answers mean for *our* calls: a refused admin token request is a
//! configuration problem, never the mapped client's.

use keyprov::{Error, KeyManagerId};
use km_oidc::OidcError;

/// Everything that can go wrong in the adapter.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeycloakError {
    /// A call classified by km-oidc; its meaning is the standard one.
    #[error(transparent)]
    Oidc(OidcError),
    /// The token request of the admin service account failed.
    #[error("admin service account token: {0}")]
    AdminToken(OidcError),
    /// The configuration is invalid.
    #[error("invalid configuration at {key}: {problem}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl From<OidcError> for KeycloakError {
    fn from(err: OidcError) -> Self {
        KeycloakError::Oidc(err)
    }
}

impl KeycloakError {
    pub(crate) fn config(key: impl Into<String>, problem: impl Into<String>) -> Self {
        KeycloakError::Config {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// The one mapping into the core error.
    pub(crate) fn into_core(self, key_manager: &KeyManagerId) -> Error {
        match self {
            KeycloakError::Oidc(err) => err.into_core(key_manager),
            // Wrong admin secret, admin client without service accounts, disabled admin
            // client: the library's own credentials, not the caller's client.
            KeycloakError::AdminToken(
                OidcError::InvalidClient { .. }
                | OidcError::GrantNotAllowed { .. }
                | OidcError::ClientDisabled { .. }
                | OidcError::NotFound { .. }
                | OidcError::AdminRejected { .. },
            ) => Error::KeyManagerCredentialsRejected {
                key_manager: key_manager.clone(),
            },
            KeycloakError::AdminToken(OidcError::Refused {
                endpoint,
                status,
                error,
                description,
            }) => Error::KeyManagerProtocol {
                key_manager: key_manager.clone(),
                endpoint,
                detail: match description {
                    Some(d) if d != error => format!("http {status} {error}: {d}"),
                    _ => format!("http {status} {error}"),
                },
            },
            KeycloakError::AdminToken(other) => other.into_core(key_manager),
            KeycloakError::Config { key, problem } => Error::config(key, problem),
        }
    }
}

#[cfg(test)]
mod tests {
    use km_oidc::EndpointKind;
    use km_oidc::error::classify;

    use super::*;

    const OAUTH_403: &str = include_str!("../tests/fixtures/error-registration-403.json");
    const NOT_FOUND: &str = include_str!("../tests/fixtures/error-registration-404.json");
    const MESSAGE_409: &str = include_str!("../tests/fixtures/error-admin-message-409.json");
    const WRONG_SECRET: &str =
        include_str!("../tests/fixtures/error-token-unauthorized-client.json");
    const NO_REALM: &str = include_str!("../tests/fixtures/error-realm-not-found.json");

    fn km() -> KeyManagerId {
        KeyManagerId::new("kc").unwrap()
    }

    fn admin(status: u16, body: &str) -> Error {
        KeycloakError::from(classify(
            EndpointKind::Admin,
            "admin /x",
            status,
            body.as_bytes(),
        ))
        .into_core(&km())
    }

    #[test]
    fn registration_and_admin_bodies_of_both_shapes() {
        assert!(matches!(
            admin(403, OAUTH_403),
            Error::KeyManagerCredentialsRejected { .. }
        ));
        assert!(matches!(
            admin(404, NOT_FOUND),
            Error::ClientNotFound { .. }
        ));
        match admin(409, MESSAGE_409) {
            Error::KeyManagerProtocol { detail, .. } => {
                assert!(
                    detail.contains("Client keyprov-app already exists"),
                    "{detail}"
                );
            }
            other => panic!("{other:?}"),
        }
        match admin(
            400,
            r#"{"error":"invalid_request","error_description":"bad max"}"#,
        ) {
            Error::KeyManagerProtocol { detail, .. } => {
                assert!(detail.contains("invalid_request: bad max"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refused_admin_token_is_a_configuration_problem() {
        let refused = classify(
            EndpointKind::Token,
            "token /t",
            401,
            WRONG_SECRET.as_bytes(),
        );
        let err = KeycloakError::AdminToken(refused).into_core(&km());
        assert!(
            matches!(err, Error::KeyManagerCredentialsRejected { .. }),
            "{err:?}"
        );
        // The same answer for a mapped client's request is about that client's secret.
        let refused = classify(
            EndpointKind::Token,
            "token /t",
            401,
            WRONG_SECRET.as_bytes(),
        );
        let err = KeycloakError::Oidc(refused).into_core(&km());
        assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
    }

    #[test]
    fn an_unknown_realm_is_a_protocol_error_naming_it() {
        let refused = classify(EndpointKind::Token, "token /t", 404, NO_REALM.as_bytes());
        match KeycloakError::AdminToken(refused).into_core(&km()) {
            Error::KeyManagerProtocol { detail, .. } => {
                assert!(detail.contains("Realm does not exist"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }
}
