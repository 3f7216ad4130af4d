//! An in-process WSO2 Identity Server for tests and examples (feature `emulator`), dressed
//! from km-oidc's emulator engine.
//!
//! It reproduces, for IS 5.11, 6.x or 7.x (chosen per instance, see [`IsVersion`]):
//! - the paths, under `/t/{tenant}` for a tenant: `/oauth2/token`, `/oauth2/introspect`,
//!   `/oauth2/jwks`, `/oauth2/token/.well-known/openid-configuration`,
//!   `/api/identity/oauth2/dcr/v1.1/register[/{client_id}]` (GET, POST, PUT, DELETE, and
//!   `GET ?client_name=`);
//! - the DCR read's field set of each version (`ext_*` members from 7.x), and hashed secrets
//!   in it when [`Wso2IsEmulatorBuilder::hash_secrets`] is on;
//! - the access tokens: JWT (RS256) with `iss` = `{base}/oauth2/token`, `sub` = the
//!   application owner, `azp`, `client_id` (from 6.0), `aut: APPLICATION`, `aud`, `scope`
//!   (`default` when none was asked for), `jti`, `iat`, `nbf`, `exp`, header `typ` `at+jwt`
//!   (from 6.0) or `JWT` (5.11); opaque tokens for applications of token type `Default`;
//! - the quirks: an unknown client id on the DCR API answers 401 with an empty body (as do
//!   wrong admin credentials), conflicts answer 400, an admin without permission gets 403 with
//!   no body, error bodies `{error, error_description[, traceId]}`;
//! - admin authentication: Basic of a user (every version); bearer tokens with
//!   `internal_dcr_*` scopes (7.x only; 5.11/6.x answer 401);
//! - introspection authorized by an admin user's Basic;
//! - a disabled (7.x) or revoked (5.11/6.x) application: its client still authenticates, and
//!   the token endpoint answers 401 `invalid_client` "Oauth application is not in active
//!   state." (the DCR read says nothing about it);
//! - the console ([`Console`]): create a "traditional application", set its grant types and
//!   token type in the protocol tab, copy the client id and secret.
//!
//! Faults (latency, 5xx, malformed JSON, HTML, dropped connections) come from km-oidc's
//! `Faults` (`km_oidc::emulator::Faults`), on every path.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use keyprov::{ConsumerKey, KeyManager};
//! use km_wso2is::emulator::{IsVersion, Wso2IsEmulator};
//!
//! let is = Wso2IsEmulator::start(IsVersion::V7).await?;
//! let app = is.console().create_jwt_client("Billing")?; // as an administrator would
//! let km = is.key_manager("IS")?;
//! let info = km.client(&ConsumerKey::new(app.client_id.as_str())?).await?;
//! assert_eq!(info.token_type.as_deref(), Some("JWT"));
//! # Ok(()) }
//! ```

mod console;
mod dcr;
mod oauth;

use std::fmt;
use std::sync::Arc;

use axum::{Extension, Router};
use keyprov::KeyManagerId;
use km_oidc::emulator::{ClientSpec, Emulator, Engine, Faults, Flavour, Paths, RegisteredClient};

use crate::config::{AdminAuth, DCR_PATH, Wso2IsConfig};
use crate::manager::Wso2IsKeyManager;

pub use console::{Console, ConsoleApplication, ConsoleError, IsTokenType, Protocol};

/// Which IS the emulator plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum IsVersion {
    /// 5.11: six-member DCR read, JWT header `typ: JWT`, no `client_id` claim.
    V5_11,
    /// 6.x: six-member DCR read, `typ: at+jwt`, `client_id` claim.
    V6,
    /// 7.x: `ext_*` members in the DCR read, bearer admin tokens with `internal_dcr_*`.
    V7,
}

impl IsVersion {
    /// Every version.
    pub const ALL: [IsVersion; 3] = [IsVersion::V5_11, IsVersion::V6, IsVersion::V7];

    /// `5.11`, `6.x`, `7.x` (the fixture names).
    pub fn label(self) -> &'static str {
        match self {
            IsVersion::V5_11 => "5.11",
            IsVersion::V6 => "6.x",
            IsVersion::V7 => "7.x",
        }
    }
}

