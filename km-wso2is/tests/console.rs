//! Creating a client in the emulated console, as an administrator would, then provisioning it;
//! and the DCR API's write side.

use keyprov::{ConsumerKey, ConsumerSecret, KeyType, ProvisionRequest};
use km_wso2is::emulator::{ConsoleError, IsTokenType, IsVersion, Protocol};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn create_a_traditional_application_then_provision_it() {
    let is = is(IsVersion::V7).await;
    let console = is.console();
    // 1-2. Create a traditional application.
    let created = console.create_traditional_application("Billing").unwrap();
    // 3-4. Protocol tab: grant types and token type JWT, Update.
    console
        .update_protocol(
            &created.client_id,
            Protocol::new()
                .grant_types(["authorization_code", "client_credentials"])
                .token_type(IsTokenType::Jwt),
        )
        .unwrap();
    // 5. Copy the client id and secret.
    let copied = console.credentials(&created.client_id).unwrap();
    assert_eq!(copied.client_secret, created.client_secret);
    assert!(!format!("{copied:?}").contains(&copied.client_secret));

    let km = adapter(config(&is));
    let world = World::new(km.clone(), is.issuer()).await;
    let done = world
        .provisioner
        .provision(
            &world.alice,
            ProvisionRequest::new(
                world.app.id,
                KM,
                KeyType::Production,
                ConsumerKey::new(copied.client_id.as_str()).unwrap(),
            )
            .secret(ConsumerSecret::new(copied.client_secret.as_str())),
        )
        .await
        .unwrap();
    assert_eq!(done.mapping.snapshot.token_type.as_deref(), Some("JWT"));
    assert_eq!(
        done.mapping.snapshot.client_name.as_deref(),
        Some("Billing")
    );
    let token = done.token.unwrap();
    let (_, claims) = verify(
        token.secret(),
        &keyprov::KeyManager::jwks(km.as_ref()).await.unwrap(),
    );
    assert_eq!(claims["azp"], copied.client_id.as_str());

    assert_eq!(
        console
            .create_traditional_application("Billing")
            .unwrap_err(),
        ConsoleError::NameTaken("Billing".into())
    );
}

#[tokio::test]
async fn dcr_writes_conflict_with_400_and_delete_with_204() {
    let is = is(IsVersion::V7).await;
    let http = reqwest::Client::new();
    let register = is.url("/api/identity/oauth2/dcr/v1.1/register");
    let body = json!({"client_name": "billing-7x", "grant_types": ["client_credentials"], "ext_token_type": "JWT"});
    let created = http
        .post(&register)
        .basic_auth("admin", Some("admin"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["ext_token_type"], "JWT");

    let conflict = http
        .post(&register)
        .basic_auth("admin", Some("admin"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), 400, "IS says 400, not 409");
    let conflict: Value = conflict.json().await.unwrap();
    let expected = fixture("dcr-error-conflict.json");
    assert_eq!(conflict["error"], expected["error"]);
    assert_eq!(conflict["error_description"], expected["error_description"]);
    assert!(conflict["traceId"].is_string());

    // Bearer with internal_dcr_* scopes (7.x).
    let admin = is.create_admin_client();
    let token: Value = http
        .post(is.url("/oauth2/token"))
        .basic_auth(&admin.client_id, Some(&admin.client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "internal_dcr_view internal_dcr_delete"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap();
    let id = created["client_id"].as_str().unwrap();
    let by_name = http
        .get(format!("{register}?client_name=billing-7x"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 200);
    let deleted = http
        .delete(format!("{register}/{id}"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = http
        .get(format!("{register}/{id}"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401, "unknown client: 401");
    assert!(gone.bytes().await.unwrap().is_empty(), "with an empty body");

    // A token without the create scope: 403 with no body.
    let create = http
        .post(&register)
        .bearer_auth(bearer)
        .json(&json!({"client_name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 403);
    assert!(create.bytes().await.unwrap().is_empty());
}
