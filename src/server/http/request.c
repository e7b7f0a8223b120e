/* SPDX-License-Identifier: MIT */
/*
 * request.c — what a handler reads from a request and how it replies (http.h).
 * DESIGN: a reply is recorded on the request (status, headers, body) and handed to
 * libmicrohttpd by server.c after the handler returns, so a handler never touches the library
 * and the first reply made is the one sent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http/internal.h"
#include "jsonx.h"
#include "log.h"
#include "macro.h"

enum http_method http_req_method(const struct http_request *req)
{
    return req->method;
}

const char *http_req_path(const struct http_request *req)
{
    return req->path;
}

const char *http_req_route(const struct http_request *req)
{
    return req->matched ? req->match.entry->route.pattern : NULL;
}

const char *http_req_param(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->match.n_params; i++)
        if (strcmp(req->match.names[i], name) == 0)
            return req->match.values[i];
    return NULL;
}

const char *http_req_query(const struct http_request *req, const char *name)
{
    if (!req->conn)
        return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_req_header(const struct http_request *req, const char *name)
{
    if (!req->conn)
        return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_id(const struct http_request *req)
{
    return req->request_id;
}

const char *http_req_client_ip(const struct http_request *req)
{
    return req->client_ip;
}

const char *http_req_body(const struct http_request *req, size_t *ret_len)
{
    if (ret_len)
        *ret_len = req->body.len;
    return req->body.data ? req->body.data : "";
}

json_t *http_req_json(const struct http_request *req)
{
    return req->json;
}

int http_body_allow(struct http_request *req, const char *const *allowed)
{
    if (!json_is_object(req->json))
        return http_reply_problem(req, 400, "INVALID_BODY", "The body must be a JSON object.",
                                  NULL);
    json_t *errors = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(req->json, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        if (!ok)
            json_array_append_new(errors, json_pack("{s:o,s:s}", "field", jsonx_string_lossy(key),
                                                    "message", "unknown field"));
    }
    if (json_array_size(errors) == 0) {
        json_decref(errors);
        return 0;
    }
    return http_reply_problem(req, 400, "UNKNOWN_FIELD",
                              "The body has fields this endpoint "
                              "does not take.",
                              json_pack("{s:o}", "errors", errors));
}

int http_field_problem(struct http_request *req, unsigned status, const char *code,
                       const char *field, const char *message)
{
    char detail[200];
    snprintf(detail, sizeof(detail), "%s %s.", field, message);
    return http_reply_problem(
        req, status, code, detail,
        json_pack("{s:[{s:s,s:s}]}", "errors", "field", field, "message", message));
}

int http_body_string(struct http_request *req, const char *name, bool required, size_t max_len,
                     const char **ret)
{
    json_t *v = json_object_get(req->json, name);
    if (!v || json_is_null(v)) {
        if (required)
            return http_field_problem(req, 400, "FIELD_REQUIRED", name, "is required");
        *ret = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return http_field_problem(req, 400, "INVALID_FIELD", name, "must be a string");
    size_t len = json_string_length(v);
    if (len == 0 || len > max_len || strlen(json_string_value(v)) != len)
        return http_field_problem(req, 400, "INVALID_FIELD", name, "has an invalid length");
    *ret = json_string_value(v);
    return 0;
}

void http_req_set_actor(struct http_request *req, void *actor, void (*free_fn)(void *))
{
    if (req->actor && req->actor_free)
        req->actor_free(req->actor);
    req->actor = actor;
    req->actor_free = free_fn;
}

void *http_req_actor(const struct http_request *req)
{
    return req->actor;
}

void http_request_stream_release(struct http_request *req, bool aborted)
{
    const struct http_body_stream *ops = req->stream;
    req->stream = NULL;
    if (ops && ops->release)
        ops->release(req->stream_ctx, aborted);
}

void http_req_stream(struct http_request *req, const struct http_body_stream *ops, void *ctx)
{
    http_request_stream_release(req, true); /* a second call replaces the first */
    req->stream = ops;
    req->stream_ctx = ctx;
}

int64_t http_req_content_length(const struct http_request *req)
{
    const char *cl = http_req_header(req, "Content-Length");
    return cl && req->declared_len != UINT64_MAX ? (int64_t)req->declared_len : -1;
}

