/* SPDX-License-Identifier: MIT */
/*
 * config.c — one table of options, four sources (see config.h).
 * DESIGN: sources are applied weakest first onto the same struct, so "flag > env > file >
 * default" is simply the order of the calls in config_load(). Every value is validated as it
 * is applied, and the error says which source held it (file:line, variable name or flag).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL };

struct opt {
    const char *name; /* file key; flag is --name with '_' → '-'; env MARQUEE_NAME */
    enum opt_type type;
    size_t offset;
    const char *def;
    int64_t min, max;
    const char *help;
};

#define STR(f, d, h)           {#f, OPT_STR, offsetof(struct config, f), d, 0, 0, h}
#define INT(f, d, lo, hi, h)   {#f, OPT_INT, offsetof(struct config, f), d, lo, hi, h}
#define BOOL(f, d, h)          {#f, OPT_BOOL, offsetof(struct config, f), d, 0, 1, h}

static const struct opt opts[] = {
    {"config", OPT_STR, offsetof(struct config, config_file), "", 0, 0,
     "config file of `key = value` lines"},
    STR(listen, "127.0.0.1:8080", "address and port to serve on (ADDR:PORT, [::1]:PORT)"),
    STR(db, "", "store URL: sqlite:///path.db or postgresql://… (default: sqlite in data dir)"),
    STR(data_dir, "./var", "directory for the SQLite database, keys and media"),
    STR(log_level, "info", "debug, info, warn, error or off"),
    STR(public_url, "", "base URL clients use to reach this server (default: from listen)"),
    INT(threads, "0", 0, 256, "HTTP worker threads (0 = one per core)"),
    INT(max_body_bytes, "1048576", 1024, 1073741824, "largest request body accepted (413 above)"),
    INT(max_header_bytes, "8192", 1024, 65536, "largest request header block (431 above)"),
    INT(json_max_depth, "32", 2, 512, "deepest JSON nesting accepted in a request body"),
    INT(connection_limit, "16000", 16, 1000000, "open client connections at most"),
    INT(per_ip_connection_limit, "0", 0, 1000000, "connections per client IP (0 = no limit)"),
    INT(connection_memory_limit, "16384", 4096, 1048576, "bytes of buffer per connection"),
    INT(connection_timeout_s, "30", 1, 3600, "idle seconds before a connection is closed"),
    INT(request_timeout_s, "60", 1, 3600, "seconds a request body may take to arrive (408 after)"),
    INT(shutdown_timeout_s, "10", 0, 600, "seconds in-flight requests get on shutdown"),
    INT(db_pool_size, "0", 0, 1024, "store connections (0 = threads + 2)"),
    STR(jwt_keys, "", "token keys kid:secret,…; the first signs (default: data_dir/jwt-keys)"),
    STR(jwt_issuer, "marquee", "iss of access tokens"),
    STR(jwt_audience, "marquee-api", "aud of access tokens"),
    INT(access_token_ttl_s, "900", 60, 86400, "lifetime of an access token"),
    INT(refresh_token_ttl_s, "2592000", 3600, 31536000, "lifetime of a refresh token"),
    INT(device_token_ttl_s, "31536000", 3600, 315360000, "lifetime of a device token (pairing)"),
    INT(pairing_code_ttl_s, "600", 60, 86400, "how long a pairing code can be claimed"),
    STR(rate_limits, "", "rate limits over the defaults: class=limit/seconds,…"),
    STR(tenant_rate_limits, "", "per-tenant rate limits: tenantId:class=limit/seconds,…"),
    INT(rate_limit_keys, "1000000", 1000, 67108864, "rate-limit counters kept at most"),
    INT(max_upload_bytes, "209715200", 1, 68719476736, "largest file an upload session accepts"),
    INT(media_workers, "2", 0, 64, "media processing threads (0 = this instance does not process)"),
    STR(media_public_url, "", "base URL of media and thumbnail URLs (a CDN; default public_url)"),
    INT(media_url_ttl_s, "86400", 60, 31536000, "lifetime of a signed media URL (rounded up to the hour)"),
    INT(manifest_cache_mb, "64", 0, 65536, "memory for cached player manifests, MiB (0 = none)"),
    INT(manifest_cache_ttl_s, "60", 1, 3600, "longest a cached manifest is served without resolving"),
    INT(event_retention_days, "30", 1, 3650, "days device events and resolved alerts are kept"),
    INT(command_ttl_s, "3600", 60, 604800, "lifetime of a remote command unless it names one"),
    STR(media_signing_key, "", "HMAC key of media URLs, base64url (default: data_dir/media-signing.key)"),
    BOOL(demo, "false", "create a demo tenant, venue and admin on first start"),
    BOOL(test_routes, "false", "serve /v1/_test/* (for the API test suite only)"),
};

#undef STR
#undef INT
#undef BOOL

static int opt_apply(struct config *c, const struct opt *o, const char *value, const char *where,
                     struct config_error *err)
{
    char *field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_STR:
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    case OPT_INT: {
        int64_t v;
        int r = parse_int64(value, o->min, o->max, &v);
        if (r < 0) {
            snprintf(err->text, sizeof(err->text),
                     "%s: %s must be a whole number from %lld to %lld, not \"%.40s\"", where,
                     o->name, (long long)o->min, (long long)o->max, value);
            return -EINVAL;
        }
        *(int64_t *)field = v;
        return 0;
    }
    case OPT_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes") ||
            !strcmp(value, "on")) {
            *(bool *)field = true;
        } else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no") ||
                   !strcmp(value, "off")) {
            *(bool *)field = false;
        } else {
            snprintf(err->text, sizeof(err->text), "%s: %s must be true or false, not \"%.40s\"",
                     where, o->name, value);
            return -EINVAL;
        }
        return 0;
    }
    return -EINVAL;
}

