//! The emulator's wire behaviour, checked with a plain HTTP client (what the adapter relies
//! on must be what the [key manager guide](keyprov::guide::key_managers) says Keycloak does).

use keyprov::error::UnusableReason;
use keyprov::{ConsumerKey, ConsumerSecret, Error, KeyManager};
use km_keycloak::KeycloakKeyManager;
use km_keycloak::emulator::{KeycloakClient, KeycloakEmulator, KeycloakVersion, MASKED_SECRET};
use serde_json::Value;

use crate::common::*;
use crate::provisioning::admin_token;

async fn get(url: String, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn token_answer(kc: &KeycloakEmulator, id: &str, secret: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/protocol/openid-connect/token", kc.issuer()))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn discovery_and_certs_of_a_realm() {
    let kc = keycloak().await;
    let (status, doc) = get(
        format!("{}/.well-known/openid-configuration", kc.issuer()),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["issuer"], format!("{}/realms/{REALM}", kc.base_url()));
    assert_eq!(
        doc["token_endpoint"],
        format!("{}/protocol/openid-connect/token", kc.issuer())
    );
    let (_, certs) = get(doc["jwks_uri"].as_str().unwrap().to_owned(), "").await;
    let uses: Vec<&str> = certs["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["use"].as_str().unwrap())
        .collect();
    assert_eq!(uses, ["sig", "enc"]);
    let (status, body) = get(
        format!(
            "{}/realms/nope/.well-known/openid-configuration",
            kc.base_url()
        ),
        "",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("Realm does not exist"))
    );
}

#[tokio::test]
async fn wrong_secret_answer_depends_on_the_version_and_reads_as_not_proven() {
    for (version, code) in [
        (KeycloakVersion::new(19, 0), "invalid_client"),
        (KeycloakVersion::new(20, 0), "unauthorized_client"),
        (KeycloakVersion::new(26, 8), "unauthorized_client"),
    ] {
        let kc = KeycloakEmulator::builder()
            .realm(REALM)
            .version(version)
            .start()
            .await
            .unwrap();
        let admin = kc.admin_service_account("keyprov-admin");
        kc.confidential_client("billing");
        let (status, body) = token_answer(&kc, "billing", "wrong").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some(code)),
            "{version:?}"
        );
        let km = KeycloakKeyManager::new(adapter(&kc, &admin)).unwrap();
        let err = km
            .prove_secret(
                &ConsumerKey::new("billing").unwrap(),
                &ConsumerSecret::new("wrong"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::SecretNotProven { .. }),
            "{version:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn token_endpoint_refuses_unusable_clients_like_keycloak() {
    let kc = keycloak().await;
    let public = kc.create_client(KeycloakClient::public("spa"));
    let bearer = kc.create_client(KeycloakClient::bearer_only("legacy"));
    let no_sa = kc.create_client(KeycloakClient::confidential("web").service_accounts(false));
    let disabled = kc.create_client(KeycloakClient::confidential("off").enabled(false));
    // As Keycloak's TokenEndpoint and ClientCredentialsGrantType answer.
    let cases = [
        (&public, 401, "unauthorized_client"),
        (&bearer, 400, "invalid_client"),
        (&no_sa, 401, "unauthorized_client"),
        (&disabled, 400, "unauthorized_client"),
    ];
    for (client, status, code) in cases {
        let (got, body) = token_answer(&kc, &client.client_id, &client.secret).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{client:?}"
        );
    }
    let (got, body) = token_answer(&kc, "nobody", "whatever").await;
    assert_eq!(
        (got, body["error_description"].as_str()),
        (400, Some("Invalid client credentials"))
    );
    // Through the adapter, a client that may not use the grant is not usable, not a wrong
    // secret, although Keycloak answers both with 401 `unauthorized_client`.
    let admin = kc.admin_service_account("keyprov-admin");
    let km = KeycloakKeyManager::new(adapter(&kc, &admin)).unwrap();
    for client in [&public, &bearer, &no_sa] {
        let err = km
            .prove_secret(
                &ConsumerKey::new(client.client_id.as_str()).unwrap(),
                &ConsumerSecret::new(if client.secret.is_empty() {
                    "none"
                } else {
                    client.secret.as_str()
                }),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::ClientNotUsable {
                    reason: UnusableReason::NoClientCredentials,
                    ..
                }
            ),
            "{client:?}: {err:?}"
        );
    }
    let err = km
        .prove_secret(
            &ConsumerKey::new(disabled.client_id.as_str()).unwrap(),
            &ConsumerSecret::new(disabled.secret.as_str()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
}

#[tokio::test]
async fn registration_api_checks_realm_role_and_existence() {
    let kc = keycloak().await;
    kc.confidential_client("billing");
    let admin = kc.admin_service_account("keyprov-admin");
    let url = |id: &str| format!("{}/clients-registrations/openid-connect/{id}", kc.issuer());
    let token = admin_token(&kc, &admin.client_id).await;
    let (status, body) = get(url("billing"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["client_id"], "billing");
    assert_eq!(body["client_secret"], MASKED_SECRET);
    let (status, body) = get(url("ghost"), &token).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (404, Some("Client not found"))
    );

    kc.create_client(KeycloakClient::confidential("weak").admin_roles(REALM, ["query-clients"]));
    let (status, body) = get(url("billing"), &admin_token(&kc, "weak").await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );

    kc.create_client(
        KeycloakClient::confidential("root")
            .realm("master")
            .admin_roles(REALM, ["realm-admin"]),
    );
    let master = admin_token(&kc, "root").await;
    let (status, body) = get(url("billing"), &master).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    // Another non-master realm's token is refused by the admin API as well.
    kc.add_realm("other");
    kc.create_client(
        KeycloakClient::confidential("other-admin")
            .realm("other")
            .admin_roles(REALM, ["realm-admin"]),
    );
    let other = admin_token(&kc, "other-admin").await;
    let admin_url = format!(
        "{}/admin/realms/{REALM}/clients?clientId=billing",
        kc.base_url()
    );
    assert_eq!(get(admin_url.clone(), &other).await.0, 403);
    assert_eq!(get(admin_url, &master).await.0, 200);
}

#[tokio::test]
async fn secrets_are_masked_for_view_only_callers_when_switched_on() {
    let kc = keycloak().await;
    let app = kc.confidential_client("billing");
    kc.admin_service_account("viewer");
    kc.create_client(
        KeycloakClient::confidential("manager").admin_roles(REALM, ["manage-clients"]),
    );
    let viewer = admin_token(&kc, "viewer").await;
    let manager = admin_token(&kc, "manager").await;
    let search = format!(
        "{}/admin/realms/{REALM}/clients?clientId=billing",
        kc.base_url()
    );
    let secret = format!(
        "{}/admin/realms/{REALM}/clients/{}/client-secret",
        kc.base_url(),
        app.id
    );

    assert_eq!(
        get(search.clone(), &viewer).await.1[0]["secret"],
        MASKED_SECRET
    );
    assert_eq!(get(secret.clone(), &viewer).await.1["value"], MASKED_SECRET);
    assert_eq!(
        get(search.clone(), &manager).await.1[0]["secret"],
        app.secret.as_str()
    );
    kc.set_secret_masking(false);
    assert_eq!(get(secret, &viewer).await.1["value"], app.secret.as_str());
    let (_, found) = get(search, &viewer).await;
    assert_eq!(found[0]["id"], app.id.as_str());
    assert_eq!(found[0]["serviceAccountsEnabled"], true);
    assert_eq!(found[0]["publicClient"], false);

    let old = KeycloakEmulator::builder()
        .realm(REALM)
        .version(KeycloakVersion::new(26, 4))
        .start()
        .await
        .unwrap();
    old.confidential_client("billing");
    old.admin_service_account("viewer");
    let url = format!(
        "{}/admin/realms/{REALM}/clients?clientId=billing",
        old.base_url()
    );
    let (_, found) = get(url, &admin_token(&old, "viewer").await).await;
    assert_ne!(found[0]["secret"], MASKED_SECRET, "not masked before 26.8");
}
