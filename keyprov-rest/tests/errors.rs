//! Every failure: WSO2's error shape, keyprov's code, the right status, never axum's plain text.

use keyprov::{Actor, MappingId, MappingState};
use km_oidc::emulator::Fault;
use reqwest::Method;
use serde_json::json;

use crate::common::{PIZZA, Portal, alice, answer, bob};

#[tokio::test]
async fn invalid_input_names_the_field() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let map = format!("/applications/{app}/map-keys");
    let cases = [
        (
            "/applications",
            json!({"throttlingPolicy": "Unlimited"}),
            "name",
        ),
        (
            "/applications",
            json!({"name": 5, "throttlingPolicy": "Unlimited"}),
            "name",
        ),
        (
            "/applications",
            json!({"name": "n".repeat(71), "throttlingPolicy": "Unlimited"}),
            "name",
        ),
        (
            "/applications",
            json!({"name": " padded", "throttlingPolicy": "Unlimited"}),
            "name",
        ),
        ("/applications", json!({"name": "a"}), "throttlingPolicy"),
        (
            "/applications",
            json!({"name": "a", "throttlingPolicy": ""}),
            "throttlingPolicy",
        ),
        (
            "/applications",
            json!({"name": "a", "throttlingPolicy": "U", "tokenType": "X"}),
            "tokenType",
        ),
        (
            "/applications",
            json!({"name": "a", "throttlingPolicy": "U", "groups": "g"}),
            "groups",
        ),
        (
            "/applications",
            json!({"name": "a", "throttlingPolicy": "U", "attributes": []}),
            "attributes",
        ),
        (
            "/applications",
            json!({"name": "a", "throttlingPolicy": "U", "description": "d".repeat(513)}),
            "description",
        ),
        (&map, json!({"keyType": "PRODUCTION"}), "consumerKey"),
        (
            &map,
            json!({"consumerKey": "  ", "keyType": "PRODUCTION"}),
            "consumerKey",
        ),
        (
            &map,
            json!({"consumerKey": "k".repeat(513), "keyType": "PRODUCTION"}),
            "consumerKey",
        ),
        (
            &map,
            json!({"consumerKey": "c", "keyType": "PROD"}),
            "keyType",
        ),
        (&map, json!({"consumerKey": "c"}), "keyType"),
        (
            &map,
            json!({"consumerKey": "c", "keyType": "SANDBOX", "keyManager": 3}),
            "keyManager",
        ),
        (
            &map,
            json!({"consumerKey": "c", "keyType": "SANDBOX", "consumerSecret": ["s"]}),
            "consumerSecret",
        ),
        (
            "/subscriptions",
            json!({"apiId": PIZZA, "throttlingPolicy": "U"}),
            "applicationId",
        ),
        (
            "/subscriptions",
            json!({"applicationId": "nope", "apiId": PIZZA, "throttlingPolicy": "U"}),
            "applicationId",
        ),
        (
            "/subscriptions",
            json!({"applicationId": app, "throttlingPolicy": "U"}),
            "apiId",
        ),
        (
            "/subscriptions",
            json!({"applicationId": app, "apiId": PIZZA}),
            "throttlingPolicy",
        ),
        ("/applications", json!([1, 2]), "body"),
    ];
    for (path, body, field) in cases {
        let answer = portal.post(path, body.clone()).await;
        assert_eq!(answer.error(400, 901400), field, "{path} {body}");
    }
    for (path, field) in [
        ("/applications/not-a-uuid", "applicationId"),
        (
            &format!("/applications/{app}/oauth-keys/not-a-uuid") as &str,
            "keyMappingId",
        ),
        ("/applications?limit=-1", "limit"),
        ("/applications?offset=x", "offset"),
        ("/applications?sortOrder=up", "sortOrder"),
        ("/applications?sortBy=owner", "sortBy"),
        ("/subscriptions", "applicationId"),
        ("/subscriptions/%2A%2A", "subscriptionId"),
    ] {
        assert_eq!(portal.get(path).await.error(400, 901400), field, "{path}");
    }
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies() {
    let portal = Portal::start(alice()).await;
    let url = portal.url("/applications");
    let send = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut request = portal.http.post(&url).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        async { answer(request.send().await.unwrap()).await }
    };
    let broken = send(b"{\"name\": ".to_vec(), Some("application/json")).await;
    assert_eq!(broken.error(400, 901400), "body");
    assert!(
        broken.body["description"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
    let not_utf8 = send(vec![0xff, 0xfe], Some("application/json")).await;
    assert_eq!(not_utf8.error(400, 901400), "body");
    send(b"{}".to_vec(), Some("text/plain"))
        .await
        .error(415, 415);
    send(b"{}".to_vec(), None).await.error(415, 415);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));
    send(big.into_bytes(), Some("application/json"))
        .await
        .error(413, 413);
    // Charset parameters and +json types are JSON.
    let ok = send(
        br#"{"name":"a","throttlingPolicy":"U"}"#.to_vec(),
        Some("application/json; charset=utf-8"),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.text);

    // A smaller limit is the embedder's choice.
    let small = portal
        .serve(keyprov_rest::DevPortal::new(portal.provisioner.clone(), alice()).max_body_bytes(16))
        .await;
    portal
        .call_at(
            &small,
            Method::POST,
            "/applications",
            Some(json!({"name": "abcdefghijklmnop"})),
        )
        .await
        .error(413, 413);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let portal = Portal::start(alice()).await;
    portal.get("/apis").await.error(404, 404);
    portal.get("/applications/x/y/z").await.error(404, 404);
    portal
        .call(Method::PUT, "/applications", None)
        .await
        .error(405, 405);
    portal
        .call(Method::PATCH, "/key-managers", None)
        .await
        .error(405, 405);
}

