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
#include "tenancy/tenant.h"

/* ---- small shared helpers ---------------------------------------------------------------- */

json_t *adm_jstr(const char *s)
{
    return s ? jsonx_string_lossy(s) : json_null();
}

bool adm_same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

size_t adm_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* A string member of the body of at most @max_chars characters (jansson holds UTF-8 only). */
int adm_body_text(struct http_request *req, const char *name, bool required, size_t max_chars,
                  const char **ret)
{
    const char *s;
    int r = http_body_string(req, name, required, 4 * max_chars, &s);
    if (r < 0)
        return r;
    if (s && adm_utf8_chars(s) > max_chars)
        return adm_field_problem(req, 400, "INVALID_FIELD", name, "has an invalid length");
    *ret = s;
    return 0;
}

/* `?q=` as a LIKE pattern matching names that contain it ("%" when absent), with LIKE's own
 * characters escaped for ESCAPE '\'. Caller frees *ret. */
int adm_query_contains(struct http_request *req, char **ret)
{
    const char *q = http_req_query(req, "q");
    size_t n = q ? strlen(q) : 0;
    if (n > QUERY_MAX_BYTES || (q && !jsonx_utf8_valid(q)))
        return adm_field_problem(req, 400, "INVALID_QUERY", "q",
                                 "must be text of at most 200 bytes");
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
char *adm_page_next(const struct store_result *res, unsigned limit, size_t k0, size_t k1,
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

int adm_reply_page(struct http_request *req, json_t *items, char *cursor)
{
    int r = http_reply_json(req, 200, http_page_body(items, cursor));
    free(cursor);
    return r;
}

void adm_set_location(struct http_request *req, const char *tenant_id, const char *kind,
                      const char *id)
{
    char loc[160];
    snprintf(loc, sizeof(loc), "/v1/tenants/%s/%s/%s", tenant_id, kind, id);
    http_reply_header(req, "Location", loc);
}

/* ---- registration ------------------------------------------------------------------------ */

/* clang-format off */
static const struct http_route routes[] = {
    {.method = HTTP_POST, .pattern = "/v1/tenants/{tenantId}/venues", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .rate_class = "mutation", .flags = HTTP_BODY_JSON,
     .max_body = 8192, .handler = admin_venue_create},
    {.method = HTTP_GET, .pattern = "/v1/tenants/{tenantId}/venues", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .handler = admin_venue_list},
    {.method = HTTP_GET, .pattern = "/v1/tenants/{tenantId}/venues/{venueId}",
     .audience = HTTP_USER, .min_role = AUTH_TENANT_ADMIN, .handler = admin_venue_get},
    {.method = HTTP_PUT, .pattern = "/v1/tenants/{tenantId}/venues/{venueId}",
     .audience = HTTP_USER, .min_role = AUTH_TENANT_ADMIN, .rate_class = "mutation",
     .flags = HTTP_BODY_JSON, .max_body = 8192, .handler = admin_venue_update},
    {.method = HTTP_POST, .pattern = "/v1/tenants/{tenantId}/users", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .rate_class = "mutation", .flags = HTTP_BODY_JSON,
     .max_body = 8192, .handler = admin_user_create},
    {.method = HTTP_GET, .pattern = "/v1/tenants/{tenantId}/users", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .handler = admin_user_list},
    {.method = HTTP_GET, .pattern = "/v1/tenants/{tenantId}/users/{userId}",
     .audience = HTTP_USER, .min_role = AUTH_TENANT_ADMIN, .handler = admin_user_get},
    {.method = HTTP_PUT, .pattern = "/v1/tenants/{tenantId}/users/{userId}/venue-roles",
     .audience = HTTP_USER, .min_role = AUTH_TENANT_ADMIN, .rate_class = "mutation",
     .flags = HTTP_BODY_JSON, .max_body = 64 * 1024, .handler = admin_venue_roles_put},
    {.method = HTTP_GET, .pattern = "/v1/audit", .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN, .handler = admin_audit_list},
};
/* clang-format on */

int tenant_admin_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
