/* SPDX-License-Identifier: MIT */
/* test-ids.c — UUIDs and ISO 8601 UTC timestamps. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "../cmocka-prelude.h"
#include "ids.h"

static void uuids_are_v4_and_distinct(void **state)
{
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    ids_uuid(a);
    ids_uuid(b);
    assert_int_equal(strlen(a), 36);
    assert_true(ids_is_uuid(a));
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
    assert_false(ids_is_uuid("not-a-uuid"));
    assert_false(ids_is_uuid("0123456789abcdef0123456789abcdef0123"));
    assert_false(ids_is_uuid("01234567-89ab-cdef-0123-456789abcdeg"));
    assert_false(ids_is_uuid(NULL));
}

static void timestamps_round_trip(void **state)
{
    char t[TIMESTAMP_STR_LEN];
    ids_timestamp(0, t);
    assert_string_equal(t, "1970-01-01T00:00:00.000Z");
    ids_timestamp(1795339800123LL, t);
    assert_string_equal(t, "2026-11-22T09:30:00.123Z");
    int64_t ms = 0;
    assert_int_equal(ids_timestamp_parse(t, &ms), 0);
    assert_true(ms == 1795339800123LL);
    assert_int_equal(ids_timestamp_parse("2024-02-29T23:59:59Z", &ms), 0);
    assert_true(ms == 1709251199000LL);
}

static void timestamp_parse_refuses_bad_input(void **state)
{
    int64_t ms = 5;
    const char *bad[] = {"",
                         "2026-11-22",
                         "2026-11-22T09:30:00",
                         "2026-11-22T09:30:00+01:00",
                         "2026-13-01T00:00:00Z",
                         "2026-02-30T00:00:00Z",
                         "2023-02-29T00:00:00Z",
                         "2026-11-22T24:00:00Z",
                         "2026-11-22T09:30:00.12Z",
                         "2026-11-22 09:30:00.123Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ids_timestamp_parse(bad[i], &ms), -EINVAL);
    assert_true(ms == 5);
}

static void random_hex(void **state)
{
    char h[65];
    ids_random_hex(h, 32);
    assert_int_equal(strlen(h), 64);
    for (size_t i = 0; i < 64; i++)
        assert_true(strchr("0123456789abcdef", h[i]) != NULL);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uuids_are_v4_and_distinct),
        cmocka_unit_test(timestamps_round_trip),
        cmocka_unit_test(timestamp_parse_refuses_bad_input),
        cmocka_unit_test(random_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
