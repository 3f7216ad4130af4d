//! Every failure as WSO2's `Error` object, with keyprov's precise codes and statuses.

use std::borrow::Cow;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use keyprov::error::ConflictRule;
use serde::Serialize;
use utoipa::ToSchema;

/// Seconds a client is told to wait (`Retry-After`) when a key manager or the store is
/// unavailable.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// Where the codes are explained.
const MORE_INFO: &str = "https://github.com/keyprov/keyprov/blob/main/docs/errors.md";

/// WSO2's `Error` object: the body of every failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Error)]
pub struct ErrorBody {
    /// keyprov's stable code (`keyprov::Error::code`), or for failures before the request reaches
    /// keyprov the HTTP status (`404`, `405`, `413`, `415`) or WSO2's authentication codes
    /// (`900901` invalid credentials, `900902` missing credentials, `900910` scope missing).
    #[schema(format = Int64)]
    pub code: i64,
    /// The status's reason phrase (`Bad Request`, `Conflict`, ...).
    pub message: String,
    /// What went wrong, precisely (never a secret).
    #[serde(default)]
    pub description: String,
    /// Where the code is documented.
    #[serde(default)]
    pub more_info: String,
    /// The details: for invalid input the field (`code`) and the reason (`message`); for a
    /// conflict the rule; for a gateway refusal its code.
    #[serde(default)]
    pub error: Vec<ErrorListItem>,
}

/// One detail of an [`ErrorBody`] (WSO2's `ErrorListItem`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorListItem {
    /// The field, the rule or the refusal's code.
    pub code: String,
    /// Why.
    pub message: String,
}

/// A failure answered in WSO2's error shape: a status, a body and, for a retryable one,
/// `Retry-After`.
///
/// Build one from a [`keyprov::Error`] (`From`), or with the constructors for failures that
/// happen before keyprov is reached (authentication, request format).
#[derive(Clone, Debug)]
pub struct RestError {
    status: StatusCode,
    body: ErrorBody,
    retry_after: bool,
}

impl RestError {
    /// A failure with this status, code and description.
    pub fn new(status: StatusCode, code: i64, description: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code,
                message: status.canonical_reason().unwrap_or("Error").to_owned(),
                description: description.into(),
                more_info: MORE_INFO.to_owned(),
                error: Vec::new(),
            },
            retry_after: false,
        }
    }

    /// Adds a detail.
    pub fn with_item(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.body.error.push(ErrorListItem {
            code: code.into(),
            message: message.into(),
        });
        self
    }

    /// 401, code `900902`: no bearer token.
    pub fn missing_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            900902,
            "missing credentials: send an Authorization: Bearer header",
        )
    }

    /// 401, code `900901`: the token is not acceptable; `reason` says why.
    pub fn invalid_credentials(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 900901, reason)
    }

    /// 403, code `900910`: the token grants none of the scopes the operation accepts.
    pub fn scope_missing(accepted: &[&str]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            900910,
            format!(
                "the access token does not allow this operation: it needs one of the scopes {}",
                accepted.join(", ")
            ),
        )
        .with_item("scope", accepted.join(" "))
    }

    /// 400, code `901400`: invalid input in `field`.
    pub fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        keyprov::Error::invalid(field, reason).into()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.body.code,
            self.body.description
        )
    }
}

impl std::error::Error for RestError {}

