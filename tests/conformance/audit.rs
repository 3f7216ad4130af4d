//! The audit trail and bulk import, on every backend: records are written with their changes
//! (and only then), read back by every filter, pruned by age; an import is all or nothing.

use std::sync::Arc;

use keyprov::audit::{self, AuditAction, AuditContext, AuditQuery};
use std::time::Duration;

use keyprov::error::ConflictRule;
use keyprov::events::{Change, Changes, Event, Revision};
use keyprov::import::{ImportOptions, ImportRow};
use keyprov::model::RequestId;
use keyprov::model::{Application, ApplicationId, KeyMapping};
use keyprov::store::Store;
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, ConsumerKey, ConsumerSecret, Error, KeyManagerConfig, KeyManagers, KeyType,
    MappingState, NewApplication, OrganizationId, ProvisionRequest, Provisioner, UserId,
};

use super::support::{application, at, mapping, stored_application};

const SECRET: &str = "audit-Secret-7d1e";

fn provisioner(store: &Arc<dyn Store>) -> Provisioner {
    let km = Arc::new(ScriptedKeyManager::new("IS"));
    for client in ["client-1", "client-2", "client-3"] {
        km.add_client(client, SECRET);
    }
    Provisioner::builder()
        .store(Arc::clone(store))
        .key_managers(
            KeyManagers::new()
                .with(KeyManagerConfig::new("IS").unwrap().out_of_band(true), km)
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// The next `count` changes after revision `after`, in order (a backend with a change feed
/// delivers them asynchronously, so this waits for them).
async fn changes_after(changes: &mut Changes, after: Revision, count: usize) -> Vec<Change> {
    let mut out = Vec::new();
    while out.len() < count {
        let change = tokio::time::timeout(Duration::from_secs(10), changes.recv())
            .await
            .expect("the change arrives")
            .expect("change stream");
        if change.revision > after {
            out.push(change);
        }
    }
    out
}

pub async fn every_change_and_refusal_is_recorded_with_who_and_which_request(
    store: Arc<dyn Store>,
) {
    let p = provisioner(&store);
    let carol = Actor::admin("carol").unwrap();
    let alice = Actor::user("alice").unwrap();
    let app = p
        .create_application(NewApplication::new(
            "PizzaApp",
            UserId::new("alice").unwrap(),
            OrganizationId::new("acme").unwrap(),
        ))
        .await
        .unwrap();
    let request = |key: &str, key_type| {
        ProvisionRequest::new(app.id, "IS", key_type, ConsumerKey::new(key).unwrap())
            .secret(ConsumerSecret::new(SECRET))
    };
    let mapped = p
        .with_request_id(RequestId::new("req-1").unwrap())
        .provision(&carol, request("client-1", KeyType::Production))
        .await
        .unwrap();
    // Refused: the slot is taken. Recorded with its code, and without the secret.
    let refused = p
        .provision(&alice, request("client-2", KeyType::Production))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), 901409);
    let job = Actor::service("nightly-review").unwrap();
    p.set_mapping_state(&job, mapped.mapping.id, MappingState::Suspended)
        .await
        .unwrap();
    p.provision(&alice, request("client-3", KeyType::Sandbox))
        .await
        .unwrap();
    p.with_request_id(RequestId::new("req-delete").unwrap())
        .delete_application(&alice, app.id)
        .await
        .unwrap();

    let trail = p.audit(&carol, &AuditQuery::new()).await.unwrap();
    let summary: Vec<(AuditAction, &Actor, Option<u32>)> =
        trail.iter().map(|r| (r.action, &r.actor, r.code)).collect();
    assert_eq!(
        summary,
        vec![
            (AuditAction::MappingCreated, &carol, None),
            (AuditAction::ProvisioningRefused, &alice, Some(901409)),
            (AuditAction::MappingStateChanged, &job, None),
            (AuditAction::MappingCreated, &alice, None),
            (AuditAction::MappingRemoved, &alice, None),
            (AuditAction::MappingRemoved, &alice, None),
            (AuditAction::ApplicationDeleted, &alice, None),
        ]
    );
    assert!(trail.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert_eq!(trail[0].request_id.as_str(), "req-1");
    assert_eq!(trail[0].mapping, Some(mapped.mapping.id));
    assert_eq!(trail[0].consumer_key.as_deref(), Some("client-1"));
    assert_eq!(trail[0].key_type, Some(KeyType::Production));
    assert_eq!(trail[1].consumer_key.as_deref(), Some("client-2"));
    assert_eq!(trail[2].detail, "ACTIVE -> SUSPENDED");
    assert!(
        trail[4..]
            .iter()
            .all(|r| r.request_id.as_str() == "req-delete"),
        "a deletion's records share its request id"
    );
    assert_ne!(trail[1].request_id, trail[3].request_id);
    for record in &trail {
        assert_eq!(record.application, Some(app.id));
        let json = serde_json::to_string(record).unwrap();
        assert!(!json.contains(SECRET), "secret in {json}");
    }

    // Every filter.
    let by_actor = p
        .audit(&carol, &AuditQuery::new().actor(job.clone()))
        .await
        .unwrap();
    assert_eq!(by_actor.len(), 1);
    assert_eq!(by_actor[0].action, AuditAction::MappingStateChanged);
    let by_km = p
        .audit(&carol, &AuditQuery::new().key_manager("IS"))
        .await
        .unwrap();
    assert_eq!(by_km.len(), 6, "all but the application's own deletion");
    let other_app = p
        .audit(
            &carol,
            &AuditQuery::new().application(keyprov::ApplicationId::random()),
        )
        .await
        .unwrap();
    assert!(other_app.is_empty());
    let limited = p.audit(&carol, &AuditQuery::new().limit(2)).await.unwrap();
    assert_eq!(limited, trail[..2].to_vec());
    let middle = trail[3].at;
    let since = p
        .audit(&carol, &AuditQuery::new().since(middle))
        .await
        .unwrap();
    assert!(since.iter().all(|r| r.at >= middle) && since.len() >= 4);
    let until = p
        .audit(&carol, &AuditQuery::new().until(middle))
        .await
        .unwrap();
    assert_eq!(since.len() + until.len(), trail.len());
    // A user reads only an application of theirs.
    let err = p.audit(&alice, &AuditQuery::new()).await.unwrap_err();
    assert_eq!(err.code(), 901400);
}

pub async fn a_failed_write_records_nothing(store: Arc<dyn Store>) {
    let app = stored_application(&store, "PizzaApp").await;
    let context = AuditContext::new(Actor::service("ops").unwrap(), RequestId::random());
    let first = mapping(app.id, KeyType::Production, "IS", "client-1", 0);
    audit::scope(context.clone(), store.insert_mapping(&first))
        .await
        .unwrap();
    let clash = mapping(app.id, KeyType::Sandbox, "IS", "client-1", 1);
    let err = audit::scope(context.clone(), store.insert_mapping(&clash))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MappingExists(_)), "{err:?}");
    let trail = store.audit(&AuditQuery::new()).await.unwrap();
    assert_eq!(trail.len(), 1, "only the stored mapping is recorded");
    assert_eq!(trail[0].mapping, Some(first.id));
    // Outside any scope a store records nothing.
    let other = mapping(app.id, KeyType::Sandbox, "IS", "client-2", 2);
    store.insert_mapping(&other).await.unwrap();
    assert_eq!(store.audit(&AuditQuery::new()).await.unwrap().len(), 1);
}

