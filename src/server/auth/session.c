/* SPDX-License-Identifier: MIT */
/*
 * session.c — POST /v1/auth/login, /refresh, /logout; GET /v1/me, /v1/me/venues (§27.3).
 *
 * DESIGN
 * Login checks the password with Argon2id outside any transaction (it costs ~50 ms of CPU on
 * purpose) and spends the same effort when the email is unknown, so timing does not tell
 * which emails exist. Roles are read from the store each time a token is issued, so a role
 * change takes effect at the next refresh. Refresh tokens are opaque random strings stored as
 * SHA-256; each use rotates them, and presenting a used one again revokes its whole family
 * (reuse detection: whoever holds the stolen copy and the rightful client both lose it).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "audit.h"
#include "auth/auth.h"
#include "auth/limits.h"
#include "clock.h"
#include "hash.h"
#include "ids.h"
#include "jsonx.h"
#include "log.h"
#include "macro.h"
#include "tenancy/tenant.h"

#define EMAIL_MAX        254
#define PASSWORD_MAX     256
#define REFRESH_PREFIX   "rt_"
#define REFRESH_LEN      (3 + 43) /* prefix + base64url of 32 bytes */
#define LOGIN_CANDIDATES 8        /* users of several tenants may share an email */

/* Reads the user's current roles and capabilities into claims for a new token. */
static int claims_load(struct store_conn *c, const char *tenant_id, const char *user_id,
                       struct token_claims *cl)
{
    struct store_result *res = NULL;
    const struct store_param p[] = {STORE_TEXT(tenant_id), STORE_TEXT(user_id)};
    int r = store_exec(
        c, "SELECT role FROM tenant_user_roles WHERE tenant_id = $1 AND user_id = $2", p, 2, &res);
    if (r < 0)
        return r;
    for (size_t i = 0; i < store_result_rows(res); i++)
        cl->tenant_roles |= token_tenant_role_parse(store_result_text(res, i, 0));
    store_result_free(res);
    r = store_exec(c,
                   "SELECT capability FROM user_capabilities WHERE tenant_id = $1 AND "
                   "user_id = $2",
                   p, 2, &res);
    if (r < 0)
        return r;
    for (size_t i = 0; i < store_result_rows(res); i++)
        cl->caps |= token_capability_parse(store_result_text(res, i, 0));
    store_result_free(res);
    r = store_exec(c,
                   "SELECT r.venue_id, r.role FROM venue_user_roles r JOIN venues v ON "
                   "v.tenant_id = r.tenant_id AND v.venue_id = r.venue_id WHERE r.tenant_id = $1 "
                   "AND r.user_id = $2 AND v.deleted_at_utc IS NULL ORDER BY r.venue_id LIMIT 51",
                   p, 2, &res);
    if (r < 0)
        return r;
    size_t n = store_result_rows(res);
    if (n > TOKEN_MAX_VENUE_ROLES) {
        cl->venue_roles_server_side = true;
    } else {
        for (size_t i = 0; i < n; i++) {
            snprintf(cl->venue_roles[i].venue_id, UUID_STR_LEN, "%s", store_result_text(res, i, 0));
            cl->venue_roles[i].role = token_venue_role_parse(store_result_text(res, i, 1));
        }
        cl->n_venue_roles = n;
    }
    store_result_free(res);
    snprintf(cl->sub, sizeof(cl->sub), "%s", user_id);
    snprintf(cl->tid, sizeof(cl->tid), "%s", tenant_id);
    return 0;
}

