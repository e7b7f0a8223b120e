/* SPDX-License-Identifier: MIT */
/*
 * publish.c — publishing a playlist's draft as an immutable snapshot, and rollback to an older
 * snapshot as a new version (design in playlists.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "audit.h"
#include "clock.h"
#include "ids.h"
#include "jsonx.h"
#include "log.h"
#include "macro.h"
#include "playlists/playlists-internal.h"
#include "publishing/publishing.h"
#include "tenancy/admin-internal.h"

/* ---- publish and rollback ---------------------------------------------------------------- */

struct publish_tx {
    struct http_request *req;
    struct view view;
    int64_t rollback_to; /* 0 = publish the draft */
    struct playlist p;
    int64_t version;
    unsigned venues;
    char now[TIMESTAMP_STR_LEN];
};

/* The snapshot's items: for a publish, the draft's enabled items (videos play for their own
 * length: their duration comes from the asset); for a rollback, version @from's items. */
static int snapshot_write(struct store_conn *c, struct publish_tx *x, const char *tid,
                          const struct draft *d)
{
    int r = 0;
    if (x->rollback_to) {
        char id[UUID_STR_LEN];
        struct store_result *res = NULL;
        r = store_exec(c,
                       "SELECT asset_id, sequence, duration_seconds FROM playlist_published_items "
                       "WHERE playlist_id = $1 AND published_version = $2 ORDER BY sequence",
                       (struct store_param[]){STORE_TEXT(x->p.id), STORE_INT(x->rollback_to)}, 2,
                       &res);
        for (size_t i = 0; r >= 0 && i < store_result_rows(res); i++) {
            int64_t dur = 1;
            store_result_int(res, i, 2, &dur);
            ids_uuid(id);
            r = store_exec(c,
                           "INSERT INTO playlist_published_items (playlist_published_item_id, "
                           "tenant_id, playlist_id, published_version, asset_id, sequence, "
                           "duration_seconds, created_at_utc) VALUES ($1, $2, $3, $4, $5, $6, "
                           "$7, $8)",
                           (struct store_param[]){
                               STORE_TEXT(id), STORE_TEXT(tid), STORE_TEXT(x->p.id),
                               STORE_INT(x->version), STORE_TEXT(store_result_text(res, i, 0)),
                               STORE_INT((int64_t)i), STORE_INT(dur), STORE_TEXT(x->now)},
                           8, NULL);
        }
        store_result_free(res);
        return r;
    }
    int64_t seq = 0;
    for (size_t i = 0; r >= 0 && i < d->n; i++) {
        if (!d->items[i].enabled)
            continue;
        /* a video plays for its own length (whole seconds, at least 1); an image for its
         * durationSeconds */
        struct store_result *res = NULL;
        r = store_exec(c, "SELECT type, duration_ms FROM assets WHERE asset_id = $1",
                       (struct store_param[]){STORE_TEXT(d->items[i].asset_id)}, 1, &res);
        if (r < 0)
            break;
        int64_t dur = d->items[i].duration_seconds, ms;
        if (store_result_rows(res) == 1 && !strcmp(store_result_text(res, 0, 0), "VIDEO") &&
            store_result_int(res, 0, 1, &ms) == 0)
            dur = MIN(MAX((ms + 999) / 1000, 1), DURATION_MAX_SECONDS);
        store_result_free(res);
        char id[UUID_STR_LEN];
        ids_uuid(id);
        r = store_exec(c,
                       "INSERT INTO playlist_published_items (playlist_published_item_id, "
                       "tenant_id, playlist_id, published_version, asset_id, sequence, "
                       "duration_seconds, created_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                       (struct store_param[]){STORE_TEXT(id), STORE_TEXT(tid), STORE_TEXT(x->p.id),
                                              STORE_INT(x->version),
                                              STORE_TEXT(d->items[i].asset_id), STORE_INT(seq++),
                                              STORE_INT(dur), STORE_TEXT(x->now)},
                       8, NULL);
    }
    return r;
}

