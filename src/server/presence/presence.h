/* SPDX-License-Identifier: MIT */
/* presence.h — editor presence on playlists and schedule sets (design in presence.c). */
#pragma once

#include <stdint.h>

#include "store/store.h"

struct app;

/** Registers the presence routes. */
int presence_register(struct app *app);

