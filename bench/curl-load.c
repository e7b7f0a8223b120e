/* SPDX-License-Identifier: MIT */
/*
 * curl-load.c — a small closed-loop HTTP/1.1 load generator on libcurl, for the benchmark rows
 * that wrk cannot drive: wrk 4.1 waits for a body after a 304 that carries the 200's
 * Content-Length (RFC 9110 §8.6 allows it, libmicrohttpd always sends it), where libcurl knows
 * a 304 has no body.
 *
 *   curl-load -t THREADS -c CONNECTIONS -d SECONDS [-H 'Name: value']... [--headers-file FILE]
 *             [--inm-follow] URL
 *
 * Design: THREADS threads, each with its own multi handle driving its share of CONNECTIONS
 * easy handles. Each easy handle always has exactly one request in flight (a closed loop, as
 * wrk): when it completes, the handle is removed and added again at once. The multi's
 * connection cache holds as many connections as it has handles, so every request reuses a
 * keep-alive connection; no pipelining, no multiplexing. Threads share nothing but read-only
 * options until they are joined.
 *
 * Every request sends the -H headers; with --headers-file, also the next line of FILE (one
 * counter per thread, each thread starting at its own place), e.g. a different device token
 * per request. With --inm-follow a handle sends as If-None-Match the last ETag it was answered
 * (at first the -H If-None-Match, if any), as a player does. The header lists are built once
 * per handle from nodes pointing at strings that outlive the transfers: no allocation per
 * request.
 *
 * With --body FILE every request is a POST of that file, each "{n}" in it replaced by a number
 * unique to the request within the run (thread index + k × threads), so requests that carry
 * ids the server stores once (event batches) each store new rows.
 *
 * Latency is measured per request on the monotonic clock, from the add to the completion, into
 * a histogram of 10 µs buckets up to 1 s (and one overflow bucket) per thread.
 *
 * Prints one line: "RPS P99_MS ERRORS P50_MS C2XX C304 COTHER" — the first four as bench/run.sh
 * reads wrk's (ERRORS: transport errors, timeouts included, + answers >= 400, as wrk counts
 * them); C2XX, C304 and COTHER count the answers by status. Exits 2 on a usage error, 1 when
 * it could not run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "macro.h"

#define BUCKET_NS          10000u  /* 10 µs */
#define N_BUCKETS          100000u /* up to 1 s; one more for the overflow */
#define REQUEST_TIMEOUT_MS 2000L   /* wrk's default: a request stuck this long is an error */
#define ETAG_MAX           256     /* longer ETags are not followed */
#define LINE_MAX_BYTES     16384   /* limits on --headers-file */
#define LINES_MAX          1000000

struct options {
    int64_t threads, connections, seconds;
    char **fixed; /* the -H headers but a followed If-None-Match; argv's strings */
    size_t n_fixed;
    char **lines; /* --headers-file, owned */
    size_t n_lines;
    bool inm_follow;
    const char *inm_initial; /* "If-None-Match: …" from -H with --inm-follow, or NULL */
    char *body;              /* --body: the template, owned (NULL: GET) */
    size_t body_len;
    const char *url;
};

/* One easy handle: one request in flight, one keep-alive connection. */
struct conn {
    CURL *easy;
    /* [0] If-None-Match (followed), [1] the headers-file line, then the fixed headers */
    struct curl_slist *nodes;
    size_t n_nodes;
    char inm[sizeof("If-None-Match: ") + ETAG_MAX];
    char etag[ETAG_MAX]; /* the ETag of the answer being read */
    char *body;          /* --body: this request's, "{n}" replaced */
    size_t body_cap;
    uint64_t started_ns;
};

struct worker {
    const struct options *opt;
    pthread_t id;
    CURLM *multi;
    struct conn *conns;
    size_t n_conns;
    size_t next_line;
    uint64_t next_n; /* --body: this thread's requests get index, index + threads, … */
    uint64_t *hist;  /* N_BUCKETS + 1 */
    uint64_t max_ns, c2xx, c304, cother, status_errors, transport_errors;
    CURLcode first_error;
    uint64_t end_ns;
    int rc;
};

static _Atomic uint64_t deadline_ns; /* set before the threads start; 0 stops them */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    return size * n; /* read and dropped */
}

