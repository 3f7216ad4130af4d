//! Every server's "this client may not use client_credentials" answer
//! (`tests/fixtures/grant_refusals/<server>.json`), read by the classifier and by the adapter
//! over loopback HTTP.

use std::path::PathBuf;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use keyprov::error::UnusableReason;
use keyprov::{ConsumerKey, ConsumerSecret, Error, KeyManager};
use km_oidc::error::classify;
use km_oidc::{ConnectionSettings, EndpointKind, OidcConfig, OidcKeyManager};
use serde_json::Value;

use crate::common::km_id;

/// The servers the table must cover; a missing fixture fails the test.
const SERVERS: [&str; 8] = [
    "oidc-provider",
    "ory-hydra",
    "spring-authorization-server",
    "keycloak",
    "wso2is",
    "okta",
    "auth0",
    "entra-id",
];

struct Fixture {
    name: String,
    status: u16,
    body: Value,
    expect: String,
}

fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grant_refusals");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(
            file["_source"].as_str().is_some_and(|s| !s.is_empty()),
            "{name}: no _source"
        );
        out.push(Fixture {
            name,
            status: u16::try_from(file["status"].as_u64().unwrap()).unwrap(),
            body: file["body"].clone(),
            expect: file["expect"].as_str().unwrap().to_owned(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    for server in SERVERS {
        assert!(
            out.iter().any(|f| f.name == server),
            "no fixture for {server}"
        );
    }
    out
}

fn check(fixture: &Fixture, err: &Error) {
    let reason = match fixture.expect.as_str() {
        "no_client_credentials" => UnusableReason::NoClientCredentials,
        "disabled" => UnusableReason::Disabled,
        other => panic!("{}: unknown expect {other:?}", fixture.name),
    };
    match err {
        Error::ClientNotUsable { reason: got, .. } => {
            assert_eq!(*got, reason, "{}", fixture.name);
        }
        other => panic!("{}: {other:?}", fixture.name),
    }
    assert_eq!(err.code(), 901423, "{}", fixture.name);
    assert!(!err.is_retryable(), "{}", fixture.name);
}

#[test]
fn each_servers_refusal_is_client_not_usable() {
    for fixture in fixtures() {
        let body = serde_json::to_vec(&fixture.body).unwrap();
        let err =
            classify(EndpointKind::Token, "token /t", fixture.status, &body).into_core(&km_id());
        check(&fixture, &err);
    }
}

#[test]
fn a_wrong_secret_is_still_a_wrong_secret() {
    for body in [
        r#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
        r#"{"error":"invalid_client"}"#,
        r#"{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}"#,
    ] {
        let err =
            classify(EndpointKind::Token, "token /t", 401, body.as_bytes()).into_core(&km_id());
        assert!(
            matches!(err, Error::SecretNotProven { .. }),
            "{body}: {err:?}"
        );
    }
    // An invalid_request that is not oidc-provider's grant refusal stays a protocol error.
    let other = br#"{"error":"invalid_request","error_description":"missing grant_type"}"#;
    let err = classify(EndpointKind::Token, "token /t", 400, other).into_core(&km_id());
    assert!(matches!(err, Error::KeyManagerProtocol { .. }), "{err:?}");
}

#[tokio::test]
async fn the_adapter_reads_each_refusal_off_the_wire() {
    for fixture in fixtures() {
        let status = StatusCode::from_u16(fixture.status).unwrap();
        let body = fixture.body.clone();
        let app = Router::new().route(
            "/token",
            post(move || async move { (status, axum::Json(body)).into_response() }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let km = OidcKeyManager::new(OidcConfig::with_connection(
            km_id(),
            ConnectionSettings {
                discovery: false,
                token_endpoint: Some(format!("http://{addr}/token")),
                ..ConnectionSettings::default()
            },
        ))
        .unwrap();
        let err = km
            .prove_secret(
                &ConsumerKey::new("some-client").unwrap(),
                &ConsumerSecret::new("the-right-secret"),
            )
            .await
            .unwrap_err();
        check(&fixture, &err);
        assert!(!format!("{err} {err:?}").contains("the-right-secret"));
        task.abort();
    }
}
