/* SPDX-License-Identifier: MIT */
/*
 * groups.c — a venue's device groups (spec §26.4, §27.6): list, create, read, rename and
 * delete under /v1/venues/{venueId}/groups. The contract is in docs/devices.md, "Groups".
 *
 * DESIGN
 * A group has no version column: its ETag is the digest of its JSON (which carries
 * updatedAtUtc and deviceCount), as for venues and devices. Writers of one group queue on its
 * row (device_group_lock(): a no-op UPDATE, which PostgreSQL turns into a row lock and SQLite's
 * BEGIN IMMEDIATE makes unnecessary) and compare If-Match after taking it, so the check and the
 * write see the same row. Whatever makes something point at a group takes that lock too — a
 * device joining it (devices.c), a schedule slot aimed at it (schedules.c) — so a delete either
 * sees the newcomer (and refuses, or takes the device out) or the newcomer sees the group gone.
 *
 * Names are unique among a venue's live groups, ASCII letters compared without case (lower()
 * folds ASCII only, on both backends). No unique index says so (a deleted group keeps its
 * name); create and rename take the venue's row first, so two of them cannot both find a
 * name free.
 *
 * Delete is soft (deleted_at_utc). It is refused (409 GROUP_IN_USE, naming the slots) while
 * the venue's draft or live schedule has a slot aimed at the group: a live slot still plays,
 * and a draft slot would be published. Otherwise the group's devices leave it in the same
 * transaction (primary_group_id cleared, one DEVICE change each); that changes their
 * manifests by itself, since the manifest cache's key is made from the device's row.
 */
#include "devices/devices.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "auth/auth.h"
#include "devices/manage-internal.h"
#include "ids.h"
#include "macro.h"
#include "publishing/publishing.h"
#include "tenancy/admin-internal.h"

#define GROUP_BODY_MAX   4096
#define GROUP_DELETE_MAX 1024

/* ---- the group representation ------------------------------------------------------------ */

#define GROUP_SELECT                                                                               \
    "SELECT g.group_id, g.venue_id, g.name, (SELECT count(*) FROM devices d WHERE "                \
    "d.tenant_id = g.tenant_id AND d.venue_id = g.venue_id AND "                                   \
    "d.primary_group_id = g.group_id AND d.deleted_at_utc IS NULL), g.created_at_utc, "            \
    "g.updated_at_utc FROM device_groups g "
enum { GC_ID, GC_VENUE, GC_NAME, GC_DEVICES, GC_CREATED, GC_UPDATED };

static json_t *group_json(const struct store_result *res, size_t i)
{
#define T(col) store_result_text(res, i, (col))
    int64_t n = 0;
    store_result_int(res, i, GC_DEVICES, &n);
    return json_pack("{s:s,s:s,s:o,s:I,s:s,s:s}", "groupId", T(GC_ID), "venueId", T(GC_VENUE),
                     "name", adm_jstr(T(GC_NAME)), "deviceCount", (json_int_t)n, "createdAtUtc",
                     T(GC_CREATED), "updatedAtUtc", T(GC_UPDATED));
#undef T
}

/* The live group @id of the venue as JSON; -ENOENT when there is none. */
static int group_read(struct store_conn *c, const char *tid, const char *venue, const char *id,
                      json_t **ret)
{
    struct store_result *res = NULL;
    int r = dv_select_one(c,
                          GROUP_SELECT "WHERE g.tenant_id = $1 AND g.venue_id = $2 AND "
                                       "g.group_id = $3 AND g.deleted_at_utc IS NULL",
                          tid, venue, id, &res);
    if (r < 0)
        return r;
    *ret = group_json(res, 0);
    store_result_free(res);
    return 0;
}

int device_group_lock(struct store_conn *c, const char *tenant_id, const char *venue_id,
                      const char *group_id)
{
    int r = store_exec(
        c,
        "UPDATE device_groups SET updated_at_utc = updated_at_utc WHERE "
        "tenant_id = $1 AND venue_id = $2 AND group_id = $3 AND "
        "deleted_at_utc IS NULL",
        (struct store_param[]){STORE_TEXT(tenant_id), STORE_TEXT(venue_id), STORE_TEXT(group_id)},
        3, NULL);
    return r < 0 ? r : r > 0;
}

/* Takes the group's row (see DESIGN) and reads it; -ENOENT when there is no such live group. */
static int group_take(struct store_conn *c, const char *tid, const char *venue, const char *id,
                      json_t **ret)
{
    if (!id || !ids_is_uuid(id))
        return -ENOENT;
    int r = device_group_lock(c, tid, venue, id);
    if (r < 0)
        return r;
    return r == 0 ? -ENOENT : group_read(c, tid, venue, id, ret);
}

/* ---- GET --------------------------------------------------------------------------------- */

