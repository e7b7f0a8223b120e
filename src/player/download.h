/* SPDX-License-Identifier: MIT */
/*
 * download.h — marquee-player's asset download engine (spec §28.9, §33.3.4, §11.2; issue 8
 * "Downloads"): a priority queue of asset downloads on libcurl's multi interface, resumed with
 * Range after any interruption (a kill included), verified by the cache, retried with backoff.
 *
 * Driven by the caller's loop, with no thread of its own: the daemon calls dl_run(e, timeout)
 * whenever it has nothing more urgent to do (it waits at most that long, in curl_multi_poll(),
 * for transfer activity, then moves every transfer on), and drains dl_result_next() after it.
 * Another thread (the playback one, a signal handler's pipe) may interrupt the wait with
 * dl_wakeup(). Nothing else of an engine may be used by two threads.
 *
 * A job's life: QUEUED → (its turn: the priority class, then the order of dl_add(); at most
 * max_active at once; the admit hook says the budget allows it) → reserve in the cache (a
 * PENDING row and DIR/tmp/<assetId>.part) → ACTIVE: GET with `Range: bytes=<size of .part>-`
 * when the .part has bytes, appending what a 206 sends; a 200 to that request (a server that
 * ignores Range) truncates the .part and starts from 0; a 416 (the .part already holds all the
 * server has) goes straight to verification → cache_commit() (size and SHA-256; a mismatch
 * deletes the .part) → a DONE result. An attempt that fails (no connection, a stall below
 * low_speed_limit for low_speed_time_s, an HTTP error, more bytes than expected, a checksum
 * mismatch) waits a backoff with full jitter, uniform in [0, min(cap, base · 2^(attempt−1))]
 * — after a 429 or 503 with a Retry-After (seconds or an HTTP-date), at least that, taken as
 * 1 h at most —, then runs again, resuming whatever .part it left; after max_attempts a FAILED
 * result carries the last HTTP status and the retry count (the DOWNLOAD_FAILED event) and the job
 * is dropped, leaving its .part and PENDING row for the next sync to resume. An HTTP 4xx other than
 * 408 and 429 fails at once: the same URL will not get better (a signed URL that expired, a deleted
 * object); the next sync brings a fresh one.
 *
 * Crash safety is the cache's (cache.h): the .part is only ever appended to, or truncated to
 * 0 before new content; cache_commit() renames it into place. After a kill, cache_reconcile()
 * at boot keeps a reserved .part and a new engine's job for the same asset resumes from it.
 *
 * The engine does not decide what to evict: before each start it asks the caller's admit hook,
 * which runs cache_policy_plan() with the protected set it alone knows and evicts, or answers
 * that downloads pause (§11.2); paused jobs stay QUEUED until dl_unpause().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "player/cache.h"

/** The order of §28.9: the staged manifest's assets, then the next to play, then the rest. */
enum dl_priority {
    DL_PRIO_STAGED,
    DL_PRIO_NEXT,
    DL_PRIO_REST,
};
#define DL_PRIO_COUNT 3

/** The longest URL a job takes (a signed URL with its query string). */
#define DL_URL_MAX 4096

struct dl_job {
    const char *asset_id; /* as the cache takes it: [A-Za-z0-9_-]{1,64} */
    const char *url;      /* http:// or https://, at most DL_URL_MAX bytes */
    const char *sha256;   /* hex, either case */
    uint64_t bytes;       /* the expected size, ≤ INT64_MAX */
    enum dl_priority priority;
};

/**
 * Asked before a job starts, with the bytes it will add to the cache (its full size: the cache
 * counts a PENDING reservation at its full size). 0: start it; > 0: not now — the engine pauses
 * every start until dl_unpause(); < 0 (-errno): the job fails with that error. Runs inside
 * dl_run() on the caller's thread.
 */
typedef int (*dl_admit_fn)(void *userdata, const char *asset_id, uint64_t bytes);

/** The random source of the backoff jitter: a uniformly random 32-bit number. */
typedef uint32_t (*dl_random_fn)(void *userdata);

struct dl_config {
    unsigned max_active;       /* [2] transfers at once, 1 … 16 */
    unsigned max_attempts;     /* [3] attempts per job before FAILED, 1 … 100 */
    int64_t backoff_base_ms;   /* [1 s] the first retry's backoff ceiling */
    int64_t backoff_cap_ms;    /* [60 s] no ceiling above this */
    uint64_t max_recv_bytes_s; /* [0: none] bytes/s for all transfers together: each gets
                                * max_recv_bytes_s / max_active (libcurl caps per transfer) */
    long low_speed_limit;      /* [1024] bytes/s below which a transfer is stalled … */
    long low_speed_time_s;     /* [30] … for this long: the attempt fails */
    long connect_timeout_s;    /* [30] */
    dl_admit_fn admit;         /* [NULL: always start] */
    dl_random_fn random;       /* [NULL: libsodium's randombytes_random()] */
    void *userdata;            /* for admit and random */
    const char *user_agent;    /* [NULL: "marquee-player"] copied */
    const char *ca_file;       /* [NULL: the system's] copied */
};

