/* SPDX-License-Identifier: MIT */
/*
 * devices.c — a venue's devices and their settings (spec §26.4, §27.6, §11.1, §25.7, §30.2):
 * GET/PATCH/DELETE /v1/venues/{venueId}/devices[/{deviceId}]; device_json(), the one device
 * representation; and the helpers groups.c shares (manage-internal.h). The contract is in
 * docs/devices.md, "Devices".
 *
 * DESIGN
 * Devices are made by pairing (pairing.c); here they are read, changed and removed. A device
 * has no version column: its ETag is the digest of its JSON, as for venues and groups. A write
 * first takes the device's row (a no-op UPDATE: a row lock on PostgreSQL, nothing more on
 * SQLite whose BEGIN IMMEDIATE already serializes writers), then reads it, compares If-Match,
 * and writes, so the check and the write see the same row.
 *
 * PATCH takes any subset of the editable fields. Every member is checked before the store is
 * touched, and all bad ones are named in one 400. The patch is merged into the device's
 * current JSON and every editable column is written from the result: one UPDATE whatever the
 * subset, and the audit entry lists exactly the fields whose value changed (from, to). A new
 * group must be a live group of the venue, checked under that group's lock
 * (device_group_lock()), so a concurrent delete of the group cannot leave the device in it.
 *
 * Nothing is invalidated by hand: the manifest cache's key is computed from the device's row
 * on every manifest request (resolver/manifest.c), so a new group, zone or setting makes that
 * device's manifest anew, and a device disabled or removed is refused (401) by the query that
 * checks its token. DELETE is soft (deleted_at_utc), clears the group, and revokes the
 * device's rows in device_auth_tokens in the same transaction.
 */
#include "devices/devices.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "audit.h"
#include "auth/auth.h"
#include "clock.h"
#include "devices/devices-internal.h"
#include "devices/manage-internal.h"
#include "ids.h"
#include "macro.h"
#include "publishing/publishing.h"
#include "tenancy/admin-internal.h"
#include "tenancy/tenant.h"

/* §11.1: 2 GB by default; below 64 MiB a player cannot hold one video, above 1 TiB is a typo */
#define CACHE_BUDGET_MIN  (64ll << 20)
#define CACHE_BUDGET_MAX  (1ll << 40)
#define DEVICE_PATCH_MAX  8192
#define DEVICE_DELETE_MAX 1024

/* ---- what groups.c shares (manage-internal.h) -------------------------------------------- */

int dv_select_one(struct store_conn *c, const char *sql, const char *tid, const char *venue,
                  const char *id, struct store_result **ret)
{
    if (!id || !ids_is_uuid(id))
        return -ENOENT;
    struct store_result *res = NULL;
    int r = store_exec(c, sql,
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue), STORE_TEXT(id)},
                       3, &res);
    if (r >= 0 && store_result_rows(res) != 1)
        r = -ENOENT;
    if (r < 0) {
        store_result_free(res);
        return r;
    }
    *ret = res;
    return 0;
}

int dv_get_reply(struct http_request *req, struct store *store, const char *id_param,
                 dv_read_fn read)
{
    struct store_conn *c;
    int r = store_acquire(store, &c);
    if (r < 0)
        return r;
    json_t *v = NULL;
    r = read(c, auth_actor(req)->claims.tid, http_req_param(req, "venueId"),
             http_req_param(req, id_param), &v);
    store_release(c);
    return r < 0 ? r : http_reply_json_etag_status(req, 200, v);
}

int dv_list_begin(struct http_request *req, char **ret_like, struct http_page *ret_page)
{
    _cleanup_free_ char *like = NULL;
    int r = adm_query_contains(req, &like);
    if (r < 0 || (r = http_page_parse(req, 2, ret_page)) < 0)
        return r;
    *ret_like = TAKE_PTR(like);
    return 0;
}

