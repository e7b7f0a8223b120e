/* SPDX-License-Identifier: MIT */
/*
 * cache.c — the index of the media cache (SQLite + files); the policy is in cache-policy.c, the
 * rules and the crash order of every change in cache.h.
 *
 * DESIGN
 * One table, `assets`, WITHOUT ROWID on assetId; a CHECK ties each row's path to its state, so
 * a row cannot name a file anywhere else than where its state puts it. The schema version is
 * SQLite's user_version (1). Statements are prepared once at open. Timestamps are ISO 8601
 * text like the server's (`sqlite3 cache.db` reads well), seconds since the epoch in the API.
 * An assetId names a file, so the index takes only [A-Za-z0-9_-]{1,64} (a UUID fits; "..",
 * "/" and dot files cannot occur).
 *
 * Reconcile is the inverse of the crash order in cache.h, in four passes: the rows against the
 * files (stat only), assets/ against the rows (orphans adopted or deleted), tmp/ against the
 * PENDING rows, then PENDING rows without a .part. Deletions in a pass are made durable by one
 * fsync of the directory at its end.
 */
#include "player/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "ids.h"
#include "macro.h"

#define SCHEMA_VERSION  1
#define BUSY_TIMEOUT_MS 5000

/* ---- the index: schema, names
 * ---------------------------------------------------------------------- */

enum sql {
    SQL_GET,
    SQL_LIST,
    SQL_TOTAL,
    SQL_UPSERT_READY,
    SQL_UPSERT_PENDING,
    SQL_TOUCH,
    SQL_DELETE,
    _SQL_MAX,
};

#define ROW_COLUMNS "asset_id, state, sha256, bytes, last_used_utc"

static const char *const sql_text[_SQL_MAX] = {
    [SQL_GET] = "SELECT " ROW_COLUMNS " FROM assets WHERE asset_id = ?1",
    [SQL_LIST] = "SELECT " ROW_COLUMNS " FROM assets ORDER BY asset_id",
    [SQL_TOTAL] = "SELECT COALESCE(SUM(bytes), 0) FROM assets",
    [SQL_UPSERT_READY] =
        "INSERT INTO assets (asset_id, state, sha256, bytes, last_used_utc, path)"
        " VALUES (?1, 'READY', ?2, ?3, ?4, 'assets/' || ?1)"
        " ON CONFLICT (asset_id) DO UPDATE SET state = 'READY', sha256 = excluded.sha256,"
        " bytes = excluded.bytes, last_used_utc = excluded.last_used_utc, path = excluded.path",
    [SQL_UPSERT_PENDING] =
        "INSERT INTO assets (asset_id, state, sha256, bytes, last_used_utc, path)"
        " VALUES (?1, 'PENDING', ?2, ?3, ?4, 'tmp/' || ?1 || '.part')"
        " ON CONFLICT (asset_id) DO UPDATE SET sha256 = excluded.sha256,"
        " bytes = excluded.bytes, last_used_utc = excluded.last_used_utc"
        " WHERE assets.state = 'PENDING'",
    [SQL_TOUCH] = "UPDATE assets SET last_used_utc = ?2 WHERE asset_id = ?1 AND state = 'READY'",
    [SQL_DELETE] = "DELETE FROM assets WHERE asset_id = ?1",
};

static const char schema_v1[] =
    "CREATE TABLE assets ("
    " asset_id      TEXT    NOT NULL PRIMARY KEY"
    "   CHECK (length(asset_id) BETWEEN 1 AND 64 AND asset_id NOT GLOB '*[^A-Za-z0-9_-]*'),"
    " state         TEXT    NOT NULL CHECK (state IN ('PENDING', 'READY')),"
    " sha256        TEXT    NOT NULL"
    "   CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
    " bytes         INTEGER NOT NULL CHECK (typeof(bytes) = 'integer' AND bytes >= 0),"
    " last_used_utc TEXT    NOT NULL CHECK (last_used_utc LIKE '____-__-__T__:__:__.___Z'),"
    " path          TEXT    NOT NULL,"
    " CHECK ((state = 'READY' AND path = 'assets/' || asset_id) OR"
    "        (state = 'PENDING' AND path = 'tmp/' || asset_id || '.part'))"
    ") WITHOUT ROWID;"
    "PRAGMA user_version = 1;"; /* SCHEMA_VERSION */

