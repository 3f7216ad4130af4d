//! How a refusal is answered: status, `WWW-Authenticate` (RFC 6750 §3), body (WSO2 API
//! Manager gateway fault or none), or gRPC status.

use std::fmt::Write as _;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use keyprov::SubscriptionState;
use keyprov::gateway::Denial;

/// The body of a refusal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultBody {
    /// The JSON fault of the WSO2 API Manager gateway:
    /// `{"fault":{"code":900901,"message":"Invalid Credentials","description":"..."}}`, so that
    /// clients written against a WSO2 gateway keep working.
    #[default]
    Wso2,
    /// No body: the answer is the status and its `WWW-Authenticate` header alone, as in the
    /// examples of RFC 6750 §3.
    Rfc6750,
}

/// One refusal, before it is written in a given format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    /// RFC 6750 error code; `None` for a request without bearer credentials (§3.1) and for
    /// answers that are not about the token (503, unmatched route).
    pub error: Option<&'static str>,
    /// Whether to send `WWW-Authenticate`.
    pub challenge: bool,
    /// Human-readable, safe to show: never the token or a secret.
    pub description: String,
    /// Scopes the route requires (`insufficient_scope`).
    pub scope: Option<String>,
    pub wso2_code: u32,
    pub wso2_message: &'static str,
    /// The metrics label.
    pub code: &'static str,
}

