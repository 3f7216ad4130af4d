//! Bearer tokens verified by keyprov's gateway, with WSO2's portal scopes.

use std::time::Duration;

use keyprov::{
    Actor, ApiId, ConsumerKey, ConsumerSecret, KeyType, NewApplication, OrganizationId,
    ProvisionRequest, UserId,
};
use keyprov_rest::BearerAuthenticator;
use km_wso2is::emulator::ConsoleApplication;

use crate::common::{PORTAL_API, Portal, answer};

/// A portal (bearer) where `user` owns an application holding `client`, subscribed to the
/// portal API when `subscribed`.
async fn setup(portal: &Portal, user: &str, client: &ConsoleApplication, subscribed: bool) {
    let owner = UserId::new(user).unwrap();
    let caller = Actor::User(owner.clone());
    let app = portal
        .provisioner
        .create_application(NewApplication::new(
            format!("{user}-portal"),
            owner,
            OrganizationId::new("carbon.super").unwrap(),
        ))
        .await
        .unwrap();
    let done = portal
        .provisioner
        .provision(
            &caller,
            ProvisionRequest::new(
                app.id,
                "IS",
                KeyType::Production,
                ConsumerKey::new(client.client_id.clone()).unwrap(),
            )
            .secret(ConsumerSecret::new(client.client_secret.clone())),
        )
        .await
        .unwrap();
    let mut revision = done.revision;
    if subscribed {
        revision = portal
            .provisioner
            .subscribe(&caller, app.id, &ApiId::new(PORTAL_API).unwrap())
            .await
            .unwrap()
            .revision;
    }
    portal
        .gateway
        .wait_for(revision, Duration::from_secs(5))
        .await
        .unwrap();
}

async fn token(portal: &Portal, client: &ConsoleApplication, scope: &str) -> String {
    let answer = answer(
        portal
            .http
            .post(portal.is.url("/oauth2/token"))
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.body["access_token"].as_str().unwrap().to_owned()
}

async fn with_token(portal: &Portal, token: Option<&str>, path: &str) -> crate::common::Answer {
    let mut request = portal.http.get(portal.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

#[tokio::test]
async fn bearer_tokens_are_verified_by_the_gateway_with_scopes() {
    let portal = Portal::start_with(|provisioner, gateway| {
        BearerAuthenticator::new(
            gateway.clone(),
            provisioner.clone(),
            ApiId::new(PORTAL_API).unwrap(),
        )
    })
    .await;
    let alice_cli = portal.console_client("alice-cli");
    setup(&portal, "alice", &alice_cli, true).await;
    let bob_cli = portal.console_client("bob-cli");
    setup(&portal, "bob", &bob_cli, false).await;

    with_token(&portal, None, "/applications")
        .await
        .error(401, 900902);
    let garbage = with_token(&portal, Some("not.a.jwt"), "/applications").await;
    assert_eq!(garbage.error(401, 900901), "malformed");
    // An opaque token: no key manager opted in to introspection, so it is sent nowhere.
    let opaque = with_token(&portal, Some("0123456789abcdef"), "/applications").await;
    assert_eq!(opaque.error(401, 900901), "no_introspection_candidate");
    let basic = answer(
        portal
            .http
            .get(portal.url("/applications"))
            .basic_auth("alice", Some("pw"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    basic.error(401, 900902);

    let unscoped = token(&portal, &alice_cli, "openid").await;
    assert_eq!(
        with_token(&portal, Some(&unscoped), "/applications")
            .await
            .error(403, 900910),
        "scope"
    );

    let scoped = token(&portal, &alice_cli, "apim:subscribe apim:app_manage").await;
    let list = with_token(&portal, Some(&scoped), "/applications").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(
        list.body["list"][0]["owner"], "alice",
        "the token's application's owner"
    );
    assert_eq!(list.body["list"][0]["name"], "alice-portal");
    let managers = with_token(&portal, Some(&scoped), "/key-managers").await;
    assert_eq!(managers.status, 200);
    assert!(
        managers.body["list"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    );

    // Bob's client is mapped but his application is not subscribed to the portal API.
    let bobs = token(&portal, &bob_cli, "apim:subscribe").await;
    let refused = with_token(&portal, Some(&bobs), "/applications").await;
    assert_eq!(refused.error(403, 900908), "not_subscribed");

    // A client mapped nowhere.
    let stranger = portal.console_client("stranger");
    let theirs = token(&portal, &stranger, "apim:subscribe").await;
    assert_eq!(
        with_token(&portal, Some(&theirs), "/applications")
            .await
            .error(401, 900901),
        "no_mapping"
    );
}
