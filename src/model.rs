//! The domain model: organizations, applications, APIs, subscriptions, key types and key mappings.
//!
//! Identifiers are newtypes so that an application id cannot be passed where an API id is
//! expected. Text identifiers share their text: a clone counts a reference instead of copying
//! (the gateway hands a client id and a key manager id out with every resolution). Values
//! that come from callers (consumer keys, names) are validated by their constructors and
//! report the field and the reason on failure.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, InvalidInput};

/// Longest consumer key accepted (WSO2 stores it in a `VARCHAR(512)` column).
pub const MAX_CONSUMER_KEY_LEN: usize = 512;
/// Longest name (application, API, owner, organization, key manager) accepted.
pub const MAX_NAME_LEN: usize = 255;

/// Checks a caller-supplied text field: not blank, no surrounding whitespace, no control
/// characters, at most `max` bytes.
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), Error> {
    // ASCII (nearly every id, and every client id a gateway reads from a token) is checked
    // byte by byte; the rules are the same as for any text.
    let problem = if value.is_ascii() {
        ascii_text_problem(value.as_bytes(), max)
    } else {
        text_problem(value, max)
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(text_error(field, value, max, problem)),
    }
}

/// The error for a text field that fails its checks, built out of line.
#[cold]
#[inline(never)]
fn text_error(field: &'static str, value: &str, max: usize, problem: TextProblem) -> Error {
    let reason = match problem {
        TextProblem::Blank => "must not be empty or blank".to_owned(),
        TextProblem::TooLong => format!("must be at most {max} bytes, got {}", value.len()),
        TextProblem::Control => "must not contain control characters".to_owned(),
        TextProblem::Surrounding => "must not start or end with whitespace".to_owned(),
    };
    Error::InvalidInput(InvalidInput::new(field, &reason))
}

/// What is wrong with a text field, in the order the checks report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextProblem {
    Blank,
    TooLong,
    Control,
    Surrounding,
}

fn text_problem(value: &str, max: usize) -> Option<TextProblem> {
    if value.trim().is_empty() {
        Some(TextProblem::Blank)
    } else if value.len() > max {
        Some(TextProblem::TooLong)
    } else if value.chars().any(char::is_control) {
        Some(TextProblem::Control)
    } else if value.trim() != value {
        Some(TextProblem::Surrounding)
    } else {
        None
    }
}

