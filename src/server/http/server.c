/* SPDX-License-Identifier: MIT */
/*
 * server.c — marqueed's HTTP server on libmicrohttpd (epoll, one thread per core).
 *
 * DESIGN
 * libmicrohttpd calls the access handler several times per request: once when the headers are
 * in, once per body chunk, and once more when the body is complete. We use the calls as a
 * small state machine:
 *   first call   — request id, header-size limit, route match (404/405/OPTIONS), declared
 *                  body size (413), content type (415), authentication hook. Nothing is queued
 *                  here except a 413 for a body we refuse to read (the connection closes
 *                  anyway): libmicrohttpd 0.9.75 closes keep-alive connections whose response
 *                  is queued on the first call, so every other answer waits for a later call.
 *   body chunks  — appended to a bounded buffer (413 past the route's limit); the whole
 *                  request must arrive within request_timeout_s (408), and idle connections are
 *                  closed after connection_timeout_s by the library.
 *   final call   — JSON parse with depth limit (400 with position), handler, queue the reply.
 * The completion callback logs one JSON line, records metrics and frees the request.
 *
 * The raw (undecoded) URI comes from the URI-log callback into a per-connection context, so
 * the router splits the path before percent-decoding: an encoded "/" can never change which
 * route matches.
 *
 * Shutdown: quiesce (stop accepting), wait for in-flight requests (bounded), stop.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "http/internal.h"
#include "ids.h"
#include "jsonx.h"
#include "log.h"
#include "macro.h"

/* How much of a refused body we read and drop so the client sees the answer (see below). */
#define DISCARD_MAX (8u << 20)

struct http_server {
    struct http_server_options opts;
    char *host;
    char *public_url;
    struct router *router;
    struct http_metrics *metrics;
    struct MHD_Daemon *daemon;
    int listen_fd;
    uint16_t port;
    bool started;
    _Atomic unsigned in_flight;
    _Atomic unsigned connections;
    _Atomic uint64_t connection_limit_hits;
    size_t max_route_body; /* largest per-route body limit */
    http_auth_fn auth;
    void *auth_ud;
    http_metrics_fn metrics_hook;
    void *metrics_ud;
};

/* Per-connection state: the raw URI of the request being read. */
struct conn_ctx {
    char *raw_uri;
};

/* ---- helpers ------------------------------------------------------------------------------ */

const char *http_server_public_url(const struct http_server *srv)
{
    return srv->public_url;
}

unsigned http_server_in_flight(const struct http_server *srv)
{
    return atomic_load(&srv->in_flight);
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_set_auth(struct http_server *srv, http_auth_fn fn, void *ud)
{
    srv->auth = fn;
    srv->auth_ud = ud;
}

void http_server_set_metrics_hook(struct http_server *srv, http_metrics_fn fn, void *ud)
{
    srv->metrics_hook = fn;
    srv->metrics_ud = ud;
}

int http_server_add_routes(struct http_server *srv, const struct http_route *routes, size_t n,
                           void *userdata)
{
    if (srv->started)
        return -EBUSY;
    int r = router_add(srv->router, routes, n, userdata);
    for (size_t i = 0; r == 0 && i < n; i++)
        if (routes[i].max_body > srv->max_route_body)
            srv->max_route_body = routes[i].max_body;
    return r;
}

static bool request_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 128 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return n > 0;
}

/* What the header block says about how the request is framed (RFC 9112 §6). */
struct header_tally {
    size_t bytes;
    unsigned hosts;
    unsigned content_lengths;
    unsigned transfer_encodings;
    bool bad_name;       /* a field name that is not a token (e.g. "Content-Length ") */
    bool te_not_chunked; /* a transfer coding other than exactly "chunked" */
};

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct header_tally *t = cls;
    t->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    if (!*key)
        t->bad_name = true;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (!is_tchar(*p))
            t->bad_name = true;
    if (strcasecmp(key, "Host") == 0)
        t->hosts++;
    else if (strcasecmp(key, "Content-Length") == 0)
        t->content_lengths++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        t->transfer_encodings++;
        if (!value || strcasecmp(value, "chunked") != 0)
            t->te_not_chunked = true;
    }
    return MHD_YES;
}

