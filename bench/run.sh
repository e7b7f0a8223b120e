#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh BUILD_DIR — marqueed's benchmarks (what `make bench` runs). Each row measures a
# marqueed endpoint and a reference in the same run, on the same machine, with the same load,
# and prints both with their ratio:
#
#   healthz  marqueed 52310 req/s p99 2.1 ms | nginx static 61020 req/s p99 1.6 ms | ratio 0.86
#
# Method: wrk -t2 -c64 -d10s --latency against each target, after a short warm-up; the targets
# are measured alternately (A B A B A B) and each figure is the MEDIAN OF 3 runs (req/s and
# p99 taken from the same run: the one with the median req/s). ratio = marqueed req/s / the
# reference's req/s (higher is better for marqueed). The manifest304, heartbeat and events rows
# drive both of their targets with bench/curl-load (built with marqueed: libcurl, same -t/-c/-d,
# same figures) instead of wrk, which cannot read marqueed's 304 (see bench_manifest304).
#
# marqueed runs as `serve` on SQLite in a temp data dir, 127.0.0.1:0, the default log level
# (info: one JSON line per request, to a temp file). The reference is Debian's nginx (2 worker
# processes, access_log on to a file to match marqueed's per-request line, keep-alive without
# a request cap as marqueed has none) serving a static file of the same bytes as marqueed's
# answer. Both on loopback; every process and temp file is removed on exit.
#
# Adding a row: write bench_<name> (start what it needs, call compare_row) and list it in
# BENCHES below. The numbers never fail the build; the script exits non-zero only when
# something could not run.
#
# The media and origin rows measure other things (processing time, download MB/s) with their own
# method, described above each; they need ffmpeg and ffprobe (scripts/deps.sh). So do the player
# rows: download (the player's download engine, bench/player-dl, against the curl command line,
# MB/s) and resume (the bytes fetched twice after a kill -9 half-way, against curl -C -).
#
# Environment: BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
# BENCH_RUNS (3), BENCH_WARMUP (3s), BENCH_ONLY (row names, e.g. "download resume": only those),
# NGINX (/usr/sbin/nginx), WRK (wrk), CURL_LOAD (BUILD_DIR/curl-load),
# BENCH_MEDIA_RUNS (5), BENCH_ORIGIN_DURATION (7s), BENCH_PUBLISH_DURATION (9s),
# PLAYER_DL (BUILD_DIR/player-dl), BENCH_DL_FILES (4), BENCH_DL_MB (20),
# BENCH_RESUME_RATE (8000000 bytes/s).
#
# The publish row measures latency (p50/p99 at one connection), also with its own method.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "bench: no build directory $1" >&2; exit 2; }
MARQUEED="$BUILD/marqueed"
NGINX=${NGINX:-/usr/sbin/nginx}
WRK=${WRK:-wrk}
CURL_LOAD=${CURL_LOAD:-$BUILD/curl-load}
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
RUNS=${BENCH_RUNS:-3}
WARMUP=${BENCH_WARMUP:-3s}
MEDIA_RUNS=${BENCH_MEDIA_RUNS:-5}
ORIGIN_DURATION=${BENCH_ORIGIN_DURATION:-7s}
PUBLISH_DURATION=${BENCH_PUBLISH_DURATION:-9s}
PLAYER_DL=${PLAYER_DL:-$BUILD/player-dl}
PLAYER=${PLAYER:-$BUILD/marquee-player}
PLAYER_RUNS=${BENCH_PLAYER_RUNS:-10}
DL_FILES=${BENCH_DL_FILES:-4}
DL_MB=${BENCH_DL_MB:-20}
RESUME_RATE=${BENCH_RESUME_RATE:-8000000}

BENCHES=(healthz me login origin media publish resolver manifest304 manifest200 heartbeat events
    download resume coldstart rss)

die() {
    echo "bench: $*" >&2
    exit 1
}

for tool in "$MARQUEED" "$NGINX" "$CURL_LOAD"; do
    [ -x "$tool" ] || die "missing $tool (make build; apt-get install nginx-light)"
done
command -v "$WRK" >/dev/null || die "missing wrk (apt-get install wrk)"
command -v curl >/dev/null || die "missing curl"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/marquee-bench.XXXXXX")
PIDS=()

cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

# ---- helpers -----------------------------------------------------------------------------------

# free_port comes from scripts/lib.sh
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# Waits until URL answers 200 (up to ~10 s).
wait_http() {
    local url=$1 i
    for i in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

# Waits until URL answers at all, any status (up to ~10 s).
wait_answer() {
    local url=$1 i
    for i in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" != 000 ] && return 0
        sleep 0.1
    done
    return 1
}

# Converts a wrk latency figure (812.00us, 2.10ms, 1.02s) to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}

# One wrk run: prints "RPS P99_MS ERRORS P50_MS" (ERRORS: socket errors + non-2xx/3xx answers).
wrk_once() {
    local url=$1 duration=$2 out="$WORK/wrk.out"
    "$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency "${WRK_ARGS[@]}" "$url" \
        >"$out" 2>&1 || {
        cat "$out" >&2
        return 1
    }
    local rps p99 p50 errs non2xx
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    errs=$(awk '/Socket errors:/ {
        s = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i + 0; print s }' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
    if [ -z "$rps" ] || [ -z "$p99" ] || [ -z "$p50" ]; then
        echo "bench: could not read wrk's output:" >&2
        cat "$out" >&2
        return 1
    fi
    echo "$rps $(to_ms "$p99") $((${errs:-0} + ${non2xx:-0})) $(to_ms "$p50")"
}

# extra wrk arguments for the next runs (a header, a script)
WRK_ARGS=()

# curl_load_once URL DURATION [CURL-LOAD ARGS...] — one bench/curl-load run: prints "RPS P99_MS
# ERRORS P50_MS" as wrk_once does. The answers by status go to the file STATUS_LOG names, if
# any, a line per run: "PATH 304s 2xxs others".
curl_load_once() {
    local url=$1 duration=$2 out="$WORK/curl-load.out" path
    "$CURL_LOAD" -t"$THREADS" -c"$CONNECTIONS" -d"$duration" "${@:3}" "$url" \
        >"$out" 2>"$WORK/curl-load.err" || {
        cat "$WORK/curl-load.err" >&2
        return 1
    }
    cat "$WORK/curl-load.err" >&2 # transport errors, if any
    local rps p99 errs p50 c2xx c304 cother
    read -r rps p99 errs p50 c2xx c304 cother <"$out"
    if [ -z "$cother" ]; then
        echo "bench: could not read curl-load's output: $(cat "$out")" >&2
        return 1
    fi
    path=/${url#http://*/}
    [ -n "${STATUS_LOG:-}" ] && echo "$path $c304 $c2xx $cother" >>"$STATUS_LOG"
    echo "$rps $p99 $errs $p50"
}

# what compare_row runs: wrk_once, or curl_load_once for the rows wrk cannot drive
LOAD_ONCE=wrk_once

# compare_row ROW NAME_A URL_A NAME_B URL_B — warms both up, then RUNS alternating runs each,
# and prints the row with the median-of-RUNS figures.
compare_row() {
    local row=$1 name_a=$2 url_a=$3 name_b=$4 url_b=$5 i r
    "$LOAD_ONCE" "$url_a" "$WARMUP" >/dev/null || return 1
    "$LOAD_ONCE" "$url_b" "$WARMUP" >/dev/null || return 1
    local -a runs_a=() runs_b=()
    for i in $(seq 1 "$RUNS"); do
        r=$("$LOAD_ONCE" "$url_a" "$DURATION") || return 1
        runs_a+=("$r")
        r=$("$LOAD_ONCE" "$url_b" "$DURATION") || return 1
        runs_b+=("$r")
    done
    local med_a med_b
    med_a=$(printf '%s\n' "${runs_a[@]}" | sort -n -k1,1 | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
    med_b=$(printf '%s\n' "${runs_b[@]}" | sort -n -k1,1 | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
    local all_a all_b
    all_a=$(printf '%s\n' "${runs_a[@]}" | awk '{printf "%s%.0f", (NR > 1 ? " " : ""), $1}')
    all_b=$(printf '%s\n' "${runs_b[@]}" | awk '{printf "%s%.0f", (NR > 1 ? " " : ""), $1}')
    awk -v row="$row" -v na="$name_a" -v nb="$name_b" -v a="$med_a" -v b="$med_b" \
        -v all_a="$all_a" -v all_b="$all_b" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        ratio = y[1] > 0 ? x[1] / y[1] : 0
        printf "%-8s %s %.0f req/s p99 %.2f ms | %s %.0f req/s p99 %.2f ms | ratio %.2f\n",
            row, na, x[1], x[2], nb, y[1], y[2], ratio
        # details on stderr: stdout is one line per row
        printf "bench: %s runs: %s [%s] / %s [%s] req/s\n", row, na, all_a, nb, all_b > "/dev/stderr"
        if (x[3] > 0 || y[3] > 0)
            printf "bench: %s warning: errors or non-2xx answers in the median runs: %s %d, %s %d\n",
                row, na, x[3], nb, y[3] > "/dev/stderr"
    }'
}

# ---- servers -----------------------------------------------------------------------------------

MARQUEED_URL=""
start_marqueed() {
    [ -n "$MARQUEED_URL" ] && return 0
    mkdir -p "$WORK/marqueed"
    # the login and me rows call far more often than the §27.1 limits allow one client, and the
    # media rows open more upload sessions than 30 an hour; the publish row publishes (10 a
    # minute) and changes (120 a minute: 50 venues and more) far more often than a tenant may
    local limits=login_ip=1000000/1,login_account=1000000/1,default_user=1000000/1,upload=1000000/1
    limits+=,publish=1000000/1,mutation=1000000/1
    # the manifest rows: 2,000 devices asking thousands of times a second (2 a minute each)
    limits+=,manifest=1000000/1,default_device=1000000/1
    # the telemetry rows: the same devices sending heartbeats and event batches as fast as they can
    limits+=,heartbeat=1000000/1,events=1000000/1
    "$MARQUEED" serve --data-dir "$WORK/marqueed/data" --listen 127.0.0.1:0 \
        --rate-limits "$limits" \
        >"$WORK/marqueed/stdout.log" 2>"$WORK/marqueed/stderr.log" &
    PIDS+=($!)
    local i port=""
    for i in $(seq 1 100); do
        port=$(grep -o '"event":"listening".*"port":[0-9]*' "$WORK/marqueed/stderr.log" 2>/dev/null |
            grep -o '"port":[0-9]*' | head -n1 | cut -d: -f2)
        [ -n "$port" ] && break
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        cat "$WORK/marqueed/stderr.log" >&2
        die "marqueed did not start"
    fi
    MARQUEED_URL="http://127.0.0.1:$port"
    wait_http "$MARQUEED_URL/healthz" || die "marqueed does not answer /healthz"
}

NGINX_URL=""
# start_nginx — nginx serving $WORK/nginx/html/ (put the files there first).
start_nginx() {
    [ -n "$NGINX_URL" ] && return 0
    local d="$WORK/nginx" port user_line="" temp="" m
    mkdir -p "$d/html" "$d/tmp"
    # as root the workers must run as someone who can read the 0700 temp dir: root itself
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    # a temp path for every module built in (a directive of a missing module is an error)
    for m in client_body proxy fastcgi uwsgi scgi; do
        if [ "$m" = client_body ] || ! "$NGINX" -V 2>&1 | grep -q -- "--without-http_${m}_module"; then
            temp+="    ${m}_temp_path $d/tmp/$m;"$'\n'
        fi
    done
    local attempt
    for attempt in 1 2 3; do
        port=$(free_port) || die "no free port"
        cat >"$d/nginx.conf" <<EOF
# generated by bench/run.sh
daemon off;
master_process on;
worker_processes 2;
$user_line
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
    access_log $d/access.log;
    # the player rows (download, resume) count what nginx sent for each file
    log_format dl '\$uri \$status \$body_bytes_sent "\$http_range"';
$temp
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$port;
        root $d/html;
        location = /healthz {
            default_type application/json;
            add_header X-Request-Id \$request_id;
            try_files /healthz.json =404;
        }
        # large static files (the origin row): sent with sendfile, which nginx leaves off by
        # default; on here only, in the reference's favour (healthz is served as before)
        location /files/ {
            sendfile on;
        }
        # the player rows' files: sendfile as above, a line per request with the body bytes
        # sent (on an aborted response too: the bytes the kernel took before the client went)
        location /dl/ {
            sendfile on;
            access_log $d/dl.log dl;
        }
    }
}
EOF
        "$NGINX" -p "$d" -e "$d/error.log" -c "$d/nginx.conf" >"$d/stdout.log" 2>&1 &
        PIDS+=($!)
        # any answer from our nginx (the rows put their files in html/ before or after)
        if wait_answer "http://127.0.0.1:$port/" && kill -0 "${PIDS[-1]}" 2>/dev/null; then
            NGINX_URL="http://127.0.0.1:$port"
            return 0
        fi
        kill -TERM "${PIDS[-1]}" 2>/dev/null
        wait "${PIDS[-1]}" 2>/dev/null
    done
    cat "$d/stdout.log" "$d/error.log" >&2 2>/dev/null
    die "nginx did not start"
}