/// The status for each keyprov error, as the error guide's table says.
fn status_of(error: &keyprov::Error) -> StatusCode {
    use keyprov::Error as E;
    match error {
        E::InvalidInput(_)
        | E::KeyManagerNotFound { .. }
        | E::KeyManagerUnsupported { .. }
        | E::ClientNotFound { .. }
        | E::SecretNotProven { .. }
        | E::ClientNotUsable { .. } => StatusCode::BAD_REQUEST,
        E::Forbidden(_) | E::NotPermitted { .. } | E::ProvisioningDisabled(_) => {
            StatusCode::FORBIDDEN
        }
        E::ApplicationNotFound(_)
        | E::ApiNotFound(_)
        | E::SubscriptionNotFound { .. }
        | E::MappingNotFound(_)
        | E::NoKeys { .. } => StatusCode::NOT_FOUND,
        E::ApplicationExists { .. }
        | E::MappingExists(_)
        | E::MappedClientImmutable
        | E::MappingNotActive { .. } => StatusCode::CONFLICT,
        E::KeyManagerUnavailable { .. } | E::NotCaughtUp { .. } => StatusCode::SERVICE_UNAVAILABLE,
        E::Storage { retryable, .. } if *retryable => StatusCode::SERVICE_UNAVAILABLE,
        E::ClientLookupInconclusive { .. }
        | E::KeyManagerCredentialsRejected { .. }
        | E::KeyManagerProtocol { .. } => StatusCode::BAD_GATEWAY,
        E::NotSupported { .. } => StatusCode::NOT_IMPLEMENTED,
        // A custom policy refuses the caller's request, as the built-in gate does.
        E::PolicyRefused { .. } => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The stable name of a uniqueness rule, for the error list.
fn rule_name(rule: ConflictRule) -> &'static str {
    match rule {
        ConflictRule::KeyTypeAlreadyMapped => "keyTypeAlreadyMapped",
        ConflictRule::ConsumerKeyAlreadyMapped => "consumerKeyAlreadyMapped",
    }
}

impl From<keyprov::Error> for RestError {
    fn from(error: keyprov::Error) -> Self {
        let status = status_of(&error);
        let retry_after = status == StatusCode::SERVICE_UNAVAILABLE;
        let mut rest = RestError::new(status, i64::from(error.code()), error.to_string());
        rest.retry_after = retry_after;
        match &error {
            keyprov::Error::InvalidInput(invalid) => {
                rest = rest.with_item(invalid.field.clone(), invalid.reason.clone());
            }
            keyprov::Error::MappingExists(rule) => {
                rest = rest.with_item(rule_name(*rule), rule.to_string());
            }
            _ => {}
        }
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), code = error.code(), error = %error, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), code = error.code(), error = %error, "request refused");
        }
        rest
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyprov::{ApplicationId, KeyManagerId};

    #[test]
    fn statuses_follow_the_error_guide() {
        let km = KeyManagerId::new("IS").unwrap();
        let cases: Vec<(keyprov::Error, u16, bool)> = vec![
            (
                keyprov::Error::invalid("consumerKey", "must not be empty"),
                400,
                false,
            ),
            (
                keyprov::Error::ApplicationNotFound(ApplicationId::random()),
                404,
                false,
            ),
            (
                keyprov::Error::Forbidden(ApplicationId::random()),
                403,
                false,
            ),
            (keyprov::Error::ProvisioningDisabled(km.clone()), 403, false),
            (
                keyprov::Error::NotPermitted {
                    operation: "set a mapping's state",
                },
                403,
                false,
            ),
            (
                keyprov::Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped),
                409,
                false,
            ),
            (
                keyprov::Error::KeyManagerUnavailable {
                    key_manager: km.clone(),
                    detail: "timed out".into(),
                    source: None,
                },
                503,
                true,
            ),
            (
                keyprov::Error::KeyManagerProtocol {
                    key_manager: km.clone(),
                    endpoint: "/oauth2/token".into(),
                    detail: "not JSON".into(),
                },
                502,
                false,
            ),
            (
                keyprov::Error::Storage {
                    detail: "busy".into(),
                    retryable: true,
                    source: None,
                },
                503,
                true,
            ),
            (
                keyprov::Error::Storage {
                    detail: "corrupt".into(),
                    retryable: false,
                    source: None,
                },
                500,
                false,
            ),
        ];
        for (error, status, retry) in cases {
            let code = error.code();
            let rest = RestError::from(error);
            assert_eq!(rest.status().as_u16(), status, "{rest}");
            assert_eq!(rest.body().code, i64::from(code));
            let response = rest.into_response();
            assert_eq!(response.headers().contains_key(header::RETRY_AFTER), retry);
        }
    }

    #[test]
    fn invalid_input_and_conflicts_name_the_field_and_the_rule() {
        let rest = RestError::invalid("keyType", "unknown value");
        assert_eq!(rest.body().error[0].code, "keyType");
        let rest = RestError::from(keyprov::Error::MappingExists(
            ConflictRule::KeyTypeAlreadyMapped,
        ));
        assert_eq!(rest.body().error[0].code, "keyTypeAlreadyMapped");
        assert!(rest.body().description.contains("already has keys"));
    }
}
