/* SPDX-License-Identifier: MIT */
/*
 * fsm.h — the player's state machine (spec §28, §33.6, §25.10; the device content sync story;
 * issue 8) as a pure transition function: fsm_step(machine, event) → machine', actions.
 *
 * Pure: no I/O, no clock (every event carries `now`, wall-clock UTC in ms), no allocation, no
 * randomness (a failed fetch carries the random number its backoff jitter uses). The daemon is a
 * thin shell around it:
 *
 *     fsm_init(&f, &cfg);
 *     feed(FSM_EV_BOOT_DONE);
 *     for (;;) {
 *         wait for the first of: fsm_next_wakeup(&f, now), a fetch result, a cache change,
 *             the renderer's item end, a command, a network change, SIGTERM;
 *         feed(that event, now = clock_now_ms());
 *     }
 *     feed(ev): fsm_step(&f, &ev, &acts); execute acts.a[0 … acts.n - 1] in order.
 *
 * Executing an action may produce an answer, fed as a later event: FSM_ACT_LOAD_LOCAL is
 * answered by FSM_EV_LOCAL_LOADED, FSM_ACT_FETCH_MANIFEST by FSM_EV_FETCH_RESULT (exactly one,
 * carrying the action's fetch_id), FSM_ACT_START_PAIRING by FSM_EV_PAIRED once a token is
 * stored. Reports (FSM_EV_ASSETS, the manifest infos of LOCAL_LOADED and FETCH_RESULT) are
 * snapshots the shell takes when it feeds them, after executing every earlier action.
 *
 * The states of §28.3 and how this machine holds them: the screen is one state — BOOT,
 * LOAD_LOCAL, PLAYABLE_CHECK (passed through within one step, never left standing), PLAYING,
 * ERROR_SCREEN, and UNREGISTERED (§28.10, §28.12: the pairing screen). The others are background
 * activities that run while PLAYING or ERROR_SCREEN (§28.3 note): SYNC_MANIFEST is a fetch in
 * flight, OFFLINE_BACKOFF a fetch waiting after failures, DOWNLOAD_ASSETS the staged manifest
 * WAITING_ASSETS (§28.5 lifecycle: NONE, WAITING_ASSETS, READY, REJECTED), APPLY_STAGED the
 * FSM_ACT_APPLY_STAGED action, SYNC_COMMANDS the shell's command poll (commands reach the
 * machine as FSM_EV_COMMAND).
 *
 * Thread safety: a machine is plain data owned by one thread; functions taking a const machine
 * may run on any thread that sees a consistent copy.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fsm_state {
    FSM_BOOT,
    FSM_LOAD_LOCAL,
    FSM_PLAYABLE_CHECK,
    FSM_PLAYING,
    FSM_ERROR_SCREEN,
    FSM_UNREGISTERED, /* no device token: the pairing screen */
};

/** The manifests a player holds (§28.2, §28.5); FETCHED is the body of the fetch just answered. */
enum fsm_slot {
    FSM_SLOT_NONE,
    FSM_SLOT_CURRENT,
    FSM_SLOT_PREVIOUS,
    FSM_SLOT_STAGED,
    FSM_SLOT_FETCHED,
};

/** The staged manifest's lifecycle (§28.5). */
enum fsm_staged {
    FSM_STAGED_NONE,
    FSM_STAGED_WAITING_ASSETS,
    FSM_STAGED_READY,    /* every asset verified; applied at the next safe boundary */
    FSM_STAGED_REJECTED, /* invalid or permanently unplayable; only its ETag is kept */
};

/** The commands of §28.7. */
enum fsm_command {
    FSM_CMD_REQUEST_MANIFEST_REFRESH,
    FSM_CMD_RESTART_PLAYBACK_LOOP,
    FSM_CMD_CLEAR_CACHE_UNUSED,
    FSM_CMD_CLEAR_CACHE_ALL,
    FSM_CMD_REBOOT_APP,
    FSM_CMD_SET_LOG_LEVEL,
};
#define FSM_COMMAND_COUNT 6

