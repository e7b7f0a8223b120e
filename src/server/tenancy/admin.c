/* SPDX-License-Identifier: MIT */
/*
 * admin.c — the tenant-admin endpoints (spec §27.4) and GET /v1/audit (§25.9).
 *
 * DESIGN
 * The router has already authenticated the caller, matched {tenantId} to the token's tenant,
 * checked that {venueId} is a live venue of that tenant, and required TENANT_ADMIN; every
 * query here still names the token's tenant (§25.6), so a handler that forgot nothing in the
 * router cannot leak another tenant's row either. Each change and its audit entry commit in
 * one store_tx, so the transaction functions only read and write the store and leave their
 * answer in a context; the handler replies once the transaction is over (store_tx may run a
 * function more than once, and a reply cannot be taken back).
 *
 * Venues have no version column, so a venue's ETag is the digest of its JSON representation
 * (which carries updatedAtUtc). PUT compares If-Match with that digest inside the transaction
 * and writes with a compare-and-set on updated_at_utc; a concurrent writer that got there
 * first makes the set miss, and the transaction runs again, now answering 412. updated_at_utc
 * always moves forward by at least a millisecond so that two writes never share it.
 *
 * Venue roles are replaced as a whole: the user's row is locked first (a no-op UPDATE, which
 * PostgreSQL turns into a row lock and SQLite's BEGIN IMMEDIATE makes unnecessary), so two
 * replacements of the same user's roles run one after the other instead of merging.
 */
#include "tenancy/admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "audit.h"
#include "auth/auth.h"
#include "clock.h"
#include "ids.h"
#include "jsonx.h"
#include "macro.h"
#include "tenancy/tenant.h"

#define NAME_MAX_CHARS  200
#define QUERY_MAX_BYTES 200
#define VENUE_ROLES_MAX 500 /* entries of one PUT …/venue-roles */
#define ROLE_LIST_MAX   8   /* entries of tenantRoles / capabilities */
#define TIME_MAX        "9999-12-31T23:59:59.999Z"

/* ---- small shared helpers ---------------------------------------------------------------- */

static json_t *jstr(const char *s)
{
    return s ? jsonx_string_lossy(s) : json_null();
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* A problem naming one field, shaped like http_body_string()'s. Returns -ECANCELED. */
static int field_problem(struct http_request *req, unsigned status, const char *code,
                         const char *field, const char *message)
{
    char detail[200];
    snprintf(detail, sizeof(detail), "%s %s.", field, message);
    return http_reply_problem(
        req, status, code, detail,
        json_pack("{s:[{s:s,s:s}]}", "errors", "field", field, "message", message));
}

/* A string member of the body of at most @max_chars characters (jansson holds UTF-8 only). */
static int body_text(struct http_request *req, const char *name, bool required, size_t max_chars,
                     const char **ret)
{
    const char *s;
    int r = http_body_string(req, name, required, 4 * max_chars, &s);
    if (r < 0)
        return r;
    if (s && utf8_chars(s) > max_chars)
        return field_problem(req, 400, "INVALID_FIELD", name, "has an invalid length");
    *ret = s;
    return 0;
}

/* `?q=` as a LIKE pattern matching names that contain it ("%" when absent), with LIKE's own
 * characters escaped for ESCAPE '\'. Caller frees *ret. */
static int query_contains(struct http_request *req, char **ret)
{
    const char *q = http_req_query(req, "q");
    size_t n = q ? strlen(q) : 0;
    if (n > QUERY_MAX_BYTES || (q && !jsonx_utf8_valid(q)))
        return field_problem(req, 400, "INVALID_QUERY", "q", "must be text of at most 200 bytes");
    char *p = xmalloc(2 * n + 3), *o = p;
    *o++ = '%';
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            *o++ = '\\';
        *o++ = q[i];
    }
    if (n)
        *o++ = '%';
    *o = '\0';
    *ret = p;
    return 0;
}

/* The rows of a page query that asked for limit + 1: how many to show, and the cursor to the
 * next page (sort keys in columns @k0, @k1 of the last row shown) when there is one. */
static char *page_next(const struct store_result *res, unsigned limit, size_t k0, size_t k1,
                       size_t *ret_shown)
{
    size_t n = store_result_rows(res);
    *ret_shown = n > limit ? limit : n;
    if (n <= limit)
        return NULL;
    const char *keys[] = {store_result_text(res, limit - 1, k0),
                          store_result_text(res, limit - 1, k1)};
    return http_cursor_encode(keys, 2);
}

static int reply_page(struct http_request *req, json_t *items, char *cursor)
{
    int r = http_reply_json(req, 200, http_page_body(items, cursor));
    free(cursor);
    return r;
}

static void set_location(struct http_request *req, const char *tenant_id, const char *kind,
                         const char *id)
{
    char loc[160];
    snprintf(loc, sizeof(loc), "/v1/tenants/%s/%s/%s", tenant_id, kind, id);
    http_reply_header(req, "Location", loc);
}

/* ---- venues ------------------------------------------------------------------------------ */

/* The editable fields, in the order of their columns in VENUE_COLS (from column 2). */
static const struct {
    const char *json;
    size_t max_chars;
    bool required;
} venue_fields[] = {
    {"name", NAME_MAX_CHARS, true}, /* name */
    {"timezone", 64, true},         /* timezone */
    {"addressLine1", 200, false},   /* address_line1 */
    {"addressLine2", 200, false},   /* address_line2 */
    {"city", 100, false},           /* city */
    {"region", 100, false},         /* region */
    {"postalCode", 20, false},      /* postal_code */
    {"countryCode", 2, false},      /* country_code */
};
enum { VF_NAME, VF_TIMEZONE, VF_COUNTRY = 7, VF_N = ARRAY_SIZE(venue_fields) };

#define VENUE_COLS                                                                                 \
    "venue_id, tenant_id, name, timezone, address_line1, address_line2, city, region, "            \
    "postal_code, country_code, fallback_playlist_id, created_at_utc, updated_at_utc"
enum { VC_ID, VC_TENANT, VC_FIELDS, VC_FALLBACK = VC_FIELDS + VF_N, VC_CREATED, VC_UPDATED };

