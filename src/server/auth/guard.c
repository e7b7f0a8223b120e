/* SPDX-License-Identifier: MIT */
/*
 * guard.c — the router's authentication and authorization hook (see auth.h for the order of
 * checks). Runs before the body is read, so an anonymous client never gets to send one.
 */
#include <errno.h>
#include <string.h>

#include "app.h"
#include "auth/auth.h"
#include "auth/limits.h"
#include "auth/ratelimit.h"
#include "clock.h"
#include "http/server.h"
#include "log.h"
#include "macro.h"

static int unauthorized(struct http_request *req, const char *code, const char *detail,
                        bool invalid_token)
{
    http_reply_header(req, "WWW-Authenticate",
                      invalid_token ? "Bearer error=\"invalid_token\"" : "Bearer");
    return http_reply_problem(req, 401, code, detail, NULL);
}

int auth_device_gone(struct http_request *req)
{
    return unauthorized(req, "INVALID_TOKEN", "This device is no longer registered.", true);
}

static int hidden(struct http_request *req)
{
    return http_reply_problem(req, 404, "NOT_FOUND", "No such resource.", NULL);
}

static int forbidden(struct http_request *req, const char *detail)
{
    return http_reply_problem(req, 403, "FORBIDDEN", detail, NULL);
}

const struct auth_actor *auth_actor(const struct http_request *req)
{
    return http_req_actor(req);
}

/* The caller's effective role on a venue of its own tenant: a tenant admin manages every
 * venue, a tenant viewer views every venue, anyone else has the role given on that venue. */
int auth_venue_role(struct app *app, struct store_conn *conn, const struct token_claims *cl,
                    const char *venue_id, enum venue_role *ret)
{
    if (cl->tenant_roles & TROLE_ADMIN) {
        *ret = VROLE_MANAGER;
        return 0;
    }
    enum venue_role role = VROLE_NONE;
    if (!cl->venue_roles_server_side) {
        for (size_t i = 0; i < cl->n_venue_roles; i++)
            if (!strcmp(cl->venue_roles[i].venue_id, venue_id))
                role = cl->venue_roles[i].role;
    } else {
        static const char sql[] = "SELECT role FROM venue_user_roles WHERE tenant_id = $1 AND "
                                  "venue_id = $2 AND user_id = $3";
        const struct store_param p[] = {STORE_TEXT(cl->tid), STORE_TEXT(venue_id),
                                        STORE_TEXT(cl->sub)};
        struct store_result *res = NULL;
        /* on the caller's connection when it holds one: a second would come from the pool */
        int r = conn ? store_exec(conn, sql, p, 3, &res) : store_query(app->store, sql, p, 3, &res);
        if (r < 0)
            return r;
        if (store_result_rows(res) == 1)
            role = token_venue_role_parse(store_result_text(res, 0, 0));
        store_result_free(res);
    }
    if (role == VROLE_NONE && (cl->tenant_roles & TROLE_VIEWER))
        role = VROLE_VIEWER;
    *ret = role;
    return 0;
}

/* 1 if the venue exists (not deleted) in the tenant, 0 if not, -errno. */
static int venue_exists(struct app *app, const char *tenant_id, const char *venue_id)
{
    if (!ids_is_uuid(venue_id))
        return 0;
    struct store_result *res = NULL;
    int r =
        store_query(app->store,
                    "SELECT 1 FROM venues WHERE tenant_id = $1 AND venue_id = $2 AND "
                    "deleted_at_utc IS NULL",
                    (struct store_param[]){STORE_TEXT(tenant_id), STORE_TEXT(venue_id)}, 2, &res);
    if (r < 0)
        return r;
    r = store_result_rows(res) == 1;
    store_result_free(res);
    return r;
}

