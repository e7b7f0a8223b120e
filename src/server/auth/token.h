/* SPDX-License-Identifier: MIT */
/*
 * token.h — user access tokens (JWT, HS256, spec §25.3) and the keys that sign them.
 *
 * DESIGN
 * Keys are named (`kid`) so they can rotate: the first key signs, every key verifies, and a
 * key stops verifying when it is removed. They come from configuration (`jwt_keys`, e.g. from
 * the environment) or from `<data_dir>/jwt-keys` (mode 0600), which is generated with one
 * random 256-bit key on first start.
 *
 * Tokens are issued with libjwt. Verification pins everything an attacker could choose: the
 * header must say alg HS256 and name a known kid (so `alg: none`, RS/HS confusion and unknown
 * keys fail before any parsing of claims), the signature is checked in constant time with
 * libsodium's HMAC-SHA256 (the key absorbed once per key), and exp, iss and aud must match.
 * The header marquee writes itself is recognised by its bytes, without parsing. libjwt 1.10's
 * decode is not used to verify: it compares signatures with strcmp, and running it after the
 * checks above repeated them (verification took 19 µs with it, 8 µs without, measured). Pure:
 * `now` is passed in.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"

#define TOKEN_MAX_LEN         8192 /* longer bearer tokens are refused unparsed */
#define TOKEN_MAX_VENUE_ROLES 50   /* more: venue roles are resolved server-side (§25.3 note) */

enum tenant_role_bits {
    TROLE_ADMIN = 1 << 0,  /* TENANT_ADMIN */
    TROLE_VIEWER = 1 << 1, /* TENANT_VIEWER */
};

/* Venue roles in rising order: VIEWER < EDITOR < MANAGER (§25.4). 0 = none. */
enum venue_role {
    VROLE_NONE = 0,
    VROLE_VIEWER = 1,
    VROLE_EDITOR = 2,
    VROLE_MANAGER = 3,
};

enum capability_bits {
    CAP_EDIT_SHARED_LIBRARY = 1 << 0,
};

struct token_venue_role {
    char venue_id[UUID_STR_LEN];
    enum venue_role role;
};

struct token_claims {
    bool device;            /* a device token (§25.3: typ "device"); then did/vid, no roles */
    char did[UUID_STR_LEN]; /* device id */
    char vid[UUID_STR_LEN]; /* the device's venue */
    char sub[UUID_STR_LEN]; /* user id */
    char tid[UUID_STR_LEN]; /* tenant id */
    unsigned tenant_roles;  /* enum tenant_role_bits */
    unsigned caps;          /* enum capability_bits */
    size_t n_venue_roles;
    struct token_venue_role venue_roles[TOKEN_MAX_VENUE_ROLES];
    bool venue_roles_server_side; /* too many to carry: look them up */
    int64_t iat, exp;             /* seconds since the epoch */
};

struct token_keys;

/**
 * Loads the keys: from @spec when not empty ("kid:secret,kid:secret", secrets base64url of at
 * least 32 bytes), else from @path, creating it (0600) with one fresh key when it does not
 * exist. 0, or -EINVAL with *ret_problem saying what is wrong, or -errno from the file.
 */
int token_keys_load(const char *spec, const char *path, struct token_keys **ret,
                    const char **ret_problem);
struct token_keys *token_keys_free(struct token_keys *k);
/** The kid that signs new tokens. */
const char *token_keys_current(const struct token_keys *k);

/** Signs @c (its exp/iat as given) with the current key. Returns a new string. */
char *token_issue(const struct token_keys *k, const struct token_claims *c, const char *issuer,
                  const char *audience);

/**
 * Verifies @token at @now (seconds). 0 and *ret filled, or -EACCES (anything wrong: malformed,
 * not HS256, unknown kid, bad signature, expired, wrong iss/aud, bad claims). *ret untouched on
 * failure. @ret_why (may be NULL) gets a short reason for logs (never the token).
 */
int token_verify(const struct token_keys *k, const char *token, int64_t now, const char *issuer,
                 const char *audience, struct token_claims *ret, const char **ret_why);

/** "TENANT_ADMIN" … ↔ bits, "VENUE_MANAGER" … ↔ enum venue_role, "EDIT_SHARED_LIBRARY" ↔ bits. */
unsigned token_tenant_role_parse(const char *s);
const char *token_tenant_role_name(unsigned bit);
enum venue_role token_venue_role_parse(const char *s);
const char *token_venue_role_name(enum venue_role r);
unsigned token_capability_parse(const char *s);
const char *token_capability_name(unsigned bit);
