/* SPDX-License-Identifier: MIT */
/*
 * outbox.c — the player's durable outbox: telemetry events to send, remote commands taken, a
 * few named values. The contract is in outbox.h.
 *
 * DESIGN
 * One SQLite file, DATA_DIR/player.db, created 0600 (it sits next to the device token and holds
 * device-side ids), WAL with synchronous=FULL: a call that returned 0 is on disk, so an event
 * the caller was told is queued, or a command it was told to execute, survives a kill -9 or a
 * power cut. Four tables: `meta` (the random half of every eventId, chosen once per file),
 * `events`, `commands` and `kv`; the schema version is SQLite's user_version (1). Statements
 * are prepared once at open; a statement is reset after its last step so that none holds a
 * read transaction open against the other process (`marquee-player status`).
 *
 * An eventId is "e-<16 hex>-<seq>": the hex is random per file, the seq an AUTOINCREMENT rowid,
 * which SQLite never hands out twice even after every row was acknowledged and deleted (a plain
 * rowid would restart at 1 after the queue empties, and the server, which stores each eventId
 * once per device, would silently drop the new event as a repeat). A file moved aside and
 * created again gets another random half, so its ids cannot meet the old ones either.
 *
 * What is queued is always what the server takes (src/server/devices/telemetry.c): a type of
 * §27.8.3's 17, a severity of the three, a time it parses (four-digit years), a payload object
 * of at most 4096 bytes as compact JSON that parses back within a depth the server's default
 * limit leaves room for. One refused event would make the server refuse its whole batch, and
 * the same batch would be sent again forever; so a bad event is refused here, at add.
 *
 * Times are ISO 8601 UTC text with milliseconds (ids_timestamp(), as the server stores them):
 * they sort as text, `sqlite3 player.db` reads well, and the server accepts them as they are.
 *
 * SQLite failures are logged here (the code and SQLite's message, never a bound value) and
 * returned as -EIO; only the open tells them apart (-EUCLEAN for a file that is no database,
 * -EPROTONOSUPPORT for a newer schema), because only there can the caller do something about it.
 */
#include "player/outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "fsx.h"
#include "ids.h"
#include "jsonx.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"

#define SCHEMA_VERSION  1
#define BUSY_TIMEOUT_MS 5000
#define PREFIX_BYTES    8 /* random bytes of an eventId: 16 hex digits */
/* 9999-12-31T23:59:59.999Z: the last instant with a four-digit year, which the server parses */
#define TIME_MAX_MS INT64_C(253402300799999)
/* as the server measures a payload (json_dumps of what it parsed) */
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)
/* the server's default nesting limit for a request body (config json_max_depth) */
#define RESULT_DEPTH_MAX 32u
#define TYPE_SIZE        sizeof(((struct outbox_command *)NULL)->type)

/* The §27.8.3 event types and severities, as the server checks them, are protocol.h's: any
 * other type is 422 for the whole batch. */
static const char *const command_states[] = {
    [OUTBOX_COMMAND_EXECUTING] = "EXECUTING",
    [OUTBOX_COMMAND_FINISHED] = "FINISHED",
    [OUTBOX_COMMAND_POSTED] = "POSTED",
    NULL,
};

/* ---- schema, statements -------------------------------------------------------------------- */

enum sql {
    SQL_EVENTS_COUNT,
    SQL_EVENTS_DROP_OLDEST,
    SQL_EVENT_INSERT,
    SQL_EVENTS_BATCH,
    SQL_EVENTS_ACK,
    SQL_EVENTS_EXPIRE,
    SQL_COMMAND_BEGIN,
    SQL_COMMAND_GET,
    SQL_COMMAND_FINISH,
    SQL_COMMAND_POSTED,
    SQL_COMMANDS_UNPOSTED,
    SQL_COMMANDS_EXECUTING,
    SQL_COMMANDS_EXPIRE,
    SQL_KV_SET,
    SQL_KV_GET,
    SQL_KV_DEL,
    _SQL_MAX,
};

#define COMMAND_COLUMNS "command_id, type, state, result_json"

