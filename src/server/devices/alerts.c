/* SPDX-License-Identifier: MIT */
/*
 * alerts.c — online/offline and alerts (spec §17, §29.4.10; issue 7): what the server concludes
 * from heartbeats and events, and the operators' views of it.
 *
 * DESIGN
 * A device is online from a heartbeat until it misses three of its intervals (the interval it
 * promised in its last heartbeat, else 60 s). The "device-offline" task (ticker.c, every 15 s)
 * takes those devices offline, records OFFLINE_ENTERED as a server event (payload
 * {"source":"server","lastOnlineAtUtc":…}) and opens DEVICE_OFFLINE (not for a DISABLED device:
 * an operator switched it off); removed devices are not swept at all. The sweep asks which
 * intervals the online devices promised, then for each reads only the devices that are due, in
 * pages by (last heartbeat, device id): devices that promised long intervals cannot hide the
 * others, and the healthy majority is never read. A device whose heartbeat landed since its page
 * was read stays online (the UPDATE names the heartbeat it read). The next heartbeat of an offline
 * device brings it back: is_online flips in an UPDATE … WHERE is_online = 0, so of two concurrent
 * heartbeats only one records ONLINE_RESTORED (payload
 * {"source":"server","offlineDurationSeconds":n}) and resolves DEVICE_OFFLINE. A device's first
 * heartbeat ever is no transition and records nothing.
 *
 * The other alerts open and resolve from what devices report, each with hysteresis so it does
 * not flap, and at most one open alert of a kind per device (a unique partial index; opening an
 * open one again refreshes its details):
 *   CACHE_NEARLY_FULL   heartbeat: used > 90% of the device's budget; resolved below 85%.
 *   SYNC_STALE          heartbeat: syncStatus STALE or FAILED; resolved by SYNCED.
 *   DOWNLOAD_FAILURES   3 DOWNLOAD_FAILED events within an hour, or a heartbeat counting 3
 *                       download failures; resolved by a heartbeat reporting 0 and SYNCED (or
 *                       no sync status at all: §27.8.2 has none).
 *   ERRORS_RISING       10 ERROR events within an hour, or a heartbeat counting 5 playback and
 *                       manifest-fetch failures; resolved by a heartbeat reporting 0 of both
 *                       after the last hour held fewer than 10 ERROR events.
 * A heartbeat that does not report a figure (no cache, no errors) decides nothing about the
 * alerts that figure drives. The events counted are those received in the last hour and after
 * the last resolution of that alert on the device: the failures an operator saw resolved do not
 * open it again with the next batch. The alert lists and the venue summary leave out removed
 * devices. Events and resolved alerts older than event_retention_days go (task
 * "event-retention", hourly).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

#define MISSED_INTERVALS   3
#define DEFAULT_INTERVAL_S 60
#define OFFLINE_SWEEP_MS   15000
#define OFFLINE_BATCH      500
#define RETENTION_EVERY_MS 3600000
#define CACHE_OPEN_PCT     90
#define CACHE_SHUT_PCT     85
#define DOWNLOADS_OPEN     3
#define ERRORS_OPEN_EVENTS 10
#define ERRORS_OPEN_COUNTS 5
#define HOUR_MS            3600000
#define SWEEP_FLOOR_S      5 /* the shortest interval a heartbeat may promise (telemetry.c) */

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
                      "'OPEN' DO UPDATE SET details_json = excluded.details_json, "
                      "updated_at_utc = excluded.updated_at_utc",
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

/* The kinds of alert open on the device now, as a mask of 1 << index in @kinds: a heartbeat of a
 * healthy device (the usual one) then writes nothing more. 0 and *ret, or -errno. */
static const char *const kinds[] = {"DEVICE_OFFLINE", "DOWNLOAD_FAILURES", "CACHE_NEARLY_FULL",
                                    "ERRORS_RISING", "SYNC_STALE"};
enum { K_OFFLINE, K_DOWNLOADS, K_CACHE, K_ERRORS, K_SYNC };

static int open_kinds(struct store_conn *c, const struct who *w, unsigned *ret)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT kind FROM device_alerts WHERE tenant_id = $1 AND device_id = $2 AND "
                       "status = 'OPEN'",
                       (struct store_param[]){STORE_TEXT(w->tid), STORE_TEXT(w->did)}, 2, &res);
    if (r < 0)
        return r;
    unsigned mask = 0;
    for (size_t i = 0; i < store_result_rows(res); i++)
        for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
            if (!strcmp(store_result_text(res, i, 0), kinds[k]))
                mask |= 1u << k;
    store_result_free(res);
    *ret = mask;
    return 0;
}

