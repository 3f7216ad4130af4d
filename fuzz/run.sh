#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: fuzz/run.sh <seconds-per-target> [target...]
# Fails on the first crash, leak or timeout; libFuzzer leaves the input in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:?usage: fuzz/run.sh <seconds-per-target> [target...]}"
shift
# Nightly builds apart from the stable target dir, so neither rebuilds the other.
# (Not CARGO_TARGET_DIR: .ci/run exports its stable one.)
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/keyprov-fuzz-target}"
# New inputs go to a scratch corpus; the committed seeds in corpus/ stay as they are.
work="${FUZZ_WORK_DIR:-$HOME/.cache/keyprov-fuzz-corpus}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build
for target in "${targets[@]}"; do
  printf '\n== fuzz %s for %ss ==\n' "$target" "$seconds"
  mkdir -p "$work/$target"
  cargo +nightly fuzz run "$target" "$work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