impl fmt::Display for IsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A user of the emulated IS.
#[derive(Clone)]
pub(crate) struct IsUser {
    pub(crate) username: String,
    pub(crate) password: String,
    /// Holds the application-management permission (DCR, introspection).
    pub(crate) admin: bool,
}

/// What the IS routes need besides the engine.
pub(crate) struct IsSettings {
    pub(crate) version: IsVersion,
    /// `""` or `/t/{tenant}`.
    pub(crate) prefix: String,
    pub(crate) users: Vec<IsUser>,
    pub(crate) hash_secrets: bool,
}

impl IsSettings {
    pub(crate) fn user(&self, username: &str, password: &str) -> Option<&IsUser> {
        self.users
            .iter()
            .find(|u| u.username == username && u.password == password)
    }
}

/// Builds a [`Wso2IsEmulator`].
#[derive(Clone, Debug)]
pub struct Wso2IsEmulatorBuilder {
    version: IsVersion,
    tenant: Option<String>,
    admin: (String, String),
    users: Vec<(String, String, bool)>,
    hash_secrets: bool,
}

impl Wso2IsEmulatorBuilder {
    /// Which IS to play (default 7.x).
    pub fn version(mut self, version: IsVersion) -> Self {
        self.version = version;
        self
    }

    /// Serves one tenant at `/t/{tenant}`; its admin is `admin@{tenant}` unless set.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The admin user (default `admin` / `admin`, `admin@{tenant}` for a tenant).
    pub fn admin(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.admin = (username.into(), password.into());
        self
    }

    /// Adds a user; `admin` says whether it may manage applications (else the DCR API
    /// answers 403).
    pub fn user(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
        admin: bool,
    ) -> Self {
        self.users.push((username.into(), password.into(), admin));
        self
    }

    /// Returns secrets hashed in DCR reads, as IS does with secret hashing enabled.
    pub fn hash_secrets(mut self, on: bool) -> Self {
        self.hash_secrets = on;
        self
    }

    /// Starts serving on `127.0.0.1:0`.
    ///
    /// # Errors
    /// When the loopback listener cannot be bound.
    pub async fn start(self) -> std::io::Result<Wso2IsEmulator> {
        let prefix = self
            .tenant
            .as_deref()
            .map(|t| format!("/t/{t}"))
            .unwrap_or_default();
        let admin_name = match (&self.tenant, self.admin.0.as_str()) {
            (Some(t), "admin") => format!("admin@{t}"),
            (_, name) => name.to_owned(),
        };
        let mut users = vec![IsUser {
            username: admin_name.clone(),
            password: self.admin.1.clone(),
            admin: true,
        }];
        users.extend(
            self.users
                .into_iter()
                .map(|(username, password, admin)| IsUser {
                    username,
                    password,
                    admin,
                }),
        );
        let settings = Arc::new(IsSettings {
            version: self.version,
            prefix: prefix.clone(),
            users,
            hash_secrets: self.hash_secrets,
        });
        let flavour = Flavour {
            name: format!("wso2is-{}", self.version),
            paths: Paths {
                discovery: vec![],
                token: None,
                jwks: Some(format!("{prefix}/oauth2/jwks")),
                introspection: None,
                registration: None,
            },
            issuer_path: format!("{prefix}/oauth2/token"),
            jwt_typ: if self.version >= IsVersion::V6 {
                "at+jwt"
            } else {
                "JWT"
            }
            .into(),
            strict_auth_method: false,
            default_grant_types: vec!["client_credentials".into()],
            ..Flavour::standard()
        }
        .with_claims(oauth::claims(self.version))
        .with_error_body(oauth::error_body(self.version));
        let routes: Router<Engine> = oauth::routes(&prefix)
            .merge(dcr::routes(&format!("{prefix}{DCR_PATH}")))
            .layer(Extension(settings.clone()));
        let emulator = Emulator::builder()
            .flavour(flavour)
            .routes(routes)
            .start()
            .await?;
        Ok(Wso2IsEmulator {
            emulator,
            settings,
            tenant: self.tenant,
            admin: (admin_name, self.admin.1),
        })
    }
}

