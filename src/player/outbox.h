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

#define OUTBOX_BATCH_MAX   100u               /* events per request (§27.8.3) */
#define OUTBOX_KEEP_S      (7 * 86400)        /* events and finished commands kept this long */
#define OUTBOX_EVENTS_MAX  10000u             /* events kept at most */
#define OUTBOX_PAYLOAD_MAX (8u * 1024)        /* bytes of one event's payload JSON */
#define OUTBOX_ID_MAX      64u                /* an eventId or a commandId, with its NUL */
#define OUTBOX_KV_MAX      4096u              /* bytes of a named value, with its NUL */

struct outbox;

/**
 * Opens (creating) DIR/player.db. @read_only: for `status`, never creates or writes (-ENOENT
 * if the file is not there). 0 and *ret, or a negative errno.
 */
int outbox_open(const char *data_dir, bool read_only, struct outbox **ret);

/** Closes @o (NULL is fine). Returns NULL. */
struct outbox *outbox_free(struct outbox *o);

/* ---- events --------------------------------------------------------------------------------- */

/**
 * Queues one event: @type ("MANIFEST_APPLIED"), @severity ("INFO", "WARNING", "ERROR"),
 * @time_ms (eventTimeUtc, ms since the epoch), @payload (an object; a reference is NOT
 * stolen; NULL: {}). 0, or -EINVAL (a bad argument, a payload over OUTBOX_PAYLOAD_MAX bytes
 * as JSON), -EIO. When OUTBOX_EVENTS_MAX are held, the oldest is dropped first.
 */
int outbox_event_add(struct outbox *o, const char *type, const char *severity, int64_t time_ms,
                     json_t *payload);

/**
 * The §27.8.3 request body of the oldest ≤ @max (1 … OUTBOX_BATCH_MAX) events:
 * {"deviceTime": <@now_ms as ISO 8601 UTC>, "events": [{"eventId", "eventType",
 * "eventTimeUtc", "severity", "payload"}, …]} as a malloc'd string in *ret_json, and the
 * sequence number of its last event in *ret_last (for outbox_events_ack()). 0 with *ret_json
 * NULL when nothing is queued; a negative errno on failure.
 */
int outbox_events_batch(struct outbox *o, unsigned max, int64_t now_ms, char **ret_json,
                        int64_t *ret_last);

/** Forgets every event up to and including sequence @last (the server took them). 0 or -EIO. */
int outbox_events_ack(struct outbox *o, int64_t last);

/** Drops events whose eventTimeUtc is more than OUTBOX_KEEP_S before @now_ms. The count, or
 *  a negative errno. */
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
int outbox_command_begin(struct outbox *o, const char *command_id, const char *type,
                         int64_t now_ms, struct outbox_command *ret);

/** Records the result body @result_json of command @command_id (FINISHED). 0, -ENOENT, -EIO. */
int outbox_command_finish(struct outbox *o, const char *command_id, const char *result_json);

/** Marks the result of @command_id posted (POSTED). 0, -ENOENT, -EIO. */
int outbox_command_posted(struct outbox *o, const char *command_id);

/** Every FINISHED command, oldest first, as a malloc'd array in *ret (release each, then free
 *  the array). 0 or a negative errno. */
int outbox_commands_unposted(struct outbox *o, struct outbox_command **ret, size_t *ret_n);

/** Forgets POSTED commands finished more than OUTBOX_KEEP_S before @now_ms. Count or -errno. */
int outbox_commands_expire(struct outbox *o, int64_t now_ms);

/* ---- named values ----------------------------------------------------------------------------- */

/** Stores @value (NUL-terminated, < OUTBOX_KV_MAX bytes) under @key, durably. 0 or -errno. */
int outbox_kv_set(struct outbox *o, const char *key, const char *value);

/** Reads @key into @buf (@size bytes). 0, -ENOENT (not set), -ENOBUFS (does not fit), -EIO. */
int outbox_kv_get(struct outbox *o, const char *key, char *buf, size_t size);

/** Deletes @key (absent is fine). 0 or -EIO. */
int outbox_kv_del(struct outbox *o, const char *key);
