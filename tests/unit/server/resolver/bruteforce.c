/* SPDX-License-Identifier: MIT */
/*
 * bruteforce.c — a deliberately naive schedule resolver, the reference for the resolver's
 * property test and benchmark (see bruteforce.h). It shares nothing with resolver.c but the
 * input structs and tz_offset_at(): every slot is matched with the plain wall-clock rules,
 * minute by minute.
 */
#include "bruteforce.h"

#include <stdbool.h>
#include <string.h>

#include "macro.h"

#define H 3600

static int64_t bf_day(const struct resolver_date *d, int64_t open)
{
    return d->year ? tz_days_from_civil(d->year, d->month, d->day) : open;
}

static bool bf_on(const struct resolver_slot *s, int64_t day)
{
    int wd = tz_weekday_from_days(day); /* 1 = Monday */
    return s->enabled && (s->days_mask >> (wd - 1)) & 1 &&
           day >= bf_day(&s->valid_from, INT64_MIN) && day <= bf_day(&s->valid_to, INT64_MAX);
}

static bool bf_matches(const struct resolver_slot *s, int64_t day, int minute)
{
    if (s->start_minutes < s->end_minutes)
        return bf_on(s, day) && minute >= s->start_minutes && minute < s->end_minutes;
    return (bf_on(s, day) && minute >= s->start_minutes) ||
           (bf_on(s, day - 1) && minute < s->end_minutes);
}

/* a beats b */
static bool bf_beats(const struct resolver_slot *a, const struct resolver_slot *b)
{
    bool ad = a->target_type == RESOLVER_TARGET_DEVICE,
         bd = b->target_type == RESOLVER_TARGET_DEVICE;
    if (ad != bd)
        return ad;
    if (a->priority != b->priority)
        return a->priority > b->priority;
    if (a->updated_at_ms != b->updated_at_ms)
        return a->updated_at_ms > b->updated_at_ms;
    return strcmp(a->slot_id, b->slot_id) < 0;
}

/* The winning slot (index) at wall-clock local seconds @wall, or -1. */
static int bf_winner(const struct resolver_slot *s, size_t n, const char *device, const char *group,
                     int64_t wall)
{
    int64_t day = wall >= 0 ? wall / 86400 : -((-wall + 86399) / 86400);
    int minute = (int)((wall - day * 86400) / 60);
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        bool mine = s[i].target_type == RESOLVER_TARGET_DEVICE
                        ? strcmp(s[i].target_id, device) == 0
                        : group && strcmp(s[i].target_id, group) == 0;
        if (mine && bf_matches(&s[i], day, minute) && (best < 0 || bf_beats(&s[i], &s[best])))
            best = (int)i;
    }
    return best;
}

void bruteforce_resolve(const struct resolver_slot *s, size_t n, const char *device,
                        const char *group, const struct tz *z, int64_t now, int *ret_winner,
                        int64_t *ret_valid_to)
{
    int64_t high = INT64_MIN; /* the latest wall-clock time shown so far */
    for (int64_t t = (now - 26 * H) / 60 * 60; t < now; t += 60)
        high = MAX(high, t + tz_offset_at(z, t));
    high = MAX(high, now + tz_offset_at(z, now));
    int w0 = bf_winner(s, n, device, group, high);
    *ret_winner = w0;
    *ret_valid_to = now + 6 * H;
    for (int64_t t = (now / 60 + 1) * 60; t <= now + 6 * H; t += 60) {
        high = MAX(high, t + tz_offset_at(z, t));
        if (bf_winner(s, n, device, group, high) != w0) {
            *ret_valid_to = t;
            return;
        }
    }
}