struct cache {
    char *assets_dir, *tmp_dir;
    sqlite3 *db;
    sqlite3_stmt *stmt[_SQL_MAX];
};

bool cache_asset_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > CACHE_ASSET_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

int cache_sha256_normalize(const char *s, char out[HASH_SHA256_HEX_LEN])
{
    if (!s || strlen(s) != HASH_SHA256_HEX_LEN - 1)
        return -EINVAL;
    for (size_t i = 0; i < HASH_SHA256_HEX_LEN - 1; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'F')
            ch = (char)(ch - 'A' + 'a');
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return -EINVAL;
        out[i] = ch;
    }
    out[HASH_SHA256_HEX_LEN - 1] = '\0';
    return 0;
}

static bool time_valid(int64_t t)
{
    return t >= 0 && t <= CACHE_TIME_MAX;
}

int cache_asset_path(const struct cache *c, const char *asset_id, char **ret)
{
    if (!cache_asset_id_valid(asset_id))
        return -EINVAL;
    *ret = xasprintf("%s/%s", c->assets_dir, asset_id);
    return 0;
}

int cache_part_path(const struct cache *c, const char *asset_id, char **ret)
{
    if (!cache_asset_id_valid(asset_id))
        return -EINVAL;
    *ret = xasprintf("%s/%s.part", c->tmp_dir, asset_id);
    return 0;
}

/* The file a row names: its asset or its .part. */
static char *entry_path(const struct cache *c, const struct cache_entry *e)
{
    return e->state == CACHE_STATE_READY ? xasprintf("%s/%s", c->assets_dir, e->asset_id)
                                         : xasprintf("%s/%s.part", c->tmp_dir, e->asset_id);
}

/* ---- the index: SQLite --------------------------------------------------------------------- */

static int sql_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        abort(); /* as xmalloc */
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CONSTRAINT:
        return (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) ? -EEXIST
                                                                                      : -EINVAL;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return -EUCLEAN;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_ERROR:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
    case SQLITE_MISUSE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

static int db_errno(sqlite3 *db)
{
    return sql_errno(sqlite3_extended_errcode(db));
}

/* The prepared statement @which, reset, with the assetId bound as ?1 when not NULL. Every user
 * resets it again after its last step, so that no statement holds a read transaction open. */
static sqlite3_stmt *stmt_begin(struct cache *c, enum sql which, const char *asset_id)
{
    sqlite3_stmt *s = c->stmt[which];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (asset_id)
        sqlite3_bind_text(s, 1, asset_id, -1, SQLITE_STATIC);
    return s;
}

/* Steps a statement that returns no rows; resets it. */
static int stmt_exec(struct cache *c, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    int r = rc == SQLITE_DONE ? 0 : db_errno(c->db);
    sqlite3_reset(s);
    return r;
}

static void bind_time(sqlite3_stmt *s, int col, int64_t t)
{
    char ts[TIMESTAMP_STR_LEN];
    ids_timestamp(t * 1000, ts);
    sqlite3_bind_text(s, col, ts, -1, SQLITE_TRANSIENT);
}

