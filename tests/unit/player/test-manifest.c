/* SPDX-License-Identifier: MIT */
/*
 * test-manifest.c — marquee-player's manifests (player/manifest.h).
 *
 * Parsing: the §27.8.1 example (refused as printed, for its non-UUID ids and elided digests;
 * accepted with the ids and digests marqueed really sends), bodies made by the server's own
 * manifest_render (playlist, playlist null, empty playlist), every field made wrong one at a
 * time with the field and reason expected, the bounds on each side, unknown members ignored.
 * The pure helpers: playability, the rotation, the referenced assets, expiry.
 *
 * The store: round trips in a mkdtemp directory, damaged slot files (each reported, the others
 * still loading, a damaged current never displacing a good previous), and the crash proof:
 * for every step of an apply (and of a stage), a child process runs it and is SIGKILLed just
 * before that step, so the directory holds exactly what a kill -9 there leaves; the parent
 * then loads and asserts the slots are exactly the old ones or exactly the new ones (the new
 * ones from the commit point on), that a read-only view showed the same, that nothing stray
 * is left — and does it again with the recovery itself killed at each of its steps.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "../cmocka-prelude.h"
#include "macro.h"
/* the .c, for its test hook (test_step_hook) and statics */
#include "player/manifest.c"
#include "resolver/render.h"
#include "resolver/resolver.h"

#define PL   "6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f"
#define A1   "0b6a1c52-3d4e-4f60-8a7b-9c0d1e2f3a4b"
#define A2   "1c7b2d63-4e5f-4a71-9b8c-0d1e2f3a4b5c"
#define A3   "2d8c3e74-5f60-4b82-8c9d-1e2f3a4b5c6d"
#define SHA1 "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define SHA2 "d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3"
#define SHA3 "0718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"

/* §27.8.1's example with what marqueed sends in place of its placeholders (UUIDs, whole
 * digests) and the server's cacheBudgetBytes; a third item to rotate over. */
#define ITEM(id, type, ext, sha, dur, w, h, size)                                                  \
    "{\"assetId\":\"" id "\",\"type\":\"" type "\",\"url\":\"https://cdn.example.com/ten_01/" id   \
    "." ext "\",\"checksumSha256\":\"" sha "\",\"durationSeconds\":" #dur ",\"widthPx\":" #w       \
    ",\"heightPx\":" #h ",\"fileSizeBytes\":" #size "}"
#define SETTINGS                                                                                   \
    "{\"runMode\":\"KIOSK\",\"launchOnBoot\":true,\"autoRelaunch\":true,\"keepAwake\":true,"       \
    "\"watchdogReturnToForeground\":true,\"orientation\":\"LANDSCAPE\","                           \
    "\"cacheBudgetBytes\":2000000000}"
#define HEAD(etag)                                                                                 \
    "{\"manifestEtag\":\"" etag "\",\"validToUtc\":\"2025-06-15T14:00:00Z\","                      \
    "\"nextCheckSeconds\":60,\"settings\":" SETTINGS ","
#define PLAYLIST(version, items)                                                                   \
    "\"playlist\":{\"playlistId\":\"" PL "\",\"publishedVersion\":" version ",\"items\":[" items   \
    "]}}"
#define ITEM_1 ITEM(A1, "IMAGE", "jpg", SHA1, 10, 1920, 1080, 245000)
#define ITEM_2 ITEM(A2, "VIDEO", "mp4", SHA2, 30, 1920, 1080, 8500000)
#define ITEM_3 ITEM(A3, "IMAGE", "png", SHA3, 5, 1080, 1920, 1200)
static const char good[] = HEAD("e:ven_01:47") PLAYLIST("3", ITEM_1 "," ITEM_2 "," ITEM_3);

static struct manifest *parse_ok(const char *body)
{
    struct manifest *m = NULL;
    struct manifest_error err = {.field = ""};
    int r = manifest_parse(body, strlen(body), &m, &err);
    if (r < 0)
        fail_msg("refused: %s: %s", err.field, err.reason);
    assert_non_null(m);
    return m;
}

/* ---- parsing ------------------------------------------------------------------------------ */

static void spec_example(void **state)
{
    /* as printed: "pl_042" and "a1b2c3..." are placeholders, not what a server may send */
    static const char printed[] =
        "{\"manifestEtag\":\"e:ven_01:47\",\"validToUtc\":\"2025-06-15T14:00:00Z\","
        "\"nextCheckSeconds\":60,\"settings\":{\"runMode\":\"KIOSK\",\"launchOnBoot\":true,"
        "\"autoRelaunch\":true,\"keepAwake\":true,\"watchdogReturnToForeground\":true,"
        "\"orientation\":\"LANDSCAPE\"},\"playlist\":{\"playlistId\":\"pl_042\","
        "\"publishedVersion\":3,\"items\":[{\"assetId\":\"ast_101\",\"type\":\"IMAGE\","
        "\"url\":\"https://cdn.example.com/ten_01/ast_101.jpg\",\"checksumSha256\":\"a1b2c3...\","
        "\"durationSeconds\":10,\"widthPx\":1920,\"heightPx\":1080,\"fileSizeBytes\":245000}]}}";
    struct manifest *m = NULL;
    struct manifest_error err;
    assert_int_equal(manifest_parse(printed, strlen(printed), &m, &err), -EBADMSG);
    assert_null(m);
    assert_string_equal(err.field, "playlist.playlistId");
    assert_string_equal(err.reason, "not a UUID");

    m = parse_ok(good);
    assert_string_equal(m->etag, "e:ven_01:47");
    int64_t ms;
    assert_int_equal(ids_timestamp_parse("2025-06-15T14:00:00.000Z", &ms), 0);
    assert_int_equal(m->valid_to_ms, ms);
    assert_int_equal(m->next_check_seconds, 60);
    assert_int_equal(m->settings.run_mode, MANIFEST_RUN_KIOSK);
    assert_true(m->settings.launch_on_boot && m->settings.auto_relaunch && m->settings.keep_awake &&
                m->settings.watchdog_return_to_foreground);
    assert_int_equal(m->settings.orientation, MANIFEST_LANDSCAPE);
    assert_int_equal(m->settings.cache_budget_bytes, 2000000000);
    assert_false(m->settings.cache_budget_default);
    assert_true(m->has_playlist);
    assert_string_equal(m->playlist_id, PL);
    assert_int_equal(m->published_version, 3);
    assert_int_equal(m->n_items, 3);
    const struct manifest_item *it = &m->items[0];
    assert_string_equal(it->asset_id, A1);
    assert_int_equal(it->type, MANIFEST_ITEM_IMAGE);
    assert_string_equal(it->url, "https://cdn.example.com/ten_01/" A1 ".jpg");
    assert_string_equal(it->checksum_sha256, SHA1);
    assert_int_equal(it->duration_seconds, 10);
    assert_int_equal(it->width_px, 1920);
    assert_int_equal(it->height_px, 1080);
    assert_int_equal(it->file_size_bytes, 245000);
    it = &m->items[1];
    assert_string_equal(it->asset_id, A2);
    assert_int_equal(it->type, MANIFEST_ITEM_VIDEO);
    assert_int_equal(it->duration_seconds, 30);
    assert_int_equal(it->file_size_bytes, 8500000);
    assert_int_equal(m->items[2].height_px, 1920);
    manifest_free(m);

    /* without cacheBudgetBytes (§27.8.1 has none), or null: 2 GB */
    json_t *j = json_loads(good, 0, NULL);
    json_object_del(json_object_get(j, "settings"), "cacheBudgetBytes");
    _cleanup_free_ char *absent = json_dumps(j, JSON_COMPACT);
    json_object_set_new(json_object_get(j, "settings"), "cacheBudgetBytes", json_null());
    _cleanup_free_ char *null = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    const char *bodies[] = {absent, null};
    for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
        m = parse_ok(bodies[i]);
        assert_int_equal(m->settings.cache_budget_bytes, MANIFEST_BUDGET_DEFAULT);
        assert_true(m->settings.cache_budget_default);
        manifest_free(m);
    }
    assert_null(manifest_free(NULL));
}

