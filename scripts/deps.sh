#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian package that building, running, testing, benchmarking and fuzzing
# marquee need. Idempotent and non-interactive: it asks dpkg first and only calls apt-get
# (with one `apt-get update`) when something is missing.
set -euo pipefail

PACKAGES=(
    # toolchain and build
    build-essential pkg-config meson ninja-build clang libclang-rt-14-dev clang-format
    # libraries marqueed links
    libmicrohttpd-dev libjansson-dev libjwt-dev libsodium-dev libssl-dev
    libsqlite3-dev libpq-dev zlib1g-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
    # libraries marquee-player links (libcurl also drives bench/curl-load)
    libcurl4-openssl-dev
    # marquee-player: renderer, pairing QR; tests: a real X display
    libmpv-dev libqrencode-dev xvfb
    # test media is made at test time with the ffmpeg command-line tool (also the bench reference)
    ffmpeg
    # tests: unit, API (node:test), PostgreSQL server started by the harness
    libcmocka-dev nodejs postgresql curl ca-certificates procps util-linux
    # benchmarks
    wrk nginx-light
    # the player rows: ss (the resume row's TCP queues), the openssl CLI (SHA-256 as the engine)
    iproute2 openssl
    # scenario suites: the sqlite3 CLI reads a player's cache index (DIR/cache.db)
    sqlite3
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root (or install them) first" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Do not let package scripts start services (nginx, postgresql) on this machine: the
# test harness and the benchmarks start their own on free loopback ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
