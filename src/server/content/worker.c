/* SPDX-License-Identifier: MIT */
/*
 * worker.c — the processing pool (spec §13, §29.5): a fixed number of threads that take
 * PROCESSING assets and end each READY or FAILED with exactly one §13.2 reason.
 *
 * DESIGN
 * The database is the queue: `complete` sets PROCESSING and wakes the pool through a small
 * in-memory list of asset ids (deduplicated), and at start and every minute the jobs thread
 * lists PROCESSING assets again, so nothing is lost to a restart. Each attempt is counted in
 * the row before it starts; an asset whose processing was started PROCESSING_MAX_ATTEMPTS
 * times without an outcome (the process died each time) fails INTERNAL_ERROR rather than
 * taking the server down in a loop.
 *
 * One asset: the file's size, its SHA-256 against the declared one, then the inspector child
 * (`marqueed media-inspect FILE THUMB`, see inspect.h) under a deadline, reading its verdict
 * from a pipe. A child that crashes or hangs fails that asset and nothing else. On success the
 * file and thumbnail move into the object store and the row becomes READY in one statement
 * that requires the row still PROCESSING, so a timeout that fired meanwhile wins cleanly. A
 * FAILED asset's bytes are deleted at once; it is never processed again (§13.4).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "audit.h"
#include "clock.h"
#include "content/content.h"
#include "content/inspect.h"
#include "ids.h"
#include "jsonx.h"
#include "log.h"
#include "macro.h"
#include "store/store.h"

extern char **environ;

#define VERDICT_MAX   (64u << 10) /* bytes of the child's stdout we read */
#define CHILD_LOG_MAX 2048        /* bytes of its stderr kept for the log */

/* ---- the queue ----------------------------------------------------------------------------- */

