/* SPDX-License-Identifier: MIT */
/* router.c — route table and matching; see router.h. */
#include "http/router.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jsonx.h"
#include "macro.h"

struct compiled {
    size_t n_segs;
    struct {
        const char *text; /* literal text (points into the pattern) */
        size_t len;
        bool param;
        char name[32]; /* parameter name, NUL-terminated */
    } segs[ROUTER_MAX_SEGMENTS];
};

struct router {
    struct router_entry *entries;
    struct compiled *compiled;
    size_t n, cap;
};

static const struct {
    enum http_method m;
    const char *name;
} methods[] = {
    {HTTP_GET, "GET"},       {HTTP_HEAD, "HEAD"},     {HTTP_POST, "POST"},
    {HTTP_PUT, "PUT"},       {HTTP_PATCH, "PATCH"},   {HTTP_DELETE, "DELETE"},
    {HTTP_OPTIONS, "OPTIONS"},
};

enum http_method router_method_parse(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
        if (s && strcmp(s, methods[i].name) == 0)
            return methods[i].m;
    return 0;
}

const char *router_method_name(enum http_method m)
{
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
        if (methods[i].m == m)
            return methods[i].name;
    return "?";
}

void router_allow_string(unsigned mask, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
        if (!(mask & methods[i].m))
            continue;
        int w = snprintf(out + o, n - o, "%s%s", o ? ", " : "", methods[i].name);
        if (w < 0 || (size_t)w >= n - o)
            break;
        o += (size_t)w;
    }
}

struct router *router_new(void)
{
    return xcalloc(1, sizeof(struct router));
}

struct router *router_free(struct router *r)
{
    if (!r)
        return NULL;
    free(r->entries);
    free(r->compiled);
    free(r);
    return NULL;
}

static bool seg_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static int compile(const char *pattern, struct compiled *c)
{
    if (!pattern || pattern[0] != '/')
        return -EINVAL;
    memset(c, 0, sizeof(*c));
    if (pattern[1] == '\0')
        return 0; /* "/" has no segments */
    const char *p = pattern + 1;
    size_t n_params = 0;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || c->n_segs == ROUTER_MAX_SEGMENTS)
            return -EINVAL;
        bool param = p[0] == '{';
        if (param) {
            if (len < 3 || len - 2 >= sizeof(c->segs[0].name) || p[len - 1] != '}' ||
                ++n_params > ROUTER_MAX_PARAMS)
                return -EINVAL;
            for (size_t i = 1; i + 1 < len; i++)
                if (!seg_char_ok(p[i]))
                    return -EINVAL;
            memcpy(c->segs[c->n_segs].name, p + 1, len - 2);
            c->segs[c->n_segs].name[len - 2] = '\0';
            c->segs[c->n_segs].text = p + 1;
            c->segs[c->n_segs].len = len - 2;
        } else {
            for (size_t i = 0; i < len; i++)
                if (!seg_char_ok(p[i]))
                    return -EINVAL;
            c->segs[c->n_segs].text = p;
            c->segs[c->n_segs].len = len;
        }
        c->segs[c->n_segs].param = param;
        c->n_segs++;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static bool same_shape(const struct compiled *a, const struct compiled *b)
{
    if (a->n_segs != b->n_segs)
        return false;
    for (size_t i = 0; i < a->n_segs; i++) {
        if (a->segs[i].param != b->segs[i].param)
            return false;
        if (!a->segs[i].param &&
            (a->segs[i].len != b->segs[i].len ||
             memcmp(a->segs[i].text, b->segs[i].text, a->segs[i].len) != 0))
            return false;
    }
    return true;
}

int router_add(struct router *r, const struct http_route *routes, size_t n, void *userdata)
{
    for (size_t k = 0; k < n; k++) {
        struct compiled c;
        const struct http_route *rt = &routes[k];
        /* HEAD and OPTIONS are answered by the server from the GET route and the table. */
        if (compile(rt->pattern, &c) < 0 || !rt->handler ||
            rt->audience < HTTP_PUBLIC || rt->audience > HTTP_DEVICE ||
            !strcmp(router_method_name(rt->method), "?") || rt->method == HTTP_HEAD ||
            rt->method == HTTP_OPTIONS)
            return -EINVAL;
        for (size_t i = 0; i < r->n; i++)
            if (r->entries[i].route.method == rt->method && same_shape(&r->compiled[i], &c))
                return -EEXIST;
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 32;
            r->entries = xrealloc(r->entries, r->cap * sizeof(*r->entries));
            r->compiled = xrealloc(r->compiled, r->cap * sizeof(*r->compiled));
        }
        r->entries[r->n] = (struct router_entry){.route = *rt, .userdata = userdata, .index = r->n};
        r->compiled[r->n] = c;
        r->n++;
    }
    return 0;
}

