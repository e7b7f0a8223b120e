/* SPDX-License-Identifier: MIT */
/*
 * pairing.c — how a screen joins a venue (spec §8, §25.2, §25.3, §26.5, §27.7; issue 7):
 *
 *   POST /v1/devices/pairing/start                    public, rate class pairing_ip
 *   GET  /v1/devices/pairing/status                   public, Authorization: Bearer <pollToken>
 *   POST /v1/venues/{venueId}/devices/pairing/claim   VENUE_MANAGER, rate class mutation
 *
 * DESIGN
 * The player starts a pairing and shows its code; a person types the code into the console
 * (claim), which creates the device at once (ACTIVE, in the chosen venue and group) and marks
 * the pairing CLAIMED; the player's next status poll completes it: in one transaction the
 * device token (§25.3 claims, signed like user tokens, device_token_ttl_s) is issued, its
 * SHA-256 stored in device_auth_tokens, and the pairing set COMPLETED, so the token is handed
 * out exactly once — a lost answer means pairing again.
 *
 * Codes are 8 characters of a 24-letter alphabet without look-alikes (no 0/O, 1/I, 2/Z,
 * 5/S, 6/G, 8/B; upper-case L stays), drawn with libsodium, shown as XXXX-XXXX and read back in any
 * case, with or without the dash: 24^8 ≈ 1.1e11 codes. The partial unique index on live (PENDING,
 * CLAIMED) codes decides collisions (INSERT … ON CONFLICT DO NOTHING, then another code), so a code
 * names one live pairing however many marqueed processes make them.
 *
 * The code is what a person reads off a screen, so it must not be enough to collect the
 * token: the player also gets a poll token, `pt_<pairingId>_<43 base64url chars>` (256 random
 * bits), of which the store keeps only the SHA-256. The id inside is the lookup key (a primary
 * key read, not a scan of hashes) and the hash is compared in constant time.
 *
 * Lifetimes. A PENDING pairing expires pairing_code_ttl_s after its start; nothing waits for
 * the moment: every read that finds it past its time (status, claim, a start that draws its
 * code) marks it EXPIRED in the same transaction, and the ticker's "pairing-expiry" task
 * (every minute) marks the rest. A new start for the same hardware id expires the older
 * PENDING ones: the screen shows one code at a time. A CLAIMED pairing does not expire
 * (§26.5: only PENDING → EXPIRED): its device exists, and the player may collect the token
 * whenever it next polls; if the device was removed (or disabled, or its tenant) by then, the
 * poll answers EXPIRED instead and the player pairs again.
 *
 * What a claim tells about a code it cannot use is limited to live codes and those whose
 * pairing ended within the last day (409 claimed or completed, 410 expired); anything else
 * is 404, the same as a code never issued. Every refused claim is audited (device.paired,
 * FAILURE), so guessing leaves a trail per user. Tokens, poll tokens and codes are never
 * logged or audited.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "audit.h"
#include "auth/auth.h"
#include "clock.h"
#include "devices/devices-internal.h"
#include "devices/devices.h"
#include "hash.h"
#include "ids.h"
#include "macro.h"
#include "publishing/publishing.h"
#include "tenancy/admin-internal.h"
#include "ticker.h"

#define CODE_ALPHABET     "ACDEFHJKLMNPQRTUVWXY3479"
#define CODE_LEN          8
#define CODE_INPUT_MAX    32 /* bytes of a typed code, dashes and spaces included */
#define CODE_ATTEMPTS     8  /* fresh codes tried before giving up (503) */
#define POLL_PREFIX       "pt_"
#define POLL_SECRET_LEN   43 /* base64url of 32 bytes, no padding */
#define POLL_TOKEN_LEN    (3 + 36 + 1 + POLL_SECRET_LEN)
#define POLL_INTERVAL_S   5
#define HARDWARE_ID_MAX   128
#define APP_VERSION_MAX   64
#define DEVICE_MODEL_MAX  128
#define DEVICE_NAME_MAX   200
#define ENDED_RECENTLY_MS (24LL * 3600 * 1000) /* how long a claim still says 409/410 */
#define PENDING_MAX       10000 /* live PENDING pairings at once, all clients together */
#define PAIRING_KEEP_MS   (7 * 24LL * 3600 * 1000) /* ended pairings are deleted after that */

/* ---- codes and poll tokens (pure) -------------------------------------------------------- */

