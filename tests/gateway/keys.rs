//! Key sets: fetched on first use, refetched on an unknown kid at most once per interval,
//! refreshed periodically, and kept when the key manager is down.

use std::time::Duration;

use keyprov::gateway::{Denial, GatewaySettings};
use keyprov::testkit::Outage;
use keyprov::{JwkSet, KeyType};

use super::support::*;

fn fast(min_interval_ms: u64) -> GatewaySettings {
    GatewaySettings::default()
        .jwks_min_refresh_interval(Duration::from_millis(min_interval_ms))
        .jwks_refresh_interval(Duration::from_millis(min_interval_ms))
}

#[tokio::test]
async fn a_thousand_unknown_kids_cause_at_most_one_fetch_per_interval() {
    // Long enough that both bursts below fit in one interval even in a debug build.
    let w = World::with(fast(3000), |_| {}).await;
    w.gateway
        .resolve(w.prod_token(), &w.api, KeyType::Production)
        .await
        .unwrap();
    assert_eq!(w.km_a.jwks_calls(), 1, "first use fetches once");
    tokio::time::sleep(Duration::from_millis(3050)).await;
    let forger = Key::rsa("rotated-or-forged");
    let tokens: Vec<String> = (0..1000)
        .map(|_| forger.token(&claims(ISS_A, "client-prod")))
        .collect();
    // All at once, on one task (the futures interleave at the fetch)...
    let results = futures::future::join_all(
        tokens
            .iter()
            .map(|t| w.gateway.resolve(t, &w.api, KeyType::Production)),
    )
    .await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Denial::UnknownKey { .. })))
    );
    assert_eq!(w.km_a.jwks_calls(), 2, "one fetch for the burst");
    // ...and spread over tasks and threads of a runtime.
    let gateway = w.gateway.clone();
    let api = w.api.clone();
    let mut handles = Vec::new();
    for t in tokens {
        let (g, a) = (gateway.clone(), api.clone());
        handles.push(tokio::spawn(async move {
            g.resolve(&t, &a, KeyType::Production).await
        }));
    }
    for h in handles {
        assert!(h.await.unwrap().is_err());
    }
    assert_eq!(
        w.km_a.jwks_calls(),
        2,
        "within the interval no unknown kid fetches again"
    );
    tokio::time::sleep(Duration::from_millis(3050)).await;
    let token = forger.token(&claims(ISS_A, "client-prod"));
    assert!(
        w.gateway
            .resolve(&token, &w.api, KeyType::Production)
            .await
            .is_err()
    );
    assert_eq!(w.km_a.jwks_calls(), 3, "the next interval allows one more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unknown_kids_on_two_threads_fetch_once() {
    let w = World::with(fast(60_000), |_| {}).await;
    let forger = Key::rsa("nope");
    let mut handles = Vec::new();
    for _ in 0..1000 {
        let (g, a) = (w.gateway.clone(), w.api.clone());
        let t = forger.token(&claims(ISS_A, "client-prod"));
        handles.push(tokio::spawn(async move {
            g.resolve(&t, &a, KeyType::Production).await
        }));
    }
    for h in handles {
        let outcome = h.await.unwrap();
        assert!(
            matches!(outcome, Err(Denial::UnknownKey { .. })),
            "{outcome:?}"
        );
    }
    assert_eq!(w.km_a.jwks_calls(), 1);
}

