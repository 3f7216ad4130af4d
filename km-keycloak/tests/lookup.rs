//! Client lookup through both APIs: roles, realms, prefixes, error shapes.

use keyprov::error::UnusableReason;
use keyprov::{ConsumerKey, Error, KeyManager};
use km_keycloak::emulator::{AdminErrorStyle, KeycloakClient, KeycloakEmulator, KeycloakVersion};
use km_keycloak::{ClientLookup, KeycloakKeyManager};

use crate::common::*;

fn key(id: &str) -> ConsumerKey {
    ConsumerKey::new(id).unwrap()
}

const BOTH: [ClientLookup; 2] = [ClientLookup::AdminApi, ClientLookup::RegistrationApi];

#[tokio::test]
async fn both_apis_describe_a_usable_client() {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    kc.create_client(
        KeycloakClient::confidential("billing")
            .name("Billing")
            .attribute("access.token.lifespan", "900"),
    );
    for lookup in BOTH {
        let km = KeycloakKeyManager::new(adapter(&kc, &admin).client_lookup(lookup)).unwrap();
        assert!(
            !format!("{km:?}").contains(&admin.secret),
            "admin secret redacted"
        );
        let info = km.client(&key("billing")).await.unwrap();
        assert_eq!(info.usability(chrono::Utc::now()), Ok(()), "{lookup:?}");
        assert_eq!(info.client_name.as_deref(), Some("Billing"), "{lookup:?}");
        assert_eq!(info.confidential, Some(true), "{lookup:?}");
        assert!(
            info.grant_types
                .unwrap()
                .contains(&"client_credentials".to_owned()),
            "{lookup:?}"
        );
        let err = km.client(&key("ghost")).await.unwrap_err();
        assert!(
            matches!(err, Error::ClientNotFound { .. }),
            "{lookup:?}: {err:?}"
        );
    }
    let km = KeycloakKeyManager::new(adapter(&kc, &admin)).unwrap();
    let info = km.client(&key("billing")).await.unwrap();
    assert_eq!(info.access_token_lifetime_s, Some(900));
    assert_eq!(info.enabled, Some(true));
    assert_eq!(info.bearer_only, Some(false));
}

#[tokio::test]
async fn registration_api_knows_public_clients_and_missing_service_accounts() {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    kc.create_client(KeycloakClient::public("spa"));
    kc.create_client(
        KeycloakClient::confidential("web")
            .service_accounts(false)
            .standard_flow(true),
    );
    let km =
        KeycloakKeyManager::new(adapter(&kc, &admin).client_lookup(ClientLookup::RegistrationApi))
            .unwrap();
    let now = chrono::Utc::now();
    let spa = km.client(&key("spa")).await.unwrap();
    assert_eq!(spa.usability(now), Err(UnusableReason::Public));
    let web = km.client(&key("web")).await.unwrap();
    assert_eq!(web.usability(now), Err(UnusableReason::NoClientCredentials));
}

#[tokio::test]
async fn admin_account_without_the_role_is_rejected_on_both_apis() {
    let kc = keycloak().await;
    kc.confidential_client("billing");
    let weak = kc.create_client(
        KeycloakClient::confidential("weak-admin").admin_roles(REALM, ["query-clients"]),
    );
    for lookup in BOTH {
        let km = KeycloakKeyManager::new(adapter(&kc, &weak).client_lookup(lookup)).unwrap();
        let err = km.client(&key("billing")).await.unwrap_err();
        assert!(
            matches!(err, Error::KeyManagerCredentialsRejected { .. }),
            "{lookup:?}: {err:?}"
        );
        assert!(!err.is_retryable());
    }
    // Granting the role fixes it at once: Keycloak reads role mappings per request.
    kc.set_admin_roles("weak-admin", REALM, &["manage-clients"]);
    let km = KeycloakKeyManager::new(adapter(&kc, &weak)).unwrap();
    km.client(&key("billing")).await.unwrap();
}

