/* SPDX-License-Identifier: MIT */
/*
 * test-ratelimit.c — GCRA limits (spec §27.1): exact bursts, headers consistent with when the
 * next request is really allowed, recovery, key/rule isolation, a bounded table under a flood
 * of keys, and exact counting across threads. Times are fake: now_ms is passed in.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../../../unit/cmocka-prelude.h"
#include "auth/ratelimit.h"
#include "macro.h"

/* 2023-11-14T22:13:20.250Z: not on a second boundary, so rounding shows */
#define T0 1700000000250LL

static const struct ratelimit_rule login_ip = {"login-ip", 10, 60};          /* 10 / minute */
static const struct ratelimit_rule login_account = {"login-account", 5, 60}; /* 5 / minute */

static struct ratelimiter *new_rl(size_t max_keys)
{
    struct ratelimiter *rl = NULL;
    assert_int_equal(ratelimiter_new_memory(max_keys, &rl), 0);
    assert_non_null(rl);
    return rl;
}

static struct ratelimit_result hit(struct ratelimiter *rl, const char *key,
                                   const struct ratelimit_rule *rule, int64_t now_ms)
{
    struct ratelimit_result r;
    memset(&r, 0xa5, sizeof(r));
    assert_int_equal(ratelimiter_hit(rl, key, rule, now_ms, &r), 0);
    return r;
}

/* How many of @n hits at @now_ms are allowed. */
static unsigned allowed_of(struct ratelimiter *rl, const char *key,
                           const struct ratelimit_rule *rule, int64_t now_ms, unsigned n)
{
    unsigned ok = 0;
    for (unsigned i = 0; i < n; i++)
        ok += hit(rl, key, rule, now_ms).allowed;
    return ok;
}

static void burst_of_limit_then_refused(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(1000);
    assert_string_equal(ratelimiter_backend(rl), "memory");
    for (unsigned i = 0; i < 10; i++) {
        struct ratelimit_result r = hit(rl, "198.51.100.7", &login_ip, T0);
        assert_true(r.allowed);
        assert_int_equal(r.limit, 10);
        assert_int_equal(r.remaining, 9 - i); /* counts down 9..0 */
        assert_int_equal(r.retry_after_s, 0);
    }
    for (int i = 0; i < 3; i++) {
        struct ratelimit_result r = hit(rl, "198.51.100.7", &login_ip, T0);
        assert_false(r.allowed);
        assert_int_equal(r.limit, 10);
        assert_int_equal(r.remaining, 0);
        assert_int_equal(r.retry_after_s, 6);          /* one request comes back every 60/10 s */
        assert_int_equal(r.reset_epoch_s, 1700000061); /* T0 + 60 s, rounded up */
    }
    /* 5 / minute for the account: the 6th is refused */
    assert_int_equal(allowed_of(rl, "ann@example.com", &login_account, T0, 6), 5);
    ratelimiter_free(rl);
}

static void header_values(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(1000);
    struct ratelimit_result r = hit(rl, "k", &login_ip, T0);
    assert_true(r.allowed);
    assert_int_equal(r.limit, 10);
    assert_int_equal(r.remaining, 9);
    assert_int_equal(r.retry_after_s, 0);
    /* whole again after one share (6 s): T0 + 6 s = ...006.25 -> 1700000007 */
    assert_int_equal(r.reset_epoch_s, 1700000007);

    r = hit(rl, "k", &login_ip, T0 + 1000);
    assert_int_equal(r.remaining, 8); /* 1 s of 6 s refilled: not yet a whole request */
    assert_int_equal(r.reset_epoch_s, 1700000013); /* T0 + 12 s */

    r = hit(rl, "k", &login_ip, T0 + 6000); /* 6 s after the first: that one is back */
    assert_int_equal(r.remaining, 8);
    assert_int_equal(r.reset_epoch_s, 1700000019); /* T0 + 18 s */

    /* a window of one hour and a limit of 30 (refresh per user) */
    const struct ratelimit_rule refresh = {"refresh-user", 30, 3600};
    r = hit(rl, "user-1", &refresh, 1700000000000LL);
    assert_int_equal(r.limit, 30);
    assert_int_equal(r.remaining, 29);
    assert_int_equal(r.reset_epoch_s, 1700000120); /* one share = 120 s */
    ratelimiter_free(rl);
}

