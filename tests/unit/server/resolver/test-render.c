/* SPDX-License-Identifier: MIT */
/*
 * test-render.c — a manifest's bytes and tag (render.h), on top of the pure resolver.
 *
 * Determinism (§31.10) first: random schedules (1–40 slots, device and group targets, another
 * device's and another group's slots, wraps, start == end, priorities and updatedAt values that
 * tie so the stable-id order decides, date bounds, disabled slots) in six zones, half the
 * instants within 3 h of a 2026/2027 changeover. Each schedule is indexed in five orders (as
 * read, reversed, three shuffles) from strings copied into fresh buffers, resolved, and
 * rendered with items and device settings built afresh: body and tag must be byte-identical
 * across orders, and across two renders of one input. The cases must exercise slot winners,
 * exact and clamped windows, and ties broken by id. -DPROPERTY_CASES=… -DPROPERTY_SEED=… run
 * more.
 *
 * Then the body against a literal (§27.8.1: members and their order, the settings, playlist
 * null or not, items borrowed); the tag's rules (what changes it and what does not: a
 * re-signed URL); validToUtc floored to the hour at the 6-hour clamp and exact before it; and
 * manifest_gzip inflating back to its input.
 */
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "../../../unit/cmocka-prelude.h"
#include "ids.h"
#include "macro.h"
#include "resolver/loader.h"
#include "resolver/render.h"
#include "resolver/resolver.h"
#include "tz.h"
#include "zones.h"

#define H   3600
#define ALL 127u

static struct rl_device settings(const char *run_mode, const char *orientation, bool boot,
                                 bool relaunch, bool awake, bool watchdog)
{
    struct rl_device d = {.launch_on_boot = boot,
                          .auto_relaunch = relaunch,
                          .keep_awake = awake,
                          .watchdog = watchdog,
                          .cache_budget = 2000000000,
                          .live = true};
    snprintf(d.run_mode, sizeof(d.run_mode), "%s", run_mode);
    snprintf(d.orientation, sizeof(d.orientation), "%s", orientation);
    return d;
}

/* One item as items_load makes it (manifest.c), its URL signed with @sig. */
static json_t *items_new(const char *playlist, int64_t version, const char *sig)
{
    char asset[64], url[160];
    snprintf(asset, sizeof(asset), "ast-%s-v%lld", playlist, (long long)version);
    snprintf(url, sizeof(url), "https://cdn.example.com/ten_01/%s.jpg?Expires=1&Signature=%s",
             asset, sig);
    json_t *items = json_array();
    json_array_append_new(
        items, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "assetId", asset, "type", "IMAGE",
                         "url", url, "checksumSha256",
                         "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
                         "durationSeconds", (json_int_t)10, "widthPx", (json_int_t)1920, "heightPx",
                         (json_int_t)1080, "fileSizeBytes", (json_int_t)245000));
    return items;
}

/* Renders @doc; asserts success and a consistent length. The body is the caller's. */
static char *render(const struct manifest_doc *doc, size_t *ret_len, char tag[MANIFEST_TAG_LEN])
{
    char *body = NULL;
    size_t len = 0;
    memset(tag, 'x', MANIFEST_TAG_LEN);
    assert_int_equal(manifest_render(doc, &body, &len, tag), 0);
    assert_non_null(body);
    assert_int_equal(len, strlen(body));
    if (ret_len)
        *ret_len = len;
    return body;
}

