/* SPDX-License-Identifier: MIT */
/*
 * assets.c — the asset endpoints of spec §27.5 (the shared library), §27.6 (a venue's
 * content) and §13.3 (/v1/assets/…): lists, reads, upload sessions, complete, delete.
 *
 * DESIGN
 * One set of handlers serves three route families; what differs is the view, taken from the
 * path: the library sees the tenant's TENANT assets, a venue sees those plus its own VENUE
 * assets, and /v1/assets/{id} sees whatever the caller's roles allow. Everything outside the
 * view is 404, so another venue's or tenant's asset looks exactly like none. The router has
 * already checked the tenant, the venue and the role the route asks for; the library routes'
 * EDIT_SHARED_LIBRARY capability too. Media URLs are signed when an asset is read, never
 * stored.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "audit.h"
#include "auth/auth.h"
#include "clock.h"
#include "content/content.h"
#include "ids.h"
#include "jsonx.h"
#include "macro.h"
#include "store/store.h"
#include "tenancy/admin-internal.h"

#define FILE_NAME_MAX_BYTES    255
#define DISPLAY_NAME_MAX_CHARS 200
#define CONTENT_TYPE_MAX_BYTES 100

#define ASSET_COLS                                                                                 \
    "asset_id, scope_type, scope_venue_id, type, status, display_name, original_file_name, "       \
    "mime_type, file_size_bytes, checksum_sha256, width_px, height_px, duration_ms, video_codec, " \
    "audio_codec, bitrate_bps, frame_rate_milli, failure_reason, failure_detail, failed_at_utc, "  \
    "created_at_utc, updated_at_utc, ready_at_utc, storage_key, thumbnail_storage_key"
enum {
    AC_ID,
    AC_SCOPE,
    AC_VENUE,
    AC_TYPE,
    AC_STATUS,
    AC_NAME,
    AC_FILE,
    AC_MIME,
    AC_SIZE,
    AC_SHA,
    AC_W,
    AC_H,
    AC_DUR,
    AC_VCODEC,
    AC_ACODEC,
    AC_BITRATE,
    AC_FPS,
    AC_REASON,
    AC_DETAIL,
    AC_FAILED,
    AC_CREATED,
    AC_UPDATED,
    AC_READY,
    AC_KEY,
    AC_THUMB,
};

/* Which assets a request sees: the library (venue NULL, library true), one venue's (venue
 * set), or everything its roles allow (/v1/assets: neither). */
struct view {
    const char *venue;
    bool library;
};

static struct view view_of(struct http_request *req)
{
    const char *path = http_req_path(req);
    return (struct view){.venue = http_req_param(req, "venueId"),
                         .library = !strncmp(path, "/v1/library/", 12)};
}

static json_t *jint(const struct store_result *res, size_t i, size_t col)
{
    int64_t v;
    return store_result_int(res, i, col, &v) == 0 ? json_integer(v) : json_null();
}

