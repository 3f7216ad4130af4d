//! The one public error type, with stable machine-readable codes.
//!
//! Codes reuse WSO2 API Manager's where it has one (`901403`, `901405`, `901409`, `404`, `403`);
//! the cases WSO2 lumps into its opaque `900967` get codes of their own. A code never changes
//! meaning once released.

use std::borrow::Cow;
use std::fmt;

use crate::events::Revision;
use crate::model::{ApiId, ApplicationId, KeyManagerId, MappingId};

/// A boxed error from a backend (database driver, HTTP client), kept as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which half of the uniqueness rule ([P3](crate::guide::provisioning#p3-uniqueness)) a mapping attempt hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConflictRule {
    /// The application already holds a client of this key type at this key manager.
    KeyTypeAlreadyMapped,
    /// The consumer key is already mapped at this key manager (to this or another application).
    ConsumerKeyAlreadyMapped,
}

impl fmt::Display for ConflictRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConflictRule::KeyTypeAlreadyMapped => {
                "the application already has keys of this key type for this key manager"
            }
            ConflictRule::ConsumerKeyAlreadyMapped => {
                "the consumer key is already mapped to an application for this key manager"
            }
        })
    }
}

/// Why a client at a key manager cannot be used for provisioning ([P4.2](crate::guide::provisioning#p4-validation-against-the-key-manager)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnusableReason {
    /// The client is disabled at the key manager.
    Disabled,
    /// The client is public (has no secret).
    Public,
    /// The client is bearer-only (Keycloak): it cannot obtain tokens.
    BearerOnly,
    /// The client may not use the `client_credentials` grant.
    NoClientCredentials,
    /// The client's secret has expired.
    SecretExpired,
    /// Another reason, in the key manager's words.
    Other(String),
}

impl fmt::Display for UnusableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnusableReason::Disabled => f.write_str("the client is disabled"),
            UnusableReason::Public => f.write_str("the client is public (not confidential)"),
            UnusableReason::BearerOnly => f.write_str("the client is bearer-only"),
            UnusableReason::NoClientCredentials => {
                f.write_str("the client may not use the client_credentials grant")
            }
            UnusableReason::SecretExpired => f.write_str("the client secret has expired"),
            UnusableReason::Other(reason) => f.write_str(reason),
        }
    }
}

/// Why a key manager refuses an operation it is configured not to do (code `901405`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsupportedReason {
    /// The key manager's token type is `EXCHANGED`: it cannot hold mappings.
    ExchangedTokensOnly,
    /// Token generation is disabled for the key manager.
    TokenGenerationDisabled,
}

impl fmt::Display for UnsupportedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnsupportedReason::ExchangedTokensOnly => "its token type is EXCHANGED",
            UnsupportedReason::TokenGenerationDisabled => "token generation is disabled for it",
        })
    }
}

/// Invalid caller input: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidInput {
    /// The field, in the wire spelling (`consumerKey`, `keyType`, ...).
    pub field: Cow<'static, str>,
    /// Why it was refused.
    pub reason: String,
}

impl InvalidInput {
    /// Builds one.
    pub fn new(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.reason)
    }
}