# ---- benchmarks (one function per row) ---------------------------------------------------------

bench_healthz() {
    start_marqueed
    # the reference serves the very bytes marqueed answers
    curl -s -o "$WORK/healthz.body" "$MARQUEED_URL/healthz" || die "GET /healthz failed"
    start_nginx_with_file healthz.json "$WORK/healthz.body"
    [ "$(curl -s "$NGINX_URL/healthz")" = "$(cat "$WORK/healthz.body")" ] ||
        die "nginx does not serve the healthz body"
    compare_row healthz marqueed "$MARQUEED_URL/healthz" "nginx static" "$NGINX_URL/healthz"
}

# A tenant admin in the bench store, and an access token for it (in $TOKEN).
BENCH_EMAIL=bench@marquee.test
BENCH_PASSWORD="bench password $$ $RANDOM"
TOKEN=""
make_tenant() {
    [ -n "$TOKEN" ] && return 0
    start_marqueed
    "$MARQUEED" create-tenant --name "Bench $$" --admin-email "$BENCH_EMAIL" \
        --admin-password "$BENCH_PASSWORD" --data-dir "$WORK/marqueed/data" \
        >"$WORK/tenant.log" 2>&1 || { cat "$WORK/tenant.log" >&2; die "create-tenant failed"; }
    printf '{"email":"%s","password":"%s"}' "$BENCH_EMAIL" "$BENCH_PASSWORD" >"$WORK/login.json"
    TOKEN=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/login.json" \
        "$MARQUEED_URL/v1/auth/login" | sed -n 's/.*"accessToken":"\([^"]*\)".*/\1/p')
    [ -n "$TOKEN" ] || die "login failed"
}

# Token verification per request: GET /v1/me (bearer token verified, claims checked, profile
# read from the store) against GET /healthz on the same server with the same header.
bench_me() {
    make_tenant
    WRK_ARGS=(-H "Authorization: Bearer $TOKEN")
    compare_row me "GET /v1/me" "$MARQUEED_URL/v1/me" "GET /healthz" "$MARQUEED_URL/healthz"
    local rc=$?
    WRK_ARGS=()
    return $rc
}

# Logins per second (Argon2id by design: tens of ms of one core each) against the raw Argon2id
# verifications per second of bench/argon2-verify with one thread per core: login cannot be
# faster; the ratio is what HTTP, the store and token issue add. One connection per core.
bench_login() {
    make_tenant
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] = "application/json"'
        echo "wrk.body = [[$(cat "$WORK/login.json")]]"
    } >"$WORK/login.lua"
    local n_cores rate ref r i
    n_cores=$(nproc)
    local -a runs=()
    for i in $(seq 1 "$RUNS"); do
        WRK_ARGS=(-s "$WORK/login.lua")
        r=$(CONNECTIONS=$n_cores THREADS=$n_cores wrk_once "$MARQUEED_URL/v1/auth/login" 5s) ||
            return 1
        WRK_ARGS=()
        runs+=("$r")
    done
    rate=$(printf '%s\n' "${runs[@]}" | sort -n -k1,1 | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    ref=$("$BUILD/argon2-verify" "$n_cores" 5 | awk '{print $1}') || return 1
    awk -v a="$rate" -v b="$ref" 'BEGIN {
        printf "login    POST /v1/auth/login %.1f logins/s | argon2id verify %.1f /s | ratio %.2f\n",
            a, b, (b > 0 ? a / b : 0) }'
    printf 'bench: login runs: %s logins/s\n' \
        "$(printf '%s\n' "${runs[@]}" | awk '{printf "%s%.1f", (NR > 1 ? " " : ""), $1}')" >&2
}

# The schedule resolver (issue 6): mean time of one resolution for a venue with 2,000 slots over
# 100 groups, against the brute-force reference (walks wall-clock minutes) on the same instants;
# bench/resolver-bench.c also checks the two agree. Goal: under 10 µs (spec §31.7: < 5 ms).
bench_resolver() {
    "$BUILD/resolver-bench" || return 1
}

start_nginx_with_file() { # NAME SOURCE
    mkdir -p "$(dirname "$WORK/nginx/html/$1")"
    cp "$2" "$WORK/nginx/html/$1"
    start_nginx
}

# ---- media rows (origin, media) ----------------------------------------------------------------

need_ffmpeg() {
    command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null && return 0
    echo "bench: missing ffmpeg/ffprobe (apt-get install ffmpeg)" >&2
    return 1
}

# median — the median of the numbers on stdin, one a line (even count: mean of the middle two).
median() {
    sort -g | awk '{a[NR] = $1} END {
        if (NR == 0) exit 1
        m = int((NR + 1) / 2); print (NR % 2 ? a[m] : (a[m] + a[m + 1]) / 2) }'
}

# json_str NAME — the value of the string member NAME of the JSON object on stdin (empty when
# null or missing). Enough for marqueed's answers: no escaped quotes in the members read here.
json_str() {
    sed -n 's/.*"'"$1"'":"\([^"]*\)".*/\1/p' | head -n1
}

# upload_asset FILE SHA256 [CONTENT_TYPE] — one library upload (declared CONTENT_TYPE, by
# default video/mp4) as the bench tenant admin, as a client does it: an upload session, one PUT
# of the whole file to its uploadUrl, complete; then waits for the worker's asset_ready /
# asset_failed log line and reads the asset. Sets ASSET_ID, ASSET_JSON
# (the READY asset) and ASSET_MS (the worker's processingMs); fails with the reason on stderr
# when the asset FAILED or an answer is not the documented one (docs/content.md).
ASSET_ID="" ASSET_JSON="" ASSET_MS=""
upload_asset() {
    local file=$1 sha=$2 content_type=${3:-video/mp4} size answer upload_id upload_url log_at line i status
    local log="$WORK/marqueed/stderr.log" auth="Authorization: Bearer $TOKEN"
    ASSET_ID="" ASSET_JSON="" ASSET_MS=""
    size=$(stat -c %s "$file") || return 1
    printf '{"fileName":"%s","contentType":"%s","sizeBytes":%s,"checksumSha256":"%s"}' \
        "$(basename "$file")" "$content_type" "$size" "$sha" >"$WORK/upload.json"
    answer=$(curl -s -X POST -H "$auth" -H 'Content-Type: application/json' \
        --data-binary @"$WORK/upload.json" "$MARQUEED_URL/v1/library/assets/uploads")
    upload_id=$(json_str uploadId <<<"$answer")
    upload_url=$(json_str uploadUrl <<<"$answer")
    ASSET_ID=$(json_str assetId <<<"$answer")
    if [ -z "$upload_id" ] || [ -z "$upload_url" ] || [ -z "$ASSET_ID" ]; then
        echo "bench: no upload session: $answer" >&2
        return 1
    fi
    answer=$(curl -s -X PUT --data-binary @"$file" "$upload_url")
    case $answer in
    *'"complete":true'*) ;;
    *) echo "bench: PUT of the upload failed: $answer" >&2; return 1 ;;
    esac
    # the log is large after the wrk rows: read only what is written from now on
    log_at=$(stat -c %s "$log") || return 1
    answer=$(curl -s -X POST -H "$auth" \
        "$MARQUEED_URL/v1/library/assets/uploads/$upload_id/complete")
    case $(json_str status <<<"$answer") in
    PROCESSING | READY | FAILED) ;;
    *) echo "bench: complete failed: $answer" >&2; return 1 ;;
    esac
    # polled every 0.1 s with a grep (not the API) to steal as little CPU as possible from the
    # worker being measured; processing's own deadline is minutes, give up after 2
    line=""
    for i in $(seq 1 1200); do
        line=$(tail -c +"$((log_at + 1))" "$log" | grep -F "\"assetId\":\"$ASSET_ID\"" |
            grep -E '"event":"asset_(ready|failed)"' | head -n1)
        [ -n "$line" ] && break
        sleep 0.1
    done
    if [ -z "$line" ]; then
        echo "bench: asset $ASSET_ID still not processed after 120 s" >&2
        return 1
    fi
    ASSET_MS=$(sed -n 's/.*"processingMs":\([0-9.eE+-]*\).*/\1/p' <<<"$line")
    ASSET_JSON=$(curl -s -H "$auth" "$MARQUEED_URL/v1/library/assets/$ASSET_ID")
    status=$(json_str status <<<"$ASSET_JSON")
    if [ "$status" != READY ]; then
        echo "bench: asset $ASSET_ID is ${status:-unreadable}:" \
            "failureReason $(json_str failureReason <<<"$ASSET_JSON")" \
            "($(json_str failureDetail <<<"$ASSET_JSON"))" >&2
        return 1
    fi
    [ -n "$ASSET_MS" ] || { echo "bench: no processingMs in: $line" >&2; return 1; }
}

