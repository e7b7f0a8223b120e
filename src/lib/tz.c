/* SPDX-License-Identifier: MIT */
/*
 * tz.c — time zones from TZif files (RFC 8536, tzfile(5)); see tz.h.
 *
 * Design:
 * - Only the version 2+ body (64-bit transition times) is used; a version 1 file is read from
 *   its 32-bit body. Files with leap-second records ("right/" zones) are refused: their
 *   timestamps are not POSIX time.
 * - Before the first transition, time type 0 applies (RFC 8536 §3.2). From the last transition
 *   on, the footer's POSIX TZ string applies when there is one; it is evaluated directly for the
 *   instant's year and its neighbours (rule times may be negative or beyond 24 h, so a year's
 *   changes can fall in the next or previous calendar year). At equal instants a change into
 *   DST wins over a change out of it, which makes "all year DST" strings (e.g. "EST5EDT,0/0,
 *   J365/25") behave as DST all year.
 * - Local → UTC goes through a short timeline of constant-offset segments around the wall
 *   time: the first instant the wall clock reaches a time is its earlier meaning (or, inside a
 *   gap, the transition); the later meaning is the last segment that shows it.
 * - The cache is a fixed table of buckets whose lists only ever grow at the head; readers load
 *   the head with acquire and walk immutable nodes, writers serialize on one mutex.
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

#define TZ_DIR           "/usr/share/zoneinfo"
#define TZ_NAME_MAX      255
#define TZ_FILE_MAX      (1 << 20)
#define TZ_MAX_TIMES     100000
#define TZ_MAX_TYPES     256
#define TZ_MAX_CHARS     4096
#define TZ_CACHE_BUCKETS 64
#define DAY              86400
#define TZ_LIMIT_S       (INT64_C(1) << 50)

struct tz_type {
    int32_t utoff;
    bool isdst;
};

/* One end of the DST period in a POSIX TZ rule: Jn, n or Mm.w.d, and a time of day. */
struct tz_rule_date {
    char kind; /* 'J', 'N' or 'M' */
    int n;     /* J: 1–365, N: 0–365 */
    int m, w, d;
    int32_t time; /* seconds, -167 h … 167 h */
};

struct tz_rule {
    int32_t std_off; /* seconds east */
    int32_t dst_off;
    bool has_dst;
    struct tz_rule_date start, end;
};

struct tz {
    char *name;
    size_t n_trans;
    int64_t *trans;
    uint8_t *trans_type;
    size_t n_types;
    struct tz_type *types;
    bool has_rule;
    struct tz_rule rule;
    struct tz *cache_next;
};

/* ---- calendar ------------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Counts in 400-year eras starting on March 1, so the leap day is the last day of a year. */
int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = floor_div(yy, 400);
    int64_t yoe = yy - era * 400;
    int64_t mp = m > 2 ? m - 3 : m + 9;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t days, int64_t *ret_y, int *ret_m, int *ret_d)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *ret_y = yoe + era * 400 + (m <= 2);
    *ret_m = m;
    *ret_d = d;
}

int tz_weekday_from_days(int64_t days)
{
    /* 1970-01-01 was a Thursday (4) */
    int64_t r = (days + 3) % 7;
    if (r < 0)
        r += 7;
    return (int)r + 1;
}

bool tz_date_valid(int y, int m, int d)
{
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= month_days(y, m);
}

/* ---- POSIX TZ rule (the TZif footer) ------------------------------------------------------- */

static bool parse_num(const char **p, int min, int max, int *ret)
{
    const char *s = *p;
    int v = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) {
        v = v * 10 + (*s - '0');
        s++;
        digits++;
    }
    if (digits == 0 || v < min || v > max)
        return false;
    *p = s;
    *ret = v;
    return true;
}

/* [+-]hh[:mm[:ss]] with hh up to @max_hours; seconds, sign applied. */
static bool parse_hms(const char **p, int max_hours, int32_t *ret)
{
    const char *s = *p;
    int sign = 1, h = 0, m = 0, sec = 0;
    if (*s == '+' || *s == '-') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    if (!parse_num(&s, 0, max_hours, &h))
        return false;
    if (*s == ':') {
        s++;
        if (!parse_num(&s, 0, 59, &m))
            return false;
        if (*s == ':') {
            s++;
            if (!parse_num(&s, 0, 59, &sec))
                return false;
        }
    }
    *p = s;
    *ret = sign * (h * 3600 + m * 60 + sec);
    return true;
}