/* Reads and checks a POST/PUT venue body into @in (borrowed from the request's JSON). */
static int venue_input_read(struct http_request *req, const char *in[VF_N])
{
    static const char *const allowed[] = {"name",         "timezone",    "addressLine1",
                                          "addressLine2", "city",        "region",
                                          "postalCode",   "countryCode", NULL};
    int r = http_body_allow(req, allowed);
    for (size_t i = 0; r >= 0 && i < VF_N; i++)
        r = body_text(req, venue_fields[i].json, venue_fields[i].required,
                      venue_fields[i].max_chars, &in[i]);
    if (r < 0)
        return r;
    if (!tenant_timezone_valid(in[VF_TIMEZONE]))
        return field_problem(req, 400, "INVALID_FIELD", "timezone",
                             "is not an IANA time zone this server knows");
    const char *cc = in[VF_COUNTRY];
    if (cc && !(strlen(cc) == 2 && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z'))
        return field_problem(req, 400, "INVALID_FIELD", "countryCode",
                             "must be two upper-case letters (ISO 3166-1 alpha-2)");
    return 0;
}

static json_t *venue_json(const struct store_result *res, size_t i)
{
#define T(col) store_result_text(res, i, (col))
    json_t *address = json_object();
    for (size_t f = VF_TIMEZONE + 1; f < VF_N; f++)
        json_object_set_new(address, venue_fields[f].json, jstr(T(VC_FIELDS + f)));
    return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:s,s:s}", "venueId", T(VC_ID), "tenantId",
                     T(VC_TENANT), "name", jstr(T(VC_FIELDS + VF_NAME)), "timezone",
                     jstr(T(VC_FIELDS + VF_TIMEZONE)), "address", address, "fallbackPlaylistId",
                     jstr(T(VC_FALLBACK)), "createdAtUtc", T(VC_CREATED), "updatedAtUtc",
                     T(VC_UPDATED));
#undef T
}

/* The venue's row; -ENOENT when the tenant has no such live venue. */
static int venue_select(struct store_conn *c, const char *tenant_id, const char *venue_id,
                        struct store_result **ret)
{
    struct store_result *res = NULL;
    int r =
        store_exec(c,
                   "SELECT " VENUE_COLS " FROM venues WHERE tenant_id = $1 AND venue_id = $2 "
                   "AND deleted_at_utc IS NULL",
                   (struct store_param[]){STORE_TEXT(tenant_id), STORE_TEXT(venue_id)}, 2, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    *ret = res;
    return 0;
}

/* The serialized venue and its ETag: a digest of exactly the bytes a GET sends. Caller frees. */
static char *venue_text(const json_t *v, char etag[HTTP_ETAG_LEN])
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        abort(); /* jansson fails only when out of memory */
    http_etag_of(text, strlen(text), etag);
    return text;
}

/* Replies @status with venue @v (stolen) and its ETag; a GET or HEAD whose If-None-Match has
 * that ETag gets 304. */
static int venue_reply(struct http_request *req, unsigned status, json_t *v)
{
    char etag[HTTP_ETAG_LEN];
    char *text = venue_text(v, etag);
    json_decref(v);
    size_t len = strlen(text);
    int r = 0;
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD)) {
        if (!http_not_modified(req, etag, len))
            r = http_reply_data(req, status, "application/json", text, len);
    } else {
        http_reply_header(req, "ETag", etag);
        r = http_reply_data(req, status, "application/json", text, len);
    }
    free(text);
    return r;
}

enum outcome { OUT_OK, OUT_MISSING, OUT_STALE };

struct venue_tx {
    struct app *app;
    struct http_request *req;
    const struct auth_actor *actor;
    const char *venue_id;
    const char *in[VF_N];
    const char *if_match; /* PUT */
    enum outcome outcome;
    char etag[HTTP_ETAG_LEN]; /* PUT: the current ETag when STALE */
    json_t *venue;            /* the venue as it is after the transaction */
};

static int venue_create_tx(struct store_conn *c, void *ud)
{
    struct venue_tx *x = ud;
    const char *tid = x->actor->claims.tid;
    json_decref(x->venue);
    x->venue = NULL;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    const struct store_param p[] = {STORE_TEXT(x->venue_id),
                                    STORE_TEXT(tid),
                                    STORE_TEXT(x->in[0]),
                                    STORE_TEXT(x->in[1]),
                                    STORE_TEXT(x->in[2]),
                                    STORE_TEXT(x->in[3]),
                                    STORE_TEXT(x->in[4]),
                                    STORE_TEXT(x->in[5]),
                                    STORE_TEXT(x->in[6]),
                                    STORE_TEXT(x->in[7]),
                                    STORE_TEXT(x->actor->claims.sub),
                                    STORE_TEXT(now)};
    int r = store_exec(c,
                       "INSERT INTO venues (venue_id, tenant_id, name, timezone, address_line1, "
                       "address_line2, city, region, postal_code, country_code, "
                       "created_by_user_id, created_at_utc, updated_at_utc) VALUES ($1, $2, $3, "
                       "$4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
                       p, ARRAY_SIZE(p), NULL);
    if (r < 0)
        return r;
    /* the manifest epoch starts at 1 (§26.9): players of a new venue have nothing older */
    r = store_exec(
        c,
        "INSERT INTO venue_epochs (venue_id, tenant_id, manifest_epoch, created_at_utc, "
        "updated_at_utc) VALUES ($1, $2, 1, $3, $3)",
        (struct store_param[]){STORE_TEXT(x->venue_id), STORE_TEXT(tid), STORE_TEXT(now)}, 3, NULL);
    if (r < 0)
        return r;
    json_auto_t *details =
        json_pack("{s:o,s:s}", "name", jstr(x->in[VF_NAME]), "timezone", x->in[VF_TIMEZONE]);
    struct audit_entry a = {.tenant_id = tid,
                            .actor_type = "USER",
                            .actor_id = x->actor->claims.sub,
                            .action = "venue.created",
                            .resource_type = "venue",
                            .resource_id = x->venue_id,
                            .venue_id = x->venue_id,
                            .details = details};
    if ((r = audit_write(c, x->req, &a)) < 0)
        return r;
    struct store_result *res;
    if ((r = venue_select(c, tid, x->venue_id, &res)) < 0)
        return r;
    x->venue = venue_json(res, 0);
    store_result_free(res);
    return 0;
}

