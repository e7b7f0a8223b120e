/* SPDX-License-Identifier: MIT */
/*
 * config.h — marqueed's settings, from four places in order of strength:
 * command-line flag > MARQUEE_* environment variable > config file > built-in default.
 *
 * One table (config.c) names every option once; the flag (`--data-dir`), the environment
 * variable (`MARQUEE_DATA_DIR`) and the file key (`data_dir = …`) all derive from it, so a new
 * option is one row. The file is `key = value` lines; `#` starts a comment; values may be
 * quoted with "…". An unknown key, flag or a bad value is an error naming where it came from.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "options.h"

struct config {
    char *config_file;
    char *listen;    /* ADDR:PORT, [v6]:PORT */
    char *db;        /* store URL; empty = sqlite under data_dir */
    char *data_dir;
    char *log_level;
    char *public_url; /* base URL clients reach this server at (for links) */
    int64_t threads;  /* HTTP worker threads; 0 = one per core */
    int64_t max_body_bytes;
    int64_t max_header_bytes;
    int64_t json_max_depth;
    int64_t connection_limit;
    int64_t per_ip_connection_limit;
    int64_t connection_memory_limit;
    int64_t connection_timeout_s;
    int64_t request_timeout_s;
    int64_t shutdown_timeout_s;
    int64_t db_pool_size; /* 0 = threads + 2 */
    char *jwt_keys;       /* "kid:secret,…"; empty = <data_dir>/jwt-keys */
    char *jwt_issuer;
    char *jwt_audience;
    int64_t access_token_ttl_s;
    int64_t refresh_token_ttl_s;
    int64_t device_token_ttl_s; /* lifetime of a device token issued by pairing */
    int64_t pairing_code_ttl_s; /* a pairing code may be claimed this long after it was made */
    char *rate_limits;        /* "class=limit/seconds,…" over the §27.1 defaults */
    char *tenant_rate_limits; /* "tenantId:class=limit/seconds,…" */
    int64_t rate_limit_keys;  /* counters kept at most */
    int64_t max_upload_bytes;  /* largest upload session (FILE_SIZE_EXCEEDED above) */
    int64_t media_workers;     /* processing threads; 0 = none on this instance */
    char *media_public_url;    /* base of media URLs; empty = public_url */
    int64_t media_url_ttl_s;   /* signed media URL lifetime, rounded up to the hour */
    int64_t manifest_cache_mb; /* memory for cached player manifests (0 = none) */
    int64_t manifest_cache_ttl_s; /* longest a cached manifest is served without resolving */
    int64_t event_retention_days; /* device events and resolved alerts are kept that long */
    int64_t command_ttl_s;        /* a remote command's lifetime when its issuer names none */
    char *media_signing_key;   /* base64url HMAC key; empty = <data_dir>/media-signing.key */
    bool demo;            /* create a demo tenant, venue and admin on first start */
    bool test_routes;     /* register the /v1/_test routes of the API test suite */
};

/** Fills @c with the built-in defaults. Never fails. */
void config_init(struct config *c);

/**
 * Loads the configuration: defaults, then the file (from `--config` or MARQUEE_CONFIG, if
 * any), then MARQUEE_* variables, then the @argc flags in @argv (no program name, no command).
 * Returns 0, or -EINVAL / -ENOENT (config file missing) with @err saying what and where.
 */
int config_load(struct config *c, int argc, char **argv, struct config_error *err);

/** Frees the strings; the struct may be reused after config_init. */
void config_release(struct config *c);

/** Prints the option table (flag, env, default, help) for --help. */
void config_print_help(FILE *f);

/** Splits "host:port" / "[v6]:port" into host (no brackets) and port. 0 or -EINVAL. */
int config_split_listen(const char *listen, char *host, size_t host_len, uint16_t *ret_port);
