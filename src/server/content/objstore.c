/* SPDX-License-Identifier: MIT */
/*
 * objstore.c — the local object store: files named by their SHA-256 under
 * <data_dir>/objects/<first two hex>/<64 hex>, so identical files are stored once and a name
 * can be trusted to mean its bytes. A file enters by rename after fsync (then the directory is
 * fsynced): a power cut leaves either the whole object or none. Names come only from digests
 * this process computed, never from a client.
 *
 * Garbage collection removes objects no asset row names. An object placed by a worker whose
 * database update has not committed yet must survive: only objects older than the grace
 * period are considered, and placement and removal take the same lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "content/content.h"
#include "fsx.h"
#include "log.h"
#include "macro.h"
#include "store/store.h"

bool objstore_sha_valid(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == 64;
}

static int mkdir_ok(const char *path)
{
    return mkdir(path, 0750) < 0 && errno != EEXIST ? -errno : 0;
}

int objstore_init(struct content *c, const char *data_dir)
{
    c->uploads_dir = xasprintf("%s/uploads", data_dir);
    c->objects_dir = xasprintf("%s/objects", data_dir);
    c->tmp_dir = xasprintf("%s/tmp", data_dir);
    int r = mkdir_ok(c->uploads_dir);
    if (r >= 0)
        r = mkdir_ok(c->objects_dir);
    if (r >= 0)
        r = mkdir_ok(c->tmp_dir);
    return r;
}

char *objstore_path(const struct content *c, const char *sha)
{
    return xasprintf("%s/%.2s/%s", c->objects_dir, sha, sha);
}

char *objstore_upload_path(const struct content *c, const char *asset_id)
{
    return xasprintf("%s/%s", c->uploads_dir, asset_id);
}

int objstore_put(struct content *c, const char *src, const char *sha)
{
    if (!objstore_sha_valid(sha))
        return -EINVAL;
    _cleanup_free_ char *dst = objstore_path(c, sha);
    _cleanup_free_ char *shard = xasprintf("%s/%.2s", c->objects_dir, sha);
    int r = fsx_fsync_file(src);
    if (r < 0)
        return r;
    pthread_mutex_lock(&c->store_lock);
    if ((r = mkdir_ok(shard)) < 0)
        goto out;
    struct stat st;
    if (stat(dst, &st) == 0) {
        /* already stored: touch it so the collector's grace period starts again */
        (void)utimensat(AT_FDCWD, dst, NULL, 0);
        unlink(src);
        goto out;
    }
    if (rename(src, dst) < 0) {
        r = -errno;
        goto out;
    }
    /* rename keeps the upload's mtime, maybe hours old: the collector's grace starts now */
    (void)utimensat(AT_FDCWD, dst, NULL, 0);
    r = fsx_fsync_dir(shard);
out:
    pthread_mutex_unlock(&c->store_lock);
    return r;
}

/* 1 if an asset row names @sha as its file or its thumbnail, 0 if none, -errno. */
static int object_referenced(struct store_conn *conn, const char *sha)
{
    struct store_result *res = NULL;
    int r = store_exec(conn,
                       "SELECT 1 FROM assets WHERE storage_key = $1 UNION ALL "
                       "SELECT 1 FROM assets WHERE thumbnail_storage_key = $1 LIMIT 1",
                       (struct store_param[]){STORE_TEXT(sha)}, 1, &res);
    if (r < 0)
        return r;
    r = store_result_rows(res) > 0;
    store_result_free(res);
    return r;
}

int objstore_gc(struct content *c, struct store_conn *conn, int64_t now_ms, unsigned *ret_removed)
{
    unsigned removed = 0;
    DIR *top = opendir(c->objects_dir);
    if (!top)
        return -errno;
    int r = 0;
    struct dirent *d;
    while (r >= 0 && (d = readdir(top))) {
        if (d->d_name[0] == '.' || strlen(d->d_name) != 2)
            continue;
        _cleanup_free_ char *shard = xasprintf("%s/%s", c->objects_dir, d->d_name);
        DIR *sd = opendir(shard);
        if (!sd)
            continue;
        struct dirent *e;
        while (r >= 0 && (e = readdir(sd))) {
            if (!objstore_sha_valid(e->d_name))
                continue;
            _cleanup_free_ char *path = xasprintf("%s/%s", shard, e->d_name);
            struct stat st;
            int ref = 1;
            pthread_mutex_lock(&c->store_lock); /* a put of the same object touches it */
            if (stat(path, &st) == 0 && (int64_t)st.st_mtime * 1000 + OBJECT_GC_GRACE_MS <= now_ms)
                ref = object_referenced(conn, e->d_name);
            if (ref == 0 && unlink(path) == 0)
                removed++;
            pthread_mutex_unlock(&c->store_lock);
            if (ref < 0)
                r = ref;
        }
        closedir(sd);
    }
    closedir(top);
    *ret_removed = removed;
    return r;
}
