/* SPDX-License-Identifier: MIT */
/*
 * hash.h — SHA-256 and HMAC-SHA256 as lower-case hex, the one way marquee names bytes by their
 * digest (refresh-token hashes, ETags, long rate-limit keys, media objects, signed URLs).
 * OpenSSL's libcrypto underneath.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define HASH_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

/** Writes the SHA-256 of @len bytes at @data as 64 lower-case hex digits and a NUL. */
void hash_sha256_hex(const void *data, size_t len, char out[HASH_SHA256_HEX_LEN]);

/** The SHA-256 of everything in @fd from offset 0 (read with pread; the offset is untouched);
 *  its size in *@ret_size when not NULL. 0 or -errno. */
int hash_sha256_fd(int fd, char out[HASH_SHA256_HEX_LEN], uint64_t *ret_size);

/** HMAC-SHA256 of @len bytes at @data under @key, as hex. */
void hash_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                          char out[HASH_SHA256_HEX_LEN]);
