/* SPDX-License-Identifier: MIT */
/* limits.c — the §27.1 rate-limit classes; see limits.h for the design. */
#include "auth/limits.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "auth/ratelimit.h"
#include "clock.h"
#include "hash.h"
#include "ids.h"
#include "macro.h"

struct limit_class {
    const char *name;
    const char *scope;
    unsigned limit, window_s;
};

/* spec §27.1, "Default limits" */
static const struct limit_class defaults[] = {
    {"login_ip", "ip", 10, 60},
    {"login_account", "account", 5, 60},
    {"refresh_user", "user", 30, 3600},
    {"mutation", "tenant", 120, 60},
    {"publish", "tenant", 10, 60},
    {"upload", "tenant", 30, 3600},
    {"manifest", "device", 2, 60},
    {"heartbeat", "device", 2, 60},
    {"events", "device", 6, 60},
    {"commands", "device", 2, 60},
    /* not in §27.1's table: a pairing start per client IP (each one makes a code to guess) */
    {"pairing_ip", "ip", 10, 60},
    /* every other route, by audience, so that every answer carries the headers (§27.1) */
    {"default_ip", "ip", 600, 60},
    {"default_user", "user", 1200, 60},
    {"default_device", "device", 120, 60},
};
#define N_CLASSES            ARRAY_SIZE(defaults)
#define MAX_TENANT_OVERRIDES 64

struct tenant_override {
    char tenant_id[UUID_STR_LEN];
    size_t cls;
    unsigned limit, window_s;
};

struct limits {
    struct limit_class classes[N_CLASSES];
    size_t n_overrides;
    struct tenant_override overrides[MAX_TENANT_OVERRIDES];
};

static ssize_t class_index(const char *name, size_t len)
{
    for (size_t i = 0; i < N_CLASSES; i++)
        if (strlen(defaults[i].name) == len && !memcmp(defaults[i].name, name, len))
            return (ssize_t)i;
    return -1;
}

/* "name=limit/window" → class, limit, window. */
static int parse_rule(const char *s, size_t len, size_t *ret_cls, unsigned *ret_limit,
                      unsigned *ret_window)
{
    const char *eq = memchr(s, '=', len);
    if (!eq)
        return -EINVAL;
    ssize_t cls = class_index(s, (size_t)(eq - s));
    char num[48];
    size_t nlen = len - (size_t)(eq + 1 - s);
    if (cls < 0 || nlen == 0 || nlen >= sizeof(num))
        return -EINVAL;
    memcpy(num, eq + 1, nlen);
    num[nlen] = '\0';
    char *slash = strchr(num, '/');
    if (!slash)
        return -EINVAL;
    *slash = '\0';
    int64_t limit, window;
    if (parse_int64(num, 1, 1000000, &limit) < 0 ||
        parse_int64(slash + 1, 1, 31622400, &window) < 0)
        return -EINVAL;
    *ret_cls = (size_t)cls;
    *ret_limit = (unsigned)limit;
    *ret_window = (unsigned)window;
    return 0;
}

int limits_new(const char *overrides, const char *tenant_overrides, struct limits **ret,
               const char **ret_problem)
{
    struct limits *l = xcalloc(1, sizeof(*l));
    memcpy(l->classes, defaults, sizeof(defaults));
    for (const char *p = overrides ? overrides : ""; *p;) {
        size_t len = strcspn(p, ",");
        size_t cls;
        unsigned limit, window;
        if (len && parse_rule(p, len, &cls, &limit, &window) < 0) {
            free(l);
            *ret_problem = "rate_limits must be class=limit/seconds,… with known classes";
            return -EINVAL;
        }
        if (len) {
            l->classes[cls].limit = limit;
            l->classes[cls].window_s = window;
        }
        p += len + (p[len] == ',');
    }
    for (const char *p = tenant_overrides ? tenant_overrides : ""; *p;) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        struct tenant_override *o = &l->overrides[l->n_overrides];
        if (len &&
            (!colon || colon - p != UUID_STR_LEN - 1 || l->n_overrides == MAX_TENANT_OVERRIDES ||
             parse_rule(colon + 1, len - (size_t)(colon + 1 - p), &o->cls, &o->limit,
                        &o->window_s) < 0)) {
            free(l);
            *ret_problem = "tenant_rate_limits must be tenantId:class=limit/seconds,…";
            return -EINVAL;
        }
        if (len) {
            memcpy(o->tenant_id, p, UUID_STR_LEN - 1);
            o->tenant_id[UUID_STR_LEN - 1] = '\0';
            if (!ids_is_uuid(o->tenant_id)) {
                free(l);
                *ret_problem = "tenant_rate_limits: not a tenant id";
                return -EINVAL;
            }
            l->n_overrides++;
        }
        p += len + (p[len] == ',');
    }
    *ret = l;
    return 0;
}

struct limits *limits_free(struct limits *l)
{
    free(l);
    return NULL;
}

const char *limits_scope(const struct limits *l, const char *cls)
{
    ssize_t i = class_index(cls, strlen(cls));
    return i < 0 ? NULL : l->classes[i].scope;
}

int limits_check(struct app *app, struct http_request *req, const char *cls, const char *key,
                 const char *tenant_id)
{
    ssize_t i = class_index(cls, strlen(cls));
    if (i < 0)
        return -EINVAL;
    struct ratelimit_rule rule = {.name = app->limits->classes[i].name,
                                  .limit = app->limits->classes[i].limit,
                                  .window_s = app->limits->classes[i].window_s};
    for (size_t k = 0; tenant_id && k < app->limits->n_overrides; k++) {
        const struct tenant_override *o = &app->limits->overrides[k];
        if (o->cls == (size_t)i && !strcmp(o->tenant_id, tenant_id)) {
            rule.limit = o->limit;
            rule.window_s = o->window_s;
        }
    }
    /* keys longer than the limiter takes (a long email) are hashed down to a fixed length */
    char hashed[HASH_SHA256_HEX_LEN];
    if (strlen(key) > 200) {
        hash_sha256_hex(key, strlen(key), hashed);
        key = hashed;
    }
    struct ratelimit_result res;
    int r = ratelimiter_hit(app->ratelimiter, key, &rule, clock_now_ms(), &res);
    if (r < 0)
        return r;
    char v[32];
    snprintf(v, sizeof(v), "%u", res.limit);
    http_reply_header(req, "X-RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%u", res.remaining);
    http_reply_header(req, "X-RateLimit-Remaining", v);
    snprintf(v, sizeof(v), "%" PRId64, res.reset_epoch_s);
    http_reply_header(req, "X-RateLimit-Reset", v);
    if (res.allowed)
        return 0;
    snprintf(v, sizeof(v), "%u", res.retry_after_s);
    http_reply_header(req, "Retry-After", v);
    char detail[160];
    snprintf(detail, sizeof(detail), "Too many requests: at most %u every %u s. Try again in %u s.",
             res.limit, rule.window_s, res.retry_after_s);
    return http_reply_problem(
        req, 429, "RATE_LIMITED", detail,
        json_pack("{s:i,s:s}", "retryAfterSeconds", (int)res.retry_after_s, "limitClass", cls));
}
