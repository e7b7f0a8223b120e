/* SPDX-License-Identifier: MIT */
/*
 * jsonx.h — reading JSON a client sent, with limits jansson does not have on its own:
 * a maximum nesting depth and size, checked before jansson allocates anything, and an error
 * that says where (byte position, line, column) so the 400 problem can point at it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct jsonx_error {
    size_t position; /* byte offset, 0-based */
    int line;        /* 1-based */
    int column;      /* 1-based */
    char text[160];
};

/**
 * Parses @len bytes as one JSON value (object or array at the top, or any value when
 * @any_top is set), refusing nesting deeper than @max_depth and input longer than @max_len.
 * Returns 0 and a new reference in *ret, or -EINVAL (malformed), -E2BIG (too long) or
 * -ELOOP (too deep) with *err filled; *ret untouched on failure.
 */
int jsonx_parse(const char *data, size_t len, size_t max_len, unsigned max_depth, int any_top,
                json_t **ret, struct jsonx_error *err);

struct buf;

/**
 * Appends @s as a JSON string literal (quotes, escapes for '"', '\\' and control characters;
 * bytes that are not valid UTF-8 become U+FFFD) to @b. 0, or -E2BIG when @b is full.
 */
int jsonx_append_string(struct buf *b, const char *s);

/**
 * A JSON string of @s with every byte sequence that is not valid UTF-8 replaced by U+FFFD
 * (jansson's json_string() returns NULL for such input, and a member set from NULL is
 * silently missing). Never NULL.
 */
json_t *jsonx_string_lossy(const char *s);

/** True if @s is entirely valid UTF-8. */
bool jsonx_utf8_valid(const char *s);

/* _cleanup_(json_decrefp) comes with jansson >= 2.11 (jansson.h). */
