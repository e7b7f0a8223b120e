/* SPDX-License-Identifier: MIT */
/*
 * schedules.c — a venue's schedule (spec §7, §15, §16, §26.8, §27.6, §27.9, §27.10): draft
 * slots edited under ETags, publish and rollback of immutable snapshots, and the venue's fallback
 * playlist (§7 rule 4). The contract is in docs/publishing.md, "Schedules".
 *
 * DESIGN
 * Each venue has one schedule set (venue_schedule_sets), made lazily the first time it is read
 * or changed (INSERT … ON CONFLICT DO NOTHING, so racing first requests make one row). Its
 * draft is the venue's rows of schedule_slots; draft_version names it and the set's ETag is
 * that version. Every slot change carries If-Match and bumps the version with
 * `UPDATE … WHERE draft_version = $seen`: when another writer won in between, the update
 * touches no row, -EAGAIN makes store_tx run the request again, and the re-run answers 412.
 * So the 500-slot limit and the If-Match check hold under concurrency on both backends.
 *
 * Publishing first takes the set row (`UPDATE … published_version + 1 RETURNING`), then
 * checks If-Match against the draft version that row now holds and reads the draft: slot
 * writers update that row first too, so the draft cannot change under the copy, and
 * concurrent publishes queue on the row lock and number 1, 2, 3 … with no gap or duplicate.
 * In the same transaction: the snapshot (schedule_published + a copy of every slot, keeping
 * its slot_id and timestamps for the resolver's tie-breaks), the venue epoch, the publish
 * event, the audit entry and the change. A refusal (412, 422) rolls all of it back. Rollback
 * is a publish whose slots come from an old snapshot; the draft is never touched.
 *
 * A GET reads the set, the draft and the live snapshot, then the set again; if a version
 * moved in between (PostgreSQL's READ COMMITTED reads each statement afresh) it reads again,
 * so the body always matches its ETag.
 */
#include "schedules/schedules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "audit.h"
#include "auth/auth.h"
#include "clock.h"
#include "devices/devices.h"
#include "ids.h"
#include "jsonx.h"
#include "macro.h"
#include "playlists/playlists.h"
#include "publishing/publishing.h"
#include "store/store.h"
#include "tenancy/admin-internal.h"

#define SLOTS_MAX         500
#define PRIORITY_LIMIT    1000
#define MINUTES_MAX       1439
#define DAYS_MASK_MAX     127
#define DATE_STR_LEN      11 /* YYYY-MM-DD + NUL */
#define SCHEDULE_BODY_MAX (16u << 10)
#define TARGET_TYPE_LEN   8

/* ---- the set ----------------------------------------------------------------------------- */

struct set {
    char id[UUID_STR_LEN];
    int64_t draft_version;
    int64_t published_version;
    char updated[TIMESTAMP_STR_LEN];
};

static void set_etag(const struct set *s, char out[HTTP_ETAG_LEN])
{
    http_etag_version(s->id, s->draft_version, out);
}

static int set_read(struct store_conn *c, const char *tenant, const char *venue, struct set *ret)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT venue_schedule_set_id, draft_version, published_version, "
                       "updated_at_utc FROM venue_schedule_sets WHERE tenant_id = $1 AND "
                       "venue_id = $2",
                       (struct store_param[]){STORE_TEXT(tenant), STORE_TEXT(venue)}, 2, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    snprintf(ret->id, sizeof(ret->id), "%s", store_result_text(res, 0, 0));
    store_result_int(res, 0, 1, &ret->draft_version);
    store_result_int(res, 0, 2, &ret->published_version);
    snprintf(ret->updated, sizeof(ret->updated), "%s", store_result_text(res, 0, 3));
    store_result_free(res);
    return 0;
}

/* The venue's set, made now (draft version 1, nothing published) if it has none yet. */
static int set_ensure(struct store_conn *c, const char *tenant, const char *venue, const char *user,
                      struct set *ret)
{
    int r = set_read(c, tenant, venue, ret);
    if (r != -ENOENT)
        return r;
    char id[UUID_STR_LEN], now[TIMESTAMP_STR_LEN];
    ids_uuid(id);
    ids_timestamp(clock_now_ms(), now);
    r = store_exec(c,
                   "INSERT INTO venue_schedule_sets (venue_schedule_set_id, tenant_id, venue_id, "
                   "created_by_user_id, created_at_utc, updated_at_utc) "
                   "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (venue_id) DO NOTHING",
                   (struct store_param[]){STORE_TEXT(id), STORE_TEXT(tenant), STORE_TEXT(venue),
                                          STORE_TEXT(user), STORE_TEXT(now)},
                   5, NULL);
    if (r < 0)
        return r;
    r = set_read(c, tenant, venue, ret);
    return r == -ENOENT ? -EIO : r;
}

/* ---- slots ------------------------------------------------------------------------------- */

struct slot {
    char id[UUID_STR_LEN];
    char target_type[TARGET_TYPE_LEN]; /* "" until valid */
    char target_id[UUID_STR_LEN];      /* "" until valid */
    char playlist_id[UUID_STR_LEN];    /* "" until valid */
    int64_t mask, start, end, priority;
    char from[DATE_STR_LEN], to[DATE_STR_LEN]; /* "" = open */
    bool enabled;
    char created[TIMESTAMP_STR_LEN];
    char updated[TIMESTAMP_STR_LEN];
};

