/* SPDX-License-Identifier: MIT */
/*
 * cache.h — marquee-player's media cache (spec §11, §33.3.5, §33.4, §33.6; issue 8 "Cache").
 *
 * Two layers:
 *
 * 1. The eviction policy, cache_policy_plan(): pure. Given what the cache holds, the budget, the
 *    assets that must stay and the bytes about to be added, it says what to evict and whether the
 *    download may start. No clock (now is an input), no I/O; the same input in any order gives
 *    the same plan.
 *
 * 2. The index, struct cache: an SQLite file DIR/cache.db (WAL) that records every asset file
 *    under DIR/assets/ and every download in progress under DIR/tmp/, kept in agreement with the
 *    files across kill -9 and power cuts (cache_reconcile() at boot).
 *
 * The rules (what the policy decides):
 * - The budget counts every entry: READY assets and PENDING downloads (their full expected
 *   size, reserved when they start).
 * - Protected assets (the caller names them: those the current and previous manifests
 *   reference and whatever is playing — and, so a manifest being staged does not evict its own
 *   assets to fetch the rest, the staged one's) and PENDING entries are never evicted.
 * - Eviction runs when the use after the addition would exceed 90% of the budget, and evicts
 *   unprotected READY assets, least recently used first (ties by assetId), until it no longer
 *   would: the fewest evictions that get to 90%, no hysteresis — every asset kept is one the
 *   screen can fall back to offline, and the policy runs again before each download anyway.
 * - When even evicting everything evictable does not get there, the budget itself is the hard
 *   limit: the download may still start if it fits within 100% (a manifest whose protected
 *   assets fill 95% of the budget must still be downloadable), with every evictable asset
 *   evicted. If it does not fit even then, downloads pause (§11.2) and the incoming bytes
 *   reserve nothing: the plan evicts only what it would with nothing incoming.
 * - Expiry ("expired content removed automatically; cached content kept ≥ 72 h offline"): an
 *   unprotected READY asset unused for more than keep_unused_s (72 h) is evicted even under
 *   budget, and one used within that time stays unless the budget needs its room. The protected
 *   set is what the screen plays, online or offline, so it is never expired. Expired assets are
 *   exactly the oldest ones, so the plan is always a prefix of the LRU order.
 *
 * The daemon's use: at boot cache_open(), then cache_reconcile() with what the current,
 * previous and staged manifests reference. Before a download, cache_list() and
 * cache_policy_plan() with its size: cache_remove() what the plan evicts; on PAUSE wait for a
 * manifest change; else cache_reserve(), download into cache_part_path() (appending to what is
 * there), cache_commit() (-EBADMSG: fetch again). On each play cache_touch(). On each sync
 * cache_verify() every READY asset a manifest references, against its checksumSha256:
 * -EBADMSG or -ENOENT → cache_remove() and fetch again.
 *
 * Threads: the policy is reentrant. A struct cache is used by one thread at a time; threads
 * (and the `status` command in another process) open their own, which WAL and the busy timeout
 * make safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

/** How long an unprotected asset nobody plays is kept (device sync story, offline handling). */
#define CACHE_KEEP_UNUSED_S (72 * 3600)
/** The default budget (§11.1), when the manifest names none. */
#define CACHE_DEFAULT_BUDGET_BYTES UINT64_C(2000000000)
/** Eviction starts above this share of the budget (§11.2), in per cent. */
#define CACHE_HIGH_WATER_PERCENT 90
/** The longest assetId the index takes: [A-Za-z0-9_-], it names a file. */
#define CACHE_ASSET_ID_MAX 64

/** Whether @id can name an asset here: 1 to CACHE_ASSET_ID_MAX of [A-Za-z0-9_-] (it becomes a
 *  file name). */
bool cache_asset_id_valid(const char *id);
/** 64 hex digits of either case into @out in lower case; 0, or -EINVAL. */
int cache_sha256_normalize(const char *s, char out[HASH_SHA256_HEX_LEN]);
/** The latest instant the index stores (9999-12-31T23:59:59Z); the earliest is the epoch. */
#define CACHE_TIME_MAX INT64_C(253402300799)

enum cache_state {
    CACHE_STATE_PENDING, /* being downloaded into DIR/tmp/<assetId>.part; bytes reserved */
    CACHE_STATE_READY,   /* verified, in DIR/assets/<assetId> */
};

/** One asset of the cache, as the index lists it and the policy reads it. */
struct cache_entry {
    char asset_id[CACHE_ASSET_ID_MAX + 1];
    char sha256[HASH_SHA256_HEX_LEN]; /* lower-case hex; the policy ignores it */
    uint64_t bytes;                   /* the file's size (PENDING: the expected size) */
    int64_t last_used_utc;            /* seconds since the epoch */
    enum cache_state state;
};