pub async fn import_is_all_or_nothing(store: Arc<dyn Store>) {
    let existing = stored_application(&store, "PizzaApp").await;
    store
        .insert_mapping(&mapping(existing.id, KeyType::Production, "IS", "taken", 0))
        .await
        .unwrap();
    let mut changes = store.changes().unwrap();
    let before = store.revision().await.unwrap();
    let new_app = application("Imported", "bob", "carbon.super", 5);
    let good = mapping(new_app.id, KeyType::Production, "IS", "client-a", 6);
    let clash = mapping(new_app.id, KeyType::Sandbox, "IS", "taken", 7);
    let context = AuditContext::new(Actor::service("onboarding").unwrap(), RequestId::random());
    let err = audit::scope(
        context.clone(),
        store.import(vec![new_app.clone()], vec![good.clone(), clash]),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::MappingExists(_)), "{err:?}");
    assert_eq!(store.revision().await.unwrap(), before);
    assert!(store.application(new_app.id).await.unwrap().is_none());
    assert!(store.mapping(good.id).await.unwrap().is_none());
    assert!(store.audit(&AuditQuery::new()).await.unwrap().is_empty());

    // In a large import (stores write many rows per statement), a refused row deep inside
    // still gives its own error, and nothing at all is stored.
    let apps: Vec<Application> = (0..50)
        .map(|i| application(&format!("bulk-{i}"), "carol", "carbon.super", 10 + i))
        .collect();
    let bulk: Vec<KeyMapping> = apps
        .iter()
        .enumerate()
        .flat_map(|(i, a)| {
            [KeyType::Production, KeyType::Sandbox]
                .map(|key_type| mapping(a.id, key_type, "IS", &format!("bulk-{i}-{key_type}"), 100))
        })
        .collect();
    let refusals = [
        (
            mapping(apps[38].id, KeyType::Sandbox, "IS", "taken", 100),
            "a consumer key mapped before",
        ),
        (
            mapping(
                ApplicationId::random(),
                KeyType::Sandbox,
                "IS",
                "orphan",
                100,
            ),
            "an application that does not exist",
        ),
    ];
    for (refused, what) in refusals {
        let mut rows = bulk.clone();
        rows[77] = refused.clone();
        let err = audit::scope(context.clone(), store.import(apps.clone(), rows))
            .await
            .unwrap_err();
        match &err {
            Error::MappingExists(rule) => {
                assert_eq!(*rule, ConflictRule::ConsumerKeyAlreadyMapped, "{what}");
            }
            Error::ApplicationNotFound(id) => assert_eq!(*id, refused.application, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(store.revision().await.unwrap(), before, "{what}");
        assert!(
            store.application(apps[0].id).await.unwrap().is_none(),
            "{what}"
        );
        assert!(store.mapping(bulk[0].id).await.unwrap().is_none(), "{what}");
        assert!(
            store.audit(&AuditQuery::new()).await.unwrap().is_empty(),
            "{what}"
        );
    }

    // ...and so does an application whose name its owner already uses.
    let mut clashing = apps.clone();
    clashing[30] = application(
        &existing.name,
        existing.owner.as_str(),
        existing.organization.as_str(),
        10,
    );
    let err = audit::scope(context.clone(), store.import(clashing, bulk.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ApplicationExists { name } if *name == existing.name),
        "{err:?}"
    );
    assert_eq!(store.revision().await.unwrap(), before);
    assert!(store.application(apps[0].id).await.unwrap().is_none());

    let second = mapping(existing.id, KeyType::Sandbox, "IS", "client-b", 8);
    let mut context = context;
    context.import = true;
    let revision = audit::scope(
        context.clone(),
        store.import(vec![new_app.clone()], vec![good.clone(), second.clone()]),
    )
    .await
    .unwrap();
    assert_eq!(revision.get(), before.get() + 3);
    assert_eq!(
        store.application(new_app.id).await.unwrap(),
        Some(new_app.clone())
    );
    assert_eq!(
        store.mapping(second.id).await.unwrap(),
        Some(second.clone())
    );
    // The failed import published nothing: the successful one's changes follow `before`.
    let published = changes_after(&mut changes, before, 3).await;
    let revisions: Vec<u64> = published.iter().map(|c| c.revision.get()).collect();
    assert_eq!(revisions, [1, 2, 3].map(|i| before.get() + i));
    let events: Vec<&Event> = published.iter().map(|c| &c.event).collect();
    assert!(
        matches!(events[0], Event::ApplicationCreated { application } if application.id == new_app.id)
    );
    assert!(matches!(events[1], Event::MappingCreated { mapping } if mapping.id == good.id));
    assert!(matches!(events[2], Event::MappingCreated { mapping } if mapping.id == second.id));
    let trail = store.audit(&AuditQuery::new()).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert!(trail.iter().all(|r| r.action == AuditAction::Imported
        && r.request_id == context.request_id
        && r.actor == context.actor));
    assert_eq!(
        store.all_applications().await.unwrap(),
        vec![existing, new_app]
    );
}

pub async fn prune_removes_only_older_records(store: Arc<dyn Store>) {
    let context = AuditContext::new(Actor::service("ops").unwrap(), RequestId::random());
    let entries: Vec<_> = (0..4)
        .map(|i| {
            let mut entry = audit::AuditEntry::new(&context, AuditAction::ProvisioningRefused)
                .code(901400)
                .detail(format!("attempt {i}"));
            entry.at = at(i * 1_000);
            entry
        })
        .collect();
    store.record_audit(&entries).await.unwrap();
    assert_eq!(store.prune_audit(at(2_000)).await.unwrap(), 2);
    let left = store.audit(&AuditQuery::new()).await.unwrap();
    let details: Vec<&str> = left.iter().map(|r| r.detail.as_str()).collect();
    assert_eq!(details, ["attempt 2", "attempt 3"]);
    assert_eq!(left[0].at, at(2_000));
    assert_eq!(store.prune_audit(at(2_000)).await.unwrap(), 0);
}

pub async fn provisioner_import_checks_every_row_then_stores_all(store: Arc<dyn Store>) {
    let p = provisioner(&store);
    let operator = Actor::service("onboarding").unwrap();
    let options = ImportOptions::new(OrganizationId::new("acme").unwrap());
    let row = |line, owner: &str, app: &str, key_type, key: &str| {
        ImportRow::new(
            line,
            UserId::new(owner).unwrap(),
            app,
            key_type,
            "IS",
            ConsumerKey::new(key).unwrap(),
        )
        .secret(ConsumerSecret::new(SECRET))
    };
    let before = store.revision().await.unwrap();
    let bad = vec![
        row(2, "alice", "PizzaApp", KeyType::Production, "client-1"),
        row(3, "alice", "PizzaApp", KeyType::Sandbox, "client-1"),
        row(4, "bob", "ShopApp", KeyType::Production, "unknown-client"),
        row(5, "bob", "ShopApp", KeyType::Sandbox, "client-2"),
    ];
    let report = p.import(&operator, bad, options.clone()).await.unwrap();
    let failed: Vec<(u64, u32)> = report.failures.iter().map(|f| (f.line, f.code)).collect();
    assert_eq!(failed, [(3, 901409), (4, 901421)]);
    assert_eq!(report.stored, 0);
    assert_eq!(store.revision().await.unwrap(), before, "nothing stored");
    assert!(store.all_applications().await.unwrap().is_empty());

    let dry = p
        .import(
            &operator,
            vec![row(2, "alice", "PizzaApp", KeyType::Production, "client-1")],
            options.clone().dry_run(true),
        )
        .await
        .unwrap();
    assert!(dry.is_clean() && dry.dry_run && dry.stored == 0 && dry.applications_created == 1);
    assert_eq!(
        store.revision().await.unwrap(),
        before,
        "a dry run writes nothing"
    );

    let report = p
        .import(
            &operator,
            vec![
                row(2, "alice", "PizzaApp", KeyType::Production, "client-1"),
                row(3, "alice", "PizzaApp", KeyType::Sandbox, "client-2"),
                row(4, "bob", "ShopApp", KeyType::Production, "client-3"),
            ],
            options,
        )
        .await
        .unwrap();
    assert!(report.is_clean(), "{:?}", report.failures);
    assert_eq!((report.stored, report.applications_created), (3, 2));
    let mappings = store.all_mappings().await.unwrap();
    assert_eq!(mappings.len(), 3);
    assert!(
        mappings
            .iter()
            .all(|m| m.validated && m.secret_proven && m.created_by == operator)
    );
    let trail = p.audit(&operator, &AuditQuery::new()).await.unwrap();
    let actions: Vec<AuditAction> = trail.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::Imported,
            AuditAction::Imported,
            AuditAction::Imported,
            AuditAction::Imported
        ]
    );
    assert_eq!(
        trail[0].code,
        Some(901409),
        "the refused import is recorded"
    );
    assert!(trail[1..].iter().all(|r| r.code.is_none()));
}
