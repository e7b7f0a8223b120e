/* SPDX-License-Identifier: MIT */
/*
 * cache-policy.c — the eviction policy of the media cache; see cache.h for the rules.
 *
 * Pure: no clock, no I/O. The candidates for eviction (READY, not protected) are sorted once by
 * (last used, assetId). Expired ones are those used before now - keep_unused_s, a prefix of that
 * order, so every plan is a prefix too: the expired ones, then as many more as the 90% mark
 * needs. The incoming bytes are admitted when the rest fits within the budget; otherwise the plan
 * is made again with nothing incoming (a paused download reserves nothing).
 */
#include "player/cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* ---- the plan ---------------------------------------------------------------------------- */

uint64_t cache_high_water(uint64_t budget)
{
    return budget / 100 * CACHE_HIGH_WATER_PERCENT + budget % 100 * CACHE_HIGH_WATER_PERCENT / 100;
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int entryp_id_cmp(const void *a, const void *b)
{
    const struct cache_entry *x = *(const struct cache_entry *const *)a;
    const struct cache_entry *y = *(const struct cache_entry *const *)b;
    return strcmp(x->asset_id, y->asset_id);
}

static int entryp_lru_cmp(const void *a, const void *b)
{
    const struct cache_entry *x = *(const struct cache_entry *const *)a;
    const struct cache_entry *y = *(const struct cache_entry *const *)b;
    if (x->last_used_utc != y->last_used_utc)
        return x->last_used_utc < y->last_used_utc ? -1 : 1;
    return strcmp(x->asset_id, y->asset_id);
}

/* The smallest k ≥ @from such that evicting cand[0..k) brings @used + @incoming to @mark, or all
 * of them; the bytes they free in *@ret_freed. @used + @incoming does not overflow. */
static size_t plan_prefix(const struct cache_entry *const *cand, size_t n_cand, size_t from,
                          uint64_t used, uint64_t incoming, uint64_t mark, uint64_t *ret_freed)
{
    uint64_t freed = 0;
    size_t k = 0;
    for (; k < from; k++)
        freed += cand[k]->bytes;
    for (; k < n_cand && used - freed + incoming > mark; k++)
        freed += cand[k]->bytes;
    *ret_freed = freed;
    return k;
}

/* Checks the input: assetIds present and unique, protected ids present. */
static int policy_input_check(const struct cache_policy_input *in)
{
    if (in->keep_unused_s < 0 || (in->n_entries > 0 && !in->entries) ||
        (in->n_protected > 0 && !in->protected_ids))
        return -EINVAL;
    for (size_t i = 0; i < in->n_protected; i++)
        if (!in->protected_ids[i])
            return -EINVAL;
    _cleanup_free_ const struct cache_entry **by_id =
        xmalloc(MAX(in->n_entries, (size_t)1) * sizeof(*by_id));
    for (size_t i = 0; i < in->n_entries; i++)
        by_id[i] = &in->entries[i];
    qsort(by_id, in->n_entries, sizeof(*by_id), entryp_id_cmp);
    for (size_t i = 1; i < in->n_entries; i++)
        if (strcmp(by_id[i - 1]->asset_id, by_id[i]->asset_id) == 0)
            return -EINVAL;
    return 0;
}

int cache_policy_plan(const struct cache_policy_input *in, struct cache_plan *ret)
{
    int r = policy_input_check(in);
    if (r < 0)
        return r;

    uint64_t used = 0, total;
    for (size_t i = 0; i < in->n_entries; i++)
        if (__builtin_add_overflow(used, in->entries[i].bytes, &used))
            return -EOVERFLOW;
    if (__builtin_add_overflow(used, in->incoming_bytes, &total))
        return -EOVERFLOW;

    _cleanup_free_ const char **prot = xmalloc(MAX(in->n_protected, (size_t)1) * sizeof(*prot));
    if (in->n_protected > 0)
        memcpy(prot, in->protected_ids, in->n_protected * sizeof(*prot));
    qsort(prot, in->n_protected, sizeof(*prot), strp_cmp);

    _cleanup_free_ const struct cache_entry **cand =
        xmalloc(MAX(in->n_entries, (size_t)1) * sizeof(*cand));
    size_t n_cand = 0;
    for (size_t i = 0; i < in->n_entries; i++) {
        const struct cache_entry *e = &in->entries[i];
        const char *key = e->asset_id;
        if (e->state == CACHE_STATE_READY &&
            !bsearch(&key, prot, in->n_protected, sizeof(*prot), strp_cmp))
            cand[n_cand++] = e;
    }
    qsort(cand, n_cand, sizeof(*cand), entryp_lru_cmp);

    /* expired: used before now - keep (none when that instant is before INT64_MIN) */
    size_t n_expired = 0;
    int64_t cutoff;
    if (!__builtin_sub_overflow(in->now_utc, in->keep_unused_s, &cutoff))
        while (n_expired < n_cand && cand[n_expired]->last_used_utc < cutoff)
            n_expired++;

    uint64_t mark = cache_high_water(in->budget_bytes), freed;
    size_t k = plan_prefix(cand, n_cand, n_expired, used, in->incoming_bytes, mark, &freed);
    enum cache_action action = k > 0 ? CACHE_ACTION_EVICT : CACHE_ACTION_NONE;
    if (used - freed + in->incoming_bytes > in->budget_bytes) {
        action = CACHE_ACTION_PAUSE;
        k = plan_prefix(cand, n_cand, n_expired, used, 0, mark, &freed);
    }

    size_t *evict = xmalloc(MAX(k, (size_t)1) * sizeof(*evict));
    for (size_t i = 0; i < k; i++)
        evict[i] = (size_t)(cand[i] - in->entries);
    *ret = (struct cache_plan){
        .action = action, .evict = evict, .n_evict = k, .used_bytes = used - freed};
    return 0;
}

void cache_plan_release(struct cache_plan *plan)
{
    if (!plan)
        return;
    free(plan->evict);
    *plan = (struct cache_plan){0};
}
