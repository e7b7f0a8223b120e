/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.c — the rate limiter front (argument checks, backend table) and its in-process
 * memory backend.
 *
 * DESIGN
 *
 * Algorithm: GCRA, exact. Each key keeps one "theoretical arrival time" `tat`: the instant at
 * which its quota will be whole again. With T = window / limit (the emission interval), a
 * request at `now` carries the debt d = max(tat - now, 0); it is allowed when d + T <= window,
 * and then tat becomes now + d + T. So an idle key (d = 0) takes exactly `limit` requests at
 * once (the k-th leaves d = k·T, and (limit+1)·T > window refuses the next), and the quota
 * flows back at one request per T, whole again once the key has been idle for a window —
 * whatever the phase of its last request. Refused requests change nothing, so a client that
 * keeps hammering is not pushed further out than the window.
 * Times are kept in units of 1/limit ms (tat = tat_ms + tat_frac / limit), so T = window_ms
 * units exactly and no rule loses or gains a request to rounding: 7 per minute is 7, not 6 or
 * 8. Every product stays below 2^55 (window_ms <= 3.2e10, limit <= 1e6).
 *
 * Why not the sliding-window counter (previous fixed window weighted by overlap + current)?
 * It is an estimate: it assumes the previous window's requests were spread evenly, so a key
 * that spent its quota at the end of a window is not whole again one window later (10 at
 * 0:59, then at 1:59 it still counts 10·1/60 and gives 9); its Retry-After has to be solved
 * from a weight that changes with the window boundary, and it needs two counters and a window
 * index per key where GCRA needs one timestamp. GCRA makes the three headers exact functions
 * of that one number, which is what lets a test wait Retry-After and be allowed. Neither is a
 * sliding log: in the worst case both let about 2·limit through in one window's span (a full
 * burst, then the refill); that is the price of O(1) memory per key.
 *
 * Headers: Limit = rule limit. Remaining = how many more requests would be allowed right now,
 * floor((window - d) / T) after this request. Reset = when d reaches 0 (quota whole again),
 * rounded up to a second. Retry-After (refused) = when d + T <= window again, i.e. after
 * d + T - window, rounded up to a second, so a request exactly that late is allowed.
 *
 * Time is the caller's: `now_ms` comes in with each hit. Threads read the clock at slightly
 * different moments, so `now` may step back a little between hits; that only looks like more
 * debt. A larger step back (the wall clock set back) is clamped: a debt above one window is
 * treated as exactly one window, so no key is locked out for longer than its window.
 *
 * Table: 2^k shards (up to 64, at least ~64 keys each), chosen by the top bits of a SipHash
 * (libsodium crypto_shorthash) of "rule name \0 key" under a random per-process key: clients
 * choose keys but cannot choose collisions, and the name prefix keeps the same key under two
 * rules apart (a name holds no NUL, so the encoding is unambiguous). Each shard has its own
 * mutex, a fixed chained hash table (buckets >= capacity, never resized), an LRU list, and a
 * min-heap ordered by the moment each entry's quota is whole (tat rounded up to a ms). The
 * capacities add up to max_keys exactly, so the table never holds more. A new key in a full
 * shard replaces the heap's top when its quota is whole (such an entry is the same as no entry:
 * nothing is lost), else the least recently used entry (that key starts afresh; counted in
 * evicted_live). Every hit, allowed or refused, makes its key the most recent, so a key that
 * is being refused stays in the table through a flood of new keys. One shard's lock is held
 * for a lookup, an LRU move and at most two O(log n) heap fixes; memory is allocated per key
 * (a few dozen bytes plus the key) and freed on eviction, and the bucket and heap arrays are
 * allocated up front, so memory is bounded by max_keys.
 */
#include "auth/ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "macro.h"

/* ---- front --------------------------------------------------------------------------------- */

struct ratelimiter {
    const struct ratelimit_ops *ops;
    void *state;
};

int ratelimiter_new(const struct ratelimit_ops *ops, void *state, struct ratelimiter **ret)
{
    if (!ops || !ops->hit || !ret) {
        if (ops && ops->free)
            ops->free(state);
        return -EINVAL;
    }
    struct ratelimiter *rl = xmalloc(sizeof(*rl));
    *rl = (struct ratelimiter){.ops = ops, .state = state};
    *ret = rl;
    return 0;
}

struct ratelimiter *ratelimiter_free(struct ratelimiter *rl)
{
    if (!rl)
        return NULL;
    if (rl->ops->free)
        rl->ops->free(rl->state);
    free(rl);
    return NULL;
}

