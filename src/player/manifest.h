/* SPDX-License-Identifier: MIT */
/*
 * manifest.h — what marquee-player knows about manifests (spec §27.8.1, §28.5, §33.6, §33.10):
 *
 *   - manifest_parse(): a GET /v1/player/manifest body, bounded and validated, into a plain
 *     struct that owns its strings, or the first field that is wrong and why (the daemon turns
 *     it into STAGED_REJECTED + MANIFEST_REJECTED);
 *   - the manifest store: the slots `current`, `previous` and `staged` as files under
 *     DATA_DIR/manifests/, written atomically, with an apply (previous ← current,
 *     current ← staged) that a kill -9 or a power cut at any instant leaves either undone or
 *     done, never half done (the design is at the top of manifest.c);
 *   - pure helpers for playback and the cache: the ordered rotation, the assets a manifest
 *     references, expiry, playability.
 *
 * Parsing and the helpers are pure and thread-compatible; a store is used by one thread at a
 * time, and one process writes a data directory at a time (the daemon's lock). Nothing here
 * logs: the caller reports.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "ids.h"

/* Bounds on what a server (or a disk) can make the player hold. */
#define MANIFEST_BODY_MAX       (4u * 1024 * 1024) /* bytes of JSON */
#define MANIFEST_DEPTH_MAX      32u                /* nesting, unknown members included */
#define MANIFEST_ITEMS_MAX      1000u
#define MANIFEST_URL_MAX        4096u /* bytes; signed CDN URLs can be long */
#define MANIFEST_ETAG_MAX       128u  /* manifestEtag, bytes */
#define MANIFEST_HTTP_ETAG_MAX  256u  /* the ETag header as stored, quotes and W/ included */
#define MANIFEST_DURATION_MAX   86400 /* an image's durationSeconds, as the server bounds it */
#define MANIFEST_FILE_SIZE_MAX  (INT64_C(1) << 50)
#define MANIFEST_PIXELS_MAX     65535
#define MANIFEST_BUDGET_DEFAULT INT64_C(2000000000) /* cacheBudgetBytes null or absent (§11.1) */
#define MANIFEST_NEXT_CHECK_MAX (7 * 86400)         /* seconds; the daemon caps it further */
#define MANIFEST_VERSION_MAX    INT64_C(9007199254740991) /* 2^53 - 1 */

enum manifest_item_type {
    MANIFEST_ITEM_IMAGE,
    MANIFEST_ITEM_VIDEO,
};

enum manifest_run_mode {
    MANIFEST_RUN_SHARED,
    MANIFEST_RUN_KIOSK,
};

enum manifest_orientation {
    MANIFEST_LANDSCAPE,
    MANIFEST_PORTRAIT,
};

struct manifest_item {
    char asset_id[UUID_STR_LEN]; /* as sent (a UUID); the cache key and a file name */
    enum manifest_item_type type;
    char *url;                                 /* http:// or https:// */
    char checksum_sha256[HASH_SHA256_HEX_LEN]; /* 64 lower-case hex digits */
    int64_t duration_seconds;                  /* an image's, 1…MANIFEST_DURATION_MAX; a
                                                * video's is informative only (it plays to
                                                * its end) and may be any integer ≥ 0 */
    int64_t width_px, height_px;               /* 0 = unknown (the server sends 0 then) */
    int64_t file_size_bytes;                   /* 0…MANIFEST_FILE_SIZE_MAX */
};

struct manifest_settings {
    enum manifest_run_mode run_mode;
    bool launch_on_boot, auto_relaunch, keep_awake, watchdog_return_to_foreground;
    enum manifest_orientation orientation;
    int64_t cache_budget_bytes; /* > 0; MANIFEST_BUDGET_DEFAULT when the server sent null or
                                 * nothing (cache_budget_default is then set) */
    bool cache_budget_default;
};

