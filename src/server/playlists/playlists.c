/* SPDX-License-Identifier: MIT */
/*
 * playlists.c — playlists of spec §6, §15, §16, §26.7, §27.5, §27.6, §27.9, §27.10 (issue 5):
 * library and venue scope (as for assets), a draft edited under ETags, publish and rollback.
 *
 * DESIGN
 * The draft is the playlist's name and its items (playlist_items); every change to it makes a
 * new draft version, kept whole in playlist_draft_versions, and the ETag names that version.
 * A mutation must carry If-Match. With the current ETag it applies as sent. With an older one
 * it is refused (412) — unless the client also says which version it started from
 * (X-Base-Version, equal to the version its If-Match names): then the server merges three ways
 * (merge.c): base = that version, theirs = the draft now, mine = base with the request
 * applied. A clean merge is written as the next version; a conflict is 409 with the list of
 * conflicting items and fields and nothing written. Both are audited.
 *
 * Publishing copies the draft's enabled items into an immutable snapshot (playlist_published
 * + items) as the next published version, all in one transaction with the publish event, the
 * audit entry, the change-feed entry and the epoch of every venue that can play the playlist.
 * The version comes from an UPDATE … RETURNING on the playlist row, so concurrent publishes
 * queue on its lock and number 1, 2, 3 … without a gap or a duplicate. Rollback publishes an
 * old snapshot's items as a new version; history is never rewritten.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "audit.h"
#include "auth/auth.h"
#include "clock.h"
#include "ids.h"
#include "jsonx.h"
#include "log.h"
#include "macro.h"
#include "playlists/merge.h"
#include "playlists/playlists-internal.h"
#include "playlists/playlists.h"
#include "publishing/publishing.h"
#include "store/store.h"
#include "tenancy/admin-internal.h"

struct view pl_view_of(struct http_request *req)
{
    return (struct view){.venue = http_req_param(req, "venueId"),
                         .library = !strncmp(http_req_path(req), "/v1/library/", 12)};
}

void playlist_release(struct playlist *p)
{
    free(p->name);
    p->name = NULL;
}

void pl_etag_of(const struct playlist *p, char out[HTTP_ETAG_LEN])
{
    http_etag_version(p->id, p->draft_version, out);
}

/* The live playlist @id inside @v: -ENOENT outside it; -EPERM when @need_edit and the view
 * may not change it (a library playlist seen from a venue). */
int playlist_find(struct store_conn *c, const char *tenant, struct view v, const char *id,
                  bool need_edit, struct playlist *ret)
{
    if (!ids_is_uuid(id))
        return -ENOENT;
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT " PL_COLS " FROM playlists WHERE tenant_id = $1 AND "
                       "playlist_id = $2 AND deleted_at_utc IS NULL",
                       (struct store_param[]){STORE_TEXT(tenant), STORE_TEXT(id)}, 2, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    const char *venue = store_result_text(res, 0, PC_VENUE);
    if ((v.library && venue) || (v.venue && venue && strcmp(venue, v.venue) != 0))
        r = -ENOENT;
    else if (need_edit && v.venue && !venue)
        r = -EPERM;
    if (r >= 0) {
        snprintf(ret->id, sizeof(ret->id), "%s", id);
        snprintf(ret->venue, sizeof(ret->venue), "%s", venue ? venue : "");
        ret->name = xstrdup(store_result_text(res, 0, PC_NAME));
        store_result_int(res, 0, PC_DRAFT, &ret->draft_version);
        store_result_int(res, 0, PC_PUBLISHED, &ret->published_version);
        snprintf(ret->created, sizeof(ret->created), "%s", store_result_text(res, 0, PC_CREATED));
        snprintf(ret->updated, sizeof(ret->updated), "%s", store_result_text(res, 0, PC_UPDATED));
    }
    store_result_free(res);
    return r;
}

/* Takes the playlist's row lock for the rest of the transaction (a no-op update): writers of
 * one playlist queue here instead of racing to a version check, and on PostgreSQL every
 * statement after it sees what the writer before committed. SQLite's BEGIN IMMEDIATE already
 * serializes writers. */