static void retry_after_is_when_the_next_request_is_allowed(void **state _unused_)
{
    const struct ratelimit_rule rules[] = {
        {"a", 10, 60}, {"b", 7, 60}, {"c", 2, 60}, {"d", 3, 1}, {"e", 1000, 86400}, {"f", 1, 3600},
    };
    const int64_t offsets_ms[] = {0, 1, 999, 1000, 1234, 2500, 5999};
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
        for (size_t j = 0; j < ARRAY_SIZE(offsets_ms); j++) {
            struct ratelimiter *rl = new_rl(100);
            assert_int_equal(allowed_of(rl, "k", &rules[i], T0, rules[i].limit), rules[i].limit);
            int64_t now = T0 + offsets_ms[j];
            struct ratelimit_result r = hit(rl, "k", &rules[i], now);
            if (r.allowed) /* only when the offset already refilled a share */
                r = hit(rl, "k", &rules[i], now);
            while (r.allowed)
                r = hit(rl, "k", &rules[i], now);
            assert_int_equal(r.remaining, 0);
            assert_true(r.retry_after_s >= 1);
            assert_true(r.reset_epoch_s * 1000 >= now + (int64_t)r.retry_after_s * 1000 - 999);
            /* refused is refused: the state did not move */
            struct ratelimit_result again = hit(rl, "k", &rules[i], now);
            assert_false(again.allowed);
            assert_int_equal(again.retry_after_s, r.retry_after_s);
            /* waiting exactly Retry-After is enough */
            struct ratelimit_result later =
                hit(rl, "k", &rules[i], now + (int64_t)r.retry_after_s * 1000);
            assert_true(later.allowed);
            ratelimiter_free(rl);
        }
}

static void reset_means_whole_quota_back(void **state _unused_)
{
    const struct ratelimit_rule r7 = {"seven", 7, 60}; /* a share is 60000/7 = 8571.43 ms */
    struct ratelimiter *rl = new_rl(1000), *rl2 = new_rl(1000);
    struct ratelimit_result r = {0};
    for (int i = 0; i < 4; i++) {
        r = hit(rl, "k", &r7, T0 + i * 777);
        hit(rl2, "k", &r7, T0 + i * 777);
    }
    /* four shares owed from T0: whole at T0 + 34285.71 ms, announced rounded up */
    assert_int_equal(r.remaining, 3);
    assert_int_equal(r.reset_epoch_s, 1700000035);
    /* at X-RateLimit-Reset the whole limit is available again … */
    assert_int_equal(allowed_of(rl, "k", &r7, r.reset_epoch_s * 1000, 8), 7);
    /* … and not a fraction of a ms before the exact moment */
    assert_int_equal(allowed_of(rl2, "k", &r7, T0 + 34285, 8), 6);
    ratelimiter_free(rl);
    ratelimiter_free(rl2);
}

static void full_recovery_after_an_idle_window(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(1000);
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0, 11), 10);
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0 + 60000, 11), 10);
    assert_int_equal(allowed_of(rl, "k2", &login_ip, T0, 11), 10);
    assert_int_equal(allowed_of(rl, "k2", &login_ip, T0 + 59999, 11), 9); /* 1 ms short */

    /* whatever the phase: a burst at 0:59 is whole again at 1:59 (a sliding-window counter
     * would still weigh it and give 9) */
    assert_int_equal(allowed_of(rl, "p", &login_ip, T0 + 59000, 11), 10);
    assert_int_equal(allowed_of(rl, "p", &login_ip, T0 + 118999, 11), 9);
    assert_int_equal(allowed_of(rl, "q", &login_ip, T0 + 59000, 11), 10);
    assert_int_equal(allowed_of(rl, "q", &login_ip, T0 + 119000, 11), 10);
    ratelimiter_free(rl);
}