/// [`text_problem`] for ASCII text: `char::is_whitespace` and `char::is_control` restricted
/// to ASCII are the bytes below.
fn ascii_text_problem(bytes: &[u8], max: usize) -> Option<TextProblem> {
    let space = |b: &u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    if bytes.iter().all(space) {
        Some(TextProblem::Blank)
    } else if bytes.len() > max {
        Some(TextProblem::TooLong)
    } else if bytes.iter().any(|b| *b < 0x20 || *b == 0x7f) {
        Some(TextProblem::Control)
    } else if bytes.first().is_some_and(space) || bytes.last().is_some_and(space) {
        Some(TextProblem::Surrounding)
    } else {
        None
    }
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps a value.
            ///
            /// # Errors
            /// [`Error::InvalidInput`] naming the field when the value is blank, too long,
            /// has surrounding whitespace or contains control characters.
            pub fn new(value: impl Into<String>) -> Result<Self, Error> {
                let value = value.into();
                check_text($field, &value, $max)?;
                Ok(Self(value.into()))
            }

            /// A copy with its own reference count.
            #[allow(dead_code)]
            pub(crate) fn deep_copy(&self) -> Self {
                Self(self.as_str().into())
            }

            /// As [`Self::new`] from a borrowed value, with one allocation.
            #[allow(dead_code)]
            pub(crate) fn from_ref(value: &str) -> Result<Self, Error> {
                check_text($field, value, $max)?;
                Ok(Self(value.into()))
            }

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(value: &str) -> Result<Self, Error> {
                Self::from_ref(value)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(value: &str) -> Result<Self, Error> {
                Self::from_ref(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.as_ref().to_owned()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// An OAuth2 client id (WSO2: consumer key). At most [`MAX_CONSUMER_KEY_LEN`] bytes.
    ConsumerKey,
    "consumerKey",
    MAX_CONSUMER_KEY_LEN
);
string_id!(
    /// The stable identifier of a configured key manager.
    KeyManagerId,
    "keyManager",
    MAX_NAME_LEN
);
string_id!(
    /// The display name of a key manager (e.g. `IS`, `Resident Key Manager`).
    KeyManagerName,
    "keyManager",
    MAX_NAME_LEN
);
string_id!(
    /// An organization (tenant) identifier.
    OrganizationId,
    "organization",
    MAX_NAME_LEN
);
string_id!(
    /// A user name as the embedding service knows it (the owner of an application).
    UserId,
    "owner",
    MAX_NAME_LEN
);
string_id!(
    /// The name of a service or scheduled job acting on its own behalf (e.g. `reconciler`,
    /// `billing-sync`), recorded as [`Actor::Service`].
    ServiceId,
    "service",
    MAX_NAME_LEN
);
string_id!(
    /// The identifier of one request, shared by every audit record it caused (an import's
    /// rows, a deletion's mappings). Random unless the caller sets one
    /// ([`Provisioner::with_request_id`](crate::Provisioner::with_request_id)), e.g. from an
    /// `X-Request-Id` header.
    RequestId,
    "requestId",
    MAX_NAME_LEN
);

impl RequestId {
    /// A new random identifier.
    pub fn random() -> Self {
        Self(Uuid::new_v4().to_string().into())
    }
}

string_id!(
    /// The identifier of an API.
    ApiId,
    "apiId",
    MAX_NAME_LEN
);

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new identifier: a UUID v7, whose first bits are the time of creation, so
            /// that identifiers created one after the other sort together and a store's
            /// indexes grow at their end instead of at random places.
            pub fn random() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(value: &str) -> Result<Self, Error> {
                Uuid::parse_str(value).map(Self).map_err(|_| {
                    Error::InvalidInput(InvalidInput::new($field, "must be a UUID"))
                })
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }
    };
}

uuid_id!(
    /// The identifier of an application.
    ApplicationId,
    "applicationId"
);
uuid_id!(
    /// The identifier of a key mapping (WSO2: `keyMappingId`).
    MappingId,
    "keyMappingId"
);

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling (as WSO2 writes it).
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            /// Parses the wire spelling, ignoring ASCII case.
            fn from_str(value: &str) -> Result<Self, Error> {
                $(if value.eq_ignore_ascii_case($wire) {
                    return Ok($name::$variant);
                })+
                let allowed = [$($wire),+].join(", ");
                Err(Error::InvalidInput(InvalidInput::new(
                    $field,
                    format!("unknown value, expected one of {allowed}"),
                )))
            }
        }
    };
}

wire_enum!(
    /// Whether keys are for production or sandbox endpoints.
    KeyType, "keyType" {
        /// Production keys.
        Production => "PRODUCTION",
        /// Sandbox keys.
        Sandbox => "SANDBOX",
    }
);

wire_enum!(
    /// The state of a subscription of an application to an API.
    SubscriptionState, "subscriptionState" {
        /// Calls allowed with any key type.
        Unblocked => "UNBLOCKED",
        /// All calls refused.
        Blocked => "BLOCKED",
        /// Production calls refused; sandbox calls allowed.
        ProdOnlyBlocked => "PROD_ONLY_BLOCKED",
        /// Awaiting approval: calls refused.
        OnHold => "ON_HOLD",
        /// Rejected by an approver: calls refused.
        Rejected => "REJECTED",
    }
);

impl SubscriptionState {
    /// Whether a call with keys of `key_type` is allowed under this state.
    pub fn allows(&self, key_type: KeyType) -> bool {
        match self {
            SubscriptionState::Unblocked => true,
            SubscriptionState::ProdOnlyBlocked => key_type == KeyType::Sandbox,
            SubscriptionState::Blocked
            | SubscriptionState::OnHold
            | SubscriptionState::Rejected => false,
        }
    }
}

wire_enum!(
    /// How a key mapping came to be.
    MappingMode, "mode" {
        /// An out-of-band client provisioned (mapped) into the application.
        Mapped => "MAPPED",
        /// A client the portal created itself.
        Created => "CREATED",
    }
);

wire_enum!(
    /// Whether a mapping's tokens are accepted.
    MappingState, "keyState" {
        /// Tokens are accepted.
        Active => "ACTIVE",
        /// Tokens are refused until the mapping is re-activated (e.g. client disabled at the KM).
        Suspended => "SUSPENDED",
        /// The client no longer exists at its key manager.
        Orphaned => "ORPHANED",
    }
);

wire_enum!(
    /// Which tokens a key manager issues for the gateway (WSO2's `token_type`).
    TokenType, "tokenType" {
        /// The KM's tokens are presented to the gateway directly.
        Direct => "DIRECT",
        /// The KM's tokens are exchanged first; such a KM cannot hold mappings.
        Exchanged => "EXCHANGED",
        /// Both.
        Both => "BOTH",
    }
);

