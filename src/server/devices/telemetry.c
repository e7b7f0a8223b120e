/* SPDX-License-Identifier: MIT */
/*
 * telemetry.c — what players report (spec §17, §27.8.2, §27.8.3, §30.9; issue 7): heartbeats
 * and event batches, and the reads operators make of them.
 *
 * DESIGN
 * A heartbeat overwrites the device's one device_status row (upsert) with what the §27.8.2 body
 * says plus marquee's additions: the sync status of device-content-sync-story.md (SYNCED,
 * SYNCING, PENDING, FAILED, STALE), the interval the player promises (5..3600 s), and an
 * optional inventory of the files it holds. A field left out (or null) is stored as not said
 * (null), except the inventory: a player sends it when it changes, so a heartbeat without one
 * keeps the last ([] says "no files"). The server's receive time is authoritative (§30.9): it
 * is last_heartbeat_at_utc and devices.last_seen_at_utc; the device's clock is kept beside it
 * with the skew (device time − server time). A device that was offline comes back online here, once
 * the upsert holds its row (the transition is recorded as an event, and its DEVICE_OFFLINE alert
 * resolved: alerts.c); a first heartbeat ever is no transition; going offline is the sweeper's.
 *
 * An event batch holds at most 100 events (more: 413). Every event is checked against the
 * §27.8.3 table (a known type, else 422; a severity of the three, the device may rate an event
 * otherwise than the table; a timestamp; a payload object of at most 4 KiB) before any is
 * stored; each event has an id unique per device — the device's own (eventId, marquee's player
 * always sends one) or, for one without (§27.8.3's example has none), "h:" and a digest of its
 * type, time, severity and payload — so a batch sent again after a lost answer adds nothing
 * (INSERT … ON CONFLICT DO NOTHING, on both backends). Device times are taken as they are, 1970 or
 * 9999: the device's clock may be wrong, and the server's receive time is the one marquee goes by
 * (§30.9). Only a batch that stored a DOWNLOAD_FAILED or ERROR event asks alerts.c to count.
 *
 * Both player routes are HTTP_DEVICE_SELF_CHECK: the transaction's first statement is an UPDATE
 * of the device's row that holds only while the device is live (device_hold), so it both says
 * whether the token is still good and locks the row: a removal committing meanwhile waits, or
 * is seen (on PostgreSQL a plain read would let a report land after the delete). It reads the
 * device and whether its token is still good, instead of the guard's own query.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth/auth.h"
#include "clock.h"
#include "devices/devices-internal.h"
#include "devices/devices.h"
#include "hash.h"
#include "http/http.h"
#include "ids.h"
#include "macro.h"
#include "protocol.h"
#include "tenancy/admin-internal.h"

#define EVENTS_MAX         100
#define EVENT_ID_MAX       64
#define PAYLOAD_MAX_BYTES  4096
#define INVENTORY_MAX      5000
#define TEXT_MAX           128
#define HEARTBEAT_MAX_BODY (1024 * 1024) /* an inventory of 5,000 files fits */

/* ---- reading a body ------------------------------------------------------------------------ */

/* The first problem found in a body: the field (dotted path) and what is wrong with it. */
struct check {
    char field[96];
    const char *message;
    unsigned status; /* 400, or 422 for a well-formed value marquee does not know */
    const char *code;
};

static bool bad(struct check *ck, unsigned status, const char *code, const char *message,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static bool bad(struct check *ck, unsigned status, const char *code, const char *message,
                const char *fmt, ...)
{
    if (ck->message)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ck->field, sizeof(ck->field), fmt, ap);
    va_end(ap);
    ck->message = message;
    ck->status = status;
    ck->code = code;
    return false;
}

static int check_reply(struct http_request *req, const struct check *ck)
{
    return http_field_problem(req, ck->status, ck->code, ck->field, ck->message);
}

/* A string member: absent or null → *ret NULL (a problem if @required). */
static bool get_text(struct check *ck, json_t *o, const char *prefix, const char *name,
                     bool required, size_t max, const char **ret)
{
    json_t *v = json_object_get(o, name);
    *ret = NULL;
    if (!v || json_is_null(v))
        return required ? bad(ck, 400, "FIELD_REQUIRED", "is required", "%s%s", prefix, name)
                        : true;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
        return bad(ck, 400, "INVALID_FIELD", "must be a non-empty string of bounded length", "%s%s",
                   prefix, name);
    *ret = json_string_value(v);
    return true;
}

/* One of @values (NULL-terminated), or absent when not @required. */
static bool get_enum(struct check *ck, json_t *o, const char *prefix, const char *name,
                     bool required, const char *const *values, const char **ret)
{
    if (!get_text(ck, o, prefix, name, required, TEXT_MAX, ret))
        return false;
    for (size_t i = 0; *ret && values[i]; i++)
        if (!strcmp(*ret, values[i]))
            return true;
    return *ret ? bad(ck, 400, "INVALID_FIELD", "is not one of the allowed values", "%s%s", prefix,
                      name)
                : true;
}