/* Reads a row of ROW_COLUMNS; -EUCLEAN when it is not what the schema allows. */
static int row_read(sqlite3_stmt *s, struct cache_entry *ret)
{
    const char *id = (const char *)sqlite3_column_text(s, 0);
    const char *state = (const char *)sqlite3_column_text(s, 1);
    const char *sha = (const char *)sqlite3_column_text(s, 2);
    const char *ts = (const char *)sqlite3_column_text(s, 4);
    struct cache_entry e = {.bytes = (uint64_t)sqlite3_column_int64(s, 3)};
    int64_t ms;
    if (!cache_asset_id_valid(id) || !state || cache_sha256_normalize(sha, e.sha256) < 0 ||
        sqlite3_column_int64(s, 3) < 0 || ids_timestamp_parse(ts, &ms) < 0)
        return -EUCLEAN;
    if (strcmp(state, "READY") == 0)
        e.state = CACHE_STATE_READY;
    else if (strcmp(state, "PENDING") == 0)
        e.state = CACHE_STATE_PENDING;
    else
        return -EUCLEAN;
    memcpy(e.asset_id, id, strlen(id) + 1);
    e.last_used_utc = ms / 1000;
    *ret = e;
    return 0;
}

int cache_get(struct cache *c, const char *asset_id, struct cache_entry *ret)
{
    if (!cache_asset_id_valid(asset_id))
        return -EINVAL;
    sqlite3_stmt *s = stmt_begin(c, SQL_GET, asset_id);
    int rc = sqlite3_step(s);
    int r = rc == SQLITE_ROW ? row_read(s, ret) : rc == SQLITE_DONE ? -ENOENT : db_errno(c->db);
    sqlite3_reset(s);
    return r;
}

int cache_list(struct cache *c, struct cache_entry **ret, size_t *ret_n)
{
    sqlite3_stmt *s = stmt_begin(c, SQL_LIST, NULL);
    _cleanup_free_ struct cache_entry *v = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            v = xrealloc(v, cap * sizeof(*v));
        }
        r = row_read(s, &v[n++]);
        if (r < 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = db_errno(c->db);
    sqlite3_reset(s);
    if (r < 0)
        return r;
    *ret = n ? TAKE_PTR(v) : xmalloc(1);
    *ret_n = n;
    return 0;
}

int cache_total_bytes(struct cache *c, uint64_t *ret)
{
    sqlite3_stmt *s = stmt_begin(c, SQL_TOTAL, NULL);
    int rc = sqlite3_step(s);
    int r = rc == SQLITE_ROW ? 0 : db_errno(c->db);
    int64_t total = r == 0 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (r < 0)
        return r;
    if (total < 0)
        return -EUCLEAN;
    *ret = (uint64_t)total;
    return 0;
}

static int row_upsert(struct cache *c, enum sql which, const char *asset_id, const char *sha256,
                      uint64_t bytes, int64_t now_utc)
{
    sqlite3_stmt *s = stmt_begin(c, which, asset_id);
    sqlite3_bind_text(s, 2, sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (int64_t)bytes);
    bind_time(s, 4, now_utc);
    int r = stmt_exec(c, s);
    if (r == 0 && sqlite3_changes(c->db) == 0)
        r = -EEXIST; /* the PENDING upsert met a READY row */
    return r;
}

static int row_delete(struct cache *c, const char *asset_id)
{
    int r = stmt_exec(c, stmt_begin(c, SQL_DELETE, asset_id));
    if (r == 0 && sqlite3_changes(c->db) == 0)
        r = -ENOENT;
    return r;
}

/* Creates the schema in a new file, checks the version of an existing one. */
static int schema_ensure(sqlite3 *db)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_errno(db);
    sqlite3_stmt *s = NULL;
    int r = 0, version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW)
        r = db_errno(db);
    else
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (r == 0 && version > SCHEMA_VERSION)
        r = -EPROTONOSUPPORT;
    else if (r == 0 && version == 0 && sqlite3_exec(db, schema_v1, NULL, NULL, NULL) != SQLITE_OK)
        r = db_errno(db);
    if (r == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        r = db_errno(db);
    if (r < 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

static int db_open(const char *path, sqlite3 **ret)
{
    /* created here so that it is 0600 (SQLite would use 0644; its -wal and -shm follow it),
     * and its name made durable like any other */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST)
        return -errno;
    if (fd >= 0) {
        close(fd);
        int r = fsx_fsync_parent(path);
        if (r < 0)
            return r;
    }

    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int r = db ? db_errno(db) : sql_errno(rc);
        sqlite3_close_v2(db);
        return r < 0 ? r : -EIO;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
    /* the first read of the file: a file that is no database fails here */
    int r = 0;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) !=
        SQLITE_OK)
        r = db_errno(db);
    if (r == 0)
        r = schema_ensure(db);
    if (r < 0) {
        sqlite3_close_v2(db);
        return r;
    }
    *ret = db;
    return 0;
}

