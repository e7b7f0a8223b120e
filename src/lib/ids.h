/* SPDX-License-Identifier: MIT */
/*
 * ids.h — identifiers and timestamps as marquee stores and prints them.
 * UUIDs are version 4 from libsodium's CSPRNG (call sodium_init() once at start-up);
 * timestamps are ISO 8601 UTC with milliseconds, `2026-11-22T09:30:00.000Z`, which sort as text.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN      37 /* 36 characters + NUL */
#define TIMESTAMP_STR_LEN 25 /* 24 characters + NUL */

/** Writes a random (v4) UUID in lower case. Never fails. */
void ids_uuid(char out[UUID_STR_LEN]);

/** True if @s is a canonical UUID (any version, either case). */
bool ids_is_uuid(const char *s);

/** Formats @ms since the epoch as ISO 8601 UTC with milliseconds. Never fails. */
void ids_timestamp(int64_t ms, char out[TIMESTAMP_STR_LEN]);

/** Parses the format above (also without milliseconds). 0 and *ret_ms, or -EINVAL. */
int ids_timestamp_parse(const char *s, int64_t *ret_ms);

/** Writes @n random bytes as lower-case hex (2n characters + NUL) into out. */
void ids_random_hex(char *out, size_t n);
