/* SPDX-License-Identifier: MIT */
/* test-pagination.c — opaque cursors round-trip, forged or mangled ones are refused. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "../../../unit/cmocka-prelude.h"
#include "http/http.h"
#include "macro.h"

static void cursor_round_trip(void **state)
{
    const char *keys[] = {"2026-11-22T09:30:00.000Z", "0f8fad5b-d9cb-469f-a165-70867728950e"};
    char *c = http_cursor_encode(keys, 2);
    assert_null(strpbrk(c, "+/=")); /* URL-safe, no padding */
    char *out[2] = {0};
    assert_int_equal(http_cursor_decode(c, 2, out), 0);
    assert_string_equal(out[0], keys[0]);
    assert_string_equal(out[1], keys[1]);
    free(out[0]);
    free(out[1]);
    /* the wrong number of keys is not a cursor for this list */
    char *one[1] = {0};
    assert_int_equal(http_cursor_decode(c, 1, one), -EINVAL);
    char *three[3] = {0};
    assert_int_equal(http_cursor_decode(c, 3, three), -EINVAL);
    assert_null(one[0]);
    free(c);
    const char *empty[] = {""};
    c = http_cursor_encode(empty, 1);
    assert_int_equal(http_cursor_decode(c, 1, one), 0);
    assert_string_equal(one[0], "");
    free(one[0]);
    free(c);
}

static void garbage_is_refused(void **state)
{
    char *out[2] = {0};
    const char *bad[] = {"", "!!!", "c1", "AAAA", "Y2I", "YzE", "eDE"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(http_cursor_decode(bad[i], 2, out), -EINVAL);
    assert_int_equal(http_cursor_decode(NULL, 2, out), -EINVAL);
    char huge[3000];
    memset(huge, 'A', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(http_cursor_decode(huge, 2, out), -EINVAL);
    /* an embedded NUL cannot hide a second value */
    const unsigned char raw[] = {'c', '1', 0x1f, 'a', 0, 'b', 0x1f, 'c'};
    char enc[64];
    sodium_bin2base64(enc, sizeof(enc), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    assert_int_equal(http_cursor_decode(enc, 2, out), -EINVAL);
    assert_null(out[0]);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cursor_round_trip),
        cmocka_unit_test(garbage_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
