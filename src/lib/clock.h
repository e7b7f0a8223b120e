/* SPDX-License-Identifier: MIT */
/*
 * clock.h — the one place marquee reads the wall clock, so tests can inject time.
 * Pure cores never call this: they take `now` as an argument. Thread-safe.
 */
#pragma once

#include <stdint.h>

/** Milliseconds since the Unix epoch, UTC (or the injected value). */
int64_t clock_now_ms(void);

/** Monotonic nanoseconds, for durations only. Never injected. */
int64_t clock_mono_ns(void);

/** The CLOCK_MONOTONIC instant @ms from now, for pthread_cond_timedwait() on a condition
 *  variable set to that clock. Never injected. */
struct timespec;
void clock_mono_deadline(int64_t ms, struct timespec *ret);

/** Tests only: make clock_now_ms() return @ms (0 restores the real clock). */
void clock_set_fake_ms(int64_t ms);

/** Tests only: make clock_now_ms() run @ms ahead of (or behind) the real clock; 0 restores it. */
void clock_set_offset_ms(int64_t ms);
