/* SPDX-License-Identifier: MIT */
/*
 * render.c — a manifest's bytes and tag (see render.h). No clock, no store: what it writes
 * depends on the manifest_doc alone, so a manifest is the same whichever instance or thread
 * makes it and whatever order the slots were read in (§31.10).
 */
#include "resolver/render.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ids.h"
#include "macro.h"

static json_t *settings_json(const struct rl_device *s)
{
    return json_pack("{s:s,s:b,s:b,s:b,s:b,s:s,s:I}", "runMode", s->run_mode, "launchOnBoot",
                     s->launch_on_boot, "autoRelaunch", s->auto_relaunch, "keepAwake",
                     s->keep_awake, "watchdogReturnToForeground", s->watchdog, "orientation",
                     s->orientation, "cacheBudgetBytes", (json_int_t)s->cache_budget);
}

/* What the device should do, hashed: the tag (see render.h). */
static void tag_of(const struct manifest_doc *doc, int64_t valid_to, json_t *settings,
                   char tag[MANIFEST_TAG_LEN])
{
    _cleanup_free_ char *s = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
    _cleanup_free_ char *text = xasprintf(
        "%s%lld|%s|%lld|%lld|%s", doc->degraded ? "degraded|" : "", (long long)doc->epoch,
        doc->items ? doc->res->playlist_id : "",
        (long long)(doc->items ? doc->res->playlist_version : 0), (long long)valid_to, s ? s : "");
    char hex[HASH_SHA256_HEX_LEN];
    hash_sha256_hex(text, strlen(text), hex);
    snprintf(tag, MANIFEST_TAG_LEN, "m-%.32s", hex);
}

int manifest_render(const struct manifest_doc *doc, char **ret_body, size_t *ret_len,
                    char tag[MANIFEST_TAG_LEN])
{
    const struct resolver_result *res = doc->res;
    if (doc->items && !res->playlist_id)
        return -EINVAL;
    /* Nothing changes within the resolver's horizon: the window it gives is now + 6 h, which
     * moves every second and would make every poll a new manifest. Promise the hour before it
     * instead: the same manifest (and tag) for an hour, never past the horizon. */
    int64_t valid_to = res->valid_to_utc;
    if (valid_to >= doc->now_utc + RESOLVER_MAX_VALIDITY_S)
        valid_to -= (valid_to % 3600 + 3600) % 3600; /* floored, before 1970 too */
    json_t *settings = settings_json(doc->device);
    char own[MANIFEST_TAG_LEN];
    tag_of(doc, valid_to, settings, own);
    char valid_to_text[TIMESTAMP_STR_LEN];
    ids_timestamp(valid_to * 1000, valid_to_text);
    json_t *playlist =
        doc->items ? json_pack("{s:s,s:I,s:O}", "playlistId", res->playlist_id, "publishedVersion",
                               (json_int_t)res->playlist_version, "items", doc->items)
                   : json_null();
    json_t *body = json_pack("{s:s,s:s,s:i,s:o,s:o}", "manifestEtag", own, "validToUtc",
                             valid_to_text, "nextCheckSeconds", res->next_check_seconds, "settings",
                             settings, "playlist", playlist);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (!text)
        return -EINVAL; /* a string jansson refuses (not UTF-8); memory is xmalloc's */
    memcpy(tag, own, MANIFEST_TAG_LEN);
    *ret_body = text;
    *ret_len = strlen(text);
    return 0;
}

unsigned char *manifest_gzip(const char *text, size_t len, size_t *ret_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, (uLong)len);
    unsigned char *out = xmalloc(cap);
    z.next_in = (unsigned char *)text;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    *ret_len = n;
    return out;
}
