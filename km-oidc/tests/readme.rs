//! The README's configuration example is what the parser accepts.

use keyprov::KeyManagerId;
use km_oidc::{OidcConfig, ServerAuth, TokenAuthMethod};

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
fn the_connection_example_parses() {
    let blocks = toml_blocks();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let file: toml::Table = blocks[0].parse().unwrap();
    let connection = file["key_managers"]["connection"].as_table().unwrap();
    let config =
        OidcConfig::from_connection(KeyManagerId::new("idp").unwrap(), connection).unwrap();
    assert_eq!(config.issuer.as_deref(), Some("https://idp.example.com"));
    assert_eq!(config.token_auth_method, TokenAuthMethod::ClientSecretPost);
    assert!(
        matches!(
            config.introspection_auth,
            Some(ServerAuth::ClientSecretBasic { .. })
        ),
        "{config:?}"
    );
    assert!(config.registrations.contains_key("billing-app"));
}