int cache_open(const char *dir, struct cache **ret)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    _cleanup_(cache_freep) struct cache *c = xcalloc(1, sizeof(*c));
    c->assets_dir = xasprintf("%s/assets", dir);
    c->tmp_dir = xasprintf("%s/tmp", dir);
    int r = fsx_mkdir(c->assets_dir, 0700);
    if (r == 0)
        r = fsx_mkdir(c->tmp_dir, 0700);
    _cleanup_free_ char *db_path = xasprintf("%s/cache.db", dir);
    if (r == 0)
        r = db_open(db_path, &c->db);
    for (size_t i = 0; r == 0 && i < _SQL_MAX; i++)
        if (sqlite3_prepare_v3(c->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[i],
                               NULL) != SQLITE_OK)
            r = db_errno(c->db);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(c);
    return 0;
}

struct cache *cache_free(struct cache *c)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < _SQL_MAX; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close_v2(c->db);
    free(c->assets_dir);
    free(c->tmp_dir);
    free(c);
    return NULL;
}

/* ---- the index: files ---------------------------------------------------------------------- */

/* Whether the regular file @path holds @bytes bytes hashing to @sha (lower-case hex): 0, or
 * -EBADMSG (anything else there: another size or digest, a symbolic link, a directory),
 * -ENOENT, -errno. With @sync its data is fsynced first, as it is about to be trusted. */
static int file_matches(const char *path, const char *sha, uint64_t bytes, bool sync)
{
    /* O_NONBLOCK: a FIFO someone left there must not hang the open */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ELOOP ? -EBADMSG : -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != bytes)
        return -EBADMSG;
    if (sync && fsync(fd) < 0)
        return -errno;
    char hex[HASH_SHA256_HEX_LEN];
    uint64_t size = 0;
    int r = hash_sha256_fd(fd, hex, &size);
    if (r < 0)
        return r;
    return size == bytes && strcmp(hex, sha) == 0 ? 0 : -EBADMSG;
}

/* unlink() that counts a file already gone as done. */
static int unlink_gone(const char *path, bool durable)
{
    int r = durable ? fsx_unlink(path) : (unlink(path) < 0 ? -errno : 0);
    return r == -ENOENT ? 0 : r;
}

/* The start of reserve and commit: checks the arguments (the SHA-256 in lower case to @ret_sha)
 * and that the asset is not READY (-EEXIST); its PENDING row in *@ret_old, or a zeroed entry. */
static int not_ready_check(struct cache *c, const char *asset_id, const char *sha256,
                           uint64_t bytes, int64_t now_utc, char ret_sha[HASH_SHA256_HEX_LEN],
                           struct cache_entry *ret_old)
{
    if (!cache_asset_id_valid(asset_id) || bytes > INT64_MAX || !time_valid(now_utc) ||
        cache_sha256_normalize(sha256, ret_sha) < 0)
        return -EINVAL;
    struct cache_entry old = {0};
    int r = cache_get(c, asset_id, &old);
    if (r == 0 && old.state == CACHE_STATE_READY)
        return -EEXIST;
    if (r < 0 && r != -ENOENT)
        return r;
    *ret_old = old;
    return 0;
}

