//! Why a token was refused: one variant per check of the
//! [resolution](crate::guide::gateway), each mappable to 401 or 403.
//!
//! A refusal never carries the token, a signature or a secret; it may name a key manager, a key
//! id, a claim name, a client id (not a secret) and states.

use std::fmt;

use crate::model::{ApiId, KeyManagerId, KeyType, MappingState, SubscriptionState};

use super::token::Algorithm;

/// Why the token's text is not a well-formed bearer token (step 1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// No token at all.
    Empty,
    /// Longer than the configured maximum.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A byte outside ASCII (so not UTF-8 text a token may contain).
    NotAscii {
        /// Byte offset.
        at: usize,
    },
    /// A character a JWT or RFC 6750 token may not contain (padding, whitespace, ...).
    InvalidCharacter {
        /// Byte offset.
        at: usize,
    },
    /// Dots that do not make three parts.
    PartCount {
        /// How many parts there were.
        parts: usize,
    },
    /// One of the three parts is empty.
    EmptyPart,
    /// A part is not canonical unpadded base64url.
    Base64 {
        /// `header`, `payload` or `signature`.
        part: &'static str,
    },
    /// A part is not the JSON object it must be.
    Json {
        /// `header` or `payload`.
        part: &'static str,
    },
    /// A part repeats a member the resolution reads (which copy counts would be ambiguous).
    DuplicateMember {
        /// `header` or `payload`.
        part: &'static str,
        /// The member, one of the names the gateway reads (never the token's text).
        name: String,
    },
    /// A claim has the wrong type.
    Claim {
        /// The claim name.
        name: String,
    },
    /// The header lists critical extensions (`crit`), none of which is supported.
    CriticalHeader,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Empty => f.write_str("the token is empty"),
            Malformed::TooLong { len, max } => {
                write!(
                    f,
                    "the token is {len} bytes long, more than the {max} allowed"
                )
            }
            Malformed::NotAscii { at } => write!(f, "the token has a non-ASCII byte at {at}"),
            Malformed::InvalidCharacter { at } => {
                write!(
                    f,
                    "the token has a character not allowed in a token at {at}"
                )
            }
            Malformed::PartCount { parts } => {
                write!(f, "the token has {parts} dot-separated parts, a JWT has 3")
            }
            Malformed::EmptyPart => f.write_str("a part of the JWT is empty"),
            Malformed::Base64 { part } => write!(f, "the JWT {part} is not unpadded base64url"),
            Malformed::Json { part } => write!(f, "the JWT {part} is not a valid JSON object"),
            Malformed::DuplicateMember { part, name } => {
                write!(f, "the JWT {part} has the member {name:?} twice")
            }
            Malformed::Claim { name } => write!(f, "the claim {name:?} has the wrong type"),
            Malformed::CriticalHeader => {
                f.write_str("the JWT header lists critical extensions, none is supported")
            }
        }
    }
}