static int authorize(struct app *app, struct http_request *req, const struct http_route *route,
                     const struct token_claims *cl)
{
    /* 2. the token's tenant owns the resource: another tenant's is hidden */
    const char *tenant = http_req_param(req, "tenantId");
    if (tenant && strcmp(tenant, cl->tid) != 0)
        return hidden(req);

    /* 3. the venue is the tenant's and the caller may see it */
    const char *venue = http_req_param(req, "venueId");
    enum venue_role role = VROLE_NONE;
    if (venue) {
        int r = venue_exists(app, cl->tid, venue);
        if (r < 0)
            return r;
        if (r == 0)
            return hidden(req);
        if ((r = auth_venue_role(app, NULL, cl, venue, &role)) < 0)
            return r;
        if (role == VROLE_NONE)
            return hidden(req);
    }

    /* 4. role and capability */
    switch ((enum auth_requirement)route->min_role) {
    case AUTH_ANY:
        break;
    case AUTH_TENANT_VIEWER:
        if (!cl->tenant_roles)
            return forbidden(req, "This needs a tenant role.");
        break;
    case AUTH_TENANT_ADMIN:
        if (!(cl->tenant_roles & TROLE_ADMIN))
            return forbidden(req, "This needs the TENANT_ADMIN role.");
        break;
    case AUTH_VENUE_VIEWER:
    case AUTH_VENUE_EDITOR:
    case AUTH_VENUE_MANAGER: {
        enum venue_role need = (enum venue_role)(route->min_role - AUTH_VENUE_VIEWER + 1);
        if (!venue) {
            log_msg(LOG_ERROR, "route_misdeclared", "%s needs a venue role but has no {venueId}",
                    route->pattern);
            return -ENOTRECOVERABLE;
        }
        if (role < need)
            return forbidden(req, "Your role on this venue does not allow this.");
        break;
    }
    default:
        return -ENOTRECOVERABLE;
    }
    if (route->capability && !(cl->caps & route->capability) && !(cl->tenant_roles & TROLE_ADMIN))
        return forbidden(req, "This needs a capability you do not have.");
    return 0;
}

/* The route's rate-limit class, keyed by its scope (§27.1). */
static int rate_limit(struct app *app, struct http_request *req, const struct http_route *route,
                      const struct auth_actor *actor)
{
    if (route->flags & HTTP_NO_RATE_LIMIT)
        return 0;
    const char *cls = route->rate_class;
    if (!cls)
        cls = route->audience == HTTP_USER     ? "default_user"
              : route->audience == HTTP_DEVICE ? "default_device"
                                               : "default_ip";
    const char *scope = limits_scope(app->limits, cls);
    const char *tenant = actor ? actor->claims.tid : NULL;
    char key[2 * UUID_STR_LEN + 2];
    if (!scope)
        return -EINVAL;
    if (!strcmp(scope, "ip")) {
        char ip[RATELIMIT_IP_KEY_LEN];
        ratelimit_ip_key(http_req_client_ip(req), ip);
        snprintf(key, sizeof(key), "%s", ip);
    } else if (actor && !strcmp(scope, "tenant")) {
        snprintf(key, sizeof(key), "%s", actor->claims.tid);
    } else if (actor && (!strcmp(scope, "user") || !strcmp(scope, "device"))) {
        snprintf(key, sizeof(key), "%s/%s", actor->claims.tid,
                 actor->claims.device ? actor->claims.did : actor->claims.sub);
    } else {
        log_msg(LOG_ERROR, "route_misdeclared", "%s: rate class %s needs an actor", route->pattern,
                cls);
        return -ENOTRECOVERABLE;
    }
    return limits_check(app, req, cls, key, tenant);
}

int auth_device_live(struct store_conn *c, const struct token_claims *cl)
{
    struct store_result *res = NULL;
    int r = store_exec(
        c,
        "SELECT 1 FROM devices d JOIN tenants t ON t.tenant_id = d.tenant_id "
        "WHERE d.tenant_id = $1 AND d.device_id = $2 AND d.venue_id = $3 AND "
        "d.deleted_at_utc IS NULL AND d.status = 'ACTIVE' AND "
        "t.status = 'ACTIVE'",
        (struct store_param[]){STORE_TEXT(cl->tid), STORE_TEXT(cl->did), STORE_TEXT(cl->vid)}, 3,
        &res);
    if (r < 0)
        return r;
    r = store_result_rows(res) == 1;
    store_result_free(res);
    return r;
}