impl Refusal {
    pub fn missing(header: &str) -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            error: None,
            challenge: true,
            description: format!(
                "the request has no bearer token: send the header \"{header}: Bearer <token>\""
            ),
            scope: None,
            wso2_code: 900902,
            wso2_message: "Missing Credentials",
            code: "missing_credentials",
        }
    }

    pub fn malformed_header(why: &'static str) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            error: Some("invalid_request"),
            challenge: true,
            description: why.to_owned(),
            scope: None,
            wso2_code: 900902,
            wso2_message: "Missing Credentials",
            code: "malformed_header",
        }
    }

    pub fn unmatched() -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            error: None,
            challenge: false,
            description: "no API resource is configured for this request".to_owned(),
            scope: None,
            wso2_code: 900906,
            wso2_message: "No matching resource found in the API for the given request",
            code: "unmatched_route",
        }
    }

    pub fn insufficient_scope(required: &[String]) -> Refusal {
        let scope = required.join(" ");
        Refusal {
            status: StatusCode::FORBIDDEN,
            error: Some("insufficient_scope"),
            challenge: true,
            description: format!(
                "the token does not grant the scopes this resource requires: {scope}"
            ),
            scope: Some(scope),
            wso2_code: 900910,
            wso2_message: "The access token does not allow you to access the requested resource",
            code: "insufficient_scope",
        }
    }

    /// A denial of the resolver: its status, its code, its message.
    pub fn denied(denial: &Denial) -> Refusal {
        let status = StatusCode::from_u16(denial.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let (error, challenge) = match status {
            StatusCode::UNAUTHORIZED => (Some("invalid_token"), true),
            StatusCode::FORBIDDEN => (Some("insufficient_scope"), true),
            _ => (None, false),
        };
        let (wso2_code, wso2_message) = match denial {
            Denial::Expired { .. } => (900903, "Access Token Expired"),
            Denial::InactiveToken => (900904, "Access Token Inactive"),
            Denial::SubscriptionRefuses {
                state: SubscriptionState::Blocked | SubscriptionState::ProdOnlyBlocked,
                ..
            } => (900907, "The requested API is temporarily blocked"),
            Denial::SubscriptionRefuses { .. } => {
                (900909, "The subscription to the API is inactive")
            }
            Denial::NotFollowing => (900900, "Unclassified Authentication Failure"),
            _ if status == StatusCode::FORBIDDEN => (900908, "Resource forbidden"),
            _ => (900901, "Invalid Credentials"),
        };
        Refusal {
            status,
            error,
            challenge,
            description: denial.to_string(),
            scope: None,
            wso2_code,
            wso2_message,
            code: denial.code(),
        }
    }

    /// The `WWW-Authenticate` value: `Bearer realm="..", error="..", error_description="..",
    /// scope=".."`.
    pub fn challenge(&self, realm: Option<&str>) -> Option<HeaderValue> {
        if !self.challenge {
            return None;
        }
        let mut value = String::from("Bearer");
        let mut sep = " ";
        let mut param = |value: &mut String, name: &str, text: &str| {
            let _ = write!(value, "{sep}{name}=\"{}\"", quoted(text));
            sep = ", ";
        };
        if let Some(realm) = realm {
            param(&mut value, "realm", realm);
        }
        if let Some(error) = self.error {
            param(&mut value, "error", error);
            param(&mut value, "error_description", &self.description);
        }
        if let Some(scope) = &self.scope {
            param(&mut value, "scope", scope);
        }
        HeaderValue::from_str(&value).ok()
    }

    /// The WSO2 gateway's JSON fault.
    pub fn wso2_json(&self) -> String {
        let mut body = String::with_capacity(160 + self.description.len());
        body.push_str("{\"fault\":{\"code\":");
        let _ = write!(body, "{}", self.wso2_code);
        body.push_str(",\"message\":");
        json_string(&mut body, self.wso2_message);
        body.push_str(",\"description\":");
        json_string(
            &mut body,
            &format!("{}. {}", self.wso2_message.trim_end(), self.description),
        );
        body.push_str("}}");
        body
    }

    /// The HTTP answer.
    pub fn http<B>(
        &self,
        format: FaultBody,
        realm: Option<&str>,
        body: impl FnOnce(Bytes) -> B,
    ) -> Response<B> {
        let (bytes, json) = match format {
            FaultBody::Wso2 => (Bytes::from(self.wso2_json()), true),
            FaultBody::Rfc6750 => (Bytes::new(), false),
        };
        let mut response = Response::new(body(bytes));
        *response.status_mut() = self.status;
        if json {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(challenge) = self.challenge(realm) {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }

    /// The gRPC answer: a trailers-only response (HTTP 200, `grpc-status` and `grpc-message`
    /// in the headers, no body), with the same `WWW-Authenticate` as metadata.
    pub fn grpc<B>(&self, realm: Option<&str>, body: impl FnOnce(Bytes) -> B) -> Response<B> {
        let code: u16 = match self.status {
            StatusCode::FORBIDDEN => 7,            // PERMISSION_DENIED
            StatusCode::SERVICE_UNAVAILABLE => 14, // UNAVAILABLE
            _ => 16,                               // UNAUTHENTICATED
        };
        let mut response = Response::new(body(Bytes::new()));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from(code));
        let message = format!(
            "{} ({}): {}",
            self.wso2_message.trim_end(),
            self.wso2_code,
            self.description
        );
        if let Ok(message) = HeaderValue::from_str(&percent_encode(&message)) {
            headers.insert("grpc-message", message);
        }
        if let Some(challenge) = self.challenge(realm) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// RFC 6750 §3: the attribute values use %x20-21 / %x23-5B / %x5D-7E only (no `"` or `\`).
fn quoted(text: &str) -> String {
    text.chars()
        .take(256)
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// gRPC's `grpc-message` encoding: percent-encoding of bytes outside 0x20..=0x7E and of `%`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyprov::KeyType;

    #[test]
    fn challenges_follow_rfc_6750() {
        let r = Refusal::missing("Authorization");
        assert_eq!(r.challenge(None).unwrap(), "Bearer");
        assert_eq!(
            r.challenge(Some("pizza")).unwrap(),
            "Bearer realm=\"pizza\""
        );
        let r = Refusal::denied(&Denial::Expired { exp: 1 });
        let c = r.challenge(None).unwrap();
        let c = c.to_str().unwrap();
        assert!(
            c.starts_with("Bearer error=\"invalid_token\", error_description=\""),
            "{c}"
        );
        let r = Refusal::insufficient_scope(&["orders:write".into(), "admin".into()]);
        let c = r.challenge(None).unwrap();
        assert!(
            c.to_str()
                .unwrap()
                .ends_with(", scope=\"orders:write admin\""),
            "{c:?}"
        );
        assert_eq!(Refusal::unmatched().challenge(Some("x")), None);
        assert_eq!(Refusal::denied(&Denial::NotFollowing).challenge(None), None);
    }

    #[test]
    fn description_text_cannot_break_the_header() {
        let r = Refusal::denied(&Denial::UnknownIssuer {
            issuer: "https://evil\"\\é\u{7f}".into(),
        });
        let c = r.challenge(None).unwrap();
        let c = c.to_str().unwrap();
        let inner = c.split("error_description=\"").nth(1).unwrap();
        assert!(!inner.trim_end_matches('"').contains(['"', '\\']), "{c}");
    }

    #[test]
    fn wso2_codes() {
        let code = |d: Denial| Refusal::denied(&d).wso2_code;
        assert_eq!(code(Denial::Expired { exp: 1 }), 900903);
        assert_eq!(code(Denial::InactiveToken), 900904);
        assert_eq!(code(Denial::MissingIssuer), 900901);
        let blocked = |state| Denial::SubscriptionRefuses {
            state,
            key_type: KeyType::Production,
        };
        assert_eq!(code(blocked(SubscriptionState::Blocked)), 900907);
        assert_eq!(code(blocked(SubscriptionState::ProdOnlyBlocked)), 900907);
        assert_eq!(code(blocked(SubscriptionState::OnHold)), 900909);
        assert_eq!(code(blocked(SubscriptionState::Rejected)), 900909);
        assert_eq!(
            code(Denial::KeyTypeMismatch {
                mapping: KeyType::Sandbox,
                endpoint: KeyType::Production
            }),
            900908
        );
        let body = Refusal::missing("Authorization").wso2_json();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["fault"]["code"], 900902);
        assert_eq!(v["fault"]["message"], "Missing Credentials");
        assert!(
            v["fault"]["description"]
                .as_str()
                .unwrap()
                .starts_with("Missing Credentials. ")
        );
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode("a%b é"), "a%25b %C3%A9");
    }
}
