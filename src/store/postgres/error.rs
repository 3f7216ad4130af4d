//! From driver errors to [`crate::Error`]: constraint names to the rules they enforce, and
//! transient failures (connection lost, server shutting down, serialization, timeouts) to
//! retryable storage errors.

use tokio_postgres::error::SqlState;

use crate::error::{ConflictRule, Error};

/// Names of the constraints the schema declares; the mapping below depends on them.
pub(super) const MAPPING_SLOT: &str = "mappings_slot_key";
pub(super) const MAPPING_CONSUMER_KEY: &str = "mappings_consumer_key_key";
pub(super) const APPLICATION_NAME: &str = "applications_name_key";
pub(super) const APPLICATION_PKEY: &str = "applications_pkey";
pub(super) const MAPPING_APPLICATION_FK: &str = "mappings_application_fkey";
pub(super) const SUBSCRIPTION_APPLICATION_FK: &str = "subscriptions_application_fkey";
pub(super) const SUBSCRIPTION_API_FK: &str = "subscriptions_api_fkey";

/// What a call was doing, to turn a foreign-key or unique violation into the right error.
#[derive(Clone, Debug, Default)]
pub(super) struct Context {
    pub(super) application: Option<crate::model::ApplicationId>,
    pub(super) application_name: Option<String>,
    pub(super) api: Option<crate::model::ApiId>,
}

/// Whether the server or the connection failed in a way that a later attempt may not.
fn transient(state: &SqlState) -> bool {
    let code = state.code();
    // 08: connection exception; 57P0x: admin/crash shutdown, cannot connect now;
    // 40001/40P01: serialization failure, deadlock; 53: insufficient resources;
    // 57014: statement timeout or cancel; 55P03: lock not available.
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "57014" | "55P03"
        )
}

/// A driver error as a core error.
pub(super) fn from_pg(error: tokio_postgres::Error, what: &str, context: &Context) -> Error {
    if let Some(db) = error.as_db_error() {
        let constraint = db.constraint().unwrap_or_default();
        if *db.code() == SqlState::UNIQUE_VIOLATION {
            match constraint {
                MAPPING_SLOT => return Error::MappingExists(ConflictRule::KeyTypeAlreadyMapped),
                MAPPING_CONSUMER_KEY => {
                    return Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped);
                }
                APPLICATION_NAME | APPLICATION_PKEY => {
                    // A statement of many rows (an import): the server's detail has the
                    // clashing values, `(organization, owner, name)=(acme, alice, App)`.
                    let name = context.application_name.clone().or_else(|| {
                        (constraint == APPLICATION_NAME)
                            .then(|| db.detail().and_then(taken_name))
                            .flatten()
                    });
                    return Error::ApplicationExists {
                        name: name.unwrap_or_default(),
                    };
                }
                _ => {}
            }
        }
        if *db.code() == SqlState::FOREIGN_KEY_VIOLATION {
            match (constraint, &context.application, &context.api) {
                (MAPPING_APPLICATION_FK | SUBSCRIPTION_APPLICATION_FK, Some(app), _) => {
                    return Error::ApplicationNotFound(*app);
                }
                // A statement of many rows (an import): the server's detail names the key,
                // `Key (application)=(<uuid>) is not present ...` in whatever language.
                (MAPPING_APPLICATION_FK | SUBSCRIPTION_APPLICATION_FK, None, _) => {
                    if let Some(app) = db.detail().and_then(first_uuid) {
                        return Error::ApplicationNotFound(app.into());
                    }
                }
                (SUBSCRIPTION_API_FK, _, Some(api)) => return Error::ApiNotFound(api.clone()),
                _ => {}
            }
        }
        let retryable = transient(db.code());
        let detail = if *db.code() == SqlState::QUERY_CANCELED {
            format!("{what}: statement cancelled (statement timeout)")
        } else {
            format!("{what}: {} ({})", db.message(), db.code().code())
        };
        return Error::storage(detail, retryable, error);
    }
    // No server error: the connection closed or could not be opened (I/O), which a later
    // attempt on a fresh connection may survive; or a value did not convert, which it won't.
    let io = std::error::Error::source(&error)
        .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
    // The driver's error kind is private; its message for connect and I/O failures and for
    // the connect timeout is stable.
    let message = error.to_string();
    let retryable = error.is_closed()
        || io
        || ["error connecting", "error communicating", "timeout"]
            .iter()
            .any(|prefix| message.starts_with(prefix));
    Error::storage(format!("{what}: {error}"), retryable, error)
}

