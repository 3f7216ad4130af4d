//! The adapter's own error: km-oidc's classification plus IS's quirks, and its ONE mapping
//! into the core [`keyprov::Error`] ([`IsError::into_core`]).

use keyprov::{Error, KeyManagerId};
use km_oidc::error::classify;
use km_oidc::{EndpointKind, OidcError};

/// What can go wrong talking to IS.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IsError {
    /// Anything the standard classification covers.
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// The DCR API answered 401: IS says this both for an unknown client and for wrong admin
    /// credentials (product-is #16612, #21624). The manager resolves it by checking the
    /// credentials on their own.
    #[error("{endpoint} answered 401: client not found or admin credentials refused")]
    Unauthorized {
        /// The endpoint.
        endpoint: String,
    },
    /// The adapter's own admin client was refused a token, or lacks the DCR scope.
    #[error("{endpoint}: admin token refused ({detail})")]
    AdminToken {
        /// The endpoint.
        endpoint: String,
        /// Why.
        detail: String,
    },
}

impl IsError {
    pub(crate) fn config(key: impl Into<String>, problem: impl Into<String>) -> Self {
        IsError::Oidc(OidcError::config(key, problem))
    }

    pub(crate) fn protocol(endpoint: impl std::fmt::Display, detail: impl Into<String>) -> Self {
        IsError::Oidc(OidcError::protocol(endpoint, detail))
    }

    /// Whether an idempotent request may be retried.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, IsError::Oidc(e) if e.is_retryable())
    }

    /// The one mapping into the core error, tagged with the key manager's id.
    pub(crate) fn into_core(self, key_manager: &KeyManagerId) -> Error {
        match self {
            IsError::Oidc(e) => e.into_core(key_manager),
            // Unresolved (the credential check itself failed to decide): treat as ours.
            IsError::Unauthorized { .. } | IsError::AdminToken { .. } => {
                Error::KeyManagerCredentialsRejected {
                    key_manager: key_manager.clone(),
                }
            }
        }
    }
}

/// Classifies a non-2xx answer of the DCR API.
pub(crate) fn classify_dcr(endpoint: &str, status: u16, body: &[u8]) -> IsError {
    match status {
        401 => IsError::Unauthorized {
            endpoint: endpoint.to_owned(),
        },
        // 400 is how IS says "conflict" (and "bad request"): the standard reading applies.
        _ => IsError::Oidc(classify(EndpointKind::Admin, endpoint, status, body)),
    }
}

/// Classifies a non-2xx answer of the token endpoint. IS's wordings (an inactive application,
/// 5.11's unknown client, a refused grant) are rows of km-oidc's shared table
/// ([`km_oidc::error::TOKEN_REFUSALS`]).
pub(crate) fn classify_token(endpoint: &str, status: u16, body: &[u8]) -> IsError {
    IsError::Oidc(classify(EndpointKind::Token, endpoint, status, body))
}

/// A transport failure, retryable.
pub(crate) fn transport(endpoint: &str, err: reqwest::Error) -> IsError {
    let detail = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "connection dropped or refused"
    };
    IsError::Oidc(OidcError::Unavailable {
        endpoint: endpoint.to_owned(),
        detail: detail.to_owned(),
        source: Some(Box::new(err.without_url())),
    })
}

#[cfg(test)]
mod tests {
    use keyprov::error::UnusableReason;

    use super::*;

    fn km() -> KeyManagerId {
        KeyManagerId::new("IS").unwrap()
    }

    #[test]
    fn dcr_401_is_ambiguous_and_403_is_ours() {
        assert!(matches!(
            classify_dcr("admin /r/x", 401, b""),
            IsError::Unauthorized { .. }
        ));
        let err = classify_dcr("admin /r/x", 403, b"").into_core(&km());
        assert!(matches!(err, Error::KeyManagerCredentialsRejected { .. }));
        let err = classify_dcr("admin /r/x", 404, b"").into_core(&km());
        assert!(
            matches!(err, Error::ClientNotFound { .. }),
            "a fixed IS says 404"
        );
        let err = classify_dcr("admin /r/x", 503, b"").into_core(&km());
        assert!(err.is_retryable());
        let conflict = br#"{"error":"invalid_client_metadata","error_description":"exists"}"#;
        let err = classify_dcr("admin /r", 400, conflict).into_core(&km());
        assert!(matches!(err, Error::KeyManagerProtocol { .. }), "{err:?}");
    }

    #[test]
    fn token_refusals_tell_inactive_from_wrong_secret() {
        // With and without the final period (IS versions differ; product-is#5531 quotes
        // a 401 with the second).
        for inactive in [
            &br#"{"error":"invalid_client","error_description":"Oauth application is not in active state."}"#[..],
            br#"{"error_description":"Oauth application is not in active state","error":"invalid_client"}"#,
        ] {
            let err = classify_token("token /oauth2/token", 401, inactive).into_core(&km());
            assert!(matches!(
                err,
                Error::ClientNotUsable {
                    reason: UnusableReason::Disabled,
                    ..
                }
            ));
        }
        let disabled_7 = br#"{"error":"invalid_client","error_description":"Application is disabled and access is restricted."}"#;
        let err = classify_token("token /oauth2/token", 401, disabled_7).into_core(&km());
        assert!(
            matches!(
                err,
                Error::ClientNotUsable {
                    reason: UnusableReason::Disabled,
                    ..
                }
            ),
            "{err:?}"
        );
        let unknown = br#"{"error_description":"A valid OAuth client could not be found for client_id: w_sNIcatiDplDKRibkIWgSH8w00b","error":"invalid_client"}"#;
        let err = classify_token("token /oauth2/token", 401, unknown).into_core(&km());
        assert!(matches!(err, Error::ClientNotFound { .. }), "{err:?}");
        let wrong_511 =
            br#"{"error_description":"Client credentials are invalid.","error":"invalid_client"}"#;
        let err = classify_token("token /oauth2/token", 401, wrong_511).into_core(&km());
        assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
        let wrong =
            br#"{"error":"invalid_client","error_description":"Client Authentication failed."}"#;
        let err = classify_token("token /oauth2/token", 401, wrong).into_core(&km());
        assert!(matches!(err, Error::SecretNotProven { .. }));
        let grant = br#"{"error":"unauthorized_client","error_description":"not allowed"}"#;
        let err = classify_token("token /oauth2/token", 400, grant).into_core(&km());
        assert!(matches!(
            err,
            Error::ClientNotUsable {
                reason: UnusableReason::NoClientCredentials,
                ..
            }
        ));
    }
}
