/* SPDX-License-Identifier: MIT */
/*
 * health.c — /healthz (the process answers), /readyz (the store is reachable and its schema
 * is current: 503 problem otherwise) and /metrics (Prometheus text: HTTP, store pool, media processing).
 */
#include <errno.h>
#include <stdio.h>

#include "app.h"
#include "content/content.h"
#include "buf.h"
#include "http/http.h"
#include "macro.h"
#include "resolver/manifest.h"

static int healthz(struct http_request *req, void *ud)
{
    return http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static int readyz(struct http_request *req, void *ud)
{
    struct app *app = ud;
    int r = store_check_ready(app->store);
    if (r == 1)
        return http_reply_json(req, 200,
                               json_pack("{s:s,s:i}", "status", "ready", "schemaVersion",
                                         (int)store_schema_version_latest()));
    http_reply_header(req, "Retry-After", "5");
    return http_reply_problem(req, 503, "NOT_READY",
                              r == 0 ? "The database schema is not at this version's migrations."
                                     : "The database cannot be reached.",
                              json_pack("{s:{s:b,s:b}}", "context", "storeReachable", r >= 0,
                                        "migrationsCurrent", r == 1));
}

static void store_metrics(struct buf *out, void *ud)
{
    struct app *app = ud;
    struct store_stats st;
    store_stats_get(app->store, &st);
    char text[1024];
    snprintf(text, sizeof(text),
             "# HELP marquee_store_pool_size Store connections the pool may hold.\n"
             "# TYPE marquee_store_pool_size gauge\nmarquee_store_pool_size %u\n"
             "# HELP marquee_store_pool_in_use Store connections handed out now.\n"
             "# TYPE marquee_store_pool_in_use gauge\nmarquee_store_pool_in_use %u\n"
             "# HELP marquee_store_pool_waiting Threads waiting for a store connection.\n"
             "# TYPE marquee_store_pool_waiting gauge\nmarquee_store_pool_waiting %u\n"
             "# HELP marquee_store_pool_acquired_total Store connections handed out.\n"
             "# TYPE marquee_store_pool_acquired_total counter\n"
             "marquee_store_pool_acquired_total %llu\n"
             "# HELP marquee_store_pool_timeouts_total Waits for a connection that gave up.\n"
             "# TYPE marquee_store_pool_timeouts_total counter\n"
             "marquee_store_pool_timeouts_total %llu\n",
             st.pool_size, st.in_use, st.waiting, (unsigned long long)st.acquired_total,
             (unsigned long long)st.timeouts_total);
    buf_append_str(out, text);
    if (app->content)
        content_metrics_render(app->content, out);
    manifest_metrics_render(app, out);
}

static int metrics(struct http_request *req, void *ud)
{
    struct buf out;
    buf_init(&out, SIZE_MAX / 4);
    http_server_metrics_render(http_req_server(req), &out);
    int r = http_reply_data(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                            out.data ? out.data : "", out.len);
    buf_release(&out);
    return r;
}

static const struct http_route routes[] = {
    {.method = HTTP_GET, .pattern = "/healthz", .audience = HTTP_PUBLIC,
     .flags = HTTP_NO_RATE_LIMIT, .handler = healthz},
    {.method = HTTP_GET, .pattern = "/readyz", .audience = HTTP_PUBLIC,
     .flags = HTTP_NO_RATE_LIMIT, .handler = readyz},
    {.method = HTTP_GET, .pattern = "/metrics", .audience = HTTP_PUBLIC,
     .flags = HTTP_NO_RATE_LIMIT, .handler = metrics},
};

int health_register(struct app *app)
{
    if (app->store)
        http_server_set_metrics_hook(app->http, store_metrics, app);
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
