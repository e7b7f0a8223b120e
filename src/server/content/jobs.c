/* SPDX-License-Identifier: MIT */
/*
 * jobs.c — the content module's background jobs (spec §13.5, §29.5), on marqueed's clock
 * (clock_now_ms, which the test suite can move), run by marqueed's ticker (ticker.c): every
 * minute the timeouts and a re-scan of PROCESSING assets, every hour the storage clean-up.
 *
 *   timeouts   UPLOADING > 60 min and PROCESSING > 10 min → FAILED / PROCESSING_TIMEOUT;
 *              the received bytes and the upload session are deleted.
 *   clean-up   FAILED assets older than 30 days, and assets soft-deleted more than 30 days
 *              ago that no playlist (published or draft) references, are hard-deleted with
 *              their files; completed upload sessions past their expiry are deleted; partial
 *              uploads whose asset no longer waits for them, stale temporary files, and
 *              objects no asset names are removed.
 * Each row changes in its own statement guarded by its status, so a job racing a worker or
 * a client never undoes what they did.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "audit.h"
#include "clock.h"
#include "content/content.h"
#include "ids.h"
#include "log.h"
#include "macro.h"
#include "store/store.h"
#include "ticker.h"

#define JOBS_BATCH        500
#define TMP_FILE_GRACE_MS (60LL * 60 * 1000)

/* The asset ids a query returns (at most JOBS_BATCH). */
static int ids_query(struct store *s, const char *sql, const char *arg, char ***ret, size_t *n)
{
    struct store_result *res = NULL;
    int r = store_query(s, sql, (struct store_param[]){STORE_TEXT(arg), STORE_INT(JOBS_BATCH)}, 2,
                        &res);
    if (r < 0)
        return r;
    *n = store_result_rows(res);
    *ret = xcalloc(*n ? *n : 1, sizeof(char *));
    for (size_t i = 0; i < *n; i++)
        (*ret)[i] = xstrdup(store_result_text(res, i, 0));
    store_result_free(res);
    return 0;
}

static void ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

struct timeout_tx {
    const char *asset_id;
    const char *from; /* UPLOADING / PROCESSING */
    const char *detail;
    const char *now;
    bool applied;
};

static int timeout_tx(struct store_conn *conn, void *ud)
{
    struct timeout_tx *x = ud;
    struct store_result *res = NULL;
    int r =
        store_exec(conn,
                   "UPDATE assets SET status = 'FAILED', failure_reason = 'PROCESSING_TIMEOUT', "
                   "failure_detail = $3, failed_at_utc = $4, updated_at_utc = $4 "
                   "WHERE asset_id = $1 AND status = $2 RETURNING tenant_id, scope_venue_id",
                   (struct store_param[]){STORE_TEXT(x->asset_id), STORE_TEXT(x->from),
                                          STORE_TEXT(x->detail), STORE_TEXT(x->now)},
                   4, &res);
    if (r < 0)
        return r;
    x->applied = store_result_rows(res) == 1;
    if (x->applied) {
        r = store_exec(conn, "DELETE FROM upload_sessions WHERE asset_id = $1",
                       (struct store_param[]){STORE_TEXT(x->asset_id)}, 1, NULL);
        json_t *details =
            json_pack("{s:s,s:s}", "failureReason", "PROCESSING_TIMEOUT", "was", x->from);
        struct audit_entry e = {.tenant_id = store_result_text(res, 0, 0),
                                .actor_type = "SYSTEM",
                                .action = "asset.failed",
                                .outcome = "FAILURE",
                                .resource_type = "ASSET",
                                .resource_id = x->asset_id,
                                .details = details};
        if (r >= 0)
            r = audit_write(conn, NULL, &e);
        if (r >= 0)
            r = asset_change(conn, e.tenant_id, x->asset_id, store_result_text(res, 0, 1), "failed",
                             NULL);
        json_decref(details);
    }
    store_result_free(res);
    return r;
}

