//! Decisions and resolution times reach the installed `metrics` recorder (a test binary of its
//! own: the recorder is process-wide).

#[path = "support.rs"]
mod support;

use axum::Router;
use axum::routing::get;
use keyprov::KeyType;
use keyprov_tower::metrics::{DECISIONS_TOTAL, RESOLUTION_SECONDS};
use keyprov_tower::{KeyprovLayer, Route};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use support::*;

#[tokio::test]
async fn decisions_are_counted_by_outcome_and_code_and_resolutions_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let w = World::new().await;
    let layer = KeyprovLayer::new(
        w.gateway.clone(),
        Route::new(w.api.clone(), KeyType::Production),
    );
    let base = serve(Router::new().route("/orders", get(|| async { "ok" }).layer(layer))).await;
    let url = format!("{base}/orders");
    let token = w.token(KeyType::Production, &[]).await;
    let http = reqwest::Client::new();
    for _ in 0..2 {
        assert_eq!(
            http.get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let bad = tampered(&token);
    assert_eq!(
        http.get(&url)
            .bearer_auth(&bad)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let mut counters = Vec::new();
    let mut timings = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
                .unwrap_or_default()
        };
        match (key.name(), value) {
            (DECISIONS_TOTAL, DebugValue::Counter(n)) => {
                counters.push((label("outcome"), label("code"), n))
            }
            (RESOLUTION_SECONDS, DebugValue::Histogram(samples)) => {
                timings.push((label("outcome"), samples.len()))
            }
            _ => {}
        }
    }
    counters.sort();
    timings.sort();
    let s = |t: &str| t.to_owned();
    assert_eq!(
        counters,
        [
            (s("allowed"), s("ok"), 2),
            (s("refused"), s("bad_signature"), 1),
            (s("refused"), s("missing_credentials"), 1),
        ]
    );
    // The request without a token never reached the resolver: not timed.
    assert_eq!(timings, [(s("allowed"), 2), (s("refused"), 1)]);
}
