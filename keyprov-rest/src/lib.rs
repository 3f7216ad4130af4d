// The README's links point into the repository and at docs.rs; on the crate's documentation
// page the same labels point at the items. The first definition of a label wins.
#![doc = "[errors]: https://github.com/keyprov/keyprov/blob/main/docs/errors.md"]
#![doc = "[`OPENAPI_PATH`]: crate::OPENAPI_PATH"]
#![doc = "[`Authenticator`]: crate::Authenticator"]
#![doc = "[`BearerAuthenticator`]: crate::BearerAuthenticator"]
#![doc = "[`FixedActor`]: crate::FixedActor"]
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use http::request::Parts;
use keyprov::{Actor, OrganizationId, Provisioner};

mod auth;
mod body;
pub mod error;
mod openapi;
mod routes;
pub mod wire;

pub use auth::{Authenticator, BearerAuthenticator, FixedActor, bearer_token, scopes};
pub use error::{ErrorBody, ErrorListItem, RestError};
pub use openapi::{OPENAPI_PATH, openapi};

/// Largest request body accepted by default (64 KiB); larger ones answer 413.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The organization new applications belong to by default (WSO2's super tenant).
pub const DEFAULT_ORGANIZATION: &str = "carbon.super";

/// Settings of the router.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// The organization of the applications created through this router, whose key managers
    /// (with the global ones) `GET /key-managers` lists. Default `carbon.super`.
    pub organization: OrganizationId,
    /// Largest request body accepted. Default [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            organization: OrganizationId::new(DEFAULT_ORGANIZATION)
                .expect("the default organization is a valid name"),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The Developer Portal endpoints over a [`Provisioner`]: build it, then take its
/// [`router`](DevPortal::router) and mount it under any prefix.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> keyprov::Result<()> {
/// use std::sync::Arc;
/// use keyprov::store::MemoryStore;
/// use keyprov::{Actor, KeyManagers, Provisioner, UserId};
/// use keyprov_rest::{DevPortal, FixedActor};
///
/// let provisioner = Provisioner::builder()
///     .store(Arc::new(MemoryStore::new()))
///     .key_managers(KeyManagers::new())
///     .build()?;
/// let portal = DevPortal::new(provisioner, FixedActor::new(Actor::User(UserId::new("alice")?)));
/// let app: axum::Router = axum::Router::new().nest("/api/am/devportal/v3", portal.router());
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DevPortal {
    pub(crate) provisioner: Provisioner,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) settings: Arc<Settings>,
}

impl DevPortal {
    /// The endpoints over `provisioner`, with callers identified by `authenticator`.
    pub fn new(provisioner: Provisioner, authenticator: impl Authenticator) -> Self {
        Self {
            provisioner,
            authenticator: Arc::new(authenticator),
            settings: Arc::new(Settings::default()),
        }
    }

    /// Replaces the settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Arc::new(settings);
        self
    }

    /// Sets the organization of new applications.
    pub fn organization(mut self, organization: OrganizationId) -> Self {
        Arc::make_mut(&mut self.settings).organization = organization;
        self
    }

    /// Sets the largest request body accepted.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.settings).max_body_bytes = bytes;
        self
    }

    /// The router: the operations at WSO2's paths, and the OpenAPI document at
    /// [`OPENAPI_PATH`]. Unknown paths and methods answer 404 and 405 in WSO2's error shape.
    pub fn router(self) -> Router {
        routes::routes()
            .route(OPENAPI_PATH, get(openapi::serve))
            .fallback(routes::not_found)
            .method_not_allowed_fallback(routes::method_not_allowed)
            .with_state(self)
    }

    pub(crate) async fn actor(&self, parts: &Parts, accepted: &[&str]) -> Result<Actor, RestError> {
        self.authenticator.authenticate(parts, accepted).await
    }
}
