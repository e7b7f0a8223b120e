/* SPDX-License-Identifier: MIT */
/*
 * download.c — the asset download engine (download.h).
 *
 * DESIGN. One libcurl multi handle; one easy handle per running job, created when it starts
 * and cleaned up when it ends (a job between attempts holds no handle, no fd, no connection).
 * The queue is a flat array scanned for the next job to start: it holds one manifest's worth
 * of assets (DL_QUEUE_MAX at most), and a scan per start costs nothing next to an HTTP request.
 * The order is (priority class, order of dl_add()), with jobs in backoff skipped until due.
 *
 * The .part file is opened O_APPEND and only ever appended to or truncated to 0, so whatever a
 * kill leaves is a prefix of some response; which response is the question the first byte of a
 * body answers: a 206 whose Content-Range starts exactly at the .part's size extends it, a 200
 * replaces it (truncate, then append), anything else is not written at all. A body longer than
 * the expected size is cut off there (-EFBIG): the server controls it, the disk is ours.
 *
 * Time: backoffs run on the monotonic clock (clock_mono_ns); the cache's last-used stamps on
 * the wall clock (clock_now_ms), both read here, at the edge, as the pure cores never do.
 */
#include "player/download.h"

#include <curl/curl.h>
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "macro.h"
#include "player/api.h"

#define DL_QUEUE_MAX      10000
#define DL_ERROR_BODY_MAX 65536 /* an error response's body is read and dropped up to this */
#define DL_MAX_REDIRS     5
#define DL_BACKOFF_MAX_MS BACKOFF_MAX_MS
#define DL_RETRY_MAX_MS   (INT64_C(3600) * 1000) /* a longer Retry-After is taken as 1 h */
#define NS_PER_MS         INT64_C(1000000)
/* Writeback of the .part is started every this many bytes (sync_file_range(WRITE), which does
 * not wait), so the disk works while the network does and cache_commit()'s fsync finds little
 * left to write: without it the whole file is written back inside that fsync, on the engine's
 * only thread, while every other transfer waits. */
#define DL_WRITEBACK_BYTES (UINT64_C(4) << 20)

enum job_state {
    JOB_QUEUED, /* waiting for a slot, the admit hook or its backoff (not_before_ns) */
    JOB_ACTIVE, /* a transfer is running */
};

struct job {
    char asset_id[CACHE_ASSET_ID_MAX + 1];
    char sha256[HASH_SHA256_HEX_LEN];
    char *url;
    uint64_t bytes;
    enum dl_priority priority;
    uint64_t seq; /* the order of dl_add() within a class */
    enum job_state state;
    int64_t not_before_ns;
    unsigned failures; /* attempts failed so far */
    int last_error, last_status;
    uint64_t received;

    /* the running attempt */
    CURL *easy;
    int fd;
    uint64_t offset;   /* the .part's size when the request went out: the Range asked for */
    uint64_t size;     /* the .part's size now */
    int status;        /* the response's status, once its body began (or it ended) */
    bool body_started; /* the first body byte was seen: status and Content-Range checked */
    bool discard;      /* not a body to keep (an error, a 416): read and dropped */
    uint64_t discarded;
    uint64_t flushed;     /* writeback started up to here (DL_WRITEBACK_BYTES) */
    bool have_range;      /* the last response's headers had Content-Range … */
    uint64_t range_start; /* … starting here */
    int write_error;      /* -errno the write callback failed with */
};

struct dl {
    struct cache *cache;
    struct dl_config cfg;
    char *user_agent, *ca_file;
    CURLM *multi;
    struct job **jobs;
    size_t n_jobs, cap_jobs;
    uint64_t next_seq;
    unsigned n_active;
    bool paused;
    struct dl_result *results; /* a FIFO: results[res_head … n_results − 1] */
    size_t res_head, n_results, cap_results;
};

