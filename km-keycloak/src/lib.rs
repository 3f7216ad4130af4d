#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod config;
mod error;
mod manager;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use config::{ClientLookup, KeycloakConfig};
pub use km_oidc::{HttpSettings, RetryPolicy, TokenAuthMethod};
pub use manager::{KeycloakKeyManager, token_client_id};