/// A refused token, with the step of the [resolution](crate::guide::gateway) that
/// refused it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// Step 1: not a well-formed token.
    Malformed(Malformed),
    /// Step 2: the JWT has no `iss`.
    MissingIssuer,
    /// Step 2: no key manager, global or of the API's organization, has this issuer.
    UnknownIssuer {
        /// The `iss` claim (public information).
        issuer: String,
    },
    /// Step 2: the key manager is disabled.
    KeyManagerDisabled {
        /// The key manager.
        key_manager: KeyManagerId,
    },
    /// Step 2: the API does not accept tokens of this key manager.
    KeyManagerNotAllowed {
        /// The key manager.
        key_manager: KeyManagerId,
        /// The API.
        api: ApiId,
    },
    /// The gateway has no view yet: it follows no store and was never given a change. Call
    /// [`Gateway::follow`](super::Gateway::follow) (503, so that a wiring mistake is not taken
    /// for a refused client).
    NotFollowing,
    /// The API is not known to the gateway's view.
    UnknownApi {
        /// The API.
        api: ApiId,
    },
    /// Step 3: `none`, `HS*` or another algorithm that is not accepted.
    UnsupportedAlgorithm {
        /// The `alg` header (truncated to 32 characters).
        alg: String,
    },
    /// Step 3: no key with this `kid`, even after refreshing the key set.
    UnknownKey {
        /// The key manager.
        key_manager: KeyManagerId,
        /// The `kid` header (truncated to 64 characters), if any.
        kid: Option<String>,
    },
    /// Step 3: the token's `alg` does not match the key's type or the key's own `alg`.
    AlgorithmMismatch {
        /// The key manager.
        key_manager: KeyManagerId,
        /// What the token says.
        alg: Algorithm,
        /// What the key is.
        key: &'static str,
    },
    /// Step 3: the signature does not verify.
    BadSignature {
        /// The key manager.
        key_manager: KeyManagerId,
        /// The key tried.
        kid: Option<String>,
    },
    /// Step 3: the key manager's keys could not be obtained and none are cached.
    KeysUnavailable {
        /// The key manager.
        key_manager: KeyManagerId,
    },
    /// Step 4: `exp` is absent and the gateway requires it.
    MissingExpiry,
    /// Step 4: expired.
    Expired {
        /// `exp`, seconds since the epoch.
        exp: i64,
    },
    /// Step 4: `nbf` is in the future.
    NotYetValid {
        /// `nbf`, seconds since the epoch.
        nbf: i64,
    },
    /// Step 4: `iat` is in the future.
    IssuedInFuture {
        /// `iat`, seconds since the epoch.
        iat: i64,
    },
    /// Step 5: a configured audience is not in `aud`.
    WrongAudience {
        /// The audience required.
        expected: String,
    },
    /// Step 6: none of the consumer-key claims is present.
    NoConsumerKey {
        /// The claims looked for, in order.
        tried: Vec<String>,
    },
    /// Step 7: the client id is not mapped at this key manager.
    NoMapping {
        /// The key manager.
        key_manager: KeyManagerId,
        /// The client id (not a secret).
        consumer_key: String,
    },
    /// Step 7: the mapping is not `ACTIVE`.
    MappingNotActive {
        /// Its state.
        state: MappingState,
    },
    /// Step 8: the mapping's key type is not the endpoint's.
    KeyTypeMismatch {
        /// The mapping's key type.
        mapping: KeyType,
        /// The endpoint's.
        endpoint: KeyType,
    },
    /// Step 8: the application is not subscribed to the API.
    NotSubscribed {
        /// The API.
        api: ApiId,
    },
    /// Step 8: the subscription's state does not allow this key type.
    SubscriptionRefuses {
        /// Its state.
        state: SubscriptionState,
        /// The key type of the call.
        key_type: KeyType,
    },
    /// Step 9: no key manager may be asked about this opaque token for this API: none opted
    /// in to introspection and holds a mapping of an application subscribed to it (or the
    /// token's prefix names a key manager that does not). The token was sent nowhere.
    NoIntrospectionCandidate {
        /// The API.
        api: ApiId,
    },
    /// Step 9: no key manager said the opaque token is active.
    InactiveToken,
    /// Step 9: introspection failed at every key manager that could answer.
    IntrospectionUnavailable,
}

impl Denial {
    /// The HTTP status a gateway answers: 401 when the token itself is not acceptable, 403 when
    /// a valid token may not call this API with this key type.
    pub fn status(&self) -> u16 {
        match self {
            Denial::KeyManagerNotAllowed { .. }
            | Denial::UnknownApi { .. }
            | Denial::MappingNotActive { .. }
            | Denial::KeyTypeMismatch { .. }
            | Denial::NotSubscribed { .. }
            | Denial::SubscriptionRefuses { .. } => 403,
            Denial::NotFollowing => 503,
            _ => 401,
        }
    }

    /// A stable, machine-readable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Denial::Malformed(_) => "malformed",
            Denial::MissingIssuer => "missing_issuer",
            Denial::UnknownIssuer { .. } => "unknown_issuer",
            Denial::KeyManagerDisabled { .. } => "key_manager_disabled",
            Denial::KeyManagerNotAllowed { .. } => "key_manager_not_allowed",
            Denial::UnknownApi { .. } => "unknown_api",
            Denial::NotFollowing => "not_following",
            Denial::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Denial::UnknownKey { .. } => "unknown_key",
            Denial::AlgorithmMismatch { .. } => "algorithm_mismatch",
            Denial::BadSignature { .. } => "bad_signature",
            Denial::KeysUnavailable { .. } => "keys_unavailable",
            Denial::MissingExpiry => "missing_expiry",
            Denial::Expired { .. } => "expired",
            Denial::NotYetValid { .. } => "not_yet_valid",
            Denial::IssuedInFuture { .. } => "issued_in_future",
            Denial::WrongAudience { .. } => "wrong_audience",
            Denial::NoConsumerKey { .. } => "no_consumer_key",
            Denial::NoMapping { .. } => "no_mapping",
            Denial::MappingNotActive { .. } => "mapping_not_active",
            Denial::KeyTypeMismatch { .. } => "key_type_mismatch",
            Denial::NotSubscribed { .. } => "not_subscribed",
            Denial::SubscriptionRefuses { .. } => "subscription_refuses",
            Denial::NoIntrospectionCandidate { .. } => "no_introspection_candidate",
            Denial::InactiveToken => "inactive_token",
            Denial::IntrospectionUnavailable => "introspection_unavailable",
        }
    }

    /// The step of the [resolution](crate::guide::gateway) (1–9) that refused; 2 for an unknown API.
    pub fn step(&self) -> u8 {
        match self {
            Denial::Malformed(_) => 1,
            Denial::MissingIssuer
            | Denial::UnknownIssuer { .. }
            | Denial::KeyManagerDisabled { .. }
            | Denial::KeyManagerNotAllowed { .. }
            | Denial::UnknownApi { .. }
            | Denial::NotFollowing => 2,
            Denial::UnsupportedAlgorithm { .. }
            | Denial::UnknownKey { .. }
            | Denial::AlgorithmMismatch { .. }
            | Denial::BadSignature { .. }
            | Denial::KeysUnavailable { .. } => 3,
            Denial::MissingExpiry
            | Denial::Expired { .. }
            | Denial::NotYetValid { .. }
            | Denial::IssuedInFuture { .. } => 4,
            Denial::WrongAudience { .. } => 5,
            Denial::NoConsumerKey { .. } => 6,
            Denial::NoMapping { .. } | Denial::MappingNotActive { .. } => 7,
            Denial::KeyTypeMismatch { .. }
            | Denial::NotSubscribed { .. }
            | Denial::SubscriptionRefuses { .. } => 8,
            Denial::NoIntrospectionCandidate { .. }
            | Denial::InactiveToken
            | Denial::IntrospectionUnavailable => 9,
        }
    }
}

