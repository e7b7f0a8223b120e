/* SPDX-License-Identifier: MIT */
/*
 * config.c — one table of options, four sources (see config.h).
 * The engine (sources, precedence, errors) is options.c; this file is marqueed's table and
 * the checks that span several options.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

#define STR(f, d, h)         OPT_STR_ROW(struct config, f, d, h)
#define INT(f, d, lo, hi, h) OPT_INT_ROW(struct config, f, d, lo, hi, h)
#define BOOL(f, d, h)        OPT_BOOL_ROW(struct config, f, d, h)

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

static const struct opt_table table = {opts, ARRAY_SIZE(opts), "MARQUEE_"};

void config_init(struct config *c)
{
    memset(c, 0, sizeof(*c));
    opts_init(&table, c);
}

void config_release(struct config *c)
{
    opts_release(&table, c);
}

int config_load(struct config *c, int argc, char **argv, struct config_error *err)
{
    int r = opts_load(&table, c, argc, argv, err);
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
    opts_print_help(&table, f);
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