static bool tag_well_formed(const char *tag)
{
    regex_t re;
    assert_int_equal(regcomp(&re, "^m-[0-9a-f]{32}$", REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, tag, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* ---- determinism over random schedules ----------------------------------------------------- */

#ifndef PROPERTY_CASES
#define PROPERTY_CASES 2000
#endif
#ifndef PROPERTY_SEED
#define PROPERTY_SEED 0x2545f4914f6cdd1dull
#endif
#define ORDERS    5
#define MAX_SLOTS 40

#include "../../rng.h" /* after PROPERTY_SEED */

static const char *const prop_zones[] = {
    "Europe/London", "America/New_York", "Australia/Lord_Howe",
    "Asia/Kolkata",  "Pacific/Apia",     "America/Sao_Paulo",
};

static int rnd_minute(void)
{
    static const int near[] = {0, 30, 60, 90, 120, 150, 180, 240, 600, 1320, 1380, 1439};
    return rnd(2) ? near[rnd(ARRAY_SIZE(near))] : (int)rnd(1440);
}

static struct resolver_date rnd_date(int64_t around_day)
{
    int64_t y;
    int m, d;
    tz_civil_from_days(around_day + (int)rnd(7) - 3, &y, &m, &d);
    return (struct resolver_date){(int)y, m, d};
}

/* Half within ±3 h of a 2026/2027 change (when the zone has one), the rest in 2025–2028. */
static int64_t rnd_instant(const struct tz *z)
{
    int64_t t;
    if (rnd(2)) {
        int64_t from = utc(2026, 1, 1, 0, 0) + rnd(2 * 365) * 86400LL;
        t = tz_next_transition(z, from);
        if (t > utc(2028, 1, 1, 0, 0))
            t = from + rnd(86400);
        t += (int64_t)rnd(6 * H + 1) - 3 * H;
    } else {
        t = utc(2025, 1, 1, 0, 0) + (int64_t)rnd(4 * 365) * 86400 + rnd(86400);
    }
    return rnd(2) ? t / 60 * 60 : t;
}

/* A random schedule; the slot ids live in @ids, the other strings are static. */
struct schedule {
    size_t n;
    struct resolver_slot s[MAX_SLOTS];
    char ids[MAX_SLOTS][24];
};

static void rnd_schedule(struct schedule *sc, int64_t around_day)
{
    static const char *const devices[] = {"dev", "dev", "dev", "other"};
    static const char *const groups[] = {"grp", "grp", "grp", "other-grp"};
    static const char *const playlists[] = {"pl-0", "pl-1", "pl-2", "pl-3", "pl-4"};
    sc->n = 1 + rnd(MAX_SLOTS);
    for (size_t i = 0; i < sc->n; i++) {
        /* unique by the suffix; the prefix varies in length so the id order is not the index
         * order */
        snprintf(sc->ids[i], sizeof(sc->ids[i]), "%x-%zu", rnd(0x1000), i);
        struct resolver_slot *s = &sc->s[i];
        bool device = rnd(10) < 3;
        *s = (struct resolver_slot){
            .slot_id = sc->ids[i],
            .target_type = device ? RESOLVER_TARGET_DEVICE : RESOLVER_TARGET_GROUP,
            .target_id = device ? devices[rnd(4)] : groups[rnd(4)],
            .playlist_id = playlists[rnd(5)],
            .playlist_version = 1 + rnd(3),
            .days_mask = rnd(3) == 0 ? ALL : 1 + rnd(127),
            .start_minutes = rnd_minute(),
            .priority = (int)rnd(3) - 1,
            .enabled = rnd(8) != 0,
            .updated_at_ms = 1000 * (int64_t)(1 + rnd(2)),
        };
        s->end_minutes = rnd(8) == 0 ? s->start_minutes : rnd_minute();
        if (rnd(4) == 0)
            s->valid_from = rnd_date(around_day);
        if (rnd(4) == 0)
            s->valid_to = rnd_date(around_day);
        if (s->valid_from.year && s->valid_to.year &&
            tz_days_from_civil(s->valid_from.year, s->valid_from.month, s->valid_from.day) >
                tz_days_from_civil(s->valid_to.year, s->valid_to.month, s->valid_to.day)) {
            struct resolver_date x = s->valid_from;
            s->valid_from = s->valid_to;
            s->valid_to = x;
        }
    }
}

/* What stays the same for every order of one case. */
struct case_input {
    struct resolver_input in; /* device_id and fallbacks are copied per order */
    struct rl_device device;
    int64_t epoch;
    bool degraded;
};

/* The slots of @sc in the order @perm, every string copied into a fresh buffer (freed with
 * copies_free). */
struct copies {
    struct resolver_slot s[MAX_SLOTS];
    char *strings[3 * MAX_SLOTS];
    size_t n;
};

static void copies_make(struct copies *c, const struct schedule *sc, const size_t *perm)
{
    c->n = sc->n;
    for (size_t i = 0; i < sc->n; i++) {
        c->s[i] = sc->s[perm[i]];
        c->s[i].slot_id = c->strings[3 * i] = xstrdup(c->s[i].slot_id);
        c->s[i].target_id = c->strings[3 * i + 1] = xstrdup(c->s[i].target_id);
        c->s[i].playlist_id = c->strings[3 * i + 2] = xstrdup(c->s[i].playlist_id);
    }
}

static void copies_free(struct copies *c)
{
    for (size_t i = 0; i < 3 * c->n; i++)
        free(c->strings[i]);
    c->n = 0;
}

struct outcome {
    char *body;
    size_t len;
    char tag[MANIFEST_TAG_LEN];
    struct resolver_result res; /* strings copied into the two buffers below */
    char slot_id[24], playlist_id[24];
};

/* Indexes @sc in the order @perm, resolves and renders, everything from fresh copies. */
static void run_order(const struct schedule *sc, const size_t *perm, const struct case_input *ci,
                      struct outcome *out)
{
    struct copies c;
    copies_make(&c, sc, perm);
    struct resolver_index *idx = NULL;
    assert_int_equal(resolver_index_build(c.s, c.n, &idx), 0);

    _cleanup_free_ char *device_id = xstrdup(ci->in.device_id);
    _cleanup_free_ char *group_id = ci->in.group_id ? xstrdup(ci->in.group_id) : NULL;
    _cleanup_free_ char *fallback =
        ci->in.venue_fallback.playlist_id ? xstrdup(ci->in.venue_fallback.playlist_id) : NULL;
    _cleanup_free_ char *tenant =
        ci->in.tenant_default.playlist_id ? xstrdup(ci->in.tenant_default.playlist_id) : NULL;
    struct resolver_input in = ci->in;
    in.device_id = device_id;
    in.group_id = group_id;
    in.venue_fallback.playlist_id = fallback;
    in.tenant_default.playlist_id = tenant;
    struct resolver_result res;
    assert_int_equal(resolver_resolve(idx, &in, &res), 0);

    struct rl_device *device = xmalloc(sizeof(*device));
    *device = ci->device;
    /* as manifest.c: items only for a playlist (here from a fresh copy of its id) */
    json_t *items = res.playlist_id ? items_new(res.playlist_id, res.playlist_version, "s1") : NULL;
    struct manifest_doc doc = {.now_utc = in.now_utc,
                               .epoch = ci->epoch,
                               .res = &res,
                               .device = device,
                               .items = items,
                               .degraded = ci->degraded};
    out->body = render(&doc, &out->len, out->tag);
    /* the same doc twice */
    char tag[MANIFEST_TAG_LEN];
    size_t len;
    _cleanup_free_ char *body = render(&doc, &len, tag);
    assert_int_equal(len, out->len);
    assert_memory_equal(body, out->body, len);
    assert_string_equal(tag, out->tag);

    out->res = res;
    snprintf(out->slot_id, sizeof(out->slot_id), "%s", res.slot_id ? res.slot_id : "-");
    snprintf(out->playlist_id, sizeof(out->playlist_id), "%s",
             res.playlist_id ? res.playlist_id : "-");
    out->res.slot_id = out->slot_id;
    out->res.playlist_id = out->playlist_id;
    json_decref(items);
    free(device);
    resolver_index_free(idx);
    copies_free(&c);
}

static void shuffle(size_t *perm, size_t n, int k)
{
    for (size_t i = 0; i < n; i++)
        perm[i] = k == 1 ? n - 1 - i : i;
    if (k < 2)
        return;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rnd((uint32_t)i + 1), x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
}

/* Did the stable-id order decide? Without the winner, the next winner is a slot that ties
 * with it on target type, priority and updatedAt. */
static bool tie_decided(const struct schedule *sc, const struct case_input *ci, const char *winner)
{
    struct resolver_slot rest[MAX_SLOTS];
    size_t n = 0, w = SIZE_MAX;
    for (size_t i = 0; i < sc->n; i++) {
        if (strcmp(sc->s[i].slot_id, winner) == 0)
            w = i;
        else
            rest[n++] = sc->s[i];
    }
    assert_true(w != SIZE_MAX);
    struct resolver_index *idx = NULL;
    struct resolver_result r;
    assert_int_equal(resolver_index_build(rest, n, &idx), 0);
    assert_int_equal(resolver_resolve(idx, &ci->in, &r), 0);
    bool tie = false;
    for (size_t i = 0; r.reason == RESOLVER_REASON_SLOT && i < sc->n; i++)
        if (strcmp(sc->s[i].slot_id, r.slot_id) == 0)
            tie = sc->s[i].target_type == sc->s[w].target_type &&
                  sc->s[i].priority == sc->s[w].priority &&
                  sc->s[i].updated_at_ms == sc->s[w].updated_at_ms;
    /* the tie was broken towards the smaller id */
    if (tie)
        assert_true(strcmp(winner, r.slot_id) < 0);
    resolver_index_free(idx);
    return tie;
}

/* The bodies go out as TAP comments: cmocka cuts a long failure message short. */
static void fail_differ(int c, int k, const struct case_input *ci, const struct outcome *a,
                        const struct outcome *b)
{
    print_message("# first: %s\n# order %d: %s\n", a->body, k, b->body);
    fail_msg("case %d zone %s now %lld: order 0 gave %s (%s until %lld), order %d gave %s (%s "
             "until %lld)",
             c, tz_name(ci->in.device_tz ? ci->in.device_tz : ci->in.venue_tz),
             (long long)ci->in.now_utc, a->tag, a->res.slot_id, (long long)a->res.valid_to_utc, k,
             b->tag, b->res.slot_id, (long long)b->res.valid_to_utc);
}

static void determinism(void **state)
{
    enum { CASES = PROPERTY_CASES };
    int won = 0, exact = 0, clamped = 0, ties = 0, null_playlist = 0;
    for (int c = 0; c < CASES; c++) {
        struct schedule sc;
        struct case_input ci = {0};
        const struct tz *venue = zone(prop_zones[rnd(ARRAY_SIZE(prop_zones))]);
        const struct tz *device =
            rnd(5) == 0 ? zone(prop_zones[rnd(ARRAY_SIZE(prop_zones))]) : NULL;
        const struct tz *eff = device ? device : venue;
        int64_t now = rnd_instant(eff);
        rnd_schedule(&sc, (now + tz_offset_at(eff, now)) / 86400);
        ci.in = (struct resolver_input){
            .now_utc = now,
            .device_id = "dev",
            .group_id = rnd(8) == 0 ? NULL : "grp",
            .device_tz = device,
            .venue_tz = venue,
            .venue_fallback = {rnd(2) ? "fallback" : NULL, 3},
            .tenant_default = {rnd(2) ? "tenant" : NULL, 4},
        };
        ci.device = settings(rnd(2) ? "KIOSK" : "SHARED", rnd(2) ? "LANDSCAPE" : "PORTRAIT", rnd(2),
                             rnd(2), rnd(2), rnd(2));
        ci.epoch = rnd(1000000);
        ci.degraded = rnd(10) == 0;

        size_t perm[MAX_SLOTS];
        struct outcome first, again, other;
        shuffle(perm, sc.n, 0);
        run_order(&sc, perm, &ci, &first);
        run_order(&sc, perm, &ci, &again); /* the same input twice */
        if (again.len != first.len || memcmp(again.body, first.body, first.len) != 0 ||
            strcmp(again.tag, first.tag) != 0)
            fail_differ(c, 0, &ci, &first, &again);
        free(again.body);
        for (int k = 1; k < ORDERS; k++) {
            shuffle(perm, sc.n, k);
            run_order(&sc, perm, &ci, &other);
            if (other.len != first.len || memcmp(other.body, first.body, first.len) != 0 ||
                strcmp(other.tag, first.tag) != 0 ||
                strcmp(other.res.slot_id, first.res.slot_id) != 0)
                fail_differ(c, k, &ci, &first, &other);
            free(other.body);
        }

        /* the body is the resolution's */
        assert_true(tag_well_formed(first.tag));
        json_error_t err;
        json_t *body = json_loadb(first.body, first.len, 0, &err);
        assert_non_null(body);
        assert_string_equal(json_string_value(json_object_get(body, "manifestEtag")), first.tag);
        assert_int_equal(json_integer_value(json_object_get(body, "nextCheckSeconds")),
                         first.res.next_check_seconds);
        json_t *pl = json_object_get(body, "playlist");
        if (strcmp(first.playlist_id, "-") != 0) {
            assert_string_equal(json_string_value(json_object_get(pl, "playlistId")),
                                first.playlist_id);
            assert_int_equal(json_integer_value(json_object_get(pl, "publishedVersion")),
                             first.res.playlist_version);
        } else {
            assert_true(json_is_null(pl));
            null_playlist++;
        }
        int64_t shown_ms = 0;
        assert_int_equal(
            ids_timestamp_parse(json_string_value(json_object_get(body, "validToUtc")), &shown_ms),
            0);
        if (first.res.valid_to_utc < now + RESOLVER_MAX_VALIDITY_S) {
            assert_int_equal(shown_ms, first.res.valid_to_utc * 1000);
            exact++;
        } else {
            assert_int_equal(shown_ms, (now + RESOLVER_MAX_VALIDITY_S) / H * H * 1000);
            clamped++;
        }
        json_decref(body);

        if (first.res.reason == RESOLVER_REASON_SLOT) {
            won++;
            ties += tie_decided(&sc, &ci, first.res.slot_id);
        }
        free(first.body);
    }
    /* the cases must exercise what could go wrong */
    assert_true(won > CASES / 3);
    assert_true(exact > CASES / 4);
    assert_true(clamped > CASES / 10);
    assert_true(ties > CASES / 20);
    assert_true(null_playlist > 0);
    print_message("# determinism: %d cases × %d orders, %d won by a slot (%d by the id tie-break), "
                  "%d exact windows, %d clamped, %d without a playlist\n",
                  CASES, ORDERS, won, ties, exact, clamped, null_playlist);
}

/* Equal priority and updatedAt everywhere: the smallest id wins whatever the order, and the
 * manifest is the same. */
static void tie_break(void **state)
{
    static const char *const ids[] = {"b", "a10", "a2", "A", "a1", "c"}; /* "A" < "a1" */
    struct schedule sc = {.n = ARRAY_SIZE(ids)};
    for (size_t i = 0; i < sc.n; i++) {
        snprintf(sc.ids[i], sizeof(sc.ids[i]), "%s", ids[i]);
        sc.s[i] = (struct resolver_slot){.slot_id = sc.ids[i],
                                         .target_type = RESOLVER_TARGET_GROUP,
                                         .target_id = "grp",
                                         .playlist_id = i % 2 ? "pl-odd" : "pl-even",
                                         .playlist_version = (int64_t)i + 1,
                                         .days_mask = ALL,
                                         .enabled = true,
                                         .updated_at_ms = 5000};
    }
    struct case_input ci = {
        .in = {.now_utc = utc(2026, 3, 29, 0, 30), /* London's spring change: 01:00 UTC */
               .device_id = "dev",
               .group_id = "grp",
               .venue_tz = zone("Europe/London")},
        .device = settings("KIOSK", "LANDSCAPE", true, true, true, true),
        .epoch = 47,
    };
    size_t perm[MAX_SLOTS];
    struct outcome first, other;
    shuffle(perm, sc.n, 0);
    run_order(&sc, perm, &ci, &first);
    assert_string_equal(first.res.slot_id, "A");
    assert_string_equal(first.res.playlist_id, "pl-odd");
    assert_int_equal(first.res.playlist_version, 4);
    for (int k = 1; k < 24; k++) {
        shuffle(perm, sc.n, k);
        run_order(&sc, perm, &ci, &other);
        if (other.len != first.len || memcmp(other.body, first.body, first.len) != 0 ||
            strcmp(other.tag, first.tag) != 0)
            fail_differ(0, k, &ci, &first, &other);
        free(other.body);
    }
    free(first.body);
}

/* ---- the body ------------------------------------------------------------------------------ */

/* 2026-06-15 12:34:56 UTC */
#define NOW ((int64_t)1781526896)

static void body_shape(void **state)
{
    assert_int_equal(NOW, utc(2026, 6, 15, 12, 34) + 56);
    struct resolver_result res = {.playlist_id = "pl_042",
                                  .playlist_version = 3,
                                  .reason = RESOLVER_REASON_SLOT,
                                  .slot_id = "slot-1",
                                  .valid_to_utc = utc(2026, 6, 15, 14, 0),
                                  .next_check_seconds = 60};
    struct rl_device d = settings("KIOSK", "LANDSCAPE", true, false, true, false);
    json_t *items = items_new("pl_042", 3, "abc");
    struct manifest_doc doc = {
        .now_utc = NOW, .epoch = 47, .res = &res, .device = &d, .items = items};
    char tag[MANIFEST_TAG_LEN];
    size_t len;
    _cleanup_free_ char *body = render(&doc, &len, tag);
    assert_true(tag_well_formed(tag));
    /* the items are borrowed */
    assert_int_equal(items->refcount, 1);

    _cleanup_free_ char *items_text = json_dumps(items, JSON_COMPACT | JSON_PRESERVE_ORDER);
    _cleanup_free_ char *expected = xasprintf(
        "{\"manifestEtag\":\"%s\",\"validToUtc\":\"2026-06-15T14:00:00.000Z\","
        "\"nextCheckSeconds\":60,\"settings\":{\"runMode\":\"KIOSK\",\"launchOnBoot\":true,"
        "\"autoRelaunch\":false,\"keepAwake\":true,\"watchdogReturnToForeground\":false,"
        "\"orientation\":\"LANDSCAPE\",\"cacheBudgetBytes\":2000000000},\"playlist\":{"
        "\"playlistId\":"
        "\"pl_042\",\"publishedVersion\":3,\"items\":%s}}",
        tag, items_text);
    assert_string_equal(body, expected);

    /* parsed: the members in §27.8.1's order, and their values */
    static const char *const members[] = {"manifestEtag", "validToUtc", "nextCheckSeconds",
                                          "settings", "playlist"};
    json_error_t err;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), ARRAY_SIZE(members));
    void *it = json_object_iter(j);
    const char *p = body;
    for (size_t i = 0; i < ARRAY_SIZE(members); i++, it = json_object_iter_next(j, it)) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), members[i]);
        /* and in the raw text, at the top level */
        _cleanup_free_ char *quoted = xasprintf("%c\"%s\":", i ? ',' : '{', members[i]);
        const char *q = strstr(p, quoted);
        assert_non_null(q);
        p = q + strlen(quoted);
    }
    assert_string_equal(json_string_value(json_object_get(j, "manifestEtag")), tag);
    static const char *const keys[] = {
        "runMode",     "launchOnBoot",    "autoRelaunch", "keepAwake", "watchdogReturnToForeground",
        "orientation", "cacheBudgetBytes"};
    json_t *s = json_object_get(j, "settings");
    assert_int_equal(json_object_size(s), ARRAY_SIZE(keys));
    it = json_object_iter(s);
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++, it = json_object_iter_next(s, it))
        assert_string_equal(json_object_iter_key(it), keys[i]);
    assert_int_equal(json_integer_value(json_object_get(s, "cacheBudgetBytes")), 2000000000);
    json_t *pl = json_object_get(j, "playlist");
    assert_int_equal(json_object_size(pl), 3);
    assert_true(json_equal(json_object_get(pl, "items"), items));
    json_decref(j);

    /* the other settings */
    struct rl_device e = settings("SHARED", "PORTRAIT", false, true, false, true);
    e.cache_budget = 123456789;
    doc.device = &e;
    char tag2[MANIFEST_TAG_LEN];
    _cleanup_free_ char *body2 = render(&doc, NULL, tag2);
    j = json_loads(body2, 0, &err);
    assert_non_null(j);
    json_t *want = json_pack("{s:s,s:b,s:b,s:b,s:b,s:s,s:I}", "runMode", "SHARED", "launchOnBoot",
                             0, "autoRelaunch", 1, "keepAwake", 0, "watchdogReturnToForeground", 1,
                             "orientation", "PORTRAIT", "cacheBudgetBytes", (json_int_t)123456789);
    assert_true(json_equal(json_object_get(j, "settings"), want));
    json_decref(want);
    json_decref(j);

    /* no items: playlist null, whatever the resolution named; the tag is that of no playlist */
    doc.device = &d;
    doc.items = NULL;
    char tag3[MANIFEST_TAG_LEN];
    _cleanup_free_ char *body3 = render(&doc, NULL, tag3);
    _cleanup_free_ char *expected3 = xasprintf(
        "{\"manifestEtag\":\"%s\",\"validToUtc\":\"2026-06-15T14:00:00.000Z\","
        "\"nextCheckSeconds\":60,\"settings\":{\"runMode\":\"KIOSK\",\"launchOnBoot\":"
        "true,\"autoRelaunch\":false,\"keepAwake\":true,\"watchdogReturnToForeground\":"
        "false,\"orientation\":\"LANDSCAPE\",\"cacheBudgetBytes\":2000000000},\"playlist\":"
        "null}",
        tag3);
    assert_string_equal(body3, expected3);
    assert_true(tag_well_formed(tag3));
    assert_string_not_equal(tag3, tag);
    struct resolver_result none = res;
    none.playlist_id = NULL;
    none.playlist_version = 0;
    none.reason = RESOLVER_REASON_NONE;
    none.slot_id = NULL;
    doc.res = &none;
    char tag4[MANIFEST_TAG_LEN];
    _cleanup_free_ char *body4 = render(&doc, NULL, tag4);
    assert_string_equal(body4, body3);
    assert_string_equal(tag4, tag3);

    /* an empty playlist is not a null one */
    json_t *empty = json_array();
    doc.res = &res;
    doc.items = empty;
    char tag5[MANIFEST_TAG_LEN];
    _cleanup_free_ char *body5 = render(&doc, NULL, tag5);
    assert_non_null(strstr(body5, ",\"playlist\":{\"playlistId\":\"pl_042\",\"publishedVersion\":3,"
                                  "\"items\":[]}}"));
    assert_string_equal(tag5, tag); /* the tag does not name the items */
    json_decref(empty);
    json_decref(items);
}

