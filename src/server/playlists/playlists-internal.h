/* SPDX-License-Identifier: MIT */
/*
 * playlists-internal.h — what the three parts of the playlist module share (design in
 * playlists.c): playlists.c (rows, reads, create, delete, routes), drafts.c (draft versions,
 * mutations and the three-way merge) and publish.c (publish and rollback). Nothing outside
 * src/server/playlists/ includes it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "http/http.h"
#include "ids.h"
#include "playlists/merge.h"
#include "playlists/playlists.h"
#include "store/store.h"

struct app;

#define PLAYLIST_ITEMS_MAX    1000
#define PLAYLIST_NAME_MAX     200
#define DRAFT_VERSIONS_KEPT   100
#define IMAGE_DEFAULT_SECONDS 10
#define DURATION_MAX_SECONDS  86400
#define PLAYLIST_BODY_MAX     (256u << 10)

#define PL_COLS                                                                                    \
    "playlist_id, scope_type, scope_venue_id, name, draft_version, published_version, "            \
    "created_at_utc, updated_at_utc"
enum { PC_ID, PC_SCOPE, PC_VENUE, PC_NAME, PC_DRAFT, PC_PUBLISHED, PC_CREATED, PC_UPDATED };

/* What a request sees (as for assets): the library, or one venue (its own + the library). */
struct view {
    const char *venue;
    bool library;
};

/* One playlist row, read inside a transaction. */
struct playlist {
    char id[UUID_STR_LEN];
    char venue[UUID_STR_LEN]; /* "" for TENANT scope */
    char *name;
    int64_t draft_version;
    int64_t published_version;
    char created[TIMESTAMP_STR_LEN];
    char updated[TIMESTAMP_STR_LEN];
};

struct draft {
    char *name;
    struct merge_item *items;
    size_t n;
};

struct view pl_view_of(struct http_request *req);

/** The live playlist @id inside @v: -ENOENT outside it; -EPERM when @need_edit and the view
 *  may not change it (a library playlist seen from a venue). */
int playlist_find(struct store_conn *c, const char *tenant, struct view v, const char *id,
                  bool need_edit, struct playlist *ret);
void playlist_release(struct playlist *p);
void pl_etag_of(const struct playlist *p, char out[HTTP_ETAG_LEN]);
/** 404 / 403 for playlist_find's -ENOENT / -EPERM; other errors as they are. */
int pl_find_problem(struct http_request *req, int r);

void draft_release(struct draft *d);
/** The kept draft version @version (-ENOENT when unknown or pruned). */
int draft_load_version(struct store_conn *c, const struct playlist *p, int64_t version,
                       struct draft *ret);
/** The draft as it is now (name and items in order). */
int draft_load_current(struct store_conn *c, const struct playlist *p, struct draft *ret);
/** Every item's asset must be live in @p's scope (and READY when @need_ready): else replies
 *  422 listing each and returns -ECANCELED. */
int pl_items_check(struct http_request *req, struct store_conn *c, const struct playlist *p,
                   const struct draft *d, bool need_ready);

/** Replies @status with the playlist and its draft, and the draft's ETag. */
int reply_playlist(struct http_request *req, unsigned status, const struct playlist *p,
                   const struct draft *d);
/** The change-feed entry and the audit entry of a change; both skip when *@r < 0 and set it. */
void pl_change(struct store_conn *c, const struct auth_actor *a, const struct playlist *p,
               const char *action, int64_t version, int *r);
void pl_audit(struct store_conn *c, struct http_request *req, const struct playlist *p,
              const char *action, const char *outcome, json_t *details, int *r);

/* drafts.c */
int items_put(struct http_request *req, void *ud);
int reorder_put(struct http_request *req, void *ud);
int rename_patch(struct http_request *req, void *ud);

/* publish.c */
int playlist_publish(struct http_request *req, void *ud);
int playlist_rollback(struct http_request *req, void *ud);
