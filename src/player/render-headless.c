/* SPDX-License-Identifier: MIT */
/*
 * render-headless.c — the renderer without a screen (render.h): what would be shown becomes a
 * line of the JSON-lines timeline, and an item "plays" by waiting out its duration. Tests and
 * benchmarks read the timeline; a player on a machine without a display runs with it too.
 *
 * Each line is written with one write(2) on an O_APPEND descriptor, so a reader never sees
 * two lines interleaved and a kill leaves at most one partial last line.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "player/render-internal.h"

struct headless {
    struct render base;
    int fd;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    bool interrupted;    /* latched until a play consumes it */
};

static int headless_open(const struct render_options *opts, struct render **ret)
{
    if (!opts->timeline_path || !*opts->timeline_path)
        return -EINVAL;
    struct headless *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->fd = open(opts->timeline_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (h->fd < 0) {
        free(h);
        return -EIO;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&h->mu, NULL);
    h->base.ops = &render_headless_ops;
    *ret = &h->base;
    return 0;
}

static void headless_free(struct render *r)
{
    struct headless *h = (struct headless *)r;
    close(h->fd);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Appends @line (consumed) with its "t" as one line. */
static int timeline_write(struct headless *h, json_t *line)
{
    if (!line)
        return -ENOMEM;
    json_object_set_new(line, "t", json_integer(clock_now_ms()));
    char *s = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(line);
    if (!s)
        return -ENOMEM;
    size_t n = strlen(s);
    s[n] = '\n'; /* json_dumps' NUL becomes the newline; the length says where it ends */
    ssize_t w;
    do
        w = write(h->fd, s, n + 1);
    while (w < 0 && errno == EINTR);
    free(s);
    return w == (ssize_t)(n + 1) ? 0 : -EIO;
}

static json_t *item_line(const char *event, const struct render_item *it)
{
    return json_pack("{s:s, s:s?, s:s?, s:I, s:s}", "event", event, "assetId", it->asset_id,
                     "manifestEtag", it->manifest_etag, "index", (json_int_t)it->index, "type",
                     it->type == MANIFEST_ITEM_VIDEO ? "VIDEO" : "IMAGE");
}

/* What a screen would need of the file: that it opens and holds something. */
static int file_check(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : -EIO;
    struct stat st;
    int r = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 ? 0 : -EIO;
    close(fd);
    return r;
}

/* Waits @ms or until interrupted: 0 or -ECANCELED. */
static int wait_interruptible(struct headless *h, int64_t ms)
{
    struct timespec until;
    clock_mono_deadline(ms, &until);
    pthread_mutex_lock(&h->mu);
    while (!h->interrupted && pthread_cond_timedwait(&h->cond, &h->mu, &until) != ETIMEDOUT)
        ;
    int r = h->interrupted ? -ECANCELED : 0;
    h->interrupted = false;
    pthread_mutex_unlock(&h->mu);
    return r;
}

static int headless_play(struct render *r, const struct render_item *it)
{
    struct headless *h = (struct headless *)r;
    int rc = file_check(it->path);
    if (rc < 0) {
        json_t *line = item_line("end", it);
        json_object_set_new(line, "outcome", json_string("failed"));
        timeline_write(h, line);
        return rc;
    }
    pthread_mutex_lock(&h->mu);
    bool cancelled = h->interrupted; /* an interrupt that came before this play began */
    h->interrupted = false;
    pthread_mutex_unlock(&h->mu);
    if (cancelled)
        return -ECANCELED;
    int64_t ms = it->duration_ms;
    if (it->type == MANIFEST_ITEM_VIDEO && ms < 1000)
        ms = 1000;
    if (ms < 1)
        ms = 1;
    rc = timeline_write(h, item_line("start", it));
    if (rc < 0)
        return rc;
    rc = wait_interruptible(h, ms);
    json_t *line = item_line("end", it);
    json_object_set_new(line, "outcome", json_string(rc == 0 ? "ended" : "interrupted"));
    int w = timeline_write(h, line);
    return rc < 0 ? rc : w;
}

/* A screen replaces whatever an interrupt meant to cut short. */
static void latch_clear(struct headless *h)
{
    pthread_mutex_lock(&h->mu);
    h->interrupted = false;
    pthread_mutex_unlock(&h->mu);
}

static int headless_show_pairing(struct render *r, const char *code, const struct render_qr *qr)
{
    latch_clear((struct headless *)r);
    (void)qr; /* the terminal shows it (the daemon prints it); a timeline line has no use for it */
    return timeline_write((struct headless *)r,
                          json_pack("{s:s, s:s}", "event", "pairing", "code", code));
}

static int headless_show_error(struct render *r, const char *device_name, const char *reason)
{
    latch_clear((struct headless *)r);
    return timeline_write((struct headless *)r,
                          json_pack("{s:s, s:s, s:s}", "event", "error_screen", "deviceName",
                                    device_name ? device_name : "", "reason", reason));
}

static void headless_interrupt(struct render *r)
{
    struct headless *h = (struct headless *)r;
    pthread_mutex_lock(&h->mu);
    h->interrupted = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
}

const struct render_ops render_headless_ops = {
    .open = headless_open,
    .free = headless_free,
    .play = headless_play,
    .show_pairing = headless_show_pairing,
    .show_error = headless_show_error,
    .interrupt = headless_interrupt,
};
