//! axum on loopback, reqwest as client.

use axum::Router;
use axum::routing::get;
use keyprov::gateway::Gateway;
use keyprov::{KeyManagers, KeyType, SubscriptionState};
use keyprov_tower::{Caller, FaultBody, KeyprovLayer, Route, Unmatched};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::support::*;

async fn whoami(caller: Caller) -> axum::Json<Value> {
    axum::Json(json!({
        "application": caller.application.to_string(),
        "key_type": caller.key_type.to_string(),
        "subscription": caller.subscription.to_string(),
        "key_manager": caller.key_manager.as_str(),
        "client_id": caller.consumer_key.as_str(),
        "scopes": caller.scopes.as_str(),
    }))
}

async fn maybe(caller: Option<Caller>) -> String {
    match caller {
        Some(c) => format!("caller {}", c.application),
        None => "anonymous".to_owned(),
    }
}

/// `/orders`: PRODUCTION keys of the subscribed API; `/admin`: the same and scope `admin`;
/// `/sandbox`: SANDBOX keys; `/menu`: the API the application is not subscribed to;
/// `/unprotected`: a handler that wants a `Caller` without a layer.
fn router(w: &World) -> Router {
    let gw = &w.gateway;
    let prod = Route::new(w.api.clone(), KeyType::Production);
    Router::new()
        .route(
            "/orders",
            get(whoami).layer(KeyprovLayer::new(gw.clone(), prod.clone())),
        )
        .route(
            "/admin",
            get(whoami).layer(KeyprovLayer::new(
                gw.clone(),
                prod.clone().require_scopes(["orders:read", "admin"]),
            )),
        )
        .route(
            "/sandbox",
            get(whoami).layer(KeyprovLayer::new(
                gw.clone(),
                Route::new(w.api.clone(), KeyType::Sandbox),
            )),
        )
        .route(
            "/menu",
            get(whoami).layer(KeyprovLayer::new(
                gw.clone(),
                Route::new(w.other_api.clone(), KeyType::Production),
            )),
        )
        .route("/unprotected", get(whoami))
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

impl Answer {
    fn fault(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn code(&self) -> i64 {
        self.fault()["fault"]["code"].as_i64().unwrap()
    }
}

async fn get_with(url: &str, header: Option<(&str, &str)>) -> Answer {
    let mut request = reqwest::Client::new().get(url);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status(),
        challenge: response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.text().await.unwrap(),
    }
}

async fn bearer(url: &str, token: &str) -> Answer {
    get_with(url, Some(("authorization", &format!("Bearer {token}")))).await
}

fn invalid_token(a: &Answer) -> &str {
    let c = a.challenge.as_deref().expect("a challenge");
    assert!(
        c.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{c}"
    );
    c
}

fn insufficient_scope(a: &Answer) -> &str {
    let c = a.challenge.as_deref().expect("a challenge");
    assert!(
        c.starts_with("Bearer error=\"insufficient_scope\", error_description=\""),
        "{c}"
    );
    c
}

#[tokio::test]
async fn the_handler_sees_the_caller() {
    let w = World::new().await;
    let base = serve(router(&w)).await;
    let token = w
        .token(KeyType::Production, &["orders:read", "orders:write"])
        .await;
    let a = bearer(&format!("{base}/orders"), &token).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["application"], w.app.to_string());
    assert_eq!(v["key_type"], "PRODUCTION");
    assert_eq!(v["subscription"], "UNBLOCKED");
    assert_eq!(v["key_manager"], "IS");
    assert_eq!(v["client_id"], w.prod_client);
    assert_eq!(v["scopes"], "orders:read orders:write");
    // The scheme is case-insensitive.
    let a = get_with(
        &format!("{base}/orders"),
        Some(("authorization", &format!("bEARER {token}"))),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn requests_without_a_well_formed_bearer_token_are_refused_before_the_resolver() {
    // A gateway that follows nothing answers 503 to anything that reaches it: these refusals
    // are 401 and 400, so they never did.
    let km = keyprov::KeyManagerConfig::new("IS")
        .unwrap()
        .issuer("https://unused.test/token");
    let is = km_wso2is::emulator::Wso2IsEmulator::start(km_wso2is::emulator::IsVersion::V7)
        .await
        .unwrap();
    let idle = Gateway::builder()
        .key_managers(
            KeyManagers::new()
                .with(km, std::sync::Arc::new(is.key_manager("IS").unwrap()))
                .unwrap(),
        )
        .build()
        .unwrap();
    let route = Route::new(
        keyprov::ApiId::new("pizzashack-1.0.0").unwrap(),
        KeyType::Production,
    );
    let app = Router::new().route(
        "/orders",
        get(whoami).layer(KeyprovLayer::new(idle, route).realm("pizzashack")),
    );
    let url = format!("{}/orders", serve(app).await);

    for (header, status, challenge) in [
        (None, 401, "Bearer realm=\"pizzashack\""),
        (
            Some("Basic YWxpY2U6c2VjcmV0"),
            401,
            "Bearer realm=\"pizzashack\"",
        ),
        (
            Some("Bearer"),
            400,
            "Bearer realm=\"pizzashack\", error=\"invalid_request\"",
        ),
        (
            Some("Bearer a b"),
            400,
            "Bearer realm=\"pizzashack\", error=\"invalid_request\"",
        ),
        (
            Some("Bearer a\tb"),
            400,
            "Bearer realm=\"pizzashack\", error=\"invalid_request\"",
        ),
    ] {
        let a = get_with(&url, header.map(|h| ("authorization", h))).await;
        assert_eq!(a.status.as_u16(), status, "{header:?}: {}", a.body);
        let c = a.challenge.as_deref().unwrap();
        assert!(c.starts_with(challenge), "{header:?}: {c}");
        if status == 401 {
            // RFC 6750 §3.1: no error code when the request has no bearer credentials.
            assert!(!c.contains("error="), "{c}");
        }
        assert_eq!(a.code(), 900902, "{header:?}");
        assert_eq!(a.fault()["fault"]["message"], "Missing Credentials");
    }
    // A token that does reach the resolver: 503, no challenge.
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let jwt = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256"}"#),
        b64(r#"{"iss":"https://unused.test/token"}"#),
        b64("signature")
    );
    let a = bearer(&url, &jwt).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.challenge, None);
}

#[tokio::test]
async fn every_refusal_of_the_resolver_has_its_status_challenge_and_wso2_code() {
    let w = World::new().await;
    let base = serve(router(&w)).await;
    let prod = w.token(KeyType::Production, &["orders:read"]).await;
    let sandbox = w.token(KeyType::Sandbox, &[]).await;
    let (_other, foreign) = foreign_token().await;
    let expired = w.local_token(json!({"exp": now() - 3600, "iat": now() - 7200}));

    // The valid neighbour: the fixture is sound.
    assert_eq!(bearer(&format!("{base}/orders"), &prod).await.status, 200);

    let cases: [(&str, &str, &str, u16, i64, &str); 7] = [
        (
            "unknown issuer",
            "/orders",
            &foreign,
            401,
            900901,
            "unknown_issuer",
        ),
        (
            "bad signature",
            "/orders",
            &tampered(&prod),
            401,
            900901,
            "bad_signature",
        ),
        ("not a JWT", "/orders", "abc.def", 401, 900901, "malformed"),
        ("expired", "/orders", &expired, 401, 900903, "expired"),
        (
            "wrong key type",
            "/orders",
            &sandbox,
            403,
            900908,
            "key_type_mismatch",
        ),
        (
            "wrong key type, the other way",
            "/sandbox",
            &prod,
            403,
            900908,
            "key_type_mismatch",
        ),
        (
            "unsubscribed",
            "/menu",
            &prod,
            403,
            900908,
            "not_subscribed",
        ),
    ];
    for (what, path, token, status, code, _) in cases {
        let a = bearer(&format!("{base}{path}"), token).await;
        assert_eq!(a.status.as_u16(), status, "{what}: {}", a.body);
        if status == 401 {
            invalid_token(&a);
        } else {
            insufficient_scope(&a);
        }
        assert_eq!(a.code(), code, "{what}: {}", a.body);
        // Never the token, nor its signature, in the answer.
        let signature = token.rsplit('.').next().unwrap();
        for text in [&a.body, a.challenge.as_ref().unwrap()] {
            assert!(
                !text.contains(token) && !text.contains(signature),
                "{what}: {text}"
            );
        }
    }

    // Missing scope: 403 insufficient_scope naming the scopes required, WSO2's 900910.
    let a = bearer(&format!("{base}/admin"), &prod).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let c = insufficient_scope(&a);
    assert!(c.ends_with(", scope=\"orders:read admin\""), "{c}");
    assert_eq!(a.code(), 900910);
    let admin = w
        .token(KeyType::Production, &["orders:read", "admin"])
        .await;
    assert_eq!(bearer(&format!("{base}/admin"), &admin).await.status, 200);
}

#[tokio::test]
async fn provisioner_changes_apply_to_the_next_request() {
    let w = World::new().await;
    let base = serve(router(&w)).await;
    let url = format!("{base}/orders");
    let token = w.token(KeyType::Production, &[]).await;
    assert_eq!(bearer(&url, &token).await.status, 200);

    for (state, status, code) in [
        (SubscriptionState::Blocked, 403, Some(900907)),
        (SubscriptionState::OnHold, 403, Some(900909)),
        (SubscriptionState::ProdOnlyBlocked, 403, Some(900907)),
        (SubscriptionState::Unblocked, 200, None),
    ] {
        let changed = w
            .provisioner
            .set_subscription_state(w.app, &w.api, state)
            .await
            .unwrap();
        w.sync(changed.revision).await;
        let a = bearer(&url, &token).await;
        assert_eq!(a.status.as_u16(), status, "{state}: {}", a.body);
        if let Some(code) = code {
            insufficient_scope(&a);
            assert_eq!(a.code(), code, "{state}");
        }
    }

    let removed = w
        .provisioner
        .remove_mapping(&w.caller, w.app, w.prod_mapping)
        .await
        .unwrap();
    w.sync(removed.revision).await;
    let a = bearer(&url, &token).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    invalid_token(&a);
    assert_eq!(a.code(), 900901);
    assert!(
        a.body.contains(&w.prod_client),
        "names the client id: {}",
        a.body
    );
}

#[tokio::test]
async fn a_route_function_chooses_the_route_and_unmatched_requests_pass_or_are_refused() {
    let w = World::new().await;
    let prod = Route::new(w.api.clone(), KeyType::Production);
    let sandbox = Route::new(w.api.clone(), KeyType::Sandbox);
    let route = move |parts: &::http::request::Parts| match parts.uri.path() {
        p if p.starts_with("/pizzashack/") => Some(prod.clone()),
        p if p.starts_with("/sandbox/") => Some(sandbox.clone()),
        _ => None,
    };
    let handler = || get(maybe);
    let app = |unmatched| {
        Router::new()
            .route("/pizzashack/menu", handler())
            .route("/sandbox/menu", handler())
            .route("/health", handler())
            .layer(KeyprovLayer::routed(w.gateway.clone(), route.clone()).unmatched(unmatched))
    };
    let passing = serve(app(Unmatched::Pass)).await;
    let refusing = serve(app(Unmatched::Refuse)).await;
    let prod_token = w.token(KeyType::Production, &[]).await;
    let sandbox_token = w.token(KeyType::Sandbox, &[]).await;

    for base in [&passing, &refusing] {
        let a = bearer(&format!("{base}/pizzashack/menu"), &prod_token).await;
        assert_eq!(
            (a.status, a.body),
            (StatusCode::OK, format!("caller {}", w.app))
        );
        let a = bearer(&format!("{base}/sandbox/menu"), &sandbox_token).await;
        assert_eq!(a.status, StatusCode::OK);
        let a = bearer(&format!("{base}/sandbox/menu"), &prod_token).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
    }
    let a = get_with(&format!("{passing}/health"), None).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "anonymous"));
    let a = bearer(&format!("{refusing}/health"), &prod_token).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.challenge, None, "no token could make it pass");
    assert_eq!(a.code(), 900906);
}