int dv_page_reply(struct http_request *req, struct store_result *res, unsigned limit, size_t k_name,
                  size_t k_id, json_t *(*item)(const struct store_result *, size_t))
{
    size_t shown;
    char *cursor = adm_page_next(res, limit, k_name, k_id, &shown);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(items, item(res, i));
    store_result_free(res);
    return adm_reply_page(req, items, cursor);
}

int dv_delete_run(struct http_request *req, struct store *store, store_tx_fn fn)
{
    int r = store_tx(store, 0, fn, req);
    if (r < 0 || http_replied(req))
        return r;
    return http_reply_empty(req, 204);
}

int dv_if_match_optional(struct http_request *req, const char *etag)
{
    return http_req_header(req, "If-Match") ? http_require_if_match(req, etag) : 0;
}

void dv_field_error(json_t *errors, const char *field, const char *message)
{
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "message", message));
}

int dv_errors_reply(struct http_request *req, json_t *errors)
{
    size_t n = json_array_size(errors);
    if (n == 0) {
        json_decref(errors);
        return 0;
    }
    char detail[200];
    json_t *first = json_array_get(errors, 0);
    bool missing = true; /* only required fields missing: the code other endpoints give that */
    for (size_t i = 0; i < n; i++)
        missing = missing &&
                  !strcmp(json_string_value(json_object_get(json_array_get(errors, i), "message")),
                          "is required");
    if (n == 1)
        snprintf(detail, sizeof(detail), "%s %s.",
                 json_string_value(json_object_get(first, "field")),
                 json_string_value(json_object_get(first, "message")));
    else
        snprintf(detail, sizeof(detail), "%zu fields are not valid; errors[] names each.", n);
    return http_reply_problem(req, 400, missing ? "FIELD_REQUIRED" : "INVALID_FIELD", detail,
                              json_pack("{s:o}", "errors", errors));
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void dv_name_read(json_t *body, const char *field, json_t *errors, char **ret)
{
    json_t *v = json_object_get(body, field);
    const char *s = json_string_value(v);
    if (!v) {
        dv_field_error(errors, field, "is required");
        return;
    }
    if (!s || strlen(s) != json_string_length(v)) {
        dv_field_error(errors, field, "must be a string");
        return;
    }
    size_t len = json_string_length(v);
    while (len > 0 && is_space(s[len - 1]))
        len--;
    while (len > 0 && is_space(*s))
        s++, len--;
    _cleanup_free_ char *name = xstrndup(s, len);
    if (len == 0 || adm_utf8_chars(name) > DV_NAME_MAX_CHARS) {
        dv_field_error(errors, field, "must be 1 to 200 characters (surrounding spaces aside)");
        return;
    }
    *ret = TAKE_PTR(name);
}

int dv_record(struct store_conn *c, struct http_request *req, const char *entity_type,
              const char *id, const char *action, const char *change_action, json_t *details)
{
    const struct auth_actor *a = auth_actor(req);
    const char *venue = http_req_param(req, "venueId");
    struct audit_entry e = {.tenant_id = a->claims.tid,
                            .actor_type = "USER",
                            .actor_id = a->claims.sub,
                            .action = action,
                            .outcome = "SUCCESS",
                            .resource_type = entity_type,
                            .resource_id = id,
                            .venue_id = venue,
                            .details = details};
    struct change ch = {.tenant_id = a->claims.tid,
                        .entity_type = entity_type,
                        .entity_id = id,
                        .venue_id = venue,
                        .action = change_action,
                        .version = -1,
                        .actor_user_id = a->claims.sub};
    int r = audit_write(c, req, &e);
    return r < 0 ? r : changes_append(c, &ch, NULL);
}

void dv_next_updated(const char *old, char now[TIMESTAMP_STR_LEN])
{
    int64_t now_ms = clock_now_ms(), old_ms;
    if (old && ids_timestamp_parse(old, &old_ms) == 0 && now_ms <= old_ms)
        now_ms = old_ms + 1;
    ids_timestamp(now_ms, now);
}

/* ---- the device representation ----------------------------------------------------------- */

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *device_json(const struct store_result *res, size_t i)
{
#define T(col) text_or_null(store_result_text(res, i, (col)))
    int64_t flag[4] = {0}, budget = 0;
    for (size_t f = 0; f < 4; f++)
        store_result_int(res, i, DC_LAUNCH_ON_BOOT + f, &flag[f]);
    store_result_int(res, i, DC_CACHE_BUDGET, &budget);
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:b,s:b,s:b,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o}",
                     "deviceId", T(DC_ID), "venueId", T(DC_VENUE), "name", T(DC_NAME), "groupId",
                     T(DC_GROUP), "timezone", T(DC_TIMEZONE), "runMode", T(DC_RUN_MODE),
                     "launchOnBoot", flag[0] != 0, "autoRelaunch", flag[1] != 0, "keepAwake",
                     flag[2] != 0, "watchdogReturnToForeground", flag[3] != 0, "orientation",
                     T(DC_ORIENTATION), "cacheBudgetBytes", (json_int_t)budget, "status",
                     T(DC_STATUS), "deviceHardwareId", T(DC_HARDWARE_ID), "appVersion",
                     T(DC_APP_VERSION), "lastSeenAtUtc", T(DC_LAST_SEEN), "createdAtUtc",
                     T(DC_CREATED), "updatedAtUtc", T(DC_UPDATED));
