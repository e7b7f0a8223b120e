/* SPDX-License-Identifier: MIT */
/* content.c — the content module's life: set-up, start, stop (design in content.h). */
#include "content/content.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "app.h"
#include "log.h"
#include "macro.h"
#include "publishing/publishing.h"

struct content *content_of(struct app *app)
{
    return app->content;
}

int content_register(struct app *app)
{
    struct content *c = xcalloc(1, sizeof(*c));
    c->app = app;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->store_lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    app->content = c;

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -errno;
    exe[n] = '\0';
    c->self_exe = xstrdup(exe);

    int r;
    if ((r = assets_register(app)) < 0 || (r = jobs_register(app)) < 0)
        return r;
    return origin_register(app);
}

/* Directories and the key are set up here, not at registration: `marqueed routes` and the
 * fuzzer register every module without a data directory. */
int content_start(struct app *app)
{
    struct content *c = app->content;
    int r = objstore_init(c, app->cfg.data_dir);
    if (r < 0) {
        log_msg(LOG_ERROR, "object_store_unusable", "%s: %s", app->cfg.data_dir, strerror(-r));
        return r;
    }
    const char *problem = NULL;
    r = content_key_load(c, app->cfg.media_signing_key, app->cfg.data_dir, &problem);
    if (r < 0) {
        log_msg(LOG_ERROR, "media_signing_key_invalid", "%s", problem);
        return r;
    }
    return worker_start(c, (unsigned)app->cfg.media_workers);
}

void content_release(struct app *app)
{
    struct content *c = app->content;
    if (!c)
        return;
    worker_stop(c);
    for (size_t i = 0; i < c->n_busy; i++)
        free(c->busy_uploads[i]);
    free(c->busy_uploads);
    free(c->queue);
    free(c->processing);
    free(c->uploads_dir);
    free(c->objects_dir);
    free(c->tmp_dir);
    free(c->self_exe);
    sodium_memzero(c->key, sizeof(c->key));
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->store_lock);
    pthread_cond_destroy(&c->wake);
    free(c);
    app->content = NULL;
}

void content_metrics_render(struct content *c, struct buf *out)
{
    pthread_mutex_lock(&c->lock);
    size_t queued = c->n_queue, busy = c->n_processing, workers = c->n_workers;
    pthread_mutex_unlock(&c->lock);
    char text[1400];
    snprintf(text, sizeof(text),
             "# HELP marquee_media_queue_depth Assets waiting for a media worker.\n"
             "# TYPE marquee_media_queue_depth gauge\nmarquee_media_queue_depth %zu\n"
             "# HELP marquee_media_processing Assets being processed now.\n"
             "# TYPE marquee_media_processing gauge\nmarquee_media_processing %zu\n"
             "# HELP marquee_media_workers Media processing threads.\n"
             "# TYPE marquee_media_workers gauge\nmarquee_media_workers %zu\n"
             "# HELP marquee_media_processed_total Assets processed, by outcome.\n"
             "# TYPE marquee_media_processed_total counter\n"
             "marquee_media_processed_total{outcome=\"ready\"} %llu\n"
             "marquee_media_processed_total{outcome=\"failed\"} %llu\n"
             "# HELP marquee_media_processing_seconds_total Time spent processing assets.\n"
             "# TYPE marquee_media_processing_seconds_total counter\n"
             "marquee_media_processing_seconds_total %.6f\n",
             queued, busy, workers, (unsigned long long)c->n_ready, (unsigned long long)c->n_failed,
             (double)c->processing_us_total / 1e6);
    buf_append_str(out, text);
}

int asset_change(struct store_conn *conn, const char *tenant_id, const char *asset_id,
                 const char *venue_id, const char *action, const char *actor_user_id)
{
    struct change ch = {.tenant_id = tenant_id,
                        .entity_type = "ASSET",
                        .entity_id = asset_id,
                        .venue_id = venue_id,
                        .action = action,
                        .version = -1,
                        .actor_user_id = actor_user_id};
    return changes_append(conn, &ch, NULL);
}

/* ---- small lists of ids (the work queue, uploads being written) ---- */

bool idlist_has(char **list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], id))
            return true;
    return false;
}

void idlist_push(char ***list, size_t *n, size_t *cap, const char *id)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *list = xrealloc(*list, *cap * sizeof(char *));
    }
    (*list)[(*n)++] = xstrdup(id);
}

void idlist_remove(char **list, size_t *n, const char *id)
{
    for (size_t i = 0; i < *n; i++) {
        if (!strcmp(list[i], id)) {
            free(list[i]);
            memmove(&list[i], &list[i + 1], (*n - i - 1) * sizeof(char *));
            (*n)--;
            return;
        }
    }
}
