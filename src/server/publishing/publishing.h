/* SPDX-License-Identifier: MIT */
/*
 * publishing.h — what every module that changes content shares (spec §15, §26.9, §26.11;
 * issue 5): the per-tenant change feed, the venue manifest epoch and the publishing history.
 * Each function runs inside the caller's transaction, so a change and its records commit
 * together or not at all.
 *
 * The change feed (GET /v1/changes?since=&limit=) lists a tenant's changes in the order they
 * committed; a client that polls it with the cursor it was given never misses or reorders one.
 * A change names the venue whose users may see it (NULL: every user of the tenant).
 */
#pragma once

#include <stdint.h>

#include "store/store.h"

struct app;

struct change {
    const char *tenant_id;
    const char *entity_type; /* ASSET, PLAYLIST, SCHEDULE_SET, VENUE, DEVICE, GROUP */
    const char *entity_id;
    const char *venue_id; /* NULL = tenant-wide */
    const char *action;   /* created, updated, deleted, published, rolled_back, status … */
    int64_t version;      /* < 0: none */
    const char *actor_user_id;
};

/** Appends @ch with the tenant's next sequence number (returned in *@ret_seq if not NULL). */
int changes_append(struct store_conn *c, const struct change *ch, int64_t *ret_seq);

/** Adds one to the manifest epoch of @venue_id (creating its row at 1). */
int venue_epoch_bump(struct store_conn *c, const char *tenant_id, const char *venue_id);

/** Bumps the epoch of every live venue of the tenant whose published schedule or fallback
 *  playlist names @playlist_id; how many in *@ret_n. */
int venue_epoch_bump_for_playlist(struct store_conn *c, const char *tenant_id,
                                  const char *playlist_id, unsigned *ret_n);

struct publish_event {
    const char *tenant_id;
    const char *venue_id; /* NULL for a tenant-scoped playlist */
    const char *type;     /* PLAYLIST_PUBLISH, PLAYLIST_ROLLBACK, SCHEDULE_PUBLISH, … */
    const char *entity_id;
    int64_t previous_version;
    int64_t published_version;
    int64_t source_version; /* rollbacks; < 0: none */
    const char *user_id;
    const char *now;
};

int publish_event_write(struct store_conn *c, const struct publish_event *e);

/** Registers GET /v1/changes and GET /v1/venues/{venueId}/publishes. */
int publishing_register(struct app *app);