int playlist_lock(struct store_conn *c, const char *tenant, const char *id)
{
    int r = store_exec(c,
                       "UPDATE playlists SET draft_version = draft_version WHERE tenant_id = $1 "
                       "AND playlist_id = $2",
                       (struct store_param[]){STORE_TEXT(tenant), STORE_TEXT(id)}, 2, NULL);
    return r < 0 ? r : 0;
}

int pl_find_problem(struct http_request *req, int r)
{
    if (r == -ENOENT)
        return http_reply_problem(req, 404, "NOT_FOUND", "No such playlist.", NULL);
    if (r == -EPERM)
        return http_reply_problem(req, 403, "FORBIDDEN",
                                  "This playlist is in the shared library; change it there (it "
                                  "needs EDIT_SHARED_LIBRARY).",
                                  NULL);
    return r;
}

/* ---- drafts ------------------------------------------------------------------------------ */

void draft_release(struct draft *d)
{
    free(d->name);
    free(d->items);
    *d = (struct draft){0};
}

int draft_load_current(struct store_conn *c, const struct playlist *p, struct draft *ret)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT playlist_item_id, asset_id, duration_seconds, enabled "
                       "FROM playlist_items WHERE playlist_id = $1 ORDER BY sequence",
                       (struct store_param[]){STORE_TEXT(p->id)}, 1, &res);
    if (r < 0)
        return r;
    size_t n = store_result_rows(res);
    ret->name = xstrdup(p->name);
    ret->items = xcalloc(n ? n : 1, sizeof(*ret->items));
    ret->n = n;
    for (size_t i = 0; i < n; i++) {
        int64_t d = 0, en = 1;
        snprintf(ret->items[i].id, MERGE_ID_LEN, "%s", store_result_text(res, i, 0));
        snprintf(ret->items[i].asset_id, MERGE_ID_LEN, "%s", store_result_text(res, i, 1));
        store_result_int(res, i, 2, &d);
        store_result_int(res, i, 3, &en);
        ret->items[i].duration_seconds = (int32_t)d;
        ret->items[i].enabled = en != 0;
    }
    store_result_free(res);
    return 0;
}

/* ---- the representation ------------------------------------------------------------------ */

static json_t *playlist_json(const struct playlist *p, const struct draft *d)
{
    json_t *items = json_array();
    for (size_t i = 0; i < d->n; i++)
        json_array_append_new(
            items, json_pack("{s:s,s:s,s:i,s:i,s:b}", "playlistItemId", d->items[i].id, "assetId",
                             d->items[i].asset_id, "sequence", (int)i, "durationSeconds",
                             (int)d->items[i].duration_seconds, "enabled", d->items[i].enabled));
    return json_pack("{s:s,s:s,s:o,s:o,s:I,s:I,s:o,s:s,s:s}", "playlistId", p->id, "scope",
                     p->venue[0] ? "VENUE" : "TENANT", "venueId",
                     p->venue[0] ? json_string(p->venue) : json_null(), "name",
                     jsonx_string_lossy(d->name), "draftVersion", (json_int_t)p->draft_version,
                     "publishedVersion", (json_int_t)p->published_version, "items", items,
                     "createdAtUtc", p->created, "updatedAtUtc", p->updated);
}

int reply_playlist(struct http_request *req, unsigned status, const struct playlist *p,
                   const struct draft *d)
{
    char etag[HTTP_ETAG_LEN];
    pl_etag_of(p, etag);
    http_reply_header(req, "ETag", etag);
    http_reply_header(req, "Cache-Control", "private, no-cache");
    return http_reply_json(req, status, playlist_json(p, d));
}

void pl_change(struct store_conn *c, const struct auth_actor *a, const struct playlist *p,
               const char *action, int64_t version, int *r)
{
    if (*r < 0)
        return;
    struct change ch = {.tenant_id = a->claims.tid,
                        .entity_type = "PLAYLIST",
                        .entity_id = p->id,
                        .venue_id = p->venue[0] ? p->venue : NULL,
                        .action = action,
                        .version = version,
                        .actor_user_id = a->claims.sub};
    *r = changes_append(c, &ch, NULL);
}