static bool parse_abbr(const char **p)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '<') {
        s++;
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
               *s == '+' || *s == '-') {
            s++;
            n++;
        }
        if (*s != '>')
            return false;
        s++;
    } else {
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
            s++;
            n++;
        }
    }
    if (n < 3)
        return false;
    *p = s;
    return true;
}

static bool parse_rule_date(const char **p, struct tz_rule_date *rd)
{
    const char *s = *p;
    if (*s == 'J') {
        s++;
        rd->kind = 'J';
        if (!parse_num(&s, 1, 365, &rd->n))
            return false;
    } else if (*s == 'M') {
        s++;
        rd->kind = 'M';
        if (!parse_num(&s, 1, 12, &rd->m) || *s++ != '.' || !parse_num(&s, 1, 5, &rd->w) ||
            *s++ != '.' || !parse_num(&s, 0, 6, &rd->d))
            return false;
    } else {
        rd->kind = 'N';
        if (!parse_num(&s, 0, 365, &rd->n))
            return false;
    }
    rd->time = 2 * 3600;
    if (*s == '/') {
        s++;
        if (!parse_hms(&s, 167, &rd->time))
            return false;
    }
    *p = s;
    return true;
}

/* Parses a whole TZ string such as "GMT0BST,M3.5.0/1,M10.5.0" into @r. */
static bool parse_rule(const char *s, struct tz_rule *r)
{
    int32_t west;
    memset(r, 0, sizeof(*r));
    if (!parse_abbr(&s) || !parse_hms(&s, 167, &west))
        return false;
    r->std_off = -west;
    if (*s == '\0')
        return true;
    if (!parse_abbr(&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!parse_hms(&s, 167, &west))
            return false;
        r->dst_off = -west;
    }
    if (*s == '\0') {
        /* POSIX leaves the default to the implementation; glibc uses the US rules */
        r->start = (struct tz_rule_date){.kind = 'M', .m = 3, .w = 2, .d = 0, .time = 7200};
        r->end = (struct tz_rule_date){.kind = 'M', .m = 11, .w = 1, .d = 0, .time = 7200};
        return true;
    }
    if (*s++ != ',' || !parse_rule_date(&s, &r->start) || *s++ != ',' ||
        !parse_rule_date(&s, &r->end))
        return false;
    return *s == '\0';
}

/* The rule date in year @y as seconds since the epoch on the clock in effect before it. */
static int64_t rule_local(const struct tz_rule_date *rd, int64_t y)
{
    int64_t day;
    if (rd->kind == 'J') {
        day = tz_days_from_civil(y, 1, 1) + rd->n - 1 + (is_leap(y) && rd->n >= 60 ? 1 : 0);
    } else if (rd->kind == 'N') {
        day = tz_days_from_civil(y, 1, 1) + rd->n;
    } else {
        int64_t first = tz_days_from_civil(y, rd->m, 1);
        int wd0 = tz_weekday_from_days(first) % 7; /* 0 = Sunday */
        day = first + (rd->d - wd0 + 7) % 7 + 7 * (rd->w - 1);
        while (day >= first + month_days(y, rd->m))
            day -= 7;
    }
    return day * DAY + rd->time;
}

/* The rule's changes in years y-2 … y+2 (in UTC), ascending; DST start first at equal times. */
struct rule_change {
    int64_t at;
    bool to_dst;
};

