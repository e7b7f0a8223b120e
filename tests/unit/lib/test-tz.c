/* SPDX-License-Identifier: MIT */
/*
 * test-tz.c — the TZif reader (tz.h) against glibc's own reading of the same files.
 *
 * glibc is the oracle: this single-threaded test process sets TZ and calls tzset() and
 * localtime_r() (allowed here, never in the server). For each zone — including 30-minute DST
 * (Lord_Howe), a skipped day (Apia 2011), abolished DST (Sao_Paulo 2019), :45 offsets
 * (Chatham), :30 (St_Johns, Kolkata) and footers with negative or beyond-24 h rule times (Nuuk,
 * Jerusalem, Santiago) — every hour of 2010–2040 and every minute within 3 h of every
 * transition must give glibc's offset and local fields; the transitions we report must be where
 * glibc's offset changes. Then: the 2026 and 2027 changeovers by value, local → UTC in gaps and
 * folds, the shared cache (also from several threads), and refused names and files.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cmocka-prelude.h"
#include "tz.h"

#define Y2010 INT64_C(1262304000)
#define Y2041 INT64_C(2240524800)

static const char *const zones[] = {
    "Europe/London", "America/New_York",  "Australia/Lord_Howe", "Asia/Kolkata",
    "Pacific/Apia",  "America/Sao_Paulo", "Pacific/Chatham",     "America/St_Johns",
    "UTC",           "America/Nuuk",      "Asia/Jerusalem",      "America/Santiago",
};

static void glibc_zone(const char *name)
{
    setenv("TZ", name, 1);
    tzset();
}

/* One instant: offset and every local field equal glibc's; the local time maps back. */
static void check_instant(const struct tz *z, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    assert_non_null(localtime_r(&tt, &tm));
    struct tz_local l;
    tz_local_from_utc(z, t, &l);
    if (l.utc_offset != tm.tm_gmtoff)
        fail_msg("%s at %lld: offset %d, glibc %ld", tz_name(z), (long long)t, l.utc_offset,
                 tm.tm_gmtoff);
    assert_int_equal(tz_offset_at(z, t), tm.tm_gmtoff);
    assert_int_equal(l.year, tm.tm_year + 1900);
    assert_int_equal(l.month, tm.tm_mon + 1);
    assert_int_equal(l.day, tm.tm_mday);
    assert_int_equal(l.weekday, tm.tm_wday == 0 ? 7 : tm.tm_wday);
    assert_int_equal(l.minute_of_day, tm.tm_hour * 60 + tm.tm_min);
    assert_int_equal(l.second, tm.tm_sec);

    /* the wall time at a whole minute maps back to this instant by one of the folds */
    if (l.second == 0) {
        int64_t early = 0, late = 0;
        assert_int_equal(
            tz_utc_from_local(z, l.year, l.month, l.day, l.minute_of_day, TZ_FOLD_EARLIER, &early),
            0);
        assert_int_equal(
            tz_utc_from_local(z, l.year, l.month, l.day, l.minute_of_day, TZ_FOLD_LATER, &late), 0);
        assert_true(early <= t && t <= late);
        assert_true(early == t || late == t);
    }
}

static void against_glibc(void **state)
{
    size_t transitions = 0;
    for (size_t zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++) {
        const struct tz *z = NULL;
        assert_int_equal(tz_get(zones[zi], &z), 0);
        glibc_zone(zones[zi]);

        /* every hour; where glibc's offset changed within the hour we must know a transition */
        int32_t prev = tz_offset_at(z, Y2010 - 3600);
        for (int64_t t = Y2010; t < Y2041; t += 3600) {
            check_instant(z, t);
            int32_t off = tz_offset_at(z, t);
            if (off != prev)
                assert_true(tz_next_transition(z, t - 3600) <= t);
            prev = off;
        }
        /* every minute (and the seconds either side) around every transition */
        for (int64_t tr = tz_next_transition(z, Y2010 - 1); tr < Y2041;
             tr = tz_next_transition(z, tr)) {
            transitions++;
            for (int64_t t = tr - 3 * 3600; t <= tr + 3 * 3600; t += 60)
                check_instant(z, t);
            check_instant(z, tr - 1);
            check_instant(z, tr + 1);
        }
    }
    assert_true(transitions > 300);
    unsetenv("TZ");
    tzset();
}

