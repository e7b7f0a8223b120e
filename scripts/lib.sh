# SPDX-License-Identifier: MIT
# Shell helpers shared by the test harness and the benchmarks. Source it; it defines only
# functions.

# Prints a TCP port that nobody on 127.0.0.1 listens on right now (callers retry on a race).
free_port() {
    local p i
    for i in $(seq 1 100); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