/// An organization (tenant).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Identifier.
    pub id: OrganizationId,
    /// Display name.
    pub name: String,
}

/// A developer-portal application: the unit that subscribes to APIs and holds keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Identifier.
    pub id: ApplicationId,
    /// Display name, unique per owner within an organization.
    pub name: String,
    /// The user who owns the application.
    pub owner: UserId,
    /// The organization it belongs to.
    pub organization: OrganizationId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Which key managers an API accepts tokens from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind", content = "key_managers")]
pub enum AllowedKeyManagers {
    /// Every key manager of the organization and every global one.
    #[default]
    All,
    /// Only these (by id).
    Only(Vec<KeyManagerId>),
}

impl AllowedKeyManagers {
    /// Whether tokens of `km` may call the API.
    pub fn allows(&self, km: &KeyManagerId) -> bool {
        match self {
            AllowedKeyManagers::All => true,
            AllowedKeyManagers::Only(list) => list.contains(km),
        }
    }
}

/// An API that applications subscribe to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Api {
    /// Identifier.
    pub id: ApiId,
    /// Name.
    pub name: String,
    /// Version, e.g. `1.0.0`.
    pub version: String,
    /// Context path, e.g. `/pizzashack/1.0.0`.
    pub context: String,
    /// Organization that publishes it.
    pub organization: OrganizationId,
    /// Key managers whose tokens it accepts.
    pub key_managers: AllowedKeyManagers,
    /// Audience that tokens must carry to call it, when set.
    pub audience: Option<String>,
}

impl Api {
    /// An API that accepts tokens of every key manager and requires no audience.
    ///
    /// ```
    /// use keyprov::{AllowedKeyManagers, Api, ApiId, KeyManagerId, OrganizationId};
    ///
    /// let api = Api::new(ApiId::new("pizzashack-1.0.0")?, "PizzaShackAPI", "1.0.0",
    ///                    "/pizzashack/1.0.0", OrganizationId::new("carbon.super")?)
    ///     .key_managers(AllowedKeyManagers::Only(vec![KeyManagerId::new("IS")?]))
    ///     .audience("pizzashack");
    /// assert_eq!(api.audience.as_deref(), Some("pizzashack"));
    /// # Ok::<(), keyprov::Error>(())
    /// ```
    pub fn new(
        id: ApiId,
        name: impl Into<String>,
        version: impl Into<String>,
        context: impl Into<String>,
        organization: OrganizationId,
    ) -> Self {
        Self {
            id,
            name: name.into(),
            version: version.into(),
            context: context.into(),
            organization,
            key_managers: AllowedKeyManagers::default(),
            audience: None,
        }
    }

    /// Sets the key managers whose tokens it accepts.
    pub fn key_managers(mut self, key_managers: AllowedKeyManagers) -> Self {
        self.key_managers = key_managers;
        self
    }

    /// Sets the audience tokens must carry.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
}

/// A subscription of an application to an API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The subscribing application.
    pub application: ApplicationId,
    /// The API.
    pub api: ApiId,
    /// Its state.
    pub state: SubscriptionState,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
}

/// What the key manager said about a client when it was mapped, kept for display only
/// ([P4.4](crate::guide::provisioning#p4-validation-against-the-key-manager)): never compared against portal settings, never holds a secret.
///
/// Deserializing fills absent members with their empty values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSnapshot {
    /// Client name as the KM knows it.
    pub client_name: Option<String>,
    /// Grant types the client may use.
    pub grant_types: Vec<String>,
    /// Redirect (callback) URIs.
    pub redirect_uris: Vec<String>,
    /// Token format (`JWT`, `Default`/opaque, ...), as the KM spells it.
    pub token_type: Option<String>,
    /// Access-token lifetime in seconds.
    pub access_token_lifetime_s: Option<i64>,
    /// Further properties the KM reported (strings only; secrets are never copied here).
    pub additional: std::collections::BTreeMap<String, String>,
}

/// Who performs a call, recorded on the mapping it creates ([`KeyMapping::created_by`]) and in
/// the log line of every change.
///
/// A [`User`](Actor::User) may act only on the applications they own. An
/// [`Admin`](Actor::Admin) (an administrator of the embedding service acting on someone else's
/// application) and a [`Service`](Actor::Service) (a named service or scheduled job) may act on
/// any application, and only they may set a mapping's state by hand.
///
/// Stored as `{"kind": "user" | "admin" | "service", "id": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "ActorRecord", into = "ActorRecord")]
#[non_exhaustive]
pub enum Actor {
    /// A user acting for themselves.
    User(UserId),
    /// An administrator, by user name, acting on any application.
    Admin(UserId),
    /// A service or scheduled job, by name, acting on any application.
    Service(ServiceId),
}