/* An integer in [lo, hi]: absent or null → *present false. */
static bool get_int(struct check *ck, json_t *o, const char *prefix, const char *name, int64_t lo,
                    int64_t hi, int64_t *ret, bool *present)
{
    json_t *v = json_object_get(o, name);
    *present = false;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return bad(ck, 400, "INVALID_FIELD", "must be an integer in range", "%s%s", prefix, name);
    *ret = json_integer_value(v);
    *present = true;
    return true;
}

/* An ISO 8601 UTC timestamp ("…Z"), normalized to marquee's form into @out (ms since epoch in
 * *ret_ms). */
static bool get_time(struct check *ck, json_t *o, const char *prefix, const char *name,
                     bool required, char out[TIMESTAMP_STR_LEN], int64_t *ret_ms)
{
    const char *s;
    out[0] = '\0';
    if (!get_text(ck, o, prefix, name, required, 40, &s) || !s)
        return !ck->message;
    int64_t ms;
    if (ids_timestamp_parse(s, &ms) < 0)
        return bad(ck, 400, "INVALID_FIELD", "must be an ISO 8601 UTC time (…Z)", "%s%s", prefix,
                   name);
    /* any time at all, 1970 to 9999: it is the device's clock, which may be wrong; the
     * server's receive time is the one marquee goes by (§30.9) */
    ids_timestamp(ms, out);
    if (ret_ms)
        *ret_ms = ms;
    return true;
}

/* An object member (absent or null → NULL); anything else is a problem. */
static bool get_object(struct check *ck, json_t *o, const char *name, json_t **ret)
{
    json_t *v = json_object_get(o, name);
    *ret = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_object(v))
        return bad(ck, 400, "INVALID_FIELD", "must be an object", "%s", name);
    *ret = v;
    return true;
}

/* Every member of @o is in @allowed (NULL-terminated). */
static bool only(struct check *ck, json_t *o, const char *prefix, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = !strcmp(key, allowed[i]);
        if (!known)
            return bad(ck, 400, "UNKNOWN_FIELD", "is not a field of this request", "%s%.60s",
                       prefix, key);
    }
    return true;
}

/* ---- the device ---------------------------------------------------------------------------- */

/* The device of the token, held: 1 if it is still live (see DESIGN), its row then locked for
 * the transaction, with its last-seen time and app version set when @app_version is given; 0
 * if it is gone; -errno. */
static int device_hold(struct store_conn *c, const struct token_claims *cl, const char *now,
                       const char *app_version)
{
    const struct store_param p[] = {STORE_TEXT(cl->tid), STORE_TEXT(cl->did), STORE_TEXT(cl->vid),
                                    STORE_TEXT(now), STORE_TEXT(app_version ? app_version : "")};
    int r = store_exec(c,
                       "UPDATE devices SET last_seen_at_utc = CASE WHEN $5 = '' THEN "
                       "last_seen_at_utc ELSE $4 END, app_version = CASE WHEN $5 = '' THEN "
                       "app_version ELSE $5 END WHERE tenant_id = $1 AND device_id = $2 AND "
                       "venue_id = $3 AND deleted_at_utc IS NULL AND status = 'ACTIVE' AND "
                       "EXISTS (SELECT 1 FROM tenants t WHERE t.tenant_id = $1 AND "
                       "t.status = 'ACTIVE')",
                       p, ARRAY_SIZE(p), NULL);
    return r < 0 ? r : r == 1;
}

/* ---- POST /v1/player/heartbeat ------------------------------------------------------------- */

static const char *const states[] = {"PLAYING", "ERROR_SCREEN", "PAIRING", "BOOTING", NULL};
static const char *const net_types[] = {"ETHERNET", "WIFI", "NONE", NULL};
static const char *const sync_statuses[] = {"SYNCED", "SYNCING", "PENDING",
                                            "FAILED", "STALE",   NULL};
static const char *const file_states[] = {"READY", "DOWNLOADING", "PENDING", "FAILED", NULL};

enum {
    HB_LOOPS,
    HB_INDEX,
    HB_VERSION,
    HB_TOTAL,
    HB_USED,
    HB_COUNT,
    HB_PENDING,
    HB_ERR_PLAY,
    HB_ERR_DOWNLOAD,
    HB_ERR_MANIFEST,
    HB_INTERVAL,
    HB_INTS
};

struct heartbeat {
    char device_time[TIMESTAMP_STR_LEN], last_sync[TIMESTAMP_STR_LEN];
    int64_t device_ms;
    const char *app_version, *state, *manifest_etag, *playlist, *asset, *net_type, *sync;
    int connected; /* -1: not said */
    int64_t v[HB_INTS];
    bool has[HB_INTS];
    char *inventory; /* compact JSON, owned */
};

