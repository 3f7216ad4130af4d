//! What an administrator does in the IS console to create a client outside the portal: create
//! a "traditional application", choose its grant types and token type in the protocol tab,
//! copy the client id and secret; and disable, regenerate or delete it.

use std::fmt;

use km_oidc::emulator::ClientSpec;
use serde_json::Value;

use super::Wso2IsEmulator;
use super::dcr::format_of;

/// IS's access token types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsTokenType {
    /// Self-contained JWT access tokens.
    Jwt,
    /// Opaque tokens ("Default"), resolved by introspection.
    Default,
}

impl IsTokenType {
    /// IS's spelling: `JWT` or `Default`.
    pub fn as_str(self) -> &'static str {
        match self {
            IsTokenType::Jwt => "JWT",
            IsTokenType::Default => "Default",
        }
    }
}

/// Changes made in an application's protocol tab; unset values are left as they are.
#[derive(Clone, Debug, Default)]
pub struct Protocol {
    grant_types: Option<Vec<String>>,
    token_type: Option<IsTokenType>,
    public_client: Option<bool>,
    allowed_audience: Option<Vec<String>>,
    token_lifetime_s: Option<i64>,
}

impl Protocol {
    /// No change yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The allowed grant types.
    pub fn grant_types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, grants: I) -> Self {
        self.grant_types = Some(grants.into_iter().map(Into::into).collect());
        self
    }

    /// The access token type.
    pub fn token_type(mut self, token_type: IsTokenType) -> Self {
        self.token_type = Some(token_type);
        self
    }

    /// "Public client" (no secret).
    pub fn public_client(mut self, public: bool) -> Self {
        self.public_client = Some(public);
        self
    }

    /// Extra audiences of its tokens.
    pub fn allowed_audience<I: IntoIterator<Item = S>, S: Into<String>>(mut self, aud: I) -> Self {
        self.allowed_audience = Some(aud.into_iter().map(Into::into).collect());
        self
    }

    /// Application access token lifetime.
    pub fn token_lifetime_s(mut self, seconds: i64) -> Self {
        self.token_lifetime_s = Some(seconds);
        self
    }
}

/// An application's credentials as the console shows them.
#[derive(Clone)]
#[non_exhaustive]
pub struct ConsoleApplication {
    /// The application name.
    pub name: String,
    /// The client id ("OAuth Client Key").
    pub client_id: String,
    /// The client secret, in clear.
    pub client_secret: String,
}

impl fmt::Debug for ConsoleApplication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleApplication")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// Why the console refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// IS refuses a second application with the same name.
    #[error("an application named {0:?} already exists")]
    NameTaken(String),
    /// No such application.
    #[error("no application with client id {0:?}")]
    NotFound(String),
}

/// The IS console of an emulator.
#[derive(Debug)]
pub struct Console<'a> {
    is: &'a Wso2IsEmulator,
}

impl<'a> Console<'a> {
    pub(crate) fn new(is: &'a Wso2IsEmulator) -> Self {
        Self { is }
    }

    /// "New application → Traditional web application (OpenID Connect)": grant types
    /// `authorization_code` and `refresh_token`, token type `Default` (opaque), owned by the
    /// admin.
    ///
    /// # Errors
    /// [`ConsoleError::NameTaken`].
    pub fn create_traditional_application(
        &self,
        name: &str,
    ) -> Result<ConsoleApplication, ConsoleError> {
        let engine = self.is.engine();
        if engine
            .clients()
            .iter()
            .any(|c| c.client_name.as_deref() == Some(name))
        {
            return Err(ConsoleError::NameTaken(name.to_owned()));
        }
        let created = engine.create_client(
            ClientSpec::new()
                .name(name)
                .grant_types(["authorization_code", "refresh_token"])
                .redirect_uris(["https://localhost:3000/callback"])
                .token_format(format_of("Default"))
                .metadata("owner", self.is.admin_credentials().0.to_owned())
                .metadata("state", "ACTIVE")
                .metadata("token_type", "Default"),
        );
        Ok(ConsoleApplication {
            name: name.to_owned(),
            client_id: created.client_id,
            client_secret: created.client_secret,
        })
    }