impl Actor {
    /// A user acting for themselves.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `owner` for a blank, too long or control-character name.
    pub fn user(name: impl Into<String>) -> Result<Self, Error> {
        UserId::new(name).map(Actor::User)
    }

    /// An administrator.
    ///
    /// # Errors
    /// As [`Actor::user`].
    pub fn admin(name: impl Into<String>) -> Result<Self, Error> {
        UserId::new(name).map(Actor::Admin)
    }

    /// A named service or scheduled job.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `service` for a bad name.
    pub fn service(name: impl Into<String>) -> Result<Self, Error> {
        ServiceId::new(name).map(Actor::Service)
    }

    /// Whether this caller may act on applications it does not own.
    pub fn is_privileged(&self) -> bool {
        !matches!(self, Actor::User(_))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(user) => write!(f, "user {user}"),
            Actor::Admin(user) => write!(f, "admin {user}"),
            Actor::Service(service) => write!(f, "service {service}"),
        }
    }
}

/// The stored form of an [`Actor`]. It also reads what earlier versions wrote:
/// `{"kind": "user", "user": "..."}` and the anonymous `{"kind": "system"}`, which reads as the
/// service `system`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ActorRecord {
    User {
        #[serde(alias = "user")]
        id: UserId,
    },
    Admin {
        id: UserId,
    },
    Service {
        id: ServiceId,
    },
    #[serde(skip_serializing)]
    System,
}

impl From<ActorRecord> for Actor {
    fn from(record: ActorRecord) -> Self {
        match record {
            ActorRecord::User { id } => Actor::User(id),
            ActorRecord::Admin { id } => Actor::Admin(id),
            ActorRecord::Service { id } => Actor::Service(id),
            ActorRecord::System => Actor::Service(ServiceId(Arc::from("system"))),
        }
    }
}

impl From<Actor> for ActorRecord {
    fn from(actor: Actor) -> Self {
        match actor {
            Actor::User(id) => ActorRecord::User { id },
            Actor::Admin(id) => ActorRecord::Admin { id },
            Actor::Service(id) => ActorRecord::Service { id },
        }
    }
}

/// The association (application, key type, key manager) → consumer key ([P5](crate::guide::provisioning#p5-what-is-stored)).
///
/// The consumer secret is not part of it: it is never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMapping {
    /// Identifier.
    pub id: MappingId,
    /// The application that holds the keys.
    pub application: ApplicationId,
    /// Production or sandbox.
    pub key_type: KeyType,
    /// The key manager that owns the client.
    pub key_manager: KeyManagerId,
    /// The client id.
    pub consumer_key: ConsumerKey,
    /// `MAPPED` for out-of-band clients.
    pub mode: MappingMode,
    /// Whether its tokens are accepted.
    pub state: MappingState,
    /// Whether the client was validated against its key manager when mapped.
    pub validated: bool,
    /// Whether the secret was proven when mapped.
    pub secret_proven: bool,
    /// What the key manager said about the client.
    pub snapshot: ClientSnapshot,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: Actor,
}

/// Identifiers for many records created at one time (a bulk import): UUID v7s of that
/// time, each greater than the one before, made without the process-wide lock that
/// `random()` takes for every identifier.
pub(crate) struct Ids {
    context: uuid::ContextV7,
    seconds: u64,
    nanos: u32,
}

impl Ids {
    /// Identifiers of records created at `at`.
    pub(crate) fn at(at: DateTime<Utc>) -> Self {
        Self {
            context: uuid::ContextV7::new(),
            seconds: u64::try_from(at.timestamp()).unwrap_or_default(),
            nanos: at.timestamp_subsec_nanos(),
        }
    }

    /// The next identifier.
    pub(crate) fn next<T: From<Uuid>>(&self) -> T {
        let timestamp = uuid::Timestamp::from_unix(&self.context, self.seconds, self.nanos);
        T::from(Uuid::new_v7(timestamp))
    }
}

