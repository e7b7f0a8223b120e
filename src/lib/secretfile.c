/* SPDX-License-Identifier: MIT */
/* secretfile.c — read or create a secret file once (see secretfile.h). */
#include "secretfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

static int create_once(const char *path, const char *initial)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t len = strlen(initial), done = 0;
    int r = 0;
    while (r == 0 && done < len) {
        ssize_t n = write(fd, initial + done, len - done);
        if (n < 0 && errno != EINTR)
            r = -errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    close(fd);
    /* link(), not rename(): a second process starting at once must not replace the first's */
    if (r == 0 && link(tmp, path) < 0 && errno != EEXIST)
        r = -errno;
    unlink(tmp);
    return r;
}

int secret_file_read(const char *path, const char *initial, char *buf, size_t cap, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        int r = create_once(path, initial);
        if (r < 0)
            return r;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return -errno;
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) < 0)
        r = -errno;
    else if (st.st_mode & 077)
        r = -EPERM;
    else if ((size_t)st.st_size >= cap)
        r = -EFBIG;
    size_t got = 0;
    while (r == 0 && got < cap - 1) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        else if (n == 0)
            break;
        else
            got += (size_t)n;
    }
    close(fd);
    if (r < 0)
        return r;
    buf[got] = '\0';
    *ret_len = got;
    return 0;
}