#define SLOT_COLS                                                                                  \
    "slot_id, target_type, target_id, playlist_id, days_of_week_mask, start_minutes, "             \
    "end_minutes, priority, valid_from_date, valid_to_date, enabled, created_at_utc, "             \
    "updated_at_utc"

static void slot_from_row(const struct store_result *res, size_t i, struct slot *s)
{
#define CP(dst, col) snprintf(dst, sizeof(dst), "%s", store_result_text(res, i, col) ?: "")
    int64_t en = 1;
    CP(s->id, 0);
    CP(s->target_type, 1);
    CP(s->target_id, 2);
    CP(s->playlist_id, 3);
    store_result_int(res, i, 4, &s->mask);
    store_result_int(res, i, 5, &s->start);
    store_result_int(res, i, 6, &s->end);
    store_result_int(res, i, 7, &s->priority);
    CP(s->from, 8);
    CP(s->to, 9);
    store_result_int(res, i, 10, &en);
    s->enabled = en != 0;
    CP(s->created, 11);
    CP(s->updated, 12);
#undef CP
}

/* The draft (@version 0) or snapshot @version of @venue, in creation order. */
static int slots_load(struct store_conn *c, const char *tenant, const char *venue, int64_t version,
                      struct slot **ret, size_t *ret_n)
{
    struct store_result *res = NULL;
    int r = version ? store_exec(c,
                                 "SELECT " SLOT_COLS " FROM schedule_published_slots WHERE "
                                 "tenant_id = $1 AND venue_id = $2 AND published_version = $3 "
                                 "ORDER BY created_at_utc, slot_id",
                                 (struct store_param[]){STORE_TEXT(tenant), STORE_TEXT(venue),
                                                        STORE_INT(version)},
                                 3, &res)
                    : store_exec(c,
                                 "SELECT " SLOT_COLS " FROM schedule_slots WHERE tenant_id = $1 "
                                 "AND venue_id = $2 ORDER BY created_at_utc, slot_id",
                                 (struct store_param[]){STORE_TEXT(tenant), STORE_TEXT(venue)}, 2,
                                 &res);
    if (r < 0)
        return r;
    size_t n = store_result_rows(res);
    struct slot *s = xcalloc(n ? n : 1, sizeof(*s));
    for (size_t i = 0; i < n; i++)
        slot_from_row(res, i, &s[i]);
    store_result_free(res);
    *ret = s;
    *ret_n = n;
    return 0;
}

static json_t *slot_json(const struct slot *s)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o,s:o,s:b,s:s,s:s}", "slotId", s->id,
                     "targetType", s->target_type, "targetId", s->target_id, "playlistId",
                     s->playlist_id, "daysOfWeekMask", (json_int_t)s->mask, "startMinutes",
                     (json_int_t)s->start, "endMinutes", (json_int_t)s->end, "priority",
                     (json_int_t)s->priority, "validFromDate",
                     s->from[0] ? json_string(s->from) : json_null(), "validToDate",
                     s->to[0] ? json_string(s->to) : json_null(), "enabled", s->enabled,
                     "createdAtUtc", s->created, "updatedAtUtc", s->updated);
}

static json_t *slots_json(const struct slot *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, slot_json(&s[i]));
    return a;
}

/* ---- validation -------------------------------------------------------------------------- */

static void field_error(json_t *errors, const char *field, const char *message)
{
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "message", message));
}

/* A real calendar date "YYYY-MM-DD" (years 0001-9999). */
static bool date_valid(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

/* An integer member in [min, max]; absent → @def (or an error when @def is NULL). */
static void int_member(json_t *body, const char *name, int64_t min, int64_t max, const int64_t *def,
                       const char *message, json_t *errors, int64_t *ret)
{
    json_t *v = json_object_get(body, name);
    if (!v && def) {
        *ret = *def;
        return;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        field_error(errors, name, v ? message : "is required");
        return;
    }
    *ret = json_integer_value(v);
}

static void date_member(json_t *body, const char *name, json_t *errors, char ret[DATE_STR_LEN])
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return;
    const char *s = json_string_value(v);
    if (!s || !date_valid(s))
        field_error(errors, name, "must be a calendar date YYYY-MM-DD, or null");
    else
        snprintf(ret, DATE_STR_LEN, "%s", s);
}

/* The slot the body describes, every member checked; each bad one is added to @errors. Only
 * the members found valid are set in @s. */
