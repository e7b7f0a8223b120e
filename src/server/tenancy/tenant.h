/* SPDX-License-Identifier: MIT */
/*
 * tenant.h — creating a tenant with its first tenant admin (the `create-tenant` command and
 * the demo data of `make run`), and the checks every way of making users and venues shares:
 * email shape, IANA time zone, password policy and Argon2id hashing (the HTTP endpoints of
 * §27.4 live in admin.c and use these, so both paths accept exactly the same input).
 */
#pragma once

#include <stdbool.h>

#include "ids.h"
#include "store/store.h"

#define TENANT_PASSWORD_MIN 12
#define TENANT_PASSWORD_MAX 256
#define TENANT_EMAIL_MAX    254
#define TENANT_PASSWORD_HASH_LEN 128 /* crypto_pwhash_STRBYTES, checked in tenant.c */

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

/**
 * Hashes @password with Argon2id (interactive limits, ~50 ms of CPU on purpose: call it outside
 * any transaction) into @out as a PHC string. 0, or -ENOMEM when libsodium cannot get the
 * memory it needs (@out is then untouched). Does not check the policy.
 */
int tenant_password_hash(const char *password, char out[TENANT_PASSWORD_HASH_LEN]);

/** True if @email looks like an address (one '@', a dot in the domain, no blanks or quotes,
 *  3..254 bytes). Pure. */
bool tenant_email_valid(const char *email);

/** The lookup form of @email (ASCII lower case, as login folds it). Caller frees. Never NULL. */
char *tenant_email_normalize(const char *email);

/** True if @tz is an IANA zone name the system tz database has (what the resolver reads).
 *  Reads the file system; never follows a path outside /usr/share/zoneinfo. */
bool tenant_timezone_valid(const char *tz);
