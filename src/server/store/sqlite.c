/* SPDX-License-Identifier: MIT */
/*
 * sqlite.c — the SQLite backend of the store (struct store_ops).
 *
 * DESIGN
 * One sqlite3 handle per pooled connection, opened SQLITE_OPEN_NOMUTEX: the pool hands a
 * connection to one thread at a time, so SQLite's per-connection mutex would be pure cost.
 * Every connection runs WAL (readers never block the writer), foreign_keys=ON (off by default
 * in SQLite), synchronous=NORMAL (with WAL never corrupt; a power loss may undo the last
 * commits, which fsync-per-commit would cost every write to prevent) and a busy timeout, so a
 * writer waits for the lock instead of failing at once.
 *
 * Where SQLite is more lenient than PostgreSQL it is made as strict, so that SQL which passes
 * the SQLite tests does the same on PostgreSQL: double-quoted string literals are switched
 * off; case_sensitive_like=ON, because SQLite's LIKE folds ASCII case by default and the
 * schema's CHECKs (timestamp shapes `…T…Z`, `password_hash LIKE '$argon2id$%'`) would let
 * through on SQLite what PostgreSQL refuses; and a statement must use exactly the parameters
 * it is given (below). lower()/upper() are left alone: they fold ASCII only, which is what
 * PostgreSQL does in a database with LC_CTYPE=C (docs/operations.md asks for one).
 *
 * Placeholders are `$1`, `$2` …, which SQLite parses as named parameters; each one the
 * statement names is bound by its number, so `$2` may come before `$1` and a number may
 * repeat. Left to itself SQLite would bind NULL to a parameter the statement names but was
 * not given, and ignore one given but never named; PostgreSQL refuses both ("bind message
 * supplies 1 parameters, but prepared statement requires 2", "could not determine data type
 * of parameter $2"), so both are -EINVAL here as well. Prepared statements are kept in a
 * small per-connection LRU keyed by the SQL text (the store's SQL is a fixed set of string
 * constants), so hot statements skip the parser.
 *
 * A file target gets its missing parent directories created (0750) and the file itself 0640;
 * a target starting with "file:" is an SQLite URI (store.c uses one for sqlite::memory:) and is
 * opened as such.
 */
#include "store/store-internal.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

#define STMT_CACHE_SIZE 32u

struct stmt_slot {
    char *sql;        /* owned copy of the key */
    const char *seen; /* the caller's pointer it was last asked with (a string literal, mostly) */
    uint64_t hash;    /* FNV-1a of sql */
    uint64_t used;    /* LRU clock */
    sqlite3_stmt *stmt;
};

struct sqlite_conn {
    sqlite3 *db;
    bool broken;
    uint64_t clock;
    char *errmsg;
    struct stmt_slot cache[STMT_CACHE_SIZE];
};

int store_sqlite_errno(int code)
{
    switch (code) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
        return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -ENXIO; /* a bad reference in the request, not a missing resource (store.h) */
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return -EINVAL;
    case SQLITE_BUSY_SNAPSHOT:
        /* A read transaction in WAL mode that tried to write after another connection had
         * committed: no busy wait happened, and only a fresh transaction can succeed. That is
         * PostgreSQL's serialization failure, so store_tx's retry applies. (BEGIN IMMEDIATE
         * keeps the store's own transactions from ever getting here.) */
        return -EAGAIN;
    default:
        break;
    }
    switch (code & 0xff) {
    case SQLITE_NOMEM:
        abort(); /* as xmalloc: out of memory is not an error value */
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_SCHEMA:
        return -EAGAIN; /* the schema changed under a statement: run it again */
    case SQLITE_CANTOPEN:
        return -ECONNREFUSED;
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_INTERRUPT:
    case SQLITE_ABORT:
        return -EIO;
    case SQLITE_CONSTRAINT: /* a trigger's RAISE, or a kind without its own errno */
    case SQLITE_ERROR:      /* bad SQL, no such table … */
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
    case SQLITE_MISUSE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* Records the connection's error and whether it is beyond use; returns the errno. */
static int conn_fail(struct sqlite_conn *sc, int code)
{
    free(sc->errmsg);
    sc->errmsg = xstrdup(sqlite3_errmsg(sc->db));
    switch (code & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
        sc->broken = true;
        break;
    default:
        break;
    }
    return store_sqlite_errno(code);
}

static int mkdir_parents(const char *path)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0; /* the current directory or "/" */
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
            return -errno;
        if (saved == '\0')
            return 0;
        *p = saved;
    }
}