static void slot_parse(json_t *body, struct slot *s, json_t *errors)
{
    const char *tt = json_string_value(json_object_get(body, "targetType"));
    if (!json_object_get(body, "targetType"))
        field_error(errors, "targetType", "is required");
    else if (!tt || (strcmp(tt, "DEVICE") != 0 && strcmp(tt, "GROUP") != 0))
        field_error(errors, "targetType", "must be DEVICE or GROUP");
    else
        snprintf(s->target_type, sizeof(s->target_type), "%s", tt);

    static const char *const refs[] = {"targetId", "playlistId"};
    char *const out[] = {s->target_id, s->playlist_id};
    for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
        json_t *v = json_object_get(body, refs[i]);
        const char *id = json_string_value(v);
        if (!v)
            field_error(errors, refs[i], "is required");
        else if (!id || !ids_is_uuid(id))
            field_error(errors, refs[i], "must be an id (a UUID)");
        else
            snprintf(out[i], UUID_STR_LEN, "%s", id);
    }

    static const int64_t zero = 0;
    int_member(body, "daysOfWeekMask", 1, DAYS_MASK_MAX, NULL,
               "must be a whole number from 1 to 127 (bit 0 = Monday ... bit 6 = Sunday)", errors,
               &s->mask);
    int_member(body, "startMinutes", 0, MINUTES_MAX, NULL,
               "must be a whole number from 0 to 1439 (minutes after midnight)", errors, &s->start);
    int_member(body, "endMinutes", 0, MINUTES_MAX, NULL,
               "must be a whole number from 0 to 1439 (minutes after midnight)", errors, &s->end);
    int_member(body, "priority", -PRIORITY_LIMIT, PRIORITY_LIMIT, &zero,
               "must be a whole number from -1000 to 1000", errors, &s->priority);

    size_t before = json_array_size(errors);
    date_member(body, "validFromDate", errors, s->from);
    date_member(body, "validToDate", errors, s->to);
    if (json_array_size(errors) == before && s->from[0] && s->to[0] && strcmp(s->from, s->to) > 0)
        field_error(errors, "validToDate", "must be on or after validFromDate");

    json_t *en = json_object_get(body, "enabled");
    if (en && !json_is_boolean(en))
        field_error(errors, "enabled", "must be true or false");
    s->enabled = !en || json_is_true(en);
}

/* The slot's references, for the members slot_parse() found well formed: the target must be
 * a live device or group of @venue, the playlist a live one the venue can use. */
/* Whether playlist @id is one @venue can use (live, the library's or the venue's own), and its
 * published version (0 = never published): 1, 0 (not usable) or -errno. Takes the playlist's
 * row lock first, so that a delete of the playlist cannot commit beside the slot or fallback
 * that names it (on PostgreSQL both would otherwise check, then both commit). */
static int playlist_usable(struct store_conn *c, const char *tid, const char *venue, const char *id,
                           int64_t *ret_version)
{
    int r = playlist_lock(c, tid, id);
    if (r < 0)
        return r;
    struct store_result *res = NULL;
    r = store_exec(c,
                   "SELECT published_version FROM playlists WHERE tenant_id = $1 AND "
                   "playlist_id = $2 AND deleted_at_utc IS NULL AND "
                   "(scope_venue_id IS NULL OR scope_venue_id = $3)",
                   (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(id), STORE_TEXT(venue)}, 3,
                   &res);
    if (r < 0)
        return r;
    *ret_version = 0;
    r = store_result_rows(res) == 1 && store_result_int(res, 0, 0, ret_version) == 0;
    store_result_free(res);
    return r;
}

static int slot_check_refs(struct store_conn *c, const char *tenant, const char *venue,
                           const struct slot *s, json_t *errors)
{
    struct store_result *res = NULL;
    int r;
    if (s->target_type[0] && s->target_id[0] && !strcmp(s->target_type, "GROUP")) {
        /* under the group's lock, so that a delete of the group cannot commit beside it */
        if ((r = device_group_lock(c, tenant, venue, s->target_id)) < 0)
            return r;
        if (r == 0)
            field_error(errors, "targetId", "must be a group of this venue");
    } else if (s->target_type[0] && s->target_id[0]) {
        r = store_exec(
            c,
            "SELECT 1 FROM devices WHERE tenant_id = $1 AND venue_id = $2 "
            "AND device_id = $3 AND deleted_at_utc IS NULL",
            (struct store_param[]){STORE_TEXT(tenant), STORE_TEXT(venue), STORE_TEXT(s->target_id)},
            3, &res);
        if (r < 0)
            return r;
        if (store_result_rows(res) == 0)
            field_error(errors, "targetId", "must be a device of this venue");
        res = store_result_free(res);
    }
    int64_t version;
    if (s->playlist_id[0]) {
        if ((r = playlist_usable(c, tenant, venue, s->playlist_id, &version)) < 0)
            return r;
        if (r == 0)
            field_error(errors, "playlistId",
                        "must be a playlist this venue can use (the library's or its own)");
    }
    return 0;
}

/* ---- audit and changes ------------------------------------------------------------------- */

static void audit(struct store_conn *c, struct http_request *req, const char *resource_type,
                  const char *resource_id, const char *action, json_t *details, int *r)
{
    const struct auth_actor *a = auth_actor(req);
    if (*r >= 0) {
        struct audit_entry e = {.tenant_id = a->claims.tid,
                                .actor_type = "USER",
                                .actor_id = a->claims.sub,
                                .action = action,
                                .outcome = "SUCCESS",
                                .resource_type = resource_type,
                                .resource_id = resource_id,
                                .venue_id = http_req_param(req, "venueId"),
                                .details = details};
        *r = audit_write(c, req, &e);
    }
    json_decref(details);
}

