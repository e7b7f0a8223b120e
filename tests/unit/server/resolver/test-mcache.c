/* SPDX-License-Identifier: MIT */
/*
 * test-mcache.c — the manifest cache (mcache.h).
 *
 * Lookups: MISS on an empty cache and for another lineage (also one in the same hash bucket),
 * FRESH only for the entry's own key inside [from_s, until_s), STALE for another key or outside
 * the window, each time the very entry put. A put replaces its lineage's entry. References:
 * entries got from the cache stay readable after they are replaced, evicted, and after the
 * cache is freed; every test drops every reference, so ASan's leak checker (build-asan) sees an
 * entry the cache forgot to free and its use-after-free check sees one freed too early.
 *
 * Sizes are measured, not assumed: cost_of() reads what one entry adds to stats.bytes (its
 * bodies and whatever bookkeeping the cache counts; each body and gzip byte must count once),
 * and the eviction cases size the cache in those units, so the exact boundary (bytes ==
 * max_bytes is allowed) is tested. Eviction is checked by hand (a get refreshes recency; a big
 * entry pushes out several) and against a reference LRU model over 20,000 random gets and puts
 * of mixed sizes, comparing every answer and every stat. An entry bigger than the cache is not
 * kept (max_bytes 0 keeps nothing).
 * 50,000 random lineages all come back (chains of the 2^14-bucket table), and 64 lineages
 * forced into one bucket (16 of them differing only in their last digit) are told apart,
 * replaced and evicted from the middle of the chain.
 *
 * Last, 4 threads get, put, hold and drop entries of 8 lineages for 0.5 s in a cache of about
 * three entries, each checking that every entry it is given is whole and is the one it asked
 * for. Every entry's body names its lineage and key and is padded with bytes derived from the
 * key, so a torn or recycled entry shows.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../../unit/cmocka-prelude.h"
#include "hash.h"
#include "macro.h"
#include "resolver/mcache.h"

#define L        4096 /* the body of an entry in the eviction cases */
#define BODY_MIN 160  /* the shortest body make() can write: its head and "\"}" */

/* ---- names and entries ---- */

static void lineage_of(int i, char out[MCACHE_KEY_LEN])
{
    char s[32];
    int n = snprintf(s, sizeof(s), "lineage-%d", i);
    hash_sha256_hex(s, (size_t)n, out);
}

static void key_of(int i, int variant, char out[MCACHE_KEY_LEN])
{
    char s[48];
    int n = snprintf(s, sizeof(s), "key-%d-%d", i, variant);
    hash_sha256_hex(s, (size_t)n, out);
}

/* Lineages whose first four hex digits are the same land in one bucket (mcache.c hashes those
 * digits); the rest of the digits still tell them apart. */
static void same_bucket_lineage_of(int i, char out[MCACHE_KEY_LEN])
{
    lineage_of(i, out);
    memcpy(out, "beef", 4);
}

static char pad_char(const char *key, size_t i)
{
    return (char)('a' + ((unsigned char)key[i % 64] + i) % 26);
}

static unsigned char gz_byte(const char *key, size_t i)
{
    return (unsigned char)((unsigned char)key[i % 64] ^ (i * 31));
}

static int body_head(char *out, size_t size, const char *lineage, const char *key)
{
    return snprintf(out, size, "{\"lineage\":\"%s\",\"key\":\"%s\",\"pad\":\"", lineage, key);
}

/* @len bytes (no NUL, so a read past the end shows under ASan) of JSON naming @lineage and
 * @key, padded with characters derived from @key. */
static char *body_new(const char *lineage, const char *key, size_t len)
{
    char head[256];
    int n = body_head(head, sizeof(head), lineage, key);
    if (n < 0 || len < (size_t)n + 2)
        abort(); /* a test asked for a body shorter than BODY_MIN */
    char *b = xmalloc(len);
    memcpy(b, head, (size_t)n);
    for (size_t i = (size_t)n; i < len - 2; i++)
        b[i] = pad_char(key, i);
    memcpy(b + len - 2, "\"}", 2);
    return b;
}

/* An entry of @lineage and @key with a body of @len bytes and @gz_len of "gzip" (none for 0),
 * served as it is in [@from_s, @until_s). One reference, the caller's. */
static struct mcache_entry *make(const char *lineage, const char *key, size_t len, size_t gz_len,
                                 int64_t from_s, int64_t until_s)
{
    unsigned char *gz = NULL;
    if (gz_len) {
        gz = xmalloc(gz_len);
        for (size_t i = 0; i < gz_len; i++)
            gz[i] = gz_byte(key, i);
    }
    struct mcache_entry *e =
        mcache_entry_new(lineage, key, body_new(lineage, key, len), len, gz, gz_len);
    e->from_s = from_s;
    e->until_s = until_s;
    snprintf(e->etag, sizeof(e->etag), "\"m-%.32s\"", key);
    return e;
}

/* NULL when @e is whole: its lineage and key are 64 hex digits, its body and gzip are exactly
 * what make() wrote for them, its etag too; else what is wrong. Safe in any thread. */