void pl_audit(struct store_conn *c, struct http_request *req, const struct playlist *p,
              const char *action, const char *outcome, json_t *details, int *r)
{
    const struct auth_actor *a = auth_actor(req);
    if (*r >= 0) {
        struct audit_entry e = {.tenant_id = a->claims.tid,
                                .actor_type = "USER",
                                .actor_id = a->claims.sub,
                                .action = action,
                                .outcome = outcome,
                                .resource_type = "PLAYLIST",
                                .resource_id = p->id,
                                .venue_id = p->venue[0] ? p->venue : NULL,
                                .details = details};
        *r = audit_write(c, req, &e);
    }
    json_decref(details);
}

/* Every item's asset must exist in the playlist's scope (not deleted). 422 listing each. */
int pl_items_check(struct http_request *req, struct store_conn *c, const struct playlist *p,
                   const struct draft *d, bool need_ready)
{
    const char *tid = auth_actor(req)->claims.tid;
    json_t *errors = json_array();
    for (size_t i = 0; i < d->n; i++) {
        struct store_result *res = NULL;
        int r = store_exec(c,
                           "SELECT status FROM assets WHERE tenant_id = $1 AND asset_id = $2 AND "
                           "deleted_at_utc IS NULL AND "
                           "(scope_venue_id IS NULL OR scope_venue_id = $3)",
                           (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(d->items[i].asset_id),
                                                  STORE_TEXT(p->venue)},
                           3, &res);
        if (r < 0) {
            json_decref(errors);
            return r;
        }
        const char *status = store_result_rows(res) ? store_result_text(res, 0, 0) : NULL;
        const char *why = !status                                      ? "NOT_FOUND"
                          : need_ready && strcmp(status, "READY") != 0 ? "NOT_READY"
                                                                       : NULL;
        if (why)
            json_array_append_new(errors, json_pack("{s:s,s:s,s:s,s:o}", "playlistItemId",
                                                    d->items[i].id, "assetId", d->items[i].asset_id,
                                                    "reason", why, "status", adm_jstr(status)));
        store_result_free(res);
    }
    if (json_array_size(errors) == 0) {
        json_decref(errors);
        return 0;
    }
    return http_reply_problem(req, 422, need_ready ? "PLAYLIST_NOT_PUBLISHABLE" : "INVALID_ITEMS",
                              need_ready ? "Every item must be a READY asset the playlist can use."
                                         : "Some items name assets this playlist cannot use.",
                              json_pack("{s:o}", "errors", errors));
}

/* ---- GET one, list, create, delete ------------------------------------------------------- */

static int playlist_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct store_conn *c;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    struct playlist p = {0};
    struct draft d = {0};
    r = playlist_find(c, auth_actor(req)->claims.tid, pl_view_of(req),
                      http_req_param(req, "playlistId"), false, &p);
    /* the kept copy of the version the row names: the body always matches its ETag, even
     * when a draft change commits between the two reads */
    if (r >= 0)
        r = draft_load_version(c, &p, p.draft_version, &d);
    store_release(c);
    if (r >= 0) {
        char etag[HTTP_ETAG_LEN];
        pl_etag_of(&p, etag);
        http_reply_header(req, "Cache-Control", "private, no-cache");
        r = http_reply_json_tagged(req, etag, playlist_json(&p, &d));
    }
    playlist_release(&p);
    draft_release(&d);
    return r < 0 ? pl_find_problem(req, r) : r;
}