/* Opens kind @k when @open (or refreshes the open one's details), resolves it when @shut and it
 * is open (@mask), else leaves it. */
static int alert_set(struct store_conn *c, const struct who *w, unsigned mask, int k,
                     const char *severity, bool open, bool shut, const char *details,
                     int64_t now_ms)
{
    if (open)
        return alert_open(c, w, kinds[k], severity, details, now_ms);
    if (shut && (mask & (1u << k)))
        return alert_resolve(c, w, kinds[k], now_ms);
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

/* Called by a heartbeat once it wrote the device's row (and so holds its lock): when the row
 * says offline, online again from @now_ms, with the event and DEVICE_OFFLINE resolved. 1 when
 * this call made the transition, 0 when there was none to make (online already, or no row:
 * a first heartbeat is no transition), -errno. */
int telemetry_went_online(struct store_conn *c, const struct token_claims *cl, int64_t now_ms)
{
    struct who w = {cl->tid, cl->vid, cl->did};
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT online_changed_at_utc FROM device_status WHERE tenant_id = $1 AND "
                       "device_id = $2 AND is_online = 0",
                       (struct store_param[]){STORE_TEXT(w.tid), STORE_TEXT(w.did)}, 2, &res);
    if (r < 0)
        return r;
    bool offline = store_result_rows(res) == 1;
    int64_t since = now_ms;
    const char *changed = store_result_text(res, 0, 0);
    if (changed && ids_timestamp_parse(changed, &since) < 0)
        since = now_ms;
    store_result_free(res);
    if (!offline)
        return 0;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms, now);
    /* the row lock decides which of two concurrent heartbeats made the transition */
    r = store_exec(c,
                   "UPDATE device_status SET is_online = 1, online_changed_at_utc = $3 WHERE "
                   "tenant_id = $1 AND device_id = $2 AND is_online = 0",
                   (struct store_param[]){STORE_TEXT(w.tid), STORE_TEXT(w.did), STORE_TEXT(now)}, 3,
                   NULL);
    if (r <= 0)
        return r;
    char payload[96];
    snprintf(payload, sizeof(payload), "{\"source\":\"server\",\"offlineDurationSeconds\":%lld}",
             (long long)(since < now_ms ? (now_ms - since) / 1000 : 0));
    if ((r = server_event(c, &w, "ONLINE_RESTORED", "INFO", payload, now_ms)) < 0 ||
        (r = alert_resolve(c, &w, "DEVICE_OFFLINE", now_ms)) < 0)
        return r;
    return 1;
}

/* How many events of the device alert @kind counts: of @type, or of severity ERROR when NULL,
 * received in the last hour and after the last time @kind was resolved on the device (both in
 * its venue now: the filters the venue indexes of 0001/0005 serve). 0 and *ret, or -errno
 * (*ret untouched). */
static int events_counted(struct store_conn *c, const struct who *w, const char *kind,
                          const char *type, int64_t now_ms, int64_t *ret)
{
    char hour_ago[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms - HOUR_MS, hour_ago);
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT max(resolved_at_utc) FROM device_alerts WHERE tenant_id = $1 AND "
                       "venue_id = $4 AND status = 'RESOLVED' AND device_id = $2 AND kind = $3",
                       (struct store_param[]){STORE_TEXT(w->tid), STORE_TEXT(w->did),
                                              STORE_TEXT(kind), STORE_TEXT(w->vid)},
                       4, &res);
    if (r < 0)
        return r;
    char since[TIMESTAMP_STR_LEN];
    const char *resolved = store_result_text(res, 0, 0);
    /* both are marquee's fixed-width timestamps: the later one sorts last */
    snprintf(since, sizeof(since), "%s",
             resolved && strcmp(resolved, hour_ago) > 0 ? resolved : hour_ago);
    store_result_free(res);
    res = NULL;
    r = store_exec(
        c,
        type ? "SELECT count(*) FROM device_events WHERE tenant_id = $1 AND venue_id = $5 AND "
               "created_at_utc > $3 AND device_id = $2 AND event_type = $4"
             : "SELECT count(*) FROM device_events WHERE tenant_id = $1 AND venue_id = $5 AND "
               "created_at_utc > $3 AND device_id = $2 AND severity = 'ERROR' AND $4 = ''",
        (struct store_param[]){STORE_TEXT(w->tid), STORE_TEXT(w->did), STORE_TEXT(since),
                               STORE_TEXT(type ? type : ""), STORE_TEXT(w->vid)},
        5, &res);
    if (r < 0)
        return r;
    int64_t n = 0;
    store_result_int(res, 0, 0, &n);
    store_result_free(res);
    *ret = n;
    return 0;
}

