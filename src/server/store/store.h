/* SPDX-License-Identifier: MIT */
/*
 * store.h — marqueed's one database interface, two backends.
 *
 * DESIGN
 * A store is opened from a URL: `sqlite:///path/to/file.db` (also `sqlite://relative/path.db`
 * and `sqlite::memory:` for tests) or `postgresql://…` / `postgres://…` (a libpq conninfo URL).
 * The backend sits behind `struct store_ops` (store-internal.h); every module speaks only this
 * header. The same SQL text runs on both backends: `$1`, `$2` … placeholders, portable types
 * (TEXT ids and ISO-8601 UTC timestamps, BIGINT/INTEGER numbers, INTEGER 0/1 booleans).
 *
 * Connections live in a bounded pool owned by the store. SQLite: WAL, foreign keys on,
 * busy timeout; the pool is sized to the worker threads so each worker holds its own
 * connection. PostgreSQL: a bounded pool of libpq connections. A caller that finds the pool
 * empty waits (bounded by `acquire_timeout_ms`) and gets -EBUSY when the wait runs out.
 *
 * Errors are negative errno values, never backend codes:
 *   -EEXIST      unique constraint violated                                    (HTTP 409)
 *   -ENXIO       foreign-key violation: a referenced row does not exist (or a row still
 *                referenced was to be deleted)          (HTTP 422 unless the caller knows better)
 *   -EINVAL      check / not-null violation, or bad SQL or parameters: a bug   (HTTP 500)
 *   -EAGAIN      serialization failure / deadlock: retry the transaction (store_tx does)
 *   -EBUSY       SQLite waited its whole busy timeout for the lock, a PostgreSQL statement
 *                ran past statement_timeout or a lock wait failed, or the pool wait ran out:
 *                waiting longer will not help, so nothing retries it            (HTTP 503)
 *   -ECONNREFUSED/-EIO  the database cannot be reached or failed                (HTTP 503)
 *   -ENOMEM is never returned: allocation failure aborts.
 * No statement answers -ENOENT: the modules above use it for "no such resource" (404), and a
 * foreign-key violation is a bad reference inside a request, not a missing resource.
 *
 * Same SQL, same behaviour: both backends refuse a statement whose `$1`..`$N` do not match
 * the parameters given (one unused or one missing), LIKE is case-sensitive on both, and
 * lower()/upper() fold ASCII letters only (SQLite's built-ins; a PostgreSQL database created
 * with LC_CTYPE=C), so uniqueness on lower(name) is the same on both.
 *
 * Threads: a struct store is shared by all threads; a struct store_conn belongs to the one
 * thread that acquired it until it is released. Library code here never logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_conn;
struct store_result;

enum store_backend {
    STORE_SQLITE,
    STORE_POSTGRES,
};

struct store_options {
    unsigned pool_size;          /* connections; 0 = default (8) */
    unsigned busy_timeout_ms;    /* SQLite busy timeout; 0 = default (5000) */
    unsigned acquire_timeout_ms; /* wait for a free pooled connection; 0 = default (5000) */
};

enum store_param_type {
    STORE_P_NULL,
    STORE_P_TEXT,
    STORE_P_INT,
};

/** One bound parameter; `$1` is params[0]. Text is borrowed for the duration of the call. */
struct store_param {
    enum store_param_type type;
    const char *text;
    int64_t i;
};

#define STORE_NULL    ((struct store_param){.type = STORE_P_NULL})
#define STORE_TEXT(s) store_param_text(s)

/** A text parameter; NULL becomes SQL NULL. */
static inline struct store_param store_param_text(const char *s)
{
    return (struct store_param){.type = s ? STORE_P_TEXT : STORE_P_NULL, .text = s};
}
#define STORE_INT(v)  ((struct store_param){.type = STORE_P_INT, .i = (v)})

struct store_stats {
    unsigned pool_size;      /* connections the pool may hold */
    unsigned in_use;         /* connections handed out now */
    unsigned waiting;        /* threads waiting for one now */
    uint64_t acquired_total; /* successful acquisitions since open */
    uint64_t timeouts_total; /* acquisitions that gave up (-EBUSY) */
};

/**
 * Opens the store named by @url. Parses the URL, creates the pool and opens one connection
 * eagerly so that a bad URL or unreachable server fails here.
 * Returns 0 and *ret_store, or -EINVAL (unknown scheme / bad URL), -ECONNREFUSED, -EIO.
 * On failure *ret_store is untouched.
 */