static size_t rule_changes(const struct tz_rule *r, int64_t utc_s, struct rule_change out[10])
{
    int64_t y;
    int m, d;
    size_t n = 0;
    /* beyond ±2^50 s (35 million years) the year is that of the bound: no overflow */
    utc_s = MAX(MIN(utc_s, TZ_LIMIT_S), -TZ_LIMIT_S);
    tz_civil_from_days(floor_div(utc_s + r->std_off, DAY), &y, &m, &d);
    for (int64_t yy = y - 2; yy <= y + 2; yy++) {
        out[n++] = (struct rule_change){rule_local(&r->start, yy) - r->std_off, true};
        out[n++] = (struct rule_change){rule_local(&r->end, yy) - r->dst_off, false};
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort of ten */
        struct rule_change c = out[i];
        size_t j = i;
        while (j > 0 && (out[j - 1].at > c.at ||
                         (out[j - 1].at == c.at && !out[j - 1].to_dst && c.to_dst))) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = c;
    }
    return n;
}

static int32_t rule_offset_at(const struct tz_rule *r, int64_t utc_s)
{
    struct rule_change c[10];
    if (!r->has_dst)
        return r->std_off;
    size_t n = rule_changes(r, utc_s, c);
    bool dst = !c[0].to_dst;
    for (size_t i = 0; i < n && c[i].at <= utc_s; i++)
        dst = c[i].to_dst;
    return dst ? r->dst_off : r->std_off;
}

static int64_t rule_next_change(const struct tz_rule *r, int64_t utc_s)
{
    struct rule_change c[10];
    if (!r->has_dst)
        return INT64_MAX;
    size_t n = rule_changes(r, utc_s, c);
    for (size_t i = 0; i < n; i++)
        if (c[i].at > utc_s)
            return c[i].at;
    return INT64_MAX;
}

/* ---- TZif ---------------------------------------------------------------------------------- */

struct reader {
    const uint8_t *p;
    size_t left;
};

static bool rd_take(struct reader *r, size_t n, const uint8_t **ret)
{
    if (r->left < n)
        return false;
    *ret = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static bool read_header(struct reader *r, struct tzif_header *h)
{
    const uint8_t *p;
    if (!rd_take(r, 44, &p) || memcmp(p, "TZif", 4) != 0)
        return false;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > TZ_MAX_TYPES || h->charcnt == 0 ||
        h->charcnt > TZ_MAX_CHARS || h->timecnt > TZ_MAX_TIMES ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) || h->leapcnt > TZ_MAX_TIMES)
        return false;
    return true;
}

