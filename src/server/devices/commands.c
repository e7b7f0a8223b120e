/* SPDX-License-Identifier: MIT */
/*
 * commands.c — remote support commands (spec §18, §26.10, §27.6, §27.8, §28.7, §29.4.8; issue
 * 7): a venue manager queues a command for one device, the player fetches its pending commands
 * in order and reports each one's result, and the venue's users read the history. The
 * contract is in docs/devices.md, "Remote commands".
 *
 * DESIGN
 * Lifecycle: PENDING → DELIVERED (the player fetched it) → SUCCEEDED | FAILED (its result), or
 * EXPIRED: a PENDING command at its expires_at_utc, a DELIVERED one still without a result
 * RESULT_GRACE_S after that (the device has it and may be carrying it out at a safe boundary,
 * across the restart REBOOT_APP asks for, say). SUCCEEDED, FAILED and EXPIRED are final.
 * Expiry is applied lazily by every request that reads or writes a device's commands (one
 * UPDATE on the device's index) and by the ticker's "command-expiry" task every minute, so no
 * answer shows or delivers a command past its time whether the job ran or not.
 *
 * Order: seq numbers a device's commands 1, 2, 3 … (unique (device_id, seq)). Issuing first
 * takes the device's row lock with a no-op UPDATE, which also says whether the device is live
 * in the venue, then reads max(seq) + 1: concurrent issues to one device queue on that lock,
 * and on PostgreSQL (READ COMMITTED) the second one's read sees the first one's row, so the
 * numbers are consecutive. A unique violation all the same (a writer that skipped the lock)
 * runs the transaction again. The same lock makes the bound on live commands exact.
 *
 * Delivery: GET /v1/player/commands marks at most POLL_MAX of the device's PENDING, unexpired
 * commands DELIVERED with one UPDATE … WHERE status = 'PENDING' RETURNING, and answers them in
 * seq order: two polls racing on PostgreSQL cannot both deliver a command (the second one
 * re-checks the status once the first commits). A poll that finds nothing pending costs one
 * indexed read and no write. Commands are delivered in the venue they were issued in only.
 *
 * Results: the first result of a DELIVERED command is kept; the same one again answers 200
 * (the device did not hear the first answer), a different one 409. Issue and result are
 * audited (command.issued by the user, command.completed by the device) and appended to the
 * change feed (DEVICE, "command"), so a console showing the device knows to look again;
 * expiry and delivery are not.
 */
#include "devices/devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "audit.h"
#include "auth/auth.h"
#include "clock.h"
#include "ids.h"
#include "jsonx.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"
#include "publishing/publishing.h"
#include "store/store.h"
#include "tenancy/admin-internal.h"
#include "ticker.h"

#define LIVE_MAX          100    /* PENDING + DELIVERED commands a device may have */
#define POLL_MAX          50     /* commands one poll delivers */
#define RESULT_GRACE_S    900    /* how long past expiry a DELIVERED command waits for its result */
#define TTL_MIN_S         60     /* ttlSeconds bounds (the command_ttl_s setting's too) */
#define TTL_MAX_S         604800 /* a week */
#define LOG_DURATION_MIN  60     /* SET_LOG_LEVEL durationSeconds bounds */
#define LOG_DURATION_MAX  86400
#define RESULT_MAX_BYTES  4096 /* a result object, serialized */
#define ERROR_CODE_MAX    64   /* characters */
#define ERROR_MESSAGE_MAX 1000 /* characters */
#define ISSUE_BODY_MAX    4096
#define RESULT_BODY_MAX   16384
#define STATUS_LEN        16

static const char *const log_levels[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const statuses[] = {"PENDING", "DELIVERED", "SUCCEEDED", "FAILED", "EXPIRED"};
static const char *const outcomes[] = {"SUCCEEDED", "FAILED"};

static const char *one_of(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(list[i], s))
            return list[i];
    return NULL;
}

/* ---- the command as the API shows it ----------------------------------------------------- */

#define COMMAND_COLS                                                                               \
    "command_id, device_id, venue_id, type, parameters_json, status, seq, issued_by_user_id, "     \
    "result_json, error_code, error_message, expires_at_utc, delivered_at_utc, "                   \
    "completed_at_utc, created_at_utc, updated_at_utc"
enum {
    CC_ID,
    CC_DEVICE,
    CC_VENUE,
    CC_TYPE,
    CC_PARAMS,
    CC_STATUS,
    CC_SEQ,
    CC_ISSUED_BY,
    CC_RESULT,
    CC_ERROR_CODE,
    CC_ERROR_MESSAGE,
    CC_EXPIRES,
    CC_DELIVERED,
    CC_COMPLETED,
    CC_CREATED,
    CC_UPDATED,
};

