//! Builders for the values the cases store.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use keyprov::model::{AllowedKeyManagers, ClientSnapshot};
use keyprov::store::Store;
use keyprov::{
    Actor, Api, ApiId, Application, ApplicationId, ConsumerKey, KeyManagerId, KeyMapping, KeyType,
    MappingId, MappingMode, MappingState, OrganizationId, Subscription, SubscriptionState, UserId,
};

/// A fixed millisecond instant plus `offset_ms`, so that orderings are deterministic.
pub fn at(offset_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_750_000_000_123).unwrap() + Duration::milliseconds(offset_ms)
}

/// An application of `owner` in organization `org`.
pub fn application(name: &str, owner: &str, org: &str, created_ms: i64) -> Application {
    Application {
        id: ApplicationId::random(),
        name: name.to_owned(),
        owner: UserId::new(owner).unwrap(),
        organization: OrganizationId::new(org).unwrap(),
        created_at: at(created_ms),
    }
}

/// Stores a new application and returns it.
pub async fn stored_application(store: &Arc<dyn Store>, name: &str) -> Application {
    let app = application(name, "alice", "carbon.super", 0);
    store.create_application(&app).await.unwrap();
    app
}

/// An API restricted to some key managers, with an audience.
pub fn api(id: &str) -> Api {
    Api::new(
        ApiId::new(id).unwrap(),
        format!("{id} API"),
        "1.0.0",
        format!("/{id}/1.0.0"),
        OrganizationId::new("carbon.super").unwrap(),
    )
    .key_managers(AllowedKeyManagers::Only(vec![
        KeyManagerId::new("IS").unwrap(),
        KeyManagerId::new("Keycloak").unwrap(),
    ]))
    .audience(format!("https://api.example.com/{id}"))
}

/// A subscription in `state`.
pub fn subscription(app: ApplicationId, api: &str, state: SubscriptionState) -> Subscription {
    Subscription {
        application: app,
        api: ApiId::new(api).unwrap(),
        state,
        created_at: at(10),
        updated_at: at(20),
    }
}

/// A fully populated mapping (every field away from its default).
pub fn mapping(
    app: ApplicationId,
    key_type: KeyType,
    km: &str,
    consumer_key: &str,
    created_ms: i64,
) -> KeyMapping {
    let mut additional = BTreeMap::new();
    additional.insert("pkceMandatory".to_owned(), "false".to_owned());
    additional.insert(
        "note".to_owned(),
        "naïve “quotes” \\ and 'apostrophes'".to_owned(),
    );
    KeyMapping {
        id: MappingId::random(),
        application: app,
        key_type,
        key_manager: KeyManagerId::new(km).unwrap(),
        consumer_key: ConsumerKey::new(consumer_key).unwrap(),
        mode: MappingMode::Mapped,
        state: MappingState::Active,
        validated: true,
        secret_proven: false,
        snapshot: ClientSnapshot {
            client_name: Some(format!("{consumer_key} client ✓")),
            grant_types: vec!["client_credentials".to_owned(), "refresh_token".to_owned()],
            redirect_uris: vec!["https://app.example.com/cb?x=1&y=2".to_owned()],
            token_type: Some("JWT".to_owned()),
            access_token_lifetime_s: Some(3600),
            additional,
        },
        created_at: at(created_ms),
        updated_at: at(created_ms + 1),
        created_by: Actor::User(UserId::new("alice").unwrap()),
    }
}

/// Sorted by id, to compare collections whose order a backend does not promise.
pub fn by_id(mut mappings: Vec<KeyMapping>) -> Vec<KeyMapping> {
    mappings.sort_by_key(|m| m.id);
    mappings
}
