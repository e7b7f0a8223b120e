/* SPDX-License-Identifier: MIT */
/*
 * preview.c — the schedule preview (issue 6, "Schedule preview"; spec §7, §30, §31): what a
 * device plays at an instant and why, or the intervals of a range of up to 14 days, from the
 * venue's published schedule or (`?draft=true`) its draft. The contract is in
 * docs/publishing.md, "Schedule preview".
 *
 * DESIGN
 * One GET borrows one pooled connection for three reads: the device (live, of this venue) with
 * its group, the zones of device, venue and tenant and the venue's fallback playlist; then the
 * slots aimed at the device or its group — the live snapshot's (schedule_published_slots at
 * venue_schedule_sets.published_version) or the draft's (schedule_slots) — each with its
 * playlist's current published_version (0 when unpublished or deleted: reported as null). A
 * published snapshot never changes, and a draft that moves between the reads only shows the
 * preview a moment older or newer, so no transaction is taken.
 *
 * The slots go into a resolver index built for this one request and freed before the reply.
 * That is cheap at preview rates (≤ 500 slots, only the device's and its group's); the
 * manifest path will cache the index per (venue, published version) instead.
 *
 * `at` is one resolver_resolve(). A range chains them: resolve at `from`, the outcome holds
 * until validToUtc (never more than RESOLVER_MAX_VALIDITY_S later, and always after the
 * instant resolved), which is where the next resolution starts; intervals with the same
 * outcome (playlist, version, reason, slot) are merged, so the 6-hour clamp never shows. The
 * resolver works in whole seconds: an instant with milliseconds resolves at its second, and
 * the first interval still starts at `from` exactly. At most INTERVALS_MAX intervals are sent;
 * past that the answer says `truncated` and ends early (14 days never get near it in
 * practice: that needs a change every four minutes).
 *
 * A zone name that the tz database cannot load (a row written by hand, a zone since removed)
 * counts as absent, as if NULL, and is logged: the preview then shows the zone the chain
 * really falls back to, the same rule the manifest path has to apply.
 */
#include "resolver/preview.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth/auth.h"
#include "ids.h"
#include "log.h"
#include "macro.h"
#include "resolver/loader.h"
#include "resolver/resolver.h"
#include "store/store.h"
#include "tenancy/admin-internal.h"
#include "tz.h"

#define RANGE_MAX_DAYS 14
#define RANGE_MAX_MS   ((int64_t)RANGE_MAX_DAYS * 86400 * 1000)
#define INTERVALS_MAX  5000

/* ---- the query --------------------------------------------------------------------------- */

struct query {
    bool range; /* from/to, else at */
    bool draft;
    int64_t at_ms, from_ms, to_ms;
};

static int query_time(struct http_request *req, const char *name, int64_t *ret)
{
    if (ids_timestamp_parse(http_req_query(req, name), ret) < 0)
        return adm_field_problem(req, 400, "INVALID_QUERY", name,
                                 "must be an ISO 8601 UTC time, 2026-03-29T01:00:00Z or "
                                 "2026-03-29T01:00:00.000Z");
    return 0;
}

static int query_parse(struct http_request *req, struct query *q)
{
    const char *at = http_req_query(req, "at"), *from = http_req_query(req, "from"),
               *to = http_req_query(req, "to"), *draft = http_req_query(req, "draft");
    if (draft && strcmp(draft, "true") != 0 && strcmp(draft, "false") != 0)
        return adm_field_problem(req, 400, "INVALID_QUERY", "draft", "must be true or false");
    q->draft = draft && !strcmp(draft, "true");
    if (at && (from || to))
        return adm_field_problem(req, 400, "INVALID_QUERY", "at",
                                 "cannot be combined with from and to");
    if (at) {
        q->range = false;
        return query_time(req, "at", &q->at_ms);
    }
    if (!from && !to)
        return adm_field_problem(req, 400, "INVALID_QUERY", "at",
                                 "is required (an instant), or from and to (a range)");
    if (!from || !to)
        return adm_field_problem(req, 400, "INVALID_QUERY", from ? "to" : "from",
                                 "is required with the other end of the range");
    q->range = true;
    int r = query_time(req, "from", &q->from_ms);
    if (r >= 0)
        r = query_time(req, "to", &q->to_ms);
    if (r < 0)
        return r;
    if (q->to_ms <= q->from_ms)
        return adm_field_problem(req, 400, "INVALID_QUERY", "to", "must be after from");
    if (q->to_ms - q->from_ms > RANGE_MAX_MS)
        return adm_field_problem(req, 400, "INVALID_QUERY", "to",
                                 "must be at most 14 days after from");
    return 0;
}

/* ---- the answer -------------------------------------------------------------------------- */