static size_t body_size(const struct tzif_header *h, size_t tsize)
{
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt +
           h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Reads one data block with @tsize-byte times into @z. */
static int read_body(struct reader *r, const struct tzif_header *h, size_t tsize, struct tz *z)
{
    const uint8_t *times, *idx, *types;
    if (h->leapcnt != 0)
        return -EINVAL;
    if (!rd_take(r, h->timecnt * tsize, &times) || !rd_take(r, h->timecnt, &idx) ||
        !rd_take(r, h->typecnt * 6, &types))
        return -EINVAL;
    const uint8_t *skip;
    if (!rd_take(r, h->charcnt + h->isstdcnt + h->isutcnt, &skip))
        return -EINVAL;

    z->n_trans = h->timecnt;
    z->trans = xcalloc(h->timecnt, sizeof(int64_t));
    z->trans_type = xcalloc(h->timecnt, 1);
    z->n_types = h->typecnt;
    z->types = xcalloc(h->typecnt, sizeof(struct tz_type));
    for (size_t i = 0; i < h->timecnt; i++) {
        z->trans[i] = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (i > 0 && z->trans[i] <= z->trans[i - 1])
            return -EINVAL;
        if (idx[i] >= h->typecnt)
            return -EINVAL;
        z->trans_type[i] = idx[i];
    }
    for (size_t i = 0; i < h->typecnt; i++) {
        int32_t off = (int32_t)be32(types + 6 * i);
        /* -2^31 is forbidden; |offset| beyond 26 h is nonsense for any real zone */
        if (off < -26 * 3600 || off > 26 * 3600 || types[6 * i + 4] > 1 ||
            types[6 * i + 5] >= h->charcnt)
            return -EINVAL;
        z->types[i] = (struct tz_type){off, types[6 * i + 4] == 1};
    }
    return 0;
}

static int parse_tzif(const uint8_t *data, size_t len, struct tz *z)
{
    struct reader r = {data, len};
    struct tzif_header h;
    if (!read_header(&r, &h))
        return -EINVAL;
    if (h.version == '\0')
        return read_body(&r, &h, 4, z);
    if (h.version < '2')
        return -EINVAL;

    const uint8_t *skip;
    if (!rd_take(&r, body_size(&h, 4), &skip) || !read_header(&r, &h))
        return -EINVAL;
    int ret = read_body(&r, &h, 8, z);
    if (ret < 0)
        return ret;

    /* footer: "\n" TZ-string "\n" */
    const uint8_t *nl;
    if (!rd_take(&r, 1, &nl) || *nl != '\n')
        return -EINVAL;
    const uint8_t *end = memchr(r.p, '\n', r.left);
    if (!end || end - r.p > 255)
        return -EINVAL;
    char footer[256];
    memcpy(footer, r.p, (size_t)(end - r.p));
    footer[end - r.p] = '\0';
    if (footer[0] == '\0')
        return 0;
    if (!parse_rule(footer, &z->rule))
        return -EINVAL;
    z->has_rule = true;
    return 0;
}

bool tz_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/' || strstr(name, "..") ||
        strstr(name, "//"))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOTDIR || errno == ENAMETOOLONG ? -ENOENT : -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -ENOENT;
    if (st.st_size < 44 || st.st_size > TZ_FILE_MAX)
        return -EINVAL;
    size_t len = (size_t)st.st_size, got = 0;
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    while (got < len) {
        ssize_t k = read(fd, buf + got, len - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -EINVAL; /* shrank under us */
        got += (size_t)k;
    }
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

int tz_load(const char *name, struct tz **ret)
{
    char path[sizeof(TZ_DIR) + TZ_NAME_MAX + 2];
    if (!tz_name_valid(name))
        return -EINVAL;
    snprintf(path, sizeof(path), "%s/%s", TZ_DIR, name);
    _cleanup_free_ uint8_t *data = NULL;
    size_t len = 0;
    int r = read_file(path, &data, &len);
    if (r < 0)
        return r;
    struct tz *z = xcalloc(1, sizeof(*z));
    r = parse_tzif(data, len, z);
    if (r < 0) {
        tz_free(z);
        return r;
    }
    z->name = xstrdup(name);
    *ret = z;
    return 0;
}

struct tz *tz_free(struct tz *z)
{
    if (!z)
        return NULL;
    free(z->name);
    free(z->trans);
    free(z->trans_type);
    free(z->types);
    free(z);
    return NULL;
}

static struct tz_type utc_types[1] = {{0, false}};
static struct tz utc_zone = {.name = (char *)"UTC", .n_types = 1, .types = utc_types};

const struct tz *tz_utc(void)
{
    return &utc_zone;
}

const char *tz_name(const struct tz *z)
{
    return z->name;
}

/* ---- cache --------------------------------------------------------------------------------- */

static _Atomic(struct tz *) cache[TZ_CACHE_BUCKETS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t name_bucket(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h % TZ_CACHE_BUCKETS;
}

static struct tz *cache_find(struct tz *head, const char *name)
{
    for (struct tz *z = head; z; z = z->cache_next)
        if (strcmp(z->name, name) == 0)
            return z;
    return NULL;
}

int tz_get(const char *name, const struct tz **ret)
{
    if (!tz_name_valid(name))
        return -EINVAL;
    size_t b = name_bucket(name);
    struct tz *hit = cache_find(atomic_load_explicit(&cache[b], memory_order_acquire), name);
    if (hit) {
        *ret = hit;
        return 0;
    }
    /* read outside the lock; a racing loader of the same zone just loses its copy */
    struct tz *z = NULL;
    int r = tz_load(name, &z);
    if (r < 0)
        return r;
    pthread_mutex_lock(&cache_lock);
    struct tz *head = atomic_load_explicit(&cache[b], memory_order_relaxed);
    hit = cache_find(head, name);
    if (!hit) {
        z->cache_next = head;
        atomic_store_explicit(&cache[b], z, memory_order_release);
        hit = TAKE_PTR(z);
    }
    pthread_mutex_unlock(&cache_lock);
    tz_free(z);
    *ret = hit;
    return 0;
}

/* ---- queries ------------------------------------------------------------------------------- */

/* Index of the last transition at or before @t, or -1. */
static ssize_t trans_index(const struct tz *z, int64_t t)
{
    size_t lo = 0, hi = z->n_trans; /* first index with trans > t */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ssize_t)lo - 1;
}

int32_t tz_offset_at(const struct tz *z, int64_t utc_s)
{
    if (z->n_trans == 0)
        return z->has_rule ? rule_offset_at(&z->rule, utc_s) : z->types[0].utoff;
    if (utc_s >= z->trans[z->n_trans - 1] && z->has_rule)
        return rule_offset_at(&z->rule, utc_s);
    ssize_t i = trans_index(z, utc_s);
    return i < 0 ? z->types[0].utoff : z->types[z->trans_type[i]].utoff;
}

int64_t tz_next_transition(const struct tz *z, int64_t utc_s)
{
    if (z->n_trans > 0 && utc_s < z->trans[z->n_trans - 1])
        return z->trans[trans_index(z, utc_s) + 1];
    return z->has_rule ? rule_next_change(&z->rule, utc_s) : INT64_MAX;
}

void tz_local_from_utc(const struct tz *z, int64_t utc_s, struct tz_local *out)
{
    utc_s = MAX(MIN(utc_s, TZ_LIMIT_S), -TZ_LIMIT_S);
    int32_t off = tz_offset_at(z, utc_s);
    int64_t local = utc_s + off;
    int64_t days = floor_div(local, DAY);
    int64_t secs = local - days * DAY;
    int64_t y;
    tz_civil_from_days(days, &y, &out->month, &out->day);
    out->year = (int)y;
    out->weekday = tz_weekday_from_days(days);
    out->minute_of_day = (int)(secs / 60);
    out->second = (int)(secs % 60);
    out->utc_offset = off;
}

size_t tz_segments(const struct tz *z, int64_t from_utc, int64_t to_utc, struct tz_segment *segs,
                   size_t max)
{
    size_t n = 0;
    int32_t cur = tz_offset_at(z, from_utc);
    if (max > 0)
        segs[0] = (struct tz_segment){from_utc, cur};
    n = 1;
    for (int64_t t = from_utc;;) {
        int64_t next = tz_next_transition(z, t);
        if (next == INT64_MAX || next > to_utc)
            break;
        int32_t off = tz_offset_at(z, next);
        if (off != cur) {
            if (n < max)
                segs[n] = (struct tz_segment){next, off};
            n++;
            cur = off;
        }
        t = next;
    }
    return n;
}

int64_t tz_segments_first_reach(const struct tz_segment *segs, size_t n, int64_t local_s)
{
    for (size_t i = 0; i + 1 < n; i++) {
        /* the wall clock of segment i runs up to (but not including) its end + offset */
        if (local_s < segs[i + 1].start_utc + segs[i].offset)
            return MAX(segs[i].start_utc, local_s - segs[i].offset);
    }
    return MAX(segs[n - 1].start_utc, local_s - segs[n - 1].offset);
}

int tz_utc_from_local(const struct tz *z, int y, int m, int d, int minute_of_day, enum tz_fold fold,
                      int64_t *ret_utc)
{
    enum { MAXSEG = 16 };
    struct tz_segment segs[MAXSEG];
    if (!tz_date_valid(y, m, d) || minute_of_day < 0 || minute_of_day >= 1440)
        return -EINVAL;
    int64_t local = tz_days_from_civil(y, m, d) * DAY + minute_of_day * 60;
    size_t n = MIN(tz_segments(z, local - 3 * DAY, local + 3 * DAY, segs, MAXSEG), (size_t)MAXSEG);
    int64_t t = tz_segments_first_reach(segs, n, local);
    if (fold == TZ_FOLD_LATER) {
        /* the last segment whose wall clock shows @local, if any */
        for (size_t i = n; i-- > 0;) {
            int64_t end = i + 1 < n ? segs[i + 1].start_utc : INT64_MAX;
            int64_t cand = local - segs[i].offset;
            if (cand >= segs[i].start_utc && cand < end) {
                t = cand;
                break;
            }
        }
    }
    *ret_utc = t;
    return 0;
}
