/* SPDX-License-Identifier: MIT */
/* admin-venues.c — the tenant-admin venue endpoints of spec §27.4 (design in admin.c). */
#include "tenancy/admin-internal.h"

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
#include "publishing/publishing.h"
#include "tenancy/tenant.h"

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
        r = adm_body_text(req, venue_fields[i].json, venue_fields[i].required,
                          venue_fields[i].max_chars, &in[i]);
    if (r < 0)
        return r;
    if (!tenant_timezone_valid(in[VF_TIMEZONE]))
        return adm_field_problem(req, 400, "INVALID_FIELD", "timezone",
                                 "is not an IANA time zone this server knows");
    const char *cc = in[VF_COUNTRY];
    if (cc && !(strlen(cc) == 2 && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z'))
        return adm_field_problem(req, 400, "INVALID_FIELD", "countryCode",
                                 "must be two upper-case letters (ISO 3166-1 alpha-2)");
    return 0;
}

static json_t *venue_json(const struct store_result *res, size_t i)
{
#define T(col) store_result_text(res, i, (col))
    json_t *address = json_object();
    for (size_t f = VF_TIMEZONE + 1; f < VF_N; f++)
        json_object_set_new(address, venue_fields[f].json, adm_jstr(T(VC_FIELDS + f)));
    return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:s,s:s}", "venueId", T(VC_ID), "tenantId",
                     T(VC_TENANT), "name", adm_jstr(T(VC_FIELDS + VF_NAME)), "timezone",
                     adm_jstr(T(VC_FIELDS + VF_TIMEZONE)), "address", address, "fallbackPlaylistId",
                     adm_jstr(T(VC_FALLBACK)), "createdAtUtc", T(VC_CREATED), "updatedAtUtc",
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
        json_pack("{s:o,s:s}", "name", adm_jstr(x->in[VF_NAME]), "timezone", x->in[VF_TIMEZONE]);
    struct audit_entry a = {.tenant_id = tid,
                            .actor_type = "USER",
                            .actor_id = x->actor->claims.sub,
                            .action = "venue.created",
                            .resource_type = "venue",
                            .resource_id = x->venue_id,
                            .venue_id = x->venue_id,
                            .details = details};
    struct change ch = {.tenant_id = tid,
                        .entity_type = "VENUE",
                        .entity_id = x->venue_id,
                        .venue_id = x->venue_id,
                        .action = "created",
                        .version = -1,
                        .actor_user_id = x->actor->claims.sub};
    if ((r = audit_write(c, x->req, &a)) < 0 || (r = changes_append(c, &ch, NULL)) < 0)
        return r;
    struct store_result *res;
    if ((r = venue_select(c, tid, x->venue_id, &res)) < 0)
        return r;
    x->venue = venue_json(res, 0);
    store_result_free(res);
    return 0;
}

int admin_venue_create(struct http_request *req, void *ud)
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
    adm_set_location(req, x.actor->claims.tid, "venues", id);
    return http_reply_json_etag_status(req, 201, x.venue);
}

int admin_venue_get(struct http_request *req, void *ud)
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
    return http_reply_json_etag_status(req, 200, v);
}

/* Venues of the tenant by name, then id; `?q=` keeps those whose name contains it (ASCII
 * letters compared without case, on both backends). */
int admin_venue_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    _cleanup_free_ char *like = NULL;
    int r = adm_query_contains(req, &like);
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
    char *cursor = adm_page_next(res, page.limit, VC_FIELDS + VF_NAME, VC_ID, &shown);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(items, venue_json(res, i));
    store_result_free(res);
    return adm_reply_page(req, items, cursor);
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
    http_etag_of_json(cur, x->etag);
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
        if (!adm_same(old, x->in[f]))
            json_object_set_new(
                changes, venue_fields[f].json,
                json_pack("{s:o,s:o}", "from", adm_jstr(old), "to", adm_jstr(x->in[f])));
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

    /* the time zone moves every schedule boundary: players must fetch a new manifest */
    if (tz_changed && (r = venue_epoch_bump(c, tid, x->venue_id)) < 0)
        return r;
    json_auto_t *details = json_pack("{s:O}", "changes", changes);
    struct audit_entry a = {.tenant_id = tid,
                            .actor_type = "USER",
                            .actor_id = x->actor->claims.sub,
                            .action = "venue.updated",
                            .resource_type = "venue",
                            .resource_id = x->venue_id,
                            .venue_id = x->venue_id,
                            .details = details};
    struct change ch = {.tenant_id = tid,
                        .entity_type = "VENUE",
                        .entity_id = x->venue_id,
                        .venue_id = x->venue_id,
                        .action = "updated",
                        .version = -1,
                        .actor_user_id = x->actor->claims.sub};
    if ((r = audit_write(c, x->req, &a)) < 0 || (r = changes_append(c, &ch, NULL)) < 0)
        return r;
    if ((r = venue_select(c, tid, x->venue_id, &res)) < 0)
        return r;
    x->venue = venue_json(res, 0);
    store_result_free(res);
    return 0;
}

/* Full replacement of the editable fields (§27.1: If-Match required). */
int admin_venue_update(struct http_request *req, void *ud)
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
    return http_reply_json_etag_status(req, 200, x.venue);
}
