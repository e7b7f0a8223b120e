/* SPDX-License-Identifier: MIT */
/*
 * admin-internal.h — what the tenant-admin files share: admin.c holds the helpers and the route
 * table, admin-venues.c, admin-users.c and admin-audit.c the handlers (design in admin.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "http/http.h"
#include "store/store.h"

#define NAME_MAX_CHARS  200
#define QUERY_MAX_BYTES 200
#define VENUE_ROLES_MAX 500 /* entries of one PUT …/venue-roles */
#define ROLE_LIST_MAX   8   /* entries of tenantRoles / capabilities */
#define TIME_MAX        "9999-12-31T23:59:59.999Z"

json_t *adm_jstr(const char *s);
bool adm_same(const char *a, const char *b);
size_t adm_utf8_chars(const char *s);
/* the shared field problem (http.h); the name the modules using these helpers know it by */
#define adm_field_problem http_field_problem
int adm_body_text(struct http_request *req, const char *name, bool required, size_t max_chars,
                  const char **ret);
int adm_query_contains(struct http_request *req, char **ret);
char *adm_page_next(const struct store_result *res, unsigned limit, size_t k0, size_t k1,
                    size_t *ret_shown);
int adm_reply_page(struct http_request *req, json_t *items, char *cursor);
void adm_set_location(struct http_request *req, const char *tenant_id, const char *kind,
                      const char *id);

/* handlers, registered by admin.c */
int admin_venue_create(struct http_request *req, void *ud);
int admin_venue_get(struct http_request *req, void *ud);
int admin_venue_list(struct http_request *req, void *ud);
int admin_venue_update(struct http_request *req, void *ud);
int admin_user_create(struct http_request *req, void *ud);
int admin_user_list(struct http_request *req, void *ud);
int admin_user_get(struct http_request *req, void *ud);
int admin_venue_roles_put(struct http_request *req, void *ud);
int admin_audit_list(struct http_request *req, void *ud);