/* ---- the policy (pure) --------------------------------------------------------------------- */

struct cache_policy_input {
    const struct cache_entry *entries; /* assetIds unique */
    size_t n_entries;
    const char *const *protected_ids; /* in any order; repeats and unknown ids are fine */
    size_t n_protected;
    uint64_t budget_bytes;   /* 0 is a budget of nothing */
    uint64_t incoming_bytes; /* about to be added, not yet in entries; 0 for a sweep */
    int64_t now_utc;
    int64_t keep_unused_s; /* CACHE_KEEP_UNUSED_S */
};

enum cache_action {
    CACHE_ACTION_NONE,  /* the incoming bytes fit; nothing to evict */
    CACHE_ACTION_EVICT, /* evict the listed entries; then the incoming bytes fit */
    CACHE_ACTION_PAUSE, /* they do not fit: pause downloads (still evict the listed ones) */
};

struct cache_plan {
    enum cache_action action;
    size_t *evict; /* indexes into the input's entries, least recently used first */
    size_t n_evict;
    uint64_t used_bytes; /* in use after the evictions, without the incoming bytes */
};

/**
 * Decides what to evict before @in->incoming_bytes are added (see the rules at the top).
 * Fills *@ret, which the caller releases with cache_plan_release(). -EINVAL for a NULL or
 * repeated assetId or a negative keep_unused_s, -EOVERFLOW when the sizes add up past 2^64;
 * *@ret is untouched then. Allocates (aborts when out of memory); reads no clock.
 */
int cache_policy_plan(const struct cache_policy_input *in, struct cache_plan *ret);

/** Frees what a plan holds and zeroes it; a zeroed plan is fine. */
void cache_plan_release(struct cache_plan *plan);

/** 90% of @budget, rounded down, without overflow. */
uint64_t cache_high_water(uint64_t budget);

/* ---- the index (SQLite + files) ------------------------------------------------------------ */

/**
 * Crash safety (the order of every change, so that a kill -9 or a power cut at any instant
 * leaves a state cache_reconcile() turns back into agreement):
 * - the invariant at run time: a READY row has its complete file in DIR/assets/. So a file is
 *   renamed into place (after its data was fsynced and its SHA-256 checked) and its directory
 *   fsynced before the row says READY, and a row is deleted before its file is unlinked. What a
 *   crash can leave is a file without a row (adopted or deleted at boot) and a PENDING row
 *   whose .part was never created (dropped at boot); a READY row whose file is missing comes
 *   only from damage outside the player (dropped at boot too).
 * - SQLite runs WAL with synchronous=FULL: a committed row is on disk when the call returns,
 *   so a manifest applied because its assets were READY does not lose them to a power cut.
 *   (The server's store uses NORMAL; here writes are a handful per download and per play.)
 */
struct cache;

/** What a manifest wants: reconcile adopts, keeps or drops files against it. */
struct cache_want {
    const char *asset_id;
    const char *sha256; /* hex, either case */
    uint64_t bytes;
};

/**
 * Opens the index of the data directory @dir (which must exist), creating DIR/cache.db (0600),
 * DIR/assets/ and DIR/tmp/ (0700) when missing. -ENOENT / -ENOTDIR for @dir,
 * -EPROTONOSUPPORT when the index was written by a newer player (schema version above ours),
 * -EUCLEAN when cache.db is not an SQLite database or is corrupt (the caller may move it
 * aside and open again: reconcile then adopts what the manifests still want), else -errno.
 */
int cache_open(const char *dir, struct cache **ret);

/** Closes the index. Accepts NULL; returns NULL. */
struct cache *cache_free(struct cache *c);

static inline void cache_freep(struct cache **c)
{
    *c = cache_free(*c);
}

/** The file of a READY asset, DIR/assets/<assetId>, as a new string in *@ret; -EINVAL for an
 *  assetId the index refuses. Does not look at the index. */
int cache_asset_path(const struct cache *c, const char *asset_id, char **ret);

/** Where a download writes, DIR/tmp/<assetId>.part, as a new string in *@ret; -EINVAL as above. */
int cache_part_path(const struct cache *c, const char *asset_id, char **ret);

/**
 * Records that @asset_id is being downloaded (a PENDING row reserving @bytes), before the
 * download creates its .part. Again for a PENDING asset it updates the expectation; a .part
 * fetched for another SHA-256 is deleted first (its bytes are of other content). -EEXIST when
 * the asset is READY, -EINVAL for a bad assetId, SHA-256, size (> INT64_MAX) or @now_utc.
 */
