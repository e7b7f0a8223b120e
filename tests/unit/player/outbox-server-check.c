/* SPDX-License-Identifier: MIT */
/*
 * outbox-server-check.c — the server's events validator, reached from a unit test: telemetry.c
 * is included (its checks are static), in a file of its own so that its names and the outbox's
 * do not meet. The test links the server core too; telemetry.o itself is never pulled from it,
 * as everything it defines is defined here.
 */
#include "outbox-server-check.h"

#include "devices/telemetry.c"
#include "jsonx.h"

int server_events_check(const char *body, const char **code, char *field, size_t field_size)
{
    json_t *b = NULL;
    /* as the route reads it: HTTP_BODY_JSON with its max_body and the default depth */
    size_t max_body = (EVENTS_MAX + 1) * (PAYLOAD_MAX_BYTES + 512);
    if (jsonx_parse(body, strlen(body), max_body, 32, 0, &b, NULL) < 0) {
        *code = strlen(body) > max_body ? "PAYLOAD_TOO_LARGE" : "MALFORMED_JSON";
        snprintf(field, field_size, "%s", "");
        return strlen(body) > max_body ? 413 : 400;
    }
    json_t *list = json_object_get(b, "events");
    if (json_is_array(list) && json_array_size(list) > EVENTS_MAX) {
        json_decref(b);
        *code = "TOO_MANY_EVENTS";
        snprintf(field, field_size, "%s", "events");
        return 413;
    }
    struct check ck = {0};
    struct event *ev = NULL;
    size_t n = 0;
    bool ok = events_read(&ck, b, &ev, &n);
    events_free(ev, n);
    json_decref(b);
    if (ok)
        return 0;
    *code = ck.code;
    snprintf(field, field_size, "%s", ck.field);
    return (int)ck.status;
}
