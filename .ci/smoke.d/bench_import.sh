#!/usr/bin/env bash
# Smoke run of the import benchmark on both backends (KEYPROV_PG_URL from .ci/setup.d/postgres.sh).
# A debug build with few rows; measured figures come from a release run (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(cargo run -p keyprov-benches --features postgres --example bench_import -- --smoke)
echo "$out"
for name in import_rows_per_s_sqlite import_vs_single_calls_sqlite \
    import_rows_per_s_postgres import_vs_single_calls_postgres; do
    grep -q "^$name: [0-9]" <<<"$out" || { echo "bench_import: no $name line" >&2; exit 1; }
done
