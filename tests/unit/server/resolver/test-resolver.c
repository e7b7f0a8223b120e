/* SPDX-License-Identifier: MIT */
/*
 * test-resolver.c — the schedule resolver (resolver.h).
 *
 * Unit cases for each rule: every precedence step, wraps (into a day outside the mask too),
 * date bounds at local midnight, start == end, disabled slots, the device's zone, the fallback
 * chain, null; refused indexes; the poll interval. DST cases in London, New York, Lord Howe,
 * Apia (the missing Friday 2011-12-30) and Sao Paulo (before and after 2019).
 *
 * Then a property test against a deliberately naive reference (bruteforce.c): it walks UTC
 * minutes, reads the wall clock with tz_offset_at(), and matches every slot with the plain rules
 * on the highest wall-clock time shown so far (the high-water mark, so a repeated hour does not
 * run the clock back: "a repeated wall time happens once, at its first occurrence"; a skipped
 * wall time is passed the moment the clock jumps over it). The resolver must name the same
 * winner and a validToUtc equal to the first minute at which the reference's winner (slot, or
 * the fallback) differs, or now + 6 h — the strict version. 3,000 random schedules (≤ 20 slots)
 * over seven zones, half the instants within 3 h of a 2026/2027 changeover, a fifth within 3 h
 * of a 2010–2019 one; every third case is resolved again with the slots shuffled and must come
 * out identical. -DPROPERTY_CASES=… -DPROPERTY_SEED=… run more.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../../unit/cmocka-prelude.h"
#include "bruteforce.h"
#include "macro.h"
#include "resolver/resolver.h"
#include "tz.h"
#include "zones.h"

#define H   3600
#define MON 1u
#define TUE 2u
#define WED 4u
#define THU 8u
#define FRI 16u
#define SAT 32u
#define SUN 64u
#define ALL 127u

static int64_t local(const char *zname, int y, int m, int d, int hh, int mm)
{
    int64_t t = 0;
    assert_int_equal(tz_utc_from_local(zone(zname), y, m, d, hh * 60 + mm, TZ_FOLD_EARLIER, &t), 0);
    return t;
}

static struct resolver_slot slot(const char *id, enum resolver_target type, const char *target,
                                 const char *playlist, unsigned mask, int start, int end)
{
    return (struct resolver_slot){.slot_id = id,
                                  .target_type = type,
                                  .target_id = target,
                                  .playlist_id = playlist,
                                  .playlist_version = 1,
                                  .days_mask = mask,
                                  .start_minutes = start,
                                  .end_minutes = end,
                                  .enabled = true,
                                  .updated_at_ms = 1000};
}

#define G(id, pl, mask, s, e) slot(id, RESOLVER_TARGET_GROUP, "grp", pl, mask, s, e)
#define D(id, pl, mask, s, e) slot(id, RESOLVER_TARGET_DEVICE, "dev", pl, mask, s, e)

struct fixture {
    const char *zone;
    const char *device_zone;
    bool venue_fallback, tenant_default;
};

static struct resolver_result run(const struct resolver_slot *slots, size_t n,
                                  const struct fixture *f, int64_t now)
{
    struct resolver_index *idx = NULL;
    struct resolver_result r;
    assert_int_equal(resolver_index_build(slots, n, &idx), 0);
    struct resolver_input in = {
        .now_utc = now,
        .device_id = "dev",
        .group_id = "grp",
        .device_tz = f->device_zone ? zone(f->device_zone) : NULL,
        .venue_tz = f->zone ? zone(f->zone) : NULL,
        .tenant_tz = NULL,
        .venue_fallback = {f->venue_fallback ? "fallback" : NULL, 7},
        .tenant_default = {f->tenant_default ? "tenant-default" : NULL, 9},
    };
    memset(&r, 0xa5, sizeof(r));
    assert_int_equal(resolver_resolve(idx, &in, &r), 0);
    /* strings point into the index: compare them to static ones before it goes */
    static char slot_id[64], playlist[64];
    snprintf(slot_id, sizeof(slot_id), "%s", r.slot_id ? r.slot_id : "-");
    snprintf(playlist, sizeof(playlist), "%s", r.playlist_id ? r.playlist_id : "-");
    resolver_index_free(idx);
    r.slot_id = slot_id;
    r.playlist_id = playlist;
    return r;
}