/* Keeps the ETag of the answer being read (--inm-follow). Headers of every answer pass here. */
static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
    struct conn *c = userdata;
    size_t len = size * n;
    if (len > 5 && strncasecmp(data, "etag:", 5) == 0) {
        const char *v = data + 5, *end = data + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        size_t vlen = (size_t)(end - v);
        if (vlen > 0 && vlen < sizeof(c->etag)) {
            memcpy(c->etag, v, vlen);
            c->etag[vlen] = '\0';
        }
    }
    return len;
}

/* Sets up c's easy handle and header nodes; 0 or -EINVAL (c is then released by the caller). */
static int conn_init(struct conn *c, const struct options *opt)
{
    c->n_nodes = 2 + opt->n_fixed;
    c->nodes = xcalloc(c->n_nodes, sizeof(*c->nodes));
    c->nodes[0].data = c->inm;
    for (size_t i = 0; i < opt->n_fixed; i++)
        c->nodes[2 + i].data = opt->fixed[i];
    if (opt->inm_initial)
        snprintf(c->inm, sizeof(c->inm), "%s", opt->inm_initial);
    c->easy = curl_easy_init();
    if (!c->easy)
        return -EINVAL;
    CURL *e = c->easy;
    if (curl_easy_setopt(e, CURLOPT_URL, opt->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, c) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        (opt->inm_follow && (curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
                             curl_easy_setopt(e, CURLOPT_HEADERDATA, c) != CURLE_OK)))
        return -EINVAL;
    return 0;
}

static void conn_release(struct conn *c)
{
    if (c->easy)
        curl_easy_cleanup(c->easy);
    free(c->nodes);
    free(c->body);
}

/* c's body: the template with every "{n}" replaced by @n, a number no other request of the run
 * has (so a server that stores each request once by an id in it stores every one). */
static void body_make(struct conn *c, const struct options *opt, uint64_t n)
{
    char num[24];
    size_t nlen = (size_t)snprintf(num, sizeof(num), "%" PRIu64, n), len = 0;
    size_t need = opt->body_len * (nlen > 3 ? nlen : 3) / 3 + 1;
    if (need > c->body_cap) {
        c->body = xrealloc(c->body, need);
        c->body_cap = need;
    }
    for (const char *t = opt->body, *end = opt->body + opt->body_len; t < end;) {
        if (end - t >= 3 && !memcmp(t, "{n}", 3)) {
            memcpy(c->body + len, num, nlen);
            len += nlen;
            t += 3;
        } else {
            c->body[len++] = *t++;
        }
    }
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
}

/* Sends c's next request: its headers, then the add. 0 or -EIO. */
static int conn_start(struct worker *w, struct conn *c)
{
    const struct options *opt = w->opt;
    struct curl_slist *first = NULL, *last = NULL;
    for (size_t i = 0; i < c->n_nodes; i++) {
        struct curl_slist *node = &c->nodes[i];
        if ((i == 0 && !c->inm[0]) || (i == 1 && opt->n_lines == 0))
            continue;
        if (i == 1) {
            node->data = opt->lines[w->next_line];
            w->next_line = (w->next_line + 1) % opt->n_lines;
        }
        if (last)
            last->next = node;
        else
            first = node;
        last = node;
    }
    if (last)
        last->next = NULL;
    if (curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, first) != CURLE_OK)
        return -EIO;
    if (opt->body) {
        body_make(c, opt, w->next_n);
        w->next_n += (uint64_t)opt->threads;
    }
    c->etag[0] = '\0';
    c->started_ns = now_ns();
    return curl_multi_add_handle(w->multi, c->easy) == CURLM_OK ? 0 : -EIO;
}

/* Counts c's completed request (result: libcurl's outcome of the transfer). */
static void conn_done(struct worker *w, struct conn *c, CURLcode result)
{
    uint64_t ns = now_ns() - c->started_ns;
    if (result != CURLE_OK) {
        if (w->transport_errors++ == 0)
            w->first_error = result;
        return;
    }
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    w->hist[MIN(ns / BUCKET_NS, (uint64_t)N_BUCKETS)]++;
    w->max_ns = MAX(w->max_ns, ns);
    if (status >= 200 && status < 300)
        w->c2xx++;
    else if (status == 304)
        w->c304++;
    else
        w->cother++;
    if (status >= 400)
        w->status_errors++;
    if (w->opt->inm_follow && c->etag[0])
        snprintf(c->inm, sizeof(c->inm), "If-None-Match: %s", c->etag);
}