static const char *entry_fault(const struct mcache_entry *e)
{
    if (strnlen(e->lineage, MCACHE_KEY_LEN) != 64 || strnlen(e->key, MCACHE_KEY_LEN) != 64)
        return "lineage or key is not 64 hex digits";
    char head[256];
    int n = body_head(head, sizeof(head), e->lineage, e->key);
    if (!e->body || e->len < (size_t)n + 2)
        return "body missing or too short";
    if (memcmp(e->body, head, (size_t)n) != 0)
        return "body does not name the entry's lineage and key";
    for (size_t i = (size_t)n; i < e->len - 2; i++)
        if (e->body[i] != pad_char(e->key, i))
            return "body padding corrupted";
    if (memcmp(e->body + e->len - 2, "\"}", 2) != 0)
        return "body end corrupted";
    if (!e->gz && e->gz_len != 0)
        return "gz_len without gz";
    for (size_t i = 0; e->gz && i < e->gz_len; i++)
        if (e->gz[i] != gz_byte(e->key, i))
            return "gzip bytes corrupted";
    char etag[sizeof(e->etag)];
    snprintf(etag, sizeof(etag), "\"m-%.32s\"", e->key);
    if (strcmp(e->etag, etag) != 0)
        return "etag is not the key's";
    return NULL;
}

static void assert_whole(int line, const struct mcache_entry *e)
{
    const char *fault = entry_fault(e);
    if (fault)
        fail_msg("line %d: entry %.12s/%.12s: %s", line, e->lineage, e->key, fault);
}

static const char *found_name(enum mcache_found f)
{
    return f == MCACHE_FRESH ? "FRESH" : f == MCACHE_STALE ? "STALE" : "MISS";
}

/* Looks @lineage/@key up at @now and expects @want and, unless MISS, exactly the entry @is
 * (whole, with the body make() wrote); a MISS must leave *ret alone. */
static void expect_get(int line, struct mcache *c, const char *lineage, const char *key,
                       int64_t now, enum mcache_found want, const struct mcache_entry *is)
{
    struct mcache_entry *sentinel = (struct mcache_entry *)&sentinel, *got = sentinel;
    enum mcache_found found = mcache_get(c, lineage, key, now, &got);
    if (found != want)
        fail_msg("line %d: %.12s/%.12s at %lld: %s, expected %s", line, lineage, key,
                 (long long)now, found_name(found), found_name(want));
    if (want == MCACHE_MISS) {
        if (got != sentinel)
            fail_msg("line %d: a MISS wrote its output", line);
        return;
    }
    if (got != is)
        fail_msg("line %d: %.12s/%.12s at %lld: another entry (key %.12s)", line, lineage, key,
                 (long long)now, got->key);
    assert_whole(line, got);
    mcache_entry_unref(got);
}

#define EXPECT(c, lin, key, now, want, is) expect_get(__LINE__, c, lin, key, now, want, is)

/* Found (FRESH or STALE), which a lookup also counts as a use. */
static bool present(struct mcache *c, const char *lineage)
{
    struct mcache_entry *e = NULL;
    char key[MCACHE_KEY_LEN];
    key_of(-1, 0, key);
    if (mcache_get(c, lineage, key, 0, &e) == MCACHE_MISS)
        return false;
    assert_string_equal(e->lineage, lineage);
    assert_whole(__LINE__, e);
    mcache_entry_unref(e);
    return true;
}

static bool present_i(struct mcache *c, int i)
{
    char lin[MCACHE_KEY_LEN];
    lineage_of(i, lin);
    return present(c, lin);
}

static struct mcache_stats stats_of(struct mcache *c)
{
    struct mcache_stats st;
    memset(&st, 0xa5, sizeof(st));
    mcache_stats(c, &st);
    return st;
}

#define EXPECT_STATS(c, n, b, ev)                                                                  \
    do {                                                                                           \
        struct mcache_stats st_ = stats_of(c);                                                     \
        if (st_.entries != (n) || st_.bytes != (b) || st_.evicted != (ev))                         \
            fail_msg("line %d: %zu entries, %zu bytes, %llu evicted; expected %zu, %zu, %llu",     \
                     __LINE__, st_.entries, st_.bytes, (unsigned long long)st_.evicted,            \
                     (size_t)(n), (size_t)(b), (unsigned long long)(ev));                          \
    } while (0)

/* What an entry with these bodies adds to stats.bytes: measured in a cache of its own. */
static size_t cost_of(size_t len, size_t gz_len)
{
    char lin[MCACHE_KEY_LEN], key[MCACHE_KEY_LEN];
    lineage_of(0, lin);
    key_of(0, 0, key);
    struct mcache *c = mcache_new(SIZE_MAX);
    mcache_put(c, make(lin, key, len, gz_len, 0, 100));
    struct mcache_stats st = stats_of(c);
    mcache_free(c);
    assert_int_equal(st.entries, 1);
    /* the cache holds "at most max_bytes of bodies": the bodies count in full */
    assert_true(st.bytes >= len + gz_len);
    return st.bytes;
}

/* Puts lineage @i's entry (key variant 0) with an @len body, window [0, 100). */
static void put_i(struct mcache *c, int i, size_t len)
{
    char lin[MCACHE_KEY_LEN], key[MCACHE_KEY_LEN];
    lineage_of(i, lin);
    key_of(i, 0, key);
    mcache_put(c, make(lin, key, len, 0, 0, 100));
}

/* ---- lookups ---- */

