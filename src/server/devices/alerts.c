/* SPDX-License-Identifier: MIT */
/*
 * alerts.c — online/offline and alerts (spec §17, §29.4.10; issue 7): what the server concludes
 * from heartbeats and events, and the operators' views of it.
 *
 * DESIGN
 * A device is online from a heartbeat until it misses three of its intervals (the interval it
 * promised in its last heartbeat, else 60 s). The "device-offline" task (ticker.c, every 15 s)
 * takes those devices offline, records OFFLINE_ENTERED as a server event (payload
 * {"source":"server"}) and opens DEVICE_OFFLINE; the next heartbeat records ONLINE_RESTORED and
 * resolves it.
 *
 * The other alerts open and resolve from what devices report, each with hysteresis so it does
 * not flap, and at most one open alert of a kind per device (a unique partial index):
 *   CACHE_NEARLY_FULL   heartbeat: used > 90% of the device's budget; resolved below 85%.
 *   SYNC_STALE          heartbeat: syncStatus STALE or FAILED; resolved by SYNCED.
 *   DOWNLOAD_FAILURES   3 DOWNLOAD_FAILED events within an hour, or a heartbeat counting 3
 *                       download failures; resolved by a heartbeat with none and SYNCED.
 *   ERRORS_RISING       10 ERROR events within an hour, or a heartbeat counting 5 playback or
 *                       manifest-fetch failures; resolved by a heartbeat with none after the
 *                       last hour held fewer than 10 ERROR events.
 * Events and resolved alerts older than event_retention_days go (task "event-retention",
 * hourly).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "auth/auth.h"
#include "devices/devices-internal.h"
#include "devices/devices.h"
#include "ids.h"
#include "log.h"
#include "macro.h"
#include "tenancy/admin-internal.h"
#include "ticker.h"

#define MISSED_INTERVALS    3
#define DEFAULT_INTERVAL_S  60
#define OFFLINE_SWEEP_MS    15000
#define OFFLINE_BATCH       500
#define RETENTION_EVERY_MS  3600000
#define CACHE_OPEN_PERMILLE 900
#define CACHE_SHUT_PERMILLE 850
#define DOWNLOADS_OPEN      3
#define ERRORS_OPEN_EVENTS  10
#define ERRORS_OPEN_COUNTS  5
#define HOUR_MS             3600000

/* ---- opening and resolving ----------------------------------------------------------------- */

struct who {
    const char *tid, *vid, *did;
};

static int alert_open(struct store_conn *c, const struct who *w, const char *kind,
                      const char *severity, const char *details, int64_t now_ms)
{
    char id[UUID_STR_LEN], now[TIMESTAMP_STR_LEN];
    ids_uuid(id);
    ids_timestamp(now_ms, now);
    return store_exec(c,
                      "INSERT INTO device_alerts (alert_id, tenant_id, venue_id, device_id, kind, "
                      "severity, details_json, opened_at_utc, updated_at_utc) VALUES ($1, $2, $3, "
                      "$4, $5, $6, $7, $8, $8) ON CONFLICT (device_id, kind) WHERE status = "
                      "'OPEN' DO NOTHING",
                      (struct store_param[]){STORE_TEXT(id), STORE_TEXT(w->tid), STORE_TEXT(w->vid),
                                             STORE_TEXT(w->did), STORE_TEXT(kind),
                                             STORE_TEXT(severity),
                                             STORE_TEXT(details ? details : "{}"), STORE_TEXT(now)},
                      8, NULL);
}

static int alert_resolve(struct store_conn *c, const struct who *w, const char *kind,
                         int64_t now_ms)
{
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms, now);
    return store_exec(c,
                      "UPDATE device_alerts SET status = 'RESOLVED', resolved_at_utc = $4, "
                      "updated_at_utc = $4 WHERE tenant_id = $1 AND device_id = $2 AND kind = $3 "
                      "AND status = 'OPEN'",
                      (struct store_param[]){STORE_TEXT(w->tid), STORE_TEXT(w->did),
                                             STORE_TEXT(kind), STORE_TEXT(now)},
                      4, NULL);
}

/* Opens @kind when @open, resolves it when @shut, else leaves it. */
static int alert_set(struct store_conn *c, const struct who *w, const char *kind,
                     const char *severity, bool open, bool shut, const char *details,
                     int64_t now_ms)
{
    if (open)
        return alert_open(c, w, kind, severity, details, now_ms);
    if (shut)
        return alert_resolve(c, w, kind, now_ms);
    return 0;
}