static int64_t utc(int y, int m, int d, int hh, int mm)
{
    return tz_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
}

/* The 2026 and 2027 changeovers, by value, with the offsets either side. */
static void changeovers_2026_2027(void **state)
{
    static const struct {
        const char *zone;
        int64_t at;
        int32_t before, after;
    } cases[] = {
        {"Europe/London", 0, 0, 3600},
        {"Europe/London", 0, 3600, 0},
        {"Europe/London", 0, 0, 3600},
        {"Europe/London", 0, 3600, 0},
        {"America/New_York", 0, -5 * 3600, -4 * 3600},
        {"America/New_York", 0, -4 * 3600, -5 * 3600},
        {"America/New_York", 0, -5 * 3600, -4 * 3600},
        {"America/New_York", 0, -4 * 3600, -5 * 3600},
        {"Australia/Lord_Howe", 0, 39600, 37800},
        {"Australia/Lord_Howe", 0, 37800, 39600},
        {"Australia/Lord_Howe", 0, 39600, 37800},
        {"Australia/Lord_Howe", 0, 37800, 39600},
    };
    const int64_t at[] = {
        utc(2026, 3, 29, 1, 0),
        utc(2026, 10, 25, 1, 0),
        utc(2027, 3, 28, 1, 0),
        utc(2027, 10, 31, 1, 0),
        utc(2026, 3, 8, 7, 0),
        utc(2026, 11, 1, 6, 0),
        utc(2027, 3, 14, 7, 0),
        utc(2027, 11, 7, 6, 0),
        /* Lord Howe: first Sunday of April 02:00 +11, first Sunday of October 02:00 +1030 */
        utc(2026, 4, 4, 15, 0),
        utc(2026, 10, 3, 15, 30),
        utc(2027, 4, 3, 15, 0),
        utc(2027, 10, 2, 15, 30),
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tz *z = NULL;
        assert_int_equal(tz_get(cases[i].zone, &z), 0);
        assert_int_equal(tz_next_transition(z, at[i] - 40 * 86400 + 1) <= at[i], 1);
        assert_int_equal(tz_next_transition(z, at[i] - 1), at[i]);
        assert_int_equal(tz_offset_at(z, at[i] - 1), cases[i].before);
        assert_int_equal(tz_offset_at(z, at[i]), cases[i].after);
    }
    /* Sao Paulo: no change at all in 2026–2027 */
    const struct tz *sp = NULL;
    assert_int_equal(tz_get("America/Sao_Paulo", &sp), 0);
    for (int64_t t = utc(2026, 1, 1, 0, 0); t < utc(2028, 1, 1, 0, 0); t += 3600)
        assert_int_equal(tz_offset_at(sp, t), -3 * 3600);
}

static int64_t from_local(const char *zone, int y, int m, int d, int minute, enum tz_fold fold)
{
    const struct tz *z = NULL;
    int64_t t = 0;
    assert_int_equal(tz_get(zone, &z), 0);
    assert_int_equal(tz_utc_from_local(z, y, m, d, minute, fold, &t), 0);
    return t;
}

