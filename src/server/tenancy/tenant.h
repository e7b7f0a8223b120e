/* SPDX-License-Identifier: MIT */
/*
 * tenant.h — creating a tenant with its first tenant admin (the `create-tenant` command and
 * the demo data of `make run`). The HTTP endpoints for tenancy arrive with issue 3.
 */
#pragma once

#include "ids.h"
#include "store/store.h"

#define TENANT_PASSWORD_MIN 12
#define TENANT_PASSWORD_MAX 256

struct tenant_created {
    char tenant_id[UUID_STR_LEN];
    char user_id[UUID_STR_LEN];
    char venue_id[UUID_STR_LEN]; /* empty when no venue was asked for */
};

/**
 * In one transaction: a tenant named @name (default time zone @timezone), a user @email with
 * the Argon2id hash of @password and the TENANT_ADMIN role, and, when @venue_name is not NULL,
 * a venue in @timezone with its manifest epoch.
 * Returns 0 and fills *ret, or -EINVAL (bad name, email, password or time zone: *ret_problem
 * says which), -EEXIST (a tenant of that name exists), or a store error.
 */
int tenant_create(struct store *s, const char *name, const char *email, const char *password,
                  const char *timezone, const char *venue_name, struct tenant_created *ret,
                  const char **ret_problem);

/** True if at least one tenant exists (0/1), or -errno. */
int tenant_any(struct store *s);

/** Validates a password against the minimum policy; NULL if fine, else why not. */
const char *tenant_password_problem(const char *password);
