/* SPDX-License-Identifier: MIT */
/*
 * resolver.c — the schedule resolver; see resolver.h for what a slot means.
 *
 * Design:
 * - The index sorts the enabled slots once into precedence order (§31.4: DEVICE before GROUP,
 *   higher priority, later updatedAt, smaller slot id — slot ids are unique, so the order is
 *   total and the index does not depend on the input order, §31.10). A slot's rank is its
 *   position in that order. Targets (device ids, group ids) are a sorted array searched by
 *   binary search; each holds seven rank-sorted lists, one per ISO weekday, of the slots whose
 *   mask has that day. A wrap continuation is found in the list of the day before, so one
 *   resolution reads the lists of this device and its group for yesterday … tomorrow (§31.7).
 * - A resolution takes the zone's timeline around now as a few constant-offset segments (one
 *   pass over the tz data), after which every wall time → UTC is a loop over ≤ 3 segments, with
 *   exactly tz_utc_from_local()'s TZ_FOLD_EARLIER meaning (tz_segments_first_reach()).
 * - Winner: the best-ranked occurrence containing now; lists are rank-sorted, so each list stops
 *   at its first hit or at the best rank so far.
 * - validToUtc is exact, not a bound: the outcome changes first either when the winner's run of
 *   back-to-back occurrences ends (at that instant no occurrence of it contains the time, so
 *   someone else or a fallback takes over), or when an occurrence of a better-ranked slot starts
 *   (it, or something better, then wins). Nothing else can change it: a better slot active
 *   before that instant would have to contain now already. Lower-ranked slots never matter.
 *   With no winner, the first start of any non-empty occurrence. Clamped to now + 6 h.
 */
#include "resolver/resolver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

#define DAY                86400
#define MAX_SEGS           32
#define RESOLVER_NOW_LIMIT (INT64_C(1) << 40) /* 35,000 years either side of 1970 */

struct islot {
    char *slot_id;
    char *target_id;
    char *playlist_id;
    int64_t playlist_version;
    int64_t updated_at_ms;
    int32_t from_day, to_day; /* days since 1970-01-01, inclusive */
    int16_t start, end;       /* minutes */
    int16_t priority;
    uint8_t mask;
    bool is_device;
};

struct itarget {
    const char *id;
    bool is_device;
    uint32_t first[7]; /* into resolver_index.lists, per ISO weekday - 1 */
    uint32_t count[7];
};

struct resolver_index {
    struct islot *slots; /* rank order */
    size_t n_slots;
    struct itarget *targets; /* sorted by (is_device, id) */
    size_t n_targets;
    uint32_t *lists; /* ranks */
};

const char *resolver_reason_name(enum resolver_reason reason)
{
    switch (reason) {
    case RESOLVER_REASON_SLOT:
        return "SLOT";
    case RESOLVER_REASON_VENUE_FALLBACK:
        return "VENUE_FALLBACK";
    case RESOLVER_REASON_TENANT_DEFAULT:
        return "TENANT_DEFAULT";
    case RESOLVER_REASON_NONE:
        return "NONE";
    }
    return "NONE";
}

int resolver_date_parse(const char *s, struct resolver_date *ret)
{
    if (!s) {
        *ret = (struct resolver_date){0, 0, 0};
        return 0;
    }
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -EINVAL;
    int v[3] = {0, 0, 0};
    static const int pos[3][2] = {{0, 4}, {5, 7}, {8, 10}};
    for (int k = 0; k < 3; k++)
        for (int i = pos[k][0]; i < pos[k][1]; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -EINVAL;
            v[k] = v[k] * 10 + (s[i] - '0');
        }
    if (!tz_date_valid(v[0], v[1], v[2]))
        return -EINVAL;
    *ret = (struct resolver_date){v[0], v[1], v[2]};
    return 0;
}

/* ---- index --------------------------------------------------------------------------------- */

static int precedence_cmp(const void *pa, const void *pb)
{
    const struct islot *a = pa, *b = pb;
    if (a->is_device != b->is_device)
        return a->is_device ? -1 : 1;
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    if (a->updated_at_ms != b->updated_at_ms)
        return a->updated_at_ms > b->updated_at_ms ? -1 : 1;
    return strcmp(a->slot_id, b->slot_id);
}

static int target_key_cmp(bool a_dev, const char *a_id, bool b_dev, const char *b_id)
{
    if (a_dev != b_dev)
        return a_dev ? -1 : 1;
    return strcmp(a_id, b_id);
}