static const struct opt *opt_find(const char *name, size_t len, char sep)
{
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        const char *n = opts[i].name;
        if (strlen(n) != len)
            continue;
        size_t k = 0;
        for (; k < len; k++) {
            char want = n[k] == '_' ? sep : n[k];
            if (name[k] != want)
                break;
        }
        if (k == len)
            return &opts[i];
    }
    return NULL;
}

void config_init(struct config *c)
{
    struct config_error ignored;
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
        (void)opt_apply(c, &opts[i], opts[i].def, "default", &ignored);
}

void config_release(struct config *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        if (opts[i].type == OPT_STR) {
            char **p = (char **)((char *)c + opts[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct config *c, const char *path, struct config_error *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err->text, sizeof(err->text), "config file %.200s: %s", path, strerror(e));
        return e == ENOENT ? -ENOENT : -EINVAL;
    }
    char line[4096];
    int lineno = 0, r = 0;
    while (r == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char where[240];
        snprintf(where, sizeof(where), "%.200s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err->text, sizeof(err->text), "%s: line too long", where);
            r = -EINVAL;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err->text, sizeof(err->text), "%s: expected `key = value`", where);
            r = -EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        const struct opt *o = opt_find(key, strlen(key), '_');
        if (!o || o->offset == offsetof(struct config, config_file)) {
            snprintf(err->text, sizeof(err->text), "%s: unknown setting \"%.60s\"", where, key);
            r = -EINVAL;
            break;
        }
        r = opt_apply(c, o, value, where, err);
    }
    fclose(f);
    return r;
}

static void env_name(const struct opt *o, char *out, size_t n)
{
    size_t k = (size_t)snprintf(out, n, "MARQUEE_");
    for (const char *p = o->name; *p && k + 1 < n; p++)
        out[k++] = (char)toupper((unsigned char)*p);
    out[k] = '\0';
}

/* One pass over the flags. With @only_config set it applies --config alone (it must be known
 * before the file is read); otherwise every flag but --config. */
static int load_flags(struct config *c, int argc, char **argv, bool only_config,
                      struct config_error *err)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err->text, sizeof(err->text), "unexpected argument \"%.60s\"", a);
            return -EINVAL;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = opt_find(name, nlen, '-');
        if (!o) {
            snprintf(err->text, sizeof(err->text), "unknown option \"%.60s\"", a);
            return -EINVAL;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (o->type == OPT_BOOL) {
            value = "true";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err->text, sizeof(err->text), "option %.60s needs a value", a);
            return -EINVAL;
        }
        bool is_config = o->offset == offsetof(struct config, config_file);
        if (is_config != only_config)
            continue;
        char where[80];
        snprintf(where, sizeof(where), "option --%.*s", (int)nlen, name);
        int r = opt_apply(c, o, value, where, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int config_load(struct config *c, int argc, char **argv, struct config_error *err)
{
    int r;
    const char *env_config = getenv("MARQUEE_CONFIG");
    if (env_config && *env_config)
        opt_apply(c, &opts[0], env_config, "MARQUEE_CONFIG", err);
    r = load_flags(c, argc, argv, true, err);
    if (r < 0)
        return r;
    if (c->config_file && *c->config_file) {
        r = load_file(c, c->config_file, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 1; i < ARRAY_SIZE(opts); i++) {
        char name[64];
        env_name(&opts[i], name, sizeof(name));
        const char *v = getenv(name);
        if (!v)
            continue;
        r = opt_apply(c, &opts[i], v, name, err);
        if (r < 0)
            return r;
    }
    r = load_flags(c, argc, argv, false, err);
    if (r < 0)
        return r;
    char host[256];
    uint16_t port;
    unsigned char addr[16];
    if (config_split_listen(c->listen, host, sizeof(host), &port) < 0 ||
        (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)) {
        snprintf(err->text, sizeof(err->text),
                 "listen must be a numeric IPv4:PORT or [IPv6]:PORT (127.0.0.1:8080, [::1]:8080), "
                 "not \"%.60s\"",
                 c->listen);
        return -EINVAL;
    }
    /* the whole header block must fit in the connection's buffer, or the library answers
     * before marqueed can: a larger max_header_bytes would never take effect */
    if (c->max_header_bytes + 1024 > c->connection_memory_limit) {
        snprintf(err->text, sizeof(err->text),
                 "max_header_bytes (%lld) must be at least 1024 below connection_memory_limit "
                 "(%lld)",
                 (long long)c->max_header_bytes, (long long)c->connection_memory_limit);
        return -EINVAL;
    }
    return 0;
}

void config_print_help(FILE *f)
{
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        char flag[64], env[64];
        snprintf(flag, sizeof(flag), "--%s", opts[i].name);
        for (char *p = flag; *p; p++)
            if (*p == '_')
                *p = '-';
        env_name(&opts[i], env, sizeof(env));
        fprintf(f, "  %-28s %s\n  %-28s env %s, default \"%s\"\n", flag, opts[i].help, "", env,
                opts[i].def);
    }
}

int config_split_listen(const char *listen, char *host, size_t host_len, uint16_t *ret_port)
{
    if (!listen)
        return -EINVAL;
    const char *colon, *h = listen;
    size_t hlen;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = listen + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return -EINVAL;
        hlen = (size_t)(colon - listen);
    }
    if (hlen == 0 || hlen >= host_len)
        return -EINVAL;
    int64_t port;
    if (parse_int64(colon + 1, 0, 65535, &port) < 0) /* 0: the kernel picks */
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *ret_port = (uint16_t)port;
    return 0;
}
