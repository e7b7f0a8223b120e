/* SPDX-License-Identifier: MIT */
/*
 * fuzz-request.c — libFuzzer target: raw bytes as everything one client sends on a connection,
 * through libmicrohttpd's parser, marqueed's request state machine, router, limits and JSON
 * body reader, to a real handler on an in-memory SQLite store.
 * Besides marqueed's own routes it registers a JSON echo route so every input that reaches
 * the body reader is parsed (depth and size limits, duplicate keys, error positions).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "app.h"
#include "log.h"
#include "macro.h"

static struct app app;

static int echo(struct http_request *req, void *ud)
{
    json_t *body = http_req_json(req);
    const char *id = http_req_param(req, "id");
    return http_reply_json(req, 200, json_pack("{s:s,s:O}", "id", id ? id : "", "body", body));
}

static const struct http_route fuzz_routes[] = {
    {.method = HTTP_POST, .pattern = "/fuzz/{id}/echo", .audience = HTTP_PUBLIC,
     .flags = HTTP_BODY_JSON, .handler = echo},
    {.method = HTTP_PUT, .pattern = "/v1/venues/{venueId}/devices/{deviceId}", .handler = echo,
     .audience = HTTP_USER},
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (sodium_init() < 0)
        abort();
    /* every log line is built (request lines quote client bytes) and thrown away */
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0)
        abort();
    log_set_fd(devnull);
    log_set_level(LOG_DEBUG);
    config_init(&app.cfg);
    free(app.cfg.db);
    app.cfg.db = xstrdup("sqlite::memory:");
    free(app.cfg.data_dir);
    app.cfg.data_dir = xstrdup("/tmp/marquee-fuzz");
    app.cfg.max_body_bytes = 4096;
    if (app_store_open(&app) < 0 || store_migrate(app.store, NULL) < 0)
        abort();
    if (app_http_setup(&app, true) < 0)
        abort();
    if (http_server_add_routes(app.http, fuzz_routes, ARRAY_SIZE(fuzz_routes), &app) < 0)
        abort();
    if (http_server_start(app.http) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    http_server_feed(app.http, data, size);
    return 0;
}