static int venue_create(struct http_request *req, void *ud)
{
    struct venue_tx x = {.app = ud, .req = req, .actor = auth_actor(req)};
    int r = venue_input_read(req, x.in);
    if (r < 0)
        return r;
    char id[UUID_STR_LEN];
    ids_uuid(id);
    x.venue_id = id;
    r = store_tx(x.app->store, 0, venue_create_tx, &x);
    if (r < 0) {
        json_decref(x.venue);
        return r;
    }
    set_location(req, x.actor->claims.tid, "venues", id);
    return venue_reply(req, 201, x.venue);
}

static int venue_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    struct store_conn *c;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    struct store_result *res = NULL;
    r = venue_select(c, a->claims.tid, http_req_param(req, "venueId"), &res);
    store_release(c);
    if (r < 0)
        return r;
    json_t *v = venue_json(res, 0);
    store_result_free(res);
    return venue_reply(req, 200, v);
}

/* Venues of the tenant by name, then id; `?q=` keeps those whose name contains it (ASCII
 * letters compared without case, on both backends). */
static int venue_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    _cleanup_free_ char *like = NULL;
    int r = query_contains(req, &like);
    if (r < 0)
        return r;
    struct http_page page;
    if ((r = http_page_parse(req, 2, &page)) < 0)
        return r;
    const struct store_param p[] = {
        STORE_TEXT(a->claims.tid), STORE_TEXT(like), STORE_TEXT(page.n_after ? page.after[0] : ""),
        STORE_TEXT(page.n_after ? page.after[1] : ""), STORE_INT(page.limit + 1)};
    struct store_conn *c;
    struct store_result *res = NULL;
    if ((r = store_acquire(app->store, &c)) >= 0) {
        r = store_exec(c,
                       "SELECT " VENUE_COLS " FROM venues WHERE tenant_id = $1 AND "
                       "deleted_at_utc IS NULL AND lower(name) LIKE lower($2) ESCAPE '\\' AND "
                       "(name > $3 OR (name = $3 AND venue_id > $4)) ORDER BY name, venue_id "
                       "LIMIT $5",
                       p, ARRAY_SIZE(p), &res);
        store_release(c);
    }
    http_page_release(&page);
    if (r < 0)
        return r;
    size_t shown;
    char *cursor = page_next(res, page.limit, VC_FIELDS + VF_NAME, VC_ID, &shown);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(items, venue_json(res, i));
    store_result_free(res);
    return reply_page(req, items, cursor);
}

static int venue_update_tx(struct store_conn *c, void *ud)
{
    struct venue_tx *x = ud;
    const char *tid = x->actor->claims.tid;
    json_decref(x->venue);
    x->venue = NULL;
    struct store_result *res = NULL;
    int r = venue_select(c, tid, x->venue_id, &res);
    if (r == -ENOENT) {
        x->outcome = OUT_MISSING;
        return 0;
    }
    if (r < 0)
        return r;
    json_t *cur = venue_json(res, 0);
    free(venue_text(cur, x->etag));
    json_decref(cur);
    if (!http_etag_list_matches(x->if_match, x->etag, false)) {
        store_result_free(res);
        x->outcome = OUT_STALE;
        return 0;
    }
    x->outcome = OUT_OK;

    json_auto_t *changes = json_object();
    for (size_t f = 0; f < VF_N; f++) {
        const char *old = store_result_text(res, 0, VC_FIELDS + f);
        if (!same(old, x->in[f]))
            json_object_set_new(changes, venue_fields[f].json,
                                json_pack("{s:o,s:o}", "from", jstr(old), "to", jstr(x->in[f])));
    }
    bool tz_changed = json_object_get(changes, "timezone") != NULL;
    char old_updated[TIMESTAMP_STR_LEN], now[TIMESTAMP_STR_LEN];
    snprintf(old_updated, sizeof(old_updated), "%s", store_result_text(res, 0, VC_UPDATED));
    if (json_object_size(changes) == 0) {
        /* the same representation again: nothing to write, the ETag stays */
        x->venue = venue_json(res, 0);
        store_result_free(res);
        return 0;
    }
    store_result_free(res);

    int64_t now_ms = clock_now_ms(), old_ms;
    if (ids_timestamp_parse(old_updated, &old_ms) == 0 && now_ms <= old_ms)
        now_ms = old_ms + 1;
    ids_timestamp(now_ms, now);
    const struct store_param p[] = {
        STORE_TEXT(tid),      STORE_TEXT(x->venue_id), STORE_TEXT(x->in[0]),
        STORE_TEXT(x->in[1]), STORE_TEXT(x->in[2]),    STORE_TEXT(x->in[3]),
        STORE_TEXT(x->in[4]), STORE_TEXT(x->in[5]),    STORE_TEXT(x->in[6]),
        STORE_TEXT(x->in[7]), STORE_TEXT(now),         STORE_TEXT(old_updated)};
    r = store_exec(c,
                   "UPDATE venues SET name = $3, timezone = $4, address_line1 = $5, "
                   "address_line2 = $6, city = $7, region = $8, postal_code = $9, "
                   "country_code = $10, updated_at_utc = $11 WHERE tenant_id = $1 AND "
                   "venue_id = $2 AND updated_at_utc = $12 AND deleted_at_utc IS NULL",
                   p, ARRAY_SIZE(p), NULL);
    if (r < 0)
        return r;
    if (r == 0)
        return -EAGAIN; /* changed since we read it: run again, which answers 412 */

    if (tz_changed) {
        /* the time zone moves every schedule boundary: players must fetch a new manifest */
        const struct store_param e[] = {STORE_TEXT(tid), STORE_TEXT(x->venue_id), STORE_TEXT(now)};
        r = store_exec(c,
                       "UPDATE venue_epochs SET manifest_epoch = manifest_epoch + 1, "
                       "updated_at_utc = $3 WHERE tenant_id = $1 AND venue_id = $2",
                       e, 3, NULL);
        if (r == 0)
            r = store_exec(c,
                           "INSERT INTO venue_epochs (tenant_id, venue_id, manifest_epoch, "
                           "created_at_utc, updated_at_utc) VALUES ($1, $2, 1, $3, $3)",
                           e, 3, NULL);
        if (r < 0)
            return r;
    }
    json_auto_t *details = json_pack("{s:O}", "changes", changes);
    struct audit_entry a = {.tenant_id = tid,
                            .actor_type = "USER",
                            .actor_id = x->actor->claims.sub,
                            .action = "venue.updated",
                            .resource_type = "venue",
                            .resource_id = x->venue_id,
                            .venue_id = x->venue_id,
                            .details = details};
    if ((r = audit_write(c, x->req, &a)) < 0)
        return r;
    if ((r = venue_select(c, tid, x->venue_id, &res)) < 0)
        return r;
    x->venue = venue_json(res, 0);
    store_result_free(res);
    return 0;
}

