/* SPDX-License-Identifier: MIT */
/* admin-audit.c — GET /v1/audit, the tenant's audit log (spec §25.9) (design in admin.c). */
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
        return adm_field_problem(req, 400, "INVALID_QUERY", name, "is empty or too long");
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
        return adm_field_problem(req, 400, "INVALID_QUERY", name,
                                 "must be an ISO 8601 UTC instant like 2026-01-31T09:30:00.000Z");
    ids_timestamp(ms, out);
    return 0;
}

static json_t *audit_json(const struct store_result *res, size_t i)
{
#define T(col) store_result_text(res, i, (col))
    json_t *details = T(10) ? json_loads(T(10), JSON_DECODE_ANY, NULL) : NULL;
    return json_pack("{s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:s}", "auditLogId", T(0),
                     "actorType", T(1), "actorId", adm_jstr(T(2)), "action", T(3), "outcome", T(4),
                     "resourceType", adm_jstr(T(5)), "resourceId", adm_jstr(T(6)), "venueId",
                     adm_jstr(T(7)), "requestId", adm_jstr(T(8)), "ip", adm_jstr(T(9)), "details",
                     details ? details : json_null(), "createdAtUtc", T(11));
#undef T
}

/* The token's tenant's audit entries, newest first; filters ?action ?actorId ?resourceType
 * (exact) and ?since (inclusive) / ?until (exclusive). */
int admin_audit_list(struct http_request *req, void *ud)
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
    char *cursor = adm_page_next(res, page.limit, 11, 0, &shown);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(items, audit_json(res, i));
    store_result_free(res);
    return adm_reply_page(req, items, cursor);
}