static void change(struct store_conn *c, struct http_request *req, const char *entity_type,
                   const char *entity_id, const char *action, int64_t version, int *r)
{
    if (*r < 0)
        return;
    const struct auth_actor *a = auth_actor(req);
    struct change ch = {.tenant_id = a->claims.tid,
                        .entity_type = entity_type,
                        .entity_id = entity_id,
                        .venue_id = http_req_param(req, "venueId"),
                        .action = action,
                        .version = version,
                        .actor_user_id = a->claims.sub};
    *r = changes_append(c, &ch, NULL);
}

/* ---- GET …/scheduleset ------------------------------------------------------------------- */

struct get_tx {
    struct http_request *req;
    struct set set;
    struct slot *draft, *live;
    size_t n_draft, n_live;
    char *fallback;
};

static void get_tx_release(struct get_tx *x)
{
    free(x->draft);
    free(x->live);
    free(x->fallback);
    x->draft = x->live = NULL;
    x->fallback = NULL;
    x->n_draft = x->n_live = 0;
}

static int get_tx(struct store_conn *c, void *ud)
{
    struct get_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    const char *tid = a->claims.tid, *venue = http_req_param(x->req, "venueId");
    get_tx_release(x);
    int r = set_ensure(c, tid, venue, a->claims.sub, &x->set);
    if (r >= 0)
        r = slots_load(c, tid, venue, 0, &x->draft, &x->n_draft);
    if (r >= 0 && x->set.published_version > 0)
        r = slots_load(c, tid, venue, x->set.published_version, &x->live, &x->n_live);
    struct store_result *res = NULL;
    if (r >= 0)
        r = store_exec(c, "SELECT fallback_playlist_id FROM venues WHERE venue_id = $1",
                       (struct store_param[]){STORE_TEXT(venue)}, 1, &res);
    if (r >= 0 && store_result_rows(res) == 1 && store_result_text(res, 0, 0))
        x->fallback = xstrdup(store_result_text(res, 0, 0));
    store_result_free(res);
    /* a writer that committed between these reads moved a version: read it all again */
    struct set again;
    if (r >= 0 && (r = set_read(c, tid, venue, &again)) >= 0 &&
        (again.draft_version != x->set.draft_version ||
         again.published_version != x->set.published_version))
        r = -EAGAIN;
    return r < 0 ? r : 0;
}

static int scheduleset_get(struct http_request *req, void *ud)
{
    struct app *app = ud;
    struct get_tx x = {.req = req};
    int r = store_tx(app->store, 0, get_tx, &x);
    if (r >= 0) {
        char etag[HTTP_ETAG_LEN];
        set_etag(&x.set, etag);
        http_reply_header(req, "Cache-Control", "private, no-cache");
        r = http_reply_json_tagged(
            req, etag,
            json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:o,s:s}", "venueScheduleSetId", x.set.id,
                      "venueId", http_req_param(req, "venueId"), "draftVersion",
                      (json_int_t)x.set.draft_version, "publishedVersion",
                      (json_int_t)x.set.published_version, "slots", slots_json(x.draft, x.n_draft),
                      "publishedSlots", slots_json(x.live, x.n_live), "fallbackPlaylistId",
                      adm_jstr(x.fallback), "updatedAtUtc", x.set.updated));
    }
    get_tx_release(&x);
    return r;
}

/* ---- slot create, replace, delete -------------------------------------------------------- */

enum slot_op { SLOT_CREATE, SLOT_REPLACE, SLOT_DELETE };

struct slot_tx {
    struct http_request *req;
    enum slot_op op;
    struct set set;
    struct slot slot;
};

static int slot_find(struct store_conn *c, const char *tenant, const char *venue, const char *id,
                     struct slot *ret)
{
    if (!id || !ids_is_uuid(id))
        return -ENOENT;
    struct store_result *res = NULL;
    int r = store_exec(
        c,
        "SELECT " SLOT_COLS " FROM schedule_slots WHERE tenant_id = $1 AND "
        "venue_id = $2 AND slot_id = $3",
        (struct store_param[]){STORE_TEXT(tenant), STORE_TEXT(venue), STORE_TEXT(id)}, 3, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) == 1)
        slot_from_row(res, 0, ret);
    else
        r = -ENOENT;
    store_result_free(res);
    return r < 0 ? r : 0;
}

/* 422 INVALID_SLOT listing every bad member, or 422 TOO_MANY_SLOTS; 0 when the slot is fine. */
static int slot_validate(struct slot_tx *x, struct store_conn *c, const char *tid,
                         const char *venue)
{
    struct slot s = {0};
    json_t *errors = json_array();
    slot_parse(http_req_json(x->req), &s, errors);
    int r = slot_check_refs(c, tid, venue, &s, errors);
    if (r < 0) {
        json_decref(errors);
        return r;
    }
    if (json_array_size(errors) > 0)
        return http_reply_problem(x->req, 422, "INVALID_SLOT",
                                  "Some members of the slot are "
                                  "not valid.",
                                  json_pack("{s:o}", "errors", errors));
    json_decref(errors);
    if (x->op == SLOT_CREATE) {
        struct store_result *res = NULL;
        int64_t n = 0;
        r = store_exec(c,
                       "SELECT count(*) FROM schedule_slots WHERE tenant_id = $1 AND venue_id = $2",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue)}, 2, &res);
        if (r >= 0)
            store_result_int(res, 0, 0, &n);
        store_result_free(res);
        if (r < 0)
            return r;
        if (n >= SLOTS_MAX)
            return adm_field_problem(x->req, 422, "TOO_MANY_SLOTS", "slots",
                                     "already holds 500 slots, the most a venue may have");
        ids_uuid(s.id);
    } else {
        snprintf(s.id, sizeof(s.id), "%s", x->slot.id);
        snprintf(s.created, sizeof(s.created), "%s", x->slot.created);
    }
    x->slot = s;
    return 0;
}

