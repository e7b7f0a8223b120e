/* SPDX-License-Identifier: MIT */
/* backoff.c — exponential backoff with full jitter (see backoff.h). */
#include "backoff.h"

#include "macro.h"

int64_t backoff_full_jitter_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, uint32_t rnd)
{
    if (attempt == 0 || base_ms <= 0 || cap_ms <= 0)
        return 0;
    int64_t ceiling = MIN(MIN(base_ms, cap_ms), BACKOFF_MAX_MS);
    for (unsigned i = 1; i < attempt && ceiling < cap_ms && ceiling < BACKOFF_MAX_MS; i++)
        ceiling = MIN(MIN(ceiling * 2, cap_ms), BACKOFF_MAX_MS);
    /* ceiling ≤ 2^31 and rnd < 2^32: the product fits in 64 bits */
    return (int64_t)(((uint64_t)ceiling * rnd) / UINT32_MAX);
}
