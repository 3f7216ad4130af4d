//! km-keycloak against its emulator, over real HTTP on loopback.

mod common;
mod drift;

mod admin_token;
mod emulator;
mod faults;
mod gateway;
mod lookup;
mod provisioning;
