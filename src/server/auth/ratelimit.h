/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.h — per-key request rate limits (spec §27.1 "Rate Limiting") behind a backend table.
 *
 * DESIGN
 * A rule says "at most `limit` requests per `window_s` seconds" (login per IP: 10 / 60 s, player
 * manifest per device: 2 / 60 s …). The caller picks the key (an IP, an account email, a tenant
 * or device id) and the rule, calls ratelimiter_hit() once per request and turns the result into
 * X-RateLimit-Limit / -Remaining / -Reset and, when refused, 429 with Retry-After. Only the HTTP
 * layer does that; this module never logs and never reads the clock: `now_ms` is passed in.
 *
 * The algorithm is GCRA (the "generic cell rate algorithm", a token bucket stored as one
 * timestamp), exact in integer arithmetic; why, and what the headers mean, is in the DESIGN
 * comment of ratelimit.c. In short: an idle key may send `limit` requests at once, the next is
 * refused, and the quota then comes back one request every window_s / limit seconds, so a key
 * idle for a whole window is fully replenished. Refused requests are not counted.
 *
 * A backend is a `struct ratelimit_ops` (curl's `struct Curl_ssl` pattern): the in-process
 * memory backend now, a shared one (Redis) later. A `struct ratelimiter` is shared by all
 * worker threads; every function here is thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_MAX      256U            /* bytes of key; longer is -EINVAL */
#define RATELIMIT_NAME_MAX     64U             /* bytes of rule name; longer or empty is -EINVAL */
#define RATELIMIT_LIMIT_MAX    1000000U        /* requests per window */
#define RATELIMIT_WINDOW_MAX_S (366U * 86400U) /* one (leap) year */
#define RATELIMIT_NOW_MAX_MS   253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define RATELIMIT_KEYS_MAX     ((size_t)1 << 26) /* ceiling on max_keys for the memory backend */

/* One limit: at most `limit` requests per `window_s` seconds. The name tells rules apart: the
 * same key under two names has two independent counters. The name should say the limit too
 * when per-tenant tuning may change it ("login-ip", "tenant-mutations"); a rule that keeps its
 * name but changes limit or window carries each key's state over, rounded against the client. */
struct ratelimit_rule {
    const char *name;  /* 1..RATELIMIT_NAME_MAX bytes */
    unsigned limit;    /* 1..RATELIMIT_LIMIT_MAX */
    unsigned window_s; /* 1..RATELIMIT_WINDOW_MAX_S */
};

struct ratelimit_result {
    bool allowed;
    unsigned limit;         /* X-RateLimit-Limit */
    unsigned remaining;     /* X-RateLimit-Remaining: requests allowed right now (0 when refused) */
    int64_t reset_epoch_s;  /* X-RateLimit-Reset: UTC epoch seconds when the key's whole quota
                               is back (remaining == limit); never earlier than now + retry */
    unsigned retry_after_s; /* Retry-After when refused (>= 1): a request that many seconds
                               later is allowed; 0 when allowed */
};

/* A backend. hit() and free() get the `state` given to ratelimiter_new(). */
struct ratelimit_ops {
    const char *name; /* "memory", "redis": for metrics and messages */
    /**
     * Counts one request for @key under @rule at @now_ms. The arguments have already been
     * checked by ratelimiter_hit() (bounds above). Called from any thread at once: the backend
     * locks what it shares. 0 and *ret filled, or -errno (a remote backend: -EIO, -ETIMEDOUT…;
     * the caller decides whether to fail open). *ret untouched on failure.
     */
    int (*hit)(void *state, const char *key, const struct ratelimit_rule *rule, int64_t now_ms,
               struct ratelimit_result *ret);
    /** Frees @state. Accepts NULL. Called once, with no hit() running. */
    void (*free)(void *state);
};

struct ratelimiter;

/**
 * Wraps a backend. Takes ownership of @state (ops->free releases it with the limiter), also on
 * failure. 0 and *ret, or -EINVAL (NULL ops, hit or ret). Allocation failure aborts.
 */
int ratelimiter_new(const struct ratelimit_ops *ops, void *state, struct ratelimiter **ret);

/**
 * The in-process backend: a table of at most @max_keys (1..RATELIMIT_KEYS_MAX) keys, split
 * into shards with a mutex each. When the table is full, a new key first replaces a key whose
 * quota is whole again (nothing is lost), else the least recently used key (that key starts
 * afresh if it comes back: size @max_keys for the keys active within the longest window).
 * Hashing is keyed with a random secret, so clients cannot aim keys at one bucket.
 * 0 and *ret, or -EINVAL (bad max_keys or ret), -EIO (libsodium cannot start).
 * *ret untouched on failure. Allocation failure aborts.
 */
int ratelimiter_new_memory(size_t max_keys, struct ratelimiter **ret);

/** Frees the limiter and its backend. Accepts NULL; returns NULL. No hit may be running. */
struct ratelimiter *ratelimiter_free(struct ratelimiter *rl);

/** The backend's name ("memory", …). */
const char *ratelimiter_backend(const struct ratelimiter *rl);

/**
 * Counts one request for @key under @rule at @now_ms (UTC epoch milliseconds, 0..
 * RATELIMIT_NOW_MAX_MS) and says whether it is allowed. Refused requests do not use up quota.
 * Thread-safe; never blocks on I/O in the memory backend (only on a shard mutex, held for a
 * table lookup). 0 and *ret filled, or -EINVAL (NULL argument, key longer than
 * RATELIMIT_KEY_MAX, rule or now_ms out of bounds), or the backend's -errno.
 * *ret untouched on failure.
 */
int ratelimiter_hit(struct ratelimiter *rl, const char *key, const struct ratelimit_rule *rule,
                    int64_t now_ms, struct ratelimit_result *ret);

struct ratelimit_memory_stats {
    size_t keys;              /* keys in the table now */
    size_t max_keys;          /* what it was created with: keys never exceeds it */
    uint64_t evicted_expired; /* keys replaced whose quota was whole again: harmless */
    uint64_t evicted_live;    /* keys replaced with quota still used: those start afresh, so a
                                 rising count means max_keys is too small or a key flood */
};

/**
 * Counters of the memory backend, for metrics and tests. Thread-safe; the numbers are read
 * shard by shard, not as one snapshot. 0 and *ret, or -EINVAL (NULL), -EOPNOTSUPP (another
 * backend). *ret untouched on failure.
 */
int ratelimiter_memory_stats(struct ratelimiter *rl, struct ratelimit_memory_stats *ret);

#define RATELIMIT_IP_KEY_LEN 64 /* "xxxx:xxxx:xxxx:xxxx::/64" and any IPv4 fit */

/**
 * The key a client address counts under for the per-IP classes: an IPv4 address (or an
 * IPv4-mapped IPv6 one) as itself, an IPv6 address as its /64 — one subscriber's allocation,
 * whose 2^64 addresses would otherwise each get a quota of their own. Anything unparsable is
 * used as it is (truncated to fit).
 */
void ratelimit_ip_key(const char *ip, char out[RATELIMIT_IP_KEY_LEN]);