static bool inventory_read(struct check *ck, json_t *body, char **ret)
{
    json_t *inv = json_object_get(body, "inventory");
    *ret = NULL;
    if (!inv || json_is_null(inv))
        return true;
    if (!json_is_array(inv) || json_array_size(inv) > INVENTORY_MAX)
        return bad(ck, 400, "INVALID_FIELD", "must be an array of at most 5000 files", "inventory");
    static const char *const fields[] = {"assetId", "checksumSha256", "bytes", "state", NULL};
    size_t i;
    json_t *f;
    json_array_foreach(inv, i, f)
    {
        char prefix[48];
        snprintf(prefix, sizeof(prefix), "inventory[%zu].", i);
        const char *id, *sum, *state;
        int64_t bytes;
        bool has_bytes;
        if (!json_is_object(f))
            return bad(ck, 400, "INVALID_FIELD", "must be an object", "inventory[%zu]", i);
        if (!only(ck, f, prefix, fields) || !get_text(ck, f, prefix, "assetId", true, 36, &id) ||
            !get_text(ck, f, prefix, "checksumSha256", true, 64, &sum) ||
            !get_int(ck, f, prefix, "bytes", 0, INT64_MAX, &bytes, &has_bytes) ||
            !get_enum(ck, f, prefix, "state", true, file_states, &state))
            return false;
        if (!ids_is_uuid(id))
            return bad(ck, 400, "INVALID_FIELD", "must be an asset id", "%sassetId", prefix);
        if (strlen(sum) != 64 || strspn(sum, "0123456789abcdef") != 64)
            return bad(ck, 400, "INVALID_FIELD", "must be 64 lower-case hex digits",
                       "%schecksumSha256", prefix);
        if (!has_bytes)
            return bad(ck, 400, "FIELD_REQUIRED", "is required", "%sbytes", prefix);
    }
    *ret = json_dumps(inv, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return true;
}

static bool heartbeat_read(struct check *ck, json_t *b, struct heartbeat *hb)
{
    static const char *const top[] = {"deviceTime",
                                      "appVersion",
                                      "state",
                                      "manifestEtag",
                                      "playback",
                                      "cache",
                                      "network",
                                      "errors",
                                      "syncStatus",
                                      "inventory",
                                      "heartbeatIntervalSeconds",
                                      NULL};
    static const char *const pb_fields[] = {
        "playlistId", "publishedVersion", "currentAssetId", "currentItemIndex", "loopCount", NULL};
    static const char *const cache_fields[] = {"totalBytes", "usedBytes", "assetCount",
                                               "pendingDownloads", NULL};
    static const char *const net_fields[] = {"connected", "type", "lastSyncAtUtc", NULL};
    static const char *const err_fields[] = {"playbackFailures", "downloadFailures",
                                             "manifestFetchFailures", NULL};
    json_t *pb, *cache, *net, *err;
    hb->connected = -1;
    if (!only(ck, b, "", top) ||
        !get_time(ck, b, "", "deviceTime", true, hb->device_time, &hb->device_ms) ||
        !get_text(ck, b, "", "appVersion", true, 64, &hb->app_version) ||
        !get_enum(ck, b, "", "state", true, states, &hb->state) ||
        !get_text(ck, b, "", "manifestEtag", false, 64, &hb->manifest_etag) ||
        !get_enum(ck, b, "", "syncStatus", false, sync_statuses, &hb->sync) ||
        !get_int(ck, b, "", "heartbeatIntervalSeconds", 5, 3600, &hb->v[HB_INTERVAL],
                 &hb->has[HB_INTERVAL]) ||
        !get_object(ck, b, "playback", &pb) || !get_object(ck, b, "cache", &cache) ||
        !get_object(ck, b, "network", &net) || !get_object(ck, b, "errors", &err))
        return false;
    if (pb && (!only(ck, pb, "playback.", pb_fields) ||
               !get_text(ck, pb, "playback.", "playlistId", false, 36, &hb->playlist) ||
               !get_int(ck, pb, "playback.", "publishedVersion", 1, INT64_MAX, &hb->v[HB_VERSION],
                        &hb->has[HB_VERSION]) ||
               !get_text(ck, pb, "playback.", "currentAssetId", false, 36, &hb->asset) ||
               !get_int(ck, pb, "playback.", "currentItemIndex", 0, INT32_MAX, &hb->v[HB_INDEX],
                        &hb->has[HB_INDEX]) ||
               !get_int(ck, pb, "playback.", "loopCount", 0, INT64_MAX, &hb->v[HB_LOOPS],
                        &hb->has[HB_LOOPS])))
        return false;
    static const int cache_ix[] = {HB_TOTAL, HB_USED, HB_COUNT, HB_PENDING};
    for (size_t i = 0; cache && i < ARRAY_SIZE(cache_ix); i++)
        if (!get_int(ck, cache, "cache.", cache_fields[i], 0,
                     cache_ix[i] >= HB_COUNT ? INT32_MAX : INT64_MAX, &hb->v[cache_ix[i]],
                     &hb->has[cache_ix[i]]))
            return false;
    if (cache && !only(ck, cache, "cache.", cache_fields))
        return false;
    static const int err_ix[] = {HB_ERR_PLAY, HB_ERR_DOWNLOAD, HB_ERR_MANIFEST};
    for (size_t i = 0; err && i < ARRAY_SIZE(err_ix); i++)
        if (!get_int(ck, err, "errors.", err_fields[i], 0, INT32_MAX, &hb->v[err_ix[i]],
                     &hb->has[err_ix[i]]))
            return false;
    if (err && !only(ck, err, "errors.", err_fields))
        return false;
    if (net) {
        json_t *c = json_object_get(net, "connected");
        if (c && !json_is_null(c) && !json_is_boolean(c))
            return bad(ck, 400, "INVALID_FIELD", "must be true or false", "network.connected");
        if (c && json_is_boolean(c))
            hb->connected = json_is_true(c);
        if (!only(ck, net, "network.", net_fields) ||
            !get_enum(ck, net, "network.", "type", false, net_types, &hb->net_type) ||
            !get_time(ck, net, "network.", "lastSyncAtUtc", false, hb->last_sync, NULL))
            return false;
    }
    return inventory_read(ck, b, &hb->inventory);
}

static struct store_param opt_int(const struct heartbeat *hb, int i)
{
    return hb->has[i] ? STORE_INT(hb->v[i]) : STORE_NULL;
}

struct heartbeat_tx {
    const struct token_claims *cl;
    const struct heartbeat *hb;
    int64_t now_ms;
    bool gone;
};

static int heartbeat_tx(struct store_conn *c, void *ud)
{
    struct heartbeat_tx *x = ud;
    const struct heartbeat *hb = x->hb;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(x->now_ms, now);
    int r = device_hold(c, x->cl, now, hb->app_version);
    if (r <= 0) {
        x->gone = r == 0;
        return r;
    }
    const struct store_param p[] = {
        STORE_TEXT(x->cl->did),
        STORE_TEXT(x->cl->tid),
        STORE_TEXT(x->cl->vid),
        STORE_TEXT(now),
        STORE_TEXT(hb->device_time),
        STORE_TEXT(hb->app_version),
        STORE_TEXT(hb->state),
        STORE_TEXT(hb->manifest_etag),
        STORE_TEXT(hb->playlist),
        opt_int(hb, HB_VERSION),
        STORE_TEXT(hb->asset),
        opt_int(hb, HB_INDEX),
        opt_int(hb, HB_LOOPS),
        opt_int(hb, HB_TOTAL),
        opt_int(hb, HB_USED),
        opt_int(hb, HB_COUNT),
        opt_int(hb, HB_PENDING),
        hb->connected < 0 ? STORE_NULL : STORE_INT(hb->connected),
        STORE_TEXT(hb->net_type),
        STORE_TEXT(hb->last_sync[0] ? hb->last_sync : NULL),
        opt_int(hb, HB_ERR_PLAY),
        opt_int(hb, HB_ERR_DOWNLOAD),
        opt_int(hb, HB_ERR_MANIFEST),
        STORE_TEXT(hb->sync),
        STORE_INT(hb->device_ms - x->now_ms),
        opt_int(hb, HB_INTERVAL),
        STORE_TEXT(hb->inventory),
    };
    /* the server's time is the heartbeat's (§30.9). A new row is online from now; an offline
     * one is brought back below, once this statement holds the row's lock (the sweeper's
     * UPDATE waits for it, and then finds a newer heartbeat than the one it read). */
    r = store_exec(
        c,
        "INSERT INTO device_status (device_id, tenant_id, venue_id, last_heartbeat_at_utc, "
        "is_online, device_time_utc, app_version, state, manifest_etag, playback_playlist_id, "
        "playback_published_version, playback_current_asset_id, playback_current_item_index, "
        "playback_loop_count, cache_total_bytes, cache_used_bytes, cache_asset_count, "
        "cache_pending_downloads, network_connected, network_type, network_last_sync_at_utc, "
        "errors_playback_failures, errors_download_failures, errors_manifest_fetch_failures, "
        "sync_status, clock_skew_ms, heartbeat_interval_s, inventory_json, online_changed_at_utc, "
        "created_at_utc, updated_at_utc) VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, "
        "$12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $4, $4, "
        "$4) ON CONFLICT (device_id) DO UPDATE SET venue_id = excluded.venue_id, "
        "last_heartbeat_at_utc = excluded.last_heartbeat_at_utc, device_time_utc = "
        "excluded.device_time_utc, app_version = "
        "excluded.app_version, state = excluded.state, manifest_etag = excluded.manifest_etag, "
        "playback_playlist_id = excluded.playback_playlist_id, playback_published_version = "
        "excluded.playback_published_version, playback_current_asset_id = "
        "excluded.playback_current_asset_id, playback_current_item_index = "
        "excluded.playback_current_item_index, playback_loop_count = "
        "excluded.playback_loop_count, cache_total_bytes = excluded.cache_total_bytes, "
        "cache_used_bytes = excluded.cache_used_bytes, cache_asset_count = "
        "excluded.cache_asset_count, cache_pending_downloads = excluded.cache_pending_downloads, "
        "network_connected = excluded.network_connected, network_type = excluded.network_type, "
        "network_last_sync_at_utc = excluded.network_last_sync_at_utc, errors_playback_failures "
        "= excluded.errors_playback_failures, errors_download_failures = "
        "excluded.errors_download_failures, errors_manifest_fetch_failures = "
        "excluded.errors_manifest_fetch_failures, sync_status = excluded.sync_status, "
        "clock_skew_ms = excluded.clock_skew_ms, heartbeat_interval_s = "
        "excluded.heartbeat_interval_s, inventory_json = COALESCE(excluded.inventory_json, "
        "device_status.inventory_json), updated_at_utc = excluded.updated_at_utc",
        p, ARRAY_SIZE(p), NULL);
    if (r < 0)
        return r;
    if ((r = telemetry_went_online(c, x->cl, x->now_ms)) < 0)
        return r;
    return alerts_after_heartbeat(c, x->cl, x->now_ms);
}

static int heartbeat_post(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct heartbeat hb = {0};
    struct check ck = {0};
    int64_t now = clock_now_ms();
    if (!heartbeat_read(&ck, http_req_json(req), &hb)) {
        free(hb.inventory);
        return check_reply(req, &ck);
    }
    struct heartbeat_tx x = {.cl = &auth_actor(req)->claims, .hb = &hb, .now_ms = now};
    int r = store_tx(app->store, 0, heartbeat_tx, &x);
    free(hb.inventory);
    if (x.gone)
        return auth_device_gone(req);
    if (r < 0)
        return r;
    return http_reply_empty(req, 204);
}

/* ---- POST /v1/player/events ---------------------------------------------------------------- */

/* The §27.8.3 event types and severities are protocol.h's. */

struct event {
    const char *id, *type, *severity;
    char derived[44]; /* "h:" + 40 hex digits: the id of an event that came without one */
    char time[TIMESTAMP_STR_LEN];
    char *payload; /* compact JSON, owned */
};

static void events_free(struct event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ev[i].payload);
    free(ev);
}