/* Who a command is shown to: a user sees all of it; the player what it needs to act. */
enum view { VIEW_USER, VIEW_DEVICE };

/* A stored JSON document, or @fallback (stolen) when there is none. */
static json_t *stored_json(const char *s, json_t *fallback)
{
    json_t *v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    if (!v)
        return fallback;
    json_decref(fallback);
    return v;
}

static json_t *command_json(const struct store_result *res, size_t i, enum view view)
{
#define T(col) store_result_text(res, i, (col))
    int64_t seq = 0;
    json_t *c = json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "commandId",
        adm_jstr(T(CC_ID)), "deviceId", adm_jstr(T(CC_DEVICE)), "venueId", adm_jstr(T(CC_VENUE)),
        "type", adm_jstr(T(CC_TYPE)), "parameters", stored_json(T(CC_PARAMS), json_object()),
        "status", adm_jstr(T(CC_STATUS)), "seq",
        store_result_int(res, i, CC_SEQ, &seq) == 0 ? json_integer(seq) : json_null(),
        "issuedByUserId", adm_jstr(T(CC_ISSUED_BY)), "result",
        stored_json(T(CC_RESULT), json_null()), "errorCode", adm_jstr(T(CC_ERROR_CODE)),
        "errorMessage", adm_jstr(T(CC_ERROR_MESSAGE)), "expiresAtUtc", adm_jstr(T(CC_EXPIRES)),
        "deliveredAtUtc", adm_jstr(T(CC_DELIVERED)), "completedAtUtc", adm_jstr(T(CC_COMPLETED)),
        "createdAtUtc", adm_jstr(T(CC_CREATED)), "updatedAtUtc", adm_jstr(T(CC_UPDATED)));
#undef T
    if (view == VIEW_DEVICE) {
        json_object_del(c, "venueId");
        json_object_del(c, "issuedByUserId");
    }
    return c;
}

static int command_missing(struct http_request *req)
{
    return http_reply_problem(req, 404, "NOT_FOUND", "No such command.", NULL);
}

static int device_missing(struct http_request *req)
{
    return http_reply_problem(req, 404, "NOT_FOUND", "No such device in this venue.", NULL);
}

/* A refusal made inside a transaction (http_reply_problem's -ECANCELED) commits it: what
 * expiry did stays. Anything else that failed rolls back. */
static int refused(int r)
{
    return r == -ECANCELED ? 0 : r;
}

/* ---- expiry ------------------------------------------------------------------------------ */

/* Marks EXPIRED what is past its time (see DESIGN): one device's commands, or everyone's when
 * @device is NULL. How many, or -errno. */
static int expire(struct store_conn *c, const char *device, int64_t now_ms)
{
    char now[TIMESTAMP_STR_LEN], cutoff[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms, now);
    ids_timestamp(now_ms - RESULT_GRACE_S * 1000LL, cutoff);
#define EXPIRE_SQL                                                                                 \
    "UPDATE device_commands SET status = 'EXPIRED', updated_at_utc = $1 WHERE "                    \
    "status IN ('PENDING', 'DELIVERED') AND expires_at_utc <= $1 AND "                             \
    "(status = 'PENDING' OR expires_at_utc <= $2)"
    if (device)
        return store_exec(
            c, EXPIRE_SQL " AND device_id = $3",
            (struct store_param[]){STORE_TEXT(now), STORE_TEXT(cutoff), STORE_TEXT(device)}, 3,
            NULL);
    return store_exec(c, EXPIRE_SQL, (struct store_param[]){STORE_TEXT(now), STORE_TEXT(cutoff)}, 2,
                      NULL);
#undef EXPIRE_SQL
}

/* The ticker's "command-expiry" task: every command past its time, once a minute. */
static int expiry_task(struct app *app, int64_t now_ms, json_t **ret)
{
    struct store_conn *c;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    r = expire(c, NULL, now_ms);
    store_release(c);
    if (r < 0)
        return r;
    if (r > 0)
        log_json(LOG_INFO, "commands_expired", json_pack("{s:i}", "expired", r));
    if (ret)
        *ret = json_pack("{s:i}", "commandsExpired", r);
    return 0;
}

/* ---- the device -------------------------------------------------------------------------- */

