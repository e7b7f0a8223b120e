/* SPDX-License-Identifier: MIT */
/* hash.c — SHA-256 hex; see hash.h. */
#include "hash.h"

#include <sodium.h>

void hash_sha256_hex(const void *data, size_t len, char out[HASH_SHA256_HEX_LEN])
{
    unsigned char md[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(md, data, len);
    sodium_bin2hex(out, HASH_SHA256_HEX_LEN, md, sizeof(md));
}