/* A transition the server saw, as an event of the device (server events carry no device id). */
static int server_event(struct store_conn *c, const struct who *w, const char *type,
                        const char *severity, const char *payload, int64_t now_ms)
{
    char id[UUID_STR_LEN], now[TIMESTAMP_STR_LEN];
    ids_uuid(id);
    ids_timestamp(now_ms, now);
    return store_exec(c,
                      "INSERT INTO device_events (device_event_id, tenant_id, venue_id, device_id, "
                      "event_type, event_time_utc, payload_json, severity, created_at_utc) VALUES "
                      "($1, $2, $3, $4, $5, $6, $7, $8, $6)",
                      (struct store_param[]){STORE_TEXT(id), STORE_TEXT(w->tid), STORE_TEXT(w->vid),
                                             STORE_TEXT(w->did), STORE_TEXT(type), STORE_TEXT(now),
                                             STORE_TEXT(payload), STORE_TEXT(severity)},
                      8, NULL);
}

int telemetry_went_online(struct store_conn *c, const struct token_claims *cl, int64_t now_ms)
{
    struct who w = {cl->tid, cl->vid, cl->did};
    int r = server_event(c, &w, "ONLINE_RESTORED", "INFO", "{\"source\":\"server\"}", now_ms);
    return r < 0 ? r : alert_resolve(c, &w, "DEVICE_OFFLINE", now_ms);
}

/* How many events of the device since @since_ms: of @type, or of severity ERROR when NULL. */
static int events_since(struct store_conn *c, const struct who *w, const char *type,
                        int64_t since_ms, int64_t *ret)
{
    char since[TIMESTAMP_STR_LEN];
    ids_timestamp(since_ms, since);
    struct store_result *res = NULL;
    int r = store_exec(
        c,
        type ? "SELECT count(*) FROM device_events WHERE device_id = $1 AND "
               "created_at_utc >= $2 AND event_type = $3"
             : "SELECT count(*) FROM device_events WHERE device_id = $1 AND "
               "created_at_utc >= $2 AND severity = 'ERROR' AND $3 = ''",
        (struct store_param[]){STORE_TEXT(w->did), STORE_TEXT(since), STORE_TEXT(type ? type : "")},
        3, &res);
    if (r < 0)
        return r;
    *ret = 0;
    store_result_int(res, 0, 0, ret);
    store_result_free(res);
    return 0;
}

int alerts_after_heartbeat(struct store_conn *c, const struct token_claims *cl, int64_t now_ms)
{
    struct who w = {cl->tid, cl->vid, cl->did};
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT s.cache_used_bytes, d.cache_budget_bytes, s.sync_status, "
                       "s.errors_download_failures, s.errors_playback_failures, "
                       "s.errors_manifest_fetch_failures FROM device_status s JOIN devices d ON "
                       "d.device_id = s.device_id WHERE s.device_id = $1",
                       (struct store_param[]){STORE_TEXT(cl->did)}, 1, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -EIO;
    }
    int64_t used = -1, budget = 0, dl = 0, play = 0, mf = 0;
    bool has_used = store_result_int(res, 0, 0, &used) >= 0;
    store_result_int(res, 0, 1, &budget);
    char sync[16];
    snprintf(sync, sizeof(sync), "%s", store_result_text(res, 0, 2) ?: "");
    store_result_int(res, 0, 3, &dl);
    store_result_int(res, 0, 4, &play);
    store_result_int(res, 0, 5, &mf);
    store_result_free(res);

    char details[160];
    int64_t permille = has_used && budget > 0 ? used * 1000 / budget : -1;
    snprintf(details, sizeof(details), "{\"usedBytes\":%lld,\"budgetBytes\":%lld}", (long long)used,
             (long long)budget);
    if ((r = alert_set(c, &w, "CACHE_NEARLY_FULL", "WARNING", permille > CACHE_OPEN_PERMILLE,
                       permille >= 0 && permille < CACHE_SHUT_PERMILLE, details, now_ms)) < 0)
        return r;
    snprintf(details, sizeof(details), "{\"syncStatus\":\"%s\"}", sync);
    bool synced = !strcmp(sync, "SYNCED");
    if ((r = alert_set(c, &w, "SYNC_STALE", "WARNING",
                       !strcmp(sync, "STALE") || !strcmp(sync, "FAILED"), synced, details,
                       now_ms)) < 0)
        return r;
    snprintf(details, sizeof(details), "{\"downloadFailures\":%lld}", (long long)dl);
    if ((r = alert_set(c, &w, "DOWNLOAD_FAILURES", "WARNING", dl >= DOWNLOADS_OPEN,
                       dl == 0 && synced, details, now_ms)) < 0)
        return r;
    int64_t errors = 0;
    if (play + mf == 0 && (r = events_since(c, &w, NULL, now_ms - HOUR_MS, &errors)) < 0)
        return r;
    snprintf(details, sizeof(details), "{\"playbackFailures\":%lld,\"manifestFetchFailures\":%lld}",
             (long long)play, (long long)mf);
    return alert_set(c, &w, "ERRORS_RISING", "ERROR", play + mf >= ERRORS_OPEN_COUNTS,
                     play + mf == 0 && errors < ERRORS_OPEN_EVENTS, details, now_ms);
}

