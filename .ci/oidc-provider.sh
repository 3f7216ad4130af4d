#!/usr/bin/env bash
# Installs the pinned oidc-provider used by km-oidc's interop tests (npm ci from the committed
# package-lock.json). The tests start the server themselves on a free loopback port.
# The interop tests are ignored by default: run them with `-- --include-ignored` (.ci/run does);
# they fail when node or the package is missing. Prints no `export` line.
# Usage: .ci/oidc-provider.sh [start|stop]   (start is the default; stop does nothing)
set -euo pipefail
cd "$(dirname "$0")/../km-oidc/tests/oidc-provider"
case "${1:-start}" in
  start)
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
      echo "node and npm are required: apt-get install -y nodejs npm" >&2
      exit 1
    fi
    npm ci --no-audit --no-fund --loglevel=error >&2
    ;;
  stop) ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
