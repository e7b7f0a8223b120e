/* SPDX-License-Identifier: MIT */
/*
 * agent-internal.h — the daemon's three threads and what they share (agent.c is the core,
 * net.c the network thread, playback.c the playback thread).
 *
 * DESIGN. The core thread owns the state machine (fsm.h), the manifest store, the cache index,
 * the download engine and the outbox: every decision is made there, in one thread, in the
 * order events arrive. It never waits on the server: its only wait is dl_run(), which any
 * other thread interrupts with dl_wakeup() after queueing a message. The network thread makes
 * every HTTP call to marqueed (pairing, manifest, heartbeat, events, commands), one at a time,
 * and posts what it learnt to the core; a slow or absent server delays only it. The playback
 * thread drives the renderer: it plays one item at a time from the playlist the core
 * published, and at each item's end (a safe boundary) asks the core whether to switch, waiting
 * for the answer only briefly, so the screen never waits on anything but the renderer.
 *
 * Everything shared is under one mutex, a->mu, held only for copies and flag changes.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "player/api.h"
#include "player/cache.h"
#include "player/download.h"
#include "player/fsm.h"
#include "player/manifest.h"
#include "player/outbox.h"
#include "player/render.h"
#include "player/settings.h"

#define AGENT_VERSION "0.8.0"

/* Files in the data directory. */
#define AGENT_TOKEN_FILE  "device-token" /* {"deviceId","venueId","tenantId","token"} 0600 */
#define AGENT_STATUS_FILE "status.json"  /* what `marquee-player status` shows */
#define AGENT_LOCK_FILE   "lock"         /* flock: one daemon per data directory */
#define AGENT_HWID_FILE   "hardware-id"  /* a random id kept when /etc/machine-id is missing */

/* What the other threads tell the core. */
enum msg_type {
    MSG_FETCHED,         /* net: the answer to FSM_ACT_FETCH_MANIFEST */
    MSG_API_STATUS,      /* net: a heartbeat, events or commands call answered .http_status */
    MSG_PAIRING_CODE,    /* net: a pairing code to show (.code) */
    MSG_PAIRED,          /* net: a device token was stored */
    MSG_COMMAND,         /* net: a new command (.command_id, .name, .params) */
    MSG_ITEM_START,      /* playback: item .index (.asset_id) of generation .gen went on screen */
    MSG_ITEM_END,        /* playback: it ended or was skipped — a safe boundary (.seq) */
    MSG_PLAY_FAILED,     /* playback: item .index could not be played (.error) */
    MSG_PLAY_IMPOSSIBLE, /* playback: no item of generation .gen can be played */
};

struct msg {
    struct msg *next;
    enum msg_type type;
    int http_status;
    int curl_code;
    int32_t retry_after_s;
    uint32_t fetch_id;
    bool full;
    char *body; /* MSG_FETCHED 200: the manifest (owned) */
    size_t len;
    char etag[MANIFEST_HTTP_ETAG_MAX + 1];
    char code[16];
    char command_id[OUTBOX_ID_MAX];
    char name[32];
    json_t *params;
    char asset_id[UUID_STR_LEN];
    size_t index;
    uint64_t gen, seq;
    int error;
};

/* What the playback thread plays: a copy of one manifest's items (refcounted under a->mu). */
struct pl_item {
    char asset_id[UUID_STR_LEN];
    char *path;
    enum manifest_item_type type;
    int64_t duration_ms;
    bool ready;  /* verified in the cache (the core updates it under a->mu) */
    bool failed; /* the renderer could not play it in this generation */
};

struct playlist {
    unsigned refs;
    char *etag; /* manifestEtag */
    char playlist_id[UUID_STR_LEN];
    int64_t version;
    enum manifest_orientation orientation;
    enum fsm_slot slot;
    size_t n;
    struct pl_item items[];
};

enum play_mode {
    PLAY_IDLE,    /* booting: nothing decided yet */
    PLAY_ITEMS,   /* a->pl */
    PLAY_ERROR,   /* the fallback card */
    PLAY_PAIRING, /* the pairing screen */
};

/* What the heartbeat reports, kept current by the core (under a->mu). */
struct hb_snapshot {
    const char *state; /* fsm_heartbeat_state() */
    char manifest_etag[MANIFEST_ETAG_MAX + 1];
    char playlist_id[UUID_STR_LEN];
    int64_t published_version;
    char asset_id[UUID_STR_LEN];
    int64_t item_index; /* -1: nothing on screen */
    int64_t loop_count;
    uint64_t budget_bytes, used_bytes;
    uint64_t assets, pending_downloads;
    bool connected;
    int64_t last_sync_ms;
    unsigned playback_failures, download_failures, fetch_failures; /* since the last beat */
    enum fsm_sync_status sync;
    int64_t interval_s;
};