/* Winner (slot id, or "-" for none) and validToUtc at @now. */
static void expect_at(int line, const struct resolver_slot *slots, size_t n,
                      const struct fixture *f, int64_t now, const char *slot_id, int64_t valid_to)
{
    struct resolver_result r = run(slots, n, f, now);
    if (strcmp(r.slot_id, slot_id) != 0 || r.valid_to_utc != valid_to)
        fail_msg("line %d: got %s until %+lld s, expected %s until %+lld s", line, r.slot_id,
                 (long long)(r.valid_to_utc - now), slot_id, (long long)(valid_to - now));
}
#define expect(...) expect_at(__LINE__, __VA_ARGS__)

static const struct fixture london = {"Europe/London", NULL, true, false};
static const struct fixture utcf = {"UTC", NULL, true, false};

/* 2026-06-15 is a Monday. */
static void precedence(void **state)
{
    int64_t t = utc(2026, 6, 15, 12, 0);
    struct resolver_slot s[4] = {
        G("a", "pa", ALL, 600, 900),
        D("b", "pb", ALL, 660, 780),
        G("c", "pc", ALL, 540, 1080),
        G("d", "pd", ALL, 540, 1080),
    };
    s[0].priority = 100; /* a group slot of any priority loses to a device slot */
    expect(s, 4, &utcf, t, "b", utc(2026, 6, 15, 13, 0));
    expect(s + 2, 2, &utcf, t, "c", t + 6 * H); /* all equal: smaller id */
    s[3].updated_at_ms = 2000;                  /* later updated wins */
    expect(s + 2, 2, &utcf, t, "d", t + 6 * H);
    s[2].priority = 1; /* higher priority beats later update */
    expect(s + 2, 2, &utcf, t, "c", t + 6 * H);
    expect(s, 1, &utcf, t, "a", utc(2026, 6, 15, 15, 0));
    /* a better slot starting later ends the validity; a worse one does not */
    struct resolver_slot u[2] = {G("x", "px", ALL, 0, 0), G("y", "py", ALL, 780, 840)};
    expect(u, 2, &utcf, t, "x", t + 6 * H);
    u[1].priority = 1;
    expect(u, 2, &utcf, t, "x", utc(2026, 6, 15, 13, 0));
    expect(u, 2, &utcf, utc(2026, 6, 15, 13, 0), "y", utc(2026, 6, 15, 14, 0));
    /* another device's slot and another group's slot never match */
    struct resolver_slot o[2] = {
        slot("o1", RESOLVER_TARGET_DEVICE, "other", "p", ALL, 0, 0),
        slot("o2", RESOLVER_TARGET_GROUP, "dev", "p", ALL, 0, 0),
    };
    struct resolver_result r = run(o, 2, &utcf, t);
    assert_int_equal(r.reason, RESOLVER_REASON_VENUE_FALLBACK);
    assert_string_equal(r.playlist_id, "fallback");
    assert_int_equal(r.playlist_version, 7);
}

static void wraps(void **state)
{
    struct resolver_slot s[1] = {G("w", "pw", MON, 1320, 120)}; /* Mon 22:00 → Tue 02:00 */
    expect(s, 1, &utcf, utc(2026, 6, 15, 23, 0), "w", utc(2026, 6, 16, 2, 0));
    expect(s, 1, &utcf, utc(2026, 6, 16, 1, 59), "w", utc(2026, 6, 16, 2, 0));
    expect(s, 1, &utcf, utc(2026, 6, 16, 2, 0), "-", utc(2026, 6, 16, 8, 0));
    expect(s, 1, &utcf, utc(2026, 6, 15, 21, 0), "-", utc(2026, 6, 15, 22, 0));
    expect(s, 1, &utcf, utc(2026, 6, 14, 23, 0), "-", utc(2026, 6, 15, 5, 0)); /* Sunday */
    expect(s, 1, &utcf, utc(2026, 6, 15, 1, 0), "-", utc(2026, 6, 15, 7, 0));  /* Sun's tail */
    /* Friday night into Saturday, which is not in the mask */
    s[0] = G("w", "pw", FRI, 1380, 360);
    expect(s, 1, &utcf, utc(2026, 6, 20, 5, 0), "w", utc(2026, 6, 20, 6, 0));
    expect(s, 1, &utcf, utc(2026, 6, 21, 5, 0), "-", utc(2026, 6, 21, 11, 0));
    /* end == 0: up to midnight exactly */
    s[0] = G("w", "pw", MON, 1320, 0);
    expect(s, 1, &utcf, utc(2026, 6, 15, 23, 59), "w", utc(2026, 6, 16, 0, 0));
    /* in London: the wrap is judged in local time */
    s[0] = G("w", "pw", MON, 1320, 120);
    expect(s, 1, &london, utc(2026, 6, 16, 0, 30), "w", utc(2026, 6, 16, 1, 0));
}

