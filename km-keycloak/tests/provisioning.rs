//! Validation at the key manager ([P4](keyprov::guide::provisioning)) through
//! `keyprov::Provisioner` with the Keycloak adapter.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use keyprov::error::UnusableReason;
use keyprov::{Error, KeyManager};
use km_keycloak::emulator::KeycloakClient;
use km_oidc::client::find_signing_key;
use serde_json::Value;

use crate::common::*;

fn install_jwt_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

#[tokio::test]
async fn happy_path_maps_a_proven_client_and_returns_a_verified_keycloak_token() {
    install_jwt_provider();
    let w = world().await;
    let app =
        w.kc.create_client(KeycloakClient::confidential("billing-service").name("Billing service"));
    let before = w.kc.token_requests(REALM);

    let done = w
        .provision(&app.client_id, Some(&app.secret))
        .await
        .unwrap();

    let m = &done.mapping;
    assert!(m.validated && m.secret_proven, "{m:?}");
    assert_eq!(m.consumer_key.as_str(), "billing-service");
    assert_eq!(m.snapshot.client_name.as_deref(), Some("Billing service"));
    assert_eq!(m.snapshot.grant_types, vec!["client_credentials"]);
    assert_eq!(m.snapshot.token_type.as_deref(), Some("JWT"));
    assert_eq!(m.snapshot.additional.get("id"), Some(&app.id));
    assert_eq!(w.stored().await, 1);
    // One admin token, one proof token.
    assert_eq!(w.kc.token_requests(REALM) - before, 2);

    // The proof token is a Keycloak service-account token, verified with the realm's keys.
    let token = done.token.expect("the proof token is returned");
    let header = decode_header(token.secret()).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwks = w.km.jwks().await.unwrap();
    assert!(jwks.keys.iter().any(|k| k.use_.as_deref() == Some("enc")));
    let key = find_signing_key(&jwks, header.kid.as_deref()).expect("signing key by kid");
    let decoding =
        DecodingKey::from_rsa_components(key.n.as_deref().unwrap(), key.e.as_deref().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[w.kc.issuer()]);
    validation.set_audience(&["account"]);
    let claims = decode::<serde_json::Map<String, Value>>(token.secret(), &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["iss"], format!("{}/realms/{REALM}", w.kc.base_url()));
    assert_eq!(claims["typ"], "Bearer");
    assert_eq!(claims["azp"], "billing-service");
    assert_eq!(claims["client_id"], "billing-service");
    assert_eq!(
        claims["preferred_username"],
        "service-account-billing-service"
    );
    assert_eq!(
        km_keycloak::token_client_id(&claims),
        Some("billing-service")
    );
}

async fn refused(w: &World, key: &str, secret: Option<&str>) -> Error {
    let err = w.provision(key, secret).await.unwrap_err();
    assert_eq!(w.stored().await, 0, "nothing stored after {err:?}");
    err
}

#[tokio::test]
async fn unknown_client_is_not_found() {
    let w = world().await;
    let err = refused(&w, "nobody", Some("whatever")).await;
    assert!(matches!(err, Error::ClientNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn unusable_clients_are_refused_with_their_reason_before_any_proof() {
    let w = world().await;
    let disabled =
        w.kc.create_client(KeycloakClient::confidential("disabled").enabled(false));
    let public = w.kc.create_client(KeycloakClient::public("spa"));
    let bearer =
        w.kc.create_client(KeycloakClient::bearer_only("legacy-api"));
    let no_sa = w.kc.create_client(
        KeycloakClient::confidential("web")
            .service_accounts(false)
            .standard_flow(true),
    );
    let cases = [
        (&disabled, UnusableReason::Disabled),
        (&public, UnusableReason::Public),
        (&bearer, UnusableReason::BearerOnly),
        (&no_sa, UnusableReason::NoClientCredentials),
    ];
    for (client, expected) in cases {
        let before = w.kc.token_requests(REALM);
        let err = refused(&w, &client.client_id, Some("any-secret")).await;
        match err {
            Error::ClientNotUsable { reason, .. } => assert_eq!(reason, expected, "{client:?}"),
            other => panic!("{client:?}: {other:?}"),
        }
        assert!(
            w.kc.token_requests(REALM) - before <= 1,
            "at most the admin token: the secret is not tried on an unusable client"
        );
    }
}

#[tokio::test]
async fn masked_secret_is_proven_by_a_token_request() {
    let w = world().await;
    let app = w.kc.confidential_client("masked-app");
    // The admin account holds only view-clients: Keycloak 26.8 shows it the secret masked.
    let raw: Value = reqwest::Client::new()
        .get(format!(
            "{}/admin/realms/{REALM}/clients?clientId=masked-app",
            w.kc.base_url()
        ))
        .bearer_auth(admin_token(&w.kc, "keyprov-admin").await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw[0]["secret"], km_keycloak::emulator::MASKED_SECRET);

    let before = w.kc.token_requests(REALM);
    let done = w
        .provision(&app.client_id, Some(&app.secret))
        .await
        .unwrap();
    assert!(done.mapping.secret_proven);
    assert!(done.token.is_some(), "proven by a token request");
    assert_eq!(
        w.kc.token_requests(REALM) - before,
        2,
        "admin token + proof"
    );
}

#[tokio::test]
async fn wrong_secret_is_not_proven() {
    let w = world().await;
    let app = w.kc.confidential_client("billing");
    let err = refused(&w, &app.client_id, Some("not-the-secret")).await;
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
    assert!(!err.to_string().contains("not-the-secret"));
    // The secret shown masked must not be taken for the secret either.
    let err = refused(
        &w,
        &app.client_id,
        Some(km_keycloak::emulator::MASKED_SECRET),
    )
    .await;
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
}

#[tokio::test]
async fn without_secret_only_existence_is_checked_when_allowed() {
    let kc = keycloak().await;
    let admin = kc.admin_service_account("keyprov-admin");
    let config = adapter(&kc, &admin);
    let w = world_with(kc, config, |mut km| {
        km.allow_mapping_without_secret = true;
        km
    })
    .await;
    let app = w.kc.confidential_client("billing");
    let err = refused(&w, "ghost", None).await;
    assert!(matches!(err, Error::ClientNotFound { .. }), "{err:?}");

    let before = w.kc.token_requests(REALM);
    let done = w.provision(&app.client_id, None).await.unwrap();
    assert!(done.mapping.validated && !done.mapping.secret_proven);
    assert!(done.token.is_none());
    assert_eq!(
        w.kc.token_requests(REALM),
        before,
        "admin token cached, no proof"
    );
    assert_eq!(w.stored().await, 1);
}

#[tokio::test]
async fn without_the_option_a_secret_is_required() {
    let w = world().await;
    let app = w.kc.confidential_client("billing");
    let err = refused(&w, &app.client_id, None).await;
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

/// A token of a service account, straight from the emulator.
pub async fn admin_token(kc: &km_keycloak::emulator::KeycloakEmulator, client_id: &str) -> String {
    let (record, flags) = kc.client(client_id).unwrap();
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{}/protocol/openid-connect/token",
            kc.realm_issuer(&flags.realm)
        ))
        .basic_auth(client_id, Some(&record.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}