/* Reads the batch into *ret (n events); a problem in @ck otherwise. */
static bool events_read(struct check *ck, json_t *b, struct event **ret, size_t *ret_n)
{
    static const char *const top[] = {"deviceTime", "events", NULL};
    static const char *const fields[] = {"eventId",  "eventType", "eventTimeUtc",
                                         "severity", "payload",   NULL};
    char device_time[TIMESTAMP_STR_LEN];
    *ret = NULL;
    *ret_n = 0;
    if (!only(ck, b, "", top) || !get_time(ck, b, "", "deviceTime", true, device_time, NULL))
        return false;
    json_t *list = json_object_get(b, "events");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return bad(ck, 400, "INVALID_FIELD", "must be an array of 1 to 100 events", "events");
    size_t n = json_array_size(list);
    struct event *ev = xcalloc(n, sizeof(*ev));
    *ret = ev;
    *ret_n = n;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        char prefix[40];
        snprintf(prefix, sizeof(prefix), "events[%zu].", i);
        if (!json_is_object(e))
            return bad(ck, 400, "INVALID_FIELD", "must be an object", "events[%zu]", i);
        if (!only(ck, e, prefix, fields) ||
            !get_text(ck, e, prefix, "eventId", false, EVENT_ID_MAX, &ev[i].id) ||
            !get_text(ck, e, prefix, "eventType", true, TEXT_MAX, &ev[i].type) ||
            !get_enum(ck, e, prefix, "severity", true, protocol_severities, &ev[i].severity) ||
            !get_time(ck, e, prefix, "eventTimeUtc", true, ev[i].time, NULL))
            return false;
        if (!protocol_event_known(ev[i].type))
            return bad(ck, 422, "UNKNOWN_EVENT_TYPE", "is not an event type of §27.8.3",
                       "%seventType", prefix);
        json_t *payload = json_object_get(e, "payload");
        if (payload && !json_is_null(payload) && !json_is_object(payload))
            return bad(ck, 400, "INVALID_FIELD", "must be an object", "%spayload", prefix);
        ev[i].payload = payload && json_is_object(payload)
                            ? json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER)
                            : xstrdup("{}");
        if (!ev[i].payload || strlen(ev[i].payload) > PAYLOAD_MAX_BYTES)
            return bad(ck, 400, "INVALID_FIELD", "must be at most 4096 bytes of JSON", "%spayload",
                       prefix);
        if (!ev[i].id) {
            /* the same event sent again (type, time, severity, payload) is the same event */
            _cleanup_free_ char *text =
                xasprintf("%s|%s|%s|%s", ev[i].type, ev[i].time, ev[i].severity, ev[i].payload);
            char hex[HASH_SHA256_HEX_LEN];
            hash_sha256_hex(text, strlen(text), hex);
            snprintf(ev[i].derived, sizeof(ev[i].derived), "h:%.40s", hex);
            ev[i].id = ev[i].derived;
            continue;
        }
        for (size_t k = 0; k < i; k++)
            if (ev[k].id != ev[k].derived && !strcmp(ev[k].id, ev[i].id))
                return bad(ck, 400, "INVALID_FIELD", "repeats the id of an earlier event",
                           "%seventId", prefix);
    }
    return true;
}