int cache_reserve(struct cache *c, const char *asset_id, const char *sha256, uint64_t bytes,
                  int64_t now_utc);

/**
 * Moves a finished download into the cache: fsyncs DIR/tmp/<assetId>.part, checks its size and
 * SHA-256 against @bytes and @sha256, renames it to DIR/assets/<assetId>, fsyncs both
 * directories, and only then marks the row READY (inserting it when there was no reservation)
 * with last used @now_utc.
 * -ENOENT when there is no .part; -EBADMSG when it is not the expected bytes: the .part is
 * deleted (a resumed download would only extend the damage) and a reservation stays PENDING;
 * -EEXIST when the asset is already READY (to replace it, remove it first); -EINVAL for bad
 * arguments. When the row cannot be written after the rename, the file is renamed back to
 * its .part, so a later commit can retry without fetching it again.
 */
int cache_commit(struct cache *c, const char *asset_id, const char *sha256, uint64_t bytes,
                 int64_t now_utc);

/** Sets the last use of a READY asset. -ENOENT when no READY row has that assetId. */
int cache_touch(struct cache *c, const char *asset_id, int64_t now_utc);

/**
 * Removes an asset (READY or PENDING): the row first, then its file or .part, then an fsync
 * of the directory. -ENOENT when there is no row (nothing is done). A file already missing is
 * fine; a failing unlink is returned, with the row gone (the boot's reconcile deletes the file).
 */
int cache_remove(struct cache *c, const char *asset_id);

/** The row of @asset_id in *@ret; -ENOENT when there is none. */
int cache_get(struct cache *c, const char *asset_id, struct cache_entry *ret);

/** Every row, ordered by assetId, as a new array (free() it) in *@ret and its length in *@ret_n. */
int cache_list(struct cache *c, struct cache_entry **ret, size_t *ret_n);

/** The bytes the budget counts: READY sizes plus PENDING reservations. */
int cache_total_bytes(struct cache *c, uint64_t *ret);

/**
 * Re-reads a READY asset's file and compares its size and SHA-256 with its row and, when
 * @expect_sha256 is not NULL, the row's SHA-256 with it (what the manifest now says). 0 when
 * all agree; -EBADMSG when anything differs; -ENOENT when there is no READY row or no file.
 * Changes nothing: on failure the caller removes the asset and fetches it again. Reads the
 * whole file: run it off the playback thread.
 */
int cache_verify(struct cache *c, const char *asset_id, const char *expect_sha256);

struct cache_reconcile_stats {
    unsigned rows_dropped;  /* READY rows whose file was missing or of the wrong size,
                             * PENDING rows not wanted any more or without a .part */
    unsigned files_deleted; /* files in assets/ without a row, not wanted or not matching */
    unsigned files_adopted; /* files in assets/ without a row that a manifest wants: hashed,
                             * matched, given a READY row */
    unsigned parts_kept;    /* .part files kept for resuming */
    unsigned parts_deleted; /* everything else in tmp/ */
};

/**
 * Brings the index and the files into agreement at boot, before any download starts (never
 * while a commit runs). @want lists what the current, previous and staged manifests
 * reference (current first: for an assetId listed twice with different SHA-256s the first
 * wins); may be empty. Afterwards:
 * - every READY row has a regular file of its size in assets/ (rows without one are dropped,
 *   a file of the wrong size is deleted with its row; contents are not hashed here — that is
 *   cache_verify()'s, at the next sync, so a warm start stays fast);
 * - every file in assets/ has a READY row: one without a row that @want names is hashed and
 *   adopted when it matches, with last used @now_utc (a kill between a commit's rename and its
 *   row, or an index re-created after corruption: nothing downloaded is fetched twice);
 *   anything else there is deleted;
 * - tmp/ holds only <assetId>.part files with a PENDING row that @want still names with the
 *   same SHA-256 and size, no longer than that size — kept so the download resumes with Range;
 *   everything else in tmp/ is deleted (a .part without a row is of a download that was
 *   removed, or never reserved: its content is unknown), and a PENDING row without a kept
 *   .part is dropped. So a download resumes after a restart only when it was reserved.
 * Subdirectories are left alone. Counts in *@ret_stats when not NULL. -errno on the first
 * failure (what was done so far stays done; calling again continues).
 */
int cache_reconcile(struct cache *c, const struct cache_want *want, size_t n_want, int64_t now_utc,
                    struct cache_reconcile_stats *ret_stats);
