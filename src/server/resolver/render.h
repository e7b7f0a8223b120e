/* SPDX-License-Identifier: MIT */
/*
 * render.h — a manifest's bytes (spec §27.8.1) from a resolution: pure, so the same inputs give
 * the same bytes whatever order the slots came in (§31.10).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hash.h"
#include "resolver/loader.h"
#include "resolver/resolver.h"

#define MANIFEST_TAG_LEN 35 /* "m-" + 32 hex digits + NUL */

struct manifest_doc {
    int64_t now_utc;
    int64_t epoch;                     /* the venue's manifest epoch */
    const struct resolver_result *res; /* what plays, until when, how soon to ask again */
    const struct rl_device *device;    /* the settings */
    json_t *items;                     /* the playlist's items (borrowed); NULL = playlist null */
    bool degraded;                     /* made without the resolver (§31.9): its tag says so */
};

/**
 * The manifest's JSON (compact, members in §27.8.1's order) into *ret_body (malloc'ed) and
 * *ret_len, and its tag ("m-" + 32 hex digits) into @tag. The tag names what the device should
 * do: epoch, playlist and version, validToUtc and settings — not the signed URLs. When nothing
 * changes within the resolver's horizon, validToUtc is the hour before the horizon, so the
 * manifest holds for an hour instead of changing every second. 0, or -EINVAL (items without
 * a playlist id; a string that is not UTF-8), leaving the outputs untouched.
 */
int manifest_render(const struct manifest_doc *doc, char **ret_body, size_t *ret_len,
                    char tag[MANIFEST_TAG_LEN]);

/** @text gzipped (one gzip member, level 6) into a new buffer; NULL on failure. */
unsigned char *manifest_gzip(const char *text, size_t len, size_t *ret_len);