struct events_tx {
    const struct token_claims *cl;
    const struct event *ev;
    size_t n;
    int64_t now_ms;
    bool gone;
    unsigned added, watched; /* events stored; of those, the kinds alerts count */
};

static int events_tx(struct store_conn *c, void *ud)
{
    struct events_tx *x = ud;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(x->now_ms, now);
    int r = device_hold(c, x->cl, now, NULL);
    if (r <= 0) {
        x->gone = r == 0;
        return r;
    }
    x->added = x->watched = 0;
    for (size_t i = 0; i < x->n; i++) {
        char id[UUID_STR_LEN];
        ids_uuid(id);
        const struct store_param p[] = {STORE_TEXT(id),
                                        STORE_TEXT(x->cl->tid),
                                        STORE_TEXT(x->cl->vid),
                                        STORE_TEXT(x->cl->did),
                                        STORE_TEXT(x->ev[i].type),
                                        STORE_TEXT(x->ev[i].time),
                                        STORE_TEXT(x->ev[i].payload),
                                        STORE_TEXT(x->ev[i].severity),
                                        STORE_TEXT(now),
                                        STORE_TEXT(x->ev[i].id)};
        r = store_exec(c,
                       "INSERT INTO device_events (device_event_id, tenant_id, venue_id, "
                       "device_id, event_type, event_time_utc, payload_json, severity, "
                       "created_at_utc, client_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                       "$8, $9, $10) ON CONFLICT (device_id, client_event_id) DO NOTHING",
                       p, ARRAY_SIZE(p), NULL);
        if (r < 0)
            return r;
        x->added += (unsigned)r;
        if (r > 0 &&
            (!strcmp(x->ev[i].type, "DOWNLOAD_FAILED") || !strcmp(x->ev[i].severity, "ERROR")))
            x->watched++;
    }
    /* only failures can open an alert (alerts.c) */
    return x->watched ? alerts_after_events(c, x->cl, x->now_ms) : 0;
}

