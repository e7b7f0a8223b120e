/* SPDX-License-Identifier: MIT */
/* playlists.h — the playlist module (design in playlists.c; the merge in merge.h). */
#pragma once

#include "store/store.h"

struct app;

/** Takes playlist @id's row lock for the rest of the caller's transaction (a no-op update):
 *  whoever checks that a playlist is live before naming it (a schedule slot, a fallback)
 *  queues behind a delete of it, and a delete behind them. 0 or -errno. */
int playlist_lock(struct store_conn *c, const char *tenant, const char *id);

/** Registers the library and venue playlist routes. */
int playlists_register(struct app *app);