static void code_make(char out[CODE_LEN + 1])
{
    for (size_t i = 0; i < CODE_LEN; i++)
        out[i] = CODE_ALPHABET[randombytes_uniform(sizeof(CODE_ALPHABET) - 1)];
    out[CODE_LEN] = '\0';
}

/* "ACDE-FHJK": how a code is shown. */
static void code_display(const char *code, char out[CODE_LEN + 2])
{
    snprintf(out, CODE_LEN + 2, "%.4s-%.4s", code, code + 4);
}

/* A typed code as stored: dashes and spaces dropped, letters upper-cased; -EINVAL unless
 * exactly CODE_LEN characters of the alphabet remain. @out untouched on failure. */
static int code_normalize(const char *in, char out[CODE_LEN + 1])
{
    char code[CODE_LEN + 1];
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char ch = *p;
        if (ch == '-' || ch == ' ')
            continue;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (n == CODE_LEN || !strchr(CODE_ALPHABET, ch))
            return -EINVAL;
        code[n++] = ch;
    }
    if (n != CODE_LEN)
        return -EINVAL;
    code[n] = '\0';
    memcpy(out, code, sizeof(code));
    return 0;
}

/* A new poll token of pairing @pairing_id. */
static void poll_token_make(const char *pairing_id, char out[POLL_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    int n = snprintf(out, POLL_TOKEN_LEN + 1, POLL_PREFIX "%s_", pairing_id);
    sodium_bin2base64(out + n, POLL_TOKEN_LEN + 1 - (size_t)n, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

/* The pairing id inside a poll token; -EINVAL when it is not shaped like one. */
static int poll_token_pairing(const char *token, char ret[UUID_STR_LEN])
{
    if (strlen(token) != POLL_TOKEN_LEN || strncmp(token, POLL_PREFIX, 3) != 0 || token[39] != '_')
        return -EINVAL;
    char id[UUID_STR_LEN];
    memcpy(id, token + 3, 36);
    id[36] = '\0';
    if (!ids_is_uuid(id))
        return -EINVAL;
    memcpy(ret, id, sizeof(id));
    return 0;
}

/* True if @s is text without control characters; with @ascii, printable ASCII only. */
static bool text_printable(const char *s, bool ascii)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f || (ascii && ch > 0x7f))
            return false;
    }
    return true;
}

/* ---- start ------------------------------------------------------------------------------- */

struct start_tx {
    struct app *app;
    const char *hardware_id, *app_version, *device_model;
    char pairing_id[UUID_STR_LEN];
    char secret_hash[HASH_SHA256_HEX_LEN];
    char now[TIMESTAMP_STR_LEN], expires[TIMESTAMP_STR_LEN];
    char code[CODE_LEN + 1];
    bool busy; /* PENDING_MAX reached: 503 */
};

static int start_tx(struct store_conn *c, void *ud)
{
    struct start_tx *x = ud;
    /* anyone may start pairings: at most PENDING_MAX live at once, whoever asks (the per-IP
     * limit bounds one client, this bounds them all) */
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT count(*) FROM device_pairings WHERE status = 'PENDING' AND "
                       "expires_at_utc > $1",
                       (struct store_param[]){STORE_TEXT(x->now)}, 1, &res);
    if (r < 0)
        return r;
    int64_t live = 0;
    store_result_int(res, 0, 0, &live);
    store_result_free(res);
    if (live >= PENDING_MAX) {
        x->busy = true;
        return 0;
    }
    /* the screen shows one code at a time: a new start retires the hardware's older ones */
    r = store_exec(c,
                   "UPDATE device_pairings SET status = 'EXPIRED', updated_at_utc = $2 "
                   "WHERE device_hardware_id = $1 AND status = 'PENDING'",
                   (struct store_param[]){STORE_TEXT(x->hardware_id), STORE_TEXT(x->now)}, 2, NULL);
    for (unsigned attempt = 0; r >= 0 && attempt < CODE_ATTEMPTS; attempt++) {
        code_make(x->code);
        /* a pairing past its time that nobody has read since still holds its code */
        r = store_exec(c,
                       "UPDATE device_pairings SET status = 'EXPIRED', updated_at_utc = $2 "
                       "WHERE pairing_code = $1 AND status = 'PENDING' AND expires_at_utc <= $2",
                       (struct store_param[]){STORE_TEXT(x->code), STORE_TEXT(x->now)}, 2, NULL);
        if (r < 0)
            break;
        const struct store_param p[] = {
            STORE_TEXT(x->pairing_id),   STORE_TEXT(x->code),    STORE_TEXT(x->hardware_id),
            STORE_TEXT(x->secret_hash),  STORE_TEXT(x->expires), STORE_TEXT(x->app_version),
            STORE_TEXT(x->device_model), STORE_TEXT(x->now),
        };
        r = store_exec(c,
                       "INSERT INTO device_pairings (pairing_id, pairing_code, "
                       "device_hardware_id, device_secret_hash, status, expires_at_utc, "
                       "app_version, device_model, created_at_utc, updated_at_utc) VALUES ($1, "
                       "$2, $3, $4, 'PENDING', $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING",
                       p, ARRAY_SIZE(p), NULL);
        if (r == 1)
            return 0;
    }
    /* eight live codes in a row out of 1.1e11: the table is full of them, or an attack */
    return r < 0 ? r : -EBUSY;
}