static void a_new_cache_misses(void **state _unused_)
{
    char lin[MCACHE_KEY_LEN], key[MCACHE_KEY_LEN];
    lineage_of(1, lin);
    key_of(1, 0, key);
    struct mcache *c = mcache_new(1 << 20);
    EXPECT(c, lin, key, 0, MCACHE_MISS, NULL);
    EXPECT(c, lin, key, INT64_MAX, MCACHE_MISS, NULL);
    EXPECT_STATS(c, 0, 0, 0);
    mcache_free(c);
    /* destructors take NULL */
    mcache_free(NULL);
    mcache_entry_unref(NULL);
}

static void fresh_inside_the_window_for_its_key_else_stale(void **state _unused_)
{
    char l1[MCACHE_KEY_LEN], l2[MCACHE_KEY_LEN], k1[MCACHE_KEY_LEN], k2[MCACHE_KEY_LEN];
    lineage_of(1, l1);
    lineage_of(2, l2);
    key_of(1, 0, k1);
    key_of(1, 1, k2);
    struct mcache *c = mcache_new(1 << 20);
    struct mcache_entry *e = make(l1, k1, 500, 120, 1000, 2000);
    mcache_put(c, mcache_entry_ref(e)); /* keep ours to compare pointers */

    EXPECT(c, l1, k1, 1000, MCACHE_FRESH, e); /* from_s is inside */
    EXPECT(c, l1, k1, 1500, MCACHE_FRESH, e);
    EXPECT(c, l1, k1, 1999, MCACHE_FRESH, e);
    EXPECT(c, l1, k2, 1500, MCACHE_STALE, e); /* another key of the lineage */
    EXPECT(c, l1, k1, 999, MCACHE_STALE, e);  /* before from_s */
    EXPECT(c, l1, k1, 2000, MCACHE_STALE, e); /* until_s is outside */
    EXPECT(c, l1, k1, INT64_MIN, MCACHE_STALE, e);
    EXPECT(c, l1, k1, INT64_MAX, MCACHE_STALE, e);
    EXPECT(c, l2, k1, 1500, MCACHE_MISS, NULL); /* another lineage, even with this key */

    /* what comes back is the body, gzip and etag that went in, byte for byte */
    struct mcache_entry *got = NULL;
    assert_int_equal(mcache_get(c, l1, k1, 1500, &got), MCACHE_FRESH);
    char *want = body_new(l1, k1, 500);
    assert_int_equal(got->len, 500);
    assert_memory_equal(got->body, want, 500);
    assert_int_equal(got->gz_len, 120);
    for (size_t i = 0; i < 120; i++)
        assert_int_equal(got->gz[i], gz_byte(k1, i));
    char etag[sizeof(got->etag)];
    snprintf(etag, sizeof(etag), "\"m-%.32s\"", k1);
    assert_string_equal(got->etag, etag);
    assert_string_equal(got->lineage, l1);
    assert_string_equal(got->key, k1);
    free(want);
    mcache_entry_unref(got);

    /* an entry without gzip */
    struct mcache_entry *plain = make(l2, k2, BODY_MIN, 0, 0, 10);
    mcache_put(c, mcache_entry_ref(plain));
    EXPECT(c, l2, k2, 5, MCACHE_FRESH, plain);
    assert_null(plain->gz);
    assert_int_equal(plain->gz_len, 0);
    EXPECT(c, l1, k1, 1500, MCACHE_FRESH, e); /* the other lineage is untouched */

    EXPECT_STATS(c, 2, cost_of(500, 120) + cost_of(BODY_MIN, 0), 0);
    mcache_free(c);
    mcache_entry_unref(e);
    mcache_entry_unref(plain);
}

static void lineages_in_one_bucket_are_told_apart(void **state _unused_)
{
    enum { N = 64 };
    char lin[N + 1][MCACHE_KEY_LEN], key[MCACHE_KEY_LEN];
    struct mcache_entry *e[N];
    struct mcache *c = mcache_new(SIZE_MAX);
    /* 48 that differ after their first four digits, then 16 that differ only in their last
     * one; the one never put differs from those only in its next to last */
    for (int i = 0; i < 48; i++)
        same_bucket_lineage_of(i, lin[i]);
    for (int i = 48; i <= N; i++) {
        same_bucket_lineage_of(1000, lin[i]);
        lin[i][63] = "0123456789abcdef"[i % 16];
    }
    lin[N][62] = lin[N][62] == '0' ? '1' : '0';
    for (int i = 0; i < N; i++) {
        key_of(i, 0, key);
        e[i] = make(lin[i], key, 200, 0, 0, 100);
        mcache_put(c, mcache_entry_ref(e[i]));
    }
    for (int i = 0; i < N; i++) {
        key_of(i, 0, key);
        EXPECT(c, lin[i], key, 50, MCACHE_FRESH, e[i]);
    }
    EXPECT(c, lin[N], key, 50, MCACHE_MISS, NULL); /* same bucket, never put */

    /* replacing one in the middle of the chain leaves its neighbours in place */
    key_of(N / 2, 1, key);
    mcache_entry_unref(e[N / 2]);
    e[N / 2] = make(lin[N / 2], key, 300, 0, 0, 100);
    mcache_put(c, mcache_entry_ref(e[N / 2]));
    for (int i = 0; i < N; i++) {
        key_of(i, i == N / 2, key);
        EXPECT(c, lin[i], key, 50, MCACHE_FRESH, e[i]);
    }
    assert_int_equal(stats_of(c).entries, N);
    mcache_free(c);
    for (int i = 0; i < N; i++)
        mcache_entry_unref(e[i]);

    /* and eviction takes one out of the middle of a chain: three fit */
    c = mcache_new(3 * cost_of(L, 0));
    for (int i = 0; i < 3; i++) {
        key_of(i, 0, key);
        mcache_put(c, make(lin[i], key, L, 0, 0, 100)); /* chain 0 1 2 */
    }
    assert_true(present(c, lin[0])); /* recency 0 2 1 */
    key_of(3, 0, key);
    mcache_put(c, make(lin[3], key, L, 0, 0, 100)); /* 1 goes: chain 0 2 3 */
    assert_false(present(c, lin[1]));
    assert_true(present(c, lin[2]));
    assert_true(present(c, lin[0]));
    assert_true(present(c, lin[3])); /* recency 3 0 2 */
    key_of(4, 0, key);
    mcache_put(c, make(lin[4], key, L, 0, 0, 100)); /* 2 goes: chain 0 3 4 */
    assert_false(present(c, lin[2]));
    assert_true(present(c, lin[0]));
    assert_true(present(c, lin[3]));
    assert_true(present(c, lin[4]));
    EXPECT_STATS(c, 3, 3 * cost_of(L, 0), 2);
    mcache_free(c);
}