/** The event types of §27.8.3, all of them (the machine emits some, the shell the others). */
enum fsm_emit {
    FSM_EMIT_APP_STARTED,
    FSM_EMIT_PLAYBACK_FAILED,
    FSM_EMIT_DOWNLOAD_FAILED,
    FSM_EMIT_MANIFEST_FETCH_FAILED,
    FSM_EMIT_MANIFEST_STAGED,
    FSM_EMIT_MANIFEST_APPLIED,
    FSM_EMIT_MANIFEST_REJECTED,
    FSM_EMIT_OFFLINE_ENTERED,
    FSM_EMIT_ONLINE_RESTORED,
    FSM_EMIT_FALLBACK_TO_PREVIOUS_MANIFEST,
    FSM_EMIT_NO_PLAYABLE_CONTENT,
    FSM_EMIT_ERROR_SCREEN_ENTERED,
    FSM_EMIT_LOCAL_MANIFEST_CORRUPT,
    FSM_EMIT_COMMAND_EXECUTED,
    FSM_EMIT_COMMAND_FAILED,
    FSM_EMIT_DEVICE_TOKEN_INVALID,
    FSM_EMIT_CACHE_EVICTION,
};

/** Why: the `reason` of ERROR_SCREEN_ENTERED, MANIFEST_REJECTED and MANIFEST_FETCH_FAILED. */
enum fsm_reason {
    FSM_REASON_NONE,
    FSM_REASON_NO_MANIFEST,         /* neither current nor previous held */
    FSM_REASON_NO_PLAYABLE_CONTENT, /* manifests held, none with a playable item */
    FSM_REASON_PLAYBACK_FAILED,     /* the renderer could play none of them */
    FSM_REASON_INVALID,             /* the manifest failed validation */
    FSM_REASON_UNPLAYABLE,          /* the shell found its assets permanently unplayable */
    FSM_REASON_NETWORK,             /* no HTTP answer (DNS, connect, TLS, timeout) */
    FSM_REASON_UNAUTHORIZED,        /* 401 */
    FSM_REASON_RATE_LIMITED,        /* 429 */
    FSM_REASON_SERVER_ERROR,        /* 5xx */
    FSM_REASON_HTTP_ERROR,          /* any other status */
};

/** Content sync status (device content sync story, "Sync Status"; heartbeat `syncStatus`). */
enum fsm_sync_status {
    FSM_SYNC_SYNCED,  /* up to date */
    FSM_SYNC_SYNCING, /* download in progress */
    FSM_SYNC_PENDING, /* updates available, not started */
    FSM_SYNC_FAILED,  /* download (or manifest fetch) failed, retrying */
    FSM_SYNC_STALE,   /* outdated, needs attention */
};

/**
 * Tunables. fsm_config_default() fills the values in brackets. Every duration is in ms, ≥ 1
 * and ≤ FSM_CONFIG_MAX_MS.
 */
struct fsm_config {
    int64_t min_poll_ms;         /* [5 s] the soonest a successful sync schedules the next */
    int64_t default_poll_ms;     /* [60 s] the poll interval without a nextCheckSeconds */
    int64_t max_poll_ms;         /* [4 h] periodic sync: a poll at least this often */
    int64_t backoff_base_ms;     /* [5 s] the first failure's backoff ceiling */
    int64_t backoff_cap_ms;      /* [5 min] no backoff ceiling above this */
    int64_t retry_after_cap_ms;  /* [1 h] a longer Retry-After is taken as this */
    int64_t auth_retry_ms;       /* [5 s] the retry after a first 401 (§25.10 "retry once") */
    int64_t full_sync_after_ms;  /* [24 h] without a successful sync, the next one is full */
    int64_t broken_retry_ms;     /* [5 min] a manifest the renderer could not play rests so long */
    int64_t stale_grace_ms;      /* [15 min] current expired this long with nothing newer: STALE */
    int64_t stale_after_ms;      /* [24 h] no successful sync for this long: STALE */
    unsigned auth_fail_limit;    /* [2] consecutive 401s that clear the token */
    unsigned failed_after_fetch; /* [3] consecutive failed fetches that make the status FAILED */
};
#define FSM_CONFIG_MAX_MS (INT64_C(1) << 31) /* 24.8 days (BACKOFF_MAX_MS: the backoff's ceiling) */

/** What the shell knows of one manifest (reported with LOCAL_LOADED and FETCH_RESULT). */
struct fsm_manifest_info {
    bool present;  /* a manifest is held (LOCAL_LOADED) / the body is one (FETCH_RESULT) */
    bool playable; /* at least one of its items can play from the cache now */
    bool complete; /* every asset it names is verified in the cache (true for playlist null) */
    int64_t valid_to_ms;  /* validToUtc */
    int32_t next_check_s; /* nextCheckSeconds; ≤ 0: none */
};