/// The current time truncated to milliseconds, the precision every store keeps.
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    /// The ASCII fast path gives the same verdict as the general rules for every ASCII
    /// string of up to two bytes, and for three-byte strings over a set of telling bytes.
    #[test]
    fn ascii_text_checks_agree_with_the_general_rules() {
        let all: Vec<u8> = (0..128).collect();
        let telling = [
            b'a', b' ', b'\t', b'\n', 0x0b, 0x0c, b'\r', 0x00, 0x1f, 0x7f, b'~',
        ];
        let mut cases: Vec<Vec<u8>> = vec![vec![]];
        cases.extend(all.iter().map(|a| vec![*a]));
        for a in &all {
            cases.extend(all.iter().map(|b| vec![*a, *b]));
        }
        for a in telling {
            for b in telling {
                cases.extend(telling.iter().map(|c| vec![a, b, *c]));
            }
        }
        for bytes in &cases {
            let text = std::str::from_utf8(bytes).unwrap();
            for max in [1, 2, 3] {
                assert_eq!(
                    ascii_text_problem(bytes, max),
                    text_problem(text, max),
                    "{text:?} max {max}"
                );
            }
        }
        assert!(check_text("f", "client-1", 10).is_ok());
        assert!(check_text("f", "ключ", 10).is_ok());
        assert!(check_text("f", "ключ\u{85}", 20).is_err());
        assert!(check_text("f", "\u{3000}ключ", 20).is_err());
    }

    use super::*;

    #[test]
    fn actors_are_stored_with_their_identity_and_earlier_records_still_read() {
        let admin = Actor::Admin(UserId::new("carol").unwrap());
        let service = Actor::Service(ServiceId::new("billing-sync").unwrap());
        let user = Actor::User(UserId::new("alice").unwrap());
        for (actor, json) in [
            (&admin, r#"{"kind":"admin","id":"carol"}"#),
            (&service, r#"{"kind":"service","id":"billing-sync"}"#),
            (&user, r#"{"kind":"user","id":"alice"}"#),
        ] {
            assert_eq!(serde_json::to_string(actor).unwrap(), json);
            assert_eq!(&serde_json::from_str::<Actor>(json).unwrap(), actor);
        }
        let earlier_user: Actor =
            serde_json::from_str(r#"{"kind":"user","user":"alice"}"#).unwrap();
        assert_eq!(earlier_user, user);
        let earlier_system: Actor = serde_json::from_str(r#"{"kind":"system"}"#).unwrap();
        assert_eq!(
            earlier_system,
            Actor::Service(ServiceId::new("system").unwrap())
        );
        assert!(serde_json::from_str::<Actor>(r#"{"kind":"admin","id":""}"#).is_err());
        assert_eq!(admin.to_string(), "admin carol");
        assert_eq!(service.to_string(), "service billing-sync");
        assert!(admin.is_privileged() && service.is_privileged() && !user.is_privileged());
    }

    #[test]
    fn consumer_key_rejects_bad_input_with_field_and_reason() {
        for (input, reason) in [
            ("", "empty"),
            ("   ", "empty"),
            (" abc", "whitespace"),
            ("ab\0c", "control"),
            ("ab\nc", "control"),
        ] {
            let err = ConsumerKey::new(input).unwrap_err();
            let Error::InvalidInput(invalid) = &err else {
                panic!("{input:?}: {err:?}")
            };
            assert_eq!(invalid.field, "consumerKey");
            assert!(
                invalid.reason.contains(reason),
                "{input:?}: {}",
                invalid.reason
            );
        }
        let long = "k".repeat(10 * 1024);
        let err = ConsumerKey::new(long).unwrap_err();
        assert!(err.to_string().contains("at most 512 bytes"), "{err}");
        assert!(ConsumerKey::new("k".repeat(MAX_CONSUMER_KEY_LEN)).is_ok());
        assert!(ConsumerKey::new("Xy_3f-9.a b").is_ok());
    }

    #[test]
    fn key_type_parses_wire_spelling_and_refuses_others() {
        assert_eq!(
            "PRODUCTION".parse::<KeyType>().unwrap(),
            KeyType::Production
        );
        assert_eq!("sandbox".parse::<KeyType>().unwrap(), KeyType::Sandbox);
        let err = "PROD".parse::<KeyType>().unwrap_err();
        assert!(err.to_string().contains("keyType"), "{err}");
        assert_eq!(
            serde_json::to_string(&KeyType::Sandbox).unwrap(),
            "\"SANDBOX\""
        );
    }

    #[test]
    fn subscription_states_gate_key_types() {
        use SubscriptionState::*;
        let table = [
            (Unblocked, true, true),
            (Blocked, false, false),
            (ProdOnlyBlocked, false, true),
            (OnHold, false, false),
            (Rejected, false, false),
        ];
        for (state, prod, sandbox) in table {
            assert_eq!(state.allows(KeyType::Production), prod, "{state}");
            assert_eq!(state.allows(KeyType::Sandbox), sandbox, "{state}");
        }
    }
}
