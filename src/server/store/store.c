/* SPDX-License-Identifier: MIT */
/*
 * store.c — URL parsing, the connection pool, transactions, retries, migrations and results,
 * the same for both backends.
 *
 * DESIGN
 * URLs. `sqlite:///abs/path.db` and `sqlite://rel/path.db` name a file (its parent directory
 * is created by the backend); `sqlite::memory:` is an in-memory database that every pooled
 * connection of this store shares and that vanishes with the store. It is opened as
 * `file:/marquee-mem-<pid>-<n>?vfs=memdb`, the name unique per store: the memdb VFS shares
 * one database between the connections of a process with ordinary SQLite locking, so the
 * busy timeout and BEGIN IMMEDIATE behave exactly as with a file (a `cache=shared` URI would
 * use table locks that fail at once with SQLITE_LOCKED and ignore the busy timeout). The store
 * keeps one extra connection to it open for its whole life so that it never disappears when
 * the pool replaces connections. `postgresql://` and `postgres://` URLs go to libpq as they are.
 *
 * Pool. One bounded pool for both backends: `pool_size` slots, a stack of idle slots, one
 * mutex and one condition variable on CLOCK_MONOTONIC. A slot's backend connection is opened
 * lazily (slot 0 eagerly, so that store_open fails on a bad URL) and reopened, outside the
 * lock, when the backend reports it broken or a ping after a long idle fails. Waiting is
 * bounded by `acquire_timeout_ms`, then -EBUSY, counted in the stats.
 *
 * Transactions. begin is BEGIN IMMEDIATE on SQLite (the write lock up front: two writers never
 * deadlock on a lock upgrade) and BEGIN (READ COMMITTED) on PostgreSQL. One portability rule is
 * enforced here rather than left to be discovered on PostgreSQL: once a statement inside a
 * transaction fails, the transaction is poisoned on both backends — further statements fail
 * with -EINVAL and commit rolls back and returns the first error. (PostgreSQL aborts the
 * transaction on any error; SQLite would carry on, so code that swallows an -EEXIST and
 * continues would pass SQLite tests and break in production. Use INSERT … ON CONFLICT.)
 * store_tx retries -EAGAIN only (serialization failure, deadlock: a fresh attempt can succeed
 * at once), with a short jittered exponential backoff (libsodium's randombytes_uniform) on the
 * same connection. -EBUSY is not retried: it comes after SQLite's whole busy timeout or the
 * whole pool wait, so a retry would hold an HTTP worker for a multiple of that timeout only
 * to answer the same 503 later.
 *
 * Migrations. All pending migrations and their schema_migrations rows commit in ONE
 * transaction, so a failure at any of them leaves the database at the version it had, never
 * at a version between two releases. Concurrent marqueed processes serialize on the write
 * lock (SQLite, BEGIN IMMEDIATE) or on a transaction-scoped advisory lock (PostgreSQL), and
 * re-read the version after taking it, so a migration is applied once however many processes
 * start together. A migration must therefore be transactional DDL/DML (no CREATE INDEX
 * CONCURRENTLY, no VACUUM), which both backends then roll back as a whole.
 */
#include "store/store-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

#define DEFAULT_POOL_SIZE          8u
#define DEFAULT_BUSY_TIMEOUT_MS    5000u
#define DEFAULT_ACQUIRE_TIMEOUT_MS 5000u
#define DEFAULT_TX_ATTEMPTS        5u
/* A connection idle longer than this is pinged before it is handed out: a PostgreSQL server
 * may have dropped it (restart, idle_session_timeout, a NAT forgetting the flow). */
#define IDLE_PING_NS (30ull * 1000000000ull)
/* Backoff between store_tx attempts: 1-3 ms, then doubling, at most 64-192 ms. */
#define BACKOFF_BASE_US 2000u
#define BACKOFF_MAX_US  128000u
/* pg_advisory_xact_lock key for migrations: "marquee" in ASCII. */
#define MIGRATION_LOCK_KEY INT64_C(0x6d617271756565)

