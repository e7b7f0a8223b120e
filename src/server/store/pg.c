/* SPDX-License-Identifier: MIT */
/*
 * pg.c — the PostgreSQL backend of the store (struct store_ops), on libpq.
 *
 * DESIGN
 * One PGconn per pooled connection, synchronous calls only (the pool gives each worker its
 * own connection, so there is nothing to multiplex). The URL goes to libpq unchanged as the
 * `dbname` of PQconnectdbParams with expand_dbname, after defaults that the URL's own
 * parameters override (libpq lets an expanded dbname override the keywords before it):
 *   connect_timeout=10        libpq would otherwise wait forever on an unreachable host;
 *   keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
 *   tcp_user_timeout=30000    a server that vanished (host down, NAT flow dropped) is noticed
 *                             in about a minute, idle or mid-request, instead of the kernel's
 *                             two hours or fifteen minutes of retransmissions;
 *   statement_timeout=30000   (in `options`) a stuck query or lock wait ends with -EBUSY
 *                             instead of pinning an HTTP worker thread forever;
 *   fallback_application_name=marqueed  shows in pg_stat_activity.
 * `options` is the one exception to "the URL's value replaces ours": a URL that sets options
 * for another reason (`-c search_path=…`) would silently drop the statement timeout, so our
 * `-c statement_timeout=30000` is put in front of the URL's options instead, where a
 * statement_timeout of the URL's own still wins (the server applies `-c` switches in order).
 *
 * Parameters travel as text with no declared types (paramTypes NULL): the server infers each
 * `$N`'s type from where it is used, integers are formatted with PRId64, results come back as
 * text. A parameter whose type cannot be inferred (`SELECT $1 IS NULL`) needs a CAST in the
 * SQL; that is also what keeps the SQL portable.
 *
 * Errors map by SQLSTATE (store_pg_errno). The text kept for last_error() is the SQLSTATE and
 * the primary message only: the DETAIL line quotes row values ("Key (email_normalized)=(…)
 * already exists", "Failing row contains (…)"), and that text ends up in logs. Data exceptions
 * (class 22) quote the offending input in the primary message too, so for them only the
 * message's leading phrase is kept. A connection whose PQstatus is no longer
 * CONNECTION_OK (server restart, network loss, terminated backend) reports is_broken(), so the
 * pool replaces it on the next acquire; the statement that found out answers -ECONNREFUSED.
 * NOTICEs never reach stderr: client_min_messages=warning, and a notice processor that drops
 * what still arrives (library code does not log).
 */
#include "store/store-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

struct pg_conn {
    PGconn *conn;
    bool broken; /* left in a state we cannot use (e.g. COPY) even though the socket is fine */
    char *errmsg;
};

static void pg_result_freep(PGresult **res)
{
    PQclear(*res);
}

static bool sqlstate_is(const char *s, const char *code)
{
    return strncmp(s, code, 5) == 0;
}

int store_pg_errno(const char *sqlstate)
{
    if (!sqlstate || strlen(sqlstate) != 5)
        return -EIO;
    if (sqlstate_is(sqlstate, "23505") || sqlstate_is(sqlstate, "23P01"))
        return -EEXIST; /* unique_violation, exclusion_violation */
    if (sqlstate_is(sqlstate, "23503"))
        return -ENXIO; /* foreign_key_violation: a bad reference, not a missing resource */
    if (sqlstate_is(sqlstate, "23502") || sqlstate_is(sqlstate, "23514"))
        return -EINVAL; /* not_null_violation, check_violation */
    if (sqlstate_is(sqlstate, "40001") || sqlstate_is(sqlstate, "40P01"))
        return -EAGAIN; /* serialization_failure, deadlock_detected */
    if (sqlstate_is(sqlstate, "55P03") || sqlstate_is(sqlstate, "53300") ||
        sqlstate_is(sqlstate, "57014"))
        return -EBUSY; /* lock_not_available, too_many_connections, query_canceled (timeout) */
    if (sqlstate_is(sqlstate, "08P01"))
        return -EINVAL; /* protocol_violation: e.g. a bind message with too few parameters */
    if (sqlstate_is(sqlstate, "57P01") || sqlstate_is(sqlstate, "57P02") ||
        sqlstate_is(sqlstate, "57P03"))
        return -ECONNREFUSED; /* admin/crash shutdown, cannot connect now */

    if (strncmp(sqlstate, "08", 2) == 0)
        return -ECONNREFUSED; /* connection exception */
    if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
        strncmp(sqlstate, "25", 2) == 0 || strncmp(sqlstate, "42", 2) == 0 ||
        strncmp(sqlstate, "2B", 2) == 0 || strncmp(sqlstate, "0A", 2) == 0)
        return -EINVAL; /* data exception, other integrity, tx state, syntax/access, … */
    if (strncmp(sqlstate, "40", 2) == 0)
        return -EAGAIN; /* other transaction rollbacks */
    return -EIO;        /* 53 resources, 58 system, XX internal, anything unknown */
}