static int target_cmp(const void *pa, const void *pb)
{
    const struct islot *a = *(const struct islot *const *)pa, *b = *(const struct islot *const *)pb;
    return target_key_cmp(a->is_device, a->target_id, b->is_device, b->target_id);
}

static int slot_id_cmp(const void *pa, const void *pb)
{
    const struct resolver_slot *a = *(const struct resolver_slot *const *)pa;
    const struct resolver_slot *b = *(const struct resolver_slot *const *)pb;
    return strcmp(a->slot_id, b->slot_id);
}

static bool date_to_day(const struct resolver_date *d, int32_t open, int32_t *ret)
{
    if (d->year == 0 && d->month == 0 && d->day == 0) {
        *ret = open;
        return true;
    }
    if (!tz_date_valid(d->year, d->month, d->day))
        return false;
    *ret = (int32_t)tz_days_from_civil(d->year, d->month, d->day);
    return true;
}

static int validate(const struct resolver_slot *slots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct resolver_slot *s = &slots[i];
        int32_t from, to;
        if (!s->slot_id || !s->target_id || !s->playlist_id ||
            (s->target_type != RESOLVER_TARGET_DEVICE && s->target_type != RESOLVER_TARGET_GROUP) ||
            s->days_mask < 1 || s->days_mask > 127 || s->start_minutes < 0 ||
            s->start_minutes > 1439 || s->end_minutes < 0 || s->end_minutes > 1439 ||
            s->priority < INT16_MIN || s->priority > INT16_MAX ||
            !date_to_day(&s->valid_from, INT32_MIN, &from) ||
            !date_to_day(&s->valid_to, INT32_MAX, &to) || from > to)
            return -EINVAL;
    }
    /* unique slot ids: the last tie-break must be a total order */
    _cleanup_free_ const struct resolver_slot **by_id = xcalloc(n, sizeof(*by_id));
    for (size_t i = 0; i < n; i++)
        by_id[i] = &slots[i];
    qsort(by_id, n, sizeof(*by_id), slot_id_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(by_id[i - 1]->slot_id, by_id[i]->slot_id) == 0)
            return -EINVAL;
    return 0;
}

static int rank_cmp(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return (a > b) - (a < b);
}

static void build_targets(struct resolver_index *idx)
{
    size_t n = idx->n_slots;
    _cleanup_free_ struct islot **by_target = xcalloc(n, sizeof(*by_target));
    _cleanup_free_ uint32_t *ranks = xcalloc(n, sizeof(*ranks));
    for (size_t i = 0; i < n; i++)
        by_target[i] = &idx->slots[i];
    qsort(by_target, n, sizeof(*by_target), target_cmp);

    idx->targets = xcalloc(n, sizeof(*idx->targets));
    idx->lists = xcalloc(7 * n, sizeof(*idx->lists));
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && target_cmp(&by_target[i], &by_target[j]) == 0)
            j++;
        /* this target's slots in rank order, so each weekday list comes out rank-sorted */
        for (size_t k = i; k < j; k++)
            ranks[k - i] = (uint32_t)(by_target[k] - idx->slots);
        qsort(ranks, j - i, sizeof(*ranks), rank_cmp);
        struct itarget *t = &idx->targets[idx->n_targets++];
        t->id = by_target[i]->target_id;
        t->is_device = by_target[i]->is_device;
        for (int wd = 0; wd < 7; wd++) {
            t->first[wd] = (uint32_t)used;
            for (size_t k = 0; k < j - i; k++)
                if (idx->slots[ranks[k]].mask & (1u << wd))
                    idx->lists[used++] = ranks[k];
            t->count[wd] = (uint32_t)(used - t->first[wd]);
        }
        i = j;
    }
}

