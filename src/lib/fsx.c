/* SPDX-License-Identifier: MIT */
/* fsx.c — durable rename, unlink and mkdir; see fsx.h. */
#include "fsx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

int fsx_fsync_dir(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        return -errno;
    return 0;
}

int fsx_fsync_file(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (fsync(fd) < 0)
        return -errno;
    return 0;
}

/* The directory part of @path as a new string: "." for a bare name, "/" for "/name". */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

int fsx_fsync_parent(const char *path)
{
    _cleanup_free_ char *dir = parent_of(path);
    return fsx_fsync_dir(dir);
}

int fsx_rename(const char *from, const char *to)
{
    if (rename(from, to) < 0)
        return -errno;
    _cleanup_free_ char *to_dir = parent_of(to);
    _cleanup_free_ char *from_dir = parent_of(from);
    int r = fsx_fsync_dir(to_dir);
    if (r < 0)
        return r;
    /* Two directories changed. Some file systems journal a rename as one transaction (ext4),
     * others do not promise that the old name is gone until its own directory is synced. */
    if (strcmp(to_dir, from_dir) != 0)
        return fsx_fsync_dir(from_dir);
    return 0;
}

int fsx_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool durable)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    int r = fchmod(fd, mode) < 0 ? -errno : 0; /* an old temp file may have had another mode */
    for (size_t off = 0; r == 0 && off < len;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = n < 0 ? -errno : -EIO;
        else
            off += (size_t)n;
    }
    if (r == 0 && durable && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0)
        r = durable ? fsx_rename(tmp, path) : (rename(tmp, path) < 0 ? -errno : 0);
    if (r < 0)
        unlink(tmp);
    return r;
}

int fsx_unlink(const char *path)
{
    if (unlink(path) < 0)
        return -errno;
    return fsx_fsync_parent(path);
}

int fsx_mkdir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0) {
        if (errno != EEXIST)
            return -errno;
        struct stat st;
        if (stat(path, &st) < 0)
            return -errno;
        if (!S_ISDIR(st.st_mode))
            return -ENOTDIR;
    }
    /* also when it existed: a process killed after its mkdir() leaves the name in the page
     * cache only, and a power cut now would lose it with everything in it */
    return fsx_fsync_parent(path);
}