/* A new refresh token of @family for the user: returns the token, stores its hash. */
static int refresh_insert(struct app *app, struct store_conn *c, const char *tenant_id,
                          const char *user_id, const char *family, const char *ip,
                          char out[REFRESH_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    memcpy(out, REFRESH_PREFIX, 3);
    sodium_bin2base64(out + 3, REFRESH_LEN + 1 - 3, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char hash[HASH_SHA256_HEX_LEN], id[UUID_STR_LEN], now[TIMESTAMP_STR_LEN],
        exp[TIMESTAMP_STR_LEN];
    hash_sha256_hex(out, strlen(out), hash);
    ids_uuid(id);
    int64_t now_ms = clock_now_ms();
    ids_timestamp(now_ms, now);
    ids_timestamp(now_ms + app->cfg.refresh_token_ttl_s * 1000, exp);
    const struct store_param p[] = {STORE_TEXT(id),     STORE_TEXT(tenant_id), STORE_TEXT(user_id),
                                    STORE_TEXT(family), STORE_TEXT(hash),      STORE_TEXT(ip),
                                    STORE_TEXT(now),    STORE_TEXT(exp)};
    int r = store_exec(c,
                       "INSERT INTO refresh_tokens (refresh_token_id, tenant_id, user_id, "
                       "family_id, token_hash, client_ip, created_at_utc, expires_at_utc) "
                       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                       p, ARRAY_SIZE(p), NULL);
    return r < 0 ? r : 0;
}

/* The body of a login or refresh answer. */
static json_t *tokens_body(struct app *app, const struct token_claims *cl, const char *refresh,
                           const char *email, const char *display_name)
{
    char *access = token_issue(app->token_keys, cl, app->cfg.jwt_issuer, app->cfg.jwt_audience);
    json_t *b = json_pack("{s:s,s:s,s:I,s:s,s:I,s:{s:s,s:s}}", "accessToken", access, "tokenType",
                          "Bearer", "expiresIn", (json_int_t)(cl->exp - cl->iat), "refreshToken",
                          refresh, "refreshExpiresIn", (json_int_t)app->cfg.refresh_token_ttl_s,
                          "user", "userId", cl->sub, "tenantId", cl->tid);
    if (email)
        json_object_set_new(json_object_get(b, "user"), "email", json_string(email));
    if (display_name)
        json_object_set_new(json_object_get(b, "user"), "displayName", json_string(display_name));
    sodium_memzero(access, strlen(access));
    free(access);
    return b;
}

/* ---- login ------------------------------------------------------------------------------- */

/* A hash of a random password, verified when an email is unknown so that the answer takes as
 * long as for a known one. Made once, thread-safely. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
    char pw[33];
    ids_random_hex(pw, 16);
    if (crypto_pwhash_str(dummy_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        abort();
}

struct login_tx {
    struct app *app;
    struct http_request *req;
    const char *tenant_id, *user_id;
    bool success;
    struct token_claims claims;
    char refresh[REFRESH_LEN + 1];
};

static int login_tx(struct store_conn *c, void *ud)
{
    struct login_tx *x = ud;
    struct audit_entry a = {.tenant_id = x->tenant_id,
                            .actor_type = "USER",
                            .actor_id = x->user_id,
                            .action = "auth.login",
                            .outcome = x->success ? "SUCCESS" : "FAILURE",
                            .resource_type = "user",
                            .resource_id = x->user_id};
    int r = audit_write(c, x->req, &a);
    if (r < 0 || !x->success)
        return r;
    memset(&x->claims, 0, sizeof(x->claims));
    r = claims_load(c, x->tenant_id, x->user_id, &x->claims);
    if (r < 0)
        return r;
    char family[UUID_STR_LEN];
    ids_uuid(family);
    return refresh_insert(x->app, c, x->tenant_id, x->user_id, family, http_req_client_ip(x->req),
                          x->refresh);
}

static int login(struct http_request *req, void *ud)
{
    struct app *app = ud;
    static const char *const fields[] = {"email", "password", "tenantId", NULL};
    const char *email, *password, *tenant_id;
    int r;
    if ((r = http_body_allow(req, fields)) < 0 ||
        (r = http_body_string(req, "email", true, EMAIL_MAX, &email)) < 0 ||
        (r = http_body_string(req, "password", true, PASSWORD_MAX, &password)) < 0 ||
        (r = http_body_string(req, "tenantId", false, 64, &tenant_id)) < 0)
        return r;
    _cleanup_free_ char *normalized = tenant_email_normalize(email);
    /* per account, whatever the IP (the route's class already limits per IP) */
    if ((r = limits_check(app, req, "login_account", normalized, NULL)) < 0)
        return r;

    struct store_result *res = NULL;
    r = store_query(app->store,
                    "SELECT u.user_id, u.tenant_id, u.password_hash, u.email, u.display_name FROM "
                    "users u JOIN tenants t ON t.tenant_id = u.tenant_id WHERE u.email_normalized "
                    "= $1 AND u.status = 'ACTIVE' AND u.deleted_at_utc IS NULL AND t.status = "
                    "'ACTIVE' ORDER BY u.tenant_id LIMIT 8",
                    (struct store_param[]){STORE_TEXT(normalized)}, 1, &res);
    if (r < 0)
        return r;

    /* Argon2id for every candidate, and once against a dummy when none was verified (no such
     * email, only another tenant's, or no password): every refusal costs the same time */
    pthread_once(&dummy_once, dummy_init);
    size_t n = store_result_rows(res), matched = 0, match_i = 0, verified = 0;
    for (size_t i = 0; i < n; i++) {
        const char *hash = store_result_text(res, i, 2);
        if (!hash || (tenant_id && strcmp(tenant_id, store_result_text(res, i, 1)) != 0))
            continue;
        verified++;
        if (crypto_pwhash_str_verify(hash, password, strlen(password)) == 0) {
            matched++;
            match_i = i;
        }
    }
    if (verified == 0 && crypto_pwhash_str_verify(dummy_hash, password, strlen(password)) == 0)
        abort(); /* the dummy's password is random: it cannot match */

    if (matched > 1) {
        store_result_free(res);
        return http_reply_problem(req, 409, "TENANT_REQUIRED",
                                  "This login belongs to several tenants: send tenantId as well.",
                                  NULL);
    }
    struct login_tx x = {.app = app, .req = req, .success = matched == 1};
    /* a failure is audited in the tenant of the account it was tried on, when there is one */
    size_t audit_i = matched == 1 ? match_i : 0;
    if (n > 0) {
        x.tenant_id = store_result_text(res, audit_i, 1);
        x.user_id = store_result_text(res, audit_i, 0);
        r = store_tx(app->store, 0, login_tx, &x);
    }
    if (r < 0 || !x.success) {
        store_result_free(res);
        sodium_memzero(x.refresh, sizeof(x.refresh));
        if (r < 0)
            return r;
        log_json(LOG_INFO, "login_failed",
                 json_pack("{s:s,s:s}", "requestId", http_req_id(req), "client",
                           http_req_client_ip(req)));
        return http_reply_problem(req, 401, "INVALID_CREDENTIALS",
                                  "The email or password is wrong.", NULL);
    }
    int64_t now = clock_now_ms() / 1000;
    x.claims.iat = now;
    x.claims.exp = now + app->cfg.access_token_ttl_s;
    json_t *body = tokens_body(app, &x.claims, x.refresh, store_result_text(res, match_i, 3),
                               store_result_text(res, match_i, 4));
    store_result_free(res);
    sodium_memzero(x.refresh, sizeof(x.refresh));
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, 200, body);
}