static void sqlite_disconnect(void *conn)
{
    struct sqlite_conn *sc = conn;
    if (!sc)
        return;
    for (size_t i = 0; i < STMT_CACHE_SIZE; i++) {
        sqlite3_finalize(sc->cache[i].stmt);
        free(sc->cache[i].sql);
    }
    sqlite3_close_v2(sc->db);
    free(sc->errmsg);
    free(sc);
}

/* case_sensitive_like is per connection (it re-registers LIKE), so it must run on each one;
 * see the DESIGN note for why.
 * journal_mode answers with a row, which sqlite3_exec ignores; an in-memory database keeps
 * its own mode, which is fine. Switching a new file to WAL needs an exclusive lock, and when
 * several connections race to do it SQLite fails some of them with SQLITE_BUSY at once,
 * without calling the busy handler (it would be a lock-upgrade deadlock), so we retry here for
 * up to the busy timeout. The timeout is measured on the clock, not by adding up our own
 * sleeps: other SQLITE_BUSY answers come after the busy handler has already waited the whole
 * timeout (reading the schema of a memdb database while another connection writes), and
 * counting only our sleeps made such a connect take a dozen timeouts before its -EBUSY. */
static int pragmas_apply(sqlite3 *db, unsigned timeout_ms)
{
    struct timespec start, now;
    unsigned delay_ms = 1;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int rc = sqlite3_exec(db,
                              "PRAGMA journal_mode=WAL;"
                              "PRAGMA foreign_keys=ON;"
                              "PRAGMA synchronous=NORMAL;"
                              "PRAGMA case_sensitive_like=ON;",
                              NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t waited_ms =
            (int64_t)(now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited_ms >= (int64_t)timeout_ms)
            return rc;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)delay_ms * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        delay_ms = delay_ms < 16 ? delay_ms * 2 : 16;
    }
}

static int sqlite_connect(const char *target, const struct store_options *opts, void **ret_conn)
{
    bool uri = strncmp(target, "file:", 5) == 0;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                (uri ? SQLITE_OPEN_URI : 0);
    sqlite3 *db = NULL;
    int rc, r;

    if (!uri) {
        if (mkdir_parents(target) < 0)
            return -ECONNREFUSED;
        /* Create the file ourselves so that it is not world-readable (it holds password
         * hashes): SQLite would use 0644, and gives its -wal/-shm files the main file's mode.
         * Only when it does not exist yet: closing any descriptor of the database file drops
         * every POSIX lock this process holds on it (fcntl semantics), so opening and closing
         * it beside live connections would let another process checkpoint and delete the WAL
         * under them. The lock keeps two first connections from racing here. */
        static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
        struct stat st;
        pthread_mutex_lock(&create_lock);
        if (stat(target, &st) < 0 && errno == ENOENT) {
            int fd = open(target, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
            if (fd >= 0)
                close(fd);
            else if (errno != EEXIST) {
                pthread_mutex_unlock(&create_lock);
                return -ECONNREFUSED;
            }
        }
        pthread_mutex_unlock(&create_lock);
    }

    rc = sqlite3_open_v2(target, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        r = store_sqlite_errno(db ? sqlite3_extended_errcode(db) : rc);
        sqlite3_close_v2(db);
        return r == -EIO ? -EIO : -ECONNREFUSED;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db,
                         opts->busy_timeout_ms > INT_MAX ? INT_MAX : (int)opts->busy_timeout_ms);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);

    rc = pragmas_apply(db, opts->busy_timeout_ms);
    if (rc != SQLITE_OK) {
        /* SQLITE_NOTADB and friends show here, at the first read of the file. */
        r = store_sqlite_errno(sqlite3_extended_errcode(db));
        sqlite3_close_v2(db);
        return r == -EBUSY || r == -ECONNREFUSED ? r : -EIO;
    }

    struct sqlite_conn *sc = xcalloc(1, sizeof(*sc));
    sc->db = db;
    *ret_conn = sc;
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* True when @tail holds nothing but blanks, semicolons and comments. */
static bool tail_is_empty(sqlite3 *db, const char *tail)
{
    while (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == ';')
        tail++;
    if (!*tail)
        return true;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, tail, -1, &stmt, NULL);
    sqlite3_finalize(stmt);
    return rc == SQLITE_OK && !stmt;
}