static int playlist_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    struct view v = pl_view_of(req);
    _cleanup_free_ char *like = NULL;
    int r = adm_query_contains(req, &like);
    if (r < 0)
        return r;
    const char *scope = http_req_query(req, "scope");
    if (scope && strcmp(scope, "TENANT") != 0 && strcmp(scope, "VENUE") != 0)
        return adm_field_problem(req, 400, "INVALID_QUERY", "scope", "must be TENANT or VENUE");
    if (scope && v.library && !strcmp(scope, "VENUE"))
        return adm_field_problem(req, 400, "INVALID_QUERY", "scope",
                                 "must be TENANT here: venue playlists are under "
                                 "/v1/venues/{venueId}/playlists");
    struct http_page page;
    if ((r = http_page_parse(req, 2, &page)) < 0)
        return r;
    struct store_result *res = NULL;
    r = store_query(app->store,
                    "SELECT " PL_COLS " FROM playlists WHERE tenant_id = $1 AND "
                    "(scope_venue_id IS NULL OR scope_venue_id = $2) AND deleted_at_utc IS NULL "
                    "AND lower(name) LIKE lower($3) ESCAPE '\\' AND "
                    "($4 = '' OR scope_type = $4) AND "
                    "(created_at_utc < $5 OR (created_at_utc = $5 AND playlist_id < $6)) "
                    "ORDER BY created_at_utc DESC, playlist_id DESC LIMIT $7",
                    (struct store_param[]){
                        STORE_TEXT(a->claims.tid), STORE_TEXT(v.venue ? v.venue : ""),
                        STORE_TEXT(like), STORE_TEXT(scope ? scope : ""),
                        STORE_TEXT(page.n_after ? page.after[0] : TIME_MAX),
                        STORE_TEXT(page.n_after ? page.after[1] : "~"), STORE_INT(page.limit + 1)},
                    7, &res);
    http_page_release(&page);
    if (r < 0)
        return r;
    size_t shown;
    char *cursor = adm_page_next(res, page.limit, PC_CREATED, PC_ID, &shown);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++) {
#define T(col) adm_jstr(store_result_text(res, i, (col)))
        int64_t dv = 0, pv = 0;
        store_result_int(res, i, PC_DRAFT, &dv);
        store_result_int(res, i, PC_PUBLISHED, &pv);
        json_array_append_new(
            items, json_pack("{s:o,s:o,s:o,s:o,s:I,s:I,s:o,s:o}", "playlistId", T(PC_ID), "scope",
                             T(PC_SCOPE), "venueId", T(PC_VENUE), "name", T(PC_NAME),
                             "draftVersion", (json_int_t)dv, "publishedVersion", (json_int_t)pv,
                             "createdAtUtc", T(PC_CREATED), "updatedAtUtc", T(PC_UPDATED)));
#undef T
    }
    store_result_free(res);
    return adm_reply_page(req, items, cursor);
}

struct create_tx {
    struct http_request *req;
    const char *name;
    const char *venue;
    struct playlist p;
};

static int create_tx(struct store_conn *c, void *ud)
{
    struct create_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    playlist_release(&x->p);
    x->p = (struct playlist){.draft_version = 1, .name = xstrdup(x->name)};
    ids_uuid(x->p.id);
    snprintf(x->p.venue, sizeof(x->p.venue), "%s", x->venue ? x->venue : "");
    snprintf(x->p.created, sizeof(x->p.created), "%s", now);
    snprintf(x->p.updated, sizeof(x->p.updated), "%s", now);
    int r = store_exec(c,
                       "INSERT INTO playlists (playlist_id, tenant_id, scope_type, scope_venue_id, "
                       "name, created_by_user_id, created_at_utc, updated_at_utc) "
                       "VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                       (struct store_param[]){STORE_TEXT(x->p.id), STORE_TEXT(a->claims.tid),
                                              STORE_TEXT(x->venue ? "VENUE" : "TENANT"),
                                              STORE_TEXT(x->venue), STORE_TEXT(x->name),
                                              STORE_TEXT(a->claims.sub), STORE_TEXT(now)},
                       7, NULL);
    if (r >= 0)
        r = store_exec(c,
                       "INSERT INTO playlist_draft_versions (tenant_id, playlist_id, "
                       "draft_version, name, items_json, created_by_user_id, created_at_utc) "
                       "VALUES ($1, $2, 1, $3, '[]', $4, $5)",
                       (struct store_param[]){STORE_TEXT(a->claims.tid), STORE_TEXT(x->p.id),
                                              STORE_TEXT(x->name), STORE_TEXT(a->claims.sub),
                                              STORE_TEXT(now)},
                       5, NULL);
    pl_audit(c, x->req, &x->p, "playlist.created", "SUCCESS", json_pack("{s:s}", "name", x->name),
             &r);
    pl_change(c, a, &x->p, "created", 1, &r);
    return r < 0 ? r : 0;
}