/** Answer to FSM_ACT_LOAD_LOCAL (§28.4 LOAD_LOCAL). */
struct fsm_local {
    bool has_token; /* a device token is stored */
    struct fsm_manifest_info current, previous;
    bool current_corrupt, previous_corrupt; /* the file exists but fails to parse or validate */
    int64_t last_sync_ms;                   /* last successful sync, persisted; 0: never */
};

/** Answer to FSM_ACT_FETCH_MANIFEST. */
struct fsm_fetch_result {
    uint32_t fetch_id; /* the action's; a result for another fetch is ignored */
    int http_status;   /* 0: no HTTP answer; 200, 304, 401, 429, 503, … */
    /* 200 only: which held manifest has the body's manifestEtag — FSM_SLOT_CURRENT,
     * FSM_SLOT_STAGED (the staged or the rejected one), or FSM_SLOT_NONE (a new manifest). */
    enum fsm_slot match;
    bool valid;                        /* 200, new: the body passed validation */
    struct fsm_manifest_info manifest; /* 200, new and valid: the body, against the cache */
    int32_t retry_after_s;             /* 429 / 503: Retry-After in seconds; < 0: none */
    uint32_t jitter;                   /* uniformly random: picks the backoff within its ceiling */
};

/** The availability of one manifest's assets. */
struct fsm_avail {
    bool playable, complete; /* as in struct fsm_manifest_info */
};

/** The cache's view changed (a download finished or failed, an eviction, a re-verification). */
struct fsm_assets {
    struct fsm_avail current, previous, staged; /* slots not held are ignored */
    bool
        staged_unplayable; /* the staged manifest can never play (§28.5 "permanently unplayable") */
};

enum fsm_event_type {
    FSM_EV_BOOT_DONE,           /* BOOT's entry actions are done (logging, cache index, config) */
    FSM_EV_LOCAL_LOADED,        /* .local */
    FSM_EV_PAIRED,              /* a device token was stored (pairing completed) */
    FSM_EV_TICK,                /* only time passed (a timer, e.g. at fsm_next_wakeup()) */
    FSM_EV_FETCH_RESULT,        /* .fetch */
    FSM_EV_API_STATUS,          /* heartbeat, events or commands answered .http_status (0: none) */
    FSM_EV_ASSETS,              /* .assets */
    FSM_EV_ITEM_END,            /* the item on screen ended or was skipped: a safe boundary */
    FSM_EV_PLAYBACK_IMPOSSIBLE, /* the renderer could play no item of manifest .slot */
    FSM_EV_COMMAND,             /* a command was fetched: .command */
    FSM_EV_SERVER_HINT,         /* a push said the manifest changed: sync soon */
    FSM_EV_NETWORK_UP,          /* a link came up */
    FSM_EV_NETWORK_DOWN,        /* the last link went down */
};

struct fsm_event {
    enum fsm_event_type type;
    int64_t now_ms; /* wall clock, UTC, ms since the epoch; |now| ≤ 2^53 */
    union {
        struct fsm_local local;
        struct fsm_fetch_result fetch;
        struct fsm_assets assets;
        enum fsm_command command;
        enum fsm_slot slot;
        int http_status;
    };
};

enum fsm_action_type {
    FSM_ACT_ENTER,          /* .state: the machine entered it (log the transition) */
    FSM_ACT_EMIT,           /* queue telemetry event .emit (payload below) */
    FSM_ACT_LOAD_LOCAL,     /* read the token, current and previous; answer FSM_EV_LOCAL_LOADED */
    FSM_ACT_START_PAIRING,  /* show the pairing screen, pair (§8); answer FSM_EV_PAIRED */
    FSM_ACT_CLEAR_TOKEN,    /* delete the stored device token */
    FSM_ACT_SCHEDULE_POLL,  /* the next manifest fetch is due at .at_ms (for logs and status) */
    FSM_ACT_FETCH_MANIFEST, /* GET the manifest now (see below); answer FSM_EV_FETCH_RESULT */
    FSM_ACT_STAGE,          /* the body just fetched becomes STAGED (replacing any): queue its
                               downloads first (§28.9) */
    FSM_ACT_REJECT,         /* .slot (FETCHED or STAGED) becomes the rejected manifest: keep only
                               its ETag, drop any staged body and its queued downloads */
    FSM_ACT_DISCARD_STAGED, /* forget the staged (or rejected) manifest and its queued downloads */
    FSM_ACT_APPLY_STAGED, /* .rotate ? previous ← current : (current dropped); current ← staged;
                             persist both atomically (temp, fsync, rename) */
    FSM_ACT_PLAY,         /* play manifest .slot (CURRENT or PREVIOUS) from its first item */
    FSM_ACT_SHOW_ERROR_SCREEN, /* the fallback card (device name, "no content") */
    FSM_ACT_EXECUTE_COMMAND,   /* execute .command, post its result, emit COMMAND_EXECUTED or
                                  COMMAND_FAILED (the refresh and the restart were done by this
                                  machine's own actions: only their result is left to post) */
};