#[tokio::test]
async fn a_custom_header_and_plain_rfc_6750_answers() {
    let w = World::new().await;
    let layer = KeyprovLayer::new(
        w.gateway.clone(),
        Route::new(w.api.clone(), KeyType::Production),
    )
    .header(::http::HeaderName::from_static("x-api-token"))
    .fault_body(FaultBody::Rfc6750);
    let url = format!(
        "{}/orders",
        serve(Router::new().route("/orders", get(maybe).layer(layer))).await
    );
    let token = w.token(KeyType::Production, &[]).await;
    for value in [token.clone(), format!("Bearer {token}")] {
        let a = get_with(&url, Some(("x-api-token", &value))).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    // The Authorization header is not read.
    let a = bearer(&url, &token).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.challenge.as_deref(), Some("Bearer"));
    assert_eq!(a.body, "", "RFC 6750 answers carry no body");
    let a = get_with(&url, Some(("x-api-token", &tampered(&token)))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    invalid_token(&a);
    assert_eq!(a.body, "");
}

#[tokio::test]
async fn a_handler_wanting_a_caller_without_the_layer_is_a_server_error() {
    let w = World::new().await;
    let base = serve(router(&w)).await;
    let a = get_with(&format!("{base}/unprotected"), None).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(a.body.contains("KeyprovLayer"), "{}", a.body);
}
