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

/* ---- the device -------------------------------------------------------------------------- */

struct device {
    char group[UUID_STR_LEN];    /* "" = in no (live) group */
    char fallback[UUID_STR_LEN]; /* "" = none usable */
    int64_t fallback_version;
    const struct tz *zones[3]; /* device, venue, tenant; NULL = none (or not loadable) */
};

static const struct tz *zone_load(const char *name, const char *whose)
{
    const struct tz *z = NULL;
    if (!name)
        return NULL;
    int r = tz_get(name, &z);
    if (r < 0) {
        log_msg(LOG_WARN, "preview_zone_unknown", "%s time zone \"%s\" cannot be loaded (%s)",
                whose, name, strerror(-r));
        return NULL;
    }
    return z;
}

/* The live device @id of @venue, with what the resolver needs about it; -ENOENT if none. The
 * fallback counts only while its playlist is live, usable by the venue and published. */
static int device_load(struct store_conn *c, const char *tid, const char *venue, const char *id,
                       struct device *d)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT d.timezone, v.timezone, t.default_timezone, g.group_id, "
                       "fp.playlist_id, fp.published_version FROM devices d "
                       "JOIN venues v ON v.tenant_id = d.tenant_id AND v.venue_id = d.venue_id "
                       "JOIN tenants t ON t.tenant_id = d.tenant_id "
                       "LEFT JOIN device_groups g ON g.tenant_id = d.tenant_id AND "
                       "g.venue_id = d.venue_id AND g.group_id = d.primary_group_id AND "
                       "g.deleted_at_utc IS NULL "
                       "LEFT JOIN playlists fp ON fp.tenant_id = v.tenant_id AND "
                       "fp.playlist_id = v.fallback_playlist_id AND fp.deleted_at_utc IS NULL "
                       "AND fp.published_version >= 1 AND "
                       "(fp.scope_venue_id IS NULL OR fp.scope_venue_id = v.venue_id) "
                       "WHERE d.tenant_id = $1 AND d.venue_id = $2 AND d.device_id = $3 AND "
                       "d.deleted_at_utc IS NULL",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue), STORE_TEXT(id)},
                       3, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    static const char *const whose[] = {"device", "venue", "tenant"};
    for (size_t i = 0; i < ARRAY_SIZE(d->zones); i++)
        d->zones[i] = zone_load(store_result_text(res, 0, i), whose[i]);
    snprintf(d->group, sizeof(d->group), "%s", store_result_text(res, 0, 3) ?: "");
    snprintf(d->fallback, sizeof(d->fallback), "%s", store_result_text(res, 0, 4) ?: "");
    d->fallback_version = 0;
    if (d->fallback[0])
        store_result_int(res, 0, 5, &d->fallback_version);
    store_result_free(res);
    return 0;
}

/* The zone the resolver applies: the first of device, venue, tenant that is set, else UTC. */
static const struct tz *device_zone(const struct device *d)
{
    for (size_t i = 0; i < ARRAY_SIZE(d->zones); i++)
        if (d->zones[i])
            return d->zones[i];
    return tz_utc();
}

/* ---- the slots --------------------------------------------------------------------------- */

#define SLOT_SELECT                                                                                \
    "SELECT s.slot_id, s.target_type, s.target_id, s.playlist_id, p.published_version, "           \
    "s.days_of_week_mask, s.start_minutes, s.end_minutes, s.priority, s.valid_from_date, "         \
    "s.valid_to_date, s.enabled, s.updated_at_utc "
#define SLOT_PLAYLIST                                                                              \
    "LEFT JOIN playlists p ON p.tenant_id = s.tenant_id AND p.playlist_id = s.playlist_id AND "    \
    "p.deleted_at_utc IS NULL "
#define SLOT_TARGET                                                                                \
    "AND ((s.target_type = 'DEVICE' AND s.target_id = $3) OR "                                     \
    "(s.target_type = 'GROUP' AND s.target_id = $4))"