/* @part > @pct percent of @whole (> 0), without overflow: in doubles, exact for the sizes a
 * cache has (below 2^53 bytes) and a close rounding beyond. */
static bool share_above(int64_t part, int64_t whole, int pct)
{
    return (double)part * 100.0 > (double)whole * pct;
}

static bool share_below(int64_t part, int64_t whole, int pct)
{
    return (double)part * 100.0 < (double)whole * pct;
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
    /* a figure the heartbeat did not report (NULL) is -1: it decides nothing */
    int64_t used = -1, budget = 0, dl = -1, play = -1, mf = -1;
    store_result_int(res, 0, 0, &used);
    store_result_int(res, 0, 1, &budget);
    char sync[16];
    snprintf(sync, sizeof(sync), "%s", store_result_text(res, 0, 2) ?: "");
    store_result_int(res, 0, 3, &dl);
    store_result_int(res, 0, 4, &play);
    store_result_int(res, 0, 5, &mf);
    store_result_free(res);
    unsigned mask = 0;
    if ((r = open_kinds(c, &w, &mask)) < 0)
        return r;

    char details[160];
    bool known = used >= 0 && budget > 0;
    snprintf(details, sizeof(details), "{\"usedBytes\":%lld,\"budgetBytes\":%lld}", (long long)used,
             (long long)budget);
    if ((r = alert_set(c, &w, mask, K_CACHE, "WARNING",
                       known && share_above(used, budget, CACHE_OPEN_PCT),
                       known && share_below(used, budget, CACHE_SHUT_PCT), details, now_ms)) < 0)
        return r;
    snprintf(details, sizeof(details), "{\"syncStatus\":\"%s\"}", sync);
    bool synced = !strcmp(sync, "SYNCED");
    if ((r = alert_set(c, &w, mask, K_SYNC, "WARNING",
                       !strcmp(sync, "STALE") || !strcmp(sync, "FAILED"), synced, details,
                       now_ms)) < 0)
        return r;
    snprintf(details, sizeof(details), "{\"downloadFailures\":%lld}", (long long)dl);
    /* a player that does not say its sync status (it is marquee's addition to §27.8.2) is
     * taken at its download count alone */
    if ((r = alert_set(c, &w, mask, K_DOWNLOADS, "WARNING", dl >= DOWNLOADS_OPEN,
                       dl == 0 && (synced || !sync[0]), details, now_ms)) < 0)
        return r;
    int64_t failures = (play > 0 ? play : 0) + (mf > 0 ? mf : 0), errors = 0;
    bool none = play == 0 && mf == 0;
    if (none && (mask & (1u << K_ERRORS)) &&
        (r = events_counted(c, &w, kinds[K_ERRORS], NULL, now_ms, &errors)) < 0)
        return r;
    snprintf(details, sizeof(details), "{\"playbackFailures\":%lld,\"manifestFetchFailures\":%lld}",
             (long long)(play > 0 ? play : 0), (long long)(mf > 0 ? mf : 0));
    return alert_set(c, &w, mask, K_ERRORS, "ERROR", failures >= ERRORS_OPEN_COUNTS,
                     none && errors < ERRORS_OPEN_EVENTS, details, now_ms);
}

int alerts_after_events(struct store_conn *c, const struct token_claims *cl, int64_t now_ms)
{
    struct who w = {cl->tid, cl->vid, cl->did};
    unsigned mask = 0;
    int64_t downloads = 0, errors = 0;
    int r = open_kinds(c, &w, &mask);
    /* an alert open already stays as it is: no need to count */
    if (r >= 0 && !(mask & (1u << K_DOWNLOADS)))
        r = events_counted(c, &w, kinds[K_DOWNLOADS], "DOWNLOAD_FAILED", now_ms, &downloads);
    if (r >= 0 && !(mask & (1u << K_ERRORS)))
        r = events_counted(c, &w, kinds[K_ERRORS], NULL, now_ms, &errors);
    if (r < 0)
        return r;
    char details[96];
    snprintf(details, sizeof(details), "{\"downloadFailedEvents\":%lld}", (long long)downloads);
    if (downloads >= DOWNLOADS_OPEN &&
        (r = alert_open(c, &w, kinds[K_DOWNLOADS], "WARNING", details, now_ms)) < 0)
        return r;
    snprintf(details, sizeof(details), "{\"errorEvents\":%lld}", (long long)errors);
    if (errors >= ERRORS_OPEN_EVENTS &&
        (r = alert_open(c, &w, kinds[K_ERRORS], "ERROR", details, now_ms)) < 0)
        return r;
    return 0;
}