/* The thread: its handles in a closed loop until the deadline. Sets w->rc (0 or -errno). */
static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (size_t i = 0; i < w->n_conns; i++) {
        if (conn_start(w, &w->conns[i]) < 0) {
            w->rc = -EIO;
            return NULL;
        }
    }
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline_ns)
            break;
        int running = 0, left = 0;
        if (curl_multi_perform(w->multi, &running) != CURLM_OK) {
            w->rc = -EIO;
            break;
        }
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(w->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            /* msg is invalid once its handle is removed */
            CURL *e = msg->easy_handle;
            CURLcode result = msg->data.result;
            char *priv = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
            struct conn *c = (struct conn *)priv;
            curl_multi_remove_handle(w->multi, e);
            conn_done(w, c, result);
            if (conn_start(w, c) < 0) {
                w->rc = -EIO;
                goto out;
            }
        }
        int timeout_ms = (int)MIN((deadline_ns - now) / 1000000u + 1, 100u);
        if (curl_multi_poll(w->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK) {
            w->rc = -EIO;
            break;
        }
    }
out:
    w->end_ns = now_ns();
    return NULL;
}

/* Sets up w with n connections; 0 or -EINVAL (w is then released by the caller). */
static int worker_init(struct worker *w, const struct options *opt, size_t n, size_t index)
{
    w->opt = opt;
    w->hist = xcalloc(N_BUCKETS + 1, sizeof(*w->hist));
    w->next_line = opt->n_lines ? index * opt->n_lines / (size_t)opt->threads : 0;
    w->next_n = index;
    w->multi = curl_multi_init();
    if (!w->multi)
        return -EINVAL;
    if (curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)n) != CURLM_OK ||
        curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)n) != CURLM_OK ||
        curl_multi_setopt(w->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING) != CURLM_OK)
        return -EINVAL;
    w->conns = xcalloc(n, sizeof(*w->conns));
    w->n_conns = n;
    for (size_t i = 0; i < n; i++)
        if (conn_init(&w->conns[i], opt) < 0)
            return -EINVAL;
    return 0;
}

static void worker_release(struct worker *w)
{
    for (size_t i = 0; i < w->n_conns; i++) {
        /* a request still in flight at the deadline is dropped, uncounted */
        if (w->multi && w->conns[i].easy)
            curl_multi_remove_handle(w->multi, w->conns[i].easy);
        conn_release(&w->conns[i]);
    }
    free(w->conns);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    free(w->hist);
}

/* The latency (ms) under which pct % of the n answers in hist fall: the upper edge of the
 * bucket, at most the largest latency seen. */
static double hist_percentile_ms(const uint64_t *hist, uint64_t n, unsigned pct, uint64_t max_ns)
{
    if (n == 0)
        return 0;
    uint64_t rank = (n * pct + 99) / 100, seen = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= rank)
            return (double)MIN((i + 1) * (uint64_t)BUCKET_NS, max_ns) / 1e6;
    }
    return (double)max_ns / 1e6;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: curl-load -t THREADS -c CONNECTIONS -d SECONDS [-H 'Name: value']...\n"
               "                 [--headers-file FILE] [--inm-follow] [--body FILE] URL\n"
               "prints: RPS P99_MS ERRORS P50_MS C2XX C304 COTHER\n");
}

/* A duration: N, Ns or Nm (wrk's forms), 1 s to 1 h; 0 or -EINVAL. */
static int parse_seconds(const char *s, int64_t *ret)
{
    size_t len = strlen(s);
    int64_t unit = 1, v;
    if (len > 0 && (s[len - 1] == 's' || s[len - 1] == 'm')) {
        unit = s[len - 1] == 'm' ? 60 : 1;
        len--;
    }
    _cleanup_free_ char *digits = xstrndup(s, len);
    if (parse_int64(digits, 1, 3600, &v) < 0 || v * unit > 3600)
        return -EINVAL;
    *ret = v * unit;
    return 0;
}

/* Reads FILE's non-empty lines, each a header "Name: value" ('\r' dropped) into opt->lines;
 * 0 or -errno with the reason on stderr; opt is untouched on failure. */