# check_download NAME URL SIZE SHA256 — URL answers 200 with exactly those bytes.
check_download() {
    local name=$1 url=$2 size=$3 sha=$4 code got got_sha
    code=$(curl -s -o "$WORK/download" -w '%{http_code}' "$url")
    got=$(stat -c %s "$WORK/download" 2>/dev/null)
    got_sha=$(sha256sum "$WORK/download" | cut -d' ' -f1)
    rm -f "$WORK/download"
    if [ "$code" != 200 ] || [ "$got" != "$size" ] || [ "$got_sha" != "$sha" ]; then
        echo "bench: $name answers $code with ${got:-no} bytes (sha256 $got_sha)," \
            "not $size ($sha)" >&2
        return 1
    fi
}

# Media origin (§14): download throughput of a ~50 MB MP4 from the signed `url` of a READY asset
# (GET /media/<sha256>.mp4?expires=…&signature=…: signature checked, then sendfile), against
# nginx serving the very same bytes as a static file with sendfile on (off by nginx's default:
# the generated config turns it on for /files/ only, in the reference's favour). The file is a
# real upload that processing marks READY: 120 s of 640x360 30 fps H.264 at a constant 3.3 Mbps
# (x264 CBR with filler: a few seconds to make, where the same bitrate from a 720p picture takes
# ~17 s). Both answers are first checked with curl: 200, exactly the file's size and SHA-256.
# Method: wrk -t2 -c4 -d$BENCH_ORIGIN_DURATION (7s; --timeout 30s), warm-up, RUNS alternating runs,
# medians; MB/s = completed requests/s × file size (MB = 10^6 bytes). On loopback much of the
# work is the client copying the bytes out of its sockets, on the same cores as the server.
# ratio = marqueed MB/s / nginx MB/s (higher is better; the goal is >= 0.8).
bench_origin() {
    need_ffmpeg || return 1
    make_tenant
    local file="$WORK/origin.mp4" size sha url i r
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=s=640x360:r=30 -t 120 \
        -c:v libx264 -preset ultrafast -b:v 3.3M -minrate 3.3M -maxrate 3.3M -bufsize 3.3M \
        -x264-params nal-hrd=cbr -movflags +faststart -y "$file" ||
        { echo "bench: ffmpeg could not make the origin file" >&2; return 1; }
    size=$(stat -c %s "$file") || return 1
    sha=$(sha256sum "$file" | cut -d' ' -f1)
    echo "bench: origin file: $size bytes" >&2
    if [ "$size" -lt 45000000 ] || [ "$size" -gt 55000000 ]; then
        echo "bench: origin warning: the file is not 45–55 MB" >&2
    fi
    upload_asset "$file" "$sha" || return 1
    url=$(json_str url <<<"$ASSET_JSON")
    [ -n "$url" ] || { echo "bench: READY asset without url: $ASSET_JSON" >&2; return 1; }
    start_nginx_with_file files/origin.mp4 "$file"
    check_download marqueed "$url" "$size" "$sha" || return 1
    check_download nginx "$NGINX_URL/files/origin.mp4" "$size" "$sha" || return 1

    WRK_ARGS=(--timeout 30s)
    origin_runs "$url" "$NGINX_URL/files/origin.mp4" "$size"
    local rc=$?
    WRK_ARGS=()
    return "$rc"
}

# origin_runs MARQUEED_URL NGINX_URL SIZE — the wrk runs of the origin row, and its line.
origin_runs() {
    local url_m=$1 url_n=$2 size=$3 i r
    CONNECTIONS=4 THREADS=2 wrk_once "$url_m" "$WARMUP" >/dev/null || return 1
    CONNECTIONS=4 THREADS=2 wrk_once "$url_n" "$WARMUP" >/dev/null || return 1
    local -a runs_m=() runs_n=()
    for i in $(seq 1 "$RUNS"); do
        r=$(CONNECTIONS=4 THREADS=2 wrk_once "$url_m" "$ORIGIN_DURATION") || return 1
        runs_m+=("$r")
        r=$(CONNECTIONS=4 THREADS=2 wrk_once "$url_n" "$ORIGIN_DURATION") || return 1
        runs_n+=("$r")
    done
    local med_m med_n
    med_m=$(printf '%s\n' "${runs_m[@]}" | awk '{print $1}' | median)
    med_n=$(printf '%s\n' "${runs_n[@]}" | awk '{print $1}' | median)
    awk -v a="$med_m" -v b="$med_n" -v size="$size" 'BEGIN {
        printf "origin   marqueed %.0f MB/s | nginx sendfile %.0f MB/s | ratio %.2f\n",
            a * size / 1e6, b * size / 1e6, (b > 0 ? a / b : 0) }'
    # shellcheck disable=SC2016 # an awk program
    local mb='{printf "%s%.0f", (NR > 1 ? " " : ""), $1 * s / 1e6}'
    printf 'bench: origin runs: marqueed [%s] / nginx sendfile [%s] MB/s\n' \
        "$(printf '%s\n' "${runs_m[@]}" | awk -v s="$size" "$mb")" \
        "$(printf '%s\n' "${runs_n[@]}" | awk -v s="$size" "$mb")" >&2
    printf '%s\n' "${runs_m[@]}" "${runs_n[@]}" | awk '{e += $3} END {
        if (e > 0)
            printf "bench: origin warning: %d errors or non-2xx answers in the runs\n", e \
                > "/dev/stderr" }'
}

# Media processing (§13): the worker's time for one upload of a 30 s 1080p30 H.264/AAC clip
# (6 Mbps, made with ffmpeg at bench time): SHA-256 of the file, the inspector child (`marqueed
# media-inspect`: container, codecs, limits, integrity, a JPEG thumbnail within 480×480 from
# the frame 1 s in), storing file and thumbnail. The figure is processingMs from the worker's
# asset_ready log line (not the upload, not the polling). Reference, same file, same run: the
# same work with the stock tools, `ffprobe -show_format -show_streams` + ffmpeg's 480-wide
# thumbnail of the frame 1 s in + `sha256sum`, one wall-clock figure for the three (three
# process starts against marqueed's one child). Identical uploads are deduplicated in the store
# but processed in full each time, so the same clip is uploaded every run. One untimed warm-up
# of each, then BENCH_MEDIA_RUNS (5) alternating runs each; medians.
# ratio = marqueed ms / reference ms: here LOWER is better, the goal is <= 1.5.
bench_media() {
    need_ffmpeg || return 1
    make_tenant
    local dir="$WORK/media" sha i t0 t1
    mkdir -p "$dir"
    local clip="$dir/clip.mp4"
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=s=1920x1080:r=30 \
        -f lavfi -i sine=frequency=440 -t 30 \
        -c:v libx264 -preset veryfast -b:v 6M -maxrate 8M -bufsize 8M -c:a aac \
        -movflags +faststart -y "$clip" ||
        { echo "bench: ffmpeg could not make the clip" >&2; return 1; }
    sha=$(sha256sum "$clip" | cut -d' ' -f1)
    local -a runs_m=() runs_r=()
    for i in $(seq 0 "$MEDIA_RUNS"); do
        upload_asset "$clip" "$sha" || return 1
        t0=${EPOCHREALTIME/[.,]/}
        if ! { ffprobe -v error -show_format -show_streams "$clip" >/dev/null &&
            ffmpeg -nostdin -v error -ss 1 -i "$clip" -frames:v 1 -vf scale=480:-2 \
                -y "$dir/thumb.jpg" &&
            sha256sum "$clip" >/dev/null; }; then
            echo "bench: the media reference failed" >&2
            return 1
        fi
        t1=${EPOCHREALTIME/[.,]/}
        [ "$i" = 0 ] && continue # the warm-up
        runs_m+=("$ASSET_MS")
        runs_r+=("$(((t1 - t0) / 1000)).$(((t1 - t0) % 1000 / 100))")
    done
    local med_m med_r
    med_m=$(printf '%s\n' "${runs_m[@]}" | median)
    med_r=$(printf '%s\n' "${runs_r[@]}" | median)
    awk -v a="$med_m" -v b="$med_r" 'BEGIN {
        printf "media    marqueed processing %.0f ms | ffprobe+ffmpeg+sha256sum %.0f ms" \
            " | ratio %.2f\n", a, b, (b > 0 ? a / b : 0) }'
    # shellcheck disable=SC2016 # an awk program
    local ms='{printf "%s%.0f", (NR > 1 ? " " : ""), $1}'
    printf 'bench: media runs: marqueed [%s] / ffprobe+ffmpeg+sha256sum [%s] ms\n' \
        "$(printf '%s\n' "${runs_m[@]}" | awk "$ms")" \
        "$(printf '%s\n' "${runs_r[@]}" | awk "$ms")" >&2
}

