/* SPDX-License-Identifier: MIT */
/* audit.c — appends audit entries; see audit.h. */
#include "audit.h"

#include <stdlib.h>

#include "clock.h"
#include "ids.h"

int audit_write(struct store_conn *c, const struct http_request *req, const struct audit_entry *e)
{
    char id[UUID_STR_LEN], now[TIMESTAMP_STR_LEN];
    ids_uuid(id);
    ids_timestamp(clock_now_ms(), now);
    char *details = e->details ? json_dumps(e->details, JSON_COMPACT) : NULL;
    const struct store_param p[] = {
        STORE_TEXT(id),
        STORE_TEXT(e->tenant_id),
        STORE_TEXT(e->actor_type),
        STORE_TEXT(e->actor_id),
        STORE_TEXT(e->action),
        STORE_TEXT(e->outcome ? e->outcome : "SUCCESS"),
        STORE_TEXT(e->resource_type),
        STORE_TEXT(e->resource_id),
        STORE_TEXT(e->venue_id),
        STORE_TEXT(req ? http_req_id(req) : NULL),
        STORE_TEXT(req ? http_req_client_ip(req) : NULL),
        STORE_TEXT(details),
        STORE_TEXT(now),
    };
    int r = store_exec(c,
                       "INSERT INTO audit_log (audit_log_id, tenant_id, actor_type, actor_id, "
                       "action, outcome, resource_type, resource_id, venue_id, request_id, ip, "
                       "details_json, created_at_utc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                       "$9, $10, $11, $12, $13)",
                       p, sizeof(p) / sizeof(p[0]), NULL);
    free(details);
    return r < 0 ? r : 0;
}
