/* SPDX-License-Identifier: MIT */
/* test-etag.c — strong ETags and If-None-Match / If-Match list comparison (RFC 9110 §8.8.3). */
#include <string.h>

#include "../../../unit/cmocka-prelude.h"
#include "http/http.h"

static void etags_are_quoted_and_stable(void **state)
{
    char a[HTTP_ETAG_LEN], b[HTTP_ETAG_LEN], c[HTTP_ETAG_LEN];
    http_etag_of("hello", 5, a);
    http_etag_of("hello", 5, b);
    http_etag_of("hellp", 5, c);
    assert_int_equal(strlen(a), 34);
    assert_int_equal(a[0], '"');
    assert_int_equal(a[33], '"');
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    /* first 16 bytes of SHA-256("hello") */
    assert_string_equal(a, "\"2cf24dba5fb0a30e26e83b2ac5b9e29e\"");
    http_etag_version("0f8fad5b-d9cb-469f-a165-70867728950e", 7, a);
    assert_string_equal(a, "\"v7-0f8fad5b\"");
}

static void list_matching(void **state)
{
    const char *e = "\"abc\"";
    assert_true(http_etag_list_matches("\"abc\"", e, false));
    assert_true(http_etag_list_matches("\"x\", \"abc\"", e, false));
    assert_true(http_etag_list_matches("*", e, false));
    assert_true(http_etag_list_matches("W/\"abc\"", e, true));   /* weak comparison */
    assert_false(http_etag_list_matches("W/\"abc\"", e, false)); /* strong comparison */
    assert_false(http_etag_list_matches("\"abcd\"", e, true));
    assert_false(http_etag_list_matches("\"ab\"", e, true));
    assert_false(http_etag_list_matches("abc", e, true)); /* unquoted: malformed */
    assert_false(http_etag_list_matches("\"abc", e, true));
    assert_false(http_etag_list_matches("", e, true));
    assert_false(http_etag_list_matches(NULL, e, true));
    assert_true(http_etag_list_matches(" ,, \"abc\" ,", e, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(etags_are_quoted_and_stable),
        cmocka_unit_test(list_matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