/* The device of the path, live (not removed) in the venue of the path: its status (ACTIVE,
 * DISABLED) in @status. With @lock its row is locked for the rest of the transaction (see
 * DESIGN). 0, -ENOENT, or -errno. */
static int device_find(struct store_conn *c, struct http_request *req, bool lock,
                       char status[STATUS_LEN])
{
    const char *device = http_req_param(req, "deviceId");
    if (!ids_is_uuid(device))
        return -ENOENT;
    const struct store_param p[] = {STORE_TEXT(auth_actor(req)->claims.tid),
                                    STORE_TEXT(http_req_param(req, "venueId")), STORE_TEXT(device)};
    struct store_result *res = NULL;
    int r = store_exec(c,
                       lock ? "UPDATE devices SET updated_at_utc = updated_at_utc WHERE "
                              "tenant_id = $1 AND venue_id = $2 AND device_id = $3 AND "
                              "deleted_at_utc IS NULL RETURNING status"
                            : "SELECT status FROM devices WHERE tenant_id = $1 AND "
                              "venue_id = $2 AND device_id = $3 AND deleted_at_utc IS NULL",
                       p, ARRAY_SIZE(p), &res);
    if (r < 0)
        return r;
    r = store_result_rows(res) == 1 ? 0 : -ENOENT;
    if (r == 0)
        snprintf(status, STATUS_LEN, "%s", store_result_text(res, 0, 0));
    store_result_free(res);
    return r;
}

/* ---- change feed and audit --------------------------------------------------------------- */

static int record(struct store_conn *c, struct http_request *req, const struct audit_entry *a,
                  const char *device, const char *venue, const char *user)
{
    struct change ch = {.tenant_id = a->tenant_id,
                        .entity_type = "DEVICE",
                        .entity_id = device,
                        .venue_id = venue,
                        .action = "command",
                        .version = -1,
                        .actor_user_id = user};
    int r = audit_write(c, req, a);
    return r < 0 ? r : changes_append(c, &ch, NULL);
}

/* ---- POST …/devices/{deviceId}/commands --------------------------------------------------- */

struct issue {
    struct http_request *req;
    const char *type;
    json_t *params; /* normalized */
    int64_t ttl_s;
    char id[UUID_STR_LEN];
    json_t *command; /* the answer */
};

static void field_error(json_t *errors, const char *field, const char *message)
{
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "message", message));
}

/* The parameters of @type: SET_LOG_LEVEL takes {level, durationSeconds?}, the others nothing.
 * Each bad member is added to @errors; *ret is the normalized object. */
static void params_read(const char *type, json_t *in, json_t *errors, json_t **ret)
{
    json_t *out = json_object();
    bool log_level = !strcmp(type, "SET_LOG_LEVEL");
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v)
    {
        if (log_level && (!strcmp(key, "level") || !strcmp(key, "durationSeconds")))
            continue;
        _cleanup_free_ char *field = xasprintf("parameters.%s", key);
        _cleanup_free_ char *message =
            xasprintf("is not a parameter of %s%s", type,
                      log_level ? " (it takes level and durationSeconds)" : " (it takes none)");
        json_array_append_new(
            errors, json_pack("{s:o,s:s}", "field", jsonx_string_lossy(field), "message", message));
    }
    if (log_level) {
        v = json_object_get(in, "level");
        const char *level = one_of(log_levels, ARRAY_SIZE(log_levels), json_string_value(v));
        if (!level)
            field_error(errors, "parameters.level",
                        v ? "must be DEBUG, INFO, WARN or ERROR"
                          : "is required (DEBUG, INFO, WARN or ERROR)");
        else
            json_object_set_new(out, "level", json_string(level));
        v = json_object_get(in, "durationSeconds");
        if (v && (!json_is_integer(v) || json_integer_value(v) < LOG_DURATION_MIN ||
                  json_integer_value(v) > LOG_DURATION_MAX))
            field_error(errors, "parameters.durationSeconds",
                        "must be a whole number of seconds from 60 to 86400");
        else if (v)
            json_object_set_new(out, "durationSeconds", json_integer(json_integer_value(v)));
    }
    *ret = out;
}

/* The body's member @name, which must be one of the @n in @list: absent is 400
 * FIELD_REQUIRED, not a string 400 INVALID_FIELD, another string @status @code with
 * @message. 0 and *ret (the list's copy), or -ECANCELED after replying. */