static int slot_write(struct slot_tx *x, struct store_conn *c, const char *tid, const char *venue,
                      const char *user, const char *now)
{
    struct slot *s = &x->slot;
    if (x->op == SLOT_DELETE)
        return store_exec(c, "DELETE FROM schedule_slots WHERE slot_id = $1",
                          (struct store_param[]){STORE_TEXT(s->id)}, 1, NULL);
    snprintf(s->updated, sizeof(s->updated), "%s", now);
    if (x->op == SLOT_CREATE)
        snprintf(s->created, sizeof(s->created), "%s", now);
    bool create = x->op == SLOT_CREATE;
    /* $14 is the creator on INSERT and the time on UPDATE (the creator stays as it was) */
    struct store_param p[] = {STORE_TEXT(s->id),
                              STORE_TEXT(tid),
                              STORE_TEXT(venue),
                              STORE_TEXT(s->target_type),
                              STORE_TEXT(s->target_id),
                              STORE_TEXT(s->playlist_id),
                              STORE_INT(s->mask),
                              STORE_INT(s->start),
                              STORE_INT(s->end),
                              STORE_INT(s->priority),
                              STORE_TEXT(s->from[0] ? s->from : NULL),
                              STORE_TEXT(s->to[0] ? s->to : NULL),
                              STORE_INT(s->enabled ? 1 : 0),
                              STORE_TEXT(create ? user : now),
                              STORE_TEXT(now)};
    if (create)
        return store_exec(c,
                          "INSERT INTO schedule_slots (slot_id, tenant_id, venue_id, target_type, "
                          "target_id, playlist_id, days_of_week_mask, start_minutes, "
                          "end_minutes, priority, valid_from_date, valid_to_date, enabled, "
                          "created_by_user_id, created_at_utc, updated_at_utc) VALUES ($1, $2, "
                          "$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
                          p, ARRAY_SIZE(p), NULL);
    return store_exec(c,
                      "UPDATE schedule_slots SET target_type = $4, target_id = $5, "
                      "playlist_id = $6, days_of_week_mask = $7, start_minutes = $8, "
                      "end_minutes = $9, priority = $10, valid_from_date = $11, "
                      "valid_to_date = $12, enabled = $13, updated_at_utc = $14 "
                      "WHERE slot_id = $1 AND tenant_id = $2 AND venue_id = $3",
                      p, ARRAY_SIZE(p) - 1, NULL);
}

/* The next draft version: -EAGAIN when another change committed since the set was read. */
static int draft_bump(struct store_conn *c, struct set *s, const char *now)
{
    int r = store_exec(
        c,
        "UPDATE venue_schedule_sets SET draft_version = draft_version + 1, "
        "updated_at_utc = $3 WHERE venue_schedule_set_id = $1 AND "
        "draft_version = $2",
        (struct store_param[]){STORE_TEXT(s->id), STORE_INT(s->draft_version), STORE_TEXT(now)}, 3,
        NULL);
    if (r < 0)
        return r;
    if (r == 0)
        return -EAGAIN;
    s->draft_version++;
    snprintf(s->updated, sizeof(s->updated), "%s", now);
    return 0;
}

static int slot_tx(struct store_conn *c, void *ud)
{
    struct slot_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    const char *tid = a->claims.tid, *venue = http_req_param(x->req, "venueId");
    char now[TIMESTAMP_STR_LEN], etag[HTTP_ETAG_LEN];
    ids_timestamp(clock_now_ms(), now);
    x->slot = (struct slot){0};
    int r = set_ensure(c, tid, venue, a->claims.sub, &x->set);
    if (r >= 0 && x->op != SLOT_CREATE) {
        r = slot_find(c, tid, venue, http_req_param(x->req, "slotId"), &x->slot);
        if (r == -ENOENT)
            return http_reply_problem(x->req, 404, "NOT_FOUND",
                                      "No such slot in this venue's "
                                      "schedule.",
                                      NULL);
    }
    if (r < 0)
        return r;
    set_etag(&x->set, etag);
    if ((r = http_require_if_match(x->req, etag)) < 0)
        return r;
    if (x->op != SLOT_DELETE && (r = slot_validate(x, c, tid, venue)) < 0)
        return r;
    if ((r = draft_bump(c, &x->set, now)) < 0)
        return r;
    r = slot_write(x, c, tid, venue, a->claims.sub, now);
    static const char *const actions[] = {"schedule.slot_created", "schedule.slot_updated",
                                          "schedule.slot_deleted"};
    audit(c, x->req, "SCHEDULE_SET", x->set.id, actions[x->op],
          json_pack("{s:s,s:I}", "slotId", x->slot.id, "draftVersion",
                    (json_int_t)x->set.draft_version),
          &r);
    change(c, x->req, "SCHEDULE_SET", x->set.id, "updated", x->set.draft_version, &r);
    return r < 0 ? r : 0;
}