static void notice_drop(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void set_errmsg(struct pg_conn *pc, const char *msg)
{
    free(pc->errmsg);
    pc->errmsg = xstrdup(msg ? msg : "");
    size_t len = strlen(pc->errmsg);
    while (len > 0 && (pc->errmsg[len - 1] == '\n' || pc->errmsg[len - 1] == ' '))
        pc->errmsg[--len] = '\0';
}

/* Sets the connection's error text from a server error: "SQLSTATE primary message", never the
 * DETAIL/HINT/CONTEXT fields (see DESIGN). */
static void set_errmsg_server(struct pg_conn *pc, const char *sqlstate, const char *primary)
{
    if (!primary)
        primary = "";
    size_t len = strlen(primary);
    if (strncmp(sqlstate, "22", 2) == 0) {
        /* 'invalid input syntax for type integer: "<input>"', 'value "<input>" is out of
         * range …', 'invalid byte sequence for encoding "UTF8": 0x…': keep what comes before
         * the first quote or colon, which names the problem but none of the data. */
        len = strcspn(primary, "\":");
        while (len > 0 && primary[len - 1] == ' ')
            len--;
    }
    free(pc->errmsg);
    pc->errmsg = xasprintf("%s%s%.*s", sqlstate, len > 0 ? " " : "",
                           (int)(len > INT_MAX ? INT_MAX : len), primary);
}

/* The errno for a failed @res (which may be NULL when libpq could not even send). */
static int result_fail(struct pg_conn *pc, const PGresult *res)
{
    const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (sqlstate)
        set_errmsg_server(pc, sqlstate, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    else /* libpq's own message (lost connection, …): it never quotes data */
        set_errmsg(pc, res ? PQresultErrorMessage(res) : PQerrorMessage(pc->conn));
    if (PQstatus(pc->conn) != CONNECTION_OK)
        return -ECONNREFUSED;
    return store_pg_errno(sqlstate);
}

/* 0 for a successful result; anything else is mapped to -errno (and the connection marked
 * broken if it was left in a state we cannot continue from). */
static int result_check(struct pg_conn *pc, const PGresult *res)
{
    switch (res ? PQresultStatus(res) : PGRES_FATAL_ERROR) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return 0;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        pc->broken = true; /* the protocol is now in COPY mode; reconnect rather than unwind */
        set_errmsg(pc, "COPY is not supported by the store");
        return -EINVAL;
    default:
        return result_fail(pc, res);
    }
}

static void pg_disconnect(void *conn)
{
    struct pg_conn *pc = conn;
    if (!pc)
        return;
    PQfinish(pc->conn);
    free(pc->errmsg);
    free(pc);
}

#define DEFAULT_OPTIONS "-c statement_timeout=30000"

static int pg_connect(const char *target, const struct store_options *opts, void **ret_conn)
{
    (void)opts;
    char *parse_error = NULL;

    /* A malformed URL is the caller's mistake (-EINVAL), not an unreachable server. */
    PQconninfoOption *info = PQconninfoParse(target, &parse_error);
    if (!info) {
        if (!parse_error)
            abort(); /* libpq's only other failure is out of memory */
        PQfreemem(parse_error);
        return -EINVAL;
    }
    /* Ours first, the URL's after them: the server applies -c switches in order, so the
     * URL's own statement_timeout (if any) is the one that sticks (see DESIGN). */
    _cleanup_free_ char *options = NULL;
    for (PQconninfoOption *o = info; o->keyword; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val && *o->val)
            options = xasprintf("%s %s", DEFAULT_OPTIONS, o->val);
    PQconninfoFree(info);

    /* Everything before "dbname" is a default that the URL overrides; "options" comes after
     * it because it already holds the URL's options. */
    static const char *const keywords[] = {
        "connect_timeout",     "keepalives",       "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout",
        "fallback_application_name",
        "dbname",
        "options",
        NULL,
    };
    const char *const values[] = {
        "10", "1", "30",
        "10", "3", "30000", /* ms */
        "marqueed",
        target,
        options ? options : DEFAULT_OPTIONS,
        NULL,
    };
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    if (!conn)
        abort();
    if (PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        return -ECONNREFUSED;
    }
    PQsetNoticeProcessor(conn, notice_drop, NULL);

    _cleanup_(pg_result_freep) PGresult *res = PQexec(conn, "SET client_min_messages = warning");
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        PQfinish(conn);
        return -ECONNREFUSED;
    }

    struct pg_conn *pc = xcalloc(1, sizeof(*pc));
    pc->conn = conn;
    *ret_conn = pc;
    return 0;
}