/* --body FILE: the whole file, at most 16 MiB, into opt->body. 0 or -errno. */
static int read_body(const char *path, struct options *opt)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int r = -errno;
        fprintf(stderr, "curl-load: %s: %s\n", path, strerror(errno));
        return r;
    }
    size_t cap = 1 << 16, len = 0, n;
    char *b = xmalloc(cap);
    while ((n = fread(b + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap && cap < (16u << 20)) {
            cap *= 2;
            b = xrealloc(b, cap);
        } else if (len == cap) {
            break;
        }
    }
    bool too_big = len == cap && fgetc(f) != EOF;
    fclose(f);
    if (too_big || len == 0) {
        fprintf(stderr, "curl-load: %s: empty or larger than 16 MiB\n", path);
        free(b);
        return -EINVAL;
    }
    opt->body = b;
    opt->body_len = len;
    return 0;
}

static int read_lines(const char *path, struct options *opt)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int r = -errno;
        fprintf(stderr, "curl-load: %s: %s\n", path, strerror(errno));
        return r;
    }
    char **lines = NULL, *buf = NULL;
    size_t n = 0, cap = 0, bufsize = 0;
    ssize_t len;
    int r = 0;
    while ((len = getline(&buf, &bufsize, f)) >= 0) {
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        if (len == 0)
            continue;
        if (len > LINE_MAX_BYTES || n == LINES_MAX || !strchr(buf, ':')) {
            fprintf(stderr, "curl-load: %s:%zu: not a header line of at most %d bytes\n", path,
                    n + 1, LINE_MAX_BYTES);
            r = -EINVAL;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            lines = xrealloc(lines, cap * sizeof(*lines));
        }
        lines[n++] = xstrndup(buf, (size_t)len);
    }
    if (r == 0 && ferror(f))
        r = -EIO;
    if (r == 0 && n == 0) {
        fprintf(stderr, "curl-load: %s: no lines\n", path);
        r = -EINVAL;
    }
    free(buf);
    fclose(f);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(lines[i]);
        free(lines);
        return r;
    }
    opt->lines = lines;
    opt->n_lines = n;
    return 0;
}

/* Reports an option's bad value on stderr; -EINVAL. */
static int bad_arg(const char *name, const char *value, const char *wanted)
{
    fprintf(stderr, "curl-load: %s %s: not %s\n", name, value, wanted);
    return -EINVAL;
}

