/* SPDX-License-Identifier: MIT */
/* test-fsx.c — the durable file operations: each does its change and answers 0, or -errno with
 * nothing changed (a missing name, a file where a directory should be, a symbolic link).
 * Durability itself cannot be seen from a test; that the fsyncs run on the right directories is
 * seen in that they succeed where those directories exist and fail where they do not. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cmocka-prelude.h"
#include "fsx.h"
#include "macro.h"

static char *tmpdir(void)
{
    char *dir = xstrdup("/tmp/test-fsx-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void touch_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void fsync_dir_and_file(void **state)
{
    _cleanup_free_ char *dir = tmpdir();
    _cleanup_free_ char *file = xasprintf("%s/f", dir);
    _cleanup_free_ char *link = xasprintf("%s/l", dir);
    _cleanup_free_ char *missing = xasprintf("%s/missing", dir);
    touch_file(file, "x");
    assert_int_equal(symlink(file, link), 0);

    assert_int_equal(fsx_fsync_dir(dir), 0);
    assert_int_equal(fsx_fsync_dir(file), -ENOTDIR);
    assert_int_equal(fsx_fsync_dir(missing), -ENOENT);
    assert_int_equal(fsx_fsync_file(file), 0);
    assert_int_equal(fsx_fsync_file(link), -ELOOP);
    assert_int_equal(fsx_fsync_file(dir), -EISDIR);
    assert_int_equal(fsx_fsync_file(missing), -ENOENT);
    assert_int_equal(fsx_fsync_parent(file), 0);
    assert_int_equal(fsx_fsync_parent(missing), 0); /* only its directory must exist */
    _cleanup_free_ char *deep = xasprintf("%s/no/such", dir);
    assert_int_equal(fsx_fsync_parent(deep), -ENOENT);
    assert_int_equal(fsx_fsync_parent("bare-name"), 0); /* "." */
    assert_int_equal(fsx_fsync_parent("/etc"), 0);      /* "/" */

    unlink(link);
    unlink(file);
    rmdir(dir);
}

static void rename_within_and_across(void **state)
{
    _cleanup_free_ char *dir = tmpdir();
    _cleanup_free_ char *a = xasprintf("%s/a", dir);
    _cleanup_free_ char *b = xasprintf("%s/b", dir);
    _cleanup_free_ char *sub = xasprintf("%s/sub", dir);
    _cleanup_free_ char *c = xasprintf("%s/sub/c", dir);
    touch_file(a, "one");
    assert_int_equal(fsx_rename(a, b), 0);
    assert_int_equal(access(a, F_OK), -1);
    assert_int_equal(access(b, F_OK), 0);

    assert_int_equal(fsx_mkdir(sub, 0700), 0);
    assert_int_equal(fsx_rename(b, c), 0); /* another directory: both are synced */
    assert_int_equal(access(c, F_OK), 0);

    /* a failed rename changes nothing */
    assert_int_equal(fsx_rename(a, b), -ENOENT);
    assert_int_equal(access(c, F_OK), 0);

    /* replacing an existing name */
    touch_file(a, "two");
    assert_int_equal(fsx_rename(a, c), 0);
    char buf[8] = {0};
    int fd = open(c, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 3);
    close(fd);
    assert_string_equal(buf, "two");

    unlink(c);
    rmdir(sub);
    rmdir(dir);
}

static void unlink_and_mkdir(void **state)
{
    _cleanup_free_ char *dir = tmpdir();
    _cleanup_free_ char *f = xasprintf("%s/f", dir);
    _cleanup_free_ char *d = xasprintf("%s/d", dir);
    _cleanup_free_ char *deep = xasprintf("%s/x/y", dir);
    touch_file(f, "x");
    assert_int_equal(fsx_unlink(f), 0);
    assert_int_equal(access(f, F_OK), -1);
    assert_int_equal(fsx_unlink(f), -ENOENT);

    assert_int_equal(fsx_mkdir(d, 0700), 0);
    struct stat st;
    assert_int_equal(stat(d, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(fsx_mkdir(d, 0700), 0); /* already there */
    assert_int_equal(fsx_unlink(d), -EISDIR);
    touch_file(f, "x");
    assert_int_equal(fsx_mkdir(f, 0700), -ENOTDIR);
    assert_int_equal(fsx_mkdir(deep, 0700), -ENOENT); /* no parents */

    unlink(f);
    rmdir(d);
    rmdir(dir);
}

static void read_back(const char *path, const char *want)
{
    char buf[64] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void write_atomic(void **state)
{
    _cleanup_free_ char *dir = tmpdir();
    _cleanup_free_ char *f = xasprintf("%s/token", dir);
    _cleanup_free_ char *tmp = xasprintf("%s/token.tmp", dir);
    _cleanup_free_ char *link = xasprintf("%s/link", dir);
    _cleanup_free_ char *missing = xasprintf("%s/no/such", dir);
    struct stat st;

    assert_int_equal(fsx_write_atomic(f, "first", 5, 0600, true), 0);
    read_back(f, "first");
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(access(tmp, F_OK), -1); /* no temp file left */

    /* replaced whole, shorter, with the new mode even over a stale temp file of another mode */
    touch_file(tmp, "stale temp file");
    assert_int_equal(chmod(tmp, 0666), 0);
    assert_int_equal(fsx_write_atomic(f, "2nd", 3, 0644, false), 0);
    read_back(f, "2nd");
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(fsx_write_atomic(f, "", 0, 0600, true), 0);
    read_back(f, "");

    /* never through a symbolic link at the temp name; the file stays as it was */
    assert_int_equal(fsx_write_atomic(f, "kept", 4, 0600, true), 0);
    assert_int_equal(symlink(link, tmp), 0);
    assert_int_equal(fsx_write_atomic(f, "evil", 4, 0600, true), -ELOOP);
    read_back(f, "kept");
    assert_int_equal(access(link, F_OK), -1);
    unlink(tmp);

    assert_int_equal(fsx_write_atomic(missing, "x", 1, 0600, true), -ENOENT);

    unlink(f);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fsync_dir_and_file),
        cmocka_unit_test(rename_within_and_across),
        cmocka_unit_test(unlink_and_mkdir),
        cmocka_unit_test(write_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
