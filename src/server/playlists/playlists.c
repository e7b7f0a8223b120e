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
#include "playlists/playlists.h"
#include "publishing/publishing.h"
#include "store/store.h"
#include "tenancy/admin-internal.h"

#define PLAYLIST_ITEMS_MAX    1000
#define PLAYLIST_NAME_MAX     200
#define DRAFT_VERSIONS_KEPT   100
#define IMAGE_DEFAULT_SECONDS 10
#define DURATION_MAX_SECONDS  86400
#define PLAYLIST_BODY_MAX     (256u << 10)

#define PL_COLS                                                                                    \
    "playlist_id, scope_type, scope_venue_id, name, draft_version, published_version, "            \
    "created_at_utc, updated_at_utc"
enum { PC_ID, PC_SCOPE, PC_VENUE, PC_NAME, PC_DRAFT, PC_PUBLISHED, PC_CREATED, PC_UPDATED };

/* What a request sees (as for assets): the library, or one venue (its own + the library). */
struct view {
    const char *venue;
    bool library;
};

static struct view view_of(struct http_request *req)
{
    return (struct view){.venue = http_req_param(req, "venueId"),
                         .library = !strncmp(http_req_path(req), "/v1/library/", 12)};
}

/* One playlist row, read inside a transaction. */
struct playlist {
    char id[UUID_STR_LEN];
    char venue[UUID_STR_LEN]; /* "" for TENANT scope */
    char *name;
    int64_t draft_version;
    int64_t published_version;
    char created[TIMESTAMP_STR_LEN];
    char updated[TIMESTAMP_STR_LEN];
};

static void playlist_release(struct playlist *p)
{
    free(p->name);
    p->name = NULL;
}

static void etag_of(const struct playlist *p, char out[HTTP_ETAG_LEN])
{
    http_etag_version(p->id, p->draft_version, out);
}

/* The live playlist @id inside @v: -ENOENT outside it; -EPERM when @need_edit and the view
 * may not change it (a library playlist seen from a venue). */
static int playlist_find(struct store_conn *c, const char *tenant, struct view v, const char *id,
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
static int playlist_lock(struct store_conn *c, const char *tenant, const char *id)
{
    int r = store_exec(c,
                       "UPDATE playlists SET draft_version = draft_version WHERE tenant_id = $1 "
                       "AND playlist_id = $2",
                       (struct store_param[]){STORE_TEXT(tenant), STORE_TEXT(id)}, 2, NULL);
    return r < 0 ? r : 0;
}

static int find_problem(struct http_request *req, int r)
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

struct draft {
    char *name;
    struct merge_item *items;
    size_t n;
};

static void draft_release(struct draft *d)
{
    free(d->name);
    free(d->items);
    *d = (struct draft){0};
}

static int draft_load_current(struct store_conn *c, const struct playlist *p, struct draft *ret)
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

static json_t *items_json(const struct merge_item *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:i,s:b}", "id", items[i].id, "assetId",
                                           items[i].asset_id, "durationSeconds",
                                           (int)items[i].duration_seconds, "enabled",
                                           items[i].enabled));
    return a;
}

/* A kept draft version; -ENOENT when it is unknown (or pruned). */
static int draft_load_version(struct store_conn *c, const struct playlist *p, int64_t version,
                              struct draft *ret)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT name, items_json FROM playlist_draft_versions "
                       "WHERE playlist_id = $1 AND draft_version = $2",
                       (struct store_param[]){STORE_TEXT(p->id), STORE_INT(version)}, 2, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    json_t *a = json_loads(store_result_text(res, 0, 1), 0, NULL);
    ret->name = xstrdup(store_result_text(res, 0, 0));
    store_result_free(res);
    if (!json_is_array(a)) {
        json_decref(a);
        return -EIO;
    }
    ret->n = json_array_size(a);
    ret->items = xcalloc(ret->n ? ret->n : 1, sizeof(*ret->items));
    for (size_t i = 0; i < ret->n; i++) {
        json_t *it = json_array_get(a, i);
        snprintf(ret->items[i].id, MERGE_ID_LEN, "%s",
                 json_string_value(json_object_get(it, "id")) ?: "");
        snprintf(ret->items[i].asset_id, MERGE_ID_LEN, "%s",
                 json_string_value(json_object_get(it, "assetId")) ?: "");
        ret->items[i].duration_seconds =
            (int32_t)json_integer_value(json_object_get(it, "durationSeconds"));
        ret->items[i].enabled = json_is_true(json_object_get(it, "enabled"));
    }
    json_decref(a);
    return 0;
}

