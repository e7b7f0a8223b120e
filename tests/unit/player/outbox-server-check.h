/* SPDX-License-Identifier: MIT */
/*
 * outbox-server-check.h — the server's own check of a POST /v1/player/events body, for
 * test-outbox: what the outbox builds must be what marqueed takes.
 */
#pragma once

#include <stddef.h>

/**
 * Runs @body through what marqueed runs it through before storing anything: the HTTP layer's
 * JSON reader (size limit of the route, default depth 32), the 413 check, and telemetry.c's
 * events_read(). 0 when it would be taken; else the HTTP status, with the problem's code and
 * field in @code and @field.
 */
int server_events_check(const char *body, const char **code, char *field, size_t field_size);