#[tokio::test]
async fn not_found_and_forbidden() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let missing = keyprov::ApplicationId::random();
    let key = MappingId::random();
    portal
        .get(&format!("/applications/{missing}"))
        .await
        .error(404, 404);
    portal
        .delete(&format!("/applications/{missing}"))
        .await
        .error(404, 404);
    portal
        .get(&format!("/applications/{missing}/oauth-keys"))
        .await
        .error(404, 404);
    portal
        .get(&format!("/applications/{app}/oauth-keys/{key}"))
        .await
        .error(404, 901407);
    portal
        .delete(&format!("/applications/{app}/oauth-keys/{key}"))
        .await
        .error(404, 901407);
    portal
        .call(
            Method::POST,
            &format!("/applications/{app}/oauth-keys/{key}/clean-up"),
            None,
        )
        .await
        .error(404, 901407);
    portal
        .post(
            &format!("/applications/{app}/oauth-keys/{key}/generate-token"),
            json!({"consumerSecret": "s"}),
        )
        .await
        .error(404, 901407);
    portal
        .post(
            "/subscriptions",
            json!({"applicationId": app, "apiId": "nope", "throttlingPolicy": "U"}),
        )
        .await
        .error(404, 901404);
    portal
        .post(
            "/subscriptions",
            json!({"applicationId": missing, "apiId": PIZZA, "throttlingPolicy": "U"}),
        )
        .await
        .error(404, 404);

    // Bob, on the same provisioner, may not touch alice's application.
    let as_bob = portal.serve_as(bob()).await;
    let client = portal.console_client("pizza");
    let mapped = portal.map(&app, &client).await;
    let key = mapped.body["keyMappingId"].as_str().unwrap();
    let sub = portal
        .post(
            "/subscriptions",
            json!({"applicationId": app, "apiId": PIZZA, "throttlingPolicy": "U"}),
        )
        .await;
    let sub = sub.body["subscriptionId"].as_str().unwrap();
    let bob_map = json!({"consumerKey": "c", "consumerSecret": "s", "keyManager": "IS", "keyType": "SANDBOX"});
    for (method, path, body) in [
        (Method::GET, format!("/applications/{app}"), None),
        (Method::DELETE, format!("/applications/{app}"), None),
        (
            Method::POST,
            format!("/applications/{app}/map-keys"),
            Some(bob_map),
        ),
        (Method::GET, format!("/applications/{app}/oauth-keys"), None),
        (
            Method::GET,
            format!("/applications/{app}/oauth-keys/{key}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/applications/{app}/oauth-keys/{key}"),
            None,
        ),
        (
            Method::POST,
            format!("/applications/{app}/oauth-keys/{key}/generate-token"),
            Some(json!({"consumerSecret": client.client_secret})),
        ),
        (
            Method::GET,
            format!("/subscriptions?applicationId={app}"),
            None,
        ),
        (Method::GET, format!("/subscriptions/{sub}"), None),
        (Method::DELETE, format!("/subscriptions/{sub}"), None),
        (
            Method::POST,
            "/subscriptions".to_owned(),
            Some(json!({"applicationId": app, "apiId": PIZZA, "throttlingPolicy": "U"})),
        ),
    ] {
        let answer = portal.call_at(&as_bob, method.clone(), &path, body).await;
        answer.error(403, 403);
        assert!(
            !answer.text.contains("alice"),
            "{method} {path}: {}",
            answer.text
        );
    }
    // Bob's own list is empty, not alice's.
    let bobs = portal
        .call_at(&as_bob, Method::GET, "/applications", None)
        .await;
    assert_eq!(bobs.body["count"], 0);
}