/* ---- the tag ------------------------------------------------------------------------------- */

struct variant {
    const char *what;
    int64_t epoch;
    const char *playlist;
    int64_t version;
    int64_t valid_to;
    struct rl_device device;
    bool degraded;
};

static void render_variant(const struct variant *v, const char *sig, int next_check,
                           char **ret_body, char tag[MANIFEST_TAG_LEN])
{
    struct resolver_result res = {.playlist_id = v->playlist,
                                  .playlist_version = v->version,
                                  .reason = RESOLVER_REASON_SLOT,
                                  .slot_id = "slot-1",
                                  .valid_to_utc = v->valid_to,
                                  .next_check_seconds = next_check};
    json_t *items = items_new(v->playlist, v->version, sig);
    struct manifest_doc doc = {.now_utc = NOW,
                               .epoch = v->epoch,
                               .res = &res,
                               .device = &v->device,
                               .items = items,
                               .degraded = v->degraded};
    *ret_body = render(&doc, NULL, tag);
    json_decref(items);
}

static void tag_rules(void **state)
{
    const struct variant base = {
        "base", 47, "pl_042", 3, NOW + 1800, settings("KIOSK", "LANDSCAPE", true, true, true, true),
        false};
    struct variant v[13];
    size_t n = 0;
    v[n++] = base;
#define VARY(label, field, value)                                                                  \
    do {                                                                                           \
        v[n] = base;                                                                               \
        v[n].what = label;                                                                         \
        v[n].field = value;                                                                        \
        n++;                                                                                       \
    } while (0)
    VARY("epoch", epoch, 48);
    VARY("playlist version", version, 4);
    VARY("playlist", playlist, "pl_043");
    VARY("validToUtc", valid_to, NOW + 1801);
    VARY("degraded", degraded, true);
    VARY("runMode", device, settings("SHARED", "LANDSCAPE", true, true, true, true));
    VARY("orientation", device, settings("KIOSK", "PORTRAIT", true, true, true, true));
    VARY("launchOnBoot", device, settings("KIOSK", "LANDSCAPE", false, true, true, true));
    VARY("autoRelaunch", device, settings("KIOSK", "LANDSCAPE", true, false, true, true));
    VARY("keepAwake", device, settings("KIOSK", "LANDSCAPE", true, true, false, true));
    VARY("watchdogReturnToForeground", device,
         settings("KIOSK", "LANDSCAPE", true, true, true, false));
    v[n] = base;
    v[n].what = "cacheBudgetBytes";
    v[n].device.cache_budget = 1000000000;
    n++;
#undef VARY
    assert_int_equal(n, ARRAY_SIZE(v));
    char tags[ARRAY_SIZE(v)][MANIFEST_TAG_LEN];
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *body = NULL;
        render_variant(&v[i], "sig-1", 60, &body, tags[i]);
        assert_true(tag_well_formed(tags[i]));
        for (size_t k = 0; k < i; k++)
            if (strcmp(tags[i], tags[k]) == 0)
                fail_msg("changing %s gives the tag of %s: %s", v[i].what, v[k].what, tags[i]);
    }

    /* re-signed URLs: another body, the same tag */
    _cleanup_free_ char *a = NULL, *b = NULL;
    char ta[MANIFEST_TAG_LEN], tb[MANIFEST_TAG_LEN];
    render_variant(&base, "sig-1", 60, &a, ta);
    render_variant(&base, "sig-2", 60, &b, tb);
    assert_string_not_equal(a, b);
    assert_string_equal(ta, tb);
    assert_string_equal(ta, tags[0]);
    assert_non_null(strstr(b, "Signature=sig-2"));

    /* a degraded manifest's body is an ordinary one: only the tag tells */
    _cleanup_free_ char *c = NULL;
    char tc[MANIFEST_TAG_LEN];
    render_variant(&v[5], "sig-1", 60, &c, tc);
    assert_string_equal(v[5].what, "degraded");
    const size_t head = strlen("{\"manifestEtag\":\"") + MANIFEST_TAG_LEN - 1;
    assert_int_equal(c[head], '"');
    _cleanup_free_ char *c_as_base = xasprintf("{\"manifestEtag\":\"%s%s", ta, c + head);
    assert_string_equal(c_as_base, a);

    /* the clock moving within the window changes nothing */
    struct resolver_result res = {.playlist_id = "pl_042",
                                  .playlist_version = 3,
                                  .valid_to_utc = NOW + 1800,
                                  .next_check_seconds = 60};
    struct manifest_doc doc = {
        .now_utc = NOW + 30, .epoch = 47, .res = &res, .device = &base.device};
    char td[MANIFEST_TAG_LEN];
    json_t *items = items_new("pl_042", 3, "sig-1");
    doc.items = items;
    _cleanup_free_ char *d = render(&doc, NULL, td);
    assert_string_equal(d, a);
    assert_string_equal(td, ta);
    json_decref(items);
}

