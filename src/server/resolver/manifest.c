/* SPDX-License-Identifier: MIT */
/*
 * manifest.c — GET /v1/player/manifest (spec §12, §27.8.1, §31; issue 6): what one screen
 * should play now, for a device token only.
 *
 * DESIGN
 * The guard has verified the device token and the rate limit; the route is
 * HTTP_DEVICE_SELF_CHECK, so the one query that reads the device (loader.c: its group, zones,
 * fallback, settings, the venue's epoch, whether it is still live and whether the live
 * schedule names it) also decides whether the token is still good (§25.7).
 *
 * From that row come the manifest cache's lineage and key (mcache.c): devices that would be
 * given the same manifest share one entry, and anything that changes the manifest makes
 * another key, so nothing is invalidated by hand. A FRESH entry is answered as it is: no
 * resolution, no rendering, no gzip. Otherwise the device's slots of the live schedule are
 * read and resolved with the pure resolver, the winning snapshot's items read with their
 * assets, the manifest rendered (render.c) and gzipped once, cached and answered. An entry is
 * served for at most manifest_cache_ttl_s (60 s), and only while its nextCheckSeconds (60
 * until the last minute before validToUtc) and its signed URLs hold.
 *
 * The ETag names what the device should do (render.h): epoch, playlist and version,
 * validToUtc, settings; not the signed URLs. If-None-Match → 304. A client that accepts gzip
 * gets the gzipped body with the weak form of the same tag, and either form answers 304.
 *
 * Failure (§31.9) never blanks a screen. When the resolution fails, the lineage's last
 * manifest is answered (stale); with none, a degraded one (the venue's fallback, else null,
 * for a minute, asking again in 15 s, its tag marked); when even that cannot be read, the
 * store's error (503 with Retry-After), upon which the player keeps playing what it has
 * (§28.6). The header X-Marquee-Manifest says which: cached, resolved, stale or degraded.
 */
#include "resolver/manifest.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth/auth.h"
#include "buf.h"
#include "clock.h"
#include "content/content.h"
#include "hash.h"
#include "log.h"
#include "macro.h"
#include "resolver/loader.h"
#include "resolver/mcache.h"
#include "resolver/render.h"
#include "store/store.h"

/* A degraded manifest (§31.9) promises a minute and asks again soon. */
#define DEGRADED_VALIDITY_S 60
#define DEGRADED_NEXT_CHECK 15

struct manifests {
    struct mcache *cache;
    int64_t ttl_s;
    atomic_bool fail_resolver;      /* tests: the resolution step fails (manifest_test_fail) */
    atomic_uint_fast64_t served[4]; /* by enum outcome */
};

enum outcome {
    OUT_CACHED,   /* a fresh cache entry */
    OUT_RESOLVED, /* resolved for this request (and cached) */
    OUT_STALE,    /* the resolver failed: the lineage's last manifest */
    OUT_DEGRADED, /* the resolver failed, nothing cached: the venue's fallback, or null */
};

static const char *const outcome_names[] = {"cached", "resolved", "stale", "degraded"};

