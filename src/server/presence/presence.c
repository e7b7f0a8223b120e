/* SPDX-License-Identifier: MIT */
/*
 * presence.c — who is editing what (spec §16, §26.12): an editor announces itself on a
 * playlist or a venue's schedule set with PUT …/presence (again at least every 60 s, or it
 * expires), leaves with DELETE, and GET lists the editors there now. One row per editor and
 * resource, refreshed in place; expired rows never show (reads filter on the clock) and are
 * removed every minute by the content jobs thread (the one clock-driven thread so far).
 *
 * A schedule set's presence is keyed by its venue id (the set itself is created lazily). A
 * playlist's presence follows the playlist's visibility: the library route sees library
 * playlists, a venue route the library's and its own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "auth/auth.h"
#include "clock.h"
#include "ids.h"
#include "macro.h"
#include "presence/presence.h"
#include "ticker.h"
#include "store/store.h"
#include "tenancy/admin-internal.h"

#define PRESENCE_TTL_MS (60 * 1000)

/* The resource a presence route names: -ENOENT when the caller cannot see it. */
static int resource_of(struct http_request *req, struct app *app, const char **ret_type,
                       const char **ret_id)
{
    const char *venue = http_req_param(req, "venueId");
    const char *playlist = http_req_param(req, "playlistId");
    if (!playlist) {
        *ret_type = "SCHEDULE_SET";
        *ret_id = venue;
        return 0;
    }
    if (!ids_is_uuid(playlist))
        return -ENOENT;
    struct store_result *res = NULL;
    int r = store_query(
        app->store,
        "SELECT scope_venue_id FROM playlists WHERE tenant_id = $1 AND "
        "playlist_id = $2 AND deleted_at_utc IS NULL",
        (struct store_param[]){STORE_TEXT(auth_actor(req)->claims.tid), STORE_TEXT(playlist)}, 2,
        &res);
    if (r < 0)
        return r;
    const char *scope = store_result_rows(res) ? store_result_text(res, 0, 0) : "";
    bool seen = store_result_rows(res) == 1 && (!scope || (venue && !strcmp(scope, venue)));
    store_result_free(res);
    if (!seen)
        return -ENOENT;
    *ret_type = "PLAYLIST";
    *ret_id = playlist;
    return 0;
}

static int editors_reply(struct http_request *req, struct app *app, const char *type,
                         const char *id)
{
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    struct store_result *res = NULL;
    int r = store_query(app->store,
                        "SELECT p.user_id, u.display_name, p.created_at_utc, p.expires_at_utc "
                        "FROM editor_presence p JOIN users u ON u.user_id = p.user_id "
                        "WHERE p.tenant_id = $1 AND p.resource_type = $2 AND "
                        "p.resource_id = $3 AND p.expires_at_utc > $4 "
                        "ORDER BY p.created_at_utc, p.user_id LIMIT 100",
                        (struct store_param[]){STORE_TEXT(auth_actor(req)->claims.tid),
                                               STORE_TEXT(type), STORE_TEXT(id), STORE_TEXT(now)},
                        4, &res);
    if (r < 0)
        return r;
    json_t *editors = json_array();
    for (size_t i = 0; i < store_result_rows(res); i++)
        json_array_append_new(editors,
                              json_pack("{s:s,s:o,s:s,s:s}", "userId", store_result_text(res, i, 0),
                                        "displayName", adm_jstr(store_result_text(res, i, 1)),
                                        "sinceUtc", store_result_text(res, i, 2), "expiresAtUtc",
                                        store_result_text(res, i, 3)));
    store_result_free(res);
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(
        req, 200,
        json_pack("{s:s,s:s,s:o}", "resourceType", type, "resourceId", id, "editors", editors));
}