/* The prepared statement for @sql from the cache, or a fresh one put into it. *ret_stmt is
 * NULL for SQL that holds no statement. */
static int stmt_get(struct sqlite_conn *sc, const char *sql, sqlite3_stmt **ret_stmt)
{
    /* the same literal as last time: found without hashing it (still compared: a heap string
     * may come back at the address of another) */
    for (size_t i = 0; i < STMT_CACHE_SIZE; i++) {
        struct stmt_slot *slot = &sc->cache[i];
        if (slot->stmt && slot->seen == sql && strcmp(slot->sql, sql) == 0) {
            slot->used = ++sc->clock;
            *ret_stmt = slot->stmt;
            return 0;
        }
    }
    uint64_t h = fnv1a(sql);
    struct stmt_slot *victim = NULL; /* an empty slot, else the least recently used */

    for (size_t i = 0; i < STMT_CACHE_SIZE; i++) {
        struct stmt_slot *slot = &sc->cache[i];
        if (!slot->stmt) {
            if (!victim || victim->stmt)
                victim = slot;
            continue;
        }
        if (slot->hash == h && strcmp(slot->sql, sql) == 0) {
            slot->seen = sql;
            slot->used = ++sc->clock;
            *ret_stmt = slot->stmt;
            return 0;
        }
        if (!victim || (victim->stmt && slot->used < victim->used))
            victim = slot;
    }

    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(sc->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK)
        return conn_fail(sc, sqlite3_extended_errcode(sc->db));
    if (!stmt) {
        *ret_stmt = NULL;
        return 0;
    }
    if (tail && !tail_is_empty(sc->db, tail)) {
        sqlite3_finalize(stmt);
        free(sc->errmsg);
        sc->errmsg = xstrdup("more than one statement (use store_exec_script)");
        return -EINVAL;
    }

    sqlite3_finalize(victim->stmt);
    free(victim->sql);
    *victim = (struct stmt_slot){
        .sql = xstrdup(sql),
        .seen = sql,
        .hash = h,
        .used = ++sc->clock,
        .stmt = stmt,
    };
    *ret_stmt = stmt;
    return 0;
}

static int bind_params(struct sqlite_conn *sc, sqlite3_stmt *stmt, const struct store_param *params,
                       size_t n_params)
{
    /* SQLite numbers distinct parameter names 1..count. Every name must be a canonical `$N`
     * within 1..n_params (no leading zero, so two names never mean one number), so with
     * count == n_params each of $1..$n_params is named, as PostgreSQL requires. Fewer names
     * than parameters leave one unused (refused here); more name one beyond (refused below). */
    int count = sqlite3_bind_parameter_count(stmt);
    if ((size_t)count < n_params) {
        free(sc->errmsg);
        sc->errmsg = xasprintf("%zu parameters given, the statement uses %d", n_params, count);
        return -EINVAL;
    }
    for (int i = 1; i <= count; i++) {
        const char *name = sqlite3_bind_parameter_name(stmt, i);
        int64_t n = 0;
        if (!name || name[0] != '$' || name[1] < '1' || name[1] > '9' ||
            parse_int64(name + 1, 1, (int64_t)n_params, &n) < 0) {
            free(sc->errmsg);
            sc->errmsg =
                xasprintf("parameter %s is not one of $1..$%zu", name ? name : "?", n_params);
            return -EINVAL;
        }
        const struct store_param *p = &params[n - 1];
        int rc;
        switch (p->type) {
        case STORE_P_TEXT:
            rc = p->text ? sqlite3_bind_text(stmt, i, p->text, -1, SQLITE_STATIC)
                         : sqlite3_bind_null(stmt, i);
            break;
        case STORE_P_INT:
            rc = sqlite3_bind_int64(stmt, i, p->i);
            break;
        case STORE_P_NULL:
            rc = sqlite3_bind_null(stmt, i);
            break;
        default:
            return -EINVAL;
        }
        if (rc != SQLITE_OK)
            return conn_fail(sc, rc);
    }
    return 0;
}