void http_request_free(struct http_request *req)
{
    if (!req)
        return;
    http_request_stream_release(req, true);
    if (req->resp_fd >= 0)
        close(req->resp_fd);
    router_match_release(&req->match);
    buf_release(&req->body);
    json_decref(req->json);
    if (req->actor && req->actor_free)
        req->actor_free(req->actor);
    free(req->resp_body);
    for (size_t i = 0; i < req->n_hdrs; i++) {
        free(req->hdrs[i].name);
        free(req->hdrs[i].value);
    }
    free(req->hdrs);
    free(req->path);
    free(req);
}

struct http_server *http_req_server(const struct http_request *req)
{
    return req->srv;
}

void http_reply_header(struct http_request *req, const char *name, const char *value)
{
    for (size_t i = 0; i < req->n_hdrs; i++) {
        if (strcasecmp(req->hdrs[i].name, name) == 0) {
            free(req->hdrs[i].value);
            req->hdrs[i].value = xstrdup(value);
            return;
        }
    }
    req->hdrs = xrealloc(req->hdrs, (req->n_hdrs + 1) * sizeof(*req->hdrs));
    req->hdrs[req->n_hdrs++] = (struct http_header){xstrdup(name), xstrdup(value)};
}

bool http_replied(const struct http_request *req)
{
    return req->replied;
}

static int reply_set(struct http_request *req, unsigned status, const char *type, char *body,
                     size_t len)
{
    if (req->replied) {
        free(body);
        return -EALREADY;
    }
    req->replied = true;
    req->status = status;
    req->resp_type = type;
    req->resp_body = body;
    req->resp_len = len;
    return 0;
}

int http_reply_json(struct http_request *req, unsigned status, json_t *body)
{
    _cleanup_(json_decrefp) json_t *b = body;
    if (!b) {
        /* a json_pack() that failed (a NULL or non-UTF-8 string): a bug, never an empty 200 */
        log_json(LOG_ERROR, "reply_body_missing",
                 json_pack("{s:s,s:s}", "requestId", req->request_id, "path",
                           req->path ? req->path : ""));
        return http_reply_problem(req, 500, "INTERNAL_ERROR", "The server failed to answer.", NULL);
    }
    size_t n = json_dumpb(b, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    char *out = xmalloc(n + 1);
    json_dumpb(b, out, n, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    out[n] = '\0';
    return reply_set(req, status, "application/json", out, n);
}

int http_reply_data(struct http_request *req, unsigned status, const char *content_type,
                    const void *data, size_t len)
{
    char *copy = xmalloc(len + 1);
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    /* content_type must outlive the request: keep a copy as a header-owned string. */
    http_reply_header(req, "Content-Type", content_type);
    return reply_set(req, status, NULL, copy, len);
}

int http_reply_file(struct http_request *req, unsigned status, const char *content_type, int fd,
                    uint64_t offset, uint64_t length)
{
    if (req->replied) {
        close(fd);
        return -EALREADY;
    }
    http_reply_header(req, "Content-Type", content_type);
    reply_set(req, status, NULL, NULL, (size_t)length);
    req->resp_fd = fd;
    req->resp_offset = offset;
    return 0;
}

int http_reply_not_modified(struct http_request *req, size_t length)
{
    int r = reply_set(req, 304, NULL, NULL, 0);
    if (r == 0)
        req->not_modified_length = length;
    return r;
}

int http_reply_empty(struct http_request *req, unsigned status)
{
    return reply_set(req, status, NULL, NULL, 0);
}

int http_reply_problem(struct http_request *req, unsigned status, const char *code,
                       const char *detail, json_t *extra)
{
    _cleanup_(json_decrefp) json_t *x = extra;
    if (req->replied)
        return -ECANCELED;
    json_t *p = json_object();
    json_object_set_new(p, "type",
                        json_sprintf("%s/errors/%s", http_server_public_url(req->srv), code));
    json_object_set_new(p, "title", json_string(http_status_title(status)));
    json_object_set_new(p, "status", json_integer(status));
    json_object_set_new(p, "code", json_string(code));
    /* detail and instance may quote the client's bytes: never let one go missing */
    json_object_set_new(p, "detail",
                        jsonx_string_lossy(detail ? detail : http_status_title(status)));
    json_object_set_new(p, "instance", jsonx_string_lossy(req->path ? req->path : "/"));
    json_object_set_new(p, "requestId", json_string(req->request_id));
    if (x)
        json_object_update_missing(p, x);
    size_t n = json_dumpb(p, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    char *out = xmalloc(n + 1);
    json_dumpb(p, out, n, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    out[n] = '\0';
    json_decref(p);
    reply_set(req, status, "application/problem+json", out, n);
    return -ECANCELED;
}
