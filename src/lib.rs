#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod error;
pub mod events;
pub mod gateway;
pub mod guide;
pub mod key_manager;
pub mod model;
pub mod policy;
pub mod provisioner;
mod secret;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::{Config, GlobalSettings, KeyManagerConfig};
pub use error::{Error, Result};
pub use events::{Change, ChangeSource, Committed, Event, Revision};
pub use key_manager::{
    AccessToken, Capabilities, ClientInfo, Introspection, Jwk, JwkSet, KeyManager, KeyManagers,
    SecretProof,
};
pub use model::{
    Actor, AllowedKeyManagers, Api, ApiId, Application, ApplicationId, ConsumerKey, KeyManagerId,
    KeyManagerName, KeyMapping, KeyType, MappingId, MappingMode, MappingState, OrganizationId,
    Subscription, SubscriptionState, UserId,
};
pub use policy::{ProvisioningPolicy, Wso2Policy};
pub use provisioner::{
    NewApplication, Outcome, ProvisionRequest, Provisioned, Provisioner, TokenRequest,
};
pub use secret::ConsumerSecret;