static const char *const sql_text[_SQL_MAX] = {
    [SQL_EVENTS_COUNT] = "SELECT count(*) FROM events",
    [SQL_EVENTS_DROP_OLDEST] =
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?1)",
    [SQL_EVENT_INSERT] = "INSERT INTO events (event_type, severity, event_time_utc, payload_json)"
                         " VALUES (?1, ?2, ?3, ?4)",
    [SQL_EVENTS_BATCH] = "SELECT seq, event_type, severity, event_time_utc, payload_json"
                         " FROM events ORDER BY seq LIMIT ?1",
    [SQL_EVENTS_ACK] = "DELETE FROM events WHERE seq <= ?1",
    [SQL_EVENTS_EXPIRE] = "DELETE FROM events WHERE event_time_utc < ?1",
    [SQL_COMMAND_BEGIN] = "INSERT INTO commands (command_id, type, state, begun_at)"
                          " VALUES (?1, ?2, 'EXECUTING', ?3) ON CONFLICT (command_id) DO NOTHING",
    [SQL_COMMAND_GET] = "SELECT " COMMAND_COLUMNS " FROM commands WHERE command_id = ?1",
    [SQL_COMMAND_FINISH] = "UPDATE commands SET state = 'FINISHED', result_json = ?2,"
                           " finished_at = ?3 WHERE command_id = ?1 AND state = 'EXECUTING'",
    [SQL_COMMAND_POSTED] =
        "UPDATE commands SET state = 'POSTED' WHERE command_id = ?1 AND state = 'FINISHED'",
    [SQL_COMMANDS_UNPOSTED] = "SELECT " COMMAND_COLUMNS " FROM commands WHERE state = 'FINISHED'"
                              " ORDER BY begun_at, rowid",
    [SQL_COMMANDS_EXECUTING] = "SELECT " COMMAND_COLUMNS " FROM commands"
                               " WHERE state = 'EXECUTING' ORDER BY begun_at, rowid",
    [SQL_COMMANDS_EXPIRE] = "DELETE FROM commands WHERE state = 'POSTED' AND finished_at < ?1",
    [SQL_KV_SET] = "INSERT INTO kv (key, value) VALUES (?1, ?2)"
                   " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [SQL_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
    [SQL_KV_DEL] = "DELETE FROM kv WHERE key = ?1",
};

/* %s: the random half of the eventIds, 16 hex digits (no quote can occur in it). Times are
 * checked for the one form ids_timestamp() writes. */
static const char schema_v1[] =
    "CREATE TABLE meta ("
    " key   TEXT NOT NULL PRIMARY KEY,"
    " value TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "INSERT INTO meta (key, value) VALUES ('event_id_prefix', '%s');"
    /* AUTOINCREMENT: a seq is never used twice, even after the queue was emptied (DESIGN) */
    "CREATE TABLE events ("
    " seq            INTEGER PRIMARY KEY AUTOINCREMENT,"
    " event_type     TEXT NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),"
    " severity       TEXT NOT NULL CHECK (severity IN ('INFO', 'WARNING', 'ERROR')),"
    " event_time_utc TEXT NOT NULL CHECK (event_time_utc LIKE '____-__-__T__:__:__.___Z'),"
    " payload_json   TEXT NOT NULL" /* OUTBOX_PAYLOAD_MAX */
    "   CHECK (length(CAST(payload_json AS BLOB)) BETWEEN 2 AND 4096)"
    ");"
    "CREATE TABLE commands ("
    " command_id  TEXT NOT NULL PRIMARY KEY CHECK (length(command_id) BETWEEN 1 AND 63),"
    " type        TEXT NOT NULL CHECK (length(type) BETWEEN 1 AND 31),"
    " state       TEXT NOT NULL CHECK (state IN ('EXECUTING', 'FINISHED', 'POSTED')),"
    " result_json TEXT,"
    " begun_at    TEXT NOT NULL CHECK (begun_at LIKE '____-__-__T__:__:__.___Z'),"
    " finished_at TEXT CHECK (finished_at LIKE '____-__-__T__:__:__.___Z'),"
    /* a result and a finish time exactly when the command finished */
    " CHECK (((state = 'EXECUTING') = (result_json IS NULL)) AND"
    "        ((state = 'EXECUTING') = (finished_at IS NULL)))"
    ");"
    "CREATE TABLE kv ("
    " key   TEXT NOT NULL PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 63),"
    " value TEXT NOT NULL CHECK (length(CAST(value AS BLOB)) < 4096)" /* OUTBOX_KV_MAX */
    ") WITHOUT ROWID;"
    "PRAGMA user_version = 1;"; /* SCHEMA_VERSION */