static void client_ip_of(struct MHD_Connection *conn, char *out, size_t n)
{
    snprintf(out, n, "-");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static bool content_type_is_json(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t len = strcspn(ct, ";");
    while (len > 0 && ct[len - 1] == ' ')
        len--;
    if (len == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    /* structured-syntax suffix: application/merge-patch+json and the like */
    return len > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + len - 5, "+json", 5) == 0;
}

/* ---- the request state machine ----------------------------------------------------------- */

/* Refuses a request whose framing is ambiguous (request smuggling: two lengths, a length
 * and a coding, a coding we do not implement, a field name with whitespace that one parser
 * would ignore and another honour) or whose Host is wrong. Such an answer closes the
 * connection: what follows on it cannot be trusted to start a request. True if refused. */
static bool request_refuse_framing(struct http_request *req, const struct header_tally *t,
                                   const char *version)
{
    const char *code = NULL, *detail = NULL;
    unsigned status = 400;
    if (t->bad_name) {
        code = "BAD_HEADER";
        detail = "A header field name is not a valid token.";
    } else if (t->content_lengths > 1) {
        code = "BAD_CONTENT_LENGTH";
        detail = "The request has more than one Content-Length.";
    } else if (t->transfer_encodings && t->content_lengths) {
        code = "BAD_FRAMING";
        detail = "The request has both Transfer-Encoding and Content-Length.";
    } else if (t->transfer_encodings > 1 || t->te_not_chunked) {
        status = 501;
        code = "UNSUPPORTED_TRANSFER_ENCODING";
        detail = "Only Transfer-Encoding: chunked is supported.";
    } else if (t->hosts > 1 || (t->hosts == 0 && version && !strcmp(version, "HTTP/1.1"))) {
        code = "BAD_HOST";
        detail = "An HTTP/1.1 request needs exactly one Host header.";
    } else if (req->declared_len == UINT64_MAX) {
        code = "BAD_CONTENT_LENGTH";
        detail = "Content-Length is not a number.";
    }
    if (!code)
        return false;
    req->close_after = true;
    http_reply_problem(req, status, code, detail, NULL);
    return true;
}

/* The path of the request target: origin-form as is; absolute-form ("http://host/p?q", which
 * RFC 9112 §3.2.2 says a server must accept) without scheme and authority. */
static char *target_path(const char *raw_uri)
{
    const char *p = raw_uri;
    if (!strncasecmp(p, "http://", 7) || !strncasecmp(p, "https://", 8)) {
        p = strstr(p, "://") + 3;
        p += strcspn(p, "/?#");
        if (*p != '/')
            return xstrdup("/");
    }
    return xstrndup(p, strcspn(p, "?#"));
}

/* Decides everything that can be decided from the header block. Records a problem reply on
 * the request when the answer is already known; never queues. */
static void reply_errno(struct http_request *req, int r);

static void request_begin(struct http_request *req, const char *raw_uri, const char *version)
{
    struct http_server *srv = req->srv;
    const char *rid = http_req_header(req, "X-Request-Id");
    if (rid && request_id_ok(rid))
        snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
    else
        ids_uuid(req->request_id);
    client_ip_of(req->conn, req->client_ip, sizeof(req->client_ip));

    req->path = target_path(raw_uri);
    req->body_limit = srv->opts.max_body;

    /* The declared body size decides, for every early answer, whether to wait for the body. */
    const char *cl = http_req_header(req, "Content-Length");
    if (cl) {
        int64_t len;
        req->declared_len = parse_int64(cl, 0, INT64_MAX, &len) < 0 ? UINT64_MAX : (uint64_t)len;
    }

    struct header_tally tally = {0};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_header, &tally);
    if (request_refuse_framing(req, &tally, version))
        return;
    if (tally.bytes > srv->opts.max_header) {
        char d[128];
        snprintf(d, sizeof(d), "Request headers are larger than %zu bytes.", srv->opts.max_header);
        http_reply_problem(req, 431, "REQUEST_HEADER_TOO_LARGE", d, NULL);
        return;
    }
    if (req->method == HTTP_OPTIONS && !strcmp(req->path, "*")) {
        /* OPTIONS * asks about the server as a whole (RFC 9110 §9.3.7) */
        http_reply_header(req, "Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
        http_reply_empty(req, 204);
        return;
    }

    unsigned allow = 0;
    int r = req->method ? router_match(srv->router, req->method, req->path, &req->match, &allow)
                        : -ENOTSUP;
    if (r == -ENOTSUP && !req->method) {
        /* an unknown method: 405 if the path exists, 404 if not */
        r = router_match(srv->router, HTTP_OPTIONS, req->path, &req->match, &allow);
        if (r == 0)
            r = -ENOTSUP;
    }
    /* No route takes this request. A body larger than the server takes anywhere is still
     * refused as such (413 beats 404/405), so the answer comes without reading the body. */
    if (r < 0 && req->declared_len > srv->opts.max_body &&
        req->declared_len > srv->max_route_body) {
        char d[128];
        snprintf(d, sizeof(d), "The request body is larger than %zu bytes.", srv->opts.max_body);
        http_reply_problem(req, 413, "PAYLOAD_TOO_LARGE", d,
                           json_pack("{s:I}", "maxBytes", (json_int_t)srv->opts.max_body));
        return;
    }
    if (r == -ENOTSUP) {
        char allow_s[96];
        router_allow_string(allow, allow_s, sizeof(allow_s));
        http_reply_header(req, "Allow", allow_s);
        if (req->method == HTTP_OPTIONS) {
            http_reply_empty(req, 204);
            return;
        }
        char d[192];
        snprintf(d, sizeof(d), "%s is not allowed here; allowed: %s.", req->method_name, allow_s);
        http_reply_problem(req, 405, "METHOD_NOT_ALLOWED", d, NULL);
        return;
    }
    if (r == -EMSGSIZE) {
        http_reply_problem(req, 414, "URI_TOO_LONG", "The request path is too long.", NULL);
        return;
    }
    if (r == -EBADMSG) {
        http_reply_problem(req, 400, "BAD_PATH", "The request path has a malformed escape.", NULL);
        return;
    }
    if (r < 0) {
        http_reply_problem(req, 404, "NOT_FOUND", "No such resource.", NULL);
        return;
    }
    req->matched = true;
    req->metrics_slot = req->match.entry->index;
    const struct http_route *route = &req->match.entry->route;
    bool streamed = route->flags & HTTP_BODY_STREAM;
    /* a streamed body is the handler's to judge; one it refuses is dropped only when small */
    req->body_limit = streamed ? 0 : route->max_body ? route->max_body : srv->opts.max_body;
    buf_init(&req->body, req->body_limit);

    if (req->declared_len > 0 && !streamed) {
        if (req->declared_len > req->body_limit) {
            char d[128];
            snprintf(d, sizeof(d), "The request body is larger than %zu bytes.", req->body_limit);
            http_reply_problem(req, 413, "PAYLOAD_TOO_LARGE", d,
                               json_pack("{s:I}", "maxBytes", (json_int_t)req->body_limit));
            return;
        }
    }
    if (route->flags & HTTP_BODY_JSON) {
        const char *ct = http_req_header(req, "Content-Type");
        if (!content_type_is_json(ct)) {
            http_reply_problem(req, 415, "UNSUPPORTED_MEDIA_TYPE",
                               "The request body must be application/json.", NULL);
            return;
        }
    }
    if (srv->auth) {
        srv->auth(req, route, srv->auth_ud); /* authentication, authorization, rate limits */
    } else if (route->audience != HTTP_PUBLIC) {
        http_reply_header(req, "WWW-Authenticate", "Bearer");
        http_reply_problem(req, 401, "UNAUTHORIZED", "Authentication is required.", NULL);
        return;
    }
    if (!req->replied && streamed) {
        /* the handler sees the head now and takes the body as it comes (http_req_stream) */
        r = route->handler(req, req->match.entry->userdata);
        if (!req->replied && r >= 0 && !req->stream) {
            log_msg(LOG_ERROR, "handler_no_stream",
                    "streaming handler for %s neither replied "
                    "nor took the body",
                    route->pattern);
            r = -ENOTRECOVERABLE;
        }
        if (!req->replied && r < 0)
            reply_errno(req, r);
    }
}

/* The whole request is in: parse the body and run the handler. */
static void request_dispatch(struct http_request *req)
{
    struct http_server *srv = req->srv;
    const struct http_route *route = &req->match.entry->route;
    if (route->flags & HTTP_BODY_JSON) {
        if (req->body.len == 0) {
            http_reply_problem(req, 400, "BODY_REQUIRED", "A JSON request body is required.", NULL);
            return;
        }
        struct jsonx_error je;
        int r = jsonx_parse(req->body.data, req->body.len, req->body_limit,
                            srv->opts.json_max_depth, 0, &req->json, &je);
        if (r < 0) {
            char d[256];
            snprintf(d, sizeof(d), "The body is not valid JSON at line %d, column %d: %s", je.line,
                     je.column, je.text);
            http_reply_problem(req, 400, r == -ELOOP ? "JSON_TOO_DEEP" : "MALFORMED_JSON", d,
                               json_pack("{s:[{s:I,s:i,s:i,s:s}]}", "errors", "position",
                                         (json_int_t)je.position, "line", je.line, "column",
                                         je.column, "message", je.text));
            return;
        }
    }
    int r = req->stream ? req->stream->end(req, req->stream_ctx)
                        : route->handler(req, req->match.entry->userdata);
    if (req->replied)
        return;
    if (r >= 0) {
        log_msg(LOG_ERROR, "handler_no_reply", "handler for %s returned without replying",
                route->pattern);
        http_reply_problem(req, 500, "INTERNAL_ERROR", "The server failed to answer.", NULL);
        return;
    }
    reply_errno(req, r);
}

/* The problem+json for a handler's -errno (see problem.c). */
static void reply_errno(struct http_request *req, int r)
{
    const struct http_route *route = &req->match.entry->route;
    const char *code;
    unsigned status = http_status_for_errno(r, &code);
    if (status == 500)
        log_json(LOG_ERROR, "handler_failed",
                 json_pack("{s:s,s:s,s:i,s:s}", "requestId", req->request_id, "route",
                           route->pattern, "errno", -r, "error", strerror(-r)));
    if (status == 503)
        http_reply_header(req, "Retry-After", "1");
    http_reply_problem(req, status, code, status == 500 ? "The server failed to answer." : NULL,
                       NULL);
}

/* Never called for a 304; if a library version ever asks, end the connection, send nothing. */
static ssize_t no_body_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result request_queue(struct http_request *req)
{
    if (req->queued)
        return MHD_YES;
    struct MHD_Response *resp;
    if (req->status == 304)
        /* libmicrohttpd sends no body with a 304 but writes the response's size as its
         * Content-Length: give it the size of the 200, whose bytes are never read. */
        resp = MHD_create_response_from_callback(req->not_modified_length, 4096, no_body_cb, NULL,
                                                 NULL);
    else if (req->resp_fd >= 0)
        /* sendfile(2) from the page cache; the response owns (and closes) the descriptor */
        resp =
            MHD_create_response_from_fd_at_offset64(req->resp_len, req->resp_fd, req->resp_offset);
    else
        resp = MHD_create_response_from_buffer(
            req->resp_len, req->resp_body ? req->resp_body : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (req->resp_fd >= 0 && req->status != 304)
        req->resp_fd = -1;
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    if (req->resp_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->resp_type);
    for (size_t i = 0; i < req->n_hdrs; i++)
        MHD_add_response_header(resp, req->hdrs[i].name, req->hdrs[i].value);
    if (req->close_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    /* a response the library refused was never sent: the log line must not say it was */
    req->queued = r == MHD_YES;
    return r;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;

    if (!req) {
        req = xcalloc(1, sizeof(*req));
        req->srv = srv;
        req->conn = conn;
        req->start_ns = clock_mono_ns();
        req->method = router_method_parse(method);
        req->method_name = method;
        req->metrics_slot = SIZE_MAX;
        req->resp_fd = -1;
        *con_cls = req;
        atomic_fetch_add(&srv->in_flight, 1);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct conn_ctx *cc = ci ? ci->socket_context : NULL;
        request_begin(req, cc && cc->raw_uri ? cc->raw_uri : url, version);
        if (req->replied) {
            req->discard_body = true;
            if (req->close_after)
                return request_queue(req); /* the framing cannot be trusted: answer, close */
            /* A declared body we refuse: answer now (the library closes after) when the client
             * waits for "100 Continue" or the body is too big to read and drop; otherwise the
             * client is already sending it, and is answered once it has (see below). */
            if (req->declared_len > 0 && (req->declared_len > req->body_limit + DISCARD_MAX ||
                                          http_req_header(req, "Expect")))
                return request_queue(req);
        }
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->stream && !req->replied) {
            /* a streamed body: no overall deadline (large uploads), the idle timeout holds */
            int r = req->stream->data(req, upload_data, n, req->stream_ctx);
            if (r < 0) {
                if (!req->replied)
                    reply_errno(req, r);
                http_request_stream_release(req, false);
                req->discard_body = true;
            }
            return MHD_YES;
        }
        /* a streamed body has no overall deadline, also while a refused rest is dropped */
        bool streamed = req->matched && (req->match.entry->route.flags & HTTP_BODY_STREAM);
        if (!streamed &&
            clock_mono_ns() - req->start_ns > (int64_t)srv->opts.request_timeout_s * 1000000000) {
            if (!req->replied)
                http_reply_problem(req, 408, "REQUEST_TIMEOUT",
                                   "The request body took too long to arrive.", NULL);
            return request_queue(req); /* the connection is closed after it */
        }
        if (req->discard_body) {
            /* Answering while the client still sends makes the kernel reset the connection
             * and the client never reads the answer: read and drop the rest (bounded), then
             * answer at the end of the body. */
            req->discarded += n;
            if (req->discarded > DISCARD_MAX)
                return request_queue(req);
            return MHD_YES;
        }
        if (buf_append(&req->body, upload_data, n) < 0) {
            char d[128];
            snprintf(d, sizeof(d), "The request body is larger than %zu bytes.", req->body_limit);
            http_reply_problem(req, 413, "PAYLOAD_TOO_LARGE", d,
                               json_pack("{s:I}", "maxBytes", (json_int_t)req->body_limit));
            req->discard_body = true;
            buf_release(&req->body);
        }
        return MHD_YES;
    }

    if (!req->replied)
        request_dispatch(req);
    return request_queue(req);
}

/* The one line per request. Hand-formatted: it runs for every request and costs a third of
 * the throughput through jansson. Headers and bodies are never logged. */
static void log_request(enum log_level lvl, struct http_request *req, unsigned status,
                        int64_t dur_ns, bool aborted)
{
    char scratch[4096];
    /* a buf over a stack array: with max < cap it can never grow, so never reallocates */
    struct buf b = {.data = scratch, .cap = sizeof(scratch), .max = sizeof(scratch) - 1};
    char num[160];
    buf_append_str(&b, "\"requestId\":");
    jsonx_append_string(&b, req->request_id);
    buf_append_str(&b, ",\"method\":");
    /* the method is the client's (unknown methods too): bounded like the path below */
    char method[33];
    snprintf(method, sizeof(method), "%s", req->method_name ? req->method_name : "?");
    jsonx_append_string(&b, method);
    buf_append_str(&b, ",\"route\":");
    jsonx_append_string(&b, req->matched ? req->match.entry->route.pattern : "unmatched");
    buf_append_str(&b, ",\"path\":");
    /* at most 512 bytes of path (6 escaped bytes each at worst) always fit in the line */
    char path[513];
    snprintf(path, sizeof(path), "%s", req->path ? req->path : "");
    jsonx_append_string(&b, path);
    int n = snprintf(num, sizeof(num),
                     ",\"status\":%u,\"durationMs\":%.3f,\"bytes\":%zu,\"client\":\"%s\"%s", status,
                     (double)dur_ns / 1e6, req->queued ? req->resp_len : (size_t)0, req->client_ip,
                     aborted ? ",\"aborted\":true" : "");
    if (n > 0)
        buf_append(&b, num, (size_t)n);
    log_json_raw(lvl, "request", b.data, b.len);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    int64_t dur = clock_mono_ns() - req->start_ns;
    unsigned status = req->queued ? req->status : 0;
    http_metrics_observe(srv->metrics, req->matched ? req->metrics_slot : SIZE_MAX,
                         req->method ? req->method : HTTP_GET, status, dur);
    http_request_stream_release(req, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    bool quiet = req->matched && (req->match.entry->route.flags & HTTP_NO_LOG);
    enum log_level lvl = quiet ? LOG_DEBUG : (status >= 500 || status == 0 ? LOG_WARN : LOG_INFO);
    if (log_enabled(lvl))
        log_request(lvl, req, status, dur, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    http_request_free(req);
    atomic_fetch_sub(&srv->in_flight, 1);
}

static void connection_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = xcalloc(1, sizeof(struct conn_ctx));
        atomic_fetch_add(&srv->connections, 1);
    } else {
        struct conn_ctx *cc = *socket_context;
        if (cc) {
            free(cc->raw_uri);
            free(cc);
        }
        *socket_context = NULL;
        atomic_fetch_sub(&srv->connections, 1);
    }
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_ctx *cc = ci ? ci->socket_context : NULL;
    if (cc) {
        free(cc->raw_uri);
        cc->raw_uri = xstrdup(uri ? uri : "/");
    }
    return NULL;
}

/* The library hands us its own printf format: forwarding it is the point. */
static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
    struct http_server *srv = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (strstr(msg, "connection limit") || strstr(msg, "Too many open files")) {
        atomic_fetch_add(&srv->connection_limit_hits, 1);
        log_json(LOG_ERROR, "connection_limit_reached",
                 json_pack("{s:s,s:I}", "message", msg, "connectionLimit",
                           (json_int_t)srv->opts.connection_limit));
        return;
    }
    log_json(LOG_WARN, "http_library", json_pack("{s:s}", "message", msg));
}

/* ---- lifecycle --------------------------------------------------------------------------- */

int http_server_new(const struct http_server_options *opts, struct http_server **ret)
{
    if (!opts->external && (!opts->host || !*opts->host))
        return -EINVAL;
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->opts = *opts;
    srv->host = xstrdup(opts->host ? opts->host : "127.0.0.1");
    srv->opts.host = srv->host;
    srv->listen_fd = -1;
    if (!srv->opts.max_body)
        srv->opts.max_body = 1 << 20;
    if (!srv->opts.max_header)
        srv->opts.max_header = 8192;
    if (!srv->opts.json_max_depth)
        srv->opts.json_max_depth = 32;
    if (!srv->opts.connection_limit)
        srv->opts.connection_limit = 16000;
    if (!srv->opts.connection_memory_limit)
        srv->opts.connection_memory_limit = 16384;
    if (!srv->opts.connection_timeout_s)
        srv->opts.connection_timeout_s = 30;
    if (!srv->opts.request_timeout_s)
        srv->opts.request_timeout_s = 60;
    if (!srv->opts.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        srv->opts.threads = n > 0 ? (unsigned)n : 1;
    }
    srv->router = router_new();
    srv->public_url = opts->public_url && *opts->public_url ? xstrdup(opts->public_url) : NULL;
    if (srv->public_url) {
        size_t n = strlen(srv->public_url);
        while (n > 0 && srv->public_url[n - 1] == '/')
            srv->public_url[--n] = '\0';
    }
    *ret = srv;
    return 0;
}

static int listen_socket(struct http_server *srv)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr = {0};
    socklen_t alen;
    int family;
    if (inet_pton(AF_INET, srv->host, &addr.in4.sin_addr) == 1) {
        family = AF_INET;
        addr.in4.sin_family = AF_INET;
        addr.in4.sin_port = htons(srv->opts.port);
        alen = sizeof(addr.in4);
    } else if (inet_pton(AF_INET6, srv->host, &addr.in6.sin6_addr) == 1) {
        family = AF_INET6;
        addr.in6.sin6_family = AF_INET6;
        addr.in6.sin6_port = htons(srv->opts.port);
        alen = sizeof(addr.in6);
    } else {
        return -EINVAL;
    }
    _cleanup_close_ int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, &addr.sa, alen) < 0 || listen(fd, 4096) < 0)
        return -errno;
    alen = sizeof(addr);
    if (getsockname(fd, &addr.sa, &alen) == 0)
        srv->port = ntohs(family == AF_INET ? addr.in4.sin_port : addr.in6.sin6_port);
    srv->listen_fd = TAKE_FD(fd);
    return 0;
}

