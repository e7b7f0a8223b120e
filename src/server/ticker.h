/* SPDX-License-Identifier: MIT */
/*
 * ticker.h — marqueed's periodic tasks that are no module's thread of their own (device
 * offline detection, retention, expiries): one thread runs each task when its period has
 * passed on clock_now_ms(), the clock the test suite can move. The test routes run a task by
 * name at once (POST /v1/_test/jobs/{name}).
 */
#pragma once

#include <stdint.h>

#include <jansson.h>

struct app;

/** A task: 0 or -errno; *ret (may be NULL) gets what it did, for the test route. */
typedef int (*ticker_fn)(struct app *app, int64_t now_ms, json_t **ret);

struct ticker_task {
    const char *name; /* "device-offline"; a static string */
    int64_t period_ms;
    ticker_fn fn;
};

/** Adds @task (copied; its strings must outlive the app) before ticker_start. 0 or -ENOSPC. */
int ticker_add(struct app *app, const struct ticker_task *task);
/** Starts the thread; each task first runs one period after the start. 0 or -errno. */
int ticker_start(struct app *app);
/** Stops and joins the thread, and forgets the tasks. Harmless when not started. */
void ticker_stop(struct app *app);
/** Runs task @name now, in the caller's thread. Its result, or -ENOENT for no such task. */
int ticker_run(struct app *app, const char *name, json_t **ret);