/* Full replacement of the editable fields (§27.1: If-Match required). */
static int venue_update(struct http_request *req, void *ud)
{
    struct venue_tx x = {.app = ud,
                         .req = req,
                         .actor = auth_actor(req),
                         .venue_id = http_req_param(req, "venueId"),
                         .if_match = http_req_header(req, "If-Match")};
    if (!x.if_match)
        return http_require_if_match(req, "\"\""); /* 428 */
    int r = venue_input_read(req, x.in);
    if (r < 0)
        return r;
    r = store_tx(x.app->store, 0, venue_update_tx, &x);
    if (r < 0 || x.outcome != OUT_OK) {
        json_decref(x.venue);
        if (r < 0)
            return r;
        if (x.outcome == OUT_MISSING)
            return -ENOENT;
        return http_require_if_match(req, x.etag); /* 412 with currentEtag */
    }
    return venue_reply(req, 200, x.venue);
}

/* ---- users ------------------------------------------------------------------------------- */

#define USER_COLS                                                                                  \
    "user_id, tenant_id, email, display_name, status, created_at_utc, updated_at_utc, "            \
    "email_normalized"
enum { UC_ID, UC_TENANT, UC_EMAIL, UC_NAME, UC_STATUS, UC_CREATED, UC_UPDATED, UC_NORMALIZED };

/* A user's JSON without venue roles (never the password hash: USER_COLS does not read it). */
static json_t *user_json(const struct store_result *res, size_t i)
{
#define T(col) store_result_text(res, i, (col))
    return json_pack("{s:s,s:s,s:o,s:o,s:s,s:[],s:[],s:s,s:s}", "userId", T(UC_ID), "tenantId",
                     T(UC_TENANT), "email", jstr(T(UC_EMAIL)), "displayName", jstr(T(UC_NAME)),
                     "status", T(UC_STATUS), "tenantRoles", "capabilities", "createdAtUtc",
                     T(UC_CREATED), "updatedAtUtc", T(UC_UPDATED));
#undef T
}

/* Appends column 1 of each row to the array @member of the item (in @by_id) named by column 0. */
static void attach_values(json_t *by_id, const struct store_result *res, const char *member)
{
    for (size_t i = 0; i < store_result_rows(res); i++) {
        json_t *item = json_object_get(by_id, store_result_text(res, i, 0));
        if (item)
            json_array_append_new(json_object_get(item, member),
                                  jstr(store_result_text(res, i, 1)));
    }
}

/* The user's venue roles on live venues, as [{venueId, role}] ordered by venue id. */
static int venue_roles_load(struct store_conn *c, const char *tid, const char *uid, json_t **ret)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT r.venue_id, r.role FROM venue_user_roles r JOIN venues v ON "
                       "v.tenant_id = r.tenant_id AND v.venue_id = r.venue_id WHERE r.tenant_id "
                       "= $1 AND r.user_id = $2 AND v.deleted_at_utc IS NULL ORDER BY r.venue_id",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(uid)}, 2, &res);
    if (r < 0)
        return r;
    json_t *list = json_array();
    for (size_t i = 0; i < store_result_rows(res); i++)
        json_array_append_new(list, json_pack("{s:s,s:s}", "venueId", store_result_text(res, i, 0),
                                              "role", store_result_text(res, i, 1)));
    store_result_free(res);
    *ret = list;
    return 0;
}

/* The full user JSON (tenant roles, capabilities, venue roles); -ENOENT when the tenant has
 * no such live user. */
static int user_load(struct store_conn *c, const char *tid, const char *uid, json_t **ret)
{
    if (!uid || !ids_is_uuid(uid))
        return -ENOENT;
    const struct store_param p[] = {STORE_TEXT(tid), STORE_TEXT(uid)};
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT " USER_COLS " FROM users WHERE tenant_id = $1 AND user_id = $2 "
                       "AND deleted_at_utc IS NULL",
                       p, 2, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    json_auto_t *by_id = json_object();
    json_object_set_new(by_id, uid, user_json(res, 0));
    store_result_free(res);
    static const struct {
        const char *sql, *member;
    } lists[] = {
        {"SELECT user_id, role FROM tenant_user_roles WHERE tenant_id = $1 AND user_id = $2 "
         "ORDER BY role",
         "tenantRoles"},
        {"SELECT user_id, capability FROM user_capabilities WHERE tenant_id = $1 AND "
         "user_id = $2 ORDER BY capability",
         "capabilities"},
    };
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        if ((r = store_exec(c, lists[l].sql, p, 2, &res)) < 0)
            return r;
        attach_values(by_id, res, lists[l].member);
        store_result_free(res);
    }
    json_t *vroles;
    if ((r = venue_roles_load(c, tid, uid, &vroles)) < 0)
        return r;
    json_t *user = json_incref(json_object_get(by_id, uid));
    json_object_set_new(user, "venueRoles", vroles);
    *ret = user;
    return 0;
}

/* A list of distinct names from a fixed set (tenantRoles, capabilities) as bits; absent = 0. */
static int body_flags(struct http_request *req, const char *name, unsigned (*parse)(const char *),
                      unsigned *ret)
{
    json_t *v = json_object_get(http_req_json(req), name);
    unsigned bits = 0;
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) > ROLE_LIST_MAX)
            return field_problem(req, 400, "INVALID_FIELD", name, "must be an array of names");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            unsigned bit = json_is_string(e) ? parse(json_string_value(e)) : 0;
            if (!bit)
                return field_problem(req, 400, "INVALID_FIELD", name, "holds an unknown name");
            if (bits & bit)
                return field_problem(req, 400, "INVALID_FIELD", name, "lists a name twice");
            bits |= bit;
        }
    }
    *ret = bits;
    return 0;
}

static json_t *flag_names(unsigned bits, const char *(*name)(unsigned))
{
    json_t *a = json_array();
    for (unsigned bit = 1; bit && bit <= bits; bit <<= 1)
        if (bits & bit)
            json_array_append_new(a, json_string(name(bit)));
    return a;
}

