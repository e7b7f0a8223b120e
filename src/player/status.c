/* SPDX-License-Identifier: MIT */
/*
 * status.c — what `marquee-player status` shows, from the data directory alone.
 *
 * The daemon writes DIR/status.json (temp file, rename: a reader sees the old or the new one)
 * at most once a second while something changes, and once more when it stops. `status` reads
 * it, asks the lock whether a daemon holds the directory, and — with no daemon — reads the
 * manifests and the cache's files themselves, since nobody keeps the file current then.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "fsx.h"
#include "ids.h"
#include "macro.h"
#include "player/agent-internal.h"

static json_t *manifest_json(const struct manifest_slot *s)
{
    if (s->state != MANIFEST_SLOT_OK)
        return json_null();
    const struct manifest *m = s->manifest;
    char t[TIMESTAMP_STR_LEN];
    ids_timestamp(m->valid_to_ms, t);
    return json_pack("{s:s, s:o, s:o, s:s, s:I}", "etag", m->etag, "playlistId",
                     m->has_playlist ? json_string(m->playlist_id) : json_null(),
                     "publishedVersion",
                     m->has_playlist ? json_integer(m->published_version) : json_null(),
                     "validToUtc", t, "items", (json_int_t)m->n_items);
}

static json_t *manifests_json(const struct manifest_slots *s)
{
    return json_pack("{s:o, s:o, s:o}", "current", manifest_json(&s->slot[MANIFEST_SLOT_CURRENT]),
                     "previous", manifest_json(&s->slot[MANIFEST_SLOT_PREVIOUS]), "staged",
                     manifest_json(&s->slot[MANIFEST_SLOT_STAGED]));
}

int status_write(struct agent *a)
{
    struct dl_counts dc;
    dl_counts_get(a->dl, &dc);
    pthread_mutex_lock(&a->mu);
    struct hb_snapshot h = a->hb;
    char code[sizeof(a->pairing_code)], device[sizeof(a->device_id)];
    char name[sizeof(a->device_name)];
    memcpy(code, a->pairing_code, sizeof(code));
    memcpy(device, a->device_id, sizeof(device));
    memcpy(name, a->device_name, sizeof(name));
    bool pairing = a->mode == PLAY_PAIRING && *code;
    pthread_mutex_unlock(&a->mu);

    char t[TIMESTAMP_STR_LEN];
    json_t *v = json_pack(
        "{s:b, s:o, s:o, s:o, s:s, s:o, s:o, s:o,"
        " s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:o, s:o}",
        "running", !a->stopped, "pid", a->stopped ? json_null() : json_integer(getpid()), "state",
        a->stopped ? json_null() : json_string(fsm_state_name(a->fsm.state)), "pairingCode",
        pairing ? json_string(code) : json_null(), "syncStatus", fsm_sync_status_name(h.sync),
        "deviceId", *device ? json_string(device) : json_null(), "manifest",
        manifests_json(&a->slots), "playback",
        h.item_index >= 0
            ? json_pack("{s:s, s:I}", "assetId", h.asset_id, "index", (json_int_t)h.item_index)
            : json_null(),
        "cache", "budgetBytes", (json_int_t)h.budget_bytes, "usedBytes", (json_int_t)h.used_bytes,
        "assets", (json_int_t)h.assets, "downloads", "active", (json_int_t)dc.active, "queued",
        (json_int_t)dc.queued, "failed", (json_int_t)a->dl_failed, "online",
        json_boolean(a->fsm.online), "lastSyncAtUtc", json_null());
    if (!v)
        return -ENOMEM;
    json_object_set_new(v, "deviceName", *name ? json_string(name) : json_null());
    if (h.last_sync_ms > 0) {
        ids_timestamp(h.last_sync_ms, t);
        json_object_set_new(v, "lastSyncAtUtc", json_string(t));
    }
    /* written when something but the time changed (an SD card does not need 86,400 renames a
     * day), and when the daemon stops */
    char *same = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (same && a->status_last && !a->stopped && !strcmp(same, a->status_last)) {
        free(same);
        json_decref(v);
        return 0;
    }
    free(a->status_last);
    a->status_last = same;
    char t2[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), t2);
    json_object_set_new(v, "updatedAtUtc", json_string(t2));
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (!text)
        return -ENOMEM;
    _cleanup_free_ char *path = xasprintf("%s/%s", a->dir, AGENT_STATUS_FILE);
    /* not durable: the file is a view, rebuilt within a second; a power cut may lose it */
    int r = fsx_write_atomic(path, text, strlen(text), 0644, false);
    free(text);
    return r;
}

/* ---- `marquee-player status` ------------------------------------------------------------------
 */