static int group_get(struct http_request *req, void *ud)
{
    return dv_get_reply(req, ((struct app *)ud)->store, "groupId", group_read);
}

/* The venue's groups by name, then id; `?q=` keeps those whose name contains it (ASCII
 * letters compared without case). */
static int group_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    _cleanup_free_ char *like = NULL;
    struct http_page page;
    int r = dv_list_begin(req, &like, &page);
    if (r < 0)
        return r;
    const struct store_param p[] = {STORE_TEXT(auth_actor(req)->claims.tid),
                                    STORE_TEXT(http_req_param(req, "venueId")),
                                    STORE_TEXT(like),
                                    STORE_TEXT(page.n_after ? page.after[0] : ""),
                                    STORE_TEXT(page.n_after ? page.after[1] : ""),
                                    STORE_INT(page.limit + 1)};
    struct store_result *res = NULL;
    r = store_query(app->store,
                    GROUP_SELECT "WHERE g.tenant_id = $1 AND g.venue_id = $2 AND "
                                 "g.deleted_at_utc IS NULL AND "
                                 "lower(g.name) LIKE lower($3) ESCAPE '\\' AND "
                                 "(g.name > $4 OR (g.name = $4 AND g.group_id > $5)) "
                                 "ORDER BY g.name, g.group_id LIMIT $6",
                    p, ARRAY_SIZE(p), &res);
    http_page_release(&page);
    return r < 0 ? r : dv_page_reply(req, res, page.limit, GC_NAME, GC_ID, group_json);
}

/* ---- POST and PATCH ---------------------------------------------------------------------- */

/* The body of a create or rename: {name}, trimmed; -ECANCELED after a 400. Caller frees. */
static int name_body_read(struct http_request *req, char **ret)
{
    static const char *const allowed[] = {"name", NULL};
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    json_t *errors = json_array();
    dv_name_read(http_req_json(req), "name", errors, ret);
    return dv_errors_reply(req, errors);
}

/* Takes the venue's row (see DESIGN): creates and renames of its groups queue here. */
static int venue_take(struct store_conn *c, struct http_request *req)
{
    int r = store_exec(c, "UPDATE venues SET name = name WHERE tenant_id = $1 AND venue_id = $2",
                       (struct store_param[]){STORE_TEXT(auth_actor(req)->claims.tid),
                                              STORE_TEXT(http_req_param(req, "venueId"))},
                       2, NULL);
    return r < 0 ? r : 0;
}

/* 409 GROUP_NAME_TAKEN (-ECANCELED) when another live group of the venue than @self (NULL =
 * none) has @name, whatever its case; else 0. Under venue_take(). */
static int name_free(struct store_conn *c, struct http_request *req, const char *name,
                     const char *self)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT 1 FROM device_groups WHERE tenant_id = $1 AND venue_id = $2 AND "
                       "deleted_at_utc IS NULL AND lower(name) = lower($3) AND group_id <> $4",
                       (struct store_param[]){STORE_TEXT(auth_actor(req)->claims.tid),
                                              STORE_TEXT(http_req_param(req, "venueId")),
                                              STORE_TEXT(name), STORE_TEXT(self ? self : "")},
                       4, &res);
    if (r < 0)
        return r;
    bool taken = store_result_rows(res) > 0;
    store_result_free(res);
    if (taken)
        return adm_field_problem(req, 409, "GROUP_NAME_TAKEN", "name",
                                 "is the name of another group of this venue");
    return 0;
}

struct group_tx {
    struct http_request *req;
    const char *id;
    const char *name;
    json_t *group; /* the group after the transaction */
};

static int create_tx(struct store_conn *c, void *ud)
{
    struct group_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    const char *venue = http_req_param(x->req, "venueId");
    json_decref(x->group);
    x->group = NULL;
    int r = venue_take(c, x->req);
    if (r < 0 || (r = name_free(c, x->req, x->name, NULL)) < 0)
        return r;
    char now[TIMESTAMP_STR_LEN];
    dv_next_updated(NULL, now);
    r = store_exec(c,
                   "INSERT INTO device_groups (group_id, tenant_id, venue_id, name, "
                   "created_by_user_id, created_at_utc, updated_at_utc) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $6)",
                   (struct store_param[]){STORE_TEXT(x->id), STORE_TEXT(a->claims.tid),
                                          STORE_TEXT(venue), STORE_TEXT(x->name),
                                          STORE_TEXT(a->claims.sub), STORE_TEXT(now)},
                   6, NULL);
    if (r < 0)
        return r;
    json_auto_t *details = json_pack("{s:s}", "name", x->name);
    if ((r = dv_record(c, x->req, "GROUP", x->id, "group.created", "created", details)) < 0)
        return r;
    return group_read(c, a->claims.tid, venue, x->id, &x->group);
}

