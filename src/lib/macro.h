/* SPDX-License-Identifier: MIT */
/*
 * macro.h — the few helpers every marquee file uses: cleanup attributes (systemd style),
 * TAKE_PTR for handing over ownership, ARRAY_SIZE, and the abort-on-OOM allocators.
 *
 * Out of memory is not an error a request can recover from: xmalloc() and friends abort.
 * Anything whose size a client controls goes through a bounded buffer (buf.h) instead.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_     __attribute__((noreturn))

/** Takes the pointer out of a variable, leaving NULL, so a cleanup attribute does not free it. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _tp = (p);                                                                   \
        (p) = NULL;                                                                                \
        _tp;                                                                                       \
    })

/** Takes a file descriptor out of a variable, leaving -1. */
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _tfd = (fd);                                                                           \
        (fd) = -1;                                                                                 \
        _tfd;                                                                                      \
    })

static inline void freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/** Allocation that aborts the process when memory is exhausted; never returns NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/** Formats into a new heap string (vasprintf); aborts when out of memory. */
char *xasprintf(const char *fmt, ...) _printf_(1, 2);

/** Parses a whole base-10 integer in [min, max]; 0 or -EINVAL / -ERANGE. Output untouched on error. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);
