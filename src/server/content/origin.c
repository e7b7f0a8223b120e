/* SPDX-License-Identifier: MIT */
/*
 * origin.c — the object store's own endpoint and the media origin (spec §32.3, §34.8;
 * protocol in docs/content.md). Neither takes a token: a signed, expiring URL is the
 * permission, and neither is rate limited per IP (a CDN edge is one IP for a whole fleet).
 *
 *   PUT  /store/uploads/{uploadId}   the bytes of an upload: whole, or a Content-Range chunk;
 *                                    streamed to disk as they arrive (HTTP_BODY_STREAM)
 *   GET  /store/uploads/{uploadId}   how much is held (HEAD: the same headers, no body)
 *   GET  /media/{object}             a stored file or thumbnail: Range, ETag, sendfile
 *
 * Resumable uploads: bytes are written at the offset the client claims only when it equals
 * what the file holds, and whatever arrived is kept when the connection breaks (flushed and
 * fdatasync'ed on release); the file's size is the received count. One PUT at a time per
 * upload (409 otherwise), so two writers can never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "content/content.h"
#include "log.h"
#include "macro.h"
#include "store/store.h"

#define WRITE_BUF (256u << 10)

/* ---- one PUT at a time per upload -------------------------------------------------------- */

bool content_busy_take(struct content *c, const char *id)
{
    pthread_mutex_lock(&c->lock);
    bool ok = !idlist_has(c->busy_uploads, c->n_busy, id);
    if (ok)
        idlist_push(&c->busy_uploads, &c->n_busy, &c->cap_busy, id);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

void content_busy_put(struct content *c, const char *id)
{
    pthread_mutex_lock(&c->lock);
    idlist_remove(c->busy_uploads, &c->n_busy, id);
    pthread_mutex_unlock(&c->lock);
}

/* ---- the upload session behind a URL ----------------------------------------------------- */

struct upload_row {
    char asset_id[40];
    int64_t size;
    bool open; /* session OPEN and asset UPLOADING */
};

static int upload_lookup(struct content *c, const char *upload_id, struct upload_row *ret)
{
    struct store_result *res = NULL;
    int r = store_query(c->app->store,
                        "SELECT s.asset_id, s.size_bytes, s.status, a.status "
                        "FROM upload_sessions s JOIN assets a ON a.asset_id = s.asset_id "
                        "WHERE s.upload_id = $1",
                        (struct store_param[]){STORE_TEXT(upload_id)}, 1, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    snprintf(ret->asset_id, sizeof(ret->asset_id), "%s", store_result_text(res, 0, 0));
    store_result_int(res, 0, 1, &ret->size);
    ret->open = !strcmp(store_result_text(res, 0, 2), "OPEN") &&
                !strcmp(store_result_text(res, 0, 3), "UPLOADING");
    store_result_free(res);
    return 0;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static void offset_headers(struct http_request *req, int64_t received, int64_t size)
{
    char v[64];
    snprintf(v, sizeof(v), "%lld", (long long)received);
    http_reply_header(req, "Upload-Offset", v);
    snprintf(v, sizeof(v), "%lld", (long long)size);
    http_reply_header(req, "Upload-Length", v);
    if (received > 0) {
        snprintf(v, sizeof(v), "bytes=0-%lld", (long long)received - 1);
        http_reply_header(req, "Range", v);
    }
    http_reply_header(req, "Cache-Control", "no-store");
}

static int reply_status(struct http_request *req, const char *upload_id, int64_t received,
                        int64_t size)
{
    offset_headers(req, received, size);
    return http_reply_json(req, 200,
                           json_pack("{s:s,s:I,s:I,s:b}", "uploadId", upload_id, "receivedBytes",
                                     (json_int_t)received, "sizeBytes", (json_int_t)size,
                                     "complete", received == size));
}

/* Common to GET/HEAD/PUT of an upload URL: signature, session, open. */
static int upload_begin(struct http_request *req, struct content *c, struct upload_row *row)
{
    int r = content_verify(req, c, SIGN_UPLOAD);
    if (r < 0)
        return r;
    r = upload_lookup(c, http_req_param(req, "uploadId"), row);
    if (r == -ENOENT)
        return http_reply_problem(req, 404, "NOT_FOUND", "No such upload session.", NULL);
    return r;
}

static int upload_get(struct http_request *req, void *ud)
{
    struct content *c = ud;
    struct upload_row row;
    int r = upload_begin(req, c, &row);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = objstore_upload_path(c, row.asset_id);
    return reply_status(req, http_req_param(req, "uploadId"), file_size(path), row.size);
}

/* ---- PUT: the body streamed to disk ------------------------------------------------------ */

struct upload_put {
    struct content *c;
    char upload_id[40];
    int fd;
    int64_t size;  /* the session's declared size */
    int64_t start; /* where this request began writing */
    int64_t pos;   /* next byte's offset (written or buffered) */
    int64_t limit; /* one past the last byte this request may write */
    unsigned char *buf;
    size_t n_buf;
    bool failed;
    bool marked; /* holds the upload's busy mark */
};

/* Gives the busy mark back as soon as the answer is decided, not when the library reports the
 * request finished: a client that has its answer may send the next chunk at once. */
static void put_unmark(struct upload_put *u)
{
    if (u->marked)
        content_busy_put(u->c, u->upload_id);
    u->marked = false;
}

static int put_flush(struct upload_put *u)
{
    size_t done = 0;
    int64_t at = u->pos - (int64_t)u->n_buf;
    while (done < u->n_buf) {
        ssize_t n = pwrite(u->fd, u->buf + done, u->n_buf - done, (off_t)(at + (int64_t)done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        done += (size_t)n;
    }
    u->n_buf = 0;
    return 0;
}

static int put_data(struct http_request *req, const void *data, size_t len, void *ctx)
{
    struct upload_put *u = ctx;
    if (u->pos + (int64_t)len > u->limit) {
        /* more than was declared: drop what this request wrote, answer 413 */
        u->failed = true;
        u->n_buf = 0;
        if (ftruncate(u->fd, (off_t)u->start) < 0)
            log_msg(LOG_ERROR, "upload_truncate_failed", "%s", strerror(errno));
        put_unmark(u);
        char d[160];
        snprintf(d, sizeof(d), "The body goes past the %lld bytes this request may write.",
                 (long long)(u->limit - u->start));
        return http_reply_problem(
            req, 413, "PAYLOAD_TOO_LARGE", d,
            json_pack("{s:I}", "maxBytes", (json_int_t)(u->limit - u->start)));
    }
    const unsigned char *p = data;
    while (len > 0) {
        size_t n = MIN(len, WRITE_BUF - u->n_buf);
        memcpy(u->buf + u->n_buf, p, n);
        u->n_buf += n;
        u->pos += (int64_t)n;
        p += n;
        len -= n;
        if (u->n_buf == WRITE_BUF) {
            int r = put_flush(u);
            if (r < 0) {
                u->failed = true;
                log_msg(LOG_ERROR, "upload_write_failed", "%s", strerror(-r));
                return r == -ENOSPC ? -EIO : r;
            }
        }
    }
    return 0;
}

/* Flushes and syncs what arrived: acknowledged bytes survive a power cut. */
static int put_settle(struct upload_put *u)
{
    int r = 0;
    if (!u->failed && u->n_buf)
        r = put_flush(u);
    if (r == 0 && fdatasync(u->fd) < 0)
        r = -errno;
    return r;
}

static int put_end(struct http_request *req, void *ctx)
{
    struct upload_put *u = ctx;
    int r = put_settle(u);
    if (r < 0) {
        log_msg(LOG_ERROR, "upload_sync_failed", "%s", strerror(-r));
        return -EIO;
    }
    struct stat st;
    if (fstat(u->fd, &st) < 0)
        return -errno;
    put_unmark(u);
    return reply_status(req, u->upload_id, (int64_t)st.st_size, u->size);
}

static void put_release(void *ctx, bool aborted)
{
    struct upload_put *u = ctx;
    if (aborted && !u->failed) {
        /* the connection broke: keep every byte that came, the client resumes from there */
        int r = put_settle(u);
        if (r < 0)
            log_msg(LOG_ERROR, "upload_sync_failed", "%s", strerror(-r));
    }
    close(u->fd);
    put_unmark(u);
    free(u->buf);
    free(u);
}

static const struct http_body_stream put_ops = {
    .data = put_data,
    .end = put_end,
    .release = put_release,
};

static int bad_range(struct http_request *req, const char *detail)
{
    return http_reply_problem(req, 400, "INVALID_CONTENT_RANGE", detail, NULL);
}

/* After the signature, holding the upload's busy mark: 1 when the body is being taken (the
 * stream's release gives the mark back), else the mark is the caller's to give back. */
static int upload_put_begin(struct http_request *req, struct content *c, const char *upload_id)
{
    struct upload_row row;
    int r = upload_lookup(c, upload_id, &row);
    if (r == -ENOENT)
        return http_reply_problem(req, 404, "NOT_FOUND", "No such upload session.", NULL);
    if (r < 0)
        return r;
    if (!row.open)
        return http_reply_problem(req, 409, "UPLOAD_CLOSED",
                                  "This upload is complete or has expired; bytes are no longer "
                                  "accepted.",
                                  NULL);
    int64_t cl = http_req_content_length(req);
    int64_t first = 0, last = row.size - 1, total = row.size;
    const char *range = http_req_header(req, "Content-Range");
    bool query_only = false;
    if (range) {
        if (http_content_range_parse(range, &first, &last, &total) < 0)
            return bad_range(req, "Content-Range must be \"bytes FIRST-LAST/SIZE\" or "
                                  "\"bytes */SIZE\".");
        if (total != row.size)
            return bad_range(req, "The Content-Range total is not the size declared for this "
                                  "upload.");
        query_only = first < 0;
        if (query_only && cl > 0)
            return bad_range(req, "\"bytes */SIZE\" asks how much is held; it takes no body.");
        if (!query_only && cl >= 0 && cl != last - first + 1)
            return bad_range(req, "Content-Length differs from the Content-Range length.");
    }
    if (!range && cl > row.size) {
        char d[128];
        snprintf(d, sizeof(d), "The body is larger than the %lld bytes declared for this upload.",
                 (long long)row.size);
        return http_reply_problem(req, 413, "PAYLOAD_TOO_LARGE", d,
                                  json_pack("{s:I}", "maxBytes", (json_int_t)row.size));
    }
    _cleanup_free_ char *path = objstore_upload_path(c, row.asset_id);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        log_msg(LOG_ERROR, "upload_open_failed", "%s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -EIO;
    }
    int64_t held = (int64_t)st.st_size;
    if (query_only) {
        close(fd);
        return reply_status(req, upload_id, held, row.size);
    }
    if (range && first != held) {
        close(fd);
        offset_headers(req, held, row.size);
        char d[160];
        snprintf(d, sizeof(d), "This upload holds %lld bytes; the next chunk must start there.",
                 (long long)held);
        return http_reply_problem(req, 409, "UPLOAD_OFFSET_MISMATCH", d,
                                  json_pack("{s:I,s:I}", "receivedBytes", (json_int_t)held,
                                            "sizeBytes", (json_int_t)row.size));
    }
    if (!range && held > 0 && ftruncate(fd, 0) < 0) { /* a whole-file PUT starts over */
        close(fd);
        return -EIO;
    }
    struct upload_put *u = xcalloc(1, sizeof(*u));
    u->c = c;
    snprintf(u->upload_id, sizeof(u->upload_id), "%s", upload_id);
    u->fd = fd;
    u->size = row.size;
    u->start = u->pos = range ? first : 0;
    u->limit = range ? last + 1 : row.size;
    u->buf = xmalloc(WRITE_BUF);
    u->marked = true;
    http_req_stream(req, &put_ops, u);
    return 1;
}

static int upload_put(struct http_request *req, void *ud)
{
    struct content *c = ud;
    const char *upload_id = http_req_param(req, "uploadId");
    int r = content_verify(req, c, SIGN_UPLOAD);
    if (r < 0)
        return r;
    /* marked before the session is read: `complete` marks it too, so no byte lands after */
    if (!content_busy_take(c, upload_id))
        return http_reply_problem(req, 409, "UPLOAD_IN_PROGRESS",
                                  "Another request is sending bytes to this upload right now.",
                                  NULL);
    r = upload_put_begin(req, c, upload_id);
    if (r != 1)
        content_busy_put(c, upload_id);
    return r < 0 ? r : 0;
}

/* ---- GET /media/{object} ----------------------------------------------------------------- */

static int media_get(struct http_request *req, void *ud)
{
    struct content *c = ud;
    int r = content_verify(req, c, SIGN_MEDIA);
    if (r < 0)
        return r;
    const char *object = http_req_param(req, "object");
    const char *dot = strchr(object, '.');
    const char *type = dot ? content_type_of_ext(dot + 1) : NULL;
    char sha[65];
    if (!type || dot - object != 64)
        return -ENOENT;
    snprintf(sha, sizeof(sha), "%.64s", object);
    if (!objstore_sha_valid(sha))
        return -ENOENT;
    _cleanup_free_ char *path = objstore_path(c, sha);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : -EIO;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -EIO;
    }
    int64_t size = (int64_t)st.st_size;
    char etag[72], v[128];
    snprintf(etag, sizeof(etag), "\"%s\"", sha);
    int64_t expires;
    parse_int64(http_req_query(req, "expires"), 0, INT64_MAX / 1000, &expires);
    int64_t max_age = expires - clock_now_ms() / 1000;
    snprintf(v, sizeof(v), "public, max-age=%lld, immutable", (long long)MAX(max_age, 0));
    http_reply_header(req, "Cache-Control", v);
    http_reply_header(req, "Accept-Ranges", "bytes");
    http_reply_header(req, "X-Content-Type-Options", "nosniff");
    if (http_not_modified(req, etag, (size_t)size)) {
        close(fd);
        return 0;
    }
    int64_t first = 0, len = size;
    const char *if_range = http_req_header(req, "If-Range");
    r = !if_range || !strcmp(if_range, etag)
            ? http_range_parse(http_req_header(req, "Range"), size, &first, &len)
            : 0;
    if (r == -ERANGE) {
        close(fd);
        snprintf(v, sizeof(v), "bytes */%lld", (long long)size);
        http_reply_header(req, "Content-Range", v);
        return http_reply_problem(req, 416, "RANGE_NOT_SATISFIABLE",
                                  "The requested range is outside the file.", NULL);
    }
    if (r == 1) {
        snprintf(v, sizeof(v), "bytes %lld-%lld/%lld", (long long)first,
                 (long long)(first + len - 1), (long long)size);
        http_reply_header(req, "Content-Range", v);
    }
    return http_reply_file(req, r == 1 ? 206 : 200, type, fd, (uint64_t)first, (uint64_t)len);
}

static const struct http_route routes[] = {
    {.method = HTTP_PUT,
     .pattern = "/store/uploads/{uploadId}",
     .audience = HTTP_PUBLIC,
     .flags = HTTP_BODY_STREAM | HTTP_NO_RATE_LIMIT | HTTP_SIGNED_URL,
     .handler = upload_put},
    {.method = HTTP_GET,
     .pattern = "/store/uploads/{uploadId}",
     .audience = HTTP_PUBLIC,
     .flags = HTTP_NO_RATE_LIMIT | HTTP_SIGNED_URL,
     .handler = upload_get},
    {.method = HTTP_GET,
     .pattern = "/media/{object}",
     .audience = HTTP_PUBLIC,
     .flags = HTTP_NO_RATE_LIMIT | HTTP_SIGNED_URL,
     .handler = media_get},
};

int origin_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), content_of(app));
}