/* Writes @d as the next draft version of @p (which must still be at p->draft_version: else
 * -EAGAIN, and store_tx runs the whole request again). */
static int draft_write(struct store_conn *c, const char *tenant, const char *user,
                       struct playlist *p, const struct draft *d)
{
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    int r = store_exec(c,
                       "UPDATE playlists SET name = $3, draft_version = draft_version + 1, "
                       "updated_at_utc = $4 WHERE playlist_id = $1 AND draft_version = $2",
                       (struct store_param[]){STORE_TEXT(p->id), STORE_INT(p->draft_version),
                                              STORE_TEXT(d->name), STORE_TEXT(now)},
                       4, NULL);
    if (r < 0)
        return r;
    if (r == 0)
        return -EAGAIN; /* another editor's change committed first */
    p->draft_version++;
    free(p->name);
    p->name = xstrdup(d->name);
    snprintf(p->updated, sizeof(p->updated), "%s", now);
    r = store_exec(c, "DELETE FROM playlist_items WHERE playlist_id = $1",
                   (struct store_param[]){STORE_TEXT(p->id)}, 1, NULL);
    for (size_t i = 0; r >= 0 && i < d->n; i++)
        r = store_exec(
            c,
            "INSERT INTO playlist_items (playlist_item_id, tenant_id, playlist_id, "
            "asset_id, sequence, duration_seconds, enabled, created_at_utc, "
            "updated_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            (struct store_param[]){STORE_TEXT(d->items[i].id), STORE_TEXT(tenant),
                                   STORE_TEXT(p->id), STORE_TEXT(d->items[i].asset_id),
                                   STORE_INT((int64_t)i), STORE_INT(d->items[i].duration_seconds),
                                   STORE_INT(d->items[i].enabled ? 1 : 0), STORE_TEXT(now)},
            8, NULL);
    if (r < 0)
        return r;
    json_t *items = items_json(d->items, d->n);
    char *text = json_dumps(items, JSON_COMPACT);
    json_decref(items);
    r = store_exec(c,
                   "INSERT INTO playlist_draft_versions (tenant_id, playlist_id, draft_version, "
                   "name, items_json, created_by_user_id, created_at_utc) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   (struct store_param[]){STORE_TEXT(tenant), STORE_TEXT(p->id),
                                          STORE_INT(p->draft_version), STORE_TEXT(d->name),
                                          STORE_TEXT(text), STORE_TEXT(user), STORE_TEXT(now)},
                   7, NULL);
    free(text);
    if (r >= 0)
        r = store_exec(c,
                       "DELETE FROM playlist_draft_versions WHERE playlist_id = $1 AND "
                       "draft_version <= $2",
                       (struct store_param[]){STORE_TEXT(p->id),
                                              STORE_INT(p->draft_version - DRAFT_VERSIONS_KEPT)},
                       2, NULL);
    return r < 0 ? r : 0;
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

static int reply_playlist(struct http_request *req, unsigned status, const struct playlist *p,
                          const struct draft *d)
{
    char etag[HTTP_ETAG_LEN];
    etag_of(p, etag);
    http_reply_header(req, "ETag", etag);
    http_reply_header(req, "Cache-Control", "private, no-cache");
    return http_reply_json(req, status, playlist_json(p, d));
}

static void change(struct store_conn *c, const struct auth_actor *a, const struct playlist *p,
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

static void audit(struct store_conn *c, struct http_request *req, const struct playlist *p,
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
    r = playlist_find(c, auth_actor(req)->claims.tid, view_of(req),
                      http_req_param(req, "playlistId"), false, &p);
    if (r >= 0)
        r = draft_load_current(c, &p, &d);
    store_release(c);
    if (r >= 0) {
        char etag[HTTP_ETAG_LEN];
        etag_of(&p, etag);
        if (!http_not_modified(req, etag, 0))
            r = reply_playlist(req, 200, &p, &d);
    }
    playlist_release(&p);
    draft_release(&d);
    return r < 0 ? find_problem(req, r) : r;
}

static int playlist_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    struct view v = view_of(req);
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
    audit(c, x->req, &x->p, "playlist.created", "SUCCESS", json_pack("{s:s}", "name", x->name), &r);
    change(c, a, &x->p, "created", 1, &r);
    return r < 0 ? r : 0;
}

