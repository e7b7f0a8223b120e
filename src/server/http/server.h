/* SPDX-License-Identifier: MIT */
/*
 * server.h — the HTTP server itself, for main/app and the fuzzer: create, add routes, start,
 * quiesce, wait for in-flight requests, stop. libmicrohttpd in epoll mode with a thread pool.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "http/http.h"

struct http_server_options {
    const char *host;   /* numeric IPv4/IPv6 address to bind */
    uint16_t port;      /* 0 = the kernel picks (see http_server_port) */
    unsigned threads;   /* 0 = one per core */
    size_t max_body;
    size_t max_header;
    unsigned json_max_depth;
    unsigned connection_limit;
    unsigned per_ip_connection_limit;
    size_t connection_memory_limit;
    unsigned connection_timeout_s;
    unsigned request_timeout_s;
    const char *public_url; /* base of problem `type` URIs; NULL = derived from host:port */
    bool external;          /* fuzzing: no listen socket, no threads; see http_server_feed */
};

/**
 * Authentication/authorization/rate-limit hook, run by the router for every matched route
 * (public ones too, for their rate limits) before the body is read and before the handler:
 * returns 0 to allow, or replies (401/403/404/429) and returns -ECANCELED. Without a hook,
 * every non-public route answers 401.
 */
typedef int (*http_auth_fn)(struct http_request *req, const struct http_route *route, void *ud);

/** Appends extra Prometheus lines (store pool …) to /metrics output. */
typedef void (*http_metrics_fn)(struct buf *out, void *ud);

/** Creates a server (not yet listening). 0 or -EINVAL. */
int http_server_new(const struct http_server_options *opts, struct http_server **ret);

void http_server_set_auth(struct http_server *srv, http_auth_fn fn, void *ud);
void http_server_set_metrics_hook(struct http_server *srv, http_metrics_fn fn, void *ud);

/**
 * Binds, listens and starts the worker threads. 0, or -errno (-EADDRINUSE, -EACCES, -EMFILE
 * when the open-file limit cannot hold the connection limit, -EIO when the library refuses).
 */
int http_server_start(struct http_server *srv);

/** The bound port (after start). */
uint16_t http_server_port(const struct http_server *srv);

/** The base URL clients reach this server at (public_url, or derived from the listen address
 *  once started), without a trailing slash. */
const char *http_server_public_url(const struct http_server *srv);

/** Stops accepting new connections; requests already received go on. */
void http_server_quiesce(struct http_server *srv);

/** Waits until no request is in flight or @timeout_ms passes; true if idle. */
bool http_server_wait_idle(struct http_server *srv, int64_t timeout_ms);

/** Requests being handled right now. */
unsigned http_server_in_flight(const struct http_server *srv);

/** Stops the threads, closes every connection, frees. Accepts NULL; returns NULL. */
struct http_server *http_server_free(struct http_server *srv);

/** The route table as JSON: [{method, pattern, audience, minRole, capability, rateClass,
 *  bodyJson}], for `marqueed routes` and the authorization matrix test. New reference. */
json_t *http_server_route_table(const struct http_server *srv);

/** Renders the Prometheus text exposition of the server's metrics (and the hook's). */
void http_server_metrics_render(struct http_server *srv, struct buf *out);

/** The server a request belongs to. */
struct http_server *http_req_server(const struct http_request *req);

/**
 * Fuzzing (external mode only): feeds @data as everything one client sends on a fresh
 * connection, runs the server until it has answered and closed, and discards the answer.
 * 0 or -errno.
 */
int http_server_feed(struct http_server *srv, const uint8_t *data, size_t len);