static int group_create(struct http_request *req, void *ud)
{
    struct app *app = ud;
    _cleanup_free_ char *name = NULL;
    int r = name_body_read(req, &name);
    if (r < 0)
        return r;
    char id[UUID_STR_LEN];
    ids_uuid(id);
    struct group_tx x = {.req = req, .id = id, .name = name};
    if ((r = store_tx(app->store, 0, create_tx, &x)) < 0) {
        json_decref(x.group);
        return r;
    }
    char loc[256];
    snprintf(loc, sizeof(loc), "%s/%s", http_req_path(req), id);
    http_reply_header(req, "Location", loc);
    return http_reply_json_etag_status(req, 201, x.group);
}

static int rename_tx(struct store_conn *c, void *ud)
{
    struct group_tx *x = ud;
    const char *tid = auth_actor(x->req)->claims.tid, *venue = http_req_param(x->req, "venueId");
    json_decref(x->group);
    x->group = NULL;
    /* the venue first, then the group: the order every writer of both takes them in */
    int r = venue_take(c, x->req);
    json_auto_t *cur = NULL;
    if (r < 0 || (r = group_take(c, tid, venue, x->id, &cur)) < 0)
        return r;
    char etag[HTTP_ETAG_LEN], now[TIMESTAMP_STR_LEN];
    http_etag_of_json(cur, etag);
    if ((r = http_require_if_match(x->req, etag)) < 0)
        return r;
    const char *was = json_string_value(json_object_get(cur, "name"));
    if (!strcmp(was, x->name)) {
        x->group = TAKE_PTR(cur); /* the same representation again: nothing to write */
        return 0;
    }
    if ((r = name_free(c, x->req, x->name, x->id)) < 0)
        return r;
    dv_next_updated(json_string_value(json_object_get(cur, "updatedAtUtc")), now);
    r = store_exec(c,
                   "UPDATE device_groups SET name = $3, updated_at_utc = $4 WHERE "
                   "tenant_id = $1 AND group_id = $2",
                   (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(x->id), STORE_TEXT(x->name),
                                          STORE_TEXT(now)},
                   4, NULL);
    if (r < 0)
        return r;
    json_auto_t *details =
        json_pack("{s:{s:{s:s,s:s}}}", "changes", "name", "from", was, "to", x->name);
    if ((r = dv_record(c, x->req, "GROUP", x->id, "group.updated", "updated", details)) < 0)
        return r;
    return group_read(c, tid, venue, x->id, &x->group);
}

/* Renames the group (If-Match required, §27.1). */
static int group_patch(struct http_request *req, void *ud)
{
    struct app *app = ud;
    if (!http_req_header(req, "If-Match"))
        return http_require_if_match(req, "\"\""); /* 428 */
    _cleanup_free_ char *name = NULL;
    int r = name_body_read(req, &name);
    if (r < 0)
        return r;
    const char *id = http_req_param(req, "groupId");
    if (!id || !ids_is_uuid(id))
        return -ENOENT;
    struct group_tx x = {.req = req, .id = id, .name = name};
    if ((r = store_tx(app->store, 0, rename_tx, &x)) < 0) {
        json_decref(x.group);
        return r;
    }
    return http_reply_json_etag_status(req, 200, x.group);
}

/* ---- DELETE ------------------------------------------------------------------------------ */

/* 409 GROUP_IN_USE (-ECANCELED) naming the slots of the venue's draft and live schedule aimed
 * at group @id; 0 when there are none. */
static int group_unused(struct store_conn *c, struct http_request *req, const char *id)
{
    const char *tid = auth_actor(req)->claims.tid, *venue = http_req_param(req, "venueId");
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT slot_id, 0 FROM schedule_slots WHERE tenant_id = $1 AND "
                       "venue_id = $2 AND target_type = 'GROUP' AND target_id = $3 "
                       "UNION ALL SELECT ps.slot_id, 1 FROM venue_schedule_sets s JOIN "
                       "schedule_published_slots ps ON ps.tenant_id = s.tenant_id AND "
                       "ps.venue_id = s.venue_id AND ps.published_version = s.published_version "
                       "WHERE s.tenant_id = $1 AND s.venue_id = $2 AND "
                       "ps.target_type = 'GROUP' AND ps.target_id = $3 ORDER BY 2, 1",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue), STORE_TEXT(id)},
                       3, &res);
    if (r < 0)
        return r;
    size_t n = store_result_rows(res);
    json_t *draft = json_array(), *live = json_array();
    for (size_t i = 0; i < n; i++) {
        int64_t published = 0;
        store_result_int(res, i, 1, &published);
        json_array_append_new(published ? live : draft, json_string(store_result_text(res, i, 0)));
    }
    store_result_free(res);
    if (n == 0) {
        json_decref(draft);
        json_decref(live);
        return 0;
    }
    return http_reply_problem(
        req, 409, "GROUP_IN_USE",
        "Schedule slots are aimed at this group; take them out of the draft "
        "and publish before deleting it.",
        json_pack("{s:{s:o,s:o}}", "context", "draftSlotIds", draft, "publishedSlotIds", live));
}