static void whole_day(void **state)
{
    struct resolver_slot s[1] = {G("e", "pe", MON, 600, 600)}; /* Mon 10:00 → Tue 10:00 */
    expect(s, 1, &utcf, utc(2026, 6, 16, 9, 59), "e", utc(2026, 6, 16, 10, 0));
    expect(s, 1, &utcf, utc(2026, 6, 15, 9, 59), "-", utc(2026, 6, 15, 10, 0));
    expect(s, 1, &utcf, utc(2026, 6, 16, 10, 0), "-", utc(2026, 6, 16, 16, 0));
    s[0] = G("e", "pe", MON | TUE, 0, 0); /* the calendar days, back to back */
    expect(s, 1, &utcf, utc(2026, 6, 15, 20, 0), "e", utc(2026, 6, 16, 2, 0));
    expect(s, 1, &utcf, utc(2026, 6, 16, 20, 0), "e", utc(2026, 6, 17, 0, 0));
    expect(s, 1, &utcf, utc(2026, 6, 17, 0, 0), "-", utc(2026, 6, 17, 6, 0));
}

static void date_bounds(void **state)
{
    struct resolver_slot s[1] = {G("b", "pb", ALL, 0, 0)};
    assert_int_equal(resolver_date_parse("2026-06-15", &s[0].valid_to), 0);
    int64_t mid = local("Europe/London", 2026, 6, 16, 0, 0);
    expect(s, 1, &london, mid - 60, "b", mid);
    expect(s, 1, &london, mid, "-", mid + 6 * H);
    s[0].valid_to = (struct resolver_date){0, 0, 0};
    assert_int_equal(resolver_date_parse("2026-06-16", &s[0].valid_from), 0);
    expect(s, 1, &london, mid - 60, "-", mid);
    expect(s, 1, &london, mid, "b", mid + 6 * H);
    /* a wrap is judged on the day it starts */
    s[0] = G("b", "pb", ALL, 1320, 120);
    assert_int_equal(resolver_date_parse("2026-06-15", &s[0].valid_to), 0);
    expect(s, 1, &london, mid + 60, "b", mid + 2 * H);
    s[0].valid_to = (struct resolver_date){0, 0, 0};
    assert_int_equal(resolver_date_parse("2026-06-16", &s[0].valid_from), 0);
    expect(s, 1, &london, mid + 60, "-", mid + 60 + 6 * H); /* clamp */
    /* from == to: one day */
    s[0] = G("b", "pb", ALL, 0, 0);
    assert_int_equal(resolver_date_parse("2026-06-16", &s[0].valid_from), 0);
    s[0].valid_to = s[0].valid_from;
    expect(s, 1, &london, mid + 23 * H, "b", mid + 24 * H);
}

static void disabled_and_fallbacks(void **state)
{
    int64_t t = utc(2026, 6, 15, 12, 0);
    struct resolver_slot s[2] = {G("a", "pa", ALL, 0, 0), G("b", "pb", ALL, 780, 840)};
    s[0].enabled = false;
    s[1].enabled = false;
    struct fixture f = {"UTC", NULL, true, true};
    struct resolver_result r = run(s, 2, &f, t);
    assert_int_equal(r.reason, RESOLVER_REASON_VENUE_FALLBACK);
    assert_string_equal(r.playlist_id, "fallback");
    assert_int_equal(r.valid_to_utc, t + 6 * H); /* nothing can start: the clamp */
    assert_int_equal(r.next_check_seconds, 60);
    f.venue_fallback = false;
    r = run(s, 2, &f, t);
    assert_int_equal(r.reason, RESOLVER_REASON_TENANT_DEFAULT);
    assert_string_equal(r.playlist_id, "tenant-default");
    assert_int_equal(r.playlist_version, 9);
    f.tenant_default = false;
    r = run(s, 2, &f, t);
    assert_int_equal(r.reason, RESOLVER_REASON_NONE);
    assert_string_equal(r.playlist_id, "-");
    assert_string_equal(r.slot_id, "-");
    assert_string_equal(resolver_reason_name(r.reason), "NONE");
    /* an enabled slot ahead bounds the fallback's validity */
    s[1].enabled = true;
    r = run(s, 2, &f, t);
    assert_int_equal(r.valid_to_utc, utc(2026, 6, 15, 13, 0));
    r = run(s, 2, &f, utc(2026, 6, 15, 13, 0));
    assert_int_equal(r.reason, RESOLVER_REASON_SLOT);
    assert_string_equal(r.playlist_id, "pb");
    assert_string_equal(resolver_reason_name(r.reason), "SLOT");
    /* poll interval: seconds left, within 5…60 */
    assert_int_equal(run(s, 2, &f, utc(2026, 6, 15, 12, 59) + 30).next_check_seconds, 30);
    assert_int_equal(run(s, 2, &f, utc(2026, 6, 15, 12, 59) + 58).next_check_seconds, 5);
    assert_int_equal(run(s, 2, &f, utc(2026, 6, 15, 12, 58)).next_check_seconds, 60);
}