size_t router_count(const struct router *r)
{
    return r->n;
}

const struct router_entry *router_entry_at(const struct router *r, size_t i)
{
    return i < r->n ? &r->entries[i] : NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes one segment. A decoded NUL or '/' is refused: a parameter can never carry
 * a path separator or end a C string early. */
static int decode_segment(const char *s, size_t len, char **ret)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len) {
                free(out);
                return -EBADMSG;
            }
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0) || (h == 2 && l == 15)) {
                free(out);
                return -EBADMSG;
            }
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    /* parameters are ids and names that end up in JSON: bytes that are not UTF-8 are refused */
    if (!jsonx_utf8_valid(out)) {
        free(out);
        return -EBADMSG;
    }
    *ret = out;
    return 0;
}

int router_match(const struct router *r, enum http_method method, const char *path,
                 struct router_match *m, unsigned *ret_allow)
{
    struct {
        const char *p;
        size_t len;
    } segs[ROUTER_MAX_SEGMENTS];
    size_t n_segs = 0;

    if (!path || path[0] != '/')
        return -ENOENT;
    if (strlen(path) > 2048)
        return -EMSGSIZE;
    if (path[1] != '\0') {
        const char *p = path + 1;
        for (;;) {
            const char *end = strchr(p, '/');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len == 0) /* "//" or a trailing "/": no route has an empty segment */
                return -ENOENT;
            if (n_segs == ROUTER_MAX_SEGMENTS)
                return -EMSGSIZE;
            segs[n_segs].p = p;
            segs[n_segs].len = len;
            n_segs++;
            if (!end)
                break;
            p = end + 1;
        }
    }

    enum http_method want = method == HTTP_HEAD ? HTTP_GET : method;
    unsigned allow = 0;
    const struct router_entry *found = NULL;
    size_t found_i = 0, found_literals = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct compiled *c = &r->compiled[i];
        if (c->n_segs != n_segs)
            continue;
        size_t k = 0;
        for (; k < n_segs; k++) {
            if (c->segs[k].param)
                continue;
            if (c->segs[k].len != segs[k].len || memcmp(c->segs[k].text, segs[k].p, segs[k].len))
                break;
        }
        if (k != n_segs)
            continue;
        allow |= r->entries[i].route.method;
        if (r->entries[i].route.method != want)
            continue;
        /* The most specific pattern wins: /devices/pairing before /devices/{deviceId}. */
        size_t literals = 0;
        for (size_t j = 0; j < n_segs; j++)
            literals += !c->segs[j].param;
        if (!found || literals > found_literals) {
            found = &r->entries[i];
            found_i = i;
            found_literals = literals;
        }
    }
    if (!allow)
        return -ENOENT;
    if (!found || method == HTTP_OPTIONS) {
        if (allow & HTTP_GET)
            allow |= HTTP_HEAD;
        allow |= HTTP_OPTIONS;
        if (ret_allow)
            *ret_allow = allow;
        return -ENOTSUP;
    }

    struct router_match out = {.entry = found};
    const struct compiled *c = &r->compiled[found_i];
    for (size_t k = 0; k < n_segs; k++) {
        if (!c->segs[k].param)
            continue;
        int e = decode_segment(segs[k].p, segs[k].len, &out.values[out.n_params]);
        if (e < 0) {
            router_match_release(&out);
            return e;
        }
        out.names[out.n_params] = c->segs[k].name;
        out.n_params++;
    }
    *m = out;
    return 0;
}

void router_match_release(struct router_match *m)
{
    for (size_t i = 0; i < m->n_params; i++) {
        free(m->values[i]);
        m->values[i] = NULL;
    }
    m->n_params = 0;
}