# ---- publish row -------------------------------------------------------------------------------

# api METHOD PATH BODY [HEADER...] — one call to marqueed as the bench tenant admin (BODY: JSON,
# or empty for none); the answer's body goes to $WORK/api.body, its headers to
# $WORK/api.headers; prints the status code.
api() {
    local method=$1 path=$2 body=$3 h
    shift 3
    local -a args=(-s -o "$WORK/api.body" -D "$WORK/api.headers" -w '%{http_code}'
        -X "$method" -H "Authorization: Bearer $TOKEN")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    for h in "$@"; do
        args+=(-H "$h")
    done
    curl "${args[@]}" "$MARQUEED_URL$path"
}

# api_etag — the ETag of the last api answer.
api_etag() {
    sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$WORK/api.headers" | tr -d '\r' | tail -n1
}

# api_fail WHAT CODE — reports an unexpected answer of the last api call; fails.
api_fail() {
    echo "bench: publish: $1 answered $2: $(head -c 600 "$WORK/api.body")" >&2
    return 1
}

# Publish (docs/publishing.md): the latency of POST /v1/library/playlists/{id}/publish for a
# library playlist of 100 items (all the same READY 640x360 JPEG) that is the fallback playlist
# of 50 venues, so that each publish, in one transaction, snapshots the 100 items as a new
# published version, writes the publish event, the audit entry and the change, and bumps the
# manifest epoch of the 50 venues. Every publish names the same draft (If-Match: its ETag),
# publishing it again as the next version. Reference, same run, same server, same load: PUT
# /v1/library/playlists/{id}/presence on the same playlist, an authenticated single-row upsert
# through the same HTTP, auth and store stack. Method: wrk -t1 -c1 -d$BENCH_PUBLISH_DURATION
# (9s) --latency (one client: latency, not throughput), a 1 s warm-up of each (the row stays
# within a minute), RUNS alternating runs each; each figure's p50 and p99 come from the run with
# the median p50. ratio = publish / presence (LOWER is better for marqueed). Publishes/s (= 1 / mean latency at one connection) go to stderr. The
# published versions pile up during the row (thousands, 100 snapshot rows each): the
# per-run figures on stderr show whether publish slows down as they do.
bench_publish() {
    need_ffmpeg || return 1
    make_tenant
    # a fresh access token (15 min): the rows before this one may have taken minutes
    TOKEN=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/login.json" \
        "$MARQUEED_URL/v1/auth/login" | json_str accessToken)
    [ -n "$TOKEN" ] || { echo "bench: publish: login failed" >&2; return 1; }
    local dir="$WORK/publish" code pl etag tid asset body i vid
    mkdir -p "$dir"

    # the asset: one small JPEG, READY
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=s=640x360 -frames:v 1 -y "$dir/x.jpg" ||
        { echo "bench: ffmpeg could not make the JPEG" >&2; return 1; }
    upload_asset "$dir/x.jpg" "$(sha256sum "$dir/x.jpg" | cut -d' ' -f1)" image/jpeg || return 1
    asset=$ASSET_ID

    # the playlist: 100 items naming it, published once
    code=$(api POST /v1/library/playlists '{"name":"Bench publish"}')
    pl=$(json_str playlistId <"$WORK/api.body")
    etag=$(api_etag)
    { [ "$code" = 201 ] && [ -n "$pl" ] && [ -n "$etag" ]; } || api_fail "playlist create" "$code" ||
        return 1
    body=$(awk -v a="$asset" 'BEGIN {
        printf "{\"items\":["
        for (i = 0; i < 100; i++) printf "%s{\"assetId\":\"%s\"}", (i ? "," : ""), a
        printf "]}" }')
    code=$(api PUT "/v1/library/playlists/$pl/items" "$body" "If-Match: $etag")
    etag=$(api_etag)
    { [ "$code" = 200 ] && [ -n "$etag" ] &&
        [ "$(grep -o '"playlistItemId"' "$WORK/api.body" | wc -l)" = 100 ]; } ||
        api_fail "PUT of the 100 items" "$code" || return 1
    code=$(api POST "/v1/library/playlists/$pl/publish" "" "If-Match: $etag")
    [ "$code" = 200 ] || api_fail "the first publish" "$code" || return 1

    # 50 venues, the playlist their fallback
    tid=$(sed -n 's/^tenant \([^ ]*\) created.*/\1/p' "$WORK/tenant.log" | head -n1)
    [ -n "$tid" ] || { echo "bench: publish: no tenant id in $(cat "$WORK/tenant.log")" >&2; return 1; }
    local -a venues=()
    for i in $(seq 1 50); do
        code=$(api POST "/v1/tenants/$tid/venues" \
            "{\"name\":\"Bench venue $i\",\"timezone\":\"Europe/London\"}")
        vid=$(json_str venueId <"$WORK/api.body")
        { [ "$code" = 201 ] && [ -n "$vid" ]; } || api_fail "venue create" "$code" || return 1
        venues+=("$vid")
    done
    # (the route needs a published playlist: hence the first publish above)
    for vid in "${venues[@]}"; do
        code=$(api PUT "/v1/venues/$vid/fallback-playlist" "{\"playlistId\":\"$pl\"}")
        [ "$code" = 200 ] || api_fail "PUT of a venue's fallback playlist" "$code" || return 1
    done
    code=$(api POST "/v1/library/playlists/$pl/publish" "" "If-Match: $etag")
    { [ "$code" = 200 ] && grep -q '"venuesNotified":50[,}]' "$WORK/api.body"; } ||
        api_fail "a publish (not 200 with \"venuesNotified\": 50)" "$code" || return 1
    code=$(api PUT "/v1/library/playlists/$pl/presence" "")
    [ "$code" = 200 ] || api_fail "PUT of the presence" "$code" || return 1

    {
        echo 'wrk.method = "POST"'
        echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
        echo "wrk.headers[\"If-Match\"] = [[$etag]]"
    } >"$dir/publish.lua"
    {
        echo 'wrk.method = "PUT"'
        echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
    } >"$dir/presence.lua"
    publish_runs "$MARQUEED_URL/v1/library/playlists/$pl" "$dir"
    local rc=$?
    WRK_ARGS=()
    return "$rc"
}

# publish_runs PLAYLIST_URL DIR — the wrk runs of the publish row (scripts in DIR), and its line.
publish_runs() {
    local url=$1 dir=$2 i r
    local -a runs_p=() runs_r=()
    for i in $(seq 0 "$RUNS"); do
        local d=$PUBLISH_DURATION
        [ "$i" = 0 ] && d=1s
        WRK_ARGS=(-s "$dir/publish.lua")
        r=$(CONNECTIONS=1 THREADS=1 wrk_once "$url/publish" "$d") || return 1
        [ "$i" = 0 ] || runs_p+=("$r")
        WRK_ARGS=(-s "$dir/presence.lua")
        r=$(CONNECTIONS=1 THREADS=1 wrk_once "$url/presence" "$d") || return 1
        [ "$i" = 0 ] || runs_r+=("$r")
    done
    WRK_ARGS=()
    # the run with the median p50 (field 4) of each: "RPS P99_MS ERRORS P50_MS"
    local med_p med_r
    med_p=$(printf '%s\n' "${runs_p[@]}" | sort -g -k4,4 | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
    med_r=$(printf '%s\n' "${runs_r[@]}" | sort -g -k4,4 | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
    awk -v a="$med_p" -v b="$med_r" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf "publish  100 items → 50 venues p50 %.2f ms p99 %.2f ms | single-row update" \
            " (presence PUT) p50 %.2f ms p99 %.2f ms | ratio p50 %.1f, p99 %.1f\n",
            x[4], x[2], y[4], y[2], (y[4] > 0 ? x[4] / y[4] : 0), (y[2] > 0 ? x[2] / y[2] : 0)
        printf "bench: publish: %.0f publishes/s, %.0f presence PUTs/s (the median runs)\n",
            x[1], y[1] > "/dev/stderr"
        if (x[3] > 0 || y[3] > 0)
            printf "bench: publish warning: errors or non-2xx answers in the median runs:" \
                " publish %d, presence %d\n", x[3], y[3] > "/dev/stderr" }'
    # shellcheck disable=SC2016 # an awk program
    local fmt='{printf "%s%.0f/s p50 %.2f p99 %.2f", (NR > 1 ? ", " : ""), $1, $4, $2}'
    printf 'bench: publish runs: publish [%s] / presence PUT [%s] (ms)\n' \
        "$(printf '%s\n' "${runs_p[@]}" | awk "$fmt")" \
        "$(printf '%s\n' "${runs_r[@]}" | awk "$fmt")" >&2
}

# ---- manifest rows (manifest304, manifest200) --------------------------------------------------

# The player's manifest (docs/player.md): GET /v1/player/manifest with a device token, 2,000
# devices of one venue whose fallback is a published one-item playlist (the JPEG of the publish
# row). Devices have no API yet: they are inserted into the store with the sqlite3 CLI, and
# their tokens (HS256 JWTs, §25.3 device claims) are signed here with python3 from the key file
# marqueed made (<data_dir>/jwt-keys; the first key signs). Every request takes the next token
# (a wrk Lua script for manifest200, curl-load's --headers-file for manifest304), so each
# request verifies a different JWT and loads a different device. All the devices share one
# manifest ETag (same epoch, playlist, validity, default settings). Its validToUtc is the hour
# before the resolver's 6-hour horizon, so the ETag holds for up to an hour and changes on the
# hour. Both targets get the same headers (Authorization, If-None-Match for the 304 row); only
# the ETag named differs (marqueed's or nginx's for its file).
MANIFEST_DIR="" MANIFEST_ETAG="" MANIFEST_TOKEN="" MANIFEST_VENUE="" PLAYER_DIR=""
manifest_setup() {
    [ -n "$MANIFEST_DIR" ] && return 0
    need_ffmpeg || return 1
    command -v sqlite3 >/dev/null || { echo "bench: missing sqlite3 (apt-get install sqlite3)" >&2; return 1; }
    command -v python3 >/dev/null || { echo "bench: missing python3" >&2; return 1; }
    make_tenant
    # a fresh access token (15 min): the rows before this one may have taken minutes
    TOKEN=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/login.json" \
        "$MARQUEED_URL/v1/auth/login" | json_str accessToken)
    [ -n "$TOKEN" ] || { echo "bench: manifest: login failed" >&2; return 1; }
    local dir="$WORK/manifest" code pl etag tid vid
    mkdir -p "$dir"

    # one READY JPEG, a playlist of one item naming it, published, the fallback of one venue
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=s=640x360 -frames:v 1 -y "$dir/x.jpg" ||
        { echo "bench: ffmpeg could not make the JPEG" >&2; return 1; }
    upload_asset "$dir/x.jpg" "$(sha256sum "$dir/x.jpg" | cut -d' ' -f1)" image/jpeg || return 1
    code=$(api POST /v1/library/playlists '{"name":"Bench manifest"}')
    pl=$(json_str playlistId <"$WORK/api.body")
    etag=$(api_etag)
    { [ "$code" = 201 ] && [ -n "$pl" ] && [ -n "$etag" ]; } || api_fail "playlist create" "$code" ||
        return 1
    code=$(api PUT "/v1/library/playlists/$pl/items" "{\"items\":[{\"assetId\":\"$ASSET_ID\"}]}" \
        "If-Match: $etag")
    etag=$(api_etag)
    { [ "$code" = 200 ] && [ -n "$etag" ]; } || api_fail "PUT of the item" "$code" || return 1
    code=$(api POST "/v1/library/playlists/$pl/publish" "" "If-Match: $etag")
    [ "$code" = 200 ] || api_fail "the publish" "$code" || return 1
    tid=$(sed -n 's/^tenant \([^ ]*\) created.*/\1/p' "$WORK/tenant.log" | head -n1)
    [ -n "$tid" ] || { echo "bench: manifest: no tenant id in $(cat "$WORK/tenant.log")" >&2; return 1; }
    code=$(api POST "/v1/tenants/$tid/venues" '{"name":"Bench manifest venue","timezone":"Europe/London"}')
    vid=$(json_str venueId <"$WORK/api.body")
    { [ "$code" = 201 ] && [ -n "$vid" ]; } || api_fail "venue create" "$code" || return 1
    code=$(api PUT "/v1/venues/$vid/fallback-playlist" "{\"playlistId\":\"$pl\"}")
    [ "$code" = 200 ] || api_fail "PUT of the venue's fallback playlist" "$code" || return 1
    MANIFEST_VENUE=$vid

    # 2,000 devices (one INSERT) and their tokens: a Lua table for wrk, a header line each for
    # curl-load (headers.txt), the first also in tokens.first. They carry the header marqueed
    # writes (taken from the access token), as the device tokens pairing issues will.
    python3 - "$WORK/marqueed/data/jwt-keys" "$tid" "$vid" "$dir" 2000 "${TOKEN%%.*}" <<'PY' || return 1
import base64, hashlib, hmac, json, sys, time, uuid
keys, tid, vid, out, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
header = sys.argv[6]
line = next(l.strip() for l in open(keys) if l.strip() and not l.lstrip().startswith("#"))
kid, secret = line.split(":", 1)
key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
enc = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())
now = int(time.time())
ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
dids = [str(uuid.uuid4()) for _ in range(n)]
toks = []
for did in dids:
    signing = header + "." + enc({
        "typ": "device", "did": did, "vid": vid, "tid": tid, "iss": "marquee",
        "aud": "marquee-api", "iat": now, "exp": now + 86400})
    toks.append(signing + "." + b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()))
