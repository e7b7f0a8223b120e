/* SPDX-License-Identifier: MIT */
/* range.c — byte ranges of RFC 9110 §14: the Range a client asks for, the Content-Range it
 * sends with a chunk of an upload (see http.h). Pure: no request, no I/O. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http/http.h"
#include "macro.h"

/* One "bytes=" range of a file of @size: 1 and the span, 0 to serve it whole (absent, not
 * bytes, several ranges), -ERANGE when unsatisfiable. */
int http_range_parse(const char *v, int64_t size, int64_t *ret_first, int64_t *ret_len)
{
    if (!v || strncmp(v, "bytes=", 6) != 0 || strchr(v, ','))
        return 0;
    v += 6;
    const char *dash = strchr(v, '-');
    if (!dash)
        return 0;
    char a[24], b[24];
    if (dash - v >= (long)sizeof(a) || strlen(dash + 1) >= sizeof(b))
        return 0;
    snprintf(a, sizeof(a), "%.*s", (int)(dash - v), v);
    snprintf(b, sizeof(b), "%s", dash + 1);
    int64_t first, last;
    if (!a[0]) { /* suffix: the last N bytes */
        if (parse_int64(b, 0, INT64_MAX, &last) < 0)
            return 0;
        if (last == 0 || size == 0)
            return -ERANGE;
        *ret_first = last >= size ? 0 : size - last;
        *ret_len = size - *ret_first;
        return 1;
    }
    if (parse_int64(a, 0, INT64_MAX, &first) < 0)
        return 0;
    if (!b[0])
        last = size - 1;
    else if (parse_int64(b, 0, INT64_MAX, &last) < 0 || last < first)
        return 0;
    if (first >= size)
        return -ERANGE;
    if (last >= size)
        last = size - 1;
    *ret_first = first;
    *ret_len = last - first + 1;
    return 1;
}

/* Content-Range: "bytes FIRST-LAST/TOTAL" (*ret_first ≥ 0) or "bytes STAR/TOTAL"
 * (*ret_first = -1). 0 or -EINVAL. */
int http_content_range_parse(const char *v, int64_t *ret_first, int64_t *ret_last,
                             int64_t *ret_total)
{
    if (strncmp(v, "bytes ", 6) != 0)
        return -EINVAL;
    v += 6;
    const char *slash = strchr(v, '/');
    if (!slash || parse_int64(slash + 1, 1, INT64_MAX, ret_total) < 0)
        return -EINVAL;
    if (slash - v == 1 && v[0] == '*') {
        *ret_first = *ret_last = -1;
        return 0;
    }
    const char *dash = memchr(v, '-', (size_t)(slash - v));
    if (!dash)
        return -EINVAL;
    char a[24], b[24];
    if (dash - v >= (long)sizeof(a) || slash - dash - 1 >= (long)sizeof(b))
        return -EINVAL;
    snprintf(a, sizeof(a), "%.*s", (int)(dash - v), v);
    snprintf(b, sizeof(b), "%.*s", (int)(slash - dash - 1), dash + 1);
    if (parse_int64(a, 0, INT64_MAX, ret_first) < 0 || parse_int64(b, 0, INT64_MAX, ret_last) < 0 ||
        *ret_last < *ret_first || *ret_last >= *ret_total)
        return -EINVAL;
    return 0;
}
