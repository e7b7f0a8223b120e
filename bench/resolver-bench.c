/* SPDX-License-Identifier: MIT */
/*
 * resolver-bench.c — mean time of one schedule resolution (resolver.h) for a venue with 2,000
 * published slots over 100 groups in Europe/London, against the brute-force reference
 * (tests/unit/server/resolver/bruteforce.c) on the same inputs in the same run. Instants are
 * spread over 2026 and 2027, DST changes included. The index is built once, as marqueed does
 * per (venue, published version); its build time is printed too.
 *
 * Prints one line: "resolver N ns/resolution | brute force N ns | ratio N.Nx" (how many times
 * faster the resolver is). Exits 1 if the two disagree on any instant measured.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/unit/server/resolver/bruteforce.h"
#include "resolver/resolver.h"
#include "tz.h"

#define SLOTS    2000
#define GROUPS   100
#define INSTANTS 1024
#define RESOLVES 400000
#define BRUTE    40

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char slot_ids[SLOTS][16], group_ids[GROUPS][16], playlist_ids[50][16];

int main(void)
{
    static struct resolver_slot slots[SLOTS];
    const struct tz *london = NULL;
    if (tz_get("Europe/London", &london) < 0) {
        fprintf(stderr, "no Europe/London in the tz database\n");
        return 1;
    }
    for (int g = 0; g < GROUPS; g++)
        snprintf(group_ids[g], sizeof(group_ids[g]), "group-%03d", g);
    for (int p = 0; p < 50; p++)
        snprintf(playlist_ids[p], sizeof(playlist_ids[p]), "playlist-%02d", p);
    for (int i = 0; i < SLOTS; i++) {
        snprintf(slot_ids[i], sizeof(slot_ids[i]), "slot-%04d", i);
        slots[i] = (struct resolver_slot){
            .slot_id = slot_ids[i],
            .target_type = RESOLVER_TARGET_GROUP,
            .target_id = group_ids[i % GROUPS],
            .playlist_id = playlist_ids[rnd(50)],
            .playlist_version = 1 + rnd(5),
            .days_mask = rnd(3) == 0 ? 127 : 1 + rnd(127),
            .start_minutes = (int)rnd(96) * 15,
            .end_minutes = (int)rnd(96) * 15,
            .priority = (int)rnd(10),
            .enabled = rnd(20) != 0,
            .updated_at_ms = 1767225600000 + (int64_t)rnd(1000000) * 1000,
        };
    }

    double t0 = now_ns();
    struct resolver_index *idx = NULL;
    if (resolver_index_build(slots, SLOTS, &idx) < 0)
        return 1;
    double build_ns = now_ns() - t0;

    static int64_t instants[INSTANTS];
    static char device_ids[INSTANTS][16];
    static struct resolver_input inputs[INSTANTS];
    for (int i = 0; i < INSTANTS; i++) {
        instants[i] = 1767225600 + (int64_t)rnd(2 * 365 * 86400); /* 2026-01-01 + 2 years */
        snprintf(device_ids[i], sizeof(device_ids[i]), "device-%04d", i);
        inputs[i] = (struct resolver_input){
            .now_utc = instants[i],
            .device_id = device_ids[i],
            .group_id = group_ids[rnd(GROUPS)],
            .venue_tz = london,
            .venue_fallback = {"fallback", 1},
        };
    }

    struct resolver_result r;
    int64_t sink = 0;
    t0 = now_ns();
    for (int i = 0; i < RESOLVES; i++) {
        if (resolver_resolve(idx, &inputs[i % INSTANTS], &r) < 0)
            return 1;
        sink += r.valid_to_utc;
    }
    double resolver_ns = (now_ns() - t0) / RESOLVES;

    int mismatches = 0;
    double brute_total = 0;
    for (int i = 0; i < BRUTE; i++) {
        const struct resolver_input *in = &inputs[i * (INSTANTS / BRUTE)];
        int winner;
        int64_t valid_to;
        t0 = now_ns();
        bruteforce_resolve(slots, SLOTS, in->device_id, in->group_id, london, in->now_utc, &winner,
                           &valid_to);
        brute_total += now_ns() - t0;
        if (resolver_resolve(idx, in, &r) < 0)
            return 1;
        if (valid_to != r.valid_to_utc ||
            (winner < 0 ? r.slot_id != NULL
                        : !r.slot_id || strcmp(r.slot_id, slots[winner].slot_id) != 0))
            mismatches++;
    }
    double brute_ns = brute_total / BRUTE;

    /* ratio as every time row prints it: ours / the reference's (lower is better) */
    printf("resolver %.0f ns/resolution | brute force %.0f ns/resolution | ratio %.6f "
           "(%.0fx faster)\n",
           resolver_ns, brute_ns, resolver_ns / brute_ns, brute_ns / resolver_ns);
    fprintf(stderr,
            "(index build %.2f ms for %d slots; %d resolutions checked against the "
            "brute force, %d mismatches; sink %lld)\n",
            build_ns / 1e6, SLOTS, BRUTE, mismatches, (long long)(sink & 1));
    resolver_index_free(idx);
    return mismatches ? 1 : 0;
}
