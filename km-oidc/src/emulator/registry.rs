//! The emulator's client records and issued tokens.

use std::fmt;

use serde_json::{Map, Value};

/// Access token format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenFormat {
    /// A signed JWT.
    #[default]
    Jwt,
    /// A random reference token, resolvable only by introspection.
    Opaque,
}

/// A client as the emulator holds it. Vendor emulators keep their own fields in `metadata`.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientRecord {
    /// The client id.
    pub client_id: String,
    /// The secret in clear (the emulator is a test server).
    pub client_secret: String,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
    /// The name.
    pub client_name: Option<String>,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Scopes the client may ask for; empty: any.
    pub scopes: Vec<String>,
    /// Disabled clients cannot authenticate.
    pub enabled: bool,
    /// Token format when no resource decides otherwise.
    pub token_format: TokenFormat,
    /// Secret expiry, seconds since the epoch; `None`: never.
    pub secret_expires_at: Option<i64>,
    /// RFC 7592 registration access token.
    pub registration_access_token: String,
    /// Issued at, seconds since the epoch.
    pub issued_at: i64,
    /// Vendor fields (owner, tenant, `ext_*`, flags...).
    pub metadata: Map<String, Value>,
}

impl fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRecord")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("client_name", &self.client_name)
            .field("grant_types", &self.grant_types)
            .field("enabled", &self.enabled)
            .field("token_format", &self.token_format)
            .finish_non_exhaustive()
    }
}

impl ClientRecord {
    /// RFC 7591 §3.2.1 metadata (with secret) as the registration endpoints return it.
    pub fn registration_json(&self, registration_client_uri: Option<String>) -> Value {
        let mut out = Map::new();
        out.insert("client_id".into(), self.client_id.clone().into());
        if self.token_endpoint_auth_method != "none" {
            out.insert("client_secret".into(), self.client_secret.clone().into());
        }
        out.insert(
            "client_secret_expires_at".into(),
            self.secret_expires_at.unwrap_or(0).into(),
        );
        out.insert("client_id_issued_at".into(), self.issued_at.into());
        if let Some(name) = &self.client_name {
            out.insert("client_name".into(), name.clone().into());
        }
        out.insert("grant_types".into(), self.grant_types.clone().into());
        out.insert("redirect_uris".into(), self.redirect_uris.clone().into());
        out.insert(
            "token_endpoint_auth_method".into(),
            self.token_endpoint_auth_method.clone().into(),
        );
        if !self.scopes.is_empty() {
            out.insert("scope".into(), self.scopes.join(" ").into());
        }
        if let Some(uri) = registration_client_uri {
            out.insert("registration_client_uri".into(), uri.into());
            out.insert(
                "registration_access_token".into(),
                self.registration_access_token.clone().into(),
            );
        }
        Value::Object(out)
    }
}

/// What a new client should look like; unset values are generated or defaulted.
#[derive(Clone, Debug, Default)]
pub struct ClientSpec {
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<String>,
    pub(crate) auth_method: Option<String>,
    pub(crate) client_name: Option<String>,
    pub(crate) grant_types: Option<Vec<String>>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) token_format: TokenFormat,
    pub(crate) secret_expires_at: Option<i64>,
    pub(crate) metadata: Map<String, Value>,
}

impl ClientSpec {
    /// A confidential `client_credentials` client with generated id and secret.
    pub fn new() -> Self {
        Self {
            grant_types: Some(vec!["client_credentials".into()]),
            ..Self::default()
        }
    }

    /// Fixes the client id.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Fixes the secret.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Sets the token endpoint auth method (`client_secret_basic` by default, `none` = public).
    pub fn auth_method(mut self, method: impl Into<String>) -> Self {
        self.auth_method = Some(method.into());
        self
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// Sets the grant types.
    pub fn grant_types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, grants: I) -> Self {
        self.grant_types = Some(grants.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the scopes the client may ask for.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the redirect URIs.
    pub fn redirect_uris<I: IntoIterator<Item = S>, S: Into<String>>(mut self, uris: I) -> Self {
        self.redirect_uris = uris.into_iter().map(Into::into).collect();
        self
    }

    /// Starts disabled (or enabled).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Sets the token format.
    pub fn token_format(mut self, format: TokenFormat) -> Self {
        self.token_format = format;
        self
    }

    /// Sets the secret expiry (seconds since the epoch).
    pub fn secret_expires_at(mut self, at: i64) -> Self {
        self.secret_expires_at = Some(at);
        self
    }

    /// Adds a vendor field.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Reads RFC 7591 metadata (unknown members go to `metadata`).
    pub fn from_registration(body: &Map<String, Value>) -> Self {
        let strings = |key: &str| -> Option<Vec<String>> {
            body.get(key).and_then(Value::as_array).map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let string = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let known = [
            "client_id",
            "client_secret",
            "client_name",
            "grant_types",
            "redirect_uris",
            "token_endpoint_auth_method",
            "scope",
            "registration_access_token",
            "registration_client_uri",
            "client_secret_expires_at",
            "client_id_issued_at",
        ];
        Self {
            client_id: None,
            client_secret: None,
            auth_method: string("token_endpoint_auth_method"),
            client_name: string("client_name"),
            grant_types: strings("grant_types"),
            redirect_uris: strings("redirect_uris").unwrap_or_default(),
            scopes: string("scope")
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            enabled: None,
            token_format: TokenFormat::Jwt,
            secret_expires_at: None,
            metadata: body
                .iter()
                .filter(|(k, _)| !known.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// A client just created, with its credentials.
#[derive(Clone)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The client id.
    pub client_id: String,
    /// The secret.
    pub client_secret: String,
    /// The RFC 7592 registration access token.
    pub registration_access_token: String,
    /// The RFC 7592 client configuration URL, when registration is enabled.
    pub registration_client_uri: Option<String>,
}

impl fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field("registration_client_uri", &self.registration_client_uri)
            .finish_non_exhaustive()
    }
}

/// An issued access token.
#[derive(Clone, Debug)]
pub(crate) struct TokenRecord {
    pub(crate) client_id: String,
    pub(crate) exp: i64,
    pub(crate) claims: Map<String, Value>,
}
