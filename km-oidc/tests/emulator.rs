//! The emulator's own behaviour: algorithms, key rotation, client lifecycle, flavour hooks,
//! vendor routes, concurrency, start-up time.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use keyprov::{ConsumerKey, ConsumerSecret, Error, KeyManager};
use km_oidc::client::find_signing_key;
use km_oidc::emulator::{Alg, ClientSpec, Emulator, Engine, Fault, Flavour, TokenFormat};
use km_oidc::{OidcConfig, OidcKeyManager, TokenAuthMethod};

use crate::common::{install_jwt_provider, km_id};

fn km_for(idp: &Emulator) -> OidcKeyManager {
    OidcKeyManager::new(OidcConfig::new(km_id(), idp.issuer())).unwrap()
}

async fn token_for(km: &OidcKeyManager, id: &str, secret: &str) -> keyprov::Result<String> {
    km.client_credentials_token(
        &ConsumerKey::new(id).unwrap(),
        &ConsumerSecret::new(secret),
        &[],
    )
    .await
    .map(|t| t.secret().to_owned())
}

async fn verify(km: &OidcKeyManager, token: &str, issuer: &str) -> serde_json::Value {
    install_jwt_provider();
    let header = decode_header(token).unwrap();
    let set = km.jwks().await.unwrap();
    let jwk = find_signing_key(&set, header.kid.as_deref()).expect("kid published");
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(serde_json::to_value(jwk).unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    decode::<serde_json::Value>(token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn every_algorithm_signs_verifiable_tokens() {
    for alg in [Alg::RS256, Alg::ES256, Alg::EdDSA] {
        let idp = Emulator::builder()
            .flavour(Flavour::standard().with_alg(alg))
            .start()
            .await
            .unwrap();
        let client = idp.engine().create_client(ClientSpec::new());
        let km = km_for(&idp);
        let token = token_for(&km, &client.client_id, &client.client_secret)
            .await
            .unwrap();
        assert_eq!(
            format!("{:?}", decode_header(&token).unwrap().alg),
            alg.as_str()
        );
        let claims = verify(&km, &token, &idp.issuer()).await;
        assert_eq!(claims["client_id"], client.client_id.as_str(), "{alg}");
        assert!(
            claims.get("azp").is_none(),
            "standard flavour has no azp, like oidc-provider"
        );
    }
}

#[tokio::test]
async fn rotated_keys_stay_published_for_their_grace_period() {
    let idp = Emulator::start().await.unwrap();
    let client = idp.engine().create_client(ClientSpec::new());
    let km = km_for(&idp);
    let old = token_for(&km, &client.client_id, &client.client_secret)
        .await
        .unwrap();
    let old_kid = decode_header(&old).unwrap().kid.unwrap();

    let new_kid = idp.engine().rotate_signing_key(Duration::from_secs(300));
    assert_ne!(old_kid, new_kid);
    let new = token_for(&km, &client.client_id, &client.client_secret)
        .await
        .unwrap();
    assert_eq!(
        decode_header(&new).unwrap().kid.as_deref(),
        Some(new_kid.as_str())
    );
    verify(&km, &old, &idp.issuer()).await;
    verify(&km, &new, &idp.issuer()).await;

    idp.engine().rotate_signing_key(Duration::ZERO);
    let kids: Vec<_> = km
        .jwks()
        .await
        .unwrap()
        .keys
        .into_iter()
        .filter_map(|k| k.kid)
        .collect();
    assert_eq!(
        kids,
        vec![idp.engine().current_kid()],
        "no grace: old keys are gone"
    );
}

#[tokio::test]
async fn client_lifecycle_is_enforced_at_the_token_endpoint() {
    let idp = Emulator::start().await.unwrap();
    let engine = idp.engine();
    let km = km_for(&idp);
    let client = engine.create_client(ClientSpec::new().name("lifecycle"));
    let id = client.client_id.as_str();
    token_for(&km, id, &client.client_secret).await.unwrap();

    assert!(engine.set_enabled(id, false));
    let err = token_for(&km, id, &client.client_secret).await.unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
    engine.set_enabled(id, true);

    let rotated = engine.rotate_secret(id).unwrap();
    assert!(
        token_for(&km, id, &client.client_secret).await.is_err(),
        "old secret refused"
    );
    let token = token_for(&km, id, &rotated).await.unwrap();

    assert!(engine.update_client(id, |c| c.client_name = Some("renamed".into())));
    assert_eq!(
        engine.client(id).unwrap().client_name.as_deref(),
        Some("renamed")
    );

    let introspection = engine.introspect(&token);
    assert_eq!(introspection["active"], true);
    assert!(engine.delete_client(id));
    assert_eq!(
        engine.introspect(&token)["active"],
        false,
        "tokens die with the client"
    );
    assert!(engine.client(id).is_none());

    let expired = engine.create_client(ClientSpec::new().secret_expires_at(1));
    let err = token_for(&km, &expired.client_id, &expired.client_secret)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
}

#[tokio::test]
async fn the_registered_auth_method_is_enforced_like_oidc_provider() {
    let idp = Emulator::start().await.unwrap();
    let post_client = idp
        .engine()
        .create_client(ClientSpec::new().auth_method("client_secret_post"));
    let basic = km_for(&idp);
    let err = token_for(&basic, &post_client.client_id, &post_client.client_secret)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");
    let post = OidcKeyManager::new(
        OidcConfig::new(km_id(), idp.issuer()).token_auth_method(TokenAuthMethod::ClientSecretPost),
    )
    .unwrap();
    token_for(&post, &post_client.client_id, &post_client.client_secret)
        .await
        .unwrap();
}

async fn vendor_ping(State(engine): State<Engine>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"clients": engine.clients().len()}))
}

