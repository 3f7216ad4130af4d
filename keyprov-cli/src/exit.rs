//! Exit codes, one per class of error (the table is in the README), and the failure every
//! command returns.

use keyprov::Error;

/// Success.
pub const OK: u8 = 0;
/// A storage failure or anything not classed below.
pub const OTHER: u8 = 1;
// 2: the command line itself is wrong (clap's own code).
/// Invalid input: an argument, a row of a file, the configuration file.
pub const INPUT: u8 = 3;
/// Something named does not exist: application, mapping, key manager, API, keys.
pub const NOT_FOUND: u8 = 4;
/// A conflict with what is stored: the name or the mapping exists, the mapping is not active.
pub const CONFLICT: u8 = 5;
/// Refused: not the caller's application, the gate is shut, a policy refuses.
pub const FORBIDDEN: u8 = 6;
/// The key manager refused: unknown client, secret not proven, client not usable, admin
/// credentials rejected, an answer that is not understood.
pub const KEY_MANAGER_REFUSED: u8 = 7;
/// The key manager could not be reached: try again later.
pub const KEY_MANAGER_UNAVAILABLE: u8 = 8;
/// Some items failed: an import was refused (nothing stored), a re-check could not check
/// every mapping, or a gateway refused the token being explained.
pub const SOME_FAILED: u8 = 9;

/// The exit code and class name of an error code of the library ([`Error::code`]).
pub fn class_of_code(code: u32) -> (u8, &'static str) {
    match code {
        901400 | 901431 => (INPUT, "input"),
        404 | 901403 | 901404 | 901406 | 901407 | 901408 => (NOT_FOUND, "not_found"),
        409 | 901409 | 901410 | 901411 => (CONFLICT, "conflict"),
        403 | 901405 | 901420 => (FORBIDDEN, "forbidden"),
        901421..=901423 | 901425..=901428 => (KEY_MANAGER_REFUSED, "key_manager_refused"),
        901424 => (KEY_MANAGER_UNAVAILABLE, "key_manager_unavailable"),
        // The library's own codes are 4xx and 9014xx; any other is a custom policy's refusal.
        400..=499 | 901400..=901499 => (OTHER, "other"),
        _ => (FORBIDDEN, "forbidden"),
    }
}

/// Why a command failed, with the exit code it ends with.
#[derive(Debug)]
pub struct Failure {
    /// The process's exit code.
    pub exit: u8,
    /// The class, as the JSON error names it.
    pub class: &'static str,
    /// The library's error code, when the failure is one of its errors.
    pub code: Option<u32>,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// A failure of the given class without a library code.
    pub fn new(exit: u8, class: &'static str, message: impl Into<String>) -> Self {
        Self {
            exit,
            class,
            code: None,
            message: message.into(),
        }
    }

    /// Invalid input given to the command.
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(INPUT, "input", message)
    }

    /// Something else.
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(OTHER, "other", message)
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        let code = err.code();
        let (exit, class) = match err {
            Error::PolicyRefused { .. } => (FORBIDDEN, "forbidden"),
            _ => class_of_code(code),
        };
        Self {
            exit,
            class,
            code: Some(code),
            message: err.to_string(),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Self {
        Self::other(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyprov::{ApplicationId, KeyManagerId};

    #[test]
    fn every_error_class_has_its_exit_code() {
        let km = KeyManagerId::new("IS").unwrap();
        let cases: Vec<(Error, u8)> = vec![
            (Error::invalid("consumerKey", "must not be empty"), INPUT),
            (Error::config("key_managers[0].name", "missing"), INPUT),
            (
                Error::ApplicationNotFound(ApplicationId::random()),
                NOT_FOUND,
            ),
            (Error::KeyManagerNotFound { name: "x".into() }, NOT_FOUND),
            (
                Error::MappingExists(keyprov::error::ConflictRule::KeyTypeAlreadyMapped),
                CONFLICT,
            ),
            (Error::ApplicationExists { name: "a".into() }, CONFLICT),
            (Error::Forbidden(ApplicationId::random()), FORBIDDEN),
            (Error::ProvisioningDisabled(km.clone()), FORBIDDEN),
            (
                Error::PolicyRefused {
                    code: 990001,
                    reason: "no".into(),
                },
                FORBIDDEN,
            ),
            (
                Error::SecretNotProven {
                    key_manager: km.clone(),
                },
                KEY_MANAGER_REFUSED,
            ),
            (
                Error::ClientNotFound {
                    key_manager: km.clone(),
                },
                KEY_MANAGER_REFUSED,
            ),
            (
                Error::KeyManagerUnavailable {
                    key_manager: km,
                    detail: "timed out".into(),
                    source: None,
                },
                KEY_MANAGER_UNAVAILABLE,
            ),
            (
                Error::Storage {
                    detail: "disk".into(),
                    retryable: false,
                    source: None,
                },
                OTHER,
            ),
        ];
        for (err, exit) in cases {
            let text = err.to_string();
            assert_eq!(Failure::from(err).exit, exit, "{text}");
        }
        assert_eq!(class_of_code(990001), (FORBIDDEN, "forbidden"));
        assert_eq!(class_of_code(901499), (OTHER, "other"));
    }
}