#undef T
}

/* The live device @id of the venue; -ENOENT when there is none. */
static int device_select(struct store_conn *c, const char *tid, const char *venue, const char *id,
                         struct store_result **ret)
{
    return dv_select_one(c,
                         "SELECT " DEVICE_COLS " FROM devices d WHERE d.tenant_id = $1 AND "
                         "d.venue_id = $2 AND d.device_id = $3 AND d.deleted_at_utc IS NULL",
                         tid, venue, id, ret);
}

/* The live device @id of the venue as JSON; -ENOENT when there is none. */
static int device_read(struct store_conn *c, const char *tid, const char *venue, const char *id,
                       json_t **ret)
{
    struct store_result *res = NULL;
    int r = device_select(c, tid, venue, id, &res);
    if (r < 0)
        return r;
    *ret = device_json(res, 0);
    store_result_free(res);
    return 0;
}

/* Takes the live device's row for the rest of the transaction (see DESIGN), then reads it;
 * -ENOENT when there is no such device. */
static int device_take(struct store_conn *c, const char *tid, const char *venue, const char *id,
                       json_t **ret)
{
    if (!id || !ids_is_uuid(id))
        return -ENOENT;
    int r = store_exec(c,
                       "UPDATE devices SET updated_at_utc = updated_at_utc WHERE tenant_id = $1 "
                       "AND venue_id = $2 AND device_id = $3 AND deleted_at_utc IS NULL",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue), STORE_TEXT(id)},
                       3, NULL);
    if (r < 0)
        return r;
    return r == 0 ? -ENOENT : device_read(c, tid, venue, id, ret);
}

/* ---- GET --------------------------------------------------------------------------------- */

static int device_get(struct http_request *req, void *ud)
{
    return dv_get_reply(req, ((struct app *)ud)->store, "deviceId", device_read);
}

/* `?status=` and `?groupId=` of the list: "" when absent (no filter). */
static int list_filters(struct http_request *req, const char **ret_status, const char **ret_group)
{
    const char *status = http_req_query(req, "status"), *group = http_req_query(req, "groupId");
    if (status && strcmp(status, "ACTIVE") != 0 && strcmp(status, "DISABLED") != 0)
        return adm_field_problem(req, 400, "INVALID_QUERY", "status", "must be ACTIVE or DISABLED");
    if (group && !ids_is_uuid(group))
        return adm_field_problem(req, 400, "INVALID_QUERY", "groupId",
                                 "must be a group id (a UUID)");
    *ret_status = status ? status : "";
    *ret_group = group ? group : "";
    return 0;
}