static int playlist_create(struct http_request *req, void *ud)
{
    struct app *app = ud;
    static const char *const allowed[] = {"name", NULL};
    struct create_tx x = {.req = req, .venue = view_of(req).venue};
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
        return find_problem(x->req, r);
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
    audit(c, x->req, &p, "playlist.deleted", "SUCCESS", NULL, &r);
    change(c, a, &p, "deleted", -1, &r);
    playlist_release(&p);
    return r < 0 ? r : 0;
}

static int playlist_delete(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct delete_tx x = {.req = req, .view = view_of(req)};
    int r = store_tx(app->store, 0, delete_tx, &x);
    if (r < 0 || http_replied(req))
        return r;
    return http_reply_empty(req, 204);
}

/* ---- draft mutations: items, reorder, rename --------------------------------------------- */

enum mutation { MUT_ITEMS, MUT_REORDER, MUT_RENAME };

struct mutate_tx {
    struct app *app;
    struct http_request *req;
    struct view view;
    enum mutation kind;
    int64_t base_version; /* from X-Base-Version; 0 = none */
    struct playlist p;
    struct draft result;
    /* a merge conflict, audited after the transaction rolled back */
    json_t *conflicts;
    int64_t theirs_version;
    bool merged;
};

/* mine = @base with the request applied. Replies 400/422 itself. */
static int mine_build(struct mutate_tx *x, const struct draft *base, struct draft *mine)
{
    struct http_request *req = x->req;
    json_t *body = http_req_json(req);
    mine->name = xstrdup(base->name);
    if (x->kind == MUT_RENAME) {
        static const char *const allowed[] = {"name", "baseVersion", NULL};
        const char *name;
        int r = http_body_allow(req, allowed);
        if (r >= 0)
            r = adm_body_text(req, "name", true, PLAYLIST_NAME_MAX, &name);
        if (r < 0)
            return r;
        free(mine->name);
        mine->name = xstrdup(name);
        mine->items = xcalloc(base->n ? base->n : 1, sizeof(*mine->items));
        memcpy(mine->items, base->items, base->n * sizeof(*mine->items));
        mine->n = base->n;
        return 0;
    }
    if (x->kind == MUT_REORDER) {
        static const char *const allowed[] = {"itemIds", "baseVersion", NULL};
        int r = http_body_allow(req, allowed);
        if (r < 0)
            return r;
        json_t *ids = json_object_get(body, "itemIds");
        if (!json_is_array(ids))
            return adm_field_problem(req, 400, "INVALID_FIELD", "itemIds",
                                     "must be an array of playlistItemId");
        if (json_array_size(ids) != base->n)
            return adm_field_problem(req, 422, "INVALID_ORDER", "itemIds",
                                     "must list every item of the draft exactly once");
        mine->items = xcalloc(base->n ? base->n : 1, sizeof(*mine->items));
        mine->n = base->n;
        bool *used = xcalloc(base->n ? base->n : 1, sizeof(bool));
        for (size_t i = 0; i < base->n; i++) {
            const char *id = json_string_value(json_array_get(ids, i));
            size_t k = base->n;
            for (size_t j = 0; id && j < base->n; j++)
                if (!used[j] && !strcmp(base->items[j].id, id))
                    k = j;
            if (k == base->n) {
                free(used);
                return adm_field_problem(req, 422, "INVALID_ORDER", "itemIds",
                                         "must list every item of the draft exactly once");
            }
            used[k] = true;
            mine->items[i] = base->items[k];
        }
        free(used);
        return 0;
    }
    static const char *const allowed[] = {"items", "baseVersion", NULL};
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    json_t *items = json_object_get(body, "items");
    if (!json_is_array(items))
        return adm_field_problem(req, 400, "INVALID_FIELD", "items", "must be an array");
    size_t n = json_array_size(items);
    if (n > PLAYLIST_ITEMS_MAX)
        return adm_field_problem(req, 422, "TOO_MANY_ITEMS", "items", "holds more than 1000 items");
    mine->items = xcalloc(n ? n : 1, sizeof(*mine->items));
    json_t *errors = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        struct merge_item *m = &mine->items[mine->n++];
        const char *id = json_string_value(json_object_get(it, "playlistItemId"));
        const char *asset = json_string_value(json_object_get(it, "assetId"));
        json_t *dur = json_object_get(it, "durationSeconds");
        json_t *en = json_object_get(it, "enabled");
        const struct merge_item *was = NULL;
        for (size_t j = 0; id && j < base->n; j++)
            if (!strcmp(base->items[j].id, id))
                was = &base->items[j];
        for (size_t j = 0; id && j + 1 < mine->n; j++)
            if (!strcmp(mine->items[j].id, id))
                was = NULL, id = "";
        char where[32];
        snprintf(where, sizeof(where), "items[%zu]", i);
        if (!json_is_object(it) || (id && !was) || (!asset && !was) ||
            (asset && !ids_is_uuid(asset)) || (dur && !json_is_integer(dur)) ||
            (dur &&
             (json_integer_value(dur) < 1 || json_integer_value(dur) > DURATION_MAX_SECONDS)) ||
            (en && !json_is_boolean(en))) {
            json_array_append_new(
                errors, json_pack("{s:s,s:s}", "field", where, "message",
                                  id && !was ? "names an item this draft does not have (or twice)"
                                             : "needs assetId (a UUID), durationSeconds 1-86400 "
                                               "and enabled true/false"));
            continue;
        }
        if (was)
            *m = *was;
        else {
            ids_uuid(m->id);
            m->duration_seconds = IMAGE_DEFAULT_SECONDS;
            m->enabled = true;
        }
        if (asset)
            snprintf(m->asset_id, MERGE_ID_LEN, "%s", asset);
        if (dur)
            m->duration_seconds = (int32_t)json_integer_value(dur);
        if (en)
            m->enabled = json_is_true(en);
    }
    if (json_array_size(errors) > 0)
        return http_reply_problem(req, 422, "INVALID_ITEMS", "Some items are not valid.",
                                  json_pack("{s:o}", "errors", errors));
    json_decref(errors);
    return 0;
}

