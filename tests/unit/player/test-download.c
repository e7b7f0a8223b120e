/* SPDX-License-Identifier: MIT */
/*
 * test-download.c — the download engine (download.h) against a real HTTP origin in this
 * process: libmicrohttpd on 127.0.0.1:0, thread per connection, serving generated files with
 * Range support and a fault mode per URL prefix:
 *   /ok/      a plain 200 (206 to a Range)      /e503/    always 503
 *   /503once/ 503, then as /ok/                 /e404/    always 404
 *   /cut/     the first response stops at 50%   /corrupt/ the first response has a byte flipped
 *   /drip/    the first response drips 200 B/s  /norange/ ignores Range: always 200
 *   /slow/    as /ok/ at about 800 KB/s (transfers that overlap)
 *   /ra1/, /ra3600/  503 with `Retry-After: 1` (3600), then as /ok/
 *   /radate/  429 with a Retry-After an hour ahead as an HTTP-date, then as /ok/
 * The server logs every request (path, the Range start, bytes served) and the most requests in
 * flight at once. Each case checks the engine's results, the files in DIR/assets/ (byte for
 * byte and by cache_verify()) and the index (READY, no .part left), and what went over the wire.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../cmocka-prelude.h"
#include "clock.h"
#include "hash.h"
#include "macro.h"
#include "player/cache.h"
#include "player/download.h"

/* ---- the origin ---------------------------------------------------------------------------- */

#define MAX_FILES 32
#define MAX_REQS  128

struct file {
    char name[32];
    uint8_t *data;
    size_t size;
    char sha[HASH_SHA256_HEX_LEN];
};

struct req {
    char path[96];
    long long range_start; /* -1: no Range */
    int status;
    uint64_t served; /* body bytes handed to MHD */
    int64_t at_ns;   /* when it came in (clock_mono_ns) */
};

