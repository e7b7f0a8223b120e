/* SPDX-License-Identifier: MIT */
/* clock.c — wall clock with a test override; monotonic clock for durations. */
#include "clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t fake_ms;
static _Atomic int64_t offset_ms;

int64_t clock_now_ms(void)
{
    int64_t f = atomic_load_explicit(&fake_ms, memory_order_relaxed);
    if (f)
        return f;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
           atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void clock_mono_deadline(int64_t ms, struct timespec *ret)
{
    clock_gettime(CLOCK_MONOTONIC, ret);
    int64_t ns = ret->tv_nsec + (ms > 0 ? ms : 0) % 1000 * 1000000;
    ret->tv_sec += (ms > 0 ? ms : 0) / 1000 + ns / 1000000000;
    ret->tv_nsec = ns % 1000000000;
}

void clock_set_fake_ms(int64_t ms)
{
    atomic_store_explicit(&fake_ms, ms, memory_order_relaxed);
}

void clock_set_offset_ms(int64_t ms)
{
    atomic_store_explicit(&offset_ms, ms, memory_order_relaxed);
}
