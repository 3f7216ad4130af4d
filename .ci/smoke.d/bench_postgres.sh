#!/usr/bin/env bash
# Smoke run of the PostgreSQL benchmark (needs KEYPROV_PG_URL from .ci/setup.d/postgres.sh).
# A debug build, to reuse the test build; measured figures come from a release run (README).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(cargo run -p keyprov-benches --features postgres --example bench_postgres -- --smoke)
echo "$out"
for name in pg_provision_per_s propagation_p50_ms propagation_p99_ms; do
    grep -q "^$name: [0-9]" <<<"$out" || { echo "bench_postgres: no $name line" >&2; exit 1; }
done
