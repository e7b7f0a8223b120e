/* SPDX-License-Identifier: MIT */
/*
 * tenant.c — a tenant, its first admin and optionally a venue, in one transaction; and the
 * input checks (email, time zone, password policy) and Argon2id hashing that admin.c shares.
 * Passwords are hashed with Argon2id (libsodium crypto_pwhash_str, interactive limits) before
 * the transaction starts, so the retry loop never re-hashes.
 */
#include "tenancy/tenant.h"
#include "tz.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "clock.h"
#include "macro.h"

const char *tenant_password_problem(const char *password)
{
    size_t n = password ? strlen(password) : 0;
    if (n < TENANT_PASSWORD_MIN)
        return "password must be at least 12 characters";
    if (n > TENANT_PASSWORD_MAX)
        return "password must be at most 256 characters";
    return NULL;
}

_Static_assert(TENANT_PASSWORD_HASH_LEN == crypto_pwhash_STRBYTES, "hash buffer size");

int tenant_password_hash(const char *password, char out[TENANT_PASSWORD_HASH_LEN])
{
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return -ENOMEM;
    memcpy(out, hash, sizeof(hash));
    sodium_memzero(hash, sizeof(hash));
    return 0;
}

char *tenant_email_normalize(const char *email)
{
    char *n = xstrdup(email);
    for (char *p = n; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return n;
}

bool tenant_email_valid(const char *e)
{
    size_t n = e ? strlen(e) : 0;
    if (n < 3 || n > TENANT_EMAIL_MAX)
        return false;
    const char *at = strchr(e, '@');
    if (!at || at == e || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
        e[n - 1] == '.')
        return false;
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>')
            return false;
    return true;
}

bool tenant_timezone_valid(const char *tz)
{
    /* exactly the zones the resolver can load (not right/…, not leapseconds) */
    const struct tz *z;
    return tz && strlen(tz) <= 64 && tz_get(tz, &z) == 0;
}

struct create_ctx {
    const char *name, *email, *hash, *timezone, *venue_name;
    struct tenant_created out;
};

static int create_tx(struct store_conn *c, void *ud)
{
    struct create_ctx *x = ud;
    char now[TIMESTAMP_STR_LEN], role_id[UUID_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    ids_uuid(x->out.tenant_id);
    ids_uuid(x->out.user_id);
    ids_uuid(role_id);

    _cleanup_free_ char *normalized = tenant_email_normalize(x->email);

    struct store_result *res = NULL;
    int r = store_exec(c, "SELECT 1 FROM tenants WHERE lower(name) = lower($1)",
                       (struct store_param[]){STORE_TEXT(x->name)}, 1, &res);
    if (r < 0)
        return r;
    size_t rows = store_result_rows(res);
    store_result_free(res);
    if (rows > 0)
        return -EEXIST;

    r = store_exec(c,
                   "INSERT INTO tenants (tenant_id, name, status, default_timezone, "
                   "created_at_utc, updated_at_utc) VALUES ($1, $2, 'ACTIVE', $3, $4, $4)",
                   (struct store_param[]){STORE_TEXT(x->out.tenant_id), STORE_TEXT(x->name),
                                          STORE_TEXT(x->timezone), STORE_TEXT(now)},
                   4, NULL);
    if (r < 0)
        return r;
    r = store_exec(c,
                   "INSERT INTO users (user_id, tenant_id, email, email_normalized, display_name, "
                   "status, password_hash, created_at_utc, updated_at_utc) "
                   "VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $7, $7)",
                   (struct store_param[]){STORE_TEXT(x->out.user_id), STORE_TEXT(x->out.tenant_id),
                                          STORE_TEXT(x->email), STORE_TEXT(normalized),
                                          STORE_TEXT("Administrator"), STORE_TEXT(x->hash),
                                          STORE_TEXT(now)},
                   7, NULL);
    if (r < 0)
        return r;
    r = store_exec(c,
                   "INSERT INTO tenant_user_roles (tenant_user_role_id, tenant_id, user_id, role, "
                   "created_at_utc, updated_at_utc) VALUES ($1, $2, $3, 'TENANT_ADMIN', $4, $4)",
                   (struct store_param[]){STORE_TEXT(role_id), STORE_TEXT(x->out.tenant_id),
                                          STORE_TEXT(x->out.user_id), STORE_TEXT(now)},
                   4, NULL);
    if (r < 0)
        return r;
    x->out.venue_id[0] = '\0';
    if (x->venue_name) {
        ids_uuid(x->out.venue_id);
        r = store_exec(c,
                       "INSERT INTO venues (venue_id, tenant_id, name, timezone, created_at_utc, "
                       "updated_at_utc) VALUES ($1, $2, $3, $4, $5, $5)",
                       (struct store_param[]){
                           STORE_TEXT(x->out.venue_id), STORE_TEXT(x->out.tenant_id),
                           STORE_TEXT(x->venue_name), STORE_TEXT(x->timezone), STORE_TEXT(now)},
                       5, NULL);
        if (r < 0)
            return r;
        r = store_exec(c,
                       "INSERT INTO venue_epochs (venue_id, tenant_id, manifest_epoch, "
                       "created_at_utc, updated_at_utc) VALUES ($1, $2, 1, $3, $3)",
                       (struct store_param[]){STORE_TEXT(x->out.venue_id),
                                              STORE_TEXT(x->out.tenant_id), STORE_TEXT(now)},
                       3, NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

int tenant_create(struct store *s, const char *name, const char *email, const char *password,
                  const char *timezone, const char *venue_name, struct tenant_created *ret,
                  const char **ret_problem)
{
    const char *problem = NULL;
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0 || nlen > 200)
        problem = "name must be 1 to 200 characters";
    else if (!tenant_email_valid(email))
        problem = "admin email is not a valid address";
    else if (!tenant_timezone_valid(timezone))
        problem = "time zone is not an IANA zone name this system knows";
    else if (venue_name && (!*venue_name || strlen(venue_name) > 200))
        problem = "venue name must be 1 to 200 characters";
    else
        problem = tenant_password_problem(password);
    if (problem) {
        if (ret_problem)
            *ret_problem = problem;
        return -EINVAL;
    }
    char hash[TENANT_PASSWORD_HASH_LEN];
    int r = tenant_password_hash(password, hash);
    if (r < 0)
        return r;
    struct create_ctx x = {
        .name = name, .email = email, .hash = hash, .timezone = timezone, .venue_name = venue_name};
    r = store_tx(s, 0, create_tx, &x);
    sodium_memzero(hash, sizeof(hash));
    if (r < 0)
        return r;
    *ret = x.out;
    return 0;
}

int tenant_any(struct store *s)
{
    struct store_result *res = NULL;
    int r = store_query(s, "SELECT 1 FROM tenants LIMIT 1", NULL, 0, &res);
    if (r < 0)
        return r;
    r = store_result_rows(res) > 0;
    store_result_free(res);
    return r;
}