static int body_enum(struct http_request *req, const char *name, const char *const *list, size_t n,
                     unsigned status, const char *code, const char *message, const char **ret)
{
    json_t *v = json_object_get(http_req_json(req), name);
    if (!v)
        return http_field_problem(req, 400, "FIELD_REQUIRED", name, "is required");
    if (!json_is_string(v))
        return http_field_problem(req, 400, "INVALID_FIELD", name, "must be a string");
    *ret = one_of(list, n, json_string_value(v));
    return *ret ? 0 : http_field_problem(req, status, code, name, message);
}

/* Reads and checks the body: the shape is a 400, a type or parameters the API does not know
 * a 422. 0 or -ECANCELED after replying. */
static int issue_read(struct http_request *req, int64_t default_ttl, struct issue *x)
{
    static const char *const allowed[] = {"type", "parameters", "ttlSeconds", NULL};
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    json_t *body = http_req_json(req);
    json_t *params = json_object_get(body, "parameters");
    if (params && !json_is_null(params) && !json_is_object(params))
        return http_field_problem(req, 400, "INVALID_FIELD", "parameters", "must be an object");
    json_t *ttl = json_object_get(body, "ttlSeconds");
    if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < TTL_MIN_S ||
                json_integer_value(ttl) > TTL_MAX_S))
        return http_field_problem(req, 400, "INVALID_FIELD", "ttlSeconds",
                                  "must be a whole number of seconds from 60 to 604800");
    x->ttl_s = ttl ? json_integer_value(ttl) : default_ttl;
    if ((r = body_enum(req, "type", protocol_commands, PROTOCOL_COMMAND_COUNT, 422,
                       "UNKNOWN_COMMAND_TYPE",
                       "must be REQUEST_MANIFEST_REFRESH, RESTART_PLAYBACK_LOOP, "
                       "CLEAR_CACHE_UNUSED, CLEAR_CACHE_ALL, REBOOT_APP or SET_LOG_LEVEL",
                       &x->type)) < 0)
        return r;
    json_t *errors = json_array();
    params_read(x->type, json_is_object(params) ? params : NULL, errors, &x->params);
    if (json_array_size(errors) == 0) {
        json_decref(errors);
        return 0;
    }
    return http_reply_problem(req, 422, "INVALID_PARAMETERS",
                              "The parameters do not suit this command type.",
                              json_pack("{s:o}", "errors", errors));
}

/* The device's next seq (under its row lock), or the 409 of a full queue. */
static int seq_next(struct store_conn *c, struct http_request *req, const char *device,
                    int64_t *ret)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT COALESCE(MAX(seq), 0) + 1, "
                       "SUM(CASE WHEN status IN ('PENDING', 'DELIVERED') THEN 1 ELSE 0 END) "
                       "FROM device_commands WHERE device_id = $1",
                       (struct store_param[]){STORE_TEXT(device)}, 1, &res);
    if (r < 0)
        return r;
    int64_t live = 0;
    r = store_result_rows(res) == 1 ? store_result_int(res, 0, 0, ret) : -EIO;
    store_result_int(res, 0, 1, &live); /* NULL without rows: none */
    store_result_free(res);
    if (r >= 0 && live >= LIVE_MAX)
        return http_reply_problem(req, 409, "COMMAND_QUEUE_FULL",
                                  "This device already has 100 commands waiting to be delivered "
                                  "or answered; wait for them, or for them to expire.",
                                  json_pack("{s:i}", "liveCommandsMax", LIVE_MAX));
    return r;
}

