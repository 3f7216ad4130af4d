//! The README's configuration examples are what the parsers accept.

use keyprov::{Config, KeyManagerId};
use km_keycloak::{ClientLookup, KeycloakConfig};

const README: &str = include_str!("../README.md");

/// The README's ```toml blocks, in order.
fn toml_blocks() -> Vec<&'static str> {
    README
        .split("```toml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect()
}

#[test]
fn the_native_file_example_parses() {
    let blocks = toml_blocks();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let config = Config::from_toml_str(blocks[0]).unwrap();
    let entry = &config.key_managers[0];
    assert_eq!(entry.kind.as_deref(), Some("keycloak"));
    assert!(entry.config.enable_map_oauth_consumer_apps);
    let kc =
        KeycloakConfig::from_connection(KeyManagerId::new("Keycloak").unwrap(), &entry.connection)
            .unwrap();
    assert_eq!(kc.realm, "apis");
    assert_eq!(kc.client_lookup, ClientLookup::AdminApi);
    assert_eq!(
        kc.issuer(),
        entry.config.issuer.clone().unwrap(),
        "the issuer in the file is the one the adapter derives"
    );
}
