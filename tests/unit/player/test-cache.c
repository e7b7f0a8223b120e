/* SPDX-License-Identifier: MIT */
/*
 * test-cache.c — the media cache (cache.h).
 *
 * The policy: one case per rule — the 90% trigger and its boundary, least recently used first,
 * ties by assetId whatever the input order, the fewest evictions, protected and PENDING entries
 * never evicted, the budget as the hard limit, pause (and what a paused plan still evicts), the
 * 72-hour rule at its boundary, bad input. Then a property test against a brute-force reference
 * that knows nothing of sorting: it tries every subset of the entries, keeps those that evict
 * only what may go, include everything expired and never keep an older candidate than one they
 * evict, and takes the smallest that reaches 90%. -DPROPERTY_CASES=… -DPROPERTY_SEED=… run more.
 *
 * The index: real files in a mkdtemp directory. Open and its errors, reserve/commit/touch/
 * verify/remove/list/total, corrupted files. Then reconcile after each state a kill -9 can
 * leave (built by doing an operation's steps by hand and stopping between two of them), and a
 * real one: a child process committing and removing assets is killed at random instants, and
 * after each kill reconcile must leave the index and the files in agreement, every READY asset
 * verifying byte for byte.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cmocka-prelude.h"
#include "hash.h"
#include "macro.h"
#include "player/cache.h"

#define H    INT64_C(3600)
#define NOW  INT64_C(1800000000) /* 2027-01-15 */
#define KEEP CACHE_KEEP_UNUSED_S

#ifndef PROPERTY_CASES
#define PROPERTY_CASES 4000
#endif
#ifndef PROPERTY_SEED
#define PROPERTY_SEED 0x2545f4914f6cdd1dull
#endif

#include "../rng.h" /* after PROPERTY_SEED */

/* ---- policy: helpers ----------------------------------------------------------------------- */

static struct cache_entry ent(const char *id, uint64_t bytes, int64_t used, enum cache_state st)
{
    struct cache_entry e = {.bytes = bytes, .last_used_utc = used, .state = st};
    snprintf(e.asset_id, sizeof(e.asset_id), "%s", id);
    return e;
}

static struct cache_entry ready(const char *id, uint64_t bytes, int64_t used)
{
    return ent(id, bytes, used, CACHE_STATE_READY);
}

struct pcase {
    struct cache_entry e[16];
    size_t n;
    const char *prot[16];
    size_t n_prot;
    uint64_t budget, incoming;
    int64_t now;
};

static struct cache_policy_input input_of(const struct pcase *pc)
{
    return (struct cache_policy_input){.entries = pc->e,
                                       .n_entries = pc->n,
                                       .protected_ids = pc->prot,
                                       .n_protected = pc->n_prot,
                                       .budget_bytes = pc->budget,
                                       .incoming_bytes = pc->incoming,
                                       .now_utc = pc->now ? pc->now : NOW,
                                       .keep_unused_s = KEEP};
}

/* Plans @pc and writes the evicted ids as "a,b,c" into @out; returns the action. */
static enum cache_action plan_ids(const struct pcase *pc, char *out, size_t cap, uint64_t *ret_used)
{
    struct cache_policy_input in = input_of(pc);
    struct cache_plan p;
    assert_int_equal(cache_policy_plan(&in, &p), 0);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < p.n_evict; i++) {
        assert_true(p.evict[i] < pc->n);
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", pc->e[p.evict[i]].asset_id);
    }
    if (ret_used)
        *ret_used = p.used_bytes;
    enum cache_action a = p.action;
    cache_plan_release(&p);
    return a;
}

#define EXPECT(pc, action, ids)                                                                    \
    do {                                                                                           \
        char got_[256];                                                                            \
        assert_int_equal(plan_ids((pc), got_, sizeof(got_), NULL), (action));                      \
        assert_string_equal(got_, (ids));                                                          \
    } while (0)

/* ---- policy: the rules --------------------------------------------------------------------- */

static void policy_high_water(void **state)
{
    assert_int_equal(cache_high_water(0), 0);
    assert_int_equal(cache_high_water(10), 9);
    assert_int_equal(cache_high_water(19), 17); /* 17.1 rounded down */
    assert_int_equal(cache_high_water(1000), 900);
    assert_int_equal(cache_high_water(CACHE_DEFAULT_BUDGET_BYTES), UINT64_C(1800000000));
    assert_true(cache_high_water(UINT64_MAX) ==
                (uint64_t)((unsigned __int128)UINT64_MAX * 90 / 100));
}

static void policy_empty_and_trigger(void **state)
{
    struct pcase pc = {.budget = 1000};
    EXPECT(&pc, CACHE_ACTION_NONE, "");
    pc.incoming = 950; /* above 90% but within the budget, and nothing to evict */
    EXPECT(&pc, CACHE_ACTION_NONE, "");
    pc.incoming = 1001;
    EXPECT(&pc, CACHE_ACTION_PAUSE, "");

    /* exactly 90% does not exceed it; one byte more does */
    pc = (struct pcase){.budget = 1000, .n = 2};
    pc.e[0] = ready("a", 450, NOW - 2 * H);
    pc.e[1] = ready("b", 400, NOW - 1 * H);
    pc.incoming = 50;
    uint64_t used;
    char ids[64];
    assert_int_equal(plan_ids(&pc, ids, sizeof(ids), &used), CACHE_ACTION_NONE);
    assert_int_equal(used, 850);
    pc.incoming = 51;
    assert_int_equal(plan_ids(&pc, ids, sizeof(ids), &used), CACHE_ACTION_EVICT);
    assert_string_equal(ids, "a");
    assert_int_equal(used, 400);
    /* a sweep (nothing incoming) over 90% evicts too */
    pc.incoming = 0;
    pc.e[1].bytes = 451;
    EXPECT(&pc, CACHE_ACTION_EVICT, "a");
}

static void policy_lru_order_and_fewest(void **state)
{
    struct pcase pc = {.budget = 1000, .n = 4};
    pc.e[0] = ready("a", 100, NOW - 3 * H);
    pc.e[1] = ready("b", 100, NOW - 9 * H); /* oldest */
    pc.e[2] = ready("c", 100, NOW - 5 * H);
    pc.e[3] = ready("d", 100, NOW - 1 * H);
    pc.incoming = 500; /* 900: fits exactly */
    EXPECT(&pc, CACHE_ACTION_NONE, "");
    pc.incoming = 501;
    EXPECT(&pc, CACHE_ACTION_EVICT, "b");
    pc.incoming = 650;
    EXPECT(&pc, CACHE_ACTION_EVICT, "b,c");
    pc.incoming = 800;
    EXPECT(&pc, CACHE_ACTION_EVICT, "b,c,a");
    /* 90% cannot be reached; the budget still holds it: everything evictable goes */
    pc.incoming = 1000;
    EXPECT(&pc, CACHE_ACTION_EVICT, "b,c,a,d");
    pc.incoming = 1001;
    EXPECT(&pc, CACHE_ACTION_PAUSE, "");

    /* the fewest, not the largest: one old small file before a newer big one */
    pc = (struct pcase){.budget = 1000, .n = 2, .incoming = 500};
    pc.e[0] = ready("big", 400, NOW - 1 * H);
    pc.e[1] = ready("small", 10, NOW - 2 * H);
    EXPECT(&pc, CACHE_ACTION_EVICT, "small");
    pc.incoming = 501;
    EXPECT(&pc, CACHE_ACTION_EVICT, "small,big");
}