struct outbox {
    sqlite3 *db;
    sqlite3_stmt *stmt[_SQL_MAX];
    bool read_only;
    char prefix[2 * PREFIX_BYTES + 1];
};

static void outbox_freep(struct outbox **o)
{
    *o = outbox_free(*o);
}

/* ---- checks -------------------------------------------------------------------------------- */

static bool time_valid(int64_t ms)
{
    return ms >= 0 && ms <= TIME_MAX_MS;
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; s && list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* A command id, command type or key: 1 to @size - 1 printable ASCII characters, no space. They
 * come from the server or from the daemon's own code; anything else is a bug upstream. */
static bool name_valid(const char *s, size_t size)
{
    size_t n = s ? strnlen(s, size) : 0;
    if (n == 0 || n >= size)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

static bool hex_valid(const char *s, size_t len)
{
    if (!s || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* The text to store for @payload (NULL: {}): compact JSON the server will measure as at most
 * OUTBOX_PAYLOAD_MAX bytes and read back within OUTBOX_PAYLOAD_DEPTH_MAX levels. Reading it
 * back catches what jansson writes but will not read (a string holding U+0000), which the
 * server would refuse, batch and all. -EINVAL otherwise (also a cycle or invalid UTF-8, which
 * jansson will not write). */
static int payload_text(json_t *payload, char **ret)
{
    if (!payload) {
        *ret = xstrdup("{}");
        return 0;
    }
    if (!json_is_object(payload))
        return -EINVAL;
    _cleanup_free_ char *text = json_dumps(payload, DUMP_FLAGS);
    if (!text)
        return -EINVAL;
    json_t *back = NULL;
    if (jsonx_parse(text, strlen(text), OUTBOX_PAYLOAD_MAX, OUTBOX_PAYLOAD_DEPTH_MAX, 0, &back,
                    NULL) < 0)
        return -EINVAL;
    json_decref(back);
    *ret = TAKE_PTR(text);
    return 0;
}

/* A command's result body: a JSON object of less than OUTBOX_RESULT_MAX bytes. */
static bool result_valid(const char *s)
{
    size_t n = s ? strnlen(s, OUTBOX_RESULT_MAX) : OUTBOX_RESULT_MAX;
    json_t *j = NULL;
    if (n >= OUTBOX_RESULT_MAX || jsonx_parse(s, n, n, RESULT_DEPTH_MAX, 0, &j, NULL) < 0)
        return false;
    bool object = json_is_object(j);
    json_decref(j);
    return object;
}

/* ---- SQLite -------------------------------------------------------------------------------- */

/* Logs a failure of @op (SQLite's code and message: never a bound value, which may be a
 * payload). Out of memory aborts, as xmalloc. */
static void sql_log(sqlite3 *db, int rc, const char *op)
{
    if (db)
        rc = sqlite3_extended_errcode(db);
    if ((rc & 0xff) == SQLITE_NOMEM)
        abort();
    if (log_enabled(LOG_ERROR))
        log_json(LOG_ERROR, "outbox_sqlite_failed",
                 json_pack("{s:s, s:i, s:s}", "op", op, "code", rc, "error",
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

static int sql_fail(sqlite3 *db, const char *op)
{
    sql_log(db, SQLITE_ERROR, op);
    return -EIO;
}

/* What the open tells the caller: the failures it can act on apart, the rest -EIO. */
static int open_errno(sqlite3 *db, int rc, const char *op)
{
    sql_log(db, rc, op);
    if (db)
        rc = sqlite3_extended_errcode(db);
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return -EUCLEAN;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_FULL:
        return -ENOSPC;
    default:
        return -EIO;
    }
}

/* The prepared statement @which, reset, bindings cleared. */
static sqlite3_stmt *stmt_begin(struct outbox *o, enum sql which)
{
    sqlite3_stmt *s = o->stmt[which];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Steps a statement that returns no rows, then resets it. 0 or -EIO. */
static int stmt_exec(struct outbox *o, sqlite3_stmt *s, const char *op)
{
    int r = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_fail(o->db, op);
    sqlite3_reset(s);
    return r;
}

/* Steps a DELETE: the rows it deleted, or -EIO. */
static int stmt_delete(struct outbox *o, sqlite3_stmt *s, const char *op)
{
    int r = stmt_exec(o, s, op);
    return r < 0 ? r : sqlite3_changes(o->db);
}

static void bind_time(sqlite3_stmt *s, int col, int64_t ms)
{
    char ts[TIMESTAMP_STR_LEN];
    ids_timestamp(ms, ts);
    sqlite3_bind_text(s, col, ts, -1, SQLITE_TRANSIENT);
}

static const char *column_text(sqlite3_stmt *s, int col)
{
    return (const char *)sqlite3_column_text(s, col);
}

static int tx_begin(struct outbox *o)
{
    if (sqlite3_exec(o->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(o->db, "begin");
    return 0;
}

/* Commits when @r is 0, else (or when the commit fails) rolls back. Returns the outcome. */
static int tx_end(struct outbox *o, int r)
{
    if (r == 0 && sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        r = sql_fail(o->db, "commit");
    if (r < 0 && !sqlite3_get_autocommit(o->db))
        sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

static int writable(const struct outbox *o)
{
    return o->read_only ? -EROFS : 0;
}

/* ---- open ---------------------------------------------------------------------------------- */

/* Creates the schema in a new file, checks the version of an existing one. */
static int schema_ensure(sqlite3 *db)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return open_errno(db, SQLITE_ERROR, "schema");
    sqlite3_stmt *s = NULL;
    int r = 0, version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW)
        r = open_errno(db, SQLITE_ERROR, "schema");
    else
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (r == 0 && version > SCHEMA_VERSION)
        r = -EPROTONOSUPPORT;
    if (r == 0 && version == 0) {
        char prefix[2 * PREFIX_BYTES + 1];
        ids_random_hex(prefix, PREFIX_BYTES);
        _cleanup_free_ char *sql = xasprintf(schema_v1, prefix);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            r = open_errno(db, SQLITE_ERROR, "schema");
    }
    if (r == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        r = open_errno(db, SQLITE_ERROR, "schema");
    if (r < 0 && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

/* A read-only open takes the file as it is: -ENOENT when no player has created its schema yet
 * (a creating open killed before its first commit leaves an empty file). */
static int schema_check(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int r = 0, version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW)
        r = open_errno(db, SQLITE_ERROR, "schema");
    else
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (r == 0 && version > SCHEMA_VERSION)
        r = -EPROTONOSUPPORT;
    else if (r == 0 && version == 0)
        r = -ENOENT;
    return r;
}

static int db_open(const char *path, bool read_only, sqlite3 **ret)
{
    if (read_only) {
        struct stat st;
        if (stat(path, &st) < 0)
            return -errno; /* SQLite's CANTOPEN would not say which */
    } else {
        /* created here so that it is 0600 (SQLite would use 0644; its -wal and -shm follow
         * it), and its name made durable like any other */
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST)
            return -errno;
        if (fd >= 0) {
            close(fd);
            int r = fsx_fsync_parent(path);
            if (r < 0)
                return r;
        }
    }

    int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_NOFOLLOW;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        int r = open_errno(db, rc, "open");
        sqlite3_close_v2(db);
        return r;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
    int r = 0;
    if (read_only) {
        r = schema_check(db);
    } else {
        /* the first read of the file: a file that is no database fails here */
        if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                         NULL) != SQLITE_OK)
            r = open_errno(db, SQLITE_ERROR, "open");
        if (r == 0)
            r = schema_ensure(db);
    }
    if (r < 0) {
        sqlite3_close_v2(db);
        return r;
    }
    *ret = db;
    return 0;
}

/* A statement that does not prepare on a file of our version: its tables are not those of
 * that version (damage), unless SQLite says otherwise (busy, I/O). */
static int schema_errno(sqlite3 *db, const char *op)
{
    int r = open_errno(db, SQLITE_ERROR, op);
    return r == -EIO ? -EUCLEAN : r;
}

static int prefix_load(struct outbox *o)
{
    sqlite3_stmt *s = NULL;
    int r = 0;
    if (sqlite3_prepare_v2(o->db, "SELECT value FROM meta WHERE key = 'event_id_prefix'", -1, &s,
                           NULL) != SQLITE_OK)
        r = schema_errno(o->db, "open");
    else if (sqlite3_step(s) != SQLITE_ROW || !hex_valid(column_text(s, 0), 2 * PREFIX_BYTES))
        r = -EUCLEAN;
    else
        memcpy(o->prefix, column_text(s, 0), sizeof(o->prefix));
    sqlite3_finalize(s);
    return r;
}

int outbox_open(const char *data_dir, bool read_only, struct outbox **ret)
{
    if (!data_dir || !*data_dir || !ret)
        return -EINVAL;
    struct stat st;
    if (stat(data_dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    /* the random half of the eventIds; sodium_init() is cheap once done, and safe to repeat */
    if (!read_only && sodium_init() < 0)
        return -EIO;

    _cleanup_(outbox_freep) struct outbox *o = xcalloc(1, sizeof(*o));
    o->read_only = read_only;
    _cleanup_free_ char *path = xasprintf("%s/player.db", data_dir);
    int r = db_open(path, read_only, &o->db);
    if (r == 0)
        r = prefix_load(o);
    for (size_t i = 0; r == 0 && i < _SQL_MAX; i++)
        if (sqlite3_prepare_v3(o->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &o->stmt[i],
                               NULL) != SQLITE_OK)
            r = schema_errno(o->db, "prepare");
    if (r < 0)
        return r;
    *ret = TAKE_PTR(o);
    return 0;
}

struct outbox *outbox_free(struct outbox *o)
{
    if (!o)
        return NULL;
    for (size_t i = 0; i < _SQL_MAX; i++)
        sqlite3_finalize(o->stmt[i]);
    sqlite3_close_v2(o->db);
    free(o);
    return NULL;
}

/* ---- events -------------------------------------------------------------------------------- */

static int events_count(struct outbox *o, int64_t *ret)
{
    sqlite3_stmt *s = stmt_begin(o, SQL_EVENTS_COUNT);
    int r = sqlite3_step(s) == SQLITE_ROW ? 0 : sql_fail(o->db, __func__);
    if (r == 0)
        *ret = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return r;
}

/* Drops the oldest events so that one more fits under OUTBOX_EVENTS_MAX. Inside the add's
 * transaction: a kill between the two loses neither. */
static int events_make_room(struct outbox *o)
{
    int64_t n = 0;
    int r = events_count(o, &n);
    if (r < 0 || n < (int64_t)OUTBOX_EVENTS_MAX)
        return r;
    sqlite3_stmt *s = stmt_begin(o, SQL_EVENTS_DROP_OLDEST);
    sqlite3_bind_int64(s, 1, n - (int64_t)OUTBOX_EVENTS_MAX + 1);
    return stmt_exec(o, s, __func__);
}

int outbox_event_add(struct outbox *o, const char *type, const char *severity, int64_t time_ms,
                     json_t *payload)
{
    if (!o || !protocol_event_known(type) || !protocol_severity_known(severity) ||
        !time_valid(time_ms))
        return -EINVAL;
    _cleanup_free_ char *text = NULL;
    int r = payload_text(payload, &text);
    if (r < 0)
        return r;
    if ((r = writable(o)) < 0)
        return r;

    r = tx_begin(o);
    if (r < 0)
        return r;
    r = events_make_room(o);
    if (r == 0) {
        sqlite3_stmt *s = stmt_begin(o, SQL_EVENT_INSERT);
        sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, severity, -1, SQLITE_STATIC);
        bind_time(s, 3, time_ms);
        sqlite3_bind_text(s, 4, text, -1, SQLITE_STATIC);
        r = stmt_exec(o, s, __func__);
    }
    return tx_end(o, r);
}

/* One row of SQL_EVENTS_BATCH as the event object of a batch; -EUCLEAN when the row is not one
 * outbox_event_add() could have written (damage from outside). */
static int event_read(struct outbox *o, sqlite3_stmt *s, json_t **ret, int64_t *ret_seq)
{
    int64_t seq = sqlite3_column_int64(s, 0), ms;
    const char *type = column_text(s, 1), *severity = column_text(s, 2);
    const char *payload_json = column_text(s, 4);
    if (seq <= 0 || !protocol_event_known(type) || !protocol_severity_known(severity) ||
        ids_timestamp_parse(column_text(s, 3), &ms) < 0 || !time_valid(ms) || !payload_json)
        return -EUCLEAN;
    json_t *payload = json_loads(payload_json, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(payload)) {
        json_decref(payload);
        return -EUCLEAN;
    }
    char id[OUTBOX_ID_MAX], ts[TIMESTAMP_STR_LEN];
    snprintf(id, sizeof(id), "e-%s-%" PRId64, o->prefix, seq);
    ids_timestamp(ms, ts);
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:o}", "eventId", id, "eventType", type,
                          "eventTimeUtc", ts, "severity", severity, "payload", payload);
    if (!e)
        return -EUCLEAN;
    *ret = e;
    *ret_seq = seq;
    return 0;
}

int outbox_events_batch(struct outbox *o, unsigned max, int64_t now_ms, char **ret_json,
                        int64_t *ret_last)
{
    if (!o || max < 1 || max > OUTBOX_BATCH_MAX || !time_valid(now_ms) || !ret_json || !ret_last)
        return -EINVAL;
    _cleanup_(json_decrefp) json_t *events = json_array();
    int64_t last = 0;
    sqlite3_stmt *s = stmt_begin(o, SQL_EVENTS_BATCH);
    sqlite3_bind_int64(s, 1, max);
    int rc = SQLITE_DONE, r = 0;
    while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *e = NULL;
        r = event_read(o, s, &e, &last);
        if (r == 0)
            json_array_append_new(events, e);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_fail(o->db, __func__);
    sqlite3_reset(s);
    if (r < 0)
        return r;
    if (json_array_size(events) == 0) {
        *ret_json = NULL;
        *ret_last = 0;
        return 0;
    }

    char ts[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms, ts);
    _cleanup_(json_decrefp) json_t *body =
        json_pack("{s:s, s:O}", "deviceTime", ts, "events", events);
    char *text = body ? json_dumps(body, DUMP_FLAGS) : NULL;
    if (!text)
        abort(); /* out of memory, as xmalloc: everything in it was checked */
    *ret_json = text;
    *ret_last = last;
    return 0;
}

int outbox_events_ack(struct outbox *o, int64_t last)
{
    if (!o || last < 0)
        return -EINVAL;
    int r = writable(o);
    if (r < 0)
        return r;
    sqlite3_stmt *s = stmt_begin(o, SQL_EVENTS_ACK);
    sqlite3_bind_int64(s, 1, last);
    return stmt_exec(o, s, __func__);
}

int outbox_events_expire(struct outbox *o, int64_t now_ms)
{
    if (!o || !time_valid(now_ms))
        return -EINVAL;
    int r = writable(o);
    if (r < 0)
        return r;
    sqlite3_stmt *s = stmt_begin(o, SQL_EVENTS_EXPIRE);
    bind_time(s, 1, now_ms - (int64_t)OUTBOX_KEEP_S * 1000);
    return stmt_delete(o, s, __func__);
}

size_t outbox_events_count(struct outbox *o)
{
    int64_t n = 0;
    if (!o || events_count(o, &n) < 0 || n < 0)
        return 0;
    return (size_t)n;
}

/* ---- commands ------------------------------------------------------------------------------ */

void outbox_command_release(struct outbox_command *c)
{
    if (!c)
        return;
    free(c->result_json);
    c->result_json = NULL;
}

/* A row of COMMAND_COLUMNS; -EUCLEAN when it is not one this file writes. */
static int command_read(sqlite3_stmt *s, struct outbox_command *ret)
{
    const char *id = column_text(s, 0), *type = column_text(s, 1), *state = column_text(s, 2);
    const char *result = column_text(s, 3);
    struct outbox_command c = {0};
    if (!name_valid(id, sizeof(c.command_id)) || !name_valid(type, sizeof(c.type)) ||
        !in_list(state, command_states))
        return -EUCLEAN;
    for (int i = 0; command_states[i]; i++)
        if (strcmp(state, command_states[i]) == 0)
            c.state = (enum outbox_command_state)i;
    if ((c.state == OUTBOX_COMMAND_EXECUTING) != !result)
        return -EUCLEAN;
    memcpy(c.command_id, id, strlen(id) + 1);
    memcpy(c.type, type, strlen(type) + 1);
    c.result_json = result ? xstrdup(result) : NULL;
    *ret = c;
    return 0;
}

/* The command @command_id in *ret (release it); -ENOENT when there is none. */
static int command_get(struct outbox *o, const char *command_id, struct outbox_command *ret)
{
    sqlite3_stmt *s = stmt_begin(o, SQL_COMMAND_GET);
    sqlite3_bind_text(s, 1, command_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int r = rc == SQLITE_ROW    ? command_read(s, ret)
            : rc == SQLITE_DONE ? -ENOENT
                                : sql_fail(o->db, __func__);
    sqlite3_reset(s);
    return r;
}

/* Steps an UPDATE of one command's state: 1 when it changed the row, 0 when no row matched. */
static int command_update(struct outbox *o, sqlite3_stmt *s, const char *op)
{
    int r = stmt_exec(o, s, op);
    return r < 0 ? r : sqlite3_changes(o->db) > 0;
}

int outbox_command_begin(struct outbox *o, const char *command_id, const char *type, int64_t now_ms,
                         struct outbox_command *ret)
{
    if (!o || !name_valid(command_id, OUTBOX_ID_MAX) || !name_valid(type, TYPE_SIZE) ||
        !time_valid(now_ms))
        return -EINVAL;
    int r = writable(o);
    if (r < 0)
        return r;
    sqlite3_stmt *s = stmt_begin(o, SQL_COMMAND_BEGIN);
    sqlite3_bind_text(s, 1, command_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
    bind_time(s, 3, now_ms);
    r = command_update(o, s, __func__);
    if (r != 0)
        return r < 0 ? r : 0; /* recorded, durably: now it may run */

    struct outbox_command c;
    r = command_get(o, command_id, &c);
    if (r < 0)
        return r;
    if (ret)
        *ret = c;
    else
        outbox_command_release(&c);
    return -EALREADY;
}

int outbox_command_finish(struct outbox *o, const char *command_id, const char *result_json)
{
    if (!o || !name_valid(command_id, OUTBOX_ID_MAX) || !result_valid(result_json))
        return -EINVAL;
    int r = writable(o);
    if (r < 0)
        return r;
    sqlite3_stmt *s = stmt_begin(o, SQL_COMMAND_FINISH);
    sqlite3_bind_text(s, 1, command_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, result_json, -1, SQLITE_STATIC);
    bind_time(s, 3, MIN(MAX(clock_now_ms(), (int64_t)0), TIME_MAX_MS));
    r = command_update(o, s, __func__);
    if (r != 0)
        return r < 0 ? r : 0;

    /* finished before: the same result again is a retry, another one a conflict (as the
     * server answers the result it is posted) */
    struct outbox_command c;
    r = command_get(o, command_id, &c);
    if (r < 0)
        return r;
    r = strcmp(c.result_json, result_json) == 0 ? 0 : -EALREADY;
    outbox_command_release(&c);
    return r;
}

int outbox_command_posted(struct outbox *o, const char *command_id)
{
    if (!o || !name_valid(command_id, OUTBOX_ID_MAX))
        return -EINVAL;
    int r = writable(o);
    if (r < 0)
        return r;
    sqlite3_stmt *s = stmt_begin(o, SQL_COMMAND_POSTED);
    sqlite3_bind_text(s, 1, command_id, -1, SQLITE_STATIC);
    r = command_update(o, s, __func__);
    if (r != 0)
        return r < 0 ? r : 0;

    struct outbox_command c;
    r = command_get(o, command_id, &c);
    if (r < 0)
        return r;
    r = c.state == OUTBOX_COMMAND_EXECUTING ? -EINPROGRESS : 0; /* POSTED before: done */
    outbox_command_release(&c);
    return r;
}

static int commands_list(struct outbox *o, int sql, struct outbox_command **ret, size_t *ret_n)
{
    if (!o || !ret || !ret_n)
        return -EINVAL;
    struct outbox_command *v = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = stmt_begin(o, sql);
    int rc = SQLITE_DONE, r = 0;
    while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        r = command_read(s, &v[n]);
        if (r == 0)
            n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_fail(o->db, __func__);
    sqlite3_reset(s);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            outbox_command_release(&v[i]);
        free(v);
        return r;
    }
    *ret = n ? v : xmalloc(1);
    *ret_n = n;
    return 0;
}

int outbox_commands_unposted(struct outbox *o, struct outbox_command **ret, size_t *ret_n)
{
    return commands_list(o, SQL_COMMANDS_UNPOSTED, ret, ret_n);
}

int outbox_commands_executing(struct outbox *o, struct outbox_command **ret, size_t *ret_n)
{
    return commands_list(o, SQL_COMMANDS_EXECUTING, ret, ret_n);
}

int outbox_commands_expire(struct outbox *o, int64_t now_ms)
{
    if (!o || !time_valid(now_ms))
        return -EINVAL;
    int r = writable(o);
    if (r < 0)
        return r;
    sqlite3_stmt *s = stmt_begin(o, SQL_COMMANDS_EXPIRE);
    bind_time(s, 1, now_ms - (int64_t)OUTBOX_KEEP_S * 1000);
    return stmt_delete(o, s, __func__);
}

/* ---- named values ------------------------------------------------------------------------- */

int outbox_kv_set(struct outbox *o, const char *key, const char *value)
{
    if (!o || !name_valid(key, OUTBOX_KEY_MAX) || !value ||
        strnlen(value, OUTBOX_KV_MAX) >= OUTBOX_KV_MAX)
        return -EINVAL;
    int r = writable(o);
    if (r < 0)
        return r;
    sqlite3_stmt *s = stmt_begin(o, SQL_KV_SET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    return stmt_exec(o, s, __func__);
}

int outbox_kv_get(struct outbox *o, const char *key, char *buf, size_t size)
{
    if (!o || !name_valid(key, OUTBOX_KEY_MAX) || !buf || size == 0)
        return -EINVAL;
    sqlite3_stmt *s = stmt_begin(o, SQL_KV_GET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sql_fail(o->db, __func__);
    if (r == 0) {
        const char *v = column_text(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        if (!v)
            r = -EUCLEAN;
        else if (n >= size)
            r = -ENOBUFS;
        else
            memcpy(buf, v, n + 1);
    }
    sqlite3_reset(s);
    return r;
}

int outbox_kv_del(struct outbox *o, const char *key)
{
    if (!o || !name_valid(key, OUTBOX_KEY_MAX))
        return -EINVAL;
    int r = writable(o);
    if (r < 0)
        return r;
    sqlite3_stmt *s = stmt_begin(o, SQL_KV_DEL);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    return stmt_exec(o, s, __func__);
}