/// Requests that arrive while the first fetch of a key manager's keys is still running wait
/// for it, and are judged with its keys (not refused for want of keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_during_the_first_key_fetch_wait_for_it() {
    let w = World::with(fast(60_000), |_| {}).await;
    w.km_a.set_latency(Some(Duration::from_millis(300)));
    let mut handles = Vec::new();
    for _ in 0..50 {
        let (g, a, t) = (w.gateway.clone(), w.api.clone(), w.prod_token());
        handles.push(tokio::spawn(async move {
            g.resolve(&t, &a, KeyType::Production).await
        }));
    }
    for h in handles {
        let outcome = h.await.unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    assert_eq!(w.km_a.jwks_calls(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_its_first_token() {
    let w = World::with(fast(50), |_| {}).await;
    w.gateway
        .resolve(w.prod_token(), &w.api, KeyType::Production)
        .await
        .unwrap();
    let next = Key::rsa("a-2");
    w.km_a.set_jwks(JwkSet {
        keys: vec![w.key_a.jwk(), next.jwk()],
    });
    tokio::time::sleep(Duration::from_millis(60)).await;
    let ok = w
        .gateway
        .resolve(
            next.token(&claims(ISS_A, "client-prod")),
            &w.api,
            KeyType::Production,
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn cached_keys_are_kept_while_the_key_manager_is_down() {
    let w = World::with(fast(20), |_| {}).await;
    let token = w.prod_token();
    w.gateway
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap();
    w.km_a.set_outage(Some(Outage::Unavailable));
    tokio::time::sleep(Duration::from_millis(30)).await;
    // An unknown kid triggers a fetch, which fails ...
    let calls = w.km_a.jwks_calls();
    let r = w
        .gateway
        .resolve(
            Key::rsa("x").token(&claims(ISS_A, "client-prod")),
            &w.api,
            KeyType::Production,
        )
        .await
        .unwrap_err();
    assert_eq!(r.code(), "unknown_key");
    assert_eq!(w.km_a.jwks_calls(), calls + 1);
    // ... and so does a periodic refresh ...
    tokio::time::sleep(Duration::from_millis(30)).await;
    w.gateway.refresh_keys().await;
    assert_eq!(w.km_a.jwks_calls(), calls + 2);
    // ... yet a new token signed with the cached key still verifies (not from the token cache).
    w.gateway.clear_caches();
    let fresh = w.key_a.token(&claims(ISS_A, "client-prod"));
    assert!(
        w.gateway
            .resolve(&fresh, &w.api, KeyType::Production)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn keys_unavailable_when_never_fetched_and_the_key_manager_is_down() {
    let w = World::with(fast(60_000), |_| {}).await;
    w.km_a.set_outage(Some(Outage::Malformed));
    for _ in 0..10 {
        let r = w
            .gateway
            .resolve(w.prod_token(), &w.api, KeyType::Production)
            .await
            .unwrap_err();
        assert_eq!(r.code(), "keys_unavailable", "{r}");
    }
    assert_eq!(
        w.km_a.jwks_calls(),
        1,
        "failed attempts are rate-limited too"
    );
}

#[tokio::test]
async fn the_periodic_refresh_replaces_the_key_set() {
    let w = World::with(fast(20), |_| {}).await;
    w.gateway
        .resolve(w.prod_token(), &w.api, KeyType::Production)
        .await
        .unwrap();
    let next = Key::p384("a-3");
    w.km_a.set_jwks(JwkSet {
        keys: vec![next.jwk()],
    });
    let refresher = w.gateway.spawn_key_refresh(Duration::from_millis(10));
    let token = next.token(&claims(ISS_A, "client-prod"));
    let mut seen = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        // resolve_now performs no I/O: only the background refresh can have brought the key.
        if let Some(Ok(_)) = w.gateway.resolve_now(&token, &w.api, KeyType::Production) {
            seen = true;
            break;
        }
    }
    refresher.abort();
    assert!(seen, "the refreshed key never verified a token");
    // The old key was rotated out: a fresh token signed with it no longer verifies.
    w.gateway.clear_caches();
    let old = w.key_a.token(&claims(ISS_A, "client-prod"));
    assert!(
        w.gateway
            .resolve_now(&old, &w.api, KeyType::Production)
            .is_none_or(|r| r.is_err())
    );
}

/// A token cached while its key was served is refused on the very next call once a refresh
/// drops the key; a token of the key that stays keeps being accepted.
#[tokio::test]
async fn a_key_dropped_from_the_set_takes_its_cached_decisions_along() {
    let w = World::with(fast(20), |_| {}).await;
    let kept = Key::rsa("a-kept");
    w.km_a.set_jwks(JwkSet {
        keys: vec![w.key_a.jwk(), kept.jwk()],
    });
    let token = w.prod_token();
    let other = kept.token(&claims(ISS_A, "client-prod"));
    for t in [&token, &other, &token, &other] {
        w.gateway
            .resolve(t, &w.api, KeyType::Production)
            .await
            .unwrap();
    }
    assert!(matches!(
        w.gateway.resolve_now(&token, &w.api, KeyType::Production),
        Some(Ok(_))
    ));
    w.km_a.set_jwks(JwkSet {
        keys: vec![kept.jwk()],
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    w.gateway.refresh_keys().await;
    let r = w
        .gateway
        .resolve(&token, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "unknown_key", "{r}");
    assert!(matches!(
        w.gateway.resolve_now(&other, &w.api, KeyType::Production),
        Some(Ok(_))
    ));
}

/// An IdP that restarted with a new key under the same `kid`: the first token of the new
/// key fetches the set once and verifies; the tokens cached under the old key are refused;
/// forged signatures under a known `kid` fetch at most once per interval.
#[tokio::test]
async fn a_known_kid_that_fails_fetches_the_keys_once_then_verifies() {
    let w = World::with(fast(400), |_| {}).await;
    let old = w.prod_token();
    for _ in 0..2 {
        w.gateway
            .resolve(&old, &w.api, KeyType::Production)
            .await
            .unwrap();
    }
    assert_eq!(w.km_a.jwks_calls(), 1);
    let restarted = Key::rsa(&w.key_a.kid);
    w.km_a.set_jwks(JwkSet {
        keys: vec![restarted.jwk()],
    });
    tokio::time::sleep(Duration::from_millis(450)).await;
    let fresh = restarted.token(&claims(ISS_A, "client-prod"));
    let explanation = w.gateway.explain(&fresh, &w.api, KeyType::Production).await;
    assert!(explanation.outcome.is_ok(), "{explanation}");
    assert!(
        explanation
            .to_string()
            .contains("does not verify with the cached keys of IS; fetching them again"),
        "{explanation}"
    );
    assert_eq!(w.km_a.jwks_calls(), 2, "one fetch");
    let r = w
        .gateway
        .resolve(&old, &w.api, KeyType::Production)
        .await
        .unwrap_err();
    assert_eq!(r.code(), "bad_signature", "{r}");
    let forger = Key::rsa(&w.key_a.kid);
    for _ in 0..20 {
        let forged = forger.token(&claims(ISS_A, "client-prod"));
        let r = w
            .gateway
            .resolve(&forged, &w.api, KeyType::Production)
            .await
            .unwrap_err();
        assert_eq!(r.code(), "bad_signature", "{r}");
    }
    assert_eq!(w.km_a.jwks_calls(), 2, "rate-limited as for an unknown kid");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let forged = forger.token(&claims(ISS_A, "client-prod"));
    assert!(
        w.gateway
            .resolve(&forged, &w.api, KeyType::Production)
            .await
            .is_err()
    );
    assert_eq!(w.km_a.jwks_calls(), 3, "the next interval allows one more");
    assert!(
        w.gateway
            .resolve(&fresh, &w.api, KeyType::Production)
            .await
            .is_ok()
    );
}
