/* SPDX-License-Identifier: MIT */
/*
 * manifest.c — GET /v1/player/manifest (spec §12, §27.8.1, §31; issue 6): what one screen
 * should play now, for a device token only.
 *
 * DESIGN
 * The guard has verified the device token and that the device is still registered in the
 * token's venue. The handler reads, on one pooled connection, the device in one query (group,
 * zones, fallback, settings and the venue's manifest epoch: loader.c), then the live schedule's
 * slots aimed at the device or its group; resolves now with the pure resolver; and, when a playlist
 * wins, reads that published snapshot's items with their assets. Media URLs are signed on
 * media_public_url (content/urls.c); they expire on the hour, so the same manifest keeps the
 * same URLs for an hour.
 *
 * The ETag names what the device should do, nothing else: SHA-256 of the epoch, the resolved
 * playlist and published version (or none), validToUtc and the settings. When nothing changes
 * within the resolver's 6-hour horizon, validToUtc is the hour before the horizon, so the tag
 * holds for an hour instead of changing with every second. It does not change
 * when URLs are re-signed, and it does change after a publish (the epoch), when validToUtc
 * passes (the next resolution has another window) and when settings change. The body's
 * manifestEtag is the ETag's value; If-None-Match → 304.
 *
 * A failure here is never a blank screen: the answer is an error (503 with Retry-After for
 * the store), and the player keeps playing the manifest it has (§28.6, §31.9).
 *
 * Tiny devices poll a lot: a client that accepts gzip gets the 200 body gzipped (zlib) with
 * the weak form of the same ETag, and either form answers 304 (If-None-Match compares weakly).
 *
 * Not yet: the manifest cache of §31.8 (every request resolves).
 */
#include "resolver/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "app.h"
#include "auth/auth.h"
#include "buf.h"
#include "clock.h"
#include "content/content.h"
#include "hash.h"
#include "ids.h"
#include "macro.h"
#include "resolver/loader.h"
#include "store/store.h"

static json_t *settings_json(const struct rl_device *s)
{
    /* cacheBudgetBytes: null until devices carry one; the player then applies §11.1 */
    return json_pack("{s:s,s:b,s:b,s:b,s:b,s:s,s:n}", "runMode", s->run_mode, "launchOnBoot",
                     s->launch_on_boot, "autoRelaunch", s->auto_relaunch, "keepAwake",
                     s->keep_awake, "watchdogReturnToForeground", s->watchdog, "orientation",
                     s->orientation, "cacheBudgetBytes");
}

/* The snapshot's items with their assets, in order. */
static int items_load(struct store_conn *c, struct content *ct, const char *tid,
                      const struct resolver_result *res, json_t **ret)
{
    struct store_result *rows = NULL;
    int r = store_exec(c,
                       "SELECT i.asset_id, a.type, a.storage_key, a.mime_type, a.checksum_sha256, "
                       "i.duration_seconds, a.width_px, a.height_px, a.file_size_bytes "
                       "FROM playlist_published_items i JOIN assets a ON "
                       "a.tenant_id = i.tenant_id AND a.asset_id = i.asset_id "
                       "WHERE i.tenant_id = $1 AND i.playlist_id = $2 AND "
                       "i.published_version = $3 ORDER BY i.sequence",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(res->playlist_id),
                                              STORE_INT(res->playlist_version)},
                       3, &rows);
    if (r < 0)
        return r;
    json_t *items = json_array();
    for (size_t i = 0; i < store_result_rows(rows); i++) {
        const char *key = store_result_text(rows, i, 2);
        const char *ext = content_ext_of(store_result_text(rows, i, 3));
        if (!key || !ext)
            continue; /* cannot happen for a published (READY) asset; never send a bad URL */
        int64_t dur = 0, w = 0, h = 0, size = 0;
        store_result_int(rows, i, 5, &dur);
        store_result_int(rows, i, 6, &w);
        store_result_int(rows, i, 7, &h);
        store_result_int(rows, i, 8, &size);
        char *url = content_media_url(ct, key, ext, NULL);
        json_array_append_new(
            items,
            json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "assetId", store_result_text(rows, i, 0),
                      "type", store_result_text(rows, i, 1), "url", url, "checksumSha256",
                      store_result_text(rows, i, 4), "durationSeconds", (json_int_t)dur, "widthPx",
                      (json_int_t)w, "heightPx", (json_int_t)h, "fileSizeBytes", (json_int_t)size));
        free(url);
    }
    store_result_free(rows);
    *ret = items;
    return 0;
}

/* The manifest's tag: what the device should do (see DESIGN). */
static void manifest_tag(int64_t epoch, const struct resolver_result *res, int64_t valid_to,
                         json_t *settings, char out[HASH_SHA256_HEX_LEN])
{
    char *s = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
    char *text = xasprintf("%lld|%s|%lld|%lld|%s", (long long)epoch,
                           res->playlist_id ? res->playlist_id : "",
                           (long long)res->playlist_version, (long long)valid_to, s ? s : "");
    hash_sha256_hex(text, strlen(text), out);
    free(text);
    free(s);
}

