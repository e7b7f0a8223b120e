#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make fuzz: runs the request fuzzer for SECONDS on the kept corpus (tests/fuzz/corpus), then
# merges what it found back into that corpus (smallest inputs that keep the coverage).
# A crash leaves its input as tests/fuzz/crash-* and fails this script.
set -uo pipefail
build=${1:-build-fuzz}
seconds=${2:-600}
here=$(cd "$(dirname "$0")" && pwd)
fuzzer="$PWD/$build/fuzz-request"
work=$(mktemp -d /tmp/marquee-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$here/corpus" "$work/new"
jobs=$(nproc)
echo "fuzz-request: ${seconds}s on $jobs worker(s), corpus $(ls "$here/corpus" | wc -l) inputs"
# run in the scratch dir: with -jobs libFuzzer writes fuzz-N.log files into the current
# directory; crash/leak/timeout inputs go next to this script, where they are checked below
cd "$work"
"$fuzzer" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict="$here/http.dict" -jobs="$jobs" -workers="$jobs" -print_final_stats=1 \
    -artifact_prefix="$here/" "$work/new" "$here/corpus" >"$work/log" 2>&1
rc=$?
grep -h -E '^Done|ERROR|SUMMARY' "$work"/fuzz-*.log 2>/dev/null || true
[ "$rc" -eq 0 ] || tail -n 30 "$work/log"
mkdir -p "$work/merged"
"$fuzzer" -merge=1 -max_len=8192 "$work/merged" "$here/corpus" "$work/new" >/dev/null 2>&1 || true
if [ -n "$(ls -A "$work/merged")" ]; then
    rm -f "$here/corpus"/*
    cp "$work/merged"/* "$here/corpus/"
fi
echo "fuzz-request: corpus now $(ls "$here/corpus" | wc -l) inputs"
ls "$here"/crash-* "$here"/leak-* "$here"/timeout-* 2>/dev/null && exit 1
exit "$rc"
