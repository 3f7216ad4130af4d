//! The gateway resolver (issue 6): security refusals, consistency with provisioning events,
//! key-set refresh, opaque tokens and explanations.

mod consistency;
mod explain;
mod introspection;
mod invalidation;
mod keys;
mod opaque;
mod security;
mod support;
mod wiring;
