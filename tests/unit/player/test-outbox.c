/* SPDX-License-Identifier: MIT */
/*
 * test-outbox.c — the player's durable outbox (outbox.h), on real files in a mkdtemp directory.
 *
 * Open and its errors (mode 0600, WAL, synchronous=FULL, a newer schema, a file that is no
 * database, read-only opens); eventIds (format, unique, stable across reopens, never reused
 * after the queue empties); the batch body field by field, parsed back; batch size and order;
 * ack; the 7-day expiry at its boundary; the OUTBOX_EVENTS_MAX cap; what add refuses (every
 * limit of the server's at its boundary), and batches of the largest events the outbox takes
 * fed to the server's own validator (outbox-server-check.c). Commands: begin twice, a command
 * EXECUTING across a reopen, finish/posted/unposted/expire. Named values. Rows damaged from
 * outside (-EUCLEAN). Then a child adding events is SIGKILLed at random instants: the file must
 * open again and hold every event whose add had returned 0, in order, with ids never reused.
 * -DKILL_ROUNDS=… -DPROPERTY_SEED=… run more or others.
 *
 * The test includes outbox.c, to reach the SQLite handle: the tests that add thousands of
 * events turn synchronous off on it, as an fsync per event proves nothing there.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../cmocka-prelude.h"
#include "clock.h"
#include "ids.h"
#include "macro.h"
#include "outbox-server-check.h"
#include "player/outbox.c"

#define NOW     INT64_C(1795341946123) /* 2026-11-22T10:05:46.123Z */
#define KEEP_MS ((int64_t)OUTBOX_KEEP_S * 1000)

#ifndef KILL_ROUNDS
#define KILL_ROUNDS 30
#endif
#ifndef PROPERTY_SEED
#define PROPERTY_SEED 0x9e3779b97f4a7c15ull
#endif

#include "../rng.h" /* after PROPERTY_SEED */

/* ---- helpers ------------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *dir)
{
    assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static char *new_dir(void)
{
    char *dir = xstrdup("/tmp/test-outbox-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static struct outbox *open_ok(const char *dir)
{
    struct outbox *o = NULL;
    assert_int_equal(outbox_open(dir, false, &o), 0);
    assert_non_null(o);
    return o;
}

static struct outbox *open_ro(const char *dir)
{
    struct outbox *o = NULL;
    assert_int_equal(outbox_open(dir, true, &o), 0);
    return o;
}

/* For the tests that add thousands of events: durability is the crash test's. */
static void fast(struct outbox *o)
{
    assert_int_equal(sqlite3_exec(o->db, "PRAGMA synchronous=OFF", NULL, NULL, NULL), SQLITE_OK);
}

