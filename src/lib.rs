#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod error;
pub mod events;
pub mod gateway;
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
pub use events::{Broadcast, Event, EventSink};
pub use key_manager::{
    AccessToken, Capabilities, ClientInfo, Introspection, Jwk, JwkSet, KeyManager, KeyManagers,
    SecretProof,
};
pub use model::{
    Actor, Api, ApiId, Application, ApplicationId, ConsumerKey, KeyManagerId, KeyManagerName,
    KeyMapping, KeyType, MappingId, MappingMode, MappingState, OrganizationId, Subscription,
    SubscriptionState, UserId,
};
pub use policy::ProvisioningPolicy;
pub use provisioner::{NewApplication, ProvisionRequest, Provisioned, Provisioner};
pub use secret::ConsumerSecret;