/* The snapshot's items with their assets, in order; *ret_expires: the earliest URL expiry. */
static int items_load(struct store_conn *c, struct content *ct, const char *tid,
                      const char *playlist, int64_t version, json_t **ret, int64_t *ret_expires)
{
    struct store_result *rows = NULL;
    int r = store_exec(
        c,
        "SELECT i.asset_id, a.type, a.storage_key, a.mime_type, a.checksum_sha256, "
        "i.duration_seconds, a.width_px, a.height_px, a.file_size_bytes "
        "FROM playlist_published_items i JOIN assets a ON "
        "a.tenant_id = i.tenant_id AND a.asset_id = i.asset_id "
        "WHERE i.tenant_id = $1 AND i.playlist_id = $2 AND "
        "i.published_version = $3 ORDER BY i.sequence",
        (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(playlist), STORE_INT(version)}, 3,
        &rows);
    if (r < 0)
        return r;
    json_t *items = json_array();
    *ret_expires = INT64_MAX;
    for (size_t i = 0; i < store_result_rows(rows); i++) {
        const char *key = store_result_text(rows, i, 2);
        const char *ext = content_ext_of(store_result_text(rows, i, 3));
        if (!key || !ext)
            continue; /* cannot happen for a published (READY) asset; never send a bad URL */
        int64_t dur = 0, w = 0, h = 0, size = 0, expires = 0;
        store_result_int(rows, i, 5, &dur);
        store_result_int(rows, i, 6, &w);
        store_result_int(rows, i, 7, &h);
        store_result_int(rows, i, 8, &size);
        char *url = content_media_url(ct, key, ext, &expires);
        *ret_expires = MIN(*ret_expires, expires);
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

/* The cache's names for what the device is given (mcache.c): the lineage — tenant, venue,
 * group, the device itself only when the live schedule names it, the zone the resolver
 * applies (so a device with a zone of its own shares with the others of that zone), the
 * settings — and the key, which says whether the lineage's entry is still right: the venue's
 * epoch and its fallback. */
static void cache_names(const struct token_claims *cl, const struct rl_device *d,
                        char lineage[MCACHE_KEY_LEN], char key[MCACHE_KEY_LEN])
{
    _cleanup_free_ char *l =
        xasprintf("%s\n%s\n%s\n%s\n%s\n%s\n%s\n%d%d%d%d\n%lld", cl->tid, cl->vid, d->group,
                  d->named ? cl->did : "", tz_name(rl_device_zone(d)), d->run_mode, d->orientation,
                  d->launch_on_boot, d->auto_relaunch, d->keep_awake, d->watchdog,
                  (long long)d->cache_budget);
    hash_sha256_hex(l, strlen(l), lineage);
    /* the key is compared only within its lineage: it names the rest, no need to repeat it */
    char k[96];
    int n = snprintf(k, sizeof(k), "%lld\n%s\n%lld", (long long)d->epoch, d->fallback,
                     (long long)d->fallback_version);
    hash_sha256_hex(k, (size_t)n, key);
}

/* The resolution (§31): the device's slots, the winner, its items. res->playlist_id is copied
 * into @pid (the index it points into is gone on return). */
static int resolve(struct app *app, struct store_conn *c, const struct token_claims *cl,
                   const struct rl_device *d, int64_t now, struct resolver_result *res,
                   char pid[UUID_STR_LEN], json_t **ret_items, int64_t *ret_expires)
{
    *ret_items = NULL;
    *ret_expires = INT64_MAX;
    if (atomic_load(&app->manifests->fail_resolver))
        return -EIO;
    struct store_result *slots = NULL;
    struct resolver_index *idx = NULL;
    int r = rl_slots_query(c, cl->tid, cl->vid, cl->did, d->group, false, &slots);
    if (r >= 0)
        r = rl_index_build(slots, &idx);
    store_result_free(slots);
    struct resolver_input in = rl_input(d, cl->did);
    in.now_utc = now;
    if (r >= 0)
        r = resolver_resolve(idx, &in, res);
    if (r >= 0) {
        snprintf(pid, UUID_STR_LEN, "%s", res->playlist_id ? res->playlist_id : "");
        res->playlist_id = pid[0] ? pid : NULL;
        res->slot_id = NULL;
    }
    resolver_index_free(idx);
    if (r >= 0 && res->playlist_id && res->playlist_version > 0)
        r = items_load(c, content_of(app), cl->tid, res->playlist_id, res->playlist_version,
                       ret_items, ret_expires);
    return r;
}

/* §31.9: what a device is given when its resolution failed and nothing was cached for it — the
 * venue's fallback if its items can be read, else nothing to play — for a minute. */
static int degraded(struct app *app, struct store_conn *c, const struct token_claims *cl,
                    const struct rl_device *d, int64_t now, struct resolver_result *res,
                    json_t **ret_items)
{
    *res = (struct resolver_result){.playlist_id = d->fallback[0] ? d->fallback : NULL,
                                    .playlist_version = d->fallback_version,
                                    .reason = RESOLVER_REASON_VENUE_FALLBACK,
                                    .valid_to_utc = now + DEGRADED_VALIDITY_S,
                                    .next_check_seconds = DEGRADED_NEXT_CHECK};
    *ret_items = NULL;
    int64_t expires;
    if (res->playlist_id && items_load(c, content_of(app), cl->tid, res->playlist_id,
                                       res->playlist_version, ret_items, &expires) < 0)
        return -EIO;
    return 0;
}

/* A new cache entry of a rendered manifest, gzipped as well; NULL when out of memory. */
static struct mcache_entry *entry_make(const struct manifest_doc *doc, const char *lineage,
                                       const char *key)
{
    char *body = NULL, tag[MANIFEST_TAG_LEN];
    size_t len = 0, gz_len = 0;
    if (manifest_render(doc, &body, &len, tag) < 0)
        return NULL;
    unsigned char *gz = manifest_gzip(body, len, &gz_len);
    struct mcache_entry *e = mcache_entry_new(lineage, key, body, len, gz, gz_len);
    snprintf(e->etag, sizeof(e->etag), "\"%s\"", tag);
    return e;
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

/* The manifest of @e: 304 when If-None-Match names it, else 200, gzipped when the client takes
 * it. The gzipped representation carries the weak form of the same tag (RFC 9110 §8.8.1:
 * another content coding, the same meaning); If-None-Match compares weakly, so the player's
 * manifestEtag matches either. */
static int reply(struct http_request *req, const struct mcache_entry *e, enum outcome how)
{
    http_reply_header(req, "Cache-Control", "private, no-cache");
    http_reply_header(req, "Vary", "Accept-Encoding");
    http_reply_header(req, "X-Marquee-Manifest", outcome_names[how]);
    if (e->gz && accepts_gzip(req)) {
        char weak[sizeof(e->etag) + 2];
        snprintf(weak, sizeof(weak), "W/%s", e->etag);
        http_reply_header(req, "Content-Encoding", "gzip");
        if (http_not_modified(req, weak, e->gz_len))
            return 0;
        return http_reply_data(req, 200, "application/json", e->gz, e->gz_len);
    }
    if (http_not_modified(req, e->etag, e->len))
        return 0;
    return http_reply_data(req, 200, "application/json", e->body, e->len);
}

static int manifest_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct manifests *m = app->manifests;
    const struct token_claims *cl = &auth_actor(req)->claims;
    int64_t now = clock_now_ms() / 1000;
    struct store_conn *c = NULL;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    /* the device (HTTP_DEVICE_SELF_CHECK: the guard left its liveness to this query) */
    struct rl_device d = {0};
    r = rl_device_load(c, cl->tid, cl->vid, cl->did, &d);
    if (r == -ENOENT || (r >= 0 && !d.live)) {
        store_release(c);
        return auth_device_gone(req);
    }
    if (r < 0) {
        /* the store cannot say whether the device may have it: an error, upon which the
         * player keeps playing what it has (§28.6) */
        store_release(c);
        return r;
    }
    char lineage[MCACHE_KEY_LEN], key[MCACHE_KEY_LEN];
    cache_names(cl, &d, lineage, key);
    struct mcache_entry *e = NULL;
    enum mcache_found found = mcache_get(m->cache, lineage, key, now, &e);
    enum outcome how = OUT_CACHED;
    if (found != MCACHE_FRESH) {
        struct resolver_result res = {0};
        char pid[UUID_STR_LEN];
        json_t *items = NULL;
        int64_t expires = INT64_MAX;
        r = resolve(app, c, cl, &d, now, &res, pid, &items, &expires);
        if (r >= 0) {
            struct mcache_entry *made = entry_make(
                &(struct manifest_doc){
                    .now_utc = now, .epoch = d.epoch, .res = &res, .device = &d, .items = items},
                lineage, key);
            if (made) {
                /* served as it is while its nextCheckSeconds (60 until the last minute) and
                 * its URLs hold, for at most the cache's TTL */
                made->from_s = now;
                made->until_s = MIN(MIN(now + m->ttl_s, res.valid_to_utc - 60),
                                    expires - app->cfg.media_url_ttl_s / 2);
                mcache_entry_unref(e);
                e = made;
                how = OUT_RESOLVED;
                mcache_put(m->cache, mcache_entry_ref(e));
            } else {
                r = -ENOMEM;
            }
        }
        if (r < 0) {
            log_msg(LOG_ERROR, "manifest_resolve_failed", "device %s of venue %s: %s; %s", cl->did,
                    cl->vid, strerror(-r),
                    e ? "serving its last manifest" : "serving a degraded manifest");
            json_decref(items); /* what a resolution that then failed had read */
            items = NULL;
            if (e) {
                how = OUT_STALE;
            } else if (degraded(app, c, cl, &d, now, &res, &items) >= 0) {
                e = entry_make(&(struct manifest_doc){.now_utc = now,
                                                      .epoch = d.epoch,
                                                      .res = &res,
                                                      .device = &d,
                                                      .items = items,
                                                      .degraded = true},
                               lineage, key);
                how = OUT_DEGRADED;
            }
        }
        json_decref(items);
    }
    store_release(c);
    if (!e)
        return r < 0 ? r : -ENOMEM;
    atomic_fetch_add_explicit(&m->served[how], 1, memory_order_relaxed);
    r = reply(req, e, how);
    mcache_entry_unref(e);
    return r;
}

void manifest_test_fail(struct app *app, bool fail)
{
    if (app->manifests)
        atomic_store(&app->manifests->fail_resolver, fail);
}

void manifest_metrics_render(struct app *app, struct buf *out)
{
    struct manifests *m = app->manifests;
    if (!m)
        return;
    struct mcache_stats st;
    mcache_stats(m->cache, &st);
    buf_append_str(out, "# HELP marquee_manifests_total Manifests answered (200 or 304), by how "
                        "they were made.\n# TYPE marquee_manifests_total counter\n");
    char text[512];
    for (size_t i = 0; i < ARRAY_SIZE(outcome_names); i++) {
        snprintf(text, sizeof(text), "marquee_manifests_total{source=\"%s\"} %llu\n",
                 outcome_names[i], (unsigned long long)atomic_load(&m->served[i]));
        buf_append_str(out, text);
    }
    snprintf(text, sizeof(text),
             "# HELP marquee_manifest_cache_entries Manifests held by the cache.\n"
             "# TYPE marquee_manifest_cache_entries gauge\nmarquee_manifest_cache_entries %zu\n"
             "# HELP marquee_manifest_cache_bytes Memory the cached manifests take.\n"
             "# TYPE marquee_manifest_cache_bytes gauge\nmarquee_manifest_cache_bytes %zu\n"
             "# HELP marquee_manifest_cache_evicted_total Manifests evicted for room.\n"
             "# TYPE marquee_manifest_cache_evicted_total counter\n"
             "marquee_manifest_cache_evicted_total %llu\n",
             st.entries, st.bytes, (unsigned long long)st.evicted);
    buf_append_str(out, text);
}

static const struct http_route routes[] = {
    {.method = HTTP_GET,
     .pattern = "/v1/player/manifest",
     .audience = HTTP_DEVICE,
     .rate_class = "manifest",
     .flags = HTTP_DEVICE_SELF_CHECK,
     .handler = manifest_get},
};

int manifest_register(struct app *app)
{
    struct manifests *m = xcalloc(1, sizeof(*m));
    m->cache = mcache_new((size_t)app->cfg.manifest_cache_mb << 20);
    m->ttl_s = app->cfg.manifest_cache_ttl_s;
    app->manifests = m;
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}

void manifest_release(struct app *app)
{
    struct manifests *m = app->manifests;
    if (!m)
        return;
    mcache_free(m->cache);
    free(m);
    app->manifests = NULL;
}
