#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh BUILD_DIR — every test suite against an ASan+UBSan build (what `make test` runs).
#
#   1. starts a throwaway PostgreSQL (scripts/pg-harness.sh), stopped and deleted on exit
#   2. runs each cmocka unit test binary of BUILD_DIR with TAP output; test-store runs twice,
#      on SQLite and on a fresh PostgreSQL database (MARQUEE_TEST_DB_URL)
#   3. runs the black-box API suites (tests/api/*.test.mjs, node:test) twice, with
#      MARQUEE_TEST_BACKEND=sqlite and =postgresql
#   4. runs the scenario suites (tests/scenario/*.test.mjs, node:test: a real marquee-player
#      against a real marqueed) once, on SQLite, one file at a time
#
# Prints one line per suite and, as its very last line, "N passed, N failed" over everything.
# Exits 1 if anything failed or nothing ran. A binary that exits non-zero (a sanitizer abort, a
# crash) without reporting a failed test counts as one failure, and its output is printed.
# Environment: NODE (default node), TEST_TIMEOUT_S per unit binary (default 120),
# API_TIMEOUT_S per API run (default 360), SCENARIO_TIMEOUT_S for the scenario run (default
# 900), TEST_VERBOSE=1 prints every output.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "test.sh: no build directory $1" >&2; exit 2; }
NODE=${NODE:-node}
TEST_TIMEOUT_S=${TEST_TIMEOUT_S:-120}
API_TIMEOUT_S=${API_TIMEOUT_S:-360}
SCENARIO_TIMEOUT_S=${SCENARIO_TIMEOUT_S:-900}
TEST_VERBOSE=${TEST_VERBOSE:-0}

# shellcheck source=scripts/pg-harness.sh
. "$ROOT/scripts/pg-harness.sh"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Nothing from the caller's marqueed configuration may leak into the suites.
while IFS='=' read -r name _; do
    case "$name" in MARQUEE_*) unset "$name" 2>/dev/null ;; esac
done < <(env)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/marquee-test.XXXXXX")
PGDIR=$(mktemp -d "/tmp/marquee-pg.XXXXXX")
CHILD="" # the running suite: `timeout` leads its own process group (node, marqueed, …)
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    if [ -n "$CHILD" ]; then
        kill -TERM -- "-$CHILD" 2>/dev/null
        for i in $(seq 1 50); do
            kill -0 -- "-$CHILD" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$CHILD" 2>/dev/null
    fi
    pg_harness_stop "$PGDIR" >/dev/null 2>&1
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "test.sh: interrupted" >&2; exit 130' INT TERM
# Everything the suites put under the temp dir goes away with $WORK, even after a crash.
mkdir -p "$WORK/tmp"
export TMPDIR="$WORK/tmp"

PASSED=0
FAILED=0
T0=$SECONDS

# bounded OUT SECONDS DIR CMD… — runs CMD in DIR with its output in OUT, killed with all its
# descendants after SECONDS (timeout puts them in a process group of their own, which the
# cleanup above also kills on Ctrl-C). Returns CMD's status (124 on timeout).
bounded() {
    local out=$1 secs=$2 dir=$3 rc
    shift 3
    (cd "$dir" && exec timeout -k 10 "$secs" "$@") >"$out" 2>&1 &
    CHILD=$!
    wait "$CHILD"
    rc=$?
    CHILD=""
    return "$rc"
}

suite_line() { # NAME PASS FAIL SECONDS [NOTE]
    local status=ok
    [ "$3" -gt 0 ] && status=FAIL
    printf '%-4s %-34s %4d passed, %3d failed  (%ds)%s\n' "$status" "$1" "$2" "$3" "$4" "${5:+  $5}"
}

# ---- PostgreSQL --------------------------------------------------------------------------------