static int events_post(struct http_request *req, void *ud)
{
    struct app *app = ud;
    json_t *list = json_object_get(http_req_json(req), "events");
    if (json_is_array(list) && json_array_size(list) > EVENTS_MAX)
        return http_reply_problem(req, 413, "TOO_MANY_EVENTS",
                                  "A batch holds at most 100 events: split it.",
                                  json_pack("{s:i}", "maxEvents", EVENTS_MAX));
    struct check ck = {0};
    struct event *ev = NULL;
    size_t n = 0;
    int64_t now = clock_now_ms();
    if (!events_read(&ck, http_req_json(req), &ev, &n)) {
        events_free(ev, n);
        return check_reply(req, &ck);
    }
    struct events_tx x = {.cl = &auth_actor(req)->claims, .ev = ev, .n = n, .now_ms = now};
    int r = store_tx(app->store, 0, events_tx, &x);
    events_free(ev, n);
    if (x.gone)
        return auth_device_gone(req);
    if (r < 0)
        return r;
    return http_reply_empty(req, 204);
}

/* ---- reads for operators ------------------------------------------------------------------- */

/* 0 when @device is a device of the caller's tenant in @venue (not removed), else -ENOENT. */
static int device_in_venue(struct app *app, const char *tid, const char *venue, const char *device)
{
    if (!ids_is_uuid(device))
        return -ENOENT;
    struct store_result *res = NULL;
    int r = store_query(
        app->store,
        "SELECT 1 FROM devices WHERE tenant_id = $1 AND venue_id = $2 AND "
        "device_id = $3 AND deleted_at_utc IS NULL",
        (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue), STORE_TEXT(device)}, 3, &res);
    if (r < 0)
        return r;
    r = store_result_rows(res) == 1 ? 0 : -ENOENT;
    store_result_free(res);
    return r;
}

static json_t *int_or_null(const struct store_result *res, size_t i, size_t col)
{
    int64_t v;
    return store_result_int(res, i, col, &v) < 0 ? json_null() : json_integer(v);
}

static json_t *bool_or_null(const struct store_result *res, size_t i, size_t col)
{
    int64_t v;
    return store_result_int(res, i, col, &v) < 0 ? json_null() : json_boolean(v != 0);
}

#define STATUS_COLS                                                                                \
    "s.is_online, s.last_heartbeat_at_utc, s.online_changed_at_utc, s.device_time_utc, "           \
    "s.clock_skew_ms, s.app_version, s.state, s.manifest_etag, s.sync_status, "                    \
    "s.heartbeat_interval_s, s.playback_playlist_id, s.playback_published_version, "               \
    "s.playback_current_asset_id, s.playback_current_item_index, s.playback_loop_count, "          \
    "s.cache_total_bytes, s.cache_used_bytes, s.cache_asset_count, s.cache_pending_downloads, "    \
    "s.network_connected, s.network_type, s.network_last_sync_at_utc, "                            \
    "s.errors_playback_failures, s.errors_download_failures, s.errors_manifest_fetch_failures, "   \
    "s.inventory_json"

/* GET /v1/venues/{venueId}/devices/{deviceId}/status: the last heartbeat, as the server read
 * it; never seen: online false and nulls. */
static int status_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const char *tid = auth_actor(req)->claims.tid, *venue = http_req_param(req, "venueId"),
               *device = http_req_param(req, "deviceId");
    int r = device_in_venue(app, tid, venue, device);
    if (r < 0)
        return r;
    struct store_result *res = NULL, *alerts = NULL;
    r = store_query(app->store,
                    "SELECT " STATUS_COLS " FROM device_status s WHERE s.tenant_id = $1 AND "
                    "s.device_id = $2",
                    (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(device)}, 2, &res);
    if (r >= 0)
        r = store_query(app->store,
                        "SELECT kind FROM device_alerts WHERE tenant_id = $1 AND device_id = $2 "
                        "AND status = 'OPEN' ORDER BY kind",
                        (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(device)}, 2, &alerts);
    if (r < 0) {
        store_result_free(res);
        return r;
    }
    json_t *open = json_array();
    for (size_t i = 0; i < store_result_rows(alerts); i++)
        json_array_append_new(open, json_string(store_result_text(alerts, i, 0)));
    store_result_free(alerts);
    bool seen = store_result_rows(res) == 1;
