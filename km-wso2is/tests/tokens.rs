//! IS's tokens: claims and header per version, opaque tokens and introspection, JWKS.

use keyprov::{ConsumerKey, ConsumerSecret, Error, KeyManager};
use km_wso2is::AdminAuth;
use km_wso2is::emulator::{IsTokenType, IsVersion, Protocol};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn jwt_claims_and_header_per_version() {
    let expected = fixture("jwt-claims.json");
    for version in IsVersion::ALL {
        let is = is(version).await;
        let app = is.console().create_jwt_client("billing").unwrap();
        let km = adapter(config(&is));
        let token = km
            .client_credentials_token(
                &ConsumerKey::new(app.client_id.as_str()).unwrap(),
                &ConsumerSecret::new(app.client_secret.as_str()),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(token.scopes, vec!["default".to_owned()]);
        let (header, claims) = verify(token.secret(), &km.jwks().await.unwrap());
        let want = &expected[version.label()];
        assert_eq!(header.typ.as_deref(), want["typ"].as_str(), "IS {version}");
        let mut names: Vec<&str> = claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let mut want_names: Vec<&str> = want["claims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        want_names.sort_unstable();
        assert_eq!(names, want_names, "IS {version}");
        assert_eq!(claims["iss"], is.issuer().as_str());
        assert!(claims["iss"].as_str().unwrap().ends_with("/oauth2/token"));
        assert_eq!(claims["sub"], "admin", "the owner, not the client");
        assert_eq!(claims["azp"], app.client_id.as_str());
        assert_eq!(claims["aut"], "APPLICATION");
        assert_eq!(claims["aud"], app.client_id.as_str());
        assert_eq!(claims["scope"], "default");
        assert_eq!(claims["nbf"], claims["iat"]);
        assert!(claims["exp"].as_i64() > claims["iat"].as_i64());
    }
}

#[tokio::test]
async fn audiences_and_requested_scopes() {
    let is = is(IsVersion::V7).await;
    let app = is.console().create_jwt_client("billing").unwrap();
    is.console()
        .update_protocol(
            &app.client_id,
            Protocol::new().allowed_audience(["https://api.example.com"]),
        )
        .unwrap();
    let km = adapter(config(&is));
    let token = km
        .client_credentials_token(
            &ConsumerKey::new(app.client_id.as_str()).unwrap(),
            &ConsumerSecret::new(app.client_secret.as_str()),
            &["orders:read".into(), "internal_dcr_view".into()],
        )
        .await
        .unwrap();
    let (_, claims) = verify(token.secret(), &km.jwks().await.unwrap());
    assert_eq!(
        claims["aud"],
        json!([app.client_id, "https://api.example.com"])
    );
    assert_eq!(
        claims["scope"], "orders:read",
        "internal scopes are dropped"
    );
}

#[tokio::test]
async fn opaque_tokens_for_default_apps_are_introspected_with_admin_basic() {
    for version in IsVersion::ALL {
        let is = is(version).await;
        let app = is
            .console()
            .create_traditional_application("opaque")
            .unwrap();
        is.console()
            .update_protocol(
                &app.client_id,
                Protocol::new()
                    .grant_types(["client_credentials"])
                    .token_type(IsTokenType::Default),
            )
            .unwrap();
        let km = adapter(config(&is));
        let token = km
            .client_credentials_token(
                &ConsumerKey::new(app.client_id.as_str()).unwrap(),
                &ConsumerSecret::new(app.client_secret.as_str()),
                &[],
            )
            .await
            .unwrap();
        assert!(
            jsonwebtoken::decode_header(token.secret()).is_err(),
            "opaque on {version}"
        );
        let seen = km.introspect(token.secret()).await.unwrap();
        assert!(seen.active);
        assert_eq!(seen.str_claim("client_id"), Some(app.client_id.as_str()));
        assert_eq!(seen.str_claim("aut"), Some("APPLICATION"));
        assert_eq!(seen.str_claim("username"), Some("admin"));
        assert!(!km.introspect("not-a-token").await.unwrap().active);
    }
}

#[tokio::test]
async fn introspection_with_wrong_admin_is_rejected_credentials() {
    let is = is(IsVersion::V7).await;
    let mut cfg = config(&is);
    cfg.admin = AdminAuth::basic("admin", "wrong");
    let err = adapter(cfg).introspect("anything").await.unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerCredentialsRejected { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn discovery_document_has_is_endpoints() {
    let is = is(IsVersion::V7).await;
    let doc: Value = reqwest::get(is.url("/oauth2/token/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], is.issuer().as_str());
    assert_eq!(doc["token_endpoint"], is.url("/oauth2/token").as_str());
    assert_eq!(doc["jwks_uri"], is.jwks_url().as_str());
    assert_eq!(
        doc["introspection_endpoint"],
        is.url("/oauth2/introspect").as_str()
    );
    // Without discovery the adapter uses the same standard paths.
    let app = is.console().create_jwt_client("billing").unwrap();
    let km = adapter(config(&is).without_discovery());
    km.client_credentials_token(
        &ConsumerKey::new(app.client_id.as_str()).unwrap(),
        &ConsumerSecret::new(app.client_secret.as_str()),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        is.faults()
            .requests("/oauth2/token/.well-known/openid-configuration"),
        1,
        "only ours"
    );
}