static int playlist_create(struct http_request *req, void *ud)
{
    struct app *app = ud;
    static const char *const allowed[] = {"name", NULL};
    struct create_tx x = {.req = req, .venue = pl_view_of(req).venue};
    int r = http_body_allow(req, allowed);
    if (r >= 0)
        r = adm_body_text(req, "name", true, PLAYLIST_NAME_MAX, &x.name);
    if (r >= 0)
        r = store_tx(app->store, 0, create_tx, &x);
    if (r >= 0) {
        struct draft d = {.name = xstrdup(x.name)};
        char loc[200];
        snprintf(loc, sizeof(loc), "%s/%s", http_req_path(req), x.p.id);
        http_reply_header(req, "Location", loc);
        r = reply_playlist(req, 201, &x.p, &d);
        draft_release(&d);
    }
    playlist_release(&x.p);
    return r;
}

struct delete_tx {
    struct http_request *req;
    struct view view;
};

static int delete_tx(struct store_conn *c, void *ud)
{
    struct delete_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    struct playlist p = {0};
    int r = playlist_lock(c, a->claims.tid, http_req_param(x->req, "playlistId"));
    if (r >= 0)
        r = playlist_find(c, a->claims.tid, x->view, http_req_param(x->req, "playlistId"), true,
                          &p);
    if (r < 0) {
        playlist_release(&p);
        return pl_find_problem(x->req, r);
    }
    /* a playlist screens may play cannot go: a published schedule or a fallback names it */
    struct store_result *res = NULL;
    r = store_exec(c,
                   "SELECT 1 FROM schedule_published_slots ps JOIN venue_schedule_sets s ON "
                   "s.venue_id = ps.venue_id AND s.published_version = ps.published_version "
                   "WHERE ps.playlist_id = $1 UNION ALL "
                   "SELECT 1 FROM venues WHERE fallback_playlist_id = $1 AND "
                   "deleted_at_utc IS NULL UNION ALL "
                   "SELECT 1 FROM schedule_slots WHERE playlist_id = $1 LIMIT 1",
                   (struct store_param[]){STORE_TEXT(p.id)}, 1, &res);
    if (r >= 0 && store_result_rows(res) > 0)
        r = http_reply_problem(x->req, 409, "PLAYLIST_IN_USE",
                               "A schedule or a venue's fallback uses this playlist; take it out "
                               "of them first.",
                               NULL);
    store_result_free(res);
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    if (r >= 0)
        r = store_exec(c,
                       "UPDATE playlists SET deleted_at_utc = $2, updated_at_utc = $2 "
                       "WHERE playlist_id = $1",
                       (struct store_param[]){STORE_TEXT(p.id), STORE_TEXT(now)}, 2, NULL);
    pl_audit(c, x->req, &p, "playlist.deleted", "SUCCESS", NULL, &r);
    pl_change(c, a, &p, "deleted", -1, &r);
    playlist_release(&p);
    return r < 0 ? r : 0;
}

static int playlist_delete(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct delete_tx x = {.req = req, .view = pl_view_of(req)};
    int r = store_tx(app->store, 0, delete_tx, &x);
    if (r < 0 || http_replied(req))
        return r;
    return http_reply_empty(req, 204);
}

/* ---- registration ------------------------------------------------------------------------ */

