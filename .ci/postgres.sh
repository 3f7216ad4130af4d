#!/usr/bin/env bash
# A PostgreSQL server for keyprov's PostgreSQL tests and benchmark.
#
#   eval "$(.ci/postgres.sh start)"     # sets KEYPROV_PG_URL and KEYPROV_PG_STOP
#   ...tests...
#   eval "$KEYPROV_PG_STOP"             # stops a throwaway server; no-op for an existing one
#   .ci/postgres.sh stop                # the same, for the server the last `start` made
#   .ci/postgres.sh halt|resume DIR     # stop/start a throwaway server keeping data and port
#
# `start` uses the server answering on 127.0.0.1:$KEYPROV_PG_PORT (default 5432) when there is
# one; otherwise it runs initdb + pg_ctl as a non-root user on a temporary directory and a free
# port (installing Debian's postgresql package first when no initdb is found and we are root).
# Progress goes to stderr; stdout carries only the `export` lines.
set -euo pipefail

PORT="${KEYPROV_PG_PORT:-5432}"
DB="${KEYPROV_PG_DB:-keyprov_test}"
RUN_AS="${KEYPROV_PG_USER:-keyprov-pg}"
# Remembers the throwaway server's directory for a `stop` without argument.
STATE="${TMPDIR:-/tmp}/keyprov-pg.current"

log() { echo "postgres.sh: $*" >&2; }

answers() { # host port
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$1" -p "$2" -t 2
    else
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
    fi
}

psql_as() { # user port db sql...
    local user=$1 port=$2 db=$3
    shift 3
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$user" -d "$db" "$@"
}

ensure_db() { # user port
    local user=$1 port=$2
    if [ "$(psql_as "$user" "$port" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
        psql_as "$user" "$port" postgres -c "CREATE DATABASE $DB" >&2
    fi
}

pg_bin() {
    local initdb
    initdb=$(command -v initdb 2>/dev/null || true)
    if [ -z "$initdb" ]; then
        initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
    fi
    if [ -z "$initdb" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing postgresql from Debian's packages"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
        initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
    fi
    [ -n "$initdb" ] || { log "no initdb found; install PostgreSQL"; exit 1; }
    dirname "$(readlink -f "$initdb")"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
    local p
    for p in $(seq 55432 55532); do
        answers 127.0.0.1 "$p" || { echo "$p"; return; }
    done
    log "no free port"
    exit 1
}

start_existing() {
    local user
    for user in postgres root "$(id -un)"; do
        if psql_as "$user" "$PORT" postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
            ensure_db "$user" "$PORT"
            log "using the server on 127.0.0.1:$PORT as $user"
            echo "export KEYPROV_PG_URL=postgres://$user@127.0.0.1:$PORT/$DB"
            rm -f "$STATE"
            echo "export KEYPROV_PG_STOP=:"
            return 0
        fi
    done
    log "127.0.0.1:$PORT answers but refuses users postgres, root and $(id -un) without a password"
    exit 1
}

start_throwaway() {
    local bin dir port as=()
    bin=$(pg_bin)
    dir=$(mktemp -d /tmp/keyprov-pg.XXXXXX)
    port=$(free_port)
    if [ "$(id -u)" = 0 ]; then
        # PostgreSQL refuses to run as root.
        id -u "$RUN_AS" >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/false "$RUN_AS"
        chown "$RUN_AS" "$dir"
        as=(runuser -u "$RUN_AS" --)
    fi
    chmod 700 "$dir"
    log "starting a throwaway server in $dir on 127.0.0.1:$port"
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    server start "$dir"
    ensure_db postgres "$port"
    echo "$dir" >"$STATE"
    echo "export KEYPROV_PG_URL=postgres://postgres@127.0.0.1:$port/$DB"
    echo "export KEYPROV_PG_STOP='bash $(readlink -f "$0") stop $dir'"
}

server() { # start|stop dir: the throwaway server in dir, keeping its data and port
    local action=$1 dir=$2 bin as=()
    bin=$(pg_bin)
    [ "$(id -u)" = 0 ] && as=(runuser -u "$(stat -c %U "$dir")" --)
    if [ "$action" = start ]; then
        "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $(cat "$dir/port") -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" \
            start >&2 || { cat "$dir/server.log" >&2; exit 1; }
    else
        "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    fi
}

stop() { # dir
    local dir=${1:-}
    if [ -z "$dir" ] && [ -f "$STATE" ]; then dir=$(cat "$STATE"); fi
    rm -f "$STATE"
    [ -n "$dir" ] && [ -d "$dir/data" ] || { log "nothing to stop"; return 0; }
    local bin as=()
    bin=$(pg_bin)
    [ "$(id -u)" = 0 ] && as=(runuser -u "$(stat -c %U "$dir")" --)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    log "stopped and removed $dir"
}

case "${1:-start}" in
    start)
        if answers 127.0.0.1 "$PORT"; then start_existing; else start_throwaway; fi
        ;;
    stop) stop "${2:-}" ;;
    # For tests of a server restart: stop and start a throwaway server, keeping its data.
    halt) server stop "$2" ;;
    resume) server start "$2" ;;
    *)
        echo "usage: $0 start | stop [DIR]" >&2
        exit 2
        ;;
esac
