/* SPDX-License-Identifier: MIT */
/* hash.c — SHA-256 and HMAC-SHA256 as hex; see hash.h. OpenSSL's libcrypto underneath: it
 * uses the CPU's SHA extensions, several times libsodium's portable SHA-256 on media files. */
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

static void to_hex(const unsigned char *md, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void hash_sha256_hex(const void *data, size_t len, char out[HASH_SHA256_HEX_LEN])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    to_hex(md, sizeof(md), out);
}

int hash_sha256_fd(int fd, char out[HASH_SHA256_HEX_LEN], uint64_t *ret_size)
{
    enum { CHUNK = 1 << 20 };
    unsigned char *chunk = malloc(CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int r = 0;
    uint64_t total = 0;
    if (!chunk || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        r = -ENOMEM;
        goto out;
    }
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
        ssize_t n = pread(fd, chunk, CHUNK, (off_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, chunk, (size_t)n);
        total += (uint64_t)n;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    to_hex(md, sizeof(md), out);
    if (ret_size)
        *ret_size = total;
out:
    EVP_MD_CTX_free(ctx);
    free(chunk);
    return r;
}

void hash_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                          char out[HASH_SHA256_HEX_LEN])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned md_len = sizeof(md);
    HMAC(EVP_sha256(), key, (int)key_len, data, len, md, &md_len);
    to_hex(md, sizeof(md), out);
}
