//! Criterion benchmarks of the gateway resolver (the figures of issue 6 §5 come from
//! `examples/bench_gateway` here, which prints them as `name: value` lines).

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keyprov::KeyType;
use keyprov::gateway::GatewaySettings;

#[path = "examples/bench_gateway/fixture.rs"]
mod fixture;
use fixture::{Fixture, split};

fn gateway(c: &mut Criterion) {
    let mut f = Fixture::new(GatewaySettings::default().cache_capacity(1_000_000));
    f.add_mappings(0, 1000);
    f.add_subscriptions(0, 1000);
    let tokens: Vec<String> = (0..512).map(|s| f.token(s % 1000, s)).collect();
    f.warm_up(&f.token(0, usize::MAX));
    let inputs: Vec<_> = tokens.iter().map(|t| split(t)).collect();

    let mut group = c.benchmark_group("rs256");
    let mut i = 0;
    group.bench_function("bare_aws_lc_verify", |b| {
        b.iter(|| {
            let (msg, sig) = &inputs[i % inputs.len()];
            i += 1;
            f.parsed.verify_sig(msg, sig).unwrap()
        })
    });
    // First sight: the caches are emptied before each token, outside the timed region (one
    // token per batch: with larger batches a token could come round again within one batch
    // and be a cache hit).
    let mut i = 0;
    group.bench_function("first_sight_resolution", |b| {
        b.iter_batched(
            || {
                f.gateway.clear_caches();
                i += 1;
                &tokens[i % tokens.len()]
            },
            |t| {
                let r = f.gateway.resolve_now(t, &f.api, KeyType::Production);
                assert!(matches!(r, Some(Ok(_))), "{r:?}");
                black_box(r)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    for t in &tokens {
        f.gateway.resolve_now(t, &f.api, KeyType::Production);
    }
    let mut i = 0;
    group.bench_function("cache_hit_resolution", |b| {
        b.iter(|| {
            i += 1;
            let r = f
                .gateway
                .resolve_now(&tokens[i % tokens.len()], &f.api, KeyType::Production);
            assert!(matches!(r, Some(Ok(_))), "{r:?}");
            black_box(r)
        })
    });
    group.finish();
}

criterion_group!(benches, gateway);
criterion_main!(benches);