static json_t *asset_json(const struct content *c, const struct store_result *res, size_t i)
{
#define T(col) adm_jstr(store_result_text(res, i, (col)))
    json_t *a = json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "assetId", T(AC_ID),
        "scope", T(AC_SCOPE), "venueId", T(AC_VENUE), "type", T(AC_TYPE), "status", T(AC_STATUS),
        "displayName", T(AC_NAME), "fileName", T(AC_FILE), "contentType", T(AC_MIME), "sizeBytes",
        jint(res, i, AC_SIZE), "checksumSha256", T(AC_SHA), "width", jint(res, i, AC_W), "height",
        jint(res, i, AC_H), "durationMs", jint(res, i, AC_DUR), "videoCodec", T(AC_VCODEC),
        "audioCodec", T(AC_ACODEC), "bitrateBps", jint(res, i, AC_BITRATE));
    int64_t fps;
    json_object_set_new(a, "frameRate",
                        store_result_int(res, i, AC_FPS, &fps) == 0 ? json_real((double)fps / 1000)
                                                                    : json_null());
    json_object_set_new(a, "failureReason", T(AC_REASON));
    json_object_set_new(a, "failureDetail", T(AC_DETAIL));
    json_object_set_new(a, "failedAtUtc", T(AC_FAILED));
    const char *status = store_result_text(res, i, AC_STATUS);
    const char *key = store_result_text(res, i, AC_KEY);
    const char *thumb = store_result_text(res, i, AC_THUMB);
    const char *ext = content_ext_of(store_result_text(res, i, AC_MIME));
    json_t *url = json_null(), *turl = json_null(), *exp = json_null();
    if (!strcmp(status, "READY") && key && ext) {
        int64_t expires;
        char *u = content_media_url(c, key, ext, &expires);
        url = json_string(u);
        free(u);
        if (thumb) {
            u = content_media_url(c, thumb, "jpg", NULL);
            turl = json_string(u);
            free(u);
        }
        char when[TIMESTAMP_STR_LEN];
        ids_timestamp(expires * 1000, when);
        exp = json_string(when);
    }
    json_object_set_new(a, "url", url);
    json_object_set_new(a, "thumbnailUrl", turl);
    json_object_set_new(a, "urlExpiresAtUtc", exp);
    json_object_set_new(a, "createdAtUtc", T(AC_CREATED));
    json_object_set_new(a, "updatedAtUtc", T(AC_UPDATED));
    json_object_set_new(a, "readyAtUtc", T(AC_READY));
    return a;
#undef T
}

/* The live asset @id of the tenant, inside @v (else -ENOENT). For /v1/assets (no view), the
 * caller must see its venue (VIEWER, or @need_edit: EDITOR) or, for a TENANT asset, edit the
 * library when @need_edit. -EPERM when visible but not editable. */
static int asset_find(struct app *app, struct store_conn *conn, struct http_request *req,
                      struct view v, const char *id, bool need_edit, struct store_result **ret)
{
    const struct auth_actor *a = auth_actor(req);
    if (!ids_is_uuid(id))
        return -ENOENT;
    struct store_result *res = NULL;
    int r = store_exec(conn,
                       "SELECT " ASSET_COLS " FROM assets WHERE tenant_id = $1 AND asset_id = $2 "
                       "AND deleted_at_utc IS NULL",
                       (struct store_param[]){STORE_TEXT(a->claims.tid), STORE_TEXT(id)}, 2, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    const char *venue = store_result_text(res, 0, AC_VENUE);
    bool shared = venue == NULL;
    bool lib_editor =
        (a->claims.caps & CAP_EDIT_SHARED_LIBRARY) || (a->claims.tenant_roles & TROLE_ADMIN);
    r = 0;
    if (v.library) {
        if (!shared)
            r = -ENOENT;
    } else if (v.venue) {
        if (!shared && strcmp(venue, v.venue) != 0)
            r = -ENOENT;
        else if (need_edit && shared)
            r = -EPERM; /* the route checked EDITOR on the venue; the library is not its own */
    } else if (shared) {
        if (need_edit && !lib_editor)
            r = -EPERM;
    } else {
        enum venue_role role = VROLE_NONE;
        r = auth_venue_role(app, conn, &a->claims, venue, &role);
        if (r >= 0 && role == VROLE_NONE)
            r = -ENOENT;
        else if (r >= 0 && need_edit && role < VROLE_EDITOR)
            r = -EPERM;
    }
    if (r < 0) {
        store_result_free(res);
        return r;
    }
    *ret = res;
    return 0;
}

static int reply_find_error(struct http_request *req, int r, bool shared_via_venue)
{
    if (r == -ENOENT)
        return http_reply_problem(req, 404, "NOT_FOUND", "No such asset.", NULL);
    if (r == -EPERM)
        return http_reply_problem(req, 403, "FORBIDDEN",
                                  shared_via_venue
                                      ? "This asset is in the shared library; change it there "
                                        "(it needs EDIT_SHARED_LIBRARY)."
                                      : "Your role does not allow changing this asset.",
                                  NULL);
    return r;
}

/* ---- GET one ----------------------------------------------------------------------------- */

static int asset_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct store_conn *conn;
    int r = store_acquire(app->store, &conn);
    if (r < 0)
        return r;
    struct store_result *res = NULL;
    r = asset_find(app, conn, req, view_of(req), http_req_param(req, "assetId"), false, &res);
    store_release(conn);
    if (r < 0)
        return reply_find_error(req, r, false);
    json_t *body = asset_json(content_of(app), res, 0);
    store_result_free(res);
    http_reply_header(req, "Cache-Control", "private, no-cache");
    return http_reply_json_etag(req, body);
}

