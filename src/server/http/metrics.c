/* SPDX-License-Identifier: MIT */
/*
 * metrics.c — Prometheus counters and histograms for HTTP requests.
 * DESIGN: fixed arrays of relaxed atomics per (route slot, method), indexed by status code, so
 * observing a request is a few uncontended atomic adds and no lock; rendering walks the
 * arrays. Route patterns (not raw paths) are the label, so cardinality is bounded by the table.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "macro.h"

#define N_METHODS 7
#define N_STATUS  600
static const double bounds_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS (sizeof(bounds_s) / sizeof(bounds_s[0]))

/* Latency by status class (1xx … 5xx; 0 = no answer sent): bounded, unlike raw statuses. */
#define N_CLASSES 6

struct histogram {
    _Atomic uint64_t buckets[N_BUCKETS + 1]; /* last = +Inf */
    _Atomic uint64_t sum_ns;
    _Atomic uint64_t count;
};

struct slot {
    _Atomic uint64_t status[N_STATUS];
    _Atomic uint64_t count;
    struct histogram by_class[N_CLASSES];
};

struct http_metrics {
    size_t n_slots;
    struct slot *slots; /* n_slots * N_METHODS */
};

static unsigned method_index(enum http_method m)
{
    unsigned i = 0;
    while (i < N_METHODS - 1 && !((unsigned)m & (1u << i)))
        i++;
    return i;
}

struct http_metrics *http_metrics_new(size_t n_routes)
{
    struct http_metrics *m = xcalloc(1, sizeof(*m));
    m->n_slots = n_routes + 1;
    m->slots = xcalloc(m->n_slots * N_METHODS, sizeof(struct slot));
    return m;
}

struct http_metrics *http_metrics_free(struct http_metrics *m)
{
    if (m) {
        free(m->slots);
        free(m);
    }
    return NULL;
}

void http_metrics_observe(struct http_metrics *m, size_t slot, enum http_method method,
                          unsigned status, int64_t duration_ns)
{
    if (slot >= m->n_slots)
        slot = m->n_slots - 1;
    struct slot *s = &m->slots[slot * N_METHODS + method_index(method)];
    atomic_fetch_add_explicit(&s->status[status < N_STATUS ? status : 0], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    struct histogram *h = &s->by_class[status >= 100 && status < 600 ? status / 100 : 0];
    double secs = (double)duration_ns / 1e9;
    size_t b = 0;
    while (b < N_BUCKETS && secs > bounds_s[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)(duration_ns > 0 ? duration_ns : 0),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static void appendf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(struct buf *out, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static const char *slot_route(const struct router *r, size_t slot)
{
    const struct router_entry *e = router_entry_at(r, slot);
    return e ? e->route.pattern : "unmatched";
}

void http_metrics_render(const struct http_metrics *m, const struct router *r, struct buf *out)
{
    static const enum http_method methods[N_METHODS] = {
        HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS};
    appendf(out, "# HELP marquee_http_requests_total HTTP requests answered, by route and "
                 "status.\n# TYPE marquee_http_requests_total counter\n");
    for (size_t s = 0; s < m->n_slots; s++) {
        for (unsigned mi = 0; mi < N_METHODS; mi++) {
            const struct slot *sl = &m->slots[s * N_METHODS + mi];
            if (!atomic_load_explicit(&sl->count, memory_order_relaxed))
                continue;
            for (unsigned st = 0; st < N_STATUS; st++) {
                uint64_t c = atomic_load_explicit(&sl->status[st], memory_order_relaxed);
                if (c)
                    appendf(out,
                            "marquee_http_requests_total{method=\"%s\",route=\"%s\",status=\"%u\"}"
                            " %" PRIu64 "\n",
                            router_method_name(methods[mi]), slot_route(r, s), st, c);
            }
        }
    }
    appendf(out, "# HELP marquee_http_request_duration_seconds Time from request start to "
                 "response queued, by route and status class.\n"
                 "# TYPE marquee_http_request_duration_seconds histogram\n");
    static const char *const classes[N_CLASSES] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (size_t s = 0; s < m->n_slots; s++) {
        for (unsigned mi = 0; mi < N_METHODS; mi++) {
            const struct slot *sl = &m->slots[s * N_METHODS + mi];
            if (!atomic_load_explicit(&sl->count, memory_order_relaxed))
                continue;
            const char *route = slot_route(r, s), *meth = router_method_name(methods[mi]);
            for (unsigned c = 0; c < N_CLASSES; c++) {
                const struct histogram *h = &sl->by_class[c];
                uint64_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
                if (!count)
                    continue;
                char labels[300];
                snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",status_class=\"%s\"",
                         meth, route, classes[c]);
                uint64_t cum = 0;
                for (size_t b = 0; b <= N_BUCKETS; b++) {
                    cum += atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
                    char le[32];
                    if (b < N_BUCKETS)
                        snprintf(le, sizeof(le), "%g", bounds_s[b]);
                    else
                        snprintf(le, sizeof(le), "+Inf");
                    appendf(out,
                            "marquee_http_request_duration_seconds_bucket{%s,le=\"%s\"} "
                            "%" PRIu64 "\n",
                            labels, le, cum);
                }
                appendf(out, "marquee_http_request_duration_seconds_sum{%s} %.9f\n", labels,
                        (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9);
                appendf(out, "marquee_http_request_duration_seconds_count{%s} %" PRIu64 "\n",
                        labels, count);
            }
        }
    }
}
