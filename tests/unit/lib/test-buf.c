/* SPDX-License-Identifier: MIT */
/* test-buf.c — the bounded buffer never grows past its ceiling and stays NUL-terminated. */
#include <errno.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "buf.h"

static void appends_up_to_the_limit(void **state)
{
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append_str(&b, "hello"), 0);
    assert_int_equal(buf_append(&b, "world", 5), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    assert_int_equal(buf_append(&b, "!", 1), -E2BIG);
    assert_int_equal(b.len, 10); /* unchanged */
    assert_string_equal(b.data, "helloworld");
    buf_release(&b);
}

static void huge_append_is_refused_without_overflow(void **state)
{
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "ab", 2), 0);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX), -E2BIG);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), -E2BIG);
    assert_int_equal(b.len, 2);
    buf_release(&b);
}

static void reset_and_steal(void **state)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_append_str(&b, "0123456789"), 0);
    assert_int_equal(b.len, 10000);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_append_str(&b, "kept");
    char *s = buf_steal(&b);
    assert_string_equal(s, "kept");
    assert_null(b.data);
    free(s);
    s = buf_steal(&b); /* an empty buffer still gives a string */
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_up_to_the_limit),
        cmocka_unit_test(huge_append_is_refused_without_overflow),
        cmocka_unit_test(reset_and_steal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
