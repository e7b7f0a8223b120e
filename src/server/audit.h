/* SPDX-License-Identifier: MIT */
/*
 * audit.h — the tenant-scoped audit log (spec §25.9): one call for every module (logins,
 * token reuse, role changes, pairing, commands, publishes). Written inside the caller's
 * transaction, so an action and its audit entry commit together.
 */
#pragma once

#include "http/http.h"
#include "store/store.h"

struct audit_entry {
    const char *tenant_id;     /* required */
    const char *actor_type;    /* USER, DEVICE, SYSTEM, ANONYMOUS */
    const char *actor_id;      /* may be NULL */
    const char *action;        /* dotted verb: auth.login, auth.refresh_reuse … */
    const char *outcome;       /* SUCCESS, FAILURE, DENIED */
    const char *resource_type; /* may be NULL */
    const char *resource_id;   /* may be NULL */
    const char *venue_id;      /* may be NULL */
    json_t *details;           /* borrowed, may be NULL; never a secret */
};

/** Appends @e with the request id and client IP of @req (may be NULL). 0 or -errno. */
int audit_write(struct store_conn *c, const struct http_request *req, const struct audit_entry *e);