/**
 * One thing for the shell to do. Only the fields named for its type are meaningful.
 *
 * FSM_ACT_FETCH_MANIFEST: .fetch_id; .full (unconditional GET and a SHA-256 re-verification of
 * every cached asset: at boot, after pairing, on REQUEST_MANIFEST_REFRESH, after more than
 * full_sync_after_ms without a successful sync; otherwise a conditional GET and the cheap check);
 * .slot, whose ETag goes in If-None-Match (FSM_SLOT_NONE: no header). A new fetch supersedes any
 * still running (the shell may cancel it).
 *
 * FSM_ACT_EMIT payloads (§27.8.3): LOCAL_MANIFEST_CORRUPT .slot (the file); MANIFEST_STAGED,
 * MANIFEST_REJECTED .slot (+ .reason); MANIFEST_APPLIED the new current's ETag and the one
 * current had before the APPLY_STAGED just before it; FALLBACK_TO_PREVIOUS_MANIFEST current's
 * and previous's ETags; NO_PLAYABLE_CONTENT current's ETag (or null); ERROR_SCREEN_ENTERED
 * .reason; MANIFEST_FETCH_FAILED .value = httpStatus, .reason; OFFLINE_ENTERED .value =
 * lastOnlineAtUtc in ms (0: unknown); ONLINE_RESTORED .value = offlineDurationSeconds;
 * DEVICE_TOKEN_INVALID .value = httpStatus.
 */
struct fsm_action {
    enum fsm_action_type type;
    enum fsm_state state;
    enum fsm_emit emit;
    enum fsm_slot slot;
    enum fsm_reason reason;
    enum fsm_command command;
    int64_t at_ms;
    int64_t value;
    uint32_t fetch_id;
    bool full;
    bool rotate;
};

#define FSM_MAX_ACTIONS 24

struct fsm_actions {
    size_t n;
    struct fsm_action a[FSM_MAX_ACTIONS];
};

/** The machine's view of one manifest slot. */
struct fsm_slot_state {
    bool present, playable, complete;
    int64_t valid_to_ms;
    int32_t next_check_s;
    int64_t broken_until_ms; /* the renderer failed it: not playable before this instant */
};

/**
 * The machine. Plain data so that the shell can embed it and tests can build any state; outside
 * fsm.c treat it as read-only and prefer the accessors below.
 */
struct fsm {
    struct fsm_config cfg;
    enum fsm_state state;
    enum fsm_slot active; /* on screen: CURRENT, PREVIOUS, or NONE */
    struct fsm_slot_state current, previous, staged;
    enum fsm_staged staged_state;
    bool has_token;
    unsigned auth_failures;  /* consecutive 401s */
    unsigned fetch_failures; /* consecutive failed fetches (401 aside) */
    bool online;
    int64_t last_online_ms; /* last HTTP answer from the server */
    int64_t offline_since_ms;
    int64_t last_sync_ms;  /* last 200 / 304 */
    int64_t next_fetch_ms; /* INT64_MAX: none planned */
    int64_t not_before_ms; /* Retry-After: no fetch before this */
    int64_t last_delay_ms; /* the delay chosen after the last failed fetch */
    bool fetch_in_flight, fetch_full;
    enum fsm_slot fetch_inm; /* the slot whose ETag the fetch in flight sent */
    uint32_t fetch_id;
    bool want_full;            /* the next fetch is full */
    bool refetch;              /* fetch again as soon as the one in flight is answered */
    unsigned pending_commands; /* bit (1 << command): waiting for a safe boundary */
};

/** Download activity, for fsm_sync_status(): what the download manager reports. */
struct fsm_downloads {
    unsigned active; /* transfers running */
    unsigned queued; /* waiting: concurrency, the off-peak window, a full budget */
    unsigned failed; /* assets FAILED after their retries, waiting for a later sync */
};

