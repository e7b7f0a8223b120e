/* SPDX-License-Identifier: MIT */
/* test-macro.c — strict integer parsing (the replacement for the banned atoi) and TAKE_PTR. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "macro.h"

static void parse_int64_accepts_plain_numbers(void **state)
{
    int64_t v = 0;
    assert_int_equal(parse_int64("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_int64("-42", -100, 100, &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(parse_int64("9223372036854775807", 0, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);
}

static void parse_int64_refuses_everything_else(void **state)
{
    int64_t v = 7;
    const char *bad[] = {"", " 1", "+1", "1 ", "1x", "0x10", "1e3", "--1", "٣"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(parse_int64(bad[i], -1000, 1000, &v), -EINVAL);
    assert_int_equal(parse_int64(NULL, 0, 1, &v), -EINVAL);
    assert_int_equal(parse_int64("11", 0, 10, &v), -ERANGE);
    assert_int_equal(parse_int64("-1", 0, 10, &v), -ERANGE);
    assert_int_equal(parse_int64("99999999999999999999", 0, INT64_MAX, &v), -ERANGE);
    assert_int_equal(v, 7); /* never clobbered on failure */
}

static void take_ptr_leaves_null(void **state)
{
    char *p = xstrdup("x");
    char *q = TAKE_PTR(p);
    assert_null(p);
    assert_string_equal(q, "x");
    free(q);
    _cleanup_free_ char *s = xasprintf("%d-%s", 5, "five");
    assert_string_equal(s, "5-five");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_int64_accepts_plain_numbers),
        cmocka_unit_test(parse_int64_refuses_everything_else),
        cmocka_unit_test(take_ptr_leaves_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