const char *ratelimiter_backend(const struct ratelimiter *rl)
{
    return rl->ops->name;
}

static bool rule_is_valid(const struct ratelimit_rule *rule)
{
    if (!rule->name)
        return false;
    size_t n = strnlen(rule->name, RATELIMIT_NAME_MAX + 1);
    return n >= 1 && n <= RATELIMIT_NAME_MAX && rule->limit >= 1 &&
           rule->limit <= RATELIMIT_LIMIT_MAX && rule->window_s >= 1 &&
           rule->window_s <= RATELIMIT_WINDOW_MAX_S;
}

int ratelimiter_hit(struct ratelimiter *rl, const char *key, const struct ratelimit_rule *rule,
                    int64_t now_ms, struct ratelimit_result *ret)
{
    if (!rl || !key || !rule || !ret || !rule_is_valid(rule))
        return -EINVAL;
    if (strnlen(key, RATELIMIT_KEY_MAX + 1) > RATELIMIT_KEY_MAX)
        return -EINVAL;
    if (now_ms < 0 || now_ms > RATELIMIT_NOW_MAX_MS)
        return -EINVAL;
    return rl->ops->hit(rl->state, key, rule, now_ms, ret);
}

/* ---- GCRA, pure ---------------------------------------------------------------------------- */

/* A key's state: the quota is whole at tat_ms + tat_frac / limit (ms). */
struct gcra {
    int64_t tat_ms;
    uint32_t tat_frac; /* < limit */
    uint32_t limit;    /* the unit tat_frac counts in */
};

static int64_t ceil_div(int64_t a, int64_t b) /* a >= 0, b > 0 */
{
    return a / b + (a % b != 0);
}

/* The debt at @now in units of 1/@limit ms, clamped to [0, window]. */
static int64_t gcra_debt(const struct gcra *g, int64_t limit, int64_t window_ms, int64_t now)
{
    if (g->tat_ms < now || (g->tat_ms == now && g->tat_frac == 0))
        return 0;
    int64_t whole = g->tat_ms - now;
    int64_t frac = g->tat_frac;
    if (g->limit != limit) { /* the rule changed under its name: round up to a whole ms */
        whole += frac != 0;
        frac = 0;
    }
    if (whole >= window_ms) /* clock set back, or the window shrank */
        return window_ms * limit;
    return whole * limit + frac;
}

/* The moment the quota is whole, rounded up to a ms: the heap's order. */
static int64_t gcra_whole_at(const struct gcra *g)
{
    return g->tat_ms + (g->tat_frac != 0);
}

/* One request at @now: fills *ret and updates *g (normalised even when refused). Never fails. */
static void gcra_hit(struct gcra *g, const struct ratelimit_rule *rule, int64_t now,
                     struct ratelimit_result *ret)
{
    const int64_t limit = rule->limit;
    const int64_t window_ms = (int64_t)rule->window_s * 1000;
    const int64_t window = window_ms * limit; /* in units of 1/limit ms */
    const int64_t t = window_ms;              /* one request's share: window / limit */
    int64_t debt = gcra_debt(g, limit, window_ms, now);

    struct ratelimit_result r = {.limit = rule->limit};
    if (debt + t <= window) {
        debt += t;
        r.allowed = true;
        r.remaining = (unsigned)((window - debt) / t);
    } else {
        int64_t wait_ms = ceil_div(debt + t - window, limit);
        r.retry_after_s = (unsigned)ceil_div(wait_ms, 1000);
    }
    r.reset_epoch_s = ceil_div(now + ceil_div(debt, limit), 1000);

    *g = (struct gcra){
        .tat_ms = now + debt / limit, .tat_frac = (uint32_t)(debt % limit), .limit = rule->limit};
    *ret = r;
}

/* ---- keys ---------------------------------------------------------------------------------- */

void ratelimit_ip_key(const char *ip, char out[RATELIMIT_IP_KEY_LEN])
{
    struct in6_addr a;
    if (ip && strchr(ip, ':') && inet_pton(AF_INET6, ip, &a) == 1 && !IN6_IS_ADDR_V4MAPPED(&a)) {
        memset(a.s6_addr + 8, 0, 8);
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a, text, sizeof(text));
        snprintf(out, RATELIMIT_IP_KEY_LEN, "%s/64", text);
        return;
    }
    snprintf(out, RATELIMIT_IP_KEY_LEN, "%s", ip ? ip : "");
}

/* ---- memory backend: table ----------------------------------------------------------------- */

