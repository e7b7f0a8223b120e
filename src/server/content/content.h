/* SPDX-License-Identifier: MIT */
/*
 * content.h — the content module (spec §6, §13, §14, §32.3; docs/content.md): assets and
 * their upload sessions, the processing worker, the local object store and the media origin.
 *
 * DESIGN
 * The bytes of a file never pass through an API handler. An upload session (assets.c) hands
 * the client a signed URL on the object store's own endpoint (origin.c), which streams the
 * body straight into <data_dir>/uploads/<assetId> and keeps whatever arrived, so an upload
 * resumes after a broken connection. `complete` moves the asset to PROCESSING and wakes the
 * worker pool (worker.c): size, SHA-256 against the declared checksum, then a child process
 * (`marqueed media-inspect`, inspect.c) validates the file with FFmpeg and writes the
 * thumbnail; a crash or a hang there fails one asset, never the server. Valid files move into
 * the content-addressed store (objstore.c) by rename; the database row is the only queue, so
 * a restart picks PROCESSING assets up again. The §13.5 timeouts and the clean-up are jobs on
 * marqueed's clock (jobs.c). Media are served by signed, expiring URLs (urls.c) with Range,
 * ETag and sendfile; a CDN or an nginx edge may sit in front (media_public_url).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "hash.h"
#include "http/http.h"

struct app;
struct store_conn;

#define UPLOAD_SESSION_TTL_MS   (60LL * 60 * 1000)        /* §13.5: UPLOADING 60 minutes */
#define PROCESSING_TIMEOUT_MS   (10LL * 60 * 1000)        /* §13.5: PROCESSING 10 minutes */
#define FAILED_RETENTION_MS     (30LL * 24 * 3600 * 1000) /* §13.5: FAILED kept 30 days */
#define PROCESSING_MAX_ATTEMPTS 3                         /* starts before INTERNAL_ERROR */
#define OBJECT_GC_GRACE_MS      (60LL * 60 * 1000)        /* unreferenced objects kept an hour */

/* The signature classes: what a signed URL may be used for. */
#define SIGN_MEDIA  "GET" /* GET/HEAD of /media/… */
#define SIGN_UPLOAD "PUT" /* PUT/GET/HEAD of /store/uploads/… */

struct content {
    struct app *app;
    char *uploads_dir; /* partial uploads, one file per asset id */
    char *objects_dir; /* the content-addressed store: objects/ab/ab…(64 hex) */
    char *tmp_dir;     /* thumbnails in the making (same file system as objects/) */
    char *self_exe;    /* this binary, for the inspector child */
    unsigned char key[64];
    size_t key_len;

    pthread_mutex_t lock; /* everything below */
    pthread_cond_t wake;  /* the worker pool's: work queued, or stop */
    char **busy_uploads;  /* upload ids with a PUT in flight */
    size_t n_busy, cap_busy;
    char **queue; /* asset ids to process, FIFO */
    size_t n_queue, cap_queue;
    char **processing; /* asset ids a worker holds now */
    size_t n_processing, cap_processing;
    _Atomic bool stopping; /* read without the lock by workers watching a child */
    pthread_t *workers;
    size_t n_workers;

    pthread_mutex_t store_lock; /* object placement vs. garbage collection */

    /* for /metrics */
    _Atomic uint64_t n_ready, n_failed;   /* processing outcomes since start */
    _Atomic uint64_t processing_us_total; /* time spent on them */
};

/* Small lists of ids, in order (the work queue, the uploads being written); under c->lock. */
bool idlist_has(char **list, size_t n, const char *id);
void idlist_push(char ***list, size_t *n, size_t *cap, const char *id);
void idlist_remove(char **list, size_t *n, const char *id);

/** The module's state (never NULL once content_register() succeeded). */
struct content *content_of(struct app *app);

