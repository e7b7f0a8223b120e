/* SPDX-License-Identifier: MIT */
/* ticker.c — periodic tasks on one thread (see ticker.h). */
#include "ticker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "log.h"
#include "macro.h"

#define TASKS_MAX 16
#define TICK_MS   1000 /* how often the thread looks for a task that is due */

struct ticker {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool started, stopping;
    size_t n;
    struct ticker_task tasks[TASKS_MAX];
    int64_t last_ms[TASKS_MAX];
};

static struct ticker *ticker_of(struct app *app)
{
    if (!app->ticker) {
        struct ticker *t = xcalloc(1, sizeof(*t));
        pthread_mutex_init(&t->lock, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&t->wake, &attr);
        pthread_condattr_destroy(&attr);
        app->ticker = t;
    }
    return app->ticker;
}

int ticker_add(struct app *app, const struct ticker_task *task)
{
    struct ticker *t = ticker_of(app);
    if (t->n == TASKS_MAX)
        return -ENOSPC;
    t->tasks[t->n++] = *task;
    return 0;
}

static void run_one(struct app *app, const struct ticker_task *task, int64_t now)
{
    int r = task->fn(app, now, NULL);
    if (r < 0)
        log_msg(LOG_WARN, "task_failed", "%s: %s", task->name, strerror(-r));
}

static void *ticker_main(void *arg)
{
    struct app *app = arg;
    struct ticker *t = app->ticker;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        int64_t now = clock_now_ms();
        for (size_t i = 0; i < t->n && !t->stopping; i++) {
            /* a clock moved back (tests) restarts the period rather than stalling it */
            if (now < t->last_ms[i])
                t->last_ms[i] = now;
            if (now - t->last_ms[i] < t->tasks[i].period_ms)
                continue;
            t->last_ms[i] = now;
            struct ticker_task task = t->tasks[i];
            pthread_mutex_unlock(&t->lock);
            run_one(app, &task, now);
            pthread_mutex_lock(&t->lock);
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += TICK_MS / 1000;
        while (!t->stopping && pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int ticker_start(struct app *app)
{
    struct ticker *t = ticker_of(app);
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < t->n; i++)
        t->last_ms[i] = now;
    int r = pthread_create(&t->thread, NULL, ticker_main, app);
    if (r != 0)
        return -r;
    t->started = true;
    return 0;
}

void ticker_stop(struct app *app)
{
    struct ticker *t = app->ticker;
    if (!t)
        return;
    if (t->started) {
        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
    app->ticker = NULL;
}

int ticker_run(struct app *app, const char *name, json_t **ret)
{
    struct ticker *t = app->ticker;
    for (size_t i = 0; t && i < t->n; i++)
        if (!strcmp(t->tasks[i].name, name))
            return t->tasks[i].fn(app, clock_now_ms(), ret);
    return -ENOENT;
}