static void partial_recovery(void **state _unused_)
{
    /* 10 / minute: one request comes back every 6 s after a burst */
    struct ratelimiter *rl = new_rl(1000);
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0, 10), 10);
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0 + 5999, 1), 0);
    struct ratelimit_result r = hit(rl, "k", &login_ip, T0 + 6000);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0 + 6000, 1), 0);
    /* at 30 s: 24 s since the last allowed share -> 4 more */
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0 + 30000, 10), 4);
    /* at 60 s: 30 s refilled -> 5 */
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0 + 60000, 10), 5);
    /* at 90 s: 30 s -> 5, and at 150 s (a whole minute idle) -> 10 */
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0 + 90000, 10), 5);
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0 + 150000, 11), 10);

    /* a steady client at exactly the rate is never refused */
    for (int i = 0; i < 100; i++)
        assert_true(hit(rl, "steady", &login_ip, T0 + i * 6000).allowed);

    /* exact when the window does not divide: 7 / minute, a share is 8571.43 ms */
    const struct ratelimit_rule r7 = {"seven", 7, 60};
    assert_int_equal(allowed_of(rl, "k", &r7, T0, 8), 7);
    assert_int_equal(allowed_of(rl, "k", &r7, T0 + 8571, 1), 0);
    r = hit(rl, "k", &r7, T0 + 8571);
    assert_int_equal(r.retry_after_s, 1); /* 0.43 ms, rounded up to a second */
    assert_int_equal(allowed_of(rl, "k", &r7, T0 + 8572, 2), 1);
    assert_int_equal(allowed_of(rl, "k", &r7, T0 + 68572, 8), 7);
    ratelimiter_free(rl);
}

static void rules_do_not_interfere(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(1000);
    const struct ratelimit_rule x = {"login-ip", 2, 60}, y = {"manifest", 2, 60};
    assert_int_equal(allowed_of(rl, "same-key", &x, T0, 5), 2);
    assert_int_equal(allowed_of(rl, "same-key", &y, T0, 5), 2);
    /* name/key boundaries cannot be confused: ("a","bc") vs ("ab","c") vs ("abc","") */
    const struct ratelimit_rule a = {"a", 1, 60}, ab = {"ab", 1, 60}, abc = {"abc", 1, 60};
    assert_int_equal(allowed_of(rl, "bc", &a, T0, 2), 1);
    assert_int_equal(allowed_of(rl, "c", &ab, T0, 2), 1);
    assert_int_equal(allowed_of(rl, "", &abc, T0, 2), 1);
    ratelimiter_free(rl);
}

static void keys_do_not_interfere(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(1000);
    assert_int_equal(allowed_of(rl, "203.0.113.1", &login_ip, T0, 20), 10);
    assert_int_equal(allowed_of(rl, "203.0.113.2", &login_ip, T0, 20), 10);
    assert_int_equal(allowed_of(rl, "203.0.113.10", &login_ip, T0, 20), 10);
    assert_int_equal(allowed_of(rl, "203.0.113.1", &login_ip, T0 + 1, 1), 0);
    ratelimiter_free(rl);
}

