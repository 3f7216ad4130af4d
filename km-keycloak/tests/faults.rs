//! Keycloak down, slow or answering garbage: retryable "unavailable" or a protocol error
//! naming the endpoint, and nothing stored.

use std::time::{Duration, Instant};

use keyprov::Error;
use km_keycloak::emulator::KeycloakClient;
use km_oidc::emulator::Fault;

use crate::common::*;

async fn refused(w: &World, key: &str, secret: &str) -> Error {
    let err = w.provision(key, Some(secret)).await.unwrap_err();
    assert_eq!(w.stored().await, 0, "nothing stored after {err:?}");
    err
}

#[tokio::test]
async fn keycloak_down_is_unavailable() {
    // A port nobody listens on: start an emulator, take its settings, stop it.
    let gone = keycloak().await;
    let admin = gone.admin_service_account("keyprov-admin");
    let config = adapter(&gone, &admin);
    drop(gone);
    let w2 = world_with(keycloak().await, config, |km| km).await;
    let err = refused(&w2, "billing", "secret").await;
    assert!(
        matches!(err, Error::KeyManagerUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn slow_keycloak_times_out_as_unavailable() {
    let w = world().await;
    let app = w.kc.create_client(KeycloakClient::confidential("billing"));
    w.kc.faults()
        .inject(Fault::Latency(Duration::from_secs(3)).on("/admin/"));
    let started = Instant::now();
    let err = refused(&w, &app.client_id, &app.secret).await;
    assert!(
        matches!(err, Error::KeyManagerUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(err.to_string().contains("timed out"), "{err}");
    // Two attempts of 1.5 s, not the 3 s latency each.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_token_endpoint_during_the_proof_is_unavailable() {
    let w = world().await;
    let app = w.kc.create_client(KeycloakClient::confidential("billing"));
    w.kc.faults()
        .inject(Fault::Latency(Duration::from_secs(3)).on(w.kc.token_path(REALM)));
    let err = refused(&w, &app.client_id, &app.secret).await;
    assert!(
        matches!(err, Error::KeyManagerUnavailable { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_errors_are_unavailable_and_retried() {
    let w = world().await;
    let app = w.kc.create_client(KeycloakClient::confidential("billing"));
    let admin_path = format!("/admin/realms/{REALM}/clients");
    w.kc.faults().inject(Fault::Status(503).on(&admin_path));
    let err = refused(&w, &app.client_id, &app.secret).await;
    assert!(
        matches!(err, Error::KeyManagerUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(
        w.kc.faults().requests(&admin_path),
        2,
        "retried once (2 attempts)"
    );
    // One transient failure is absorbed by the retry.
    w.kc.faults().clear();
    w.kc.faults()
        .inject(Fault::Status(502).on(&admin_path).times(1));
    w.provision(&app.client_id, Some(&app.secret))
        .await
        .unwrap();
}

#[tokio::test]
async fn malformed_answers_are_protocol_errors_naming_the_endpoint() {
    let w = world().await;
    let app = w.kc.create_client(KeycloakClient::confidential("billing"));
    let admin_path = format!("/admin/realms/{REALM}/clients");
    for fault in [Fault::MalformedJson, Fault::HtmlPage(200)] {
        w.kc.faults().clear();
        w.kc.faults().inject(fault.clone().on(&admin_path));
        match refused(&w, &app.client_id, &app.secret).await {
            Error::KeyManagerProtocol { endpoint, .. } => {
                assert_eq!(endpoint, format!("admin {admin_path}"), "{fault:?}")
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }
    w.kc.faults().clear();
    w.kc.faults()
        .inject(Fault::MalformedJson.on(w.kc.token_path(REALM)));
    let err = refused(&w, &app.client_id, &app.secret).await;
    assert!(matches!(err, Error::KeyManagerProtocol { .. }), "{err:?}");
}

#[tokio::test]
async fn dropped_connections_are_unavailable() {
    let w = world().await;
    let app = w.kc.create_client(KeycloakClient::confidential("billing"));
    w.kc.faults().inject(Fault::Drop.on("/admin/"));
    let err = refused(&w, &app.client_id, &app.secret).await;
    assert!(
        matches!(err, Error::KeyManagerUnavailable { .. }),
        "{err:?}"
    );
}
