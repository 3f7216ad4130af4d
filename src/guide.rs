//! The contract, in pages: what keyprov promises and why. The same pages are the Markdown files
//! under `docs/` in the repository.
//!
//! Links between the pages are reference links; here each label is first defined to point at
//! the rendered page (the first definition of a label wins).

#[doc = "[gateway-resolution.md]: crate::guide::gateway"]
#[doc = "[gateway-resolution.md#revisions-read-your-writes]: crate::guide::gateway#revisions-read-your-writes"]
#[doc = "[key-manager-adapters.md#connection-settings]: crate::guide::key_managers#connection-settings"]
#[doc = "[provisioner-api]: crate::Provisioner"]
#[doc = include_str!("../docs/provisioning.md")]
pub mod provisioning {}

#[doc = "[performance.md]: crate::guide::performance"]
#[doc = "[provisioning.md#p6-changes-and-revisions]: crate::guide::provisioning#p6-changes-and-revisions"]
#[doc = "[gateway-api]: crate::gateway"]
#[doc = include_str!("../docs/gateway-resolution.md")]
pub mod gateway {}

#[doc = include_str!("../docs/key-manager-adapters.md")]
pub mod key_managers {}

#[doc = "[gateway-resolution.md#the-resolution-in-order]: crate::guide::gateway#the-resolution-in-order"]
#[doc = "[provisioning.md#p3-uniqueness]: crate::guide::provisioning#p3-uniqueness"]
#[doc = include_str!("../docs/errors.md")]
pub mod errors {}

#[doc = "[errors.md]: crate::guide::errors"]
#[doc = "[provisioning.md#p1-the-gate-may-this-application-map-a-client-of-this-key-manager]: crate::guide::provisioning#p1-the-gate-may-this-application-map-a-client-of-this-key-manager"]
#[doc = "[provisioning.md#p10-drift]: crate::guide::provisioning#p10-drift"]
#[doc = "[provisioning.md#p3-uniqueness]: crate::guide::provisioning#p3-uniqueness"]
#[doc = "[provisioning.md#p8-tokens-for-a-mapped-client]: crate::guide::provisioning#p8-tokens-for-a-mapped-client"]
#[doc = include_str!("../docs/wso2-differences.md")]
pub mod wso2_differences {}

#[doc = "[provisioning.md#p6-changes-and-revisions]: crate::guide::provisioning#p6-changes-and-revisions"]
#[doc = include_str!("../docs/performance.md")]
pub mod performance {}
