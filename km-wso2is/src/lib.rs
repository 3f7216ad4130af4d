#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod config;
mod error;
mod manager;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use config::{AdminAuth, DCR_VIEW_SCOPE, Wso2IsConfig};
pub use manager::Wso2IsKeyManager;
