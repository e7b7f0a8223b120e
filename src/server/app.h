/* SPDX-License-Identifier: MIT */
/*
 * app.h — one running marqueed: its configuration, store and HTTP server, and the list of
 * modules that add routes. main.c drives it; tests and the fuzzer build one the same way.
 */
#pragma once

#include "config.h"
#include "http/server.h"
#include "store/store.h"

struct app {
    struct config cfg;
    char *db_url;           /* resolved store URL */
    struct store *store;
    struct http_server *http;
    struct token_keys *token_keys; /* auth: access-token signing keys */
    struct ratelimiter *ratelimiter; /* auth: request counters */
    struct limits *limits;           /* auth: the rate-limit classes in force */
    struct content *content;         /* content: assets, uploads, workers, origin */
    struct manifests *manifests;     /* resolver: the manifest cache */
    struct ticker *ticker;           /* periodic tasks (ticker.c) */
};

/** Resolves the store URL from the configuration (sqlite under data_dir by default) and opens
 *  it; creates data_dir (0750) if missing. 0 or -errno. */
int app_store_open(struct app *app);

/** Creates the HTTP server from the configuration and registers every module's routes.
 *  With @external the server has no socket or threads (fuzzing). 0 or -errno. */
int app_http_setup(struct app *app, bool external);

/** Registers the health, readiness and metrics routes (health.c). */
int health_register(struct app *app);

/** Registers the test-suite routes when cfg.test_routes is on (testing.c). */
int testing_register(struct app *app);

/** Registers authentication, the session endpoints and the authorization hook (auth/). */
int auth_register(struct app *app);

/** Starts the background work (media workers, jobs) once the server is listening. */
int app_start_background(struct app *app);

/** Releases everything the app holds. */
void app_release(struct app *app);