/// Runs `f` out of line, on a path the compiler treats as unlikely: refusals are built there,
/// so that the code of the accepting path stays dense in the instruction cache.
#[cold]
#[inline(never)]
pub(crate) fn cold<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cold]
pub(crate) fn truncated(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Malformed(m) => write!(f, "malformed token: {m}"),
            Denial::MissingIssuer => f.write_str("the token has no iss claim"),
            Denial::UnknownIssuer { issuer } => write!(
                f,
                "no key manager, global or of the API's organization, has the issuer {issuer:?}"
            ),
            Denial::KeyManagerDisabled { key_manager } => {
                write!(f, "key manager {key_manager} is disabled")
            }
            Denial::KeyManagerNotAllowed { key_manager, api } => {
                write!(
                    f,
                    "api {api} does not accept tokens of key manager {key_manager}"
                )
            }
            Denial::UnknownApi { api } => write!(f, "api {api} is not known to the gateway"),
            Denial::NotFollowing => f.write_str(
                "the gateway has no view: it follows no store (call Gateway::follow) and was given no change",
            ),
            Denial::UnsupportedAlgorithm { alg } => {
                write!(f, "the algorithm {alg:?} is not accepted")
            }
            Denial::UnknownKey { key_manager, kid } => match kid {
                Some(kid) => write!(f, "key manager {key_manager} has no key with kid {kid:?}"),
                None => write!(f, "the token names no kid and no key of {key_manager} fits"),
            },
            Denial::AlgorithmMismatch {
                key_manager,
                alg,
                key,
            } => write!(
                f,
                "the token says {alg} but the key of {key_manager} is {key}"
            ),
            Denial::BadSignature { key_manager, kid } => write!(
                f,
                "the signature does not verify with key {} of {key_manager}",
                kid.as_deref().unwrap_or("(no kid)")
            ),
            Denial::KeysUnavailable { key_manager } => write!(
                f,
                "the signing keys of key manager {key_manager} cannot be obtained"
            ),
            Denial::MissingExpiry => f.write_str("the token has no exp claim"),
            Denial::Expired { exp } => write!(f, "the token expired at {exp}"),
            Denial::NotYetValid { nbf } => write!(f, "the token is not valid before {nbf}"),
            Denial::IssuedInFuture { iat } => {
                write!(f, "the token is issued in the future ({iat})")
            }
            Denial::WrongAudience { expected } => {
                write!(f, "the token's audience does not include {expected:?}")
            }
            Denial::NoConsumerKey { tried } => write!(
                f,
                "the token carries no client id (claims tried: {})",
                tried.join(", ")
            ),
            Denial::NoMapping {
                key_manager,
                consumer_key,
            } => write!(
                f,
                "client {consumer_key:?} of key manager {key_manager} is not mapped to any application"
            ),
            Denial::MappingNotActive { state } => write!(f, "the key mapping is {state}"),
            Denial::KeyTypeMismatch { mapping, endpoint } => write!(
                f,
                "the keys are {mapping} keys and the endpoint is {endpoint}"
            ),
            Denial::NotSubscribed { api } => {
                write!(f, "the application is not subscribed to api {api}")
            }
            Denial::SubscriptionRefuses { state, key_type } => write!(
                f,
                "the subscription is {state}, which refuses {key_type} calls"
            ),
            Denial::NoIntrospectionCandidate { api } => write!(
                f,
                "no key manager may be asked about this opaque token for api {api}: opaque \
                 tokens go only to key managers that opted in to introspection and hold a \
                 mapping of an application subscribed to the api"
            ),
            Denial::InactiveToken => f.write_str("no key manager says the token is active"),
            Denial::IntrospectionUnavailable => {
                f.write_str("no key manager could introspect the token")
            }
        }
    }
}

impl std::error::Error for Denial {}