#[tokio::test]
async fn wrong_admin_secret_is_a_configuration_problem_not_the_clients() {
    let kc = keycloak().await;
    let mut admin = kc.admin_service_account("keyprov-admin");
    kc.confidential_client("billing");
    admin.secret = "wrong".into();
    let km = KeycloakKeyManager::new(adapter(&kc, &admin)).unwrap();
    let err = km.client(&key("billing")).await.unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn master_realm_admin_token_is_refused() {
    let kc = keycloak().await;
    kc.confidential_client("billing");
    // A master account holding view-clients on the realm (its `apis-realm` client roles).
    let master = kc.create_client(
        KeycloakClient::confidential("master-admin")
            .realm("master")
            .admin_roles(REALM, ["view-clients"]),
    );
    let registration =
        KeycloakKeyManager::new(adapter(&kc, &master).client_lookup(ClientLookup::RegistrationApi))
            .unwrap();
    let before = kc.token_requests("master");
    let err = registration.client(&key("billing")).await.unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
    assert_eq!(
        kc.token_requests("master") - before,
        2,
        "the 401 replaced the token once, then gave up"
    );
    // The admin API accepts it, as Keycloak does for master accounts with realm roles...
    let admin_api = KeycloakKeyManager::new(adapter(&kc, &master)).unwrap();
    admin_api.client(&key("billing")).await.unwrap();
    // ...but not without them.
    kc.set_admin_roles("master-admin", REALM, &[]);
    let err = admin_api.client(&key("billing")).await.unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn legacy_auth_prefix() {
    let kc = KeycloakEmulator::builder()
        .realm(REALM)
        .version(KeycloakVersion::new(16, 1))
        .relative_path("/auth")
        .start()
        .await
        .unwrap();
    let admin = kc.admin_service_account("keyprov-admin");
    let app = kc.confidential_client("billing");
    assert!(
        kc.issuer().ends_with("/auth/realms/apis"),
        "{}",
        kc.issuer()
    );
    let config = adapter(&kc, &admin);
    assert_eq!(config.relative_path, "/auth");
    let km = KeycloakKeyManager::new(config.clone()).unwrap();
    km.client(&key("billing")).await.unwrap();
    km.prove_secret(
        &key("billing"),
        &keyprov::ConsumerSecret::new(app.secret.as_str()),
    )
    .await
    .unwrap();
    // Without the prefix nothing is found where Keycloak 17+ would answer.
    let km = KeycloakKeyManager::new(config.relative_path("")).unwrap();
    let err = km.client(&key("billing")).await.unwrap_err();
    assert!(matches!(err, Error::KeyManagerProtocol { .. }), "{err:?}");
}

#[tokio::test]
async fn error_message_bodies_are_understood() {
    let kc = keycloak().await;
    kc.set_admin_error_style(AdminErrorStyle::ErrorMessage);
    kc.confidential_client("billing");
    let weak = kc.create_client(KeycloakClient::confidential("weak-admin"));
    let km = KeycloakKeyManager::new(adapter(&kc, &weak)).unwrap();
    let err = km.client(&key("billing")).await.unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
    // A realm that does not exist: the admin token request is answered 404 {"error": ...}.
    let admin = kc.admin_service_account("keyprov-admin");
    let mut config = adapter(&kc, &admin);
    config.realm = "nope".into();
    let err = KeycloakKeyManager::new(config)
        .unwrap()
        .client(&key("billing"))
        .await
        .unwrap_err();
    match err {
        Error::KeyManagerProtocol { detail, .. } => {
            assert!(detail.contains("Realm does not exist"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn introspection_names_the_client_on_every_version() {
    for version in [KeycloakVersion::new(19, 0), KeycloakVersion::new(26, 8)] {
        let kc = KeycloakEmulator::builder()
            .realm(REALM)
            .version(version)
            .start()
            .await
            .unwrap();
        let admin = kc.admin_service_account("keyprov-admin");
        let app = kc.confidential_client("billing");
        let km = KeycloakKeyManager::new(adapter(&kc, &admin)).unwrap();
        let token = km
            .client_credentials_token(
                &key("billing"),
                &keyprov::ConsumerSecret::new(app.secret.as_str()),
                &[],
            )
            .await
            .unwrap();
        let answer = km.introspect(token.secret()).await.unwrap();
        assert!(answer.active, "{version:?}");
        assert_eq!(
            answer.str_claim("client_id"),
            Some("billing"),
            "{version:?}"
        );
        let id_claim = if version.major >= 25 {
            "client_id"
        } else {
            "clientId"
        };
        assert_eq!(answer.str_claim(id_claim), Some("billing"), "{version:?}");
        kc.revoke_tokens();
        assert!(!km.introspect(token.secret()).await.unwrap().active);
    }
}
