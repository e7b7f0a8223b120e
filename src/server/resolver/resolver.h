/* SPDX-License-Identifier: MIT */
/*
 * resolver.h — which playlist a screen plays now, and until when (spec §7, §30, §31).
 *
 * Pure: no clock, no I/O, no allocation while resolving. A venue's published slots are turned
 * once into an immutable index (per venue and published version) that any number of threads
 * may resolve against at the same time.
 *
 * Meaning of a slot (docs/publishing.md "Schedules", §30.4, §30.5): on each local date D whose
 * weekday is in the mask and that lies within the (inclusive) date bounds, the slot occupies the
 * wall-clock window from D at start to D at end, or to D+1 at end when end ≤ start (a wrap;
 * start == end is 24 hours from start). The window runs in UTC from the first instant the wall
 * clock reaches its start to the first instant it reaches its end: a wall time inside a skipped
 * hour happens at the first valid instant after it, and a repeated wall time happens once, at
 * its first occurrence — so nothing flips back while an hour repeats. Disabled slots never
 * match.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tz.h"

/** The longest validity a resolution promises (§31.6). */
#define RESOLVER_MAX_VALIDITY_S (6 * 3600)

enum resolver_target {
    RESOLVER_TARGET_DEVICE,
    RESOLVER_TARGET_GROUP,
};

/** A local calendar date; year 0 means "none" (an open bound). */
struct resolver_date {
    int year, month, day;
};

/** One published slot (schedule_published_slots). Strings are copied by the index. */
struct resolver_slot {
    const char *slot_id;
    enum resolver_target target_type;
    const char *target_id; /* device id or group id */
    const char *playlist_id;
    int64_t playlist_version; /* the playlist's published version */
    unsigned days_mask;       /* 1–127, bit 0 = Monday … bit 6 = Sunday */
    int start_minutes;        /* 0–1439, included */
    int end_minutes;          /* 0–1439, excluded; ≤ start wraps; == start is 24 h */
    int priority;             /* higher wins */
    struct resolver_date valid_from, valid_to; /* inclusive local dates, or year 0 */
    bool enabled;
    int64_t updated_at_ms; /* updatedAtUtc in ms since the epoch (ids_timestamp_parse) */
};

/** A playlist reference; playlist_id NULL means none. */
struct resolver_playlist {
    const char *playlist_id;
    int64_t version;
};

struct resolver_input {
    int64_t now_utc; /* seconds since the epoch */
    const char *device_id;
    const char *group_id;       /* NULL: the device is in no group */
    const struct tz *device_tz; /* NULL: none of its own */
    const struct tz *venue_tz;  /* NULL: the tenant's */
    const struct tz *tenant_tz; /* NULL: UTC (the schema's default) */
    struct resolver_playlist venue_fallback;
    struct resolver_playlist tenant_default;
};

enum resolver_reason {
    RESOLVER_REASON_SLOT,
    RESOLVER_REASON_VENUE_FALLBACK,
    RESOLVER_REASON_TENANT_DEFAULT,
    RESOLVER_REASON_NONE,
};

/**
 * The outcome. Strings point into the index (slot results) or into the input (fallbacks) and
 * live as long as those do.
 */
struct resolver_result {
    const char *playlist_id; /* NULL: play nothing (playlist: null) */
    int64_t playlist_version;
    enum resolver_reason reason;
    const char *slot_id; /* the winning slot for RESOLVER_REASON_SLOT, else NULL */
    /* The first instant after now at which the outcome (playlist and winning slot) changes,
     * or now + RESOLVER_MAX_VALIDITY_S, whichever is earlier. */
    int64_t valid_to_utc;
    /* Poll interval: seconds until valid_to_utc, clamped to 5…60. */
    int next_check_seconds;
};

struct resolver_index;

/**
 * Builds the index of a venue's published slots (any order; the result does not depend on
 * it). Fails with -EINVAL, leaving *ret untouched, when a slot is malformed (NULL id, mask
 * outside 1–127, minutes outside 0–1439, a bound that is not a date, from after to) or two
 * slots share a slot id. Allocates; call once per (venue, published version).
 */
int resolver_index_build(const struct resolver_slot *slots, size_t n, struct resolver_index **ret);

/** Frees an index; accepts NULL; returns NULL. */
struct resolver_index *resolver_index_free(struct resolver_index *idx);

/** The name of a reason, as shown to operators: "SLOT", "VENUE_FALLBACK", … */
const char *resolver_reason_name(enum resolver_reason reason);

/**
 * Resolves @in against @idx into *ret. The zone is the device's, else the venue's, else the
 * tenant's, else UTC (§30.2). Touches only the slots of this device and of its group on the
 * local days around now (§31.7); no allocation, no lock. 0, or -EINVAL (NULL index, input or
 * device id; now beyond ±2^40 s), or -ERANGE (a zone changing offset more than 31 times in the
 * 4¼ days around now: not a real zone); *ret untouched on failure.
 */
int resolver_resolve(const struct resolver_index *idx, const struct resolver_input *in,
                     struct resolver_result *ret);

/** Parses "YYYY-MM-DD" (a real date) or NULL (none) into *ret. 0 or -EINVAL. */
int resolver_date_parse(const char *s, struct resolver_date *ret);