static struct {
    pthread_mutex_t lock;
    struct MHD_Daemon *mhd;
    uint16_t port;
    struct file files[MAX_FILES];
    size_t n_files;
    struct req reqs[MAX_REQS];
    size_t n_reqs;
    int inflight, max_inflight;
    unsigned gen; /* a response of an earlier case may end during this one: not counted */
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct body {
    const struct file *f;
    size_t start, end; /* [start, end) of the file */
    size_t req;        /* index into srv.reqs */
    size_t cut_at;     /* stop with an error after this many bytes (SIZE_MAX: never) */
    size_t corrupt_at; /* flip this byte of the file (SIZE_MAX: none) */
    bool drip, slow, done;
    unsigned gen;
};

static void inflight_end(struct body *b)
{
    if (!b->done) {
        b->done = true;
        if (b->gen == srv.gen)
            srv.inflight--;
    }
}

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct body *b = cls;
    size_t avail = b->end - b->start - (size_t)pos;
    if (b->drip) { /* 10 bytes every 50 ms, for at most 10 s */
        usleep(50000);
        max = MIN(max, (size_t)10);
        if (pos >= 2000)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (b->slow) {
        usleep(5000);
        max = MIN(max, (size_t)4096);
    }
    size_t n = MIN(max, avail);
    if (b->cut_at != SIZE_MAX) {
        if (pos >= b->cut_at)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        n = MIN(n, b->cut_at - (size_t)pos);
    }
    memcpy(buf, b->f->data + b->start + pos, n);
    size_t flip = b->corrupt_at - b->start;
    if (b->corrupt_at != SIZE_MAX && flip >= pos && flip < pos + n)
        buf[flip - pos] ^= 0x5a;
    pthread_mutex_lock(&srv.lock);
    srv.reqs[b->req].served += n;
    if (pos + n == b->end - b->start)
        inflight_end(b); /* before the last bytes leave: the client may start another at once */
    pthread_mutex_unlock(&srv.lock);
    return (ssize_t)n;
}

static void body_free(void *cls)
{
    struct body *b = cls;
    pthread_mutex_lock(&srv.lock);
    inflight_end(b);
    pthread_mutex_unlock(&srv.lock);
    free(b);
}

static const struct file *file_find(const char *name)
{
    for (size_t i = 0; i < srv.n_files; i++)
        if (strcmp(srv.files[i].name, name) == 0)
            return &srv.files[i];
    return NULL;
}

/* How many earlier requests had this path. */
static unsigned seen_before(const char *path)
{
    unsigned n = 0;
    for (size_t i = 0; i + 1 < srv.n_reqs; i++)
        n += strcmp(srv.reqs[i].path, path) == 0;
    return n;
}

static enum MHD_Result respond_status_ra(struct MHD_Connection *c, size_t req, unsigned status,
                                         const char *retry_after)
{
    srv.reqs[req].status = (int)status;
    pthread_mutex_unlock(&srv.lock);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(5, (void *)"error", MHD_RESPMEM_PERSISTENT);
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_status(struct MHD_Connection *c, size_t req, unsigned status)
{
    srv.reqs[req].status = (int)status;
    pthread_mutex_unlock(&srv.lock);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(5, (void *)"error", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    char mode[16] = "", name[32] = "";
    if (sscanf(url, "/%15[^/]/%31s", mode, name) != 2)
        return MHD_NO;
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    unsigned long long rs = 0;
    bool has_range = range && sscanf(range, "bytes=%llu-", &rs) == 1;

    pthread_mutex_lock(&srv.lock);
    assert_true(srv.n_reqs < MAX_REQS);
    size_t req = srv.n_reqs++;
    srv.reqs[req] = (struct req){0};
    snprintf(srv.reqs[req].path, sizeof(srv.reqs[req].path), "%s", url);
    srv.reqs[req].range_start = has_range ? (long long)rs : -1;
    srv.reqs[req].at_ns = clock_mono_ns();
    unsigned before = seen_before(url);
    const struct file *f = file_find(name);
    if (!f || strcmp(mode, "e404") == 0)
        return respond_status(c, req, 404);
    if (strcmp(mode, "e503") == 0 || (strcmp(mode, "503once") == 0 && before == 0))
        return respond_status(c, req, 503);
    if (strcmp(mode, "ra1") == 0 && before == 0)
        return respond_status_ra(c, req, 503, "1");
    if (strcmp(mode, "ra3600") == 0 && before == 0)
        return respond_status_ra(c, req, 503, "3600");
    if (strcmp(mode, "radate") == 0 && before == 0) {
        char date[64];
        time_t at = time(NULL) + 3600;
        struct tm tm;
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&at, &tm));
        return respond_status_ra(c, req, 429, date);
    }
    if (strcmp(mode, "norange") == 0)
        has_range = false;
    if (has_range && rs >= f->size) {
        srv.reqs[req].status = 416;
        pthread_mutex_unlock(&srv.lock);
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        char cr[64];
        snprintf(cr, sizeof(cr), "bytes */%zu", f->size);
        MHD_add_response_header(r, "Content-Range", cr);
        enum MHD_Result ret = MHD_queue_response(c, 416, r);
        MHD_destroy_response(r);
        return ret;
    }
    struct body *b = xcalloc(1, sizeof(*b));
    *b = (struct body){.f = f,
                       .start = has_range ? rs : 0,
                       .end = f->size,
                       .req = req,
                       .cut_at = SIZE_MAX,
                       .corrupt_at = SIZE_MAX,
                       .gen = srv.gen};
    if (strcmp(mode, "cut") == 0 && before == 0)
        b->cut_at = f->size / 2;
    if (strcmp(mode, "corrupt") == 0 && before == 0)
        b->corrupt_at = f->size / 3;
    b->drip = strcmp(mode, "drip") == 0 && before == 0;
    b->slow = strcmp(mode, "slow") == 0;
    unsigned status = has_range ? 206 : 200;
    srv.reqs[req].status = (int)status;
    srv.inflight++;
    srv.max_inflight = MAX(srv.max_inflight, srv.inflight);
    if (b->start == b->end)
        inflight_end(b);
    pthread_mutex_unlock(&srv.lock);

    struct MHD_Response *r =
        MHD_create_response_from_callback(b->end - b->start, 16384, body_read, b, body_free);
    if (has_range) {
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %zu-%zu/%zu", b->start, f->size - 1, f->size);
        MHD_add_response_header(r, "Content-Range", cr);
    }
    MHD_add_response_header(r, "Accept-Ranges", "bytes");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const struct file *file_add(const char *name, size_t size)
{
    assert_true(srv.n_files < MAX_FILES);
    struct file *f = &srv.files[srv.n_files++];
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->size = size;
    f->data = xmalloc(size ? size : 1);
    uint32_t x = 2166136261u;
    for (const char *p = name; *p; p++)
        x = (x ^ (uint8_t)*p) * 16777619u;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        f->data[i] = (uint8_t)x;
    }
    hash_sha256_hex(f->data, size, f->sha);
    return f;
}

static int server_start(void **state)
{
    (void)state;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    srv.mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                               NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!srv.mhd)
        return -1;
    srv.port = MHD_get_daemon_info(srv.mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h", "big", "drip", "kill"};
    size_t sizes[] = {100000, 70000, 65536, 65536, 65536, 65536, 65536, 1, 200000, 20000, 600000};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        file_add(names[i], sizes[i]);
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int server_stop(void **state)
{
    (void)state;
    MHD_stop_daemon(srv.mhd);
    for (size_t i = 0; i < srv.n_files; i++)
        free(srv.files[i].data);
    curl_global_cleanup();
    return 0;
}

static void server_reset(void)
{
    pthread_mutex_lock(&srv.lock);
    srv.n_reqs = 0;
    srv.max_inflight = srv.inflight = 0;
    srv.gen++;
    pthread_mutex_unlock(&srv.lock);
}

/* The requests for @path, in order, copied out. */
static size_t reqs_for(const char *path, struct req *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&srv.lock);
    for (size_t i = 0; i < srv.n_reqs && n < max; i++)
        if (strcmp(srv.reqs[i].path, path) == 0)
            out[n++] = srv.reqs[i];
    pthread_mutex_unlock(&srv.lock);
    return n;
}

/* ---- the device side ----------------------------------------------------------------------- */

struct fixture {
    char *dir;
    struct cache *cache;
    struct dl *dl;
    struct dl_config cfg;
    struct dl_result res[MAX_FILES];
    size_t n_res;
    unsigned max_active_seen;
    unsigned rnd_calls;
};

static uint32_t rnd_test(void *userdata)
{
    struct fixture *fx = userdata;
    fx->rnd_calls++;
    return UINT32_MAX; /* the top of every backoff window */
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int fx_setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    fx->dir = xstrdup("/tmp/test-download-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(cache_open(fx->dir, &fx->cache), 0);
    dl_config_default(&fx->cfg);
    fx->cfg.backoff_base_ms = 20;
    fx->cfg.backoff_cap_ms = 100;
    fx->cfg.low_speed_limit = 4096;
    fx->cfg.low_speed_time_s = 1;
    fx->cfg.connect_timeout_s = 5;
    fx->cfg.random = rnd_test;
    fx->cfg.userdata = fx;
    server_reset();
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;
    fx->dl = dl_free(fx->dl);
    fx->cache = cache_free(fx->cache);
    assert_int_equal(nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(fx->dir);
    free(fx);
    return 0;
}

static void fx_start(struct fixture *fx)
{
    assert_int_equal(dl_new(fx->cache, &fx->cfg, &fx->dl), 0);
}

static char *url_of(const char *mode, const char *name)
{
    return xasprintf("http://127.0.0.1:%u/%s/%s", srv.port, mode, name);
}

static void add(struct fixture *fx, const char *mode, const char *name, enum dl_priority prio)
{
    const struct file *f = file_find(name);
    assert_non_null(f);
    _cleanup_free_ char *url = url_of(mode, name);
    struct dl_job j = {
        .asset_id = name, .url = url, .sha256 = f->sha, .bytes = f->size, .priority = prio};
    assert_int_equal(dl_add(fx->dl, &j), 0);
}

static double now_s(void)
{
    return (double)clock_mono_ns() / 1e9;
}

/* Runs the engine until @n results in all arrived (or @limit_s passed), keeping them. */
static void run_until(struct fixture *fx, size_t n, double limit_s)
{
    double end = now_s() + limit_s;
    while (fx->n_res < n && now_s() < end) {
        assert_true(dl_run(fx->dl, 50) >= 0);
        struct dl_counts c;
        dl_counts_get(fx->dl, &c);
        fx->max_active_seen = MAX(fx->max_active_seen, c.active);
        while (fx->n_res < MAX_FILES && dl_result_next(fx->dl, &fx->res[fx->n_res]) == 1)
            fx->n_res++;
    }
    assert_int_equal(fx->n_res, n);
}

static const struct dl_result *result_of(const struct fixture *fx, const char *id)
{
    for (size_t i = 0; i < fx->n_res; i++)
        if (strcmp(fx->res[i].asset_id, id) == 0)
            return &fx->res[i];
    fail_msg("no result for %s", id);
    return NULL;
}

static bool part_exists(const struct fixture *fx, const char *id)
{
    _cleanup_free_ char *p = NULL;
    assert_int_equal(cache_part_path(fx->cache, id, &p), 0);
    return access(p, F_OK) == 0;
}

static uint64_t part_size(const struct fixture *fx, const char *id)
{
    _cleanup_free_ char *p = NULL;
    assert_int_equal(cache_part_path(fx->cache, id, &p), 0);
    struct stat st;
    return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* DONE, and the asset is in assets/ byte for byte, READY in the index, with no .part left. */
static void assert_ready(const struct fixture *fx, const char *id)
{
    const struct dl_result *r = result_of(fx, id);
    assert_int_equal(r->outcome, DL_DONE);
    const struct file *f = file_find(id);
    _cleanup_free_ char *path = NULL;
    assert_int_equal(cache_asset_path(fx->cache, id, &path), 0);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    uint8_t *got = xmalloc(f->size + 1);
    assert_int_equal(pread(fd, got, f->size + 1, 0), (ssize_t)f->size);
    assert_memory_equal(got, f->data, f->size);
    free(got);
    struct cache_entry ce;
    assert_int_equal(cache_get(fx->cache, id, &ce), 0);
    assert_int_equal(ce.state, CACHE_STATE_READY);
    assert_int_equal(ce.bytes, f->size);
    assert_string_equal(ce.sha256, f->sha);
    assert_int_equal(cache_verify(fx->cache, id, f->sha), 0);
    assert_false(part_exists(fx, id));
}

/* A reserved download of @id whose .part holds its first @n bytes (an earlier run's). */
static void part_prefill(struct fixture *fx, const char *id, size_t n)
{
    const struct file *f = file_find(id);
    assert_int_equal(cache_reserve(fx->cache, id, f->sha, f->size, 1800000000), 0);
    _cleanup_free_ char *part = NULL;
    assert_int_equal(cache_part_path(fx->cache, id, &part), 0);
    _cleanup_close_ int fd = open(part, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->data, n), (ssize_t)n);
}

/* ---- cases --------------------------------------------------------------------------------- */

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(dl_backoff_ms(1000, 60000, 0, UINT32_MAX), 0);
    assert_int_equal(dl_backoff_ms(1000, 60000, 1, 0), 0);
    assert_int_equal(dl_backoff_ms(1000, 60000, 1, UINT32_MAX), 1000);
    assert_int_equal(dl_backoff_ms(1000, 60000, 3, UINT32_MAX), 4000);
    assert_int_equal(dl_backoff_ms(1000, 60000, 3, UINT32_C(1) << 31), 2000);
    assert_int_equal(dl_backoff_ms(1000, 60000, 40, UINT32_MAX), 60000);
    assert_int_equal(dl_backoff_ms(1000, 60000, UINT32_MAX, UINT32_MAX), 60000);
}

static void test_config_and_add(void **state)
{
    struct fixture *fx = *state;
    struct dl *e = NULL;
    struct dl_config bad = fx->cfg;
    bad.max_active = 0;
    assert_int_equal(dl_new(fx->cache, &bad, &e), -EINVAL);
    assert_null(e);
    fx_start(fx);
    const struct file *f = file_find("a");
    struct dl_job j = {.asset_id = "a", .url = "ftp://x/a", .sha256 = f->sha, .bytes = f->size};
    assert_int_equal(dl_add(fx->dl, &j), -EINVAL);
    j.url = "http://127.0.0.1:1/a";
    j.asset_id = "../a";
    assert_int_equal(dl_add(fx->dl, &j), -EINVAL);
    j.asset_id = "a";
    j.sha256 = "abc";
    assert_int_equal(dl_add(fx->dl, &j), -EINVAL);
    j.sha256 = f->sha;
    j.priority = DL_PRIO_REST;
    assert_int_equal(dl_add(fx->dl, &j), 0);
    assert_int_equal(dl_add(fx->dl, &j), -EEXIST);
    assert_int_equal(dl_cancel(fx->dl, "a"), 0);
    assert_int_equal(dl_cancel(fx->dl, "a"), -ENOENT);
    struct dl_counts c;
    dl_counts_get(fx->dl, &c);
    assert_int_equal(c.queued + c.active, 0);
}

static void test_plain(void **state)
{
    struct fixture *fx = *state;
    fx_start(fx);
    add(fx, "ok", "a", DL_PRIO_STAGED);
    add(fx, "ok", "h", DL_PRIO_STAGED); /* a single byte */
    run_until(fx, 2, 10);
    assert_ready(fx, "a");
    assert_ready(fx, "h");
    assert_int_equal(result_of(fx, "a")->retry_count, 0);
    assert_int_equal(result_of(fx, "a")->bytes_received, 100000);
    /* again: already READY, no request */
    server_reset();
    add(fx, "ok", "a", DL_PRIO_STAGED);
    run_until(fx, 3, 5);
    assert_int_equal(fx->res[2].outcome, DL_DONE);
    assert_int_equal(fx->res[2].bytes_received, 0);
    assert_int_equal(srv.n_reqs, 0);
}

static void test_503_then_success(void **state)
{
    struct fixture *fx = *state;
    fx_start(fx);
    add(fx, "503once", "b", DL_PRIO_STAGED);
    run_until(fx, 1, 10);
    assert_ready(fx, "b");
    assert_int_equal(result_of(fx, "b")->retry_count, 1);
    assert_int_equal(fx->rnd_calls, 1);
    struct req r[4];
    assert_int_equal(reqs_for("/503once/b", r, 4), 2);
    assert_int_equal(r[0].status, 503);
    assert_int_equal(r[1].status, 200);
}

static void test_cut_resumes(void **state)
{
    struct fixture *fx = *state;
    fx_start(fx);
    add(fx, "cut", "big", DL_PRIO_STAGED);
    run_until(fx, 1, 10);
    assert_ready(fx, "big");
    struct req r[4];
    assert_int_equal(reqs_for("/cut/big", r, 4), 2);
    assert_int_equal(r[0].range_start, -1);
    assert_int_equal(r[0].served, 100000);
    /* the second request asked for, and got, only the rest */
    assert_int_equal(r[1].range_start, 100000);
    assert_int_equal(r[1].status, 206);
    assert_int_equal(r[1].served, 100000);
    assert_int_equal(result_of(fx, "big")->bytes_received, 200000);
}

static void test_corrupt_refetched(void **state)
{
    struct fixture *fx = *state;
    fx_start(fx);
    add(fx, "corrupt", "c", DL_PRIO_STAGED);
    run_until(fx, 1, 10);
    assert_ready(fx, "c");
    assert_int_equal(result_of(fx, "c")->retry_count, 1);
    struct req r[4];
    assert_int_equal(reqs_for("/corrupt/c", r, 4), 2);
    assert_int_equal(r[1].range_start, -1); /* the damaged .part was deleted: from 0 */
    assert_int_equal(r[1].served, 65536);
}

static void test_ignored_range_restarts(void **state)
{
    struct fixture *fx = *state;
    const struct file *f = file_find("d");
    part_prefill(fx, "d", f->size / 2); /* half of it already there */
    fx_start(fx);
    add(fx, "norange", "d", DL_PRIO_STAGED);
    run_until(fx, 1, 10);
    assert_ready(fx, "d");
    struct req r[4];
    assert_int_equal(reqs_for("/norange/d", r, 4), 1);
    assert_int_equal(r[0].range_start, (long long)f->size / 2); /* asked … */
    assert_int_equal(r[0].status, 200);                         /* … and got it all */
    assert_int_equal(result_of(fx, "d")->retry_count, 0);
}

static void test_drip_times_out_and_resumes(void **state)
{
    struct fixture *fx = *state;
    fx_start(fx);
    add(fx, "drip", "drip", DL_PRIO_STAGED);
    /* the low-speed limit (4096 B/s for 1 s) ends the first attempt: two requests, the second
     * resuming what dripped in (how long it took is not asserted: no test fails on timing) */
    run_until(fx, 1, 10);
    assert_ready(fx, "drip");
    assert_int_equal(result_of(fx, "drip")->retry_count, 1);
    struct req r[4];
    assert_int_equal(reqs_for("/drip/drip", r, 4), 2);
    assert_true(r[0].served > 0);
    assert_true(r[1].range_start > 0); /* what dripped in was kept */
}

static void test_fails_after_three(void **state)
{
    struct fixture *fx = *state;
    fx_start(fx);
    add(fx, "e503", "e", DL_PRIO_STAGED);
    add(fx, "e404", "f", DL_PRIO_STAGED);
    run_until(fx, 2, 10);
    const struct dl_result *r = result_of(fx, "e");
    assert_int_equal(r->outcome, DL_FAILED);
    assert_int_equal(r->http_status, 503);
    assert_int_equal(r->retry_count, 2);
    assert_int_equal(r->error, -EIO);
    struct req q[8];
    assert_int_equal(reqs_for("/e503/e", q, 8), 3);
    /* a 404 will not get better within this window */
    r = result_of(fx, "f");
    assert_int_equal(r->outcome, DL_FAILED);
    assert_int_equal(r->http_status, 404);
    assert_int_equal(r->retry_count, 0);
    assert_int_equal(reqs_for("/e404/f", q, 8), 1);
    /* the reservation stays PENDING, for the next sync */
    struct cache_entry ce;
    assert_int_equal(cache_get(fx->cache, "e", &ce), 0);
    assert_int_equal(ce.state, CACHE_STATE_PENDING);
}

/* Runs the engine for about @ms (no result expected meanwhile). */
static void run_for(struct fixture *fx, int64_t ms)
{
    int64_t end = clock_mono_ns() + ms * 1000000;
    while (clock_mono_ns() < end) {
        assert_true(dl_run(fx->dl, 20) >= 0);
        struct dl_result r;
        if (dl_result_next(fx->dl, &r) == 1)
            fail_msg("an unexpected result for %s (outcome %d, status %d)", r.asset_id,
                     (int)r.outcome, r.http_status);
    }
}

/*
 * 429 and 503 honour Retry-After (delta-seconds and HTTP-date): with a backoff of 20 ms, a
 * Retry-After of an hour keeps the job waiting — queued, in backoff, no second request — long
 * after the backoff alone would have retried; a Retry-After of 1 s is waited before the retry
 * (the second request comes no sooner: an order of events on one monotonic clock, not a
 * measure of speed), which then succeeds.
 */
static void test_retry_after(void **state)
{
    struct fixture *fx = *state;
    fx->cfg.max_attempts = 5;
    fx_start(fx);
    add(fx, "ra3600", "c", DL_PRIO_STAGED);
    add(fx, "radate", "d", DL_PRIO_STAGED);
    struct req r[4];
    struct dl_counts cnt = {0};
    int64_t end = clock_mono_ns() + INT64_C(10) * 1000000000;
    do {
        assert_true(dl_run(fx->dl, 20) >= 0);
        dl_counts_get(fx->dl, &cnt);
    } while (
        (reqs_for("/ra3600/c", r, 4) < 1 || reqs_for("/radate/d", r, 4) < 1 || cnt.active > 0) &&
        clock_mono_ns() < end);
    /* both answered; now wait 25 backoffs' worth (500 ms): neither may come back */
    run_for(fx, 500);
    dl_counts_get(fx->dl, &cnt);
    assert_int_equal(cnt.active, 0);
    assert_int_equal(cnt.queued, 2);
    assert_int_equal(cnt.waiting, 2);
    assert_int_equal(reqs_for("/ra3600/c", r, 4), 1);
    assert_int_equal(r[0].status, 503);
    assert_int_equal(reqs_for("/radate/d", r, 4), 1);
    assert_int_equal(r[0].status, 429);
    assert_int_equal(fx->n_res, 0);
    assert_int_equal(dl_cancel(fx->dl, "c"), 0);
    assert_int_equal(dl_cancel(fx->dl, "d"), 0);

    /* Retry-After: 1 — the retry waits for it, then succeeds */
    add(fx, "ra1", "e", DL_PRIO_STAGED);
    run_until(fx, 1, 10);
    assert_ready(fx, "e");
    assert_int_equal(result_of(fx, "e")->retry_count, 1);
    assert_int_equal(reqs_for("/ra1/e", r, 4), 2);
    assert_int_equal(r[0].status, 503);
    assert_int_equal(r[1].status, 200);
    assert_true(r[1].at_ns - r[0].at_ns >= INT64_C(1000000000));
}

static void test_priority_and_concurrency(void **state)
{
    struct fixture *fx = *state;
    /* one at a time: the order of the requests is the order of the queue */
    fx->cfg.max_active = 1;
    fx_start(fx);
    add(fx, "slow", "c", DL_PRIO_REST);
    add(fx, "slow", "d", DL_PRIO_NEXT);
    add(fx, "slow", "e", DL_PRIO_STAGED);
    add(fx, "slow", "f", DL_PRIO_REST);
    add(fx, "slow", "g", DL_PRIO_STAGED);
    const struct file *fc = file_find("c");
    struct dl_job up = {.asset_id = "c",
                        .url = "http://127.0.0.1:1/x",
                        .sha256 = fc->sha,
                        .bytes = fc->size,
                        .priority = DL_PRIO_NEXT};
    assert_int_equal(dl_add(fx->dl, &up), -EEXIST); /* raises c to NEXT, before d (added first) */
    run_until(fx, 5, 15);
    const char *want[] = {"/slow/e", "/slow/g", "/slow/c", "/slow/d", "/slow/f"};
    assert_int_equal(srv.n_reqs, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(srv.reqs[i].path, want[i]);
    assert_int_equal(srv.max_inflight, 1);
    assert_int_equal(fx->max_active_seen, 1);

    /* two at a time (the default): never more, and they do overlap */
    fx->dl = dl_free(fx->dl);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(cache_remove(fx->cache, want[i] + 6), 0);
    fx->cfg.max_active = 2;
    fx->n_res = 0;
    fx->max_active_seen = 0;
    server_reset();
    fx_start(fx);
    for (size_t i = 0; i < 5; i++)
        add(fx, "slow", want[i] + 6, DL_PRIO_REST);
    run_until(fx, 5, 15);
    for (size_t i = 0; i < 5; i++)
        assert_ready(fx, want[i] + 6);
    assert_int_equal(srv.max_inflight, 2);
    assert_int_equal(fx->max_active_seen, 2);
}

/* With a bandwidth cap the download still completes and verifies. How fast it went is not
 * asserted: tests never fail on timing (the cap is libcurl's CURLOPT_MAX_RECV_SPEED_LARGE;
 * its effect belongs to a benchmark). */
static void test_bandwidth_cap(void **state)
{
    struct fixture *fx = *state;
    fx->cfg.max_active = 1;
    fx->cfg.max_recv_bytes_s = 200000;
    fx_start(fx);
    add(fx, "slow", "big", DL_PRIO_STAGED);
    run_until(fx, 1, 10);
    assert_ready(fx, "big");
}

static void test_kill_resumes(void **state)
{
    struct fixture *fx = *state;
    fx_start(fx);
    add(fx, "slow", "kill", DL_PRIO_STAGED);
    double end = now_s() + 10;
    while (part_size(fx, "kill") < 150000 && now_s() < end)
        assert_true(dl_run(fx->dl, 20) >= 0);
    /* the "kill": the engine goes away mid-transfer, the cache is opened again */
    fx->dl = dl_free(fx->dl);
    uint64_t had = part_size(fx, "kill");
    fx->cache = cache_free(fx->cache);
    assert_true(had >= 150000 && had < 600000);
    assert_int_equal(cache_open(fx->dir, &fx->cache), 0);
    const struct file *f = file_find("kill");
    struct cache_want w = {.asset_id = "kill", .sha256 = f->sha, .bytes = f->size};
    struct cache_reconcile_stats st;
    assert_int_equal(cache_reconcile(fx->cache, &w, 1, 1800000000, &st), 0);
    assert_int_equal(st.parts_kept, 1);
    fx_start(fx);
    add(fx, "slow", "kill", DL_PRIO_STAGED);
    run_until(fx, 1, 10);
    assert_ready(fx, "kill");
    struct req r[4];
    assert_int_equal(reqs_for("/slow/kill", r, 4), 2);
    assert_int_equal(r[1].range_start, (long long)had);
    assert_int_equal(r[1].served, 600000 - had);
    assert_int_equal(result_of(fx, "kill")->bytes_received, 600000 - had);
}

static void test_complete_part_verified_without_request(void **state)
{
    struct fixture *fx = *state;
    part_prefill(fx, "b", file_find("b")->size); /* killed after the last byte */
    fx_start(fx);
    add(fx, "ok", "b", DL_PRIO_STAGED);
    run_until(fx, 1, 5);
    assert_ready(fx, "b");
    assert_int_equal(srv.n_reqs, 0);
}

static int admit_pause(void *userdata, const char *asset_id, uint64_t bytes)
{
    (void)asset_id, (void)bytes;
    int *budget_full = userdata;
    return *budget_full;
}

static void test_admit_pauses(void **state)
{
    struct fixture *fx = *state;
    int full = 1;
    fx->cfg.admit = admit_pause;
    fx->cfg.userdata = &full;
    fx->cfg.random = NULL;
    fx_start(fx);
    add(fx, "ok", "a", DL_PRIO_STAGED);
    for (int i = 0; i < 5; i++)
        assert_int_equal(dl_run(fx->dl, 10), 0);
    struct dl_counts c;
    dl_counts_get(fx->dl, &c);
    assert_true(c.paused);
    assert_int_equal(c.queued, 1);
    assert_int_equal(srv.n_reqs, 0);
    full = 0;
    dl_unpause(fx->dl);
    run_until(fx, 1, 10);
    assert_ready(fx, "a");
    /* an admit error fails the job at once */
    full = -ENOSPC;
    add(fx, "ok", "b", DL_PRIO_STAGED);
    run_until(fx, 2, 5);
    assert_int_equal(result_of(fx, "b")->outcome, DL_FAILED);
    assert_int_equal(result_of(fx, "b")->error, -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test_setup_teardown(test_config_and_add, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_plain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_503_then_success, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cut_resumes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_refetched, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ignored_range_restarts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_drip_times_out_and_resumes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fails_after_three, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_priority_and_concurrency, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bandwidth_cap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kill_resumes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_complete_part_verified_without_request, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_admit_pauses, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
