/* SPDX-License-Identifier: MIT */
/* test-media-rules.c — placeholder: the rules are not written yet. */
#include "../../../unit/cmocka-prelude.h"

static void nothing_yet(void **state)
{
    assert_true(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(nothing_yet)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