static bool daemon_running(const char *dir)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, AGENT_LOCK_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* Bytes and count of the files in DIR/@sub (no daemon keeps the index current). */
static void dir_usage(const char *dir, const char *sub, uint64_t *bytes, unsigned *count)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, sub);
    DIR *d = opendir(path);
    *bytes = 0;
    *count = 0;
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        *bytes += (uint64_t)st.st_size;
        (*count)++;
    }
    closedir(d);
}

static void print_human(json_t *v)
{
    json_t *m = json_object_get(v, "manifest");
    json_t *cur = json_object_get(m, "current");
    json_t *c = json_object_get(v, "cache"), *d = json_object_get(v, "downloads");
    json_t *pb = json_object_get(v, "playback");
    const char *state = json_string_value(json_object_get(v, "state"));
    printf("daemon:       %s\n",
           json_is_true(json_object_get(v, "running")) ? "running" : "stopped");
    printf("state:        %s\n", state ? state : "-");
    const char *code = json_string_value(json_object_get(v, "pairingCode"));
    if (code)
        printf("pairing code: %s\n", code);
    const char *sync = json_string_value(json_object_get(v, "syncStatus"));
    printf("sync:         %s\n", sync ? sync : "-");
    const char *etag = json_string_value(json_object_get(cur, "etag"));
    printf("manifest:     %s\n", etag ? etag : "none");
    if (json_is_object(pb))
        printf("playing:      item %lld, asset %s\n",
               (long long)json_integer_value(json_object_get(pb, "index")),
               json_string_value(json_object_get(pb, "assetId")));
    printf("cache:        %lld of %lld bytes, %lld assets\n",
           (long long)json_integer_value(json_object_get(c, "usedBytes")),
           (long long)json_integer_value(json_object_get(c, "budgetBytes")),
           (long long)json_integer_value(json_object_get(c, "assets")));
    printf("downloads:    %lld active, %lld queued, %lld failed\n",
           (long long)json_integer_value(json_object_get(d, "active")),
           (long long)json_integer_value(json_object_get(d, "queued")),
           (long long)json_integer_value(json_object_get(d, "failed")));
}

int status_main(int argc, char **argv)
{
    const char *dir = NULL;
    bool as_json = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            as_json = true;
        else if (!strcmp(argv[i], "--data-dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strncmp(argv[i], "--data-dir=", 11))
            dir = argv[i] + 11;
        else {
            fprintf(stderr, "marquee-player status: unexpected argument \"%.60s\"\n", argv[i]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: marquee-player status --data-dir DIR [--json]\n");
        return 2;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "marquee-player status: no data directory %s\n", dir);
        return 1;
    }
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, AGENT_STATUS_FILE);
    json_t *v = json_load_file(path, 0, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        v = json_object();
    }
    bool running = daemon_running(dir);
    json_object_set_new(v, "running", json_boolean(running));
    if (!running) {
        /* nobody keeps status.json current: what the directory itself says */
        json_object_set_new(v, "pid", json_null());
        json_object_set_new(v, "state", json_null());
        json_object_set_new(v, "pairingCode", json_null());
        json_object_set_new(v, "playback", json_null());
        struct manifest_store *s = NULL;
        struct manifest_slots slots = {0};
        if (manifest_store_open(dir, true, &s) == 0 && manifest_store_load(s, &slots) == 0)
            json_object_set_new(v, "manifest", manifests_json(&slots));
        manifest_slots_release(&slots);
        manifest_store_free(s);
        uint64_t bytes;
        unsigned n;
        dir_usage(dir, "assets", &bytes, &n);
        json_t *c = json_object_get(v, "cache");
        if (!json_is_object(c)) {
            c = json_object();
            json_object_set_new(v, "cache", c);
        }
        json_object_set_new(c, "usedBytes", json_integer((json_int_t)bytes));
        json_object_set_new(c, "assets", json_integer(n));
        if (!json_object_get(c, "budgetBytes"))
            json_object_set_new(c, "budgetBytes", json_integer(MANIFEST_BUDGET_DEFAULT));
    }
    uint64_t part_bytes;
    unsigned parts;
    dir_usage(dir, "tmp", &part_bytes, &parts);
    json_t *c = json_object_get(v, "cache");
    if (json_is_object(c))
        json_object_set_new(c, "partFiles", json_integer(parts));
    if (!json_object_get(v, "downloads"))
        json_object_set_new(v, "downloads",
                            json_pack("{s:i, s:i, s:i}", "active", 0, "queued", 0, "failed", 0));
    if (as_json) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        puts(text ? text : "{}");
        free(text);
    } else {
        print_human(v);
    }
    json_decref(v);
    return 0;
}