int resolver_index_build(const struct resolver_slot *slots, size_t n, struct resolver_index **ret)
{
    if (n > 0 && !slots)
        return -EINVAL;
    int r = validate(slots, n);
    if (r < 0)
        return r;
    struct resolver_index *idx = xcalloc(1, sizeof(*idx));
    idx->slots = xcalloc(n, sizeof(*idx->slots));
    for (size_t i = 0; i < n; i++) {
        const struct resolver_slot *s = &slots[i];
        if (!s->enabled)
            continue; /* a disabled slot never matches */
        struct islot *d = &idx->slots[idx->n_slots++];
        d->slot_id = xstrdup(s->slot_id);
        d->target_id = xstrdup(s->target_id);
        d->playlist_id = xstrdup(s->playlist_id);
        d->playlist_version = s->playlist_version;
        d->updated_at_ms = s->updated_at_ms;
        date_to_day(&s->valid_from, INT32_MIN, &d->from_day);
        date_to_day(&s->valid_to, INT32_MAX, &d->to_day);
        d->start = (int16_t)s->start_minutes;
        d->end = (int16_t)s->end_minutes;
        d->priority = (int16_t)s->priority;
        d->mask = (uint8_t)s->days_mask;
        d->is_device = s->target_type == RESOLVER_TARGET_DEVICE;
    }
    qsort(idx->slots, idx->n_slots, sizeof(*idx->slots), precedence_cmp);
    build_targets(idx);
    *ret = idx;
    return 0;
}

struct resolver_index *resolver_index_free(struct resolver_index *idx)
{
    if (!idx)
        return NULL;
    for (size_t i = 0; i < idx->n_slots; i++) {
        free(idx->slots[i].slot_id);
        free(idx->slots[i].target_id);
        free(idx->slots[i].playlist_id);
    }
    free(idx->slots);
    free(idx->targets);
    free(idx->lists);
    free(idx);
    return NULL;
}

