/* SPDX-License-Identifier: MIT */
/*
 * test-store.c — the store against a real database: SQLite by default, PostgreSQL when
 * MARQUEE_TEST_DB_URL names one.
 *
 * DESIGN
 * The tests go through store.h only, plus store-internal.h for the pure error mappings, the
 * embedded migration list and store_migrate_list() (to make a migration fail on purpose).
 * With SQLite every run works in a fresh mkdtemp directory (the database sits in a
 * subdirectory that the store must create). With PostgreSQL every run
 * creates its own schemas (marquee_test_<pid>_<random>…) and points search_path at them
 * through the URL's `options`, so a database that is reused, or shared with another run, sees
 * nothing of this one; the schemas are dropped at the end. Tests that need a fresh, empty
 * database (migrations, concurrent migrators) get a new schema or file of their own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "store/store-internal.h"
#include "store/store.h"

#define TS "2025-06-15T14:02:30.000Z"

static struct {
    const char *pg_base; /* MARQUEE_TEST_DB_URL, or NULL for SQLite */
    char tmpdir[64];     /* SQLite: the run's directory */
    char prefix[64];     /* a name unique to this run */
    unsigned n_dbs;      /* databases (files or schemas) made so far */
    char *schemas[16];   /* PostgreSQL: schemas to drop at the end */
    struct store *s;     /* the shared, migrated store most tests use */
} T;

static void result_freep(struct store_result **r)
{
    store_result_free(*r);
}
#define _cleanup_result_ _cleanup_(result_freep)

static bool is_pg(void)
{
    return T.pg_base != NULL;
}

/* Runs one statement on a one-off connection; asserts it worked. */
static void exec_ok(struct store *s, const char *sql)
{
    struct store_conn *c = NULL;
    assert_int_equal(store_acquire(s, &c), 0);
    int r = store_exec_script(c, sql);
    if (r < 0)
        print_error("%s: %s\n", sql, store_conn_last_error(c));
    assert_true(r >= 0);
    store_release(c);
}

/* The URL of a new, empty database for this run. */
static char *db_url_new(void)
{
    unsigned n = T.n_dbs++;
    if (!is_pg())
        return xasprintf("sqlite://%s/db%u/sub/test.db", T.tmpdir, n);

    /* A schema of our own, made through a store on the base URL. */
    char *schema = xasprintf("%s_%u", T.prefix, n);
    struct store *base = NULL;
    assert_int_equal(store_open(T.pg_base, &(struct store_options){.pool_size = 1}, &base), 0);
    char *sql = xasprintf("CREATE SCHEMA %s", schema);
    exec_ok(base, sql);
    free(sql);
    store_close(base);
    assert_true(n < ARRAY_SIZE(T.schemas));
    T.schemas[n] = schema;
    return xasprintf("%s%coptions=-c%%20search_path%%3D%s", T.pg_base,
                     strchr(T.pg_base, '?') ? '&' : '?', schema);
}

