/* SPDX-License-Identifier: MIT */
/*
 * bruteforce.h — the reference resolver: walks UTC minutes from now, reads the wall clock with
 * tz_offset_at() and matches every slot with the plain rules (resolver.h) against the highest
 * wall-clock time shown so far — the high-water mark, so a repeated hour does not run the clock
 * back (a repeated wall time happens once, at its first occurrence) and a skipped wall time is
 * passed as the clock jumps over it. Precedence as §31.4. O(minutes × slots): tests only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "resolver/resolver.h"
#include "tz.h"

/**
 * The winning slot at @now (an index into @s, or -1 for none) and the first whole UTC minute
 * after @now at which the winner differs, or now + 6 h. @group may be NULL. Never fails.
 */
void bruteforce_resolve(const struct resolver_slot *s, size_t n, const char *device,
                        const char *group, const struct tz *z, int64_t now, int *ret_winner,
                        int64_t *ret_valid_to);
