/* SPDX-License-Identifier: MIT */
/*
 * app.c — assembling marqueed from its parts: store URL resolution, HTTP server options from
 * the configuration, and the module registration list. Adding a module is one line in
 * modules[] below.
 */
#include "app.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/limits.h"
#include "auth/ratelimit.h"
#include "auth/token.h"
#include "content/content.h"
#include "devices/devices.h"
#include "playlists/playlists.h"
#include "presence/presence.h"
#include "publishing/publishing.h"
#include "resolver/manifest.h"
#include "resolver/preview.h"
#include "schedules/schedules.h"
#include "macro.h"
#include "tenancy/admin.h"
#include "ticker.h"

typedef int (*module_register_fn)(struct app *app);

static const module_register_fn modules[] = {
    health_register,
    auth_register,
    tenant_admin_register,
    content_register,
    publishing_register,
    playlists_register,
    schedules_register,
    preview_register,
    manifest_register,
    presence_register,
    groups_register,
    devices_register,
    pairing_register,
    commands_register,
    telemetry_register,
    alerts_register,
    testing_register,
};

static int mkdir_p(const char *path, mode_t mode)
{
    _cleanup_free_ char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int app_store_open(struct app *app)
{
    int r = mkdir_p(app->cfg.data_dir, 0750);
    if (r < 0)
        return r;
    free(app->db_url);
    if (app->cfg.db && *app->cfg.db) {
        app->db_url = xstrdup(app->cfg.db);
    } else {
        const char *d = app->cfg.data_dir;
        /* sqlite:///abs/path.db or sqlite://rel/path.db */
        app->db_url = xasprintf("sqlite://%s/marquee.db", d);
    }
    unsigned threads = (unsigned)app->cfg.threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    struct store_options so = {
        .pool_size = app->cfg.db_pool_size ? (unsigned)app->cfg.db_pool_size : threads + 2,
    };
    return store_open(app->db_url, &so, &app->store);
}

int app_http_setup(struct app *app, bool external)
{
    char host[256] = "127.0.0.1";
    uint16_t port = 0;
    if (!external && config_split_listen(app->cfg.listen, host, sizeof(host), &port) < 0)
        return -EINVAL;
    struct http_server_options o = {
        .host = host,
        .port = port,
        .threads = (unsigned)app->cfg.threads,
        .max_body = (size_t)app->cfg.max_body_bytes,
        .max_header = (size_t)app->cfg.max_header_bytes,
        .json_max_depth = (unsigned)app->cfg.json_max_depth,
        .connection_limit = (unsigned)app->cfg.connection_limit,
        .per_ip_connection_limit = (unsigned)app->cfg.per_ip_connection_limit,
        .connection_memory_limit = (size_t)app->cfg.connection_memory_limit,
        .connection_timeout_s = (unsigned)app->cfg.connection_timeout_s,
        .request_timeout_s = (unsigned)app->cfg.request_timeout_s,
        .public_url = app->cfg.public_url,
        .external = external,
    };
    int r = http_server_new(&o, &app->http);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(modules); i++) {
        r = modules[i](app);
        if (r < 0)
            return r;
    }
    return 0;
}

int app_start_background(struct app *app)
{
    int r = content_start(app);
    return r < 0 ? r : ticker_start(app);
}

void app_release(struct app *app)
{
    ticker_stop(app); /* its tasks use content, the store and the server: stop it first */
    content_release(app); /* its threads use the store and the server: stop them next */
    app->http = http_server_free(app->http);
    manifest_release(app);
    app->token_keys = token_keys_free(app->token_keys);
    app->ratelimiter = ratelimiter_free(app->ratelimiter);
    app->limits = limits_free(app->limits);
    app->store = store_close(app->store);
    free(app->db_url);
    app->db_url = NULL;
    config_release(&app->cfg);
}
