/* SPDX-License-Identifier: MIT */
/* playlists.h — the playlist module (design in playlists.c; the merge in merge.h). */
#pragma once

struct app;

/** Registers the library and venue playlist routes. */
int playlists_register(struct app *app);