/* ---- GET list ---------------------------------------------------------------------------- */

static int query_enum(struct http_request *req, const char *name, const char *const *allowed,
                      const char **ret)
{
    const char *v = http_req_query(req, name);
    *ret = "";
    if (!v)
        return 0;
    for (size_t i = 0; allowed[i]; i++)
        if (!strcmp(v, allowed[i])) {
            *ret = allowed[i];
            return 0;
        }
    char msg[160] = "must be one of";
    for (size_t i = 0; allowed[i]; i++) {
        size_t n = strlen(msg);
        snprintf(msg + n, sizeof(msg) - n, "%s %s", i ? "," : "", allowed[i]);
    }
    return adm_field_problem(req, 400, "INVALID_QUERY", name, msg);
}

static int asset_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    struct view v = view_of(req);
    /* DRAFT (§6) is never used: an asset exists from its upload session on */
    static const char *const statuses[] = {"UPLOADING", "PROCESSING", "READY", "FAILED", NULL};
    static const char *const types[] = {"IMAGE", "VIDEO", NULL};
    static const char *const scopes[] = {"TENANT", "VENUE", NULL};
    const char *status, *type, *scope;
    _cleanup_free_ char *like = NULL;
    int r = adm_query_contains(req, &like);
    if (r >= 0)
        r = query_enum(req, "status", statuses, &status);
    if (r >= 0)
        r = query_enum(req, "type", types, &type);
    if (r >= 0)
        r = query_enum(req, "scope", scopes, &scope);
    if (r < 0)
        return r;
    if (v.library && !strcmp(scope, "VENUE"))
        return adm_field_problem(req, 400, "INVALID_QUERY", "scope",
                                 "must be TENANT here: venue assets are listed under "
                                 "/v1/venues/{venueId}/assets");
    struct http_page page;
    if ((r = http_page_parse(req, 2, &page)) < 0)
        return r;
    const struct store_param p[] = {
        STORE_TEXT(a->claims.tid),
        STORE_TEXT(v.venue ? v.venue : ""),
        STORE_TEXT(like),
        STORE_TEXT(status),
        STORE_TEXT(type),
        STORE_TEXT(scope),
        STORE_TEXT(page.n_after ? page.after[0] : TIME_MAX),
        STORE_TEXT(page.n_after ? page.after[1] : "~"),
        STORE_INT(page.limit + 1),
    };
    struct store_conn *conn;
    struct store_result *res = NULL;
    if ((r = store_acquire(app->store, &conn)) >= 0) {
        r = store_exec(conn,
                       "SELECT " ASSET_COLS " FROM assets WHERE tenant_id = $1 AND "
                       "(scope_venue_id IS NULL OR scope_venue_id = $2) AND "
                       "deleted_at_utc IS NULL AND "
                       "(lower(display_name) LIKE lower($3) ESCAPE '\\' OR "
                       " lower(coalesce(original_file_name, '')) LIKE lower($3) ESCAPE '\\') AND "
                       "($4 = '' OR status = $4) AND ($5 = '' OR type = $5) AND "
                       "($6 = '' OR scope_type = $6) AND "
                       "(created_at_utc < $7 OR (created_at_utc = $7 AND asset_id < $8)) "
                       "ORDER BY created_at_utc DESC, asset_id DESC LIMIT $9",
                       p, ARRAY_SIZE(p), &res);
        store_release(conn);
    }
    http_page_release(&page);
    if (r < 0)
        return r;
    size_t shown;
    char *cursor = adm_page_next(res, page.limit, AC_CREATED, AC_ID, &shown);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(items, asset_json(content_of(app), res, i));
    store_result_free(res);
    return adm_reply_page(req, items, cursor);
}