struct role_entry {
    const char *venue_id; /* borrowed from the request body */
    enum venue_role role;
    size_t index; /* in the request's list, for errors[] */
};

struct user_tx {
    struct http_request *req;
    const struct auth_actor *actor;
    const char *user_id;
    /* create */
    const char *email, *display_name, *hash;
    unsigned tenant_roles, caps;
    /* venue roles: the validated entries, sorted by venue id */
    size_t n_roles;
    struct role_entry *roles;
    json_t *errors; /* entries naming venues the tenant does not have */
    /* result */
    json_t *user;
};

static int role_row_insert(struct store_conn *c, const char *sql, const char *tid, const char *uid,
                           const char *value, const char *by, const char *now)
{
    char id[UUID_STR_LEN];
    ids_uuid(id);
    const struct store_param p[] = {STORE_TEXT(id),    STORE_TEXT(tid), STORE_TEXT(uid),
                                    STORE_TEXT(value), STORE_TEXT(by),  STORE_TEXT(now)};
    int r = store_exec(c, sql, p, ARRAY_SIZE(p), NULL);
    return r < 0 ? r : 0;
}

static int user_create_tx(struct store_conn *c, void *ud)
{
    struct user_tx *x = ud;
    const char *tid = x->actor->claims.tid, *by = x->actor->claims.sub;
    json_decref(x->user);
    x->user = NULL;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    _cleanup_free_ char *normalized = tenant_email_normalize(x->email);
    struct store_result *res = NULL;
    int r = store_exec(c, "SELECT 1 FROM users WHERE tenant_id = $1 AND email_normalized = $2",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(normalized)}, 2, &res);
    if (r < 0)
        return r;
    size_t taken = store_result_rows(res);
    store_result_free(res);
    if (taken)
        return -EEXIST; /* also what the unique index says to a concurrent twin */
    const struct store_param p[] = {STORE_TEXT(x->user_id),
                                    STORE_TEXT(tid),
                                    STORE_TEXT(x->email),
                                    STORE_TEXT(normalized),
                                    STORE_TEXT(x->display_name),
                                    STORE_TEXT(x->hash),
                                    STORE_TEXT(by),
                                    STORE_TEXT(now)};
    r = store_exec(c,
                   "INSERT INTO users (user_id, tenant_id, email, email_normalized, display_name, "
                   "status, password_hash, created_by_user_id, created_at_utc, updated_at_utc) "
                   "VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $7, $8, $8)",
                   p, ARRAY_SIZE(p), NULL);
    if (r < 0)
        return r;
    for (unsigned bit = 1; bit && bit <= x->tenant_roles; bit <<= 1)
        if ((x->tenant_roles & bit) &&
            (r = role_row_insert(c,
                                 "INSERT INTO tenant_user_roles (tenant_user_role_id, tenant_id, "
                                 "user_id, role, created_by_user_id, created_at_utc, "
                                 "updated_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                                 tid, x->user_id, token_tenant_role_name(bit), by, now)) < 0)
            return r;
    for (unsigned bit = 1; bit && bit <= x->caps; bit <<= 1)
        if ((x->caps & bit) &&
            (r = role_row_insert(c,
                                 "INSERT INTO user_capabilities (user_capability_id, tenant_id, "
                                 "user_id, capability, created_by_user_id, created_at_utc, "
                                 "updated_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                                 tid, x->user_id, token_capability_name(bit), by, now)) < 0)
            return r;
    json_auto_t *details = json_pack("{s:o,s:o,s:o}", "email", jstr(x->email), "tenantRoles",
                                     flag_names(x->tenant_roles, token_tenant_role_name),
                                     "capabilities", flag_names(x->caps, token_capability_name));
    struct audit_entry a = {.tenant_id = tid,
                            .actor_type = "USER",
                            .actor_id = by,
                            .action = "user.created",
                            .resource_type = "user",
                            .resource_id = x->user_id,
                            .details = details};
    if ((r = audit_write(c, x->req, &a)) < 0)
        return r;
    return user_load(c, tid, x->user_id, &x->user);
}

static int user_create(struct http_request *req, void *ud)
{
    struct app *app = ud;
    static const char *const allowed[] = {"email",       "displayName",  "password",
                                          "tenantRoles", "capabilities", NULL};
    struct user_tx x = {.req = req, .actor = auth_actor(req)};
    const char *password;
    int r;
    if ((r = http_body_allow(req, allowed)) < 0 ||
        (r = http_body_string(req, "email", true, TENANT_EMAIL_MAX, &x.email)) < 0 ||
        (r = body_text(req, "displayName", true, NAME_MAX_CHARS, &x.display_name)) < 0 ||
        (r = http_body_string(req, "password", true, 4 * TENANT_PASSWORD_MAX, &password)) < 0 ||
        (r = body_flags(req, "tenantRoles", token_tenant_role_parse, &x.tenant_roles)) < 0 ||
        (r = body_flags(req, "capabilities", token_capability_parse, &x.caps)) < 0)
        return r;
    if (!tenant_email_valid(x.email))
        return field_problem(req, 400, "INVALID_FIELD", "email", "is not a valid address");
    const char *weak = tenant_password_problem(password);
    if (weak)
        return http_reply_problem(
            req, 400, "INVALID_FIELD", "The password is too weak.",
            json_pack("{s:[{s:s,s:s}]}", "errors", "field", "password", "message", weak));
    char hash[TENANT_PASSWORD_HASH_LEN], id[UUID_STR_LEN];
    if ((r = tenant_password_hash(password, hash)) < 0)
        return r;
    ids_uuid(id);
    x.user_id = id;
    x.hash = hash;
    r = store_tx(app->store, 0, user_create_tx, &x);
    explicit_bzero(hash, sizeof(hash));
    if (r == -EEXIST)
        return field_problem(req, 409, "EMAIL_TAKEN", "email",
                             "belongs to another user of this tenant");
    if (r < 0) {
        json_decref(x.user);
        return r;
    }
    set_location(req, x.actor->claims.tid, "users", id);
    return http_reply_json(req, 201, x.user);
}

static int user_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct store_conn *c;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    json_t *user = NULL;
    r = user_load(c, auth_actor(req)->claims.tid, http_req_param(req, "userId"), &user);
    store_release(c);
    if (r < 0)
        return r;
    return http_reply_json(req, 200, user);
}

/* Users of the tenant by email; `?q=` keeps those whose email or display name contains it.
 * Items carry tenant roles and capabilities; venue roles only on GET …/users/{userId}. */
static int user_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const char *tid = auth_actor(req)->claims.tid;
    _cleanup_free_ char *like = NULL;
    int r = query_contains(req, &like);
    if (r < 0)
        return r;
    struct http_page page;
    if ((r = http_page_parse(req, 2, &page)) < 0)
        return r;
    const struct store_param p[] = {
        STORE_TEXT(tid), STORE_TEXT(like), STORE_TEXT(page.n_after ? page.after[0] : ""),
        STORE_TEXT(page.n_after ? page.after[1] : ""), STORE_INT(page.limit + 1)};
    struct store_conn *c;
    if ((r = store_acquire(app->store, &c)) < 0) {
        http_page_release(&page);
        return r;
    }
    struct store_result *res = NULL, *roles = NULL, *caps = NULL;
    r = store_exec(c,
                   "SELECT " USER_COLS " FROM users WHERE tenant_id = $1 AND deleted_at_utc IS "
                   "NULL AND (lower(email) LIKE lower($2) ESCAPE '\\' OR lower(display_name) "
                   "LIKE lower($2) ESCAPE '\\') AND (email_normalized > $3 OR (email_normalized "
                   "= $3 AND user_id > $4)) ORDER BY email_normalized, user_id LIMIT $5",
                   p, ARRAY_SIZE(p), &res);
    http_page_release(&page);
    size_t shown = 0;
    char *cursor = r < 0 ? NULL : page_next(res, page.limit, UC_NORMALIZED, UC_ID, &shown);
    if (r >= 0 && shown > 0) {
        /* the roles of every user whose email lies in the page's range (emails are unique in
         * a tenant): two fixed statements instead of two per user */
        const struct store_param q[] = {
            STORE_TEXT(tid), STORE_TEXT(store_result_text(res, 0, UC_NORMALIZED)),
            STORE_TEXT(store_result_text(res, shown - 1, UC_NORMALIZED))};
        r = store_exec(c,
                       "SELECT r.user_id, r.role FROM tenant_user_roles r JOIN users u ON "
                       "u.tenant_id = r.tenant_id AND u.user_id = r.user_id WHERE r.tenant_id = "
                       "$1 AND u.email_normalized >= $2 AND u.email_normalized <= $3 ORDER BY "
                       "r.role",
                       q, 3, &roles);
        if (r >= 0)
            r = store_exec(c,
                           "SELECT r.user_id, r.capability FROM user_capabilities r JOIN users u "
                           "ON u.tenant_id = r.tenant_id AND u.user_id = r.user_id WHERE "
                           "r.tenant_id = $1 AND u.email_normalized >= $2 AND "
                           "u.email_normalized <= $3 ORDER BY r.capability",
                           q, 3, &caps);
    }
    store_release(c);
    if (r < 0) {
        free(cursor);
        store_result_free(res);
        store_result_free(roles);
        return r;
    }
    json_t *items = json_array();
    json_auto_t *by_id = json_object();
    for (size_t i = 0; i < shown; i++) {
        json_t *u = user_json(res, i);
        json_array_append_new(items, u);
        json_object_set(by_id, store_result_text(res, i, UC_ID), u);
    }
    if (roles)
        attach_values(by_id, roles, "tenantRoles");
    if (caps)
        attach_values(by_id, caps, "capabilities");
    store_result_free(res);
    store_result_free(roles);
    store_result_free(caps);
    return reply_page(req, items, cursor);
}

/* ---- venue roles ------------------------------------------------------------------------- */

/* Appends {field: "venueRoles[i].member", message} to @errors. */
static void entry_problem(json_t *errors, size_t i, const char *member, const char *message)
{
    char field[64];
    snprintf(field, sizeof(field), "venueRoles[%zu]%s%s", i, member ? "." : "",
             member ? member : "");
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "message", message));
}

/* Reads {venueRoles: [{venueId, role}]} into @x, sorted by venue id. 400 for a malformed list
 * or the same venue twice (each bad entry named in errors[]). */
static int venue_roles_read(struct http_request *req, struct user_tx *x)
{
    static const char *const allowed[] = {"venueRoles", NULL};
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    json_t *list = json_object_get(http_req_json(req), "venueRoles");
    if (!list || json_is_null(list))
        return field_problem(req, 400, "FIELD_REQUIRED", "venueRoles", "is required");
    if (!json_is_array(list) || json_array_size(list) > VENUE_ROLES_MAX)
        return field_problem(req, 400, "INVALID_FIELD", "venueRoles",
                             "must be an array of at most 500 {venueId, role} objects");
    size_t n = json_array_size(list);
    x->roles = xcalloc(n + 1, sizeof(*x->roles));
    json_auto_t *errors = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i), *vid = json_object_get(e, "venueId");
        json_t *role_v = json_object_get(e, "role");
        enum venue_role role = token_venue_role_parse(json_string_value(role_v));
        if (!json_is_object(e) || json_object_size(e) != 2 || !vid || !role_v) {
            entry_problem(errors, i, NULL, "must be an object with exactly venueId and role");
            continue;
        }
        if (!json_is_string(vid) || json_string_length(vid) == 0 || json_string_length(vid) > 64 ||
            strlen(json_string_value(vid)) != json_string_length(vid)) {
            entry_problem(errors, i, "venueId", "must be a venue id");
            continue;
        }
        if (role == VROLE_NONE) {
            entry_problem(errors, i, "role", "must be VENUE_MANAGER, VENUE_EDITOR or VENUE_VIEWER");
            continue;
        }
        const char *id = json_string_value(vid);
        bool dup = false;
        for (size_t j = 0; j < x->n_roles && !dup; j++)
            dup = !strcmp(x->roles[j].venue_id, id);
        if (dup) {
            entry_problem(errors, i, "venueId", "names a venue listed before");
            continue;
        }
        /* insertion sort by venue id: at most 500 entries */
        size_t k = x->n_roles++;
        for (; k > 0 && strcmp(x->roles[k - 1].venue_id, id) > 0; k--)
            x->roles[k] = x->roles[k - 1];
        x->roles[k] = (struct role_entry){.venue_id = id, .role = role, .index = i};
    }
    if (json_array_size(errors) > 0)
        return http_reply_problem(req, 400, "INVALID_FIELD",
                                  "Some venueRoles entries are not valid.",
                                  json_pack("{s:O}", "errors", errors));
    return 0;
}