#define LIB       "/v1/library/playlists"
#define VEN       "/v1/venues/{venueId}/playlists"
#define LIB_EDIT  .min_role = AUTH_ANY, .capability = CAP_EDIT_SHARED_LIBRARY
#define VEN_EDIT  .min_role = AUTH_VENUE_EDITOR
#define JSON_BODY .flags = HTTP_BODY_JSON, .max_body = PLAYLIST_BODY_MAX

/* clang-format off */
static const struct http_route routes[] = {
    {.method = HTTP_GET, .pattern = LIB, .audience = HTTP_USER, .handler = playlist_list},
    {.method = HTTP_POST, .pattern = LIB, .audience = HTTP_USER, LIB_EDIT,
     .rate_class = "mutation", JSON_BODY, .handler = playlist_create},
    {.method = HTTP_GET, .pattern = LIB "/{playlistId}", .audience = HTTP_USER,
     .handler = playlist_get},
    {.method = HTTP_PATCH, .pattern = LIB "/{playlistId}", .audience = HTTP_USER, LIB_EDIT,
     .rate_class = "mutation", JSON_BODY, .handler = rename_patch},
    {.method = HTTP_DELETE, .pattern = LIB "/{playlistId}", .audience = HTTP_USER, LIB_EDIT,
     .rate_class = "mutation", .handler = playlist_delete},
    {.method = HTTP_PUT, .pattern = LIB "/{playlistId}/items", .audience = HTTP_USER, LIB_EDIT,
     .rate_class = "mutation", JSON_BODY, .handler = items_put},
    {.method = HTTP_PUT, .pattern = LIB "/{playlistId}/reorder", .audience = HTTP_USER, LIB_EDIT,
     .rate_class = "mutation", JSON_BODY, .handler = reorder_put},
    {.method = HTTP_POST, .pattern = LIB "/{playlistId}/publish", .audience = HTTP_USER, LIB_EDIT,
     .rate_class = "publish", .max_body = 1024, .handler = playlist_publish},
    {.method = HTTP_POST, .pattern = LIB "/{playlistId}/rollback", .audience = HTTP_USER, LIB_EDIT,
     .rate_class = "publish", .flags = HTTP_BODY_JSON, .max_body = 1024,
     .handler = playlist_rollback},

    {.method = HTTP_GET, .pattern = VEN, .audience = HTTP_USER, .min_role = AUTH_VENUE_VIEWER,
     .handler = playlist_list},
    {.method = HTTP_POST, .pattern = VEN, .audience = HTTP_USER, VEN_EDIT,
     .rate_class = "mutation", JSON_BODY, .handler = playlist_create},
    {.method = HTTP_GET, .pattern = VEN "/{playlistId}", .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER, .handler = playlist_get},
    {.method = HTTP_PATCH, .pattern = VEN "/{playlistId}", .audience = HTTP_USER, VEN_EDIT,
     .rate_class = "mutation", JSON_BODY, .handler = rename_patch},
    {.method = HTTP_DELETE, .pattern = VEN "/{playlistId}", .audience = HTTP_USER, VEN_EDIT,
     .rate_class = "mutation", .handler = playlist_delete},
    {.method = HTTP_PUT, .pattern = VEN "/{playlistId}/items", .audience = HTTP_USER, VEN_EDIT,
     .rate_class = "mutation", JSON_BODY, .handler = items_put},
    {.method = HTTP_PUT, .pattern = VEN "/{playlistId}/reorder", .audience = HTTP_USER, VEN_EDIT,
     .rate_class = "mutation", JSON_BODY, .handler = reorder_put},
    {.method = HTTP_POST, .pattern = VEN "/{playlistId}/publish", .audience = HTTP_USER, VEN_EDIT,
     .rate_class = "publish", .max_body = 1024, .handler = playlist_publish},
    {.method = HTTP_POST, .pattern = VEN "/{playlistId}/rollback", .audience = HTTP_USER,
     VEN_EDIT, .rate_class = "publish", .flags = HTTP_BODY_JSON, .max_body = 1024,
     .handler = playlist_rollback},
};
/* clang-format on */

int playlists_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
