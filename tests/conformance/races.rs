//! P3 under real concurrency: 32 tasks released at once by a barrier.

use std::sync::Arc;

use keyprov::error::ConflictRule;
use keyprov::store::Store;
use keyprov::{Error, KeyMapping, KeyType};
use tokio::sync::Barrier;

use super::support::{mapping, stored_application};

const TASKS: usize = 32;

/// Inserts every mapping from its own task, all released together; results in input order.
async fn insert_concurrently(
    store: &Arc<dyn Store>,
    mappings: Vec<KeyMapping>,
) -> Vec<keyprov::Result<keyprov::Revision>> {
    let barrier = Arc::new(Barrier::new(mappings.len()));
    let handles: Vec<_> = mappings
        .into_iter()
        .map(|m| {
            let (store, barrier) = (Arc::clone(store), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                store.insert_mapping(&m).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.expect("task completes"));
    }
    results
}

/// Exactly one `Ok`, every other result the conflict `rule`; returns the winner's index.
fn one_winner(results: &[keyprov::Result<keyprov::Revision>], rule: ConflictRule) -> usize {
    let winners: Vec<usize> = (0..results.len()).filter(|&i| results[i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    for result in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(result, Err(Error::MappingExists(hit)) if *hit == rule),
            "expected MappingExists({rule:?}), got {result:?}"
        );
    }
    winners[0]
}

pub async fn same_consumer_key_has_one_winner(store: Arc<dyn Store>) {
    let mut attempts = Vec::new();
    for i in 0..TASKS {
        let app = stored_application(&store, &format!("app-{i}")).await;
        attempts.push(mapping(
            app.id,
            KeyType::Production,
            "IS",
            "contested",
            i as i64,
        ));
    }
    let results = insert_concurrently(&store, attempts.clone()).await;
    let winner = one_winner(&results, ConflictRule::ConsumerKeyAlreadyMapped);
    assert_eq!(
        store.all_mappings().await.unwrap(),
        vec![attempts[winner].clone()]
    );
}

pub async fn same_key_slot_has_one_winner(store: Arc<dyn Store>) {
    let app = stored_application(&store, "app").await;
    let attempts: Vec<_> = (0..TASKS)
        .map(|i| {
            mapping(
                app.id,
                KeyType::Sandbox,
                "IS",
                &format!("key-{i}"),
                i as i64,
            )
        })
        .collect();
    let results = insert_concurrently(&store, attempts.clone()).await;
    let winner = one_winner(&results, ConflictRule::KeyTypeAlreadyMapped);
    assert_eq!(
        store.all_mappings().await.unwrap(),
        vec![attempts[winner].clone()]
    );
}

pub async fn same_consumer_key_under_other_key_managers_is_allowed(store: Arc<dyn Store>) {
    let app = stored_application(&store, "app").await;
    let attempts: Vec<_> = (0..TASKS)
        .map(|i| {
            mapping(
                app.id,
                KeyType::Production,
                &format!("km-{i}"),
                "same",
                i as i64,
            )
        })
        .collect();
    let results = insert_concurrently(&store, attempts.clone()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(store.mappings_of(app.id).await.unwrap(), attempts);
}

/// Inserts race a delete of their application: each insert either lands before the delete
/// (and is reported among the deleted mappings) or fails with `ApplicationNotFound`; no
/// mapping survives its application.
pub async fn delete_application_is_atomic_under_concurrent_inserts(store: Arc<dyn Store>) {
    let app = stored_application(&store, "doomed").await;
    let existing = mapping(app.id, KeyType::Production, "IS", "existing", 0);
    store.insert_mapping(&existing).await.unwrap();
    let attempts: Vec<_> = (0..TASKS)
        .map(|i| {
            mapping(
                app.id,
                KeyType::Sandbox,
                &format!("km-{i}"),
                "k",
                1 + i as i64,
            )
        })
        .collect();
    let barrier = Arc::new(Barrier::new(TASKS + 1));
    let deleter = {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        tokio::spawn(async move {
            barrier.wait().await;
            tokio::task::yield_now().await;
            store.delete_application(app.id).await
        })
    };
    let inserters: Vec<_> = attempts
        .iter()
        .cloned()
        .map(|m| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                store.insert_mapping(&m).await
            })
        })
        .collect();
    let mut inserted = vec![existing.clone()];
    for (handle, attempt) in inserters.into_iter().zip(&attempts) {
        match handle.await.unwrap() {
            Ok(_) => inserted.push(attempt.clone()),
            Err(Error::ApplicationNotFound(id)) => assert_eq!(id, app.id),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let deleted = deleter
        .await
        .unwrap()
        .unwrap()
        .expect("application existed");
    let ids = |ms: &[KeyMapping]| {
        let mut ids: Vec<_> = ms.iter().map(|m| m.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&deleted.mappings),
        ids(&inserted),
        "deleted = every mapping that landed"
    );
    assert!(store.all_mappings().await.unwrap().is_empty());
    assert_eq!(store.application(app.id).await.unwrap(), None);
}

/// The pass lock: of 16 attempts at once (each through its own `pass_lock()` handle), exactly
/// one takes it; once released, it can be taken again.
pub async fn pass_lock_has_one_holder(store: Arc<dyn Store>) {
    const ATTEMPTS: usize = 16;
    let barrier = Arc::new(Barrier::new(ATTEMPTS));
    let handles: Vec<_> = (0..ATTEMPTS)
        .map(|_| {
            let (lock, barrier) = (store.pass_lock(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                lock.try_acquire().await.expect("the lock can be asked for")
            })
        })
        .collect();
    let mut holders = Vec::new();
    for handle in handles {
        holders.extend(handle.await.expect("task completes"));
    }
    assert_eq!(holders.len(), 1, "exactly one holder");
    let holder = holders.pop().unwrap();
    assert!(holder.is_held());
    holder.release().await;
    let again = store.pass_lock().try_acquire().await.unwrap();
    assert!(again.is_some(), "free once released");
}