static void bad_arguments_are_refused(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(10);
    char key[RATELIMIT_KEY_MAX + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0'; /* 257 bytes */
    struct ratelimit_result r, sentinel;
    memset(&sentinel, 0x5a, sizeof(sentinel));
    r = sentinel;
    assert_int_equal(ratelimiter_hit(rl, key, &login_ip, T0, &r), -EINVAL);
    assert_memory_equal(&r, &sentinel, sizeof(r)); /* untouched */
    key[RATELIMIT_KEY_MAX] = '\0';                 /* 256 bytes: fine */
    assert_int_equal(ratelimiter_hit(rl, key, &login_ip, T0, &r), 0);
    assert_true(r.allowed);

    r = sentinel;
    assert_int_equal(ratelimiter_hit(NULL, "k", &login_ip, T0, &r), -EINVAL);
    assert_int_equal(ratelimiter_hit(rl, NULL, &login_ip, T0, &r), -EINVAL);
    assert_int_equal(ratelimiter_hit(rl, "k", NULL, T0, &r), -EINVAL);
    assert_int_equal(ratelimiter_hit(rl, "k", &login_ip, T0, NULL), -EINVAL);
    assert_int_equal(ratelimiter_hit(rl, "k", &login_ip, -1, &r), -EINVAL);
    assert_int_equal(ratelimiter_hit(rl, "k", &login_ip, RATELIMIT_NOW_MAX_MS + 1, &r), -EINVAL);
    char long_name[RATELIMIT_NAME_MAX + 2];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    const struct ratelimit_rule bad[] = {
        {NULL, 10, 60},
        {"", 10, 60},
        {long_name, 10, 60},
        {"x", 0, 60},
        {"x", RATELIMIT_LIMIT_MAX + 1, 60},
        {"x", 10, 0},
        {"x", 10, RATELIMIT_WINDOW_MAX_S + 1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(ratelimiter_hit(rl, "k", &bad[i], T0, &r), -EINVAL);
    assert_memory_equal(&r, &sentinel, sizeof(r));

    /* the extremes are accepted and exact */
    const struct ratelimit_rule most = {"most", RATELIMIT_LIMIT_MAX, RATELIMIT_WINDOW_MAX_S};
    assert_int_equal(ratelimiter_hit(rl, "k", &most, RATELIMIT_NOW_MAX_MS, &r), 0);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, RATELIMIT_LIMIT_MAX - 1);
    const struct ratelimit_rule fast = {"fast", RATELIMIT_LIMIT_MAX, 1}; /* 1 µs a share */
    assert_int_equal(allowed_of(rl, "k", &fast, 0, 1000), 1000);
    long_name[RATELIMIT_NAME_MAX] = '\0';
    const struct ratelimit_rule longest = {long_name, 1, 1};
    assert_int_equal(ratelimiter_hit(rl, key, &longest, T0, &r), 0);

    struct ratelimiter *none = (struct ratelimiter *)&sentinel;
    assert_int_equal(ratelimiter_new_memory(0, &none), -EINVAL);
    assert_int_equal(ratelimiter_new_memory(RATELIMIT_KEYS_MAX + 1, &none), -EINVAL);
    assert_int_equal(ratelimiter_new_memory(10, NULL), -EINVAL);
    assert_ptr_equal(none, (struct ratelimiter *)&sentinel);
    assert_null(ratelimiter_free(rl));
    assert_null(ratelimiter_free(NULL));
}

static size_t keys_in(struct ratelimiter *rl)
{
    struct ratelimit_memory_stats st;
    assert_int_equal(ratelimiter_memory_stats(rl, &st), 0);
    return st.keys;
}

static void flood_of_keys_stays_bounded_and_keeps_the_hot_key(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(1000);
    const struct ratelimit_rule rule = {"login-ip", 10, 3600};
    assert_int_equal(allowed_of(rl, "attacker", &rule, T0, 10), 10);
    unsigned hot_allowed = 0;
    char key[32];
    for (int i = 0; i < 100000; i++) {
        int64_t now = T0 + i; /* 100 s in all: no entry's hour is over */
        snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        assert_true(hit(rl, key, &rule, now).allowed); /* every new key starts whole */
        if (i % 50 == 0)
            hot_allowed += hit(rl, "attacker", &rule, now).allowed;
        if (i % 97 == 0)
            assert_true(keys_in(rl) <= 1000);
    }
    assert_int_equal(hot_allowed, 0); /* still limited: LRU kept it */
    struct ratelimit_memory_stats st;
    assert_int_equal(ratelimiter_memory_stats(rl, &st), 0);
    assert_int_equal(st.keys, 1000);
    assert_int_equal(st.max_keys, 1000);
    assert_int_equal(st.evicted_live, 100001 - 1000);
    assert_int_equal(st.evicted_expired, 0);

    /* an evicted key starts afresh (this is what evicted_live counts) */
    assert_int_equal(allowed_of(rl, "10.0.0.0", &rule, T0 + 100000, 11), 10);
    ratelimiter_free(rl);

    /* a tiny table still holds exactly max_keys */
    rl = new_rl(3);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        hit(rl, key, &rule, T0);
        assert_true(keys_in(rl) <= 3);
    }
    assert_int_equal(keys_in(rl), 3);
    ratelimiter_free(rl);
}

static void expired_entries_go_before_least_recently_used(void **state _unused_)
{
    /* 64 keys: one shard, so the order is exact */
    struct ratelimiter *rl = new_rl(64);
    const struct ratelimit_rule hourly = {"refresh-user", 30, 3600};
    const struct ratelimit_rule short_rule = {"heartbeat", 2, 1};
    char key[32];
    for (int i = 0; i < 32; i++) { /* older: still owe most of a 2-minute share */
        snprintf(key, sizeof(key), "user-%d", i);
        hit(rl, key, &hourly, T0);
    }
    for (int i = 0; i < 32; i++) { /* newer, but whole again after 0.5 s */
        snprintf(key, sizeof(key), "device-%d", i);
        hit(rl, key, &short_rule, T0 + 1);
    }
    for (int i = 0; i < 32; i++) { /* at +5 s, 32 new keys replace the 32 expired ones */
        snprintf(key, sizeof(key), "new-%d", i);
        hit(rl, key, &short_rule, T0 + 5000);
    }
    struct ratelimit_memory_stats st;
    assert_int_equal(ratelimiter_memory_stats(rl, &st), 0);
    assert_int_equal(st.keys, 64);
    assert_int_equal(st.evicted_expired, 32);
    assert_int_equal(st.evicted_live, 0);
    /* the hourly keys kept their state: 1 of 30 used */
    struct ratelimit_result r = hit(rl, "user-0", &hourly, T0 + 5000);
    assert_int_equal(r.remaining, 28);

    /* with nothing expired, the least recently used goes: touch user-1..31, then one more */
    for (int i = 1; i < 32; i++) {
        snprintf(key, sizeof(key), "user-%d", i);
        hit(rl, key, &hourly, T0 + 5001);
    }
    for (int i = 0; i < 32; i++) { /* the new-* keys are whole again at +5.5 s: not yet */
        snprintf(key, sizeof(key), "new-%d", i);
        hit(rl, key, &short_rule, T0 + 5002);
    }
    hit(rl, "one-more", &hourly, T0 + 5003);
    assert_int_equal(ratelimiter_memory_stats(rl, &st), 0);
    assert_int_equal(st.evicted_live, 1);
    r = hit(rl, "user-1", &hourly, T0 + 5004);
    assert_int_equal(r.remaining, 27); /* kept: 3 used */
    r = hit(rl, "user-0", &hourly, T0 + 5004);
    assert_int_equal(r.remaining, 29); /* user-0 was the oldest: evicted, starts afresh */
    ratelimiter_free(rl);
}

static void clock_stepping_back_is_bounded_by_the_window(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(100);
    assert_int_equal(allowed_of(rl, "k", &login_ip, T0, 10), 10);
    int64_t back = T0 - 3600 * 1000; /* the wall clock was set back an hour */
    struct ratelimit_result r = hit(rl, "k", &login_ip, back);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_s, 6); /* as if the burst had just happened, not 1 h + 6 s */
    assert_true(hit(rl, "k", &login_ip, back + 6000).allowed);
    ratelimiter_free(rl);
}

