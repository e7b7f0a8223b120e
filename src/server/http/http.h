/* SPDX-License-Identifier: MIT */
/*
 * http.h — what a marqueed module sees of HTTP: a route table entry, the request it handles,
 * and the replies it can give. libmicrohttpd stays behind src/server/http/; no module includes
 * microhttpd.h.
 *
 * DESIGN
 * A module declares its routes in one static table (method, path pattern with {params},
 * audience, rate-limit class, flags, handler) and registers it once at start-up. The server
 * reads the request (header and body limits, content type, JSON depth), then the router
 * matches, runs the authentication/authorization/rate-limit hooks the route asks for, and only
 * then calls the handler with a complete request. A handler replies with exactly one
 * http_reply_*() and returns 0, or returns -errno without replying and the server answers the
 * matching problem+json (see problem.c for the errno → status table). If a handler both
 * replies and returns an error, the reply it made wins.
 *
 * Handlers run on the server's worker threads and must not block for long (no sleeps, no
 * unbounded waits); store calls are bounded by the pool's acquire timeout.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct http_request;

enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_PATCH = 1 << 4,
    HTTP_DELETE = 1 << 5,
    HTTP_OPTIONS = 1 << 6,
};

/** Who may call a route. Checked by the router before the handler runs. Every route must
 *  say: 0 is not an audience, and a table with an undeclared one is refused at start-up. */
enum http_audience {
    HTTP_AUDIENCE_UNSET = 0,
    HTTP_PUBLIC,  /* anyone */
    HTTP_USER,    /* a person with a user access token */
    HTTP_DEVICE,  /* a paired player with a device token */
};

enum http_route_flags {
    HTTP_BODY_JSON = 1 << 0, /* the request must carry an application/json body (415, 400) */
    HTTP_NO_LOG = 1 << 1,    /* no request log line (health probes at debug level) */
    HTTP_NO_RATE_LIMIT = 1 << 2, /* operator probes: never throttled, no X-RateLimit headers */
    HTTP_BODY_STREAM = 1 << 3,   /* the body is handed over as it arrives (http_req_stream) */
    HTTP_SIGNED_URL = 1 << 4,    /* public, but the handler requires a signed URL (403 without);
                                    declared so the route table (and its tests) know it */
    HTTP_DEVICE_SELF_CHECK = 1 << 5, /* a device route whose handler checks, in the query it
                                        makes anyway, that the device is still registered
                                        (auth_device_gone() when not); the guard does not */
};

typedef int (*http_handler_fn)(struct http_request *req, void *userdata);

struct http_route {
    enum http_method method;
    const char *pattern;   /* "/v1/venues/{venueId}/devices"; literal or {name} segments */
    enum http_audience audience;
    unsigned min_role;     /* interpreted by the authorization hook (issue 3) */
    unsigned capability;   /* capability flag the route needs, 0 = none */
    const char *rate_class; /* rate-limit class, NULL = none */
    unsigned flags;        /* enum http_route_flags */
    size_t max_body;       /* 0 = the server's max_body_bytes */
    http_handler_fn handler;
};

/* ---- reading the request ---------------------------------------------------------------- */

enum http_method http_req_method(const struct http_request *req);
/** The raw request path, without the query string (as the client sent it). */
const char *http_req_path(const struct http_request *req);
/** The matched route's pattern ("/v1/venues/{venueId}"), for logs and metrics. */
const char *http_req_route(const struct http_request *req);
/** The value of {name} in the matched pattern, percent-decoded; NULL if no such param. */
const char *http_req_param(const struct http_request *req, const char *name);
/** A query argument, decoded; NULL when absent. */
const char *http_req_query(const struct http_request *req, const char *name);
/** A request header (case-insensitive name); NULL when absent. */
const char *http_req_header(const struct http_request *req, const char *name);
/** The request id this request is answered and logged with. */
const char *http_req_id(const struct http_request *req);
/** The client's IP address as text. */
const char *http_req_client_ip(const struct http_request *req);
/** The raw body (NUL-terminated, may be empty) and its length. */
const char *http_req_body(const struct http_request *req, size_t *ret_len);
/** The parsed JSON body for HTTP_BODY_JSON routes (borrowed), else NULL. */
json_t *http_req_json(const struct http_request *req);