/* The venue's devices by name, then id; `?q=` keeps those whose name contains it (ASCII letters
 * compared without case), `?groupId=` those of one group, `?status=` those in one status. */
static int device_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    _cleanup_free_ char *like = NULL;
    const char *status = "", *group = "";
    struct http_page page;
    int r = list_filters(req, &status, &group);
    if (r < 0 || (r = dv_list_begin(req, &like, &page)) < 0)
        return r;
    const struct store_param p[] = {STORE_TEXT(a->claims.tid),
                                    STORE_TEXT(http_req_param(req, "venueId")),
                                    STORE_TEXT(like),
                                    STORE_TEXT(group),
                                    STORE_TEXT(status),
                                    STORE_TEXT(page.n_after ? page.after[0] : ""),
                                    STORE_TEXT(page.n_after ? page.after[1] : ""),
                                    STORE_INT(page.limit + 1)};
    struct store_result *res = NULL;
    r = store_query(app->store,
                    "SELECT " DEVICE_COLS " FROM devices d WHERE d.tenant_id = $1 AND "
                    "d.venue_id = $2 AND d.deleted_at_utc IS NULL AND "
                    "lower(d.name) LIKE lower($3) ESCAPE '\\' AND "
                    "($4 = '' OR d.primary_group_id = $4) AND ($5 = '' OR d.status = $5) AND "
                    "(d.name > $6 OR (d.name = $6 AND d.device_id > $7)) "
                    "ORDER BY d.name, d.device_id LIMIT $8",
                    p, ARRAY_SIZE(p), &res);
    http_page_release(&page);
    return r < 0 ? r : dv_page_reply(req, res, page.limit, DC_NAME, DC_ID, device_json);
}

/* ---- PATCH ------------------------------------------------------------------------------- */

enum field_kind { FK_NAME, FK_GROUP, FK_ZONE, FK_ENUM, FK_BOOL, FK_BUDGET };

/* The editable fields, in the order of the SET list of PATCH_SQL ($3 onwards). */
static const struct {
    const char *json;
    enum field_kind kind;
    const char *values[2]; /* FK_ENUM */
} fields[] = {
    {"name", FK_NAME, {NULL}},
    {"groupId", FK_GROUP, {NULL}},
    {"timezone", FK_ZONE, {NULL}},
    {"runMode", FK_ENUM, {"KIOSK", "SHARED"}},
    {"launchOnBoot", FK_BOOL, {NULL}},
    {"autoRelaunch", FK_BOOL, {NULL}},
    {"keepAwake", FK_BOOL, {NULL}},
    {"watchdogReturnToForeground", FK_BOOL, {NULL}},
    {"orientation", FK_ENUM, {"LANDSCAPE", "PORTRAIT"}},
    {"cacheBudgetBytes", FK_BUDGET, {NULL}},
    {"status", FK_ENUM, {"ACTIVE", "DISABLED"}},
};
#define PATCH_SQL                                                                                  \
    "UPDATE devices SET name = $3, primary_group_id = $4, timezone = $5, run_mode = $6, "          \
    "launch_on_boot = $7, auto_relaunch = $8, keep_awake = $9, "                                   \
    "watchdog_return_to_foreground = $10, orientation = $11, cache_budget_bytes = $12, "           \
    "status = $13, updated_at_utc = $14 WHERE tenant_id = $1 AND device_id = $2"
#define PATCH_PARAMS (2 + ARRAY_SIZE(fields) + 1)

/* Member @i of fields[] as the body has it: its normalized value (new reference), or NULL with
 * an entry in @errors. */
