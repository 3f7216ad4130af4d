// The README's relative links point into the repository; on the crate's documentation page the
// same link labels point at the rendered pages. The first definition of a label wins, so these
// go first.
#![doc = "[examples]: https://github.com/keyprov/keyprov/tree/main/examples"]
#![doc = "[docs]: crate::guide"]
#![doc = "[provisioning]: crate::guide::provisioning"]
#![doc = "[gateway]: crate::guide::gateway"]
#![doc = "[key-managers]: crate::guide::key_managers"]
#![doc = "[errors]: crate::guide::errors"]
#![doc = "[wso2]: crate::guide::wso2_differences"]
#![doc = "[performance]: crate::guide::performance"]
#![doc = "[keyprov]: crate"]
#![doc = "[km-oidc]: https://docs.rs/km-oidc"]
#![doc = "[km-wso2is]: https://docs.rs/km-wso2is"]
#![doc = "[km-keycloak]: https://docs.rs/km-keycloak"]
#![doc = "[keyprov-rest]: https://docs.rs/keyprov-rest"]
#![doc = "[keyprov-tower]: https://docs.rs/keyprov-tower"]
#![doc = "[keyprov-cli]: https://docs.rs/keyprov-cli"]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod config;
pub mod error;
pub mod events;
pub mod gateway;
pub mod guide;
pub mod key_manager;
pub mod model;
pub mod policy;
pub mod provisioner;
pub mod reconciler;
mod secret;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::{AuditSettings, Config, GlobalSettings, KeyManagerConfig};
pub use error::{Error, Result};
pub use events::{Change, ChangeSource, Committed, Event, Revision};
pub use key_manager::{
    AccessToken, Capabilities, ClientInfo, Introspection, Jwk, JwkSet, KeyManager, KeyManagers,
    SecretProof,
};
pub use model::{
    Actor, AllowedKeyManagers, Api, ApiId, Application, ApplicationId, ConsumerKey, KeyManagerId,
    KeyManagerName, KeyMapping, KeyType, MappingId, MappingMode, MappingState, OrganizationId,
    ServiceId, Subscription, SubscriptionState, UserId,
};
pub use policy::{ProvisioningPolicy, Wso2Policy};
pub use provisioner::import;
pub use provisioner::{
    NewApplication, Outcome, ProvisionRequest, Provisioned, Provisioner, TokenRequest,
};
pub use secret::ConsumerSecret;
