/* SPDX-License-Identifier: MIT */
/* backoff.h — exponential backoff with full jitter, the one way marquee spaces its retries. */
#pragma once

#include <stdint.h>

#define BACKOFF_MAX_MS (INT64_C(1) << 31) /* 24.8 days: no ceiling above it */

/**
 * The wait before the next try after @attempt failed ones (≥ 1), in ms: uniform by @rnd (a
 * uniformly random 32-bit number) in [0, min(cap, base · 2^(attempt − 1), BACKOFF_MAX_MS)].
 * Pure. 0 for @attempt 0 or a base or cap ≤ 0.
 */
int64_t backoff_full_jitter_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, uint32_t rnd);