static int publish_tx(struct store_conn *c, void *ud)
{
    struct publish_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    const char *tid = a->claims.tid;
    playlist_release(&x->p);
    ids_timestamp(clock_now_ms(), x->now);
    int r = playlist_lock(c, tid, http_req_param(x->req, "playlistId"));
    if (r >= 0)
        r = playlist_find(c, tid, x->view, http_req_param(x->req, "playlistId"), true, &x->p);
    if (r < 0)
        return pl_find_problem(x->req, r);
    struct draft d = {0};
    if (!x->rollback_to) {
        char etag[HTTP_ETAG_LEN];
        pl_etag_of(&x->p, etag);
        if ((r = http_require_if_match(x->req, etag)) < 0)
            return r;
        if ((r = draft_load_current(c, &x->p, &d)) < 0)
            return r;
        r = pl_items_check(x->req, c, &x->p, &d, true);
        size_t enabled = 0;
        for (size_t i = 0; i < d.n; i++)
            enabled += d.items[i].enabled;
        if (r >= 0 && enabled == 0)
            r = http_reply_problem(x->req, 422, "PLAYLIST_EMPTY",
                                   "A playlist needs at least one enabled item to be published: "
                                   "screens never go blank.",
                                   NULL);
    } else if (x->rollback_to > x->p.published_version) {
        r = adm_field_problem(x->req, 422, "INVALID_VERSION", "version",
                              "is not a published version of this playlist");
    }
    if (r >= 0) {
        struct store_result *res = NULL;
        /* the row lock orders concurrent publishes: 1, 2, 3 … never a gap or a duplicate */
        r = store_exec(c,
                       "UPDATE playlists SET published_version = published_version + 1, "
                       "updated_at_utc = $2 WHERE playlist_id = $1 RETURNING published_version",
                       (struct store_param[]){STORE_TEXT(x->p.id), STORE_TEXT(x->now)}, 2, &res);
        if (r >= 0)
            r = store_result_rows(res) == 1 ? store_result_int(res, 0, 0, &x->version) : -EIO;
        store_result_free(res);
    }
    char snap_id[UUID_STR_LEN];
    ids_uuid(snap_id);
    if (r >= 0)
        r = store_exec(c,
                       "INSERT INTO playlist_published (playlist_published_id, tenant_id, "
                       "playlist_id, published_version, published_at_utc, published_by_user_id, "
                       "created_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $5)",
                       (struct store_param[]){STORE_TEXT(snap_id), STORE_TEXT(tid),
                                              STORE_TEXT(x->p.id), STORE_INT(x->version),
                                              STORE_TEXT(x->now), STORE_TEXT(a->claims.sub)},
                       6, NULL);
    if (r >= 0)
        r = snapshot_write(c, x, tid, &d);
    draft_release(&d);
    if (r >= 0) {
        struct publish_event e = {.tenant_id = tid,
                                  .venue_id = x->p.venue[0] ? x->p.venue : NULL,
                                  .type = x->rollback_to ? "PLAYLIST_ROLLBACK" : "PLAYLIST_PUBLISH",
                                  .entity_id = x->p.id,
                                  .previous_version = x->version - 1,
                                  .published_version = x->version,
                                  .source_version = x->rollback_to ? x->rollback_to : -1,
                                  .user_id = a->claims.sub,
                                  .now = x->now};
        r = publish_event_write(c, &e);
    }
    if (r >= 0)
        r = venue_epoch_bump_for_playlist(c, tid, x->p.id, &x->venues);
    pl_audit(c, x->req, &x->p, x->rollback_to ? "playlist.rolled_back" : "playlist.published",
             "SUCCESS",
             json_pack("{s:I,s:I,s:i}", "publishedVersion", (json_int_t)x->version, "sourceVersion",
                       (json_int_t)x->rollback_to, "venuesNotified", (int)x->venues),
             &r);
    pl_change(c, a, &x->p, x->rollback_to ? "rolled_back" : "published", x->version, &r);
    return r < 0 ? r : 0;
}

static int publish_common(struct http_request *req, struct app *app, int64_t rollback_to)
{
    struct publish_tx x = {.req = req, .view = pl_view_of(req), .rollback_to = rollback_to};
    int r = store_tx(app->store, 0, publish_tx, &x);
    if (r >= 0 && !http_replied(req))
        r = http_reply_json(req, 200,
                            json_pack("{s:s,s:I,s:o,s:s,s:i}", "playlistId", x.p.id,
                                      "publishedVersion", (json_int_t)x.version, "sourceVersion",
                                      rollback_to ? json_integer(rollback_to) : json_null(),
                                      "publishedAtUtc", x.now, "venuesNotified", (int)x.venues));
    playlist_release(&x.p);
    return r;
}

int playlist_publish(struct http_request *req, void *ud)
{
    return publish_common(req, ud, 0);
}

int playlist_rollback(struct http_request *req, void *ud)
{
    static const char *const allowed[] = {"version", NULL};
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    json_t *v = json_object_get(http_req_json(req), "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return adm_field_problem(req, 400, "INVALID_FIELD", "version",
                                 "must be a published version (a whole number, at least 1)");
    return publish_common(req, ud, json_integer_value(v));
}
