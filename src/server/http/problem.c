/* SPDX-License-Identifier: MIT */
/*
 * problem.c — the one table that turns a handler's -errno into an HTTP status and a
 * problem `code` (STYLE: only the HTTP layer maps errors to statuses), and reason phrases.
 * A handler that refuses bad input replies with its own problem (field errors and all), or
 * returns -EBADMSG; -EINVAL is what the store returns for bad SQL or a broken constraint, a
 * bug on our side, and so a 500 that is logged.
 */
#include <errno.h>

#include "http/internal.h"
#include "macro.h"

static const struct {
    int err;
    unsigned status;
    const char *code;
} errno_map[] = {
    {EBADMSG, 400, "BAD_REQUEST"},
    {EACCES, 401, "UNAUTHORIZED"},
    {EPERM, 403, "FORBIDDEN"},
    {ENOENT, 404, "NOT_FOUND"},
    {EEXIST, 409, "CONFLICT"},
    {ESTALE, 412, "PRECONDITION_FAILED"},
    {E2BIG, 413, "PAYLOAD_TOO_LARGE"},
    {EMSGSIZE, 413, "PAYLOAD_TOO_LARGE"},
    {EDOM, 422, "VALIDATION_FAILED"},
    {ENXIO, 422, "INVALID_REFERENCE"}, /* store: a foreign key names a row that is not there */
    {EUSERS, 429, "RATE_LIMITED"},
    {EBUSY, 503, "SERVICE_UNAVAILABLE"},
    {EAGAIN, 503, "SERVICE_UNAVAILABLE"},
    {ECONNREFUSED, 503, "SERVICE_UNAVAILABLE"},
    {EIO, 503, "SERVICE_UNAVAILABLE"},
    {ETIMEDOUT, 503, "SERVICE_UNAVAILABLE"},
};

unsigned http_status_for_errno(int err, const char **ret_code)
{
    if (err < 0)
        err = -err;
    for (size_t i = 0; i < ARRAY_SIZE(errno_map); i++) {
        if (errno_map[i].err == err) {
            *ret_code = errno_map[i].code;
            return errno_map[i].status;
        }
    }
    *ret_code = "INTERNAL_ERROR";
    return 500;
}

const char *http_status_title(unsigned status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Entity";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}