static json_t *field_parse(size_t i, json_t *body, json_t *errors)
{
    const char *name = fields[i].json;
    json_t *v = json_object_get(body, name);
    const char *s = json_string_value(v);
    switch (fields[i].kind) {
    case FK_NAME: {
        _cleanup_free_ char *trimmed = NULL;
        dv_name_read(body, name, errors, &trimmed);
        return trimmed ? json_string(trimmed) : NULL;
    }
    case FK_GROUP:
        if (json_is_null(v) || (s && ids_is_uuid(s)))
            return json_incref(v);
        dv_field_error(errors, name, "must be a group id (a UUID) of this venue, or null");
        return NULL;
    case FK_ZONE:
        if (json_is_null(v) || (s && tenant_timezone_valid(s)))
            return json_incref(v);
        dv_field_error(errors, name,
                       "must be an IANA time zone this server knows, or null (the venue's)");
        return NULL;
    case FK_ENUM: {
        if (s && (!strcmp(s, fields[i].values[0]) || !strcmp(s, fields[i].values[1])))
            return json_incref(v);
        char message[64];
        snprintf(message, sizeof(message), "must be %s or %s", fields[i].values[0],
                 fields[i].values[1]);
        dv_field_error(errors, name, message);
        return NULL;
    }
    case FK_BOOL:
        if (json_is_boolean(v))
            return json_incref(v);
        dv_field_error(errors, name, "must be true or false");
        return NULL;
    case FK_BUDGET:
        if (json_is_integer(v) && json_integer_value(v) >= CACHE_BUDGET_MIN &&
            json_integer_value(v) <= CACHE_BUDGET_MAX)
            return json_incref(v);
        dv_field_error(errors, name,
                       "must be a whole number of bytes from 67108864 (64 MiB) to "
                       "1099511627776 (1 TiB)");
        return NULL;
    }
    return NULL;
}

/* The body checked and normalized: an object of the fields it sets, or -ECANCELED after a 400
 * naming every bad field. */
static int patch_read(struct http_request *req, json_t **ret)
{
    const char *allowed[ARRAY_SIZE(fields) + 1];
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        allowed[i] = fields[i].json;
    allowed[ARRAY_SIZE(fields)] = NULL;
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    json_t *body = http_req_json(req), *errors = json_array();
    json_auto_t *patch = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        if (!json_object_get(body, fields[i].json))
            continue;
        json_t *v = field_parse(i, body, errors);
        if (v)
            json_object_set_new(patch, fields[i].json, v);
    }
    if ((r = dv_errors_reply(req, errors)) < 0)
        return r;
    *ret = TAKE_PTR(patch);
    return 0;
}

/* A field's JSON value as a store parameter (strings are borrowed from @v). */
static struct store_param param_of(const json_t *v)
{
    if (json_is_string(v))
        return STORE_TEXT(json_string_value(v));
    if (json_is_boolean(v))
        return STORE_INT(json_is_true(v) ? 1 : 0);
    if (json_is_integer(v))
        return STORE_INT(json_integer_value(v));
    return STORE_NULL;
}

enum outcome { OUT_OK, OUT_MISSING, OUT_STALE, OUT_BAD_GROUP };

struct patch_tx {
    struct http_request *req;
    json_t *patch;        /* the checked body */
    const char *if_match; /* required */
    enum outcome outcome;
    char etag[HTTP_ETAG_LEN]; /* the current ETag when STALE */
    json_t *device;           /* the device after the transaction */
};

/* The fields @next changes in @cur: {field: {from, to}}. */
static json_t *changes_of(json_t *cur, json_t *next)
{
    json_t *changes = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        json_t *from = json_object_get(cur, fields[i].json),
               *to = json_object_get(next, fields[i].json);
        if (!json_equal(from, to))
            json_object_set_new(changes, fields[i].json,
                                json_pack("{s:O,s:O}", "from", from, "to", to));
    }
    return changes;
}

