/* SPDX-License-Identifier: MIT */
/* zones.h — what the resolver's unit tests share: a zone by name, a UTC instant from a date. */
#pragma once

#include <stdint.h>

#include "tz.h"

/** The zone @name from the system database; fails the test when it cannot be loaded. */
static inline const struct tz *zone(const char *name)
{
    const struct tz *z = NULL;
    assert_int_equal(tz_get(name, &z), 0);
    return z;
}

/** Seconds since the epoch of @y-@m-@d @hh:@mm UTC. */
static inline int64_t utc(int y, int m, int d, int hh, int mm)
{
    return tz_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
}