/* ---- POST …/uploads ---------------------------------------------------------------------- */

struct upload_in {
    const char *file_name; /* the last path component, inside file_buf */
    char file_buf[FILE_NAME_MAX_BYTES + 1];
    char mime[CONTENT_TYPE_MAX_BYTES + 1];
    const char *type; /* IMAGE / VIDEO */
    int64_t size;
    char sha[65];
    bool has_sha;
    const char *display_name;
};

static bool has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static int upload_input_read(struct http_request *req, int64_t max_bytes, struct upload_in *in)
{
    static const char *const allowed[] = {"fileName",       "contentType", "sizeBytes",
                                          "checksumSha256", "displayName", NULL};
    const char *file, *ct, *sha;
    int r = http_body_allow(req, allowed);
    if (r >= 0)
        r = http_body_string(req, "fileName", true, FILE_NAME_MAX_BYTES, &file);
    if (r >= 0)
        r = http_body_string(req, "contentType", true, CONTENT_TYPE_MAX_BYTES, &ct);
    if (r >= 0)
        r = http_body_string(req, "checksumSha256", false, 64, &sha);
    if (r >= 0)
        r = adm_body_text(req, "displayName", false, DISPLAY_NAME_MAX_CHARS, &in->display_name);
    if (r < 0)
        return r;

    if (has_control_chars(file))
        return adm_field_problem(req, 400, "INVALID_FIELD", "fileName",
                                 "must not contain control characters");
    /* only the last path component: a name is a label, never a path on this server */
    const char *base = file;
    for (const char *p = file; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return adm_field_problem(req, 400, "INVALID_FIELD", "fileName", "must end in a file name");
    snprintf(in->file_buf, sizeof(in->file_buf), "%s", base);
    in->file_name = in->file_buf;

    /* the type and subtype, lower case; parameters ("; charset=…") are dropped */
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < n; i++)
        in->mime[i] = (char)tolower((unsigned char)ct[i]);
    in->mime[n] = '\0';
    const char *slash = strchr(in->mime, '/');
    bool sub_ok = slash && slash[1];
    for (const char *p = slash ? slash + 1 : ""; sub_ok && *p; p++)
        sub_ok = isalnum((unsigned char)*p) || strchr(".+-", *p);
    if (!sub_ok || (strncmp(in->mime, "image/", 6) != 0 && strncmp(in->mime, "video/", 6) != 0))
        return adm_field_problem(req, 400, "INVALID_FIELD", "contentType",
                                 "must be an image/… or video/… media type (JPEG, PNG or MP4)");
    in->type = in->mime[0] == 'i' ? "IMAGE" : "VIDEO";

    json_t *size = json_object_get(http_req_json(req), "sizeBytes");
    if (!size)
        return adm_field_problem(req, 400, "FIELD_REQUIRED", "sizeBytes", "is required");
    if (!json_is_integer(size) || json_integer_value(size) < 1)
        return adm_field_problem(req, 400, "INVALID_FIELD", "sizeBytes",
                                 "must be a whole number of bytes, at least 1");
    in->size = json_integer_value(size);
    if (in->size > max_bytes) {
        char d[160];
        snprintf(d, sizeof(d), "The file is %lld bytes; the largest upload accepted is %lld bytes.",
                 (long long)in->size, (long long)max_bytes);
        return http_reply_problem(req, 422, "FILE_SIZE_EXCEEDED", d,
                                  json_pack("{s:I,s:I}", "maxBytes", (json_int_t)max_bytes,
                                            "sizeBytes", (json_int_t)in->size));
    }
    in->has_sha = sha != NULL;
    if (sha) {
        for (size_t i = 0; i < 64 && sha[i]; i++)
            in->sha[i] = (char)tolower((unsigned char)sha[i]);
        in->sha[64] = '\0';
        if (strlen(sha) != 64 || !objstore_sha_valid(in->sha))
            return adm_field_problem(req, 400, "INVALID_FIELD", "checksumSha256",
                                     "must be 64 hexadecimal digits (SHA-256)");
    }
    if (!in->display_name)
        in->display_name = in->file_name;
    return 0;
}

