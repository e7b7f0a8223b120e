/* SPDX-License-Identifier: MIT */
/* publishing.c — the change feed, venue epochs and publishing history (see publishing.h). */
#include "publishing/publishing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth/auth.h"
#include "clock.h"
#include "ids.h"
#include "jsonx.h"
#include "macro.h"
#include "tenancy/admin-internal.h"

int changes_append(struct store_conn *c, const struct change *ch, int64_t *ret_seq)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "INSERT INTO tenant_change_seqs (tenant_id, last_seq) VALUES ($1, 1) "
                       "ON CONFLICT (tenant_id) DO UPDATE SET "
                       "last_seq = tenant_change_seqs.last_seq + 1 RETURNING last_seq",
                       (struct store_param[]){STORE_TEXT(ch->tenant_id)}, 1, &res);
    if (r < 0)
        return r;
    int64_t seq = 0;
    r = store_result_rows(res) == 1 ? store_result_int(res, 0, 0, &seq) : -EIO;
    store_result_free(res);
    if (r < 0)
        return r;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    r = store_exec(c,
                   "INSERT INTO changes (tenant_id, seq, entity_type, entity_id, venue_id, action, "
                   "version, actor_user_id, created_at_utc) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                   (struct store_param[]){STORE_TEXT(ch->tenant_id), STORE_INT(seq),
                                          STORE_TEXT(ch->entity_type), STORE_TEXT(ch->entity_id),
                                          STORE_TEXT(ch->venue_id), STORE_TEXT(ch->action),
                                          ch->version >= 0 ? STORE_INT(ch->version) : STORE_NULL,
                                          STORE_TEXT(ch->actor_user_id), STORE_TEXT(now)},
                   9, NULL);
    if (r >= 0 && ret_seq)
        *ret_seq = seq;
    return r < 0 ? r : 0;
}

int venue_epoch_bump(struct store_conn *c, const char *tenant_id, const char *venue_id)
{
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    int r = store_exec(
        c,
        "INSERT INTO venue_epochs (venue_id, tenant_id, manifest_epoch, "
        "created_at_utc, updated_at_utc) VALUES ($1, $2, 1, $3, $3) "
        "ON CONFLICT (venue_id) DO UPDATE SET "
        "manifest_epoch = venue_epochs.manifest_epoch + 1, updated_at_utc = $3",
        (struct store_param[]){STORE_TEXT(venue_id), STORE_TEXT(tenant_id), STORE_TEXT(now)}, 3,
        NULL);
    return r < 0 ? r : 0;
}

int venue_epoch_bump_for_playlist(struct store_conn *c, const char *tenant_id,
                                  const char *playlist_id, unsigned *ret_n)
{
    struct store_result *res = NULL;
    int r =
        store_exec(c,
                   "SELECT s.venue_id FROM venue_schedule_sets s "
                   "JOIN schedule_published_slots p ON p.venue_id = s.venue_id AND "
                   "     p.published_version = s.published_version "
                   "JOIN venues v ON v.venue_id = s.venue_id AND v.deleted_at_utc IS NULL "
                   "WHERE s.tenant_id = $1 AND p.playlist_id = $2 "
                   "UNION "
                   "SELECT venue_id FROM venues WHERE tenant_id = $1 AND "
                   "fallback_playlist_id = $2 AND deleted_at_utc IS NULL "
                   "ORDER BY 1",
                   (struct store_param[]){STORE_TEXT(tenant_id), STORE_TEXT(playlist_id)}, 2, &res);
    if (r < 0)
        return r;
    size_t n = store_result_rows(res);
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = venue_epoch_bump(c, tenant_id, store_result_text(res, i, 0));
    store_result_free(res);
    if (ret_n)
        *ret_n = (unsigned)n;
    return r < 0 ? r : 0;
}

int publish_event_write(struct store_conn *c, const struct publish_event *e)
{
    char id[UUID_STR_LEN];
    ids_uuid(id);
    int r = store_exec(
        c,
        "INSERT INTO publish_events (publish_event_id, tenant_id, venue_id, type, entity_id, "
        "previous_version, published_version, source_version, published_by_user_id, "
        "published_at_utc, created_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        (struct store_param[]){STORE_TEXT(id), STORE_TEXT(e->tenant_id), STORE_TEXT(e->venue_id),
                               STORE_TEXT(e->type), STORE_TEXT(e->entity_id),
                               STORE_INT(e->previous_version), STORE_INT(e->published_version),
                               e->source_version >= 0 ? STORE_INT(e->source_version) : STORE_NULL,
                               STORE_TEXT(e->user_id), STORE_TEXT(e->now)},
        10, NULL);
    return r < 0 ? r : 0;
}

/* ---- GET /v1/changes --------------------------------------------------------------------- */

#define CHANGES_COLS                                                                               \
    "seq, entity_type, entity_id, venue_id, action, version, actor_user_id, created_at_utc"