/* The connection limit must fit under the open-file limit with room for the store, logs and
 * media files. Raises the soft limit to the hard one if needed; fails clearly otherwise. */
static int check_fd_limit(struct http_server *srv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    rlim_t need = (rlim_t)srv->opts.connection_limit + 256;
    if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        log_json(LOG_ERROR, "fd_limit_too_low",
                 json_pack("{s:s,s:I,s:I}", "message",
                           "connection_limit + 256 exceeds the open-file limit; lower "
                           "connection_limit or raise the limit (ulimit -n)",
                           "connectionLimit", (json_int_t)srv->opts.connection_limit,
                           "openFileLimit", (json_int_t)rl.rlim_cur));
        return -EMFILE;
    }
    return 0;
}

int http_server_start(struct http_server *srv)
{
    if (srv->started)
        return -EALREADY;
    unsigned flags = MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (!srv->opts.external) {
        int r = check_fd_limit(srv);
        if (r < 0)
            return r;
        r = listen_socket(srv);
        if (r < 0)
            return r;
        flags |= MHD_USE_EPOLL_INTERNAL_THREAD;
    } else {
        flags |= MHD_USE_NO_LISTEN_SOCKET;
    }
    if (!srv->public_url) {
        bool v6 = strchr(srv->host, ':') != NULL;
        srv->public_url =
            xasprintf("http://%s%s%s:%u", v6 ? "[" : "", srv->host, v6 ? "]" : "", srv->port);
    }
    srv->metrics = http_metrics_new(router_count(srv->router));
    struct MHD_OptionItem ops[16];
    size_t n = 0;
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed_cb, srv};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)connection_cb, srv};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_log_cb, srv};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                       (intptr_t)srv->opts.connection_memory_limit, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                       (intptr_t)srv->opts.connection_limit, NULL};
    /* Not MHD_OPTION_STRICT_FOR_CLIENT: in 0.9.75 its own 400 writes the status line twice.
     * request_refuse_framing() applies the RFC 9112 rules and answers problem+json. */
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                       (intptr_t)srv->opts.connection_timeout_s, NULL};
    if (srv->opts.per_ip_connection_limit)
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                           (intptr_t)srv->opts.per_ip_connection_limit, NULL};
    if (!srv->opts.external) {
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, srv->listen_fd, NULL};
        if (srv->opts.threads > 1)
            ops[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                               (intptr_t)srv->opts.threads, NULL};
    }
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    /* the logger must be the first option, or early messages bypass it */
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, srv, MHD_OPTION_EXTERNAL_LOGGER,
                                   mhd_log_cb, srv, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!srv->daemon) {
        if (srv->listen_fd >= 0)
            close(srv->listen_fd);
        srv->listen_fd = -1;
        return -EIO;
    }
    srv->started = true;
    return 0;
}