struct manifest {
    char *etag;                 /* manifestEtag: 1…MANIFEST_ETAG_MAX visible ASCII (RFC 9110
                                 * etagc), so `"<etag>"` is a valid If-None-Match */
    int64_t valid_to_ms;        /* validToUtc, ms since the epoch */
    int64_t next_check_seconds; /* 1…MANIFEST_NEXT_CHECK_MAX */
    struct manifest_settings settings;
    bool has_playlist;              /* false: "playlist": null — nothing to play */
    char playlist_id[UUID_STR_LEN]; /* "" without a playlist */
    int64_t published_version;      /* ≥ 1; 0 without a playlist */
    size_t n_items;                 /* 0…MANIFEST_ITEMS_MAX (an empty playlist is valid) */
    struct manifest_item *items;    /* in play order; NULL when n_items is 0 */
};

/** Why a manifest (or a stored slot) was refused: which field, and what is wrong with it. */
struct manifest_error {
    char field[96];   /* a path: "playlist.items[3].checksumSha256", "(body)", "(file)" */
    char reason[160]; /* "not 64 lower-case hex digits", "missing", … */
};

/**
 * Parses and validates @len bytes of a manifest body (spec §27.8.1; the server's rendering in
 * docs/player.md). Every §27.8.1 member must be present with its type; playlistId and assetId
 * are UUIDs, checksumSha256 64 lower-case hex digits, url http(s), validToUtc an ISO 8601 UTC
 * timestamp, type IMAGE|VIDEO, runMode SHARED|KIOSK, orientation LANDSCAPE|PORTRAIT, an image's
 * durationSeconds ≥ 1, nextCheckSeconds ≥ 1; settings.cacheBudgetBytes (not in §27.8.1) is > 0,
 * null or absent; an assetId that repeats must repeat its type, checksum and size. Members this
 * version does not know are ignored anywhere (forward compatibility: a newer server may add
 * some), but a known member with the wrong type is an error, as are duplicate keys.
 *
 * 0 and a new manifest in *@ret (manifest_free() it); -E2BIG when a bound above is crossed
 * (body size, nesting, items, a string's length), -EBADMSG for anything else (malformed JSON
 * included). On failure *@err says which field and why (when @err is not NULL) and *@ret is
 * untouched. Pure; never logs.
 */
int manifest_parse(const char *body, size_t len, struct manifest **ret, struct manifest_error *err);

/** Frees @m (NULL is fine). Returns NULL. */
struct manifest *manifest_free(struct manifest *m);

/* ---- pure helpers for playback and the cache ---------------------------------------------- */

/** Says whether an item's asset is in the cache, verified, ready to play. */
typedef bool (*manifest_ready_fn)(const struct manifest_item *item, void *userdata);

enum manifest_playability {
    MANIFEST_PLAYABLE_NONE,    /* no item ready (or playlist null, or no items) */
    MANIFEST_PLAYABLE_PARTIAL, /* some items ready, not all */
    MANIFEST_PLAYABLE_ALL,     /* at least one item, and every one ready */
};

/** How much of @m can play when @ready says which assets are ready (called once per item). */
enum manifest_playability manifest_playability(const struct manifest *m, manifest_ready_fn ready,
                                               void *userdata);

/**
 * The rotation (§9, §33.10): the item to play after the one at index @after (SIZE_MAX, or any
 * index past the end, to start from the top) is the next one in manifest order that @ready
 * accepts, wrapping round; an item that is not ready is skipped. The order depends only on the
 * manifest and the ready set, so devices given the same manifest and assets play the same
 * sequence. 0 and its index in *@ret_index, or -ENOENT (nothing ready: *@ret_index untouched).
 */
int manifest_rotation_next(const struct manifest *m, size_t after, manifest_ready_fn ready,
                           void *userdata, size_t *ret_index);

/**
 * The distinct assets @m references, each once, in order of first appearance (the order they
 * are first needed): *@ret is a new array of pointers into @m's items (free() the array, not
 * the items; NULL when there are none). Returns how many. Never fails.
 */
size_t manifest_assets(const struct manifest *m, const struct manifest_item ***ret);

/** True if an item of @m (NULL is fine) has asset @asset_id: what the cache must not evict. */
bool manifest_references(const struct manifest *m, const char *asset_id);

/** True when @now_ms has reached @m's validToUtc. */
bool manifest_is_expired(const struct manifest *m, int64_t now_ms);

/* ---- the store: DATA_DIR/manifests/{current,previous,staged}.manifest --------------------- */

enum manifest_slot_name {
    MANIFEST_SLOT_CURRENT,
    MANIFEST_SLOT_PREVIOUS,
    MANIFEST_SLOT_STAGED,
    MANIFEST_SLOT_COUNT,
};

