/* SPDX-License-Identifier: MIT */
/*
 * playback.c — the playback thread (agent-internal.h): the screen's loop (§9, §28.4 PLAYING).
 *
 * It plays the playlist the core published (a->pl) in order, one item at a time, skipping
 * items not verified in the cache and items the renderer failed this generation; a new
 * generation (the core applied a manifest, fell back, or restarted the loop) starts from its
 * first playable item — but only at an item's end: a video is never cut for a new manifest
 * (§28.5), only for a screen change (pairing, the error card) or a stop. At each end it posts
 * MSG_ITEM_END and waits up to DECIDE_WAIT_MS for the core to act on it, so an apply the core
 * decides at that boundary takes effect there; a busy core only delays the switch to the next
 * boundary, never the screen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "macro.h"
#include "player/agent-internal.h"
#include "player/qr.h"

#define DECIDE_WAIT_MS 500

struct playlist *playlist_ref(struct playlist *p)
{
    if (p)
        p->refs++;
    return p;
}

void playlist_unref(struct playlist *p)
{
    if (!p || --p->refs > 0)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i].path);
    free(p->etag);
    free(p);
}

static void wait_play(struct agent *a, int64_t ms)
{
    struct timespec ts;
    clock_mono_deadline(ms, &ts);
    pthread_cond_timedwait(&a->play_cond, &a->mu, &ts);
}

/* The next item to play after @after (SIZE_MAX: from the start), or SIZE_MAX: none. */
static size_t next_item(const struct playlist *p, size_t after)
{
    for (size_t k = 1; k <= p->n; k++) {
        size_t i = after == SIZE_MAX ? k - 1 : (after + k) % p->n;
        if (p->items[i].ready && !p->items[i].failed)
            return i;
    }
    return SIZE_MAX;
}

static void show_pairing(struct agent *a, const char *code)
{
    struct render_qr qr = {0};
    bool have_qr = qr_encode(code, &qr) == 0;
    /* the terminal (stdout; logs go to stderr) shows it too: a screen that cannot show
     * anything yet, or a technician at a console, can still pair */
    printf("\nPair this screen: enter the code %s in the marquee console%s\n", code,
           have_qr ? ", or scan:" : ".");
    if (have_qr)
        qr_print(stdout, &qr);
    fflush(stdout);
    int r = render_show_pairing(a->render, code, have_qr ? &qr : NULL);
    if (r < 0)
        log_msg(LOG_WARN, "render.pairing_failed", "%s", strerror(-r));
    if (have_qr)
        qr_release(&qr);
}

void *playback_main(void *userdata)
{
    struct agent *a = userdata;
    uint64_t gen_seen = 0, seq = 0;
    size_t idx = SIZE_MAX;
    enum play_mode shown = PLAY_IDLE;
    char shown_code[sizeof(a->pairing_code)] = "";
    bool impossible_posted = false;

    pthread_mutex_lock(&a->mu);
    while (!atomic_load(&a->stopping)) {
        if (a->mode == PLAY_PAIRING) {
            if (shown != PLAY_PAIRING || strcmp(shown_code, a->pairing_code) != 0) {
                char code[sizeof(a->pairing_code)];
                memcpy(code, a->pairing_code, sizeof(code));
                shown = PLAY_PAIRING;
                memcpy(shown_code, code, sizeof(code));
                pthread_mutex_unlock(&a->mu);
                if (*code)
                    show_pairing(a, code);
                pthread_mutex_lock(&a->mu);
                continue;
            }
            wait_play(a, 1000);
            continue;
        }
        if (a->mode == PLAY_ERROR) {
            if (shown != PLAY_ERROR) {
                char reason[sizeof(a->error_reason)], name[sizeof(a->device_name)];
                memcpy(reason, a->error_reason, sizeof(reason));
                memcpy(name, a->device_name, sizeof(name));
                shown = PLAY_ERROR;
                pthread_mutex_unlock(&a->mu);
                int r = render_show_error(a->render, name, reason);
                if (r < 0)
                    log_msg(LOG_WARN, "render.error_screen_failed", "%s", strerror(-r));
                pthread_mutex_lock(&a->mu);
                continue;
            }
            wait_play(a, 1000);
            continue;
        }
        if (a->mode != PLAY_ITEMS || !a->pl) {
            wait_play(a, 1000);
            continue;
        }

        struct playlist *p = playlist_ref(a->pl);
        if (a->play_gen != gen_seen) {
            gen_seen = a->play_gen;
            idx = SIZE_MAX;
            impossible_posted = false;
        }
        size_t i = next_item(p, idx);
        if (i == SIZE_MAX) {
            if (!impossible_posted) {
                impossible_posted = true;
                struct msg *m = agent_msg_new(MSG_PLAY_IMPOSSIBLE);
                m->gen = gen_seen;
                agent_post_locked(a, m);
            }
            playlist_unref(p);
            wait_play(a, 1000);
            continue;
        }
        impossible_posted = false;
        shown = PLAY_ITEMS;
        const struct pl_item *it = &p->items[i];
        struct render_item ri = {
            .asset_id = it->asset_id,
            .path = it->path,
            .type = it->type,
            .duration_ms = it->duration_ms,
            .index = i,
            .manifest_etag = p->etag,
            .orientation = p->orientation,
        };
        uint64_t gen = gen_seen;
        struct msg *m = agent_msg_new(MSG_ITEM_START);
        snprintf(m->asset_id, sizeof(m->asset_id), "%s", it->asset_id);
        m->index = i;
        m->gen = gen;
        agent_post_locked(a, m);
        a->in_play = true;
        pthread_mutex_unlock(&a->mu);

        int r = render_play(a->render, &ri);

        pthread_mutex_lock(&a->mu);
        a->in_play = false;
        idx = i;
        if (r == -ECANCELED) {
            playlist_unref(p);
            continue; /* a screen change or a stop: the loop looks again */
        }
        if (r < 0) {
            p->items[i].failed = true;
            m = agent_msg_new(MSG_PLAY_FAILED);
            snprintf(m->asset_id, sizeof(m->asset_id), "%s", p->items[i].asset_id);
            m->index = i;
            m->gen = gen;
            m->error = r;
            agent_post_locked(a, m);
        }
        playlist_unref(p);
        m = agent_msg_new(MSG_ITEM_END);
        m->seq = ++seq;
        m->gen = gen;
        agent_post_locked(a, m);
        /* the boundary: give the core a moment to apply a staged manifest here */
        for (int k = 0; k < DECIDE_WAIT_MS / 50 && a->ends_done < seq && !atomic_load(&a->stopping);
             k++)
            wait_play(a, 50);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}