void http_server_quiesce(struct http_server *srv)
{
    if (!srv->daemon || srv->opts.external || srv->listen_fd < 0)
        return;
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    srv->listen_fd = -1;
}

bool http_server_wait_idle(struct http_server *srv, int64_t timeout_ms)
{
    int64_t deadline = clock_mono_ns() + timeout_ms * 1000000;
    while (atomic_load(&srv->in_flight) > 0) {
        if (clock_mono_ns() >= deadline)
            return false;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return true;
}

struct http_server *http_server_free(struct http_server *srv)
{
    if (!srv)
        return NULL;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon); /* closes the listen socket unless quiesced */
    else if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    http_metrics_free(srv->metrics);
    router_free(srv->router);
    free(srv->host);
    free(srv->public_url);
    free(srv);
    return NULL;
}

json_t *http_server_route_table(const struct http_server *srv)
{
    static const char *const audiences[] = {"unset", "public", "user", "device"};
    json_t *out = json_array();
    for (size_t i = 0; i < router_count(srv->router); i++) {
        const struct http_route *rt = &router_entry_at(srv->router, i)->route;
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:s,s:i,s:i,s:s?,s:b,s:b}", "method",
                           router_method_name(rt->method), "pattern", rt->pattern, "audience",
                           audiences[rt->audience <= HTTP_DEVICE ? rt->audience : 0], "minRole",
                           (int)rt->min_role, "capability", (int)rt->capability, "rateClass",
                           rt->rate_class, "bodyJson", (rt->flags & HTTP_BODY_JSON) != 0,
                           "signedUrl", (rt->flags & HTTP_SIGNED_URL) != 0));
    }
    return out;
}