static int issue_tx(struct store_conn *c, void *ud)
{
    struct issue *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    const char *tid = a->claims.tid, *venue = http_req_param(x->req, "venueId"),
               *device = http_req_param(x->req, "deviceId");
    json_decref(x->command);
    x->command = NULL;
    char status[STATUS_LEN];
    int r = device_find(c, x->req, true, status);
    if (r == -ENOENT)
        return device_missing(x->req); /* nothing to keep */
    if (r < 0)
        return r;
    if (strcmp(status, "ACTIVE") != 0)
        return http_reply_problem(x->req, 409, "DEVICE_DISABLED",
                                  "This device is disabled: it fetches no commands.", NULL);
    int64_t now_ms = clock_now_ms(), seq = 0;
    if ((r = expire(c, device, now_ms)) < 0 || (r = seq_next(c, x->req, device, &seq)) < 0)
        return refused(r); /* a full queue: keep what expired */
    char now[TIMESTAMP_STR_LEN], expires[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms, now);
    ids_timestamp(now_ms + x->ttl_s * 1000, expires);
    ids_uuid(x->id);
    _cleanup_free_ char *params = json_dumps(x->params, JSON_COMPACT | JSON_SORT_KEYS);
    const struct store_param p[] = {
        STORE_TEXT(x->id),   STORE_TEXT(tid),    STORE_TEXT(venue), STORE_TEXT(device),
        STORE_TEXT(x->type), STORE_TEXT(params), STORE_INT(seq),    STORE_TEXT(a->claims.sub),
        STORE_TEXT(expires), STORE_TEXT(now)};
    r = store_exec(c,
                   "INSERT INTO device_commands (command_id, tenant_id, venue_id, device_id, "
                   "type, parameters_json, seq, issued_by_user_id, expires_at_utc, "
                   "created_at_utc, updated_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                   "$10, $10)",
                   p, ARRAY_SIZE(p), NULL);
    if (r == -EEXIST)
        return -EAGAIN; /* another seq took this one (see DESIGN): again */
    if (r < 0)
        return r;
    json_auto_t *details =
        json_pack("{s:s,s:s,s:O,s:I,s:s}", "deviceId", device, "type", x->type, "parameters",
                  x->params, "seq", (json_int_t)seq, "expiresAtUtc", expires);
    struct audit_entry e = {.tenant_id = tid,
                            .actor_type = "USER",
                            .actor_id = a->claims.sub,
                            .action = "command.issued",
                            .resource_type = "DEVICE_COMMAND",
                            .resource_id = x->id,
                            .venue_id = venue,
                            .details = details};
    if ((r = record(c, x->req, &e, device, venue, a->claims.sub)) < 0)
        return r;
    struct store_result *res = NULL;
    r = store_exec(c, "SELECT " COMMAND_COLS " FROM device_commands WHERE command_id = $1",
                   (struct store_param[]){STORE_TEXT(x->id)}, 1, &res);
    if (r >= 0 && store_result_rows(res) == 1)
        x->command = command_json(res, 0, VIEW_USER);
    store_result_free(res);
    return r < 0 ? r : x->command ? 0 : -EIO;
}

static int command_issue(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct issue x = {.req = req};
    int r = issue_read(req, app->cfg.command_ttl_s, &x);
    if (r >= 0)
        r = store_tx(app->store, 0, issue_tx, &x);
    json_decref(x.params);
    if (r < 0 || http_replied(req)) {
        json_decref(x.command);
        return r;
    }
    char loc[256];
    snprintf(loc, sizeof(loc), "%s/%s", http_req_path(req), x.id);
    http_reply_header(req, "Location", loc);
    return http_reply_json(req, 201, x.command);
}

/* ---- GET …/commands[/{commandId}] ------------------------------------------------------------ */

struct lookup {
    struct http_request *req;
    const char *status;    /* the list's ?status= filter, NULL = all */
    struct http_page page; /* the list's page */
    struct store_result *res;
};

static int lookup_tx(struct store_conn *c, void *ud)
{
    struct lookup *x = ud;
    const char *command = http_req_param(x->req, "commandId");
    x->res = store_result_free(x->res);
    char status[STATUS_LEN];
    int r = device_find(c, x->req, false, status);
    if (r == -ENOENT)
        return device_missing(x->req);
    if (r >= 0)
        r = expire(c, http_req_param(x->req, "deviceId"), clock_now_ms());
    if (r < 0)
        return r;
    struct store_param p[] = {STORE_TEXT(auth_actor(x->req)->claims.tid),
                              STORE_TEXT(http_req_param(x->req, "venueId")),
                              STORE_TEXT(http_req_param(x->req, "deviceId")), STORE_TEXT(command),
                              STORE_INT(x->page.limit + 1)};
#define LOOKUP_SQL                                                                                 \
    "SELECT " COMMAND_COLS " FROM device_commands WHERE tenant_id = $1 AND venue_id = $2 AND "     \
    "device_id = $3 AND "
    if (command)
        return store_exec(c, LOOKUP_SQL "command_id = $4", p, 4, &x->res);
    int64_t after = INT64_MAX;
    if (x->page.n_after && parse_int64(x->page.after[0], 0, INT64_MAX, &after) < 0)
        return http_reply_problem(x->req, 400, "INVALID_CURSOR",
                                  "cursor is not one this server gave out.", NULL);
    p[3] = STORE_INT(after);
    if (!x->status)
        return store_exec(c, LOOKUP_SQL "seq < $4 ORDER BY seq DESC LIMIT $5", p, 5, &x->res);
    const struct store_param q[] = {p[0], p[1], p[2], p[3], p[4], STORE_TEXT(x->status)};
    return store_exec(c, LOOKUP_SQL "seq < $4 AND status = $6 ORDER BY seq DESC LIMIT $5", q, 6,
                      &x->res);
#undef LOOKUP_SQL
}