static void bytes_count_every_body_byte(void **state _unused_)
{
    /* whatever an entry costs besides its bodies is the same for every entry, and each byte of
     * the body or of its gzip counts once */
    const size_t base = cost_of(BODY_MIN, 0);
    assert_int_equal(cost_of(BODY_MIN + 1, 0), base + 1);
    assert_int_equal(cost_of(BODY_MIN + 5000, 0), base + 5000);
    assert_int_equal(cost_of(BODY_MIN, 1), base + 1);
    assert_int_equal(cost_of(BODY_MIN + 700, 300), base + 1000);
    print_message("# an entry costs its bodies and %zu bytes\n", base - BODY_MIN);
}

/* ---- replacing ---- */

static void put_replaces_the_lineage_entry(void **state _unused_)
{
    char l1[MCACHE_KEY_LEN], l2[MCACHE_KEY_LEN], k1[MCACHE_KEY_LEN], k2[MCACHE_KEY_LEN],
        k3[MCACHE_KEY_LEN];
    lineage_of(1, l1);
    lineage_of(2, l2);
    key_of(1, 0, k1);
    key_of(1, 1, k2);
    key_of(1, 2, k3);
    struct mcache *c = mcache_new(1 << 20);

    /* no reference kept on a: once replaced the cache must free it (the leak checker says) */
    mcache_put(c, make(l1, k1, 1000, 200, 0, 100));
    EXPECT_STATS(c, 1, cost_of(1000, 200), 0);
    struct mcache_entry *b = make(l1, k2, 300, 50, 0, 100);
    mcache_put(c, mcache_entry_ref(b));
    EXPECT(c, l1, k2, 50, MCACHE_FRESH, b);
    EXPECT(c, l1, k1, 50, MCACHE_STALE, b);  /* a's own key no longer finds a */
    EXPECT_STATS(c, 1, cost_of(300, 50), 0); /* a replacement is not an eviction */

    /* bigger again, and another lineage beside it */
    struct mcache_entry *d = make(l1, k3, 2000, 0, 0, 100);
    mcache_put(c, mcache_entry_ref(d));
    EXPECT(c, l1, k2, 50, MCACHE_STALE, d);
    EXPECT(c, l1, k3, 50, MCACHE_FRESH, d);
    EXPECT_STATS(c, 1, cost_of(2000, 0), 0);
    mcache_put(c, make(l2, k1, 400, 0, 0, 100));
    EXPECT_STATS(c, 2, cost_of(2000, 0) + cost_of(400, 0), 0);
    EXPECT(c, l1, k3, 50, MCACHE_FRESH, d);

    /* the same entry put again (a caller re-putting what it got) stays, counted once */
    mcache_put(c, mcache_entry_ref(d));
    EXPECT(c, l1, k3, 50, MCACHE_FRESH, d);
    EXPECT_STATS(c, 2, cost_of(2000, 0) + cost_of(400, 0), 0);

    mcache_free(c);
    assert_whole(__LINE__, b);
    assert_whole(__LINE__, d);
    mcache_entry_unref(b);
    mcache_entry_unref(d);
}

/* ---- references ---- */

