#!/usr/bin/env bash
# keyprov-rest: the README's curl walkthrough as written, against examples/devportal.rs; then
# schemathesis against the example's own OpenAPI document (every operation, a bounded number of
# examples each), failing on any finding. Installs jq and schemathesis (in a venv under
# ~/.cache) when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
venv="$HOME/.cache/keyprov-schemathesis"
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q schemathesis
fi
cargo build -q -p keyprov-rest --example devportal
example="${CARGO_TARGET_DIR:-target}/debug/examples/devportal"

echo "-- the README's walkthrough"
walkthrough=$(mktemp)
awk '/<!-- walkthrough:start -->/ {on = 1; next} /<!-- walkthrough:end -->/ {on = 0}
     on && /^```sh/ {code = 1; next} on && /^```/ {code = 0} on && code' \
  keyprov-rest/README.md > "$walkthrough"
grep -q 'map-keys' "$walkthrough" || { echo "walkthrough: no commands extracted" >&2; exit 1; }
# Its own process group, so that whatever it started is stopped even when it fails.
setsid bash -euo pipefail "$walkthrough" > /tmp/devportal-walkthrough.log 2>&1 &
group=$!
if ! timeout 300 tail --pid="$group" -f /dev/null; then
  kill -- -"$group" 2>/dev/null || true
  cat /tmp/devportal-walkthrough.log; echo "walkthrough: timed out" >&2; exit 1
fi
wait "$group" || { cat /tmp/devportal-walkthrough.log; echo "walkthrough: failed" >&2; exit 1; }
kill -- -"$group" 2>/dev/null || true
cat /tmp/devportal-walkthrough.log
grep -q '"mode":"MAPPED"' /tmp/devportal-walkthrough.log
grep -q '"rule":"keyTypeAlreadyMapped"' /tmp/devportal-walkthrough.log
grep -q 'margherita' /tmp/devportal-walkthrough.log

echo "-- schemathesis"
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi' EXIT
# Runs schemathesis on a fresh example server with these filters. Generated requests may delete
# what the portal token stands on (alice's portal application, its key mapping), after which
# every request answers 401: so the operations that delete run last, each on a server of its own.
st() {
  local env_file
  env_file=$(mktemp -u)
  "$example" --addr 127.0.0.1:0 --env "$env_file" > /tmp/devportal-schemathesis.log 2>&1 &
  server=$!
  for _ in $(seq 120); do [ -s "$env_file" ] && break; sleep 0.5; done
  # shellcheck disable=SC1090
  . "$env_file"
  local token
  token=$(curl -sf -u "$PORTAL_CLIENT_ID:$PORTAL_CLIENT_SECRET" -d grant_type=client_credentials \
    --data-urlencode 'scope=apim:subscribe apim:app_manage apim:sub_manage apim:app_import_export' \
    "$IS_TOKEN" | jq -r .access_token)
  "$venv/bin/schemathesis" run "$PORTAL/openapi.json" --url "$PORTAL" \
    -H "Authorization: Bearer $token" --no-color \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" "$@" \
    | tee /tmp/devportal-schemathesis.out
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
}
destructive=(deleteSubscription removeKey cleanUpKey deleteApplication)
readonly_ops=()
for op in "${destructive[@]}"; do readonly_ops+=(--exclude-operation-id "$op"); done
st "${readonly_ops[@]}"
for op in "${destructive[@]}"; do st --include-operation-id "$op"; done