void dl_config_default(struct dl_config *cfg)
{
    *cfg = (struct dl_config){
        .max_active = 2,
        .max_attempts = 3,
        .backoff_base_ms = 1000,
        .backoff_cap_ms = 60000,
        .low_speed_limit = 1024,
        .low_speed_time_s = 30,
        .connect_timeout_s = 30,
    };
}

int64_t dl_backoff_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, uint32_t rnd)
{
    return backoff_full_jitter_ms(base_ms, cap_ms, attempt, rnd);
}

static uint32_t random_default(void *userdata)
{
    (void)userdata;
    return randombytes_random(); /* libsodium's, as the ids use */
}

static bool config_valid(const struct dl_config *c)
{
    return c->max_active >= 1 && c->max_active <= 16 && c->max_attempts >= 1 &&
           c->max_attempts <= 100 && c->backoff_base_ms >= 0 && c->backoff_cap_ms >= 0 &&
           c->backoff_base_ms <= DL_BACKOFF_MAX_MS && c->backoff_cap_ms <= DL_BACKOFF_MAX_MS &&
           c->max_recv_bytes_s <= INT64_MAX && c->low_speed_limit >= 0 &&
           c->low_speed_time_s >= 0 && c->connect_timeout_s >= 0;
}

int dl_new(struct cache *c, const struct dl_config *cfg, struct dl **ret)
{
    struct dl_config def;
    if (!cfg) {
        dl_config_default(&def);
        cfg = &def;
    }
    if (!c || !ret || !config_valid(cfg))
        return -EINVAL;
    CURLM *multi = curl_multi_init();
    if (!multi)
        return -ENOMEM;
    struct dl *e = xcalloc(1, sizeof(*e));
    e->cache = c;
    e->cfg = *cfg;
    if (!e->cfg.random)
        e->cfg.random = random_default;
    e->user_agent = xstrdup(cfg->user_agent ? cfg->user_agent : "marquee-player");
    e->ca_file = cfg->ca_file ? xstrdup(cfg->ca_file) : NULL;
    e->cfg.user_agent = e->user_agent;
    e->cfg.ca_file = e->ca_file;
    e->multi = multi;
    *ret = e;
    return 0;
}

