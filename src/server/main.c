/* SPDX-License-Identifier: MIT */
/*
 * main.c — the marqueed command line: serve, migrate, create-tenant, --help, --version.
 *
 * serve: configuration (flag > MARQUEE_* env > file > default), store open + migrations, the
 * optional demo data, then the HTTP server until SIGTERM/SIGINT. Signals are blocked in every
 * thread and taken here with sigwait(), so shutdown is ordinary code: stop accepting, let
 * in-flight requests finish (bounded by shutdown_timeout_s), stop the server, close the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "app.h"
#include "content/inspect.h"
#include "ids.h"
#include "log.h"
#include "macro.h"
#include "tenancy/tenant.h"

#define DEMO_TENANT   "Demo Hospitality Group"
#define DEMO_VENUE    "The Crown (demo venue)"
#define DEMO_EMAIL    "admin@demo.marquee.local"
#define DEMO_TIMEZONE "Europe/London"

static void usage(FILE *f)
{
    fprintf(f,
            "marqueed %s — the marquee digital-signage backend\n\n"
            "usage:\n"
            "  marqueed serve [options]            migrate the store and serve the /v1 API\n"
            "  marqueed migrate [options]          apply pending store migrations and exit\n"
            "  marqueed create-tenant --name N --admin-email E [--admin-password P]\n"
            "                 [--timezone TZ] [options]\n"
            "                                      create a tenant and its first admin\n"
            "                                      (password also from MARQUEE_ADMIN_PASSWORD;\n"
            "                                      generated and printed when not given)\n"
            "  marqueed routes [options]           print the route table (JSON) and exit\n"
            "  marqueed media-inspect FILE THUMB   check one media file, write its thumbnail,\n"
            "                                      print the verdict (JSON); what the media\n"
            "                                      workers run for each upload\n"
            "  marqueed --help | --version\n\n"
            "options (each also MARQUEE_<NAME> in the environment or `name = value` in the\n"
            "config file; a flag beats the environment, which beats the file):\n",
            MARQUEE_VERSION);
    config_print_help(f);
}

/* Generates a readable random password: 20 characters from an unambiguous alphabet. */
static void generate_password(char out[21])
{
    static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    for (int i = 0; i < 20; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[20] = '\0';
}

/* Exit statuses: 2 for a usage error (bad option), 1 when the store or the address fails. */
#define EXIT_USAGE 2

/* Configuration from flags, environment and file. 0, or -EINVAL after printing why. */
static int setup_config(struct app *app, int argc, char **argv)
{
    struct config_error err;
    config_init(&app->cfg);
    if (config_load(&app->cfg, argc, argv, &err) < 0) {
        fprintf(stderr, "marqueed: %s\n", err.text);
        return -EINVAL;
    }
    enum log_level lvl;
    if (log_level_parse(app->cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "marqueed: log_level must be debug, info, warn, error or off\n");
        return -EINVAL;
    }
    log_set_level(lvl);
    return 0;
}

static const char *backend_name(const char *url)
{
    if (url && !strncmp(url, "sqlite:", 7))
        return "sqlite";
    if (url && (!strncmp(url, "postgresql:", 11) || !strncmp(url, "postgres:", 9)))
        return "postgresql";
    return "unknown";
}

/* Opens and migrates the store. 0 or -errno (logged). */
static int setup_store(struct app *app)
{
    int r = app_store_open(app);
    if (r < 0) {
        /* never the URL itself: a PostgreSQL URL may carry a password */
        log_json(LOG_ERROR, "store_open_failed",
                 json_pack("{s:s,s:s,s:s}", "error",
                           r == -EINVAL ? "db must be sqlite:///path.db, sqlite::memory: or "
                                          "postgresql://… (see marqueed --help)"
                                        : strerror(-r),
                           "dataDir", app->cfg.data_dir, "backend", backend_name(app->db_url)));
        return r;
    }
    unsigned applied = 0;
    r = store_migrate(app->store, &applied);
    if (r < 0) {
        log_json(LOG_ERROR, "migration_failed", json_pack("{s:s}", "error", strerror(-r)));
        return r;
    }
    log_json(LOG_INFO, "store_ready",
             json_pack("{s:s,s:i,s:i}", "backend",
                       store_backend(app->store) == STORE_SQLITE ? "sqlite" : "postgresql",
                       "schemaVersion", (int)store_schema_version_latest(), "migrationsApplied",
                       (int)applied));
    return 0;
}

static void demo_seed(struct app *app)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/demo-login.txt", app->cfg.data_dir);
    int any = tenant_any(app->store);
    if (any < 0)
        return;
    if (any) {
        if (access(path, R_OK) == 0)
            printf("\n  marquee demo: the login made on first start is in %s\n\n", path);
        fflush(stdout);
        return;
    }
    char password[21];
    generate_password(password);
    struct tenant_created out;
    const char *problem = NULL;
    int r = tenant_create(app->store, DEMO_TENANT, DEMO_EMAIL, password, DEMO_TIMEZONE,
                          DEMO_VENUE, &out, &problem);
    if (r < 0) {
        log_json(LOG_ERROR, "demo_seed_failed",
                 json_pack("{s:s}", "error", problem ? problem : strerror(-r)));
        return;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dprintf(fd, "tenant:   %s (%s)\nvenue:    %s (%s)\nemail:    %s\npassword: %s\n",
                DEMO_TENANT, out.tenant_id, DEMO_VENUE, out.venue_id, DEMO_EMAIL, password);
        fsync(fd);
        close(fd);
    }
    printf("\n  marquee demo data created (first start)\n"
           "    tenant:   %s\n    venue:    %s (%s)\n"
           "    login:    %s\n    password: %s\n"
           "  (also saved, mode 0600, in %s)\n\n",
           DEMO_TENANT, DEMO_VENUE, DEMO_TIMEZONE, DEMO_EMAIL, password, path);
    fflush(stdout);
    sodium_memzero(password, sizeof(password));
}

