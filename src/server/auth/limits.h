/* SPDX-License-Identifier: MIT */
/*
 * limits.h — the rate limits of spec §27.1 as marqueed applies them.
 *
 * DESIGN
 * One table names every class with its scope (what the key is: client IP, account, user,
 * tenant or device) and its default limit. `rate_limits` in the configuration overrides a
 * class for everyone ("login_ip=20/60,mutation=240/60"), `tenant_rate_limits` for one tenant
 * ("<tenantId>:mutation=600/60"), for the enterprise customers §27.1 mentions. A route names
 * its class (http_route.rate_class) and the router's hook applies it after authentication; the
 * classes whose key is only known inside the handler (the account of a login, the user of a
 * refresh token) are applied there with limits_check(). A route without a class gets the
 * generous default of its audience (default_ip, default_user, default_device), so every
 * answer but the operator probes' (HTTP_NO_RATE_LIMIT) carries
 * X-RateLimit-Limit/Remaining/Reset; a refusal is 429 with Retry-After and retryAfterSeconds.
 */
#pragma once

#include "http/http.h"

struct app;
struct limits;

/** Builds the table from the defaults and the configuration. 0, or -EINVAL with *ret_problem. */
int limits_new(const char *overrides, const char *tenant_overrides, struct limits **ret,
               const char **ret_problem);
struct limits *limits_free(struct limits *l);

/**
 * Counts one request of class @cls for @key (of @tenant_id, NULL if none) and sets the
 * X-RateLimit-* headers. 0 when allowed; when refused replies 429 and returns -ECANCELED.
 * An unknown class is a programming error: -EINVAL.
 */
int limits_check(struct app *app, struct http_request *req, const char *cls, const char *key,
                 const char *tenant_id);

/** The scope of a class: "ip", "account", "user", "tenant" or "device"; NULL if unknown. */
const char *limits_scope(const struct limits *l, const char *cls);