int alerts_after_events(struct store_conn *c, const struct token_claims *cl, int64_t now_ms)
{
    struct who w = {cl->tid, cl->vid, cl->did};
    int64_t downloads = 0, errors = 0;
    int r = events_since(c, &w, "DOWNLOAD_FAILED", now_ms - HOUR_MS, &downloads);
    if (r >= 0)
        r = events_since(c, &w, NULL, now_ms - HOUR_MS, &errors);
    if (r < 0)
        return r;
    char details[96];
    snprintf(details, sizeof(details), "{\"eventsLastHour\":%lld}", (long long)downloads);
    if (downloads >= DOWNLOADS_OPEN &&
        (r = alert_open(c, &w, "DOWNLOAD_FAILURES", "WARNING", details, now_ms)) < 0)
        return r;
    snprintf(details, sizeof(details), "{\"errorEventsLastHour\":%lld}", (long long)errors);
    if (errors >= ERRORS_OPEN_EVENTS &&
        (r = alert_open(c, &w, "ERRORS_RISING", "ERROR", details, now_ms)) < 0)
        return r;
    return 0;
}

/* ---- the tasks ----------------------------------------------------------------------------- */

struct sweep {
    int64_t now_ms;
    unsigned offline;
};

/* One batch: online devices whose last heartbeat is older than three of their intervals. */
static int sweep_tx(struct store_conn *c, void *ud)
{
    struct sweep *x = ud;
    char now[TIMESTAMP_STR_LEN], oldest[TIMESTAMP_STR_LEN];
    ids_timestamp(x->now_ms, now);
    /* the index finds heartbeats older than the shortest interval could allow (5 s × 3); the
     * interval of each row decides */
    ids_timestamp(x->now_ms - MISSED_INTERVALS * 5000, oldest);
    struct store_result *res = NULL;
    int r =
        store_exec(c,
                   "SELECT device_id, tenant_id, venue_id, last_heartbeat_at_utc, "
                   "heartbeat_interval_s FROM device_status WHERE is_online = 1 AND "
                   "last_heartbeat_at_utc < $1 ORDER BY last_heartbeat_at_utc LIMIT $2",
                   (struct store_param[]){STORE_TEXT(oldest), STORE_INT(OFFLINE_BATCH)}, 2, &res);
    if (r < 0)
        return r;
    x->offline = 0;
    for (size_t i = 0; r >= 0 && i < store_result_rows(res); i++) {
        int64_t last = 0, interval = DEFAULT_INTERVAL_S;
        if (ids_timestamp_parse(store_result_text(res, i, 3), &last) < 0)
            continue;
        store_result_int(res, i, 4, &interval);
        if (x->now_ms - last < MISSED_INTERVALS * interval * 1000)
            continue;
        struct who w = {store_result_text(res, i, 1), store_result_text(res, i, 2),
                        store_result_text(res, i, 0)};
        char payload[128];
        snprintf(payload, sizeof(payload), "{\"source\":\"server\",\"lastOnlineAtUtc\":\"%s\"}",
                 store_result_text(res, i, 3));
        r = store_exec(c,
                       "UPDATE device_status SET is_online = 0, online_changed_at_utc = $2, "
                       "updated_at_utc = $2 WHERE device_id = $1 AND is_online = 1",
                       (struct store_param[]){STORE_TEXT(w.did), STORE_TEXT(now)}, 2, NULL);
        if (r == 1 &&
            (r = server_event(c, &w, "OFFLINE_ENTERED", "WARNING", payload, x->now_ms)) >= 0)
            r = alert_open(c, &w, "DEVICE_OFFLINE", "ERROR", payload, x->now_ms);
        if (r >= 0)
            x->offline++;
    }
    store_result_free(res);
    return r < 0 ? r : 0;
}

static int offline_task(struct app *app, int64_t now_ms, json_t **ret)
{
    struct sweep x = {.now_ms = now_ms};
    unsigned total = 0;
    int r;
    do {
        r = store_tx(app->store, 0, sweep_tx, &x);
        total += x.offline;
    } while (r >= 0 && x.offline == OFFLINE_BATCH);
    if (r < 0)
        return r;
    if (total)
        log_msg(LOG_INFO, "devices_offline", "%u device(s) went offline", total);
    if (ret)
        *ret = json_pack("{s:I}", "wentOffline", (json_int_t)total);
    return 0;
}