static void policy_ties_by_asset_id(void **state)
{
    struct pcase pc = {.budget = 1000, .n = 4, .incoming = 750};
    pc.e[0] = ready("m", 100, NOW - H);
    pc.e[1] = ready("b", 100, NOW - H);
    pc.e[2] = ready("z", 100, NOW - H);
    pc.e[3] = ready("a", 100, NOW - H);
    EXPECT(&pc, CACHE_ACTION_EVICT, "a,b,m");
    /* the same in another order */
    struct cache_entry t = pc.e[0];
    pc.e[0] = pc.e[3];
    pc.e[3] = t;
    t = pc.e[1];
    pc.e[1] = pc.e[2];
    pc.e[2] = t;
    EXPECT(&pc, CACHE_ACTION_EVICT, "a,b,m");
}

static void policy_protected_and_pending(void **state)
{
    struct pcase pc = {.budget = 1000, .n = 4, .incoming = 700};
    pc.e[0] = ready("cur", 100, NOW - 99 * H); /* the oldest, protected */
    pc.e[1] = ready("prev", 100, NOW - 98 * H);
    pc.e[2] = ent("dl", 100, NOW - 97 * H, CACHE_STATE_PENDING);
    pc.e[3] = ready("old", 100, NOW - 2 * H);
    pc.prot[0] = "prev";
    pc.prot[1] = "cur";
    pc.prot[2] = "not-cached"; /* fine */
    pc.prot[3] = "cur";        /* repeated: fine */
    pc.n_prot = 4;
    EXPECT(&pc, CACHE_ACTION_EVICT, "old");
    /* 400 + 700 > 1000 even after evicting "old": pause; nothing incoming, 400 ≤ 900: keep */
    pc.incoming = 701;
    EXPECT(&pc, CACHE_ACTION_PAUSE, "");
    /* protected assets filling 95%: a download that fits the budget still starts */
    pc = (struct pcase){.budget = 1000, .n = 2, .incoming = 30};
    pc.e[0] = ready("cur", 950, NOW);
    pc.e[1] = ready("x", 10, NOW - H);
    pc.prot[0] = "cur";
    pc.n_prot = 1;
    EXPECT(&pc, CACHE_ACTION_EVICT, "x");
    pc.incoming = 50; /* 1000: the budget exactly */
    EXPECT(&pc, CACHE_ACTION_EVICT, "x");
    pc.incoming = 51;
    /* pause; with nothing incoming the cache is still above 90%, so "x" goes anyway */
    uint64_t used;
    char ids[64];
    assert_int_equal(plan_ids(&pc, ids, sizeof(ids), &used), CACHE_ACTION_PAUSE);
    assert_string_equal(ids, "x");
    assert_int_equal(used, 950);
    /* over budget with nothing evictable: even a sweep says pause */
    pc.e[0].bytes = 1001;
    pc.n = 1;
    pc.incoming = 0;
    EXPECT(&pc, CACHE_ACTION_PAUSE, "");
}

static void policy_keep_72h(void **state)
{
    struct pcase pc = {.budget = 1000, .n = 5};
    pc.e[0] = ready("expired", 10, NOW - KEEP - 1);
    pc.e[1] = ready("boundary", 10, NOW - KEEP); /* unused for exactly 72 h: kept */
    pc.e[2] = ready("cur", 10, NOW - 500 * H);   /* protected: never expires */
    pc.e[3] = ent("dl", 10, NOW - 500 * H, CACHE_STATE_PENDING);
    pc.e[4] = ready("recent", 10, NOW - H);
    pc.prot[0] = "cur";
    pc.n_prot = 1;
    /* far under budget: only the expired one goes */
    EXPECT(&pc, CACHE_ACTION_EVICT, "expired");
    pc.now = NOW + 1;
    EXPECT(&pc, CACHE_ACTION_EVICT, "expired,boundary");
    /* under budget pressure, the kept ones go as well, oldest first */
    pc.now = 0;
    pc.incoming = 900 - 50 + 10 + 1;
    EXPECT(&pc, CACHE_ACTION_EVICT, "expired,boundary");
    pc.incoming = 900 - 50 + 20 + 1;
    EXPECT(&pc, CACHE_ACTION_EVICT, "expired,boundary,recent");
    /* a paused plan still removes what expired */
    pc.incoming = 2000;
    EXPECT(&pc, CACHE_ACTION_PAUSE, "expired");
    /* a last use in the future (the clock went back) is recent */
    pc = (struct pcase){.budget = 1000, .n = 1};
    pc.e[0] = ready("future", 10, NOW + 100 * H);
    EXPECT(&pc, CACHE_ACTION_NONE, "");
    /* now - keep before INT64_MIN: nothing expires */
    struct cache_entry e = ready("a", 1, INT64_MIN);
    struct cache_policy_input in = {.entries = &e,
                                    .n_entries = 1,
                                    .budget_bytes = 100,
                                    .now_utc = INT64_MIN + 5,
                                    .keep_unused_s = KEEP};
    struct cache_plan p;
    assert_int_equal(cache_policy_plan(&in, &p), 0);
    assert_int_equal(p.action, CACHE_ACTION_NONE);
    cache_plan_release(&p);
}

static void policy_budget_zero(void **state)
{
    struct pcase pc = {.budget = 0, .n = 2};
    pc.e[0] = ready("a", 5, NOW);
    pc.e[1] = ready("b", 0, NOW);
    EXPECT(&pc, CACHE_ACTION_EVICT, "a"); /* "b" holds no bytes: 0 ≤ 0 already */
    pc.e[1].bytes = 1;
    EXPECT(&pc, CACHE_ACTION_EVICT, "a,b");
    pc.incoming = 1;
    EXPECT(&pc, CACHE_ACTION_PAUSE, "a,b");
}

static void policy_bad_input(void **state)
{
    struct cache_entry e[2] = {ready("a", 1, NOW), ready("a", 2, NOW)};
    struct cache_plan p = {.n_evict = 77};
    struct cache_policy_input in = {
        .entries = e, .n_entries = 2, .budget_bytes = 10, .now_utc = NOW, .keep_unused_s = KEEP};
    assert_int_equal(cache_policy_plan(&in, &p), -EINVAL); /* repeated id */
    assert_int_equal(p.n_evict, 77);                       /* untouched */
    snprintf(e[1].asset_id, sizeof(e[1].asset_id), "b");
    const char *prot[] = {"a", NULL};
    in.protected_ids = prot;
    in.n_protected = 2;
    assert_int_equal(cache_policy_plan(&in, &p), -EINVAL);
    in.n_protected = 1;
    in.keep_unused_s = -1;
    assert_int_equal(cache_policy_plan(&in, &p), -EINVAL);
    in.keep_unused_s = KEEP;
    e[0].bytes = UINT64_MAX;
    assert_int_equal(cache_policy_plan(&in, &p), -EOVERFLOW);
    e[0].bytes = UINT64_MAX - 2;
    in.incoming_bytes = 3;
    assert_int_equal(cache_policy_plan(&in, &p), -EOVERFLOW);
    assert_int_equal(p.n_evict, 77);
    in = (struct cache_policy_input){.n_entries = 1, .keep_unused_s = KEEP};
    assert_int_equal(cache_policy_plan(&in, &p), -EINVAL); /* entries NULL */
    cache_plan_release(NULL);
}

