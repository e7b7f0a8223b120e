/* SPDX-License-Identifier: MIT */
/*
 * admin.h — the tenant-admin endpoints of spec §27.4 (venues, users, venue roles) and the
 * tenant's audit log reader, GET /v1/audit (§25.9). Every route is for TENANT_ADMINs of the
 * token's tenant; the router (auth/guard.c) checks that before a handler runs, and every query in
 * admin-venues.c, admin-users.c and admin-audit.c is filtered by the token's tenant all the same.
 */
#pragma once

struct app;

/**
 * Registers the tenant-admin routes on app->http (before the server starts; after
 * auth_register(), whose hook authorizes them). Handlers run on the server's worker threads
 * and use app->store. 0, or -EINVAL if the route table is refused.
 */
int tenant_admin_register(struct app *app);