static int venue_roles_tx(struct store_conn *c, void *ud)
{
    struct user_tx *x = ud;
    const char *tid = x->actor->claims.tid;
    json_decref(x->user);
    x->user = NULL;
    json_array_clear(x->errors);
    const struct store_param who[] = {STORE_TEXT(tid), STORE_TEXT(x->user_id)};
    /* a write that changes nothing: PostgreSQL locks the user's row until the commit */
    int r = store_exec(c,
                       "UPDATE users SET updated_at_utc = updated_at_utc WHERE tenant_id = $1 AND "
                       "user_id = $2 AND deleted_at_utc IS NULL",
                       who, 2, NULL);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    for (size_t i = 0; i < x->n_roles; i++) {
        const struct role_entry *e = &x->roles[i];
        struct store_result *res = NULL;
        bool found = false;
        if (ids_is_uuid(e->venue_id)) {
            r = store_exec(c,
                           "SELECT 1 FROM venues WHERE tenant_id = $1 AND venue_id = $2 AND "
                           "deleted_at_utc IS NULL",
                           (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(e->venue_id)}, 2,
                           &res);
            if (r < 0)
                return r;
            found = store_result_rows(res) == 1;
            store_result_free(res);
        }
        if (!found) {
            entry_problem(x->errors, e->index, "venueId", "is not a venue of this tenant");
            json_object_set_new(json_array_get(x->errors, json_array_size(x->errors) - 1),
                                "venueId", jsonx_string_lossy(e->venue_id));
        }
    }
    if (json_array_size(x->errors) > 0)
        return -EDOM;

    json_auto_t *before = NULL, *after = json_array();
    struct store_result *res = NULL;
    r = store_exec(c,
                   "SELECT venue_id, role FROM venue_user_roles WHERE tenant_id = $1 AND "
                   "user_id = $2 ORDER BY venue_id",
                   who, 2, &res);
    if (r < 0)
        return r;
    before = json_array();
    for (size_t i = 0; i < store_result_rows(res); i++)
        json_array_append_new(before,
                              json_pack("{s:s,s:s}", "venueId", store_result_text(res, i, 0),
                                        "role", store_result_text(res, i, 1)));
    store_result_free(res);
    for (size_t i = 0; i < x->n_roles; i++)
        json_array_append_new(after, json_pack("{s:s,s:s}", "venueId", x->roles[i].venue_id, "role",
                                               token_venue_role_name(x->roles[i].role)));
    if (!json_equal(before, after)) {
        char now[TIMESTAMP_STR_LEN];
        ids_timestamp(clock_now_ms(), now);
        r = store_exec(c, "DELETE FROM venue_user_roles WHERE tenant_id = $1 AND user_id = $2", who,
                       2, NULL);
        for (size_t i = 0; r >= 0 && i < x->n_roles; i++) {
            char id[UUID_STR_LEN];
            ids_uuid(id);
            const struct store_param p[] = {STORE_TEXT(id),
                                            STORE_TEXT(tid),
                                            STORE_TEXT(x->roles[i].venue_id),
                                            STORE_TEXT(x->user_id),
                                            STORE_TEXT(token_venue_role_name(x->roles[i].role)),
                                            STORE_TEXT(x->actor->claims.sub),
                                            STORE_TEXT(now)};
            r = store_exec(c,
                           "INSERT INTO venue_user_roles (venue_user_role_id, tenant_id, "
                           "venue_id, user_id, role, created_by_user_id, created_at_utc, "
                           "updated_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                           p, ARRAY_SIZE(p), NULL);
        }
        if (r >= 0)
            r = store_exec(c,
                           "UPDATE users SET updated_at_utc = $3 WHERE tenant_id = $1 AND "
                           "user_id = $2",
                           (struct store_param[]){who[0], who[1], STORE_TEXT(now)}, 3, NULL);
        if (r < 0)
            return r;
        json_auto_t *details = json_pack("{s:O,s:O}", "before", before, "after", after);
        struct audit_entry a = {.tenant_id = tid,
                                .actor_type = "USER",
                                .actor_id = x->actor->claims.sub,
                                .action = "user.venue_roles_changed",
                                .resource_type = "user",
                                .resource_id = x->user_id,
                                .details = details};
        if ((r = audit_write(c, x->req, &a)) < 0)
            return r;
    }
    return user_load(c, tid, x->user_id, &x->user);
}

/* Replaces every venue role of a user (a role change takes effect at the user's next token). */
static int venue_roles_put(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct user_tx x = {
        .req = req, .actor = auth_actor(req), .user_id = http_req_param(req, "userId")};
    if (!x.user_id || !ids_is_uuid(x.user_id))
        return -ENOENT;
    int r = venue_roles_read(req, &x);
    if (r >= 0) {
        x.errors = json_array();
        r = store_tx(app->store, 0, venue_roles_tx, &x);
        if (r == -EDOM)
            r = http_reply_problem(req, 422, "INVALID_REFERENCE",
                                   "Some venueRoles entries name venues this tenant does not have.",
                                   json_pack("{s:O}", "errors", x.errors));
        else if (r >= 0)
            r = http_reply_json(req, 200, TAKE_PTR(x.user));
    }
    json_decref(x.user);
    json_decref(x.errors);
    free(x.roles);
    return r;
}

/* ---- audit log --------------------------------------------------------------------------- */

/* A WHERE clause grown one condition at a time, with its parameters ($1 = the tenant). Only
 * our own fixed text goes into it. */
struct where {
    char sql[768];
    size_t len;
    struct store_param p[12];
    size_t n;
};

/* Adds a parameter; returns its $ number. */
static size_t where_param(struct where *w, struct store_param v)
{
    if (w->n >= ARRAY_SIZE(w->p))
        abort(); /* a programming error: the conditions below fit */
    w->p[w->n++] = v;
    return w->n;
}

_printf_(2, 3) static void where_cat(struct where *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(w->sql + w->len, sizeof(w->sql) - w->len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof(w->sql) - w->len)
        abort(); /* a programming error: the conditions below fit */
    w->len += (size_t)k;
}

/* An optional `?name=` of at most @max bytes. */
static int query_opt(struct http_request *req, const char *name, size_t max, const char **ret)
{
    const char *v = http_req_query(req, name);
    if (v && (!*v || strlen(v) > max || !jsonx_utf8_valid(v)))
        return field_problem(req, 400, "INVALID_QUERY", name, "is empty or too long");
    *ret = v;
    return 0;
}

/* An optional `?name=` instant (ISO 8601 UTC), rewritten in the stored form. */
static int query_time(struct http_request *req, const char *name, char out[TIMESTAMP_STR_LEN],
                      bool *ret_set)
{
    const char *v = http_req_query(req, name);
    int64_t ms;
    *ret_set = v != NULL;
    if (!v)
        return 0;
    if (ids_timestamp_parse(v, &ms) < 0)
        return field_problem(req, 400, "INVALID_QUERY", name,
                             "must be an ISO 8601 UTC instant like 2026-01-31T09:30:00.000Z");
    ids_timestamp(ms, out);
    return 0;
}

static json_t *audit_json(const struct store_result *res, size_t i)
{
#define T(col) store_result_text(res, i, (col))
    json_t *details = T(10) ? json_loads(T(10), JSON_DECODE_ANY, NULL) : NULL;
    return json_pack("{s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:s}", "auditLogId", T(0),
                     "actorType", T(1), "actorId", jstr(T(2)), "action", T(3), "outcome", T(4),
                     "resourceType", jstr(T(5)), "resourceId", jstr(T(6)), "venueId", jstr(T(7)),
                     "requestId", jstr(T(8)), "ip", jstr(T(9)), "details",
                     details ? details : json_null(), "createdAtUtc", T(11));
#undef T
}

/* The token's tenant's audit entries, newest first; filters ?action ?actorId ?resourceType
 * (exact) and ?since (inclusive) / ?until (exclusive). */
static int audit_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const char *action, *actor, *rtype;
    char since[TIMESTAMP_STR_LEN], until[TIMESTAMP_STR_LEN];
    bool has_since, has_until;
    int r;
    if ((r = query_opt(req, "action", 100, &action)) < 0 ||
        (r = query_opt(req, "actorId", 64, &actor)) < 0 ||
        (r = query_opt(req, "resourceType", 64, &rtype)) < 0 ||
        (r = query_time(req, "since", since, &has_since)) < 0 ||
        (r = query_time(req, "until", until, &has_until)) < 0)
        return r;
    struct http_page page;
    if ((r = http_page_parse(req, 2, &page)) < 0)
        return r;
    struct where w = {.n = 0};
    where_param(&w, STORE_TEXT(auth_actor(req)->claims.tid));
    if (action)
        where_cat(&w, " AND action = $%zu", where_param(&w, STORE_TEXT(action)));
    if (actor)
        where_cat(&w, " AND actor_id = $%zu", where_param(&w, STORE_TEXT(actor)));
    if (rtype)
        where_cat(&w, " AND resource_type = $%zu", where_param(&w, STORE_TEXT(rtype)));
    if (has_since)
        where_cat(&w, " AND created_at_utc >= $%zu", where_param(&w, STORE_TEXT(since)));
    if (has_until)
        where_cat(&w, " AND created_at_utc < $%zu", where_param(&w, STORE_TEXT(until)));
    size_t at = where_param(&w, STORE_TEXT(page.n_after ? page.after[0] : TIME_MAX));
    size_t id = where_param(&w, STORE_TEXT(page.n_after ? page.after[1] : ""));
    where_cat(&w, " AND (created_at_utc < $%zu OR (created_at_utc = $%zu AND audit_log_id < $%zu))",
              at, at, id);
    size_t lim = where_param(&w, STORE_INT(page.limit + 1));
    _cleanup_free_ char *sql = xasprintf(
        "SELECT audit_log_id, actor_type, actor_id, action, outcome, resource_type, resource_id, "
        "venue_id, request_id, ip, details_json, created_at_utc FROM audit_log WHERE tenant_id = "
        "$1%s ORDER BY created_at_utc DESC, audit_log_id DESC LIMIT $%zu",
        w.sql, lim);

    struct store_conn *c;
    struct store_result *res = NULL;
    if ((r = store_acquire(app->store, &c)) >= 0) {
        r = store_exec(c, sql, w.p, w.n, &res);
        store_release(c);
    }
    http_page_release(&page);
    if (r < 0)
        return r;
    size_t shown;
    char *cursor = page_next(res, page.limit, 11, 0, &shown);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(items, audit_json(res, i));
    store_result_free(res);
    return reply_page(req, items, cursor);
}