struct store_conn {
    struct store *store;
    void *be;            /* backend connection, NULL until opened (or after it broke) */
    int tx_error;        /* first error inside the open transaction, 0 if none */
    uint64_t idle_since; /* CLOCK_MONOTONIC ns when last released */
};

struct store {
    const struct store_ops *ops;
    char *target; /* what ops->connect() opens */
    struct store_options opts;
    void *keeper; /* sqlite::memory: only: keeps the shared in-memory database alive */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct store_conn *slots; /* opts.pool_size */
    struct store_conn **idle; /* stack of idle slots */
    unsigned n_idle;
    unsigned in_use;
    unsigned waiting;
    uint64_t acquired_total;
    uint64_t timeouts_total;
};

struct store_result {
    size_t n_rows, n_cols, cap_rows;
    char **names; /* n_cols */
    char **cells; /* cap_rows * n_cols, row-major; NULL = SQL NULL */
};

static void result_freep(struct store_result **r)
{
    store_result_free(*r);
}

static uint64_t now_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- URL parsing ---------------------------------------------------------------------------- */

static bool startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int parse_url(const char *url, const struct store_ops **ret_ops, char **ret_target,
                     bool *ret_memory)
{
    static atomic_uint memory_counter;

    if (!url || !*url)
        return -EINVAL;

    if (strcmp(url, "sqlite::memory:") == 0) {
        unsigned n = atomic_fetch_add(&memory_counter, 1);
        *ret_ops = &store_sqlite_ops;
        *ret_target = xasprintf("file:/marquee-mem-%ld-%u?vfs=memdb", (long)getpid(), n);
        *ret_memory = true;
        return 0;
    }
    if (startswith(url, "sqlite://")) {
        const char *path = url + strlen("sqlite://");
        size_t len = strlen(path);
        if (len == 0 || path[len - 1] == '/' || strcmp(path, ":memory:") == 0)
            return -EINVAL;
        *ret_ops = &store_sqlite_ops;
        /* A relative path that starts with "file:" would be read as an SQLite URI. */
        *ret_target = startswith(path, "file:") ? xasprintf("./%s", path) : xstrdup(path);
        *ret_memory = false;
        return 0;
    }
    if (startswith(url, "postgresql://") || startswith(url, "postgres://")) {
        *ret_ops = &store_pg_ops;
        *ret_target = xstrdup(url);
        *ret_memory = false;
        return 0;
    }
    return -EINVAL;
}

/* --- open / close --------------------------------------------------------------------------- */

static void store_free_internal(struct store *s)
{
    for (unsigned i = 0; i < s->opts.pool_size; i++)
        s->ops->disconnect(s->slots[i].be);
    s->ops->disconnect(s->keeper);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s->slots);
    free(s->idle);
    free(s->target);
    free(s);
}

int store_open(const char *url, const struct store_options *opts, struct store **ret_store)
{
    const struct store_ops *ops = NULL;
    _cleanup_free_ char *target = NULL;
    bool memory = false;
    int r;

    if (!ret_store)
        return -EINVAL;
    r = parse_url(url, &ops, &target, &memory);
    if (r < 0)
        return r;
    if (sodium_init() < 0)
        return -EIO;

    struct store *s = xcalloc(1, sizeof(*s));
    s->ops = ops;
    s->target = TAKE_PTR(target);
    s->opts.pool_size = opts && opts->pool_size ? opts->pool_size : DEFAULT_POOL_SIZE;
    s->opts.busy_timeout_ms =
        opts && opts->busy_timeout_ms ? opts->busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS;
    s->opts.acquire_timeout_ms =
        opts && opts->acquire_timeout_ms ? opts->acquire_timeout_ms : DEFAULT_ACQUIRE_TIMEOUT_MS;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->lock, NULL);

    s->slots = xcalloc(s->opts.pool_size, sizeof(*s->slots));
    s->idle = xcalloc(s->opts.pool_size, sizeof(*s->idle));
    uint64_t now = now_monotonic_ns();
    /* Slot 0 on top of the stack: it is the one opened eagerly below. */
    for (unsigned i = 0; i < s->opts.pool_size; i++) {
        unsigned slot = s->opts.pool_size - 1 - i;
        s->slots[slot].store = s;
        s->slots[slot].idle_since = now;
        s->idle[s->n_idle++] = &s->slots[slot];
    }

    if (memory) {
        r = ops->connect(s->target, &s->opts, &s->keeper);
        if (r < 0)
            goto fail;
    }
    r = ops->connect(s->target, &s->opts, &s->slots[0].be);
    if (r < 0)
        goto fail;

    *ret_store = s;
    return 0;