#define SHARDS_MAX_BITS 6  /* at most 64 shards */
#define SHARD_MIN_KEYS  64 /* fewer shards than that for a small table */
#define ID_MAX          (RATELIMIT_NAME_MAX + 1 + RATELIMIT_KEY_MAX)

struct entry {
    struct entry *hnext;         /* hash chain */
    struct entry *newer, *older; /* LRU list */
    uint64_t hash;
    struct gcra g;
    uint32_t heap_idx;
    uint16_t id_len;
    char id[]; /* rule name, NUL, key (not NUL-terminated) */
};

struct shard {
    pthread_mutex_t lock;
    struct entry **buckets; /* mask + 1 chains */
    uint64_t mask;
    struct entry **heap; /* min-heap by gcra_whole_at(), n entries */
    size_t n, cap;
    struct entry *newest, *oldest;
    uint64_t evicted_expired, evicted_live;
};

/* Shards sit a cache line apart so two threads on two shards do not share a line. */
#define SHARD_STRIDE ((sizeof(struct shard) + 63) / 64 * 64)

struct memory {
    unsigned shard_bits;
    size_t max_keys;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    unsigned char *shard_mem; /* 1 << shard_bits shards, SHARD_STRIDE apart */
};

static struct shard *shard_at(struct memory *m, size_t i)
{
    return (struct shard *)(void *)(m->shard_mem + i * SHARD_STRIDE);
}

/* heap */

static int64_t heap_key(const struct shard *s, size_t i)
{
    return gcra_whole_at(&s->heap[i]->g);
}

static void heap_set(struct shard *s, size_t i, struct entry *e)
{
    s->heap[i] = e;
    e->heap_idx = (uint32_t)i;
}

static void heap_fix(struct shard *s, size_t i)
{
    struct entry *e = s->heap[i];
    int64_t k = gcra_whole_at(&e->g);
    while (i > 0 && heap_key(s, (i - 1) / 2) > k) { /* up */
        heap_set(s, i, s->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) { /* down */
        size_t c = 2 * i + 1;
        if (c >= s->n)
            break;
        if (c + 1 < s->n && heap_key(s, c + 1) < heap_key(s, c))
            c++;
        if (heap_key(s, c) >= k)
            break;
        heap_set(s, i, s->heap[c]);
        i = c;
    }
    heap_set(s, i, e);
}

static void heap_push(struct shard *s, struct entry *e)
{
    heap_set(s, s->n++, e);
    heap_fix(s, s->n - 1);
}

static void heap_remove(struct shard *s, struct entry *e)
{
    size_t i = e->heap_idx;
    struct entry *last = s->heap[--s->n];
    if (i < s->n) {
        heap_set(s, i, last);
        heap_fix(s, i);
    }
}

/* LRU list */

static void lru_unlink(struct shard *s, struct entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        s->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        s->oldest = e->newer;
}

static void lru_push_newest(struct shard *s, struct entry *e)
{
    e->newer = NULL;
    e->older = s->newest;
    if (s->newest)
        s->newest->newer = e;
    else
        s->oldest = e;
    s->newest = e;
}

/* hash chains */

static struct entry **chain_of(struct shard *s, uint64_t hash)
{
    return &s->buckets[hash & s->mask];
}

static struct entry *chain_find(struct shard *s, uint64_t hash, const char *id, size_t id_len)
{
    for (struct entry *e = *chain_of(s, hash); e; e = e->hnext)
        if (e->hash == hash && e->id_len == id_len && memcmp(e->id, id, id_len) == 0)
            return e;
    return NULL;
}

static void chain_unlink(struct shard *s, struct entry *e)
{
    struct entry **p = chain_of(s, e->hash);
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
}

/* Makes room for one entry in a full shard: an entry whose quota is whole if there is one, else
 * the least recently used. */
static void shard_evict_one(struct shard *s, int64_t now)
{
    struct entry *victim;
    if (gcra_whole_at(&s->heap[0]->g) <= now) {
        victim = s->heap[0];
        s->evicted_expired++;
    } else {
        victim = s->oldest;
        s->evicted_live++;
    }
    chain_unlink(s, victim);
    lru_unlink(s, victim);
    heap_remove(s, victim);
    free(victim);
}

/* The entry for @id, made (as a fresh key: no debt) when missing, and made the most recent. */
static struct entry *shard_get(struct shard *s, uint64_t hash, const char *id, size_t id_len,
                               int64_t now)
{
    struct entry *e = chain_find(s, hash, id, id_len);
    if (e) {
        if (s->newest != e) {
            lru_unlink(s, e);
            lru_push_newest(s, e);
        }
        return e;
    }
    if (s->n == s->cap)
        shard_evict_one(s, now);
    e = xmalloc(sizeof(*e) + id_len);
    *e = (struct entry){.hash = hash, .id_len = (uint16_t)id_len, .g = {.tat_ms = now, .limit = 1}};
    memcpy(e->id, id, id_len);
    struct entry **chain = chain_of(s, hash);
    e->hnext = *chain;
    *chain = e;
    lru_push_newest(s, e);
    heap_push(s, e);
    return e;
}

/* ---- memory backend: ops ------------------------------------------------------------------- */

static int memory_hit(void *state, const char *key, const struct ratelimit_rule *rule,
                      int64_t now_ms, struct ratelimit_result *ret)
{
    struct memory *m = state;
    char id[ID_MAX];
    size_t name_len = strlen(rule->name), key_len = strlen(key); /* bounded by the front */
    memcpy(id, rule->name, name_len);
    id[name_len] = '\0';
    memcpy(id + name_len + 1, key, key_len);
    size_t id_len = name_len + 1 + key_len;

    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)id, id_len, m->hash_key);
    uint64_t hash;
    memcpy(&hash, h, sizeof(hash));
    struct shard *s = shard_at(m, m->shard_bits ? (size_t)(hash >> (64 - m->shard_bits)) : 0);

    pthread_mutex_lock(&s->lock);
    struct entry *e = shard_get(s, hash, id, id_len, now_ms);
    int64_t before = gcra_whole_at(&e->g);
    gcra_hit(&e->g, rule, now_ms, ret);
    if (gcra_whole_at(&e->g) != before)
        heap_fix(s, e->heap_idx);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void memory_free(void *state)
{
    struct memory *m = state;
    if (!m)
        return;
    for (size_t i = 0; i < (size_t)1 << m->shard_bits; i++) {
        struct shard *s = shard_at(m, i);
        for (struct entry *e = s->newest, *next; e; e = next) {
            next = e->older;
            free(e);
        }
        free(s->buckets);
        free(s->heap);
        pthread_mutex_destroy(&s->lock);
    }
    free(m->shard_mem);
    sodium_memzero(m->hash_key, sizeof(m->hash_key));
    free(m);
}

