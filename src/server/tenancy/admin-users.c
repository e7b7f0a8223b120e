/* SPDX-License-Identifier: MIT */
/* admin-users.c — the tenant-admin user and venue-role endpoints of spec §27.4 (design in admin.c).
 */
#include "tenancy/admin-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "audit.h"
#include "auth/auth.h"
#include "clock.h"
#include "ids.h"
#include "jsonx.h"
#include "macro.h"
#include "tenancy/tenant.h"

/* ---- users ------------------------------------------------------------------------------- */

#define USER_COLS                                                                                  \
    "user_id, tenant_id, email, display_name, status, created_at_utc, updated_at_utc, "            \
    "email_normalized"
enum { UC_ID, UC_TENANT, UC_EMAIL, UC_NAME, UC_STATUS, UC_CREATED, UC_UPDATED, UC_NORMALIZED };

/* A user's JSON without venue roles (never the password hash: USER_COLS does not read it). */
static json_t *user_json(const struct store_result *res, size_t i)
{
#define T(col) store_result_text(res, i, (col))
    return json_pack("{s:s,s:s,s:o,s:o,s:s,s:[],s:[],s:s,s:s}", "userId", T(UC_ID), "tenantId",
                     T(UC_TENANT), "email", adm_jstr(T(UC_EMAIL)), "displayName",
                     adm_jstr(T(UC_NAME)), "status", T(UC_STATUS), "tenantRoles", "capabilities",
                     "createdAtUtc", T(UC_CREATED), "updatedAtUtc", T(UC_UPDATED));
#undef T
}

/* Appends column 1 of each row to the array @member of the item (in @by_id) named by column 0. */
static void attach_values(json_t *by_id, const struct store_result *res, const char *member)
{
    for (size_t i = 0; i < store_result_rows(res); i++) {
        json_t *item = json_object_get(by_id, store_result_text(res, i, 0));
        if (item)
            json_array_append_new(json_object_get(item, member),
                                  adm_jstr(store_result_text(res, i, 1)));
    }
}

/* The user's venue roles on live venues, as [{venueId, role}] ordered by venue id. */
static int venue_roles_load(struct store_conn *c, const char *tid, const char *uid, json_t **ret)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT r.venue_id, r.role FROM venue_user_roles r JOIN venues v ON "
                       "v.tenant_id = r.tenant_id AND v.venue_id = r.venue_id WHERE r.tenant_id "
                       "= $1 AND r.user_id = $2 AND v.deleted_at_utc IS NULL ORDER BY r.venue_id",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(uid)}, 2, &res);
    if (r < 0)
        return r;
    json_t *list = json_array();
    for (size_t i = 0; i < store_result_rows(res); i++)
        json_array_append_new(list, json_pack("{s:s,s:s}", "venueId", store_result_text(res, i, 0),
                                              "role", store_result_text(res, i, 1)));
    store_result_free(res);
    *ret = list;
    return 0;
}

/* The full user JSON (tenant roles, capabilities, venue roles); -ENOENT when the tenant has
 * no such live user. */
static int user_load(struct store_conn *c, const char *tid, const char *uid, json_t **ret)
{
    if (!uid || !ids_is_uuid(uid))
        return -ENOENT;
    const struct store_param p[] = {STORE_TEXT(tid), STORE_TEXT(uid)};
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT " USER_COLS " FROM users WHERE tenant_id = $1 AND user_id = $2 "
                       "AND deleted_at_utc IS NULL",
                       p, 2, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    json_auto_t *by_id = json_object();
    json_object_set_new(by_id, uid, user_json(res, 0));
    store_result_free(res);
    static const struct {
        const char *sql, *member;
    } lists[] = {
        {"SELECT user_id, role FROM tenant_user_roles WHERE tenant_id = $1 AND user_id = $2 "
         "ORDER BY role",
         "tenantRoles"},
        {"SELECT user_id, capability FROM user_capabilities WHERE tenant_id = $1 AND "
         "user_id = $2 ORDER BY capability",
         "capabilities"},
    };
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        if ((r = store_exec(c, lists[l].sql, p, 2, &res)) < 0)
            return r;
        attach_values(by_id, res, lists[l].member);
        store_result_free(res);
    }
    json_t *vroles;
    if ((r = venue_roles_load(c, tid, uid, &vroles)) < 0)
        return r;
    json_t *user = json_incref(json_object_get(by_id, uid));
    json_object_set_new(user, "venueRoles", vroles);
    *ret = user;
    return 0;
}