/* ---- refresh and logout ------------------------------------------------------------------ */

enum refresh_outcome { REFRESH_OK, REFRESH_UNKNOWN, REFRESH_REUSED, REFRESH_EXPIRED };

struct refresh_tx {
    struct app *app;
    struct http_request *req;
    char hash[HASH_SHA256_HEX_LEN];
    bool logout;
    enum refresh_outcome outcome;
    struct token_claims claims;
    char refresh[REFRESH_LEN + 1];
};

static int revoke_family(struct store_conn *c, const char *family, const char *now)
{
    int r = store_exec(c,
                       "UPDATE refresh_tokens SET status = 'REVOKED', revoked_at_utc = $2 WHERE "
                       "family_id = $1 AND status <> 'REVOKED'",
                       (struct store_param[]){STORE_TEXT(family), STORE_TEXT(now)}, 2, NULL);
    return r < 0 ? r : 0;
}

static int refresh_tx(struct store_conn *c, void *ud)
{
    struct refresh_tx *x = ud;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT rt.refresh_token_id, rt.tenant_id, rt.user_id, rt.family_id, "
                       "rt.status, rt.expires_at_utc, u.status, t.status FROM refresh_tokens rt "
                       "JOIN users u ON u.tenant_id = rt.tenant_id AND u.user_id = rt.user_id "
                       "JOIN tenants t ON t.tenant_id = rt.tenant_id WHERE rt.token_hash = $1",
                       (struct store_param[]){STORE_TEXT(x->hash)}, 1, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) == 0) {
        store_result_free(res);
        x->outcome = REFRESH_UNKNOWN;
        return 0;
    }
    char id[UUID_STR_LEN], tenant[UUID_STR_LEN], user[UUID_STR_LEN], family[UUID_STR_LEN];
    snprintf(id, sizeof(id), "%s", store_result_text(res, 0, 0));
    snprintf(tenant, sizeof(tenant), "%s", store_result_text(res, 0, 1));
    snprintf(user, sizeof(user), "%s", store_result_text(res, 0, 2));
    snprintf(family, sizeof(family), "%s", store_result_text(res, 0, 3));
    bool active = !strcmp(store_result_text(res, 0, 4), "ACTIVE");
    bool expired = strcmp(store_result_text(res, 0, 5), now) <= 0;
    bool account_ok = !strcmp(store_result_text(res, 0, 6), "ACTIVE") &&
                      !strcmp(store_result_text(res, 0, 7), "ACTIVE");
    store_result_free(res);

    if (x->logout) {
        x->outcome = REFRESH_OK;
        return revoke_family(c, family, now);
    }
    if (!active) {
        /* reuse: a rotated-away token came back; nobody in this family can be trusted */
        x->outcome = REFRESH_REUSED;
        if ((r = revoke_family(c, family, now)) < 0)
            return r;
        struct audit_entry a = {.tenant_id = tenant,
                                .actor_type = "USER",
                                .actor_id = user,
                                .action = "auth.refresh_reuse",
                                .outcome = "DENIED",
                                .resource_type = "refresh_token_family",
                                .resource_id = family};
        return audit_write(c, x->req, &a);
    }
    if (expired || !account_ok) {
        x->outcome = REFRESH_EXPIRED;
        return revoke_family(c, family, now);
    }
    /* rotate: only one concurrent use of the same token can win */
    r = store_exec(c,
                   "UPDATE refresh_tokens SET status = 'USED', used_at_utc = $2 WHERE "
                   "refresh_token_id = $1 AND status = 'ACTIVE'",
                   (struct store_param[]){STORE_TEXT(id), STORE_TEXT(now)}, 2, NULL);
    if (r < 0)
        return r;
    if (r != 1) {
        x->outcome = REFRESH_REUSED;
        return revoke_family(c, family, now);
    }
    memset(&x->claims, 0, sizeof(x->claims));
    if ((r = claims_load(c, tenant, user, &x->claims)) < 0)
        return r;
    x->outcome = REFRESH_OK;
    return refresh_insert(x->app, c, tenant, user, family, http_req_client_ip(x->req), x->refresh);
}