/* Ends a job's transfer, if any: the handle, the fd. The .part stays. */
static void job_stop(struct dl *e, struct job *j)
{
    if (j->easy) {
        curl_multi_remove_handle(e->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
    if (j->fd >= 0) {
        close(j->fd);
        j->fd = -1;
    }
    if (j->state == JOB_ACTIVE) {
        j->state = JOB_QUEUED;
        e->n_active--;
    }
}

static struct job *job_free(struct job *j)
{
    if (j) {
        free(j->url);
        free(j);
    }
    return NULL;
}

/* Stops and drops jobs[i], keeping the order of the rest. */
static void job_drop(struct dl *e, size_t i)
{
    struct job *j = e->jobs[i];
    job_stop(e, j);
    job_free(j);
    memmove(&e->jobs[i], &e->jobs[i + 1], (e->n_jobs - i - 1) * sizeof(e->jobs[0]));
    e->n_jobs--;
}

struct dl *dl_free(struct dl *e)
{
    if (!e)
        return NULL;
    while (e->n_jobs > 0)
        job_drop(e, e->n_jobs - 1);
    free(e->jobs);
    curl_multi_cleanup(e->multi);
    free(e->results);
    free(e->user_agent);
    free(e->ca_file);
    free(e);
    return NULL;
}

static ssize_t job_find(const struct dl *e, const char *asset_id)
{
    for (size_t i = 0; i < e->n_jobs; i++)
        if (strcmp(e->jobs[i]->asset_id, asset_id) == 0)
            return (ssize_t)i;
    return -1;
}

static bool url_valid(const char *u)
{
    if (!u || strnlen(u, DL_URL_MAX + 1) > DL_URL_MAX)
        return false;
    return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

int dl_add(struct dl *e, const struct dl_job *job)
{
    char sha[HASH_SHA256_HEX_LEN];
    if (!e || !job || !cache_asset_id_valid(job->asset_id) || !url_valid(job->url) ||
        cache_sha256_normalize(job->sha256, sha) < 0 || job->bytes > INT64_MAX ||
        (unsigned)job->priority >= DL_PRIO_COUNT)
        return -EINVAL;
    ssize_t i = job_find(e, job->asset_id);
    if (i >= 0) {
        struct job *old = e->jobs[i];
        if (job->priority < old->priority)
            old->priority = job->priority;
        return -EEXIST;
    }
    if (e->n_jobs >= DL_QUEUE_MAX)
        return -E2BIG;
    if (e->n_jobs == e->cap_jobs) {
        e->cap_jobs = e->cap_jobs ? e->cap_jobs * 2 : 16;
        e->jobs = xrealloc(e->jobs, e->cap_jobs * sizeof(e->jobs[0]));
    }
    struct job *j = xcalloc(1, sizeof(*j));
    snprintf(j->asset_id, sizeof(j->asset_id), "%s", job->asset_id);
    memcpy(j->sha256, sha, sizeof(sha));
    j->url = xstrdup(job->url);
    j->bytes = job->bytes;
    j->priority = job->priority;
    j->seq = e->next_seq++;
    j->state = JOB_QUEUED;
    j->fd = -1;
    e->jobs[e->n_jobs++] = j;
    return 0;
}

int dl_cancel(struct dl *e, const char *asset_id)
{
    ssize_t i = asset_id ? job_find(e, asset_id) : -1;
    if (i < 0)
        return -ENOENT;
    job_drop(e, (size_t)i);
    return 0;
}

size_t dl_retain(struct dl *e, dl_keep_fn keep, void *userdata)
{
    size_t dropped = 0;
    for (size_t i = 0; i < e->n_jobs;) {
        if (keep(userdata, e->jobs[i]->asset_id)) {
            i++;
        } else {
            job_drop(e, i); /* the next job moves into slot i */
            dropped++;
        }
    }
    return dropped;
}

void dl_unpause(struct dl *e)
{
    e->paused = false;
}

void dl_wakeup(struct dl *e)
{
    curl_multi_wakeup(e->multi);
}

void dl_counts_get(const struct dl *e, struct dl_counts *ret)
{
    int64_t now = clock_mono_ns();
    struct dl_counts c = {.active = e->n_active, .paused = e->paused};
    for (size_t i = 0; i < e->n_jobs; i++)
        if (e->jobs[i]->state == JOB_QUEUED) {
            c.queued++;
            if (e->jobs[i]->not_before_ns > now)
                c.waiting++;
        }
    *ret = c;
}

int dl_result_next(struct dl *e, struct dl_result *ret)
{
    if (e->res_head == e->n_results)
        return 0;
    *ret = e->results[e->res_head++];
    if (e->res_head == e->n_results)
        e->res_head = e->n_results = 0;
    return 1;
}

/* Reports jobs[i]'s end and drops it. */
static void job_report(struct dl *e, size_t i, enum dl_outcome outcome, int error)
{
    struct job *j = e->jobs[i];
    if (e->n_results == e->cap_results) {
        e->cap_results = e->cap_results ? e->cap_results * 2 : 16;
        e->results = xrealloc(e->results, e->cap_results * sizeof(e->results[0]));
    }
    struct dl_result *r = &e->results[e->n_results++];
    *r = (struct dl_result){
        .outcome = outcome,
        .error = outcome == DL_DONE ? 0 : error,
        .http_status = j->last_status,
        .retry_count = j->failures > 0 ? j->failures - 1 : 0,
        .bytes_received = j->received,
    };
    if (outcome == DL_DONE)
        r->retry_count = j->failures;
    snprintf(r->asset_id, sizeof(r->asset_id), "%s", j->asset_id);
    job_drop(e, i);
}

/*
 * An attempt of jobs[i] failed with @error: back off and queue it again (no sooner than
 * @min_wait_ms: a 429 or 503's Retry-After, else 0), or report FAILED.
 */
static void job_attempt_failed_after(struct dl *e, size_t i, int error, bool permanent,
                                     int64_t min_wait_ms)
{
    struct job *j = e->jobs[i];
    job_stop(e, j);
    j->failures++;
    j->last_error = error;
    if (permanent || j->failures >= e->cfg.max_attempts) {
        j->failures = MAX(j->failures, 1u);
        job_report(e, i, DL_FAILED, error);
        return;
    }
    int64_t ms = dl_backoff_ms(e->cfg.backoff_base_ms, e->cfg.backoff_cap_ms, j->failures,
                               e->cfg.random(e->cfg.userdata));
    j->not_before_ns = clock_mono_ns() + MAX(ms, min_wait_ms) * NS_PER_MS;
}

static void job_attempt_failed(struct dl *e, size_t i, int error, bool permanent)
{
    job_attempt_failed_after(e, i, error, permanent, 0);
}

/* The Retry-After of the last response of @h (a 429 or 503), in ms, capped; 0: none. */
static int64_t retry_after_ms(CURL *h)
{
    struct curl_header *hh = NULL;
    if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &hh) != CURLHE_OK || !hh)
        return 0;
    int32_t s = api_retry_after_s(hh->value);
    return s > 0 ? MIN((int64_t)s * 1000, DL_RETRY_MAX_MS) : 0;
}

/* The .part of jobs[i] should be complete: hand it to the cache. */
static void job_verify(struct dl *e, size_t i)
{
    struct job *j = e->jobs[i];
    job_stop(e, j);
    int r = cache_commit(e->cache, j->asset_id, j->sha256, j->bytes, clock_now_ms() / 1000);
    if (r == 0 || r == -EEXIST)
        job_report(e, i, DL_DONE, 0);
    else
        job_attempt_failed(e, i, r, r == -EINVAL); /* -EBADMSG: the .part is gone, fetch again */
}

/* ---- the transfer's callbacks ------------------------------------------------------------ */

static bool header_is(const char *h, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && strncasecmp(h, name, k) == 0 && h[k] == ':';
}

static size_t on_header(char *h, size_t size, size_t nmemb, void *userdata)
{
    struct job *j = userdata;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(h, "HTTP/", 5) == 0) {
        j->have_range = false; /* a new response (after a redirect or a 100) */
    } else if (header_is(h, n, "Content-Range")) {
        /* "Content-Range: bytes <first>-<last>/<length or *>" */
        char buf[128];
        size_t k = MIN(n, sizeof(buf) - 1);
        memcpy(buf, h, k);
        buf[k] = '\0';
        const char *p = buf + strlen("Content-Range:");
        while (*p == ' ' || *p == '\t')
            p++;
        unsigned long long first;
        if (strncasecmp(p, "bytes ", 6) == 0 && sscanf(p + 6, "%llu-", &first) == 1) {
            j->have_range = true;
            j->range_start = first;
        }
    }
    return n;
}