/* A list of distinct names from a fixed set (tenantRoles, capabilities) as bits; absent = 0. */
static int body_flags(struct http_request *req, const char *name, unsigned (*parse)(const char *),
                      unsigned *ret)
{
    json_t *v = json_object_get(http_req_json(req), name);
    unsigned bits = 0;
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) > ROLE_LIST_MAX)
            return adm_field_problem(req, 400, "INVALID_FIELD", name, "must be an array of names");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            unsigned bit = json_is_string(e) ? parse(json_string_value(e)) : 0;
            if (!bit)
                return adm_field_problem(req, 400, "INVALID_FIELD", name, "holds an unknown name");
            if (bits & bit)
                return adm_field_problem(req, 400, "INVALID_FIELD", name, "lists a name twice");
            bits |= bit;
        }
    }
    *ret = bits;
    return 0;
}

static json_t *flag_names(unsigned bits, const char *(*name)(unsigned))
{
    json_t *a = json_array();
    for (unsigned bit = 1; bit && bit <= bits; bit <<= 1)
        if (bits & bit)
            json_array_append_new(a, json_string(name(bit)));
    return a;
}

struct role_entry {
    const char *venue_id; /* borrowed from the request body */
    enum venue_role role;
    size_t index; /* in the request's list, for errors[] */
};

struct user_tx {
    struct http_request *req;
    const struct auth_actor *actor;
    const char *user_id;
    /* create */
    const char *email, *display_name, *hash;
    unsigned tenant_roles, caps;
    /* venue roles: the validated entries, sorted by venue id */
    size_t n_roles;
    struct role_entry *roles;
    json_t *errors; /* entries naming venues the tenant does not have */
    /* result */
    json_t *user;
};

static int role_row_insert(struct store_conn *c, const char *sql, const char *tid, const char *uid,
                           const char *value, const char *by, const char *now)
{
    char id[UUID_STR_LEN];
    ids_uuid(id);
    const struct store_param p[] = {STORE_TEXT(id),    STORE_TEXT(tid), STORE_TEXT(uid),
                                    STORE_TEXT(value), STORE_TEXT(by),  STORE_TEXT(now)};
    int r = store_exec(c, sql, p, ARRAY_SIZE(p), NULL);
    return r < 0 ? r : 0;
}

