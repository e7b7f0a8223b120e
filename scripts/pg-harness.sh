#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# pg-harness.sh — a throwaway PostgreSQL server for the test suites.
#
#   scripts/pg-harness.sh start DIR   initdb into DIR/data, start on a free 127.0.0.1 port with
#                                     the socket in DIR, wait until it accepts connections, and
#                                     print the base URL (postgresql://marquee@127.0.0.1:PORT);
#                                     DIR/url and DIR/bindir hold the URL and the server's bin/
#   scripts/pg-harness.sh stop DIR    pg_ctl stop -m fast, then rm -rf DIR
#
# DIR must not exist yet or be empty; `mktemp -d` is the usual source. The cluster trusts every
# local connection as user `marquee`, runs with fsync off (it exists for one test run) and is
# created with --locale=C --encoding=UTF8, so its databases sort and case-fold like SQLite.
# As root the server runs as the `postgres` system user of the Debian package (PostgreSQL
# refuses to run as root), so DIR is handed to that user.
#
# Sourcing this file instead defines pg_harness_start / pg_harness_stop with the same
# arguments (start sets PG_HARNESS_URL and PG_HARNESS_BINDIR) and runs nothing.
# Databases: createdb -h 127.0.0.1 -p PORT -U marquee NAME (the bindir has createdb).

pg_harness_log() { echo "pg-harness: $*" >&2; }

# The newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl.
pg_harness_bindir() {
    local best="" best_v=-1 d v
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] || continue
        v=${d#/usr/lib/postgresql/}
        v=${v%%/*}
        v=${v%%.*}
        [[ "$v" =~ ^[0-9]+$ ]] || continue
        if [ "$v" -gt "$best_v" ]; then
            best_v=$v
            best=$d
        fi
    done
    if [ -z "$best" ]; then
        pg_harness_log "no initdb/pg_ctl under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
        return 1
    fi
    echo "$best"
}

# free_port (the start below retries on a race) comes from scripts/lib.sh
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Runs a server-side command as the unprivileged owner of the cluster.
pg_harness_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_harness_start() {
    local dir=${1:?pg_harness_start DIR}
    local bindir port url attempt
    bindir=$(pg_harness_bindir) || return 1
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd) || return 1
    if [ "$(id -u)" -eq 0 ]; then
        if ! getent passwd postgres >/dev/null; then
            pg_harness_log "running as root but there is no 'postgres' user to run the server as"
            return 1
        fi
        chown postgres: "$dir" || return 1
        chmod 0700 "$dir"
    fi
    # C locale, UTF-8: byte-order text comparison and ASCII-only lower()/upper(), as on SQLite,
    # so that ordering and the lower(name) unique indexes decide the same on both backends
    # (docs/operations.md asks the same of production databases).
    if ! pg_harness_as_owner "$bindir/initdb" -D "$dir/data" -A trust -U marquee \
        --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
        pg_harness_log "initdb failed:"
        cat "$dir/initdb.log" >&2
        return 1
    fi
    for attempt in 1 2 3 4 5; do
        port=$(free_port) || { pg_harness_log "no free port"; return 1; }
        if pg_harness_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >"$dir/pg_ctl.log" 2>&1; then
            break
        fi
        port=""
        # a port taken between the probe and the bind: try another one
        grep -q "could not bind\|already in use" "$dir/server.log" 2>/dev/null || break
    done
    if [ -z "$port" ]; then
        pg_harness_log "pg_ctl start failed:"
        cat "$dir/pg_ctl.log" "$dir/server.log" >&2 2>/dev/null
        return 1
    fi
    # pg_ctl -w returns once the server accepts connections; check over TCP as the suites will
    local i
    for i in $(seq 1 100); do
        "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U marquee -d postgres && break
        sleep 0.1
    done
    url="postgresql://marquee@127.0.0.1:$port"
    echo "$url" >"$dir/url"
    echo "$bindir" >"$dir/bindir"
    PG_HARNESS_URL=$url
    PG_HARNESS_BINDIR=$bindir
    export PG_HARNESS_URL PG_HARNESS_BINDIR
    return 0
}

pg_harness_stop() {
    local dir=${1:?pg_harness_stop DIR}
    [ -d "$dir" ] || return 0
    local bindir
    bindir=$(pg_harness_bindir 2>/dev/null) || bindir=""
    if [ -n "$bindir" ] && [ -f "$dir/data/postmaster.pid" ]; then
        pg_harness_as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop \
            >/dev/null 2>&1 || {
            # last resort: the postmaster pid is the first line of postmaster.pid
            local pid
            pid=$(head -n1 "$dir/data/postmaster.pid" 2>/dev/null)
            [[ "$pid" =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
        }
    fi
    rm -rf "$dir"
}

# Executed (not sourced): the command-line interface.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    case "${1:-}" in
    start)
        [ $# -eq 2 ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
        pg_harness_start "$2" || exit 1
        echo "$PG_HARNESS_URL"
        ;;
    stop)
        [ $# -eq 2 ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
        pg_harness_stop "$2"
        ;;
    *)
        echo "usage: $0 start|stop DIR" >&2
        exit 2
        ;;
    esac
fi
