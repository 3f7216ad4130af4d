#!/usr/bin/env bash
# The operator's walk of keyprov-cli/README.md, as written, from the repository's root as the
# README runs it: the emulator command in the background, then every command of the "walk"
# blocks. A command that fails fails the run; the output of a few is checked. The `demo`
# directory the walk makes is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
readme=keyprov-cli/README.md

# The sh block after each `<!-- smoke: KIND -->` marker.
blocks() {
  awk -v kind="$1" '
    $0 == "<!-- smoke: " kind " -->" { armed = 1; next }
    armed && /^```sh/ { inside = 1; armed = 0; next }
    inside && /^```/ { inside = 0; next }
    inside { print }
  ' "$readme"
}
emulator=$(blocks emulator)
# The walk blocks run one after the other in one shell (the first one's `cd demo` holds).
walk=$(blocks walk)
[ -n "$emulator" ] && [ -n "$walk" ] || { echo "cli_walk: no smoke blocks in $readme" >&2; exit 1; }

cargo build -p keyprov-cli --bin keyprov --example emulator
export PATH="${CARGO_TARGET_DIR:-$root/target}/debug:$PATH"
export NO_COLOR=1
unset KEYPROV_CONFIG KEYPROV_STORE KEYPROV_ACTOR KEYPROV_REQUEST_ID

[ ! -e demo ] || { echo "cli_walk: $root/demo exists; move it away first" >&2; exit 1; }
log=$(mktemp)
# Its own process group, so that cargo and the emulator it runs stop together.
setsid bash -c "$emulator" >"$log" 2>&1 &
group=$!
stop() { kill -- "-$group" 2>/dev/null || true; rm -rf "$root/demo" "$log"; }
trap stop EXIT
for _ in $(seq 120); do
  [ -e demo/ready ] && break
  kill -0 "$group" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 1
done
[ -e demo/ready ] || { echo "cli_walk: the emulator did not start" >&2; cat "$log" >&2; exit 1; }

out=$(bash -euo pipefail -c "$walk" 2>&1)
echo "$out"
for expected in \
  "gate: granted" \
  "dry run: all 4 rows pass every check; nothing was stored" \
  "imported: 4 mappings stored, 3 applications created" \
  "4 checked: 4 unchanged, 0 changed, 0 failed" \
  "refused: 1 of 5 rows failed; nothing was stored" \
  "exit code 9"; do
  grep -qF "$expected" <<<"$out" || { echo "cli_walk: no \"$expected\" in the output" >&2; exit 1; }
done
[ "$(grep -c '^[0-9]* .* imported ' <<<"$out")" -ge 4 ] || { echo "cli_walk: no imported records in the audit list" >&2; exit 1; }
while IFS="'" read -r _ secret _; do
  [ -n "$secret" ] || continue
  if grep -qF -- "$secret" <<<"$out"; then echo "cli_walk: a secret was printed" >&2; exit 1; fi
done <demo/secrets.env
echo "cli_walk: ok"