static int command_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct lookup x = {.req = req, .status = http_req_query(req, "status")};
    if (x.status && !(x.status = one_of(statuses, ARRAY_SIZE(statuses), x.status)))
        return http_field_problem(req, 400, "INVALID_QUERY", "status",
                                  "must be PENDING, DELIVERED, SUCCEEDED, FAILED or EXPIRED");
    int r = http_page_parse(req, 1, &x.page);
    if (r < 0)
        return r;
    r = store_tx(app->store, 0, lookup_tx, &x);
    http_page_release(&x.page);
    if (r < 0 || http_replied(req)) {
        store_result_free(x.res);
        return r;
    }
    size_t n = store_result_rows(x.res), shown = MIN(n, (size_t)x.page.limit);
    json_t *items = json_array();
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(items, command_json(x.res, i, VIEW_USER));
    const char *last[] = {shown ? store_result_text(x.res, shown - 1, CC_SEQ) : NULL};
    _cleanup_free_ char *cursor = n > shown ? http_cursor_encode(last, 1) : NULL;
    store_result_free(x.res);
    return http_reply_json(req, 200, http_page_body(items, cursor));
}

static int command_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct lookup x = {.req = req, .page.limit = 1};
    if (!ids_is_uuid(http_req_param(req, "commandId")))
        return command_missing(req);
    int r = store_tx(app->store, 0, lookup_tx, &x);
    if (r >= 0 && !http_replied(req))
        r = store_result_rows(x.res) == 1
                ? http_reply_json(req, 200, command_json(x.res, 0, VIEW_USER))
                : command_missing(req);
    store_result_free(x.res);
    return r;
}

/* ---- GET /v1/player/commands -------------------------------------------------------------- */

struct delivery {
    const struct token_claims *cl;
    struct store_result *res;
};

static int poll_tx(struct store_conn *c, void *ud)
{
    struct delivery *x = ud;
    x->res = store_result_free(x->res);
    int64_t now_ms = clock_now_ms();
    int r = expire(c, x->cl->did, now_ms);
    if (r < 0)
        return r;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(now_ms, now);
    r = store_exec(c,
                   "UPDATE device_commands SET status = 'DELIVERED', delivered_at_utc = $4, "
                   "updated_at_utc = $4 WHERE status = 'PENDING' AND command_id IN ("
                   "SELECT command_id FROM device_commands WHERE tenant_id = $1 AND "
                   "device_id = $2 AND venue_id = $3 AND status = 'PENDING' AND "
                   "expires_at_utc > $4 ORDER BY seq LIMIT $5) RETURNING " COMMAND_COLS,
                   (struct store_param[]){STORE_TEXT(x->cl->tid), STORE_TEXT(x->cl->did),
                                          STORE_TEXT(x->cl->vid), STORE_TEXT(now),
                                          STORE_INT(POLL_MAX)},
                   5, &x->res);
    return r < 0 ? r : 0;
}

struct by_seq {
    int64_t seq;
    size_t row;
};

static int by_seq_cmp(const void *a, const void *b)
{
    const struct by_seq *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int player_commands(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct delivery x = {.cl = &auth_actor(req)->claims};
    http_reply_header(req, "Cache-Control", "no-store");
    /* most polls find nothing: one read, no write transaction */
    struct store_result *res = NULL;
    int r = store_query(app->store,
                        "SELECT 1 FROM device_commands WHERE device_id = $1 AND "
                        "status = 'PENDING' LIMIT 1",
                        (struct store_param[]){STORE_TEXT(x.cl->did)}, 1, &res);
    bool pending = r >= 0 && store_result_rows(res) > 0;
    store_result_free(res);
    if (r >= 0 && pending)
        r = store_tx(app->store, 0, poll_tx, &x);
    if (r < 0) {
        store_result_free(x.res);
        return r;
    }
    /* RETURNING promises no order */
    size_t n = store_result_rows(x.res);
    struct by_seq *order = xcalloc(n ? n : 1, sizeof(*order));
    for (size_t i = 0; i < n; i++) {
        order[i].row = i;
        store_result_int(x.res, i, CC_SEQ, &order[i].seq);
    }
    qsort(order, n, sizeof(*order), by_seq_cmp);
    /* what the player acts on */
    static const char *const keys[] = {"commandId", "type",         "parameters",
                                       "seq",       "createdAtUtc", "expiresAtUtc"};
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_auto_t *cmd = command_json(x.res, order[i].row, VIEW_DEVICE);
        json_t *item = json_object();
        for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
            json_object_set(item, keys[k], json_object_get(cmd, keys[k]));
        json_array_append_new(list, item);
    }
    free(order);
    store_result_free(x.res);
    return http_reply_json(req, 200, json_pack("{s:o}", "commands", list));
}

