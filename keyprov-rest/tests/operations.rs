//! Every operation's success, as a WSO2 Developer Portal client sees it.

use reqwest::Method;
use serde_json::json;

use crate::common::{PIZZA, Portal, alice};

#[tokio::test]
async fn applications_are_created_listed_read_and_deleted() {
    let portal = Portal::start(alice()).await;
    let created = portal
        .post(
            "/applications",
            json!({"name": "PizzaApp", "throttlingPolicy": "Gold", "description": "pizza",
                   "tokenType": "JWT", "attributes": {"team": "red"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["applicationId"].as_str().unwrap().to_owned();
    assert_eq!(
        created.location.as_deref(),
        Some(format!("/api/am/devportal/v3/applications/{id}").as_str())
    );
    assert_eq!(created.body["name"], "PizzaApp");
    assert_eq!(created.body["owner"], "alice");
    assert_eq!(created.body["throttlingPolicy"], "Unlimited");
    assert_eq!(created.body["status"], "APPROVED");
    assert_eq!(created.body["keys"], json!([]));
    portal.application("Another").await;
    portal.application("Zeta").await;

    let read = portal.get(&format!("/applications/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["applicationId"], id.as_str());
    assert_eq!(read.body["subscriptionCount"], 0);

    let all = portal.get("/applications").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["count"], 3);
    assert_eq!(all.body["pagination"]["total"], 3);
    assert_eq!(all.body["list"][0]["name"], "PizzaApp", "creation order");
    let page = portal
        .get("/applications?sortBy=name&sortOrder=desc&limit=1&offset=1")
        .await;
    assert_eq!(page.body["count"], 1);
    assert_eq!(
        page.body["list"][0]["name"], "PizzaApp",
        "Zeta, PizzaApp, Another"
    );
    assert_eq!(
        page.body["pagination"]["next"],
        "/applications?limit=1&offset=2"
    );
    assert_eq!(
        page.body["pagination"]["previous"],
        "/applications?limit=1&offset=0"
    );
    let named = portal.get("/applications?query=Zeta").await;
    assert_eq!(named.body["count"], 1);
    assert_eq!(named.body["list"][0]["name"], "Zeta");

    let deleted = portal.delete(&format!("/applications/{id}")).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.text, "");
    portal
        .get(&format!("/applications/{id}"))
        .await
        .error(404, 404);
    assert_eq!(portal.get("/applications").await.body["count"], 2);
}

#[tokio::test]
async fn map_keys_list_read_token_and_remove() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let client = portal.console_client("pizza");

    let managers = portal.get("/key-managers").await;
    assert_eq!(managers.status, 200);
    assert_eq!(managers.body["count"], 2);
    let by_name = |name: &str| {
        managers.body["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|km| km["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("IS")["enableMapOAuthConsumerApps"], true);
    assert_eq!(
        by_name("IS")["additionalProperties"]["outOfBandProvisioning"],
        true
    );
    let off = by_name("IS-off");
    assert_eq!(off["enableMapOAuthConsumerApps"], false);
    assert!(
        off["additionalProperties"]["provisioningRefused"]
            .as_str()
            .unwrap()
            .contains("both off")
    );

    let mapped = portal.map(&app, &client).await;
    assert_eq!(mapped.status, 200, "{}", mapped.text);
    let key = mapped.body["keyMappingId"].as_str().unwrap().to_owned();
    assert_eq!(mapped.body["mode"], "MAPPED");
    assert_eq!(mapped.body["keyState"], "ACTIVE");
    assert_eq!(mapped.body["keyType"], "PRODUCTION");
    assert_eq!(mapped.body["keyManager"], "IS");
    assert_eq!(mapped.body["consumerKey"], client.client_id.as_str());
    assert!(mapped.body["token"]["accessToken"].as_str().unwrap().len() > 20);
    assert!(mapped.body["token"]["validityTime"].as_i64().unwrap() > 0);
    assert_eq!(mapped.body["additionalProperties"]["secretProven"], true);

    // A retry of a request that succeeded: the same mapping, no new token.
    let again = portal.map(&app, &client).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["keyMappingId"], key.as_str());
    assert!(again.body.get("token").is_none());

    let list = portal.get(&format!("/applications/{app}/oauth-keys")).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["count"], 1);
    assert_eq!(list.body["list"][0]["keyMappingId"], key.as_str());
    let one = portal
        .get(&format!("/applications/{app}/oauth-keys/{key}"))
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["consumerKey"], client.client_id.as_str());
    let application = portal.get(&format!("/applications/{app}")).await;
    assert_eq!(application.body["keys"][0]["keyMappingId"], key.as_str());

    let token = portal
        .post(
            &format!("/applications/{app}/oauth-keys/{key}/generate-token"),
            json!({"consumerSecret": client.client_secret, "scopes": ["read"], "validityPeriod": 3600}),
        )
        .await;
    assert_eq!(token.status, 200, "{}", token.text);
    assert!(token.body["accessToken"].as_str().unwrap().len() > 20);
    assert_eq!(token.body["tokenScopes"], json!(["read"]));

    let removed = portal
        .delete(&format!("/applications/{app}/oauth-keys/{key}"))
        .await;
    assert_eq!(removed.status, 200);
    portal
        .get(&format!("/applications/{app}/oauth-keys/{key}"))
        .await
        .error(404, 901407);

    // Mapped again, then removed WSO2's way.
    let remapped = portal.map(&app, &client).await;
    assert_eq!(remapped.status, 200);
    let key = remapped.body["keyMappingId"].as_str().unwrap();
    let cleaned = portal
        .call(
            Method::POST,
            &format!("/applications/{app}/oauth-keys/{key}/clean-up"),
            None,
        )
        .await;
    assert_eq!(cleaned.status, 200, "{}", cleaned.text);
    assert_eq!(
        portal
            .get(&format!("/applications/{app}/oauth-keys"))
            .await
            .body["count"],
        0
    );
}

#[tokio::test]
async fn map_keys_defaults_to_the_resident_key_manager() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let answer = portal
        .post(
            &format!("/applications/{app}/map-keys"),
            json!({"consumerKey": "x", "consumerSecret": "y", "keyType": "SANDBOX"}),
        )
        .await;
    answer.error(400, 901403);
    assert!(
        answer.body["description"]
            .as_str()
            .unwrap()
            .contains("Resident Key Manager")
    );
}