/* ---- policy: property test against brute force --------------------------------------------- */

struct brute {
    enum cache_action action;
    uint32_t evict; /* a bit per entry */
    uint64_t used;
};

static bool brute_older(const struct cache_entry *x, const struct cache_entry *y)
{
    return x->last_used_utc < y->last_used_utc ||
           (x->last_used_utc == y->last_used_utc && strcmp(x->asset_id, y->asset_id) < 0);
}

/* The smallest allowed subset that brings use + @incoming to 90%, else every candidate. */
static uint32_t brute_best(const struct cache_policy_input *in, uint32_t cand, uint32_t expired,
                           uint64_t incoming)
{
    size_t n = in->n_entries;
    uint64_t mark = (uint64_t)((unsigned __int128)in->budget_bytes * 90 / 100);
    unsigned __int128 used = 0;
    for (size_t i = 0; i < n; i++)
        used += in->entries[i].bytes;
    int best_count = -1;
    uint32_t best = cand;
    for (uint32_t s = 0; s < (1u << n); s++) {
        if ((s & ~cand) || (expired & ~s))
            continue;
        bool closed = true;
        unsigned __int128 freed = 0;
        for (size_t i = 0; i < n && closed; i++) {
            if (!(s >> i & 1))
                continue;
            freed += in->entries[i].bytes;
            for (size_t j = 0; j < n; j++)
                if ((cand >> j & 1) && !(s >> j & 1) &&
                    brute_older(&in->entries[j], &in->entries[i]))
                    closed = false;
        }
        int count = __builtin_popcount(s);
        if (closed && used - freed + incoming <= mark && (best_count < 0 || count < best_count)) {
            best_count = count;
            best = s;
        }
    }
    return best;
}

static struct brute brute_plan(const struct cache_policy_input *in)
{
    size_t n = in->n_entries;
    uint32_t cand = 0, expired = 0;
    unsigned __int128 used = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cache_entry *e = &in->entries[i];
        used += e->bytes;
        bool prot = false;
        for (size_t k = 0; k < in->n_protected; k++)
            prot = prot || strcmp(in->protected_ids[k], e->asset_id) == 0;
        if (e->state != CACHE_STATE_READY || prot)
            continue;
        cand |= 1u << i;
        if ((__int128)in->now_utc - e->last_used_utc > in->keep_unused_s)
            expired |= 1u << i;
    }
    struct brute b = {.evict = brute_best(in, cand, expired, in->incoming_bytes)};
    unsigned __int128 freed = 0;
    for (size_t i = 0; i < n; i++)
        if (b.evict >> i & 1)
            freed += in->entries[i].bytes;
    if (used - freed + in->incoming_bytes <= in->budget_bytes) {
        b.action = b.evict ? CACHE_ACTION_EVICT : CACHE_ACTION_NONE;
    } else {
        b.action = CACHE_ACTION_PAUSE;
        b.evict = brute_best(in, cand, expired, 0);
        freed = 0;
        for (size_t i = 0; i < n; i++)
            if (b.evict >> i & 1)
                freed += in->entries[i].bytes;
    }
    b.used = (uint64_t)(used - freed);
    return b;
}

static const char *const pool[] = {"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"};