/** Fills *cfg with the defaults named in struct dl_config. Cannot fail. */
void dl_config_default(struct dl_config *cfg);

enum dl_outcome {
    DL_DONE,   /* the asset is READY in the cache (also when it already was) */
    DL_FAILED, /* after its attempts, or at once (a 4xx, an admit error, a cache error) */
};

/** What became of one job, for the caller to drain with dl_result_next(). */
struct dl_result {
    char asset_id[CACHE_ASSET_ID_MAX + 1];
    enum dl_outcome outcome;
    int error;               /* FAILED: the last attempt's -errno (-EIO: HTTP error, -EBADMSG:
                                checksum mismatch, -ETIMEDOUT: stalled, -ECONNREFUSED, …) */
    int http_status;         /* the last response's status; 0: no HTTP answer */
    unsigned retry_count;    /* attempts − 1 */
    uint64_t bytes_received; /* body bytes written to the .part over all attempts */
};

/** Counts for the sync status (struct fsm_downloads): transfers running, jobs waiting. */
struct dl_counts {
    unsigned active;
    unsigned queued;  /* waiting for a slot, the admit hook or a backoff */
    unsigned waiting; /* of those, waiting for a backoff to end */
    bool paused;
};

struct dl;

/**
 * Creates an engine that downloads into the cache @c (borrowed: it must outlive the engine and
 * be used by no other thread while dl_run() runs) with @cfg (NULL: the defaults). -EINVAL for
 * a config value out of range, -ENOMEM when libcurl cannot start (curl_global_init() is the
 * caller's: call it once at start, before any thread). *@ret untouched on failure.
 */
int dl_new(struct cache *c, const struct dl_config *cfg, struct dl **ret);

/**
 * Stops every transfer (their .part files and PENDING rows stay, so a new engine resumes them),
 * drops the queue and the undrained results. Accepts NULL; returns NULL.
 */
struct dl *dl_free(struct dl *e);

static inline void dl_freep(struct dl **e)
{
    *e = dl_free(*e);
}

/**
 * Queues a download. 0 when queued; -EEXIST when that assetId is already queued or running (its
 * priority is raised to @job's when higher: a staged manifest naming an asset already queued
 * as "the rest"); -EINVAL for a bad assetId, URL, SHA-256 or size. Copies what it keeps. An
 * asset already READY is reported DONE by the next dl_run() without a request.
 */
int dl_add(struct dl *e, const struct dl_job *job);

/**
 * Drops the job of @asset_id (stopping its transfer; the .part and PENDING row stay — the
 * caller cache_remove()s them when the asset is not wanted any more). -ENOENT when there is
 * none. No result is reported for it.
 */
int dl_cancel(struct dl *e, const char *asset_id);

/** Lets starts run again after the admit hook paused them (the budget may have room now). */
void dl_unpause(struct dl *e);

/** Whether the job of @asset_id is still wanted (dl_retain()). */
typedef bool (*dl_keep_fn)(void *userdata, const char *asset_id);

/**
 * Drops every job (queued or running) whose asset @keep does not want, as dl_cancel() drops
 * one: no result is reported for them; their .part and PENDING row stay for the caller. The
 * number dropped.
 */
size_t dl_retain(struct dl *e, dl_keep_fn keep, void *userdata);

/**
 * Moves every transfer on: waits up to @timeout_ms (0: not at all; shortened to the next
 * backoff's end) for activity, reads and writes what is ready, finishes completed transfers
 * (verify and commit, or schedule a retry) and starts queued jobs up to max_active. Returns
 * the number of results now waiting in the queue (≥ 0), or -errno when libcurl's multi handle
 * fails (-ENOMEM, -EIO); per-job failures are results, never an error of this call.
 */
int dl_run(struct dl *e, int timeout_ms);

/** Interrupts a dl_run() waiting in another thread. The one call safe from any thread. */
void dl_wakeup(struct dl *e);

/** Takes the oldest result into *@ret: 1, or 0 (and *@ret untouched) when there is none. */
int dl_result_next(struct dl *e, struct dl_result *ret);

/** The current counts in *@ret. */
void dl_counts_get(const struct dl *e, struct dl_counts *ret);

/**
 * The backoff before attempt @attempt + 1 after @attempt failed ones (≥ 1), in ms: uniform by
 * @rnd in [0, min(cap, base · 2^(attempt−1))] (full jitter). 0 when @attempt is 0. Pure.
 */
int64_t dl_backoff_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, uint32_t rnd);