/* Fails every asset of status @from whose @column is before @cutoff. How many, or -errno. */
static int time_out(struct content *c, const char *from, const char *column, int64_t cutoff_ms,
                    const char *detail)
{
    char cutoff[TIMESTAMP_STR_LEN], now[TIMESTAMP_STR_LEN];
    ids_timestamp(cutoff_ms, cutoff);
    ids_timestamp(clock_now_ms(), now);
    _cleanup_free_ char *sql = xasprintf("SELECT asset_id FROM assets WHERE status = '%s' AND "
                                         "%s < $1 ORDER BY %s LIMIT $2",
                                         from, column, column);
    char **ids;
    size_t n;
    int r = ids_query(c->app->store, sql, cutoff, &ids, &n);
    if (r < 0)
        return r;
    int done = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        struct timeout_tx x = {.asset_id = ids[i], .from = from, .detail = detail, .now = now};
        r = store_tx(c->app->store, 0, timeout_tx, &x);
        if (r >= 0 && x.applied) {
            _cleanup_free_ char *path = objstore_upload_path(c, ids[i]);
            unlink(path);
            done++;
        }
    }
    ids_free(ids, n);
    return r < 0 ? r : done;
}

int jobs_asset_timeouts(struct content *c, json_t **ret)
{
    int64_t now = clock_now_ms();
    int up = time_out(c, "UPLOADING", "created_at_utc", now - UPLOAD_SESSION_TTL_MS,
                      "The upload was not completed within 60 minutes. Please upload the file "
                      "again.");
    if (up < 0)
        return up;
    int proc = time_out(c, "PROCESSING", "processing_started_at_utc", now - PROCESSING_TIMEOUT_MS,
                        "Processing did not finish within 10 minutes. Please upload the file "
                        "again.");
    if (proc < 0)
        return proc;
    if (up || proc)
        log_json(LOG_INFO, "assets_timed_out",
                 json_pack("{s:i,s:i}", "uploading", up, "processing", proc));
    if (ret)
        *ret = json_pack("{s:i,s:i}", "uploadsTimedOut", up, "processingTimedOut", proc);
    return 0;
}

/* ---- storage clean-up ---------------------------------------------------------------------- */

/* Hard-deletes the assets a query lists. A foreign key (a playlist still names it) keeps the
 * row: -ENXIO is skipped. How many went. */
static int purge(struct content *c, const char *sql, const char *cutoff)
{
    char **ids;
    size_t n;
    int r = ids_query(c->app->store, sql, cutoff, &ids, &n);
    if (r < 0)
        return r;
    int done = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        r = store_query(c->app->store, "DELETE FROM assets WHERE asset_id = $1",
                        (struct store_param[]){STORE_TEXT(ids[i])}, 1, NULL);
        if (r == -ENXIO) {
            r = 0;
            continue;
        }
        if (r > 0) {
            _cleanup_free_ char *path = objstore_upload_path(c, ids[i]);
            unlink(path);
            done++;
        }
    }
    ids_free(ids, n);
    return r < 0 ? r : done;
}

/* Partial uploads whose asset waits for none (crash between a commit and an unlink), and
 * temporary files older than the grace period. */
