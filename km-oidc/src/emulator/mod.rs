//! An in-process OAuth2 authorization server for tests (feature `emulator`), and the engine
//! vendor emulators are dressed from.
//!
//! It listens on `127.0.0.1:0`, starts in milliseconds, needs no file, and serves discovery,
//! JWKS (with key rotation), `client_credentials` with real client authentication
//! (`client_secret_basic` and `client_secret_post`), JWT (RS256, ES256, EdDSA) or opaque access
//! tokens, introspection, and RFC 7591/7592 registration. Faults (latency, 5xx/429, malformed
//! JSON, HTML pages, dropped connections) are switched at runtime through [`Faults`], which also
//! counts the requests received and the most served at once ([`Faults::max_in_flight`]).
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use km_oidc::emulator::{ClientSpec, Emulator, Fault};
//! use km_oidc::{OidcConfig, OidcKeyManager};
//! use keyprov::{ConsumerKey, ConsumerSecret, KeyManager, KeyManagerId};
//!
//! let idp = Emulator::start().await?;
//! let client = idp.engine().create_client(ClientSpec::new().name("billing"));
//!
//! let km = OidcKeyManager::new(OidcConfig::new(KeyManagerId::new("idp")?, idp.issuer()))?;
//! let key = ConsumerKey::new(client.client_id.as_str())?;
//! let token = km
//!     .client_credentials_token(&key, &ConsumerSecret::new(client.client_secret.as_str()), &[])
//!     .await?;
//! assert!(token.secret().split('.').count() == 3, "a JWT");
//!
//! idp.faults().inject(Fault::Status(503).on("/token").times(1));
//! let err = km.client_credentials_token(&key, &ConsumerSecret::new("x"), &[]).await.unwrap_err();
//! assert!(err.is_retryable());
//! # Ok(()) }
//! ```
//!
//! # Dressing it as a vendor
//! A vendor emulator builds an [`EmulatorBuilder`] with:
//! - a [`Flavour`]: paths (any may be `None` to drop a standard route), issuer path, claims hook
//!   ([`ClaimsContext`] → claims map), header `typ`, algorithm, error-body hook, resource
//!   servers, strictness of client authentication, initial access token;
//! - extra routes ([`EmulatorBuilder::routes`]) of type `Router<Engine>`: handlers take
//!   `State<Engine>` and use [`Engine::authenticate`], [`Engine::issue_token`],
//!   [`Engine::introspect`], [`Engine::error`] / [`Engine::refuse`], the client registry (vendor fields live in
//!   [`ClientRecord::metadata`]), or reuse the handlers in [`routes`] at other paths.
//!
//! Fault injection wraps every route, vendor ones included.

mod engine;
mod faults;
mod flavour;
mod keys;
mod registry;
pub mod routes;
mod server;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use engine::{Engine, Refusal, now_s};
pub use faults::{Fault, FaultRule, Faults};
pub use flavour::{
    ClaimsContext, ClaimsFn, ErrorBodyFn, Flavour, Paths, ResourceServer, oauth_error,
    standard_claims,
};
pub use keys::Alg;
pub use registry::{ClientRecord, ClientSpec, RegisteredClient, TokenFormat};

/// Builds an emulator: a flavour plus extra routes.
#[derive(Debug, Default)]
pub struct EmulatorBuilder {
    flavour: Flavour,
    extra: Vec<Router<Engine>>,
}

impl EmulatorBuilder {
    /// Sets the flavour.
    pub fn flavour(mut self, flavour: Flavour) -> Self {
        self.flavour = flavour;
        self
    }

    /// Adds vendor routes (merged with the standard ones; paths must not collide).
    pub fn routes(mut self, routes: Router<Engine>) -> Self {
        self.extra.push(routes);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving in the background of the current tokio runtime.
    ///
    /// # Errors
    /// When the loopback listener cannot be bound.
    pub async fn start(self) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let faults = Faults::default();
        let engine = Engine::new(format!("http://{addr}"), self.flavour, faults.clone());
        let mut router = routes::standard_routes(engine.flavour());
        for extra in self.extra {
            router = router.merge(extra);
        }
        let router = router.with_state(engine.clone());
        let task = tokio::spawn(server::serve(listener, router, faults));
        Ok(Emulator { addr, engine, task })
    }
}

/// A running emulator. Dropping it stops the server and closes its connections.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    engine: Engine,
    task: JoinHandle<()>,
}

impl Emulator {
    /// A builder, for flavours and extra routes.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// Starts a [`Flavour::standard`] emulator.
    ///
    /// # Errors
    /// As [`EmulatorBuilder::start`].
    pub async fn start() -> std::io::Result<Emulator> {
        Self::builder().start().await
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> &str {
        self.engine.base_url()
    }

    /// The issuer.
    pub fn issuer(&self) -> String {
        self.engine.issuer()
    }

    /// The base URL followed by `path`.
    pub fn url(&self, path: &str) -> String {
        self.engine.url(path)
    }

    /// The state: clients, keys, tokens.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The fault switchboard and request counters.
    pub fn faults(&self) -> &Faults {
        self.engine.faults()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}