int store_open(const char *url, const struct store_options *opts, struct store **ret_store);

/** Closes every pooled connection and frees the store. Accepts NULL; returns NULL.
 *  All connections must have been released. */
struct store *store_close(struct store *s);

/** Which backend this store is. */
enum store_backend store_backend(const struct store *s);

/**
 * Applies every embedded migration newer than the database's schema version, all of them in
 * ONE transaction together with their `schema_migrations` rows: either every pending
 * migration commits or none does, so a database is only ever at a version some binary
 * shipped. Idempotent; concurrent callers (several processes) apply each migration once.
 * *ret_applied (may be NULL) receives how many were applied now.
 * Returns 0 or -errno; on failure nothing of any pending migration remains.
 */
int store_migrate(struct store *s, unsigned *ret_applied);

/**
 * Reports whether the database is reachable and its schema is at the version this binary
 * embeds: 1 = current, 0 = reachable but behind (or ahead), -errno = not reachable.
 */
int store_check_ready(struct store *s);

/** The highest migration version embedded in this binary. */
unsigned store_schema_version_latest(void);

/** Borrows a connection from the pool (waits up to acquire_timeout_ms). 0, -EBUSY, -errno.
 *  A connection that the backend finds broken is reopened before it is handed out. */
int store_acquire(struct store *s, struct store_conn **ret_conn);

/** Returns a connection to the pool. Accepts NULL; returns NULL. A connection left inside an
 *  open transaction is rolled back first. */
struct store_conn *store_release(struct store_conn *c);

/**
 * Runs one SQL statement with @n_params parameters. With @ret_result non-NULL, the rows
 * (possibly none) are returned as a materialized result the caller frees; with NULL any
 * rows are discarded. Returns the number of rows changed (INSERT/UPDATE/DELETE, >= 0),
 * or -errno as listed above; *ret_result is untouched on failure.
 */
int store_exec(struct store_conn *c, const char *sql, const struct store_param *params,
               size_t n_params, struct store_result **ret_result);

/**
 * store_exec() on a connection borrowed from the pool for that one statement (no transaction
 * around it): for the many reads that need nothing more. Same results as store_exec(), plus
 * the pool's -EBUSY.
 */
int store_query(struct store *s, const char *sql, const struct store_param *params,
                size_t n_params, struct store_result **ret_result);

/** Runs a script of several statements without parameters (DDL). 0 or -errno. */
int store_exec_script(struct store_conn *c, const char *sql);

/** Transaction control on one connection. begin takes the write lock up front on SQLite
 *  (BEGIN IMMEDIATE) so writers never deadlock; PostgreSQL uses READ COMMITTED. */
int store_begin(struct store_conn *c);
int store_commit(struct store_conn *c);
int store_rollback(struct store_conn *c);

typedef int (*store_tx_fn)(struct store_conn *c, void *userdata);

/**
 * Runs @fn inside a transaction on a pooled connection: begin, fn, commit. When begin, fn or
 * the commit fails with -EAGAIN (serialization failure, deadlock) the transaction is rolled
 * back and run again, up to @max_attempts times (0 = default 5) with a short jittered
 * backoff. Any other failure rolls back and is returned as is — -EBUSY too: SQLite has
 * already waited its whole busy timeout (or the pool wait ran out), and waiting that long
 * again would only hold the HTTP worker for several times the timeout before the same 503.
 * @fn must be safe to run more than once. Returns fn's non-negative result or -errno.
 */
int store_tx(struct store *s, unsigned max_attempts, store_tx_fn fn, void *userdata);

/** Pool figures for /metrics. Never fails. */
void store_stats_get(struct store *s, struct store_stats *ret);

/* --- results (text of every column, NULL for SQL NULL) --- */
size_t store_result_rows(const struct store_result *r);
size_t store_result_cols(const struct store_result *r);
/** Column name as the backend reports it (lower case for unquoted identifiers). */
const char *store_result_name(const struct store_result *r, size_t col);
/** Cell text, or NULL for SQL NULL or out of range. Valid until the result is freed. */
const char *store_result_text(const struct store_result *r, size_t row, size_t col);
/** Cell as integer: 0 and *ret, -ENOENT for NULL/out of range, -EINVAL if not an integer. */
int store_result_int(const struct store_result *r, size_t row, size_t col, int64_t *ret);
/** Frees a result. Accepts NULL; returns NULL. */
struct store_result *store_result_free(struct store_result *r);
