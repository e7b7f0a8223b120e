/* SPDX-License-Identifier: MIT */
/*
 * buf.h — a growable byte buffer with a hard ceiling (curl's curlx_dyn idea).
 *
 * Everything whose size a client controls (request bodies, header copies, cursors) goes into
 * a buf with a `max`; crossing it is -E2BIG (HTTP 413/400), not an allocation that grows until
 * the process dies. The data is always NUL-terminated so text can be read in place.
 */
#pragma once

#include <stddef.h>

struct buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len */
};

/** Prepares an empty buffer that may hold at most @max bytes. Never fails. */
void buf_init(struct buf *b, size_t max);

/** Appends @n bytes. 0, or -E2BIG when len + n would exceed max (buffer unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);

/** Appends a NUL-terminated string. Same results as buf_append. */
int buf_append_str(struct buf *b, const char *s);

/** Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);

/** Frees the memory; the buffer may be reused after buf_init. */
void buf_release(struct buf *b);

/** Hands the data to the caller (who frees it) and empties the buffer. Never NULL. */
char *buf_steal(struct buf *b);