void worker_enqueue(struct content *c, const char *asset_id)
{
    pthread_mutex_lock(&c->lock);
    if (c->n_workers && !c->stopping && !idlist_has(c->queue, c->n_queue, asset_id) &&
        !idlist_has(c->processing, c->n_processing, asset_id)) {
        idlist_push(&c->queue, &c->n_queue, &c->cap_queue, asset_id);
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
}

int worker_enqueue_pending(struct content *c)
{
    if (!c->n_workers)
        return 0;
    struct store_result *res = NULL;
    int r = store_query(c->app->store,
                        "SELECT asset_id FROM assets WHERE status = 'PROCESSING' "
                        "ORDER BY processing_started_at_utc, asset_id LIMIT 1000",
                        NULL, 0, &res);
    if (r < 0)
        return r;
    for (size_t i = 0; i < store_result_rows(res); i++)
        worker_enqueue(c, store_result_text(res, i, 0));
    store_result_free(res);
    return 0;
}

/* ---- outcomes ------------------------------------------------------------------------------ */

struct job {
    struct content *c;
    char asset_id[UUID_STR_LEN];
    char tenant_id[UUID_STR_LEN];
    char venue_id[UUID_STR_LEN];     /* "" for the library */
    char started[TIMESTAMP_STR_LEN]; /* processing_started_at_utc this attempt set */
    char declared_sha[65];
    char sha[65];
    uint64_t size;
    char *upload_path;
    char *thumb_path;
    int64_t t0_ns; /* when this attempt began (monotonic) */
};

static double job_ms(const struct job *j)
{
    return (double)(clock_mono_ns() - j->t0_ns) / 1e6;
}

struct outcome_tx {
    struct job *j;
    const char *reason; /* NULL = READY */
    const char *detail;
    json_t *meta; /* the inspector's verdict (READY) */
    const char *thumb_sha;
    bool applied;
};

static int outcome_tx(struct store_conn *conn, void *ud)
{
    struct outcome_tx *x = ud;
    struct job *j = x->j;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    int r;
    if (x->reason) {
        r = store_exec(conn,
                       "UPDATE assets SET status = 'FAILED', failure_reason = $2, "
                       "failure_detail = $3, failed_at_utc = $4, updated_at_utc = $4, "
                       "checksum_sha256 = coalesce($5, checksum_sha256) "
                       "WHERE asset_id = $1 AND status = 'PROCESSING' AND "
                       "processing_started_at_utc = $6",
                       (struct store_param[]){STORE_TEXT(j->asset_id), STORE_TEXT(x->reason),
                                              STORE_TEXT(x->detail), STORE_TEXT(now),
                                              STORE_TEXT(j->sha[0] ? j->sha : NULL),
                                              STORE_TEXT(j->started)},
                       6, NULL);
    } else {
        json_t *m = x->meta;
#define MT(k) STORE_TEXT(json_string_value(json_object_get(m, k)))
#define MI(k)                                                                                      \
    (json_is_integer(json_object_get(m, k)) ? STORE_INT(json_integer_value(json_object_get(m, k))) \
                                            : STORE_NULL)
        r = store_exec(conn,
                       "UPDATE assets SET status = 'READY', type = $2, mime_type = $3, "
                       "file_size_bytes = $4, checksum_sha256 = $5, width_px = $6, "
                       "height_px = $7, duration_ms = $8, video_codec = $9, audio_codec = $10, "
                       "bitrate_bps = $11, frame_rate_milli = $12, storage_key = $5, "
                       "thumbnail_storage_key = $13, ready_at_utc = $14, updated_at_utc = $14 "
                       "WHERE asset_id = $1 AND status = 'PROCESSING' AND "
                       "processing_started_at_utc = $15",
                       (struct store_param[]){
                           STORE_TEXT(j->asset_id), MT("type"), MT("contentType"),
                           STORE_INT((int64_t)j->size), STORE_TEXT(j->sha), MI("width"),
                           MI("height"), MI("durationMs"), MT("videoCodec"), MT("audioCodec"),
                           MI("bitrateBps"), MI("frameRateMilli"), STORE_TEXT(x->thumb_sha),
                           STORE_TEXT(now), STORE_TEXT(j->started)},
                       15, NULL);
#undef MT
#undef MI
    }
    if (r < 0)
        return r;
    x->applied = r == 1;
    if (!x->applied)
        return 0; /* timed out (or deleted for good) meanwhile: that outcome stands */
    json_t *details =
        x->reason ? json_pack("{s:s,s:s}", "failureReason", x->reason, "failureDetail", x->detail)
                  : json_pack("{s:s}", "checksumSha256", j->sha);
    struct audit_entry e = {.tenant_id = j->tenant_id,
                            .actor_type = "SYSTEM",
                            .action = x->reason ? "asset.failed" : "asset.ready",
                            .outcome = x->reason ? "FAILURE" : "SUCCESS",
                            .resource_type = "ASSET",
                            .resource_id = j->asset_id,
                            .details = details};
    r = audit_write(conn, NULL, &e);
    json_decref(details);
    if (r >= 0)
        r = asset_change(conn, j->tenant_id, j->asset_id, j->venue_id[0] ? j->venue_id : NULL,
                         x->reason ? "failed" : "ready", NULL);
    return r;
}

static void count(struct job *j, bool ready)
{
    atomic_fetch_add(ready ? &j->c->n_ready : &j->c->n_failed, 1);
    atomic_fetch_add(&j->c->processing_us_total, (uint64_t)(job_ms(j) * 1000));
}

static void fail(struct job *j, const char *reason, const char *detail)
{
    count(j, false);
    unlink(j->upload_path);
    unlink(j->thumb_path);
    struct outcome_tx x = {.j = j, .reason = reason, .detail = detail};
    int r = store_tx(j->c->app->store, 0, outcome_tx, &x);
    if (r < 0)
        log_msg(LOG_ERROR, "asset_update_failed", "asset %s: %s", j->asset_id, strerror(-r));
    log_json(LOG_INFO, "asset_failed",
             json_pack("{s:s,s:s,s:s,s:f}", "assetId", j->asset_id, "reason", reason, "detail",
                       detail, "processingMs", job_ms(j)));
}

static void succeed(struct job *j, json_t *verdict)
{
    char thumb_sha[HASH_SHA256_HEX_LEN];
    int fd = open(j->thumb_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int r = fd < 0 ? -errno : hash_sha256_fd(fd, thumb_sha, NULL);
    if (fd >= 0)
        close(fd);
    if (r >= 0)
        r = objstore_put(j->c, j->thumb_path, thumb_sha);
    if (r < 0) {
        log_msg(LOG_ERROR, "thumbnail_store_failed", "asset %s: %s", j->asset_id, strerror(-r));
        fail(j, "THUMBNAIL_FAILED", "The media is valid but its thumbnail could not be stored.");
        return;
    }
    if ((r = objstore_put(j->c, j->upload_path, j->sha)) < 0) {
        log_msg(LOG_ERROR, "object_store_failed", "asset %s: %s", j->asset_id, strerror(-r));
        fail(j, "INTERNAL_ERROR", "The file could not be stored. Please try again.");
        return;
    }
    count(j, true);
    struct outcome_tx x = {.j = j, .meta = verdict, .thumb_sha = thumb_sha};
    if ((r = store_tx(j->c->app->store, 0, outcome_tx, &x)) < 0)
        log_msg(LOG_ERROR, "asset_update_failed", "asset %s: %s", j->asset_id, strerror(-r));
    else
        log_json(LOG_INFO, "asset_ready",
                 json_pack("{s:s,s:s,s:I,s:b,s:f}", "assetId", j->asset_id, "sha256", j->sha,
                           "bytes", (json_int_t)j->size, "applied", x.applied, "processingMs",
                           job_ms(j)));
}

/* ---- the inspector child ------------------------------------------------------------------- */

struct child_out {
    char *out;
    size_t n_out;
    char err[CHILD_LOG_MAX + 1];
    size_t n_err;
    int status; /* waitpid status */
    bool timed_out;
};

static void drain(int *fd, char *buf, size_t *n, size_t max)
{
    char scratch[4096];
    ssize_t k = read(*fd, scratch, sizeof(scratch));
    if (k <= 0) {
        if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
            close(*fd);
            *fd = -1;
        }
        return;
    }
    size_t take = MIN((size_t)k, max - *n);
    memcpy(buf + *n, scratch, take);
    *n += take;
}

static int run_inspector(struct content *c, struct job *j, struct child_out *o)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        int r = -errno;
        close(out[0]);
        close(out[1]);
        return r;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    char *argv[] = {"marqueed", "media-inspect", j->upload_path, j->thumb_path, NULL};
    pid_t pid;
    int r = -posix_spawn(&pid, c->self_exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    if (r < 0) {
        close(out[0]);
        close(err[0]);
        return r;
    }
    o->out = xmalloc(VERDICT_MAX + 1);
    int64_t deadline = clock_mono_ns() + INSPECT_KILL_MS * 1000000;
    int fds[2] = {out[0], err[0]};
    while (fds[0] >= 0 || fds[1] >= 0) {
        int64_t left_ms = (deadline - clock_mono_ns()) / 1000000;
        if (left_ms <= 0 || c->stopping) {
            o->timed_out = !c->stopping;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
        if (poll(p, 2, (int)MIN(left_ms, 1000)) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            drain(&fds[0], o->out, &o->n_out, VERDICT_MAX);
        if (p[1].revents)
            drain(&fds[1], o->err, &o->n_err, CHILD_LOG_MAX);
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    o->out[o->n_out] = '\0';
    o->err[o->n_err] = '\0';
    while (waitpid(pid, &o->status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* ---- one asset ----------------------------------------------------------------------------- */

/* Counts the attempt and reads what processing needs. 1 to go on, 0 when there is nothing to
 * do (no longer PROCESSING), -errno. */
static int job_claim(struct store_conn *conn, void *ud)
{
    struct job *j = ud;
    int64_t now = clock_now_ms();
    char stale[TIMESTAMP_STR_LEN];
    ids_timestamp(now, j->started);
    /* an attempt younger than the inspector's deadline is someone's (another instance's, or one
     * that died a moment ago): not ours to take over yet */
    ids_timestamp(now - INSPECT_KILL_MS - 60 * 1000, stale);
    int r = store_exec(
        conn,
        "UPDATE assets SET processing_attempts = processing_attempts + 1, "
        "processing_started_at_utc = $2 WHERE asset_id = $1 AND "
        "status = 'PROCESSING' AND (processing_attempts = 0 OR "
        "processing_started_at_utc < $3)",
        (struct store_param[]){STORE_TEXT(j->asset_id), STORE_TEXT(j->started), STORE_TEXT(stale)},
        3, NULL);
    if (r <= 0)
        return r;
    struct store_result *res = NULL;
    r = store_exec(conn,
                   "SELECT a.tenant_id, a.processing_attempts, s.checksum_sha256, "
                   "a.scope_venue_id FROM assets a "
                   "LEFT JOIN upload_sessions s ON s.asset_id = a.asset_id WHERE a.asset_id = $1",
                   (struct store_param[]){STORE_TEXT(j->asset_id)}, 1, &res);
    if (r < 0)
        return r;
    int64_t attempts = 0;
    snprintf(j->tenant_id, sizeof(j->tenant_id), "%s", store_result_text(res, 0, 0));
    store_result_int(res, 0, 1, &attempts);
    const char *sha = store_result_text(res, 0, 2);
    snprintf(j->declared_sha, sizeof(j->declared_sha), "%s", sha ? sha : "");
    const char *venue = store_result_text(res, 0, 3);
    snprintf(j->venue_id, sizeof(j->venue_id), "%s", venue ? venue : "");
    store_result_free(res);
    return attempts > PROCESSING_MAX_ATTEMPTS ? 2 : 1;
}

static void verdict_apply(struct job *j, const struct child_out *o)
{
    if (o->timed_out) {
        fail(j, "PROCESSING_TIMEOUT",
             "Checking the file took too long. Try a shorter or "
             "smaller file.");
        return;
    }
    json_t *v = NULL;
    if (WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0)
        v = json_loadb(o->out, o->n_out, 0, NULL);
    json_t *ok = json_object_get(v, "ok");
    const char *reason = json_string_value(json_object_get(v, "reason"));
    const char *detail = json_string_value(json_object_get(v, "detail"));
    if (!json_is_boolean(ok) || (!json_is_true(ok) && (!reason || !detail))) {
        /* a crash on a file is a file the decoder cannot read: the user's to fix */
        json_t *line = json_pack("{s:s,s:i,s:i}", "assetId", j->asset_id, "exitStatus",
                                 WIFEXITED(o->status) ? WEXITSTATUS(o->status) : -1, "signal",
                                 WIFSIGNALED(o->status) ? WTERMSIG(o->status) : 0);
        json_object_set_new(line, "stderr", jsonx_string_lossy(o->err));
        log_json(LOG_ERROR, "inspector_failed", line);
        fail(j, "FILE_CORRUPT",
             "The file could not be read: the media decoder stopped on it. Export it again as "
             "JPEG, PNG or MP4.");
    } else if (json_is_true(ok)) {
        succeed(j, v);
    } else {
        fail(j, reason, detail);
    }
    json_decref(v);
}

static void process(struct content *c, const char *asset_id)
{
    struct job j = {.c = c, .t0_ns = clock_mono_ns()};
    snprintf(j.asset_id, sizeof(j.asset_id), "%s", asset_id);
    int r = store_tx(c->app->store, 0, job_claim, &j);
    if (r <= 0) {
        if (r < 0)
            log_msg(LOG_ERROR, "asset_claim_failed", "asset %s: %s", asset_id, strerror(-r));
        return;
    }
    j.upload_path = objstore_upload_path(c, asset_id);
    j.thumb_path = xasprintf("%s/%s.thumb.jpg", c->tmp_dir, asset_id);
    unlink(j.thumb_path);
    if (r == 2) {
        fail(&j, "INTERNAL_ERROR",
             "Processing this file was interrupted several times. Please upload it again.");
        goto out;
    }
    int fd = open(j.upload_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        fail(&j, "INTERNAL_ERROR", "The uploaded file is missing. Please upload it again.");
        goto out;
    }
    r = hash_sha256_fd(fd, j.sha, &j.size);
    close(fd);
    if (r < 0) {
        j.sha[0] = '\0';
        fail(&j, "INTERNAL_ERROR", "The uploaded file could not be read. Please try again.");
        goto out;
    }
    if ((int64_t)j.size > c->app->cfg.max_upload_bytes) {
        char d[160];
        snprintf(d, sizeof(d), "The file is %.1f MB. The maximum is %.1f MB.", (double)j.size / 1e6,
                 (double)c->app->cfg.max_upload_bytes / 1e6);
        fail(&j, "FILE_SIZE_EXCEEDED", d);
        goto out;
    }
    if (j.declared_sha[0] && strcmp(j.declared_sha, j.sha) != 0) {
        fail(&j, "CHECKSUM_MISMATCH",
             "The file received differs from the one declared (SHA-256 mismatch). Upload it "
             "again.");
        goto out;
    }
    struct child_out o = {0};
    if ((r = run_inspector(c, &j, &o)) < 0) {
        log_msg(LOG_ERROR, "inspector_spawn_failed", "%s", strerror(-r));
        fail(&j, "INTERNAL_ERROR", "The file could not be checked. Please try again later.");
    } else if (c->stopping && WIFSIGNALED(o.status)) {
        /* killed by our own shutdown: not the file's fault, picked up again at start */
        store_query(c->app->store,
                    "UPDATE assets SET processing_attempts = processing_attempts - 1 "
                    "WHERE asset_id = $1 AND processing_attempts > 0",
                    (struct store_param[]){STORE_TEXT(j.asset_id)}, 1, NULL);
    } else {
        verdict_apply(&j, &o);
    }
    free(o.out);
out:
    free(j.upload_path);
    free(j.thumb_path);
}

/* ---- the pool ------------------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    struct content *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->n_queue && !c->stopping)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stopping)
            break;
        char *id = c->queue[0];
        memmove(&c->queue[0], &c->queue[1], (c->n_queue - 1) * sizeof(char *));
        c->n_queue--;
        idlist_push(&c->processing, &c->n_processing, &c->cap_processing, id);
        pthread_mutex_unlock(&c->lock);
        process(c, id);
        pthread_mutex_lock(&c->lock);
        idlist_remove(c->processing, &c->n_processing, id);
        free(id);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int worker_start(struct content *c, unsigned n)
{
    c->workers = xcalloc(n ? n : 1, sizeof(pthread_t));
    for (unsigned i = 0; i < n; i++) {
        int r = pthread_create(&c->workers[i], NULL, worker_main, c);
        if (r != 0) {
            worker_stop(c);
            return -r;
        }
        c->n_workers++;
    }
    return worker_enqueue_pending(c);
}

void worker_stop(struct content *c)
{
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < c->n_workers; i++)
        pthread_join(c->workers[i], NULL);
    c->n_workers = 0;
    free(c->workers);
    c->workers = NULL;
    for (size_t i = 0; i < c->n_queue; i++)
        free(c->queue[i]);
    c->n_queue = 0;
}