static int pairing_start(struct http_request *req, void *ud)
{
    static const char *const allowed[] = {"deviceHardwareId", "appVersion", "deviceModel", NULL};
    struct start_tx x = {.app = ud};
    int r;
    if ((r = http_body_allow(req, allowed)) < 0 ||
        (r = http_body_string(req, "deviceHardwareId", true, HARDWARE_ID_MAX, &x.hardware_id)) <
            0 ||
        (r = adm_body_text(req, "appVersion", false, APP_VERSION_MAX, &x.app_version)) < 0 ||
        (r = adm_body_text(req, "deviceModel", false, DEVICE_MODEL_MAX, &x.device_model)) < 0)
        return r;
    if (!text_printable(x.hardware_id, true))
        return http_field_problem(req, 400, "INVALID_FIELD", "deviceHardwareId",
                                  "must be printable ASCII");
    if (x.app_version && !text_printable(x.app_version, false))
        return http_field_problem(req, 400, "INVALID_FIELD", "appVersion",
                                  "must not hold control characters");
    if (x.device_model && !text_printable(x.device_model, false))
        return http_field_problem(req, 400, "INVALID_FIELD", "deviceModel",
                                  "must not hold control characters");

    ids_uuid(x.pairing_id);
    char poll[POLL_TOKEN_LEN + 1];
    poll_token_make(x.pairing_id, poll);
    hash_sha256_hex(poll, strlen(poll), x.secret_hash);
    int64_t now = clock_now_ms();
    ids_timestamp(now, x.now);
    ids_timestamp(now + x.app->cfg.pairing_code_ttl_s * 1000, x.expires);
    r = store_tx(x.app->store, 0, start_tx, &x);
    if (r < 0 || x.busy) {
        sodium_memzero(poll, sizeof(poll));
        if (r < 0)
            return r;
        http_reply_header(req, "Retry-After", "60");
        return http_reply_problem(req, 503, "PAIRING_BUSY",
                                  "Too many pairings are waiting to be claimed; try again later.",
                                  NULL);
    }
    char shown[CODE_LEN + 2];
    code_display(x.code, shown);
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:i}", "pairingId", x.pairing_id, "pairingCode",
                             shown, "expiresAtUtc", x.expires, "pollToken", poll,
                             "pollIntervalSeconds", POLL_INTERVAL_S);
    sodium_memzero(poll, sizeof(poll));
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, 201, body);
}

/* ---- status ------------------------------------------------------------------------------ */

enum pairing_col {
    PC_STATUS,
    PC_EXPIRES,
    PC_SECRET_HASH,
    PC_TENANT,
    PC_VENUE,
    PC_DEVICE,
    PC_NAME,
};

struct status_tx {
    struct app *app;
    struct http_request *req;
    char pairing_id[UUID_STR_LEN];
    char secret_hash[HASH_SHA256_HEX_LEN];
    bool in_tx;   /* may change the pairing (else it only reads) */
    bool need_tx; /* a read found a change to make: run again in a transaction */
    json_t *body; /* the answer; NULL: no such pairing */
    char *token;  /* the device token, when this poll completed the pairing */
    char token_expires[TIMESTAMP_STR_LEN];
};

/* Sets a pairing from @from to EXPIRED. */
static int pairing_expire_one(struct store_conn *c, const char *pairing_id, const char *from,
                              const char *now)
{
    int r = store_exec(
        c,
        "UPDATE device_pairings SET status = 'EXPIRED', updated_at_utc = $3 "
        "WHERE pairing_id = $1 AND status = $2",
        (struct store_param[]){STORE_TEXT(pairing_id), STORE_TEXT(from), STORE_TEXT(now)}, 3, NULL);
    return r < 0 ? r : 0;
}

/* 1 if the device a claim made is still registered as it was made (the guard's rule for its
 * token), 0 if not, -errno. */
