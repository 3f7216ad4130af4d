#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod config;
pub mod error;
mod manager;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use config::{
    AdminAuth, ConnectionSettings, HttpSettings, OidcConfig, RegistrationAccess, RetryPolicy,
    ServerAuth, TokenAuthMethod, VendorDefaults,
};
pub use error::{EndpointKind, OidcError};
pub use manager::{Endpoints, OidcKeyManager};