/**
 * For HTTP_BODY_JSON routes: the body must be an object whose members are all in @allowed
 * (NULL-terminated). Otherwise replies 400 (INVALID_BODY / UNKNOWN_FIELD, with errors[] naming
 * each field) and returns -ECANCELED. 0 when fine.
 */
int http_body_allow(struct http_request *req, const char *const *allowed);

/**
 * Reads string member @name of the JSON body: absent → *ret NULL (400 FIELD_REQUIRED if
 * @required), not a string, empty, or longer than @max_len bytes → 400 INVALID_FIELD.
 * 0 or -ECANCELED after replying.
 */
int http_body_string(struct http_request *req, const char *name, bool required, size_t max_len,
                     const char **ret);

/**
 * A problem naming one field: "@field @message." as its detail and errors[] =
 * [{field, message}], the shape every body and query check answers with. Returns -ECANCELED.
 */
int http_field_problem(struct http_request *req, unsigned status, const char *code,
                       const char *field, const char *message);

/** Per-request slot for the auth hook (issue 3) to hang the actor on; freed with @free_fn. */
void http_req_set_actor(struct http_request *req, void *actor, void (*free_fn)(void *));
void *http_req_actor(const struct http_request *req);

/* ---- replying ---------------------------------------------------------------------------- */

/** Adds a response header (copied). Call before the http_reply_*(). */
void http_reply_header(struct http_request *req, const char *name, const char *value);

/** Replies @status with @body serialized as application/json. Steals @body. */
int http_reply_json(struct http_request *req, unsigned status, json_t *body);

/** Replies @status with a body of @content_type (copied). */
int http_reply_data(struct http_request *req, unsigned status, const char *content_type,
                    const void *data, size_t len);

/** Replies @status (204, 304 …) with no body. */
int http_reply_empty(struct http_request *req, unsigned status);

/**
 * Replies with an application/problem+json body per spec §27.2: type, title, status, code,
 * detail, instance, requestId, plus the members of @extra (errors, currentEtag, context …;
 * stolen, may be NULL). Returns -ECANCELED so a helper can `return http_reply_problem(…)`
 * up through a handler, which then returns it: the reply already made wins.
 */
int http_reply_problem(struct http_request *req, unsigned status, const char *code,
                       const char *detail, json_t *extra);

/** True once a reply has been made for this request. */
bool http_replied(const struct http_request *req);

/**
 * Replies @status with @length bytes of the open file @fd from @offset, sent by the kernel
 * (sendfile) without passing through user space. Takes @fd: it is closed when the response is
 * done, and also when this fails (-EALREADY: a reply was already made).
 */
int http_reply_file(struct http_request *req, unsigned status, const char *content_type, int fd,
                    uint64_t offset, uint64_t length);

/* ---- streamed request bodies ------------------------------------------------------------- */

/**
 * A route flagged HTTP_BODY_STREAM gets its handler called as soon as the request head is in
 * and authorized, before any byte of the body, with no body limit and no request_timeout_s
 * (only the idle timeout): the handler checks what it can, then either replies (a refusal;
 * the body is dropped) or calls http_req_stream() to receive the body:
 *   data     each piece, in order. 0 to go on; -errno (or -ECANCELED after replying) stops:
 *            the rest of the body is dropped and the reply made (or the errno's problem) sent.
 *   end      the whole body is in (never called after data failed): reply like a handler.
 *   release  exactly once when the request is over — answered, refused, or @aborted (the
 *            client went away mid-body): what has been received is the handler's to keep.
 */
struct http_body_stream {
    int (*data)(struct http_request *req, const void *data, size_t len, void *ctx);
    int (*end)(struct http_request *req, void *ctx);
    void (*release)(void *ctx, bool aborted);
};

void http_req_stream(struct http_request *req, const struct http_body_stream *ops, void *ctx);

/** The declared Content-Length of the body; -1 when there is none (chunked or no body). */
int64_t http_req_content_length(const struct http_request *req);

/* ---- byte ranges (range.c) --------------------------------------------------------------- */

/**
 * The one "bytes=" range of a Range header over a representation of @size bytes: 1 with the
 * span in *@ret_first and *@ret_len; 0 to serve it whole (no header, another unit, several ranges,
 * a malformed value — RFC 9110 §14.2 lets a server ignore those); -ERANGE when unsatisfiable
 * (416).
 */
int http_range_parse(const char *v, int64_t size, int64_t *ret_first, int64_t *ret_len);

