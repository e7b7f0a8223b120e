/* SPDX-License-Identifier: MIT */
/* hash.c — SHA-256 and HMAC-SHA256 as hex; see hash.h. SHA-256 is OpenSSL's libcrypto (it uses the
 * CPU's SHA extensions, several times libsodium's portable SHA-256 on media files); HMAC, on
 * short inputs only, is libsodium's. */
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <pthread.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

static void to_hex(const unsigned char *md, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SHA-256 fetched from OpenSSL's provider once: its one-shot SHA256() fetches it on every
 * call, which costs more than hashing a short string. Kept for the life of the process. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md)
        abort(); /* libcrypto without SHA-256: nothing marquee does can work */
}

void hash_sha256_hex(const void *data, size_t len, char out[HASH_SHA256_HEX_LEN])
{
    pthread_once(&sha256_once, sha256_fetch);
    unsigned char md[SHA256_DIGEST_LENGTH];
    if (EVP_Digest(data, len, md, NULL, sha256_md, NULL) != 1)
        abort(); /* only allocation fails here */
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

/* libsodium's HMAC-SHA256: OpenSSL 3's one-shot HMAC() fetches its algorithms on every call,
 * which costs more than signing a short URL (every item of every manifest resolution). */
void hash_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                          char out[HASH_SHA256_HEX_LEN])
{
    unsigned char md[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, data, len);
    crypto_auth_hmacsha256_final(&st, md);
    sodium_memzero(&st, sizeof(st));
    to_hex(md, sizeof(md), out);
}