/* Rows changed by the command of @res: PQcmdTuples also counts SELECT's rows, which are not
 * changes (SQLite reports 0 for them, and so do we). */
static int changes_of(const PGresult *res)
{
    const char *status = PQcmdStatus((PGresult *)res);
    if (!status || strncmp(status, "SELECT", 6) == 0)
        return 0;
    const char *tuples = PQcmdTuples((PGresult *)res);
    int64_t n = 0;
    if (!tuples || !*tuples || parse_int64(tuples, 0, INT64_MAX, &n) < 0)
        return 0;
    return n > INT_MAX ? INT_MAX : (int)n;
}

static struct store_result *result_copy(const PGresult *res)
{
    int n_rows = PQntuples(res), n_cols = PQnfields(res);
    struct store_result *r = store_result_new((size_t)n_cols);
    for (int col = 0; col < n_cols; col++)
        store_result_set_name(r, (size_t)col, PQfname(res, col));
    for (int row = 0; row < n_rows; row++) {
        size_t ri = store_result_add_row(r);
        for (int col = 0; col < n_cols; col++) {
            if (PQgetisnull(res, row, col))
                continue;
            store_result_set_cell(r, ri, (size_t)col, PQgetvalue(res, row, col),
                                  (size_t)PQgetlength(res, row, col));
        }
    }
    return r;
}

#define INT_TEXT_SIZE 24 /* "-9223372036854775808" and a NUL, rounded up */

static int pg_exec(void *conn, const char *sql, const struct store_param *params, size_t n_params,
                   struct store_result **ret_result)
{
    struct pg_conn *pc = conn;

    if (n_params > STORE_MAX_PARAMS)
        return -EINVAL;
    _cleanup_free_ const char **values = xcalloc(n_params, sizeof(*values));
    _cleanup_free_ char *ints = xmalloc(n_params * INT_TEXT_SIZE);
    for (size_t i = 0; i < n_params; i++) {
        switch (params[i].type) {
        case STORE_P_TEXT:
            values[i] = params[i].text;
            break;
        case STORE_P_INT:
            snprintf(ints + i * INT_TEXT_SIZE, INT_TEXT_SIZE, "%" PRId64, params[i].i);
            values[i] = ints + i * INT_TEXT_SIZE;
            break;
        case STORE_P_NULL:
            values[i] = NULL;
            break;
        default:
            return -EINVAL;
        }
    }

    _cleanup_(pg_result_freep) PGresult *res =
        PQexecParams(pc->conn, sql, (int)n_params, NULL, values, NULL, NULL, 0);
    int r = result_check(pc, res);
    if (r < 0)
        return r;
    if (ret_result)
        *ret_result =
            PQresultStatus(res) == PGRES_TUPLES_OK ? result_copy(res) : store_result_new(0);
    return changes_of(res);
}

static int pg_exec_script(void *conn, const char *sql)
{
    struct pg_conn *pc = conn;
    /* PQexec runs every statement of a simple query and returns the last result; it stops at
     * the first error, which is then the result. */
    _cleanup_(pg_result_freep) PGresult *res = PQexec(pc->conn, sql);
    return result_check(pc, res);
}

static bool pg_is_broken(void *conn)
{
    struct pg_conn *pc = conn;
    return pc->broken || PQstatus(pc->conn) != CONNECTION_OK;
}

static int pg_ping(void *conn)
{
    struct pg_conn *pc = conn;
    /* The empty query is the cheapest round trip the protocol has. */
    _cleanup_(pg_result_freep) PGresult *res = PQexec(pc->conn, "");
    return result_check(pc, res);
}

static bool pg_in_transaction(void *conn)
{
    struct pg_conn *pc = conn;
    PGTransactionStatusType st = PQtransactionStatus(pc->conn);
    return st == PQTRANS_INTRANS || st == PQTRANS_INERROR || st == PQTRANS_ACTIVE;
}

static const char *pg_last_error(void *conn)
{
    struct pg_conn *pc = conn;
    return pc->errmsg ? pc->errmsg : "";
}

const struct store_ops store_pg_ops = {
    .name = "postgresql",
    .backend = STORE_POSTGRES,
    .begin_sql = "BEGIN",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
    .exec_script = pg_exec_script,
    .is_broken = pg_is_broken,
    .ping = pg_ping,
    .in_transaction = pg_in_transaction,
    .last_error = pg_last_error,
};