/* The first body byte: which response is it, and what does it do to the .part? */
static int body_begin(struct job *j)
{
    long status = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    j->status = (int)status;
    j->body_started = true;
    if (status == 206) {
        if (j->have_range ? j->range_start != j->offset : j->offset != 0)
            return -EPROTO; /* not the part we asked for: the next attempt starts over */
    } else if (status == 200) {
        if (j->size > 0 && ftruncate(j->fd, 0) < 0)
            return -errno;
        j->offset = j->size = j->flushed = 0;
    } else {
        j->discard = true;
    }
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct job *j = userdata;
    size_t n = size * nmemb;
    if (!j->body_started) {
        int r = body_begin(j);
        if (r < 0) {
            j->write_error = r;
            return 0;
        }
    }
    if (j->discard) {
        j->discarded += n;
        return j->discarded > DL_ERROR_BODY_MAX ? 0 : n;
    }
    if (n > j->bytes - j->size) {
        j->write_error = -EFBIG;
        return 0;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(j->fd, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            j->write_error = -errno;
            return 0;
        }
        done += (size_t)w;
    }
    j->size += n;
    j->received += n;
    if (j->size - j->flushed >= DL_WRITEBACK_BYTES) {
        /* a hint: durability is still cache_commit()'s fsync, so a failure changes nothing */
        (void)sync_file_range(j->fd, (off64_t)j->flushed, (off64_t)(j->size - j->flushed),
                              SYNC_FILE_RANGE_WRITE);
        j->flushed = j->size;
    }
    return n;
}