struct upload_tx {
    struct http_request *req;
    const struct auth_actor *actor;
    const struct upload_in *in;
    const char *venue;
    char asset_id[UUID_STR_LEN];
    char upload_id[UUID_STR_LEN];
    char now[TIMESTAMP_STR_LEN];
    char expires[TIMESTAMP_STR_LEN];
};

static int upload_create_tx(struct store_conn *c, void *ud)
{
    struct upload_tx *x = ud;
    const char *tid = x->actor->claims.tid;
    int r = store_exec(
        c,
        "INSERT INTO assets (asset_id, tenant_id, scope_type, scope_venue_id, type, status, "
        "display_name, original_file_name, mime_type, file_size_bytes, created_by_user_id, "
        "created_at_utc, updated_at_utc) VALUES ($1, $2, $3, $4, $5, 'UPLOADING', $6, $7, $8, $9, "
        "$10, $11, $11)",
        (struct store_param[]){
            STORE_TEXT(x->asset_id), STORE_TEXT(tid), STORE_TEXT(x->venue ? "VENUE" : "TENANT"),
            STORE_TEXT(x->venue), STORE_TEXT(x->in->type), STORE_TEXT(x->in->display_name),
            STORE_TEXT(x->in->file_name), STORE_TEXT(x->in->mime), STORE_INT(x->in->size),
            STORE_TEXT(x->actor->claims.sub), STORE_TEXT(x->now)},
        11, NULL);
    if (r >= 0)
        r = store_exec(c,
                       "INSERT INTO upload_sessions (upload_id, tenant_id, asset_id, size_bytes, "
                       "checksum_sha256, created_by_user_id, created_at_utc, expires_at_utc) "
                       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                       (struct store_param[]){STORE_TEXT(x->upload_id), STORE_TEXT(tid),
                                              STORE_TEXT(x->asset_id), STORE_INT(x->in->size),
                                              STORE_TEXT(x->in->has_sha ? x->in->sha : NULL),
                                              STORE_TEXT(x->actor->claims.sub), STORE_TEXT(x->now),
                                              STORE_TEXT(x->expires)},
                       8, NULL);
    if (r < 0)
        return r;
    json_t *details =
        json_pack("{s:s,s:s,s:I,s:s}", "fileName", x->in->file_name, "contentType", x->in->mime,
                  "sizeBytes", (json_int_t)x->in->size, "uploadId", x->upload_id);
    struct audit_entry e = {.tenant_id = tid,
                            .actor_type = "USER",
                            .actor_id = x->actor->claims.sub,
                            .action = "asset.upload_created",
                            .outcome = "SUCCESS",
                            .resource_type = "ASSET",
                            .resource_id = x->asset_id,
                            .venue_id = x->venue,
                            .details = details};
    r = audit_write(c, x->req, &e);
    json_decref(details);
    if (r >= 0)
        r = asset_change(c, tid, x->asset_id, x->venue, "created", x->actor->claims.sub);
    return r;
}