#[tokio::test]
async fn missing_scopes_are_refused_before_anything_else() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let reader = portal
        .serve_as(alice().with_scopes(["apim:sub_manage"]))
        .await;
    for (method, path) in [
        (Method::GET, "/applications".to_owned()),
        (Method::POST, "/applications".to_owned()),
        (Method::GET, format!("/applications/{app}")),
        (Method::GET, "/key-managers".to_owned()),
        (Method::POST, format!("/applications/{app}/map-keys")),
    ] {
        // Even with an invalid body: authorization comes first.
        let answer = portal
            .call_at(&reader, method.clone(), &path, Some(json!([])))
            .await;
        assert_eq!(answer.error(403, 900910), "scope", "{method} {path}");
    }
    let list = portal
        .call_at(
            &reader,
            Method::GET,
            &format!("/subscriptions?applicationId={app}"),
            None,
        )
        .await;
    assert_eq!(
        list.status, 200,
        "apim:sub_manage suffices for subscriptions"
    );
}

#[tokio::test]
async fn conflicts_name_the_rule() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let duplicate = portal
        .post(
            "/applications",
            json!({"name": "PizzaApp", "throttlingPolicy": "Unlimited"}),
        )
        .await;
    duplicate.error(409, 409);
    let client = portal.console_client("pizza");
    let other = portal.console_client("pizza-2");
    assert_eq!(portal.map(&app, &client).await.status, 200);
    let second = portal.map(&app, &other).await;
    assert_eq!(second.error(409, 901409), "keyTypeAlreadyMapped");
    let app2 = portal.application("Other").await;
    let taken = portal.map(&app2, &client).await;
    assert_eq!(taken.error(409, 901409), "consumerKeyAlreadyMapped");
    assert!(
        taken.body["error"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already mapped")
    );

    // A suspended mapping gives no tokens.
    let key = portal
        .get(&format!("/applications/{app}/oauth-keys"))
        .await
        .body["list"][0]["keyMappingId"]
        .as_str()
        .unwrap()
        .parse::<MappingId>()
        .unwrap();
    portal
        .provisioner
        .set_mapping_state(
            &Actor::service("drift-check").unwrap(),
            key,
            MappingState::Suspended,
        )
        .await
        .unwrap();
    portal
        .post(
            &format!("/applications/{app}/oauth-keys/{key}/generate-token"),
            json!({"consumerSecret": client.client_secret}),
        )
        .await
        .error(409, 901411);
}

#[tokio::test]
async fn key_manager_refusals() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let client = portal.console_client("pizza");
    let path = format!("/applications/{app}/map-keys");
    let map = |key_manager: &str, consumer_key: &str, secret: &str| {
        portal.post(
            &path,
            json!({"consumerKey": consumer_key, "consumerSecret": secret,
                   "keyManager": key_manager, "keyType": "PRODUCTION"}),
        )
    };
    map("nope", &client.client_id, &client.client_secret)
        .await
        .error(400, 901403);
    map("IS-off", &client.client_id, &client.client_secret)
        .await
        .error(403, 901420);
    map("IS", "no-such-client", "s").await.error(400, 901421);
    map("IS", &client.client_id, "wrong")
        .await
        .error(400, 901422);
    portal
        .post(
            &format!("/applications/{app}/map-keys"),
            json!({"consumerKey": client.client_id, "keyManager": "IS", "keyType": "PRODUCTION"}),
        )
        .await
        .error(400, 901400);

    let key = portal.map(&app, &client).await.body["keyMappingId"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = format!("/applications/{app}/oauth-keys/{key}/generate-token");
    assert_eq!(
        portal.post(&token, json!({})).await.error(400, 901400),
        "consumerSecret"
    );
    assert_eq!(
        portal
            .post(&token, json!({"consumerSecret": "s", "scopes": "read"}))
            .await
            .error(400, 901400),
        "scopes"
    );
    assert_eq!(
        portal
            .post(
                &token,
                json!({"consumerSecret": "s", "validityPeriod": "1h"})
            )
            .await
            .error(400, 901400),
        "validityPeriod"
    );
    portal
        .post(&token, json!({"consumerSecret": "wrong"}))
        .await
        .error(400, 901422);
}

#[tokio::test]
async fn an_unavailable_key_manager_answers_503_with_retry_after() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let client = portal.console_client("pizza");
    portal.is.faults().inject(Fault::Status(503).always());
    let answer = portal.map(&app, &client).await;
    answer.error(503, 901424);
    assert_eq!(answer.retry_after.as_deref(), Some("5"));
    portal.is.faults().clear();
    let key = portal.map(&app, &client).await.body["keyMappingId"]
        .as_str()
        .unwrap()
        .to_owned();
    portal.is.faults().inject(Fault::Drop.always());
    let answer = portal
        .post(
            &format!("/applications/{app}/oauth-keys/{key}/generate-token"),
            json!({"consumerSecret": client.client_secret}),
        )
        .await;
    answer.error(503, 901424);
    assert_eq!(answer.retry_after.as_deref(), Some("5"));
}

#[tokio::test]
async fn a_key_manager_outside_its_protocol_answers_502() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let client = portal.console_client("pizza");
    portal.is.faults().inject(Fault::MalformedJson.always());
    let answer = portal.map(&app, &client).await;
    answer.error(502, 901426);
    assert!(answer.retry_after.is_none());
}
