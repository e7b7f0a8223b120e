/* SPDX-License-Identifier: MIT */
/*
 * internal.h — the request structure shared by server.c (libmicrohttpd glue), request.c
 * (accessors and replies), problem.c, etag.c and pagination.c. Nothing outside http/ includes it.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "http/http.h"
#include "http/router.h"
#include "http/server.h"

struct MHD_Connection;

struct http_header {
    char *name;
    char *value;
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    enum http_method method;
    const char *method_name;
    char *path; /* raw path, no query */
    char request_id[129];
    char client_ip[64];
    int64_t start_ns;

    bool matched;
    struct router_match match;
    size_t metrics_slot;

    struct buf body;
    size_t body_limit;
    bool discard_body;
    bool close_after;      /* answer with Connection: close (untrustworthy framing) */
    size_t discarded;      /* bytes of a refused body read and dropped */
    uint64_t declared_len; /* Content-Length, 0 when absent, UINT64_MAX when not a number */
    json_t *json;

    void *actor;
    void (*actor_free)(void *);

    /* a streamed body (HTTP_BODY_STREAM) */
    const struct http_body_stream *stream;
    void *stream_ctx;
    bool stream_failed;

    /* the answer */
    bool replied;
    bool queued;
    unsigned status;
    char *resp_body;
    size_t resp_len;
    size_t not_modified_length; /* for a 304: the length of the 200 it stands for */
    const char *resp_type;
    int resp_fd;           /* a file reply: -1 when none */
    uint64_t resp_offset;
    struct http_header *hdrs;
    size_t n_hdrs;
};

/** request.c: ends a streamed body's life (release once; @aborted as told). */
void http_request_stream_release(struct http_request *req, bool aborted);
/** request.c: frees a request and everything it holds. Accepts NULL. */
void http_request_free(struct http_request *req);
/** request.c: a 304 standing for a 200 of @length bytes (no body is ever sent). */
int http_reply_not_modified(struct http_request *req, size_t length);
/** problem.c: the status and code for a handler's -errno. */
unsigned http_status_for_errno(int err, const char **ret_code);
/** problem.c: reason phrase of a status. */
const char *http_status_title(unsigned status);

/* metrics.c — request counters and latency histograms by route; lock-free (relaxed atomics). */
struct http_metrics;
/** One slot per route plus one for requests that matched none (slot n_routes). */
struct http_metrics *http_metrics_new(size_t n_routes);
struct http_metrics *http_metrics_free(struct http_metrics *m);
void http_metrics_observe(struct http_metrics *m, size_t slot, enum http_method method,
                          unsigned status, int64_t duration_ns);
void http_metrics_render(const struct http_metrics *m, const struct router *r, struct buf *out);