/* ---- the tasks ----------------------------------------------------------------------------- */

struct sweep {
    int64_t now_ms;
    int64_t interval_s; /* the devices that promised this interval */
    /* where the page starts: after this (last heartbeat, device id); "" first */
    char after_time[TIMESTAMP_STR_LEN], after_id[UUID_STR_LEN];
    /* where the next one starts, set by a run of sweep_tx; taken once it committed (a
     * retried transaction starts its page again) */
    char next_time[TIMESTAMP_STR_LEN], next_id[UUID_STR_LEN];
    size_t rows;      /* rows of the page just read */
    unsigned offline; /* devices it took offline */
};

/* One device of a page whose three intervals have passed: offline, the event, the alert (not for
 * a DISABLED device). The UPDATE finds nothing when a heartbeat came in since the page was read
 * (or a concurrent sweep got there first): then nothing happens. 1 offline now, 0, -errno. */
static int sweep_one(struct store_conn *c, const struct who *w, const char *last_heartbeat,
                     bool disabled, int64_t now_ms)
{
    char now[TIMESTAMP_STR_LEN], payload[128];
    ids_timestamp(now_ms, now);
    int r = store_exec(c,
                       "UPDATE device_status SET is_online = 0, online_changed_at_utc = $3, "
                       "updated_at_utc = $3 WHERE tenant_id = $1 AND device_id = $2 AND "
                       "is_online = 1 AND last_heartbeat_at_utc = $4",
                       (struct store_param[]){STORE_TEXT(w->tid), STORE_TEXT(w->did),
                                              STORE_TEXT(now), STORE_TEXT(last_heartbeat)},
                       4, NULL);
    if (r <= 0)
        return r;
    snprintf(payload, sizeof(payload), "{\"source\":\"server\",\"lastOnlineAtUtc\":\"%s\"}",
             last_heartbeat);
    if ((r = server_event(c, w, "OFFLINE_ENTERED", "WARNING", payload, now_ms)) < 0)
        return r;
    if (!disabled && (r = alert_open(c, w, "DEVICE_OFFLINE", "ERROR", payload, now_ms)) < 0)
        return r;
    return 1;
}

/* One page of the online devices (not removed) that promised x->interval_s and have missed
 * three of those intervals, after the previous page. Every row is due, so a short page is the
 * last one. */
static int sweep_tx(struct store_conn *c, void *ud)
{
    struct sweep *x = ud;
    char oldest[TIMESTAMP_STR_LEN];
    ids_timestamp(x->now_ms - MISSED_INTERVALS * x->interval_s * 1000, oldest);
    struct store_result *res = NULL;
    int r = store_exec(
        c,
        "SELECT s.device_id, s.tenant_id, s.venue_id, s.last_heartbeat_at_utc, d.status FROM "
        "device_status s JOIN devices d ON d.tenant_id = s.tenant_id AND d.device_id = "
        "s.device_id WHERE s.is_online = 1 AND s.last_heartbeat_at_utc < $1 AND "
        "COALESCE(s.heartbeat_interval_s, $2) = $3 AND d.deleted_at_utc IS NULL AND ($4 = '' OR "
        "s.last_heartbeat_at_utc > $4 OR (s.last_heartbeat_at_utc = $4 AND s.device_id > $5)) "
        "ORDER BY s.last_heartbeat_at_utc, s.device_id LIMIT $6",
        (struct store_param[]){STORE_TEXT(oldest), STORE_INT(DEFAULT_INTERVAL_S),
                               STORE_INT(x->interval_s), STORE_TEXT(x->after_time),
                               STORE_TEXT(x->after_id), STORE_INT(OFFLINE_BATCH)},
        6, &res);
    if (r < 0)
        return r;
    x->rows = store_result_rows(res);
    x->offline = 0;
    for (size_t i = 0; r >= 0 && i < x->rows; i++) {
        struct who w = {store_result_text(res, i, 1), store_result_text(res, i, 2),
                        store_result_text(res, i, 0)};
        const char *status = store_result_text(res, i, 4);
        r = sweep_one(c, &w, store_result_text(res, i, 3), status && !strcmp(status, "DISABLED"),
                      x->now_ms);
        if (r > 0)
            x->offline++;
    }
    if (r >= 0 && x->rows > 0) {
        snprintf(x->next_time, sizeof(x->next_time), "%s",
                 store_result_text(res, x->rows - 1, 3) ?: "");
        snprintf(x->next_id, sizeof(x->next_id), "%s",
                 store_result_text(res, x->rows - 1, 0) ?: "");
    }
    store_result_free(res);
    return r < 0 ? r : 0;
}