static json_t *server_item(const char *id, const char *type, const char *sha, int64_t dur,
                           int64_t w, int64_t h, int64_t size)
{
    /* as items_load (resolver/manifest.c) makes it, with content_media_url's URL shape */
    _cleanup_free_ char *url = xasprintf("http://127.0.0.1:8080/media/%s.%s?expires=1781539200&"
                                         "signature=%s",
                                         sha, !strcmp(type, "VIDEO") ? "mp4" : "jpg", sha);
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "assetId", id, "type", type, "url", url,
                     "checksumSha256", sha, "durationSeconds", (json_int_t)dur, "widthPx",
                     (json_int_t)w, "heightPx", (json_int_t)h, "fileSizeBytes", (json_int_t)size);
}

static void server_render(void **state)
{
    struct resolver_result res = {.playlist_id = PL,
                                  .playlist_version = 7,
                                  .reason = RESOLVER_REASON_SLOT,
                                  .slot_id = "slot-1",
                                  .valid_to_utc = 1781532000, /* 2026-06-15T14:00:00Z */
                                  .next_check_seconds = 60};
    struct rl_device d = {.launch_on_boot = true,
                          .auto_relaunch = false,
                          .keep_awake = true,
                          .watchdog = false,
                          .cache_budget = 123456789,
                          .live = true};
    snprintf(d.run_mode, sizeof(d.run_mode), "SHARED");
    snprintf(d.orientation, sizeof(d.orientation), "PORTRAIT");
    json_t *items = json_array();
    json_array_append_new(items, server_item(A1, "IMAGE", SHA1, 10, 1920, 1080, 245000));
    /* a video's duration is its own length; sizes the store never filled in are 0 */
    json_array_append_new(items, server_item(A2, "VIDEO", SHA2, 31, 0, 0, 8500000));
    json_array_append_new(items, server_item(A1, "IMAGE", SHA1, 4, 1920, 1080, 245000));
    struct manifest_doc doc = {
        .now_utc = 1781526896, .epoch = 47, .res = &res, .device = &d, .items = items};
    char tag[MANIFEST_TAG_LEN];
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(manifest_render(&doc, &body, &len, tag), 0);
    struct manifest *m = NULL;
    struct manifest_error err;
    assert_int_equal(manifest_parse(body, len, &m, &err), 0);
    assert_string_equal(m->etag, tag);
    assert_int_equal(m->valid_to_ms, INT64_C(1781532000) * 1000);
    assert_int_equal(m->settings.run_mode, MANIFEST_RUN_SHARED);
    assert_int_equal(m->settings.orientation, MANIFEST_PORTRAIT);
    assert_true(m->settings.launch_on_boot && !m->settings.auto_relaunch &&
                m->settings.keep_awake && !m->settings.watchdog_return_to_foreground);
    assert_int_equal(m->settings.cache_budget_bytes, 123456789);
    assert_string_equal(m->playlist_id, PL);
    assert_int_equal(m->published_version, 7);
    assert_int_equal(m->n_items, 3);
    assert_string_equal(m->items[1].asset_id, A2);
    assert_int_equal(m->items[1].width_px, 0);
    assert_int_equal(m->items[2].duration_seconds, 4);
    assert_non_null(strstr(m->items[0].url, "/media/" SHA1 ".jpg?expires="));
    m = manifest_free(m);
    free(body);

    /* an empty playlist, and none */
    json_t *none = json_array();
    doc.items = none;
    assert_int_equal(manifest_render(&doc, &body, &len, tag), 0);
    assert_int_equal(manifest_parse(body, len, &m, &err), 0);
    assert_true(m->has_playlist);
    assert_int_equal(m->n_items, 0);
    assert_null(m->items);
    m = manifest_free(m);
    free(body);
    doc.items = NULL;
    doc.degraded = true;
    assert_int_equal(manifest_render(&doc, &body, &len, tag), 0);
    assert_int_equal(manifest_parse(body, len, &m, &err), 0);
    assert_false(m->has_playlist);
    assert_string_equal(m->playlist_id, "");
    assert_int_equal(m->n_items, 0);
    m = manifest_free(m);
    free(body);
    json_decref(none);
    json_decref(items);

    /* test-render.c's body_shape literal, with the UUIDs a real store holds */
    static const char shape[] =
        "{\"manifestEtag\":\"m-0123456789abcdef0123456789abcdef\",\"validToUtc\":"
        "\"2026-06-15T14:00:00.000Z\",\"nextCheckSeconds\":60,\"settings\":{\"runMode\":"
        "\"KIOSK\",\"launchOnBoot\":true,\"autoRelaunch\":false,\"keepAwake\":true,"
        "\"watchdogReturnToForeground\":false,\"orientation\":\"LANDSCAPE\",\"cacheBudgetBytes\":"
        "2000000000},\"playlist\":{\"playlistId\":\"" PL "\",\"publishedVersion\":3,\"items\":[{"
        "\"assetId\":\"" A1 "\",\"type\":\"IMAGE\",\"url\":\"https://cdn.example.com/ten_01/"
        "ast-pl_042-v3.jpg?Expires=1&Signature=abc\",\"checksumSha256\":\"" SHA1 "\","
        "\"durationSeconds\":10,\"widthPx\":1920,\"heightPx\":1080,\"fileSizeBytes\":245000}]}}";
    m = parse_ok(shape);
    assert_string_equal(m->etag, "m-0123456789abcdef0123456789abcdef");
    assert_int_equal(m->n_items, 1);
    manifest_free(m);
}

static void playlist_null(void **state)
{
    static const char body[] = HEAD("e:ven_01:48") "\"playlist\":null}";
    struct manifest *m = parse_ok(body);
    assert_false(m->has_playlist);
    assert_int_equal(m->n_items, 0);
    assert_int_equal(m->published_version, 0);
    manifest_free(m);
}

/* @path in @root ("playlist.items[1].url"): its parent and the last name or index. */
static json_t *parent_of(json_t *root, const char *path, char *last, size_t cap, long *index)
{
    json_t *cur = root;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL, *tok = strtok_r(buf, ".", &save), *next;
    for (; tok; tok = next) {
        next = strtok_r(NULL, ".", &save);
        char *br = strchr(tok, '[');
        long idx = -1;
        if (br) {
            *br = '\0';
            idx = strtol(br + 1, NULL, 10);
        }
        if (!next && idx < 0) {
            snprintf(last, cap, "%s", tok);
            *index = -1;
            return cur;
        }
        cur = json_object_get(cur, tok);
        if (!next) {
            snprintf(last, cap, "%s", tok);
            *index = idx;
            return cur;
        }
        if (idx >= 0)
            cur = json_array_get(cur, (size_t)idx);
    }
    return NULL;
}