with open(out + "/devices.sql", "w") as f:
    f.write(".timeout 10000\nINSERT INTO devices (device_id, tenant_id, venue_id, name, "
            "created_at_utc, updated_at_utc) VALUES\n")
    f.write(",\n".join("('%s','%s','%s','Bench screen %d','%s','%s')" % (d, tid, vid, i, ts, ts)
                       for i, d in enumerate(dids)) + ";\n")
with open(out + "/tokens.lua", "w") as f:
    f.write("tokens = {\n" + ",\n".join('"%s"' % t for t in toks) + "\n}\n")
with open(out + "/headers.txt", "w") as f:
    f.write("".join("Authorization: Bearer %s\n" % t for t in toks))
with open(out + "/tokens.first", "w") as f:
    f.write(toks[0])
PY
    sqlite3 "$WORK/marqueed/data/marquee.db" <"$dir/devices.sql" ||
        { echo "bench: manifest: the INSERT of the devices failed" >&2; return 1; }
    [ "$(sqlite3 "$WORK/marqueed/data/marquee.db" \
        "SELECT count(*) FROM devices WHERE venue_id = '$vid'")" = 2000 ] ||
        { echo "bench: manifest: not 2,000 devices in the venue" >&2; return 1; }
    MANIFEST_TOKEN=$(cat "$dir/tokens.first")

    # the manifest (200, the playlist), then its ETag answers 304, for the last device too; the
    # ETag changes on the hour (validToUtc), which may fall in between: up to 3 tries
    local last ok=""
    last=$(sed -n '$s/^"\(.*\)",\{0,1\}$/\1/p' <(grep '^"' "$dir/tokens.lua"))
    for _ in 1 2 3; do
        code=$(curl -s -o "$dir/manifest.body" -D "$dir/manifest.headers" -w '%{http_code}' \
            -H "Authorization: Bearer $MANIFEST_TOKEN" "$MARQUEED_URL/v1/player/manifest")
        MANIFEST_ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$dir/manifest.headers" | tr -d '\r' | tail -n1)
        if [ "$code" != 200 ] || [ -z "$MANIFEST_ETAG" ] ||
            ! grep -q "\"playlistId\":\"$pl\"" "$dir/manifest.body"; then
            echo "bench: manifest: GET answered $code (ETag ${MANIFEST_ETAG:-none}):" \
                "$(head -c 600 "$dir/manifest.body")" >&2
            return 1
        fi
        ok=yes
        for tok in "$MANIFEST_TOKEN" "$last"; do
            code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
                -H "If-None-Match: $MANIFEST_ETAG" "$MARQUEED_URL/v1/player/manifest")
            [ "$code" = 304 ] || ok=""
        done
        [ -n "$ok" ] && break
    done
    [ -n "$ok" ] || { echo "bench: manifest: If-None-Match answered $code, not 304" >&2; return 1; }
    echo "bench: manifest: 2,000 devices, ETag $MANIFEST_ETAG, 200 body $(stat -c %s "$dir/manifest.body") bytes" >&2
    MANIFEST_DIR=$dir
}

# manifest_lua FILE — the wrk script of manifest200: every request the next device token, each
# thread from its own place in the tokens. The answers by status go to $MANIFEST_DIR/status.log,
# a line per wrk run: "PATH 304s 200s others" (curl_load_once writes the same lines).
manifest_lua() {
    local file=$1
    {
        cat "$MANIFEST_DIR/tokens.lua"
        echo "local status_log = [[$MANIFEST_DIR/status.log]]"
        cat <<'EOF'
local n = #tokens
local i = 0
local threads = {}
c304, c200, cother = 0, 0, 0
function setup(thread)
    thread:set("start", #threads * 997)
    table.insert(threads, thread)
end
function init(args)
    i = (start or 0) % n
end
function request()
    i = i % n + 1
    return wrk.format("GET", nil, {Authorization = "Bearer " .. tokens[i]})
end
function response(status, headers, body)
    if status == 304 then c304 = c304 + 1
    elseif status == 200 then c200 = c200 + 1
    else cother = cother + 1 end
end
function done(summary, latency, requests)
    local a, b, c = 0, 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("c304"); b = b + t:get("c200"); c = c + t:get("cother")
    end
    local f = io.open(status_log, "a")
    f:write(string.format("%s %d %d %d\n", wrk.path, a, b, c))
    f:close()
end
EOF
    } >"$file"
}

# manifest_status LABEL — the answers by status of the runs logged since the last call, on stderr.
manifest_status() {
    awk -v row="$1" '{ p = ($1 == "/v1/player/manifest") ? "marqueed" : "nginx"
        a[p] += $2; b[p] += $3; c[p] += $4 }
        END { printf "bench: %s answers (all runs): marqueed 304 %d, 200 %d, other %d |" \
            " nginx 304 %d, 200 %d, other %d\n", row, a["marqueed"], b["marqueed"], c["marqueed"],
            a["nginx"], b["nginx"], c["nginx"] > "/dev/stderr" }' "$MANIFEST_DIR/status.log"
    rm -f "$MANIFEST_DIR/status.log"
}

# manifest304: marqueed's 304 (device JWT verified, device loaded from the store, the manifest
# resolved and its ETag compared: docs/player.md) against nginx's 304 for a small static file
# (its own ETag in If-None-Match). Goal: ratio >= 0.8.
# Both targets are driven by bench/curl-load, not wrk: marqueed's 304 carries the 200's
# Content-Length (RFC 9110 §8.6 allows it; libmicrohttpd always sends it) and wrk 4.1 waits for
# that body forever, where libcurl knows a 304 has none. With --inm-follow each connection sends
# the last ETag it was answered, as a player does, so a change on the hour costs one 200 each.
M304_NGINX_ETAG=""
bench_manifest304() {
    manifest_setup || return 1
    start_nginx_with_file m304.json "$MANIFEST_DIR/manifest.body"
    local netag code
    netag=$(curl -s -o /dev/null -D - "$NGINX_URL/m304.json" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tr -d '\r')
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $netag" "$NGINX_URL/m304.json")
    { [ -n "$netag" ] && [ "$code" = 304 ]; } ||
        { echo "bench: manifest304: nginx answered $code to If-None-Match: ${netag:-no ETag}" >&2; return 1; }
    M304_NGINX_ETAG=$netag LOAD_ONCE=manifest304_once STATUS_LOG="$MANIFEST_DIR/status.log"
    compare_row manifest304 marqueed "$MARQUEED_URL/v1/player/manifest" "nginx 304" "$NGINX_URL/m304.json"
    local rc=$?
    LOAD_ONCE=wrk_once STATUS_LOG=""
    manifest_status manifest304
    return "$rc"
}

