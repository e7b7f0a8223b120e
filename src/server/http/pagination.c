/* SPDX-License-Identifier: MIT */
/*
 * pagination.c — cursor pagination (§27.1): `?cursor=…&limit=n`, default 50, max 200.
 * DESIGN: keyset pagination. A cursor is the sort key of the last item returned (for example
 * createdAtUtc and id), joined with the unit separator and base64url-encoded with a version
 * prefix. It is opaque to clients, carries no tenant (the tenant comes from the token on every
 * request), and is bounded in size, so a forged cursor can at worst start a page elsewhere in
 * the caller's own data.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "http/internal.h"
#include "macro.h"

#define CURSOR_PREFIX   "c1"
#define CURSOR_SEP      '\x1f'
#define CURSOR_MAX_LEN  1024

char *http_cursor_encode(const char *const *keys, size_t n)
{
    struct buf raw;
    buf_init(&raw, SIZE_MAX / 4);
    buf_append_str(&raw, CURSOR_PREFIX);
    for (size_t i = 0; i < n; i++) {
        char sep = CURSOR_SEP;
        buf_append(&raw, &sep, 1);
        buf_append_str(&raw, keys[i] ? keys[i] : "");
    }
    size_t outlen = sodium_base64_encoded_len(raw.len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = xmalloc(outlen);
    sodium_bin2base64(out, outlen, (const unsigned char *)raw.data, raw.len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    buf_release(&raw);
    return out;
}

int http_cursor_decode(const char *cursor, size_t n, char **ret_keys)
{
    size_t clen = cursor ? strlen(cursor) : 0;
    if (clen == 0 || clen > CURSOR_MAX_LEN || n > HTTP_CURSOR_MAX_KEYS)
        return -EINVAL;
    unsigned char raw[CURSOR_MAX_LEN];
    size_t rlen = 0;
    if (sodium_base642bin(raw, sizeof(raw) - 1, cursor, clen, NULL, &rlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -EINVAL;
    raw[rlen] = '\0';
    if (memchr(raw, '\0', rlen) || rlen < 2 || memcmp(raw, CURSOR_PREFIX, 2) != 0)
        return -EINVAL;
    char *keys[HTTP_CURSOR_MAX_KEYS] = {0};
    size_t got = 0;
    const char *p = (const char *)raw + 2;
    while (*p == CURSOR_SEP) {
        p++;
        const char *end = strchr(p, CURSOR_SEP);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (got == n) {
            got++;
            break;
        }
        keys[got++] = xstrndup(p, len);
        p += len;
    }
    if (got != n || *p != '\0') {
        for (size_t i = 0; i < HTTP_CURSOR_MAX_KEYS; i++)
            free(keys[i]);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        ret_keys[i] = keys[i];
    return 0;
}

int http_page_parse(struct http_request *req, size_t n_keys, struct http_page *ret)
{
    struct http_page p = {.limit = HTTP_PAGE_DEFAULT};
    const char *limit = http_req_query(req, "limit");
    if (limit) {
        int64_t v;
        if (parse_int64(limit, 1, HTTP_PAGE_MAX, &v) < 0)
            return http_reply_problem(
                req, 400, "INVALID_LIMIT", "limit must be a whole number from 1 to 200.",
                json_pack("{s:[{s:s,s:s}]}", "errors", "field", "limit", "message",
                          "must be a whole number from 1 to 200"));
        p.limit = (unsigned)v;
    }
    const char *cursor = http_req_query(req, "cursor");
    if (cursor && *cursor) {
        if (http_cursor_decode(cursor, n_keys, p.after) < 0)
            return http_reply_problem(
                req, 400, "INVALID_CURSOR", "cursor is not one this server gave out.",
                json_pack("{s:[{s:s,s:s}]}", "errors", "field", "cursor", "message",
                          "not a valid cursor"));
        p.n_after = n_keys;
    }
    *ret = p;
    return 0;
}

void http_page_release(struct http_page *p)
{
    for (size_t i = 0; i < p->n_after; i++) {
        free(p->after[i]);
        p->after[i] = NULL;
    }
    p->n_after = 0;
}

json_t *http_page_body(json_t *items, const char *next_cursor)
{
    return json_pack("{s:o,s:s?}", "items", items, "nextCursor", next_cursor);
}