#define T(col) (seen ? adm_jstr(store_result_text(res, 0, (col))) : json_null())
#define I(col) (seen ? int_or_null(res, 0, (col)) : json_null())
    json_t *inventory = NULL;
    const char *inv = seen ? store_result_text(res, 0, 25) : NULL;
    if (inv)
        inventory = json_loads(inv, 0, NULL);
    int64_t online = 0;
    if (seen)
        store_result_int(res, 0, 0, &online);
    json_t *body = json_pack(
        "{s:s,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o,s:o,s:o},s:{s:o,s:o,s:o,s:o},"
        "s:{s:o,s:o,s:o},s:{s:o,s:o,s:o},s:o,s:o}",
        "deviceId", device, "online", online != 0, "lastHeartbeatAtUtc", T(1), "onlineChangedAtUtc",
        T(2), "deviceTimeUtc", T(3), "clockSkewMs", I(4), "appVersion", T(5), "state", T(6),
        "manifestEtag", T(7), "syncStatus", T(8), "heartbeatIntervalSeconds", I(9), "playback",
        "playlistId", T(10), "publishedVersion", I(11), "currentAssetId", T(12), "currentItemIndex",
        I(13), "loopCount", I(14), "cache", "totalBytes", I(15), "usedBytes", I(16), "assetCount",
        I(17), "pendingDownloads", I(18), "network", "connected",
        seen ? bool_or_null(res, 0, 19) : json_null(), "type", T(20), "lastSyncAtUtc", T(21),
        "errors", "playbackFailures", I(22), "downloadFailures", I(23), "manifestFetchFailures",
        I(24), "inventory", inventory ? inventory : json_null(), "openAlerts", open);
#undef T
#undef I
    store_result_free(res);
    return http_reply_json(req, 200, body);
}

/* GET /v1/venues/{venueId}/devices/{deviceId}/events: newest first as received, and the events
 * of one batch (received together) newest first by the device's time; filtered by ?type=,
 * ?severity=, ?since= (inclusive) and ?until= (exclusive), received at, ISO 8601. The cursor
 * carries the three sort keys. */
static int events_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const char *tid = auth_actor(req)->claims.tid, *device = http_req_param(req, "deviceId");
    int r = device_in_venue(app, tid, http_req_param(req, "venueId"), device);
    if (r < 0)
        return r;
    const char *type = http_req_query(req, "type") ?: "",
               *severity = http_req_query(req, "severity") ?: "";
    if (*type && !protocol_event_known(type))
        return http_field_problem(req, 400, "INVALID_QUERY", "type", "is not an event type");
    if (*severity && !protocol_severity_known(severity))
        return http_field_problem(req, 400, "INVALID_QUERY", "severity",
                                  "must be INFO, WARNING or ERROR");
    char bound[2][TIMESTAMP_STR_LEN] = {"", ""};
    static const char *const names[] = {"since", "until"};
    for (size_t b = 0; b < 2; b++) {
        const char *v = http_req_query(req, names[b]);
        int64_t ms;
        if (!v)
            continue;
        if (ids_timestamp_parse(v, &ms) < 0)
            return http_field_problem(req, 400, "INVALID_QUERY", names[b],
                                      "must be an ISO 8601 UTC time (…Z)");
        ids_timestamp(ms, bound[b]);
    }
    struct http_page page;
    if ((r = http_page_parse(req, 3, &page)) < 0)
        return r;
    const struct store_param p[] = {STORE_TEXT(tid),
                                    STORE_TEXT(device),
                                    STORE_TEXT(type),
                                    STORE_TEXT(severity),
                                    STORE_TEXT(bound[0]),
                                    STORE_TEXT(bound[1]),
                                    STORE_TEXT(page.n_after ? page.after[0] : ""),
                                    STORE_TEXT(page.n_after ? page.after[1] : ""),
                                    STORE_TEXT(page.n_after ? page.after[2] : ""),
                                    STORE_INT(page.limit + 1)};
    struct store_result *res = NULL;
    r = store_query(app->store,
                    "SELECT device_event_id, event_type, severity, event_time_utc, payload_json, "
                    "client_event_id, created_at_utc FROM device_events WHERE tenant_id = $1 AND "
                    "device_id = $2 AND ($3 = '' OR event_type = $3) AND ($4 = '' OR severity = "
                    "$4) AND ($5 = '' OR created_at_utc >= $5) AND ($6 = '' OR created_at_utc < "
                    "$6) AND ($7 = '' OR created_at_utc < $7 OR (created_at_utc = $7 AND "
                    "(event_time_utc < $8 OR (event_time_utc = $8 AND device_event_id < $9)))) "
                    "ORDER BY created_at_utc DESC, event_time_utc DESC, device_event_id DESC "
                    "LIMIT $10",
                    p, ARRAY_SIZE(p), &res);
    http_page_release(&page);
    if (r < 0)
        return r;
    size_t shown = store_result_rows(res) > page.limit ? page.limit : store_result_rows(res);
    char *cursor = NULL;
    if (store_result_rows(res) > page.limit) {
        const char *keys[] = {store_result_text(res, shown - 1, 6),
                              store_result_text(res, shown - 1, 3),
                              store_result_text(res, shown - 1, 0)};
        cursor = http_cursor_encode(keys, 3);
    }
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++) {
        json_t *payload = json_loads(store_result_text(res, i, 4), 0, NULL);
        json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:s}", "deviceEventId",
                                               store_result_text(res, i, 0), "eventType",
                                               store_result_text(res, i, 1), "severity",
                                               store_result_text(res, i, 2), "eventTimeUtc",
                                               store_result_text(res, i, 3), "payload",
                                               payload ? payload : json_object(), "eventId",
                                               adm_jstr(store_result_text(res, i, 5)),
                                               "receivedAtUtc", store_result_text(res, i, 6)));
    }
    store_result_free(res);
    return adm_reply_page(req, items, cursor);
}