/* ---- starting and finishing ---------------------------------------------------------------- */

static int job_open_part(struct dl *e, struct job *j)
{
    _cleanup_free_ char *part = NULL;
    int r = cache_part_path(e->cache, j->asset_id, &part);
    if (r < 0)
        return r;
    _cleanup_close_ int fd =
        open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    j->size = (uint64_t)st.st_size;
    if (j->size > j->bytes) { /* longer than the asset: not a prefix of it */
        if (ftruncate(fd, 0) < 0)
            return -errno;
        j->size = 0;
    }
    j->fd = TAKE_FD(fd);
    return 0;
}

static int job_easy_setup(struct dl *e, struct job *j)
{
    CURL *h = curl_easy_init();
    if (!h)
        return -ENOMEM;
    j->easy = h;
    const struct dl_config *c = &e->cfg;
    char range[32];
    snprintf(range, sizeof(range), "%llu-", (unsigned long long)j->offset);
    curl_off_t cap = (curl_off_t)(c->max_recv_bytes_s / c->max_active);
    if (c->max_recv_bytes_s > 0 && cap == 0)
        cap = 1;
    bool ok = curl_easy_setopt(h, CURLOPT_URL, j->url) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_PRIVATE, j) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)DL_MAX_REDIRS) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEDATA, j) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_HEADERDATA, j) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->low_speed_limit) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, cap) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent) == CURLE_OK &&
              (!c->ca_file || curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file) == CURLE_OK) &&
              (j->offset == 0 || curl_easy_setopt(h, CURLOPT_RANGE, range) == CURLE_OK);
    if (!ok)
        return -ENOMEM;
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK)
        return -ENOMEM;
    return 0;
}

/* Starts jobs[i]: READY already → DONE; reserve; open the .part; complete → verify; else GET. */
static void job_start(struct dl *e, size_t i)
{
    struct job *j = e->jobs[i];
    int r = cache_reserve(e->cache, j->asset_id, j->sha256, j->bytes, clock_now_ms() / 1000);
    if (r == -EEXIST) { /* READY already (another job, an adopted file): nothing to fetch */
        job_report(e, i, DL_DONE, 0);
        return;
    }
    if (r < 0) {
        job_attempt_failed(e, i, r, true);
        return;
    }
    j->state = JOB_ACTIVE;
    e->n_active++;
    j->status = 0;
    j->body_started = j->discard = j->have_range = false;
    j->discarded = 0;
    j->write_error = 0;
    r = job_open_part(e, j);
    if (r < 0) {
        job_attempt_failed(e, i, r, false);
        return;
    }
    j->offset = j->flushed = j->size;
    if (j->size == j->bytes) { /* a kill after the last byte and before the commit */
        job_verify(e, i);
        return;
    }
    r = job_easy_setup(e, j);
    if (r < 0)
        job_attempt_failed(e, i, r, false);
}

static int curl_error_to_errno(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
        return -ECONNRESET;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_TOO_MANY_REDIRECTS:
        return -ELOOP;
    default:
        return -EIO;
    }
}

/* A 4xx that the same URL will answer again: no retry in this window. */
static bool status_permanent(int status)
{
    return status >= 400 && status < 500 && status != 408 && status != 429;
}