static int cmd_serve(int argc, char **argv)
{
    /* Block the shutdown signals before any thread exists: they are taken by sigwait below. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct app app = {0};
    if (setup_config(&app, argc, argv) < 0) {
        app_release(&app);
        return EXIT_USAGE;
    }
    int r = setup_store(&app);
    if (r < 0) {
        app_release(&app);
        return 1;
    }
    if (app.cfg.demo)
        demo_seed(&app);
    r = app_http_setup(&app, false);
    if (r == 0)
        r = app_start_background(&app);
    if (r == 0)
        r = http_server_start(app.http);
    if (r < 0) {
        log_json(LOG_ERROR, "listen_failed",
                 json_pack("{s:s,s:s}", "listen", app.cfg.listen, "error", strerror(-r)));
        app_release(&app);
        return 1;
    }
    log_json(LOG_INFO, "listening",
             json_pack("{s:s,s:i,s:s}", "listen", app.cfg.listen, "port",
                       (int)http_server_port(app.http), "version", MARQUEE_VERSION));

    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    log_json(LOG_INFO, "shutdown_started",
             json_pack("{s:s,s:i}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", "inFlight",
                       (int)http_server_in_flight(app.http)));
    http_server_quiesce(app.http);
    bool idle = http_server_wait_idle(app.http, app.cfg.shutdown_timeout_s * 1000);
    if (!idle)
        log_json(LOG_WARN, "shutdown_timeout",
                 json_pack("{s:i}", "abandoned", (int)http_server_in_flight(app.http)));
    app_release(&app);
    log_json(LOG_INFO, "shutdown_complete", NULL);
    return 0;
}

static int cmd_migrate(int argc, char **argv)
{
    struct app app = {0};
    if (setup_config(&app, argc, argv) < 0) {
        app_release(&app);
        return EXIT_USAGE;
    }
    int r = setup_store(&app);
    app_release(&app);
    return r < 0 ? 1 : 0;
}

/* Takes the create-tenant flags out of argv, leaving the configuration flags. */
static const char *take_flag(int *argc, char **argv, const char *flag)
{
    size_t fl = strlen(flag);
    for (int i = 0; i < *argc; i++) {
        const char *v = NULL;
        int used = 0;
        if (strcmp(argv[i], flag) == 0 && i + 1 < *argc) {
            v = argv[i + 1];
            used = 2;
        } else if (strncmp(argv[i], flag, fl) == 0 && argv[i][fl] == '=') {
            v = argv[i] + fl + 1;
            used = 1;
        }
        if (used) {
            memmove(&argv[i], &argv[i + used], (size_t)(*argc - i - used) * sizeof(char *));
            *argc -= used;
            return v;
        }
    }
    return NULL;
}

static int cmd_create_tenant(int argc, char **argv)
{
    const char *name = take_flag(&argc, argv, "--name");
    const char *email = take_flag(&argc, argv, "--admin-email");
    const char *password = take_flag(&argc, argv, "--admin-password");
    const char *tz = take_flag(&argc, argv, "--timezone");
    if (!name || !email) {
        fprintf(stderr, "marqueed create-tenant: --name and --admin-email are required\n");
        return EXIT_USAGE;
    }
    if (!password)
        password = getenv("MARQUEE_ADMIN_PASSWORD");
    char generated[21] = "";
    if (!password) {
        generate_password(generated);
        password = generated;
    }
    struct app app = {0};
    if (setup_config(&app, argc, argv) < 0) {
        app_release(&app);
        return EXIT_USAGE;
    }
    if (setup_store(&app) < 0) {
        app_release(&app);
        return 1;
    }
    struct tenant_created out;
    const char *problem = NULL;
    int r = tenant_create(app.store, name, email, password, tz ? tz : "UTC", NULL, &out,
                          &problem);
    app_release(&app);
    if (r == -EINVAL) {
        fprintf(stderr, "marqueed create-tenant: %s\n", problem);
        return EXIT_USAGE;
    }
    if (r == -EEXIST) {
        fprintf(stderr, "marqueed create-tenant: a tenant named \"%s\" already exists\n", name);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "marqueed create-tenant: %s\n", strerror(-r));
        return 1;
    }
    printf("tenant %s created: %s\nadmin user %s: %s\n", out.tenant_id, name, out.user_id, email);
    if (generated[0])
        printf("generated password (shown once): %s\n", generated);
    sodium_memzero(generated, sizeof(generated));
    return 0;
}

