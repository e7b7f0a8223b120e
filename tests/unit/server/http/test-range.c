/* SPDX-License-Identifier: MIT */
/*
 * test-range.c — byte ranges (RFC 9110 §14): the Range header of a media download (first-last,
 * open-ended, suffix, clamping, unsatisfiable, and what is ignored), and the Content-Range of
 * an upload chunk (a span, the "how much do you hold" form, and every malformed shape).
 */
#include <errno.h>
#include <stdint.h>

#include "../../../unit/cmocka-prelude.h"
#include "http/http.h"

static void check_range(const char *v, int64_t size, int want, int64_t first, int64_t len)
{
    int64_t f = -7, l = -7;
    int r = http_range_parse(v, size, &f, &l);
    assert_int_equal(r, want);
    if (want == 1) {
        assert_int_equal(f, first);
        assert_int_equal(l, len);
    }
}

static void range_spans(void **state)
{
    check_range("bytes=0-99", 1000, 1, 0, 100);
    check_range("bytes=100-", 1000, 1, 100, 900);
    check_range("bytes=-100", 1000, 1, 900, 100);
    check_range("bytes=999-999", 1000, 1, 999, 1);
    check_range("bytes=0-0", 1, 1, 0, 1);
    /* a last byte past the end is clamped; a suffix longer than the file is the whole file */
    check_range("bytes=500-5000", 1000, 1, 500, 500);
    check_range("bytes=-5000", 1000, 1, 0, 1000);
}

static void range_unsatisfiable(void **state)
{
    check_range("bytes=1000-", 1000, -ERANGE, 0, 0);
    check_range("bytes=999999999-", 1000, -ERANGE, 0, 0);
    check_range("bytes=-0", 1000, -ERANGE, 0, 0);
    check_range("bytes=0-", 0, -ERANGE, 0, 0);
}

static void range_ignored(void **state)
{
    check_range(NULL, 1000, 0, 0, 0);
    check_range("", 1000, 0, 0, 0);
    check_range("items=0-9", 1000, 0, 0, 0);
    check_range("bytes=0-9,20-29", 1000, 0, 0, 0); /* several: the whole file */
    check_range("bytes=9-0", 1000, 0, 0, 0);
    check_range("bytes=a-9", 1000, 0, 0, 0);
    check_range("bytes=0-9x", 1000, 0, 0, 0);
    check_range("bytes=--1", 1000, 0, 0, 0);
    check_range("bytes=", 1000, 0, 0, 0);
    check_range("bytes=99999999999999999999999-", 1000, 0, 0, 0);
}

static void content_range(void **state)
{
    int64_t a, b, t;
    assert_int_equal(http_content_range_parse("bytes 0-99/1000", &a, &b, &t), 0);
    assert_int_equal(a, 0);
    assert_int_equal(b, 99);
    assert_int_equal(t, 1000);
    assert_int_equal(http_content_range_parse("bytes 900-999/1000", &a, &b, &t), 0);
    assert_int_equal(b, 999);
    assert_int_equal(http_content_range_parse("bytes */1000", &a, &b, &t), 0);
    assert_int_equal(a, -1);
    assert_int_equal(b, -1);
    assert_int_equal(t, 1000);

    static const char *const bad[] = {
        "bytes 0-1000/1000", /* last byte past the total */
        "bytes 10-9/1000",   /* backwards */
        "bytes 0-99/*",      /* unknown total */
        "bytes 0-99/0",      "bytes 0-99",
        "bytes -99/1000",    "bytes 0-/1000",
        "bytes=0-99/1000",   "items 0-99/1000",
        "bytes a-b/1000",    "bytes */",
        "bytes **/1000",     "",
        "bytes 0-99/1000x",  "bytes 123456789012345678901234567890-1/2",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (http_content_range_parse(bad[i], &a, &b, &t) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(range_spans),
        cmocka_unit_test(range_unsatisfiable),
        cmocka_unit_test(range_ignored),
        cmocka_unit_test(content_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