/// Every error the library returns. Match on [`Error::code`] for a stable, machine-readable
/// value; [`Error::is_retryable`] says whether trying again later may succeed.
///
/// Messages never contain a secret, and a conflict never names another owner's application.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Caller input was invalid.
    #[error("{0}")]
    InvalidInput(InvalidInput),
    /// The application does not exist (or is not visible to the caller).
    #[error("application {0} not found")]
    ApplicationNotFound(ApplicationId),
    /// An application with this name already exists for the owner.
    #[error("an application named {name:?} already exists for this owner")]
    ApplicationExists {
        /// The name asked for.
        name: String,
    },
    /// The API does not exist.
    #[error("api {0} not found")]
    ApiNotFound(ApiId),
    /// The application is not subscribed to the API.
    #[error("application {application} is not subscribed to api {api}")]
    SubscriptionNotFound {
        /// The application.
        application: ApplicationId,
        /// The API.
        api: ApiId,
    },
    /// The key mapping does not exist (or does not belong to the application).
    #[error("key mapping {0} not found")]
    MappingNotFound(MappingId),
    /// The application holds no keys of this type at this key manager.
    #[error("the application has no {key_type} keys for key manager {key_manager}")]
    NoKeys {
        /// Key manager.
        key_manager: KeyManagerId,
        /// Key type.
        key_type: crate::model::KeyType,
    },
    /// The caller is neither the application's owner nor acting administratively.
    #[error("the caller is not the owner of application {0}")]
    Forbidden(ApplicationId),
    /// The caller is a user, and the operation is for administrators and services.
    #[error("only administrators and services may {operation}")]
    NotPermitted {
        /// What was attempted.
        operation: &'static str,
    },
    /// No such key manager in the application's organization or globally, or it is disabled.
    #[error("key manager {name:?} is not registered or is disabled")]
    KeyManagerNotFound {
        /// The name or id asked for.
        name: String,
    },
    /// The key manager does not support this operation by configuration.
    #[error("key manager {key_manager} does not support this: {reason}")]
    KeyManagerUnsupported {
        /// The key manager.
        key_manager: KeyManagerId,
        /// Why.
        reason: UnsupportedReason,
    },
    /// Out-of-band provisioning is off for this key manager and globally.
    #[error(
        "out-of-band provisioning is disabled for key manager {0} (its own flag and the global fallback are off)"
    )]
    ProvisioningDisabled(KeyManagerId),
    /// A uniqueness rule ([P3](crate::guide::provisioning#p3-uniqueness)) was hit.
    #[error("mapping already exists: {0}")]
    MappingExists(ConflictRule),
    /// Updating the client of a `MAPPED` key is refused ([P7](crate::guide::provisioning#p7-removal)).
    #[error("the client of a MAPPED key is owned by its key manager and cannot be changed here")]
    MappedClientImmutable,
    /// The mapping is not `ACTIVE`.
    #[error("key mapping {id} is {state}, not ACTIVE")]
    MappingNotActive {
        /// The mapping.
        id: MappingId,
        /// Its state.
        state: crate::model::MappingState,
    },
    /// The client does not exist at the key manager.
    #[error("client not found at key manager {key_manager}")]
    ClientNotFound {
        /// The key manager.
        key_manager: KeyManagerId,
    },
    /// The key manager's answer cannot tell "no such client" from "the adapter's credentials
    /// for this client are wrong" (an RFC 7592 read answers 401 for both). A re-check then
    /// leaves the mapping's state as it was.
    #[error(
        "key manager {key_manager} cannot tell whether the client exists or the credentials used to read it are wrong"
    )]
    ClientLookupInconclusive {
        /// The key manager.
        key_manager: KeyManagerId,
    },
    /// The key manager did not accept the supplied secret.
    #[error("the consumer secret was not accepted by key manager {key_manager}")]
    SecretNotProven {
        /// The key manager.
        key_manager: KeyManagerId,
    },
    /// The client exists but cannot be used.
    #[error("client at key manager {key_manager} is not usable: {reason}")]
    ClientNotUsable {
        /// The key manager.
        key_manager: KeyManagerId,
        /// Why.
        reason: UnusableReason,
    },
    /// The key manager could not be reached, timed out, throttled us or failed (retryable).
    #[error("key manager {key_manager} is unavailable: {detail}")]
    KeyManagerUnavailable {
        /// The key manager.
        key_manager: KeyManagerId,
        /// What happened, without secrets.
        detail: String,
        /// The transport error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The key manager rejected the library's own admin credentials: a configuration error.
    #[error("key manager {key_manager} rejected the configured admin credentials")]
    KeyManagerCredentialsRejected {
        /// The key manager.
        key_manager: KeyManagerId,
    },
    /// The key manager answered something that does not follow its protocol.
    #[error("key manager {key_manager} answered {endpoint} with an invalid response: {detail}")]
    KeyManagerProtocol {
        /// The key manager.
        key_manager: KeyManagerId,
        /// The endpoint (path or name) that answered.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
    /// The key manager adapter does not implement this operation (see its capabilities).
    #[error("operation {operation} is not supported by key manager {key_manager}")]
    NotSupported {
        /// The key manager.
        key_manager: KeyManagerId,
        /// The operation.
        operation: &'static str,
    },
    /// Storage failed.
    #[error("storage error: {detail}")]
    Storage {
        /// What failed.
        detail: String,
        /// Whether a retry may succeed (connection lost, database restarting, busy).
        retryable: bool,
        /// The driver's error.
        #[source]
        source: Option<BoxError>,
    },
    /// A gateway did not apply a revision within the time it was given
    /// ([`Gateway::wait_for`](crate::gateway::Gateway::wait_for)).
    #[error("the gateway has applied revision {applied}, not yet {wanted}")]
    NotCaughtUp {
        /// The revision waited for.
        wanted: Revision,
        /// The revision the gateway had applied when the time ran out.
        applied: Revision,
    },
    /// A custom provisioning policy refused the request, with its own code and reason
    /// ([`GateRefusal::Custom`](crate::policy::GateRefusal::Custom)).
    #[error("refused by policy: {reason}")]
    PolicyRefused {
        /// The policy's code.
        code: u32,
        /// The policy's reason.
        reason: String,
    },
    /// A configuration file or value is invalid.
    #[error("invalid configuration at {key}: {problem}")]
    Config {
        /// The key as the file spells it (dotted path, with its line when read from a file), or
        /// the file.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl Error {
    /// The stable, machine-readable code.
    pub fn code(&self) -> u32 {
        match self {
            Error::InvalidInput(_) => 901400,
            Error::ApplicationNotFound(_) => 404,
            Error::ApplicationExists { .. } => 409,
            Error::ApiNotFound(_) => 901404,
            Error::SubscriptionNotFound { .. } => 901406,
            Error::MappingNotFound(_) => 901407,
            Error::NoKeys { .. } => 901408,
            Error::Forbidden(_) | Error::NotPermitted { .. } => 403,
            Error::KeyManagerNotFound { .. } => 901403,
            Error::KeyManagerUnsupported { .. } => 901405,
            Error::ProvisioningDisabled(_) => 901420,
            Error::MappingExists(_) => 901409,
            Error::MappedClientImmutable => 901410,
            Error::MappingNotActive { .. } => 901411,
            Error::ClientNotFound { .. } => 901421,
            Error::SecretNotProven { .. } => 901422,
            Error::ClientNotUsable { .. } => 901423,
            Error::KeyManagerUnavailable { .. } => 901424,
            Error::KeyManagerCredentialsRejected { .. } => 901425,
            Error::KeyManagerProtocol { .. } => 901426,
            Error::NotSupported { .. } => 901427,
            Error::ClientLookupInconclusive { .. } => 901428,
            Error::Storage { .. } => 901430,
            Error::Config { .. } => 901431,
            Error::NotCaughtUp { .. } => 901432,
            Error::PolicyRefused { code, .. } => *code,
        }
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::KeyManagerUnavailable { .. } | Error::NotCaughtUp { .. } => true,
            Error::Storage { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// A storage error from a driver error.
    pub fn storage(
        detail: impl Into<String>,
        retryable: bool,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Storage {
            detail: detail.into(),
            retryable,
            source: Some(source.into()),
        }
    }

    /// An invalid-input error for `field`.
    pub fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Error::InvalidInput(InvalidInput::new(field, reason))
    }

    /// A configuration error.
    pub fn config(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wso2_codes_are_reused_and_retryability_is_precise() {
        let km = KeyManagerId::new("IS").unwrap();
        assert_eq!(
            Error::MappingExists(ConflictRule::KeyTypeAlreadyMapped).code(),
            901409
        );
        assert_eq!(
            Error::KeyManagerNotFound { name: "x".into() }.code(),
            901403
        );
        assert_eq!(
            Error::ApplicationNotFound(ApplicationId::random()).code(),
            404
        );
        assert_eq!(Error::Forbidden(ApplicationId::random()).code(), 403);
        let unavailable = Error::KeyManagerUnavailable {
            key_manager: km.clone(),
            detail: "timed out".into(),
            source: None,
        };
        assert!(unavailable.is_retryable());
        assert!(!Error::SecretNotProven { key_manager: km }.is_retryable());
    }

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        let km = KeyManagerId::new("IS").unwrap();
        let all = [
            Error::invalid("consumerKey", "must not be empty"),
            Error::ProvisioningDisabled(km.clone()),
            Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped),
            Error::ClientNotUsable {
                key_manager: km.clone(),
                reason: UnusableReason::Disabled,
            },
            Error::ClientLookupInconclusive {
                key_manager: km.clone(),
            },
            Error::NotCaughtUp {
                wanted: crate::Revision::new(2),
                applied: crate::Revision::new(1),
            },
            Error::PolicyRefused {
                code: 990001,
                reason: "trial organizations may not map production keys".into(),
            },
            Error::KeyManagerCredentialsRejected { key_manager: km },
        ];
        for err in all {
            let text = err.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert!(text.chars().next().unwrap().is_lowercase(), "{text}");
        }
    }
}
