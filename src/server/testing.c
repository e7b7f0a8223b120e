/* SPDX-License-Identifier: MIT */
/*
 * testing.c — routes for the black-box test suite only, registered when `test_routes` is on
 * (never by default). They exercise the shared HTTP machinery end to end through the real
 * server before the domain modules that use it exist: a JSON body (size, depth, content type,
 * error positions), strong ETags with If-None-Match → 304 and If-Match → 428/412, and cursor
 * pagination over a fixed list. And the levers of time: move marqueed's clock, run a
 * background job now (so the §13.5 timeouts are tested in seconds, not hours).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "auth/auth.h"
#include "clock.h"
#include "http/http.h"
#include "macro.h"
#include "resolver/manifest.h"
#include "ticker.h"

#define TEST_ITEMS 120

static int echo(struct http_request *req, void *ud)
{
    return http_reply_json(req, 200, json_pack("{s:O}", "received", http_req_json(req)));
}

static int etag_get(struct http_request *req, void *ud)
{
    static const char body[] = "{\"version\":1}";
    if (http_not_modified(req, "\"test-v1\"", sizeof(body) - 1))
        return 0;
    return http_reply_data(req, 200, "application/json", body, sizeof(body) - 1);
}

/* The same document through http_reply_json_etag: ETag from the bytes. */
static int etag_auto(struct http_request *req, void *ud)
{
    return http_reply_json_etag(req, json_pack("{s:i,s:s}", "version", 1, "name", "auto"));
}

static int etag_put(struct http_request *req, void *ud)
{
    int r = http_require_if_match(req, "\"test-v1\"");
    if (r < 0)
        return r;
    http_reply_header(req, "ETag", "\"test-v1\"");
    return http_reply_json(req, 200, json_pack("{s:b}", "applied", 1));
}

/* Items item-000 … item-119, sorted by name; the cursor holds the last name returned. */
static int items(struct http_request *req, void *ud)
{
    struct http_page page;
    int r = http_page_parse(req, 1, &page);
    if (r < 0)
        return r;
    json_t *list = json_array();
    char name[24], last[24] = "";
    unsigned n = 0;
    bool more = false;
    for (int i = 0; i < TEST_ITEMS; i++) {
        snprintf(name, sizeof(name), "item-%03d", i);
        if (page.n_after && strcmp(name, page.after[0]) <= 0)
            continue;
        if (n == page.limit) {
            more = true;
            break;
        }
        json_array_append_new(list, json_pack("{s:s}", "id", name));
        snprintf(last, sizeof(last), "%s", name);
        n++;
    }
    http_page_release(&page);
    const char *keys[] = {last};
    char *cursor = more ? http_cursor_encode(keys, 1) : NULL;
    r = http_reply_json(req, 200, http_page_body(list, cursor));
    free(cursor);
    return r;
}

static int fail(struct http_request *req, void *ud)
{
    const char *what = http_req_param(req, "errno");
    if (!what)
        return -ENOTRECOVERABLE;
    if (!strcmp(what, "busy"))
        return -EBUSY;
    if (!strcmp(what, "conflict"))
        return -EEXIST;
    return -ENOTRECOVERABLE;
}

/* Answers who the guard let through, for the authorization tests. */
static int whoami(struct http_request *req, void *ud)
{
    const struct auth_actor *a = auth_actor(req);
    return http_reply_json(req, 200,
                           json_pack("{s:s,s:s,s:s?,s:s?}", "userId", a->claims.sub, "tenantId",
                                     a->claims.tid, "tenantParam", http_req_param(req, "tenantId"),
                                     "venueParam", http_req_param(req, "venueId")));
}

/* {"offsetMs": n}: clock_now_ms() runs n ms from the real clock (0 restores it). */
static int clock_move(struct http_request *req, void *ud)
{
    json_t *off = json_object_get(http_req_json(req), "offsetMs");
    if (!json_is_integer(off))
        return http_reply_problem(req, 400, "INVALID_FIELD", "offsetMs must be an integer.", NULL);
    clock_set_offset_ms(json_integer_value(off));
    return http_reply_json(req, 200, json_pack("{s:I}", "nowMs", (json_int_t)clock_now_ms()));
}

/* {"resolver": "fail" | "ok"}: every manifest resolution fails from now on, or none does
 * (§31.9: the last cached manifest, else a degraded one). */
static int fault_set(struct http_request *req, void *ud)
{
    const char *v = json_string_value(json_object_get(http_req_json(req), "resolver"));
    if (!v || (strcmp(v, "fail") && strcmp(v, "ok")))
        return http_reply_problem(req, 400, "INVALID_FIELD", "resolver must be \"fail\" or \"ok\".",
                                  NULL);
    manifest_test_fail(ud, !strcmp(v, "fail"));
    return http_reply_json(req, 200, json_pack("{s:s}", "resolver", v));
}

static int job_run(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const char *name = http_req_param(req, "name");
    json_t *result = NULL;
    int r = ticker_run(app, name, &result); /* -ENOENT: 404 */
    if (r < 0)
        return r;
    return http_reply_json(req, 200, result ? result : json_object());
}

static const struct http_route routes[] = {
    {.audience = HTTP_PUBLIC,
     .method = HTTP_POST,
     .pattern = "/v1/_test/clock",
     .flags = HTTP_BODY_JSON | HTTP_NO_RATE_LIMIT,
     .handler = clock_move},
    {.audience = HTTP_PUBLIC,
     .method = HTTP_POST,
     .pattern = "/v1/_test/faults",
     .flags = HTTP_BODY_JSON | HTTP_NO_RATE_LIMIT,
     .handler = fault_set},
    {.audience = HTTP_PUBLIC,
     .method = HTTP_POST,
     .pattern = "/v1/_test/jobs/{name}",
     .flags = HTTP_NO_RATE_LIMIT,
     .handler = job_run},
    {.method = HTTP_GET,
     .pattern = "/v1/_test/tenants/{tenantId}/admin",
     .audience = HTTP_USER,
     .min_role = AUTH_TENANT_ADMIN,
     .handler = whoami},
    {.method = HTTP_GET,
     .pattern = "/v1/_test/venues/{venueId}/view",
     .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER,
     .handler = whoami},
    {.method = HTTP_GET,
     .pattern = "/v1/_test/venues/{venueId}/manage",
     .audience = HTTP_USER,
     .min_role = AUTH_VENUE_MANAGER,
     .handler = whoami},
    {.method = HTTP_GET, .pattern = "/v1/_test/player", .audience = HTTP_DEVICE, .handler = whoami},
    {.audience = HTTP_PUBLIC,
     .method = HTTP_POST,
     .pattern = "/v1/_test/echo",
     .flags = HTTP_BODY_JSON,
     .max_body = 64 * 1024,
     .handler = echo},
    {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/v1/_test/etag", .handler = etag_get},
    {.audience = HTTP_PUBLIC, .method = HTTP_PUT, .pattern = "/v1/_test/etag", .handler = etag_put},
    {.audience = HTTP_PUBLIC,
     .method = HTTP_GET,
     .pattern = "/v1/_test/etag-auto",
     .handler = etag_auto},
    {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/v1/_test/items", .handler = items},
    {.audience = HTTP_PUBLIC,
     .method = HTTP_GET,
     .pattern = "/v1/_test/fail/{errno}",
     .handler = fail},
    {.method = HTTP_GET, .pattern = "/v1/_test/private", .audience = HTTP_USER, .handler = whoami},
};

int testing_register(struct app *app)
{
    if (!app->cfg.test_routes)
        return 0;
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