static void random_case(struct pcase *pc)
{
    static const int64_t ages[] = {0, H, 2 * H, 24 * H, KEEP - 1, KEEP, KEEP + 1, 100 * H};
    *pc = (struct pcase){.n = rnd(10), .now = NOW};
    size_t order[ARRAY_SIZE(pool)];
    for (size_t i = 0; i < ARRAY_SIZE(pool); i++)
        order[i] = i;
    for (size_t i = ARRAY_SIZE(pool) - 1; i > 0; i--) {
        size_t j = rnd((uint32_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < pc->n; i++) {
        uint64_t bytes = rnd(6) == 0 ? 0 : 1 + rnd(400);
        int64_t age = ages[rnd(ARRAY_SIZE(ages))];
        pc->e[i] = ent(pool[order[i]], bytes, NOW - age,
                       rnd(5) == 0 ? CACHE_STATE_PENDING : CACHE_STATE_READY);
        if (rnd(3) == 0)
            pc->prot[pc->n_prot++] = pool[order[i]];
    }
    if (rnd(4) == 0)
        pc->prot[pc->n_prot++] = "unknown";
    pc->budget = rnd(12) == 0 ? 0 : rnd(3000);
    pc->incoming = rnd(3) == 0 ? 0 : rnd(1500);
}

static void policy_property(void **state)
{
    for (int k = 0; k < PROPERTY_CASES; k++) {
        struct pcase pc;
        random_case(&pc);
        struct cache_policy_input in = input_of(&pc);
        struct cache_plan p;
        assert_int_equal(cache_policy_plan(&in, &p), 0);
        struct brute b = brute_plan(&in);
        uint32_t got = 0;
        for (size_t i = 0; i < p.n_evict; i++) {
            const struct cache_entry *e = &pc.e[p.evict[i]];
            got |= 1u << p.evict[i];
            assert_int_equal(e->state, CACHE_STATE_READY);
            for (size_t j = 0; j < pc.n_prot; j++)
                assert_string_not_equal(pc.prot[j], e->asset_id);
            if (i > 0) /* least recently used first */
                assert_true(brute_older(&pc.e[p.evict[i - 1]], e));
        }
        if (p.action != b.action || got != b.evict || p.used_bytes != b.used)
            fail_msg("case %d: action %d/%d evict %#x/%#x used %llu/%llu", k, p.action, b.action,
                     got, b.evict, (unsigned long long)p.used_bytes, (unsigned long long)b.used);
        if (p.action != CACHE_ACTION_PAUSE)
            assert_true(p.used_bytes + pc.incoming <= pc.budget);

        /* the same input in another order gives the same plan */
        struct pcase sh = pc;
        for (size_t i = sh.n; i > 1; i--) {
            size_t j = rnd((uint32_t)i);
            struct cache_entry t = sh.e[i - 1];
            sh.e[i - 1] = sh.e[j];
            sh.e[j] = t;
        }
        for (size_t i = sh.n_prot; i > 1; i--) {
            size_t j = rnd((uint32_t)i);
            const char *t = sh.prot[i - 1];
            sh.prot[i - 1] = sh.prot[j];
            sh.prot[j] = t;
        }
        struct cache_policy_input in2 = input_of(&sh);
        struct cache_plan p2;
        assert_int_equal(cache_policy_plan(&in2, &p2), 0);
        assert_int_equal(p2.action, p.action);
        assert_int_equal(p2.n_evict, p.n_evict);
        for (size_t i = 0; i < p.n_evict; i++)
            assert_string_equal(sh.e[p2.evict[i]].asset_id, pc.e[p.evict[i]].asset_id);
        cache_plan_release(&p2);
        cache_plan_release(&p);
    }
}

/* ---- index: helpers ------------------------------------------------------------------------ */

struct asset {
    const char *id;
    size_t n;
    unsigned char *data;
    char sha[HASH_SHA256_HEX_LEN];
};

static struct asset asset_make(const char *id, size_t n)
{
    struct asset a = {.id = id, .n = n, .data = xmalloc(MAX(n, (size_t)1))};
    uint32_t x = 2166136261u;
    for (const char *p = id; *p; p++)
        x = (x ^ (unsigned char)*p) * 16777619u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        a.data[i] = (unsigned char)x;
    }
    hash_sha256_hex(a.data, n, a.sha);
    return a;
}

static void asset_free(struct asset *a)
{
    free(a->data);
    a->data = NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *dir)
{
    assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static char *new_dir(void)
{
    char *dir = xstrdup("/tmp/test-cache-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static char *asset_path(struct cache *c, const char *id)
{
    char *p = NULL;
    assert_int_equal(cache_asset_path(c, id, &p), 0);
    return p;
}

static char *part_path(struct cache *c, const char *id)
{
    char *p = NULL;
    assert_int_equal(cache_part_path(c, id, &p), 0);
    return p;
}

/* Writes the first @n bytes of @a as its .part. */
static void write_part(struct cache *c, const struct asset *a, size_t n)
{
    _cleanup_free_ char *p = part_path(c, a->id);
    write_file(p, a->data, n);
}

/* The whole download: reserve, write, commit. */
static void put(struct cache *c, const struct asset *a, int64_t now)
{
    assert_int_equal(cache_reserve(c, a->id, a->sha, a->n, now), 0);
    write_part(c, a, a->n);
    assert_int_equal(cache_commit(c, a->id, a->sha, a->n, now), 0);
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

/* Runs SQL on cache.db through a connection of its own, as another process would; SQLite's
 * result code. */
static int db_try(const char *dir, const char *sql)
{
    _cleanup_free_ char *path = xasprintf("%s/cache.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static void db_exec(const char *dir, const char *sql)
{
    int rc = db_try(dir, sql);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errstr(rc));
}

static int db_int(const char *dir, const char *sql)
{
    _cleanup_free_ char *path = xasprintf("%s/cache.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static int state_of(struct cache *c, const char *id)
{
    struct cache_entry e;
    int r = cache_get(c, id, &e);
    return r < 0 ? r : (int)e.state;
}

static void names_check(const char *dir, struct cache *c, bool assets)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        if (S_ISDIR(st.st_mode))
            continue; /* ".", "..", and subdirectories reconcile leaves alone */
        size_t len = strlen(de->d_name);
        if (assets) {
            if (state_of(c, de->d_name) != CACHE_STATE_READY)
                fail_msg("assets/%s has no READY row", de->d_name);
            continue;
        }
        assert_true(len > 5 && strcmp(de->d_name + len - 5, ".part") == 0);
        _cleanup_free_ char *id = xstrndup(de->d_name, len - 5);
        if (state_of(c, id) != CACHE_STATE_PENDING)
            fail_msg("tmp/%s has no PENDING row", de->d_name);
    }
    closedir(d);
}

/* What reconcile promises: rows and files agree; READY assets are the right bytes; a kept
 * .part is a prefix of its asset (when @known lists it). */
static void assert_agreement(struct cache *c, const char *dir, const struct asset *known,
                             size_t n_known)
{
    _cleanup_free_ struct cache_entry *rows = NULL;
    size_t n = 0;
    assert_int_equal(cache_list(c, &rows, &n), 0);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cache_entry *e = &rows[i];
        sum += e->bytes;
        struct stat st;
        if (e->state == CACHE_STATE_READY) {
            _cleanup_free_ char *p = asset_path(c, e->asset_id);
            assert_int_equal(lstat(p, &st), 0);
            assert_true(S_ISREG(st.st_mode) && (uint64_t)st.st_size == e->bytes);
            assert_int_equal(cache_verify(c, e->asset_id, NULL), 0);
            continue;
        }
        _cleanup_free_ char *p = part_path(c, e->asset_id);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode) && (uint64_t)st.st_size <= e->bytes);
        for (size_t k = 0; k < n_known; k++) {
            if (strcmp(known[k].id, e->asset_id) != 0)
                continue;
            _cleanup_free_ unsigned char *buf = xmalloc((size_t)st.st_size + 1);
            int fd = open(p, O_RDONLY | O_CLOEXEC);
            assert_true(fd >= 0);
            assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
            close(fd);
            assert_memory_equal(buf, known[k].data, (size_t)st.st_size);
        }
    }
    uint64_t total = 0;
    assert_int_equal(cache_total_bytes(c, &total), 0);
    assert_int_equal(total, sum);
    _cleanup_free_ char *assets = xasprintf("%s/assets", dir);
    _cleanup_free_ char *tmp = xasprintf("%s/tmp", dir);
    names_check(assets, c, true);
    names_check(tmp, c, false);
}

static struct cache *open_ok(const char *dir)
{
    struct cache *c = NULL;
    assert_int_equal(cache_open(dir, &c), 0);
    assert_non_null(c);
    return c;
}

/* ---- index: the operations ----------------------------------------------------------------- */

static void index_open(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    _cleanup_free_ char *missing = xasprintf("%s/missing", dir);
    _cleanup_free_ char *file = xasprintf("%s/file", dir);
    _cleanup_free_ char *db = xasprintf("%s/cache.db", dir);
    _cleanup_free_ char *assets = xasprintf("%s/assets", dir);
    _cleanup_free_ char *tmp = xasprintf("%s/tmp", dir);
    struct cache *c = (struct cache *)&c; /* untouched on failure */
    assert_int_equal(cache_open(missing, &c), -ENOENT);
    write_file(file, "x", 1);
    assert_int_equal(cache_open(file, &c), -ENOTDIR);
    assert_ptr_equal(c, (struct cache *)&c);
    unlink(file);

    c = open_ok(dir);
    struct stat st;
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(assets, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(tmp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(db_int(dir, "PRAGMA user_version"), 1);
    c = cache_free(c);
    assert_null(c);
    assert_null(cache_free(NULL));

    c = open_ok(dir); /* again: the schema is there */
    _cleanup_free_ struct cache_entry *rows = NULL;
    size_t n = 7;
    assert_int_equal(cache_list(c, &rows, &n), 0);
    assert_int_equal(n, 0);

    /* the schema holds a row to its file: no path elsewhere, no assetId that is no file name */
    static const char row[] = "INSERT INTO assets VALUES ('%s', '%s', '%064d', 1, "
                              "'2027-01-15T08:00:00.000Z', '%s')";
    static const char *const bad_rows[][3] = {
        {"a", "READY", "../../etc/passwd"}, {"a", "READY", "tmp/a.part"},
        {"a", "PENDING", "assets/a"},       {"../a", "READY", "assets/../a"},
        {"a", "FAILED", "assets/a"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad_rows); i++) {
        _cleanup_free_ char *sql =
            xasprintf(row, bad_rows[i][0], bad_rows[i][1], 0, bad_rows[i][2]);
        assert_int_equal(db_try(dir, sql), SQLITE_CONSTRAINT);
    }
    _cleanup_free_ char *good = xasprintf(row, "a", "READY", 0, "assets/a");
    assert_int_equal(db_try(dir, good), SQLITE_OK);
    /* a row the schema would refuse, forced in: reading it is -EUCLEAN, not a crash */
    db_exec(dir, "PRAGMA ignore_check_constraints = ON;"
                 "UPDATE assets SET last_used_utc = 'yesterday' WHERE asset_id = 'a'");
    struct cache_entry e;
    assert_int_equal(cache_get(c, "a", &e), -EUCLEAN);
    assert_int_equal(cache_list(c, &rows, &n), -EUCLEAN);
    db_exec(dir, "DELETE FROM assets");
    c = cache_free(c);

    db_exec(dir, "PRAGMA user_version = 2");
    assert_int_equal(cache_open(dir, &c), -EPROTONOSUPPORT);
    rm_rf(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    char junk[4096];
    memset(junk, 'j', sizeof(junk));
    write_file(db, junk, sizeof(junk));
    assert_int_equal(cache_open(dir, &c), -EUCLEAN);
    /* moved aside, a new index starts */
    _cleanup_free_ char *aside = xasprintf("%s/cache.db.corrupt", dir);
    assert_int_equal(rename(db, aside), 0);
    c = open_ok(dir);
    cache_free(c);
    rm_rf(dir);
}

static void index_lifecycle(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct cache *c = open_ok(dir);
    struct asset a = asset_make("3f1c2a9e-6b0d-4c57-9a8e-1d2f3c4b5a69", 70000);
    struct asset b = asset_make("b", 1234);

    /* a reservation counts against the budget before any byte arrives */
    assert_int_equal(cache_reserve(c, a.id, a.sha, a.n, NOW), 0);
    struct cache_entry e;
    assert_int_equal(cache_get(c, a.id, &e), 0);
    assert_int_equal(e.state, CACHE_STATE_PENDING);
    assert_int_equal(e.bytes, a.n);
    assert_string_equal(e.sha256, a.sha);
    assert_int_equal(e.last_used_utc, NOW);
    uint64_t total = 0;
    assert_int_equal(cache_total_bytes(c, &total), 0);
    assert_int_equal(total, a.n);
    assert_int_equal(cache_touch(c, a.id, NOW), -ENOENT); /* not READY */
    assert_int_equal(cache_verify(c, a.id, NULL), -ENOENT);

    write_part(c, &a, a.n);
    assert_int_equal(cache_commit(c, a.id, a.sha, a.n, NOW + 5), 0);
    _cleanup_free_ char *pa = asset_path(c, a.id);
    _cleanup_free_ char *ppa = part_path(c, a.id);
    assert_true(exists(pa));
    assert_false(exists(ppa));
    assert_int_equal(cache_get(c, a.id, &e), 0);
    assert_int_equal(e.state, CACHE_STATE_READY);
    assert_int_equal(e.last_used_utc, NOW + 5);
    assert_int_equal(cache_verify(c, a.id, NULL), 0);
    assert_int_equal(cache_verify(c, a.id, a.sha), 0);
    assert_int_equal(cache_verify(c, a.id, b.sha), -EBADMSG); /* the manifest wants other bytes */
    assert_int_equal(cache_commit(c, a.id, a.sha, a.n, NOW), -EEXIST);
    assert_int_equal(cache_reserve(c, a.id, a.sha, a.n, NOW), -EEXIST);

    /* a commit without a reservation; an upper-case SHA-256 is the same digest */
    char upper[HASH_SHA256_HEX_LEN];
    for (size_t i = 0; i < sizeof(upper); i++)
        upper[i] = (char)(b.sha[i] >= 'a' && b.sha[i] <= 'f' ? b.sha[i] - 'a' + 'A' : b.sha[i]);
    write_part(c, &b, b.n);
    assert_int_equal(cache_commit(c, b.id, upper, b.n, NOW + 1), 0);
    assert_int_equal(cache_get(c, b.id, &e), 0);
    assert_string_equal(e.sha256, b.sha);

    assert_int_equal(cache_touch(c, b.id, NOW + 100), 0);
    assert_int_equal(cache_get(c, b.id, &e), 0);
    assert_int_equal(e.last_used_utc, NOW + 100);
    assert_int_equal(cache_touch(c, "nope", NOW), -ENOENT);

    _cleanup_free_ struct cache_entry *rows = NULL;
    size_t n = 0;
    assert_int_equal(cache_list(c, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].asset_id, a.id); /* by assetId */
    assert_string_equal(rows[1].asset_id, "b");
    assert_int_equal(cache_total_bytes(c, &total), 0);
    assert_int_equal(total, a.n + b.n);
    assert_agreement(c, dir, NULL, 0);

    assert_int_equal(cache_remove(c, a.id), 0);
    assert_false(exists(pa));
    assert_int_equal(cache_get(c, a.id, &e), -ENOENT);
    assert_int_equal(cache_remove(c, a.id), -ENOENT);
    /* a reservation is removed with its .part */
    assert_int_equal(cache_reserve(c, a.id, a.sha, a.n, NOW), 0);
    write_part(c, &a, 100);
    assert_int_equal(cache_remove(c, a.id), 0);
    assert_false(exists(ppa));
    assert_int_equal(cache_total_bytes(c, &total), 0);
    assert_int_equal(total, b.n);
    assert_agreement(c, dir, NULL, 0);

    /* a zero-byte asset is an asset */
    struct asset z = asset_make("zero", 0);
    put(c, &z, NOW);
    assert_int_equal(cache_verify(c, z.id, z.sha), 0);

    cache_free(c);
    asset_free(&a);
    asset_free(&b);
    asset_free(&z);
    rm_rf(dir);
}

static void index_commit_rejects(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct cache *c = open_ok(dir);
    struct asset a = asset_make("a", 5000);
    _cleanup_free_ char *pp = part_path(c, a.id);
    _cleanup_free_ char *pa = asset_path(c, a.id);

    assert_int_equal(cache_commit(c, a.id, a.sha, a.n, NOW), -ENOENT); /* no .part */
    assert_int_equal(cache_reserve(c, a.id, a.sha, a.n, NOW), 0);
    /* a byte flipped in transit: refused, the .part deleted, the reservation kept */
    write_part(c, &a, a.n);
    flip_byte(pp, 4321);
    assert_int_equal(cache_commit(c, a.id, a.sha, a.n, NOW), -EBADMSG);
    assert_false(exists(pp));
    assert_false(exists(pa));
    assert_int_equal(state_of(c, a.id), CACHE_STATE_PENDING);
    /* too short, too long */
    write_part(c, &a, a.n - 1);
    assert_int_equal(cache_commit(c, a.id, a.sha, a.n, NOW), -EBADMSG);
    assert_false(exists(pp));
    write_part(c, &a, a.n);
    assert_int_equal(cache_commit(c, a.id, a.sha, a.n - 1, NOW), -EBADMSG);
    /* a symbolic link is no download */
    _cleanup_free_ char *elsewhere = xasprintf("%s/elsewhere", dir);
    write_file(elsewhere, a.data, a.n);
    assert_int_equal(symlink(elsewhere, pp), 0);
    assert_int_equal(cache_commit(c, a.id, a.sha, a.n, NOW), -EBADMSG);
    assert_false(exists(pp));
    assert_true(exists(elsewhere));
    assert_false(exists(pa));
    /* and then it arrives whole */
    write_part(c, &a, a.n);
    assert_int_equal(cache_commit(c, a.id, a.sha, a.n, NOW), 0);
    assert_agreement(c, dir, &a, 1);

    cache_free(c);
    asset_free(&a);
    rm_rf(dir);
}

static void index_reserve_again(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct cache *c = open_ok(dir);
    struct asset a = asset_make("a", 3000), a2 = asset_make("a2", 3000);
    _cleanup_free_ char *pp = part_path(c, a.id);

    /* a .part without a reservation is of unknown content: reserving starts afresh */
    write_part(c, &a, 100);
    assert_int_equal(cache_reserve(c, a.id, a.sha, a.n, NOW), 0);
    assert_false(exists(pp));
    /* the same content again: the .part is resumed */
    write_part(c, &a, 1000);
    assert_int_equal(cache_reserve(c, a.id, a.sha, a.n, NOW + 1), 0);
    assert_true(exists(pp));
    /* other content under the same assetId: its bytes are worthless */
    assert_int_equal(cache_reserve(c, a.id, a2.sha, a2.n, NOW + 2), 0);
    assert_false(exists(pp));
    struct cache_entry e;
    assert_int_equal(cache_get(c, a.id, &e), 0);
    assert_string_equal(e.sha256, a2.sha);
    assert_int_equal(e.last_used_utc, NOW + 2);

    cache_free(c);
    asset_free(&a);
    asset_free(&a2);
    rm_rf(dir);
}

static void index_verify_corruption(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct cache *c = open_ok(dir);
    struct asset a = asset_make("a", 100000);
    _cleanup_free_ char *pa = asset_path(c, a.id);

    put(c, &a, NOW);
    assert_int_equal(cache_verify(c, a.id, NULL), 0);
    flip_byte(pa, 0);
    assert_int_equal(cache_verify(c, a.id, NULL), -EBADMSG);
    flip_byte(pa, 0);
    assert_int_equal(cache_verify(c, a.id, NULL), 0);
    flip_byte(pa, (off_t)a.n - 1);
    assert_int_equal(cache_verify(c, a.id, a.sha), -EBADMSG);
    flip_byte(pa, (off_t)a.n - 1);
    assert_int_equal(truncate(pa, (off_t)a.n - 10), 0);
    assert_int_equal(cache_verify(c, a.id, NULL), -EBADMSG);
    unlink(pa);
    assert_int_equal(cache_verify(c, a.id, NULL), -ENOENT);
    _cleanup_free_ char *elsewhere = xasprintf("%s/elsewhere", dir);
    write_file(elsewhere, a.data, a.n);
    assert_int_equal(symlink(elsewhere, pa), 0);
    assert_int_equal(cache_verify(c, a.id, NULL), -EBADMSG);
    /* what the sync does then: remove, fetch again */
    assert_int_equal(cache_remove(c, a.id), 0);
    assert_false(exists(pa));
    assert_true(exists(elsewhere)); /* the link, not its target */
    put(c, &a, NOW);
    assert_int_equal(cache_verify(c, a.id, a.sha), 0);
    assert_int_equal(cache_verify(c, "missing", NULL), -ENOENT);

    cache_free(c);
    asset_free(&a);
    rm_rf(dir);
}

static void index_bad_arguments(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct cache *c = open_ok(dir);
    struct asset a = asset_make("a", 10);
    static const char *const bad_ids[] = {
        "",
        "..",
        "../x",
        "a/b",
        ".hidden",
        "a.part",
        "a b",
        "é",
        "12345678901234567890123456789012345678901234567890123456789012345", /* 65 */
    };
    char *p = (char *)"untouched";
    for (size_t i = 0; i < ARRAY_SIZE(bad_ids); i++) {
        const char *id = bad_ids[i];
        assert_int_equal(cache_reserve(c, id, a.sha, a.n, NOW), -EINVAL);
        assert_int_equal(cache_commit(c, id, a.sha, a.n, NOW), -EINVAL);
        assert_int_equal(cache_touch(c, id, NOW), -EINVAL);
        assert_int_equal(cache_remove(c, id), -EINVAL);
        assert_int_equal(cache_verify(c, id, NULL), -EINVAL);
        assert_int_equal(cache_asset_path(c, id, &p), -EINVAL);
        assert_int_equal(cache_part_path(c, id, &p), -EINVAL);
    }
    assert_string_equal(p, "untouched");
    assert_int_equal(cache_reserve(c, NULL, a.sha, a.n, NOW), -EINVAL);
    assert_int_equal(cache_reserve(c, "a", "abc", a.n, NOW), -EINVAL);
    assert_int_equal(cache_reserve(c, "a", NULL, a.n, NOW), -EINVAL);
    char bad_sha[HASH_SHA256_HEX_LEN];
    memcpy(bad_sha, a.sha, sizeof(bad_sha));
    bad_sha[10] = 'g';
    assert_int_equal(cache_reserve(c, "a", bad_sha, a.n, NOW), -EINVAL);
    assert_int_equal(cache_verify(c, "a", bad_sha), -EINVAL);
    assert_int_equal(cache_reserve(c, "a", a.sha, (uint64_t)INT64_MAX + 1, NOW), -EINVAL);
    assert_int_equal(cache_reserve(c, "a", a.sha, a.n, -1), -EINVAL);
    assert_int_equal(cache_reserve(c, "a", a.sha, a.n, CACHE_TIME_MAX + 1), -EINVAL);
    assert_int_equal(cache_reserve(c, "a", a.sha, a.n, CACHE_TIME_MAX), 0);
    assert_int_equal(cache_touch(c, "a", -1), -EINVAL);
    _cleanup_free_ char *longest = xasprintf("%064d", 7);
    assert_int_equal(cache_reserve(c, longest, a.sha, a.n, 0), 0);
    struct cache_want w = {.asset_id = "../x", .sha256 = a.sha, .bytes = a.n};
    assert_int_equal(cache_reconcile(c, &w, 1, NOW, NULL), -EINVAL);
    w.asset_id = "a";
    w.sha256 = "zz";
    assert_int_equal(cache_reconcile(c, &w, 1, NOW, NULL), -EINVAL);
    assert_int_equal(cache_reconcile(c, NULL, 0, -5, NULL), -EINVAL);

    cache_free(c);
    asset_free(&a);
    rm_rf(dir);
}

/* ---- reconcile: the states a kill -9 leaves ------------------------------------------------ */

static struct cache_reconcile_stats reconcile(struct cache *c, const struct asset *a, bool wanted)
{
    struct cache_want w = {.asset_id = a->id, .sha256 = a->sha, .bytes = a->n};
    struct cache_reconcile_stats st = {99, 99, 99, 99, 99};
    assert_int_equal(cache_reconcile(c, &w, wanted ? 1 : 0, NOW + 50, &st), 0);
    return st;
}

#define STATS_EQUAL(st, dropped, deleted, adopted, kept, parts_del)                                \
    do {                                                                                           \
        assert_int_equal((st).rows_dropped, (dropped));                                            \
        assert_int_equal((st).files_deleted, (deleted));                                           \
        assert_int_equal((st).files_adopted, (adopted));                                           \
        assert_int_equal((st).parts_kept, (kept));                                                 \
        assert_int_equal((st).parts_deleted, (parts_del));                                         \
    } while (0)

/* A commit stopped after step @step: 0 reserved, 1 half the bytes, 2 all the bytes, 3 renamed
 * into assets/ (the row still PENDING), 4 done. */
static void commit_until(struct cache *c, const struct asset *a, int step)
{
    assert_int_equal(cache_reserve(c, a->id, a->sha, a->n, NOW), 0);
    if (step >= 1)
        write_part(c, a, step == 1 ? a->n / 2 : a->n);
    if (step == 3) {
        _cleanup_free_ char *pp = part_path(c, a->id);
        _cleanup_free_ char *pa = asset_path(c, a->id);
        assert_int_equal(rename(pp, pa), 0);
    }
    if (step == 4)
        assert_int_equal(cache_commit(c, a->id, a->sha, a->n, NOW), 0);
}

static void reconcile_commit_steps(void **state)
{
    struct asset a = asset_make("a", 40000);
    for (int step = 0; step <= 4; step++) {
        for (int wanted = 0; wanted <= 1; wanted++) {
            _cleanup_free_ char *dir = new_dir();
            struct cache *c = open_ok(dir);
            commit_until(c, &a, step);
            /* the kill: the process and its handle are gone; boot opens anew */
            cache_free(c);
            c = open_ok(dir);
            struct cache_reconcile_stats st = reconcile(c, &a, wanted);
            int want_state = -ENOENT;
            switch (step) {
            case 0: /* reserved, never started: nothing to resume */
                STATS_EQUAL(st, 1, 0, 0, 0, 0);
                break;
            case 1:
            case 2: /* a .part: resumed when still wanted */
                if (wanted) {
                    STATS_EQUAL(st, 0, 0, 0, 1, 0);
                    want_state = CACHE_STATE_PENDING;
                } else {
                    STATS_EQUAL(st, 1, 0, 0, 0, 1);
                }
                break;
            case 3: /* renamed, no READY row: adopted when wanted (after hashing it) */
                if (wanted) {
                    STATS_EQUAL(st, 0, 0, 1, 0, 0);
                    want_state = CACHE_STATE_READY;
                } else {
                    STATS_EQUAL(st, 1, 1, 0, 0, 0);
                }
                break;
            case 4: /* done: a READY asset stays, wanted or not (the policy decides) */
                STATS_EQUAL(st, 0, 0, 0, 0, 0);
                want_state = CACHE_STATE_READY;
                break;
            }
            assert_int_equal(state_of(c, a.id), want_state);
            assert_agreement(c, dir, &a, 1);
            /* and the download goes on from there */
            if (want_state == CACHE_STATE_PENDING) {
                write_part(c, &a, a.n);
                assert_int_equal(cache_commit(c, a.id, a.sha, a.n, NOW), 0);
                assert_agreement(c, dir, &a, 1);
                want_state = CACHE_STATE_READY;
            }
            if (want_state == CACHE_STATE_READY) {
                struct cache_entry e;
                assert_int_equal(cache_get(c, a.id, &e), 0);
                assert_int_equal(e.last_used_utc, step == 3 ? NOW + 50 : NOW);
            }
            /* a second reconcile finds nothing to do */
            st = reconcile(c, &a, wanted);
            STATS_EQUAL(st, 0, 0, 0, 0, 0);
            cache_free(c);
            rm_rf(dir);
        }
    }
    asset_free(&a);
}

static void reconcile_remove_steps(void **state)
{
    struct asset a = asset_make("a", 30000);
    for (int wanted = 0; wanted <= 1; wanted++) {
        _cleanup_free_ char *dir = new_dir();
        struct cache *c = open_ok(dir);
        put(c, &a, NOW);
        /* removal stopped after its first step: the row is gone, the file not yet */
        db_exec(dir, "DELETE FROM assets WHERE asset_id = 'a'");
        cache_free(c);
        c = open_ok(dir);
        struct cache_reconcile_stats st = reconcile(c, &a, wanted);
        if (wanted)
            STATS_EQUAL(st, 0, 0, 1, 0, 0);
        else
            STATS_EQUAL(st, 0, 1, 0, 0, 0);
        assert_int_equal(state_of(c, a.id), wanted ? CACHE_STATE_READY : -ENOENT);
        assert_agreement(c, dir, &a, 1);
        cache_free(c);
        rm_rf(dir);
    }
    asset_free(&a);
}

static void reconcile_damage_and_strays(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct cache *c = open_ok(dir);
    struct asset gone = asset_make("gone", 1000), shrunk = asset_make("shrunk", 1000),
                 flipped = asset_make("flipped", 1000), orphan = asset_make("orphan", 1000),
                 fat = asset_make("fat", 1000), done = asset_make("done", 1000),
                 nopart = asset_make("nopart", 1000);
    put(c, &gone, NOW);
    put(c, &shrunk, NOW);
    put(c, &flipped, NOW);
    put(c, &done, NOW);
    _cleanup_free_ char *p_gone = asset_path(c, gone.id);
    _cleanup_free_ char *p_shrunk = asset_path(c, shrunk.id);
    _cleanup_free_ char *p_flipped = asset_path(c, flipped.id);
    _cleanup_free_ char *p_orphan = asset_path(c, orphan.id);
    unlink(p_gone);                                /* a row without its file */
    assert_int_equal(truncate(p_shrunk, 999), 0);  /* the wrong size */
    flip_byte(p_flipped, 10);                      /* the right size, wrong bytes */
    write_file(p_orphan, flipped.data, flipped.n); /* wanted, but not these bytes */
    _cleanup_free_ char *hidden = xasprintf("%s/assets/.hidden", dir);
    _cleanup_free_ char *dotted = xasprintf("%s/assets/a.b", dir);
    _cleanup_free_ char *link = xasprintf("%s/assets/link", dir);
    _cleanup_free_ char *sub = xasprintf("%s/assets/sub", dir);
    write_file(hidden, "x", 1);
    write_file(dotted, "x", 1);
    assert_int_equal(symlink(p_flipped, link), 0);
    assert_int_equal(mkdir(sub, 0700), 0);

    /* tmp/: a .part too long for its reservation, one without a reservation, one of an asset
     * that is READY, and files that are no .part at all */
    assert_int_equal(cache_reserve(c, fat.id, fat.sha, fat.n, NOW), 0);
    _cleanup_free_ char *p_fat = part_path(c, fat.id);
    _cleanup_free_ unsigned char *big = xcalloc(1, fat.n + 1);
    write_file(p_fat, big, fat.n + 1);
    write_part(c, &nopart, 10);
    write_part(c, &done, 10);
    _cleanup_free_ char *junk1 = xasprintf("%s/tmp/manifest.json.tmp", dir);
    _cleanup_free_ char *junk2 = xasprintf("%s/tmp/.part", dir);
    write_file(junk1, "{}", 2);
    write_file(junk2, "x", 1);

    cache_free(c);
    c = open_ok(dir);
    struct cache_want want[] = {
        {gone.id, gone.sha, gone.n},
        {shrunk.id, shrunk.sha, shrunk.n},
        {flipped.id, flipped.sha, flipped.n},
        {orphan.id, orphan.sha, orphan.n},
        {fat.id, fat.sha, fat.n},
        {nopart.id, nopart.sha, nopart.n},
        {done.id, done.sha, done.n},
    };
    struct cache_reconcile_stats st;
    assert_int_equal(cache_reconcile(c, want, ARRAY_SIZE(want), NOW, &st), 0);
    /* rows: gone, shrunk (its file too), fat (its .part was deleted) */
    assert_int_equal(st.rows_dropped, 3);
    /* files: shrunk, orphan, .hidden, a.b, link */
    assert_int_equal(st.files_deleted, 5);
    assert_int_equal(st.files_adopted, 0);
    assert_int_equal(st.parts_kept, 0);
    /* fat.part, nopart.part, done.part, manifest.json.tmp, .part */
    assert_int_equal(st.parts_deleted, 5);
    assert_true(exists(sub)); /* left alone */
    assert_int_equal(state_of(c, gone.id), -ENOENT);
    assert_int_equal(state_of(c, shrunk.id), -ENOENT);
    assert_int_equal(state_of(c, orphan.id), -ENOENT);
    assert_int_equal(state_of(c, fat.id), -ENOENT);
    /* same size, wrong bytes: reconcile only stats; the sync's verify finds it */
    assert_int_equal(state_of(c, flipped.id), CACHE_STATE_READY);
    assert_int_equal(cache_verify(c, flipped.id, flipped.sha), -EBADMSG);
    assert_int_equal(cache_remove(c, flipped.id), 0);
    assert_agreement(c, dir, NULL, 0);
    assert_int_equal(cache_verify(c, done.id, done.sha), 0);

    cache_free(c);
    struct asset *all[] = {&gone, &shrunk, &flipped, &orphan, &fat, &done, &nopart};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        asset_free(all[i]);
    rm_rf(dir);
}

static void reconcile_rebuilds_lost_index(void **state)
{
    _cleanup_free_ char *dir = new_dir();
    struct cache *c = open_ok(dir);
    struct asset a = asset_make("a", 20000), b = asset_make("b", 30000), x = asset_make("x", 10);
    put(c, &a, NOW);
    put(c, &b, NOW);
    put(c, &x, NOW);
    cache_free(c);
    /* cache.db lost (corrupt, moved aside): the files are still good */
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        _cleanup_free_ char *p = xasprintf("%s/cache.db%s", dir, suffixes[i]);
        unlink(p);
    }
    c = open_ok(dir);
    /* listed twice, the second time with other bytes: the first listing wins */
    struct cache_want want[] = {
        {a.id, a.sha, a.n},
        {b.id, b.sha, b.n},
        {a.id, b.sha, b.n},
    };
    struct cache_reconcile_stats st;
    assert_int_equal(cache_reconcile(c, want, ARRAY_SIZE(want), NOW + 9, &st), 0);
    STATS_EQUAL(st, 0, 1, 2, 0, 0); /* x, not wanted, deleted */
    assert_int_equal(state_of(c, a.id), CACHE_STATE_READY);
    assert_int_equal(state_of(c, b.id), CACHE_STATE_READY);
    assert_int_equal(state_of(c, x.id), -ENOENT);
    assert_agreement(c, dir, NULL, 0);
    cache_free(c);
    asset_free(&a);
    asset_free(&b);
    asset_free(&x);
    rm_rf(dir);
}

/* ---- reconcile: real kills ----------------------------------------------------------------- */

#ifndef KILL_ROUNDS
#define KILL_ROUNDS 40
#endif

enum { KILL_ASSETS = 6 };
static struct asset kill_assets[KILL_ASSETS];

/* Appends what the .part lacks, in small writes, as a resumed download would. */
static void child_download(struct cache *c, const struct asset *a)
{
    _cleanup_free_ char *pp = NULL;
    if (cache_part_path(c, a->id, &pp) < 0)
        _exit(3);
    int fd = open(pp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        _exit(3);
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size > a->n)
        _exit(3);
    for (size_t off = (size_t)st.st_size; off < a->n;) {
        size_t k = MIN((size_t)4096, a->n - off);
        ssize_t w = write(fd, a->data + off, k);
        if (w <= 0)
            _exit(3);
        off += (size_t)w;
    }
    close(fd);
}

/* Downloads, commits, touches and removes the assets in a loop until killed. */
_noreturn_ static void child_run(const char *dir)
{
    struct cache *c = NULL;
    if (cache_open(dir, &c) < 0)
        _exit(2);
    for (unsigned round = 0;; round++) {
        for (size_t i = 0; i < KILL_ASSETS; i++) {
            const struct asset *a = &kill_assets[i];
            struct cache_entry e;
            int r = cache_get(c, a->id, &e);
            if (r == 0 && e.state == CACHE_STATE_READY) {
                r = (round + i) % 2 ? cache_remove(c, a->id) : cache_touch(c, a->id, NOW + round);
                if (r < 0)
                    _exit(4);
                continue;
            }
            if (cache_reserve(c, a->id, a->sha, a->n, NOW) < 0)
                _exit(5);
            child_download(c, a);
            if (cache_commit(c, a->id, a->sha, a->n, NOW + round) < 0)
                _exit(6);
        }
    }
}

static void reconcile_after_kill9(void **state)
{
    static const char *const ids[KILL_ASSETS] = {"k0", "k1", "k2", "k3", "k4", "k5"};
    static const size_t sizes[KILL_ASSETS] = {1, 4096, 70000, 200000, 600000, 1500000};
    struct cache_want want[KILL_ASSETS];
    for (size_t i = 0; i < KILL_ASSETS; i++) {
        kill_assets[i] = asset_make(ids[i], sizes[i]);
        want[i] = (struct cache_want){ids[i], kill_assets[i].sha, sizes[i]};
    }
    _cleanup_free_ char *dir = new_dir();
    struct cache_reconcile_stats sum = {0};
    for (int k = 0; k < KILL_ROUNDS; k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_run(dir);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(1 + rnd(40000)) * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("round %d: the child exited with %d before the kill", k, WEXITSTATUS(status));

        struct cache *c = open_ok(dir);
        struct cache_reconcile_stats st;
        /* every other boot, the manifests want only half of them */
        size_t n_want = k % 2 ? KILL_ASSETS : KILL_ASSETS / 2;
        assert_int_equal(cache_reconcile(c, want, n_want, NOW, &st), 0);
        assert_agreement(c, dir, kill_assets, KILL_ASSETS);
        sum.rows_dropped += st.rows_dropped;
        sum.files_deleted += st.files_deleted;
        sum.files_adopted += st.files_adopted;
        sum.parts_kept += st.parts_kept;
        sum.parts_deleted += st.parts_deleted;
        cache_free(c);
    }
    print_message("# %d kills: rows dropped %u, files deleted %u, adopted %u, parts kept %u, "
                  "deleted %u\n",
                  KILL_ROUNDS, sum.rows_dropped, sum.files_deleted, sum.files_adopted,
                  sum.parts_kept, sum.parts_deleted);
    for (size_t i = 0; i < KILL_ASSETS; i++)
        asset_free(&kill_assets[i]);
    rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(policy_high_water),
        cmocka_unit_test(policy_empty_and_trigger),
        cmocka_unit_test(policy_lru_order_and_fewest),
        cmocka_unit_test(policy_ties_by_asset_id),
        cmocka_unit_test(policy_protected_and_pending),
        cmocka_unit_test(policy_keep_72h),
        cmocka_unit_test(policy_budget_zero),
        cmocka_unit_test(policy_bad_input),
        cmocka_unit_test(policy_property),
        cmocka_unit_test(index_open),
        cmocka_unit_test(index_lifecycle),
        cmocka_unit_test(index_commit_rejects),
        cmocka_unit_test(index_reserve_again),
        cmocka_unit_test(index_verify_corruption),
        cmocka_unit_test(index_bad_arguments),
        cmocka_unit_test(reconcile_commit_steps),
        cmocka_unit_test(reconcile_remove_steps),
        cmocka_unit_test(reconcile_damage_and_strays),
        cmocka_unit_test(reconcile_rebuilds_lost_index),
        cmocka_unit_test(reconcile_after_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