/* The slots of the live snapshot (or the draft) aimed at @device or @group ("" = none). */
static int slots_query(struct store_conn *c, const char *tid, const char *venue, const char *device,
                       const char *group, bool draft, struct store_result **ret)
{
    const struct store_param p[] = {STORE_TEXT(tid), STORE_TEXT(venue), STORE_TEXT(device),
                                    STORE_TEXT(group)};
    if (draft)
        return store_exec(c,
                          SLOT_SELECT "FROM schedule_slots s " SLOT_PLAYLIST
                                      "WHERE s.tenant_id = $1 AND s.venue_id = $2 " SLOT_TARGET,
                          p, ARRAY_SIZE(p), ret);
    return store_exec(c,
                      SLOT_SELECT "FROM venue_schedule_sets vs JOIN schedule_published_slots s ON "
                                  "s.tenant_id = vs.tenant_id AND s.venue_id = vs.venue_id AND "
                                  "s.published_version = vs.published_version " SLOT_PLAYLIST
                                  "WHERE vs.tenant_id = $1 AND vs.venue_id = $2 " SLOT_TARGET,
                      p, ARRAY_SIZE(p), ret);
}

/* The resolver index of @res's rows. A row the store should never hold is -EIO. */
static int index_build(const struct store_result *res, struct resolver_index **ret)
{
    size_t n = store_result_rows(res);
    _cleanup_free_ struct resolver_slot *s = xcalloc(n ? n : 1, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        int64_t mask = 0, start = 0, end = 0, prio = 0, enabled = 0;
        const char *type = store_result_text(res, i, 1) ?: "";
        s[i].slot_id = store_result_text(res, i, 0);
        s[i].target_type = strcmp(type, "GROUP") ? RESOLVER_TARGET_DEVICE : RESOLVER_TARGET_GROUP;
        s[i].target_id = store_result_text(res, i, 2);
        s[i].playlist_id = store_result_text(res, i, 3);
        if (store_result_int(res, i, 4, &s[i].playlist_version) < 0)
            s[i].playlist_version = 0; /* playlist deleted */
        if (store_result_int(res, i, 5, &mask) < 0 || store_result_int(res, i, 6, &start) < 0 ||
            store_result_int(res, i, 7, &end) < 0 || store_result_int(res, i, 8, &prio) < 0 ||
            store_result_int(res, i, 11, &enabled) < 0 ||
            resolver_date_parse(store_result_text(res, i, 9), &s[i].valid_from) < 0 ||
            resolver_date_parse(store_result_text(res, i, 10), &s[i].valid_to) < 0 ||
            ids_timestamp_parse(store_result_text(res, i, 12), &s[i].updated_at_ms) < 0 ||
            !s[i].target_id || !s[i].playlist_id || mask < 0 || mask > 127 || start < 0 ||
            start > 1439 || end < 0 || end > 1439 || prio < INT32_MIN || prio > INT32_MAX)
            return -EIO;
        s[i].days_mask = (unsigned)mask;
        s[i].start_minutes = (int)start;
        s[i].end_minutes = (int)end;
        s[i].priority = (int)prio;
        s[i].enabled = enabled != 0;
    }
    int r = resolver_index_build(s, n, ret);
    return r == -EINVAL ? -EIO : r;
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

static int reply(struct http_request *req, const struct resolver_index *idx, const struct device *d,
                 const struct query *q)
{
    const char *device = http_req_param(req, "deviceId");
    struct resolver_input in = {
        .device_id = device,
        .group_id = d->group[0] ? d->group : NULL,
        .device_tz = d->zones[0],
        .venue_tz = d->zones[1],
        .tenant_tz = d->zones[2],
        .venue_fallback = {.playlist_id = d->fallback[0] ? d->fallback : NULL,
                           .version = d->fallback_version},
        .tenant_default = {.playlist_id = NULL}, /* no tenant default yet */
    };
    const char *zone = tz_name(device_zone(d)), *source = q->draft ? "DRAFT" : "PUBLISHED";
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
    struct device d = {0};
    struct store_result *res = NULL;
    r = device_load(c, tid, venue, device, &d);
    if (r >= 0)
        r = slots_query(c, tid, venue, device, d.group, q.draft, &res);
    store_release(c);
    if (r == -ENOENT)
        return http_reply_problem(req, 404, "NOT_FOUND", "No such device in this venue.", NULL);
    if (r < 0)
        return r;
    struct resolver_index *idx = NULL;
    r = index_build(res, &idx);
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
