/* SPDX-License-Identifier: MIT */
/*
 * outbox.h — what marquee-player must not lose across a kill: the telemetry events waiting to
 * be sent (§27.8.3, §28.8 "Event batching"), the remote commands it has taken (§28.7 "Persist
 * last command processed"), and a few small named values (the last successful sync, …). One
 * SQLite file, DATA_DIR/player.db (WAL, synchronous=FULL), separate from the cache index.
 *
 * Events: outbox_event_add() gives each event a device-side id ("e-<16 hex random>-<seq>",
 * unique per device, sent as `eventId` so a batch sent again is stored once by the server) and
 * keeps it until outbox_events_ack() says the server took it. outbox_events_batch() builds the
 * §27.8.3 body of the oldest ≤ OUTBOX_BATCH_MAX events. Events older than OUTBOX_KEEP_S are
 * dropped (outbox_events_expire()), and at most OUTBOX_EVENTS_MAX are kept (the oldest go
 * first): a device offline for weeks does not fill its disk.
 *
 * Commands: outbox_command_begin() records a command before it is executed; a command id seen
 * before answers -EALREADY with the result recorded then (or none, if the process died while
 * executing it), so a restart never executes a command twice; outbox_command_finish() records
 * the result to post; outbox_command_posted() marks it posted. outbox_commands_unposted() lists
 * results still to post (after a restart, or when posting failed). Finished commands are kept
 * OUTBOX_KEEP_S, then forgotten.
 *
 * Thread safety: one struct outbox is used by one thread at a time (the caller's mutex); two
 * processes (the daemon and `marquee-player status`) may open the same file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define OUTBOX_BATCH_MAX         100u         /* events per request (§27.8.3) */
#define OUTBOX_KEEP_S            (7 * 86400)  /* events and finished commands kept this long */
#define OUTBOX_EVENTS_MAX        10000u       /* events kept at most */
#define OUTBOX_PAYLOAD_MAX       4096u        /* bytes of one event's payload, compact JSON */
#define OUTBOX_PAYLOAD_DEPTH_MAX 16u          /* nesting of a payload (the object itself: 1) */
#define OUTBOX_ID_MAX            64u          /* an eventId or a commandId, with its NUL */
#define OUTBOX_RESULT_MAX        (16u * 1024) /* bytes of a command's result body, with its NUL */
#define OUTBOX_KEY_MAX           64u          /* bytes of a named value's key, with its NUL */
#define OUTBOX_KV_MAX            4096u        /* bytes of a named value, with its NUL */
/* The payload limits are the server's (docs/devices.md, "POST /v1/player/events": 4096 bytes as
 * it re-serializes the payload, compact; the body at most its json_max_depth deep, 32 by
 * default, of which a batch takes 3 around each payload): one event over them would make the
 * server refuse its whole batch, every time it is sent. */

struct outbox;

/**
 * Opens (creating) DIR/player.db (0600; @data_dir must exist: -ENOENT, -ENOTDIR). @read_only:
 * for `status`, never creates or writes (-ENOENT if the file is not there or no player has
 * created its schema yet); every call that would write answers -EROFS. 0 and *ret, or a
 * negative errno: -EUCLEAN when the file is not an SQLite database or is corrupt (the caller
 * may move it aside and open again), -EPROTONOSUPPORT when a newer player wrote it, -EIO.
 * Calls sodium_init() (the random half of the eventIds).
 *
 * Ids (command ids, command types, keys) are 1 … size-1 printable ASCII characters without
 * spaces; other arguments as each call says. Every call checks them (-EINVAL), and answers
 * -EIO when SQLite fails (logged with SQLite's message, never a bound value).
 */
int outbox_open(const char *data_dir, bool read_only, struct outbox **ret);

/** Closes @o (NULL is fine). Returns NULL. */
struct outbox *outbox_free(struct outbox *o);

/* ---- events --------------------------------------------------------------------------------- */

/**
 * Queues one event, durably: @type (one of the 17 of §27.8.3, "MANIFEST_APPLIED"), @severity
 * ("INFO", "WARNING", "ERROR"), @time_ms (eventTimeUtc, ms since the epoch, 1970 … 9999),
 * @payload (an object; a reference is NOT stolen; NULL: {}). 0, or -EINVAL (a bad argument:
 * an unknown type, a payload over OUTBOX_PAYLOAD_MAX bytes as compact JSON or nested deeper
 * than OUTBOX_PAYLOAD_DEPTH_MAX, one holding what the server cannot read back such as U+0000),
 * -EROFS, -EIO. So every event queued is one the server accepts. When OUTBOX_EVENTS_MAX are
 * held, the oldest is dropped first (in the same transaction).
 */
int outbox_event_add(struct outbox *o, const char *type, const char *severity, int64_t time_ms,
                     json_t *payload);