/** Fills *cfg with the defaults named in struct fsm_config. Cannot fail. */
void fsm_config_default(struct fsm_config *cfg);

/**
 * Starts a machine in BOOT with @cfg (NULL: the defaults). 0, or -EINVAL (NULL @f, or a config
 * value out of range or out of order: min ≤ default ≤ max poll, base ≤ cap, limits ≥ 1), leaving
 * *f untouched.
 */
int fsm_init(struct fsm *f, const struct fsm_config *cfg);

/**
 * Feeds one event: updates *f and fills *out with what to do, in order. Returns the number of
 * actions (0: nothing to do, which is also the answer to an event that does not apply — an item
 * end while nothing plays, a result for a superseded fetch, anything before its answer is due),
 * or -EINVAL (NULL argument, unknown event type, now beyond ±2^53) or -E2BIG (more than
 * FSM_MAX_ACTIONS, a bug); on failure *f and *out are untouched. No allocation, no clock.
 */
int fsm_step(struct fsm *f, const struct fsm_event *ev, struct fsm_actions *out);

/**
 * The delay, in ms, of the fetch after @failures consecutive failures (≥ 1): full jitter, a
 * uniform pick by @jitter in [0, min(cap, base · 2^(failures−1))] (AWS "full jitter"). 0 when
 * @failures is 0. Pure.
 */
int64_t fsm_backoff_ms(const struct fsm_config *cfg, unsigned failures, uint32_t jitter);

/**
 * Whether the staged manifest may replace the current one at the next safe boundary (§28.5):
 * it is WAITING_ASSETS or READY, and either every asset is ready, or it is partly playable and
 * the current one is spent — expired, absent, or (with the previous) unable to put anything on
 * screen, since the screen must never stay blank while anything is playable.
 */
bool fsm_staged_applicable(const struct fsm *f, int64_t now_ms);

/** Whether manifest @m can go on screen at @now_ms: held, playable, not resting after failing. */
bool fsm_slot_playable(const struct fsm_slot_state *m, int64_t now_ms);

/**
 * The earliest instant at which time alone changes what the machine would do (a poll falls
 * due, a manifest the renderer failed may be tried again, the current one expires); INT64_MAX:
 * none. Feed FSM_EV_TICK then. Ticking more often is harmless.
 */
int64_t fsm_next_wakeup(const struct fsm *f, int64_t now_ms);

/**
 * The content sync status at @now_ms, from the machine and the download manager's @d (NULL:
 * none), first match wins:
 * PENDING — booting (BOOT, LOAD_LOCAL);
 * STALE — no token; or current expired more than stale_grace_ms ago with nothing newer staged;
 *         or no successful sync for stale_after_ms;
 * FAILED — failed_after_fetch consecutive manifest fetches failed, or assets are FAILED;
 * SYNCING — transfers running, or a staged manifest READY and waiting for its boundary;
 * PENDING — no current manifest yet, a staged manifest waiting with no transfer
 *           running, or transfers queued;
 * SYNCED — otherwise.
 */
enum fsm_sync_status fsm_sync_status(const struct fsm *f, const struct fsm_downloads *d,
                                     int64_t now_ms);

/** The heartbeat's `state` (§27.8.2): "BOOTING", "PLAYING", "ERROR_SCREEN" or "PAIRING". */
const char *fsm_heartbeat_state(const struct fsm *f);

/** Names for logs and payloads: "PLAYING", "FETCH_RESULT", "APPLY_STAGED", … ("?" if unknown). */
const char *fsm_state_name(enum fsm_state s);
const char *fsm_event_name(enum fsm_event_type t);
const char *fsm_action_name(enum fsm_action_type t);
const char *fsm_slot_name(enum fsm_slot s);
const char *fsm_staged_name(enum fsm_staged s);
const char *fsm_reason_name(enum fsm_reason r);
const char *fsm_sync_status_name(enum fsm_sync_status s);
/** The §27.8.3 eventType, e.g. "MANIFEST_APPLIED", and its severity "INFO"/"WARNING"/"ERROR". */
const char *fsm_emit_name(enum fsm_emit e);
const char *fsm_emit_severity(enum fsm_emit e);
/** The §28.7 command type, e.g. "CLEAR_CACHE_ALL". */
const char *fsm_command_name(enum fsm_command c);

/** Parses a §28.7 command type into *ret. 0, or -EINVAL (NULL or unknown; *ret untouched). */
int fsm_command_parse(const char *name, enum fsm_command *ret);