/* `marqueed serve --help` and the like: the usage, not "unknown option". */
static bool wants_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* The route table every module registers, as JSON: who may call what. Reads no store. */
static int cmd_routes(int argc, char **argv)
{
    struct app app = {0};
    if (setup_config(&app, argc, argv) < 0) {
        app_release(&app);
        return EXIT_USAGE;
    }
    /* a throwaway key: listing routes must not create a key file */
    free(app.cfg.jwt_keys);
    app.cfg.jwt_keys = xstrdup("routes:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    int r = app_http_setup(&app, true);
    if (r < 0) {
        fprintf(stderr, "marqueed routes: %s\n", strerror(-r));
        app_release(&app);
        return 1;
    }
    json_t *t = http_server_route_table(app.http);
    json_dumpf(t, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(t);
    app_release(&app);
    return 0;
}

int main(int argc, char **argv)
{
    /* the database holds password hashes and keys: nothing marqueed writes is world-readable */
    umask(027);
    if (sodium_init() < 0) {
        fprintf(stderr, "marqueed: libsodium failed to initialise\n");
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("marqueed %s\n", MARQUEE_VERSION);
        return 0;
    }
    if (wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "migrate"))
        return cmd_migrate(argc - 2, argv + 2);
    if (!strcmp(cmd, "routes"))
        return cmd_routes(argc - 2, argv + 2);
    if (!strcmp(cmd, "media-inspect"))
        return media_inspect_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "create-tenant"))
        return cmd_create_tenant(argc - 2, argv + 2);
    fprintf(stderr, "marqueed: unknown command \"%s\" (see marqueed --help)\n", cmd);
    return EXIT_USAGE;
}