/* True when the request's Accept-Encoding lists gzip (without q=0). */
static bool accepts_gzip(struct http_request *req)
{
    const char *ae = http_req_header(req, "Accept-Encoding");
    const char *g = ae ? strstr(ae, "gzip") : NULL;
    if (!g)
        return false;
    const char *q = strstr(g, "q=");
    const char *comma = strchr(g, ',');
    return !(q && (!comma || q < comma) && q[2] == '0' &&
             (q[3] != '.' || !strpbrk(q + 4, "123456789")));
}

/* @text gzipped (a gzip member, level 6) into a new buffer; NULL on failure. */
static unsigned char *gzip_of(const char *text, size_t len, size_t *ret_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, (uLong)len);
    unsigned char *out = xmalloc(cap);
    z.next_in = (unsigned char *)text;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    *ret_len = cap - z.avail_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static int manifest_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct token_claims *cl = &auth_actor(req)->claims;
    struct store_conn *c = NULL;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    struct rl_device d = {0};
    struct store_result *slots = NULL;
    r = rl_device_load(c, cl->tid, cl->vid, cl->did, &d);
    if (r >= 0)
        r = rl_slots_query(c, cl->tid, cl->vid, cl->did, d.group, false, &slots);
    struct resolver_index *idx = NULL;
    if (r >= 0)
        r = rl_index_build(slots, &idx);
    store_result_free(slots);
    struct resolver_result res = {0};
    struct resolver_input in = rl_input(&d, cl->did);
    in.now_utc = clock_now_ms() / 1000;
    if (r >= 0)
        r = resolver_resolve(idx, &in, &res);
    json_t *items = NULL;
    if (r >= 0 && res.playlist_id && res.playlist_version > 0)
        r = items_load(c, content_of(app), cl->tid, &res, &items);
    store_release(c);
    if (r < 0) {
        resolver_index_free(idx);
        json_decref(items);
        return r == -ENOENT ? -EACCES : r;
    }
    /* Nothing changes within the resolver's horizon: the window it gives is now + 6 h, which
     * moves every second and would make every poll a new manifest. Promise the hour before it
     * instead: the same manifest (and tag) for an hour, never past the horizon. */
    if (r >= 0 && res.valid_to_utc >= in.now_utc + RESOLVER_MAX_VALIDITY_S)
        res.valid_to_utc = res.valid_to_utc / 3600 * 3600;
    json_t *settings = settings_json(&d);
    char tag[HASH_SHA256_HEX_LEN], etag[HASH_SHA256_HEX_LEN + 8], valid_to[TIMESTAMP_STR_LEN];
    manifest_tag(d.epoch, &res, res.valid_to_utc, settings, tag);
    snprintf(etag, sizeof(etag), "\"m-%.32s\"", tag);
    ids_timestamp(res.valid_to_utc * 1000, valid_to);
    json_t *playlist =
        items ? json_pack("{s:s,s:I,s:o}", "playlistId", res.playlist_id, "publishedVersion",
                          (json_int_t)res.playlist_version, "items", items)
              : json_null();
    resolver_index_free(idx);
    char inner[48];
    snprintf(inner, sizeof(inner), "m-%.32s", tag);
    json_t *body = json_pack("{s:s,s:s,s:i,s:o,s:o}", "manifestEtag", inner, "validToUtc", valid_to,
                             "nextCheckSeconds", res.next_check_seconds, "settings", settings,
                             "playlist", playlist);
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    http_reply_header(req, "Cache-Control", "private, no-cache");
    http_reply_header(req, "Vary", "Accept-Encoding");
    size_t zlen = 0;
    unsigned char *z = accepts_gzip(req) ? gzip_of(text, len, &zlen) : NULL;
    if (z) {
        /* the gzipped representation carries the weak form of the same tag (RFC 9110 §8.8.1:
         * another content coding, the same meaning); If-None-Match compares weakly, so the
         * player's manifestEtag matches either */
        char zetag[HASH_SHA256_HEX_LEN + 12];
        snprintf(zetag, sizeof(zetag), "W/%s", etag);
        http_reply_header(req, "Content-Encoding", "gzip");
        if (!http_not_modified(req, zetag, zlen))
            r = http_reply_data(req, 200, "application/json", z, zlen);
        free(z);
        free(text);
        return r < 0 ? r : 0;
    }
    if (http_not_modified(req, etag, len)) {
        free(text);
        return 0;
    }
    r = http_reply_data(req, 200, "application/json", text, len);
    free(text);
    return r;
}

static const struct http_route routes[] = {
    {.method = HTTP_GET,
     .pattern = "/v1/player/manifest",
     .audience = HTTP_DEVICE,
     .rate_class = "manifest",
     .handler = manifest_get},
};

int manifest_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