static int user_create_tx(struct store_conn *c, void *ud)
{
    struct user_tx *x = ud;
    const char *tid = x->actor->claims.tid, *by = x->actor->claims.sub;
    json_decref(x->user);
    x->user = NULL;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    _cleanup_free_ char *normalized = tenant_email_normalize(x->email);
    struct store_result *res = NULL;
    int r = store_exec(c, "SELECT 1 FROM users WHERE tenant_id = $1 AND email_normalized = $2",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(normalized)}, 2, &res);
    if (r < 0)
        return r;
    size_t taken = store_result_rows(res);
    store_result_free(res);
    if (taken)
        return -EEXIST; /* also what the unique index says to a concurrent twin */
    const struct store_param p[] = {STORE_TEXT(x->user_id),
                                    STORE_TEXT(tid),
                                    STORE_TEXT(x->email),
                                    STORE_TEXT(normalized),
                                    STORE_TEXT(x->display_name),
                                    STORE_TEXT(x->hash),
                                    STORE_TEXT(by),
                                    STORE_TEXT(now)};
    r = store_exec(c,
                   "INSERT INTO users (user_id, tenant_id, email, email_normalized, display_name, "
                   "status, password_hash, created_by_user_id, created_at_utc, updated_at_utc) "
                   "VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6, $7, $8, $8)",
                   p, ARRAY_SIZE(p), NULL);
    if (r < 0)
        return r;
    for (unsigned bit = 1; bit && bit <= x->tenant_roles; bit <<= 1)
        if ((x->tenant_roles & bit) &&
            (r = role_row_insert(c,
                                 "INSERT INTO tenant_user_roles (tenant_user_role_id, tenant_id, "
                                 "user_id, role, created_by_user_id, created_at_utc, "
                                 "updated_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                                 tid, x->user_id, token_tenant_role_name(bit), by, now)) < 0)
            return r;
    for (unsigned bit = 1; bit && bit <= x->caps; bit <<= 1)
        if ((x->caps & bit) &&
            (r = role_row_insert(c,
                                 "INSERT INTO user_capabilities (user_capability_id, tenant_id, "
                                 "user_id, capability, created_by_user_id, created_at_utc, "
                                 "updated_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                                 tid, x->user_id, token_capability_name(bit), by, now)) < 0)
            return r;
    json_auto_t *details = json_pack("{s:o,s:o,s:o}", "email", adm_jstr(x->email), "tenantRoles",
                                     flag_names(x->tenant_roles, token_tenant_role_name),
                                     "capabilities", flag_names(x->caps, token_capability_name));
    struct audit_entry a = {.tenant_id = tid,
                            .actor_type = "USER",
                            .actor_id = by,
                            .action = "user.created",
                            .resource_type = "user",
                            .resource_id = x->user_id,
                            .details = details};
    if ((r = audit_write(c, x->req, &a)) < 0)
        return r;
    return user_load(c, tid, x->user_id, &x->user);
}

int admin_user_create(struct http_request *req, void *ud)
{
    struct app *app = ud;
    static const char *const allowed[] = {"email",       "displayName",  "password",
                                          "tenantRoles", "capabilities", NULL};
    struct user_tx x = {.req = req, .actor = auth_actor(req)};
    const char *password;
    int r;
    if ((r = http_body_allow(req, allowed)) < 0 ||
        (r = http_body_string(req, "email", true, TENANT_EMAIL_MAX, &x.email)) < 0 ||
        (r = adm_body_text(req, "displayName", true, NAME_MAX_CHARS, &x.display_name)) < 0 ||
        (r = http_body_string(req, "password", true, 4 * TENANT_PASSWORD_MAX, &password)) < 0 ||
        (r = body_flags(req, "tenantRoles", token_tenant_role_parse, &x.tenant_roles)) < 0 ||
        (r = body_flags(req, "capabilities", token_capability_parse, &x.caps)) < 0)
        return r;
    if (!tenant_email_valid(x.email))
        return adm_field_problem(req, 400, "INVALID_FIELD", "email", "is not a valid address");
    const char *weak = tenant_password_problem(password);
    if (weak)
        return http_reply_problem(
            req, 400, "INVALID_FIELD", "The password is too weak.",
            json_pack("{s:[{s:s,s:s}]}", "errors", "field", "password", "message", weak));
    char hash[TENANT_PASSWORD_HASH_LEN], id[UUID_STR_LEN];
    if ((r = tenant_password_hash(password, hash)) < 0)
        return r;
    ids_uuid(id);
    x.user_id = id;
    x.hash = hash;
    r = store_tx(app->store, 0, user_create_tx, &x);
    explicit_bzero(hash, sizeof(hash));
    if (r == -EEXIST)
        return adm_field_problem(req, 409, "EMAIL_TAKEN", "email",
                                 "belongs to another user of this tenant");
    if (r < 0) {
        json_decref(x.user);
        return r;
    }
    adm_set_location(req, x.actor->claims.tid, "users", id);
    return http_reply_json(req, 201, x.user);
}

int admin_user_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct store_conn *c;
    int r = store_acquire(app->store, &c);
    if (r < 0)
        return r;
    json_t *user = NULL;
    r = user_load(c, auth_actor(req)->claims.tid, http_req_param(req, "userId"), &user);
    store_release(c);
    if (r < 0)
        return r;
    return http_reply_json(req, 200, user);
}

/* Users of the tenant by email; `?q=` keeps those whose email or display name contains it.
 * Items carry tenant roles and capabilities; venue roles only on GET …/users/{userId}. */
int admin_user_list(struct http_request *req, void *ud)
{
    struct app *app = ud;
    const char *tid = auth_actor(req)->claims.tid;
    _cleanup_free_ char *like = NULL;
    int r = adm_query_contains(req, &like);
    if (r < 0)
        return r;
    struct http_page page;
    if ((r = http_page_parse(req, 2, &page)) < 0)
        return r;
    const struct store_param p[] = {
        STORE_TEXT(tid), STORE_TEXT(like), STORE_TEXT(page.n_after ? page.after[0] : ""),
        STORE_TEXT(page.n_after ? page.after[1] : ""), STORE_INT(page.limit + 1)};
    struct store_conn *c;
    if ((r = store_acquire(app->store, &c)) < 0) {
        http_page_release(&page);
        return r;
    }
    struct store_result *res = NULL, *roles = NULL, *caps = NULL;
    r = store_exec(c,
                   "SELECT " USER_COLS " FROM users WHERE tenant_id = $1 AND deleted_at_utc IS "
                   "NULL AND (lower(email) LIKE lower($2) ESCAPE '\\' OR lower(display_name) "
                   "LIKE lower($2) ESCAPE '\\') AND (email_normalized > $3 OR (email_normalized "
                   "= $3 AND user_id > $4)) ORDER BY email_normalized, user_id LIMIT $5",
                   p, ARRAY_SIZE(p), &res);
    http_page_release(&page);
    size_t shown = 0;
    char *cursor = r < 0 ? NULL : adm_page_next(res, page.limit, UC_NORMALIZED, UC_ID, &shown);
    if (r >= 0 && shown > 0) {
        /* the roles of every user whose email lies in the page's range (emails are unique in
         * a tenant): two fixed statements instead of two per user */
        const struct store_param q[] = {
            STORE_TEXT(tid), STORE_TEXT(store_result_text(res, 0, UC_NORMALIZED)),
            STORE_TEXT(store_result_text(res, shown - 1, UC_NORMALIZED))};
        r = store_exec(c,
                       "SELECT r.user_id, r.role FROM tenant_user_roles r JOIN users u ON "
                       "u.tenant_id = r.tenant_id AND u.user_id = r.user_id WHERE r.tenant_id = "
                       "$1 AND u.email_normalized >= $2 AND u.email_normalized <= $3 ORDER BY "
                       "r.role",
                       q, 3, &roles);
        if (r >= 0)
            r = store_exec(c,
                           "SELECT r.user_id, r.capability FROM user_capabilities r JOIN users u "
                           "ON u.tenant_id = r.tenant_id AND u.user_id = r.user_id WHERE "
                           "r.tenant_id = $1 AND u.email_normalized >= $2 AND "
                           "u.email_normalized <= $3 ORDER BY r.capability",
                           q, 3, &caps);
    }
    store_release(c);
    if (r < 0) {
        free(cursor);
        store_result_free(res);
        store_result_free(roles);
        return r;
    }
    json_t *items = json_array();
    json_auto_t *by_id = json_object();
    for (size_t i = 0; i < shown; i++) {
        json_t *u = user_json(res, i);
        json_array_append_new(items, u);
        json_object_set(by_id, store_result_text(res, i, UC_ID), u);
    }
    if (roles)
        attach_values(by_id, roles, "tenantRoles");
    if (caps)
        attach_values(by_id, caps, "capabilities");
    store_result_free(res);
    store_result_free(roles);
    store_result_free(caps);
    return adm_reply_page(req, items, cursor);
}

/* ---- venue roles ------------------------------------------------------------------------- */

/* Appends {field: "venueRoles[i].member", message} to @errors. */
static void entry_problem(json_t *errors, size_t i, const char *member, const char *message)
{
    char field[64];
    snprintf(field, sizeof(field), "venueRoles[%zu]%s%s", i, member ? "." : "",
             member ? member : "");
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "message", message));
}

/* Reads {venueRoles: [{venueId, role}]} into @x, sorted by venue id. 400 for a malformed list
 * or the same venue twice (each bad entry named in errors[]). */
static int venue_roles_read(struct http_request *req, struct user_tx *x)
{
    static const char *const allowed[] = {"venueRoles", NULL};
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    json_t *list = json_object_get(http_req_json(req), "venueRoles");
    if (!list || json_is_null(list))
        return adm_field_problem(req, 400, "FIELD_REQUIRED", "venueRoles", "is required");
    if (!json_is_array(list) || json_array_size(list) > VENUE_ROLES_MAX)
        return adm_field_problem(req, 400, "INVALID_FIELD", "venueRoles",
                                 "must be an array of at most 500 {venueId, role} objects");
    size_t n = json_array_size(list);
    x->roles = xcalloc(n + 1, sizeof(*x->roles));
    json_auto_t *errors = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i), *vid = json_object_get(e, "venueId");
        json_t *role_v = json_object_get(e, "role");
        enum venue_role role = token_venue_role_parse(json_string_value(role_v));
        if (!json_is_object(e) || json_object_size(e) != 2 || !vid || !role_v) {
            entry_problem(errors, i, NULL, "must be an object with exactly venueId and role");
            continue;
        }
        if (!json_is_string(vid) || json_string_length(vid) == 0 || json_string_length(vid) > 64 ||
            strlen(json_string_value(vid)) != json_string_length(vid)) {
            entry_problem(errors, i, "venueId", "must be a venue id");
            continue;
        }
        if (role == VROLE_NONE) {
            entry_problem(errors, i, "role", "must be VENUE_MANAGER, VENUE_EDITOR or VENUE_VIEWER");
            continue;
        }
        const char *id = json_string_value(vid);
        bool dup = false;
        for (size_t j = 0; j < x->n_roles && !dup; j++)
            dup = !strcmp(x->roles[j].venue_id, id);
        if (dup) {
            entry_problem(errors, i, "venueId", "names a venue listed before");
            continue;
        }
        /* insertion sort by venue id: at most 500 entries */
        size_t k = x->n_roles++;
        for (; k > 0 && strcmp(x->roles[k - 1].venue_id, id) > 0; k--)
            x->roles[k] = x->roles[k - 1];
        x->roles[k] = (struct role_entry){.venue_id = id, .role = role, .index = i};
    }
    if (json_array_size(errors) > 0)
        return http_reply_problem(req, 400, "INVALID_FIELD",
                                  "Some venueRoles entries are not valid.",
                                  json_pack("{s:O}", "errors", errors));
    return 0;
}