static int upload_create(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct content *c = content_of(app);
    struct upload_in in = {0};
    int r = upload_input_read(req, app->cfg.max_upload_bytes, &in);
    if (r < 0)
        return r;
    struct upload_tx x = {
        .req = req, .actor = auth_actor(req), .in = &in, .venue = view_of(req).venue};
    ids_uuid(x.asset_id);
    ids_uuid(x.upload_id);
    int64_t now = clock_now_ms();
    int64_t expires_ms = now + UPLOAD_SESSION_TTL_MS;
    ids_timestamp(now, x.now);
    ids_timestamp(expires_ms, x.expires);
    if ((r = store_tx(app->store, 0, upload_create_tx, &x)) < 0)
        return r;
    _cleanup_free_ char *url = content_upload_url(c, x.upload_id, expires_ms / 1000);
    char loc[200];
    snprintf(loc, sizeof(loc), "/v1/assets/%s", x.asset_id);
    http_reply_header(req, "Location", loc);
    return http_reply_json(req, 201,
                           json_pack("{s:s,s:s,s:s,s:s}", "uploadId", x.upload_id, "assetId",
                                     x.asset_id, "uploadUrl", url, "expiresAtUtc", x.expires));
}

/* ---- POST …/uploads/{uploadId}/complete -------------------------------------------------- */

struct complete_tx {
    struct app *app;
    struct http_request *req;
    struct view view;
    const char *upload_id;
    char asset_id[UUID_STR_LEN];
    char venue[UUID_STR_LEN]; /* the asset's, "" for the library */
    json_t *asset;
    bool queued;
};

static int complete_tx(struct store_conn *conn, void *ud)
{
    struct complete_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    struct content *c = content_of(x->app);
    json_decref(x->asset);
    x->asset = NULL;
    x->queued = false;
    struct store_result *res = NULL;
    int r = store_exec(conn,
                       "SELECT asset_id, size_bytes, status FROM upload_sessions "
                       "WHERE tenant_id = $1 AND upload_id = $2",
                       (struct store_param[]){STORE_TEXT(a->claims.tid), STORE_TEXT(x->upload_id)},
                       2, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return http_reply_problem(x->req, 404, "NOT_FOUND", "No such upload session.", NULL);
    }
    snprintf(x->asset_id, sizeof(x->asset_id), "%s", store_result_text(res, 0, 0));
    int64_t size = 0;
    store_result_int(res, 0, 1, &size);
    bool open = !strcmp(store_result_text(res, 0, 2), "OPEN");
    store_result_free(res);

    struct store_result *ar = NULL;
    r = asset_find(x->app, conn, x->req, x->view, x->asset_id, true, &ar);
    if (r == -ENOENT)
        return http_reply_problem(x->req, 404, "NOT_FOUND", "No such upload session.", NULL);
    if (r < 0)
        return reply_find_error(x->req, r, x->view.venue != NULL);
    const char *status = store_result_text(ar, 0, AC_STATUS);
    const char *venue = store_result_text(ar, 0, AC_VENUE);
    snprintf(x->venue, sizeof(x->venue), "%s", venue ? venue : "");
    if (!open || strcmp(status, "UPLOADING") != 0) {
        /* completing again is harmless: the asset as it is now */
        x->asset = asset_json(c, ar, 0);
        store_result_free(ar);
        return 0;
    }
    store_result_free(ar);

    _cleanup_free_ char *path = objstore_upload_path(c, x->asset_id);
    struct stat st;
    int64_t held = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
    if (held != size) {
        char d[160];
        snprintf(d, sizeof(d), "The upload holds %lld of %lld bytes; send the rest first.",
                 (long long)held, (long long)size);
        return http_reply_problem(x->req, 409, "UPLOAD_INCOMPLETE", d,
                                  json_pack("{s:I,s:I}", "receivedBytes", (json_int_t)held,
                                            "sizeBytes", (json_int_t)size));
    }
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    r = store_exec(conn,
                   "UPDATE upload_sessions SET status = 'COMPLETED', completed_at_utc = $2 "
                   "WHERE upload_id = $1 AND status = 'OPEN'",
                   (struct store_param[]){STORE_TEXT(x->upload_id), STORE_TEXT(now)}, 2, NULL);
    if (r >= 0)
        r = store_exec(conn,
                       "UPDATE assets SET status = 'PROCESSING', processing_started_at_utc = $2, "
                       "updated_at_utc = $2 WHERE asset_id = $1 AND status = 'UPLOADING'",
                       (struct store_param[]){STORE_TEXT(x->asset_id), STORE_TEXT(now)}, 2, NULL);
    if (r < 0)
        return r;
    if (r == 0)
        return -EAGAIN; /* timed out meanwhile: run again, which answers with the asset as is */
    struct audit_entry e = {.tenant_id = a->claims.tid,
                            .actor_type = "USER",
                            .actor_id = a->claims.sub,
                            .action = "asset.upload_completed",
                            .outcome = "SUCCESS",
                            .resource_type = "ASSET",
                            .resource_id = x->asset_id,
                            .venue_id = x->venue[0] ? x->venue : NULL};
    if ((r = audit_write(conn, x->req, &e)) < 0 ||
        (r = asset_change(conn, a->claims.tid, x->asset_id, x->venue[0] ? x->venue : NULL,
                          "processing", a->claims.sub)) < 0)
        return r;
    if ((r = asset_find(x->app, conn, x->req, x->view, x->asset_id, true, &ar)) < 0)
        return r;
    x->asset = asset_json(c, ar, 0);
    store_result_free(ar);
    x->queued = true;
    return 0;
}

