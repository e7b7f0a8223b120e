/* SPDX-License-Identifier: MIT */
/*
 * manage-internal.h — what the venue management endpoints of the device module (groups.c,
 * devices.c) share: pages, deletes, names, field errors, and the audit entry plus change that
 * every write records. Defined in devices.c. (Their ETags are digests of their JSON, with
 * http_etag_of_json() and http_reply_json_etag_status(), as for venues.)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "auth/auth.h"
#include "http/http.h"
#include "ids.h"
#include "store/store.h"

#define DV_NAME_MAX_CHARS 200 /* a group's or a device's name, after trimming */

/* Who may change groups and devices (§25.4): the venue's managers and the tenant's admins. */
#define DV_MANAGE .audience = HTTP_USER, .min_role = AUTH_VENUE_MANAGER, .rate_class = "mutation"

/** The one row @sql finds with $1 = @tid, $2 = @venue, $3 = @id, in *@ret (caller frees);
 *  -ENOENT when it finds none or @id is not a UUID, or a store error. */
int dv_select_one(struct store_conn *c, const char *sql, const char *tid, const char *venue,
                  const char *id, struct store_result **ret);

/** Reads the live resource @id of venue @venue as JSON into *@ret; -ENOENT when none. */
typedef int (*dv_read_fn)(struct store_conn *c, const char *tid, const char *venue, const char *id,
                          json_t **ret);

/** GET of one resource: @read of the path's {@id_param}, answered with its digest ETag (304
 *  when If-None-Match has it), or the error. */
int dv_get_reply(struct http_request *req, struct store *store, const char *id_param,
                 dv_read_fn read);

/** A list's `?q=` as a LIKE pattern (adm_query_contains(); caller frees) and its page (two
 *  sort keys: name and id; caller releases). -ECANCELED after a 400. */
int dv_list_begin(struct http_request *req, char **ret_like, struct http_page *ret_page);

/** The rows of a list query that asked for @limit + 1, sorted by the name and id in columns
 *  @k_name, @k_id: replies the page of @item(res, i) and the cursor to the next (§27.1).
 *  Frees @res. */
int dv_page_reply(struct http_request *req, struct store_result *res, unsigned limit, size_t k_name,
                  size_t k_id, json_t *(*item)(const struct store_result *, size_t));

/** Runs DELETE transaction @fn (given @req) and answers 204, unless @fn replied (a refusal). */
int dv_delete_run(struct http_request *req, struct store *store, store_tx_fn fn);

/** An optional If-Match (a DELETE's): absent, or listing @etag → 0; otherwise replies 412
 *  with currentEtag and returns -ECANCELED. */
int dv_if_match_optional(struct http_request *req, const char *etag);

/** Adds {field, message} to @errors. */
void dv_field_error(json_t *errors, const char *field, const char *message);

/** With @errors empty: frees it and returns 0. Otherwise replies 400 listing each ({errors:
 *  [...]}, stolen) and returns -ECANCELED: FIELD_REQUIRED when every entry says "is required",
 *  else INVALID_FIELD. */
int dv_errors_reply(struct http_request *req, json_t *errors);

/** Member @field of @body as a name: a string with no NUL, of 1..DV_NAME_MAX_CHARS characters
 *  once surrounding white space is trimmed. A new trimmed copy in *@ret (caller frees), or an
 *  entry in @errors and *@ret untouched. */
void dv_name_read(json_t *body, const char *field, json_t *errors, char **ret);

/** The audit entry (@action, outcome SUCCESS, @details borrowed) and the change-feed entry
 *  (@entity_type, @change_action, no version) of a write by the request's user on
 *  {venueId}, in the caller's transaction. 0 or -errno. */
int dv_record(struct store_conn *c, struct http_request *req, const char *entity_type,
              const char *id, const char *action, const char *change_action, json_t *details);

/** updated_at_utc for a write now of a row last updated at @old: now, but at least 1 ms after
 *  @old, so that two writes never share it. */
void dv_next_updated(const char *old, char now[TIMESTAMP_STR_LEN]);