/* ---- POST /v1/player/commands/{commandId}/result ----------------------------------------------
 */

struct report {
    struct http_request *req;
    const char *status;        /* SUCCEEDED, FAILED */
    json_t *result;            /* borrowed from the body; NULL = none */
    char *result_text;         /* its stored form */
    const char *error_code;    /* NULL = none */
    const char *error_message; /* NULL = none */
    json_t *command;           /* the answer */
};

static int result_read(struct http_request *req, struct report *x)
{
    static const char *const allowed[] = {"status", "result", "errorCode", "errorMessage", NULL};
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    if ((r = body_enum(req, "status", outcomes, ARRAY_SIZE(outcomes), 400, "INVALID_FIELD",
                       "must be SUCCEEDED or FAILED", &x->status)) < 0)
        return r;
    json_t *res = json_object_get(http_req_json(req), "result");
    if (res && !json_is_null(res)) {
        if (json_is_object(res))
            x->result_text = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
        if (!x->result_text || strlen(x->result_text) > RESULT_MAX_BYTES)
            return http_field_problem(req, 400, "INVALID_FIELD", "result",
                                      "must be an object of at most 4096 bytes as JSON");
        x->result = res;
    }
    if ((r = adm_body_text(req, "errorCode", false, ERROR_CODE_MAX, &x->error_code)) < 0 ||
        (r = adm_body_text(req, "errorMessage", false, ERROR_MESSAGE_MAX, &x->error_message)) < 0)
        return r;
    if (!strcmp(x->status, "SUCCEEDED") && (x->error_code || x->error_message))
        return http_field_problem(req, 400, "INVALID_FIELD",
                                  x->error_code ? "errorCode" : "errorMessage",
                                  "is only for a FAILED command");
    return 0;
}

/* Whether the stored result of row 0 of @res is the one @x reports. */
static bool result_same(const struct store_result *res, const struct report *x)
{
    const char *stored = store_result_text(res, 0, CC_RESULT);
    json_auto_t *was = stored ? json_loads(stored, JSON_DECODE_ANY, NULL) : NULL;
    return adm_same(store_result_text(res, 0, CC_STATUS), x->status) &&
           (was && x->result ? json_equal(was, x->result) : !was && !x->result) &&
           adm_same(store_result_text(res, 0, CC_ERROR_CODE), x->error_code) &&
           adm_same(store_result_text(res, 0, CC_ERROR_MESSAGE), x->error_message);
}

static int command_select(struct store_conn *c, const struct token_claims *cl, const char *id,
                          struct store_result **ret)
{
    return store_exec(
        c,
        "SELECT " COMMAND_COLS " FROM device_commands WHERE command_id = $1 AND "
        "tenant_id = $2 AND device_id = $3",
        (struct store_param[]){STORE_TEXT(id), STORE_TEXT(cl->tid), STORE_TEXT(cl->did)}, 3, ret);
}

/* Stores the result of a DELIVERED command, with its audit entry and change. */
static int result_store(struct store_conn *c, struct report *x, const struct token_claims *cl,
                        const char *id, const char *venue)
{
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    const struct store_param p[] = {STORE_TEXT(id),
                                    STORE_TEXT(x->status),
                                    STORE_TEXT(x->result_text),
                                    STORE_TEXT(x->error_code),
                                    STORE_TEXT(x->error_message),
                                    STORE_TEXT(now)};
    int r = store_exec(c,
                       "UPDATE device_commands SET status = $2, result_json = $3, "
                       "error_code = $4, error_message = $5, completed_at_utc = $6, "
                       "updated_at_utc = $6 WHERE command_id = $1 AND status = 'DELIVERED'",
                       p, ARRAY_SIZE(p), NULL);
    if (r < 0)
        return r;
    if (r == 0)
        return -EAGAIN; /* another result came first: read again, which answers 200 or 409 */
    bool ok = !strcmp(x->status, "SUCCEEDED");
    json_auto_t *details = json_pack("{s:s,s:s,s:o}", "deviceId", cl->did, "status", x->status,
                                     "errorCode", adm_jstr(x->error_code));
    struct audit_entry e = {.tenant_id = cl->tid,
                            .actor_type = "DEVICE",
                            .actor_id = cl->did,
                            .action = "command.completed",
                            .outcome = ok ? "SUCCESS" : "FAILURE",
                            .resource_type = "DEVICE_COMMAND",
                            .resource_id = id,
                            .venue_id = venue,
                            .details = details};
    return record(c, x->req, &e, cl->did, venue, NULL);
}