/* ---- validToUtc ---------------------------------------------------------------------------- */

static char *valid_to_at(int64_t now, int64_t valid_to, char tag[MANIFEST_TAG_LEN],
                         char text[TIMESTAMP_STR_LEN])
{
    struct resolver_result res = {.valid_to_utc = valid_to, .next_check_seconds = 60};
    struct rl_device d = settings("KIOSK", "LANDSCAPE", true, true, true, true);
    struct manifest_doc doc = {.now_utc = now, .epoch = 1, .res = &res, .device = &d};
    char *body = render(&doc, NULL, tag);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    snprintf(text, TIMESTAMP_STR_LEN, "%s", json_string_value(json_object_get(j, "validToUtc")));
    json_decref(j);
    return body;
}

static void valid_to(void **state)
{
    const int64_t max = RESOLVER_MAX_VALIDITY_S;
    char t1[MANIFEST_TAG_LEN], t2[MANIFEST_TAG_LEN], t3[MANIFEST_TAG_LEN];
    char s1[TIMESTAMP_STR_LEN], s2[TIMESTAMP_STR_LEN], s3[TIMESTAMP_STR_LEN];

    /* at the clamp: the hour before it, the same for the rest of that hour */
    _cleanup_free_ char *b1 = valid_to_at(NOW, NOW + max, t1, s1);
    assert_string_equal(s1, "2026-06-15T18:00:00.000Z");
    _cleanup_free_ char *b2 = valid_to_at(NOW + 7, NOW + 7 + max, t2, s2);
    assert_string_equal(s2, s1);
    assert_string_equal(t2, t1);
    assert_string_equal(b2, b1);
    int64_t last = utc(2026, 6, 15, 12, 59) + 59;
    _cleanup_free_ char *b3 = valid_to_at(last, last + max, t3, s3);
    assert_string_equal(t3, t1);
    free(valid_to_at(last + 1, last + 1 + max, t3, s3)); /* 13:00: the next hour */
    assert_string_equal(s3, "2026-06-15T19:00:00.000Z");
    assert_string_not_equal(t3, t1);

    /* before the clamp: exactly, to the second */
    free(valid_to_at(NOW, NOW + max - 1, t3, s3));
    assert_string_equal(s3, "2026-06-15T18:34:55.000Z");
    free(valid_to_at(NOW, NOW + 1, t3, s3));
    assert_string_equal(s3, "2026-06-15T12:34:57.000Z");
    free(valid_to_at(NOW, utc(2026, 6, 15, 17, 0), t3, s3));
    assert_string_equal(s3, "2026-06-15T17:00:00.000Z");

    /* any instant: at the clamp, a whole hour after now + 5 h and not after the clamp */
    for (int i = 0; i < 2000; i++) {
        int64_t now = utc(2026, 1, 1, 0, 0) + (int64_t)rnd(2 * 365 * 86400);
        int64_t ms = 0;
        free(valid_to_at(now, now + max, t3, s3));
        assert_int_equal(ids_timestamp_parse(s3, &ms), 0);
        assert_int_equal(ms % (H * 1000), 0);
        assert_true(ms <= (now + max) * 1000);
        assert_true(ms > (now + max - H) * 1000);
        int64_t before = now + 1 + (int64_t)rnd((uint32_t)max - 1);
        free(valid_to_at(now, before, t3, s3));
        assert_int_equal(ids_timestamp_parse(s3, &ms), 0);
        assert_int_equal(ms, before * 1000);
    }

    /* with the resolver: nothing changes within 6 h → the floored hour */
    struct resolver_slot s = {.slot_id = "all",
                              .target_type = RESOLVER_TARGET_GROUP,
                              .target_id = "grp",
                              .playlist_id = "pl",
                              .playlist_version = 1,
                              .days_mask = ALL,
                              .enabled = true};
    struct resolver_index *idx = NULL;
    assert_int_equal(resolver_index_build(&s, 1, &idx), 0);
    struct resolver_input in = {
        .now_utc = NOW, .device_id = "dev", .group_id = "grp", .venue_tz = zone("Asia/Kolkata")};
    struct resolver_result res;
    assert_int_equal(resolver_resolve(idx, &in, &res), 0);
    assert_int_equal(res.valid_to_utc, NOW + max);
    struct rl_device d = settings("KIOSK", "LANDSCAPE", true, true, true, true);
    struct manifest_doc doc = {.now_utc = NOW, .epoch = 1, .res = &res, .device = &d};
    _cleanup_free_ char *body = render(&doc, NULL, t3);
    assert_non_null(strstr(body, ",\"validToUtc\":\"2026-06-15T18:00:00.000Z\","));
    resolver_index_free(idx);
}

