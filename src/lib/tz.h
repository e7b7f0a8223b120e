/* SPDX-License-Identifier: MIT */
/*
 * tz.h — IANA time zones read from the system tz database (/usr/share/zoneinfo), without TZ,
 * tzset() or localtime(): an RFC 8536 TZif reader plus the POSIX TZ rule in the file's footer
 * for instants after the last stored transition.
 *
 * A loaded zone is immutable, so any number of threads may use it at once. tz_get() keeps a
 * process-wide cache of zones (never freed); tz_load() gives the caller a private copy.
 *
 * Wall-clock intent (spec §30.5): a local time inside a skipped interval (spring forward) maps
 * to the first valid instant after it, i.e. the transition itself; a local time that occurs
 * twice (fall back) maps to the earlier or the later instant as the caller asks.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

/** Local calendar fields of an instant in a zone. */
struct tz_local {
    int year;
    int month;          /* 1–12 */
    int day;            /* 1–31 */
    int weekday;        /* ISO: 1 = Monday … 7 = Sunday */
    int minute_of_day;  /* 0–1439 */
    int second;         /* 0–59 */
    int32_t utc_offset; /* seconds east of UTC in effect */
};

/** Which instant a repeated wall time (fall back) stands for. */
enum tz_fold {
    TZ_FOLD_EARLIER,
    TZ_FOLD_LATER,
};

/** One piece of a zone's timeline: @offset applies from @start_utc until the next piece. */
struct tz_segment {
    int64_t start_utc;
    int32_t offset;
};

/** True if @name is acceptable as an IANA name: 1–255 of [A-Za-z0-9_+-/], no leading '/',
 * no "..", no empty component. Says nothing about whether the zone exists. */
bool tz_name_valid(const char *name);

/**
 * Reads zone @name from the tz database into a new zone the caller owns (tz_free()).
 * 0, or -EINVAL (bad name or malformed file, or a file with leap seconds), -ENOENT (no such
 * zone), another -errno from reading. *ret untouched on failure. Blocking file I/O.
 */
int tz_load(const char *name, struct tz **ret);

/**
 * The process-wide shared zone @name, loaded on first use. The zone lives until the process
 * exits; never free it. Thread-safe: lookups take no lock, only inserting a newly read zone
 * does. Errors as tz_load(); *ret untouched on failure.
 */
int tz_get(const char *name, const struct tz **ret);

/** A built-in UTC zone that needs no file. Never fails. */
const struct tz *tz_utc(void);

/** Frees a zone from tz_load(); accepts NULL; returns NULL. Never pass a tz_get() zone. */
struct tz *tz_free(struct tz *z);

/** The name the zone was loaded under. */
const char *tz_name(const struct tz *z);

/** Seconds east of UTC in effect at @utc_s. Never fails. */
int32_t tz_offset_at(const struct tz *z, int64_t utc_s);

/** Local fields of @utc_s in @z (clamped to ±2^50 s, 35 million years). Never fails. */
void tz_local_from_utc(const struct tz *z, int64_t utc_s, struct tz_local *out);

/**
 * The instant at which the wall clock of @z shows y-m-d and @minute_of_day (0–1439):
 * in a gap, the first valid instant after it (the transition); in a repeated interval, the
 * earlier or later instant by @fold. 0, or -EINVAL for a date that is not a calendar date
 * or a minute out of range; *ret_utc untouched on failure.
 */
int tz_utc_from_local(const struct tz *z, int y, int m, int d, int minute_of_day, enum tz_fold fold,
                      int64_t *ret_utc);

/**
 * The first instant after @utc_s at which the zone's offset rules change (a stored transition
 * or one from the footer rule), or INT64_MAX if none. The offset may be equal on both sides.
 */
int64_t tz_next_transition(const struct tz *z, int64_t utc_s);

/**
 * The zone's timeline over [@from_utc, @to_utc] as segments of constant offset, the first
 * starting at @from_utc, adjacent segments always differing in offset. Fills at most @max
 * and returns how many there are (more than @max means the window was too small). Never fails.
 */
size_t tz_segments(const struct tz *z, int64_t from_utc, int64_t to_utc, struct tz_segment *segs,
                   size_t max);

/**
 * The first instant at which the wall clock reaches @local_s (seconds since 1970-01-01T00:00
 * local) in the timeline @segs (n ≥ 1): exactly tz_utc_from_local() with TZ_FOLD_EARLIER,
 * provided the segments start at least 26 h before the answer. Monotone in @local_s.
 */
int64_t tz_segments_first_reach(const struct tz_segment *segs, size_t n, int64_t local_s);

/** Days since 1970-01-01 of the proleptic Gregorian date y-m-d (not validated). */
int64_t tz_days_from_civil(int64_t y, int m, int d);

/** The date of @days since 1970-01-01. */
void tz_civil_from_days(int64_t days, int64_t *ret_y, int *ret_m, int *ret_d);

/** ISO weekday (1 = Monday … 7 = Sunday) of @days since 1970-01-01. */
int tz_weekday_from_days(int64_t days);

/** True if y-m-d is a real calendar date (year 1–9999). */
bool tz_date_valid(int y, int m, int d);