#[tokio::test]
async fn subscriptions_are_created_listed_read_and_deleted() {
    let portal = Portal::start(alice()).await;
    let app = portal.application("PizzaApp").await;
    let body = json!({"applicationId": app, "apiId": PIZZA, "throttlingPolicy": "Unlimited"});
    let created = portal.post("/subscriptions", body.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["subscriptionId"].as_str().unwrap().to_owned();
    assert_eq!(created.body["status"], "UNBLOCKED");
    assert_eq!(created.body["apiId"], PIZZA);
    assert_eq!(created.body["applicationId"], app.as_str());
    assert_eq!(
        created.location.as_deref(),
        Some(format!("/api/am/devportal/v3/subscriptions/{id}").as_str())
    );
    // Subscribing again answers the same subscription.
    let again = portal.post("/subscriptions", body).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["subscriptionId"], id.as_str());

    let list = portal
        .get(&format!("/subscriptions?applicationId={app}"))
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["count"], 1);
    assert_eq!(list.body["list"][0]["subscriptionId"], id.as_str());
    let filtered = portal
        .get(&format!("/subscriptions?applicationId={app}&apiId=other"))
        .await;
    assert_eq!(filtered.body["count"], 0);
    assert_eq!(
        portal.get(&format!("/applications/{app}")).await.body["subscriptionCount"],
        1
    );

    let one = portal.get(&format!("/subscriptions/{id}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["apiId"], PIZZA);

    let deleted = portal.delete(&format!("/subscriptions/{id}")).await;
    assert_eq!(deleted.status, 200);
    portal
        .get(&format!("/subscriptions/{id}"))
        .await
        .error(404, 901406);
    portal
        .delete(&format!("/subscriptions/{id}"))
        .await
        .error(404, 901406);
}