/* ---- gzip ---------------------------------------------------------------------------------- */

static void inflate_equal(const unsigned char *gz, size_t gz_len, const char *text, size_t len)
{
    assert_true(gz_len >= 18); /* header, trailer */
    assert_int_equal(gz[0], 0x1f);
    assert_int_equal(gz[1], 0x8b);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    unsigned char *out = xmalloc(len + 64);
    z.next_in = (unsigned char *)gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = out;
    z.avail_out = (uInt)(len + 64);
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.avail_in, 0); /* one member, nothing after it */
    assert_int_equal(z.total_out, len);
    assert_memory_equal(out, text, len);
    inflateEnd(&z);
    free(out);
}

static void gzip(void **state)
{
    size_t gz_len = 0;
    unsigned char *gz = manifest_gzip("", 0, &gz_len);
    assert_non_null(gz);
    inflate_equal(gz, gz_len, "", 0);
    free(gz);

    /* a manifest */
    struct resolver_result res = {.playlist_id = "pl_042",
                                  .playlist_version = 3,
                                  .valid_to_utc = NOW + 60,
                                  .next_check_seconds = 60};
    struct rl_device d = settings("KIOSK", "LANDSCAPE", true, true, true, true);
    json_t *items = items_new("pl_042", 3, "sig");
    struct manifest_doc doc = {
        .now_utc = NOW, .epoch = 1, .res = &res, .device = &d, .items = items};
    char tag[MANIFEST_TAG_LEN];
    size_t len;
    _cleanup_free_ char *body = render(&doc, &len, tag);
    gz = manifest_gzip(body, len, &gz_len);
    assert_non_null(gz);
    inflate_equal(gz, gz_len, body, len);
    /* the same bytes, the same gzip */
    size_t gz2_len = 0;
    unsigned char *gz2 = manifest_gzip(body, len, &gz2_len);
    assert_int_equal(gz2_len, gz_len);
    assert_memory_equal(gz2, gz, gz_len);
    free(gz2);
    free(gz);
    json_decref(items);

    /* large and incompressible (the worst case deflateBound allows for) */
    size_t big_len = 1 << 20;
    char *big = xmalloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)rnd(256);
    gz = manifest_gzip(big, big_len, &gz_len);
    assert_non_null(gz);
    inflate_equal(gz, gz_len, big, big_len);
    free(gz);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(determinism), cmocka_unit_test(tie_break), cmocka_unit_test(body_shape),
        cmocka_unit_test(tag_rules),   cmocka_unit_test(valid_to),  cmocka_unit_test(gzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