# manifest304_once URL DURATION — curl_load_once with every device token in turn and, as the
# first If-None-Match, the ETag of URL's target (marqueed's manifest, or nginx's file).
manifest304_once() {
    local etag=$M304_NGINX_ETAG
    [ "${1#"$MARQUEED_URL"/}" != "$1" ] && etag=$MANIFEST_ETAG
    curl_load_once "$1" "$2" --headers-file "$MANIFEST_DIR/headers.txt" --inm-follow \
        -H "If-None-Match: $etag"
}

# manifest200: marqueed's full manifest (the same work, plus the playlist's item with its signed
# URL, the JSON body) against nginx serving a static file of the same size (marqueed's body).
# Goal: ratio >= 0.5.
bench_manifest200() {
    manifest_setup || return 1
    # the body now (the media URL is re-signed on the hour: same size)
    local code
    code=$(curl -s -o "$MANIFEST_DIR/m200.json" -w '%{http_code}' \
        -H "Authorization: Bearer $MANIFEST_TOKEN" "$MARQUEED_URL/v1/player/manifest")
    [ "$code" = 200 ] || { echo "bench: manifest200: GET answered $code" >&2; return 1; }
    start_nginx_with_file m200.json "$MANIFEST_DIR/m200.json"
    [ "$(curl -s "$NGINX_URL/m200.json" | wc -c)" = "$(stat -c %s "$MANIFEST_DIR/m200.json")" ] ||
        { echo "bench: manifest200: nginx does not serve the manifest body" >&2; return 1; }
    manifest_lua "$MANIFEST_DIR/m200.lua"
    WRK_ARGS=(-s "$MANIFEST_DIR/m200.lua")
    compare_row manifest200 marqueed "$MARQUEED_URL/v1/player/manifest" "nginx static" "$NGINX_URL/m200.json"
    local rc=$?
    WRK_ARGS=()
    manifest_status manifest200
    return "$rc"
}

# ---- telemetry rows (heartbeat, events) ---------------------------------------------------------

# The players' reports (docs/devices.md), against marqueed's manifest 304 in the same run (the
# issue's reference: what a poll costs), both driven by curl-load with the 2,000 devices of the
# manifest rows, every request the next device's token. Spec scale: 50,000 devices reporting
# every 60 s is 833 heartbeats a second; the row says how far the measured rate is from it.
#   heartbeat  POST /v1/player/heartbeat, the full §27.8.2 body plus a sync status: each one a
#              transaction that reads the device and upserts its status row.
#   events     POST /v1/player/events, batches of 100 events (every type of §27.8.3 in turn),
#              each event id new ("{n}" in the body: curl-load numbers every request), so every
#              batch inserts 100 rows.
TELEMETRY_BODY=""
telemetry_once() {
    if [ "${1#"$MARQUEED_URL"/v1/player/manifest}" != "$1" ]; then
        manifest304_once "$@"
        return
    fi
    curl_load_once "$1" "$2" --headers-file "$MANIFEST_DIR/headers.txt" --body "$TELEMETRY_BODY" \
        -H "Content-Type: application/json"
}

# telemetry_row ROW PATH NAME BODY PER — the row, and on stderr the rate against spec scale
# (PER: reports per request).
telemetry_row() {
    local row=$1 path=$2 name=$3 body=$4 per=$5 line
    TELEMETRY_BODY=$body LOAD_ONCE=telemetry_once
    line=$(compare_row "$row" "$name" "$MARQUEED_URL$path" "manifest 304" \
        "$MARQUEED_URL/v1/player/manifest")
    local rc=$?
    LOAD_ONCE=wrk_once TELEMETRY_BODY=""
    [ "$rc" = 0 ] || return "$rc"
    echo "$line"
    echo "$line" | awk -v row="$row" -v per="$per" '{ split($0, part, "|")
            n = split(part[1], t, " "); rps = t[n - 4] + 0 }
        END { printf "bench: %s: %.0f reports/s; spec scale (50,000 devices every 60 s) is" \
            " 833/s: %.1fx that\n", row, rps * per, rps * per / 833 > "/dev/stderr" }'
}

bench_heartbeat() {
    manifest_setup || return 1
    local now
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    cat >"$MANIFEST_DIR/heartbeat.json" <<EOF
{"deviceTime":"$now","appVersion":"1.2.0","state":"PLAYING","manifestEtag":"m-0123456789abcdef0123456789abcdef","playback":{"playlistId":"00000000-0000-4000-8000-000000000001","publishedVersion":3,"currentAssetId":"00000000-0000-4000-8000-000000000002","currentItemIndex":0,"loopCount":14},"cache":{"totalBytes":2000000000,"usedBytes":524288000,"assetCount":12,"pendingDownloads":0},"network":{"connected":true,"type":"ETHERNET","lastSyncAtUtc":"$now"},"errors":{"playbackFailures":0,"downloadFailures":0,"manifestFetchFailures":0},"syncStatus":"SYNCED"}
EOF
    telemetry_row heartbeat /v1/player/heartbeat "POST heartbeat" "$MANIFEST_DIR/heartbeat.json" 1
}

bench_events() {
    manifest_setup || return 1
    local now
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    python3 - "$now" >"$MANIFEST_DIR/events.json" <<'PY' || return 1
import json, sys
now = sys.argv[1]
types = [("APP_STARTED", "INFO"), ("PLAYBACK_FAILED", "ERROR"), ("DOWNLOAD_FAILED", "WARNING"),
         ("MANIFEST_FETCH_FAILED", "WARNING"), ("MANIFEST_STAGED", "INFO"),
         ("MANIFEST_APPLIED", "INFO"), ("CACHE_EVICTION", "INFO")]
events = []
for i in range(100):
    t, sev = types[i % len(types)]
    events.append({"eventId": "b{n}-%d" % i, "eventType": t, "eventTimeUtc": now,
                   "severity": sev, "payload": {"assetId": "00000000-0000-4000-8000-000000000002",
                                                "reason": "bench", "retryCount": i % 4}})
print(json.dumps({"deviceTime": now, "events": events}, separators=(",", ":")))
PY
    telemetry_row events /v1/player/events "POST 100 events" "$MANIFEST_DIR/events.json" 100
}

# ---- player rows (coldstart, rss) ------------------------------------------------------------
# One marquee-player (headless) paired into the manifest rows' venue, whose fallback playlist is
# one JPEG: player_setup pairs it (the code from `status --json`, claimed through the API) and
# lets it download and play, then stops it, leaving a warm data directory: a token, a current
# manifest, a verified cache.

# player_start DIR — starts the player on DIR in the background (PLAYER_PID), its log DIR.log.
player_start() {
    "$PLAYER" --server "$MARQUEED_URL" --data-dir "$1" --log-level warn >/dev/null 2>>"$1.log" &
    PLAYER_PID=$!
    PIDS+=("$PLAYER_PID")
}

# player_stop — SIGTERM, and waits.
player_stop() {
    kill -TERM "$PLAYER_PID" 2>/dev/null
    wait "$PLAYER_PID" 2>/dev/null
    pids_forget "$PLAYER_PID"
}

# first_start TIMELINE — waits (10 s at most) for the first "start" line; prints its "t".
first_start() {
    local i t
    for i in $(seq 1 1000); do
        t=$(grep -m1 '"event":"start"' "$1" 2>/dev/null | sed -n 's/.*"t":\([0-9]*\).*/\1/p')
        [ -n "$t" ] && { echo "$t"; return 0; }
        sleep 0.01
    done
    return 1
}

player_setup() {
    [ -n "$PLAYER_DIR" ] && return 0
    [ -x "$PLAYER" ] || { echo "bench: missing $PLAYER (make build)" >&2; return 1; }
    manifest_setup || return 1
    local dir="$WORK/player" code="" i
    rm -rf "$dir" && mkdir -p "$dir"
    player_start "$dir"
    for i in $(seq 1 100); do
        code=$("$PLAYER" status --data-dir "$dir" --json | json_str pairingCode)
        [ -n "$code" ] && break
        sleep 0.1
    done
    [ -n "$code" ] || { echo "bench: player: no pairing code: $(cat "$dir.log")" >&2; return 1; }
    code=$(api POST "/v1/venues/$MANIFEST_VENUE/devices/pairing/claim" \
        "{\"pairingCode\":\"$code\",\"name\":\"Bench player\"}")
    [ "$code" = 201 ] || api_fail "the pairing claim" "$code" || return 1
    first_start "$dir/timeline.jsonl" >/dev/null ||
        { echo "bench: player: nothing played: $(tail -n 20 "$dir.log")" >&2; player_stop; return 1; }
    player_stop
    PLAYER_DIR=$dir
}

# Cold start with a warm cache: from the exec of marquee-player to the first "start" line of its
# timeline (its own clock, ms), with the server up; PLAYER_RUNS runs, the median. Reference: the
# wall time of `marquee-player status --data-dir` on the same directory — a process that starts,
# reads the same manifests and cache directory, prints and exits.
bench_coldstart() {
    player_setup || return 1
    local i t0 t1 s0 s1
    local -a runs=() refs=()
    for i in $(seq 1 "$PLAYER_RUNS"); do
        rm -f "$PLAYER_DIR/timeline.jsonl"
        t0=$(date +%s%3N)
        player_start "$PLAYER_DIR"
        t1=$(first_start "$PLAYER_DIR/timeline.jsonl") ||
            { echo "bench: coldstart: nothing played: $(tail -n 20 "$PLAYER_DIR.log")" >&2; player_stop; return 1; }
        player_stop
        runs+=("$((t1 - t0))")
        s0=$(date +%s%N)
        "$PLAYER" status --data-dir "$PLAYER_DIR" --json >/dev/null
        s1=$(date +%s%N)
        refs+=("$(((s1 - s0) / 1000000))")
    done
    local med ref
    med=$(printf '%s\n' "${runs[@]}" | median)
    ref=$(printf '%s\n' "${refs[@]}" | median)
    awk -v a="$med" -v b="$ref" 'BEGIN {
        printf "coldstart player exec to first start %d ms | marquee-player status %d ms | ratio %s" \
            "   goal < 200 ms: %s\n", a, b, (b > 0 ? sprintf("%.2f", a / b) : "n/a"),
            (a < 200 ? "met" : "NOT met") }'
    echo "bench: coldstart runs (ms): [${runs[*]}], status [${refs[*]}]" >&2
}