static int retention_task(struct app *app, int64_t now_ms, json_t **ret)
{
    char cutoff[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms - app->cfg.event_retention_days * 86400 * INT64_C(1000), cutoff);
    struct store_conn *c;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    int events = store_exec(c, "DELETE FROM device_events WHERE created_at_utc < $1",
                            (struct store_param[]){STORE_TEXT(cutoff)}, 1, NULL);
    int alerts = events < 0 ? events
                            : store_exec(c,
                                         "DELETE FROM device_alerts WHERE status = 'RESOLVED' AND "
                                         "resolved_at_utc < $1",
                                         (struct store_param[]){STORE_TEXT(cutoff)}, 1, NULL);
    store_release(c);
    if (alerts < 0)
        return alerts;
    if (ret)
        *ret = json_pack("{s:i,s:i}", "eventsDeleted", events, "alertsDeleted", alerts);
    return 0;
}

/* ---- GET …/alerts -------------------------------------------------------------------------- */

static json_t *alert_json(const struct store_result *res, size_t i)
{
    json_t *details = NULL;
    const char *d = store_result_text(res, i, 7);
    if (d)
        details = json_loads(d, 0, NULL);
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:o}", "alertId", store_result_text(res, i, 0), "venueId",
        store_result_text(res, i, 1), "deviceId", store_result_text(res, i, 2), "kind",
        store_result_text(res, i, 3), "severity", store_result_text(res, i, 4), "status",
        store_result_text(res, i, 5), "details", details ? details : json_object(), "openedAtUtc",
        store_result_text(res, i, 6), "resolvedAtUtc", adm_jstr(store_result_text(res, i, 8)));
}

/* Alerts, newest first: of one venue (@venue), or of the tenant. ?status=OPEN (default),
 * RESOLVED or ALL; ?deviceId=. */
static int alerts_list(struct http_request *req, struct app *app, const char *venue)
{
    const struct auth_actor *a = auth_actor(req);
    const char *status = http_req_query(req, "status") ?: "OPEN";
    const char *device = http_req_query(req, "deviceId");
    if (strcmp(status, "OPEN") && strcmp(status, "RESOLVED") && strcmp(status, "ALL"))
        return http_field_problem(req, 400, "INVALID_QUERY", "status",
                                  "must be OPEN, RESOLVED or ALL");
    if (device && !ids_is_uuid(device))
        return http_field_problem(req, 400, "INVALID_QUERY", "deviceId", "must be a device id");
    struct http_page page;
    int r = http_page_parse(req, 2, &page);
    if (r < 0)
        return r;
    const struct store_param p[] = {STORE_TEXT(a->claims.tid),
                                    STORE_TEXT(venue ? venue : ""),
                                    STORE_TEXT(status),
                                    STORE_TEXT(device ? device : ""),
                                    STORE_TEXT(page.n_after ? page.after[0] : ""),
                                    STORE_TEXT(page.n_after ? page.after[1] : ""),
                                    STORE_INT(page.limit + 1)};
    struct store_result *res = NULL;
    r = store_query(app->store,
                    "SELECT alert_id, venue_id, device_id, kind, severity, status, opened_at_utc, "
                    "details_json, resolved_at_utc FROM device_alerts WHERE tenant_id = $1 AND "
                    "($2 = '' OR venue_id = $2) AND ($3 = 'ALL' OR status = $3) AND "
                    "($4 = '' OR device_id = $4) AND ($5 = '' OR opened_at_utc < $5 OR "
                    "(opened_at_utc = $5 AND alert_id < $6)) ORDER BY opened_at_utc DESC, "
                    "alert_id DESC LIMIT $7",
                    p, ARRAY_SIZE(p), &res);
    http_page_release(&page);
    if (r < 0)
        return r;
    size_t shown;
    char *cursor = adm_page_next(res, page.limit, 6, 0, &shown);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(items, alert_json(res, i));
    store_result_free(res);
    return adm_reply_page(req, items, cursor);
}

static int venue_alerts(struct http_request *req, void *ud)
{
    return alerts_list(req, ud, http_req_param(req, "venueId"));
}

static int tenant_alerts(struct http_request *req, void *ud)
{
    return alerts_list(req, ud, NULL);
}

static const struct http_route routes[] = {
    {.method = HTTP_GET,
     .pattern = "/v1/venues/{venueId}/alerts",
     .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER,
     .handler = venue_alerts},
    {.method = HTTP_GET,
     .pattern = "/v1/alerts",
     .audience = HTTP_USER,
     .min_role = AUTH_TENANT_VIEWER,
     .handler = tenant_alerts},
};

int alerts_register(struct app *app)
{
    static const struct ticker_task tasks[] = {
        {"device-offline", OFFLINE_SWEEP_MS, offline_task},
        {"event-retention", RETENTION_EVERY_MS, retention_task},
    };
    for (size_t i = 0; i < ARRAY_SIZE(tasks); i++) {
        int r = ticker_add(app, &tasks[i]);
        if (r < 0)
            return r;
    }
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