static int sweep_files(struct content *c, int64_t now_ms, unsigned *ret_removed)
{
    unsigned removed = 0;
    DIR *d = opendir(c->uploads_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!ids_is_uuid(e->d_name))
            continue;
        struct store_result *res = NULL;
        int r = store_query(c->app->store,
                            "SELECT 1 FROM assets WHERE asset_id = $1 AND status IN "
                            "('UPLOADING', 'PROCESSING')",
                            (struct store_param[]){STORE_TEXT(e->d_name)}, 1, &res);
        if (r < 0) {
            closedir(d);
            return r;
        }
        bool waiting = store_result_rows(res) > 0;
        store_result_free(res);
        _cleanup_free_ char *path = xasprintf("%s/%s", c->uploads_dir, e->d_name);
        struct stat st;
        if (!waiting && stat(path, &st) == 0 &&
            (int64_t)st.st_mtime * 1000 + TMP_FILE_GRACE_MS <= now_ms && unlink(path) == 0)
            removed++;
    }
    if (d)
        closedir(d);
    d = opendir(c->tmp_dir);
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", c->tmp_dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (int64_t)st.st_mtime * 1000 + TMP_FILE_GRACE_MS <= now_ms && unlink(path) == 0)
            removed++;
    }
    if (d)
        closedir(d);
    *ret_removed = removed;
    return 0;
}

int jobs_storage_cleanup(struct content *c, json_t **ret)
{
    int64_t now = clock_now_ms();
    char cutoff[TIMESTAMP_STR_LEN], now_s[TIMESTAMP_STR_LEN];
    ids_timestamp(now - FAILED_RETENTION_MS, cutoff);
    ids_timestamp(now, now_s);
    int failed = purge(c,
                       "SELECT asset_id FROM assets WHERE status = 'FAILED' AND "
                       "failed_at_utc < $1 ORDER BY failed_at_utc LIMIT $2",
                       cutoff);
    if (failed < 0)
        return failed;
    int deleted = purge(c,
                        "SELECT a.asset_id FROM assets a WHERE a.deleted_at_utc < $1 AND "
                        "NOT EXISTS (SELECT 1 FROM playlist_published_items p "
                        "            WHERE p.asset_id = a.asset_id) AND "
                        "NOT EXISTS (SELECT 1 FROM playlist_items i WHERE i.asset_id = a.asset_id) "
                        "ORDER BY a.deleted_at_utc LIMIT $2",
                        cutoff);
    if (deleted < 0)
        return deleted;
    int sessions = store_query(c->app->store,
                               "DELETE FROM upload_sessions WHERE status = 'COMPLETED' AND "
                               "expires_at_utc < $1",
                               (struct store_param[]){STORE_TEXT(now_s)}, 1, NULL);
    if (sessions < 0)
        return sessions;
    unsigned files = 0, objects = 0;
    int r = sweep_files(c, now, &files);
    if (r < 0)
        return r;
    struct store_conn *conn;
    if ((r = store_acquire(c->app->store, &conn)) < 0)
        return r;
    r = objstore_gc(c, conn, now, &objects);
    store_release(conn);
    if (r < 0)
        return r;
    json_t *result = json_pack("{s:i,s:i,s:i,s:i,s:i}", "failedPurged", failed, "deletedPurged",
                               deleted, "sessionsDeleted", sessions, "filesRemoved", (int)files,
                               "objectsRemoved", (int)objects);
    log_json(LOG_INFO, "storage_cleanup", json_incref(result));
    if (ret)
        *ret = result;
    else
        json_decref(result);
    return 0;
}

/* ---- on the ticker ------------------------------------------------------------------------ */

/* Every minute: the timeouts, then a re-scan of PROCESSING assets no worker holds. */
static int timeouts_task(struct app *app, int64_t now_ms, json_t **ret)
{
    int r = jobs_asset_timeouts(app->content, ret);
    return r < 0 ? r : worker_enqueue_pending(app->content);
}

static int cleanup_task(struct app *app, int64_t now_ms, json_t **ret)
{
    return jobs_storage_cleanup(app->content, ret);
}

int jobs_register(struct app *app)
{
    static const struct ticker_task tasks[] = {
        {"asset-timeouts", 60LL * 1000, timeouts_task},
        {"storage-cleanup", 60LL * 60 * 1000, cleanup_task},
    };
    for (size_t i = 0; i < ARRAY_SIZE(tasks); i++) {
        int r = ticker_add(app, &tasks[i]);
        if (r < 0)
            return r;
    }
    return 0;
}