# Idle RSS: the player PLAYING its warm cache (one image, re-shown every 10 s), 5 s after its
# first start, VmRSS from /proc; PLAYER_RUNS / 2 runs, the median. Reference: an nginx worker
# of the bench's nginx, idle, at the same moment.
bench_rss() {
    player_setup || return 1
    start_nginx
    local i rss ref worker
    local -a runs=() refs=()
    worker=$(pgrep -f 'nginx: worker' | head -n1)
    for i in $(seq 1 $(((PLAYER_RUNS + 1) / 2))); do
        rm -f "$PLAYER_DIR/timeline.jsonl"
        player_start "$PLAYER_DIR"
        first_start "$PLAYER_DIR/timeline.jsonl" >/dev/null || { player_stop; return 1; }
        sleep 5
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PLAYER_PID/status")
        ref=$(awk '/^VmRSS:/ {print $2}' "/proc/$worker/status" 2>/dev/null || echo 0)
        player_stop
        runs+=("$rss") refs+=("$ref")
    done
    local med medr
    med=$(printf '%s\n' "${runs[@]}" | median)
    medr=$(printf '%s\n' "${refs[@]}" | median)
    awk -v a="$med" -v b="$medr" 'BEGIN {
        printf "rss      player idle %.1f MB | nginx worker idle %.1f MB | ratio %s" \
            "   goal < 16 MB: %s\n", a / 1024, b / 1024, (b > 0 ? sprintf("%.2f", a / b) : "n/a"),
            (a / 1024 < 16 ? "met" : "NOT met") }'
    echo "bench: rss runs (KiB): [${runs[*]}], nginx worker [${refs[*]}]" >&2
}

# ---- player rows (download, resume) ------------------------------------------------------------

# marquee-player's download engine (src/player/download.c) driven by bench/player-dl, against
# the curl command line, both fetching from the nginx above on loopback: BENCH_DL_FILES (4)
# files of BENCH_DL_MB (20) MB of random bytes (MB = 10^6 bytes), made at bench time with head
# -c from /dev/urandom and served under /dl/ (sendfile on, a log line per request with
# $body_bytes_sent: dl.log). A quick run, as for the other rows: BENCH_RUNS=1 (the download row
# also takes a smaller BENCH_DL_MB; the resume row does not, see there).
DL_DIR="" DL_BYTES=0
DL_SHAS=()
dl_setup() {
    [ -n "$DL_DIR" ] && return 0
    [ -x "$PLAYER_DL" ] || { echo "bench: missing $PLAYER_DL (make build)" >&2; return 1; }
    command -v openssl >/dev/null || { echo "bench: missing openssl" >&2; return 1; }
    local dir="$WORK/dl" i
    mkdir -p "$dir" "$WORK/nginx/html/dl"
    DL_BYTES=$((DL_MB * 1000000))
    for i in $(seq 0 $((DL_FILES - 1))); do
        head -c "$DL_BYTES" /dev/urandom >"$WORK/nginx/html/dl/f$i.bin" ||
            { echo "bench: could not make the download files" >&2; return 1; }
        DL_SHAS+=("$(sha256_of "$WORK/nginx/html/dl/f$i.bin")")
    done
    start_nginx
    DL_DIR=$dir
}

# sha256_of FILE — its SHA-256 in hex, by OpenSSL (as the engine's cache computes it).
sha256_of() {
    openssl dgst -sha256 -r "$1" | cut -d' ' -f1
}

# dl_sent URI N — the body bytes nginx sent for URI over its N requests (waits up to ~10 s for
# the N lines: nginx logs an aborted response once it notices the client is gone).
dl_sent() {
    local uri=$1 n=$2 i lines
    for i in $(seq 1 100); do
        lines=$(awk -v u="$uri" '$1 == u' "$WORK/nginx/dl.log" 2>/dev/null | wc -l)
        [ "$lines" -ge "$n" ] && break
        sleep 0.1
    done
    [ "$lines" -ge "$n" ] ||
        { echo "bench: nginx logged $lines requests for $uri, not $n" >&2; return 1; }
    awk -v u="$uri" '$1 == u { s += $3 } END { printf "%d\n", s }' "$WORK/nginx/dl.log"
}

# elapsed_s T0 T1 — seconds between two $EPOCHREALTIME stamps.
elapsed_s() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", b - a }'
}

# Download throughput. Each run fetches the BENCH_DL_FILES files into a fresh directory, two at
# a time on each side (the engine's default max_active; curl --parallel-max 2), and times the
# whole command on the wall clock, process start included on both sides.
#   player  bench/player-dl: the engine with its defaults (a new cache; per file: GET, write()
#           to DIR/tmp/<id>.part, then cache_commit(): fsync, SHA-256 of the file read back,
#           rename into DIR/assets/, fsync of both directories, the SQLite row, synchronous=FULL).
#   curl    `curl --no-progress-meter --fail --parallel --parallel-max 2 -o FILE URL…` (no
#           progress meter, errors still shown — -s does not silence --parallel's meter in curl
#           7.88; -o: to files in a fresh directory on the same filesystem, not /dev/null),
#           THEN `sync FILE…` (fsync of each) and `openssl dgst -sha256` of each, compared with
#           the source's. The reference does the work the engine must do before an asset counts
#           as downloaded — on disk, durable, verified — or the ratio would charge the engine
#           for its fsync and its hash rather than measure how it downloads. OpenSSL, not
#           sha256sum: the engine hashes with OpenSSL (SHA-NI: ~1.8 GB/s here), coreutils'
#           sha256sum runs at ~260 MB/s and would flatter the engine. The curl part alone is
#           timed too and shown on stderr (what the engine's extra durability costs).
# One untimed warm-up of each, then RUNS alternating runs each; medians.
# ratio = player MB/s / curl MB/s (higher is better; the goal is >= 0.9).
bench_download() {
    dl_setup || return 1
    local total=$((DL_FILES * DL_BYTES)) i
    local -a runs_p=() runs_c=() runs_cc=() runs_pi=()
    for i in $(seq 0 "$RUNS"); do
        dl_player_once || return 1
        [ "$i" = 0 ] || { runs_p+=("$DL_WALL"); runs_pi+=("$DL_INNER"); }
        dl_curl_once || return 1
        [ "$i" = 0 ] || { runs_c+=("$DL_WALL"); runs_cc+=("$DL_INNER"); }
    done
    local med_p med_c med_cc med_pi
    med_p=$(printf '%s\n' "${runs_p[@]}" | median)
    med_c=$(printf '%s\n' "${runs_c[@]}" | median)
    med_pi=$(printf '%s\n' "${runs_pi[@]}" | median)
    med_cc=$(printf '%s\n' "${runs_cc[@]}" | median)
    awk -v a="$med_p" -v b="$med_c" -v t="$total" -v n="$DL_FILES" -v mb="$DL_MB" 'BEGIN {
        printf "download player engine (write, fsync, SHA-256, commit) %.0f MB/s |" \
            " curl --parallel-max 2 -o + sync + openssl sha256 %.0f MB/s | ratio %.2f" \
            " (%d × %d MB, 2 at a time)\n",
            t / a / 1e6, t / b / 1e6, (a > 0 ? b / a : 0), n, mb }'
    # shellcheck disable=SC2016 # an awk program
    local mbs='{printf "%s%.0f", (NR > 1 ? " " : ""), t / $1 / 1e6}'
    printf 'bench: download runs: player [%s] / curl+sync+sha256 [%s] MB/s;' \
        "$(printf '%s\n' "${runs_p[@]}" | awk -v t="$total" "$mbs")" \
        "$(printf '%s\n' "${runs_c[@]}" | awk -v t="$total" "$mbs")" >&2
    printf ' curl alone [%s] MB/s\n' \
        "$(printf '%s\n' "${runs_cc[@]}" | awk -v t="$total" "$mbs")" >&2
    awk -v a="$med_pi" -v c="$med_cc" -v t="$total" 'BEGIN {
        printf "bench: download: player-dl'"'"'s own timer (first dl_add to last result)" \
            " %.0f MB/s; the curl part of the reference alone %.0f MB/s (medians)\n",
            t / a / 1e6, t / c / 1e6 > "/dev/stderr" }'
}

# dl_player_once — one player run: DL_WALL (s, the command), DL_INNER (s, player-dl's timer).
DL_WALL="" DL_INNER=""
dl_player_once() {
    local dir="$DL_DIR/player" i t0 t1 out
    local -a args=()
    for i in $(seq 0 $((DL_FILES - 1))); do
        args+=(--url "$NGINX_URL/dl/f$i.bin" --sha256 "${DL_SHAS[$i]}" --bytes "$DL_BYTES")
    done
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    t0=$EPOCHREALTIME
    out=$("$PLAYER_DL" --cache "$dir" "${args[@]}" 2>"$DL_DIR/player.err") || {
        echo "bench: download: player-dl failed: $out $(cat "$DL_DIR/player.err")" >&2
        return 1
    }
    t1=$EPOCHREALTIME
    DL_WALL=$(elapsed_s "$t0" "$t1")
    DL_INNER=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' <<<"$out")
    case $out in
    *"\"bytes_received\":$((DL_FILES * DL_BYTES))}"*) ;;
    *) echo "bench: download warning: player-dl received other than the files' bytes: $out" >&2 ;;
    esac
    rm -rf "$dir"
}