/* ---- registration ------------------------------------------------------------------------ */

/* clang-format off */
static const struct http_route routes[] = {
    {.method = HTTP_POST, .pattern = "/v1/tenants/{tenantId}/venues", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .rate_class = "mutation", .flags = HTTP_BODY_JSON,
     .max_body = 8192, .handler = venue_create},
    {.method = HTTP_GET, .pattern = "/v1/tenants/{tenantId}/venues", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .handler = venue_list},
    {.method = HTTP_GET, .pattern = "/v1/tenants/{tenantId}/venues/{venueId}",
     .audience = HTTP_USER, .min_role = AUTH_TENANT_ADMIN, .handler = venue_get},
    {.method = HTTP_PUT, .pattern = "/v1/tenants/{tenantId}/venues/{venueId}",
     .audience = HTTP_USER, .min_role = AUTH_TENANT_ADMIN, .rate_class = "mutation",
     .flags = HTTP_BODY_JSON, .max_body = 8192, .handler = venue_update},
    {.method = HTTP_POST, .pattern = "/v1/tenants/{tenantId}/users", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .rate_class = "mutation", .flags = HTTP_BODY_JSON,
     .max_body = 8192, .handler = user_create},
    {.method = HTTP_GET, .pattern = "/v1/tenants/{tenantId}/users", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .handler = user_list},
    {.method = HTTP_GET, .pattern = "/v1/tenants/{tenantId}/users/{userId}",
     .audience = HTTP_USER, .min_role = AUTH_TENANT_ADMIN, .handler = user_get},
    {.method = HTTP_PUT, .pattern = "/v1/tenants/{tenantId}/users/{userId}/venue-roles",
     .audience = HTTP_USER, .min_role = AUTH_TENANT_ADMIN, .rate_class = "mutation",
     .flags = HTTP_BODY_JSON, .max_body = 64 * 1024, .handler = venue_roles_put},
    {.method = HTTP_GET, .pattern = "/v1/audit", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .handler = audit_list},
};
/* clang-format on */

int tenant_admin_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