static int changes_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    const char *since_s = http_req_query(req, "since");
    const char *limit_s = http_req_query(req, "limit");
    int64_t since = 0, limit = HTTP_PAGE_DEFAULT;
    if (since_s && parse_int64(since_s, 0, INT64_MAX, &since) < 0)
        return adm_field_problem(req, 400, "INVALID_CURSOR", "since",
                                 "must be a cursor this endpoint gave (a whole number)");
    if (limit_s && parse_int64(limit_s, 1, HTTP_PAGE_MAX, &limit) < 0)
        return adm_field_problem(req, 400, "INVALID_LIMIT", "limit",
                                 "must be a whole number from 1 to 200");
    /* a tenant role sees every change; anyone else the library's and their venues' */
    bool all = a->claims.tenant_roles != 0;
    struct store_result *res = NULL;
    int r = store_query(app->store,
                        all ? "SELECT " CHANGES_COLS " FROM changes WHERE tenant_id = $1 AND "
                              "seq > $2 AND $3 = $3 ORDER BY seq LIMIT $4"
                            : "SELECT " CHANGES_COLS " FROM changes WHERE tenant_id = $1 AND "
                              "seq > $2 AND (venue_id IS NULL OR venue_id IN (SELECT venue_id "
                              "FROM venue_user_roles WHERE tenant_id = $1 AND user_id = $3)) "
                              "ORDER BY seq LIMIT $4",
                        (struct store_param[]){STORE_TEXT(a->claims.tid), STORE_INT(since),
                                               STORE_TEXT(a->claims.sub), STORE_INT(limit + 1)},
                        4, &res);
    if (r < 0)
        return r;
    size_t n = store_result_rows(res);
    size_t shown = MIN(n, (size_t)limit);
    json_t *items = json_array();
    int64_t last = since;
    for (size_t i = 0; i < shown; i++) {
        int64_t seq = 0, version;
        store_result_int(res, i, 0, &seq);
        last = seq;
        json_t *it = json_pack(
            "{s:I,s:s,s:s,s:o,s:s}", "seq", (json_int_t)seq, "entityType",
            store_result_text(res, i, 1), "entityId", store_result_text(res, i, 2), "venueId",
            adm_jstr(store_result_text(res, i, 3)), "action", store_result_text(res, i, 4));
        json_object_set_new(it, "version",
                            store_result_int(res, i, 5, &version) == 0 ? json_integer(version)
                                                                       : json_null());
        json_object_set_new(it, "actorUserId", adm_jstr(store_result_text(res, i, 6)));
        json_object_set_new(it, "createdAtUtc", adm_jstr(store_result_text(res, i, 7)));
        json_array_append_new(items, it);
    }
    store_result_free(res);
    char cursor[24];
    snprintf(cursor, sizeof(cursor), "%lld", (long long)last);
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(
        req, 200,
        json_pack("{s:o,s:s,s:b}", "items", items, "nextCursor", cursor, "hasMore", n > shown));
}

/* ---- GET /v1/venues/{venueId}/publishes -------------------------------------------------- */

#define PUBLISH_COLS                                                                               \
    "publish_event_id, type, entity_id, venue_id, previous_version, published_version, "           \
    "source_version, published_by_user_id, published_at_utc"

static json_t *jint_or_null(const struct store_result *res, size_t i, size_t col)
{
    int64_t v;
    return store_result_int(res, i, col, &v) == 0 ? json_integer(v) : json_null();
}

static int publishes_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    struct http_page page;
    int r = http_page_parse(req, 2, &page);
    if (r < 0)
        return r;
    struct store_result *res = NULL;
    r = store_query(app->store,
                    "SELECT " PUBLISH_COLS " FROM publish_events WHERE tenant_id = $1 AND "
                    "(venue_id = $2 OR venue_id IS NULL) AND "
                    "(published_at_utc < $3 OR (published_at_utc = $3 AND publish_event_id < $4)) "
                    "ORDER BY published_at_utc DESC, publish_event_id DESC LIMIT $5",
                    (struct store_param[]){
                        STORE_TEXT(a->claims.tid), STORE_TEXT(http_req_param(req, "venueId")),
                        STORE_TEXT(page.n_after ? page.after[0] : TIME_MAX),
                        STORE_TEXT(page.n_after ? page.after[1] : "~"), STORE_INT(page.limit + 1)},
                    5, &res);
    http_page_release(&page);
    if (r < 0)
        return r;
    size_t shown;
    char *cursor = adm_page_next(res, page.limit, 8, 0, &shown);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++) {
#define T(col) adm_jstr(store_result_text(res, i, (col)))
        json_array_append_new(
            items,
            json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "publishEventId", T(0), "type", T(1),
                      "entityId", T(2), "venueId", T(3), "previousVersion", jint_or_null(res, i, 4),
                      "publishedVersion", jint_or_null(res, i, 5), "sourceVersion",
                      jint_or_null(res, i, 6), "publishedByUserId", T(7), "publishedAtUtc", T(8)));
#undef T
    }
    store_result_free(res);
    return adm_reply_page(req, items, cursor);
}

static const struct http_route routes[] = {
    {.method = HTTP_GET,
     .pattern = "/v1/changes",
     .audience = HTTP_USER,
     .min_role = AUTH_ANY,
     .handler = changes_list},
    {.method = HTTP_GET,
     .pattern = "/v1/venues/{venueId}/publishes",
     .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER,
     .handler = publishes_list},
};

int publishing_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