# dl_curl_once — one reference run: DL_WALL (s, curl + sync + hashes), DL_INNER (s, curl alone).
dl_curl_once() {
    local dir="$DL_DIR/curl" i t0 t1 t2 sha
    local -a args=() files=()
    for i in $(seq 0 $((DL_FILES - 1))); do
        args+=(-o "$dir/f$i.bin" "$NGINX_URL/dl/f$i.bin")
        files+=("$dir/f$i.bin")
    done
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    t0=$EPOCHREALTIME
    curl --no-progress-meter --fail --parallel --parallel-max 2 "${args[@]}" ||
        { echo "bench: download: curl failed" >&2; return 1; }
    t1=$EPOCHREALTIME
    sync "${files[@]}" || return 1
    i=0
    while read -r sha _; do
        [ "$sha" = "${DL_SHAS[$i]}" ] ||
            { echo "bench: download: curl's file $i has SHA-256 $sha" >&2; return 1; }
        i=$((i + 1))
    done < <(openssl dgst -sha256 -r "${files[@]}")
    [ "$i" = "$DL_FILES" ] || { echo "bench: download: openssl hashed $i files" >&2; return 1; }
    t2=$EPOCHREALTIME
    DL_WALL=$(elapsed_s "$t0" "$t2")
    DL_INNER=$(elapsed_s "$t0" "$t1")
    rm -rf "$dir"
}

# Resume after a kill -9 (§33.3.4): the bytes fetched twice when a download of one BENCH_DL_MB
# file is killed half-way and run again. Each side fetches the first file at a capped rate,
# BENCH_RESUME_RATE (8,000,000 B/s) for its one transfer, so that it can be caught; a poll of
# the file being written (every 10 ms) cuts it once it holds >= 50% of the bytes; then the same
# command runs again, uncapped, to the end, and the result must have the source's SHA-256.
# Re-fetched = what nginx sent for that file over both requests (its log's $body_bytes_sent;
# the file has its own name each run) − the file's size: the bytes in flight when the process
# died, which the second request sends again.
#   player  bench/player-dl with --max-recv (the engine's max_recv_bytes_s: shared by its
#           max_active 2 transfers, so twice the rate), cut when DIR/tmp/dl0.part holds half;
#           the second run reconciles the cache as a boot does and resumes with Range.
#   curl    `curl -sS --limit-rate RATE -o FILE URL`, cut when FILE holds half, then
#           `curl -sS -C - -o FILE URL` (resumes from FILE's size with Range).
# The cut: SIGSTOP, 0.1 s for the connection to settle, the file's size and the bytes queued in
# the kernel on the connections to nginx (`ss`: nginx's send queue + the client's receive
# queue), then SIGKILL. The stop changes nothing of what the kill loses (no handler runs either
# way) but makes both sizes exact. A client capped by its own reads (libcurl's rate limit stops
# reading) leaves those queues full — nginx's send buffer autotunes up to tcp_wmem's maximum, 4
# MB by default — and any client loses them at a kill; what the client loses on top of them
# ("its own": what it had read but not written) is re-fetched − queued.
# RUNS alternating runs each; the medians. On stderr, each run's file size at the kill.
# ratio = player's own / curl's own (LOWER is better); the goal is <= 1% of the file.
bench_resume() {
    dl_setup || return 1
    command -v ss >/dev/null ||
        { echo "bench: missing ss (apt-get install iproute2)" >&2; return 1; }
    # a smaller file fits in the TCP queues (~5 MB here): it is all read before it can be cut
    [ "$DL_MB" -ge 20 ] ||
        { echo "bench: resume needs BENCH_DL_MB >= 20 (it is $DL_MB)" >&2; return 1; }
    local i
    local -a runs_p=() runs_c=() kills_p=() kills_c=() own_p=() own_c=()
    ln -f "$WORK/nginx/html/dl/f0.bin" "$WORK/nginx/html/dl/resume.src" || return 1
    for i in $(seq 1 "$RUNS"); do
        resume_once player "$i" || return 1
        runs_p+=("$RESUME_REFETCHED") kills_p+=("$RESUME_KILL") own_p+=("$RESUME_OWN")
        resume_once curl "$i" || return 1
        runs_c+=("$RESUME_REFETCHED") kills_c+=("$RESUME_KILL") own_c+=("$RESUME_OWN")
    done
    local med_p med_c med_op med_oc
    med_p=$(printf '%s\n' "${runs_p[@]}" | median)
    med_c=$(printf '%s\n' "${runs_c[@]}" | median)
    med_op=$(printf '%s\n' "${own_p[@]}" | median)
    med_oc=$(printf '%s\n' "${own_c[@]}" | median)
    # The goal figure is what the client had received and fetched again ("its own"): the bytes
    # still in the kernel's queues at the kill never reached the client, and any client — curl
    # too — gets them again; they are printed beside it.
    awk -v a="$med_p" -v b="$med_c" -v oa="$med_op" -v ob="$med_oc" -v size="$DL_BYTES" \
        -v mb="$DL_MB" 'BEGIN {
        printf "resume   player received twice %d B (%.3f%%) | curl -C - received twice %d B" \
            " (%.3f%%) | ratio %s   goal <= 1%%: %s   (kill -9 at 50%% of %d MB; sent again" \
            " from the TCP queues, never received: player %d B, curl %d B)\n", oa,
            oa * 100 / size, ob, ob * 100 / size, (ob > 0 ? sprintf("%.2f", oa / ob) : "n/a"),
            (oa * 100 / size <= 1 ? "met" : "NOT met"), mb, a - oa, b - ob }'
    printf 'bench: resume runs: player [%s] / curl -C - [%s] bytes re-fetched;' \
        "${runs_p[*]}" "${runs_c[*]}" >&2
    printf ' of them the client'"'"'s own: player [%s] / curl [%s]\n' \
        "${own_p[*]}" "${own_c[*]}" >&2
    printf 'bench: resume: at the kill, file bytes / bytes queued in TCP: player [%s] /' \
        "${kills_p[*]}" >&2
    printf ' curl [%s]' "${kills_c[*]}" >&2
    printf ' (file %d bytes)\n' "$DL_BYTES" >&2
}

# resume_once player|curl RUN — one cut-and-resume: RESUME_REFETCHED (bytes), RESUME_OWN (of
# them, not queued in TCP at the kill), RESUME_KILL ("FILE_BYTES/QUEUED" at the kill).
RESUME_REFETCHED="" RESUME_OWN="" RESUME_KILL=""
resume_once() {
    local side=$1 run=$2 name="resume-$1-$2.bin" dir="$DL_DIR/resume-$1" rate=$RESUME_RATE
    local url file sent cut pid at queued
    ln -f "$WORK/nginx/html/dl/resume.src" "$WORK/nginx/html/dl/$name" || return 1
    url="$NGINX_URL/dl/$name"
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    local -a first second
    if [ "$side" = player ]; then
        file="$dir/tmp/dl0.part"
        second=("$PLAYER_DL" --cache "$dir" --url "$url" --sha256 "${DL_SHAS[0]}"
            --bytes "$DL_BYTES")
        first=("${second[@]}" --max-recv $((2 * rate)))
    else
        file="$dir/$name"
        first=(curl -sS --fail --limit-rate "$rate" -o "$file" "$url")
        second=(curl -sS --fail -C - -o "$file" "$url")
    fi
    "${first[@]}" >/dev/null 2>"$dir.err" &
    pid=$!
    PIDS+=("$pid")
    cut=$(cut_at "$file" $((DL_BYTES / 2)) "$pid")
    wait "$pid" 2>/dev/null
    pids_forget "$pid"
    if [ -z "$cut" ]; then
        echo "bench: resume: $side ($run) ended before its file held half the bytes:" \
            "$(cat "$dir.err")" >&2
        return 1
    fi
    read -r at queued <<<"$cut"
    if ! "${second[@]}" >"$dir.out" 2>"$dir.err"; then
        echo "bench: resume: $side ($run) did not finish: $(cat "$dir.out" "$dir.err")" >&2
        return 1
    fi
    [ "$side" = player ] && file="$dir/assets/dl0"
    [ "$(sha256_of "$file")" = "${DL_SHAS[0]}" ] ||
        { echo "bench: resume: $side ($run): the file is not the source" >&2; return 1; }
    sent=$(dl_sent "/dl/$name" 2) || return 1
    RESUME_REFETCHED=$((sent - DL_BYTES))
    RESUME_OWN=$((RESUME_REFETCHED - queued))
    RESUME_KILL="$at/$queued"
    rm -rf "$dir" "$dir.err" "$dir.out" "$WORK/nginx/html/dl/$name"
}

# cut_at FILE BYTES PID — once FILE holds at least BYTES (polled every 10 ms): stops PID, waits
# 0.1 s, prints "FILE_SIZE QUEUED" (QUEUED: the bytes in the kernel's queues of the established
# connections to nginx's port) and SIGKILLs it. Prints nothing when PID ends (or 60 s pass)
# first, or when FILE is gone by then (the player renames its .part when done).
cut_at() {
    local file=$1 bytes=$2 pid=$3 port=${NGINX_URL##*:} i size queued
    for i in $(seq 1 6000); do
        size=$(stat -c %s "$file" 2>/dev/null || echo 0)
        if [ "$size" -ge "$bytes" ]; then
            kill -STOP "$pid" 2>/dev/null || return 0
            sleep 0.1
            size=$(stat -c %s "$file" 2>/dev/null) || { kill -KILL "$pid"; return 0; }
            queued=$(ss -Htn state established "( sport = :$port or dport = :$port )" |
                awk '{q += $1 + $2} END {print q + 0}')
            kill -KILL "$pid"
            echo "$size $queued"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.01
    done
    kill -KILL "$pid" 2>/dev/null
}

# pids_forget PID — drops PID (ended and waited for) from the processes cleanup stops.
pids_forget() {
    local p
    local -a keep=()
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

# ---- main --------------------------------------------------------------------------------------

echo "bench: $(basename "$MARQUEED") from $BUILD, wrk (manifest304, heartbeat, events: curl-load;" \
    "download, resume: player-dl and the curl CLI, $DL_FILES × $DL_MB MB; coldstart, rss:" \
    "marquee-player headless, $PLAYER_RUNS runs)" \
    "-t$THREADS -c$CONNECTIONS -d$DURATION," \
    "median of $RUNS alternating runs, $(nproc) cores" >&2
status=0
for b in "${BENCHES[@]}"; do
    [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $b "* ]] && continue
    "bench_$b" || {
        echo "bench: $b could not run" >&2
        status=1
    }
done
exit $status