PG_URL=""
PG_PORT=""
if pg_harness_start "$PGDIR" 2>"$WORK/pg-start.log"; then
    PG_URL=$PG_HARNESS_URL
    PG_PORT=${PG_URL##*:}
    export PATH="$PG_HARNESS_BINDIR:$PATH"
    export MARQUEE_PG_BINDIR="$PG_HARNESS_BINDIR"
    echo "PostgreSQL test server: $PG_URL"
else
    echo "test.sh: could not start PostgreSQL; the PostgreSQL runs count as failed" >&2
    cat "$WORK/pg-start.log" >&2
fi

pg_createdb() { # NAME
    createdb -h 127.0.0.1 -p "$PG_PORT" -U marquee "$1"
}

# ---- unit tests --------------------------------------------------------------------------------

# The unit test binaries meson knows of in this build (the unit_tests dict of meson.build),
# falling back to the test-* executables of the build directory.
unit_tests() {
    local list
    list=$(meson introspect "$BUILD" --tests 2>/dev/null | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    cmd = t.get("cmd") or []
    if cmd:
        print(t["name"] + "\t" + cmd[0])
' 2>/dev/null)
    if [ -n "$list" ]; then
        echo "$list"
        return
    fi
    local f
    for f in "$BUILD"/test-*; do
        [ -f "$f" ] && [ -x "$f" ] && printf '%s\t%s\n' "$(basename "$f")" "$f"
    done
}

run_unit() { # LABEL BINARY [VAR=VALUE ...]
    local label=$1 bin=$2
    shift 2
    local out="$WORK/unit-$label.out" t=$SECONDS rc
    if [ ! -x "$bin" ]; then
        suite_line "$label" 0 1 0 "missing binary $bin"
        FAILED=$((FAILED + 1))
        return
    fi
    bounded "$out" "$TEST_TIMEOUT_S" "$BUILD" env CMOCKA_MESSAGE_OUTPUT=TAP "$@" "$bin"
    rc=$?
    [ "$rc" -gt 128 ] && [ "$rc" -ne 124 ] && echo "(killed by signal $((rc - 128)))" >>"$out"
    local pass fail skip note=""
    # TAP: "ok N …" passed, "not ok N …" failed, a "# SKIP" / "# TODO" directive neither
    pass=$(grep -E '^ok [0-9]+' "$out" | grep -cviE '#[[:space:]]*(SKIP|TODO)')
    fail=$(grep -E '^not ok [0-9]+' "$out" | grep -cviE '#[[:space:]]*(SKIP|TODO)')
    skip=$(grep -E '^(not )?ok [0-9]+' "$out" | grep -ciE '#[[:space:]]*(SKIP|TODO)')
    [ "$skip" -gt 0 ] && note="$skip skipped"
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
        note="exit status $rc with no failed test reported"
        [ "$rc" -eq 124 ] && note="timed out after ${TEST_TIMEOUT_S}s"
    fi
    if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$skip" -eq 0 ]; then
        fail=1
        note="no TAP results"
    fi
    suite_line "$label" "$pass" "$fail" $((SECONDS - t)) "$note"
    if [ "$fail" -gt 0 ] || [ "$TEST_VERBOSE" = 1 ]; then
        sed 's/^/    | /' "$out"
    fi
    PASSED=$((PASSED + pass))
    FAILED=$((FAILED + fail))
}

echo "== unit tests ($BUILD)"
n_unit=0
while IFS=$'\t' read -r name bin; do
    [ -n "$name" ] || continue
    n_unit=$((n_unit + 1))
    if [ "$name" = test-store ]; then
        run_unit "test-store [sqlite]" "$bin"
        if [ -n "$PG_URL" ] && pg_createdb marquee_unit_store 2>"$WORK/createdb.log"; then
            run_unit "test-store [postgresql]" "$bin" "MARQUEE_TEST_DB_URL=$PG_URL/marquee_unit_store"
        else
            suite_line "test-store [postgresql]" 0 1 0 "no PostgreSQL database"
            cat "$WORK/createdb.log" >&2 2>/dev/null
            FAILED=$((FAILED + 1))
        fi
    else
        run_unit "$name" "$bin"
    fi
done < <(unit_tests)
if [ "$n_unit" -eq 0 ]; then
    echo "test.sh: no unit test binaries in $BUILD" >&2
fi

# ---- API and scenario suites -------------------------------------------------------------------

# run_node LABEL BACKEND SECONDS NODE_ARGS… — node:test files, TAP counted like the unit tests.
# The suites find marqueed and marquee-player of BUILD through MARQUEED and MARQUEE_PLAYER.
run_node() {
    local label=$1 backend=$2 secs=$3 out t=$SECONDS rc
    shift 3
    out="$WORK/node-$(printf '%s' "$label" | tr -c 'a-z0-9' '-').tap"
    MARQUEED="$BUILD/marqueed" MARQUEE_PLAYER="$BUILD/marquee-player" MARQUEE_TEST_BACKEND=$backend \
        MARQUEE_TEST_PG=$PG_URL bounded "$out" "$secs" "$ROOT" "$NODE" --test --test-reporter=tap "$@"
    rc=$?
    local pass fail cancelled skipped note=""
    # the top-level summary of node:test's TAP reporter (unindented "# pass N" lines)
    pass=$(grep -E '^# pass [0-9]+' "$out" | tail -n1 | awk '{print $3}')
    fail=$(grep -E '^# fail [0-9]+' "$out" | tail -n1 | awk '{print $3}')
    cancelled=$(grep -E '^# cancelled [0-9]+' "$out" | tail -n1 | awk '{print $3}')
    skipped=$(grep -E '^# skipped [0-9]+' "$out" | tail -n1 | awk '{print $3}')
    [ "${skipped:-0}" -gt 0 ] && note="$skipped skipped"
    pass=${pass:-0}
    fail=$((${fail:-0} + ${cancelled:-0}))
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
        note="exit status $rc with no failed test reported"
        [ "$rc" -eq 124 ] && note="timed out after ${secs}s"
    fi
    if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
        note="no test results"
    fi
    suite_line "$label" "$pass" "$fail" $((SECONDS - t)) "$note"
    if [ "$fail" -gt 0 ] || [ "$TEST_VERBOSE" = 1 ]; then
        # the failing tests with their diagnostics; the full TAP when it is short
        if [ "$TEST_VERBOSE" = 1 ] || [ "$(wc -l <"$out")" -le 400 ]; then
            sed 's/^/    | /' "$out"
        else
            # each failed test with its YAML diagnostics block (which ends with "...")
            awk '
                /^ *not ok / { show = 1 }
                show { print "    | " $0 }
                show && /^ *\.\.\.$/ { show = 0 }
            ' "$out"
            echo "    | (full output: run with TEST_VERBOSE=1)"
        fi
    fi
    PASSED=$((PASSED + pass))
    FAILED=$((FAILED + fail))
}

run_api() { # BACKEND
    local backend=$1
    local files=()
    local f
    for f in "$ROOT"/tests/api/*.test.mjs; do
        [ -f "$f" ] && files+=("$f")
    done
    if [ ${#files[@]} -eq 0 ]; then
        suite_line "api [$backend]" 0 1 0 "no tests/api/*.test.mjs"
        FAILED=$((FAILED + 1))
        return
    fi
    if [ "$backend" = postgresql ] && [ -z "$PG_URL" ]; then
        suite_line "api [$backend]" 0 1 0 "no PostgreSQL server"
        FAILED=$((FAILED + 1))
        return
    fi
    run_node "api [$backend]" "$backend" "$API_TIMEOUT_S" "${files[@]}"
}

# The scenarios run once, on SQLite (what they test is the player, not the store), one file at a
# time: each starts marqueed, players, Xvfb or ffmpeg, and some need a publish to reach a player
# within one video's length; two at once on two cores would only trade minutes for flakiness. A missing marquee-player fails each scenario that starts one, by name.
run_scenario() {
    local files=()
    local f
    for f in "$ROOT"/tests/scenario/*.test.mjs; do
        [ -f "$f" ] && files+=("$f")
    done
    if [ ${#files[@]} -eq 0 ]; then
        suite_line "scenario [sqlite]" 0 1 0 "no tests/scenario/*.test.mjs"
        FAILED=$((FAILED + 1))
        return
    fi
    local serial=()
    "$NODE" --test-concurrency=1 -e 0 >/dev/null 2>&1 && serial=(--test-concurrency=1)
    run_node "scenario [sqlite]" sqlite "$SCENARIO_TIMEOUT_S" "${serial[@]}" "${files[@]}"
}

echo "== API suites (tests/api, $("$NODE" --version))"
run_api sqlite
run_api postgresql

echo "== scenario suites (tests/scenario, $BUILD/marquee-player)"
run_scenario

echo "== $((SECONDS - T0))s"
echo "$PASSED passed, $FAILED failed"
if [ "$FAILED" -gt 0 ] || [ "$PASSED" -eq 0 ]; then
    exit 1
fi
exit 0
