//! IS down, slow or answering garbage: unavailable (retryable) or protocol errors, and
//! nothing stored.

use std::time::Duration;

use keyprov::{ConsumerKey, ConsumerSecret, Error, KeyManager, KeyType, ProvisionRequest};
use km_oidc::emulator::Fault;
use km_wso2is::emulator::IsVersion;

use crate::common::*;

fn dcr(client_id: &str) -> String {
    format!("/api/identity/oauth2/dcr/v1.1/register/{client_id}")
}

async fn attempt(world: &World, client_id: &str, secret: &str) -> Error {
    let request = ProvisionRequest::new(
        world.app.id,
        KM,
        KeyType::Sandbox,
        ConsumerKey::new(client_id).unwrap(),
    )
    .secret(secret.into());
    world
        .provisioner
        .provision(&world.alice, request)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn is_down_is_unavailable_and_nothing_is_stored() {
    let is = is(IsVersion::V7).await;
    let app = is.console().create_jwt_client("billing").unwrap();
    let km = adapter(config(&is));
    let world = World::new(km, is.issuer()).await;
    drop(is); // the port closes
    let err = attempt(&world, &app.client_id, &app.client_secret).await;
    assert!(
        matches!(err, Error::KeyManagerUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(world.stored().await, 0);
}

#[tokio::test]
async fn slow_is_times_out_after_bounded_retries() {
    let is = is(IsVersion::V6).await;
    let app = is.console().create_jwt_client("billing").unwrap();
    let world = World::new(adapter(config(&is)), is.issuer()).await;
    is.faults()
        .inject(Fault::Latency(Duration::from_secs(2)).on(dcr(&app.client_id)));
    let err = attempt(&world, &app.client_id, &app.client_secret).await;
    match &err {
        Error::KeyManagerUnavailable { detail, .. } => {
            assert!(detail.contains("timed out"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        is.faults().requests(&dcr(&app.client_id)),
        2,
        "max_attempts"
    );
    assert_eq!(world.stored().await, 0);
}

#[tokio::test]
async fn server_errors_are_retried_then_unavailable() {
    let is = is(IsVersion::V5_11).await;
    let app = is.console().create_jwt_client("billing").unwrap();
    let km = adapter(config(&is));
    let world = World::new(km.clone(), is.issuer()).await;

    // One 503, then the answer: the retry hides it.
    is.faults()
        .inject(Fault::Status(503).on(dcr(&app.client_id)).times(1));
    world
        .provisioner
        .provision(
            &world.alice,
            ProvisionRequest::new(
                world.app.id,
                KM,
                KeyType::Production,
                ConsumerKey::new(app.client_id.as_str()).unwrap(),
            )
            .secret(ConsumerSecret::new(app.client_secret.as_str())),
        )
        .await
        .unwrap();
    assert_eq!(is.faults().requests(&dcr(&app.client_id)), 2);

    // 503 every time: unavailable after the budget.
    is.faults()
        .inject(Fault::Status(503).on(dcr(&app.client_id)));
    let err = km
        .client(&ConsumerKey::new(app.client_id.as_str()).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(is.faults().requests(&dcr(&app.client_id)), 4);
    assert_eq!(world.stored().await, 1, "only the successful mapping");
}

#[tokio::test]
async fn malformed_answers_are_protocol_errors() {
    let is = is(IsVersion::V7).await;
    let app = is.console().create_jwt_client("billing").unwrap();
    let world = World::new(adapter(config(&is)), is.issuer()).await;
    for fault in [Fault::MalformedJson, Fault::HtmlPage(200)] {
        is.faults().clear();
        is.faults().inject(fault.clone().on(dcr(&app.client_id)));
        let err = attempt(&world, &app.client_id, &app.client_secret).await;
        match &err {
            Error::KeyManagerProtocol {
                endpoint, detail, ..
            } => {
                assert!(endpoint.contains("/register/"), "{endpoint}");
                assert!(!detail.is_empty());
            }
            other => panic!("{fault:?}: {other:?}"),
        }
        assert!(!err.is_retryable());
    }
    assert_eq!(world.stored().await, 0);
}

#[tokio::test]
async fn token_endpoint_failures_are_not_retried() {
    let is = is(IsVersion::V7).await;
    let app = is.console().create_jwt_client("billing").unwrap();
    let km = adapter(config(&is));
    let key = ConsumerKey::new(app.client_id.as_str()).unwrap();
    let secret = ConsumerSecret::new(app.client_secret.as_str());
    km.client_credentials_token(&key, &secret, &[])
        .await
        .unwrap(); // discovery done
    is.faults().reset_counts();
    is.faults()
        .inject(Fault::Status(503).on("/oauth2/token").times(1));
    let err = km
        .client_credentials_token(&key, &secret, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyManagerUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(
        is.faults().requests("/oauth2/token"),
        1,
        "a token request is never retried"
    );
    is.faults()
        .inject(Fault::MalformedJson.on("/oauth2/token").times(1));
    let err = km
        .client_credentials_token(&key, &secret, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyManagerProtocol { .. }), "{err:?}");
}
