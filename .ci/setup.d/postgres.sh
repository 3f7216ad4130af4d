#!/usr/bin/env bash
# Hook for .ci/run: see .ci/postgres.sh (server on 127.0.0.1:5432, else a throwaway one).
exec bash "$(dirname "$0")/../postgres.sh" "$@"