int cache_reserve(struct cache *c, const char *asset_id, const char *sha256, uint64_t bytes,
                  int64_t now_utc)
{
    char sha[HASH_SHA256_HEX_LEN];
    struct cache_entry old;
    int r = not_ready_check(c, asset_id, sha256, bytes, now_utc, sha, &old);
    if (r < 0)
        return r;
    if (!old.asset_id[0] || strcmp(old.sha256, sha) != 0 || old.bytes != bytes) {
        /* a .part of no reservation or of other content: its bytes cannot be resumed */
        _cleanup_free_ char *part = xasprintf("%s/%s.part", c->tmp_dir, asset_id);
        r = unlink_gone(part, true);
        if (r < 0)
            return r;
    }
    return row_upsert(c, SQL_UPSERT_PENDING, asset_id, sha, bytes, now_utc);
}

int cache_commit(struct cache *c, const char *asset_id, const char *sha256, uint64_t bytes,
                 int64_t now_utc)
{
    char sha[HASH_SHA256_HEX_LEN];
    struct cache_entry old;
    int r = not_ready_check(c, asset_id, sha256, bytes, now_utc, sha, &old);
    if (r < 0)
        return r;
    _cleanup_free_ char *part = xasprintf("%s/%s.part", c->tmp_dir, asset_id);
    _cleanup_free_ char *final = xasprintf("%s/%s", c->assets_dir, asset_id);
    r = file_matches(part, sha, bytes, true);
    if (r == -EBADMSG)
        (void)unlink_gone(part, true);
    if (r < 0)
        return r;

    /* the name first, durable, then the row: a READY row always has its file */
    r = fsx_rename(part, final);
    if (r < 0) {
        if (access(part, F_OK) < 0 && errno == ENOENT)
            (void)rename(final, part); /* renamed, but not durably: keep the bytes for a retry */
        return r;
    }
    r = row_upsert(c, SQL_UPSERT_READY, asset_id, sha, bytes, now_utc);
    if (r < 0)
        (void)fsx_rename(final, part);
    return r;
}

int cache_touch(struct cache *c, const char *asset_id, int64_t now_utc)
{
    if (!cache_asset_id_valid(asset_id) || !time_valid(now_utc))
        return -EINVAL;
    sqlite3_stmt *s = stmt_begin(c, SQL_TOUCH, asset_id);
    bind_time(s, 2, now_utc);
    int r = stmt_exec(c, s);
    if (r == 0 && sqlite3_changes(c->db) == 0)
        r = -ENOENT;
    return r;
}

int cache_remove(struct cache *c, const char *asset_id)
{
    struct cache_entry e;
    int r = cache_get(c, asset_id, &e);
    if (r < 0)
        return r;
    /* the row first: from here no reader is told the file exists */
    r = row_delete(c, asset_id);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = entry_path(c, &e);
    return unlink_gone(path, true);
}

int cache_verify(struct cache *c, const char *asset_id, const char *expect_sha256)
{
    char expect[HASH_SHA256_HEX_LEN];
    if (expect_sha256 && cache_sha256_normalize(expect_sha256, expect) < 0)
        return -EINVAL;
    struct cache_entry e;
    int r = cache_get(c, asset_id, &e);
    if (r < 0)
        return r;
    if (e.state != CACHE_STATE_READY)
        return -ENOENT;
    if (expect_sha256 && strcmp(expect, e.sha256) != 0)
        return -EBADMSG;
    _cleanup_free_ char *path = entry_path(c, &e);
    return file_matches(path, e.sha256, e.bytes, false);
}

/* ---- reconcile ----------------------------------------------------------------------------- */

struct want_ix {
    const char *asset_id;
    char sha256[HASH_SHA256_HEX_LEN];
    uint64_t bytes;
    size_t order;
};

struct reconcile {
    struct cache *c;
    struct want_ix *want; /* sorted by assetId, unique */
    size_t n_want;
    int64_t now_utc;
    struct cache_reconcile_stats stats;
};

static int want_cmp(const void *a, const void *b)
{
    const struct want_ix *x = a, *y = b;
    int d = strcmp(x->asset_id, y->asset_id);
    if (d != 0)
        return d;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int want_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct want_ix *)elem)->asset_id);
}