fail:
    store_free_internal(s);
    return r;
}

struct store *store_close(struct store *s)
{
    if (!s)
        return NULL;
    /* Every connection must have been released (store.h); closing one still in use would
     * pull it from under its thread, so this is a caller bug that we do not try to paper
     * over beyond closing what we own. */
    store_free_internal(s);
    return NULL;
}

enum store_backend store_backend(const struct store *s)
{
    return s->ops->backend;
}

/* --- pool ----------------------------------------------------------------------------------- */

static void pool_put(struct store *s, struct store_conn *c, bool acquired)
{
    pthread_mutex_lock(&s->lock);
    s->idle[s->n_idle++] = c;
    s->in_use--;
    if (!acquired)
        s->acquired_total--;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

int store_acquire(struct store *s, struct store_conn **ret_conn)
{
    struct timespec deadline;
    int r;

    if (!s || !ret_conn)
        return -EINVAL;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += s->opts.acquire_timeout_ms / 1000;
    deadline.tv_nsec += (long)(s->opts.acquire_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&s->lock);
    while (s->n_idle == 0) {
        s->waiting++;
        r = pthread_cond_timedwait(&s->cond, &s->lock, &deadline);
        s->waiting--;
        if (r == ETIMEDOUT && s->n_idle == 0) {
            s->timeouts_total++;
            pthread_mutex_unlock(&s->lock);
            return -EBUSY;
        }
    }
    struct store_conn *c = s->idle[--s->n_idle];
    s->in_use++;
    s->acquired_total++;
    pthread_mutex_unlock(&s->lock);

    /* Connecting and pinging happen outside the lock: they may take a round trip or more. */
    if (c->be && !s->ops->is_broken(c->be) && now_monotonic_ns() - c->idle_since > IDLE_PING_NS)
        (void)s->ops->ping(c->be); /* a failure shows as is_broken() just below */
    if (!c->be || s->ops->is_broken(c->be)) {
        s->ops->disconnect(c->be);
        c->be = NULL;
        r = s->ops->connect(s->target, &s->opts, &c->be);
        if (r < 0) {
            pool_put(s, c, false);
            return r;
        }
    }
    c->tx_error = 0;
    *ret_conn = c;
    return 0;
}

struct store_conn *store_release(struct store_conn *c)
{
    if (!c)
        return NULL;
    struct store *s = c->store;
    if (c->be && !s->ops->is_broken(c->be) && s->ops->in_transaction(c->be)) {
        if (s->ops->exec(c->be, "ROLLBACK", NULL, 0, NULL) < 0) {
            /* A connection we cannot bring back to a clean state is not handed out again. */
            s->ops->disconnect(c->be);
            c->be = NULL;
        }
    }
    c->tx_error = 0;
    c->idle_since = now_monotonic_ns();
    pool_put(s, c, true);
    return NULL;
}

void store_stats_get(struct store *s, struct store_stats *ret)
{
    pthread_mutex_lock(&s->lock);
    *ret = (struct store_stats){
        .pool_size = s->opts.pool_size,
        .in_use = s->in_use,
        .waiting = s->waiting,
        .acquired_total = s->acquired_total,
        .timeouts_total = s->timeouts_total,
    };
    pthread_mutex_unlock(&s->lock);
}

const char *store_conn_last_error(const struct store_conn *c)
{
    if (!c || !c->be)
        return "";
    return c->store->ops->last_error(c->be);
}

/* --- statements and transactions ------------------------------------------------------------ */

int store_exec(struct store_conn *c, const char *sql, const struct store_param *params,
               size_t n_params, struct store_result **ret_result)
{
    if (!c || !c->be || !sql || (n_params > 0 && !params) || n_params > STORE_MAX_PARAMS)
        return -EINVAL;
    const struct store_ops *ops = c->store->ops;
    if (c->tx_error)
        return -EINVAL; /* the transaction failed: only rollback (or commit, which rolls back) */
    bool in_tx = ops->in_transaction(c->be);
    int r = ops->exec(c->be, sql, params, n_params, ret_result);
    if (r < 0 && in_tx)
        c->tx_error = r;
    return r;
}

int store_query(struct store *s, const char *sql, const struct store_param *params, size_t n_params,
                struct store_result **ret_result)
{
    struct store_conn *c = NULL;
    int r = store_acquire(s, &c);
    if (r < 0)
        return r;
    r = store_exec(c, sql, params, n_params, ret_result);
    store_release(c);
    return r;
}

int store_exec_script(struct store_conn *c, const char *sql)
{
    if (!c || !c->be || !sql)
        return -EINVAL;
    const struct store_ops *ops = c->store->ops;
    if (c->tx_error)
        return -EINVAL;
    bool in_tx = ops->in_transaction(c->be);
    int r = ops->exec_script(c->be, sql);
    if (r < 0 && in_tx)
        c->tx_error = r;
    return r;
}

int store_begin(struct store_conn *c)
{
    if (!c || !c->be)
        return -EINVAL;
    const struct store_ops *ops = c->store->ops;
    if (ops->in_transaction(c->be))
        return -EINVAL; /* no nesting: PostgreSQL would only warn, SQLite would fail */
    c->tx_error = 0;
    int r = ops->exec(c->be, ops->begin_sql, NULL, 0, NULL);
    return r < 0 ? r : 0;
}

int store_rollback(struct store_conn *c)
{
    if (!c || !c->be)
        return -EINVAL;
    const struct store_ops *ops = c->store->ops;
    c->tx_error = 0;
    if (!ops->in_transaction(c->be))
        return 0; /* SQLite may already have rolled back after an I/O or busy error */
    int r = ops->exec(c->be, "ROLLBACK", NULL, 0, NULL);
    return r < 0 ? r : 0;
}

int store_commit(struct store_conn *c)
{
    if (!c || !c->be)
        return -EINVAL;
    const struct store_ops *ops = c->store->ops;
    if (c->tx_error) {
        /* The first error is the answer (an -EAGAIN here makes store_tx retry). */
        int err = c->tx_error;
        (void)store_rollback(c);
        return err;
    }
    if (!ops->in_transaction(c->be))
        return -EINVAL;
    int r = ops->exec(c->be, "COMMIT", NULL, 0, NULL);
    /* On failure the transaction may still be open: the caller rolls back (store_tx and
     * store_release do). */
    return r < 0 ? r : 0;
}

static void tx_backoff(unsigned attempt)
{
    uint32_t base = BACKOFF_BASE_US;
    for (unsigned i = 1; i < attempt && base < BACKOFF_MAX_US; i++)
        base *= 2;
    /* Uniform in [base/2, base*3/2): threads that collided spread apart. */
    uint32_t us = base / 2 + randombytes_uniform(base);
    struct timespec ts = {.tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int store_tx(struct store *s, unsigned max_attempts, store_tx_fn fn, void *userdata)
{
    struct store_conn *c = NULL;
    int r;

    if (!s || !fn)
        return -EINVAL;
    if (max_attempts == 0)
        max_attempts = DEFAULT_TX_ATTEMPTS;

    r = store_acquire(s, &c);
    if (r < 0)
        return r;

    for (unsigned attempt = 1;; attempt++) {
        r = store_begin(c);
        if (r >= 0) {
            int result = fn(c, userdata);
            if (result >= 0) {
                r = store_commit(c);
                if (r >= 0) {
                    store_release(c);
                    return result;
                }
            } else {
                r = result;
            }
        }
        (void)store_rollback(c);
        if (r != -EAGAIN || attempt >= max_attempts)
            break;
        tx_backoff(attempt);
    }
    store_release(c);
    return r;
}

/* --- migrations ----------------------------------------------------------------------------- */

static const char migrations_table_sql[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                           " version INTEGER PRIMARY KEY,"
                                           " name TEXT NOT NULL,"
                                           " applied_at_utc TEXT NOT NULL)";

unsigned store_schema_version_latest(void)
{
    unsigned v = 0;
    for (size_t i = 0; i < store_migrations_count; i++)
        if (store_migrations[i].version > v)
            v = store_migrations[i].version;
    return v;
}

/* The database's schema version: 0 when schema_migrations does not exist (yet). Outside a
 * transaction only: a missing table would poison one. */
static int schema_version_read(struct store_conn *c, int64_t *ret)
{
    _cleanup_(result_freep) struct store_result *res = NULL;
    int r = store_exec(c, "SELECT MAX(version) FROM schema_migrations", NULL, 0, &res);
    if (r == -EINVAL) {
        *ret = 0; /* no such table: nothing applied */
        return 0;
    }
    if (r < 0)
        return r;
    int64_t v = 0;
    r = store_result_int(res, 0, 0, &v);
    if (r == -ENOENT)
        v = 0; /* empty table: MAX is NULL */
    else if (r < 0)
        return r;
    *ret = v;
    return 0;
}

static void now_utc_iso(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

/* Applies the migrations of @list newer than the version found under the lock, all in one
 * transaction. The number applied (0 when another process got there first) or -errno; on
 * failure everything is rolled back. */
static int migrations_apply(struct store_conn *c, const struct store_migration *list, size_t count)
{
    _cleanup_(result_freep) struct store_result *res = NULL;
    int64_t current = 0;
    int applied = 0;
    int r;

    r = store_begin(c);
    if (r < 0)
        return r;
    if (store_backend(c->store) == STORE_POSTGRES) {
        /* Serializes concurrent migrators; released by commit/rollback. */
        const struct store_param key[] = {STORE_INT(MIGRATION_LOCK_KEY)};
        r = store_exec(c, "SELECT pg_advisory_xact_lock($1)", key, 1, NULL);
        if (r < 0)
            goto fail;
    }
    r = store_exec_script(c, migrations_table_sql);
    if (r < 0)
        goto fail;
    /* Again under the lock: another process may have migrated since the first look. */
    r = store_exec(c, "SELECT MAX(version) FROM schema_migrations", NULL, 0, &res);
    if (r < 0)
        goto fail;
    r = store_result_int(res, 0, 0, &current);
    if (r < 0 && r != -ENOENT)
        goto fail;

    for (size_t i = 0; i < count; i++) {
        const struct store_migration *m = &list[i];
        char now[64];
        if ((int64_t)m->version <= current)
            continue;
        r = store_exec_script(c, m->sql);
        if (r < 0)
            goto fail;
        now_utc_iso(now, sizeof(now));
        const struct store_param row[] = {
            STORE_INT(m->version),
            STORE_TEXT(m->name),
            STORE_TEXT(now),
        };
        r = store_exec(c,
                       "INSERT INTO schema_migrations (version, name, applied_at_utc)"
                       " VALUES ($1, $2, $3)",
                       row, ARRAY_SIZE(row), NULL);
        if (r < 0)
            goto fail;
        applied++;
    }
    if (applied == 0) {
        (void)store_rollback(c); /* nothing to keep; also drops the lock */
        return 0;
    }
    r = store_commit(c);
    if (r < 0)
        goto fail;
    return applied;

fail:
    (void)store_rollback(c);
    return r;
}

int store_migrate_list(struct store *s, const struct store_migration *list, size_t count,
                       unsigned *ret_applied)
{
    struct store_conn *c = NULL;
    int64_t current = 0;
    unsigned applied = 0;
    bool pending = false;
    int r;

    if (!s || (count > 0 && !list))
        return -EINVAL;
    r = store_acquire(s, &c);
    if (r < 0)
        return r;

    /* Cheap first look without the write lock: the common start-up has nothing to do. */
    r = schema_version_read(c, &current);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < count && !pending; i++)
        pending = (int64_t)list[i].version > current;
    if (pending) {
        r = migrations_apply(c, list, count);
        if (r < 0)
            goto out;
        applied = (unsigned)r;
    }
    r = 0;
    if (ret_applied)
        *ret_applied = applied;
out:
    store_release(c);
    return r;
}

int store_migrate(struct store *s, unsigned *ret_applied)
{
    return store_migrate_list(s, store_migrations, store_migrations_count, ret_applied);
}

int store_check_ready(struct store *s)
{
    struct store_conn *c = NULL;
    int64_t current = 0;
    int r;

    if (!s)
        return -EINVAL;
    r = store_acquire(s, &c);
    if (r < 0)
        return r;
    r = schema_version_read(c, &current);
    store_release(c);
    if (r < 0)
        return r;
    return current == (int64_t)store_schema_version_latest() ? 1 : 0;
}

/* --- results -------------------------------------------------------------------------------- */

struct store_result *store_result_new(size_t n_cols)
{
    struct store_result *r = xcalloc(1, sizeof(*r));
    r->n_cols = n_cols;
    r->names = xcalloc(n_cols ? n_cols : 1, sizeof(char *));
    return r;
}

void store_result_set_name(struct store_result *r, size_t col, const char *name)
{
    if (col >= r->n_cols)
        return;
    free(r->names[col]);
    r->names[col] = xstrdup(name ? name : "");
}

size_t store_result_add_row(struct store_result *r)
{
    if (r->n_rows == r->cap_rows) {
        size_t cap = r->cap_rows ? r->cap_rows * 2 : 8;
        size_t cols = r->n_cols ? r->n_cols : 1;
        if (cap > SIZE_MAX / cols / sizeof(char *))
            abort();
        r->cells = xrealloc(r->cells, cap * cols * sizeof(char *));
        memset(r->cells + r->cap_rows * cols, 0, (cap - r->cap_rows) * cols * sizeof(char *));
        r->cap_rows = cap;
    }
    return r->n_rows++;
}

void store_result_set_cell(struct store_result *r, size_t row, size_t col, const char *text,
                           size_t len)
{
    if (row >= r->n_rows || col >= r->n_cols)
        return;
    char **cell = &r->cells[row * r->n_cols + col];
    free(*cell);
    *cell = text ? xstrndup(text, len) : NULL;
}

size_t store_result_rows(const struct store_result *r)
{
    return r ? r->n_rows : 0;
}

size_t store_result_cols(const struct store_result *r)
{
    return r ? r->n_cols : 0;
}

const char *store_result_name(const struct store_result *r, size_t col)
{
    if (!r || col >= r->n_cols)
        return NULL;
    return r->names[col] ? r->names[col] : "";
}

const char *store_result_text(const struct store_result *r, size_t row, size_t col)
{
    if (!r || row >= r->n_rows || col >= r->n_cols)
        return NULL;
    return r->cells[row * r->n_cols + col];
}

int store_result_int(const struct store_result *r, size_t row, size_t col, int64_t *ret)
{
    const char *t = store_result_text(r, row, col);
    if (!t)
        return -ENOENT;
    return parse_int64(t, INT64_MIN, INT64_MAX, ret) < 0 ? -EINVAL : 0;
}

struct store_result *store_result_free(struct store_result *r)
{
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->n_rows * r->n_cols; i++)
        free(r->cells[i]);
    for (size_t i = 0; i < r->n_cols; i++)
        free(r->names[i]);
    free(r->cells);
    free(r->names);
    free(r);
    return NULL;
}