static int upload_complete(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct content *c = content_of(app);
    size_t len;
    const char *body = http_req_body(req, &len);
    if (len > 0) {
        json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        bool empty = json_is_object(j) && json_object_size(j) == 0;
        json_decref(j);
        if (!empty)
            return http_reply_problem(req, 400, "INVALID_BODY",
                                      "complete takes no body (or an empty JSON object).", NULL);
    }
    struct complete_tx x = {
        .app = app, .req = req, .view = view_of(req), .upload_id = http_req_param(req, "uploadId")};
    if (!ids_is_uuid(x.upload_id))
        return http_reply_problem(req, 404, "NOT_FOUND", "No such upload session.", NULL);
    /* no PUT may write while the size is checked and the session closed */
    if (!content_busy_take(c, x.upload_id))
        return http_reply_problem(req, 409, "UPLOAD_IN_PROGRESS",
                                  "Bytes are still being sent to this upload.", NULL);
    int r = store_tx(app->store, 0, complete_tx, &x);
    content_busy_put(c, x.upload_id);
    if (r < 0 || http_replied(req)) {
        json_decref(x.asset);
        return r;
    }
    if (x.queued)
        worker_enqueue(c, x.asset_id);
    return http_reply_json(req, 200, x.asset);
}

/* ---- DELETE ------------------------------------------------------------------------------ */

struct delete_tx {
    struct app *app;
    struct http_request *req;
    struct view view;
    const char *asset_id;
};

static int delete_tx(struct store_conn *conn, void *ud)
{
    struct delete_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    struct store_result *res = NULL;
    int r = asset_find(x->app, conn, x->req, x->view, x->asset_id, true, &res);
    if (r < 0)
        return reply_find_error(x->req, r, x->view.venue != NULL);
    const char *venue = store_result_text(res, 0, AC_VENUE);
    json_t *details =
        json_pack("{s:o,s:o}", "displayName", adm_jstr(store_result_text(res, 0, AC_NAME)),
                  "status", adm_jstr(store_result_text(res, 0, AC_STATUS)));
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    r = store_exec(
        conn,
        "UPDATE assets SET deleted_at_utc = $3, updated_at_utc = $3 "
        "WHERE tenant_id = $1 AND asset_id = $2 AND deleted_at_utc IS NULL",
        (struct store_param[]){STORE_TEXT(a->claims.tid), STORE_TEXT(x->asset_id), STORE_TEXT(now)},
        3, NULL);
    if (r >= 0) {
        struct audit_entry e = {.tenant_id = a->claims.tid,
                                .actor_type = "USER",
                                .actor_id = a->claims.sub,
                                .action = "asset.deleted",
                                .outcome = "SUCCESS",
                                .resource_type = "ASSET",
                                .resource_id = x->asset_id,
                                .venue_id = venue,
                                .details = details};
        r = audit_write(conn, x->req, &e);
    }
    if (r >= 0)
        r = asset_change(conn, a->claims.tid, x->asset_id, venue, "deleted", a->claims.sub);
    json_decref(details);
    store_result_free(res);
    return r;
}