static int device_write(struct store_conn *c, struct patch_tx *x, json_t *next)
{
    const char *tid = auth_actor(x->req)->claims.tid, *id = http_req_param(x->req, "deviceId");
    char now[TIMESTAMP_STR_LEN];
    dv_next_updated(json_string_value(json_object_get(next, "updatedAtUtc")), now);
    struct store_param p[PATCH_PARAMS] = {STORE_TEXT(tid), STORE_TEXT(id)};
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        p[2 + i] = param_of(json_object_get(next, fields[i].json));
    p[PATCH_PARAMS - 1] = STORE_TEXT(now);
    int r = store_exec(c, PATCH_SQL, p, PATCH_PARAMS, NULL);
    return r < 0 ? r : r == 1 ? 0 : -EIO;
}

static int patch_tx(struct store_conn *c, void *ud)
{
    struct patch_tx *x = ud;
    const char *tid = auth_actor(x->req)->claims.tid, *venue = http_req_param(x->req, "venueId"),
               *id = http_req_param(x->req, "deviceId");
    json_decref(x->device);
    x->device = NULL;
    json_auto_t *cur = NULL;
    int r = device_take(c, tid, venue, id, &cur);
    if (r == -ENOENT) {
        x->outcome = OUT_MISSING;
        return 0;
    }
    if (r < 0)
        return r;
    http_etag_of_json(cur, x->etag);
    if (!http_etag_list_matches(x->if_match, x->etag, false)) {
        x->outcome = OUT_STALE;
        return 0;
    }
    json_auto_t *next = json_deep_copy(cur);
    json_object_update(next, x->patch);
    json_auto_t *changes = changes_of(cur, next);
    x->outcome = OUT_OK;
    if (json_object_size(changes) == 0) {
        /* the same representation again: nothing to write, the ETag stays */
        x->device = TAKE_PTR(cur);
        return 0;
    }
    /* a new group must be live, and stays so until this commits (device_group_lock) */
    const char *group = json_string_value(json_object_get(next, "groupId"));
    if (json_object_get(changes, "groupId") && group &&
        (r = device_group_lock(c, tid, venue, group)) <= 0) {
        if (r == 0)
            x->outcome = OUT_BAD_GROUP;
        return r;
    }
    json_auto_t *details = json_pack("{s:O}", "changes", changes);
    if ((r = device_write(c, x, next)) < 0 ||
        (r = dv_record(c, x->req, "DEVICE", id, "device.updated", "updated", details)) < 0)
        return r;
    return device_read(c, tid, venue, id, &x->device);
}

/* Any subset of the editable fields (If-Match required, §27.1). */
static int device_patch(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct patch_tx x = {.req = req, .if_match = http_req_header(req, "If-Match")};
    if (!x.if_match)
        return http_require_if_match(req, "\"\""); /* 428 */
    json_auto_t *patch = NULL;
    int r = patch_read(req, &patch);
    if (r < 0)
        return r;
    x.patch = patch;
    r = store_tx(app->store, 0, patch_tx, &x);
    if (r < 0 || x.outcome != OUT_OK) {
        json_decref(x.device);
        if (r < 0)
            return r;
        if (x.outcome == OUT_MISSING)
            return -ENOENT;
        if (x.outcome == OUT_BAD_GROUP)
            return adm_field_problem(req, 400, "INVALID_FIELD", "groupId",
                                     "must be a group of this venue, or null");
        return http_require_if_match(req, x.etag); /* 412 with currentEtag */
    }
    return http_reply_json_etag_status(req, 200, x.device);
}

/* ---- DELETE ------------------------------------------------------------------------------ */