/* 30 refreshes an hour per user (§27.1): the user is the owner of the presented token. */
static int refresh_rate_limit(struct app *app, struct http_request *req, const char *hash)
{
    struct store_result *res = NULL;
    int r = store_query(app->store,
                        "SELECT tenant_id, user_id FROM refresh_tokens WHERE token_hash = $1",
                        (struct store_param[]){STORE_TEXT(hash)}, 1, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) == 1) {
        char key[2 * UUID_STR_LEN + 2];
        snprintf(key, sizeof(key), "%s/%s", store_result_text(res, 0, 0),
                 store_result_text(res, 0, 1));
        r = limits_check(app, req, "refresh_user", key, store_result_text(res, 0, 0));
    }
    store_result_free(res);
    return r < 0 ? r : 0;
}

static int refresh_common(struct http_request *req, struct app *app, bool logout)
{
    static const char *const fields[] = {"refreshToken", NULL};
    const char *token;
    int r;
    if ((r = http_body_allow(req, fields)) < 0 ||
        (r = http_body_string(req, "refreshToken", true, 128, &token)) < 0)
        return r;
    struct refresh_tx x = {.app = app, .req = req, .logout = logout};
    hash_sha256_hex(token, strlen(token), x.hash);
    if (!logout && (r = refresh_rate_limit(app, req, x.hash)) < 0)
        return r;
    r = store_tx(app->store, 0, refresh_tx, &x);
    if (r < 0)
        return r;
    if (logout)
        return http_reply_empty(req, 204); /* the same answer whether it was known or not */
    if (x.outcome != REFRESH_OK) {
        sodium_memzero(x.refresh, sizeof(x.refresh));
        if (x.outcome == REFRESH_REUSED)
            log_json(LOG_WARN, "refresh_token_reuse",
                     json_pack("{s:s,s:s}", "requestId", http_req_id(req), "client",
                               http_req_client_ip(req)));
        return http_reply_problem(req, 401, "INVALID_REFRESH_TOKEN",
                                  "The refresh token is not valid: log in again.", NULL);
    }
    int64_t now = clock_now_ms() / 1000;
    x.claims.iat = now;
    x.claims.exp = now + app->cfg.access_token_ttl_s;
    json_t *body = tokens_body(app, &x.claims, x.refresh, NULL, NULL);
    sodium_memzero(x.refresh, sizeof(x.refresh));
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, 200, body);
}