static int device_still_live(struct store_conn *c, const char *tenant_id, const char *venue_id,
                             const char *device_id)
{
    struct token_claims cl = {.device = true};
    snprintf(cl.tid, sizeof(cl.tid), "%s", tenant_id);
    snprintf(cl.vid, sizeof(cl.vid), "%s", venue_id);
    snprintf(cl.did, sizeof(cl.did), "%s", device_id);
    return auth_device_live(c, &cl);
}

/* CLAIMED → COMPLETED: the device token, its hash stored, the pairing done. *@ret_status is
 * what the pairing is afterwards (another poll may have completed it first). */
static int pairing_complete(struct store_conn *c, struct status_tx *x, const char *tenant_id,
                            const char *venue_id, const char *device_id, const char *now,
                            const char **ret_status)
{
    int r = store_exec(c,
                       "UPDATE device_pairings SET status = 'COMPLETED', completed_at_utc = $2, "
                       "updated_at_utc = $2 WHERE pairing_id = $1 AND status = 'CLAIMED'",
                       (struct store_param[]){STORE_TEXT(x->pairing_id), STORE_TEXT(now)}, 2, NULL);
    if (r < 0)
        return r;
    *ret_status = "COMPLETED";
    if (r == 0)
        return 0; /* a concurrent poll won: it carries the token */

    int64_t now_s = clock_now_ms() / 1000;
    struct token_claims cl = {.device = true, .iat = now_s};
    cl.exp = now_s + x->app->cfg.device_token_ttl_s;
    snprintf(cl.did, sizeof(cl.did), "%s", device_id);
    snprintf(cl.vid, sizeof(cl.vid), "%s", venue_id);
    snprintf(cl.tid, sizeof(cl.tid), "%s", tenant_id);
    char *token =
        token_issue(x->app->token_keys, &cl, x->app->cfg.jwt_issuer, x->app->cfg.jwt_audience);
    char hash[HASH_SHA256_HEX_LEN], id[UUID_STR_LEN];
    hash_sha256_hex(token, strlen(token), hash);
    ids_uuid(id);
    ids_timestamp(cl.exp * 1000, x->token_expires);
    const struct store_param p[] = {
        STORE_TEXT(id),   STORE_TEXT(tenant_id), STORE_TEXT(venue_id),        STORE_TEXT(device_id),
        STORE_TEXT(hash), STORE_TEXT(now),       STORE_TEXT(x->token_expires)};
    r = store_exec(c,
                   "INSERT INTO device_auth_tokens (device_auth_token_id, tenant_id, venue_id, "
                   "device_id, token_hash, status, issued_at_utc, expires_at_utc, "
                   "created_at_utc, updated_at_utc) VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $7, "
                   "$6, $6)",
                   p, ARRAY_SIZE(p), NULL);
    if (r >= 0) {
        json_auto_t *details = json_pack("{s:s,s:s}", "pairingId", x->pairing_id,
                                         "tokenExpiresAtUtc", x->token_expires);
        struct audit_entry a = {.tenant_id = tenant_id,
                                .actor_type = "DEVICE",
                                .actor_id = device_id,
                                .action = "device.token_issued",
                                .resource_type = "DEVICE",
                                .resource_id = device_id,
                                .venue_id = venue_id,
                                .details = details};
        r = audit_write(c, x->req, &a);
    }
    if (r < 0) {
        sodium_memzero(token, strlen(token));
        free(token);
        return r;
    }
    x->token = token;
    return 0;
}

static void status_tx_reset(struct status_tx *x)
{
    json_decref(x->body);
    x->body = NULL;
    if (x->token) {
        sodium_memzero(x->token, strlen(x->token));
        free(x->token);
        x->token = NULL;
    }
}

/* Reads the pairing and answers; in a transaction (@x->in_tx) also makes the change the
 * reading calls for (PENDING past its time → EXPIRED, CLAIMED → COMPLETED or EXPIRED), which
 * a read alone leaves to a transaction (@x->need_tx): most polls find nothing to change and
 * take no write lock. */
static int status_tx(struct store_conn *c, void *ud)
{
    struct status_tx *x = ud;
    status_tx_reset(x);
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT status, expires_at_utc, device_secret_hash, claimed_tenant_id, "
                       "claimed_venue_id, resulting_device_id, claimed_name FROM device_pairings "
                       "WHERE pairing_id = $1",
                       (struct store_param[]){STORE_TEXT(x->pairing_id)}, 1, &res);
    if (r < 0)
        return r;
    const char *hash =
        store_result_rows(res) == 1 ? store_result_text(res, 0, PC_SECRET_HASH) : NULL;
    if (!hash || strlen(hash) != HASH_SHA256_HEX_LEN - 1 ||
        sodium_memcmp(hash, x->secret_hash, HASH_SHA256_HEX_LEN - 1) != 0) {
        store_result_free(res);
        return 0;
    }