static int64_t floor_seconds(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

static json_t *time_json(int64_t ms)
{
    char ts[TIMESTAMP_STR_LEN];
    ids_timestamp(ms, ts);
    return json_string(ts);
}

/* The playlist's version, or null when there is no playlist or it has no published version
 * (a draft slot's playlist that was never published, or one deleted since). */
static json_t *version_json(const struct resolver_result *r)
{
    return r->playlist_id && r->playlist_version > 0 ? json_integer(r->playlist_version)
                                                     : json_null();
}

static json_t *reason_json(const struct resolver_result *r)
{
    return json_pack("{s:s,s:o}", "kind", resolver_reason_name(r->reason), "slotId",
                     adm_jstr(r->slot_id));
}

static bool outcome_same(const struct resolver_result *a, const struct resolver_result *b)
{
    return a->reason == b->reason && adm_same(a->playlist_id, b->playlist_id) &&
           a->playlist_version == b->playlist_version && adm_same(a->slot_id, b->slot_id);
}

static json_t *interval_json(int64_t start_ms, int64_t end_ms, const struct resolver_result *r)
{
    return json_pack("{s:o,s:o,s:o,s:o,s:o}", "startUtc", time_json(start_ms), "endUtc",
                     time_json(end_ms), "playlistId", adm_jstr(r->playlist_id), "publishedVersion",
                     version_json(r), "reason", reason_json(r));
}

/* The intervals of [from, to), by chaining resolutions (see DESIGN); *ret_truncated when
 * INTERVALS_MAX ran out first. */
static int intervals_build(const struct resolver_index *idx, struct resolver_input *in,
                           const struct query *q, json_t *items, bool *ret_truncated)
{
    struct resolver_result cur = {0}, next;
    int64_t t = q->from_ms, start = q->from_ms;
    bool have = false;
    *ret_truncated = false;
    while (t < q->to_ms) {
        in->now_utc = floor_seconds(t);
        int r = resolver_resolve(idx, in, &next);
        if (r < 0)
            return r;
        if (!have || !outcome_same(&cur, &next)) {
            if (have) {
                json_array_append_new(items, interval_json(start, t, &cur));
                if (json_array_size(items) == INTERVALS_MAX) {
                    *ret_truncated = true;
                    return 0;
                }
            }
            cur = next;
            start = t;
            have = true;
        }
        /* valid_to_utc > now_utc, so t always moves on */
        int64_t end = next.valid_to_utc * 1000;
        t = end < q->to_ms ? end : q->to_ms;
    }
    if (have)
        json_array_append_new(items, interval_json(start, t, &cur));
    return 0;
}

static int reply(struct http_request *req, const struct resolver_index *idx,
                 const struct rl_device *d, const struct query *q)
{
    const char *device = http_req_param(req, "deviceId");
    struct resolver_input in = rl_input(d, device);
    const char *zone = tz_name(rl_device_zone(d)), *source = q->draft ? "DRAFT" : "PUBLISHED";
    if (q->range) {
        json_t *items = json_array();
        bool truncated = false;
        int r = intervals_build(idx, &in, q, items, &truncated);
        if (r < 0) {
            json_decref(items);
            return r;
        }
        return http_reply_json(req, 200,
                               json_pack("{s:s,s:o,s:o,s:s,s:s,s:o,s:b}", "deviceId", device,
                                         "from", time_json(q->from_ms), "to", time_json(q->to_ms),
                                         "timezone", zone, "source", source, "intervals", items,
                                         "truncated", truncated));
    }
    struct resolver_result res;
    in.now_utc = floor_seconds(q->at_ms);
    int r = resolver_resolve(idx, &in, &res);
    if (r < 0)
        return r;
    return http_reply_json(
        req, 200,
        json_pack("{s:s,s:o,s:s,s:o,s:o,s:o,s:i,s:o,s:s}", "deviceId", device, "at",
                  time_json(q->at_ms), "timezone", zone, "playlistId", adm_jstr(res.playlist_id),
                  "publishedVersion", version_json(&res), "validToUtc",
                  time_json(res.valid_to_utc * 1000), "nextCheckSeconds", res.next_check_seconds,
                  "reason", reason_json(&res), "source", source));
}

/* ---- GET …/devices/{deviceId}/schedule-preview ------------------------------------------- */

static int preview_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct query q = {0};
    int r = query_parse(req, &q);
    if (r < 0)
        return r;
    const char *tid = auth_actor(req)->claims.tid, *venue = http_req_param(req, "venueId"),
               *device = http_req_param(req, "deviceId");
    struct store_conn *c = NULL;
    if ((r = store_acquire(app->store, &c)) < 0)
        return r;
    struct rl_device d = {0};
    struct store_result *res = NULL;
    r = rl_device_load(c, tid, venue, device, &d);
    if (r >= 0)
        r = rl_slots_query(c, tid, venue, device, d.group, q.draft, &res);
    store_release(c);
    if (r == -ENOENT)
        return http_reply_problem(req, 404, "NOT_FOUND", "No such device in this venue.", NULL);
    if (r < 0)
        return r;
    struct resolver_index *idx = NULL;
    r = rl_index_build(res, &idx);
    store_result_free(res); /* the index holds copies */
    if (r >= 0)
        r = reply(req, idx, &d, &q);
    resolver_index_free(idx);
    return r;
}

/* ---- registration ------------------------------------------------------------------------ */

/* clang-format off */
static const struct http_route routes[] = {
    {.method = HTTP_GET, .pattern = "/v1/venues/{venueId}/devices/{deviceId}/schedule-preview",
     .audience = HTTP_USER, .min_role = AUTH_VENUE_VIEWER, .handler = preview_get},
};
/* clang-format on */

int preview_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