/**
 * A request's Content-Range: "bytes FIRST-LAST/TOTAL" (*@ret_first ≥ 0, FIRST ≤ LAST < TOTAL)
 * or "bytes *\/TOTAL" (*@ret_first = *@ret_last = -1). 0 or -EINVAL.
 */
int http_content_range_parse(const char *v, int64_t *ret_first, int64_t *ret_last,
                             int64_t *ret_total);

/* ---- ETags (strong) ---------------------------------------------------------------------- */

#define HTTP_ETAG_LEN 48

/** A strong ETag (quoted) of @len bytes: "\"" + 32 hex of SHA-256 + "\"". */
void http_etag_of(const void *data, size_t len, char out[HTTP_ETAG_LEN]);
/** A strong ETag (quoted) from a version number and an id, e.g. "\"v7-<id8>\"". */
void http_etag_version(const char *id, int64_t version, char out[HTTP_ETAG_LEN]);

/** True if an If-None-Match header value lists @etag (weak comparison) or is "*". */
bool http_etag_list_matches(const char *header, const char *etag, bool weak);

/**
 * For GET/HEAD: if the request's If-None-Match matches @etag, replies 304 with the ETag and no
 * body, and returns true; otherwise sets the ETag header for the 200 to come, returns false.
 * @length is the size of the body the 200 would carry: a 304 that sends Content-Length must
 * send that one (RFC 9110 §15.4.5), and libmicrohttpd 0.9.75 always sends one.
 */
bool http_not_modified(struct http_request *req, const char *etag, size_t length);

/**
 * Replies 200 with @body as JSON and a strong ETag of its bytes, or 304 when the request's
 * If-None-Match already has that ETag. Steals @body.
 */
int http_reply_json_etag(struct http_request *req, json_t *body);

/** The same with @status (a 201 of a create, say): a GET or HEAD may get 304, any other
 *  method gets the ETag header with its answer. Steals @body. */
int http_reply_json_etag_status(struct http_request *req, unsigned status, json_t *body);

/** The ETag http_reply_json_etag() gives @body, for an If-Match check against what a GET
 *  would send. */
void http_etag_of_json(const json_t *body, char etag[HTTP_ETAG_LEN]);

/**
 * The same with the resource's own strong @etag (a version tag): 200 with @body and @etag, or
 * 304 when If-None-Match has it (its Content-Length that of the 200). Steals @body.
 */
int http_reply_json_tagged(struct http_request *req, const char *etag, json_t *body);

/**
 * For a draft mutation (§27.1): If-Match is required. Missing → 428 PRECONDITION_REQUIRED;
 * not matching @current (strong comparison) → 412 PRECONDITION_FAILED with `currentEtag`.
 * Returns 0 to proceed, or -ECANCELED after replying.
 */
int http_require_if_match(struct http_request *req, const char *current);

/* ---- cursor pagination (§27.1) ----------------------------------------------------------- */

#define HTTP_PAGE_DEFAULT   50
#define HTTP_PAGE_MAX       200
#define HTTP_CURSOR_MAX_KEYS 4

struct http_page {
    unsigned limit;                    /* 1..200, default 50 */
    size_t n_after;                    /* 0 on the first page */
    char *after[HTTP_CURSOR_MAX_KEYS]; /* sort key of the last item of the previous page */
};

/**
 * Reads `limit` and `cursor` from the query. A cursor carries exactly @n_keys sort-key
 * values. Bad limit or cursor → replies 400 and returns -ECANCELED. 0 on success; release
 * the page with http_page_release().
 */
int http_page_parse(struct http_request *req, size_t n_keys, struct http_page *ret);
void http_page_release(struct http_page *p);

/** Encodes sort-key values into an opaque cursor (base64url). Caller frees. */
char *http_cursor_encode(const char *const *keys, size_t n);
/** Decodes a cursor into exactly @n keys (each freed by the caller). 0 or -EINVAL. */
int http_cursor_decode(const char *cursor, size_t n, char **ret_keys);

/** {"items": items, "nextCursor": cursor-or-null}. Steals @items. */
json_t *http_page_body(json_t *items, const char *next_cursor);

/* ---- registration ------------------------------------------------------------------------ */

struct http_server;

/** Adds @n routes; handlers get @userdata. Before http_server_start() only. 0 or -EINVAL
 *  (bad pattern, or the same method+pattern twice). */
int http_server_add_routes(struct http_server *srv, const struct http_route *routes, size_t n,
                           void *userdata);