static int slot_change(struct http_request *req, struct app *app, enum slot_op op)
{
    static const char *const allowed[] = {
        "targetType",   "targetId",   "playlistId", "daysOfWeekMask",
        "startMinutes", "endMinutes", "priority",   "validFromDate",
        "validToDate",  "enabled",    NULL};
    int r = op == SLOT_DELETE ? 0 : http_body_allow(req, allowed);
    if (r < 0)
        return r;
    struct slot_tx x = {.req = req, .op = op};
    if ((r = store_tx(app->store, 0, slot_tx, &x)) < 0 || http_replied(req))
        return r;
    char etag[HTTP_ETAG_LEN];
    set_etag(&x.set, etag);
    http_reply_header(req, "ETag", etag);
    if (op == SLOT_DELETE)
        return http_reply_empty(req, 204);
    if (op == SLOT_CREATE) {
        char loc[256];
        snprintf(loc, sizeof(loc), "%s/%s", http_req_path(req), x.slot.id);
        http_reply_header(req, "Location", loc);
    }
    return http_reply_json(req, op == SLOT_CREATE ? 201 : 200, slot_json(&x.slot));
}

static int slot_create(struct http_request *req, void *ud)
{
    return slot_change(req, ud, SLOT_CREATE);
}

static int slot_replace(struct http_request *req, void *ud)
{
    return slot_change(req, ud, SLOT_REPLACE);
}

static int slot_delete(struct http_request *req, void *ud)
{
    return slot_change(req, ud, SLOT_DELETE);
}

/* ---- publish and rollback ---------------------------------------------------------------- */

struct publish_tx {
    struct http_request *req;
    int64_t rollback_to; /* 0 = publish the draft */
    struct set set;
    int64_t version;
    char now[TIMESTAMP_STR_LEN];
};

/* Every slot's playlist must be live, usable by the venue and published: else 422 listing
 * each slot that is not. */
static int slots_check_publishable(struct http_request *req, struct store_conn *c, const char *tid,
                                   const char *venue, const struct slot *s, size_t n)
{
    json_t *errors = json_array();
    for (size_t i = 0; i < n; i++) {
        int64_t pv = 0;
        int r = playlist_usable(c, tid, venue, s[i].playlist_id, &pv);
        if (r < 0) {
            json_decref(errors);
            return r;
        }
        bool found = r == 1;
        if (!found || pv < 1)
            json_array_append_new(errors, json_pack("{s:s,s:s,s:s}", "slotId", s[i].id,
                                                    "playlistId", s[i].playlist_id, "reason",
                                                    found ? "NOT_PUBLISHED" : "NOT_FOUND"));
    }
    if (json_array_size(errors) == 0) {
        json_decref(errors);
        return 0;
    }
    return http_reply_problem(req, 422, "SCHEDULE_NOT_PUBLISHABLE",
                              "Every slot's playlist must be a published playlist this venue "
                              "can use.",
                              json_pack("{s:o}", "errors", errors));
}

static int snapshot_write(struct store_conn *c, struct publish_tx *x, const char *tid,
                          const char *venue, const char *user, const struct slot *s, size_t n)
{
    char id[UUID_STR_LEN];
    ids_uuid(id);
    int r = store_exec(c,
                       "INSERT INTO schedule_published (schedule_published_id, tenant_id, "
                       "venue_id, published_version, published_at_utc, published_by_user_id, "
                       "created_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $5)",
                       (struct store_param[]){STORE_TEXT(id), STORE_TEXT(tid), STORE_TEXT(venue),
                                              STORE_INT(x->version), STORE_TEXT(x->now),
                                              STORE_TEXT(user)},
                       6, NULL);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        ids_uuid(id);
        r = store_exec(c,
                       "INSERT INTO schedule_published_slots (schedule_published_slot_id, "
                       "tenant_id, venue_id, published_version, slot_id, target_type, "
                       "target_id, playlist_id, days_of_week_mask, start_minutes, end_minutes, "
                       "priority, valid_from_date, valid_to_date, enabled, created_at_utc, "
                       "updated_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                       "$12, $13, $14, $15, $16, $17)",
                       (struct store_param[]){
                           STORE_TEXT(id), STORE_TEXT(tid), STORE_TEXT(venue),
                           STORE_INT(x->version), STORE_TEXT(s[i].id), STORE_TEXT(s[i].target_type),
                           STORE_TEXT(s[i].target_id), STORE_TEXT(s[i].playlist_id),
                           STORE_INT(s[i].mask), STORE_INT(s[i].start), STORE_INT(s[i].end),
                           STORE_INT(s[i].priority), STORE_TEXT(s[i].from[0] ? s[i].from : NULL),
                           STORE_TEXT(s[i].to[0] ? s[i].to : NULL), STORE_INT(s[i].enabled ? 1 : 0),
                           STORE_TEXT(s[i].created), STORE_TEXT(s[i].updated)},
                       17, NULL);
    }
    return r < 0 ? r : 0;
}

