//! A profiling driver for the first-sight path (not a benchmark: no figures). It resolves
//! `PROFILE_TOKENS` distinct never-seen RS256 tokens `PROFILE_ROUNDS` times (caches emptied
//! between rounds), or with `PROFILE_BARE=1` only verifies their signatures with the
//! already-parsed key, so that `perf record` or `valgrind --tool=callgrind` can attribute the
//! difference. With `PROFILE_UNKNOWN_ISSUER=1` the tokens name an unknown issuer: they are
//! refused at step 2, after decoding and parsing, before any signature work, which isolates
//! that part. `PROFILE_MAPPINGS` sets how many mappings are resident (1,000 by default):
//!
//! ```text
//! cargo build --release -p keyprov-benches --example gateway_profile
//! valgrind --tool=callgrind target/release/examples/gateway_profile
//! ```

use std::hint::black_box;

use keyprov::KeyType;
use keyprov::gateway::GatewaySettings;

#[path = "../bench_gateway/fixture.rs"]
mod fixture;
use fixture::{Fixture, split};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env("PROFILE_TOKENS", 200);
    let rounds = env("PROFILE_ROUNDS", 5);
    let bare = std::env::var_os("PROFILE_BARE").is_some();
    let mut f = Fixture::new(GatewaySettings::default().cache_capacity(1_000_000));
    let mappings = env("PROFILE_MAPPINGS", 1000);
    f.add_mappings(0, mappings);
    f.add_subscriptions(0, mappings);
    let stride = mappings / 1000;
    let mut tokens: Vec<String> = (0..n)
        .map(|s| f.token((s % 1000) * stride + stride / 2, s))
        .collect();
    let unknown = std::env::var_os("PROFILE_UNKNOWN_ISSUER").is_some();
    if unknown {
        // Same token, another issuer: refused at step 2, after decoding and parsing, before
        // the signature.
        for t in &mut tokens {
            let parts: Vec<&str> = t.split('.').collect();
            let payload =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[1])
                    .unwrap();
            let payload = String::from_utf8(payload)
                .unwrap()
                .replace("realms/bench", "realms/bencx");
            *t = format!(
                "{}.{}.{}",
                parts[0],
                fixture::b64(payload.as_bytes()),
                parts[2]
            );
        }
    }
    f.warm_up(&f.token(0, usize::MAX));
    let inputs: Vec<(Vec<u8>, Vec<u8>)> = tokens.iter().map(|t| split(t)).collect();
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        f.gateway.clear_caches();
        if bare {
            for (msg, sig) in &inputs {
                f.parsed.verify_sig(msg, sig).unwrap();
            }
        } else {
            for t in &tokens {
                let r = f.gateway.resolve_now(t, &f.api, KeyType::Production);
                assert!(unknown || matches!(r, Some(Ok(_))), "{r:?}");
                black_box(r);
            }
        }
    }
    let per = start.elapsed().as_nanos() as f64 / (n * rounds) as f64;
    println!(
        "{}_ns_per_token: {per:.0}",
        if bare { "bare" } else { "resolve" }
    );
}