/** Registers the asset, upload and origin routes; sets up directories and the signing key. */
int content_register(struct app *app);
/** Starts the processing workers and the background jobs (after the server started). */
int content_start(struct app *app);
/** Stops and joins them; frees the module. Idempotent. */
void content_release(struct app *app);
/** Records an asset change in the tenant's change feed (inside the caller's transaction):
 *  created, processing, ready, failed, deleted. */
int asset_change(struct store_conn *conn, const char *tenant_id, const char *asset_id,
                 const char *venue_id, const char *action, const char *actor_user_id);
/** Appends the module's Prometheus metrics (queue, in flight, outcomes, time). */
void content_metrics_render(struct content *c, struct buf *out);

/* ---- urls.c: signing ---------------------------------------------------------------------- */

/** Loads media_signing_key, or the key file under data_dir (created once, 0600). */
int content_key_load(struct content *c, const char *spec, const char *data_dir,
                     const char **ret_problem);
/** Hex HMAC-SHA256 of "<class>\n<path>\n<expires>". */
void content_sign(const struct content *c, const char *cls, const char *path, int64_t expires,
                  char out[HASH_SHA256_HEX_LEN]);
/** Checks the request's `expires` and `signature` for @cls over its path. 0, or replies 403
 *  (SIGNATURE_INVALID / SIGNATURE_EXPIRED) and returns -ECANCELED. */
int content_verify(struct http_request *req, const struct content *c, const char *cls);
/** The signed URL of object @sha (with extension @ext) under media_public_url; its expiry. */
char *content_media_url(const struct content *c, const char *sha, const char *ext,
                        int64_t *ret_expires);
/** The file extension media URLs carry for @mime (jpg, png, mp4), or NULL. */
const char *content_ext_of(const char *mime);
/** The media type of a media URL's extension, or NULL. */
const char *content_type_of_ext(const char *ext);
/** The signed upload URL of @upload_id, valid until @expires (seconds). */
char *content_upload_url(const struct content *c, const char *upload_id, int64_t expires);

/* ---- objstore.c --------------------------------------------------------------------------- */

int objstore_init(struct content *c, const char *data_dir);
/** objects/ab/<sha> — caller frees. */
char *objstore_path(const struct content *c, const char *sha);
/** uploads/<asset_id> — caller frees. */
char *objstore_upload_path(const struct content *c, const char *asset_id);
/** Moves the file at @src (fsynced here) into the store as @sha; if the store already has
 *  it, @src is removed instead (identical files are stored once). 0 or -errno. */
int objstore_put(struct content *c, const char *src, const char *sha);
/** Removes objects no asset row names and older than the grace period; how many. */
int objstore_gc(struct content *c, struct store_conn *conn, int64_t now_ms, unsigned *ret_removed);
/** True when @s is 64 lower-case hex digits. */
bool objstore_sha_valid(const char *s);

/* ---- origin.c ----------------------------------------------------------------------------- */

int origin_register(struct app *app);
/** Marks upload @id as being written (one PUT or complete at a time): false if it already is. */
bool content_busy_take(struct content *c, const char *id);
void content_busy_put(struct content *c, const char *id);

/* ---- assets.c ----------------------------------------------------------------------------- */

int assets_register(struct app *app);

/* ---- worker.c ----------------------------------------------------------------------------- */

int worker_start(struct content *c, unsigned n);
void worker_stop(struct content *c);
/** Queues @asset_id (a no-op when it is queued or being processed). */
void worker_enqueue(struct content *c, const char *asset_id);
/** Queues every PROCESSING asset (start-up, and periodically for stragglers). */
int worker_enqueue_pending(struct content *c);

/* ---- jobs.c ------------------------------------------------------------------------------- */

/** Runs the §13.5 timeouts now; the result as JSON ({"timedOut":n,…}). */
int jobs_asset_timeouts(struct content *c, json_t **ret);
/** Runs the storage clean-up now (retention, soft-delete purge, store GC). */
int jobs_storage_cleanup(struct content *c, json_t **ret);
/** Puts the timeouts (every minute) and the storage clean-up (every hour) on the ticker. */
int jobs_register(struct app *app);