static void gaps_and_folds(void **state)
{
    /* London spring forward: 01:00–01:59 does not exist; 01:30 → the change (01:00 UTC) */
    assert_int_equal(from_local("Europe/London", 2026, 3, 29, 90, TZ_FOLD_EARLIER),
                     utc(2026, 3, 29, 1, 0));
    assert_int_equal(from_local("Europe/London", 2026, 3, 29, 90, TZ_FOLD_LATER),
                     utc(2026, 3, 29, 1, 0));
    assert_int_equal(from_local("Europe/London", 2026, 3, 29, 60, TZ_FOLD_EARLIER),
                     utc(2026, 3, 29, 1, 0));
    assert_int_equal(from_local("Europe/London", 2026, 3, 29, 120, TZ_FOLD_EARLIER),
                     utc(2026, 3, 29, 1, 0));
    assert_int_equal(from_local("Europe/London", 2026, 3, 29, 59, TZ_FOLD_EARLIER),
                     utc(2026, 3, 29, 0, 59));
    /* London fall back: 01:30 happens at 00:30 UTC (BST) and 01:30 UTC (GMT) */
    assert_int_equal(from_local("Europe/London", 2026, 10, 25, 90, TZ_FOLD_EARLIER),
                     utc(2026, 10, 25, 0, 30));
    assert_int_equal(from_local("Europe/London", 2026, 10, 25, 90, TZ_FOLD_LATER),
                     utc(2026, 10, 25, 1, 30));
    assert_int_equal(from_local("Europe/London", 2026, 10, 25, 120, TZ_FOLD_EARLIER),
                     utc(2026, 10, 25, 2, 0));
    /* New York */
    assert_int_equal(from_local("America/New_York", 2027, 3, 14, 150, TZ_FOLD_EARLIER),
                     utc(2027, 3, 14, 7, 0));
    assert_int_equal(from_local("America/New_York", 2027, 11, 7, 90, TZ_FOLD_EARLIER),
                     utc(2027, 11, 7, 5, 30));
    assert_int_equal(from_local("America/New_York", 2027, 11, 7, 90, TZ_FOLD_LATER),
                     utc(2027, 11, 7, 6, 30));
    /* Lord Howe: 01:30–01:59 repeats in April (half an hour), 02:00–02:29 is skipped in Oct */
    assert_int_equal(from_local("Australia/Lord_Howe", 2026, 4, 5, 105, TZ_FOLD_EARLIER),
                     utc(2026, 4, 4, 14, 45));
    assert_int_equal(from_local("Australia/Lord_Howe", 2026, 4, 5, 105, TZ_FOLD_LATER),
                     utc(2026, 4, 4, 15, 15));
    assert_int_equal(from_local("Australia/Lord_Howe", 2026, 10, 4, 135, TZ_FOLD_EARLIER),
                     utc(2026, 10, 3, 15, 30));
    /* Apia: the whole of Friday 2011-12-30 was skipped; Saturday began at 10:00 UTC */
    assert_int_equal(from_local("Pacific/Apia", 2011, 12, 30, 720, TZ_FOLD_EARLIER),
                     utc(2011, 12, 30, 10, 0));
    assert_int_equal(from_local("Pacific/Apia", 2011, 12, 31, 0, TZ_FOLD_LATER),
                     utc(2011, 12, 30, 10, 0));
    assert_int_equal(from_local("Pacific/Apia", 2011, 12, 29, 1439, TZ_FOLD_EARLIER),
                     utc(2011, 12, 30, 9, 59));
    /* refused input, output untouched */
    const struct tz *z = tz_utc();
    int64_t t = 42;
    assert_int_equal(tz_utc_from_local(z, 2026, 2, 29, 0, TZ_FOLD_EARLIER, &t), -EINVAL);
    assert_int_equal(tz_utc_from_local(z, 2026, 1, 1, 1440, TZ_FOLD_EARLIER, &t), -EINVAL);
    assert_int_equal(tz_utc_from_local(z, 2026, 13, 1, 0, TZ_FOLD_EARLIER, &t), -EINVAL);
    assert_int_equal(t, 42);
    assert_int_equal(tz_utc_from_local(z, 2028, 2, 29, 61, TZ_FOLD_EARLIER, &t), 0);
    assert_int_equal(t, utc(2028, 2, 29, 1, 1));
}

static void segments(void **state)
{
    const struct tz *z = NULL;
    struct tz_segment s[8];
    assert_int_equal(tz_get("Europe/London", &z), 0);
    size_t n = tz_segments(z, utc(2026, 3, 1, 0, 0), utc(2026, 11, 1, 0, 0), s, 8);
    assert_int_equal(n, 3);
    assert_int_equal(s[0].offset, 0);
    assert_int_equal(s[1].start_utc, utc(2026, 3, 29, 1, 0));
    assert_int_equal(s[1].offset, 3600);
    assert_int_equal(s[2].start_utc, utc(2026, 10, 25, 1, 0));
    assert_int_equal(tz_segments(z, utc(2026, 1, 1, 0, 0), utc(2036, 1, 1, 0, 0), s, 8), 21);
    assert_int_equal(tz_segments(tz_utc(), 0, INT64_C(1) << 40, s, 8), 1);
}

