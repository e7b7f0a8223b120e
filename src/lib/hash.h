/* SPDX-License-Identifier: MIT */
/*
 * hash.h — SHA-256 as lower-case hex, the one way marquee names bytes by their digest
 * (refresh-token hashes, ETags, long rate-limit keys). libsodium underneath. Never fails.
 */
#pragma once

#include <stddef.h>

#define HASH_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

/** Writes the SHA-256 of @len bytes at @data as 64 lower-case hex digits and a NUL. */
void hash_sha256_hex(const void *data, size_t len, char out[HASH_SHA256_HEX_LEN]);
