/* SPDX-License-Identifier: MIT */
/* test-secretfile.c — a secret file is created once (0600), then read as it is; a file others
 * may read, a symbolic link or one too large is refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cmocka-prelude.h"
#include "macro.h"
#include "secretfile.h"

static void create_then_read(void **state)
{
    char dir[] = "/tmp/test-secretfile-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *path = xasprintf("%s/key", dir);
    char buf[64];
    size_t n = 0;
    assert_int_equal(secret_file_read(path, "first\n", buf, sizeof(buf), &n), 0);
    assert_string_equal(buf, "first\n");
    assert_int_equal(n, 6);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* it exists now: the next start reads it, whatever it would have written */
    assert_int_equal(secret_file_read(path, "second\n", buf, sizeof(buf), &n), 0);
    assert_string_equal(buf, "first\n");

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(secret_file_read(path, "x", buf, sizeof(buf), &n), -EPERM);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(secret_file_read(path, "x", buf, 4, &n), -EFBIG);

    _cleanup_free_ char *link_path = xasprintf("%s/link", dir);
    assert_int_equal(symlink(path, link_path), 0);
    assert_int_equal(secret_file_read(link_path, "x", buf, sizeof(buf), &n), -ELOOP);

    _cleanup_free_ char *missing = xasprintf("%s/no/such/dir/key", dir);
    assert_int_equal(secret_file_read(missing, "x", buf, sizeof(buf), &n), -ENOENT);
    unlink(link_path);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(create_then_read)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