static void references_outlive_replacement_eviction_and_the_cache(void **state _unused_)
{
    char l1[MCACHE_KEY_LEN], l2[MCACHE_KEY_LEN], k1[MCACHE_KEY_LEN], k2[MCACHE_KEY_LEN];
    lineage_of(1, l1);
    lineage_of(2, l2);
    key_of(1, 0, k1);
    key_of(1, 1, k2);
    struct mcache *c = mcache_new(1 << 20);

    mcache_put(c, make(l1, k1, 4000, 500, 0, 100));
    struct mcache_entry *r1 = NULL, *r2 = NULL, *r3 = NULL;
    assert_int_equal(mcache_get(c, l1, k1, 50, &r1), MCACHE_FRESH);
    mcache_put(c, make(l1, k2, 3000, 0, 0, 100)); /* drops the cache's reference to r1 */
    assert_whole(__LINE__, r1);
    assert_string_equal(r1->key, k1);
    char *want = body_new(l1, k1, 4000);
    assert_memory_equal(r1->body, want, 4000);
    free(want);

    assert_int_equal(mcache_get(c, l1, k2, 50, &r2), MCACHE_FRESH);
    mcache_put(c, make(l2, k1, 1000, 100, 0, 100));
    assert_int_equal(mcache_get(c, l2, k2, 50, &r3), MCACHE_STALE);
    mcache_entry_ref(r3); /* two references of ours on r3 */
    mcache_free(c);

    assert_whole(__LINE__, r1);
    assert_whole(__LINE__, r2);
    assert_whole(__LINE__, r3);
    want = body_new(l1, k2, 3000);
    assert_memory_equal(r2->body, want, 3000);
    free(want);
    mcache_entry_unref(r1);
    mcache_entry_unref(r2);
    mcache_entry_unref(r3);
    assert_whole(__LINE__, r3); /* one left */
    mcache_entry_unref(r3);

    /* an evicted entry lives on in its reader's hands */
    c = mcache_new(cost_of(L, 0));
    put_i(c, 1, L);
    struct mcache_entry *r = NULL;
    assert_int_equal(mcache_get(c, l1, k1, 50, &r), MCACHE_FRESH);
    put_i(c, 2, L); /* evicts lineage 1 */
    assert_false(present_i(c, 1));
    assert_int_equal(stats_of(c).evicted, 1);
    assert_whole(__LINE__, r);
    mcache_free(c);
    assert_whole(__LINE__, r);
    mcache_entry_unref(r);
}

/* ---- eviction ---- */

static void eviction_takes_the_least_recently_used(void **state _unused_)
{
    const size_t cost = cost_of(L, 0);
    struct mcache *c = mcache_new(4 * cost); /* exactly four */
    for (int i = 0; i < 4; i++)
        put_i(c, i, L);
    EXPECT_STATS(c, 4, 4 * cost, 0); /* bytes == max_bytes is within the limit */
    for (int i = 0; i < 4; i++)
        assert_true(present_i(c, i)); /* in put order: recency stays 3 2 1 0 */

    assert_true(present_i(c, 0)); /* recency 0 3 2 1 */
    put_i(c, 4, L);               /* 1, the oldest untouched, goes: 4 0 3 2 */
    EXPECT_STATS(c, 4, 4 * cost, 1);
    assert_false(present_i(c, 1)); /* a miss changes no recency */
    put_i(c, 5, L);                /* 2 goes: 5 4 0 3 */
    EXPECT_STATS(c, 4, 4 * cost, 2);
    assert_false(present_i(c, 2));
    assert_true(present_i(c, 3)); /* 3 5 4 0 */
    assert_true(present_i(c, 5)); /* 5 3 4 0 */
    put_i(c, 6, L);               /* 0 goes: 6 5 3 4 */
    assert_false(present_i(c, 0));
    for (int i = 3; i <= 6; i++)
        assert_true(present_i(c, i));
    EXPECT_STATS(c, 4, 4 * cost, 3);

    /* a STALE lookup is a use too */
    char lin[MCACHE_KEY_LEN], key[MCACHE_KEY_LEN];
    struct mcache_entry *e = NULL;
    lineage_of(3, lin);
    key_of(3, 0, key);
    assert_int_equal(mcache_get(c, lin, key, 100, &e), MCACHE_STALE); /* 3 6 5 4 */
    mcache_entry_unref(e);
    put_i(c, 7, L); /* 4 goes */
    assert_false(present_i(c, 4));
    assert_true(present_i(c, 3));
    mcache_free(c);

    /* one byte short of four: three fit */
    c = mcache_new(4 * cost - 1);
    for (int i = 0; i < 4; i++)
        put_i(c, i, L);
    EXPECT_STATS(c, 3, 3 * cost, 1);
    assert_false(present_i(c, 0));
    mcache_free(c);
}

static void a_big_entry_pushes_out_several(void **state _unused_)
{
    const size_t small = cost_of(L, 0), big = cost_of(3 * L, 0), max = 4 * small;
    /* how many small ones fit beside the big one (1 unless an entry costs over L on top) */
    const size_t beside = (max - big) / small;
    assert_int_equal(beside, 1);
    struct mcache *c = mcache_new(max);
    for (int i = 0; i < 4; i++)
        put_i(c, i, L);
    assert_true(present_i(c, 2)); /* recency 2 3 1 0 */
    put_i(c, 9, 3 * L);           /* 0, 1 and 3 go */
    EXPECT_STATS(c, 2, big + small, 3);
    assert_true(present_i(c, 9));
    assert_true(present_i(c, 2));
    for (int i = 0; i < 4; i++)
        if (i != 2)
            assert_false(present_i(c, i));
    /* a small one now pushes out the big one, the least recently used */
    assert_true(present_i(c, 2));
    put_i(c, 4, L);
    EXPECT_STATS(c, 2, 2 * small, 4);
    assert_false(present_i(c, 9));
    mcache_free(c);
}

/* A 64-bit xorshift*, so runs repeat. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* The reference: for each lineage whether it is held, by which key variant and size, and when it
 * was last used; the least recently used goes while the bytes exceed the limit. */
struct model {
    size_t max, bytes, entries;
    uint64_t evicted, tick;
    struct {
        bool held;
        int variant, size;
        uint64_t used;
    } s[16];
};