/**
 * The §27.8.3 request body of the oldest ≤ @max (1 … OUTBOX_BATCH_MAX) events:
 * {"deviceTime": <@now_ms as ISO 8601 UTC>, "events": [{"eventId", "eventType",
 * "eventTimeUtc", "severity", "payload"}, …]} (compact; times as "2026-11-22T10:05:46.123Z")
 * as a malloc'd string in *ret_json, and the sequence number of its last event in *ret_last
 * (for outbox_events_ack()). Changes nothing: the events stay until acknowledged. 0 with
 * *ret_json NULL and *ret_last 0 when nothing is queued; -EINVAL, -EIO, or -EUCLEAN when a
 * stored event is not one outbox_event_add() writes (damage from outside).
 */
int outbox_events_batch(struct outbox *o, unsigned max, int64_t now_ms, char **ret_json,
                        int64_t *ret_last);

/** Forgets every event up to and including sequence @last (the server took them); events
 *  queued since the batch stay. 0, -EINVAL (@last < 0), -EROFS, -EIO. */
int outbox_events_ack(struct outbox *o, int64_t last);

/** Drops events whose eventTimeUtc is more than OUTBOX_KEEP_S before @now_ms (exactly
 *  OUTBOX_KEEP_S is kept). The count, or a negative errno. */
int outbox_events_expire(struct outbox *o, int64_t now_ms);

/** Events queued. 0 on error too. */
size_t outbox_events_count(struct outbox *o);

/* ---- commands ------------------------------------------------------------------------------- */

enum outbox_command_state {
    OUTBOX_COMMAND_EXECUTING, /* begun, no result recorded (a kill in between: never re-run) */
    OUTBOX_COMMAND_FINISHED,  /* result recorded, not yet posted */
    OUTBOX_COMMAND_POSTED,    /* the server took the result */
};

struct outbox_command {
    char command_id[OUTBOX_ID_MAX];
    char type[32];
    enum outbox_command_state state;
    char *result_json; /* FINISHED, POSTED: the result body; malloc'd (outbox_command_release) */
};

void outbox_command_release(struct outbox_command *c);

/**
 * Records that command @command_id of @type is about to be executed. 0 (new: execute it), or
 * -EALREADY with *ret filled (when @ret is not NULL) if that id was begun before — do not
 * execute it again; post its recorded result (or, if it was still EXECUTING, a FAILED result
 * saying it was interrupted). -EINVAL, -EIO.
 */
int outbox_command_begin(struct outbox *o, const char *command_id, const char *type, int64_t now_ms,
                         struct outbox_command *ret);

/**
 * Records the result body @result_json (a JSON object, < OUTBOX_RESULT_MAX bytes) of command
 * @command_id (FINISHED), finished at clock_now_ms(). 0, -ENOENT, -EIO. Once a result is
 * recorded it stays: the same result again is 0 (a retry), another one -EALREADY.
 */
int outbox_command_finish(struct outbox *o, const char *command_id, const char *result_json);

/** Marks the result of @command_id posted (POSTED; again is 0). 0, -ENOENT, -EINPROGRESS (no
 *  result recorded yet), -EIO. Call it too when the server answers that it will never take
 *  the result (409 COMMAND_EXPIRED, 404): else the command is listed as unposted for ever. */
int outbox_command_posted(struct outbox *o, const char *command_id);

/** Every FINISHED command, oldest (begun) first, as a malloc'd array in *ret (release each,
 *  then free the array; never NULL on success). EXECUTING ones are not listed. 0 or a negative
 *  errno. */
int outbox_commands_unposted(struct outbox *o, struct outbox_command **ret, size_t *ret_n);

/** Every EXECUTING command, as outbox_commands_unposted() lists FINISHED ones. At a daemon's
 *  start (it holds the data directory's lock) these are the ones a kill cut short: the server
 *  will not deliver them again, so the daemon records their result itself. */
int outbox_commands_executing(struct outbox *o, struct outbox_command **ret, size_t *ret_n);

/** Forgets POSTED commands finished more than OUTBOX_KEEP_S before @now_ms. Count or -errno. */
int outbox_commands_expire(struct outbox *o, int64_t now_ms);

/* ---- named values -----------------------------------------------------------------------------
 */

/** Stores @value (NUL-terminated, < OUTBOX_KV_MAX bytes) under @key (< OUTBOX_KEY_MAX bytes),
 *  durably, replacing what was there. 0 or -errno. */
int outbox_kv_set(struct outbox *o, const char *key, const char *value);

/** Reads @key into @buf (@size bytes, with its NUL). 0, -ENOENT (not set), -ENOBUFS (does not
 *  fit; @buf untouched), -EIO. */
int outbox_kv_get(struct outbox *o, const char *key, char *buf, size_t size);

/** Deletes @key (absent is fine). 0 or -EIO. */
int outbox_kv_del(struct outbox *o, const char *key);