#define T(col) store_result_text(res, 0, (col))
    const char *status = T(PC_STATUS);
    bool late = !strcmp(status, "PENDING") && strcmp(T(PC_EXPIRES), now) <= 0;
    if (!x->in_tx && (late || !strcmp(status, "CLAIMED"))) {
        x->need_tx = true;
        store_result_free(res);
        return 0;
    }
    if (late) {
        r = pairing_expire_one(c, x->pairing_id, "PENDING", now);
        status = "EXPIRED";
    } else if (!strcmp(status, "CLAIMED")) {
        r = device_still_live(c, T(PC_TENANT), T(PC_VENUE), T(PC_DEVICE));
        if (r == 0) {
            r = pairing_expire_one(c, x->pairing_id, "CLAIMED", now);
            status = "EXPIRED";
        } else if (r > 0) {
            r = pairing_complete(c, x, T(PC_TENANT), T(PC_VENUE), T(PC_DEVICE), now, &status);
        }
    }
    if (r >= 0) {
        x->body = json_pack("{s:s,s:s,s:s}", "pairingId", x->pairing_id, "status", status,
                            "expiresAtUtc", T(PC_EXPIRES));
        if (!strcmp(status, "COMPLETED")) {
            json_object_set_new(x->body, "deviceId", adm_jstr(T(PC_DEVICE)));
            json_object_set_new(x->body, "venueId", adm_jstr(T(PC_VENUE)));
            json_object_set_new(x->body, "tenantId", adm_jstr(T(PC_TENANT)));
            /* the name the claim gave: the player's error card shows it (§28.4 ERROR_SCREEN) */
            json_object_set_new(x->body, "deviceName", adm_jstr(T(PC_NAME)));
        } else if (strcmp(status, "EXPIRED") != 0)
            json_object_set_new(x->body, "pollIntervalSeconds", json_integer(POLL_INTERVAL_S));
    }
#undef T
    store_result_free(res);
    return r < 0 ? r : 0;
}

static int pairing_status(struct http_request *req, void *ud)
{
    struct status_tx x = {.app = ud, .req = req};
    const char *h = http_req_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return http_reply_problem(req, 400, "POLL_TOKEN_REQUIRED",
                                  "Send the pollToken of the pairing as a bearer token.", NULL);
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    if (poll_token_pairing(token, x.pairing_id) < 0)
        return http_reply_problem(req, 404, "PAIRING_NOT_FOUND",
                                  "No pairing answers to this poll token.", NULL);
    hash_sha256_hex(token, strlen(token), x.secret_hash);
    struct store_conn *c = NULL;
    int r = store_acquire(x.app->store, &c);
    if (r >= 0) {
        r = status_tx(c, &x);
        store_release(c);
    }
    if (r >= 0 && x.need_tx) {
        x.in_tx = true;
        r = store_tx(x.app->store, 0, status_tx, &x);
    }
    if (r < 0) {
        status_tx_reset(&x);
        return r;
    }
    if (!x.body)
        return http_reply_problem(req, 404, "PAIRING_NOT_FOUND",
                                  "No pairing answers to this poll token.", NULL);
    if (x.token) {
        json_object_set_new(x.body, "deviceToken", json_string(x.token));
        json_object_set_new(x.body, "deviceTokenExpiresAtUtc", json_string(x.token_expires));
    }
    json_t *body = TAKE_PTR(x.body);
    status_tx_reset(&x);
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_json(req, 200, body);
}

/* ---- claim ------------------------------------------------------------------------------- */

enum claim_outcome {
    CLAIM_OK,
    CLAIM_UNKNOWN,   /* 404: no live code, nor one that ended lately */
    CLAIM_EXPIRED,   /* 410 */
    CLAIM_TAKEN,     /* 409: claimed or completed already */
    CLAIM_BAD_GROUP, /* 422: groupId is not a live group of the venue */
};