static int refresh(struct http_request *req, void *ud)
{
    return refresh_common(req, ud, false);
}

static int logout(struct http_request *req, void *ud)
{
    return refresh_common(req, ud, true);
}

/* ---- me ---------------------------------------------------------------------------------- */

#define ME_VENUE_ROLES_MAX 200

static int me(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    struct store_conn *c;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    struct store_result *res = NULL;
    r = store_exec(c,
                   "SELECT email, display_name FROM users WHERE tenant_id = $1 AND user_id = $2 "
                   "AND deleted_at_utc IS NULL",
                   (struct store_param[]){STORE_TEXT(a->claims.tid), STORE_TEXT(a->claims.sub)}, 2,
                   &res);
    struct token_claims now = {0};
    struct store_result *vr = NULL;
    if (r >= 0 && store_result_rows(res) == 1)
        r = claims_load(c, a->claims.tid, a->claims.sub, &now);
    /* more roles than a token carries: listed here up to ME_VENUE_ROLES_MAX, the rest through
     * GET /v1/me/venues (never an empty list that looks like none) */
    if (r >= 0 && now.venue_roles_server_side)
        r = store_exec(c,
                       "SELECT r.venue_id, r.role FROM venue_user_roles r JOIN venues v ON "
                       "v.tenant_id = r.tenant_id AND v.venue_id = r.venue_id WHERE "
                       "r.tenant_id = $1 AND r.user_id = $2 AND v.deleted_at_utc IS NULL "
                       "ORDER BY r.venue_id LIMIT $3",
                       (struct store_param[]){STORE_TEXT(a->claims.tid), STORE_TEXT(a->claims.sub),
                                              STORE_INT(ME_VENUE_ROLES_MAX + 1)},
                       3, &vr);
    store_release(c);
    if (r < 0) {
        store_result_free(res);
        store_result_free(vr);
        return r;
    }
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return http_reply_problem(req, 401, "ACCOUNT_NOT_FOUND", "This account no longer exists.",
                                  NULL);
    }
    json_t *troles = json_array(), *caps = json_array(), *vroles = json_array();
    for (unsigned bit = 1; bit <= TROLE_VIEWER; bit <<= 1)
        if (now.tenant_roles & bit)
            json_array_append_new(troles, json_string(token_tenant_role_name(bit)));
    for (unsigned bit = 1; bit <= CAP_EDIT_SHARED_LIBRARY; bit <<= 1)
        if (now.caps & bit)
            json_array_append_new(caps, json_string(token_capability_name(bit)));
    for (size_t i = 0; i < now.n_venue_roles; i++)
        json_array_append_new(vroles,
                              json_pack("{s:s,s:s}", "venueId", now.venue_roles[i].venue_id, "role",
                                        token_venue_role_name(now.venue_roles[i].role)));
    size_t n_vr = store_result_rows(vr);
    for (size_t i = 0; i < n_vr && i < ME_VENUE_ROLES_MAX; i++)
        json_array_append_new(
            vroles,
            json_pack("{s:s,s:s}", "venueId", store_result_text(vr, i, 0), "role",
                      token_venue_role_name(token_venue_role_parse(store_result_text(vr, i, 1)))));
    store_result_free(vr);
    json_t *body =
        json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "userId", a->claims.sub, "tenantId",
                  a->claims.tid, "email", jsonx_string_lossy(store_result_text(res, 0, 0)),
                  "displayName", jsonx_string_lossy(store_result_text(res, 0, 1)), "tenantRoles",
                  troles, "capabilities", caps, "venueRoles", vroles);
    json_object_set_new(body, "venueRolesTruncated", json_boolean(n_vr > ME_VENUE_ROLES_MAX));
    store_result_free(res);
    return http_reply_json(req, 200, body);
}