static int presence_common(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    const char *type, *id;
    int r = resource_of(req, app, &type, &id);
    if (r == -ENOENT)
        return http_reply_problem(req, 404, "NOT_FOUND", "No such playlist.", NULL);
    if (r < 0)
        return r;
    enum http_method m = http_req_method(req);
    if (m == HTTP_PUT) {
        int64_t now_ms = clock_now_ms();
        char now[TIMESTAMP_STR_LEN], expires[TIMESTAMP_STR_LEN], pid[UUID_STR_LEN];
        ids_timestamp(now_ms, now);
        ids_timestamp(now_ms + PRESENCE_TTL_MS, expires);
        ids_uuid(pid);
        /* an expired row starts afresh: "since" is when this stay began */
        r = store_query(app->store,
                        "INSERT INTO editor_presence (presence_id, tenant_id, resource_type, "
                        "resource_id, user_id, expires_at_utc, created_at_utc, updated_at_utc) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $7) "
                        "ON CONFLICT (tenant_id, resource_type, resource_id, user_id) DO UPDATE "
                        "SET created_at_utc = CASE WHEN editor_presence.expires_at_utc <= $7 "
                        "THEN $7 ELSE editor_presence.created_at_utc END, "
                        "expires_at_utc = $6, updated_at_utc = $7",
                        (struct store_param[]){STORE_TEXT(pid), STORE_TEXT(a->claims.tid),
                                               STORE_TEXT(type), STORE_TEXT(id),
                                               STORE_TEXT(a->claims.sub), STORE_TEXT(expires),
                                               STORE_TEXT(now)},
                        7, NULL);
    } else if (m == HTTP_DELETE) {
        r = store_query(app->store,
                        "DELETE FROM editor_presence WHERE tenant_id = $1 AND "
                        "resource_type = $2 AND resource_id = $3 AND user_id = $4",
                        (struct store_param[]){STORE_TEXT(a->claims.tid), STORE_TEXT(type),
                                               STORE_TEXT(id), STORE_TEXT(a->claims.sub)},
                        4, NULL);
        if (r >= 0)
            return http_reply_empty(req, 204);
    }
    if (r < 0)
        return r;
    return editors_reply(req, app, type, id);
}

/* Deletes the presences expired at @now_ms; how many, or -errno. */
static int presence_cleanup(struct store *s, int64_t now_ms)
{
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms, now);
    return store_query(s, "DELETE FROM editor_presence WHERE expires_at_utc <= $1",
                       (struct store_param[]){STORE_TEXT(now)}, 1, NULL);
}

#define ROUTE(m, p, role)                                                                          \
    {                                                                                              \
        .method = (m), .pattern = (p), .audience = HTTP_USER, .min_role = (role),                  \
        .handler = presence_common                                                                 \
    }

static const struct http_route routes[] = {
    ROUTE(HTTP_GET, "/v1/library/playlists/{playlistId}/presence", AUTH_ANY),
    ROUTE(HTTP_PUT, "/v1/library/playlists/{playlistId}/presence", AUTH_ANY),
    ROUTE(HTTP_DELETE, "/v1/library/playlists/{playlistId}/presence", AUTH_ANY),
    ROUTE(HTTP_GET, "/v1/venues/{venueId}/playlists/{playlistId}/presence", AUTH_VENUE_VIEWER),
    ROUTE(HTTP_PUT, "/v1/venues/{venueId}/playlists/{playlistId}/presence", AUTH_VENUE_VIEWER),
    ROUTE(HTTP_DELETE, "/v1/venues/{venueId}/playlists/{playlistId}/presence", AUTH_VENUE_VIEWER),
    ROUTE(HTTP_GET, "/v1/venues/{venueId}/scheduleset/presence", AUTH_VENUE_VIEWER),
    ROUTE(HTTP_PUT, "/v1/venues/{venueId}/scheduleset/presence", AUTH_VENUE_VIEWER),
    ROUTE(HTTP_DELETE, "/v1/venues/{venueId}/scheduleset/presence", AUTH_VENUE_VIEWER),
};

/* The ticker's "presence-cleanup" task: expired rows go (reads filter them anyway). */
static int cleanup_task(struct app *app, int64_t now_ms, json_t **ret)
{
    int r = presence_cleanup(app->store, now_ms);
    if (r >= 0 && ret)
        *ret = json_pack("{s:i}", "deleted", r);
    return r < 0 ? r : 0;
}

int presence_register(struct app *app)
{
    static const struct ticker_task cleanup = {"presence-cleanup", 60LL * 1000, cleanup_task};
    int r = ticker_add(app, &cleanup);
    return r < 0 ? r : http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
