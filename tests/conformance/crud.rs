//! Round-trips of every stored value, and the rules each write enforces.

use std::sync::Arc;

use keyprov::error::ConflictRule;
use keyprov::model::AllowedKeyManagers;
use keyprov::store::Store;
use keyprov::{
    Actor, ApiId, ApplicationId, Error, KeyType, MappingId, MappingState, SubscriptionState, UserId,
};

use super::support::{api, application, at, by_id, mapping, stored_application, subscription};

pub async fn applications_round_trip(store: Arc<dyn Store>) {
    let later = application("later", "alice", "carbon.super", 5);
    let first = application("first", "alice", "carbon.super", 1);
    let bobs = application("bobs", "bob", "carbon.super", 0);
    for app in [&later, &first, &bobs] {
        store.create_application(app).await.unwrap();
    }
    assert_eq!(
        store.application(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.application(ApplicationId::random()).await.unwrap(),
        None
    );
    let alices = store
        .applications_of(&UserId::new("alice").unwrap())
        .await
        .unwrap();
    assert_eq!(alices, vec![first, later], "oldest first, only alice's");
    assert!(
        store
            .applications_of(&UserId::new("carol").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn application_exists(store: Arc<dyn Store>) {
    let app = application("shop", "alice", "carbon.super", 0);
    store.create_application(&app).await.unwrap();
    let again = application("shop", "alice", "carbon.super", 1);
    let err = store.create_application(&again).await.unwrap_err();
    assert!(
        matches!(&err, Error::ApplicationExists { name } if name == "shop"),
        "{err:?}"
    );
    assert_eq!(store.application(again.id).await.unwrap(), None);
    // The same name is free for another owner, and in another organization.
    store
        .create_application(&application("shop", "bob", "carbon.super", 2))
        .await
        .unwrap();
    store
        .create_application(&application("shop", "alice", "other.org", 3))
        .await
        .unwrap();
}

pub async fn apis_round_trip(store: Arc<dyn Store>) {
    let mut open = api("zeta");
    open.key_managers = AllowedKeyManagers::All;
    open.audience = None;
    let restricted = api("alpha");
    store.put_api(&open).await.unwrap();
    store.put_api(&restricted).await.unwrap();
    assert_eq!(store.api(&open.id).await.unwrap(), Some(open.clone()));
    assert_eq!(
        store.api(&restricted.id).await.unwrap(),
        Some(restricted.clone())
    );
    assert_eq!(store.api(&ApiId::new("nope").unwrap()).await.unwrap(), None);
    assert_eq!(
        store.apis().await.unwrap(),
        vec![restricted.clone(), open.clone()]
    );

    // Replacing keeps the API's subscriptions.
    let app = stored_application(&store, "app").await;
    store
        .put_subscription(&subscription(app.id, "alpha", SubscriptionState::Unblocked))
        .await
        .unwrap();
    let mut changed = restricted.clone();
    changed.version = "2.0.0".to_owned();
    changed.key_managers = AllowedKeyManagers::Only(vec![]);
    changed.audience = Some("aud-2".to_owned());
    store.put_api(&changed).await.unwrap();
    assert_eq!(store.api(&changed.id).await.unwrap(), Some(changed));
    assert_eq!(store.apis().await.unwrap().len(), 2);
    assert!(
        store
            .subscription(app.id, &restricted.id)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn subscriptions_round_trip(store: Arc<dyn Store>) {
    let app = stored_application(&store, "app").await;
    let other = stored_application(&store, "other").await;
    for id in ["b-api", "a-api"] {
        store.put_api(&api(id)).await.unwrap();
    }
    let sub = subscription(app.id, "b-api", SubscriptionState::ProdOnlyBlocked);
    assert_eq!(store.put_subscription(&sub).await.unwrap().value, sub);
    assert_eq!(
        store.subscription(app.id, &sub.api).await.unwrap(),
        Some(sub.clone())
    );

    // Replacing keeps created_at, takes the new state and updated_at.
    let mut replaced = subscription(app.id, "b-api", SubscriptionState::Blocked);
    replaced.created_at = at(500);
    replaced.updated_at = at(600);
    let stored = store.put_subscription(&replaced).await.unwrap().value;
    assert_eq!(stored.created_at, sub.created_at);
    assert_eq!(stored.state, SubscriptionState::Blocked);
    assert_eq!(stored.updated_at, at(600));
    assert_eq!(
        store.subscription(app.id, &sub.api).await.unwrap(),
        Some(stored.clone())
    );

    let a = subscription(app.id, "a-api", SubscriptionState::OnHold);
    let o = subscription(other.id, "a-api", SubscriptionState::Rejected);
    store.put_subscription(&a).await.unwrap();
    store.put_subscription(&o).await.unwrap();
    assert_eq!(
        store.subscriptions_of(app.id).await.unwrap(),
        vec![a.clone(), stored.clone()]
    );
    let mut all = store.all_subscriptions().await.unwrap();
    all.sort_by(|x, y| (x.application, &x.api).cmp(&(y.application, &y.api)));
    let mut expected = vec![a.clone(), stored.clone(), o.clone()];
    expected.sort_by(|x, y| (x.application, &x.api).cmp(&(y.application, &y.api)));
    assert_eq!(all, expected);

    assert_eq!(
        store
            .delete_subscription(app.id, &a.api)
            .await
            .unwrap()
            .map(|c| c.value),
        Some(a.clone())
    );
    assert!(
        store
            .delete_subscription(app.id, &a.api)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.subscription(app.id, &a.api).await.unwrap(), None);
    assert_eq!(store.subscriptions_of(app.id).await.unwrap(), vec![stored]);
}

pub async fn subscription_needs_application_and_api(store: Arc<dyn Store>) {
    let app = stored_application(&store, "app").await;
    store.put_api(&api("known")).await.unwrap();
    let ghost = ApplicationId::random();
    let err = store
        .put_subscription(&subscription(ghost, "known", SubscriptionState::Unblocked))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ApplicationNotFound(id) if id == ghost),
        "{err:?}"
    );
    let err = store
        .put_subscription(&subscription(
            app.id,
            "unknown",
            SubscriptionState::Unblocked,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ApiNotFound(id) if id.as_str() == "unknown"),
        "{err:?}"
    );
    assert!(store.all_subscriptions().await.unwrap().is_empty());
}

pub async fn mappings_round_trip(store: Arc<dyn Store>) {
    let app = stored_application(&store, "app").await;
    let mut sandbox = mapping(app.id, KeyType::Sandbox, "IS", "sandbox-key", 20);
    sandbox.created_by = Actor::service("ops").unwrap();
    sandbox.secret_proven = true;
    sandbox.state = MappingState::Suspended;
    let production = mapping(app.id, KeyType::Production, "IS", "prod-key", 10);
    let mut bare = mapping(app.id, KeyType::Production, "Keycloak", "bare", 30);
    bare.snapshot = Default::default();
    bare.validated = false;
    for m in [&sandbox, &production, &bare] {
        store.insert_mapping(m).await.unwrap();
    }
    assert_eq!(
        store.mapping(sandbox.id).await.unwrap(),
        Some(sandbox.clone())
    );
    assert_eq!(store.mapping(bare.id).await.unwrap(), Some(bare.clone()));
    assert_eq!(store.mapping(MappingId::random()).await.unwrap(), None);
    assert_eq!(
        store
            .mapping_by_consumer_key(&production.key_manager, &production.consumer_key)
            .await
            .unwrap(),
        Some(production.clone())
    );
    assert_eq!(
        store
            .mapping_by_consumer_key(&bare.key_manager, &production.consumer_key)
            .await
            .unwrap(),
        None,
        "a consumer key is looked up within its key manager"
    );
    assert_eq!(
        store.mappings_of(app.id).await.unwrap(),
        vec![production.clone(), sandbox.clone(), bare.clone()],
        "oldest first"
    );
    assert_eq!(
        by_id(store.all_mappings().await.unwrap()),
        by_id(vec![production.clone(), sandbox.clone(), bare.clone()])
    );

    assert_eq!(
        store
            .delete_mapping(sandbox.id)
            .await
            .unwrap()
            .map(|c| c.value),
        Some(sandbox.clone())
    );
    assert!(store.delete_mapping(sandbox.id).await.unwrap().is_none());
    assert_eq!(store.mapping(sandbox.id).await.unwrap(), None);
    assert_eq!(
        store.mappings_of(app.id).await.unwrap(),
        vec![production.clone(), bare]
    );
    // Removal frees both the key slot and the consumer key (P7).
    let again = mapping(app.id, KeyType::Sandbox, "IS", "sandbox-key", 40);
    store.insert_mapping(&again).await.unwrap();
    assert_eq!(store.mapping(again.id).await.unwrap(), Some(again));
}

pub async fn mapping_needs_application(store: Arc<dyn Store>) {
    let ghost = ApplicationId::random();
    let err = store
        .insert_mapping(&mapping(ghost, KeyType::Production, "IS", "k", 0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ApplicationNotFound(id) if id == ghost),
        "{err:?}"
    );
    assert!(store.all_mappings().await.unwrap().is_empty());
}

fn assert_conflict(result: keyprov::Result<keyprov::Revision>, rule: ConflictRule) {
    match result {
        Err(Error::MappingExists(hit)) => assert_eq!(hit, rule),
        other => panic!("expected MappingExists({rule:?}), got {other:?}"),
    }
}

pub async fn uniqueness_rules(store: Arc<dyn Store>) {
    let app = stored_application(&store, "app").await;
    let other = stored_application(&store, "other").await;
    let first = mapping(app.id, KeyType::Production, "IS", "shared", 0);
    store.insert_mapping(&first).await.unwrap();

    // The consumer key is taken at this KM: for another application, and for the same
    // application's other key type.
    let m = mapping(other.id, KeyType::Production, "IS", "shared", 1);
    assert_conflict(
        store.insert_mapping(&m).await,
        ConflictRule::ConsumerKeyAlreadyMapped,
    );
    let m = mapping(app.id, KeyType::Sandbox, "IS", "shared", 1);
    assert_conflict(
        store.insert_mapping(&m).await,
        ConflictRule::ConsumerKeyAlreadyMapped,
    );
    // The (application, key type, KM) slot is taken.
    let m = mapping(app.id, KeyType::Production, "IS", "another", 1);
    assert_conflict(
        store.insert_mapping(&m).await,
        ConflictRule::KeyTypeAlreadyMapped,
    );
    assert_eq!(store.all_mappings().await.unwrap(), vec![first.clone()]);

    // Allowed: the same key at another KM, the other key type, the same key type at another KM.
    store
        .insert_mapping(&mapping(
            other.id,
            KeyType::Production,
            "Keycloak",
            "shared",
            2,
        ))
        .await
        .unwrap();
    store
        .insert_mapping(&mapping(app.id, KeyType::Sandbox, "IS", "sandbox", 3))
        .await
        .unwrap();
    store
        .insert_mapping(&mapping(
            app.id,
            KeyType::Production,
            "Keycloak",
            "kc-prod",
            4,
        ))
        .await
        .unwrap();
    assert_eq!(store.all_mappings().await.unwrap().len(), 4);
}

pub async fn set_mapping_state(store: Arc<dyn Store>) {
    let app = stored_application(&store, "app").await;
    let m = mapping(app.id, KeyType::Production, "IS", "k", 0);
    store.insert_mapping(&m).await.unwrap();
    let updated = store
        .set_mapping_state(m.id, MappingState::Orphaned, at(999))
        .await
        .unwrap()
        .expect("mapping exists");
    let mut expected = m.clone();
    expected.state = MappingState::Orphaned;
    expected.updated_at = at(999);
    assert_eq!(updated.mapping, expected);
    assert_eq!(updated.previous, MappingState::Active);
    assert_eq!(store.mapping(m.id).await.unwrap(), Some(expected));
    assert_eq!(
        store
            .set_mapping_state(MappingId::random(), MappingState::Active, at(1))
            .await
            .unwrap(),
        None
    );
}

pub async fn delete_application_cascades(store: Arc<dyn Store>) {
    let app = stored_application(&store, "doomed").await;
    let keep = stored_application(&store, "kept").await;
    for id in ["a", "b"] {
        store.put_api(&api(id)).await.unwrap();
    }
    let m2 = mapping(app.id, KeyType::Sandbox, "IS", "doomed-sandbox", 2);
    let m1 = mapping(app.id, KeyType::Production, "IS", "doomed-prod", 1);
    let kept_mapping = mapping(keep.id, KeyType::Production, "IS", "kept-prod", 3);
    for m in [&m2, &m1, &kept_mapping] {
        store.insert_mapping(m).await.unwrap();
    }
    let sb = subscription(app.id, "b", SubscriptionState::Unblocked);
    let sa = subscription(app.id, "a", SubscriptionState::Blocked);
    let kept_sub = subscription(keep.id, "a", SubscriptionState::Unblocked);
    for s in [&sb, &sa, &kept_sub] {
        store.put_subscription(s).await.unwrap();
    }

    let deleted = store
        .delete_application(app.id)
        .await
        .unwrap()
        .expect("existed");
    assert_eq!(deleted.application, app);
    assert_eq!(deleted.mappings, vec![m1.clone(), m2.clone()]);
    assert_eq!(deleted.subscriptions, vec![sa, sb]);

    assert_eq!(store.application(app.id).await.unwrap(), None);
    assert!(store.mappings_of(app.id).await.unwrap().is_empty());
    assert!(store.subscriptions_of(app.id).await.unwrap().is_empty());
    assert_eq!(store.all_mappings().await.unwrap(), vec![kept_mapping]);
    assert_eq!(store.all_subscriptions().await.unwrap(), vec![kept_sub]);
    assert!(store.delete_application(app.id).await.unwrap().is_none());
    // The consumer keys are free again.
    store
        .insert_mapping(&mapping(keep.id, KeyType::Sandbox, "IS", "doomed-prod", 4))
        .await
        .unwrap();
}
