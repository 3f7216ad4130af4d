#!/usr/bin/env bash
# The keyprov-tower examples, and a smoke run of its benchmark (debug build, BENCH_QUICK: the
# figures mean nothing here; measured figures come from release runs, keyprov-tower/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run -p keyprov-tower --example gateway_axum -- --check
cargo run -p keyprov-tower --example gateway_tonic
out=$(BENCH_QUICK=1 cargo run -p keyprov-benches --example bench_tower)
echo "$out"
for name in tower_repeat_vs_noauth tower_repeat_vs_jwt_authorizer \
    tower_first_sight_vs_jwt_authorizer tower_repeat_1m_vs_1k; do
    grep -q "^$name: [0-9]" <<<"$out" || { echo "bench_tower: no $name line" >&2; exit 1; }
done