static struct store *store_new(const struct store_options *opts)
{
    _cleanup_free_ char *url = db_url_new();
    struct store *s = NULL;
    int r = store_open(url, opts, &s);
    if (r < 0)
        print_error("store_open(%s): %s\n", url, strerror(-r));
    assert_int_equal(r, 0);
    return s;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    const char *url = getenv("MARQUEE_TEST_DB_URL");
    T.pg_base = url && *url ? url : NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(T.prefix, sizeof(T.prefix), "marquee_test_%ld_%ld", (long)getpid(),
             (long)(ts.tv_nsec % 1000000));
    if (!is_pg()) {
        snprintf(T.tmpdir, sizeof(T.tmpdir), "/tmp/test-store-XXXXXX");
        if (!mkdtemp(T.tmpdir))
            return -1;
    }
    T.s = store_new(NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    T.s = store_close(T.s);
    if (is_pg()) {
        struct store *base = NULL;
        if (store_open(T.pg_base, NULL, &base) == 0) {
            for (size_t i = 0; i < ARRAY_SIZE(T.schemas); i++) {
                if (!T.schemas[i])
                    continue;
                char *sql = xasprintf("DROP SCHEMA %s CASCADE", T.schemas[i]);
                exec_ok(base, sql);
                free(sql);
            }
            store_close(base);
        }
    } else if (T.tmpdir[0]) {
        nftw(T.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    for (size_t i = 0; i < ARRAY_SIZE(T.schemas); i++)
        free(T.schemas[i]);
    return 0;
}

/* The shared store, migrated (idempotent). */
static struct store *migrated(void)
{
    assert_int_equal(store_migrate(T.s, NULL), 0);
    return T.s;
}

/* A tenant row with a fresh id (unique per call). */
static void tenant_insert(struct store_conn *c, char *id, size_t size)
{
    static unsigned n;
    snprintf(id, size, "ten-%u", ++n);
    /* tenant names are unique (case-insensitively): use the id as the name */
    const struct store_param p[] = {STORE_TEXT(id), STORE_TEXT(id), STORE_TEXT(TS)};
    int r = store_exec(c,
                       "INSERT INTO tenants (tenant_id, name, created_at_utc, updated_at_utc)"
                       " VALUES ($1, $2, $3, $3)",
                       p, ARRAY_SIZE(p), NULL);
    if (r < 0)
        print_error("%s\n", store_conn_last_error(c));
    assert_int_equal(r, 1);
}

static int64_t count_rows(struct store *s, const char *sql, const struct store_param *p, size_t n)
{
    struct store_conn *c = NULL;
    _cleanup_result_ struct store_result *res = NULL;
    int64_t v = -1;
    assert_int_equal(store_acquire(s, &c), 0);
    int r = store_exec(c, sql, p, n, &res);
    if (r < 0)
        print_error("%s: %s\n", sql, store_conn_last_error(c));
    assert_int_equal(r, 0);
    assert_int_equal(store_result_int(res, 0, 0, &v), 0);
    store_release(c);
    return v;
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* True when @table can be read (it exists). Outside a transaction only. */
static bool table_exists(struct store *s, const char *table)
{
    struct store_conn *c = NULL;
    _cleanup_free_ char *sql = xasprintf("SELECT COUNT(*) FROM %s", table);
    assert_int_equal(store_acquire(s, &c), 0);
    int r = store_exec(c, sql, NULL, 0, NULL);
    store_release(c);
    assert_true(r == 0 || r == -EINVAL);
    return r == 0;
}

/* T.pg_base with @query ("options=…") appended. */
static char *pg_url_with(const char *query)
{
    return xasprintf("%s%c%s", T.pg_base, strchr(T.pg_base, '?') ? '&' : '?', query);
}

/* --- URLs ----------------------------------------------------------------------------------- */

static void test_open_bad_url(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "mysql://localhost/x", "sqlite:",       "sqlite://",
        "sqlite:///", "sqlite://dir/",       "sqlite:memory", "SQLITE:///x.db",
        "postgresql", "http://example.com/",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct store *s = (struct store *)&T; /* a sentinel: must stay untouched */
        assert_int_equal(store_open(bad[i], NULL, &s), -EINVAL);
        assert_ptr_equal(s, (struct store *)&T);
    }
    struct store *s = (struct store *)&T;
    assert_int_equal(store_open(NULL, NULL, &s), -EINVAL);
    assert_ptr_equal(s, (struct store *)&T);
    /* A libpq URL that does not parse is the caller's mistake, not an unreachable server. */
    assert_int_equal(store_open("postgresql://[::1", NULL, &s), -EINVAL);
    assert_ptr_equal(s, (struct store *)&T);
}

static void test_open_unreachable(void **state)
{
    (void)state;
    struct store *s = NULL;
    /* Port 1 on loopback: nobody listens there. */
    assert_int_equal(store_open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", NULL, &s),
                     -ECONNREFUSED);
    assert_null(s);
    /* A file that is not a database. */
    char path[128];
    if (is_pg())
        snprintf(path, sizeof(path), "/tmp/%s-notadb", T.prefix);
    else
        snprintf(path, sizeof(path), "%s/notadb", T.tmpdir);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs("this is not an SQLite database, not even close; just some text............\n", f);
    fclose(f);
    _cleanup_free_ char *url = xasprintf("sqlite://%s", path);
    assert_int_equal(store_open(url, NULL, &s), -EIO);
    assert_null(s);
    unlink(path);
}

static void test_backend(void **state)
{
    (void)state;
    assert_int_equal(store_backend(T.s), is_pg() ? STORE_POSTGRES : STORE_SQLITE);
    if (is_pg())
        return;
    /* The store made the missing directories and a file others cannot read. */
    struct stat st;
    char path[128];
    snprintf(path, sizeof(path), "%s/db0/sub", T.tmpdir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0007, 0);
    snprintf(path, sizeof(path), "%s/db0/sub/test.db", T.tmpdir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0007, 0);
}

/* The answer of a one-row, one-column query on a one-off connection of @s (a copy). */
static char *query_text(struct store *s, const char *sql)
{
    struct store_conn *c = NULL;
    _cleanup_result_ struct store_result *res = NULL;
    assert_int_equal(store_acquire(s, &c), 0);
    int r = store_exec(c, sql, NULL, 0, &res);
    if (r < 0)
        print_error("%s: %s\n", sql, store_conn_last_error(c));
    assert_int_equal(r, 0);
    store_release(c);
    assert_non_null(store_result_text(res, 0, 0));
    return xstrdup(store_result_text(res, 0, 0));
}

static char *setting_of(const char *url, const char *setting)
{
    struct store *s = NULL;
    int r = store_open(url, &(struct store_options){.pool_size = 1}, &s);
    if (r < 0)
        print_error("store_open(%s): %s\n", url, strerror(-r));
    assert_int_equal(r, 0);
    _cleanup_free_ char *sql = xasprintf("SHOW %s", setting);
    char *v = query_text(s, sql);
    store_close(s);
    return v;
}

/* PostgreSQL: safe connection defaults, each overridable by the URL. */
static void test_pg_connection_defaults(void **state)
{
    (void)state;
    if (!is_pg())
        return;
    _cleanup_free_ char *plain = setting_of(T.pg_base, "statement_timeout");
    assert_string_equal(plain, "30s");
    _cleanup_free_ char *app = setting_of(T.pg_base, "application_name");
    if (!getenv("PGAPPNAME")) /* libpq lets the environment's name beat the fallback */
        assert_string_equal(app, "marqueed");

    /* A URL's options for something else keep the default timeout (T.s sets search_path). */
    _cleanup_free_ char *shared = query_text(T.s, "SHOW statement_timeout");
    assert_string_equal(shared, "30s");

    /* The URL's own values win. */
    _cleanup_free_ char *url = pg_url_with("options=-c%20statement_timeout%3D5000");
    _cleanup_free_ char *overridden = setting_of(url, "statement_timeout");
    assert_string_equal(overridden, "5s");
    _cleanup_free_ char *url2 =
        pg_url_with("options=-c%20search_path%3Dpublic%20-c%20statement_timeout%3D0");
    _cleanup_free_ char *off = setting_of(url2, "statement_timeout");
    assert_string_equal(off, "0");
    _cleanup_free_ char *path = setting_of(url2, "search_path");
    assert_string_equal(path, "public");
    _cleanup_free_ char *url3 = pg_url_with("application_name=mine");
    _cleanup_free_ char *app3 = setting_of(url3, "application_name");
    assert_string_equal(app3, "mine");

    /* A statement past the timeout ends with -EBUSY (503); the connection stays usable. */
    _cleanup_free_ char *url4 = pg_url_with("options=-c%20statement_timeout%3D100");
    struct store *s = NULL;
    struct store_conn *c = NULL;
    assert_int_equal(store_open(url4, &(struct store_options){.pool_size = 1}, &s), 0);
    assert_int_equal(store_acquire(s, &c), 0);
    assert_int_equal(store_exec(c, "SELECT pg_sleep(5)", NULL, 0, NULL), -EBUSY);
    assert_int_equal(store_exec(c, "SELECT 1", NULL, 0, NULL), 0);
    store_release(c);
    store_close(s);
}

/* --- migrations ----------------------------------------------------------------------------- */

static void test_migrate(void **state)
{
    (void)state;
    struct store *s = store_new(NULL);
    unsigned applied = 12345;

    assert_true(store_migrations_count >= 1);
    assert_int_equal(store_schema_version_latest(),
                     store_migrations[store_migrations_count - 1].version);
    for (size_t i = 1; i < store_migrations_count; i++)
        assert_true(store_migrations[i].version > store_migrations[i - 1].version);
    assert_string_equal(store_migrations[0].name, "0001_init");

    assert_int_equal(store_check_ready(s), 0);
    assert_int_equal(store_migrate(s, &applied), 0);
    assert_int_equal(applied, store_migrations_count);
    assert_int_equal(store_check_ready(s), 1);

    applied = 12345;
    assert_int_equal(store_migrate(s, &applied), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(store_migrate(s, NULL), 0);
    assert_int_equal(store_check_ready(s), 1);

    /* One row per migration, named and stamped. */
    struct store_conn *c = NULL;
    _cleanup_result_ struct store_result *res = NULL;
    assert_int_equal(store_acquire(s, &c), 0);
    assert_int_equal(store_exec(c,
                                "SELECT version, name, applied_at_utc FROM schema_migrations"
                                " ORDER BY version",
                                NULL, 0, &res),
                     0);
    assert_int_equal(store_result_rows(res), store_migrations_count);
    assert_string_equal(store_result_text(res, 0, 1), store_migrations[0].name);
    assert_int_equal(strlen(store_result_text(res, 0, 2)), strlen(TS));
    /* A database ahead of this binary is not ready either. */
    const struct store_param p[] = {STORE_INT(store_schema_version_latest() + 1),
                                    STORE_TEXT("9999_future"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c,
                                "INSERT INTO schema_migrations (version, name, applied_at_utc)"
                                " VALUES ($1, $2, $3)",
                                p, ARRAY_SIZE(p), NULL),
                     1);
    store_release(c);
    assert_int_equal(store_check_ready(s), 0);
    store_close(s);
}

struct migrator {
    char *url;
    pthread_barrier_t *barrier;
    int r;
    unsigned applied;
};

static void *migrator_run(void *arg)
{
    struct migrator *m = arg;
    struct store *s = NULL;
    m->r = store_open(m->url, NULL, &s);
    pthread_barrier_wait(m->barrier);
    if (m->r == 0)
        m->r = store_migrate(s, &m->applied);
    store_close(s);
    return NULL;
}

/* Several marqueed starting at once against one empty database: each migration once. */
static void test_migrate_concurrent(void **state)
{
    (void)state;
    enum { N = 4 };
    _cleanup_free_ char *url = db_url_new();
    pthread_barrier_t barrier;
    pthread_t th[N];
    struct migrator m[N];

    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++) {
        m[i] = (struct migrator){.url = url, .barrier = &barrier};
        assert_int_equal(pthread_create(&th[i], NULL, migrator_run, &m[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    unsigned total = 0;
    for (int i = 0; i < N; i++) {
        if (m[i].r < 0)
            print_error("migrator %d: %s\n", i, strerror(-m[i].r));
        assert_int_equal(m[i].r, 0);
        total += m[i].applied;
    }
    assert_int_equal(total, store_migrations_count);

    struct store *s = NULL;
    assert_int_equal(store_open(url, NULL, &s), 0);
    assert_int_equal(store_check_ready(s), 1);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM schema_migrations", NULL, 0),
                     (int64_t)store_migrations_count);
    store_close(s);
}

/* All pending migrations commit together or not at all. */
static void test_migrate_atomic(void **state)
{
    (void)state;
    static const struct store_migration m1 = {1, "0001_a", "CREATE TABLE mig_a (x INTEGER)"};
    static const struct store_migration m2 = {
        2, "0002_b", "CREATE TABLE mig_b (x INTEGER); INSERT INTO mig_a (x) VALUES (1)"};
    static const struct store_migration m2_bad = {
        2, "0002_b", "CREATE TABLE mig_b (x INTEGER); INSERT INTO no_such_table VALUES (1)"};
    static const struct store_migration m3 = {3, "0003_c", "CREATE TABLE mig_c (x INTEGER)"};
    static const struct store_migration m4_bad = {
        4, "0004_d", "CREATE TABLE mig_d (x INTEGER); INSERT INTO no_such_table VALUES (1)"};
    struct store *s = store_new(NULL);
    unsigned applied = 12345;

    /* A fresh database: the second migration fails, so the first is not kept either (nor
     * schema_migrations, made in the same transaction). */
    const struct store_migration fail_first[] = {m1, m2_bad};
    assert_int_equal(store_migrate_list(s, fail_first, ARRAY_SIZE(fail_first), &applied), -EINVAL);
    assert_int_equal(applied, 12345);
    assert_false(table_exists(s, "mig_a"));
    assert_false(table_exists(s, "mig_b"));
    assert_false(table_exists(s, "schema_migrations"));

    const struct store_migration two[] = {m1, m2};
    assert_int_equal(store_migrate_list(s, two, ARRAY_SIZE(two), &applied), 0);
    assert_int_equal(applied, 2);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mig_a", NULL, 0), 1);

    /* Two pending on a migrated database, the last fails: the one before it is gone too. */
    const struct store_migration fail_later[] = {m1, m2, m3, m4_bad};
    applied = 12345;
    assert_int_equal(store_migrate_list(s, fail_later, ARRAY_SIZE(fail_later), &applied), -EINVAL);
    assert_int_equal(applied, 12345);
    assert_false(table_exists(s, "mig_c"));
    assert_false(table_exists(s, "mig_d"));
    assert_int_equal(count_rows(s, "SELECT MAX(version) FROM schema_migrations", NULL, 0), 2);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM schema_migrations", NULL, 0), 2);

    const struct store_migration three[] = {m1, m2, m3};
    assert_int_equal(store_migrate_list(s, three, ARRAY_SIZE(three), &applied), 0);
    assert_int_equal(applied, 1);
    assert_true(table_exists(s, "mig_c"));
    assert_int_equal(store_migrate_list(s, three, ARRAY_SIZE(three), &applied), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM schema_migrations", NULL, 0), 3);
    store_close(s);
}

static void test_tables_exist(void **state)
{
    (void)state;
    static const char *const tables[] = {
        "tenants",
        "venues",
        "users",
        "tenant_user_roles",
        "venue_user_roles",
        "devices",
        "device_groups",
        "device_pairings",
        "device_auth_tokens",
        "assets",
        "playlists",
        "playlist_items",
        "playlist_published",
        "playlist_published_items",
        "venue_schedule_sets",
        "schedule_slots",
        "schedule_published",
        "schedule_published_slots",
        "venue_epochs",
        "device_status",
        "device_events",
        "device_commands",
        "publish_events",
        "editor_presence",
        "audit_log",
        "user_capabilities",
        "schema_migrations",
    };
    struct store *s = migrated();
    for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
        _cleanup_free_ char *sql = xasprintf("SELECT COUNT(*) FROM %s", tables[i]);
        assert_true(count_rows(s, sql, NULL, 0) >= 0);
    }
    /* Columns the other modules rely on by name. */
    static const char *const columns[] = {
        "SELECT password_hash, email_normalized FROM users",
        "SELECT failure_reason, failure_detail, failed_at_utc, checksum_sha256 FROM assets",
        "SELECT manifest_epoch FROM venue_epochs",
        "SELECT cache_used_bytes, network_type, errors_download_failures FROM device_status",
        "SELECT actor_type, actor_id, action, resource_type, resource_id, venue_id, request_id,"
        " ip, details_json, created_at_utc FROM audit_log",
        "SELECT run_mode, launch_on_boot, auto_relaunch, keep_awake,"
        " watchdog_return_to_foreground, orientation FROM devices",
    };
    struct store_conn *c = NULL;
    assert_int_equal(store_acquire(s, &c), 0);
    for (size_t i = 0; i < ARRAY_SIZE(columns); i++)
        assert_int_equal(store_exec(c, columns[i], NULL, 0, NULL), 0);
    store_release(c);
}

/* --- statements ----------------------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
    (void)state;
    struct store *s = migrated();
    struct store_conn *c = NULL;
    _cleanup_result_ struct store_result *res = NULL;

    assert_int_equal(store_acquire(s, &c), 0);
    assert_int_equal(store_exec_script(c, "CREATE TABLE rt (id TEXT PRIMARY KEY, n BIGINT,"
                                          " s TEXT, u TEXT)"),
                     0);
    /* $2 before $1 in the text, $3 used twice, a NULL by type and a NULL by pointer. */
    const struct store_param p[] = {STORE_TEXT("row-1"), STORE_INT(INT64_MIN),
                                    STORE_TEXT("héllo 'quoted' \"x\""), STORE_NULL,
                                    STORE_TEXT(NULL)};
    assert_int_equal(
        store_exec(c, "INSERT INTO rt (n, id, s, u) VALUES ($2, $1, $3, $4)", p, 4, NULL), 1);
    const struct store_param p2[] = {STORE_TEXT("row-2"), STORE_INT(INT64_MAX), STORE_NULL,
                                     STORE_TEXT(NULL)};
    assert_int_equal(
        store_exec(c, "INSERT INTO rt (id, n, s, u) VALUES ($1, $2, $3, $4)", p2, 4, NULL), 1);

    const struct store_param q[] = {STORE_TEXT("row-1")};
    assert_int_equal(store_exec(c, "SELECT id, n, s, u FROM rt WHERE id = $1", q, 1, &res), 0);
    assert_int_equal(store_result_rows(res), 1);
    assert_int_equal(store_result_cols(res), 4);
    assert_string_equal(store_result_name(res, 0), "id");
    assert_string_equal(store_result_name(res, 3), "u");
    assert_null(store_result_name(res, 4));
    assert_string_equal(store_result_text(res, 0, 0), "row-1");
    int64_t v = 0;
    assert_int_equal(store_result_int(res, 0, 1, &v), 0);
    assert_true(v == INT64_MIN);
    assert_string_equal(store_result_text(res, 0, 2), "héllo 'quoted' \"x\"");
    assert_null(store_result_text(res, 0, 3));
    v = 7;
    assert_int_equal(store_result_int(res, 0, 3, &v), -ENOENT);
    assert_int_equal(store_result_int(res, 0, 0, &v), -EINVAL);
    assert_int_equal(store_result_int(res, 5, 0, &v), -ENOENT);
    assert_int_equal(v, 7);
    assert_null(store_result_text(res, 1, 0));
    assert_null(store_result_text(res, 0, 9));
    res = store_result_free(res);

    /* Changes: UPDATE counts rows, SELECT and DDL count none. */
    assert_int_equal(
        store_exec(c, "UPDATE rt SET u = $1", (struct store_param[]){STORE_TEXT("z")}, 1, NULL), 2);
    assert_int_equal(store_exec(c, "SELECT * FROM rt", NULL, 0, NULL), 0);
    assert_int_equal(store_exec(c, "SELECT * FROM rt ORDER BY id", NULL, 0, &res), 0);
    assert_int_equal(store_result_rows(res), 2);
    assert_int_equal(store_result_int(res, 1, 1, &v), 0);
    assert_true(v == INT64_MAX);
    assert_null(store_result_text(res, 1, 2));
    res = store_result_free(res);
    assert_int_equal(store_exec(c, "CREATE INDEX ix_rt_n ON rt (n)", NULL, 0, NULL), 0);
    assert_int_equal(store_exec(c, "SELECT id FROM rt WHERE id = 'none'", NULL, 0, &res), 0);
    assert_int_equal(store_result_rows(res), 0);
    assert_int_equal(store_result_cols(res), 1);
    res = store_result_free(res);
    assert_int_equal(store_exec(c, "DELETE FROM rt WHERE n = $1",
                                (struct store_param[]){STORE_INT(INT64_MAX)}, 1, NULL),
                     1);
    /* RETURNING is portable (SQLite >= 3.35) and counts as a change. */
    const struct store_param p3[] = {STORE_TEXT("row-3"), STORE_INT(3)};
    assert_int_equal(
        store_exec(c, "INSERT INTO rt (id, n) VALUES ($1, $2) RETURNING n", p3, 2, &res), 1);
    assert_string_equal(store_result_text(res, 0, 0), "3");
    res = store_result_free(res);

    /* Bad statements and parameters are -EINVAL, outputs untouched. */
    res = (struct store_result *)&T;
    assert_int_equal(store_exec(c, "SELEC nonsense", NULL, 0, &res), -EINVAL);
    assert_true(strlen(store_conn_last_error(c)) > 0);
    assert_int_equal(store_exec(c, "SELECT * FROM no_such_table", NULL, 0, &res), -EINVAL);
    assert_int_equal(store_exec(c, "SELECT id FROM rt WHERE id = $3", q, 1, &res), -EINVAL);
    assert_int_equal(store_exec(c, "SELECT 1; SELECT 2", NULL, 0, &res), -EINVAL);
    assert_int_equal(store_exec(c, "SELECT id FROM rt WHERE id = $1", NULL, 1, &res), -EINVAL);
    assert_ptr_equal(res, (struct store_result *)&T);
    res = NULL;
    /* A trailing semicolon or comment is still one statement. */
    assert_int_equal(store_exec(c, "SELECT 1; ", NULL, 0, NULL), 0);
    assert_int_equal(store_exec(c, "SELECT 1; -- done", NULL, 0, NULL), 0);

    assert_int_equal(store_exec_script(c, "DROP TABLE rt"), 0);
    store_release(c);
}

/* A statement must use exactly the parameters it is given: PostgreSQL refuses one too many
 * ("could not determine data type of parameter") and one too few, and SQLite must too. */
static void test_param_count(void **state)
{
    (void)state;
    struct store *s = migrated();
    struct store_conn *c = NULL;
    _cleanup_result_ struct store_result *res = (struct store_result *)&T;
    const struct store_param p[] = {STORE_TEXT("a"), STORE_TEXT("b"), STORE_TEXT("c")};

    static const char one[] = "SELECT tenant_id FROM tenants WHERE tenant_id = $1";

    assert_int_equal(store_acquire(s, &c), 0);
    /* one too many */
    assert_int_equal(store_exec(c, one, p, 2, &res), -EINVAL);
    assert_true(strlen(store_conn_last_error(c)) > 0);
    assert_int_equal(store_exec(c, "SELECT 1", p, 1, &res), -EINVAL);
    assert_int_equal(store_exec(c, "-- nothing", p, 1, &res), -EINVAL);
    /* a gap: $2 given but never used */
    assert_int_equal(
        store_exec(c, "SELECT tenant_id FROM tenants WHERE tenant_id = $1 OR tenant_id = $3", p, 3,
                   &res),
        -EINVAL);
    /* one too few: $2 named but not given */
    assert_int_equal(
        store_exec(c, "SELECT tenant_id FROM tenants WHERE tenant_id = $1 OR tenant_id = $2", p, 1,
                   &res),
        -EINVAL);
    assert_int_equal(store_exec(c, one, p, 0, &res), -EINVAL);
    assert_ptr_equal(res, (struct store_result *)&T);
    res = NULL;
    /* exactly right, in any order and repeated */
    assert_int_equal(
        store_exec(c, "SELECT tenant_id FROM tenants WHERE tenant_id IN ($2, $1, $2)", p, 2, &res),
        0);
    assert_int_equal(store_result_rows(res), 0);
    assert_int_equal(store_exec(c, "-- nothing", NULL, 0, NULL), 0);
    store_release(c);
}

static void test_statement_cache(void **state)
{
    (void)state;
    struct store *s = migrated();
    struct store_conn *c = NULL;
    assert_int_equal(store_acquire(s, &c), 0);
    /* More distinct statements than any cache holds, each run twice, still right. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            _cleanup_free_ char *sql = xasprintf("SELECT %d + CAST($1 AS INTEGER)", i);
            _cleanup_result_ struct store_result *res = NULL;
            assert_int_equal(store_exec(c, sql, (struct store_param[]){STORE_INT(round)}, 1, &res),
                             0);
            int64_t v = -1;
            assert_int_equal(store_result_int(res, 0, 0, &v), 0);
            assert_int_equal(v, i + round);
        }
    }
    store_release(c);
}

/* --- constraints ---------------------------------------------------------------------------- */

static void test_constraint_errors(void **state)
{
    (void)state;
    struct store *s = migrated();
    struct store_conn *c = NULL;
    char tenant[32];

    assert_int_equal(store_acquire(s, &c), 0);
    tenant_insert(c, tenant, sizeof(tenant));

    /* unique / primary key → -EEXIST */
    const struct store_param dup[] = {STORE_TEXT(tenant), STORE_TEXT("again"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c,
                                "INSERT INTO tenants (tenant_id, name, created_at_utc,"
                                " updated_at_utc) VALUES ($1, $2, $3, $3)",
                                dup, 3, NULL),
                     -EEXIST);
    static const char user_sql[] =
        "INSERT INTO users (user_id, tenant_id, email, email_normalized, created_at_utc,"
        " updated_at_utc) VALUES ($1, $2, $3, $4, $5, $5)";
    const struct store_param u1[] = {STORE_TEXT("usr-1"), STORE_TEXT(tenant), STORE_TEXT("A@x.io"),
                                     STORE_TEXT("a@x.io"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, user_sql, u1, 5, NULL), 1);
    const struct store_param u2[] = {STORE_TEXT("usr-2"), STORE_TEXT(tenant), STORE_TEXT("a@X.io"),
                                     STORE_TEXT("a@x.io"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, user_sql, u2, 5, NULL), -EEXIST);

    /* foreign key → -ENXIO (a venue of a tenant that does not exist), never -ENOENT, which
     * the HTTP layer answers with 404 "no such resource" */
    static const char venue_sql[] =
        "INSERT INTO venues (venue_id, tenant_id, name, created_at_utc, updated_at_utc)"
        " VALUES ($1, $2, $3, $4, $4)";
    const struct store_param v1[] = {STORE_TEXT("ven-x"), STORE_TEXT("no-such-tenant"),
                                     STORE_TEXT("Bar"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, venue_sql, v1, 4, NULL), -ENXIO);

    /* tenant isolation: a device of our tenant in another tenant's venue → -ENXIO */
    char other[32];
    tenant_insert(c, other, sizeof(other));
    const struct store_param v2[] = {STORE_TEXT("ven-other"), STORE_TEXT(other),
                                     STORE_TEXT("Other"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, venue_sql, v2, 4, NULL), 1);
    const struct store_param d1[] = {STORE_TEXT("dev-1"), STORE_TEXT(tenant),
                                     STORE_TEXT("ven-other"), STORE_TEXT(TS)};
    assert_int_equal(
        store_exec(c,
                   "INSERT INTO devices (device_id, tenant_id, venue_id, name,"
                   " created_at_utc, updated_at_utc) VALUES ($1, $2, $3, 'TV', $4, $4)",
                   d1, 4, NULL),
        -ENXIO);
    /* deleting a row that is still referenced is a foreign-key violation too */
    assert_int_equal(store_exec(c, "DELETE FROM tenants WHERE tenant_id = $1",
                                (struct store_param[]){STORE_TEXT(other)}, 1, NULL),
                     -ENXIO);

    /* check → -EINVAL (an unknown status, a malformed timestamp), not null → -EINVAL */
    static const char tenant_sql[] =
        "INSERT INTO tenants (tenant_id, name, status, created_at_utc, updated_at_utc)"
        " VALUES ($1, $2, $3, $4, $4)";
    const struct store_param bad_status[] = {STORE_TEXT("ten-bad"), STORE_TEXT("x"),
                                             STORE_TEXT("BOGUS"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, tenant_sql, bad_status, 4, NULL), -EINVAL);
    const struct store_param bad_time[] = {STORE_TEXT("ten-bad"), STORE_TEXT("x"),
                                           STORE_TEXT("ACTIVE"), STORE_TEXT("2025-06-15 14:02")};
    assert_int_equal(store_exec(c, tenant_sql, bad_time, 4, NULL), -EINVAL);
    const struct store_param no_name[] = {STORE_TEXT("ten-bad"), STORE_NULL, STORE_TEXT("ACTIVE"),
                                          STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, tenant_sql, no_name, 4, NULL), -EINVAL);
    assert_int_equal(
        count_rows(s, "SELECT COUNT(*) FROM tenants WHERE tenant_id = 'ten-bad'", NULL, 0), 0);
    store_release(c);
}

static int tenant_named(struct store_conn *c, const char *id, const char *name, const char *ts)
{
    const struct store_param p[] = {STORE_TEXT(id), STORE_TEXT(name), STORE_TEXT(ts)};
    return store_exec(c,
                      "INSERT INTO tenants (tenant_id, name, created_at_utc, updated_at_utc)"
                      " VALUES ($1, $2, $3, $3)",
                      p, ARRAY_SIZE(p), NULL);
}

/* LIKE is case-sensitive on both backends, so the schema's shape CHECKs refuse the same. */
static void test_like_case_sensitive(void **state)
{
    (void)state;
    struct store *s = migrated();
    struct store_conn *c = NULL;
    char tenant[32];

    assert_int_equal(store_acquire(s, &c), 0);
    assert_int_equal(tenant_named(c, "ten-like-1", "Like 1", "2026-01-01t00:00:00.000z"), -EINVAL);
    assert_int_equal(tenant_named(c, "ten-like-1", "Like 1", "2026-01-01T00:00:00.000Z"), 1);

    tenant_insert(c, tenant, sizeof(tenant));
    static const char user_sql[] =
        "INSERT INTO users (user_id, tenant_id, email, email_normalized, password_hash,"
        " created_at_utc, updated_at_utc) VALUES ($1, $2, $3, $3, $4, $5, $5)";
    const struct store_param upper[] = {
        STORE_TEXT("usr-like-1"), STORE_TEXT(tenant), STORE_TEXT("like@x.test"),
        STORE_TEXT("$ARGON2ID$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, user_sql, upper, ARRAY_SIZE(upper), NULL), -EINVAL);
    const struct store_param lower[] = {
        STORE_TEXT("usr-like-1"), STORE_TEXT(tenant), STORE_TEXT("like@x.test"),
        STORE_TEXT("$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, user_sql, lower, ARRAY_SIZE(lower), NULL), 1);

    /* and in queries */
    _cleanup_result_ struct store_result *res = NULL;
    assert_int_equal(store_exec(c, "SELECT tenant_id FROM tenants WHERE name LIKE $1",
                                (struct store_param[]){STORE_TEXT("like %")}, 1, &res),
                     0);
    assert_int_equal(store_result_rows(res), 0);
    store_release(c);
}

/* lower() folds ASCII only on both backends (SQLite's built-in; PostgreSQL with LC_CTYPE=C),
 * so tenant-name uniqueness on lower(name) decides the same everywhere. */
static void test_lower_ascii_only(void **state)
{
    (void)state;
    struct store *s = migrated();
    struct store_conn *c = NULL;

    assert_int_equal(store_acquire(s, &c), 0);
    assert_int_equal(tenant_named(c, "ten-acme-1", "Acme", TS), 1);
    assert_int_equal(tenant_named(c, "ten-acme-2", "ACME", TS), -EEXIST);
    /* "CAFÉ" folds to "cafÉ", which is not "café": both names are taken, and "cafÉ" is the
     * one that collides. With Unicode folding "café" would collide instead. */
    assert_int_equal(tenant_named(c, "ten-cafe-1", "CAFÉ", TS), 1);
    assert_int_equal(tenant_named(c, "ten-cafe-2", "café", TS), 1);
    assert_int_equal(tenant_named(c, "ten-cafe-3", "cafÉ", TS), -EEXIST);
    _cleanup_result_ struct store_result *res = NULL;
    assert_int_equal(store_exec(c,
                                "SELECT lower(name), upper(name) FROM tenants"
                                " WHERE tenant_id = $1",
                                (struct store_param[]){STORE_TEXT("ten-cafe-2")}, 1, &res),
                     0);
    assert_string_equal(store_result_text(res, 0, 0), "café");
    assert_string_equal(store_result_text(res, 0, 1), "CAFé");
    store_release(c);
}

/* The error text goes to logs: it names the constraint, never the data. */
static void test_error_text_has_no_values(void **state)
{
    (void)state;
    struct store *s = migrated();
    struct store_conn *c = NULL;
    char tenant[32];

    assert_int_equal(store_acquire(s, &c), 0);
    tenant_insert(c, tenant, sizeof(tenant));
    static const char user_sql[] =
        "INSERT INTO users (user_id, tenant_id, email, email_normalized, created_at_utc,"
        " updated_at_utc) VALUES ($1, $2, $3, $3, $4, $4)";
    const struct store_param u1[] = {STORE_TEXT("usr-secret-1"), STORE_TEXT(tenant),
                                     STORE_TEXT("secret-value@x.test"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, user_sql, u1, 4, NULL), 1);
    const struct store_param u2[] = {STORE_TEXT("usr-secret-2"), STORE_TEXT(tenant),
                                     STORE_TEXT("secret-value@x.test"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, user_sql, u2, 4, NULL), -EEXIST);
    const char *e = store_conn_last_error(c);
    assert_true(strlen(e) > 0);
    assert_null(strstr(e, "secret-value"));
    if (is_pg())
        assert_non_null(strstr(e, "23505"));

    /* foreign key (DETAIL: Key (tenant_id)=(…) is not present) */
    const struct store_param u3[] = {STORE_TEXT("usr-secret-3"), STORE_TEXT("secret-tenant"),
                                     STORE_TEXT("secret-value3@x.test"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c, user_sql, u3, 4, NULL), -ENXIO);
    assert_null(strstr(store_conn_last_error(c), "secret-"));
    /* check (DETAIL: Failing row contains (…)) */
    const struct store_param u4[] = {STORE_TEXT("usr-secret-4"), STORE_TEXT(tenant),
                                     STORE_TEXT("secret-value4@x.test"), STORE_TEXT("secret-time")};
    assert_int_equal(store_exec(c, user_sql, u4, 4, NULL), -EINVAL);
    assert_true(strlen(store_conn_last_error(c)) > 0);
    assert_null(strstr(store_conn_last_error(c), "secret-"));
    if (is_pg()) {
        /* a data exception quotes its input in the primary message itself */
        assert_int_equal(store_exec(c, "SELECT CAST($1 AS INTEGER)",
                                    (struct store_param[]){STORE_TEXT("secret-value")}, 1, NULL),
                         -EINVAL);
        e = store_conn_last_error(c);
        assert_non_null(strstr(e, "22P02"));
        assert_null(strstr(e, "secret-value"));
    }
    store_release(c);
}

/* --- transactions --------------------------------------------------------------------------- */

struct tx_state {
    const char *id;
    int fail_with;   /* returned by fn on the first attempts */
    unsigned fail_n; /* how many attempts fail */
    unsigned attempts;
};

static int tx_insert(struct store_conn *c, void *userdata)
{
    struct tx_state *st = userdata;
    st->attempts++;
    const struct store_param p[] = {STORE_TEXT(st->id), STORE_TEXT(st->id), STORE_TEXT(TS)};
    int r = store_exec(c,
                       "INSERT INTO tenants (tenant_id, name, created_at_utc, updated_at_utc)"
                       " VALUES ($1, $2, $3, $3)",
                       p, 3, NULL);
    if (r < 0)
        return r;
    if (st->attempts <= st->fail_n)
        return st->fail_with;
    return 42;
}

static int64_t tenant_count(const char *id)
{
    return count_rows(T.s, "SELECT COUNT(*) FROM tenants WHERE tenant_id = $1",
                      (struct store_param[]){STORE_TEXT(id)}, 1);
}

static void test_tx_commit_rollback(void **state)
{
    (void)state;
    migrated();
    struct tx_state ok = {.id = "ten-tx-commit"};
    assert_int_equal(store_tx(T.s, 0, tx_insert, &ok), 42);
    assert_int_equal(ok.attempts, 1);
    assert_int_equal(tenant_count("ten-tx-commit"), 1);

    struct tx_state fail = {.id = "ten-tx-rollback", .fail_with = -EPERM, .fail_n = 100};
    assert_int_equal(store_tx(T.s, 0, tx_insert, &fail), -EPERM);
    assert_int_equal(fail.attempts, 1); /* not a retryable error */
    assert_int_equal(tenant_count("ten-tx-rollback"), 0);

    /* An error from the database inside fn (the row exists now) rolls back too. */
    struct tx_state dup = {.id = "ten-tx-commit"};
    assert_int_equal(store_tx(T.s, 0, tx_insert, &dup), -EEXIST);
    assert_int_equal(dup.attempts, 1);

    /* Explicit begin/commit/rollback. */
    struct store_conn *c = NULL;
    char id[32];
    assert_int_equal(store_acquire(T.s, &c), 0);
    assert_int_equal(store_commit(c), -EINVAL); /* nothing to commit */
    assert_int_equal(store_rollback(c), 0);     /* nothing to roll back is fine */
    assert_int_equal(store_begin(c), 0);
    assert_int_equal(store_begin(c), -EINVAL); /* no nesting */
    tenant_insert(c, id, sizeof(id));
    assert_int_equal(store_rollback(c), 0);
    assert_int_equal(tenant_count(id), 0);
    assert_int_equal(store_begin(c), 0);
    tenant_insert(c, id, sizeof(id));
    assert_int_equal(store_commit(c), 0);
    assert_int_equal(tenant_count(id), 1);
    store_release(c);
}

/* A failed statement poisons its transaction on both backends (PostgreSQL's semantics). */
static void test_tx_poisoned(void **state)
{
    (void)state;
    migrated();
    struct store_conn *c = NULL;
    char id[32], id2[32];
    assert_int_equal(store_acquire(T.s, &c), 0);
    assert_int_equal(store_begin(c), 0);
    tenant_insert(c, id, sizeof(id));
    const struct store_param dup[] = {STORE_TEXT(id), STORE_TEXT("x"), STORE_TEXT(TS)};
    assert_int_equal(store_exec(c,
                                "INSERT INTO tenants (tenant_id, name, created_at_utc,"
                                " updated_at_utc) VALUES ($1, $2, $3, $3)",
                                dup, 3, NULL),
                     -EEXIST);
    assert_int_equal(store_exec(c, "SELECT 1", NULL, 0, NULL), -EINVAL);
    assert_int_equal(store_commit(c), -EEXIST); /* the first error; rolled back */
    assert_int_equal(tenant_count(id), 0);
    /* The connection is clean again. */
    assert_int_equal(store_begin(c), 0);
    tenant_insert(c, id2, sizeof(id2));
    assert_int_equal(store_commit(c), 0);
    assert_int_equal(tenant_count(id2), 1);
    store_release(c);
}

static void test_tx_retry(void **state)
{
    (void)state;
    migrated();
    struct tx_state st = {.id = "ten-tx-retry", .fail_with = -EAGAIN, .fail_n = 1};
    assert_int_equal(store_tx(T.s, 0, tx_insert, &st), 42);
    assert_int_equal(st.attempts, 2);
    assert_int_equal(tenant_count("ten-tx-retry"), 1); /* the first attempt's row is gone */

    /* -EBUSY means the whole busy timeout (or pool wait) has passed already: returned at
     * once, not retried, rolled back. */
    struct tx_state busy = {.id = "ten-tx-busy", .fail_with = -EBUSY, .fail_n = 2};
    assert_int_equal(store_tx(T.s, 0, tx_insert, &busy), -EBUSY);
    assert_int_equal(busy.attempts, 1);
    assert_int_equal(tenant_count("ten-tx-busy"), 0);

    /* Attempts are bounded. */
    struct tx_state never = {.id = "ten-tx-never", .fail_with = -EAGAIN, .fail_n = 100};
    assert_int_equal(store_tx(T.s, 3, tx_insert, &never), -EAGAIN);
    assert_int_equal(never.attempts, 3);
    assert_int_equal(tenant_count("ten-tx-never"), 0);
    never.attempts = 0;
    assert_int_equal(store_tx(T.s, 0, tx_insert, &never), -EAGAIN);
    assert_int_equal(never.attempts, 5); /* the default */
}

/* SQLite: a writer that waited out the busy timeout is not sent to wait it out again. */
static void test_tx_busy_not_retried(void **state)
{
    (void)state;
    if (is_pg())
        return; /* BEGIN takes no lock on PostgreSQL; the -EBUSY case is in test_tx_retry */
    struct store *s = NULL;
    struct store_conn *holder = NULL, *other = NULL;
    struct tx_state st = {.id = "ten-busy"};
    assert_int_equal(
        store_open(
            "sqlite::memory:", &(struct store_options){.pool_size = 2, .busy_timeout_ms = 100}, &s),
        0);
    assert_int_equal(store_migrate(s, NULL), 0);

    /* A connection opened while another one writes: its set-up waits one busy timeout. */
    assert_int_equal(store_acquire(s, &holder), 0);
    assert_int_equal(store_begin(holder), 0); /* holds the write lock */
    uint64_t t0 = ms_now();
    assert_int_equal(store_tx(s, 0, tx_insert, &st), -EBUSY);
    uint64_t waited = ms_now() - t0;
    assert_int_equal(st.attempts, 0);
    assert_true(waited >= 90);
    assert_true(waited < 450); /* one busy timeout, not a dozen */
    store_release(holder);

    /* Both connections open now: BEGIN IMMEDIATE waits one busy timeout, once. */
    assert_int_equal(store_acquire(s, &holder), 0);
    assert_int_equal(store_acquire(s, &other), 0);
    store_release(other);
    assert_int_equal(store_begin(holder), 0);
    t0 = ms_now();
    assert_int_equal(store_tx(s, 0, tx_insert, &st), -EBUSY);
    waited = ms_now() - t0;
    assert_int_equal(st.attempts, 0); /* BEGIN IMMEDIATE itself gave up */
    assert_true(waited >= 90);
    assert_true(waited < 450); /* one busy timeout, not five */
    store_release(holder);

    assert_int_equal(store_tx(s, 0, tx_insert, &st), 42);
    store_close(s);
}

struct counter_arg {
    struct store *s;
    int iterations;
    int failures;
};

static int tx_increment(struct store_conn *c, void *userdata)
{
    (void)userdata;
    return store_exec(c, "UPDATE counters SET n = n + 1 WHERE id = 'c'", NULL, 0, NULL);
}

static void *counter_run(void *arg)
{
    struct counter_arg *a = arg;
    for (int i = 0; i < a->iterations; i++)
        if (store_tx(a->s, 10, tx_increment, NULL) != 1)
            a->failures++;
    return NULL;
}

/* Writers on several pooled connections: none lost, none deadlocked. */
static void test_tx_concurrent(void **state)
{
    (void)state;
    enum { THREADS = 4, ITERATIONS = 50 };
    struct store *s = store_new(&(struct store_options){.pool_size = THREADS});
    exec_ok(s, "CREATE TABLE counters (id TEXT PRIMARY KEY, n BIGINT NOT NULL)");
    exec_ok(s, "INSERT INTO counters VALUES ('c', 0)");

    pthread_t th[THREADS];
    struct counter_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct counter_arg){.s = s, .iterations = ITERATIONS};
        assert_int_equal(pthread_create(&th[i], NULL, counter_run, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    assert_int_equal(count_rows(s, "SELECT n FROM counters", NULL, 0), THREADS * ITERATIONS);
    struct store_stats st;
    store_stats_get(s, &st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.pool_size, THREADS);
    store_close(s);
}

/* --- pool ----------------------------------------------------------------------------------- */

static int tx_nothing(struct store_conn *c, void *userdata)
{
    (void)c;
    (void)userdata;
    return 0;
}

/* store_query: one statement on a borrowed connection, handed back whatever happens. */
static void test_store_query(void **state)
{
    struct store_options o = {.pool_size = 1, .acquire_timeout_ms = 60};
    struct store *s = store_new(&o);
    assert_int_equal(store_migrate(s, NULL), 0);
    struct store_result *res = NULL;
    assert_int_equal(store_query(s, "SELECT CAST($1 AS INTEGER) + 1",
                                 (struct store_param[]){STORE_INT(41)}, 1, &res),
                     0);
    int64_t v = 0;
    assert_int_equal(store_result_int(res, 0, 0, &v), 0);
    assert_int_equal(v, 42);
    store_result_free(res);
    /* a failing statement still returns the connection: the pool of one is usable after it */
    assert_int_equal(store_query(s, "SELECT nonsense FROM nowhere", NULL, 0, NULL), -EINVAL);
    struct store_stats st;
    store_stats_get(s, &st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(store_query(s, "SELECT 1", NULL, 0, NULL), 0);
    /* and the pool's own refusal comes through */
    struct store_conn *held = NULL;
    assert_int_equal(store_acquire(s, &held), 0);
    assert_int_equal(store_query(s, "SELECT 1", NULL, 0, NULL), -EBUSY);
    store_release(held);
    store_close(s);
}

static void test_pool_exhaustion(void **state)
{
    (void)state;
    struct store *s = store_new(&(struct store_options){.pool_size = 1, .acquire_timeout_ms = 60});
    struct store_conn *c1 = NULL, *c2 = (struct store_conn *)&T;
    struct store_stats st;

    store_stats_get(s, &st);
    assert_int_equal(st.pool_size, 1);
    assert_int_equal(st.in_use, 0);

    assert_int_equal(store_acquire(s, &c1), 0);
    uint64_t t0 = ms_now();
    assert_int_equal(store_acquire(s, &c2), -EBUSY);
    uint64_t waited = ms_now() - t0;
    assert_true(waited >= 55);
    assert_true(waited < 2000);
    assert_ptr_equal(c2, (struct store_conn *)&T);
    assert_int_equal(store_tx(s, 0, tx_nothing, NULL), -EBUSY); /* acquisition is not retried */

    store_stats_get(s, &st);
    assert_int_equal(st.in_use, 1);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.acquired_total, 1);
    assert_int_equal(st.timeouts_total, 2);

    store_release(c1);
    assert_int_equal(store_acquire(s, &c2), 0);
    assert_ptr_equal(c2, c1);
    store_release(c2);
    store_stats_get(s, &st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.acquired_total, 2);
    assert_null(store_release(NULL));
    store_close(s);
    assert_null(store_close(NULL));
}

struct waiter {
    struct store *s;
    int r;
};

static void *waiter_run(void *arg)
{
    struct waiter *w = arg;
    struct store_conn *c = NULL;
    w->r = store_acquire(w->s, &c);
    store_release(c);
    return NULL;
}

/* A thread waiting for the pool gets the connection as soon as it is released. */
static void test_pool_wait(void **state)
{
    (void)state;
    struct store *s =
        store_new(&(struct store_options){.pool_size = 1, .acquire_timeout_ms = 5000});
    struct store_conn *c = NULL;
    struct waiter w = {.s = s, .r = 1};
    pthread_t th;
    struct store_stats st;

    assert_int_equal(store_acquire(s, &c), 0);
    assert_int_equal(pthread_create(&th, NULL, waiter_run, &w), 0);
    for (int i = 0; i < 500; i++) {
        store_stats_get(s, &st);
        if (st.waiting == 1)
            break;
        usleep(2000);
    }
    assert_int_equal(st.waiting, 1);
    store_release(c);
    pthread_join(th, NULL);
    assert_int_equal(w.r, 0);
    store_stats_get(s, &st);
    assert_int_equal(st.acquired_total, 2);
    assert_int_equal(st.timeouts_total, 0);
    store_close(s);
}

static void test_release_rolls_back(void **state)
{
    (void)state;
    struct store *s = store_new(&(struct store_options){.pool_size = 1});
    assert_int_equal(store_migrate(s, NULL), 0);
    struct store_conn *c = NULL;
    char id[32];

    assert_int_equal(store_acquire(s, &c), 0);
    assert_int_equal(store_begin(c), 0);
    tenant_insert(c, id, sizeof(id));
    store_release(c); /* still inside the transaction */

    /* Pool size 1: the same connection again, out of any transaction, without the row. */
    assert_int_equal(store_acquire(s, &c), 0);
    assert_int_equal(store_begin(c), 0);
    assert_int_equal(store_commit(c), 0);
    _cleanup_result_ struct store_result *res = NULL;
    assert_int_equal(store_exec(c, "SELECT tenant_id FROM tenants WHERE tenant_id = $1",
                                (struct store_param[]){STORE_TEXT(id)}, 1, &res),
                     0);
    assert_int_equal(store_result_rows(res), 0);
    store_release(c);
    store_close(s);
}

/* PostgreSQL: a connection the server dropped is replaced by the pool. */
static void test_broken_connection_replaced(void **state)
{
    (void)state;
    /* PostgreSQL only. Not skip(): cmocka 1.1.5 reports a skip as "not ok # SKIP" under TAP,
     * which meson counts as a failure. */
    if (!is_pg())
        return;
    struct store *s = store_new(&(struct store_options){.pool_size = 2});
    struct store_conn *victim = NULL, *killer = NULL;
    _cleanup_result_ struct store_result *res = NULL;

    assert_int_equal(store_acquire(s, &victim), 0);
    assert_int_equal(store_acquire(s, &killer), 0);
    assert_int_equal(store_exec(victim, "SELECT pg_backend_pid()", NULL, 0, &res), 0);
    const char *pid = store_result_text(res, 0, 0);
    assert_non_null(pid);
    assert_int_equal(store_exec(killer, "SELECT pg_terminate_backend(CAST($1 AS INTEGER))",
                                (struct store_param[]){STORE_TEXT(pid)}, 1, NULL),
                     0);
    store_release(killer);
    int r = 0;
    for (int i = 0; i < 100 && r == 0; i++) { /* the termination is asynchronous */
        r = store_exec(victim, "SELECT 1", NULL, 0, NULL);
        if (r == 0)
            usleep(10000);
    }
    assert_int_equal(r, -ECONNREFUSED);
    store_release(victim);

    /* Both pooled connections work again. */
    struct store_conn *a = NULL, *b = NULL;
    assert_int_equal(store_acquire(s, &a), 0);
    assert_int_equal(store_acquire(s, &b), 0);
    assert_int_equal(store_exec(a, "SELECT 1", NULL, 0, NULL), 0);
    assert_int_equal(store_exec(b, "SELECT 1", NULL, 0, NULL), 0);
    store_release(a);
    store_release(b);
    assert_int_equal(store_check_ready(s), 0);
    store_close(s);
}

/* --- sqlite::memory: ------------------------------------------------------------------------- */

/* The POSIX locks this process holds on @path (lines of /proc/locks naming our pid and the
 * file's inode). */
static int locks_held(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    FILE *f = fopen("/proc/locks", "r");
    assert_non_null(f);
    char line[512], want[64];
    snprintf(want, sizeof(want), ":%lu ", (unsigned long)st.st_ino);
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        int pid = 0;
        char *p = strstr(line, "POSIX");
        if (p && sscanf(p, "POSIX %*s %*s %d", &pid) == 1 && pid == getpid() && strstr(line, want))
            n++;
    }
    fclose(f);
    return n;
}

/* Opening a connection must never close a descriptor of the database file beside live ones:
 * closing any descriptor drops every POSIX lock the process holds on the file, and another
 * process would then take itself for the last user and checkpoint and delete the WAL. */
static void test_sqlite_connect_keeps_locks(void **state)
{
    (void)state;
    if (is_pg()) /* SQLite only (see test_broken_connection_replaced on skip()) */
        return;
    _cleanup_free_ char *url = db_url_new();
    struct store *s = NULL;
    assert_int_equal(store_open(url, &(struct store_options){.pool_size = 3}, &s), 0);
    assert_int_equal(store_migrate(s, NULL), 0);
    const char *path = url + strlen("sqlite://");
    struct store_conn *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(store_acquire(s, &a), 0);
    assert_int_equal(store_begin(a), 0);
    _cleanup_result_ struct store_result *res = NULL;
    assert_int_equal(store_exec(a, "SELECT count(*) FROM tenants", NULL, 0, &res), 0);
    int before = locks_held(path);
    assert_true(before > 0); /* the read transaction's shared lock */
    /* new pooled connections (opened now, lazily) */
    assert_int_equal(store_acquire(s, &b), 0);
    assert_int_equal(store_acquire(s, &c), 0);
    assert_int_equal(locks_held(path), before);
    store_release(c);
    store_release(b);
    store_release(a);
    store_close(s);
}

static void test_sqlite_memory(void **state)
{
    (void)state;
    struct store *s = NULL, *other = NULL;
    assert_int_equal(
        store_open(
            "sqlite::memory:", &(struct store_options){.pool_size = 2, .busy_timeout_ms = 100}, &s),
        0);
    assert_int_equal(store_backend(s), STORE_SQLITE);
    assert_int_equal(store_migrate(s, NULL), 0);
    assert_int_equal(store_check_ready(s), 1);

    /* Every pooled connection sees the same database. */
    struct store_conn *a = NULL, *b = NULL;
    char id[32];
    assert_int_equal(store_acquire(s, &a), 0);
    assert_int_equal(store_acquire(s, &b), 0);
    tenant_insert(a, id, sizeof(id));
    _cleanup_result_ struct store_result *res = NULL;
    assert_int_equal(store_exec(b, "SELECT name FROM tenants WHERE tenant_id = $1",
                                (struct store_param[]){STORE_TEXT(id)}, 1, &res),
                     0);
    assert_int_equal(store_result_rows(res), 1);
    /* A second writer waits out the busy timeout (ordinary locking, not shared-cache table
     * locks that fail at once), then gets -EBUSY. */
    assert_int_equal(store_begin(a), 0);
    uint64_t t0 = ms_now();
    assert_int_equal(store_begin(b), -EBUSY);
    assert_true(ms_now() - t0 >= 90);
    store_release(a);
    assert_int_equal(store_begin(b), 0);
    assert_int_equal(store_commit(b), 0);
    store_release(b);

    /* Another store's memory database is another database. */
    assert_int_equal(store_open("sqlite::memory:", NULL, &other), 0);
    assert_int_equal(store_check_ready(other), 0);
    store_close(other);
    store_close(s);
}

/* --- error mapping (pure) ------------------------------------------------------------------- */

static void test_error_mapping(void **state)
{
    (void)state;
    assert_int_equal(store_pg_errno("23505"), -EEXIST);
    assert_int_equal(store_pg_errno("23503"), -ENXIO);
    assert_int_equal(store_pg_errno("23502"), -EINVAL);
    assert_int_equal(store_pg_errno("23514"), -EINVAL);
    assert_int_equal(store_pg_errno("40001"), -EAGAIN);
    assert_int_equal(store_pg_errno("40P01"), -EAGAIN);
    assert_int_equal(store_pg_errno("55P03"), -EBUSY);
    assert_int_equal(store_pg_errno("53300"), -EBUSY);
    assert_int_equal(store_pg_errno("57014"), -EBUSY);  /* statement_timeout */
    assert_int_equal(store_pg_errno("42P18"), -EINVAL); /* a parameter the SQL does not use */
    assert_int_equal(store_pg_errno("08P01"), -EINVAL); /* fewer parameters than the SQL uses */
    assert_int_equal(store_pg_errno("08006"), -ECONNREFUSED);
    assert_int_equal(store_pg_errno("08001"), -ECONNREFUSED);
    assert_int_equal(store_pg_errno("57P01"), -ECONNREFUSED);
    assert_int_equal(store_pg_errno("42601"), -EINVAL);
    assert_int_equal(store_pg_errno("42P01"), -EINVAL);
    assert_int_equal(store_pg_errno("22P02"), -EINVAL);
    assert_int_equal(store_pg_errno("XX000"), -EIO);
    assert_int_equal(store_pg_errno(NULL), -EIO);
    assert_int_equal(store_pg_errno("235"), -EIO);

    /* SQLite's codes, numerically (the header is not needed to know them):
     * CONSTRAINT_UNIQUE 2067, _PRIMARYKEY 1555, _FOREIGNKEY 787, _CHECK 275, _NOTNULL 1299,
     * BUSY 5, LOCKED 6, BUSY_SNAPSHOT 517, IOERR 10, IOERR_READ 266, CORRUPT 11, CANTOPEN 14,
     * ERROR 1. */
    assert_int_equal(store_sqlite_errno(0), 0);
    assert_int_equal(store_sqlite_errno(2067), -EEXIST);
    assert_int_equal(store_sqlite_errno(1555), -EEXIST);
    assert_int_equal(store_sqlite_errno(787), -ENXIO);
    assert_int_equal(store_sqlite_errno(275), -EINVAL);
    assert_int_equal(store_sqlite_errno(1299), -EINVAL);
    assert_int_equal(store_sqlite_errno(5), -EBUSY);
    assert_int_equal(store_sqlite_errno(6), -EBUSY);
    assert_int_equal(store_sqlite_errno(517), -EAGAIN);
    assert_int_equal(store_sqlite_errno(10), -EIO);
    assert_int_equal(store_sqlite_errno(266), -EIO);
    assert_int_equal(store_sqlite_errno(11), -EIO);
    assert_int_equal(store_sqlite_errno(14), -ECONNREFUSED);
    assert_int_equal(store_sqlite_errno(1), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_open_bad_url),
        cmocka_unit_test(test_open_unreachable),
        cmocka_unit_test(test_backend),
        cmocka_unit_test(test_pg_connection_defaults),
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_migrate_concurrent),
        cmocka_unit_test(test_migrate_atomic),
        cmocka_unit_test(test_tables_exist),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_param_count),
        cmocka_unit_test(test_statement_cache),
        cmocka_unit_test(test_constraint_errors),
        cmocka_unit_test(test_like_case_sensitive),
        cmocka_unit_test(test_lower_ascii_only),
        cmocka_unit_test(test_error_text_has_no_values),
        cmocka_unit_test(test_tx_commit_rollback),
        cmocka_unit_test(test_tx_poisoned),
        cmocka_unit_test(test_tx_retry),
        cmocka_unit_test(test_tx_busy_not_retried),
        cmocka_unit_test(test_tx_concurrent),
        cmocka_unit_test(test_pool_exhaustion),
        cmocka_unit_test(test_store_query),
        cmocka_unit_test(test_pool_wait),
        cmocka_unit_test(test_release_rolls_back),
        cmocka_unit_test(test_broken_connection_replaced),
        cmocka_unit_test(test_sqlite_memory),
        cmocka_unit_test(test_sqlite_connect_keeps_locks),
    };
    return cmocka_run_group_tests_name("store", tests, group_setup, group_teardown);
}