/* Takes the set row and the next published version (see DESIGN). */
static int published_version_next(struct store_conn *c, struct publish_tx *x)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "UPDATE venue_schedule_sets SET published_version = published_version + 1, "
                       "updated_at_utc = $2 WHERE venue_schedule_set_id = $1 "
                       "RETURNING published_version, draft_version",
                       (struct store_param[]){STORE_TEXT(x->set.id), STORE_TEXT(x->now)}, 2, &res);
    if (r >= 0 && store_result_rows(res) != 1)
        r = -EIO;
    if (r >= 0 && (r = store_result_int(res, 0, 0, &x->version)) >= 0)
        r = store_result_int(res, 0, 1, &x->set.draft_version);
    store_result_free(res);
    if (r >= 0) {
        x->set.published_version = x->version;
        snprintf(x->set.updated, sizeof(x->set.updated), "%s", x->now);
    }
    return r;
}

static int publish_tx(struct store_conn *c, void *ud)
{
    struct publish_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    const char *tid = a->claims.tid, *venue = http_req_param(x->req, "venueId");
    ids_timestamp(clock_now_ms(), x->now);
    int r = set_ensure(c, tid, venue, a->claims.sub, &x->set);
    if (r >= 0)
        r = published_version_next(c, x);
    if (r < 0)
        return r;
    if (!x->rollback_to) {
        char etag[HTTP_ETAG_LEN];
        set_etag(&x->set, etag);
        if ((r = http_require_if_match(x->req, etag)) < 0)
            return r;
    } else {
        struct store_result *res = NULL;
        r = store_exec(c,
                       "SELECT 1 FROM schedule_published WHERE tenant_id = $1 AND venue_id = $2 "
                       "AND published_version = $3 AND published_version < $4",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue),
                                              STORE_INT(x->rollback_to), STORE_INT(x->version)},
                       4, &res);
        bool known = r >= 0 && store_result_rows(res) == 1;
        store_result_free(res);
        if (r < 0)
            return r;
        if (!known)
            return adm_field_problem(x->req, 422, "INVALID_VERSION", "version",
                                     "is not a published version of this schedule");
    }
    struct slot *s = NULL;
    size_t n = 0;
    r = slots_load(c, tid, venue, x->rollback_to, &s, &n);
    if (r >= 0)
        r = slots_check_publishable(x->req, c, tid, venue, s, n);
    if (r >= 0)
        r = snapshot_write(c, x, tid, venue, a->claims.sub, s, n);
    free(s);
    if (r >= 0)
        r = venue_epoch_bump(c, tid, venue);
    if (r >= 0) {
        struct publish_event e = {.tenant_id = tid,
                                  .venue_id = venue,
                                  .type = x->rollback_to ? "SCHEDULE_ROLLBACK" : "SCHEDULE_PUBLISH",
                                  .entity_id = x->set.id,
                                  .previous_version = x->version - 1,
                                  .published_version = x->version,
                                  .source_version = x->rollback_to ? x->rollback_to : -1,
                                  .user_id = a->claims.sub,
                                  .now = x->now};
        r = publish_event_write(c, &e);
    }
    audit(c, x->req, "SCHEDULE_SET", x->set.id,
          x->rollback_to ? "schedule.rolled_back" : "schedule.published",
          json_pack("{s:I,s:I,s:I}", "publishedVersion", (json_int_t)x->version, "sourceVersion",
                    (json_int_t)x->rollback_to, "slots", (json_int_t)n),
          &r);
    change(c, x->req, "SCHEDULE_SET", x->set.id, x->rollback_to ? "rolled_back" : "published",
           x->version, &r);
    return r < 0 ? r : 0;
}

static int publish_common(struct http_request *req, struct app *app, int64_t rollback_to)
{
    struct publish_tx x = {.req = req, .rollback_to = rollback_to};
    int r = store_tx(app->store, 0, publish_tx, &x);
    if (r < 0 || http_replied(req))
        return r;
    return http_reply_json(req, 200,
                           json_pack("{s:s,s:I,s:o,s:s}", "venueScheduleSetId", x.set.id,
                                     "publishedVersion", (json_int_t)x.version, "sourceVersion",
                                     rollback_to ? json_integer(rollback_to) : json_null(),
                                     "publishedAtUtc", x.now));
}

static int scheduleset_publish(struct http_request *req, void *ud)
{
    return publish_common(req, ud, 0);
}

static int scheduleset_rollback(struct http_request *req, void *ud)
{
    static const char *const allowed[] = {"version", NULL};
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    json_t *v = json_object_get(http_req_json(req), "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return adm_field_problem(req, 400, "INVALID_FIELD", "version",
                                 "must be a published version (a whole number, at least 1)");
    return publish_common(req, ud, json_integer_value(v));
}

/* ---- PUT …/fallback-playlist ------------------------------------------------------------- */