/// A running emulated IS. Dropping it stops the server.
pub struct Wso2IsEmulator {
    emulator: Emulator,
    settings: Arc<IsSettings>,
    tenant: Option<String>,
    admin: (String, String),
}

impl fmt::Debug for Wso2IsEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wso2IsEmulator")
            .field("base_url", &self.base_url())
            .field("version", &self.settings.version)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl Wso2IsEmulator {
    /// A builder (7.x, root tenant, `admin`/`admin`, secrets in clear).
    pub fn builder() -> Wso2IsEmulatorBuilder {
        Wso2IsEmulatorBuilder {
            version: IsVersion::V7,
            tenant: None,
            admin: ("admin".into(), "admin".into()),
            users: Vec::new(),
            hash_secrets: false,
        }
    }

    /// Starts an emulated IS of this version with the defaults of [`Wso2IsEmulator::builder`].
    ///
    /// # Errors
    /// When the loopback listener cannot be bound.
    pub async fn start(version: IsVersion) -> std::io::Result<Wso2IsEmulator> {
        Self::builder().version(version).start().await
    }

    /// The version it plays.
    pub fn version(&self) -> IsVersion {
        self.settings.version
    }

    /// `http://127.0.0.1:{port}`, without a tenant.
    pub fn base_url(&self) -> &str {
        self.emulator.base_url()
    }

    /// The tenant, if it serves one.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The base URL followed by `path` under the tenant prefix.
    pub fn url(&self, path: &str) -> String {
        self.emulator
            .url(&format!("{}{path}", self.settings.prefix))
    }

    /// The issuer of its tokens, `{base}{/t/tenant}/oauth2/token`.
    pub fn issuer(&self) -> String {
        self.emulator.issuer()
    }

    /// Its JWKS URL.
    pub fn jwks_url(&self) -> String {
        self.url("/oauth2/jwks")
    }

    /// The admin user's name and password.
    pub fn admin_credentials(&self) -> (&str, &str) {
        (&self.admin.0, &self.admin.1)
    }

    /// The engine: clients, keys, tokens.
    pub fn engine(&self) -> &Engine {
        self.emulator.engine()
    }

    /// Faults and request counters.
    pub fn faults(&self) -> &Faults {
        self.emulator.faults()
    }

    /// The IS console.
    pub fn console(&self) -> Console<'_> {
        Console::new(self)
    }

    /// Creates an admin client (as an IS administrator would, with the application-management
    /// role) allowed `internal_dcr_view/create/update/delete`, for bearer admin auth.
    pub fn create_admin_client(&self) -> RegisteredClient {
        self.engine().create_client(
            ClientSpec::new()
                .name("keyprov-admin")
                .scopes([
                    "default",
                    "internal_dcr_view",
                    "internal_dcr_create",
                    "internal_dcr_update",
                    "internal_dcr_delete",
                ])
                .metadata("owner", self.admin.0.clone())
                .metadata("token_type", "Default")
                .metadata("state", "ACTIVE"),
        )
    }

    /// Adapter settings for this emulator: admin Basic, its tenant, short timeouts.
    ///
    /// # Panics
    /// When `name` is not a valid key manager id (blank, too long, control characters).
    pub fn config(&self, name: &str) -> Wso2IsConfig {
        let id = KeyManagerId::new(name).expect("a valid key manager id");
        let mut config = Wso2IsConfig::new(
            id,
            self.base_url(),
            AdminAuth::basic(self.admin.0.clone(), self.admin.1.clone()),
        );
        config.tenant = self.tenant.clone();
        config
    }

    /// The adapter for this emulator, with admin Basic.
    ///
    /// # Errors
    /// [`keyprov::Error::InvalidInput`] for a bad name.
    pub fn key_manager(&self, name: &str) -> keyprov::Result<Wso2IsKeyManager> {
        KeyManagerId::new(name)?;
        Wso2IsKeyManager::new(self.config(name))
    }
}