static const struct itarget *target_find(const struct resolver_index *idx, bool is_device,
                                         const char *id)
{
    size_t lo = 0, hi = idx->n_targets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct itarget *t = &idx->targets[mid];
        int c = target_key_cmp(t->is_device, t->id, is_device, id);
        if (c == 0)
            return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- resolution ---------------------------------------------------------------------------- */

struct timeline {
    struct tz_segment segs[MAX_SEGS];
    size_t n;
};

/* The slot's occurrence starting on local day @day, as [*ret_a, *ret_b) in UTC. */
static void occurrence(const struct timeline *tl, const struct islot *s, int64_t day,
                       int64_t *ret_a, int64_t *ret_b)
{
    int64_t end_day = s->end <= s->start ? day + 1 : day;
    *ret_a = tz_segments_first_reach(tl->segs, tl->n, day * DAY + s->start * 60);
    *ret_b = tz_segments_first_reach(tl->segs, tl->n, end_day * DAY + s->end * 60);
}

static bool active_on(const struct islot *s, int64_t day)
{
    return day >= s->from_day && day <= s->to_day &&
           (s->mask & (1u << (tz_weekday_from_days(day) - 1)));
}

static int64_t floor_day(int64_t s)
{
    return s >= 0 ? s / DAY : -((-s + DAY - 1) / DAY);
}

struct winner {
    uint32_t rank; /* UINT32_MAX: none */
    int64_t day;
    int64_t end;
};

/* Best-ranked occurrence containing @now among @t's lists for days [lo, hi]. */
static void find_winner(const struct resolver_index *idx, const struct itarget *t,
                        const struct timeline *tl, int64_t lo, int64_t hi, int64_t now,
                        struct winner *w)
{
    if (!t)
        return;
    for (int64_t day = lo; day <= hi; day++) {
        int wd = tz_weekday_from_days(day) - 1;
        const uint32_t *list = idx->lists + t->first[wd];
        for (uint32_t k = 0; k < t->count[wd] && list[k] < w->rank; k++) {
            const struct islot *s = &idx->slots[list[k]];
            int64_t a, b;
            if (day < s->from_day || day > s->to_day)
                continue;
            occurrence(tl, s, day, &a, &b);
            if (a <= now && now < b) {
                *w = (struct winner){list[k], day, b};
                break;
            }
        }
    }
}

/* The earliest start after @now, before *best, of a non-empty occurrence ranked above @rank. */
static void first_better_start(const struct resolver_index *idx, const struct itarget *t,
                               const struct timeline *tl, int64_t lo, int64_t hi, int64_t now,
                               uint32_t rank, int64_t *best)
{
    if (!t)
        return;
    for (int64_t day = lo; day <= hi; day++) {
        int wd = tz_weekday_from_days(day) - 1;
        const uint32_t *list = idx->lists + t->first[wd];
        for (uint32_t k = 0; k < t->count[wd] && list[k] < rank; k++) {
            const struct islot *s = &idx->slots[list[k]];
            int64_t a, b;
            if (day < s->from_day || day > s->to_day)
                continue;
            occurrence(tl, s, day, &a, &b);
            if (a > now && a < *best && b > a)
                *best = a;
        }
    }
}

/*
 * The end of the winner's run of back-to-back occurrences (a daily whole-day slot is one run).
 * Days whose occurrence is empty (inside a gap, like Apia's lost 2011-12-30) or not in the mask
 * are stepped over: the next non-empty occurrence may still start exactly where this one ends.
 */
static int64_t run_end(const struct timeline *tl, const struct islot *s, const struct winner *w,
                       int64_t horizon)
{
    int64_t end = w->end;
    for (int64_t day = w->day + 1, last = w->day + 3; end < horizon && day <= last; day++) {
        int64_t a, b;
        if (!active_on(s, day))
            continue;
        occurrence(tl, s, day, &a, &b);
        if (b <= a)
            continue;
        if (a != end)
            break;
        end = b;
        last = day + 2;
    }
    return end;
}

int resolver_resolve(const struct resolver_index *idx, const struct resolver_input *in,
                     struct resolver_result *ret)
{
    if (!idx || !in || !in->device_id || in->now_utc < -RESOLVER_NOW_LIMIT ||
        in->now_utc > RESOLVER_NOW_LIMIT)
        return -EINVAL;
    const struct tz *zone = in->device_tz   ? in->device_tz
                            : in->venue_tz  ? in->venue_tz
                            : in->tenant_tz ? in->tenant_tz
                                            : tz_utc();
    int64_t now = in->now_utc;
    int64_t horizon = now + RESOLVER_MAX_VALIDITY_S;

    struct timeline tl;
    tl.n = tz_segments(zone, now - 2 * DAY, horizon + 2 * DAY, tl.segs, MAX_SEGS);
    if (tl.n > MAX_SEGS)
        return -ERANGE;
    int32_t min_off = tl.segs[0].offset, max_off = tl.segs[0].offset;
    for (size_t i = 1; i < tl.n; i++) {
        min_off = MIN(min_off, tl.segs[i].offset);
        max_off = MAX(max_off, tl.segs[i].offset);
    }
    /* an occurrence that contains now started at most a day before the earliest local date
     * now can have; one that starts by the horizon starts by the latest local date then */
    int64_t lo = floor_day(now + min_off) - 1;
    int64_t hi_now = floor_day(now + max_off);
    int64_t hi = floor_day(horizon + max_off);

    const struct itarget *dev = target_find(idx, true, in->device_id);
    const struct itarget *grp = in->group_id ? target_find(idx, false, in->group_id) : NULL;

    struct winner w = {UINT32_MAX, 0, 0};
    find_winner(idx, dev, &tl, lo, hi_now, now, &w);
    find_winner(idx, grp, &tl, lo, hi_now, now, &w);

    int64_t valid_to = horizon;
    if (w.rank != UINT32_MAX)
        valid_to = MIN(valid_to, run_end(&tl, &idx->slots[w.rank], &w, horizon));
    first_better_start(idx, dev, &tl, lo, hi, now, w.rank, &valid_to);
    first_better_start(idx, grp, &tl, lo, hi, now, w.rank, &valid_to);

    struct resolver_result r = {.valid_to_utc = valid_to};
    if (w.rank != UINT32_MAX) {
        const struct islot *s = &idx->slots[w.rank];
        r.playlist_id = s->playlist_id;
        r.playlist_version = s->playlist_version;
        r.reason = RESOLVER_REASON_SLOT;
        r.slot_id = s->slot_id;
    } else if (in->venue_fallback.playlist_id) {
        r.playlist_id = in->venue_fallback.playlist_id;
        r.playlist_version = in->venue_fallback.version;
        r.reason = RESOLVER_REASON_VENUE_FALLBACK;
    } else if (in->tenant_default.playlist_id) {
        r.playlist_id = in->tenant_default.playlist_id;
        r.playlist_version = in->tenant_default.version;
        r.reason = RESOLVER_REASON_TENANT_DEFAULT;
    } else {
        r.reason = RESOLVER_REASON_NONE;
    }
    /* poll when the outcome expires, but never faster than every 5 s nor slower than 60 s */
    int64_t left = valid_to - now;
    r.next_check_seconds = (int)(left < 5 ? 5 : left > 60 ? 60 : left);
    *ret = r;
    return 0;
}
