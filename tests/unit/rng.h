/* SPDX-License-Identifier: MIT */
/*
 * rng.h — the property tests' random numbers: xorshift64, reproducible from PROPERTY_SEED
 * (each test defines its default before including this; -DPROPERTY_SEED=… runs another seed).
 * Included where a test's property section begins, after that definition.
 */
#pragma once

#include <stdint.h>

#ifndef PROPERTY_SEED
#error "define PROPERTY_SEED before including rng.h"
#endif

static uint64_t rng_state = PROPERTY_SEED;

/** A number in [0, n), n > 0. */
static inline uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}