static int device_live(struct app *app, const struct token_claims *cl)
{
    struct store_conn *c;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    r = auth_device_live(c, cl);
    store_release(c);
    return r;
}

int auth_guard(struct http_request *req, const struct http_route *route, void *ud)
{
    struct app *app = ud;
    if (route->audience == HTTP_PUBLIC)
        return rate_limit(app, req, route, NULL);
    /* 1. an authenticated actor of the route's audience */
    const char *h = http_req_header(req, "Authorization");
    if (!h)
        return unauthorized(req, "UNAUTHORIZED", "Authentication is required.", false);
    if (strlen(h) > TOKEN_MAX_LEN + 16 || strncasecmp(h, "Bearer ", 7) != 0)
        return unauthorized(req, "INVALID_TOKEN",
                            "The Authorization header is not a bearer "
                            "token.",
                            true);
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    struct auth_actor *actor = xcalloc(1, sizeof(*actor));
    const char *why = NULL;
    int r = token_verify(app->token_keys, token, clock_now_ms() / 1000, app->cfg.jwt_issuer,
                         app->cfg.jwt_audience, &actor->claims, &why);
    if (r < 0) {
        free(actor);
        log_json(LOG_INFO, "token_refused",
                 json_pack("{s:s,s:s,s:s}", "requestId", http_req_id(req), "reason", why, "route",
                           route->pattern));
        return unauthorized(req, "INVALID_TOKEN", "The access token is invalid or expired.", true);
    }
    if (actor->claims.device) {
        actor->type = AUTH_ACTOR_DEVICE;
        http_req_set_actor(req, actor, free);
        if (route->audience != HTTP_DEVICE)
            return unauthorized(req, "USER_TOKEN_REQUIRED",
                                "This endpoint takes a user token, not a device token.", true);
        /* the in-memory limit first: a device polling too fast costs no query (its token is
         * verified, so its key can be trusted) */
        if ((r = rate_limit(app, req, route, actor)) < 0)
            return r;
        /* §25.7: a token dies with its device (removed, disabled, moved, tenant disabled) */
        if (route->flags & HTTP_DEVICE_SELF_CHECK)
            return 0;
        r = device_live(app, &actor->claims);
        if (r < 0)
            return r;
        return r == 0 ? auth_device_gone(req) : 0;
    }
    actor->type = AUTH_ACTOR_USER;
    http_req_set_actor(req, actor, free);
    if (route->audience == HTTP_DEVICE)
        return unauthorized(req, "DEVICE_TOKEN_REQUIRED",
                            "Player endpoints take a device token, not a user token.", true);
    r = authorize(app, req, route, &actor->claims);
    if (r < 0)
        return r;
    return rate_limit(app, req, route, actor);
}

int auth_register(struct app *app)
{
    _cleanup_free_ char *path = xasprintf("%s/jwt-keys", app->cfg.data_dir);
    const char *problem = NULL;
    int r = token_keys_load(app->cfg.jwt_keys, path, &app->token_keys, &problem);
    if (r < 0) {
        log_json(LOG_ERROR, "jwt_keys_failed",
                 json_pack("{s:s,s:s}", "error", problem ? problem : strerror(-r), "path",
                           app->cfg.jwt_keys && *app->cfg.jwt_keys ? "(jwt_keys setting)" : path));
        return r;
    }
    r = limits_new(app->cfg.rate_limits, app->cfg.tenant_rate_limits, &app->limits, &problem);
    if (r == 0)
        r = ratelimiter_new_memory((size_t)app->cfg.rate_limit_keys, &app->ratelimiter);
    if (r < 0) {
        log_json(LOG_ERROR, "rate_limits_failed",
                 json_pack("{s:s}", "error", problem ? problem : strerror(-r)));
        return r;
    }
    http_server_set_auth(app->http, auth_guard, app);
    return auth_session_register(app);
}