/* The transfer of jobs[i] ended with @rc. */
static void job_finish(struct dl *e, size_t i, CURLcode rc)
{
    struct job *j = e->jobs[i];
    if (!j->body_started) {
        long status = 0;
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
        j->status = (int)status;
        /* a 200 with an empty body to a Range request: the .part is not a prefix either */
        if (rc == CURLE_OK && status == 200 && j->size > 0 && ftruncate(j->fd, 0) == 0)
            j->size = 0;
    }
    j->last_status = j->status;
    if (rc != CURLE_OK) {
        int err = j->write_error ? j->write_error : curl_error_to_errno(rc);
        /* a body past the expected size or from the wrong offset: start over from 0 */
        if ((err == -EFBIG || err == -EPROTO) && ftruncate(j->fd, 0) < 0)
            err = -errno;
        job_attempt_failed(e, i, err, false);
    } else if (j->status == 200 || j->status == 206) {
        if (j->size == j->bytes)
            job_verify(e, i);
        else /* the server's object is shorter than expected: resume, then 416 → verify */
            job_attempt_failed(e, i, -EPIPE, false);
    } else if (j->status == 416) {
        job_verify(e, i); /* the .part holds all the server has: right or wrong, the hash says */
    } else {
        /* 429 and 503 say when to come back: no sooner than that (the backoff if longer) */
        int64_t wait = j->status == 429 || j->status == 503 ? retry_after_ms(j->easy) : 0;
        job_attempt_failed_after(e, i, -EIO, status_permanent(j->status), wait);
    }
}

/* Starts queued jobs, best first, while there are slots, no pause and jobs that are due. */
static void start_due(struct dl *e)
{
    while (!e->paused && e->n_active < e->cfg.max_active) {
        int64_t now = clock_mono_ns();
        ssize_t best = -1;
        for (size_t i = 0; i < e->n_jobs; i++) {
            const struct job *j = e->jobs[i];
            if (j->state != JOB_QUEUED || j->not_before_ns > now)
                continue;
            if (best < 0 || j->priority < e->jobs[best]->priority ||
                (j->priority == e->jobs[best]->priority && j->seq < e->jobs[best]->seq))
                best = (ssize_t)i;
        }
        if (best < 0)
            return;
        if (e->cfg.admit) {
            struct job *j = e->jobs[best];
            int r = e->cfg.admit(e->cfg.userdata, j->asset_id, j->bytes);
            if (r > 0) {
                e->paused = true;
                return;
            }
            if (r < 0) {
                j->failures = 1; /* reported as a FAILED with its error, no retry */
                job_report(e, (size_t)best, DL_FAILED, r);
                continue;
            }
        }
        job_start(e, (size_t)best);
    }
}

/* How long dl_run() may wait: @timeout_ms, shortened to the next backoff's end. */
static int wait_ms(const struct dl *e, int timeout_ms)
{
    if (e->n_results > e->res_head)
        return 0;
    int64_t now = clock_mono_ns();
    int64_t ms = timeout_ms;
    if (!e->paused && e->n_active < e->cfg.max_active)
        for (size_t i = 0; i < e->n_jobs; i++)
            if (e->jobs[i]->state == JOB_QUEUED)
                ms = MIN(ms, MAX((e->jobs[i]->not_before_ns - now + NS_PER_MS - 1) / NS_PER_MS,
                                 INT64_C(0)));
    return (int)ms;
}

int dl_run(struct dl *e, int timeout_ms)
{
    start_due(e);
    int ms = wait_ms(e, MAX(timeout_ms, 0));
    CURLMcode mc = curl_multi_poll(e->multi, NULL, 0, ms, NULL);
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    int running;
    mc = curl_multi_perform(e->multi, &running);
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(e->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct job *j = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        CURLcode rc = msg->data.result; /* msg dies with the handle */
        ssize_t i = j ? job_find(e, j->asset_id) : -1;
        if (i >= 0)
            job_finish(e, (size_t)i, rc);
    }
    start_due(e);
    return (int)(e->n_results - e->res_head);
}
