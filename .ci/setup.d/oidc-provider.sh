#!/usr/bin/env bash
# Hook for .ci/run: see .ci/oidc-provider.sh.
exec bash "$(dirname "$0")/../oidc-provider.sh" "$@"