static void a_rule_changing_its_limit_keeps_the_debt(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(100);
    assert_int_equal(allowed_of(rl, "tenant", &login_ip, T0, 10), 10);
    const struct ratelimit_rule doubled = {"login-ip", 20, 60}; /* tuned for an enterprise */
    struct ratelimit_result r = hit(rl, "tenant", &doubled, T0 + 1);
    assert_false(r.allowed); /* the minute's worth already used */
    assert_int_equal(r.retry_after_s, 3);
    assert_int_equal(allowed_of(rl, "tenant", &doubled, T0 + 3001, 1), 1);
    const struct ratelimit_rule halved = {"login-ip", 5, 60};
    assert_int_equal(allowed_of(rl, "tenant", &halved, T0 + 3002, 1), 0);
    assert_int_equal(allowed_of(rl, "tenant", &halved, T0 + 63002, 6), 5);
    ratelimiter_free(rl);
}

/* ---- a model: the same limits computed another way, in absolute 1/limit-ms units ---- */

struct model_key {
    char key[16];
    int rule;
    bool present;
    int64_t tat;   /* absolute, in 1/limit ms */
    uint64_t used; /* recency */
};

static int64_t model_whole_at_ms(const struct model_key *k, int64_t limit)
{
    return (k->tat + limit - 1) / limit;
}