static void zones_precedence(void **state)
{
    /* 20:00 UTC in June: 21:00 in London, 16:00 in New York */
    struct resolver_slot s[1] = {G("z", "pz", ALL, 540, 1020)};
    int64_t t = utc(2026, 6, 15, 20, 0);
    struct fixture f = {"Europe/London", "America/New_York", false, false};
    expect(s, 1, &f, t, "z", utc(2026, 6, 15, 21, 0));
    f.device_zone = NULL;
    expect(s, 1, &f, t, "-", utc(2026, 6, 16, 2, 0));
    /* no venue zone: the tenant's; none at all: UTC */
    struct resolver_index *idx = NULL;
    struct resolver_result r;
    assert_int_equal(resolver_index_build(s, 1, &idx), 0);
    struct resolver_input in = {
        .now_utc = t, .device_id = "dev", .group_id = "grp", .tenant_tz = zone("America/New_York")};
    assert_int_equal(resolver_resolve(idx, &in, &r), 0);
    assert_string_equal(r.slot_id, "z");
    in.tenant_tz = NULL;
    assert_int_equal(resolver_resolve(idx, &in, &r), 0);
    assert_null(r.slot_id);
    assert_int_equal(r.valid_to_utc, utc(2026, 6, 16, 2, 0));
    in.group_id = NULL; /* no group: group slots do not apply */
    in.now_utc = utc(2026, 6, 15, 12, 0);
    assert_int_equal(resolver_resolve(idx, &in, &r), 0);
    assert_null(r.playlist_id);
    in.device_id = NULL;
    assert_int_equal(resolver_resolve(idx, &in, &r), -EINVAL);
    in.device_id = "dev";
    in.now_utc = INT64_MAX;
    assert_int_equal(resolver_resolve(idx, &in, &r), -EINVAL);
    in.now_utc = utc(9999, 12, 31, 23, 0); /* far, but fine */
    assert_int_equal(resolver_resolve(idx, &in, &r), 0);
    resolver_index_free(idx);
}