void http_server_metrics_render(struct http_server *srv, struct buf *out)
{
    char line[512];
    snprintf(line, sizeof(line),
             "# HELP marquee_http_in_flight_requests Requests being handled now.\n"
             "# TYPE marquee_http_in_flight_requests gauge\nmarquee_http_in_flight_requests %u\n"
             "# HELP marquee_http_open_connections Client connections open now.\n"
             "# TYPE marquee_http_open_connections gauge\nmarquee_http_open_connections %u\n",
             atomic_load(&srv->in_flight), atomic_load(&srv->connections));
    buf_append_str(out, line);
    snprintf(line, sizeof(line),
             "# HELP marquee_http_connection_limit_hits_total Connections refused at the "
             "limit.\n# TYPE marquee_http_connection_limit_hits_total counter\n"
             "marquee_http_connection_limit_hits_total %llu\n",
             (unsigned long long)atomic_load(&srv->connection_limit_hits));
    buf_append_str(out, line);
    if (srv->metrics)
        http_metrics_render(srv->metrics, srv->router, out);
    if (srv->metrics_hook)
        srv->metrics_hook(out, srv->metrics_ud);
}

/* ---- fuzzing ----------------------------------------------------------------------------- */

int http_server_feed(struct http_server *srv, const uint8_t *data, size_t len)
{
    if (!srv->opts.external || !srv->daemon)
        return -EINVAL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    struct sockaddr_in fake = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    if (MHD_add_connection(srv->daemon, sv[0], (const struct sockaddr *)&fake, sizeof(fake)) !=
        MHD_YES) {
        close(sv[0]);
        close(sv[1]);
        return -EIO;
    }
    /* the socket buffer of a UNIX pair holds far more than a fuzz input */
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(sv[1], data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(sv[1], SHUT_WR);
    char sink[4096];
    for (int i = 0; i < 200; i++) {
        MHD_run(srv->daemon);
        ssize_t got;
        bool closed = false;
        while ((got = recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT)) > 0)
            ;
        if (got == 0)
            closed = true;
        if (closed)
            break;
    }
    close(sv[1]);
    MHD_run(srv->daemon);
    return 0;
}