    /// Saves changes made in the protocol tab ("Update").
    ///
    /// # Errors
    /// [`ConsoleError::NotFound`].
    pub fn update_protocol(&self, client_id: &str, protocol: Protocol) -> Result<(), ConsoleError> {
        let found = self.is.engine().update_client(client_id, |c| {
            if let Some(grants) = protocol.grant_types {
                c.grant_types = grants;
            }
            if let Some(t) = protocol.token_type {
                c.token_format = format_of(t.as_str());
                c.metadata.insert("token_type".into(), t.as_str().into());
            }
            if let Some(public) = protocol.public_client {
                c.metadata.insert("public_client".into(), public.into());
                c.token_endpoint_auth_method = if public {
                    "none"
                } else {
                    "client_secret_basic"
                }
                .into();
            }
            if let Some(aud) = protocol.allowed_audience {
                c.metadata.insert("allowed_audience".into(), aud.into());
            }
            if let Some(s) = protocol.token_lifetime_s {
                c.metadata.insert("app_token_lifetime".into(), s.into());
            }
        });
        found
            .then_some(())
            .ok_or_else(|| ConsoleError::NotFound(client_id.to_owned()))
    }

    /// The client id and secret shown in the protocol tab ("copy").
    ///
    /// # Errors
    /// [`ConsoleError::NotFound`].
    pub fn credentials(&self, client_id: &str) -> Result<ConsoleApplication, ConsoleError> {
        let record = self
            .is
            .engine()
            .client(client_id)
            .ok_or_else(|| ConsoleError::NotFound(client_id.to_owned()))?;
        Ok(ConsoleApplication {
            name: record.client_name.unwrap_or_default(),
            client_id: record.client_id,
            client_secret: record.client_secret,
        })
    }

    /// The console steps in one call: a traditional application with `client_credentials`
    /// added to its grant types and token type JWT; returns its id and secret.
    ///
    /// # Errors
    /// [`ConsoleError::NameTaken`].
    pub fn create_jwt_client(&self, name: &str) -> Result<ConsoleApplication, ConsoleError> {
        let app = self.create_traditional_application(name)?;
        self.update_protocol(
            &app.client_id,
            Protocol::new()
                .grant_types(["authorization_code", "refresh_token", "client_credentials"])
                .token_type(IsTokenType::Jwt),
        )?;
        self.credentials(&app.client_id)
    }

    /// Disables (7.x) or revokes (5.11/6.x) the application, or makes it active again.
    ///
    /// # Errors
    /// [`ConsoleError::NotFound`].
    pub fn set_active(&self, client_id: &str, active: bool) -> Result<(), ConsoleError> {
        let state = Value::from(if active { "ACTIVE" } else { "INACTIVE" });
        self.is
            .engine()
            .update_client(client_id, |c| {
                c.metadata.insert("state".into(), state);
            })
            .then_some(())
            .ok_or_else(|| ConsoleError::NotFound(client_id.to_owned()))
    }

    /// "Regenerate secret": the old one stops working.
    ///
    /// # Errors
    /// [`ConsoleError::NotFound`].
    pub fn regenerate_secret(&self, client_id: &str) -> Result<String, ConsoleError> {
        self.is
            .engine()
            .rotate_secret(client_id)
            .ok_or_else(|| ConsoleError::NotFound(client_id.to_owned()))
    }

    /// Deletes the application.
    ///
    /// # Errors
    /// [`ConsoleError::NotFound`].
    pub fn delete(&self, client_id: &str) -> Result<(), ConsoleError> {
        self.is
            .engine()
            .delete_client(client_id)
            .then_some(())
            .ok_or_else(|| ConsoleError::NotFound(client_id.to_owned()))
    }
}
