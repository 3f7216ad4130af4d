//! Read-your-writes across nodes: a revision returned by a provisioner on one node can be
//! waited for by a gateway on another, which then answers with the change applied.

use std::sync::Arc;
use std::time::Duration;

use keyprov::gateway::Gateway;
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, Api, ApiId, ConsumerKey, ConsumerSecret, KeyManager, KeyManagerConfig, KeyManagers,
    KeyType, NewApplication, OrganizationId, ProvisionRequest, Provisioner, SubscriptionState,
    TokenRequest, UserId,
};

use super::TestSchema;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn a_gateway_on_another_node_waits_for_a_revision_then_sees_the_change() {
    let schema = TestSchema::new();
    // Two nodes: each has its own store (its own pool and change feed) on the shared schema.
    let node_a = schema.open().await;
    let node_b = schema.open().await;
    let km = Arc::new(ScriptedKeyManager::new("IS"));
    km.add_client("client-1", "secret-1");
    let config = KeyManagerConfig::new("IS")
        .unwrap()
        .out_of_band(true)
        .introspect_opaque_tokens(true)
        .issuer("https://is.example/oauth2/token");
    let key_managers = KeyManagers::new()
        .with(config, km.clone() as Arc<dyn KeyManager>)
        .unwrap();
    let provisioner = Provisioner::builder()
        .store(node_a)
        .key_managers(key_managers.clone())
        .build()
        .unwrap();
    let gateway = Gateway::builder()
        .key_managers(key_managers)
        .build()
        .unwrap();
    let _following = gateway.follow(&node_b).await.unwrap();

    let alice = UserId::new("alice").unwrap();
    let caller = Actor::User(alice.clone());
    let org = OrganizationId::new("org").unwrap();
    let api = provisioner
        .put_api(Api::new(
            ApiId::new("pizza").unwrap(),
            "Pizza",
            "1.0.0",
            "/pizza",
            org.clone(),
        ))
        .await
        .unwrap();
    let app = provisioner
        .create_application(NewApplication::new("shop", alice, org))
        .await
        .unwrap();
    provisioner
        .subscribe(&caller, app.id, &api.id)
        .await
        .unwrap();
    let done = provisioner
        .provision(
            &caller,
            ProvisionRequest::new(
                app.id,
                "IS",
                KeyType::Production,
                ConsumerKey::new("client-1").unwrap(),
            )
            .secret(ConsumerSecret::new("secret-1")),
        )
        .await
        .unwrap();
    // Node B's gateway catches up with node A's write, then accepts the client's token.
    gateway
        .wait_for(done.revision, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(gateway.applied_revision() >= done.revision);
    let token = provisioner
        .token(
            &caller,
            TokenRequest::new(
                app.id,
                "IS",
                KeyType::Production,
                ConsumerSecret::new("secret-1"),
            ),
        )
        .await
        .unwrap();
    let ok = gateway
        .resolve(token.secret(), &api.id, KeyType::Production)
        .await
        .unwrap();
    assert_eq!((ok.application, ok.key_type), (app.id, KeyType::Production));

    // A block on node A is refused on node B once its revision is applied.
    let blocked = provisioner
        .set_subscription_state(app.id, &api.id, SubscriptionState::Blocked)
        .await
        .unwrap();
    gateway
        .wait_for(blocked.revision, Duration::from_secs(10))
        .await
        .unwrap();
    let denial = gateway
        .resolve(token.secret(), &api.id, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(denial.code(), "subscription_refuses");
}

/// Both nodes agree on revisions: they come from one counter in the database.
#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn every_node_agrees_on_the_revision() {
    let schema = TestSchema::new();
    let node_a = schema.open().await;
    let node_b = schema.open().await;
    use keyprov::store::Store;
    let first = node_a.put_api(&super::api("a")).await.unwrap();
    let second = node_b.put_api(&super::api("b")).await.unwrap();
    assert_eq!(second.get(), first.get() + 1);
    assert_eq!(node_a.revision().await.unwrap(), second);
    assert_eq!(node_b.revision().await.unwrap(), second);
}

/// A store opened without its change feed cannot be followed: the gateway says so instead of
/// never seeing a change.
#[tokio::test]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn a_store_without_its_change_feed_refuses_to_be_followed() {
    let schema = TestSchema::new();
    let store = schema.open_without_feed().await;
    let gateway = Gateway::builder().build().unwrap();
    let err = gateway.follow(&store).await.unwrap_err();
    assert_eq!(err.code(), 901431, "{err}");
    assert!(err.to_string().contains("change_feed"), "{err}");
}

/// Changes committed while a node's feed is disconnected reach its gateway anyway: the feed
/// reconnects, asks for a resync, and the gateway reloads at a revision that includes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run .ci/run, or set KEYPROV_PG_URL and pass --include-ignored"]
async fn a_gateway_catches_up_with_changes_made_while_its_feed_was_down() {
    use keyprov::store::Store;
    let schema = TestSchema::new();
    let node_a = schema.open().await;
    let node_b = schema.open().await;
    let gateway = Gateway::builder().build().unwrap();
    let _following = gateway.follow(&node_b).await.unwrap();
    let feed = format!("{}-feed", schema.app_name());
    assert!(
        super::eventually(Duration::from_secs(10), async || node_b
            .change_feed()
            .unwrap()
            .is_connected())
        .await
    );
    let killed = schema.terminate(&feed).await;
    assert!(killed >= 1, "the feeds' backends");
    let mut last = keyprov::Revision::ZERO;
    for i in 0..5 {
        last = node_a
            .put_api(&super::api(&format!("api-{i}")))
            .await
            .unwrap();
    }
    gateway
        .wait_for(last, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(node_b.change_feed().unwrap().reconnects() >= 1);
}
