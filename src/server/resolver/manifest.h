/* SPDX-License-Identifier: MIT */
/* manifest.h — GET /v1/player/manifest (design in manifest.c). */
#pragma once

struct app;

/** Registers the manifest route (device tokens only). */
int manifest_register(struct app *app);