/// The name in the detail of a violation of `applications (organization, owner, name)`:
/// the third of the values in `...=(<organization>, <owner>, <name>)...`, whatever the
/// language of the words around them.
fn taken_name(detail: &str) -> Option<String> {
    let values = &detail[detail.find("=(")? + 2..detail.rfind(')')?];
    values.splitn(3, ", ").nth(2).map(str::to_owned)
}

/// The first hyphenated UUID in `text`.
fn first_uuid(text: &str) -> Option<uuid::Uuid> {
    const LEN: usize = 36;
    (0..text.len().saturating_sub(LEN - 1))
        .filter(|&start| text.is_char_boundary(start) && text.is_char_boundary(start + LEN))
        .find_map(|start| uuid::Uuid::try_parse(&text[start..start + LEN]).ok())
}

/// A pool error as a core error.
pub(super) fn from_pool(error: deadpool_postgres::PoolError, what: &str) -> Error {
    use deadpool_postgres::PoolError;
    match error {
        PoolError::Backend(e) => from_pg(e, what, &Context::default()),
        PoolError::Timeout(kind) => Error::storage(
            format!("{what}: timed out waiting for a database connection ({kind:?})"),
            true,
            PoolError::Timeout(kind),
        ),
        other => Error::storage(format!("{what}: {other}"), false, other),
    }
}

/// A row that does not decode: the schema and the code disagree, never retryable.
pub(super) fn corrupt(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Storage {
        detail: format!("{what}: stored row does not decode: {detail}"),
        retryable: false,
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_of_a_foreign_key_violation_is_found_in_any_language() {
        let id = "01a2417f-1fa7-764c-bf49-54fa7f495ee6";
        for detail in [
            format!("Key (application)=({id}) is not present in table \"applications\"."),
            format!(
                "La clé (application)=({id}) n'est pas présente dans la table « applications »."
            ),
        ] {
            assert_eq!(
                first_uuid(&detail).map(|u| u.to_string()).as_deref(),
                Some(id)
            );
        }
        assert_eq!(
            first_uuid("Key (application)=(not-a-uuid) is not present."),
            None
        );
        assert_eq!(first_uuid(""), None);
    }

    #[test]
    fn the_name_of_a_taken_application_is_found_in_any_language() {
        for (detail, name) in [
            (
                "Key (organization, owner, name)=(carbon.super, bob, Imported) already exists.",
                "Imported",
            ),
            (
                "La clé « (organization, owner, name)=(acme, alice, Pizza, (v2)) » existe déjà.",
                "Pizza, (v2)",
            ),
        ] {
            assert_eq!(taken_name(detail).as_deref(), Some(name), "{detail}");
        }
        assert_eq!(taken_name("no values here"), None);
    }

    #[test]
    fn transient_states_are_retryable_and_others_not() {
        for state in [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::CONNECTION_FAILURE,
            SqlState::QUERY_CANCELED,
            SqlState::TOO_MANY_CONNECTIONS,
        ] {
            assert!(transient(&state), "{}", state.code());
        }
        for state in [
            SqlState::UNIQUE_VIOLATION,
            SqlState::SYNTAX_ERROR,
            SqlState::UNDEFINED_TABLE,
            SqlState::INVALID_PASSWORD,
        ] {
            assert!(!transient(&state), "{}", state.code());
        }
    }
}