static void refused(void **state)
{
    struct resolver_index *idx = NULL;
    struct resolver_slot s[2] = {G("a", "p", ALL, 0, 0), G("b", "p", ALL, 0, 0)};
    struct resolver_slot bad[] = {
        G("a", "p", 0, 0, 0),      G("a", "p", 128, 0, 0),  G("a", "p", ALL, -1, 0),
        G("a", "p", ALL, 0, 1440), G(NULL, "p", ALL, 0, 0), G("a", NULL, ALL, 0, 0),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(resolver_index_build(&bad[i], 1, &idx), -EINVAL);
    s[1].slot_id = "a";
    assert_int_equal(resolver_index_build(s, 2, &idx), -EINVAL); /* duplicate id */
    s[1].slot_id = "b";
    s[0].valid_from = (struct resolver_date){2026, 2, 29};
    assert_int_equal(resolver_index_build(s, 2, &idx), -EINVAL);
    s[0].valid_from = (struct resolver_date){2026, 6, 2};
    s[0].valid_to = (struct resolver_date){2026, 6, 1};
    assert_int_equal(resolver_index_build(s, 2, &idx), -EINVAL);
    assert_null(idx);
    struct resolver_date d = {1, 2, 3};
    assert_int_equal(resolver_date_parse("2026-6-01", &d), -EINVAL);
    assert_int_equal(resolver_date_parse("2026-02-30", &d), -EINVAL);
    assert_int_equal(resolver_date_parse("2026-02-3x", &d), -EINVAL);
    assert_int_equal(d.year, 1);
    assert_int_equal(resolver_index_build(NULL, 0, &idx), 0);
    idx = resolver_index_free(idx);
    assert_null(resolver_index_free(NULL));
}

/* ---- DST ----------------------------------------------------------------------------------- */

static void dst_london_spring(void **state)
{
    /* 2026-03-29: 01:00 GMT → 02:00 BST at 01:00 UTC */
    int64_t T = utc(2026, 3, 29, 1, 0);
    struct resolver_slot s[3] = {
        G("start0130", "p1", SUN, 90, 180), /* starts inside the gap */
        G("base", "p0", ALL, 0, 0),
        G("gap", "p2", SUN, 60, 115), /* lies wholly in the gap: never plays */
    };
    s[0].priority = 2;
    s[2].priority = 3;
    expect(s, 3, &london, T - 60, "base", T);
    expect(s, 3, &london, T, "start0130", utc(2026, 3, 29, 2, 0));
    expect(s, 3, &london, utc(2026, 3, 29, 2, 0), "base", utc(2026, 3, 29, 8, 0));
    /* a slot ending inside the gap ends at the change; what follows comes back */
    s[0] = G("end0130", "p1", SUN, 30, 90);
    s[0].priority = 2;
    expect(s, 3, &london, utc(2026, 3, 29, 0, 45), "end0130", T);
    expect(s, 3, &london, T, "base", T + 6 * H);
    /* New York: 02:00 EST → 03:00 EDT at 07:00 UTC; a slot from 02:30 starts then */
    struct fixture ny = {"America/New_York", NULL, true, false};
    struct resolver_slot n[1] = {G("ny", "p", SUN, 150, 240)};
    expect(n, 1, &ny, utc(2026, 3, 8, 6, 30), "-", utc(2026, 3, 8, 7, 0));
    expect(n, 1, &ny, utc(2026, 3, 8, 7, 0), "ny", utc(2026, 3, 8, 8, 0));
}

static void dst_london_fall(void **state)
{
    /* 2026-10-25: 02:00 BST → 01:00 GMT at 01:00 UTC; 01:00–01:59 happens twice */
    int64_t T = utc(2026, 10, 25, 1, 0);
    struct resolver_slot s[2] = {G("end0130", "p1", SUN, 0, 90), G("base", "p0", ALL, 0, 0)};
    s[0].priority = 1;
    expect(s, 2, &london, utc(2026, 10, 25, 0, 10), "end0130", utc(2026, 10, 25, 0, 30));
    expect(s, 2, &london, utc(2026, 10, 25, 0, 30), "base", utc(2026, 10, 25, 6, 30));
    expect(s, 2, &london, T + 15 * 60, "base", T + 15 * 60 + 6 * H); /* no flip back */
    /* a slot from 01:30 starts at the first 01:30 and runs through the repeat */
    s[0] = G("from0130", "p1", SUN, 90, 180);
    s[0].priority = 1;
    expect(s, 2, &london, utc(2026, 10, 25, 0, 20), "base", utc(2026, 10, 25, 0, 30));
    expect(s, 2, &london, T + 10 * 60, "from0130", utc(2026, 10, 25, 3, 0));
    /* just before the change: validity runs to 02:00 GMT, not to the change */
    s[0] = G("to0200", "p1", SUN, 0, 120);
    s[0].priority = 1;
    expect(s, 2, &london, T - 1, "to0200", utc(2026, 10, 25, 2, 0));
    expect(s, 2, &london, T, "to0200", utc(2026, 10, 25, 2, 0));
    /* New York 2027-11-07: 02:00 EDT → 01:00 EST at 06:00 UTC */
    struct fixture ny = {"America/New_York", NULL, true, false};
    struct resolver_slot n[1] = {G("ny", "p", SUN, 0, 90)};
    expect(n, 1, &ny, utc(2027, 11, 7, 5, 0), "ny", utc(2027, 11, 7, 5, 30));
    expect(n, 1, &ny, utc(2027, 11, 7, 6, 10), "-", utc(2027, 11, 7, 12, 10));
}

static void dst_lord_howe(void **state)
{
    struct fixture lh = {"Australia/Lord_Howe", NULL, false, false};
    /* 2026-10-04 02:00 +1030 → 02:30 +11 at 2026-10-03 15:30 UTC */
    struct resolver_slot s[1] = {G("g", "p", SUN, 130, 180)};
    expect(s, 1, &lh, utc(2026, 10, 3, 15, 29), "-", utc(2026, 10, 3, 15, 30));
    expect(s, 1, &lh, utc(2026, 10, 3, 15, 30), "g", utc(2026, 10, 3, 16, 0));
    /* 2026-04-05 02:00 +11 → 01:30 +1030 at 2026-04-04 15:00 UTC: ends at the first 01:45 */
    s[0] = G("f", "p", SUN, 60, 105);
    expect(s, 1, &lh, utc(2026, 4, 4, 14, 30), "f", utc(2026, 4, 4, 14, 45));
    expect(s, 1, &lh, utc(2026, 4, 4, 15, 5), "-", utc(2026, 4, 4, 21, 5));
}

static void dst_apia(void **state)
{
    /* Thursday 2011-12-29 23:59 -10 was followed by Saturday 2011-12-31 00:00 +14 */
    struct fixture ap = {"Pacific/Apia", NULL, false, false};
    int64_t T = utc(2011, 12, 30, 10, 0);
    struct resolver_slot s[2] = {G("fri", "pf", FRI, 540, 1020), G("sat", "ps", SAT, 0, 360)};
    expect(s, 2, &ap, T - 3600, "-", T);
    expect(s, 2, &ap, T, "sat", T + 6 * H);
    expect(s, 2, &ap, utc(2011, 12, 30, 12, 0), "sat", T + 6 * H);
    expect(s, 1, &ap, T - 5 * 3600, "-", T - 5 * 3600 + 6 * H); /* Friday never comes */
    /* a daily whole-day slot: Thursday's day ends where Saturday's begins, one run */
    struct resolver_slot a[1] = {G("all", "pa", ALL, 0, 0)};
    expect(a, 1, &ap, T - 3600, "all", T - 3600 + 6 * H);
}

static void dst_sao_paulo(void **state)
{
    struct fixture sp = {"America/Sao_Paulo", NULL, false, false};
    /* 2018-11-04: midnight skipped (00:00 -03 → 01:00 -02 at 03:00 UTC) */
    struct resolver_slot s[2] = {G("sun", "p", SUN, 0, 120), G("sat", "q", SAT, 1320, 30)};
    expect(s, 2, &sp, utc(2018, 11, 4, 2, 30), "sat", utc(2018, 11, 4, 3, 0));
    expect(s, 2, &sp, utc(2018, 11, 4, 3, 0), "sun", utc(2018, 11, 4, 4, 0));
    /* 2019-02-17: Sunday 00:00 -02 → Saturday 23:00 -03 at 02:00 UTC: Saturday's last hour
     * repeats, Sunday starts once (03:00 UTC); a Saturday slot ending 23:45 does not return */
    struct resolver_slot q[2] = {G("sat", "q", SAT, 1380, 1425), G("sun", "p", SUN, 0, 120)};
    expect(q, 2, &sp, utc(2019, 2, 17, 1, 30), "sat", utc(2019, 2, 17, 1, 45));
    expect(q, 2, &sp, utc(2019, 2, 17, 2, 30), "-", utc(2019, 2, 17, 3, 0));
    expect(q, 2, &sp, utc(2019, 2, 17, 3, 0), "sun", utc(2019, 2, 17, 5, 0));
    struct resolver_slot r[1] = {G("sun", "p", SUN, 0, 120)};
    /* after 2019 there is no DST: 2026-11-01 00:00–02:00 is plain -03 */
    expect(r, 1, &sp, utc(2026, 11, 1, 3, 30), "sun", utc(2026, 11, 1, 5, 0));
    expect(r, 1, &sp, utc(2026, 11, 1, 2, 59), "-", utc(2026, 11, 1, 3, 0));
}

/* ---- property test ------------------------------------------------------------------------- */

#ifndef PROPERTY_CASES
#define PROPERTY_CASES 3000
#endif
#ifndef PROPERTY_SEED
#define PROPERTY_SEED 0x9e3779b97f4a7c15ull
#endif

#include "../../rng.h" /* after PROPERTY_SEED */

static const char *const prop_zones[] = {
    "Europe/London", "America/New_York",  "Australia/Lord_Howe", "Asia/Kolkata",
    "Pacific/Apia",  "America/Sao_Paulo", "Pacific/Chatham",
};

static const char *const slot_ids[] = {"s00", "s01", "s02", "s03", "s04", "s05", "s06",
                                       "s07", "s08", "s09", "s10", "s11", "s12", "s13",
                                       "s14", "s15", "s16", "s17", "s18", "s19"};
static const char *const playlists[] = {"p0", "p1", "p2", "p3", "p4"};

static int rnd_minute(void)
{
    static const int near[] = {0, 30, 60, 90, 105, 120, 135, 150, 165, 180, 240, 1320, 1380, 1439};
    return rnd(2) ? near[rnd(sizeof(near) / sizeof(near[0]))] : (int)rnd(1440);
}

static struct resolver_date rnd_date(int64_t around_day)
{
    int64_t y;
    int m, d;
    tz_civil_from_days(around_day + (int)rnd(7) - 3, &y, &m, &d);
    return (struct resolver_date){(int)y, m, d};
}

/* A random instant: half of them within ±3 h of a 2026/2027 change (when the zone has one). */
static int64_t rnd_instant(const struct tz *z)
{
    int64_t t;
    uint32_t pick = rnd(10);
    if (pick < 5) {
        int64_t from = utc(2026, 1, 1, 0, 0) + rnd(2 * 365) * 86400LL;
        t = tz_next_transition(z, from);
        if (t > utc(2028, 1, 1, 0, 0))
            t = from;
        t += (int64_t)rnd(6 * H + 1) - 3 * H;
    } else if (pick < 7) {
        /* the older history: Apia's lost day, Sao Paulo's DST, 2010–2019 changes */
        t = tz_next_transition(z, utc(2010, 1, 1, 0, 0) + rnd(10 * 365) * 86400LL);
        if (t > utc(2040, 1, 1, 0, 0))
            t = utc(2011, 12, 30, 10, 0);
        t += (int64_t)rnd(6 * H + 1) - 3 * H;
    } else {
        t = utc(2010, 1, 1, 0, 0) + (int64_t)rnd(30 * 365) * 86400 + rnd(86400);
    }
    return rnd(2) ? t / 60 * 60 : t;
}

static void rnd_schedule(struct resolver_slot *s, size_t n, int64_t around_day)
{
    for (size_t i = 0; i < n; i++) {
        static const char *const devices[] = {"dev", "dev", "dev", "other"};
        static const char *const groups[] = {"grp", "grp", "grp", "other-grp"};
        bool device = rnd(10) < 3;
        s[i] = slot(slot_ids[i], device ? RESOLVER_TARGET_DEVICE : RESOLVER_TARGET_GROUP,
                    device ? devices[rnd(4)] : groups[rnd(4)], playlists[rnd(5)],
                    rnd(3) == 0 ? ALL : 1 + rnd(127), rnd_minute(), 0);
        s[i].end_minutes = rnd(10) == 0 ? s[i].start_minutes : rnd_minute();
        s[i].playlist_version = 1 + rnd(3);
        s[i].priority = (int)rnd(5) - 2;
        s[i].updated_at_ms = 1000 * (int64_t)rnd(3);
        s[i].enabled = rnd(10) != 0;
        if (rnd(4) == 0)
            s[i].valid_from = rnd_date(around_day);
        if (rnd(4) == 0)
            s[i].valid_to = rnd_date(around_day);
        if (s[i].valid_from.year && s[i].valid_to.year &&
            tz_days_from_civil(s[i].valid_from.year, s[i].valid_from.month, s[i].valid_from.day) >
                tz_days_from_civil(s[i].valid_to.year, s[i].valid_to.month, s[i].valid_to.day)) {
            struct resolver_date x = s[i].valid_from;
            s[i].valid_from = s[i].valid_to;
            s[i].valid_to = x;
        }
    }
}

static void same_result(const struct resolver_result *a, const struct resolver_result *b)
{
    assert_int_equal(a->reason, b->reason);
    assert_int_equal(a->valid_to_utc, b->valid_to_utc);
    assert_int_equal(a->next_check_seconds, b->next_check_seconds);
    assert_int_equal(a->playlist_version, b->playlist_version);
    assert_true((a->playlist_id == NULL) == (b->playlist_id == NULL));
    if (a->playlist_id)
        assert_string_equal(a->playlist_id, b->playlist_id);
    assert_true((a->slot_id == NULL) == (b->slot_id == NULL));
    if (a->slot_id)
        assert_string_equal(a->slot_id, b->slot_id);
}

static void property_vs_brute_force(void **state)
{
    enum { CASES = PROPERTY_CASES };
    int changed = 0, won = 0;
    for (int c = 0; c < CASES; c++) {
        struct resolver_slot s[20];
        const struct tz *venue = zone(prop_zones[rnd(7)]);
        const struct tz *device = rnd(5) == 0 ? zone(prop_zones[rnd(7)]) : NULL;
        const struct tz *eff = device ? device : venue;
        int64_t now = rnd_instant(eff);
        size_t n = rnd(21);
        rnd_schedule(s, n, (now + tz_offset_at(eff, now)) / 86400);
        const char *group = rnd(8) == 0 ? NULL : "grp";

        struct resolver_index *idx = NULL;
        assert_int_equal(resolver_index_build(s, n, &idx), 0);
        struct resolver_input in = {
            .now_utc = now,
            .device_id = "dev",
            .group_id = group,
            .device_tz = device,
            .venue_tz = venue,
            .venue_fallback = {rnd(2) ? "fallback" : NULL, 3},
            .tenant_default = {rnd(2) ? "tenant" : NULL, 4},
        };
        struct resolver_result r;
        assert_int_equal(resolver_resolve(idx, &in, &r), 0);

        int bw;
        int64_t bvalid;
        bruteforce_resolve(s, n, "dev", group, eff, now, &bw, &bvalid);
        if ((bw >= 0) != (r.reason == RESOLVER_REASON_SLOT) ||
            (bw >= 0 && strcmp(r.slot_id, s[bw].slot_id) != 0) || r.valid_to_utc != bvalid)
            fail_msg("case %d zone %s now %lld: resolver %s valid_to %lld, brute force %s %lld", c,
                     tz_name(eff), (long long)now, r.slot_id ? r.slot_id : "-",
                     (long long)r.valid_to_utc, bw >= 0 ? s[bw].slot_id : "-", (long long)bvalid);
        if (bw >= 0) {
            assert_string_equal(r.playlist_id, s[bw].playlist_id);
            assert_int_equal(r.playlist_version, s[bw].playlist_version);
            won++;
        } else if (in.venue_fallback.playlist_id) {
            assert_int_equal(r.reason, RESOLVER_REASON_VENUE_FALLBACK);
        } else if (in.tenant_default.playlist_id) {
            assert_int_equal(r.reason, RESOLVER_REASON_TENANT_DEFAULT);
        } else {
            assert_int_equal(r.reason, RESOLVER_REASON_NONE);
            assert_null(r.playlist_id);
        }
        changed += bvalid < now + 6 * H;

        if (c % 3 == 0 && n > 1) { /* determinism: any order, the same answer */
            struct resolver_slot sh[20];
            memcpy(sh, s, n * sizeof(s[0]));
            for (size_t i = n - 1; i > 0; i--) {
                size_t j = rnd((uint32_t)i + 1);
                struct resolver_slot x = sh[i];
                sh[i] = sh[j];
                sh[j] = x;
            }
            struct resolver_index *idx2 = NULL;
            struct resolver_result r2;
            assert_int_equal(resolver_index_build(sh, n, &idx2), 0);
            assert_int_equal(resolver_resolve(idx2, &in, &r2), 0);
            same_result(&r, &r2);
            resolver_index_free(idx2);
        }
        resolver_index_free(idx);
    }
    /* the cases must exercise both outcomes */
    assert_true(won > CASES / 5);
    assert_true(changed > CASES / 3);
    print_message("# property: %d cases, %d won by a slot, %d changing within 6 h\n", CASES, won,
                  changed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(precedence),
        cmocka_unit_test(wraps),
        cmocka_unit_test(whole_day),
        cmocka_unit_test(date_bounds),
        cmocka_unit_test(disabled_and_fallbacks),
        cmocka_unit_test(zones_precedence),
        cmocka_unit_test(refused),
        cmocka_unit_test(dst_london_spring),
        cmocka_unit_test(dst_london_fall),
        cmocka_unit_test(dst_lord_howe),
        cmocka_unit_test(dst_apia),
        cmocka_unit_test(dst_sao_paulo),
        cmocka_unit_test(property_vs_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