/* Runs @sql on DIR/player.db through a connection of its own; SQLite's result code. */
static int db_try(const char *dir, const char *sql)
{
    _cleanup_free_ char *path = xasprintf("%s/player.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static void write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* Event number @i: APP_STARTED at NOW + i with payload {"i": i}. */
static void add_i(struct outbox *o, int64_t i)
{
    json_t *p = json_pack("{s:I}", "i", (json_int_t)i);
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", NOW + i, p), 0);
    json_decref(p);
}

/* A batch of ≤ @max, parsed back; NULL when nothing is queued. */
static json_t *batch(struct outbox *o, unsigned max, int64_t now, int64_t *ret_last)
{
    char *text = NULL;
    int64_t last = -1;
    assert_int_equal(outbox_events_batch(o, max, now, &text, &last), 0);
    if (!text) {
        assert_int_equal(last, 0);
        return NULL;
    }
    json_error_t je;
    json_t *b = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!b)
        fail_msg("the batch is not JSON: %s", je.text);
    /* compact, as the server measures it */
    assert_null(strchr(text, '\n'));
    assert_null(strstr(text, "\": "));
    free(text);
    if (ret_last)
        *ret_last = last;
    return b;
}

static json_t *batch_events(json_t *b)
{
    json_t *ev = json_object_get(b, "events");
    assert_true(json_is_array(ev));
    return ev;
}

static int64_t event_i(json_t *ev)
{
    json_t *i = json_object_get(json_object_get(ev, "payload"), "i");
    assert_true(json_is_integer(i));
    return json_integer_value(i);
}

/* Checks "e-<16 lower-case hex>-<seq>" and returns the seq; the hex into @prefix. */
static int64_t id_parse(const char *id, char prefix[17])
{
    assert_non_null(id);
    assert_true(strlen(id) < OUTBOX_ID_MAX);
    assert_memory_equal(id, "e-", 2);
    for (int k = 2; k < 18; k++)
        assert_true((id[k] >= '0' && id[k] <= '9') || (id[k] >= 'a' && id[k] <= 'f'));
    assert_int_equal(id[18], '-');
    assert_true(id[19] >= '1' && id[19] <= '9'); /* no sign, no leading zero */
    int64_t seq = 0;
    assert_int_equal(parse_int64(id + 19, 1, INT64_MAX, &seq), 0);
    memcpy(prefix, id + 2, 16);
    prefix[16] = '\0';
    return seq;
}

static const char *ev_id(json_t *ev)
{
    return json_string_value(json_object_get(ev, "eventId"));
}

/* A payload of exactly @bytes bytes as compact JSON: {"s":"xxx…"} */
static json_t *payload_of(size_t bytes)
{
    assert_true(bytes >= 8);
    char *s = xmalloc(bytes - 8 + 1);
    memset(s, 'x', bytes - 8);
    s[bytes - 8] = '\0';
    json_t *p = json_pack("{s:s}", "s", s);
    free(s);
    return p;
}

/* {"d":{"d":…{}}}: an object @depth levels deep (the outer one is 1) */
static json_t *nested(unsigned depth)
{
    json_t *p = json_object();
    for (unsigned k = 1; k < depth; k++)
        p = json_pack("{s:o}", "d", p);
    return p;
}

/* ---- open ---------------------------------------------------------------------------------- */

static void open_and_errors(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    _cleanup_free_ char *path = xasprintf("%s/player.db", dir);
    _cleanup_free_ char *missing = xasprintf("%s/nope", dir);
    struct outbox *o = (struct outbox *)&o; /* must stay untouched on failure */
    struct outbox *const sentinel = o;

    assert_int_equal(outbox_open(NULL, false, &o), -EINVAL);
    assert_int_equal(outbox_open("", false, &o), -EINVAL);
    assert_int_equal(outbox_open(dir, false, NULL), -EINVAL);
    assert_int_equal(outbox_open(missing, false, &o), -ENOENT);
    /* read-only: a missing file is -ENOENT and is not created */
    assert_int_equal(outbox_open(dir, true, &o), -ENOENT);
    assert_int_equal(access(path, F_OK), -1);
    assert_ptr_equal(o, sentinel);

    o = open_ok(dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(o->db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(o->db, "PRAGMA synchronous", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2); /* FULL */
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(o->db, "PRAGMA busy_timeout", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 5000);
    sqlite3_finalize(s);
    add_i(o, 0);
    o = outbox_free(o);
    assert_null(o);
    assert_null(outbox_free(NULL));
    /* the -wal and -shm follow the file's mode */
    o = open_ok(dir);
    add_i(o, 1);
    _cleanup_free_ char *wal = xasprintf("%s-wal", path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    outbox_free(o);

    /* the tables of version 1 missing: damage */
    assert_int_equal(db_try(dir, "DROP TABLE kv"), SQLITE_OK);
    o = sentinel;
    assert_int_equal(outbox_open(dir, false, &o), -EUCLEAN);
    assert_int_equal(outbox_open(dir, true, &o), -EUCLEAN);
    assert_int_equal(db_try(dir, "CREATE TABLE kv (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT "
                                 "NULL) WITHOUT ROWID"),
                     SQLITE_OK);

    /* a file of a newer player */
    assert_int_equal(db_try(dir, "PRAGMA user_version = 2"), SQLITE_OK);
    o = sentinel;
    assert_int_equal(outbox_open(dir, false, &o), -EPROTONOSUPPORT);
    assert_int_equal(outbox_open(dir, true, &o), -EPROTONOSUPPORT);
    assert_ptr_equal(o, sentinel);

    /* no database at all */
    rm_rf(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    char junk[4096];
    memset(junk, 'j', sizeof(junk));
    write_file(path, junk, sizeof(junk));
    assert_int_equal(outbox_open(dir, false, &o), -EUCLEAN);
    assert_int_equal(outbox_open(dir, true, &o), -EUCLEAN);

    /* an empty file (a creating open killed before its first commit): read-only finds no
     * outbox yet; a writer creates the schema in it */
    write_file(path, "", 0);
    assert_int_equal(outbox_open(dir, true, &o), -ENOENT);
    o = open_ok(dir);
    assert_int_equal(outbox_events_count(o), 0);
    outbox_free(o);
    o = sentinel;

    /* a file, not a directory */
    assert_int_equal(outbox_open(path, false, &o), -ENOTDIR);
    assert_ptr_equal(o, sentinel);
    rm_rf(dir);
}

/* ---- events -------------------------------------------------------------------------------- */

static void event_ids(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    for (int i = 0; i < 3; i++)
        add_i(o, i);
    int64_t last = 0;
    json_t *b = batch(o, OUTBOX_BATCH_MAX, NOW, &last);
    json_t *ev = batch_events(b);
    assert_int_equal(json_array_size(ev), 3);
    char prefix[17], p2[17];
    int64_t seq[3];
    for (size_t k = 0; k < 3; k++) {
        seq[k] = id_parse(ev_id(json_array_get(ev, k)), k ? p2 : prefix);
        if (k) {
            assert_string_equal(p2, prefix);
            assert_true(seq[k] > seq[k - 1]);
        }
    }
    assert_int_equal(last, seq[2]);
    json_decref(b);

    /* the same ids after a reopen, and the next one after them */
    o = outbox_free(o);
    o = open_ok(dir);
    add_i(o, 3);
    b = batch(o, OUTBOX_BATCH_MAX, NOW, &last);
    ev = batch_events(b);
    assert_int_equal(json_array_size(ev), 4);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(id_parse(ev_id(json_array_get(ev, k)), p2), seq[k]);
        assert_string_equal(p2, prefix);
    }
    int64_t s3 = id_parse(ev_id(json_array_get(ev, 3)), p2);
    assert_string_equal(p2, prefix);
    assert_true(s3 > seq[2]);
    json_decref(b);

    /* the queue emptied, then the process restarted: a seq is never handed out again (the
     * server would take a repeated eventId for a resent event and drop it) */
    assert_int_equal(outbox_events_ack(o, last), 0);
    assert_int_equal(outbox_events_count(o), 0);
    o = outbox_free(o);
    o = open_ok(dir);
    add_i(o, 4);
    b = batch(o, OUTBOX_BATCH_MAX, NOW, &last);
    assert_true(id_parse(ev_id(json_array_get(batch_events(b), 0)), p2) > s3);
    assert_string_equal(p2, prefix);
    json_decref(b);
    outbox_free(o);

    /* another file, another random half */
    _cleanup_free_ char *dir2 = new_dir();
    o = open_ok(dir2);
    add_i(o, 0);
    b = batch(o, 1, NOW, NULL);
    id_parse(ev_id(json_array_get(batch_events(b), 0)), p2);
    assert_string_not_equal(p2, prefix);
    json_decref(b);
    outbox_free(o);
    rm_rf(dir);
    rm_rf(dir2);
}

/* Every member of @obj is one of @keys (NULL-terminated) and every key is there. */
static void assert_keys(json_t *obj, const char *const *keys)
{
    assert_true(json_is_object(obj));
    size_t n = 0;
    for (; keys[n]; n++)
        if (!json_object_get(obj, keys[n]))
            fail_msg("member %s is missing", keys[n]);
    assert_int_equal(json_object_size(obj), n);
}

static void batch_shape(void **state)
{
    static const char *const top[] = {"deviceTime", "events", NULL};
    static const char *const fields[] = {"eventId",  "eventType", "eventTimeUtc",
                                         "severity", "payload",   NULL};
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);

    json_t *p0 = json_pack("{s:s, s:s, s:s}", "manifestEtag", "\"m-42\"", "previousEtag",
                           "\"m-41\"", "note", "caf\xc3\xa9 \x01 \"quoted\" \\ /");
    json_t *p2 =
        json_pack("{s:s, s:I, s:s, s:[i, f, b, n]}", "assetId", "a1", "httpStatus", (json_int_t)503,
                  "url", "https://cdn.example.com/x.mp4", "list", 1, 0.5, 1);
    assert_int_equal(outbox_event_add(o, "MANIFEST_APPLIED", "INFO", NOW, p0), 0);
    assert_int_equal(outbox_event_add(o, "PLAYBACK_FAILED", "ERROR", 0, NULL), 0);
    assert_int_equal(outbox_event_add(o, "DOWNLOAD_FAILED", "WARNING", TIME_MAX_MS, p2), 0);
    /* the reference was not stolen */
    assert_int_equal(p0->refcount, 1);

    int64_t last = 0;
    json_t *b = batch(o, OUTBOX_BATCH_MAX, NOW + 1000, &last);
    assert_keys(b, top);
    assert_string_equal(json_string_value(json_object_get(b, "deviceTime")),
                        "2026-11-22T10:05:47.123Z");
    json_t *ev = batch_events(b);
    assert_int_equal(json_array_size(ev), 3);
    static const char *const types[] = {"MANIFEST_APPLIED", "PLAYBACK_FAILED", "DOWNLOAD_FAILED"};
    static const char *const sev[] = {"INFO", "ERROR", "WARNING"};
    static const char *const times[] = {"2026-11-22T10:05:46.123Z", "1970-01-01T00:00:00.000Z",
                                        "9999-12-31T23:59:59.999Z"};
    json_t *empty = json_object();
    json_t *const payloads[] = {p0, empty, p2};
    char prefix[17];
    for (size_t k = 0; k < 3; k++) {
        json_t *e = json_array_get(ev, k);
        assert_keys(e, fields);
        int64_t seq = id_parse(ev_id(e), prefix);
        if (k == 2)
            assert_int_equal(seq, last);
        assert_string_equal(json_string_value(json_object_get(e, "eventType")), types[k]);
        assert_string_equal(json_string_value(json_object_get(e, "severity")), sev[k]);
        assert_string_equal(json_string_value(json_object_get(e, "eventTimeUtc")), times[k]);
        int64_t ms;
        assert_int_equal(ids_timestamp_parse(times[k], &ms), 0);
        assert_true(json_equal(json_object_get(e, "payload"), payloads[k]));
    }
    json_decref(b);
    json_decref(empty);
    json_decref(p0);
    json_decref(p2);
    outbox_free(o);
    rm_rf(dir);
}

static void batch_max_and_order(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    char *text = (char *)dir;
    int64_t last = 42;

    /* nothing queued */
    assert_int_equal(outbox_events_batch(o, 10, NOW, &text, &last), 0);
    assert_null(text);
    assert_int_equal(last, 0);

    fast(o);
    /* times out of order: the order is the order of the adds, not of the times */
    for (int i = 0; i < 250; i++) {
        json_t *p = json_pack("{s:i}", "i", i);
        assert_int_equal(outbox_event_add(o, "CACHE_EVICTION", "INFO", NOW - (i % 7) * 1000, p), 0);
        json_decref(p);
    }
    assert_int_equal(outbox_events_count(o), 250);
    json_t *b = batch(o, OUTBOX_BATCH_MAX, NOW, &last);
    json_t *ev = batch_events(b);
    assert_int_equal(json_array_size(ev), OUTBOX_BATCH_MAX);
    char prefix[17];
    for (size_t k = 0; k < OUTBOX_BATCH_MAX; k++)
        assert_int_equal(event_i(json_array_get(ev, k)), k);
    assert_int_equal(id_parse(ev_id(json_array_get(ev, OUTBOX_BATCH_MAX - 1)), prefix), last);
    json_decref(b);
    /* a batch changes nothing */
    assert_int_equal(outbox_events_count(o), 250);
    b = batch(o, 7, NOW, NULL);
    assert_int_equal(json_array_size(batch_events(b)), 7);
    assert_int_equal(event_i(json_array_get(batch_events(b), 0)), 0);
    json_decref(b);
    b = batch(o, 1, NOW, NULL);
    assert_int_equal(json_array_size(batch_events(b)), 1);
    json_decref(b);

    /* bad arguments leave the outputs alone */
    text = (char *)dir;
    last = 42;
    assert_int_equal(outbox_events_batch(o, 0, NOW, &text, &last), -EINVAL);
    assert_int_equal(outbox_events_batch(o, OUTBOX_BATCH_MAX + 1, NOW, &text, &last), -EINVAL);
    assert_int_equal(outbox_events_batch(o, 10, -1, &text, &last), -EINVAL);
    assert_int_equal(outbox_events_batch(o, 10, TIME_MAX_MS + 1, &text, &last), -EINVAL);
    assert_int_equal(outbox_events_batch(o, 10, NOW, NULL, &last), -EINVAL);
    assert_int_equal(outbox_events_batch(o, 10, NOW, &text, NULL), -EINVAL);
    assert_int_equal(outbox_events_batch(NULL, 10, NOW, &text, &last), -EINVAL);
    assert_ptr_equal(text, dir);
    assert_int_equal(last, 42);
    outbox_free(o);
    rm_rf(dir);
}

static void ack(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    for (int i = 0; i < 10; i++)
        add_i(o, i);
    int64_t last = 0;
    json_t *b = batch(o, 4, NOW, &last);
    json_decref(b);
    /* added while the batch was on its way: not acknowledged with it */
    add_i(o, 10);
    add_i(o, 11);
    assert_int_equal(outbox_events_ack(o, last), 0);
    assert_int_equal(outbox_events_count(o), 8);
    b = batch(o, OUTBOX_BATCH_MAX, NOW, NULL);
    json_t *ev = batch_events(b);
    assert_int_equal(json_array_size(ev), 8);
    for (size_t k = 0; k < 8; k++)
        assert_int_equal(event_i(json_array_get(ev, k)), 4 + k);
    json_decref(b);

    /* again (the answer to the ack was lost), and 0: nothing more goes */
    assert_int_equal(outbox_events_ack(o, last), 0);
    assert_int_equal(outbox_events_ack(o, 0), 0);
    assert_int_equal(outbox_events_count(o), 8);
    assert_int_equal(outbox_events_ack(o, -1), -EINVAL);
    assert_int_equal(outbox_events_ack(NULL, 1), -EINVAL);
    /* exactly up to last: one short of the end keeps the end */
    b = batch(o, OUTBOX_BATCH_MAX, NOW, &last);
    json_decref(b);
    assert_int_equal(outbox_events_ack(o, last - 1), 0);
    assert_int_equal(outbox_events_count(o), 1);
    b = batch(o, OUTBOX_BATCH_MAX, NOW, NULL);
    assert_int_equal(event_i(json_array_get(batch_events(b), 0)), 11);
    json_decref(b);
    assert_int_equal(outbox_events_ack(o, INT64_MAX), 0);
    assert_int_equal(outbox_events_count(o), 0);
    assert_null(batch(o, 1, NOW, NULL));
    outbox_free(o);
    rm_rf(dir);
}

static void expire(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    static const int64_t at[] = {NOW - KEEP_MS - 1, NOW - KEEP_MS - 86400000, NOW - KEEP_MS,
                                 NOW - 86400000, NOW + 3600000};
    for (size_t k = 0; k < ARRAY_SIZE(at); k++) {
        json_t *p = json_pack("{s:i}", "i", (int)k);
        assert_int_equal(outbox_event_add(o, "OFFLINE_ENTERED", "WARNING", at[k], p), 0);
        json_decref(p);
    }
    assert_int_equal(outbox_events_expire(o, NOW), 2);
    assert_int_equal(outbox_events_expire(o, NOW), 0);
    assert_int_equal(outbox_events_count(o), 3);
    json_t *b = batch(o, OUTBOX_BATCH_MAX, NOW, NULL);
    json_t *ev = batch_events(b);
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(event_i(json_array_get(ev, k)), 2 + k);
    json_decref(b);
    /* one millisecond later the one of exactly 7 days goes */
    assert_int_equal(outbox_events_expire(o, NOW + 1), 1);
    /* early in the epoch nothing is that old */
    assert_int_equal(outbox_events_expire(o, 0), 0);
    assert_int_equal(outbox_events_expire(o, -1), -EINVAL);
    assert_int_equal(outbox_events_expire(o, TIME_MAX_MS + 1), -EINVAL);
    assert_int_equal(outbox_events_expire(NULL, NOW), -EINVAL);
    assert_int_equal(outbox_events_count(o), 2);
    outbox_free(o);
    rm_rf(dir);
}

static void cap(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    fast(o);
    const int64_t n = OUTBOX_EVENTS_MAX + 5;
    for (int64_t i = 0; i < n; i++)
        add_i(o, i);
    assert_int_equal(outbox_events_count(o), OUTBOX_EVENTS_MAX);
    json_t *b = batch(o, 3, NOW, NULL);
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(event_i(json_array_get(batch_events(b), k)), 5 + k);
    json_decref(b);
    /* the newest is there */
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(o->db,
                                        "SELECT json_extract(payload_json, '$.i') FROM events "
                                        "ORDER BY seq DESC LIMIT 1",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 0), n - 1);
    sqlite3_finalize(s);
    /* a reopen, one more: still at the cap, the oldest gone */
    o = outbox_free(o);
    o = open_ok(dir);
    add_i(o, n);
    assert_int_equal(outbox_events_count(o), OUTBOX_EVENTS_MAX);
    b = batch(o, 1, NOW, NULL);
    assert_int_equal(event_i(json_array_get(batch_events(b), 0)), 6);
    json_decref(b);
    outbox_free(o);
    rm_rf(dir);
}

static void add_refuses(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    json_t *p = payload_of(OUTBOX_PAYLOAD_MAX);
    char *dumped = json_dumps(p, JSON_COMPACT);
    assert_int_equal(strlen(dumped), OUTBOX_PAYLOAD_MAX);
    free(dumped);
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", NOW, p), 0);
    json_decref(p);
    p = payload_of(OUTBOX_PAYLOAD_MAX + 1);
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", NOW, p), -EINVAL);
    json_decref(p);
    /* measured as the server measures it: an escape counts its bytes (\u0001 is 6) */
    p = payload_of(OUTBOX_PAYLOAD_MAX);
    char *big = xmalloc(OUTBOX_PAYLOAD_MAX);
    memset(big, 'x', OUTBOX_PAYLOAD_MAX - 8 - 5);
    big[0] = '\x01'; /* 1 byte in C, 6 in JSON */
    big[OUTBOX_PAYLOAD_MAX - 8 - 5] = '\0';
    json_object_set_new(p, "s", json_string(big));
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", NOW, p), 0);
    big[1] = '\x02';
    json_object_set_new(p, "s", json_string(big));
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", NOW, p), -EINVAL);
    free(big);
    json_decref(p);

    /* depth */
    p = nested(OUTBOX_PAYLOAD_DEPTH_MAX);
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", NOW, p), 0);
    json_decref(p);
    p = nested(OUTBOX_PAYLOAD_DEPTH_MAX + 1);
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", NOW, p), -EINVAL);
    json_decref(p);

    /* what jansson holds but the server cannot read: U+0000 in a string */
    p = json_pack("{s:o}", "s", json_stringn("a\0b", 3));
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", NOW, p), -EINVAL);
    json_decref(p);
    /* not an object */
    json_t *not_obj[] = {json_array(), json_string("x"), json_integer(1), json_null()};
    for (size_t k = 0; k < ARRAY_SIZE(not_obj); k++) {
        assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", NOW, not_obj[k]), -EINVAL);
        json_decref(not_obj[k]);
    }
    /* a type the server does not know would make it refuse the whole batch */
    static const char *const bad_types[] = {"", "APP_STOPPED", "app_started", "APP_STARTED ", NULL};
    for (size_t k = 0; k < ARRAY_SIZE(bad_types); k++)
        assert_int_equal(outbox_event_add(o, bad_types[k], "INFO", NOW, NULL), -EINVAL);
    static const char *const bad_sev[] = {"", "DEBUG", "info", "CRITICAL", NULL};
    for (size_t k = 0; k < ARRAY_SIZE(bad_sev); k++)
        assert_int_equal(outbox_event_add(o, "APP_STARTED", bad_sev[k], NOW, NULL), -EINVAL);
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", -1, NULL), -EINVAL);
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", TIME_MAX_MS + 1, NULL), -EINVAL);
    assert_int_equal(outbox_event_add(o, "APP_STARTED", "INFO", INT64_MIN, NULL), -EINVAL);
    assert_int_equal(outbox_event_add(NULL, "APP_STARTED", "INFO", NOW, NULL), -EINVAL);
    /* every type of §27.8.3 is taken */
    for (size_t k = 0; k < PROTOCOL_EVENT_COUNT; k++)
        assert_int_equal(outbox_event_add(o, protocol_events[k].type, "INFO", NOW, NULL), 0);
    assert_int_equal(outbox_events_count(o), 3 + 17);
    outbox_free(o);
    rm_rf(dir);
}

/* Adds @n events the server must take: the biggest payloads, every type and severity, the
 * extreme times, the deepest payload, strings needing escapes and multi-byte characters. */
static void add_hard_events(struct outbox *o, unsigned n)
{
    static const char *const sev[] = {"INFO", "WARNING", "ERROR"};
    for (unsigned k = 0; k < n; k++) {
        json_t *p;
        switch (k % 4) {
        case 0:
            p = payload_of(OUTBOX_PAYLOAD_MAX);
            break;
        case 1: {
            /* 4096 bytes of escapes and UTF-8: "\u001f" is 6, "é" 2, "€" 3, "\"" 2 */
            char s[OUTBOX_PAYLOAD_MAX];
            size_t len = 0, json = 8;
            static const char *const pieces[] = {"\x1f", "\xc3\xa9", "\xe2\x82\xac", "\"", "/"};
            static const size_t costs[] = {6, 2, 3, 2, 1};
            for (size_t i = 0;; i++) {
                size_t c = costs[i % 5], b = strlen(pieces[i % 5]);
                if (json + c > OUTBOX_PAYLOAD_MAX)
                    break;
                memcpy(s + len, pieces[i % 5], b);
                len += b;
                json += c;
            }
            s[len] = '\0';
            p = json_pack("{s:s}", "s", s);
            break;
        }
        case 2:
            p = nested(OUTBOX_PAYLOAD_DEPTH_MAX);
            break;
        default:
            p = NULL;
        }
        int64_t t = k % 3 == 0 ? 0 : k % 3 == 1 ? TIME_MAX_MS : NOW;
        assert_int_equal(outbox_event_add(o, protocol_events[k % 17].type, sev[k % 3], t, p), 0);
        json_decref(p);
    }
}

static void batch_server_accepts(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    fast(o);
    add_hard_events(o, 2 * OUTBOX_BATCH_MAX + 17);
    const char *code = NULL;
    char field[96];
    unsigned batches = 0;
    for (;;) {
        assert_true(batches <= 3); /* an ack that left one behind would loop here */
        char *text = NULL;
        int64_t last = 0;
        assert_int_equal(outbox_events_batch(o, OUTBOX_BATCH_MAX, TIME_MAX_MS, &text, &last), 0);
        if (!text)
            break;
        int status = server_events_check(text, &code, field, sizeof(field));
        if (status != 0)
            fail_msg("the server refuses batch %u: %d %s %s", batches, status, code, field);
        free(text);
        assert_int_equal(outbox_events_ack(o, last), 0);
        batches++;
    }
    assert_int_equal(batches, 3);

    /* the largest batch there can be: 100 of the largest payloads, the longest type */
    for (unsigned k = 0; k < OUTBOX_BATCH_MAX; k++) {
        json_t *p = payload_of(OUTBOX_PAYLOAD_MAX);
        assert_int_equal(
            outbox_event_add(o, "FALLBACK_TO_PREVIOUS_MANIFEST", "WARNING", TIME_MAX_MS, p), 0);
        json_decref(p);
    }
    char *largest = NULL;
    int64_t last = 0;
    assert_int_equal(outbox_events_batch(o, OUTBOX_BATCH_MAX, TIME_MAX_MS, &largest, &last), 0);
    assert_true(strlen(largest) > OUTBOX_BATCH_MAX * OUTBOX_PAYLOAD_MAX);
    int status = server_events_check(largest, &code, field, sizeof(field));
    if (status != 0)
        fail_msg("the server refuses the largest batch: %d %s %s", status, code, field);
    free(largest);
    assert_int_equal(outbox_events_ack(o, last), 0);

    /* the check sees what the server refuses: a payload one byte over, 101 events */
    json_t *p = payload_of(OUTBOX_PAYLOAD_MAX + 1);
    json_t *b =
        json_pack("{s:s, s:[{s:s, s:s, s:s, s:s, s:O}]}", "deviceTime", "2026-11-22T10:05:46.123Z",
                  "events", "eventId", "e-1", "eventType", "APP_STARTED", "eventTimeUtc",
                  "2026-11-22T10:05:46.123Z", "severity", "INFO", "payload", p);
    char *text = json_dumps(b, JSON_COMPACT);
    assert_int_equal(server_events_check(text, &code, field, sizeof(field)), 400);
    assert_string_equal(field, "events[0].payload");
    free(text);
    json_t *list = json_object_get(b, "events");
    json_object_set_new(json_array_get(list, 0), "payload", json_object());
    for (int k = 0; k < 100; k++)
        json_array_append_new(list, json_deep_copy(json_array_get(list, 0)));
    text = json_dumps(b, JSON_COMPACT);
    assert_int_equal(server_events_check(text, &code, field, sizeof(field)), 413);
    free(text);
    json_decref(b);
    json_decref(p);
    outbox_free(o);
    rm_rf(dir);
}

/* ---- commands ------------------------------------------------------------------------------ */

#define CMD_A "3f1c2a9e-6b0d-4c57-9a8e-1d2f3c4b5a69"
#define CMD_B "7d0e5c1b-2a3f-4e6d-8c9b-0a1b2c3d4e5f"
#define CMD_C "c-3"

static void command_begin_twice(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    assert_int_equal(outbox_command_begin(o, CMD_A, "CLEAR_CACHE_ALL", NOW, NULL), 0);

    struct outbox_command c;
    memset(&c, 0x55, sizeof(c));
    assert_int_equal(outbox_command_begin(o, CMD_A, "CLEAR_CACHE_ALL", NOW + 1, &c), -EALREADY);
    assert_string_equal(c.command_id, CMD_A);
    assert_string_equal(c.type, "CLEAR_CACHE_ALL");
    assert_int_equal(c.state, OUTBOX_COMMAND_EXECUTING);
    assert_null(c.result_json);
    outbox_command_release(&c);
    /* the type recorded is the one of the first begin */
    assert_int_equal(outbox_command_begin(o, CMD_A, "REBOOT_APP", NOW + 1, &c), -EALREADY);
    assert_string_equal(c.type, "CLEAR_CACHE_ALL");
    outbox_command_release(&c);
    assert_int_equal(outbox_command_begin(o, CMD_A, "CLEAR_CACHE_ALL", NOW + 1, NULL), -EALREADY);

    const char *result = "{\"status\":\"SUCCEEDED\",\"result\":{\"freedBytes\":123}}";
    assert_int_equal(outbox_command_finish(o, CMD_A, result), 0);
    assert_int_equal(outbox_command_begin(o, CMD_A, "CLEAR_CACHE_ALL", NOW + 2, &c), -EALREADY);
    assert_int_equal(c.state, OUTBOX_COMMAND_FINISHED);
    assert_string_equal(c.result_json, result);
    outbox_command_release(&c);
    assert_null(c.result_json);
    outbox_command_release(&c); /* twice is fine */
    outbox_command_release(NULL);

    assert_int_equal(outbox_command_posted(o, CMD_A), 0);
    assert_int_equal(outbox_command_begin(o, CMD_A, "CLEAR_CACHE_ALL", NOW + 3, &c), -EALREADY);
    assert_int_equal(c.state, OUTBOX_COMMAND_POSTED);
    assert_string_equal(c.result_json, result);
    outbox_command_release(&c);

    /* bad arguments, ret untouched */
    memset(&c, 0, sizeof(c));
    char long_id[OUTBOX_ID_MAX + 1];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[OUTBOX_ID_MAX] = '\0';
    assert_int_equal(outbox_command_begin(o, long_id, "REBOOT_APP", NOW, &c), -EINVAL);
    long_id[OUTBOX_ID_MAX - 1] = '\0'; /* 63: the longest */
    assert_int_equal(outbox_command_begin(o, long_id, "REBOOT_APP", NOW, &c), 0);
    assert_int_equal(outbox_command_begin(o, "", "REBOOT_APP", NOW, &c), -EINVAL);
    assert_int_equal(outbox_command_begin(o, "a b", "REBOOT_APP", NOW, &c), -EINVAL);
    assert_int_equal(outbox_command_begin(o, NULL, "REBOOT_APP", NOW, &c), -EINVAL);
    assert_int_equal(outbox_command_begin(o, CMD_B, NULL, NOW, &c), -EINVAL);
    assert_int_equal(outbox_command_begin(o, CMD_B, "", NOW, &c), -EINVAL);
    assert_int_equal(outbox_command_begin(o, CMD_B, "A_TYPE_NAME_OF_THIRTY_ONE_CHARS", NOW, &c),
                     0); /* 31 */
    assert_int_equal(outbox_command_begin(o, CMD_C, "A_TYPE_NAME_OF_THIRTY_TWO_CHARS!", NOW, &c),
                     -EINVAL);
    assert_int_equal(outbox_command_begin(o, CMD_C, "REBOOT_APP", -1, &c), -EINVAL);
    assert_int_equal(outbox_command_begin(NULL, CMD_C, "REBOOT_APP", NOW, &c), -EINVAL);
    assert_null(c.result_json);
    assert_string_equal(c.command_id, "");
    outbox_free(o);
    rm_rf(dir);
}

static void command_executing_survives_reopen(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    assert_int_equal(outbox_command_begin(o, CMD_A, "REBOOT_APP", NOW, NULL), 0);
    /* REBOOT_APP: the process goes away before any result */
    o = outbox_free(o);

    o = open_ok(dir);
    struct outbox_command c;
    assert_int_equal(outbox_command_begin(o, CMD_A, "REBOOT_APP", NOW + 60000, &c), -EALREADY);
    assert_int_equal(c.state, OUTBOX_COMMAND_EXECUTING);
    assert_null(c.result_json);
    outbox_command_release(&c);
    struct outbox_command *v = NULL;
    size_t n = 99;
    assert_int_equal(outbox_commands_unposted(o, &v, &n), 0);
    assert_int_equal(n, 0);
    free(v);
    /* a starting daemon finds it among the executing ones, and only it */
    assert_int_equal(outbox_commands_executing(o, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].command_id, CMD_A);
    assert_string_equal(v[0].type, "REBOOT_APP");
    assert_int_equal(v[0].state, OUTBOX_COMMAND_EXECUTING);
    outbox_command_release(&v[0]);
    free(v);
    /* the interrupted result, recorded then posted */
    const char *failed = "{\"status\":\"FAILED\",\"errorCode\":\"INTERRUPTED\"}";
    assert_int_equal(outbox_command_finish(o, CMD_A, failed), 0);
    o = outbox_free(o);
    o = open_ok(dir);
    assert_int_equal(outbox_commands_unposted(o, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].command_id, CMD_A);
    assert_string_equal(v[0].result_json, failed);
    outbox_command_release(&v[0]);
    free(v);
    assert_int_equal(outbox_commands_executing(o, &v, &n), 0);
    assert_int_equal(n, 0);
    free(v);
    outbox_free(o);
    rm_rf(dir);
}

static void command_finish_posted_expire(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    const char *ra = "{\"status\":\"SUCCEEDED\"}", *rc = "{\"status\":\"FAILED\"}";
    assert_int_equal(outbox_command_begin(o, CMD_A, "REQUEST_MANIFEST_REFRESH", NOW, NULL), 0);
    assert_int_equal(outbox_command_begin(o, CMD_B, "SET_LOG_LEVEL", NOW + 1, NULL), 0);
    assert_int_equal(outbox_command_begin(o, CMD_C, "CLEAR_CACHE_UNUSED", NOW + 2, NULL), 0);

    clock_set_fake_ms(NOW + 10);
    assert_int_equal(outbox_command_finish(o, CMD_C, rc), 0);
    clock_set_fake_ms(NOW + 20);
    assert_int_equal(outbox_command_finish(o, CMD_A, ra), 0);

    /* oldest first, FINISHED only */
    struct outbox_command *v = NULL;
    size_t n = 0;
    assert_int_equal(outbox_commands_unposted(o, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].command_id, CMD_A);
    assert_string_equal(v[0].type, "REQUEST_MANIFEST_REFRESH");
    assert_int_equal(v[0].state, OUTBOX_COMMAND_FINISHED);
    assert_string_equal(v[0].result_json, ra);
    assert_string_equal(v[1].command_id, CMD_C);
    assert_string_equal(v[1].result_json, rc);
    for (size_t k = 0; k < n; k++)
        outbox_command_release(&v[k]);
    free(v);

    /* a result stays what it was */
    assert_int_equal(outbox_command_finish(o, CMD_A, ra), 0);
    assert_int_equal(outbox_command_finish(o, CMD_A, rc), -EALREADY);
    assert_int_equal(outbox_command_finish(o, "nope", ra), -ENOENT);
    assert_int_equal(outbox_command_finish(o, CMD_B, NULL), -EINVAL);
    assert_int_equal(outbox_command_finish(o, CMD_B, "{"), -EINVAL);
    assert_int_equal(outbox_command_finish(o, CMD_B, "[]"), -EINVAL);
    assert_int_equal(outbox_command_finish(o, CMD_B, "{\"a\":1,\"a\":2}"), -EINVAL);
    char *huge = xmalloc(OUTBOX_RESULT_MAX + 1);
    memset(huge, ' ', OUTBOX_RESULT_MAX);
    huge[0] = '{';
    huge[OUTBOX_RESULT_MAX - 2] = '}';
    huge[OUTBOX_RESULT_MAX - 1] = '\0'; /* the longest */
    assert_int_equal(outbox_command_finish(o, "nope", huge), -ENOENT);
    huge[OUTBOX_RESULT_MAX - 1] = ' ';
    huge[OUTBOX_RESULT_MAX] = '\0';
    assert_int_equal(outbox_command_finish(o, CMD_B, huge), -EINVAL);
    free(huge);

    assert_int_equal(outbox_command_posted(o, CMD_A), 0);
    assert_int_equal(outbox_command_posted(o, CMD_A), 0); /* again: done */
    assert_int_equal(outbox_command_posted(o, CMD_B), -EINPROGRESS);
    assert_int_equal(outbox_command_posted(o, "nope"), -ENOENT);
    assert_int_equal(outbox_command_posted(o, ""), -EINVAL);
    assert_int_equal(outbox_command_posted(NULL, CMD_A), -EINVAL);
    assert_int_equal(outbox_commands_unposted(o, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].command_id, CMD_C);
    outbox_command_release(&v[0]);
    free(v);
    assert_int_equal(outbox_commands_unposted(o, NULL, &n), -EINVAL);
    assert_int_equal(outbox_commands_unposted(o, &v, NULL), -EINVAL);

    /* expiry: POSTED ones, by when they finished, exactly 7 days kept */
    assert_int_equal(outbox_command_posted(o, CMD_C), 0); /* finished at NOW + 10 */
    assert_int_equal(outbox_commands_expire(o, NOW + 10 + KEEP_MS), 0);
    assert_int_equal(outbox_commands_expire(o, NOW + 11 + KEEP_MS), 1); /* C */
    assert_int_equal(outbox_commands_expire(o, NOW + 21 + KEEP_MS), 1); /* A */
    /* B, still EXECUTING, is never forgotten */
    assert_int_equal(outbox_commands_expire(o, TIME_MAX_MS), 0);
    assert_int_equal(outbox_command_begin(o, CMD_B, "SET_LOG_LEVEL", NOW, NULL), -EALREADY);
    /* A was forgotten: its id is new again */
    assert_int_equal(outbox_command_begin(o, CMD_A, "REQUEST_MANIFEST_REFRESH", NOW, NULL), 0);
    assert_int_equal(outbox_commands_expire(o, -1), -EINVAL);
    assert_int_equal(outbox_commands_expire(NULL, NOW), -EINVAL);
    clock_set_fake_ms(0);
    outbox_free(o);
    rm_rf(dir);
}

/* ---- named values -------------------------------------------------------------------------- */

static void kv(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    char buf[OUTBOX_KV_MAX];
    assert_int_equal(outbox_kv_get(o, "last_sync", buf, sizeof(buf)), -ENOENT);
    assert_int_equal(outbox_kv_set(o, "last_sync", "2026-11-22T10:05:46.123Z"), 0);
    assert_int_equal(outbox_kv_get(o, "last_sync", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2026-11-22T10:05:46.123Z");
    assert_int_equal(outbox_kv_set(o, "last_sync", "later"), 0);
    assert_int_equal(outbox_kv_set(o, "empty", ""), 0);

    /* exactly fits, one short */
    char small[6];
    memset(small, '#', sizeof(small));
    assert_int_equal(outbox_kv_get(o, "last_sync", small, 6), 0);
    assert_string_equal(small, "later");
    memset(small, '#', sizeof(small));
    assert_int_equal(outbox_kv_get(o, "last_sync", small, 5), -ENOBUFS);
    assert_int_equal(small[0], '#');
    assert_int_equal(outbox_kv_get(o, "empty", small, 1), 0);
    assert_string_equal(small, "");

    /* the longest value, one more */
    char *v = xmalloc(OUTBOX_KV_MAX + 1);
    memset(v, 'v', OUTBOX_KV_MAX);
    v[OUTBOX_KV_MAX - 1] = '\0';
    assert_int_equal(outbox_kv_set(o, "big", v), 0);
    assert_int_equal(outbox_kv_get(o, "big", buf, sizeof(buf)), 0);
    assert_string_equal(buf, v);
    v[OUTBOX_KV_MAX - 1] = 'v';
    v[OUTBOX_KV_MAX] = '\0';
    assert_int_equal(outbox_kv_set(o, "big", v), -EINVAL);
    free(v);

    /* keys */
    char key[OUTBOX_KEY_MAX + 1];
    memset(key, 'k', sizeof(key));
    key[OUTBOX_KEY_MAX - 1] = '\0';
    assert_int_equal(outbox_kv_set(o, key, "x"), 0);
    key[OUTBOX_KEY_MAX - 1] = 'k';
    key[OUTBOX_KEY_MAX] = '\0';
    assert_int_equal(outbox_kv_set(o, key, "x"), -EINVAL);
    assert_int_equal(outbox_kv_get(o, key, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(outbox_kv_del(o, key), -EINVAL);
    assert_int_equal(outbox_kv_set(o, "", "x"), -EINVAL);
    assert_int_equal(outbox_kv_set(o, "a key", "x"), -EINVAL);
    assert_int_equal(outbox_kv_set(o, NULL, "x"), -EINVAL);
    assert_int_equal(outbox_kv_set(o, "k", NULL), -EINVAL);
    assert_int_equal(outbox_kv_set(NULL, "k", "x"), -EINVAL);
    assert_int_equal(outbox_kv_get(o, "k", NULL, 4), -EINVAL);
    assert_int_equal(outbox_kv_get(o, "k", buf, 0), -EINVAL);

    /* durable across a reopen; delete, and delete again */
    o = outbox_free(o);
    o = open_ok(dir);
    assert_int_equal(outbox_kv_get(o, "last_sync", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "later");
    assert_int_equal(outbox_kv_del(o, "last_sync"), 0);
    assert_int_equal(outbox_kv_get(o, "last_sync", buf, sizeof(buf)), -ENOENT);
    assert_int_equal(outbox_kv_del(o, "last_sync"), 0);
    assert_int_equal(outbox_kv_del(o, "never"), 0);
    assert_int_equal(outbox_kv_get(o, "big", buf, sizeof(buf)), 0);
    outbox_free(o);
    rm_rf(dir);
}

/* ---- read-only ----------------------------------------------------------------------------- */

static void read_only(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *ro = NULL;
    assert_int_equal(outbox_open(dir, true, &ro), -ENOENT);
    struct outbox *o = open_ok(dir);
    add_i(o, 0);
    assert_int_equal(outbox_kv_set(o, "k", "v"), 0);
    assert_int_equal(outbox_command_begin(o, CMD_A, "REBOOT_APP", NOW, NULL), 0);
    assert_int_equal(outbox_command_finish(o, CMD_A, "{}"), 0);

    /* beside the writer, as `status` runs beside the daemon */
    ro = open_ro(dir);
    assert_int_equal(outbox_events_count(ro), 1);
    add_i(o, 1);
    assert_int_equal(outbox_events_count(ro), 2);
    json_t *b = batch(ro, 10, NOW, NULL);
    assert_int_equal(json_array_size(batch_events(b)), 2);
    json_decref(b);
    char buf[8];
    assert_int_equal(outbox_kv_get(ro, "k", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "v");
    struct outbox_command *v = NULL;
    size_t n = 0;
    assert_int_equal(outbox_commands_unposted(ro, &v, &n), 0);
    assert_int_equal(n, 1);
    outbox_command_release(&v[0]);
    free(v);

    /* it cannot write */
    assert_int_equal(outbox_event_add(ro, "APP_STARTED", "INFO", NOW, NULL), -EROFS);
    assert_int_equal(outbox_events_ack(ro, INT64_MAX), -EROFS);
    assert_int_equal(outbox_events_expire(ro, TIME_MAX_MS), -EROFS);
    assert_int_equal(outbox_command_begin(ro, CMD_B, "REBOOT_APP", NOW, NULL), -EROFS);
    assert_int_equal(outbox_command_finish(ro, CMD_A, "{}"), -EROFS);
    assert_int_equal(outbox_command_posted(ro, CMD_A), -EROFS);
    assert_int_equal(outbox_commands_expire(ro, TIME_MAX_MS), -EROFS);
    assert_int_equal(outbox_kv_set(ro, "k", "w"), -EROFS);
    assert_int_equal(outbox_kv_del(ro, "k"), -EROFS);
    /* and SQLite would not let it either, had the check been missed */
    assert_int_equal(sqlite3_exec(ro->db, "DELETE FROM events", NULL, NULL, NULL) & 0xff,
                     SQLITE_READONLY);
    assert_int_equal(outbox_events_count(o), 2);
    assert_int_equal(outbox_kv_get(o, "k", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "v");
    ro = outbox_free(ro);

    /* alone (the writer closed, its -wal and -shm gone) */
    o = outbox_free(o);
    ro = open_ro(dir);
    assert_int_equal(outbox_events_count(ro), 2);
    outbox_free(ro);
    rm_rf(dir);
}

/* ---- damage -------------------------------------------------------------------------------- */

/* Rows the schema refuses, forced in from outside: read as -EUCLEAN, not a crash nor a batch the
 * server would refuse. */
static void damaged_rows(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct outbox *o = open_ok(dir);
    add_i(o, 0);
    assert_int_equal(outbox_command_begin(o, CMD_A, "REBOOT_APP", NOW, NULL), 0);
    assert_int_equal(outbox_command_finish(o, CMD_A, "{}"), 0);
    /* the schema's own checks */
    assert_int_equal(db_try(dir, "UPDATE events SET severity = 'DEBUG'"), SQLITE_CONSTRAINT);
    assert_int_equal(db_try(dir, "UPDATE events SET event_time_utc = 'yesterday'"),
                     SQLITE_CONSTRAINT);
    assert_int_equal(db_try(dir, "UPDATE commands SET result_json = NULL"), SQLITE_CONSTRAINT);
    assert_int_equal(db_try(dir, "UPDATE commands SET state = 'EXECUTING'"), SQLITE_CONSTRAINT);

    static const char *const bad_events[] = {
        "UPDATE events SET payload_json = 'nope'",
        "UPDATE events SET payload_json = '[1]'",
        "UPDATE events SET event_type = 'APP_STOPPED'",
        "UPDATE events SET event_time_utc = '2026-02-30T00:00:00.000Z'",
    };
    for (size_t k = 0; k < ARRAY_SIZE(bad_events); k++) {
        _cleanup_free_ char *sql = xasprintf("SAVEPOINT s; PRAGMA ignore_check_constraints = ON; "
                                             "%s; RELEASE s",
                                             bad_events[k]);
        assert_int_equal(db_try(dir, "DELETE FROM events"), SQLITE_OK);
        add_i(o, (int64_t)k);
        assert_int_equal(db_try(dir, sql), SQLITE_OK);
        char *text = (char *)dir;
        int64_t last = 42;
        assert_int_equal(outbox_events_batch(o, 10, NOW, &text, &last), -EUCLEAN);
        assert_ptr_equal(text, dir);
        assert_int_equal(last, 42);
    }
    assert_int_equal(db_try(dir, "PRAGMA ignore_check_constraints = ON; "
                                 "UPDATE commands SET state = 'LOST'"),
                     SQLITE_OK);
    struct outbox_command c = {0};
    assert_int_equal(outbox_command_begin(o, CMD_A, "REBOOT_APP", NOW, &c), -EUCLEAN);
    assert_null(c.result_json);
    struct outbox_command *v = NULL;
    size_t n = 0;
    assert_int_equal(db_try(dir, "PRAGMA ignore_check_constraints = ON; "
                                 "UPDATE commands SET state = 'FINISHED', command_id = ''"),
                     SQLITE_OK);
    assert_int_equal(outbox_commands_unposted(o, &v, &n), -EUCLEAN);
    assert_null(v);
    outbox_free(o);
    rm_rf(dir);
}

/* ---- kill -9 ------------------------------------------------------------------------------- */

/* Opens the outbox and adds events {"round": @round, "i": 0, 1, …} until killed, writing the
 * number whose add returned 0 to @fd after each one. */
_noreturn_ static void child_add(const char *dir, int round, int fd)
{
    struct outbox *o = NULL;
    if (outbox_open(dir, false, &o) < 0)
        _exit(2);
    for (uint32_t i = 0;; i++) {
        json_t *p = json_pack("{s:i, s:I}", "round", round, "i", (json_int_t)i);
        if (outbox_event_add(o, "APP_STARTED", "INFO", NOW + i, p) < 0)
            _exit(3);
        json_decref(p);
        uint32_t done = i + 1;
        if (write(fd, &done, sizeof(done)) != (ssize_t)sizeof(done))
            _exit(4);
    }
}

/* What the child reported last (0 when nothing), read until it is gone. */
static uint32_t child_count(int fd)
{
    uint32_t last = 0, v;
    unsigned char buf[4096];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r >= 0);
        if (r == 0)
            break;
        have += (size_t)r;
        size_t whole = have / 4 * 4;
        if (whole) {
            memcpy(&v, buf + whole - 4, 4);
            last = v;
            memmove(buf, buf + whole, have - whole);
            have -= whole;
        }
    }
    return last;
}

static void events_after_kill9(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    char prefix[17] = "", p[17];
    int64_t max_seq = 0;
    unsigned total = 0, extra = 0;
    for (int k = 0; k < KILL_ROUNDS; k++) {
        int fds[2];
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_add(dir, k, fds[1]);
        }
        close(fds[1]);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(1 + rnd(80000)) * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("round %d: the child exited with %d before the kill", k, WEXITSTATUS(status));
        uint32_t done = child_count(fds[0]);
        close(fds[0]);

        /* every event whose add returned 0 is there, in order, and at most one more (killed
         * between its commit and the report) */
        struct outbox *o = open_ok(dir);
        size_t n = outbox_events_count(o);
        if (n < done || n > done + 1)
            fail_msg("round %d: %zu events, %u reported", k, n, done);
        extra += (unsigned)(n - done);
        total += done;
        for (uint32_t i = 0; i < n;) {
            int64_t last = 0;
            json_t *b = batch(o, OUTBOX_BATCH_MAX, NOW, &last);
            json_t *ev = batch_events(b);
            for (size_t j = 0; j < json_array_size(ev); j++, i++) {
                json_t *e = json_array_get(ev, j);
                assert_int_equal(
                    json_integer_value(json_object_get(json_object_get(e, "payload"), "round")), k);
                assert_int_equal(event_i(e), i);
                /* ids: one random half for the file, seqs rising across every round */
                int64_t seq = id_parse(ev_id(e), p);
                if (!prefix[0])
                    memcpy(prefix, p, sizeof(p));
                assert_string_equal(p, prefix);
                assert_true(seq > max_seq);
                max_seq = seq;
            }
            json_decref(b);
            assert_int_equal(outbox_events_ack(o, last), 0);
        }
        assert_int_equal(outbox_events_count(o), 0);
        outbox_free(o);
    }
    print_message("# %d kills: %u events reported added and found, %u more found\n", KILL_ROUNDS,
                  total, extra);
    rm_rf(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    log_set_level(LOG_OFF); /* the failures provoked on purpose log; the asserts say the rest */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_and_errors),
        cmocka_unit_test(event_ids),
        cmocka_unit_test(batch_shape),
        cmocka_unit_test(batch_max_and_order),
        cmocka_unit_test(ack),
        cmocka_unit_test(expire),
        cmocka_unit_test(cap),
        cmocka_unit_test(add_refuses),
        cmocka_unit_test(batch_server_accepts),
        cmocka_unit_test(command_begin_twice),
        cmocka_unit_test(command_executing_survives_reopen),
        cmocka_unit_test(command_finish_posted_expire),
        cmocka_unit_test(kv),
        cmocka_unit_test(read_only),
        cmocka_unit_test(damaged_rows),
        cmocka_unit_test(events_after_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