enum manifest_slot_state {
    MANIFEST_SLOT_ABSENT,
    MANIFEST_SLOT_OK,
    MANIFEST_SLOT_CORRUPT, /* unreadable, damaged or invalid: LOCAL_MANIFEST_CORRUPT, and to
                            * be treated as absent */
};

struct manifest_slot {
    enum manifest_slot_state state;
    struct manifest *manifest;        /* OK: owned */
    char *http_etag;                  /* OK: the ETag header it came with (owned), for
                                       * If-None-Match */
    char sha256[HASH_SHA256_HEX_LEN]; /* OK: of the body as received */
    struct manifest_error error;      /* CORRUPT: what is wrong */
};

struct manifest_slots {
    struct manifest_slot slot[MANIFEST_SLOT_COUNT];
    bool recovered; /* an apply interrupted by a crash was found and completed (or, read-only,
                     * is shown completed) */
};

/** Frees what @s holds and leaves every slot ABSENT. */
void manifest_slots_release(struct manifest_slots *s);

struct manifest_store;

/**
 * Opens the store of the data directory @data_dir. Read-write: creates @data_dir/manifests
 * (0700) if needed; only one process may hold a data directory read-write. Read-only (the
 * `status` command, while the daemon runs or not): never writes, and a missing directory is
 * an empty store. 0 and *@ret (manifest_store_free() it), or -errno.
 */
int manifest_store_open(const char *data_dir, bool read_only, struct manifest_store **ret);

/** Closes @s (NULL is fine). Returns NULL. */
struct manifest_store *manifest_store_free(struct manifest_store *s);

/**
 * Reads the three slots into *@ret (manifest_slots_release() it). Read-write, it first
 * completes an apply a crash interrupted, and removes the temporary files a crash left;
 * read-only, it shows the slots as that completion would leave them without touching the
 * disk (a snapshot: an apply running meanwhile may make it stale). A slot whose file is
 * damaged or invalid is CORRUPT, with the reason; the others still load. 0, or -errno for a
 * failure of the store itself (*@ret untouched).
 */
int manifest_store_load(struct manifest_store *s, struct manifest_slots *ret);

/**
 * Validates @body (as manifest_parse()) and makes it the staged manifest, replacing any
 * staged one, atomically: a crash leaves the old staged slot or the new one. @http_etag is
 * the response's ETag header (`"…"` or `W/"…"`), NULL to use `"<manifestEtag>"`. The parsed
 * manifest goes to *@ret_manifest when that is not NULL. 0; -E2BIG or -EBADMSG with *@err
 * for a body manifest_parse() refuses, -EINVAL for a malformed @http_etag, -EROFS for a
 * read-only store, else -errno (then the staged slot holds what it held, or the new one).
 */
int manifest_store_stage(struct manifest_store *s, const char *body, size_t len,
                         const char *http_etag, struct manifest **ret_manifest,
                         struct manifest_error *err);

/**
 * Applies the staged manifest (§28.5, at a safe boundary — the caller's to choose): previous ←
 * current, current ← staged, staged ← none. When current is absent or corrupt, previous is
 * kept as it is (a damaged file never displaces a good fallback) and the staged manifest
 * simply becomes current. Crash-safe: a kill at any instant leaves either the old slots or the
 * new ones once manifest_store_load() has run. 0; -ENOENT when nothing is staged, -EBADMSG
 * when the staged file is damaged or invalid (nothing changes; discard it), -EROFS read-only,
 * else -errno — after which the apply may be half done on disk, and the next load or apply
 * completes it.
 */
int manifest_store_apply(struct manifest_store *s);

/**
 * Deletes the current manifest, leaving previous and staged as they are: before an apply that
 * must not rotate (§28.5: a current manifest that cannot play never displaces a fallback that
 * can). One unlink, crash-safe on its own. 0 (also when there was none), -EROFS, else -errno.
 */
int manifest_store_drop_current(struct manifest_store *s);

/** Removes the staged manifest (rejected, or permanently unplayable). 0 (also when there was
 *  none), -EROFS, or -errno. */
int manifest_store_discard_staged(struct manifest_store *s);