/* Venues the caller may see: every venue of the tenant for a tenant role, else those it has a
 * role on. Cursor on (name, venue_id). */
static int me_venues(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const struct auth_actor *a = auth_actor(req);
    struct http_page page;
    int r = http_page_parse(req, 2, &page);
    if (r < 0)
        return r;
    bool all = a->claims.tenant_roles != 0;
    const char *after_name = page.n_after ? page.after[0] : "";
    const char *after_id = page.n_after ? page.after[1] : "";
    const struct store_param p[] = {
        STORE_TEXT(a->claims.tid), STORE_TEXT(a->claims.sub), STORE_INT(all),
        STORE_TEXT(after_name),    STORE_TEXT(after_id),      STORE_INT(page.limit + 1)};
    struct store_result *res = NULL;
    r = store_query(app->store,
                    "SELECT v.venue_id, v.name, v.timezone, r.role FROM venues v LEFT JOIN "
                    "venue_user_roles r ON r.tenant_id = v.tenant_id AND r.venue_id = v.venue_id "
                    "AND r.user_id = $2 WHERE v.tenant_id = $1 AND v.deleted_at_utc IS NULL AND "
                    "($3 = 1 OR r.role IS NOT NULL) AND (v.name > $4 OR (v.name = $4 AND "
                    "v.venue_id > $5)) ORDER BY v.name, v.venue_id LIMIT $6",
                    p, ARRAY_SIZE(p), &res);
    http_page_release(&page);
    if (r < 0)
        return r;
    json_t *items = json_array();
    size_t n = store_result_rows(res);
    size_t shown = n > page.limit ? page.limit : n;
    for (size_t i = 0; i < shown; i++) {
        const char *role = store_result_text(res, i, 3);
        if (a->claims.tenant_roles & TROLE_ADMIN)
            role = "TENANT_ADMIN";
        else if (!role)
            role = "TENANT_VIEWER";
        json_array_append_new(
            items, json_pack("{s:s,s:o,s:s?,s:s}", "venueId", store_result_text(res, i, 0), "name",
                             jsonx_string_lossy(store_result_text(res, i, 1)), "timezone",
                             store_result_text(res, i, 2), "access", role));
    }
    char *cursor = NULL;
    if (n > page.limit) {
        const char *keys[] = {store_result_text(res, shown - 1, 1),
                              store_result_text(res, shown - 1, 0)};
        cursor = http_cursor_encode(keys, 2);
    }
    store_result_free(res);
    r = http_reply_json(req, 200, http_page_body(items, cursor));
    free(cursor);
    return r;
}

static const struct http_route routes[] = {
    {.method = HTTP_POST,
     .pattern = "/v1/auth/login",
     .audience = HTTP_PUBLIC,
     .rate_class = "login_ip",
     .flags = HTTP_BODY_JSON,
     .max_body = 4096,
     .handler = login},
    {.method = HTTP_POST,
     .pattern = "/v1/auth/refresh",
     .audience = HTTP_PUBLIC,
     .flags = HTTP_BODY_JSON,
     .max_body = 4096,
     .handler = refresh},
    {.method = HTTP_POST,
     .pattern = "/v1/auth/logout",
     .audience = HTTP_PUBLIC,
     .flags = HTTP_BODY_JSON,
     .max_body = 4096,
     .handler = logout},
    {.method = HTTP_GET,
     .pattern = "/v1/me",
     .audience = HTTP_USER,
     .min_role = AUTH_ANY,
     .handler = me},
    {.method = HTTP_GET,
     .pattern = "/v1/me/venues",
     .audience = HTTP_USER,
     .min_role = AUTH_ANY,
     .handler = me_venues},
};

int auth_session_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
