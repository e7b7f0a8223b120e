/* SPDX-License-Identifier: MIT */
/* test-jsonx.c — bounded JSON parsing: depth, size, duplicates, and where an error is. */
#include <errno.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "buf.h"
#include "jsonx.h"
#include "macro.h"

static void parses_objects(void **state)
{
    json_t *j = NULL;
    struct jsonx_error e;
    const char *s = "{\"a\":[1,2,{\"b\":\"]]]\"}]}";
    assert_int_equal(jsonx_parse(s, strlen(s), 1000, 3, 0, &j, &e), 0);
    assert_int_equal(json_array_size(json_object_get(j, "a")), 3);
    json_decref(j);
}

static void refuses_too_deep_with_position(void **state)
{
    json_t *j = NULL;
    struct jsonx_error e;
    char deep[100001];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    assert_int_equal(jsonx_parse(deep, strlen(deep), 200000, 32, 0, &j, &e), -ELOOP);
    assert_null(j);
    assert_int_equal(e.position, 32); /* the 33rd bracket */
    assert_int_equal(e.line, 1);
    assert_int_equal(e.column, 33);
    /* brackets inside strings do not count */
    const char *s = "{\"x\":\"[[[[[[[[[[[[[[\"}";
    assert_int_equal(jsonx_parse(s, strlen(s), 1000, 2, 0, &j, &e), 0);
    json_decref(j);
}

static void refuses_too_large(void **state)
{
    json_t *j = NULL;
    struct jsonx_error e;
    const char *s = "{\"a\":\"0123456789\"}";
    assert_int_equal(jsonx_parse(s, strlen(s), 10, 32, 0, &j, &e), -E2BIG);
    assert_null(j);
}

static void reports_syntax_errors_with_line_and_column(void **state)
{
    json_t *j = NULL;
    struct jsonx_error e;
    const char *s = "{\n  \"a\": 1,\n  \"b\": tru\n}";
    assert_int_equal(jsonx_parse(s, strlen(s), 1000, 32, 0, &j, &e), -EINVAL);
    assert_null(j);
    assert_int_equal(e.line, 3);
    assert_true(e.column >= 8);
    assert_true(strlen(e.text) > 0);
}

static void refuses_duplicate_keys_and_scalars_at_top(void **state)
{
    json_t *j = NULL;
    struct jsonx_error e;
    const char *dup = "{\"a\":1,\"a\":2}";
    assert_int_equal(jsonx_parse(dup, strlen(dup), 1000, 32, 0, &j, &e), -EINVAL);
    assert_int_equal(jsonx_parse("42", 2, 1000, 32, 0, &j, &e), -EINVAL);
    assert_int_equal(jsonx_parse("42", 2, 1000, 32, 1, &j, &e), 0);
    assert_int_equal(json_integer_value(j), 42);
    json_decref(j);
    assert_int_equal(jsonx_parse("", 0, 1000, 32, 0, &j, &e), -EINVAL);
    const char *trailing = "{} {}";
    assert_int_equal(jsonx_parse(trailing, strlen(trailing), 1000, 32, 0, &j, &e), -EINVAL);
}

static void escapes_strings_for_log_lines(void **state)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(jsonx_append_string(&b, "a\"b\\c\n\x01/\xc3\xa9\xff\xed\xa0\x80z"), 0);
    assert_string_equal(b.data,
                        "\"a\\\"b\\\\c\\u000a\\u0001/\xc3\xa9\\ufffd\\ufffd\\ufffd\\ufffdz\"");
    /* what it writes is JSON that parses back */
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    assert_true(json_is_string(j));
    json_decref(j);
    buf_release(&b);
    buf_init(&b, 4);
    assert_int_equal(jsonx_append_string(&b, "toolong"), -E2BIG);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_objects),
        cmocka_unit_test(refuses_too_deep_with_position),
        cmocka_unit_test(refuses_too_large),
        cmocka_unit_test(reports_syntax_errors_with_line_and_column),
        cmocka_unit_test(refuses_duplicate_keys_and_scalars_at_top),
        cmocka_unit_test(escapes_strings_for_log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