static int asset_delete(struct http_request *req, void *ud)
{
    struct delete_tx x = {
        .app = ud, .req = req, .view = view_of(req), .asset_id = http_req_param(req, "assetId")};
    int r = store_tx(x.app->store, 0, delete_tx, &x);
    if (r < 0 || http_replied(req))
        return r;
    return http_reply_empty(req, 204);
}

/* ---- registration ------------------------------------------------------------------------ */

#define UPLOAD_BODY_MAX 4096

/* clang-format off */
static const struct http_route routes[] = {
    /* the shared library (§27.5) */
    {.method = HTTP_GET, .pattern = "/v1/library/assets", .audience = HTTP_USER,
     .min_role = AUTH_ANY, .handler = asset_list},
    {.method = HTTP_GET, .pattern = "/v1/library/assets/{assetId}", .audience = HTTP_USER,
     .min_role = AUTH_ANY, .handler = asset_get},
    {.method = HTTP_POST, .pattern = "/v1/library/assets/uploads", .audience = HTTP_USER,
     .min_role = AUTH_ANY, .capability = CAP_EDIT_SHARED_LIBRARY, .rate_class = "upload",
     .flags = HTTP_BODY_JSON, .max_body = UPLOAD_BODY_MAX, .handler = upload_create},
    {.method = HTTP_POST, .pattern = "/v1/library/assets/uploads/{uploadId}/complete",
     .audience = HTTP_USER, .min_role = AUTH_ANY, .capability = CAP_EDIT_SHARED_LIBRARY,
     .rate_class = "mutation", .max_body = 1024, .handler = upload_complete},
    {.method = HTTP_DELETE, .pattern = "/v1/library/assets/{assetId}", .audience = HTTP_USER,
     .min_role = AUTH_ANY, .capability = CAP_EDIT_SHARED_LIBRARY, .rate_class = "mutation",
     .handler = asset_delete},
    /* a venue's content (§27.6) */
    {.method = HTTP_GET, .pattern = "/v1/venues/{venueId}/assets", .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER, .handler = asset_list},
    {.method = HTTP_GET, .pattern = "/v1/venues/{venueId}/assets/{assetId}",
     .audience = HTTP_USER, .min_role = AUTH_VENUE_VIEWER, .handler = asset_get},
    {.method = HTTP_POST, .pattern = "/v1/venues/{venueId}/assets/uploads",
     .audience = HTTP_USER, .min_role = AUTH_VENUE_EDITOR, .rate_class = "upload",
     .flags = HTTP_BODY_JSON, .max_body = UPLOAD_BODY_MAX, .handler = upload_create},
    {.method = HTTP_POST, .pattern = "/v1/venues/{venueId}/assets/uploads/{uploadId}/complete",
     .audience = HTTP_USER, .min_role = AUTH_VENUE_EDITOR, .rate_class = "mutation",
     .max_body = 1024, .handler = upload_complete},
    {.method = HTTP_DELETE, .pattern = "/v1/venues/{venueId}/assets/{assetId}",
     .audience = HTTP_USER, .min_role = AUTH_VENUE_EDITOR, .rate_class = "mutation",
     .handler = asset_delete},
    /* §13.3's names: the view is whatever the caller's roles allow */
    {.method = HTTP_GET, .pattern = "/v1/assets/{assetId}", .audience = HTTP_USER,
     .min_role = AUTH_ANY, .handler = asset_get},
    {.method = HTTP_POST, .pattern = "/v1/assets/uploads/{uploadId}/complete",
     .audience = HTTP_USER, .min_role = AUTH_ANY, .rate_class = "mutation", .max_body = 1024,
     .handler = upload_complete},
};
/* clang-format on */

int assets_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
