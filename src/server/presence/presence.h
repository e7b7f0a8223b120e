/* SPDX-License-Identifier: MIT */
/* presence.h — editor presence on playlists and schedule sets (design in presence.c). */
#pragma once

#include <stdint.h>

#include "store/store.h"

struct app;

/** Registers the presence routes. */
int presence_register(struct app *app);

/** Deletes the presence rows expired at @now_ms; how many, or -errno. */
int presence_cleanup(struct store *s, int64_t now_ms);