static void matches_a_reference_model(void **state _unused_)
{
    /* 16 keys: one shard, so eviction order is exact. Time only moves forward here: which of
     * two whole entries goes first is then irrelevant (a whole entry stays whole), whereas a
     * clock stepping back could revive one and make the model's choice differ from the heap's
     * without either being wrong. */
    enum { MAX_KEYS = 16, N_KEYS = 8 };
    const struct ratelimit_rule rules[] = {{"r1", 3, 1}, {"r2", 5, 7}, {"r3", 2, 60}};
    struct model_key m[N_KEYS * 3];
    memset(m, 0, sizeof(m));
    struct ratelimiter *rl = new_rl(MAX_KEYS);
    uint64_t rnd = 42, clock = 0;
    int64_t now = T0;
    unsigned n_allowed = 0, n_refused = 0;
    for (int step = 0; step < 200000; step++) {
        rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t x = rnd >> 33;
        if (x % 4 == 0)
            now += (int64_t)(x >> 8) % 300;
        int ki = (int)((x >> 20) % N_KEYS), ri = (int)((x >> 12) % 3);
        const struct ratelimit_rule *rule = &rules[ri];
        const int64_t limit = rule->limit, t = (int64_t)rule->window_s * 1000, window = t * limit;
        struct model_key *k = &m[ki * 3 + ri];

        if (!k->present) { /* model the table: full -> a whole key if any, else the LRU */
            int count = 0;
            struct model_key *whole = NULL, *lru = NULL;
            for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
                if (!m[i].present)
                    continue;
                count++;
                if (model_whole_at_ms(&m[i], rules[m[i].rule].limit) <= now)
                    whole = &m[i];
                if (!lru || m[i].used < lru->used)
                    lru = &m[i];
            }
            if (count == MAX_KEYS)
                (whole ? whole : lru)->present = false;
            *k = (struct model_key){.rule = ri, .present = true, .tat = now * limit};
            snprintf(k->key, sizeof(k->key), "key-%d", ki);
        }
        k->used = ++clock;
        int64_t debt = k->tat - now * limit;
        if (debt < 0)
            debt = 0;
        if (debt > window)
            debt = window;
        struct ratelimit_result want = {.limit = rule->limit};
        if (debt + t <= window) {
            debt += t;
            want.allowed = true;
            want.remaining = (unsigned)((window - debt) / t);
        } else {
            int64_t wait_ms = (debt + t - window + limit - 1) / limit;
            want.retry_after_s = (unsigned)((wait_ms + 999) / 1000);
        }
        k->tat = now * limit + debt;
        want.reset_epoch_s = ((k->tat + limit - 1) / limit + 999) / 1000;

        struct ratelimit_result got = hit(rl, k->key, rule, now);
        n_allowed += got.allowed;
        n_refused += !got.allowed;
        if (got.allowed != want.allowed || got.limit != want.limit ||
            got.remaining != want.remaining || got.reset_epoch_s != want.reset_epoch_s ||
            got.retry_after_s != want.retry_after_s)
            fail_msg("step %d key %s rule %s at %lld: got %d/%u/%lld/%u, want %d/%u/%lld/%u", step,
                     k->key, rule->name, (long long)now, got.allowed, got.remaining,
                     (long long)got.reset_epoch_s, got.retry_after_s, want.allowed, want.remaining,
                     (long long)want.reset_epoch_s, want.retry_after_s);
    }
    struct ratelimit_memory_stats st;
    assert_int_equal(ratelimiter_memory_stats(rl, &st), 0);
    assert_int_equal(st.keys, MAX_KEYS);
    assert_true(st.evicted_expired > 1000); /* both kinds of eviction were exercised */
    assert_true(st.evicted_live > 1000);
    assert_true(n_allowed > 10000 && n_refused > 10000);
    ratelimiter_free(rl);
}

/* ---- a backend through the ops table ---- */

static int fake_freed;
static int fake_hit(void *state, const char *key, const struct ratelimit_rule *rule, int64_t now_ms,
                    struct ratelimit_result *ret)
{
    (void)state, (void)key, (void)rule, (void)now_ms, (void)ret;
    return -EIO;
}
static void fake_free(void *state)
{
    fake_freed += state == &fake_freed;
}
static const struct ratelimit_ops fake_ops = {.name = "fake", .hit = fake_hit, .free = fake_free};

static void other_backends_plug_in(void **state _unused_)
{
    struct ratelimiter *rl = NULL;
    assert_int_equal(ratelimiter_new(&fake_ops, &fake_freed, &rl), 0);
    assert_string_equal(ratelimiter_backend(rl), "fake");
    struct ratelimit_result r, sentinel;
    memset(&sentinel, 0x5a, sizeof(sentinel));
    r = sentinel;
    assert_int_equal(ratelimiter_hit(rl, "k", &login_ip, T0, &r), -EIO);
    assert_memory_equal(&r, &sentinel, sizeof(r));
    /* the front checks arguments before any backend sees them */
    assert_int_equal(ratelimiter_hit(rl, "k", &login_ip, -5, &r), -EINVAL);
    struct ratelimit_memory_stats st;
    assert_int_equal(ratelimiter_memory_stats(rl, &st), -EOPNOTSUPP);
    rl = ratelimiter_free(rl);
    assert_int_equal(fake_freed, 1);
    assert_int_equal(ratelimiter_new(&fake_ops, &fake_freed, NULL), -EINVAL);
    assert_int_equal(fake_freed, 2); /* ownership was taken even on failure */
}

