//! The consumer secret is in no response, header, error or log line, on success or failure.

use reqwest::Method;
use serde_json::json;

use crate::common::{PIZZA, Portal, alice, logs};

#[tokio::test]
async fn the_secret_is_absent_from_every_response_and_log_line() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let client = portal.console_client("pizza");
    let secret = client.client_secret.clone();
    let mut answers = Vec::new();

    let map = format!("/applications/{app}/map-keys");
    let attempts = [
        json!({"consumerKey": client.client_id, "consumerSecret": "wrong-secret-1", "keyManager": "IS", "keyType": "PRODUCTION"}),
        json!({"consumerKey": client.client_id, "consumerSecret": secret, "keyManager": "IS-off", "keyType": "PRODUCTION"}),
        json!({"consumerKey": client.client_id, "consumerSecret": secret, "keyManager": "IS", "keyType": secret}),
        json!({"consumerKey": client.client_id, "consumerSecret": secret, "keyManager": "IS", "keyType": "PRODUCTION"}),
        json!({"consumerKey": client.client_id, "consumerSecret": secret, "keyManager": "IS", "keyType": "PRODUCTION"}),
        json!({"consumerKey": "other", "consumerSecret": secret, "keyManager": "IS", "keyType": "PRODUCTION"}),
    ];
    for body in attempts {
        answers.push(portal.post(&map, body).await);
    }
    let key = answers[3].body["keyMappingId"].as_str().unwrap().to_owned();
    let token = format!("/applications/{app}/oauth-keys/{key}/generate-token");
    answers.push(portal.post(&token, json!({"consumerSecret": secret})).await);
    answers.push(
        portal
            .post(&token, json!({"consumerSecret": "wrong-secret-2"}))
            .await,
    );
    let access = answers
        .last()
        .map(|_| answers[6].body["accessToken"].as_str().unwrap().to_owned())
        .unwrap();
    // Malformed JSON that carries the secret.
    let broken = portal
        .http
        .post(portal.url(&map))
        .header("content-type", "application/json")
        .body(format!("{{\"consumerSecret\": \"{secret}\" \"x\""))
        .send()
        .await
        .unwrap();
    answers.push(crate::common::answer(broken).await);
    answers.push(portal.get(&format!("/applications/{app}/oauth-keys")).await);
    answers.push(
        portal
            .get(&format!("/applications/{app}/oauth-keys/{key}"))
            .await,
    );
    answers.push(portal.get(&format!("/applications/{app}")).await);
    answers.push(
        portal
            .post(
                "/subscriptions",
                json!({"applicationId": app, "apiId": PIZZA, "throttlingPolicy": secret}),
            )
            .await,
    );
    portal
        .is
        .faults()
        .inject(km_oidc::emulator::Fault::Status(503).always());
    answers.push(portal.post(&token, json!({"consumerSecret": secret})).await);
    portal.is.faults().clear();
    answers.push(portal.call(Method::GET, "/key-managers", None).await);

    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [
            400, 403, 400, 200, 200, 409, 200, 400, 400, 200, 200, 200, 201, 503, 200
        ],
        "each step answered as expected, so each was checked"
    );
    for answer in &answers {
        for text in [
            &answer.text,
            &format!("{:?}", answer.location),
            &format!("{:?}", answer.retry_after),
        ] {
            assert!(!text.contains(&secret), "{text}");
            assert!(!text.contains("wrong-secret"), "{text}");
        }
    }
    let logs = logs();
    assert!(
        logs.contains("out-of-band client provisioned"),
        "the log is captured"
    );
    for needle in [
        secret.as_str(),
        "wrong-secret-1",
        "wrong-secret-2",
        access.as_str(),
    ] {
        assert!(!logs.contains(needle), "a secret in the logs");
    }
}
