#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fails (and so fails the build) when a source file calls a banned function:
# strcpy, sprintf, strtok, atoi, gets. Use the bounded or strict alternatives
# (snprintf, strtok_r, parse_int64, fgets / getline) instead.
set -euo pipefail
root=$1
stamp=$2
pattern='(^|[^A-Za-z0-9_.>])(strcpy|sprintf|vsprintf|strtok|atoi|atol|atoll|gets|strcat)[[:space:]]*\('
hits=$(grep -rnE "$pattern" "$root/src" "$root/tests" --include='*.c' --include='*.h' || true)
if [ -n "$hits" ]; then
    echo "banned function used (see scripts/check-banned.sh):" >&2
    echo "$hits" >&2
    exit 1
fi
touch "$stamp"
