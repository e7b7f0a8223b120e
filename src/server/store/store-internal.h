/* SPDX-License-Identifier: MIT */
/*
 * store-internal.h — what store.c shares with its backends (sqlite.c, pg.c) and with the
 * generated migrations.c. No module outside src/server/store/ includes this header.
 *
 * DESIGN
 * A backend is a table of function pointers (curl's `struct Curl_ssl` pattern). It knows one
 * kind of connection and nothing about pooling, transactions policy or migrations: store.c
 * owns the one pool, begin/commit/rollback, retries and schema versions for both backends.
 * A backend connection is an opaque `void *` made by connect() and only ever handed back to
 * the same backend's functions; a connection is used by one thread at a time (the pool
 * guarantees it), so backends take no locks.
 *
 * Results are built by the backends through the small builder below and read by callers
 * through store.h; every cell is a copy, so a result outlives the statement and connection
 * that made it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/** The most parameters one statement may carry (SQLite's default SQLITE_MAX_VARIABLE_NUMBER;
 *  PostgreSQL allows 65535). More is -EINVAL on both backends. */
#define STORE_MAX_PARAMS 32766

struct store_ops {
    const char *name;           /* "sqlite" or "postgresql", for metrics and messages */
    enum store_backend backend; /* what store_backend() reports */
    const char *begin_sql;      /* "BEGIN IMMEDIATE" (SQLite) or "BEGIN" (PostgreSQL) */

    /**
     * Opens one connection to @target (a file name or `file:` URI for SQLite, the libpq
     * URL for PostgreSQL) with @opts already defaulted. 0 and *ret_conn, or -EINVAL (the
     * target cannot be parsed), -ECONNREFUSED (cannot be opened/reached), -EIO.
     * *ret_conn is untouched on failure.
     */
    int (*connect)(const char *target, const struct store_options *opts, void **ret_conn);

    /** Closes a connection made by connect(). Accepts NULL. */
    void (*disconnect)(void *conn);

    /**
     * Runs one statement with `$N` parameters (params[N-1]). The statement must name each of
     * `$1`..`$n_params` and nothing else (PostgreSQL cannot type a parameter the SQL does not
     * use, nor bind one it names but was not given): anything else is -EINVAL, and so is
     * text after the one statement. Returns rows changed (0 for statements that change
     * none, e.g. SELECT) and, with @ret_result non-NULL, a result built with
     * store_result_new(). -errno as store.h lists; outputs untouched on failure.
     */
    int (*exec)(void *conn, const char *sql, const struct store_param *params, size_t n_params,
                struct store_result **ret_result);

    /** Runs several `;`-separated statements without parameters. 0 or -errno. */
    int (*exec_script)(void *conn, const char *sql);

    /** True when the connection cannot be used any more (lost server, I/O error) and the
     *  pool must replace it. Cheap: no round trip. */
    bool (*is_broken)(void *conn);

    /** One round trip to prove the connection still works (used after long idle). 0 or
     *  -errno; a failure also makes is_broken() true. */
    int (*ping)(void *conn);

    /** True while the connection is inside a transaction (including a failed one). */
    bool (*in_transaction)(void *conn);

    /** The backend's message for the last failure on this connection, or "". Never NULL,
     *  never a data value (it goes to logs): no parameter, no row content. Valid until the
     *  next call on the connection. */
    const char *(*last_error)(void *conn);
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

/* --- error mapping (pure functions, unit-tested without a database) --- */

/** Maps an SQLite (extended) result code to 0 or -errno as store.h lists. Aborts on
 *  SQLITE_NOMEM: allocation failure is never an error value in marquee. */
int store_sqlite_errno(int extended_code);

/** Maps a PostgreSQL SQLSTATE (5 characters) to -errno as store.h lists; NULL or an
 *  unknown class is -EIO. */
int store_pg_errno(const char *sqlstate);

/* --- result builder (used by the backends; readers use store.h) --- */

/** A new empty result with @n_cols columns, names unset. Never fails (aborts on OOM). */
struct store_result *store_result_new(size_t n_cols);

/** Sets the name of column @col (copied). */
void store_result_set_name(struct store_result *r, size_t col, const char *name);

/** Appends a row whose cells are all NULL; returns its index. */
size_t store_result_add_row(struct store_result *r);

/** Sets a cell to a copy of @len bytes of @text (NUL-terminated in the copy), or to SQL NULL
 *  when @text is NULL. */
void store_result_set_cell(struct store_result *r, size_t row, size_t col, const char *text,
                           size_t len);

/* --- connections --- */

/** The backend's message for the last failure on @c, or "" (for logs at the edges; never
 *  contains parameter values). Never NULL. */
const char *store_conn_last_error(const struct store_conn *c);

/* --- embedded migrations, defined by the migrations.c that scripts/embed-sql.py writes --- */

struct store_migration {
    unsigned version; /* the leading number of the file name: 0001_init.sql → 1 */
    const char *name; /* the file name without .sql: "0001_init" */
    const char *sql;  /* the whole file */
};

/** Sorted by version, versions unique and >= 1. */
extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

/** store_migrate() with another list of migrations (same order rules as store_migrations):
 *  what store_migrate() runs, open to the tests so that they can make a migration fail. */
int store_migrate_list(struct store *s, const struct store_migration *list, size_t count,
                       unsigned *ret_applied);