static void calendar(void **state)
{
    for (int64_t d = -800000; d < 800000; d += 7) {
        int64_t y;
        int m, dd;
        tz_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(tz_days_from_civil(y, m, dd), d);
    }
    assert_int_equal(tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tz_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(tz_weekday_from_days(0), 4);
    assert_int_equal(tz_weekday_from_days(tz_days_from_civil(2026, 3, 29)), 7);
    assert_int_equal(tz_weekday_from_days(-1), 3);
    assert_true(tz_date_valid(2024, 2, 29));
    assert_false(tz_date_valid(2100, 2, 29));
    assert_false(tz_date_valid(2026, 4, 31));
}

static void names_and_files(void **state)
{
    const struct tz *z = NULL;
    struct tz *own = NULL;
    assert_int_equal(tz_get("../etc/passwd", &z), -EINVAL);
    assert_int_equal(tz_get("/etc/passwd", &z), -EINVAL);
    assert_int_equal(tz_get("Europe/../Europe/London", &z), -EINVAL);
    assert_int_equal(tz_get("Europe/London;", &z), -EINVAL);
    assert_int_equal(tz_get("Europe/London/", &z), -EINVAL);
    assert_int_equal(tz_get("Europe//London", &z), -EINVAL);
    assert_int_equal(tz_get("zone.tab", &z), -EINVAL);
    assert_int_equal(tz_get("", &z), -EINVAL);
    assert_int_equal(tz_get(NULL, &z), -EINVAL);
    assert_int_equal(tz_get("Nowhere/City", &z), -ENOENT);
    assert_int_equal(tz_get("Europe", &z), -ENOENT);
    assert_int_equal(tz_get("Europe/London/x", &z), -ENOENT);
    assert_int_equal(tz_load("leapseconds", &own), -EINVAL); /* text, not TZif */
    assert_int_equal(tz_load("right/UTC", &own), -EINVAL);   /* leap-second records */
    assert_null(z);
    assert_null(own);

    /* the cache hands out one shared zone per name; tz_load a private copy */
    const struct tz *a = NULL, *b = NULL;
    assert_int_equal(tz_get("Asia/Kolkata", &a), 0);
    assert_int_equal(tz_get("Asia/Kolkata", &b), 0);
    assert_ptr_equal(a, b);
    assert_string_equal(tz_name(a), "Asia/Kolkata");
    assert_int_equal(tz_load("Asia/Kolkata", &own), 0);
    assert_ptr_not_equal(own, a);
    assert_int_equal(tz_offset_at(own, Y2010), 19800);
    own = tz_free(own);
    assert_null(tz_free(NULL));
    assert_int_equal(tz_offset_at(tz_utc(), Y2010), 0);

    /* the ends of time neither overflow nor crash */
    struct tz_local l;
    assert_int_equal(tz_get("Europe/London", &z), 0);
    tz_local_from_utc(z, INT64_MAX, &l);
    tz_local_from_utc(z, INT64_MIN, &l);
    assert_true(tz_offset_at(z, INT64_MAX) == 0 || tz_offset_at(z, INT64_MAX) == 3600);
    (void)tz_offset_at(z, INT64_MIN);
    (void)tz_next_transition(z, INT64_MAX - 1);
}

static const char *const thread_zones[] = {"Europe/Paris", "Asia/Tokyo", "America/Chicago",
                                           "Africa/Cairo"};

static void *thread_get(void *arg)
{
    const struct tz **out = arg;
    for (size_t i = 0; i < 4; i++)
        if (tz_get(thread_zones[i], &out[i]) < 0)
            out[i] = NULL;
    return NULL;
}

static void cache_threads(void **state)
{
    enum { N = 8 };
    pthread_t th[N];
    const struct tz *got[N][4];
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_get, got[i]), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 4; k++) {
            assert_non_null(got[i][k]);
            assert_ptr_equal(got[i][k], got[0][k]);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(calendar),       cmocka_unit_test(names_and_files),
        cmocka_unit_test(cache_threads),  cmocka_unit_test(changeovers_2026_2027),
        cmocka_unit_test(gaps_and_folds), cmocka_unit_test(segments),
        cmocka_unit_test(against_glibc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