/* Every item's asset must exist in the playlist's scope (not deleted). 422 listing each. */
static int items_check_assets(struct mutate_tx *x, struct store_conn *c, const struct draft *d,
                              bool need_ready)
{
    const char *tid = auth_actor(x->req)->claims.tid;
    json_t *errors = json_array();
    for (size_t i = 0; i < d->n; i++) {
        struct store_result *res = NULL;
        int r = store_exec(c,
                           "SELECT status FROM assets WHERE tenant_id = $1 AND asset_id = $2 AND "
                           "deleted_at_utc IS NULL AND "
                           "(scope_venue_id IS NULL OR scope_venue_id = $3)",
                           (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(d->items[i].asset_id),
                                                  STORE_TEXT(x->p.venue)},
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
    return http_reply_problem(x->req, 422,
                              need_ready ? "PLAYLIST_NOT_PUBLISHABLE" : "INVALID_ITEMS",
                              need_ready ? "Every item must be a READY asset the playlist can use."
                                         : "Some items name assets this playlist cannot use.",
                              json_pack("{s:o}", "errors", errors));
}

static json_t *conflicts_json(const struct merge_result *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n_conflicts; i++) {
        const struct merge_conflict *k = &m->conflicts[i];
        json_t *o = json_pack("{s:o,s:s,s:s}", "itemId",
                              k->item_id[0] ? json_string(k->item_id) : json_null(), "field",
                              k->field, "kind", merge_conflict_kind_name(k->kind));
        if (k->kind == MERGE_DELETED_AND_CHANGED)
            json_object_set_new(o, "deletedBy", json_string(k->deleted_in_mine ? "you" : "them"));
        json_array_append_new(a, o);
    }
    return a;
}

static int mutate_tx(struct store_conn *c, void *ud)
{
    struct mutate_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    playlist_release(&x->p);
    draft_release(&x->result);
    json_decref(x->conflicts);
    x->conflicts = NULL;
    x->merged = false;
    int r = playlist_lock(c, a->claims.tid, http_req_param(x->req, "playlistId"));
    if (r >= 0)
        r = playlist_find(c, a->claims.tid, x->view, http_req_param(x->req, "playlistId"), true,
                          &x->p);
    if (r < 0)
        return find_problem(x->req, r);
    char etag[HTTP_ETAG_LEN];
    etag_of(&x->p, etag);
    const char *im = http_req_header(x->req, "If-Match");
    bool current = im && http_etag_list_matches(im, etag, false);
    if (!current && !(im && x->base_version))
        return http_require_if_match(x->req, etag); /* 428 or 412 */

    struct draft base = {0}, theirs = {0}, mine = {0};
    if ((r = draft_load_current(c, &x->p, &theirs)) < 0)
        goto out;
    if (current) {
        r = mine_build(x, &theirs, &mine);
        if (r >= 0) {
            x->result = mine;
            mine = (struct draft){0};
        }
    } else {
        /* a stale If-Match with the version it names: merge three ways */
        char want[HTTP_ETAG_LEN];
        http_etag_version(x->p.id, x->base_version, want);
        if (!http_etag_list_matches(im, want, false)) {
            r = http_reply_problem(x->req, 400, "BASE_VERSION_MISMATCH",
                                   "X-Base-Version must be the draft version your If-Match "
                                   "names.",
                                   NULL);
            goto out;
        }
        r = x->base_version < x->p.draft_version
                ? draft_load_version(c, &x->p, x->base_version, &base)
                : -ENOENT;
        if (r == -ENOENT) {
            http_reply_header(x->req, "ETag", etag);
            r = http_reply_problem(x->req, 412, "PRECONDITION_FAILED",
                                   "The version you started from is too old to merge; reload.",
                                   json_pack("{s:s}", "currentEtag", etag));
            goto out;
        }
        if (r >= 0)
            r = mine_build(x, &base, &mine);
        if (r < 0)
            goto out;
        struct merge_doc bd = {base.name, base.items, base.n};
        struct merge_doc td = {theirs.name, theirs.items, theirs.n};
        struct merge_doc md = {mine.name, mine.items, mine.n};
        struct merge_result m = {0};
        if ((r = playlist_merge(&bd, &td, &md, &m)) < 0)
            goto out;
        x->theirs_version = x->p.draft_version;
        if (m.n_conflicts) {
            x->conflicts = conflicts_json(&m);
            merge_result_release(&m);
            r = http_reply_problem(
                x->req, 409, "MERGE_CONFLICT",
                "Someone changed the same parts of this draft; nothing was saved.",
                json_pack("{s:O,s:s,s:I,s:I}", "conflicts", x->conflicts, "currentEtag", etag,
                          "baseVersion", (json_int_t)x->base_version, "currentVersion",
                          (json_int_t)x->p.draft_version));
            goto out;
        }
        x->result.name = xstrdup(m.name);
        x->result.n = m.n_items;
        x->result.items = xcalloc(m.n_items ? m.n_items : 1, sizeof(*x->result.items));
        memcpy(x->result.items, m.items, m.n_items * sizeof(*m.items));
        merge_result_release(&m);
        x->merged = true;
    }
    if (r < 0)
        goto out;
    if (x->kind == MUT_ITEMS && (r = items_check_assets(x, c, &x->result, false)) < 0)
        goto out;
    if ((r = draft_write(c, a->claims.tid, a->claims.sub, &x->p, &x->result)) < 0)
        goto out;
    static const char *const actions[] = {"playlist.items_replaced", "playlist.reordered",
                                          "playlist.renamed"};
    json_t *details = json_pack("{s:I,s:I}", "draftVersion", (json_int_t)x->p.draft_version,
                                "items", (json_int_t)x->result.n);
    if (x->merged) {
        json_object_set_new(details, "mergedFromBaseVersion", json_integer(x->base_version));
        json_object_set_new(details, "mergedOverVersion", json_integer(x->theirs_version));
    }
    audit(c, x->req, &x->p, x->merged ? "playlist.merged" : actions[x->kind], "SUCCESS", details,
          &r);
    change(c, a, &x->p, "updated", x->p.draft_version, &r);
out:
    draft_release(&base);
    draft_release(&theirs);
    draft_release(&mine);
    return r < 0 ? r : 0;
}

struct conflict_audit {
    struct http_request *req;
    struct mutate_tx *x;
};

static int conflict_audit_tx(struct store_conn *c, void *ud)
{
    struct conflict_audit *y = ud;
    int r = 0;
    audit(c, y->req, &y->x->p, "playlist.merge_conflict", "FAILURE",
          json_pack("{s:I,s:I,s:O}", "baseVersion", (json_int_t)y->x->base_version,
                    "currentVersion", (json_int_t)y->x->theirs_version, "conflicts",
                    y->x->conflicts),
          &r);
    return r;
}

static int mutate(struct http_request *req, struct app *app, enum mutation kind)
{
    struct mutate_tx x = {.app = app, .req = req, .view = view_of(req), .kind = kind};
    const char *bv = http_req_header(req, "X-Base-Version");
    json_t *bj = json_object_get(http_req_json(req), "baseVersion");
    if (bv && parse_int64(bv, 1, INT64_MAX, &x.base_version) < 0)
        return http_reply_problem(req, 400, "INVALID_HEADER",
                                  "X-Base-Version must be a draft version (a whole number).", NULL);
    if (bj) {
        if (!json_is_integer(bj) || json_integer_value(bj) < 1 ||
            (x.base_version && x.base_version != json_integer_value(bj)))
            return adm_field_problem(req, 400, "INVALID_FIELD", "baseVersion",
                                     "must be a draft version, and agree with X-Base-Version");
        x.base_version = json_integer_value(bj);
    }
    int r = store_tx(app->store, 0, mutate_tx, &x);
    if (x.conflicts) {
        /* the conflict itself is recorded, in its own transaction (the edit rolled back) */
        struct conflict_audit y = {.req = req, .x = &x};
        int q = store_tx(app->store, 0, conflict_audit_tx, &y);
        if (q < 0)
            log_msg(LOG_ERROR, "audit_failed", "merge conflict: %s", strerror(-q));
    }
    if (r >= 0 && !http_replied(req))
        r = reply_playlist(req, 200, &x.p, &x.result);
    playlist_release(&x.p);
    draft_release(&x.result);
    json_decref(x.conflicts);
    return r;
}

static int items_put(struct http_request *req, void *ud)
{
    return mutate(req, ud, MUT_ITEMS);
}

static int reorder_put(struct http_request *req, void *ud)
{
    return mutate(req, ud, MUT_REORDER);
}

static int rename_patch(struct http_request *req, void *ud)
{
    return mutate(req, ud, MUT_RENAME);
}

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
        return find_problem(x->req, r);
    struct draft d = {0};
    if (!x->rollback_to) {
        char etag[HTTP_ETAG_LEN];
        etag_of(&x->p, etag);
        if ((r = http_require_if_match(x->req, etag)) < 0)
            return r;
        if ((r = draft_load_current(c, &x->p, &d)) < 0)
            return r;
        struct mutate_tx check = {.req = x->req, .p = x->p};
        r = items_check_assets(&check, c, &d, true);
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
    audit(c, x->req, &x->p, x->rollback_to ? "playlist.rolled_back" : "playlist.published",
          "SUCCESS",
          json_pack("{s:I,s:I,s:i}", "publishedVersion", (json_int_t)x->version, "sourceVersion",
                    (json_int_t)x->rollback_to, "venuesNotified", (int)x->venues),
          &r);
    change(c, a, &x->p, x->rollback_to ? "rolled_back" : "published", x->version, &r);
    return r < 0 ? r : 0;
}

static int publish_common(struct http_request *req, struct app *app, int64_t rollback_to)
{
    struct publish_tx x = {.req = req, .view = view_of(req), .rollback_to = rollback_to};
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

static int playlist_publish(struct http_request *req, void *ud)
{
    return publish_common(req, ud, 0);
}

static int playlist_rollback(struct http_request *req, void *ud)
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
