/* SPDX-License-Identifier: MIT */
/*
 * auth.h — who is calling and what they may do (spec §25, issue 3).
 *
 * DESIGN
 * session.c answers the /v1/auth and /v1/me endpoints (login, refresh with rotation and reuse
 * detection, logout). guard.c is the router's hook: for every non-public route it
 * authenticates the bearer token, then authorizes in the order of §25.5 — the token's tenant
 * must own the resource ({tenantId}), the venue ({venueId}) must be the tenant's and visible to
 * the caller, then role and capability — so no handler can forget a check. A resource of
 * another tenant, or a venue the caller has no access to, is 404; a known resource with too
 * low a role is 403 (§25.6, §25.10).
 */
#pragma once

#include "auth/token.h"
#include "http/http.h"

struct app;

/** What a route asks of its caller (http_route.min_role). */
enum auth_requirement {
    AUTH_ANY = 0,       /* any actor of the route's audience */
    AUTH_TENANT_VIEWER, /* TENANT_VIEWER or TENANT_ADMIN */
    AUTH_TENANT_ADMIN,  /* TENANT_ADMIN */
    AUTH_VENUE_VIEWER,  /* role on {venueId} ≥ VIEWER, or a tenant role */
    AUTH_VENUE_EDITOR,  /* role on {venueId} ≥ EDITOR, or TENANT_ADMIN */
    AUTH_VENUE_MANAGER, /* role on {venueId} ≥ MANAGER, or TENANT_ADMIN */
};

enum auth_actor_type {
    AUTH_ACTOR_USER,
    AUTH_ACTOR_DEVICE,
};

struct auth_actor {
    enum auth_actor_type type;
    struct token_claims claims; /* for a user: sub = user id, tid = tenant id */
};

/** The authenticated caller of a non-public route (never NULL inside such a handler). */
const struct auth_actor *auth_actor(const struct http_request *req);

/** The caller's effective role on @venue_id of its own tenant (the venue is assumed to be
 *  the tenant's): TENANT_ADMIN manages every venue, TENANT_VIEWER views every venue, anyone
 *  else has the role given on that venue, or VROLE_NONE. For handlers whose venue is not in
 *  the path (the guard does this for {venueId}). A lookup runs on @conn when not NULL (a
 *  handler inside a transaction), else on a pooled connection. 0 or -errno. */
int auth_venue_role(struct app *app, struct store_conn *conn, const struct token_claims *cl,
                    const char *venue_id, enum venue_role *ret);

/** Loads the token keys and registers the auth routes and the router hook. 0 or -errno. */
int auth_register(struct app *app);

/** Frees what auth_register() set up. */
void auth_release(struct app *app);

/* session.c */
int auth_session_register(struct app *app);
/* guard.c */
int auth_guard(struct http_request *req, const struct http_route *route, void *ud);

/** The 401 a device token gets once its device is gone (removed, disabled, moved, or its tenant
 *  disabled: §25.7), for HTTP_DEVICE_SELF_CHECK routes. Returns what http_reply_problem does. */
int auth_device_gone(struct http_request *req);

/** 1 if the device of device token @cl is still registered as the token says — live, ACTIVE,
 *  in the token's venue, of an ACTIVE tenant (§25.7) — 0 if not, or -errno; on @c, so a caller
 *  can ask it inside its own transaction (pairing, before it issues a device's token). */
int auth_device_live(struct store_conn *c, const struct token_claims *cl);
