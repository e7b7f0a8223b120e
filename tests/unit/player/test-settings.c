/* SPDX-License-Identifier: MIT */
/*
 * test-settings.c — marquee-player's settings (player/settings.h): the defaults, the checks
 * that span several settings, and the off-peak window (parsing, and which minutes of the day
 * it holds, across midnight too). The command line's messages are the scenario suite's
 * (tests/scenario/cli.test.mjs).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../cmocka-prelude.h"
#include "macro.h"
#include "player/settings.h"

static int setup(void **state)
{
    unsetenv("MARQUEE_PLAYER_CONFIG");
    unsetenv("MARQUEE_PLAYER_MAX_DOWNLOADS");
    return 0;
}

static int load(struct settings *s, char **argv, int argc, struct config_error *e)
{
    settings_init(s);
    return settings_load(s, argc, argv, e);
}

static void defaults_and_flags(void **state)
{
    struct settings s;
    struct config_error e = {{0}};
    char *argv[] = {"--server", "http://127.0.0.1:1", "--data-dir", "/tmp/x", "--max_downloads",
                    "4",        "--poll-max-s=30"};
    assert_int_equal(load(&s, argv, ARRAY_SIZE(argv), &e), 0);
    assert_string_equal(s.renderer, "headless");
    assert_int_equal(s.max_downloads, 4); /* '_' and '-' both spell a flag */
    assert_int_equal(s.poll_max_s, 30);
    assert_int_equal(s.download_attempts, 3);
    assert_int_equal(s.bandwidth_bytes_s, 0);
    assert_int_equal(s.heartbeat_min_s, 30);
    assert_string_equal(s.offpeak_window, "");
    settings_release(&s);

    setenv("MARQUEE_PLAYER_MAX_DOWNLOADS", "7", 1);
    char *argv2[] = {"--server", "https://cdn.example:8443", "--data-dir", "/tmp/x"};
    assert_int_equal(load(&s, argv2, ARRAY_SIZE(argv2), &e), 0);
    assert_int_equal(s.max_downloads, 7);
    settings_release(&s);
    unsetenv("MARQUEE_PLAYER_MAX_DOWNLOADS");
}

static void refused(void **state)
{
    static const struct {
        const char *args[8];
        const char *says;
    } cases[] = {
        {{"--data-dir", "/tmp/x"}, "--server must be an http(s):// URL (required)"},
        {{"--server", "file:///etc", "--data-dir", "/tmp/x"}, "--server must be an http(s)"},
        {{"--server", "http://h"}, "--data-dir is required"},
        {{"--server", "http://h", "--data-dir", "/d", "--renderer", "x11"}, "--renderer must be"},
        {{"--server", "http://h", "--data-dir", "/d", "--offpeak-window", "1:00-5:00"},
         "offpeak_window must be HH:MM-HH:MM"},
        {{"--server", "http://h", "--data-dir", "/d", "--poll-min-s", "60", "--poll-max-s", "5"},
         "poll_min_s must not exceed poll_max_s"},
        {{"--server", "http://h", "--data-dir", "/d", "--backoff-base-ms", "9000",
          "--backoff-cap-ms", "10"},
         "backoff_base_ms must not exceed backoff_cap_ms"},
        {{"--server", "http://h", "--data-dir", "/d", "--max-downloads", "17"},
         "max_downloads must be a whole number from 1 to 16"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int argc = 0;
        while (argc < 8 && cases[i].args[argc])
            argc++;
        struct settings s;
        struct config_error e = {{0}};
        assert_int_equal(load(&s, (char **)cases[i].args, argc, &e), -EINVAL);
        if (!strstr(e.text, cases[i].says))
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, e.text, cases[i].says);
        settings_release(&s);
    }
}

static void window(void **state)
{
    int a, b;
    assert_int_equal(settings_window_parse("", &a, &b), 0);
    assert_int_equal(a, -1);
    assert_false(settings_window_contains(a, b, 0));
    assert_false(settings_window_contains(a, b, 720));

    assert_int_equal(settings_window_parse("01:00-05:30", &a, &b), 0);
    assert_int_equal(a, 60);
    assert_int_equal(b, 330);
    assert_false(settings_window_contains(a, b, 59));
    assert_true(settings_window_contains(a, b, 60));
    assert_true(settings_window_contains(a, b, 329));
    assert_false(settings_window_contains(a, b, 330)); /* the end is not in it */

    /* across midnight */
    assert_int_equal(settings_window_parse("22:00-06:00", &a, &b), 0);
    assert_true(settings_window_contains(a, b, 23 * 60));
    assert_true(settings_window_contains(a, b, 0));
    assert_true(settings_window_contains(a, b, 5 * 60 + 59));
    assert_false(settings_window_contains(a, b, 6 * 60));
    assert_false(settings_window_contains(a, b, 12 * 60));
    assert_false(settings_window_contains(a, b, 21 * 60 + 59));

    /* 24:00 is the end of the day */
    assert_int_equal(settings_window_parse("18:00-24:00", &a, &b), 0);
    assert_true(settings_window_contains(a, b, 23 * 60 + 59));
    assert_false(settings_window_contains(a, b, 0));

    static const char *const bad[] = {"01:00",       "01:00-01:00",  "25:00-02:00",
                                      "01:60-02:00", "24:30-02:00",  "1:00-02:00",
                                      "01:00_02:00", "01:00-02:00 ", "aa:bb-cc:dd"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (settings_window_parse(bad[i], &a, &b) != -EINVAL)
            fail_msg("\"%s\" was taken", bad[i]);
    assert_int_equal(settings_window_parse(NULL, &a, &b), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults_and_flags, setup),
        cmocka_unit_test_setup(refused, setup),
        cmocka_unit_test(window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
