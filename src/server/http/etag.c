/* SPDX-License-Identifier: MIT */
/*
 * etag.c — strong ETags and the conditional-request rules of RFC 9110 §13 that marquee uses:
 * If-None-Match (weak comparison, GET → 304) and If-Match (strong comparison, required on
 * draft mutations → 428 / 412 with currentEtag, spec §27.1).
 */
#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "http/internal.h"
#include "macro.h"

void http_etag_of(const void *data, size_t len, char out[HTTP_ETAG_LEN])
{
    char hex[HASH_SHA256_HEX_LEN];
    hash_sha256_hex(data, len, hex);
    snprintf(out, HTTP_ETAG_LEN, "\"%.32s\"", hex); /* 128 bits are plenty for a validator */
}

void http_etag_version(const char *id, int64_t version, char out[HTTP_ETAG_LEN])
{
    snprintf(out, HTTP_ETAG_LEN, "\"v%lld-%.8s\"", (long long)version, id ? id : "");
}

/* Compares one entity-tag from a list with @etag. Weak comparison ignores W/ on both. */
static bool tag_equal(const char *t, size_t len, const char *etag, bool weak)
{
    bool t_weak = len >= 2 && t[0] == 'W' && t[1] == '/';
    bool e_weak = strncmp(etag, "W/", 2) == 0;
    if (!weak && (t_weak || e_weak))
        return false;
    if (t_weak) {
        t += 2;
        len -= 2;
    }
    if (e_weak)
        etag += 2;
    return strlen(etag) == len && memcmp(t, etag, len) == 0;
}

bool http_etag_list_matches(const char *header, const char *etag, bool weak)
{
    if (!header || !etag)
        return false;
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        if (*p == '*')
            return true;
        const char *start = p;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return false; /* malformed list: matches nothing */
        const char *close = strchr(p + 1, '"');
        if (!close)
            return false;
        p = close + 1;
        if (tag_equal(start, (size_t)(p - start), etag, weak))
            return true;
    }
    return false;
}

bool http_not_modified(struct http_request *req, const char *etag, size_t length)
{
    http_reply_header(req, "ETag", etag);
    const char *inm = http_req_header(req, "If-None-Match");
    if (inm && http_etag_list_matches(inm, etag, true)) {
        http_reply_not_modified(req, length);
        return true;
    }
    return false;
}

#define JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))

/* The bytes the replies below send for @body (malloc'ed, *ret_len of them). */
static char *json_text(const json_t *body, size_t *ret_len)
{
    size_t n = json_dumpb(body, NULL, 0, JSON_FLAGS);
    char *text = xmalloc(n + 1);
    json_dumpb(body, text, n, JSON_FLAGS);
    text[n] = '\0';
    *ret_len = n;
    return text;
}

void http_etag_of_json(const json_t *body, char etag[HTTP_ETAG_LEN])
{
    size_t n;
    _cleanup_free_ char *text = json_text(body, &n);
    http_etag_of(text, n, etag);
}

/* @status with @body (stolen) under @etag (NULL: the digest of its bytes); a GET or HEAD whose
 * If-None-Match has the tag gets 304, any other method the tag in its ETag header. */
static int reply_tagged(struct http_request *req, unsigned status, const char *etag, json_t *body)
{
    size_t n;
    char *text = json_text(body, &n);
    json_decref(body);
    char own[HTTP_ETAG_LEN];
    if (!etag) {
        http_etag_of(text, n, own);
        etag = own;
    }
    int r = 0;
    /* a 304 says the length of the 200 it stands for, so the body is made either way */
    if (http_req_method(req) & (HTTP_GET | HTTP_HEAD)) {
        if (!http_not_modified(req, etag, n))
            r = http_reply_data(req, status, "application/json", text, n);
    } else {
        http_reply_header(req, "ETag", etag);
        r = http_reply_data(req, status, "application/json", text, n);
    }
    free(text);
    return r;
}

int http_reply_json_tagged(struct http_request *req, const char *etag, json_t *body)
{
    return reply_tagged(req, 200, etag, body);
}

int http_reply_json_etag(struct http_request *req, json_t *body)
{
    return reply_tagged(req, 200, NULL, body);
}

int http_reply_json_etag_status(struct http_request *req, unsigned status, json_t *body)
{
    return reply_tagged(req, status, NULL, body);
}

int http_require_if_match(struct http_request *req, const char *current)
{
    const char *im = http_req_header(req, "If-Match");
    if (!im)
        return http_reply_problem(req, 428, "PRECONDITION_REQUIRED",
                                  "This change needs an If-Match header with the ETag you loaded.",
                                  NULL);
    if (!http_etag_list_matches(im, current, false)) {
        http_reply_header(req, "ETag", current);
        return http_reply_problem(req, 412, "PRECONDITION_FAILED",
                                  "Resource has changed since it was loaded.",
                                  json_pack("{s:s}", "currentEtag", current));
    }
    return 0;
}