static const struct {
    unsigned status;
    const char *code, *detail;
} claim_refusals[] = {
    [CLAIM_UNKNOWN] = {404, "PAIRING_CODE_NOT_FOUND", "No screen is waiting with this code."},
    [CLAIM_EXPIRED] = {410, "PAIRING_EXPIRED",
                       "This code has expired: start pairing again on the screen."},
    [CLAIM_TAKEN] = {409, "PAIRING_ALREADY_CLAIMED", "This code has been claimed already."},
};

struct claim_tx {
    struct app *app;
    struct http_request *req;
    const struct auth_actor *actor;
    const char *venue_id, *name, *group_id;
    char code[CODE_LEN + 1];
    char device_id[UUID_STR_LEN];
    enum claim_outcome outcome;
    json_t *device;
};

/* 1 if @group_id is a live group of the claim's venue (then locked against a concurrent delete
 * until the claim commits: device_group_lock), 0 if not, -errno. */
static int group_of_venue(struct store_conn *c, const struct claim_tx *x)
{
    if (!ids_is_uuid(x->group_id))
        return 0;
    return device_group_lock(c, x->actor->claims.tid, x->venue_id, x->group_id);
}

/* The outcome for a code with no live pairing: what its latest pairing that ended within the
 * last day became (its id in @ret_id), else unknown. */
static int claim_ended(struct store_conn *c, struct claim_tx *x, char ret_id[UUID_STR_LEN])
{
    char since[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms() - ENDED_RECENTLY_MS, since);
    struct store_result *res = NULL;
    /* the (status, expires_at_utc) index bounds this to a day of pairings */
    int r = store_exec(c,
                       "SELECT status, pairing_id FROM device_pairings WHERE status IN "
                       "('EXPIRED', 'COMPLETED') AND expires_at_utc > $2 AND pairing_code = $1 "
                       "ORDER BY expires_at_utc DESC LIMIT 1",
                       (struct store_param[]){STORE_TEXT(x->code), STORE_TEXT(since)}, 2, &res);
    if (r < 0)
        return r;
    x->outcome = CLAIM_UNKNOWN;
    if (store_result_rows(res) == 1) {
        x->outcome =
            !strcmp(store_result_text(res, 0, 0), "COMPLETED") ? CLAIM_TAKEN : CLAIM_EXPIRED;
        snprintf(ret_id, UUID_STR_LEN, "%s", store_result_text(res, 0, 1));
    }
    store_result_free(res);
    return 0;
}

/* The audit entry of a claim, whatever its outcome (never the code). */
static int claim_audit(struct store_conn *c, const struct claim_tx *x, const char *pairing_id,
                       json_t *details)
{
    bool ok = x->outcome == CLAIM_OK;
    if (!ok)
        json_object_set_new(details, "reason", json_string(claim_refusals[x->outcome].code));
    struct audit_entry a = {.tenant_id = x->actor->claims.tid,
                            .actor_type = "USER",
                            .actor_id = x->actor->claims.sub,
                            .action = "device.paired",
                            .outcome = ok ? "SUCCESS" : "FAILURE",
                            .resource_type = ok ? "DEVICE" : "DEVICE_PAIRING",
                            .resource_id = ok ? x->device_id : pairing_id,
                            .venue_id = x->venue_id,
                            .details = details};
    return audit_write(c, x->req, &a);
}

/* The outcome for a pairing that stopped being PENDING while the claim looked at it. */
static int claim_lost(struct store_conn *c, struct claim_tx *x, const char *pairing_id)
{
    struct store_result *res = NULL;
    int r = store_exec(c, "SELECT status FROM device_pairings WHERE pairing_id = $1",
                       (struct store_param[]){STORE_TEXT(pairing_id)}, 1, &res);
    if (r < 0)
        return r;
    const char *status = store_result_rows(res) == 1 ? store_result_text(res, 0, 0) : "";
    x->outcome = !strcmp(status, "EXPIRED") ? CLAIM_EXPIRED : CLAIM_TAKEN;
    store_result_free(res);
    return 0;
}

