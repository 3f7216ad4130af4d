//! The adapter against the wire fixtures, served as they are over loopback HTTP.

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use keyprov::error::UnusableReason;
use keyprov::{ConsumerKey, ConsumerSecret, Error, KeyManager, KeyManagerId};
use km_wso2is::{AdminAuth, Wso2IsConfig, Wso2IsKeyManager};
use serde_json::Value;

use crate::common::{fast_http, fixture};

/// Serves `read` at the client's DCR path and `token` (status, fixture) at the token endpoint.
async fn serve(
    read: Value,
    token: (StatusCode, Value),
) -> (Wso2IsKeyManager, ConsumerKey, tokio::task::JoinHandle<()>) {
    let id = read["client_id"].as_str().unwrap().to_owned();
    let app = Router::new()
        .route(
            &format!("/api/identity/oauth2/dcr/v1.1/register/{id}"),
            get(move || async move { axum::Json(read).into_response() }),
        )
        .route(
            "/oauth2/token",
            post(move || async move { (token.0, axum::Json(token.1)).into_response() }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let config = Wso2IsConfig::new(
        KeyManagerId::new("IS").unwrap(),
        format!("http://{addr}"),
        AdminAuth::basic("admin", "admin"),
    )
    .without_discovery()
    .http(fast_http());
    (
        Wso2IsKeyManager::new(config).unwrap(),
        ConsumerKey::new(id).unwrap(),
        task,
    )
}

#[tokio::test]
async fn each_versions_dcr_read_is_understood() {
    let ok = (
        StatusCode::OK,
        serde_json::json!({"access_token": "opaque-1", "token_type": "Bearer", "expires_in": 3600}),
    );
    for (file, name, token_type, confidential) in [
        ("dcr-read-5.11.json", "billing-511", None, None),
        ("dcr-read-6.x.json", "billing-6x", None, None),
        ("dcr-read-7.x.json", "Billing", Some("JWT"), Some(true)),
    ] {
        let (km, key, task) = serve(fixture(file), ok.clone()).await;
        let info = km.client(&key).await.unwrap();
        assert_eq!(info.client_name.as_deref(), Some(name), "{file}");
        assert_eq!(info.token_type.as_deref(), token_type, "{file}");
        assert_eq!(info.confidential, confidential, "{file}");
        assert_eq!(info.secret_expires_at, None, "0 means never");
        assert!(
            info.grant_types
                .unwrap()
                .contains(&"client_credentials".to_owned())
        );
        assert_eq!(info.redirect_uris.is_empty(), file.contains("5.11"));
        // An opaque probe token teaches the older versions' type.
        km.prove_secret(&key, &ConsumerSecret::new("s"))
            .await
            .unwrap();
        let expect = token_type.unwrap_or("Default");
        assert_eq!(
            km.client(&key).await.unwrap().token_type.as_deref(),
            Some(expect),
            "{file}"
        );
        task.abort();
    }
}

type Expect = fn(&Error) -> bool;

#[tokio::test]
async fn token_error_fixtures_map_to_precise_errors() {
    let read = fixture("dcr-read-6.x.json");
    let cases: [(&str, StatusCode, Expect); 3] = [
        (
            "token-error-invalid-client.json",
            StatusCode::UNAUTHORIZED,
            |e| matches!(e, Error::SecretNotProven { .. }),
        ),
        ("token-error-inactive.json", StatusCode::UNAUTHORIZED, |e| {
            matches!(
                e,
                Error::ClientNotUsable {
                    reason: UnusableReason::Disabled,
                    ..
                }
            )
        }),
        ("token-error-grant.json", StatusCode::BAD_REQUEST, |e| {
            matches!(
                e,
                Error::ClientNotUsable {
                    reason: UnusableReason::NoClientCredentials,
                    ..
                }
            )
        }),
    ];
    for (file, status, expected) in cases {
        let (km, key, task) = serve(read.clone(), (status, fixture(file))).await;
        let err = km
            .prove_secret(&key, &ConsumerSecret::new("s"))
            .await
            .unwrap_err();
        assert!(expected(&err), "{file}: {err:?}");
        task.abort();
    }
}