static void model_put(struct model *m, const size_t *cost, int i, int variant, int size)
{
    if (m->s[i].held) {
        m->bytes -= cost[m->s[i].size];
        m->entries--;
    }
    m->s[i].held = true;
    m->s[i].variant = variant;
    m->s[i].size = size;
    m->s[i].used = ++m->tick;
    m->bytes += cost[size];
    m->entries++;
    while (m->bytes > m->max) {
        int lru = -1;
        for (int j = 0; j < 16; j++)
            if (m->s[j].held && (lru < 0 || m->s[j].used < m->s[lru].used))
                lru = j;
        m->s[lru].held = false;
        m->bytes -= cost[m->s[lru].size];
        m->entries--;
        m->evicted++;
    }
}

static void matches_a_reference_lru(void **state _unused_)
{
    enum { OPS = 20000 };
    static const size_t lens[] = {L, L / 2, 2 * L, BODY_MIN}, gz_lens[] = {0, 300, 0, 0};
    size_t cost[4];
    for (int k = 0; k < 4; k++)
        cost[k] = cost_of(lens[k], gz_lens[k]);
    struct model m = {.max = 5 * cost[0]};
    char lin[16][MCACHE_KEY_LEN], key[MCACHE_KEY_LEN];
    for (int i = 0; i < 16; i++) {
        if (i < 8)
            same_bucket_lineage_of(i, lin[i]); /* half of them share one chain */
        else
            lineage_of(i, lin[i]);
    }
    struct mcache *c = mcache_new(m.max);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    unsigned fresh = 0, stale = 0, miss = 0;
    for (int op = 0; op < OPS; op++) {
        int i = (int)(rng_next(&seed) % 16), variant = (int)(rng_next(&seed) % 3);
        key_of(i, variant, key);
        if (rng_next(&seed) % 100 < 45) {
            int size = (int)(rng_next(&seed) % 4);
            mcache_put(c, make(lin[i], key, lens[size], gz_lens[size], 0, 100));
            model_put(&m, cost, i, variant, size);
        } else {
            int64_t now = (int64_t)(rng_next(&seed) % 120) - 10;
            struct mcache_entry *e = NULL;
            enum mcache_found found = mcache_get(c, lin[i], key, now, &e), want = MCACHE_MISS;
            if (m.s[i].held) {
                want = m.s[i].variant == variant && now >= 0 && now < 100 ? MCACHE_FRESH
                                                                          : MCACHE_STALE;
                m.s[i].used = ++m.tick;
            }
            if (found != want)
                fail_msg("op %d: lineage %d variant %d at %lld: %s, the model says %s", op, i,
                         variant, (long long)now, found_name(found), found_name(want));
            fresh += found == MCACHE_FRESH;
            stale += found == MCACHE_STALE;
            miss += found == MCACHE_MISS;
            if (e) {
                char held_key[MCACHE_KEY_LEN];
                key_of(i, m.s[i].variant, held_key);
                assert_string_equal(e->lineage, lin[i]);
                assert_string_equal(e->key, held_key);
                assert_int_equal(e->len, lens[m.s[i].size]);
                assert_whole(__LINE__, e);
                mcache_entry_unref(e);
            }
        }
        struct mcache_stats st = stats_of(c);
        if (st.entries != m.entries || st.bytes != m.bytes || st.evicted != m.evicted)
            fail_msg("op %d: %zu entries, %zu bytes, %llu evicted; the model says %zu, %zu, %llu",
                     op, st.entries, st.bytes, (unsigned long long)st.evicted, m.entries, m.bytes,
                     (unsigned long long)m.evicted);
        assert_true(st.bytes <= m.max);
    }
    mcache_free(c);
    /* the run exercised every outcome and evicted a lot */
    assert_true(fresh > OPS / 20 && stale > OPS / 20 && miss > OPS / 20);
    assert_true(m.evicted > OPS / 10);
    print_message("# model: %d ops, %u fresh, %u stale, %u miss, %llu evicted\n", OPS, fresh, stale,
                  miss, (unsigned long long)m.evicted);
}

static void an_entry_bigger_than_the_cache_is_not_kept(void **state _unused_)
{
    char lin[MCACHE_KEY_LEN], key[MCACHE_KEY_LEN];
    lineage_of(9, lin);
    key_of(9, 0, key);
    const size_t cost = cost_of(L, 100);

    /* one byte too big: not kept, and freed (the leak checker says) */
    struct mcache *c = mcache_new(cost - 1);
    mcache_put(c, make(lin, key, L, 100, 0, 100));
    EXPECT(c, lin, key, 50, MCACHE_MISS, NULL);
    EXPECT_STATS(c, 0, 0, 0);
    mcache_free(c);

    /* exactly the cache's size: kept */
    c = mcache_new(cost);
    struct mcache_entry *e = make(lin, key, L, 100, 0, 100);
    mcache_put(c, mcache_entry_ref(e));
    EXPECT(c, lin, key, 50, MCACHE_FRESH, e);
    EXPECT_STATS(c, 1, cost, 0);
    mcache_free(c);
    mcache_entry_unref(e);

    /* too big for a cache holding others: they stay */
    const size_t small = cost_of(L, 0);
    c = mcache_new(4 * small);
    for (int i = 0; i < 4; i++)
        put_i(c, i, L);
    mcache_put(c, make(lin, key, 5 * L, 0, 0, 100));
    EXPECT(c, lin, key, 50, MCACHE_MISS, NULL);
    EXPECT_STATS(c, 4, 4 * small, 0);
    for (int i = 0; i < 4; i++)
        assert_true(present_i(c, i));
    mcache_free(c);

    /* max_bytes 0 holds nothing: every get misses */
    c = mcache_new(0);
    for (int i = 0; i < 10; i++) {
        lineage_of(i, lin);
        key_of(i, 0, key);
        mcache_put(c, make(lin, key, BODY_MIN, i % 2 ? 10 : 0, 0, 100));
        EXPECT(c, lin, key, 50, MCACHE_MISS, NULL);
    }
    EXPECT_STATS(c, 0, 0, 0);
    mcache_free(c);
}