struct agent {
    struct settings *set;
    char *dir;
    int lock_fd;
    enum render_kind render_kind;

    pthread_mutex_t mu;
    atomic_bool stopping;
    bool reexec;  /* REBOOT_APP: exec ourselves once stopped */
    bool stopped; /* the threads are joined (status.json says "running": false) */

    /* ---- core-owned (the core thread only) ---- */
    struct fsm fsm;
    struct manifest_store *store;
    struct manifest_slots slots;
    char *rejected_etag; /* the manifestEtag of the rejected manifest (FSM "staged or rejected") */
    char *applied_from;  /* current's manifestEtag before the last apply (MANIFEST_APPLIED) */
    enum fsm_reason error_reason_code; /* of the last ERROR_SCREEN_ENTERED */
    struct msg *fetched;               /* the 200 answer being decided on (STAGE takes its body) */
    struct cache *cache;
    struct dl *dl;
    struct outbox *outbox;
    int64_t budget_bytes;
    bool paused;        /* downloads paused: the budget is full of protected assets */
    unsigned dl_failed; /* assets FAILED (n_failed), for the sync status */
    struct failed_asset {
        char id[CACHE_ASSET_ID_MAX + 1];
        bool retry; /* a sync came since it failed: it may be queued again */
    } * failed;     /* FAILED after their attempts: retried at a later sync (§28.9) */
    size_t n_failed;
    struct pending_cmd {
        char id[OUTBOX_ID_MAX];
        enum fsm_command type;
        json_t *params;
    } * cmds;
    size_t n_cmds;
    int64_t status_written_ms, snapshot_ms;
    char *status_last; /* status.json as last written, without its time */
    bool status_dirty;
    bool changed;      /* something happened since the last snapshot */
    bool assets_dirty; /* the cache changed outside a download: tell the machine */
    int fatal;         /* a thread could not work (the run's result) */
    char now_asset[UUID_STR_LEN];
    int64_t now_index;
    int off_from, off_to; /* the off-peak window, minutes of the day; -1: none */
    size_t verify_cursor; /* the next held asset a sync re-hashes */
    int64_t log_until_ms; /* SET_LOG_LEVEL's level ends then (wall clock; 0: it does not) */

    /* ---- to the core (under mu) ---- */
    struct msg *q_head, **q_tail;

    /* ---- the network thread (requests under mu) ---- */
    pthread_t net_thread;
    pthread_cond_t net_cond;
    struct api *api;
    bool want_fetch;
    uint32_t fetch_id;
    bool fetch_full;
    char fetch_inm[MANIFEST_HTTP_ETAG_MAX + 1]; /* "" none */
    bool want_pairing;
    bool token_changed; /* the stored token changed: reload it before the next call */
    bool has_token;
    char device_id[API_ID_MAX];
    char device_name[API_NAME_MAX]; /* from the claim (the error card shows it) */
    bool results_waiting;           /* command results to post */
    struct hb_snapshot hb;
    char *inventory; /* JSON array text, or NULL when unchanged since the last beat */
    bool inventory_changed;
    uint64_t inventory_gen; /* bumped with each new inventory text */

    /* ---- the playback thread (under mu) ---- */
    pthread_t play_thread;
    pthread_cond_t play_cond;
    struct render *render;
    enum play_mode mode;
    struct playlist *pl;
    uint64_t play_gen;
    uint64_t ends_done; /* the last MSG_ITEM_END .seq the core has acted on */
    bool in_play;       /* render_play() runs: a screen change interrupts it */
    char pairing_code[16];
    char error_reason[64];
};

/* agent.c */
void agent_post(struct agent *a, struct msg *m);        /* any thread; takes m */
void agent_post_locked(struct agent *a, struct msg *m); /* the same, a->mu held */
struct msg *agent_msg_new(enum msg_type t);
void agent_msg_free(struct msg *m);
void agent_request_stop(struct agent *a);
void agent_command_interrupted(struct outbox *ob, const struct outbox_command *c);
int agent_token_load(const char *dir, char *token, size_t size, char *device_id, size_t id_size,
                     char *name, size_t name_size);

/* net.c */
void *net_main(void *userdata);

/* playback.c */
void *playback_main(void *userdata);
struct playlist *playlist_ref(struct playlist *p); /* under mu */
void playlist_unref(struct playlist *p);           /* under mu */

/* status.c */
int status_write(struct agent *a); /* core: DIR/status.json */
int status_main(int argc, char **argv);
