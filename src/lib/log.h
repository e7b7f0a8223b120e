/* SPDX-License-Identifier: MIT */
/*
 * log.h — one JSON object per line on stderr (or another fd), for the edges only:
 * handlers, worker loops, main. Library code returns errors and does not log.
 *
 * A line is {"time":"…Z","level":"info","event":"request", …fields}. Callers check
 * log_enabled() before building fields so a disabled level costs one comparison.
 * Never put a token, password, secret or request body in a field.
 * Thread-safe: each line is written with one write(2).
 */
#pragma once

#include <stdbool.h>

#include <jansson.h>

enum log_level {
    LOG_DEBUG,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
    LOG_OFF,
};

/** Parses "debug", "info", "warn", "error", "off". 0 and *ret, or -EINVAL. */
int log_level_parse(const char *s, enum log_level *ret);
const char *log_level_name(enum log_level l);

void log_set_level(enum log_level l);
/** Sends log lines to @fd (default 2). */
void log_set_fd(int fd);
bool log_enabled(enum log_level l);

/** Writes one line. @fields (may be NULL) is consumed (its reference is stolen). */
void log_json(enum log_level l, const char *event, json_t *fields);

/**
 * Hot-path variant: @fields is already JSON object members without braces
 * (`"status":200,"path":"/x"`), built by the caller with jsonx_append_string() for every
 * client-controlled value. Same line shape as log_json().
 */
void log_json_raw(enum log_level l, const char *event, const char *fields, size_t len);

/** Shorthand: a line with a "message" field, printf-formatted. */
void log_msg(enum log_level l, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