/* ---- many lineages ---- */

static void many_lineages_are_all_found_again(void **state _unused_)
{
    enum { N = 50000, NEVER = 2000 };
    char(*lin)[MCACHE_KEY_LEN] = xmalloc(sizeof(*lin) * (N + NEVER));
    char key[MCACHE_KEY_LEN], old[MCACHE_KEY_LEN];
    /* random lineages (SHA-256 of pseudo-random words), the same on every run */
    uint64_t seed = 0x853c49e6748fea9bull;
    for (int i = 0; i < N + NEVER; i++) {
        uint64_t r[2] = {rng_next(&seed), (uint64_t)i};
        hash_sha256_hex(r, sizeof(r), lin[i]);
    }
    struct mcache *c = mcache_new(SIZE_MAX);
    for (int i = 0; i < N; i++) {
        key_of(i, 0, key);
        mcache_put(c, make(lin[i], key, BODY_MIN + (size_t)i % 64, 0, 0, 100));
    }
    struct mcache_stats st = stats_of(c);
    assert_int_equal(st.entries, N);
    assert_int_equal(st.evicted, 0);
    for (int i = 0; i < N; i++) {
        struct mcache_entry *e = NULL;
        key_of(i, 0, key);
        if (mcache_get(c, lin[i], key, 50, &e) != MCACHE_FRESH)
            fail_msg("lineage %d (%s) not found FRESH", i, lin[i]);
        assert_string_equal(e->lineage, lin[i]);
        assert_string_equal(e->key, key);
        assert_int_equal(e->len, BODY_MIN + (size_t)i % 64);
        assert_whole(__LINE__, e);
        mcache_entry_unref(e);
    }
    for (int i = N; i < N + NEVER; i++) {
        key_of(i, 0, key);
        EXPECT(c, lin[i], key, 50, MCACHE_MISS, NULL);
    }

    /* replace every third: the others are untouched, the count stays */
    for (int i = 0; i < N; i += 3) {
        key_of(i, 1, key);
        mcache_put(c, make(lin[i], key, BODY_MIN, 0, 0, 100));
    }
    assert_int_equal(stats_of(c).entries, N);
    for (int i = 0; i < N; i++) {
        struct mcache_entry *e = NULL;
        key_of(i, 0, old);
        key_of(i, i % 3 == 0, key);
        enum mcache_found found = mcache_get(c, lin[i], old, 50, &e);
        if (found != (i % 3 == 0 ? MCACHE_STALE : MCACHE_FRESH))
            fail_msg("lineage %d: %s", i, found_name(found));
        assert_string_equal(e->key, key);
        assert_whole(__LINE__, e);
        mcache_entry_unref(e);
    }
    mcache_free(c);
    free(lin);
}

/* ---- threads ---- */

#define THREADS  4
#define LINEAGES 8
#define VARIANTS 4
#define HELD     4
#define RUN_NS   500000000ll
#define T_LEN(v) ((size_t)BODY_MIN + 600 * (size_t)(v)) /* 160 … 1960 bytes */
#define T_GZ(v)  ((size_t)(v) % 2 ? 64 * (size_t)(v) : 0)
#define T_UNTIL  100

struct shared {
    struct mcache *cache;
    size_t max;
    char lin[LINEAGES][MCACHE_KEY_LEN];
    char key[LINEAGES][VARIANTS][MCACHE_KEY_LEN];
    int64_t deadline_ns;
    atomic_uint faults;
    pthread_mutex_t lock; /* over first_fault */
    char first_fault[256];
};