/* PENDING → CLAIMED, and the device it makes. */
static int claim_apply(struct store_conn *c, struct claim_tx *x, const struct store_result *p,
                       const char *now)
{
    const char *tid = x->actor->claims.tid, *uid = x->actor->claims.sub;
    const char *pairing_id = store_result_text(p, 0, 0);
    const struct store_param up[] = {STORE_TEXT(pairing_id),  STORE_TEXT(uid), STORE_TEXT(tid),
                                     STORE_TEXT(x->venue_id), STORE_TEXT(now), STORE_TEXT(x->name),
                                     STORE_TEXT(x->group_id)};
    /* guarded by the status: of two claims racing for one code, one changes the row */
    int r = store_exec(c,
                       "UPDATE device_pairings SET status = 'CLAIMED', claimed_by_user_id = $2, "
                       "claimed_tenant_id = $3, claimed_venue_id = $4, claimed_at_utc = $5, "
                       "claimed_name = $6, claimed_group_id = $7, updated_at_utc = $5 "
                       "WHERE pairing_id = $1 AND status = 'PENDING'",
                       up, ARRAY_SIZE(up), NULL);
    if (r < 0)
        return r;
    if (r == 0) /* another claim, or a start that superseded it, came first */
        return claim_lost(c, x, pairing_id);
    const char *hardware = store_result_text(p, 0, 3), *app_version = store_result_text(p, 0, 4);
    const struct store_param dp[] = {
        STORE_TEXT(x->device_id), STORE_TEXT(tid),         STORE_TEXT(x->venue_id),
        STORE_TEXT(x->name),      STORE_TEXT(x->group_id), STORE_TEXT(hardware),
        STORE_TEXT(app_version),  STORE_TEXT(uid),         STORE_TEXT(now)};
    r = store_exec(c,
                   "INSERT INTO devices (device_id, tenant_id, venue_id, name, primary_group_id, "
                   "status, device_hardware_id, app_version, created_by_user_id, "
                   "created_at_utc, updated_at_utc) VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, "
                   "$7, $8, $9, $9)",
                   dp, ARRAY_SIZE(dp), NULL);
    if (r < 0)
        return r;
    r = store_exec(c, "UPDATE device_pairings SET resulting_device_id = $2 WHERE pairing_id = $1",
                   (struct store_param[]){STORE_TEXT(pairing_id), STORE_TEXT(x->device_id)}, 2,
                   NULL);
    if (r < 0)
        return r;
    x->outcome = CLAIM_OK;
    json_auto_t *details =
        json_pack("{s:s,s:s,s:o,s:s,s:o,s:o}", "pairingId", pairing_id, "name", x->name, "groupId",
                  adm_jstr(x->group_id), "deviceHardwareId", hardware, "appVersion",
                  adm_jstr(app_version), "deviceModel", adm_jstr(store_result_text(p, 0, 5)));
    struct change ch = {.tenant_id = tid,
                        .entity_type = "DEVICE",
                        .entity_id = x->device_id,
                        .venue_id = x->venue_id,
                        .action = "created",
                        .version = -1,
                        .actor_user_id = uid};
    if ((r = claim_audit(c, x, pairing_id, details)) < 0 || (r = changes_append(c, &ch, NULL)) < 0)
        return r;
    struct store_result *res = NULL;
    r = store_exec(c,
                   "SELECT " DEVICE_COLS " FROM devices d WHERE d.tenant_id = $1 AND "
                   "d.device_id = $2",
                   (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(x->device_id)}, 2, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) == 1)
        x->device = device_json(res, 0);
    store_result_free(res);
    return x->device ? 0 : -ENOTRECOVERABLE;
}

static int claim_tx(struct store_conn *c, void *ud)
{
    struct claim_tx *x = ud;
    json_decref(x->device);
    x->device = NULL;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    int r;
    if (x->group_id && (r = group_of_venue(c, x)) <= 0) {
        x->outcome = CLAIM_BAD_GROUP;
        return r;
    }
    struct store_result *res = NULL;
    /* the live pairing of the code: the partial unique index holds at most one */
    r = store_exec(c,
                   "SELECT pairing_id, status, expires_at_utc, device_hardware_id, app_version, "
                   "device_model FROM device_pairings WHERE pairing_code = $1 AND status IN "
                   "('PENDING', 'CLAIMED')",
                   (struct store_param[]){STORE_TEXT(x->code)}, 1, &res);
    if (r < 0)
        return r;
    const char *pairing_id = NULL;
    char ended_id[UUID_STR_LEN] = "";
    if (store_result_rows(res) == 0) {
        r = claim_ended(c, x, ended_id);
        pairing_id = ended_id[0] ? ended_id : NULL;
    } else {
        pairing_id = store_result_text(res, 0, 0);
        const char *status = store_result_text(res, 0, 1);
        if (!strcmp(status, "CLAIMED")) {
            x->outcome = CLAIM_TAKEN;
        } else if (strcmp(store_result_text(res, 0, 2), now) <= 0) {
            x->outcome = CLAIM_EXPIRED;
            r = pairing_expire_one(c, pairing_id, "PENDING", now);
        } else {
            r = claim_apply(c, x, res, now);
        }
    }
    if (r >= 0 && x->outcome != CLAIM_OK) {
        json_auto_t *details = json_object();
        r = claim_audit(c, x, pairing_id, details);
    }
    store_result_free(res);
    return r < 0 ? r : 0;
}