/* The intervals promised by online devices that may be due: heard from longer ago than three of
 * the shortest interval a heartbeat may promise (a handful of values in practice: one query per
 * interval then reads only the devices that are due). *ret_n values into *ret (owned). */
static int sweep_intervals(struct app *app, int64_t now_ms, int64_t **ret, size_t *ret_n)
{
    char floor[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms - MISSED_INTERVALS * SWEEP_FLOOR_S * 1000, floor);
    struct store_result *res = NULL;
    int r = store_query(app->store,
                        "SELECT DISTINCT COALESCE(heartbeat_interval_s, $2) FROM device_status "
                        "WHERE is_online = 1 AND last_heartbeat_at_utc < $1",
                        (struct store_param[]){STORE_TEXT(floor), STORE_INT(DEFAULT_INTERVAL_S)}, 2,
                        &res);
    if (r < 0)
        return r;
    size_t n = store_result_rows(res), k = 0;
    int64_t *v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        if (store_result_int(res, i, 0, &v[k]) >= 0 && v[k] > 0)
            k++;
    store_result_free(res);
    *ret = v;
    *ret_n = k;
    return 0;
}

static int offline_task(struct app *app, int64_t now_ms, json_t **ret)
{
    int64_t *intervals = NULL;
    size_t n = 0;
    unsigned total = 0;
    int r = sweep_intervals(app, now_ms, &intervals, &n);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        struct sweep x = {.now_ms = now_ms, .interval_s = intervals[i]};
        do {
            r = store_tx(app->store, 0, sweep_tx, &x);
            if (r < 0)
                break;
            total += x.offline;
            memcpy(x.after_time, x.next_time, sizeof(x.after_time));
            memcpy(x.after_id, x.next_id, sizeof(x.after_id));
        } while (x.rows == OFFLINE_BATCH);
    }
    free(intervals);
    if (total)
        log_msg(LOG_INFO, "devices_offline", "%u device(s) went offline", total);
    if (r < 0)
        return r;
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
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:s}", "alertId", store_result_text(res, i, 0),
        "venueId", store_result_text(res, i, 1), "deviceId", store_result_text(res, i, 2), "kind",
        store_result_text(res, i, 3), "severity", store_result_text(res, i, 4), "status",
        store_result_text(res, i, 5), "details", details ? details : json_object(), "openedAtUtc",
        store_result_text(res, i, 6), "resolvedAtUtc", adm_jstr(store_result_text(res, i, 8)),
        "updatedAtUtc", store_result_text(res, i, 9));
}

/* Alerts, newest first: of one venue (@venue), or of the tenant. ?status=OPEN (default),
 * RESOLVED or ALL; ?deviceId=. A removed device's alerts are nobody's concern any more. */
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
                    "SELECT a.alert_id, a.venue_id, a.device_id, a.kind, a.severity, a.status, "
                    "a.opened_at_utc, a.details_json, a.resolved_at_utc, a.updated_at_utc FROM "
                    "device_alerts a JOIN devices d ON d.tenant_id = a.tenant_id AND "
                    "d.device_id = a.device_id WHERE a.tenant_id = $1 AND ($2 = '' OR "
                    "a.venue_id = $2) AND ($3 = 'ALL' OR a.status = $3) AND ($4 = '' OR "
                    "a.device_id = $4) AND d.deleted_at_utc IS NULL AND ($5 = '' OR "
                    "a.opened_at_utc < $5 OR (a.opened_at_utc = $5 AND a.alert_id < $6)) ORDER "
                    "BY a.opened_at_utc DESC, a.alert_id DESC LIMIT $7",
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