/* GET /v1/venues/{venueId}/status-summary: the venue's screens at a glance (§29.4.6, §21); removed
 * devices and their alerts are left out. */
static int summary_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const char *tid = auth_actor(req)->claims.tid, *venue = http_req_param(req, "venueId");
    struct store_result *res = NULL, *alerts = NULL;
    int r = store_query(app->store,
                        "SELECT count(*), sum(CASE WHEN s.is_online = 1 THEN 1 ELSE 0 END), "
                        "sum(CASE WHEN s.device_id IS NULL THEN 1 ELSE 0 END), "
                        "sum(CASE WHEN s.sync_status = 'SYNCED' THEN 1 ELSE 0 END), "
                        "sum(CASE WHEN s.sync_status = 'SYNCING' THEN 1 ELSE 0 END), "
                        "sum(CASE WHEN s.sync_status = 'PENDING' THEN 1 ELSE 0 END), "
                        "sum(CASE WHEN s.sync_status = 'FAILED' THEN 1 ELSE 0 END), "
                        "sum(CASE WHEN s.sync_status = 'STALE' THEN 1 ELSE 0 END) FROM devices d "
                        "LEFT JOIN device_status s ON s.device_id = d.device_id WHERE "
                        "d.tenant_id = $1 AND d.venue_id = $2 AND d.deleted_at_utc IS NULL",
                        (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue)}, 2, &res);
    if (r >= 0)
        r = store_query(app->store,
                        "SELECT a.kind, count(*) FROM device_alerts a JOIN devices d ON "
                        "d.tenant_id = a.tenant_id AND d.device_id = a.device_id WHERE "
                        "a.tenant_id = $1 AND a.venue_id = $2 AND a.status = 'OPEN' AND "
                        "d.deleted_at_utc IS NULL GROUP BY a.kind ORDER BY a.kind",
                        (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue)}, 2, &alerts);
    if (r < 0) {
        store_result_free(res);
        return r;
    }
    int64_t n[8] = {0};
    for (size_t i = 0; i < ARRAY_SIZE(n); i++)
        store_result_int(res, 0, i, &n[i]);
    store_result_free(res);
    json_t *open = json_object();
    for (size_t i = 0; i < store_result_rows(alerts); i++) {
        int64_t k = 0;
        store_result_int(alerts, i, 1, &k);
        json_object_set_new(open, store_result_text(alerts, i, 0), json_integer(k));
    }
    store_result_free(alerts);
    return http_reply_json(req, 200,
                           json_pack("{s:s,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I},s:o}", "venueId",
                                     venue, "devices", (json_int_t)n[0], "online", (json_int_t)n[1],
                                     "offline", (json_int_t)(n[0] - n[1] - n[2]), "neverSeen",
                                     (json_int_t)n[2], "syncStatus", "SYNCED", (json_int_t)n[3],
                                     "SYNCING", (json_int_t)n[4], "PENDING", (json_int_t)n[5],
                                     "FAILED", (json_int_t)n[6], "STALE", (json_int_t)n[7],
                                     "openAlerts", open));
}

/* ---- routes -------------------------------------------------------------------------------- */

static const struct http_route routes[] = {
    {.method = HTTP_POST,
     .pattern = "/v1/player/heartbeat",
     .audience = HTTP_DEVICE,
     .rate_class = "heartbeat",
     .flags = HTTP_BODY_JSON | HTTP_DEVICE_SELF_CHECK,
     .max_body = HEARTBEAT_MAX_BODY,
     .handler = heartbeat_post},
    {.method = HTTP_POST,
     .pattern = "/v1/player/events",
     .audience = HTTP_DEVICE,
     .rate_class = "events",
     .flags = HTTP_BODY_JSON | HTTP_DEVICE_SELF_CHECK,
     .max_body = (EVENTS_MAX + 1) * (PAYLOAD_MAX_BYTES + 512),
     .handler = events_post},
    {.method = HTTP_GET,
     .pattern = "/v1/venues/{venueId}/devices/{deviceId}/status",
     .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER,
     .handler = status_get},
    {.method = HTTP_GET,
     .pattern = "/v1/venues/{venueId}/devices/{deviceId}/events",
     .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER,
     .handler = events_get},
    {.method = HTTP_GET,
     .pattern = "/v1/venues/{venueId}/status-summary",
     .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER,
     .handler = summary_get},
};

int telemetry_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
