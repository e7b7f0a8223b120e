/* SPDX-License-Identifier: MIT */
/*
 * drafts.c — a playlist's draft changes (rename, items, reorder) under ETags, and the
 * three-way merge of a change based on an older draft version (design in playlists.c; the
 * merge itself in merge.c). Every change writes the whole draft as the next version, kept in
 * playlist_draft_versions so that later changes can be merged against it.
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
int draft_load_version(struct store_conn *c, const struct playlist *p, int64_t version,
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
 * -EAGAIN, and store_tx runs the whole request again). The item rows are rewritten only when
 * @items_changed (a rename keeps them: up to 1000 rows). */
static int draft_write(struct store_conn *c, const char *tenant, const char *user,
                       struct playlist *p, const struct draft *d, bool items_changed)
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
    if (items_changed)
        r = store_exec(c, "DELETE FROM playlist_items WHERE playlist_id = $1",
                       (struct store_param[]){STORE_TEXT(p->id)}, 1, NULL);
    for (size_t i = 0; items_changed && r >= 0 && i < d->n; i++)
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
        return pl_find_problem(x->req, r);
    char etag[HTTP_ETAG_LEN];
    pl_etag_of(&x->p, etag);
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
    if (x->kind == MUT_ITEMS && (r = pl_items_check(x->req, c, &x->p, &x->result, false)) < 0)
        goto out;
    if ((r = draft_write(c, a->claims.tid, a->claims.sub, &x->p, &x->result,
                         x->kind != MUT_RENAME)) < 0)
        goto out;
    static const char *const actions[] = {"playlist.items_replaced", "playlist.reordered",
                                          "playlist.renamed"};
    json_t *details = json_pack("{s:I,s:I}", "draftVersion", (json_int_t)x->p.draft_version,
                                "items", (json_int_t)x->result.n);
    if (x->merged) {
        json_object_set_new(details, "mergedFromBaseVersion", json_integer(x->base_version));
        json_object_set_new(details, "mergedOverVersion", json_integer(x->theirs_version));
    }
    pl_audit(c, x->req, &x->p, x->merged ? "playlist.merged" : actions[x->kind], "SUCCESS", details,
             &r);
    pl_change(c, a, &x->p, "updated", x->p.draft_version, &r);
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
    pl_audit(c, y->req, &y->x->p, "playlist.merge_conflict", "FAILURE",
             json_pack("{s:I,s:I,s:O}", "baseVersion", (json_int_t)y->x->base_version,
                       "currentVersion", (json_int_t)y->x->theirs_version, "conflicts",
                       y->x->conflicts),
             &r);
    return r;
}

static int mutate(struct http_request *req, struct app *app, enum mutation kind)
{
    struct mutate_tx x = {.app = app, .req = req, .view = pl_view_of(req), .kind = kind};
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

int items_put(struct http_request *req, void *ud)
{
    return mutate(req, ud, MUT_ITEMS);
}

int reorder_put(struct http_request *req, void *ud)
{
    return mutate(req, ud, MUT_REORDER);
}

int rename_patch(struct http_request *req, void *ud)
{
    return mutate(req, ud, MUT_RENAME);
}
