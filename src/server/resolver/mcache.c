/* SPDX-License-Identifier: MIT */
/*
 * mcache.c — the manifest cache (spec §31.8, §31.9).
 *
 * DESIGN
 * A manifest is made from: the venue, the device's group, the device itself only when the
 * published schedule names it, the zone the resolver applies, the device's settings, the
 * venue's epoch and its fallback. The caller hashes the first five into the entry's lineage
 * ("screens like this one") and the last two into the key (which is only ever compared within
 * its lineage). The cache holds one entry per lineage:
 * the last manifest made for it. A lookup whose key matches, within the entry's window
 * [from_s, until_s), is FRESH and served as it is; anything else for the lineage is STALE —
 * not served normally, but it is the "last cached manifest" §31.9 falls back on when the
 * resolver fails.
 *
 * So nothing is ever invalidated by hand: a publish moves the epoch, a group change or a move
 * to another venue changes the lineage, a new device slot moves the epoch, and each makes
 * another key. Several instances (PostgreSQL) each keep their own cache and stay right, since
 * the key comes from the store on every request. The window bounds what the key cannot see.
 *
 * One mutex guards a chained hash table (fixed at 2^14 buckets; lineages are few: one per
 * venue, group and kind of settings) and an LRU list; the work under it is a few compares.
 * Entries are reference-counted, so a reply is written from an entry without the lock while
 * another thread replaces it.
 */
#include "resolver/mcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

#define BUCKET_BITS 14
#define BUCKETS     (1u << BUCKET_BITS)

struct mcache {
    pthread_mutex_t lock;
    size_t max_bytes, bytes, entries;
    uint64_t evicted;
    struct mcache_entry *buckets[BUCKETS];
    TAILQ_HEAD(mcache_lru, mcache_entry) lru; /* most recently used first */
};

struct mcache_entry *mcache_entry_new(const char lineage[MCACHE_KEY_LEN],
                                      const char key[MCACHE_KEY_LEN], char *body, size_t len,
                                      unsigned char *gz, size_t gz_len)
{
    struct mcache_entry *e = xcalloc(1, sizeof(*e));
    snprintf(e->lineage, sizeof(e->lineage), "%s", lineage);
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->body = body;
    e->len = len;
    e->gz = gz;
    e->gz_len = gz ? gz_len : 0;
    atomic_init(&e->refs, 1);
    return e;
}

void mcache_entry_unref(struct mcache_entry *e)
{
    if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(e->body);
    free(e->gz);
    free(e);
}

struct mcache_entry *mcache_entry_ref(struct mcache_entry *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

static size_t entry_bytes(const struct mcache_entry *e)
{
    return sizeof(*e) + e->len + e->gz_len;
}

struct mcache *mcache_new(size_t max_bytes)
{
    struct mcache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->max_bytes = max_bytes;
    TAILQ_INIT(&c->lru);
    return c;
}

void mcache_free(struct mcache *c)
{
    if (!c)
        return;
    struct mcache_entry *e;
    while ((e = TAILQ_FIRST(&c->lru))) {
        TAILQ_REMOVE(&c->lru, e, lru);
        mcache_entry_unref(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The lineage is a SHA-256 in hex: its first digits are as good a hash as any. */
static struct mcache_entry **bucket_of(struct mcache *c, const char lineage[])
{
    uint32_t h = 0;
    for (size_t i = 0; i < 4; i++)
        h = h << 4 | (uint32_t)(lineage[i] <= '9' ? lineage[i] - '0' : lineage[i] - 'a' + 10);
    return &c->buckets[h & (BUCKETS - 1)];
}

/* The link pointing at @lineage's entry, or at the chain's end. */
static struct mcache_entry **find(struct mcache *c, const char lineage[])
{
    struct mcache_entry **p = bucket_of(c, lineage);
    while (*p && strcmp((*p)->lineage, lineage) != 0)
        p = &(*p)->hnext;
    return p;
}

/* Takes the entry at @link out of the cache (the cache's reference goes with it). */
static void unlink_at(struct mcache *c, struct mcache_entry **link)
{
    struct mcache_entry *e = *link;
    *link = e->hnext;
    TAILQ_REMOVE(&c->lru, e, lru);
    c->bytes -= entry_bytes(e);
    c->entries--;
    mcache_entry_unref(e);
}

enum mcache_found mcache_get(struct mcache *c, const char lineage[MCACHE_KEY_LEN],
                             const char key[MCACHE_KEY_LEN], int64_t now, struct mcache_entry **ret)
{
    pthread_mutex_lock(&c->lock);
    struct mcache_entry *e = *find(c, lineage);
    enum mcache_found found = MCACHE_MISS;
    if (e) {
        found = !strcmp(e->key, key) && e->from_s <= now && now < e->until_s ? MCACHE_FRESH
                                                                             : MCACHE_STALE;
        TAILQ_REMOVE(&c->lru, e, lru);
        TAILQ_INSERT_HEAD(&c->lru, e, lru);
        *ret = mcache_entry_ref(e);
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

void mcache_put(struct mcache *c, struct mcache_entry *e)
{
    pthread_mutex_lock(&c->lock);
    struct mcache_entry **link = find(c, e->lineage);
    if (*link)
        unlink_at(c, link); /* older than @e, kept or not */
    if (entry_bytes(e) > c->max_bytes) {
        pthread_mutex_unlock(&c->lock);
        mcache_entry_unref(e);
        return;
    }
    e->hnext = NULL;
    *find(c, e->lineage) = e;
    TAILQ_INSERT_HEAD(&c->lru, e, lru);
    c->bytes += entry_bytes(e);
    c->entries++;
    while (c->bytes > c->max_bytes) {
        struct mcache_entry *old = TAILQ_LAST(&c->lru, mcache_lru);
        unlink_at(c, find(c, old->lineage));
        c->evicted++;
    }
    pthread_mutex_unlock(&c->lock);
}

void mcache_stats(struct mcache *c, struct mcache_stats *ret)
{
    pthread_mutex_lock(&c->lock);
    *ret = (struct mcache_stats){.entries = c->entries, .bytes = c->bytes, .evicted = c->evicted};
    pthread_mutex_unlock(&c->lock);
}