static void result_row_add(struct store_result *res, sqlite3_stmt *stmt, int n_cols)
{
    size_t row = store_result_add_row(res);
    for (int col = 0; col < n_cols; col++) {
        if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
            continue;
        const unsigned char *text = sqlite3_column_text(stmt, col);
        int len = sqlite3_column_bytes(stmt, col);
        if (!text) {
            /* Not NULL-typed: either out of memory or a zero-length BLOB. */
            if (sqlite3_errcode(sqlite3_db_handle(stmt)) == SQLITE_NOMEM)
                abort();
            text = (const unsigned char *)"";
            len = 0;
        }
        store_result_set_cell(res, row, (size_t)col, (const char *)text, (size_t)len);
    }
}

static int sqlite_exec(void *conn, const char *sql, const struct store_param *params,
                       size_t n_params, struct store_result **ret_result)
{
    struct sqlite_conn *sc = conn;
    struct store_result *res = NULL;
    sqlite3_stmt *stmt = NULL;
    int r, rc;

    r = stmt_get(sc, sql, &stmt);
    if (r < 0)
        return r;
    if (!stmt) {
        if (n_params > 0) { /* PostgreSQL: "bind message supplies 1 parameters, … requires 0" */
            free(sc->errmsg);
            sc->errmsg = xasprintf("%zu parameters given, the statement uses 0", n_params);
            return -EINVAL;
        }
        if (ret_result)
            *ret_result = store_result_new(0);
        return 0;
    }

    r = bind_params(sc, stmt, params, n_params);
    if (r < 0)
        goto out;

    int n_cols = sqlite3_column_count(stmt);
    if (ret_result) {
        res = store_result_new((size_t)n_cols);
        for (int col = 0; col < n_cols; col++)
            store_result_set_name(res, (size_t)col, sqlite3_column_name(stmt, col));
    }

    /* sqlite3_changes() keeps the count of the last INSERT/UPDATE/DELETE, even across a later
     * SELECT or DDL; the total moves only when this statement changed something. */
    int total_before = sqlite3_total_changes(sc->db);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        if (res)
            result_row_add(res, stmt, n_cols);
    if (rc != SQLITE_DONE) {
        r = conn_fail(sc, sqlite3_extended_errcode(sc->db));
        goto out;
    }
    int changes = sqlite3_total_changes(sc->db) != total_before ? sqlite3_changes(sc->db) : 0;
    r = changes < 0 ? 0 : changes;
    if (ret_result)
        *ret_result = TAKE_PTR(res);

out:
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    store_result_free(res);
    return r;
}

static int sqlite_exec_script(void *conn, const char *sql)
{
    struct sqlite_conn *sc = conn;
    int rc = sqlite3_exec(sc->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return conn_fail(sc, sqlite3_extended_errcode(sc->db));
    return 0;
}

static bool sqlite_is_broken(void *conn)
{
    struct sqlite_conn *sc = conn;
    return sc->broken;
}

static int sqlite_ping(void *conn)
{
    (void)conn;
    return 0; /* a local file needs no round trip; I/O errors mark the connection broken */
}

static bool sqlite_in_transaction(void *conn)
{
    struct sqlite_conn *sc = conn;
    return !sqlite3_get_autocommit(sc->db);
}

static const char *sqlite_last_error(void *conn)
{
    struct sqlite_conn *sc = conn;
    return sc->errmsg ? sc->errmsg : "";
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .backend = STORE_SQLITE,
    .begin_sql = "BEGIN IMMEDIATE",
    .connect = sqlite_connect,
    .disconnect = sqlite_disconnect,
    .exec = sqlite_exec,
    .exec_script = sqlite_exec_script,
    .is_broken = sqlite_is_broken,
    .ping = sqlite_ping,
    .in_transaction = sqlite_in_transaction,
    .last_error = sqlite_last_error,
};