static int pairing_claim(struct http_request *req, void *ud)
{
    static const char *const allowed[] = {"pairingCode", "name", "groupId", NULL};
    struct claim_tx x = {.app = ud,
                         .req = req,
                         .actor = auth_actor(req),
                         .venue_id = http_req_param(req, "venueId")};
    const char *code;
    int r;
    if ((r = http_body_allow(req, allowed)) < 0 ||
        (r = http_body_string(req, "pairingCode", true, CODE_INPUT_MAX, &code)) < 0 ||
        (r = adm_body_text(req, "name", true, DEVICE_NAME_MAX, &x.name)) < 0 ||
        (r = http_body_string(req, "groupId", false, UUID_STR_LEN, &x.group_id)) < 0)
        return r;
    if (code_normalize(code, x.code) < 0)
        return http_field_problem(req, 400, "INVALID_FIELD", "pairingCode",
                                  "must be the 8 characters the screen shows (XXXX-XXXX)");
    if (!text_printable(x.name, false))
        return http_field_problem(req, 400, "INVALID_FIELD", "name",
                                  "must not hold control characters");
    ids_uuid(x.device_id);
    r = store_tx(x.app->store, 0, claim_tx, &x);
    if (r < 0) {
        json_decref(x.device);
        return r;
    }
    if (x.outcome == CLAIM_BAD_GROUP)
        return http_field_problem(req, 422, "INVALID_GROUP", "groupId",
                                  "is not a group of this venue");
    if (x.outcome != CLAIM_OK)
        return http_reply_problem(req, claim_refusals[x.outcome].status,
                                  claim_refusals[x.outcome].code, claim_refusals[x.outcome].detail,
                                  NULL);
    char loc[160];
    snprintf(loc, sizeof(loc), "/v1/venues/%s/devices/%s", x.venue_id, x.device_id);
    http_reply_header(req, "Location", loc);
    return http_reply_json(req, 201, x.device);
}

/* ---- expiry and registration ------------------------------------------------------------- */

/* The ticker's "pairing-expiry" task, once a minute: every PENDING pairing whose code expired
 * (reads expire what they find anyway); and the ended ones a week past their code's expiry
 * are deleted — anyone may start pairings, so they must not pile up (the audit log keeps
 * what was paired). */
static int expiry_task(struct app *app, int64_t now_ms, json_t **ret)
{
    char now[TIMESTAMP_STR_LEN], old[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms, now);
    ids_timestamp(now_ms - PAIRING_KEEP_MS, old);
    int r = store_query(app->store,
                        "UPDATE device_pairings SET status = 'EXPIRED', updated_at_utc = $1 "
                        "WHERE status = 'PENDING' AND expires_at_utc <= $1",
                        (struct store_param[]){STORE_TEXT(now)}, 1, NULL);
    int gone = r < 0 ? r
                     : store_query(app->store,
                                   "DELETE FROM device_pairings WHERE status IN ('EXPIRED', "
                                   "'COMPLETED') AND expires_at_utc < $1",
                                   (struct store_param[]){STORE_TEXT(old)}, 1, NULL);
    if (gone < 0)
        return gone;
    if (ret)
        *ret = json_pack("{s:i,s:i}", "expired", r, "deleted", gone);
    return 0;
}

/* clang-format off */
static const struct http_route routes[] = {
    {.method = HTTP_POST, .pattern = "/v1/devices/pairing/start", .audience = HTTP_PUBLIC,
     .rate_class = "pairing_ip", .flags = HTTP_BODY_JSON, .max_body = 4096,
     .handler = pairing_start},
    {.method = HTTP_GET, .pattern = "/v1/devices/pairing/status", .audience = HTTP_PUBLIC,
     .handler = pairing_status},
    {.method = HTTP_POST, .pattern = "/v1/venues/{venueId}/devices/pairing/claim",
     .audience = HTTP_USER, .min_role = AUTH_VENUE_MANAGER, .rate_class = "mutation",
     .flags = HTTP_BODY_JSON, .max_body = 4096, .handler = pairing_claim},
};
/* clang-format on */

int pairing_register(struct app *app)
{
    static const struct ticker_task expiry = {"pairing-expiry", 60000, expiry_task};
    int r = ticker_add(app, &expiry);
    return r < 0 ? r : http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
