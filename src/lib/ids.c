/* SPDX-License-Identifier: MIT */
/* ids.c — UUIDs, random hex and UTC timestamps; see ids.h. */
#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

static const char hexdigits[] = "0123456789abcdef";

void ids_random_hex(char *out, size_t n)
{
    unsigned char b[64];
    size_t o = 0;
    while (n > 0) {
        size_t k = n < sizeof(b) ? n : sizeof(b);
        randombytes_buf(b, k);
        for (size_t i = 0; i < k; i++) {
            out[o++] = hexdigits[b[i] >> 4];
            out[o++] = hexdigits[b[i] & 15];
        }
        n -= k;
    }
    out[o] = '\0';
}

void ids_uuid(char out[UUID_STR_LEN])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof(b));
    b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexdigits[b[i] >> 4];
        out[o++] = hexdigits[b[i] & 15];
    }
    out[o] = '\0';
}

bool ids_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

void ids_timestamp(int64_t ms, char out[TIMESTAMP_STR_LEN])
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int milli = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* years outside 0..9999 do not occur in marquee; a wide scratch buffer keeps the
     * compiler's truncation analysis (which cannot know that) quiet */
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
    memcpy(out, tmp, TIMESTAMP_STR_LEN - 1);
    out[TIMESTAMP_STR_LEN - 1] = '\0';
}

static int digits(const char *s, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

int ids_timestamp_parse(const char *s, int64_t *ret_ms)
{
    int y, mo, d, h, mi, se, ms = 0;
    size_t len = s ? strlen(s) : 0;
    if (len != 20 && len != 24)
        return -EINVAL;
    if (digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
        digits(s + 8, 2, &d) < 0 || s[10] != 'T' || digits(s + 11, 2, &h) < 0 || s[13] != ':' ||
        digits(s + 14, 2, &mi) < 0 || s[16] != ':' || digits(s + 17, 2, &se) < 0)
        return -EINVAL;
    if (len == 24) {
        if (s[19] != '.' || digits(s + 20, 3, &ms) < 0 || s[23] != 'Z')
            return -EINVAL;
    } else if (s[19] != 'Z') {
        return -EINVAL;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
        return -EINVAL;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return -EINVAL;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = se};
    time_t t = timegm(&tm);
    *ret_ms = (int64_t)t * 1000 + ms;
    return 0;
}