static const struct want_ix *want_find(const struct reconcile *rc, const char *asset_id)
{
    return bsearch(asset_id, rc->want, rc->n_want, sizeof(*rc->want), want_key_cmp);
}

/* Whether a row is what a manifest still wants, byte for byte. */
static bool row_wanted(const struct reconcile *rc, const struct cache_entry *e)
{
    const struct want_ix *w = want_find(rc, e->asset_id);
    return w && strcmp(w->sha256, e->sha256) == 0 && w->bytes == e->bytes;
}

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

/* The names in @path but "." and "..", as a new array of new strings. */
static int dir_names(const char *path, char ***ret, size_t *ret_n)
{
    _cleanup_(closedirp) DIR *d = opendir(path);
    if (!d)
        return -errno;
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = xstrdup(de->d_name);
    }
    int r = errno ? -errno : 0;
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

static void names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Rows: a READY row keeps its file only when the file is there with its size; a PENDING row
 * stays only while a manifest wants exactly that content. */
static int reconcile_rows(struct reconcile *rc, bool *ret_dirty)
{
    _cleanup_free_ struct cache_entry *rows = NULL;
    size_t n = 0;
    int r = cache_list(rc->c, &rows, &n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        const struct cache_entry *e = &rows[i];
        if (e->state == CACHE_STATE_PENDING) {
            if (!row_wanted(rc, e) && (r = row_delete(rc->c, e->asset_id)) == 0)
                rc->stats.rows_dropped++;
            continue;
        }
        _cleanup_free_ char *path = entry_path(rc->c, e);
        struct stat st;
        if (lstat(path, &st) < 0) {
            if (errno != ENOENT)
                return -errno;
            if ((r = row_delete(rc->c, e->asset_id)) == 0)
                rc->stats.rows_dropped++;
            continue;
        }
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size == e->bytes)
            continue;
        if ((r = row_delete(rc->c, e->asset_id)) < 0)
            break;
        rc->stats.rows_dropped++;
        if (!S_ISDIR(st.st_mode) && (r = unlink_gone(path, false)) == 0) {
            rc->stats.files_deleted++;
            *ret_dirty = true;
        }
    }
    return r;
}

/* assets/: a file without a READY row is adopted when a manifest wants it and it matches, else
 * deleted. */
static int reconcile_assets(struct reconcile *rc, bool dirty)
{
    char **names = NULL;
    size_t n = 0;
    int r = dir_names(rc->c->assets_dir, &names, &n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        bool valid = cache_asset_id_valid(names[i]);
        if (valid) {
            struct cache_entry e;
            int g = cache_get(rc->c, names[i], &e);
            if (g < 0 && g != -ENOENT) {
                r = g;
                break;
            }
            if (g == 0 && e.state == CACHE_STATE_READY)
                continue; /* its row was checked above */
        }
        _cleanup_free_ char *path = xasprintf("%s/%s", rc->c->assets_dir, names[i]);
        struct stat st;
        if (lstat(path, &st) < 0 || S_ISDIR(st.st_mode))
            continue; /* gone meanwhile, or not ours to remove */
        const struct want_ix *w = valid ? want_find(rc, names[i]) : NULL;
        int m = w ? file_matches(path, w->sha256, w->bytes, true) : -EBADMSG;
        if (m == 0) {
            r = row_upsert(rc->c, SQL_UPSERT_READY, names[i], w->sha256, w->bytes, rc->now_utc);
            if (r == 0)
                rc->stats.files_adopted++;
        } else if (m == -EBADMSG) {
            r = unlink_gone(path, false);
            if (r == 0) {
                rc->stats.files_deleted++;
                dirty = true;
            }
        } else if (m != -ENOENT) {
            r = m;
        }
    }
    names_free(names, n);
    if (r == 0 && dirty)
        r = fsx_fsync_dir(rc->c->assets_dir);
    return r;
}