static const struct ratelimit_ops memory_ops = {
    .name = "memory",
    .hit = memory_hit,
    .free = memory_free,
};

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

int ratelimiter_new_memory(size_t max_keys, struct ratelimiter **ret)
{
    if (!ret || max_keys < 1 || max_keys > RATELIMIT_KEYS_MAX)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;

    struct memory *m = xcalloc(1, sizeof(*m));
    m->max_keys = max_keys;
    while (m->shard_bits < SHARDS_MAX_BITS &&
           ((size_t)SHARD_MIN_KEYS << (m->shard_bits + 1)) <= max_keys)
        m->shard_bits++;
    randombytes_buf(m->hash_key, sizeof(m->hash_key));

    size_t n_shards = (size_t)1 << m->shard_bits;
    m->shard_mem = aligned_alloc(64, n_shards * SHARD_STRIDE);
    if (!m->shard_mem)
        abort(); /* out of memory: as xmalloc */
    memset(m->shard_mem, 0, n_shards * SHARD_STRIDE);
    for (size_t i = 0; i < n_shards; i++) {
        struct shard *s = shard_at(m, i);
        /* capacities add up to max_keys exactly */
        s->cap = max_keys / n_shards + (i < max_keys % n_shards);
        uint64_t n_buckets = pow2_at_least(s->cap);
        s->mask = n_buckets - 1;
        s->buckets = xcalloc(n_buckets, sizeof(*s->buckets));
        s->heap = xcalloc(s->cap, sizeof(*s->heap));
        pthread_mutex_init(&s->lock, NULL);
    }
    return ratelimiter_new(&memory_ops, m, ret);
}

int ratelimiter_memory_stats(struct ratelimiter *rl, struct ratelimit_memory_stats *ret)
{
    if (!rl || !ret)
        return -EINVAL;
    if (rl->ops != &memory_ops)
        return -EOPNOTSUPP;
    struct memory *m = rl->state;
    struct ratelimit_memory_stats st = {.max_keys = m->max_keys};
    for (size_t i = 0; i < (size_t)1 << m->shard_bits; i++) {
        struct shard *s = shard_at(m, i);
        pthread_mutex_lock(&s->lock);
        st.keys += s->n;
        st.evicted_expired += s->evicted_expired;
        st.evicted_live += s->evicted_live;
        pthread_mutex_unlock(&s->lock);
    }
    *ret = st;
    return 0;
}
