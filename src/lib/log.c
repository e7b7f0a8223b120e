/* SPDX-License-Identifier: MIT */
/* log.c — JSON-lines logging; see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ids.h"
#include "macro.h"

static _Atomic int min_level = LOG_INFO;
static _Atomic int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int log_level_parse(const char *s, enum log_level *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *ret = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *log_level_name(enum log_level l)
{
    return (unsigned)l < ARRAY_SIZE(level_names) ? level_names[l] : "?";
}

void log_set_level(enum log_level l)
{
    atomic_store(&min_level, (int)l);
}

void log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

bool log_enabled(enum log_level l)
{
    return l != LOG_OFF && (int)l >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

static void write_all(const char *p, size_t left)
{
    int fd = atomic_load(&log_fd);
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        left -= (size_t)w;
    }
}

void log_json(enum log_level l, const char *event, json_t *fields)
{
    if (!log_enabled(l)) {
        json_decref(fields);
        return;
    }
    char ts[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), ts);
    json_t *line = json_object();
    json_object_set_new(line, "time", json_string(ts));
    json_object_set_new(line, "level", json_string(log_level_name(l)));
    json_object_set_new(line, "event", json_string(event));
    if (fields)
        json_object_update(line, fields);
    json_decref(fields);
    size_t n = json_dumpb(line, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    char stackbuf[1024];
    char *out = n + 1 <= sizeof(stackbuf) ? stackbuf : xmalloc(n + 1);
    json_dumpb(line, out, n, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    out[n] = '\n';
    json_decref(line);
    write_all(out, n + 1);
    if (out != stackbuf)
        free(out);
}

void log_json_raw(enum log_level l, const char *event, const char *fields, size_t len)
{
    if (!log_enabled(l))
        return;
    char ts[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), ts);
    char head[160];
    int n = snprintf(head, sizeof(head), "{\"time\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"%s", ts,
                     log_level_name(l), event, len ? "," : "");
    if (n < 0 || (size_t)n >= sizeof(head))
        return;
    char stackbuf[2048];
    size_t total = (size_t)n + len + 2;
    char *out = total <= sizeof(stackbuf) ? stackbuf : xmalloc(total);
    memcpy(out, head, (size_t)n);
    memcpy(out + n, fields, len);
    out[n + len] = '}';
    out[n + len + 1] = '\n';
    write_all(out, total);
    if (out != stackbuf)
        free(out);
}

void log_msg(enum log_level l, const char *event, const char *fmt, ...)
{
    if (!log_enabled(l))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_json(l, event, json_pack("{s:s}", "message", msg));
}