struct worker {
    pthread_t thread;
    struct shared *sh;
    uint64_t seed;
    unsigned long gets, found, fresh, puts;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* cmocka's assertions longjmp and belong to the main thread: workers report here. */
static void fault(struct shared *sh, const char *what, const struct mcache_entry *e)
{
    if (atomic_fetch_add(&sh->faults, 1) != 0)
        return;
    pthread_mutex_lock(&sh->lock);
    snprintf(sh->first_fault, sizeof(sh->first_fault), "%s (entry %.12s/%.12s)", what,
             e ? e->lineage : "-", e ? e->key : "-");
    pthread_mutex_unlock(&sh->lock);
}

static void worker_get(struct worker *w, struct mcache_entry **held)
{
    struct shared *sh = w->sh;
    int i = (int)(rng_next(&w->seed) % LINEAGES), v = (int)(rng_next(&w->seed) % VARIANTS);
    int64_t now = (int64_t)(rng_next(&w->seed) % (T_UNTIL + 20)) - 10;
    struct mcache_entry *e = NULL;
    enum mcache_found found = mcache_get(sh->cache, sh->lin[i], sh->key[i][v], now, &e);
    w->gets++;
    if (found == MCACHE_MISS) {
        if (e)
            fault(sh, "a MISS wrote its output", e);
        return;
    }
    w->found++;
    const char *f = entry_fault(e);
    bool own = strcmp(e->key, sh->key[i][v]) == 0, inside = now >= 0 && now < T_UNTIL;
    if (f)
        fault(sh, f, e);
    else if (strcmp(e->lineage, sh->lin[i]) != 0)
        fault(sh, "an entry of another lineage", e);
    else if (found == MCACHE_FRESH && !(own && inside))
        fault(sh, "FRESH for another key or outside the window", e);
    else if (found == MCACHE_STALE && own && inside)
        fault(sh, "STALE for its own key inside the window", e);
    w->fresh += found == MCACHE_FRESH;
    /* hold it a while, across other threads' replacements and evictions */
    struct mcache_entry **slot = &held[rng_next(&w->seed) % HELD];
    if (*slot && entry_fault(*slot))
        fault(sh, "a held entry changed", *slot);
    mcache_entry_unref(*slot);
    *slot = e;
}

static void *worker_run(void *p)
{
    struct worker *w = p;
    struct shared *sh = w->sh;
    struct mcache_entry *held[HELD] = {NULL};
    for (unsigned long n = 0;; n++) {
        if (n % 256 == 0 && mono_ns() >= sh->deadline_ns)
            break;
        unsigned r = (unsigned)(rng_next(&w->seed) % 100);
        if (r < 55) {
            worker_get(w, held);
        } else if (r < 95) {
            int i = (int)(rng_next(&w->seed) % LINEAGES), v = (int)(rng_next(&w->seed) % VARIANTS);
            mcache_put(sh->cache, make(sh->lin[i], sh->key[i][v], T_LEN(v), T_GZ(v), 0, T_UNTIL));
            w->puts++;
        } else {
            struct mcache_stats st;
            mcache_stats(sh->cache, &st);
            if (st.bytes > sh->max || st.entries > LINEAGES)
                fault(sh, "stats over the limit", NULL);
        }
    }
    for (int k = 0; k < HELD; k++) {
        if (held[k] && entry_fault(held[k]))
            fault(sh, "a held entry changed", held[k]);
        mcache_entry_unref(held[k]);
    }
    return NULL;
}

static void threads_see_whole_entries(void **state _unused_)
{
    static struct shared sh;
    memset(&sh, 0, sizeof(sh));
    pthread_mutex_init(&sh.lock, NULL);
    atomic_init(&sh.faults, 0);
    for (int i = 0; i < LINEAGES; i++) {
        lineage_of(i, sh.lin[i]);
        for (int v = 0; v < VARIANTS; v++)
            key_of(i, v, sh.key[i][v]);
    }
    sh.max = 3 * cost_of(T_LEN(2), 0); /* about three of the eight lineages */
    sh.cache = mcache_new(sh.max);
    sh.deadline_ns = mono_ns() + RUN_NS;
    struct worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){.sh = &sh, .seed = 0x2545f4914f6cdd1dull * (uint64_t)(t + 1)};
        assert_int_equal(pthread_create(&w[t].thread, NULL, worker_run, &w[t]), 0);
    }
    unsigned long gets = 0, found = 0, fresh = 0, puts = 0;
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(w[t].thread, NULL), 0);
        gets += w[t].gets;
        found += w[t].found;
        fresh += w[t].fresh;
        puts += w[t].puts;
    }
    if (atomic_load(&sh.faults))
        fail_msg("%u faults, the first: %s", atomic_load(&sh.faults), sh.first_fault);
    struct mcache_stats st = stats_of(sh.cache);
    print_message("# threads: %lu lookups (%lu found, %lu fresh), %lu puts, %llu evicted\n", gets,
                  found, fresh, puts, (unsigned long long)st.evicted);
    assert_true(st.bytes <= sh.max);
    assert_true(st.evicted > 0);
    assert_true(found > 0 && fresh > 0 && found < gets);
    /* what is left is consistent too */
    size_t entries = 0;
    for (int i = 0; i < LINEAGES; i++) {
        struct mcache_entry *e = NULL;
        if (mcache_get(sh.cache, sh.lin[i], sh.key[i][0], 0, &e) == MCACHE_MISS)
            continue;
        entries++;
        assert_string_equal(e->lineage, sh.lin[i]);
        assert_whole(__LINE__, e);
        mcache_entry_unref(e);
    }
    assert_int_equal(entries, st.entries);
    mcache_free(sh.cache);
    pthread_mutex_destroy(&sh.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_new_cache_misses),
        cmocka_unit_test(fresh_inside_the_window_for_its_key_else_stale),
        cmocka_unit_test(lineages_in_one_bucket_are_told_apart),
        cmocka_unit_test(bytes_count_every_body_byte),
        cmocka_unit_test(put_replaces_the_lineage_entry),
        cmocka_unit_test(references_outlive_replacement_eviction_and_the_cache),
        cmocka_unit_test(eviction_takes_the_least_recently_used),
        cmocka_unit_test(a_big_entry_pushes_out_several),
        cmocka_unit_test(matches_a_reference_lru),
        cmocka_unit_test(an_entry_bigger_than_the_cache_is_not_kept),
        cmocka_unit_test(many_lineages_are_all_found_again),
        cmocka_unit_test(threads_see_whole_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