/* Takes every device out of group @id (the live ones get a DEVICE change each); how many live
 * ones in *@ret_n. */
static int group_empty(struct store_conn *c, struct http_request *req, const char *id,
                       const char *now, int64_t *ret_n)
{
    const struct auth_actor *a = auth_actor(req);
    const char *tid = a->claims.tid, *venue = http_req_param(req, "venueId");
    const struct store_param p[] = {STORE_TEXT(tid), STORE_TEXT(venue), STORE_TEXT(id),
                                    STORE_TEXT(now)};
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT device_id FROM devices WHERE tenant_id = $1 AND venue_id = $2 AND "
                       "primary_group_id = $3 AND deleted_at_utc IS NULL ORDER BY device_id",
                       p, 3, &res);
    if (r < 0)
        return r;
    r = store_exec(c,
                   "UPDATE devices SET primary_group_id = NULL, updated_at_utc = CASE WHEN "
                   "updated_at_utc < $4 THEN $4 ELSE updated_at_utc END WHERE tenant_id = $1 "
                   "AND venue_id = $2 AND primary_group_id = $3",
                   p, 4, NULL);
    size_t n = store_result_rows(res);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        struct change ch = {.tenant_id = tid,
                            .entity_type = "DEVICE",
                            .entity_id = store_result_text(res, i, 0),
                            .venue_id = venue,
                            .action = "updated",
                            .version = -1,
                            .actor_user_id = a->claims.sub};
        r = changes_append(c, &ch, NULL);
    }
    store_result_free(res);
    if (r < 0)
        return r;
    *ret_n = (int64_t)n;
    return 0;
}

static int delete_tx(struct store_conn *c, void *ud)
{
    struct http_request *req = ud;
    const char *tid = auth_actor(req)->claims.tid, *venue = http_req_param(req, "venueId"),
               *id = http_req_param(req, "groupId");
    json_auto_t *cur = NULL;
    int r = group_take(c, tid, venue, id, &cur);
    if (r < 0)
        return r;
    char etag[HTTP_ETAG_LEN], now[TIMESTAMP_STR_LEN];
    http_etag_of_json(cur, etag);
    if ((r = dv_if_match_optional(req, etag)) < 0 || (r = group_unused(c, req, id)) < 0)
        return r;
    dv_next_updated(json_string_value(json_object_get(cur, "updatedAtUtc")), now);
    int64_t n = 0;
    if ((r = group_empty(c, req, id, now, &n)) < 0)
        return r;
    r = store_exec(c,
                   "UPDATE device_groups SET deleted_at_utc = $3, updated_at_utc = $3 WHERE "
                   "tenant_id = $1 AND group_id = $2",
                   (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(id), STORE_TEXT(now)}, 3,
                   NULL);
    if (r < 0)
        return r;
    json_auto_t *details = json_pack("{s:O,s:I}", "name", json_object_get(cur, "name"),
                                     "devicesUngrouped", (json_int_t)n);
    r = dv_record(c, req, "GROUP", id, "group.deleted", "deleted", details);
    return r < 0 ? r : 0;
}

/* Deletes the group (soft); If-Match is optional, and checked when sent. */
static int group_delete(struct http_request *req, void *ud)
{
    return dv_delete_run(req, ((struct app *)ud)->store, delete_tx);
}

/* ---- registration ------------------------------------------------------------------------ */

#define GROUPS "/v1/venues/{venueId}/groups"

/* clang-format off */
static const struct http_route routes[] = {
    {.method = HTTP_GET, .pattern = GROUPS, .audience = HTTP_USER, .min_role = AUTH_VENUE_VIEWER,
     .handler = group_list},
    {.method = HTTP_POST, .pattern = GROUPS, DV_MANAGE, .flags = HTTP_BODY_JSON,
     .max_body = GROUP_BODY_MAX, .handler = group_create},
    {.method = HTTP_GET, .pattern = GROUPS "/{groupId}", .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER, .handler = group_get},
    {.method = HTTP_PATCH, .pattern = GROUPS "/{groupId}", DV_MANAGE, .flags = HTTP_BODY_JSON,
     .max_body = GROUP_BODY_MAX, .handler = group_patch},
    {.method = HTTP_DELETE, .pattern = GROUPS "/{groupId}", DV_MANAGE, .max_body = GROUP_DELETE_MAX,
     .handler = group_delete},
};
/* clang-format on */

int groups_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