/* ---- threads ---- */

struct worker {
    pthread_t thread;
    struct ratelimiter *rl;
    const struct ratelimit_rule *rule;
    int id, n;
    bool flood; /* distinct keys besides the shared one */
    unsigned allowed, errors;
};

static void *worker_run(void *p)
{
    struct worker *w = p;
    char key[32];
    for (int i = 0; i < w->n; i++) {
        struct ratelimit_result r;
        const char *k = "shared";
        if (w->flood && i % 8 != 0) {
            snprintf(key, sizeof(key), "t%d-%d", w->id, i);
            k = key;
        }
        if (ratelimiter_hit(w->rl, k, w->rule, T0 + i / 100, &r) < 0)
            w->errors++;
        else if (k != key)
            w->allowed += r.allowed;
    }
    return NULL;
}

static unsigned run_workers(struct ratelimiter *rl, const struct ratelimit_rule *rule, int n,
                            bool flood)
{
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.rl = rl, .rule = rule, .id = i, .n = n, .flood = flood};
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_run, &w[i]), 0);
    }
    unsigned allowed = 0, errors = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
        allowed += w[i].allowed;
        errors += w[i].errors;
    }
    assert_int_equal(errors, 0);
    return allowed;
}

static void threads_count_exactly(void **state _unused_)
{
    struct ratelimiter *rl = new_rl(1000);
    const struct ratelimit_rule rule = {"huge", 1000, RATELIMIT_WINDOW_MAX_S};
    assert_int_equal(run_workers(rl, &rule, 10000, false), 1000);
    ratelimiter_free(rl);

    /* the same with a flood of other keys evicting around it, in a small table */
    rl = new_rl(1000);
    assert_int_equal(run_workers(rl, &rule, 80000, true), 1000);
    assert_true(keys_in(rl) <= 1000);
    ratelimiter_free(rl);
}

/* Per-IP keys: IPv4 as itself, IPv6 by its /64 (one subscriber's allocation). */
static void ip_keys_group_ipv6_by_64(void **state _unused_)
{
    static const struct {
        const char *ip, *key;
    } cases[] = {
        {"127.0.0.1", "127.0.0.1"},
        {"203.0.113.9", "203.0.113.9"},
        {"::1", "::/64"},
        {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
        {"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
        {"2001:db8:1:3::1", "2001:db8:1:3::/64"},
        {"::ffff:192.0.2.7", "::ffff:192.0.2.7"},
        {"not an address", "not an address"},
        {"", ""},
    };
    char key[RATELIMIT_IP_KEY_LEN];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ratelimit_ip_key(cases[i].ip, key);
        assert_string_equal(key, cases[i].key);
    }
    ratelimit_ip_key(NULL, key);
    assert_string_equal(key, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_of_limit_then_refused),
        cmocka_unit_test(header_values),
        cmocka_unit_test(retry_after_is_when_the_next_request_is_allowed),
        cmocka_unit_test(reset_means_whole_quota_back),
        cmocka_unit_test(full_recovery_after_an_idle_window),
        cmocka_unit_test(partial_recovery),
        cmocka_unit_test(rules_do_not_interfere),
        cmocka_unit_test(keys_do_not_interfere),
        cmocka_unit_test(bad_arguments_are_refused),
        cmocka_unit_test(flood_of_keys_stays_bounded_and_keeps_the_hot_key),
        cmocka_unit_test(expired_entries_go_before_least_recently_used),
        cmocka_unit_test(clock_stepping_back_is_bounded_by_the_window),
        cmocka_unit_test(a_rule_changing_its_limit_keeps_the_debt),
        cmocka_unit_test(matches_a_reference_model),
        cmocka_unit_test(other_backends_plug_in),
        cmocka_unit_test(threads_count_exactly),
        cmocka_unit_test(ip_keys_group_ipv6_by_64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
