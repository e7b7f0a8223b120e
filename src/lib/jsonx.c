/* SPDX-License-Identifier: MIT */
/*
 * jsonx.c — bounded JSON parsing.
 * DESIGN: one linear pre-scan tracks string state and bracket depth, so a body like
 * "[[[[…" ten thousand deep is refused at the first bracket past the limit, with its position,
 * before jansson (whose own limit is 2048 and recursive) sees it. jansson then parses with
 * JSON_REJECT_DUPLICATES so `{"a":1,"a":2}` cannot smuggle a second value past validation.
 */
#include "jsonx.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

/* Length of the valid UTF-8 sequence at @s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = (s[0] & 0xe0) == 0xc0   ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 0 || (n == 2 && s[0] < 0xc2) || (n == 4 && s[0] > 0xf4))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
        return 0; /* overlong, or a UTF-16 surrogate */
    if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
        return 0;
    return n;
}

int jsonx_append_string(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int r = buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (r == 0 && *p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            r = buf_append(b, run, (size_t)(p - run));
        if (r < 0 || !*p)
            break;
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            r = buf_append(b, e, 2);
            p++;
        } else if (*p < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            r = buf_append(b, e, 6);
            p++;
        } else {
            size_t n = utf8_len(p);
            if (n) {
                r = buf_append(b, p, n);
                p += n;
            } else {
                r = buf_append(b, "\\ufffd", 6);
                p++;
            }
        }
    }
    return r == 0 ? buf_append(b, "\"", 1) : r;
}

bool jsonx_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len(p);
        if (!n)
            return false;
        p += n;
    }
    return true;
}

json_t *jsonx_string_lossy(const char *s)
{
    if (!s)
        s = "";
    if (jsonx_utf8_valid(s))
        return json_string(s);
    struct buf b;
    buf_init(&b, SIZE_MAX / 4);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len(p);
        if (n) {
            buf_append(&b, p, n);
            p += n;
        } else {
            buf_append(&b, "\xef\xbf\xbd", 3);
            p++;
        }
    }
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    buf_release(&b);
    return j;
}

static void set_err(struct jsonx_error *err, const char *data, size_t pos, const char *text)
{
    int line = 1, col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (data[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    err->position = pos;
    err->line = line;
    err->column = col;
    snprintf(err->text, sizeof(err->text), "%s", text);
}

int jsonx_parse(const char *data, size_t len, size_t max_len, unsigned max_depth, int any_top,
                json_t **ret, struct jsonx_error *err)
{
    struct jsonx_error scratch;
    if (!err)
        err = &scratch;
    if (len > max_len) {
        set_err(err, data, 0, "JSON document too large");
        err->position = max_len;
        return -E2BIG;
    }
    unsigned depth = 0;
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                char msg[96];
                snprintf(msg, sizeof(msg), "JSON nested deeper than %u levels", max_depth);
                set_err(err, data, i, msg);
                return -ELOOP;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    json_error_t je;
    size_t flags = JSON_REJECT_DUPLICATES | (any_top ? JSON_DECODE_ANY : 0);
    json_t *j = json_loadb(data, len, flags, &je);
    if (!j) {
        size_t pos = je.position > 0 ? (size_t)je.position : 0;
        if (pos > len)
            pos = len;
        set_err(err, data, pos, je.text);
        return -EINVAL;
    }
    *ret = j;
    return 0;
}