static int result_tx(struct store_conn *c, void *ud)
{
    struct report *x = ud;
    const struct token_claims *cl = &auth_actor(x->req)->claims;
    const char *id = http_req_param(x->req, "commandId");
    json_decref(x->command);
    x->command = NULL;
    struct store_result *res = NULL;
    int r = expire(c, cl->did, clock_now_ms());
    if (r >= 0)
        r = command_select(c, cl, id, &res);
    if (r < 0)
        return r;
    const char *status = store_result_rows(res) == 1 ? store_result_text(res, 0, CC_STATUS) : "";
    if (!*status)
        r = command_missing(x->req);
    else if (!strcmp(status, "PENDING"))
        r = http_reply_problem(x->req, 409, "COMMAND_NOT_DELIVERED",
                               "This command was never delivered: fetch it first.", NULL);
    else if (!strcmp(status, "EXPIRED"))
        r = http_reply_problem(x->req, 409, "COMMAND_EXPIRED",
                               "This command expired before its result came.", NULL);
    else if (strcmp(status, "DELIVERED") != 0 && !result_same(res, x))
        r = http_reply_problem(x->req, 409, "COMMAND_RESULT_CONFLICT",
                               "This command already has another result.",
                               json_pack("{s:o}", "command", command_json(res, 0, VIEW_DEVICE)));
    else if (!strcmp(status, "DELIVERED")) {
        _cleanup_free_ char *venue = xstrdup(store_result_text(res, 0, CC_VENUE));
        res = store_result_free(res);
        if ((r = result_store(c, x, cl, id, venue)) >= 0)
            r = command_select(c, cl, id, &res);
    }
    if (r >= 0 && store_result_rows(res) == 1)
        x->command = command_json(res, 0, VIEW_DEVICE);
    store_result_free(res);
    return r < 0 ? refused(r) : 0; /* a refusal keeps what expiry did (COMMAND_EXPIRED) */
}

static int command_result(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct report x = {.req = req};
    if (!ids_is_uuid(http_req_param(req, "commandId")))
        return command_missing(req);
    int r = result_read(req, &x);
    if (r >= 0)
        r = store_tx(app->store, 0, result_tx, &x);
    free(x.result_text);
    if (r >= 0 && !http_replied(req))
        return x.command ? http_reply_json(req, 200, x.command) : -EIO;
    json_decref(x.command);
    return r;
}

/* ---- registration ------------------------------------------------------------------------ */

#define COMMANDS "/v1/venues/{venueId}/devices/{deviceId}/commands"

/* clang-format off */
static const struct http_route routes[] = {
    /* §5: running support commands is the venue manager's */
    {.method = HTTP_POST, .pattern = COMMANDS, .audience = HTTP_USER,
     .min_role = AUTH_VENUE_MANAGER, .rate_class = "mutation", .flags = HTTP_BODY_JSON,
     .max_body = ISSUE_BODY_MAX, .handler = command_issue},
    {.method = HTTP_GET, .pattern = COMMANDS, .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER, .handler = command_list},
    {.method = HTTP_GET, .pattern = COMMANDS "/{commandId}", .audience = HTTP_USER,
     .min_role = AUTH_VENUE_VIEWER, .handler = command_get},
    {.method = HTTP_GET, .pattern = "/v1/player/commands", .audience = HTTP_DEVICE,
     .rate_class = "commands", .handler = player_commands},
    /* the default device class (120 a minute): a device answers every command it was given,
     * at most POLL_MAX a poll, two polls a minute; the commands class would refuse the second */
    {.method = HTTP_POST, .pattern = "/v1/player/commands/{commandId}/result",
     .audience = HTTP_DEVICE, .flags = HTTP_BODY_JSON, .max_body = RESULT_BODY_MAX,
     .handler = command_result},
};
/* clang-format on */

int commands_register(struct app *app)
{
    static const struct ticker_task expiry = {"command-expiry", 60000, expiry_task};
    int r = ticker_add(app, &expiry);
    return r < 0 ? r : http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
