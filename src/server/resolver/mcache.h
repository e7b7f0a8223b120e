/* SPDX-License-Identifier: MIT */
/*
 * mcache.h — the manifest cache (spec §31.8, §31.9; design in mcache.c): finished manifests,
 * plain and gzipped, shared by every device that would be given the same one.
 */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "hash.h"

#define MCACHE_KEY_LEN HASH_SHA256_HEX_LEN /* a SHA-256 in hex (hash.h) */

/** One finished manifest. Immutable once put; readers hold a reference. */
struct mcache_entry {
    /* who it is for, whatever the epoch: the cache holds one entry per lineage */
    char lineage[MCACHE_KEY_LEN];
    /* the rest of what it was made from (the epoch, the fallback); compared within the lineage */
    char key[MCACHE_KEY_LEN];
    int64_t from_s, until_s;            /* served as it is while from_s <= now < until_s */
    char etag[HASH_SHA256_HEX_LEN + 8]; /* "\"m-…\"", as the ETag header says it */
    char *body;                         /* the JSON, owned */
    size_t len;
    unsigned char *gz; /* the same, gzipped; NULL if that failed (owned) */
    size_t gz_len;
    /* the cache's own */
    atomic_uint refs;
    struct mcache_entry *hnext;
    TAILQ_ENTRY(mcache_entry) lru;
};

/** A new entry with one reference, taking ownership of @body (and @gz, which may be NULL). */
struct mcache_entry *mcache_entry_new(const char lineage[MCACHE_KEY_LEN],
                                      const char key[MCACHE_KEY_LEN], char *body, size_t len,
                                      unsigned char *gz, size_t gz_len);
/** Takes another reference; returns @e. */
struct mcache_entry *mcache_entry_ref(struct mcache_entry *e);
/** Drops a reference (NULL is fine); the last one frees the entry. */
void mcache_entry_unref(struct mcache_entry *e);

struct mcache;

/** A cache holding at most @max_bytes of entries (body, gzip and some 300 bytes of bookkeeping
 *  each); 0 holds nothing, every get misses. */
struct mcache *mcache_new(size_t max_bytes);
/** Frees the cache; entries still referenced live on until their last unref. NULL is fine. */
void mcache_free(struct mcache *c);

enum mcache_found {
    MCACHE_MISS,  /* nothing for this lineage */
    MCACHE_FRESH, /* the entry of @key, to be served as it is at @now */
    MCACHE_STALE, /* the lineage's last entry: another key, or outside its window */
};

/** Looks up @lineage; for FRESH and STALE, *ret holds a new reference (unref it). */
enum mcache_found mcache_get(struct mcache *c, const char lineage[MCACHE_KEY_LEN],
                             const char key[MCACHE_KEY_LEN], int64_t now,
                             struct mcache_entry **ret);

/** Makes @e its lineage's entry (replacing any other), taking over the caller's reference;
 *  the least recently used entries go while the entries exceed the cache's size. An entry
 *  larger than the whole cache is not kept, and the lineage's older one goes all the same. */
void mcache_put(struct mcache *c, struct mcache_entry *e);

/** What the cache holds now, and how many entries it has evicted for room. */
struct mcache_stats {
    size_t entries, bytes;
    uint64_t evicted;
};
void mcache_stats(struct mcache *c, struct mcache_stats *ret);
