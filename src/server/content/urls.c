/* SPDX-License-Identifier: MIT */
/*
 * urls.c — signed, expiring URLs of the object store and the media origin (spec §32.3).
 *
 * A signature is HMAC-SHA256(key, "<class>\n<path>\n<expires>") in hex, carried with the
 * expiry (Unix seconds) in the query: `?expires=…&signature=…`. The class says what the URL
 * is for (GET of media, PUT of an upload), so one kind can never be used as the other; the
 * path is the raw request path, so nothing in it can be changed. Media URLs expire on the
 * hour after media_url_ttl_s: within that hour an asset keeps one URL, which a CDN, the
 * player's cache and the manifest ETag all depend on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "app.h"
#include "clock.h"
#include "content/content.h"
#include "macro.h"
#include "secretfile.h"

#define KEY_MIN_BYTES 32

static int key_decode(struct content *c, const char *text, size_t len)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
        len--;
    if (sodium_base642bin(c->key, sizeof(c->key), text, len, NULL, &c->key_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        c->key_len < KEY_MIN_BYTES)
        return -EINVAL;
    return 0;
}

int content_key_load(struct content *c, const char *spec, const char *data_dir,
                     const char **ret_problem)
{
    *ret_problem = "the media signing key must be base64url (no padding) of 32 to 64 bytes";
    if (spec && *spec)
        return key_decode(c, spec, strlen(spec));
    _cleanup_free_ char *path = xasprintf("%s/media-signing.key", data_dir);
    unsigned char secret[32];
    char initial[64], text[256];
    randombytes_buf(secret, sizeof(secret));
    sodium_bin2base64(initial, sizeof(initial) - 1, secret, sizeof(secret),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t len = strlen(initial); /* 43 characters and a newline */
    initial[len] = '\n';
    initial[len + 1] = '\0';
    sodium_memzero(secret, sizeof(secret));
    size_t n = 0;
    int r = secret_file_read(path, initial, text, sizeof(text), &n);
    sodium_memzero(initial, sizeof(initial));
    if (r == -EPERM)
        *ret_problem = "the media signing key file must not be readable by group or others";
    else if (r < 0 && r != -EFBIG)
        *ret_problem = "cannot read or create the media signing key file";
    if (r < 0)
        return r == -EPERM || r == -EFBIG ? -EINVAL : r;
    r = key_decode(c, text, n);
    sodium_memzero(text, sizeof(text));
    return r;
}

void content_sign(const struct content *c, const char *cls, const char *path, int64_t expires,
                  char out[HASH_SHA256_HEX_LEN])
{
    _cleanup_free_ char *msg = xasprintf("%s\n%s\n%lld", cls, path, (long long)expires);
    hash_hmac_sha256_hex(c->key, c->key_len, msg, strlen(msg), out);
}

int content_verify(struct http_request *req, const struct content *c, const char *cls)
{
    const char *exp_s = http_req_query(req, "expires");
    const char *sig = http_req_query(req, "signature");
    int64_t expires;
    if (!exp_s || !sig || parse_int64(exp_s, 0, INT64_MAX / 1000, &expires) < 0 ||
        strlen(sig) != HASH_SHA256_HEX_LEN - 1)
        return http_reply_problem(req, 403, "SIGNATURE_INVALID",
                                  "This URL is not signed, or its signature is malformed.", NULL);
    char want[HASH_SHA256_HEX_LEN];
    content_sign(c, cls, http_req_path(req), expires, want);
    /* constant time: a byte-by-byte answer would leak the signature one prefix at a time */
    if (sodium_memcmp(want, sig, HASH_SHA256_HEX_LEN - 1) != 0)
        return http_reply_problem(req, 403, "SIGNATURE_INVALID",
                                  "The signature does not match this URL.", NULL);
    if (expires * 1000 <= clock_now_ms())
        return http_reply_problem(req, 403, "SIGNATURE_EXPIRED",
                                  "This URL has expired; ask the API for a new one.", NULL);
    return 0;
}

/* A base URL without its trailing slashes (NULL → the server's public URL). */
static const char *base_url(const struct content *c, bool media, size_t *ret_len)
{
    const char *b = media && c->app->cfg.media_public_url && *c->app->cfg.media_public_url
                        ? c->app->cfg.media_public_url
                        : http_server_public_url(c->app->http);
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/')
        n--;
    *ret_len = n;
    return b;
}

char *content_media_url(const struct content *c, const char *sha, const char *ext,
                        int64_t *ret_expires)
{
    int64_t now_s = clock_now_ms() / 1000;
    int64_t expires = (now_s + c->app->cfg.media_url_ttl_s + 3599) / 3600 * 3600;
    _cleanup_free_ char *path = xasprintf("/media/%s.%s", sha, ext);
    char sig[HASH_SHA256_HEX_LEN];
    content_sign(c, SIGN_MEDIA, path, expires, sig);
    size_t n;
    const char *base = base_url(c, true, &n);
    if (ret_expires)
        *ret_expires = expires;
    return xasprintf("%.*s%s?expires=%lld&signature=%s", (int)n, base, path, (long long)expires,
                     sig);
}

char *content_upload_url(const struct content *c, const char *upload_id, int64_t expires)
{
    _cleanup_free_ char *path = xasprintf("/store/uploads/%s", upload_id);
    char sig[HASH_SHA256_HEX_LEN];
    content_sign(c, SIGN_UPLOAD, path, expires, sig);
    size_t n;
    const char *base = base_url(c, false, &n);
    return xasprintf("%.*s%s?expires=%lld&signature=%s", (int)n, base, path, (long long)expires,
                     sig);
}

/* The three media types marquee serves, and the extension their URLs carry. */
static const struct {
    const char *ext, *type;
} media_types[] = {
    {"jpg", "image/jpeg"},
    {"png", "image/png"},
    {"mp4", "video/mp4"},
};

const char *content_ext_of(const char *mime)
{
    for (size_t i = 0; mime && i < ARRAY_SIZE(media_types); i++)
        if (!strcmp(mime, media_types[i].type))
            return media_types[i].ext;
    return NULL;
}

const char *content_type_of_ext(const char *ext)
{
    for (size_t i = 0; ext && i < ARRAY_SIZE(media_types); i++)
        if (!strcmp(ext, media_types[i].ext))
            return media_types[i].type;
    return NULL;
}