struct fallback_tx {
    struct http_request *req;
    const char *playlist; /* NULL = none */
};

static int fallback_tx(struct store_conn *c, void *ud)
{
    struct fallback_tx *x = ud;
    const struct auth_actor *a = auth_actor(x->req);
    const char *tid = a->claims.tid, *venue = http_req_param(x->req, "venueId");
    struct store_result *res = NULL;
    int r;
    if (x->playlist) {
        int64_t pv = 0;
        if ((r = playlist_usable(c, tid, venue, x->playlist, &pv)) < 0)
            return r;
        bool found = r == 1;
        if (!found || pv < 1)
            return adm_field_problem(x->req, 422, "INVALID_FALLBACK", "playlistId",
                                     found ? "must be a published playlist (publish it first)"
                                           : "must be a playlist this venue can use (the "
                                             "library's or its own)");
    }
    r = store_exec(c,
                   "SELECT fallback_playlist_id FROM venues WHERE tenant_id = $1 AND "
                   "venue_id = $2",
                   (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue)}, 2, &res);
    if (r < 0)
        return r;
    _cleanup_free_ char *was = store_result_rows(res) == 1 && store_result_text(res, 0, 0)
                                   ? xstrdup(store_result_text(res, 0, 0))
                                   : NULL;
    store_result_free(res);
    if (adm_same(was, x->playlist))
        return 0; /* nothing changes: no epoch, no audit entry */
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    r = store_exec(c,
                   "UPDATE venues SET fallback_playlist_id = $3, updated_at_utc = $4 "
                   "WHERE tenant_id = $1 AND venue_id = $2",
                   (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue),
                                          STORE_TEXT(x->playlist), STORE_TEXT(now)},
                   4, NULL);
    if (r >= 0)
        r = venue_epoch_bump(c, tid, venue);
    audit(c, x->req, "VENUE", venue, "venue.fallback_set",
          json_pack("{s:o,s:o}", "fallbackPlaylistId", adm_jstr(x->playlist),
                    "previousFallbackPlaylistId", adm_jstr(was)),
          &r);
    change(c, x->req, "VENUE", venue, "updated", -1, &r);
    return r < 0 ? r : 0;
}

static int fallback_put(struct http_request *req, void *ud)
{
    struct app *app = ud;
    static const char *const allowed[] = {"playlistId", NULL};
    int r = http_body_allow(req, allowed);
    if (r < 0)
        return r;
    json_t *v = json_object_get(http_req_json(req), "playlistId");
    if (!v)
        return adm_field_problem(req, 400, "FIELD_REQUIRED", "playlistId",
                                 "is required (a playlist id, or null for none)");
    struct fallback_tx x = {.req = req, .playlist = json_string_value(v)};
    if (!json_is_null(v) && (!x.playlist || !ids_is_uuid(x.playlist)))
        return adm_field_problem(req, 400, "INVALID_FIELD", "playlistId",
                                 "must be a playlist id (a UUID) or null");
    if ((r = store_tx(app->store, 0, fallback_tx, &x)) < 0 || http_replied(req))
        return r;
    return http_reply_json(req, 200,
                           json_pack("{s:s,s:o}", "venueId", http_req_param(req, "venueId"),
                                     "fallbackPlaylistId", adm_jstr(x.playlist)));
}

/* ---- registration ------------------------------------------------------------------------ */

#define SET       "/v1/venues/{venueId}/scheduleset"
#define EDIT      .audience = HTTP_USER, .min_role = AUTH_VENUE_EDITOR
#define JSON_BODY .flags = HTTP_BODY_JSON, .max_body = SCHEDULE_BODY_MAX

/* clang-format off */
static const struct http_route routes[] = {
    {.method = HTTP_GET, .pattern = SET, .audience = HTTP_USER, .min_role = AUTH_VENUE_VIEWER,
     .handler = scheduleset_get},
    {.method = HTTP_POST, .pattern = SET "/slots", EDIT, .rate_class = "mutation", JSON_BODY,
     .handler = slot_create},
    {.method = HTTP_PUT, .pattern = SET "/slots/{slotId}", EDIT, .rate_class = "mutation",
     JSON_BODY, .handler = slot_replace},
    {.method = HTTP_DELETE, .pattern = SET "/slots/{slotId}", EDIT, .rate_class = "mutation",
     .max_body = 1024, .handler = slot_delete},
    {.method = HTTP_POST, .pattern = SET "/publish", EDIT, .rate_class = "publish",
     .max_body = 1024, .handler = scheduleset_publish},
    {.method = HTTP_POST, .pattern = SET "/rollback", EDIT, .rate_class = "publish",
     .flags = HTTP_BODY_JSON, .max_body = 1024, .handler = scheduleset_rollback},
    {.method = HTTP_PUT, .pattern = "/v1/venues/{venueId}/fallback-playlist",
     .audience = HTTP_USER, .min_role = AUTH_VENUE_MANAGER, .rate_class = "mutation",
     .flags = HTTP_BODY_JSON, .max_body = 1024, .handler = fallback_put},
};
/* clang-format on */

int schedules_register(struct app *app)
{
    return http_server_add_routes(app->http, routes, ARRAY_SIZE(routes), app);
}
