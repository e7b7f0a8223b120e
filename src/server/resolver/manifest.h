/* SPDX-License-Identifier: MIT */
/* manifest.h — GET /v1/player/manifest (design in manifest.c). */
#pragma once

#include <stdbool.h>

struct app;
struct buf;

/** Registers the manifest route (device tokens only) and makes the manifest cache. */
int manifest_register(struct app *app);
/** Frees the manifest cache. */
void manifest_release(struct app *app);
/** Appends the manifest metrics (Prometheus text) to @out. */
void manifest_metrics_render(struct app *app, struct buf *out);
/** Tests only: from now on every resolution fails (@fail) or none does (§31.9). */
void manifest_test_fail(struct app *app, bool fail);