/* @good with @path set to the JSON @value (NULL: removed). */
static char *mutated(const char *path, const char *value)
{
    json_t *root = json_loads(good, JSON_PRESERVE_ORDER, NULL);
    char last[64] = "";
    long index = -1;
    json_t *parent = parent_of(root, path, last, sizeof(last), &index);
    assert_non_null(parent);
    json_t *v = value ? json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    assert_true(!value || v);
    if (index >= 0)
        assert_int_equal(v ? json_array_set_new(parent, (size_t)index, v)
                           : json_array_remove(parent, (size_t)index),
                         0);
    else
        assert_int_equal(v ? json_object_set_new(parent, last, v) : json_object_del(parent, last),
                         0);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

struct bad {
    const char *path, *value; /* value NULL: the member removed */
    const char *field, *reason;
    int r;
};

static void expect_refused(const char *body, size_t len, const char *field, const char *reason,
                           int want)
{
    struct manifest *m = (struct manifest *)0x1;
    struct manifest_error err = {.field = ""};
    int r = manifest_parse(body, len, &m, &err);
    if (r != want || strcmp(err.field, field) || (reason && strcmp(err.reason, reason)))
        fail_msg("%.200s: got %d %s: %s, want %d %s: %s", body, r, err.field, err.reason, want,
                 field, reason ? reason : "(any)");
    assert_ptr_equal(m, (struct manifest *)0x1); /* untouched */
}

static void invalid_fields(void **state)
{
#define I0 "playlist.items[0]."
#define I1 "playlist.items[1]."
#define B  -EBADMSG
    static const struct bad cases[] = {
        {"manifestEtag", NULL, "manifestEtag", "missing", B},
        {"manifestEtag", "5", "manifestEtag", "not a string", B},
        {"manifestEtag", "\"\"", "manifestEtag", "empty", B},
        {"manifestEtag", "\"m 1\"", "manifestEtag",
         "holds a quote, a space or a byte outside visible ASCII", B},
        {"manifestEtag", "\"m\\\"1\"", "manifestEtag",
         "holds a quote, a space or a byte outside visible ASCII", B},
        {"manifestEtag", "\"m-\\u00e9\"", "manifestEtag",
         "holds a quote, a space or a byte outside visible ASCII", B},
        {"manifestEtag", "\"m\\u0000x\"", "(body)", NULL, B}, /* jansson refuses \u0000 */
        {"validToUtc", NULL, "validToUtc", "missing", B},
        {"validToUtc", "1750000000", "validToUtc", "not a string", B},
        {"validToUtc", "\"2025-06-15 14:00:00\"", "validToUtc",
         "not an ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.mmm]Z)", B},
        {"validToUtc", "\"2025-02-30T14:00:00Z\"", "validToUtc",
         "not an ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.mmm]Z)", B},
        {"validToUtc", "\"2025-06-15T14:00:00+02:00\"", "validToUtc",
         "not an ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.mmm]Z)", B},
        {"nextCheckSeconds", NULL, "nextCheckSeconds", "missing", B},
        {"nextCheckSeconds", "0", "nextCheckSeconds", "0 is outside 1…604800", B},
        {"nextCheckSeconds", "-60", "nextCheckSeconds", "-60 is outside 1…604800", B},
        {"nextCheckSeconds", "604801", "nextCheckSeconds", "604801 is outside 1…604800", B},
        {"nextCheckSeconds", "60.5", "nextCheckSeconds", "not an integer", B},
        {"nextCheckSeconds", "\"60\"", "nextCheckSeconds", "not an integer", B},
        {"nextCheckSeconds", "true", "nextCheckSeconds", "not an integer", B},
        {"settings", NULL, "settings", "missing", B},
        {"settings", "null", "settings", "not an object", B},
        {"settings", "[]", "settings", "not an object", B},
        {"settings.runMode", NULL, "settings.runMode", "missing", B},
        {"settings.runMode", "\"kiosk\"", "settings.runMode", "not SHARED or KIOSK", B},
        {"settings.runMode", "\"SIGNAGE\"", "settings.runMode", "not SHARED or KIOSK", B},
        {"settings.runMode", "1", "settings.runMode", "not a string", B},
        {"settings.launchOnBoot", NULL, "settings.launchOnBoot", "missing", B},
        {"settings.launchOnBoot", "\"true\"", "settings.launchOnBoot", "not a boolean", B},
        {"settings.autoRelaunch", "1", "settings.autoRelaunch", "not a boolean", B},
        {"settings.autoRelaunch", NULL, "settings.autoRelaunch", "missing", B},
        {"settings.keepAwake", "null", "settings.keepAwake", "not a boolean", B},
        {"settings.keepAwake", NULL, "settings.keepAwake", "missing", B},
        {"settings.watchdogReturnToForeground", "0", "settings.watchdogReturnToForeground",
         "not a boolean", B},
        {"settings.watchdogReturnToForeground", NULL, "settings.watchdogReturnToForeground",
         "missing", B},
        {"settings.orientation", NULL, "settings.orientation", "missing", B},
        {"settings.orientation", "\"landscape\"", "settings.orientation",
         "not LANDSCAPE or PORTRAIT", B},
        {"settings.orientation", "\"UPSIDE_DOWN\"", "settings.orientation",
         "not LANDSCAPE or PORTRAIT", B},
        {"settings.cacheBudgetBytes", "0", "settings.cacheBudgetBytes",
         "0 is outside 1…9223372036854775807", B},
        {"settings.cacheBudgetBytes", "-1", "settings.cacheBudgetBytes",
         "-1 is outside 1…9223372036854775807", B},
        {"settings.cacheBudgetBytes", "\"2GB\"", "settings.cacheBudgetBytes", "not an integer", B},
        {"settings.cacheBudgetBytes", "2e9", "settings.cacheBudgetBytes", "not an integer", B},
        {"playlist", NULL, "playlist", "missing", B},
        {"playlist", "[]", "playlist", "neither an object nor null", B},
        {"playlist", "\"pl\"", "playlist", "neither an object nor null", B},
        {"playlist.playlistId", NULL, "playlist.playlistId", "missing", B},
        {"playlist.playlistId", "\"pl_042\"", "playlist.playlistId", "not a UUID", B},
        {"playlist.playlistId", "42", "playlist.playlistId", "not a string", B},
        {"playlist.playlistId", "\"" PL "0\"", "playlist.playlistId", "not a UUID", B},
        {"playlist.publishedVersion", NULL, "playlist.publishedVersion", "missing", B},
        {"playlist.publishedVersion", "0", "playlist.publishedVersion",
         "0 is outside 1…9007199254740991", B},
        {"playlist.publishedVersion", "9007199254740992", "playlist.publishedVersion",
         "9007199254740992 is outside 1…9007199254740991", B},
        {"playlist.publishedVersion", "3.0", "playlist.publishedVersion", "not an integer", B},
        {"playlist.items", NULL, "playlist.items", "missing", B},
        {"playlist.items", "{}", "playlist.items", "not an array", B},
        {"playlist.items", "null", "playlist.items", "not an array", B},
        {"playlist.items[1]", "\"" A2 "\"", "playlist.items[1]", "not an object", B},
        {"playlist.items[0]", "null", "playlist.items[0]", "not an object", B},
        {I0 "assetId", NULL, I0 "assetId", "missing", B},
        {I0 "assetId", "\"ast_101\"", I0 "assetId", "not a UUID", B},
        {I0 "assetId", "\"../../etc/passwd\"", I0 "assetId", "not a UUID", B},
        {I0 "assetId", "101", I0 "assetId", "not a string", B},
        {I0 "type", NULL, I0 "type", "missing", B},
        {I0 "type", "\"image\"", I0 "type", "not IMAGE or VIDEO", B},
        {I0 "type", "\"AUDIO\"", I0 "type", "not IMAGE or VIDEO", B},
        {I0 "url", NULL, I0 "url", "missing", B},
        {I0 "url", "\"\"", I0 "url", "empty", B},
        {I0 "url", "\"ftp://cdn.example.com/a.jpg\"", I0 "url", "not an http:// or https:// URL",
         B},
        {I0 "url", "\"file:///etc/passwd\"", I0 "url", "not an http:// or https:// URL", B},
        {I0 "url", "\"/media/a.jpg\"", I0 "url", "not an http:// or https:// URL", B},
        {I0 "url", "\"https://\"", I0 "url", "has no host", B},
        {I0 "url", "\"https:///a.jpg\"", I0 "url", "has no host", B},
        {I0 "url", "\"https://cdn.example.com/a b.jpg\"", I0 "url",
         "holds a space, a control or non-ASCII byte, or a character URLs cannot hold", B},
        {I0 "url", "\"https://cdn.example.com/\\u00e9.jpg\"", I0 "url",
         "holds a space, a control or non-ASCII byte, or a character URLs cannot hold", B},
        {I0 "url", "\"https://cdn.example.com/a.jpg\\n\"", I0 "url",
         "holds a space, a control or non-ASCII byte, or a character URLs cannot hold", B},
        {I0 "checksumSha256", NULL, I0 "checksumSha256", "missing", B},
        {I0 "checksumSha256", "\"a1b2c3...\"", I0 "checksumSha256", "not 64 lower-case hex digits",
         B},
        {I0 "checksumSha256",
         "\"A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90\"",
         I0 "checksumSha256", "not 64 lower-case hex digits", B},
        {I0 "checksumSha256", "\"" SHA1 "0\"", I0 "checksumSha256", "not 64 lower-case hex digits",
         B},
        {I0 "checksumSha256",
         "\"g1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90\"",
         I0 "checksumSha256", "not 64 lower-case hex digits", B},
        {I0 "durationSeconds", NULL, I0 "durationSeconds", "missing", B},
        {I0 "durationSeconds", "0", I0 "durationSeconds", "0 is outside 1…86400", B},
        {I0 "durationSeconds", "-5", I0 "durationSeconds", "-5 is outside 1…86400", B},
        {I0 "durationSeconds", "86401", I0 "durationSeconds", "86401 is outside 1…86400", B},
        {I0 "durationSeconds", "10.5", I0 "durationSeconds", "not an integer", B},
        {I0 "durationSeconds", "\"10\"", I0 "durationSeconds", "not an integer", B},
        {I1 "durationSeconds", NULL, I1 "durationSeconds", "missing", B},
        {I1 "durationSeconds", "-1", I1 "durationSeconds", "-1 is outside 0…9223372036854775807",
         B},
        {I0 "widthPx", NULL, I0 "widthPx", "missing", B},
        {I0 "widthPx", "-1", I0 "widthPx", "-1 is outside 0…65535", B},
        {I0 "widthPx", "65536", I0 "widthPx", "65536 is outside 0…65535", B},
        {I0 "widthPx", "\"1920\"", I0 "widthPx", "not an integer", B},
        {I0 "heightPx", NULL, I0 "heightPx", "missing", B},
        {I0 "heightPx", "1080.0", I0 "heightPx", "not an integer", B},
        {I0 "fileSizeBytes", NULL, I0 "fileSizeBytes", "missing", B},
        {I0 "fileSizeBytes", "-1", I0 "fileSizeBytes", "-1 is outside 0…1125899906842624", B},
        {I0 "fileSizeBytes", "1125899906842625", I0 "fileSizeBytes",
         "1125899906842625 is outside 0…1125899906842624", B},
        {I0 "fileSizeBytes", "\"245000\"", I0 "fileSizeBytes", "not an integer", B},
        /* the same asset twice must be the same file */
        {"playlist.items[2]", ITEM(A1, "IMAGE", "jpg", SHA3, 5, 1920, 1080, 245000),
         "playlist.items[2].checksumSha256", "differs from items[0], the same assetId", B},
        {"playlist.items[2]", ITEM(A1, "IMAGE", "jpg", SHA1, 5, 1920, 1080, 245001),
         "playlist.items[2].fileSizeBytes", "differs from items[0], the same assetId", B},
        {"playlist.items[0]", ITEM(A2, "IMAGE", "jpg", SHA2, 5, 1920, 1080, 8500000),
         "playlist.items[1].type", "differs from items[0], the same assetId", B},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *body = mutated(cases[i].path, cases[i].value);
        expect_refused(body, strlen(body), cases[i].field, cases[i].reason, cases[i].r);
    }

    /* what is not a manifest at all */
    static const char *const junk[] = {
        "", "[]", "\"manifest\"", "null", "{\"a\":1,\"a\":1}", "{\"manifestEtag\":", "{]"};
    for (size_t i = 0; i < ARRAY_SIZE(junk); i++)
        expect_refused(junk[i], strlen(junk[i]), "(body)", NULL, -EBADMSG);
    struct manifest *m = NULL;
    struct manifest_error err;
    assert_int_equal(manifest_parse("[1]", 3, &m, &err), -EBADMSG);
    assert_string_equal(err.reason, "not a JSON object");
    assert_int_equal(manifest_parse("{\n  \"a\": }", 11, &m, &err), -EBADMSG);
    assert_non_null(strstr(err.reason, "line 2, column"));
    assert_int_equal(manifest_parse(good, strlen(good), &m, NULL), 0); /* err is optional */
    manifest_free(m);
    assert_int_equal(manifest_parse("[", 1, &m, NULL), -EBADMSG);

    /* what a video's durationSeconds may be: anything ≥ 0, it plays to its end anyway */
    static const char *const video_durations[] = {"0", "1", "86401", "9223372036854775807"};
    for (size_t i = 0; i < ARRAY_SIZE(video_durations); i++) {
        _cleanup_free_ char *body = mutated(I1 "durationSeconds", video_durations[i]);
        manifest_free(parse_ok(body));
    }
    /* and what the server sends when the store does not know the size of a picture */
    _cleanup_free_ char *zero_w = mutated(I0 "widthPx", "0");
    manifest_free(parse_ok(zero_w));
    _cleanup_free_ char *zero_size = mutated(I0 "fileSizeBytes", "0");
    manifest_free(parse_ok(zero_size));
    _cleanup_free_ char *http = mutated(I0 "url", "\"HTTP://127.0.0.1:8080/media/x.jpg?a=1#f\"");
    manifest_free(parse_ok(http));
#undef I0
#undef I1
#undef B
}

/* @good with @n copies of its first item. */
static char *with_items(size_t n)
{
    json_t *root = json_loads(good, JSON_PRESERVE_ORDER, NULL);
    json_t *items = json_object_get(json_object_get(root, "playlist"), "items");
    json_t *first = json_incref(json_array_get(items, 0));
    json_array_clear(items);
    for (size_t i = 0; i < n; i++)
        json_array_append(items, first);
    json_decref(first);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void bounds(void **state)
{
    /* items: 1000, not 1001 */
    _cleanup_free_ char *most = with_items(MANIFEST_ITEMS_MAX);
    struct manifest *m = parse_ok(most);
    assert_int_equal(m->n_items, MANIFEST_ITEMS_MAX);
    manifest_free(m);
    _cleanup_free_ char *over = with_items(MANIFEST_ITEMS_MAX + 1);
    expect_refused(over, strlen(over), "playlist.items", "more than 1000 items", -E2BIG);

    /* the tag: 128 bytes, not 129 */
    _cleanup_free_ char *t128 = repeat('e', MANIFEST_ETAG_MAX);
    _cleanup_free_ char *v128 = xasprintf("\"%s\"", t128);
    _cleanup_free_ char *b128 = mutated("manifestEtag", v128);
    manifest_free(parse_ok(b128));
    _cleanup_free_ char *v129 = xasprintf("\"%se\"", t128);
    _cleanup_free_ char *b129 = mutated("manifestEtag", v129);
    expect_refused(b129, strlen(b129), "manifestEtag", "longer than 128 bytes", -E2BIG);

    /* a URL: 4096 bytes, not 4097 */
    const char *prefix = "https://cdn.example.com/";
    _cleanup_free_ char *path = repeat('p', MANIFEST_URL_MAX - strlen(prefix));
    _cleanup_free_ char *u4096 = xasprintf("\"%s%s\"", prefix, path);
    _cleanup_free_ char *bu4096 = mutated("playlist.items[0].url", u4096);
    manifest_free(parse_ok(bu4096));
    _cleanup_free_ char *u4097 = xasprintf("\"%s%sp\"", prefix, path);
    _cleanup_free_ char *bu4097 = mutated("playlist.items[0].url", u4097);
    expect_refused(bu4097, strlen(bu4097), "playlist.items[0].url", "longer than 4096 bytes",
                   -E2BIG);

    /* the body: 4 MiB, not a byte more (padded with spaces, which JSON allows) */
    size_t n = strlen(good);
    char *big = xmalloc(MANIFEST_BODY_MAX + 2);
    memcpy(big, good, n);
    memset(big + n, ' ', MANIFEST_BODY_MAX + 1 - n);
    big[MANIFEST_BODY_MAX + 1] = '\0';
    m = NULL;
    struct manifest_error err;
    assert_int_equal(manifest_parse(big, MANIFEST_BODY_MAX, &m, &err), 0);
    manifest_free(m);
    expect_refused(big, MANIFEST_BODY_MAX + 1, "(body)", "larger than 4194304 bytes", -E2BIG);
    free(big);

    /* nesting, unknown members included: 32 levels, not 33 */
    for (unsigned depth = MANIFEST_DEPTH_MAX - 1; depth <= MANIFEST_DEPTH_MAX; depth++) {
        /* the root is one level: an unknown member nested @depth more */
        _cleanup_free_ char *open = repeat('[', depth);
        _cleanup_free_ char *close = repeat(']', depth);
        _cleanup_free_ char *body = xasprintf("{\"deep\":%s%s,%s", open, close, good + 1);
        if (depth < MANIFEST_DEPTH_MAX) {
            manifest_free(parse_ok(body));
        } else {
            assert_int_equal(manifest_parse(body, strlen(body), &m, &err), -E2BIG);
            assert_string_equal(err.field, "(body)");
            assert_non_null(strstr(err.reason, "nested deeper than 32"));
        }
    }
}

static void unknown_members(void **state)
{
    /* a newer server's additions anywhere are ignored; what is known reads the same */
    json_t *root = json_loads(good, JSON_PRESERVE_ORDER, NULL);
    json_object_set_new(root, "schemaVersion", json_integer(2));
    json_object_set_new(root, "future", json_pack("{s:[i,{s:n}]}", "x", 1, "y"));
    json_object_set_new(json_object_get(root, "settings"), "brightness", json_real(0.8));
    json_t *pl = json_object_get(root, "playlist");
    json_object_set_new(pl, "name", json_string("Friday night"));
    json_t *item = json_array_get(json_object_get(pl, "items"), 1);
    json_object_set_new(item, "transition", json_string("FADE"));
    json_object_set_new(item, "muted", json_true());
    _cleanup_free_ char *body = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    struct manifest *a = parse_ok(good), *b = parse_ok(body);
    assert_string_equal(a->etag, b->etag);
    assert_int_equal(a->valid_to_ms, b->valid_to_ms);
    assert_memory_equal(&a->settings, &b->settings, sizeof(a->settings));
    assert_int_equal(a->n_items, b->n_items);
    for (size_t i = 0; i < a->n_items; i++) {
        assert_string_equal(a->items[i].url, b->items[i].url);
        assert_string_equal(a->items[i].asset_id, b->items[i].asset_id);
        assert_int_equal(a->items[i].duration_seconds, b->items[i].duration_seconds);
    }
    manifest_free(a);
    manifest_free(b);
}

/* ---- pure helpers ------------------------------------------------------------------------- */

/* Ready when the asset id is among the NULL-terminated @ud. */
static bool ready_in(const struct manifest_item *it, void *ud)
{
    for (const char *const *p = ud; *p; p++)
        if (!strcmp(*p, it->asset_id))
            return true;
    return false;
}

static void helpers(void **state)
{
    /* five items over three assets: A1 A2 A1 A3 A2 */
    json_t *root = json_loads(good, JSON_PRESERVE_ORDER, NULL);
    json_t *items = json_object_get(json_object_get(root, "playlist"), "items");
    json_array_append(items, json_array_get(items, 0));
    json_array_append(items, json_array_get(items, 1));
    json_array_insert(items, 2, json_array_get(items, 0));
    json_array_remove(items, 4);
    _cleanup_free_ char *body = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    struct manifest *m = parse_ok(body);
    const char *order[] = {A1, A2, A1, A3, A2};
    assert_int_equal(m->n_items, ARRAY_SIZE(order));
    for (size_t i = 0; i < ARRAY_SIZE(order); i++)
        assert_string_equal(m->items[i].asset_id, order[i]);

    const char *all[] = {A1, A2, A3, NULL}, *some[] = {A2, A3, NULL}, *none[] = {NULL};
    const char *only3[] = {A3, NULL};
    assert_int_equal(manifest_playability(m, ready_in, all), MANIFEST_PLAYABLE_ALL);
    assert_int_equal(manifest_playability(m, ready_in, some), MANIFEST_PLAYABLE_PARTIAL);
    assert_int_equal(manifest_playability(m, ready_in, only3), MANIFEST_PLAYABLE_PARTIAL);
    assert_int_equal(manifest_playability(m, ready_in, none), MANIFEST_PLAYABLE_NONE);

    /* the rotation: in order, wrapping, skipping what is not ready */
    size_t at = SIZE_MAX, seq[12];
    for (size_t k = 0; k < ARRAY_SIZE(seq); k++) {
        assert_int_equal(manifest_rotation_next(m, at, ready_in, all, &at), 0);
        seq[k] = at;
    }
    for (size_t k = 0; k < ARRAY_SIZE(seq); k++)
        assert_int_equal(seq[k], k % 5);
    static const size_t without_a1[] = {1, 3, 4, 1, 3, 4};
    at = SIZE_MAX;
    for (size_t k = 0; k < ARRAY_SIZE(without_a1); k++) {
        assert_int_equal(manifest_rotation_next(m, at, ready_in, some, &at), 0);
        assert_int_equal(at, without_a1[k]);
    }
    /* one ready item plays again and again; past the end (an older manifest's index) is the top */
    assert_int_equal(manifest_rotation_next(m, 3, ready_in, only3, &at), 0);
    assert_int_equal(at, 3);
    assert_int_equal(manifest_rotation_next(m, 4, ready_in, all, &at), 0);
    assert_int_equal(at, 0);
    assert_int_equal(manifest_rotation_next(m, 99, ready_in, all, &at), 0);
    assert_int_equal(at, 0);
    at = 77;
    assert_int_equal(manifest_rotation_next(m, 0, ready_in, none, &at), -ENOENT);
    assert_int_equal(at, 77);

    /* two devices given the same bytes play the same sequence */
    struct manifest *other = parse_ok(body);
    size_t a = SIZE_MAX, b = SIZE_MAX;
    for (int k = 0; k < 50; k++) {
        const char **ready = k % 7 == 3 ? some : all;
        assert_int_equal(manifest_rotation_next(m, a, ready_in, ready, &a), 0);
        assert_int_equal(manifest_rotation_next(other, b, ready_in, ready, &b), 0);
        assert_int_equal(a, b);
        assert_string_equal(m->items[a].asset_id, other->items[b].asset_id);
    }
    manifest_free(other);

    /* the assets, each once, in order of first appearance */
    const struct manifest_item **assets = NULL;
    assert_int_equal(manifest_assets(m, &assets), 3);
    assert_ptr_equal(assets[0], &m->items[0]);
    assert_ptr_equal(assets[1], &m->items[1]);
    assert_ptr_equal(assets[2], &m->items[3]);
    free(assets);
    assert_true(manifest_references(m, A1));
    assert_true(manifest_references(m, A3));
    assert_false(manifest_references(m, PL));
    assert_false(manifest_references(NULL, A1));

    /* expiry at validToUtc exactly */
    assert_false(manifest_is_expired(m, m->valid_to_ms - 1));
    assert_true(manifest_is_expired(m, m->valid_to_ms));
    assert_true(manifest_is_expired(m, m->valid_to_ms + 1));
    manifest_free(m);

    /* nothing to play: no playlist, or an empty one */
    static const char nothing[] = HEAD("e:1") "\"playlist\":null}";
    static const char empty[] = HEAD("e:2") PLAYLIST("1", "");
    const char *bodies[] = {nothing, empty};
    for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
        m = parse_ok(bodies[i]);
        assert_int_equal(manifest_playability(m, ready_in, all), MANIFEST_PLAYABLE_NONE);
        assert_int_equal(manifest_rotation_next(m, SIZE_MAX, ready_in, all, &at), -ENOENT);
        assets = (const struct manifest_item **)0x1;
        assert_int_equal(manifest_assets(m, &assets), 0);
        assert_null(assets);
        assert_false(manifest_references(m, A1));
        manifest_free(m);
    }
}

/* ---- the store ---------------------------------------------------------------------------- */

/* A manifest body with tag @tag, whose playlist is version @version. */
static char *body_of(const char *tag, int version)
{
    return xasprintf(HEAD("%s") PLAYLIST("%d", ITEM_1), tag, version);
}

static char *tmpdir(void)
{
    char *dir = xstrdup("/tmp/test-manifest-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void rm_rf(const char *dir)
{
    _cleanup_free_ char *sub = xasprintf("%s/manifests", dir);
    DIR *d = opendir(sub);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                _cleanup_free_ char *p = xasprintf("%s/%s", sub, e->d_name);
                if (unlink(p) < 0)
                    rmdir(p);
            }
        closedir(d);
    }
    rmdir(sub);
    assert_int_equal(rmdir(dir), 0);
}

/* What a load shows, to compare states: each slot's state, body digest, ETag and tag. */
struct snap {
    enum manifest_slot_state state[MANIFEST_SLOT_COUNT];
    char tag[MANIFEST_SLOT_COUNT][32];
    char http_etag[MANIFEST_SLOT_COUNT][40];
    char sha[MANIFEST_SLOT_COUNT][HASH_SHA256_HEX_LEN];
};

static struct snap snap_of(const struct manifest_slots *s)
{
    struct snap n;
    memset(&n, 0, sizeof(n));
    for (int i = 0; i < MANIFEST_SLOT_COUNT; i++) {
        const struct manifest_slot *sl = &s->slot[i];
        n.state[i] = sl->state;
        if (sl->state == MANIFEST_SLOT_OK) {
            snprintf(n.tag[i], sizeof(n.tag[i]), "%s", sl->manifest->etag);
            snprintf(n.http_etag[i], sizeof(n.http_etag[i]), "%s", sl->http_etag);
            memcpy(n.sha[i], sl->sha256, HASH_SHA256_HEX_LEN);
        }
    }
    return n;
}

static struct snap load_snap(const char *dir, bool read_only, bool *recovered)
{
    struct manifest_store *s = NULL;
    assert_int_equal(manifest_store_open(dir, read_only, &s), 0);
    struct manifest_slots slots;
    assert_int_equal(manifest_store_load(s, &slots), 0);
    struct snap n = snap_of(&slots);
    if (recovered)
        *recovered = slots.recovered;
    manifest_slots_release(&slots);
    manifest_store_free(s);
    return n;
}

static void stage(struct manifest_store *s, const char *tag, int version, const char *etag)
{
    _cleanup_free_ char *body = body_of(tag, version);
    struct manifest_error err;
    assert_int_equal(manifest_store_stage(s, body, strlen(body), etag, NULL, &err), 0);
}

static void assert_slot(const struct manifest_slots *s, int i, const char *tag)
{
    if (!tag) {
        assert_int_equal(s->slot[i].state, MANIFEST_SLOT_ABSENT);
        assert_null(s->slot[i].manifest);
        return;
    }
    assert_int_equal(s->slot[i].state, MANIFEST_SLOT_OK);
    assert_string_equal(s->slot[i].manifest->etag, tag);
}

static void store_round_trip(void **state)
{
    _cleanup_free_ char *dir = tmpdir();
    struct manifest_store *s = NULL;

    /* read-only and nothing there yet: an empty store, nothing created */
    assert_int_equal(manifest_store_open(dir, true, &s), 0);
    struct manifest_slots slots;
    assert_int_equal(manifest_store_load(s, &slots), 0);
    for (int i = 0; i < MANIFEST_SLOT_COUNT; i++)
        assert_slot(&slots, i, NULL);
    assert_false(slots.recovered);
    manifest_slots_release(&slots);
    assert_int_equal(manifest_store_stage(s, good, strlen(good), NULL, NULL, NULL), -EROFS);
    assert_int_equal(manifest_store_apply(s), -EROFS);
    assert_int_equal(manifest_store_discard_staged(s), -EROFS);
    s = manifest_store_free(s);
    _cleanup_free_ char *sub = xasprintf("%s/manifests", dir);
    struct stat st;
    assert_int_equal(stat(sub, &st), -1);

    assert_int_equal(manifest_store_open(dir, false, &s), 0);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(manifest_store_apply(s), -ENOENT); /* nothing staged */

    /* stage A, with the weak ETag a gzipped answer carries; the manifest handed back */
    _cleanup_free_ char *a = body_of("m-a", 1);
    struct manifest *m = NULL;
    struct manifest_error err;
    assert_int_equal(manifest_store_stage(s, a, strlen(a), "W/\"m-a\"", &m, &err), 0);
    assert_string_equal(m->etag, "m-a");
    manifest_free(m);
    _cleanup_free_ char *staged_path = xasprintf("%s/staged.manifest", sub);
    assert_int_equal(stat(staged_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(manifest_store_load(s, &slots), 0);
    assert_slot(&slots, MANIFEST_SLOT_CURRENT, NULL);
    assert_slot(&slots, MANIFEST_SLOT_STAGED, "m-a");
    assert_string_equal(slots.slot[MANIFEST_SLOT_STAGED].http_etag, "W/\"m-a\"");
    char sha[HASH_SHA256_HEX_LEN];
    hash_sha256_hex(a, strlen(a), sha);
    assert_string_equal(slots.slot[MANIFEST_SLOT_STAGED].sha256, sha);
    manifest_slots_release(&slots);

    /* the file is the header line and the body exactly as received */
    _cleanup_free_ char *raw = NULL;
    size_t raw_len = 0;
    assert_int_equal(read_in(s, "staged.manifest", 1 << 20, &raw, &raw_len), 0);
    _cleanup_free_ char *want = xasprintf("marquee-manifest 1 %s W/\"m-a\"\n%s", sha, a);
    assert_string_equal(raw, want);

    /* refused bodies and ETags leave the staged slot as it was */
    _cleanup_free_ char *bad = mutated("playlist.items[0].type", "\"GIF\"");
    assert_int_equal(manifest_store_stage(s, bad, strlen(bad), NULL, NULL, &err), -EBADMSG);
    assert_string_equal(err.field, "playlist.items[0].type");
    static const char *const bad_etags[] = {"m-a", "\"m a\"", "W/m-a", "\"", "W/\"", "\"m\"x\""};
    for (size_t i = 0; i < ARRAY_SIZE(bad_etags); i++)
        assert_int_equal(manifest_store_stage(s, a, strlen(a), bad_etags[i], NULL, &err), -EINVAL);
    assert_int_equal(manifest_store_load(s, &slots), 0);
    assert_slot(&slots, MANIFEST_SLOT_STAGED, "m-a");
    manifest_slots_release(&slots);

    /* apply: A becomes current; nothing was current, so nothing becomes previous */
    assert_int_equal(manifest_store_apply(s), 0);
    assert_int_equal(manifest_store_load(s, &slots), 0);
    assert_slot(&slots, MANIFEST_SLOT_CURRENT, "m-a");
    assert_string_equal(slots.slot[MANIFEST_SLOT_CURRENT].http_etag, "W/\"m-a\"");
    assert_slot(&slots, MANIFEST_SLOT_PREVIOUS, NULL);
    assert_slot(&slots, MANIFEST_SLOT_STAGED, NULL);
    assert_false(slots.recovered);
    manifest_slots_release(&slots);

    /* B (no ETag given: the manifest's own, quoted), then C: previous ← current each time */
    stage(s, "m-b", 2, NULL);
    assert_int_equal(manifest_store_apply(s), 0);
    stage(s, "m-c", 3, "\"m-c\"");
    assert_int_equal(manifest_store_apply(s), 0);
    assert_int_equal(manifest_store_load(s, &slots), 0);
    assert_slot(&slots, MANIFEST_SLOT_CURRENT, "m-c");
    assert_slot(&slots, MANIFEST_SLOT_PREVIOUS, "m-b");
    assert_string_equal(slots.slot[MANIFEST_SLOT_PREVIOUS].http_etag, "\"m-b\"");
    assert_int_equal(slots.slot[MANIFEST_SLOT_PREVIOUS].manifest->published_version, 2);
    assert_slot(&slots, MANIFEST_SLOT_STAGED, NULL);
    manifest_slots_release(&slots);

    /* a staged one replaced, then discarded (twice is fine) */
    stage(s, "m-d", 4, NULL);
    stage(s, "m-e", 5, NULL);
    assert_int_equal(manifest_store_load(s, &slots), 0);
    assert_slot(&slots, MANIFEST_SLOT_STAGED, "m-e");
    manifest_slots_release(&slots);
    assert_int_equal(manifest_store_discard_staged(s), 0);
    assert_int_equal(manifest_store_discard_staged(s), 0);
    assert_int_equal(manifest_store_apply(s), -ENOENT);
    s = manifest_store_free(s);
    assert_null(manifest_store_free(NULL));

    /* a second process reading meanwhile sees the same */
    struct snap ro = load_snap(dir, true, NULL), rw = load_snap(dir, false, NULL);
    assert_memory_equal(&ro, &rw, sizeof(ro));
    assert_string_equal(rw.tag[MANIFEST_SLOT_CURRENT], "m-c");

    /* nowhere to put it */
    _cleanup_free_ char *missing = xasprintf("%s/no/such", dir);
    s = (struct manifest_store *)0x1;
    assert_int_equal(manifest_store_open(missing, false, &s), -ENOENT);
    assert_ptr_equal(s, (struct manifest_store *)0x1);
    rm_rf(dir);
}

/* Replaces the file @name of the store in @dir by @len bytes of @data. */
static void put_file(const char *dir, const char *name, const char *data, size_t len)
{
    _cleanup_free_ char *p = xasprintf("%s/manifests/%s", dir, name);
    FILE *f = fopen(p, "we");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A slot file with a correct header and digest around @body (valid or not). */
static char *wrapped(const char *body)
{
    char sha[HASH_SHA256_HEX_LEN];
    hash_sha256_hex(body, strlen(body), sha);
    return xasprintf("marquee-manifest 1 %s \"x\"\n%s", sha, body);
}

/* A store in a new directory holding current @cur and previous @prev (tags; NULL: none). */
static char *store_with(const char *cur, const char *prev)
{
    char *dir = tmpdir();
    struct manifest_store *s = NULL;
    assert_int_equal(manifest_store_open(dir, false, &s), 0);
    if (prev) {
        stage(s, prev, 1, NULL);
        assert_int_equal(manifest_store_apply(s), 0);
    }
    if (cur) {
        stage(s, cur, 2, NULL);
        assert_int_equal(manifest_store_apply(s), 0);
    }
    manifest_store_free(s);
    return dir;
}

static void store_corrupt(void **state)
{
    _cleanup_free_ char *valid = body_of("m-a", 1);
    _cleanup_free_ char *flipped = wrapped(valid);
    flipped[strlen(flipped) - 10] ^= 0x20; /* a damaged block */
    _cleanup_free_ char *invalid_body = mutated("playlist.items[1].type", "\"AUDIO\"");
    _cleanup_free_ char *invalid = wrapped(invalid_body);
    _cleanup_free_ char *not_json = wrapped("{\"manifestEtag\":");
    _cleanup_free_ char *bad_etag = xstrdup(flipped);
    memcpy(strstr(bad_etag, "\"x\""), "x\"\"", 3);
    const struct {
        const char *data;
        const char *reason;
    } damage[] = {
        {"", "no marquee-manifest header line"},
        {"{\"manifestEtag\":\"m-a\"}", "no marquee-manifest header line"},
        {"marquee-manifest 1 abc \"x\"\n{}", "a malformed header line"},
        {bad_etag, "a malformed header line"},
        {flipped, "its contents do not match their SHA-256 (damaged)"},
        {invalid, "not IMAGE or VIDEO"},
        {not_json, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(damage) + 2; i++) {
        _cleanup_free_ char *dir = store_with("m-b", "m-a");
        _cleanup_free_ char *cur = xasprintf("%s/manifests/current.manifest", dir);
        if (i < ARRAY_SIZE(damage)) {
            put_file(dir, "current.manifest", damage[i].data, strlen(damage[i].data));
        } else if (i == ARRAY_SIZE(damage)) {
            assert_int_equal(truncate(cur, HEADER_MAX + MANIFEST_BODY_MAX + 1), 0); /* huge */
        } else {
            assert_int_equal(unlink(cur), 0);
            assert_int_equal(mkdir(cur, 0700), 0); /* not a file at all */
        }
        struct manifest_store *s = NULL;
        assert_int_equal(manifest_store_open(dir, false, &s), 0);
        struct manifest_slots slots;
        assert_int_equal(manifest_store_load(s, &slots), 0);
        const struct manifest_slot *c = &slots.slot[MANIFEST_SLOT_CURRENT];
        assert_int_equal(c->state, MANIFEST_SLOT_CORRUPT);
        assert_null(c->manifest);
        assert_null(c->http_etag);
        if (i < ARRAY_SIZE(damage) && damage[i].reason)
            assert_string_equal(c->error.reason, damage[i].reason);
        assert_true(c->error.reason[0] != '\0');
        /* previous still loads: the fallback */
        assert_slot(&slots, MANIFEST_SLOT_PREVIOUS, "m-a");
        manifest_slots_release(&slots);

        /* a new manifest applied over a damaged current keeps the good previous */
        if (i <= ARRAY_SIZE(damage)) {
            stage(s, "m-c", 3, NULL);
            assert_int_equal(manifest_store_apply(s), 0);
            assert_int_equal(manifest_store_load(s, &slots), 0);
            assert_slot(&slots, MANIFEST_SLOT_CURRENT, "m-c");
            assert_slot(&slots, MANIFEST_SLOT_PREVIOUS, "m-a");
            assert_slot(&slots, MANIFEST_SLOT_STAGED, NULL);
            manifest_slots_release(&slots);
        }
        manifest_store_free(s);
        rm_rf(dir);
    }

    /* a damaged staged file is not applied, and reported */
    _cleanup_free_ char *dir = store_with("m-b", "m-a");
    put_file(dir, "staged.manifest", flipped, strlen(flipped));
    struct manifest_store *s = NULL;
    assert_int_equal(manifest_store_open(dir, false, &s), 0);
    assert_int_equal(manifest_store_apply(s), -EBADMSG);
    struct manifest_slots slots;
    assert_int_equal(manifest_store_load(s, &slots), 0);
    assert_slot(&slots, MANIFEST_SLOT_CURRENT, "m-b");
    assert_slot(&slots, MANIFEST_SLOT_PREVIOUS, "m-a");
    assert_int_equal(slots.slot[MANIFEST_SLOT_STAGED].state, MANIFEST_SLOT_CORRUPT);
    manifest_slots_release(&slots);
    assert_int_equal(manifest_store_discard_staged(s), 0);

    /* a journal that names another staged file (only damage makes one) is dropped, not
     * followed; one that is not a journal likewise */
    stage(s, "m-c", 3, NULL);
    static const char other[] =
        "marquee-apply 1 0000000000000000000000000000000000000000000000000000000000000000\n";
    const char *journals[] = {other, "garbage"};
    for (size_t i = 0; i < ARRAY_SIZE(journals); i++) {
        put_file(dir, "apply.journal", journals[i], strlen(journals[i]));
        bool recovered = true;
        struct snap ro = load_snap(dir, true, &recovered);
        assert_false(recovered);
        struct snap rw = load_snap(dir, false, &recovered);
        assert_false(recovered);
        assert_memory_equal(&ro, &rw, sizeof(ro));
        assert_string_equal(rw.tag[MANIFEST_SLOT_CURRENT], "m-b");
        assert_string_equal(rw.tag[MANIFEST_SLOT_STAGED], "m-c");
        _cleanup_free_ char *j = xasprintf("%s/manifests/apply.journal", dir);
        assert_int_equal(access(j, F_OK), -1);
    }
    manifest_store_free(s);
    rm_rf(dir);
}

/* ---- crash proof -------------------------------------------------------------------------- */

static unsigned crash_at, steps_seen;

static void kill_at_step(const char *what)
{
    if (++steps_seen == crash_at)
        raise(SIGKILL);
}

enum op { OP_APPLY, OP_STAGE, OP_LOAD };

/* Runs @op on the store in @dir in a child killed just before its step @k (1-based; 0: never).
 * True when the child was killed, false when @op finished first. */
static bool run_killed_at(const char *dir, enum op op, unsigned k)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct manifest_store *s = NULL;
        if (manifest_store_open(dir, false, &s) < 0)
            _exit(2);
        crash_at = k;
        steps_seen = 0;
        test_step_hook = kill_at_step;
        int r = 0;
        if (op == OP_APPLY) {
            r = manifest_store_apply(s);
        } else if (op == OP_STAGE) {
            _cleanup_free_ char *body = body_of("m-new", 9);
            r = manifest_store_stage(s, body, strlen(body), "\"m-new\"", NULL, NULL);
        } else {
            struct manifest_slots slots;
            r = manifest_store_load(s, &slots);
            if (r >= 0)
                manifest_slots_release(&slots);
        }
        _exit(r < 0 ? 3 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        assert_int_equal(WTERMSIG(status), SIGKILL);
        return true;
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return false;
}

/* Only the slot files may be left once a read-write load has run. */
static void assert_tidy(const char *dir)
{
    _cleanup_free_ char *sub = xasprintf("%s/manifests", dir);
    DIR *d = opendir(sub);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        bool ok = e->d_name[0] == '.' || !strcmp(e->d_name, "current.manifest") ||
                  !strcmp(e->d_name, "previous.manifest") || !strcmp(e->d_name, "staged.manifest");
        if (!ok)
            fail_msg("stray file %s", e->d_name);
    }
    closedir(d);
}

/* A scenario: how to make the store before the operation, and the two acceptable results. */
struct scenario {
    const char *name;
    enum op op;
    void (*setup)(const char *dir);
};

static void setup_second_apply(const char *dir)
{
    struct manifest_store *s = NULL;
    assert_int_equal(manifest_store_open(dir, false, &s), 0);
    stage(s, "m-a", 1, NULL);
    assert_int_equal(manifest_store_apply(s), 0);
    stage(s, "m-b", 2, NULL);
    assert_int_equal(manifest_store_apply(s), 0);
    stage(s, "m-c", 3, NULL);
    manifest_store_free(s);
}

static void setup_first_apply(const char *dir)
{
    struct manifest_store *s = NULL;
    assert_int_equal(manifest_store_open(dir, false, &s), 0);
    stage(s, "m-a", 1, NULL);
    manifest_store_free(s);
}

static void setup_empty(const char *dir)
{
    struct manifest_store *s = NULL;
    assert_int_equal(manifest_store_open(dir, false, &s), 0);
    manifest_store_free(s);
}

static void setup_corrupt_current(const char *dir)
{
    setup_second_apply(dir);
    put_file(dir, "current.manifest", "damaged", 7);
}

static struct snap fresh(const struct scenario *sc, enum op op, bool *ret_done)
{
    _cleanup_free_ char *dir = tmpdir();
    sc->setup(dir);
    struct snap before = load_snap(dir, true, NULL);
    if (ret_done) {
        assert_false(run_killed_at(dir, op, 0));
        *ret_done = true;
        before = load_snap(dir, true, NULL);
    }
    rm_rf(dir);
    return before;
}

static void crash_scenario(const struct scenario *sc)
{
    bool done;
    const struct snap old = fresh(sc, sc->op, NULL), new = fresh(sc, sc->op, &done);
    assert_memory_not_equal(&old, &new, sizeof(old));
    unsigned n_old = 0, n_new = 0;
    bool committed = false;
    for (unsigned k = 1;; k++) {
        _cleanup_free_ char *dir = tmpdir();
        sc->setup(dir);
        bool killed = run_killed_at(dir, sc->op, k);
        /* what `status` would show, then what the daemon's restart makes of it */
        bool ro_recovered, rw_recovered;
        struct snap ro = load_snap(dir, true, &ro_recovered);
        struct snap got = load_snap(dir, false, &rw_recovered);
        assert_tidy(dir);
        assert_memory_equal(&ro, &got, sizeof(ro));
        assert_int_equal(ro_recovered, rw_recovered);
        bool is_old = !memcmp(&got, &old, sizeof(got)), is_new = !memcmp(&got, &new, sizeof(got));
        if (!is_old && !is_new)
            fail_msg("%s: killed before step %u: neither the old slots nor the new", sc->name, k);
        /* once new, new for every later instant: the commit point is one step */
        if (committed)
            assert_true(is_new);
        committed = is_new;
        n_old += is_old;
        n_new += is_new;
        assert_true(!rw_recovered || is_new);
        rm_rf(dir);

        /* and the recovery itself killed at each of its steps, then run to the end */
        for (unsigned j = 1; killed; j++) {
            _cleanup_free_ char *again = tmpdir();
            sc->setup(again);
            assert_true(run_killed_at(again, sc->op, k));
            bool recovery_killed = run_killed_at(again, OP_LOAD, j);
            struct snap then = load_snap(again, false, NULL);
            assert_tidy(again);
            if (memcmp(&then, &got, sizeof(then)))
                fail_msg("%s: killed before step %u, recovery killed before its step %u: "
                         "another result",
                         sc->name, k, j);
            rm_rf(again);
            if (!recovery_killed)
                break;
        }
        if (!killed)
            break;
    }
    assert_true(n_old > 0);
    assert_true(n_new > 0);
}

static void crash_proof(void **state)
{
    static const struct scenario scenarios[] = {
        {"apply over current and previous", OP_APPLY, setup_second_apply},
        {"first apply", OP_APPLY, setup_first_apply},
        {"apply over a damaged current", OP_APPLY, setup_corrupt_current},
        {"stage over a staged one", OP_STAGE, setup_second_apply},
        {"stage into an empty store", OP_STAGE, setup_empty},
    };
    for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
        crash_scenario(&scenarios[i]);
    /* and the new states themselves */
    bool done;
    struct snap s = fresh(&scenarios[0], OP_APPLY, &done);
    assert_string_equal(s.tag[MANIFEST_SLOT_CURRENT], "m-c");
    assert_string_equal(s.tag[MANIFEST_SLOT_PREVIOUS], "m-b");
    assert_int_equal(s.state[MANIFEST_SLOT_STAGED], MANIFEST_SLOT_ABSENT);
    s = fresh(&scenarios[2], OP_APPLY, &done);
    assert_string_equal(s.tag[MANIFEST_SLOT_CURRENT], "m-c");
    assert_string_equal(s.tag[MANIFEST_SLOT_PREVIOUS], "m-a");
    s = fresh(&scenarios[3], OP_STAGE, &done);
    assert_string_equal(s.tag[MANIFEST_SLOT_STAGED], "m-new");
    assert_string_equal(s.http_etag[MANIFEST_SLOT_STAGED], "\"m-new\"");
    assert_string_equal(s.tag[MANIFEST_SLOT_CURRENT], "m-b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_example),  cmocka_unit_test(server_render),
        cmocka_unit_test(playlist_null), cmocka_unit_test(invalid_fields),
        cmocka_unit_test(bounds),        cmocka_unit_test(unknown_members),
        cmocka_unit_test(helpers),       cmocka_unit_test(store_round_trip),
        cmocka_unit_test(store_corrupt), cmocka_unit_test(crash_proof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