static int delete_tx(struct store_conn *c, void *ud)
{
    struct http_request *req = ud;
    const char *tid = auth_actor(req)->claims.tid, *venue = http_req_param(req, "venueId"),
               *id = http_req_param(req, "deviceId");
    json_auto_t *cur = NULL;
    int r = device_take(c, tid, venue, id, &cur);
    if (r < 0)
        return r;
    char etag[HTTP_ETAG_LEN], now[TIMESTAMP_STR_LEN];
    http_etag_of_json(cur, etag);
    if ((r = dv_if_match_optional(req, etag)) < 0)
        return r;
    dv_next_updated(json_string_value(json_object_get(cur, "updatedAtUtc")), now);
    r = store_exec(c,
                   "UPDATE devices SET deleted_at_utc = $3, updated_at_utc = $3, "
                   "primary_group_id = NULL WHERE tenant_id = $1 AND device_id = $2",
                   (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(id), STORE_TEXT(now)}, 3,
                   NULL);
    if (r < 0)
        return r;
    /* §25.7: a removed device's tokens are revoked with it */
    int revoked = store_exec(
        c,
        "UPDATE device_auth_tokens SET status = 'REVOKED', "
        "revoked_at_utc = $3, updated_at_utc = $3 WHERE tenant_id = $1 AND "
        "device_id = $2 AND status = 'ACTIVE'",
        (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(id), STORE_TEXT(now)}, 3, NULL);
    if (revoked < 0)
        return revoked;
    /* nothing is left waiting for it: its open alerts are resolved, its queued commands
     * expire (a removed device never reports again) */
    r = store_exec(c,
                   "UPDATE device_alerts SET status = 'RESOLVED', resolved_at_utc = $3, "
                   "updated_at_utc = $3 WHERE tenant_id = $1 AND device_id = $2 AND "
                   "status = 'OPEN'",
                   (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(id), STORE_TEXT(now)}, 3,
                   NULL);
    if (r >= 0) /* no longer online: the offline sweep has nothing to look at */
        r = store_exec(c,
                       "UPDATE device_status SET is_online = 0, updated_at_utc = $3 WHERE "
                       "tenant_id = $1 AND device_id = $2",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(id), STORE_TEXT(now)}, 3,
                       NULL);
    if (r >= 0)
        r = store_exec(c,
                       "UPDATE device_commands SET status = 'EXPIRED', updated_at_utc = $3 "
                       "WHERE tenant_id = $1 AND device_id = $2 AND status IN ('PENDING', "
                       "'DELIVERED')",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(id), STORE_TEXT(now)}, 3,
                       NULL);
    if (r < 0)
        return r;
    json_auto_t *details =
        json_pack("{s:O,s:O,s:i}", "name", json_object_get(cur, "name"), "groupId",
                  json_object_get(cur, "groupId"), "tokensRevoked", revoked);
    r = dv_record(c, req, "DEVICE", id, "device.deleted", "deleted", details);
    return r < 0 ? r : 0;
}

/* Removes the device (soft), takes it out of its group and revokes its tokens; If-Match is
 * optional, and checked when sent. */
static int device_delete(struct http_request *req, void *ud)
{
    return dv_delete_run(req, ((struct app *)ud)->store, delete_tx);
}

/* ---- registration ------------------------------------------------------------------------ */

#define DEVICES "/v1/venues/{venueId}/devices"

/* clang-format off */
static const struct http_route routes[] = {
    {.method = HTTP_GET, .pattern = DEVICES, .audience = HTTP_USER, .min_role = AUTH_VENUE_VIEWER,
     .handler = device_list},
    {.method = HTTP_GET, .pattern = DEVICES "/{deviceId}", .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER, .handler = device_get},
    {.method = HTTP_PATCH, .pattern = DEVICES "/{deviceId}", DV_MANAGE, .flags = HTTP_BODY_JSON,
     .max_body = DEVICE_PATCH_MAX, .handler = device_patch},
    {.method = HTTP_DELETE, .pattern = DEVICES "/{deviceId}", DV_MANAGE,
     .max_body = DEVICE_DELETE_MAX, .handler = device_delete},
};
/* clang-format on */

int devices_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