#[tokio::test]
async fn a_vendor_flavour_dresses_paths_claims_errors_and_routes() {
    let mut flavour = Flavour::standard()
        .with_claims(|ctx| {
            let mut claims = km_oidc::emulator::standard_claims(ctx);
            claims.insert("azp".into(), ctx.client.client_id.clone().into());
            claims.insert(
                "sub".into(),
                ctx.client
                    .metadata
                    .get("owner")
                    .cloned()
                    .unwrap_or_default(),
            );
            claims
        })
        .with_error_body(|status, _error, _description| {
            // A server that answers refusals with an empty body.
            axum::response::IntoResponse::into_response(status)
        });
    flavour.issuer_path = "/oauth2/token".into();
    flavour.paths.token = Some("/oauth2/token".into());
    flavour.paths.jwks = Some("/oauth2/jwks".into());
    flavour.paths.discovery = vec!["/oauth2/token/.well-known/openid-configuration".into()];
    flavour.jwt_typ = "JWT".into();
    let idp = Emulator::builder()
        .flavour(flavour)
        .routes(Router::new().route("/vendor/ping", get(vendor_ping)))
        .start()
        .await
        .unwrap();
    assert_eq!(idp.issuer(), idp.url("/oauth2/token"));
    let client = idp
        .engine()
        .create_client(ClientSpec::new().metadata("owner", "admin@carbon.super"));
    let km = km_for(&idp);
    let token = token_for(&km, &client.client_id, &client.client_secret)
        .await
        .unwrap();
    assert_eq!(decode_header(&token).unwrap().typ.as_deref(), Some("JWT"));
    let claims = verify(&km, &token, &idp.issuer()).await;
    assert_eq!(claims["azp"], client.client_id.as_str());
    assert_eq!(claims["sub"], "admin@carbon.super");

    // An empty-bodied 401 from the token endpoint still means "secret not proven".
    let err = token_for(&km, &client.client_id, "wrong")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SecretNotProven { .. }), "{err:?}");

    let http = reqwest::Client::new();
    let ping: serde_json::Value = http
        .get(idp.url("/vendor/ping"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ping["clients"], 1);
    idp.faults()
        .inject(Fault::Status(503).on("/vendor/").times(1));
    let status = http
        .get(idp.url("/vendor/ping"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 503, "faults apply to vendor routes too");
}

#[tokio::test]
async fn concurrent_token_requests_all_get_distinct_tokens() {
    let idp = Emulator::builder()
        .flavour(Flavour::standard().with_alg(Alg::ES256))
        .start()
        .await
        .unwrap();
    let opaque = idp
        .engine()
        .create_client(ClientSpec::new().token_format(TokenFormat::Opaque));
    let km = std::sync::Arc::new(km_for(&idp));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (km, id, secret) = (
            km.clone(),
            opaque.client_id.clone(),
            opaque.client_secret.clone(),
        );
        tasks.spawn(async move { token_for(&km, &id, &secret).await.unwrap() });
    }
    let mut tokens = std::collections::HashSet::new();
    while let Some(token) = tasks.join_next().await {
        tokens.insert(token.unwrap());
    }
    assert_eq!(tokens.len(), 32);
    for token in &tokens {
        assert_eq!(idp.engine().introspect(token)["active"], true);
    }
}

#[tokio::test]
async fn starts_quickly_without_files() {
    let mut samples = Vec::new();
    for alg in [Alg::RS256, Alg::ES256, Alg::EdDSA] {
        let started = Instant::now();
        let idp = Emulator::builder()
            .flavour(Flavour::standard().with_alg(alg))
            .start()
            .await
            .unwrap();
        samples.push((alg, started.elapsed()));
        assert!(idp.base_url().starts_with("http://127.0.0.1:"));
    }
    for (alg, elapsed) in samples {
        println!(
            "emulator_start_ms_{alg}: {:.2}",
            elapsed.as_secs_f64() * 1000.0
        );
    }
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let idp = Emulator::start().await.unwrap();
    let client = idp
        .engine()
        .create_client(ClientSpec::new().secret("sup3r-s3cret-value"));
    let record = idp.engine().client(&client.client_id).unwrap();
    let km = OidcKeyManager::new(
        OidcConfig::new(km_id(), idp.issuer())
            .introspection_auth(km_oidc::ServerAuth::ClientSecretPost {
                client_id: "rs".into(),
                client_secret: secrecy::SecretString::from("sup3r-s3cret-value".to_owned()),
            })
            .registration(
                client.client_id.clone(),
                km_oidc::RegistrationAccess {
                    token: secrecy::SecretString::from(client.registration_access_token.clone()),
                    uri: None,
                },
            ),
    )
    .unwrap();
    let text = format!("{client:?} {record:?} {km:?}");
    assert!(!text.contains("sup3r-s3cret-value"), "{text}");
    assert!(!text.contains(&client.registration_access_token), "{text}");
}