static int venue_roles_tx(struct store_conn *c, void *ud)
{
    struct user_tx *x = ud;
    const char *tid = x->actor->claims.tid;
    json_decref(x->user);
    x->user = NULL;
    json_array_clear(x->errors);
    const struct store_param who[] = {STORE_TEXT(tid), STORE_TEXT(x->user_id)};
    /* a write that changes nothing: PostgreSQL locks the user's row until the commit */
    int r = store_exec(c,
                       "UPDATE users SET updated_at_utc = updated_at_utc WHERE tenant_id = $1 AND "
                       "user_id = $2 AND deleted_at_utc IS NULL",
                       who, 2, NULL);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    for (size_t i = 0; i < x->n_roles; i++) {
        const struct role_entry *e = &x->roles[i];
        struct store_result *res = NULL;
        bool found = false;
        if (ids_is_uuid(e->venue_id)) {
            r = store_exec(c,
                           "SELECT 1 FROM venues WHERE tenant_id = $1 AND venue_id = $2 AND "
                           "deleted_at_utc IS NULL",
                           (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(e->venue_id)}, 2,
                           &res);
            if (r < 0)
                return r;
            found = store_result_rows(res) == 1;
            store_result_free(res);
        }
        if (!found) {
            entry_problem(x->errors, e->index, "venueId", "is not a venue of this tenant");
            json_object_set_new(json_array_get(x->errors, json_array_size(x->errors) - 1),
                                "venueId", jsonx_string_lossy(e->venue_id));
        }
    }
    if (json_array_size(x->errors) > 0)
        return -EDOM;

    json_auto_t *before = NULL, *after = json_array();
    struct store_result *res = NULL;
    r = store_exec(c,
                   "SELECT venue_id, role FROM venue_user_roles WHERE tenant_id = $1 AND "
                   "user_id = $2 ORDER BY venue_id",
                   who, 2, &res);
    if (r < 0)
        return r;
    before = json_array();
    for (size_t i = 0; i < store_result_rows(res); i++)
        json_array_append_new(before,
                              json_pack("{s:s,s:s}", "venueId", store_result_text(res, i, 0),
                                        "role", store_result_text(res, i, 1)));
    store_result_free(res);
    for (size_t i = 0; i < x->n_roles; i++)
        json_array_append_new(after, json_pack("{s:s,s:s}", "venueId", x->roles[i].venue_id, "role",
                                               token_venue_role_name(x->roles[i].role)));
    if (!json_equal(before, after)) {
        char now[TIMESTAMP_STR_LEN];
        ids_timestamp(clock_now_ms(), now);
        r = store_exec(c, "DELETE FROM venue_user_roles WHERE tenant_id = $1 AND user_id = $2", who,
                       2, NULL);
        for (size_t i = 0; r >= 0 && i < x->n_roles; i++) {
            char id[UUID_STR_LEN];
            ids_uuid(id);
            const struct store_param p[] = {STORE_TEXT(id),
                                            STORE_TEXT(tid),
                                            STORE_TEXT(x->roles[i].venue_id),
                                            STORE_TEXT(x->user_id),
                                            STORE_TEXT(token_venue_role_name(x->roles[i].role)),
                                            STORE_TEXT(x->actor->claims.sub),
                                            STORE_TEXT(now)};
            r = store_exec(c,
                           "INSERT INTO venue_user_roles (venue_user_role_id, tenant_id, "
                           "venue_id, user_id, role, created_by_user_id, created_at_utc, "
                           "updated_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                           p, ARRAY_SIZE(p), NULL);
        }
        if (r >= 0)
            r = store_exec(c,
                           "UPDATE users SET updated_at_utc = $3 WHERE tenant_id = $1 AND "
                           "user_id = $2",
                           (struct store_param[]){who[0], who[1], STORE_TEXT(now)}, 3, NULL);
        if (r < 0)
            return r;
        json_auto_t *details = json_pack("{s:O,s:O}", "before", before, "after", after);
        struct audit_entry a = {.tenant_id = tid,
                                .actor_type = "USER",
                                .actor_id = x->actor->claims.sub,
                                .action = "user.venue_roles_changed",
                                .resource_type = "user",
                                .resource_id = x->user_id,
                                .details = details};
        if ((r = audit_write(c, x->req, &a)) < 0)
            return r;
    }
    return user_load(c, tid, x->user_id, &x->user);
}

/* Replaces every venue role of a user (a role change takes effect at the user's next token). */
int admin_venue_roles_put(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct user_tx x = {
        .req = req, .actor = auth_actor(req), .user_id = http_req_param(req, "userId")};
    if (!x.user_id || !ids_is_uuid(x.user_id))
        return -ENOENT;
    int r = venue_roles_read(req, &x);
    if (r >= 0) {
        x.errors = json_array();
        r = store_tx(app->store, 0, venue_roles_tx, &x);
        if (r == -EDOM)
            r = http_reply_problem(req, 422, "INVALID_REFERENCE",
                                   "Some venueRoles entries name venues this tenant does not have.",
                                   json_pack("{s:O}", "errors", x.errors));
        else if (r >= 0)
            r = http_reply_json(req, 200, TAKE_PTR(x.user));
    }
    json_decref(x.user);
    json_decref(x.errors);
    free(x.roles);
    return r;
}