/* Parses argv into opt (which owns what it allocates even on failure); 0 or -EINVAL. */
static int parse_args(int argc, char **argv, struct options *opt)
{
    enum { OPT_HEADERS_FILE = 256, OPT_INM_FOLLOW, OPT_BODY };
    static const struct option longopts[] = {
        {"headers-file", required_argument, NULL, OPT_HEADERS_FILE},
        {"body", required_argument, NULL, OPT_BODY},
        {"inm-follow", no_argument, NULL, OPT_INM_FOLLOW},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *headers_file = NULL, *body_file = NULL;
    int ch;
    opt->fixed = xcalloc((size_t)argc, sizeof(*opt->fixed));
    while ((ch = getopt_long(argc, argv, "t:c:d:H:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            if (parse_int64(optarg, 1, 64, &opt->threads) < 0)
                return bad_arg("-t", optarg, "a number of threads from 1 to 64");
            break;
        case 'c':
            if (parse_int64(optarg, 1, 10000, &opt->connections) < 0)
                return bad_arg("-c", optarg, "a number of connections from 1 to 10000");
            break;
        case 'd':
            if (parse_seconds(optarg, &opt->seconds) < 0)
                return bad_arg("-d", optarg, "a duration from 1 s to 1 h: N, Ns or Nm");
            break;
        case 'H':
            if (!strchr(optarg, ':'))
                return bad_arg("-H", optarg, "a header 'Name: value'");
            opt->fixed[opt->n_fixed++] = optarg;
            break;
        case OPT_HEADERS_FILE:
            headers_file = optarg;
            break;
        case OPT_INM_FOLLOW:
            opt->inm_follow = true;
            break;
        case OPT_BODY:
            body_file = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -EINVAL;
        }
    }
    if (optind != argc - 1 || opt->threads == 0 || opt->connections == 0 || opt->seconds == 0) {
        fprintf(stderr, "curl-load: -t, -c, -d and one URL are needed\n");
        return -EINVAL;
    }
    if (opt->connections < opt->threads) {
        fprintf(stderr, "curl-load: fewer connections (-c) than threads (-t)\n");
        return -EINVAL;
    }
    opt->url = argv[optind];
    if (opt->inm_follow) {
        /* the -H If-None-Match is only where the followed one starts */
        size_t kept = 0;
        for (size_t i = 0; i < opt->n_fixed; i++) {
            if (strncasecmp(opt->fixed[i], "If-None-Match:", 14) == 0)
                opt->inm_initial = opt->fixed[i];
            else
                opt->fixed[kept++] = opt->fixed[i];
        }
        opt->n_fixed = kept;
        if (opt->inm_initial && strlen(opt->inm_initial) >= sizeof(((struct conn *)0)->inm))
            return bad_arg("-H", opt->inm_initial, "an If-None-Match of at most 256 bytes");
    }
    if (headers_file && read_lines(headers_file, opt) < 0)
        return -EINVAL;
    if (body_file && read_body(body_file, opt) < 0)
        return -EINVAL;
    return 0;
}

static void options_release(struct options *opt)
{
    for (size_t i = 0; i < opt->n_lines; i++)
        free(opt->lines[i]);
    free(opt->lines);
    free(opt->fixed);
    free(opt->body);
}

/* Adds w's counts and histogram into total. */
static void worker_sum(struct worker *total, const struct worker *w)
{
    for (size_t i = 0; i <= N_BUCKETS; i++)
        total->hist[i] += w->hist[i];
    total->max_ns = MAX(total->max_ns, w->max_ns);
    total->c2xx += w->c2xx;
    total->c304 += w->c304;
    total->cother += w->cother;
    total->status_errors += w->status_errors;
    if (total->transport_errors == 0 && w->transport_errors > 0)
        total->first_error = w->first_error;
    total->transport_errors += w->transport_errors;
    total->end_ns = MAX(total->end_ns, w->end_ns);
}

/* Runs the threads, then prints the line; 0 or -errno with the reason on stderr. */
static int load_run(const struct options *opt)
{
    size_t n_workers = (size_t)opt->threads;
    struct worker *workers = xcalloc(n_workers, sizeof(*workers));
    size_t started = 0;
    int r = 0;
    for (size_t i = 0; i < n_workers && r == 0; i++) {
        size_t n = (size_t)(opt->connections / opt->threads) +
                   (i < (size_t)(opt->connections % opt->threads) ? 1 : 0);
        r = worker_init(&workers[i], opt, n, i);
    }
    uint64_t start = now_ns();
    deadline_ns = start + (uint64_t)opt->seconds * 1000000000u;
    for (; r == 0 && started < n_workers; started++)
        if (pthread_create(&workers[started].id, NULL, worker_run, &workers[started]) != 0)
            r = -EAGAIN;
    if (r < 0)
        deadline_ns = 0; /* the threads started stop at once */
    struct worker total = {.hist = xcalloc(N_BUCKETS + 1, sizeof(uint64_t))};
    for (size_t i = 0; i < started; i++) {
        pthread_join(workers[i].id, NULL);
        if (r == 0)
            r = workers[i].rc;
        worker_sum(&total, &workers[i]);
    }
    if (r < 0) {
        fprintf(stderr, "curl-load: could not run: %s\n", strerror(-r));
    } else {
        uint64_t n = total.c2xx + total.c304 + total.cother;
        double elapsed = (double)(total.end_ns - start) / 1e9;
        printf("%.2f %.3f %" PRIu64 " %.3f %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
               elapsed > 0 ? (double)n / elapsed : 0,
               hist_percentile_ms(total.hist, n, 99, total.max_ns),
               total.transport_errors + total.status_errors,
               hist_percentile_ms(total.hist, n, 50, total.max_ns), total.c2xx, total.c304,
               total.cother);
        if (total.transport_errors > 0)
            fprintf(stderr, "curl-load: %" PRIu64 " transport errors (the first: %s)\n",
                    total.transport_errors, curl_easy_strerror(total.first_error));
    }
    for (size_t i = 0; i < n_workers; i++)
        worker_release(&workers[i]);
    free(workers);
    free(total.hist);
    return r;
}

int main(int argc, char **argv)
{
    struct options opt = {0};
    if (parse_args(argc, argv, &opt) < 0) {
        usage(stderr);
        options_release(&opt);
        return 2;
    }
    /* a peer closing a connection must be an error counted, not a signal */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl-load: curl_global_init failed\n");
        options_release(&opt);
        return 1;
    }
    int r = load_run(&opt);
    curl_global_cleanup();
    options_release(&opt);
    return r < 0 ? 1 : 0;
}