/* Whether tmp/@name is a .part to keep: of a PENDING row a manifest wants, no longer than it. */
static int part_keep(struct reconcile *rc, const char *name, const struct stat *st, bool *ret)
{
    size_t len = strlen(name);
    *ret = false;
    if (len <= 5 || strcmp(name + len - 5, ".part") != 0 || !S_ISREG(st->st_mode))
        return 0;
    _cleanup_free_ char *id = xstrndup(name, len - 5);
    if (!cache_asset_id_valid(id))
        return 0;
    struct cache_entry e;
    int r = cache_get(rc->c, id, &e);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    *ret = e.state == CACHE_STATE_PENDING && row_wanted(rc, &e) && (uint64_t)st->st_size <= e.bytes;
    return 0;
}

/* tmp/: only the .part files of wanted reservations stay. */
static int reconcile_tmp(struct reconcile *rc)
{
    char **names = NULL;
    size_t n = 0;
    bool dirty = false;
    int r = dir_names(rc->c->tmp_dir, &names, &n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", rc->c->tmp_dir, names[i]);
        struct stat st;
        bool keep = false;
        if (lstat(path, &st) < 0 || S_ISDIR(st.st_mode))
            continue;
        r = part_keep(rc, names[i], &st, &keep);
        if (r < 0 || keep) {
            rc->stats.parts_kept += keep;
            continue;
        }
        r = unlink_gone(path, false);
        if (r == 0) {
            rc->stats.parts_deleted++;
            dirty = true;
        }
    }
    names_free(names, n);
    if (r == 0 && dirty)
        r = fsx_fsync_dir(rc->c->tmp_dir);
    return r;
}

/* A PENDING row without its .part (never started, or deleted above) reserves nothing. */
static int reconcile_pending(struct reconcile *rc)
{
    _cleanup_free_ struct cache_entry *rows = NULL;
    size_t n = 0;
    int r = cache_list(rc->c, &rows, &n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (rows[i].state != CACHE_STATE_PENDING)
            continue;
        _cleanup_free_ char *part = entry_path(rc->c, &rows[i]);
        struct stat st;
        if (lstat(part, &st) == 0 && S_ISREG(st.st_mode))
            continue;
        if ((r = row_delete(rc->c, rows[i].asset_id)) == 0)
            rc->stats.rows_dropped++;
    }
    return r;
}

int cache_reconcile(struct cache *c, const struct cache_want *want, size_t n_want, int64_t now_utc,
                    struct cache_reconcile_stats *ret_stats)
{
    if (!time_valid(now_utc) || (n_want > 0 && !want))
        return -EINVAL;
    _cleanup_free_ struct want_ix *ix = xmalloc(MAX(n_want, (size_t)1) * sizeof(*ix));
    for (size_t i = 0; i < n_want; i++) {
        if (!cache_asset_id_valid(want[i].asset_id) || want[i].bytes > INT64_MAX)
            return -EINVAL;
        ix[i] = (struct want_ix){.asset_id = want[i].asset_id, .bytes = want[i].bytes, .order = i};
        if (cache_sha256_normalize(want[i].sha256, ix[i].sha256) < 0)
            return -EINVAL;
    }
    qsort(ix, n_want, sizeof(*ix), want_cmp);
    size_t n_ix = 0; /* the first listing of each assetId */
    for (size_t i = 0; i < n_want; i++)
        if (n_ix == 0 || strcmp(ix[n_ix - 1].asset_id, ix[i].asset_id) != 0)
            ix[n_ix++] = ix[i];

    struct reconcile rc = {.c = c, .want = ix, .n_want = n_ix, .now_utc = now_utc};
    bool dirty = false;
    int r = reconcile_rows(&rc, &dirty);
    if (r == 0)
        r = reconcile_assets(&rc, dirty);
    if (r == 0)
        r = reconcile_tmp(&rc);
    if (r == 0)
        r = reconcile_pending(&rc);
    if (r < 0)
        return r;
    if (ret_stats)
        *ret_stats = rc.stats;
    return 0;
}
