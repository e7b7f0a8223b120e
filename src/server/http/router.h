/* SPDX-License-Identifier: MIT */
/*
 * router.h — the route table: patterns compiled into segments, matched against a raw path.
 * DESIGN: routes are few (hundreds) and fixed after start-up, so matching is a linear scan
 * over precompiled segment arrays, bucketed by the number of segments; no allocation while
 * matching. Pure: no I/O, no locks (the table is frozen before the first request).
 */
#pragma once

#include <stddef.h>

#include "http/http.h"

#define ROUTER_MAX_SEGMENTS 16
#define ROUTER_MAX_PARAMS   8

struct router;

struct router_entry {
    struct http_route route;
    void *userdata;
    size_t index; /* position in the table: metrics slot */
};

struct router_match {
    const struct router_entry *entry;
    size_t n_params;
    const char *names[ROUTER_MAX_PARAMS];
    char *values[ROUTER_MAX_PARAMS]; /* percent-decoded copies, owned by the match */
};

struct router *router_new(void);
struct router *router_free(struct router *r);

/** Adds routes. 0, or -EINVAL for a bad pattern or -EEXIST for a duplicate method+pattern. */
int router_add(struct router *r, const struct http_route *routes, size_t n, void *userdata);

/** Number of routes (metrics slots are 0..count-1). */
size_t router_count(const struct router *r);
const struct router_entry *router_entry_at(const struct router *r, size_t i);

/**
 * Matches @method on the raw @path (no query). HEAD matches GET routes.
 * 0 and *m filled; -ENOENT when no pattern matches the path; -EMSGSIZE (path too long,
 * too many segments); -EBADMSG when a segment has bad percent-encoding; -ENOTSUP when the path
 * matches but not the method, with *ret_allow the methods that do (enum http_method bits).
 */
int router_match(const struct router *r, enum http_method method, const char *path,
                 struct router_match *m, unsigned *ret_allow);

/** Frees the decoded parameter copies of a match. */
void router_match_release(struct router_match *m);

/** Parses a method name; 0 if unknown. */
enum http_method router_method_parse(const char *s);
const char *router_method_name(enum http_method m);
/** Writes "GET, HEAD, OPTIONS" for a method mask. */
void router_allow_string(unsigned mask, char *out, size_t n);
