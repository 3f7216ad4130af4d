//! Wiring that cannot fail silently: a key manager without an issuer is refused when a gateway
//! is built on it, and the issuer an adapter knows is used when the configuration has none.

use std::sync::Arc;

use keyprov::gateway::Gateway;
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{Error, KeyManager, KeyManagerConfig, KeyManagers};
use km_wso2is::emulator::{IsVersion, Wso2IsEmulator};

#[test]
fn a_gateway_refuses_a_key_manager_without_an_issuer_saying_what_to_set() {
    let km = Arc::new(ScriptedKeyManager::new("IS")) as Arc<dyn KeyManager>;
    let kms = KeyManagers::new()
        .with(KeyManagerConfig::new("IS").unwrap(), km.clone())
        .unwrap();
    let err = Gateway::builder().key_managers(kms).build().unwrap_err();
    match &err {
        Error::Config { key, problem } => {
            assert_eq!(key, "key_managers.IS.issuer");
            assert!(problem.contains("set `issuer`"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    // A disabled key manager accepts no token: it needs none.
    let mut off = KeyManagerConfig::new("OFF").unwrap();
    off.enabled = false;
    let kms = KeyManagers::new().with(off, km).unwrap();
    assert!(Gateway::builder().key_managers(kms).build().is_ok());
}

#[tokio::test]
async fn the_issuer_comes_from_the_adapter_when_the_configuration_has_none() {
    let is = Wso2IsEmulator::start(IsVersion::V7).await.unwrap();
    let adapter = Arc::new(is.key_manager("IS").unwrap()) as Arc<dyn KeyManager>;
    let kms = KeyManagers::new()
        .with(KeyManagerConfig::new("IS").unwrap(), adapter.clone())
        .unwrap();
    let registered = kms.iter().next().unwrap();
    assert_eq!(
        registered.config.issuer.as_deref(),
        Some(is.issuer().as_str())
    );
    assert!(Gateway::builder().key_managers(kms).build().is_ok());
    // A configured issuer wins over the adapter's.
    let kms = KeyManagers::new()
        .with(
            KeyManagerConfig::new("IS")
                .unwrap()
                .issuer("https://proxy.example/oauth2/token"),
            adapter,
        )
        .unwrap();
    assert_eq!(
        kms.iter().next().unwrap().config.issuer.as_deref(),
        Some("https://proxy.example/oauth2/token")
    );
}

/// A gateway that follows nothing says so (503 `not_following`) instead of refusing every
/// token as if its API were unknown; once it follows, the same token is accepted.
#[tokio::test]
async fn a_gateway_that_follows_nothing_says_so() {
    use super::support::{WAIT, World};
    use keyprov::KeyType;
    use keyprov::gateway::Denial;

    let w = World::new().await;
    let idle = Gateway::builder()
        .key_managers(w.provisioner.key_managers().clone())
        .build()
        .unwrap();
    let token = w.prod_token();
    let denial = idle
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(denial, Denial::NotFollowing);
    assert_eq!((denial.status(), denial.code()), (503, "not_following"));
    assert!(denial.to_string().contains("Gateway::follow"), "{denial}");

    let _following = idle.follow(&w.provisioner).await.unwrap();
    idle.wait_for(w.gateway.applied_revision(), WAIT)
        .await
        .unwrap();
    idle.resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap();
    // With a view, an API it does not hold is the ordinary 403.
    let unknown = keyprov::ApiId::new("no-such-api").unwrap();
    let denial = idle
        .resolve(&token, &unknown, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!((denial.status(), denial.code()), (403, "unknown_api"));
}
