/* SPDX-License-Identifier: MIT */
/* test-problem.c — problem+json bodies (§27.2) and the errno → status table. */
#include <errno.h>
#include <string.h>

#include "../../../unit/cmocka-prelude.h"
#include "http/internal.h"
#include "macro.h"

static struct http_server *srv;

static struct http_request *fake_request(const char *path)
{
    struct http_request *req = xcalloc(1, sizeof(*req));
    req->srv = srv;
    req->path = xstrdup(path);
    snprintf(req->request_id, sizeof(req->request_id), "req-123");
    return req;
}

static void problem_body_has_every_member(void **state)
{
    struct http_request *req = fake_request("/v1/library/playlists/pl_1/reorder");
    int r = http_reply_problem(req, 412, "PRECONDITION_FAILED", "Resource has changed.",
                               json_pack("{s:s}", "currentEtag", "\"abc\""));
    assert_int_equal(r, -ECANCELED);
    assert_true(req->replied);
    assert_int_equal(req->status, 412);
    assert_string_equal(req->resp_type, "application/problem+json");
    json_error_t je;
    json_t *b = json_loadb(req->resp_body, req->resp_len, 0, &je);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "type")),
                        "https://marquee.test/errors/PRECONDITION_FAILED");
    assert_string_equal(json_string_value(json_object_get(b, "title")), "Precondition Failed");
    assert_int_equal(json_integer_value(json_object_get(b, "status")), 412);
    assert_string_equal(json_string_value(json_object_get(b, "code")), "PRECONDITION_FAILED");
    assert_string_equal(json_string_value(json_object_get(b, "detail")), "Resource has changed.");
    assert_string_equal(json_string_value(json_object_get(b, "instance")),
                        "/v1/library/playlists/pl_1/reorder");
    assert_string_equal(json_string_value(json_object_get(b, "requestId")), "req-123");
    assert_string_equal(json_string_value(json_object_get(b, "currentEtag")), "\"abc\"");
    json_decref(b);
    http_request_free(req);
}

static void extra_members_cannot_override_the_standard_ones(void **state)
{
    struct http_request *req = fake_request("/x");
    http_reply_problem(req, 404, "NOT_FOUND", NULL,
                       json_pack("{s:i,s:s}", "status", 200, "requestId", "forged"));
    json_t *b = json_loadb(req->resp_body, req->resp_len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(b, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(b, "requestId")), "req-123");
    assert_string_equal(json_string_value(json_object_get(b, "detail")), "Not Found");
    json_decref(b);
    http_request_free(req);
}

static void first_reply_wins(void **state)
{
    struct http_request *req = fake_request("/x");
    assert_int_equal(http_reply_json(req, 201, json_pack("{s:i}", "a", 1)), 0);
    assert_int_equal(http_reply_problem(req, 500, "INTERNAL_ERROR", "late", NULL), -ECANCELED);
    assert_int_equal(req->status, 201);
    assert_string_equal(req->resp_body, "{\"a\":1}");
    assert_int_equal(http_reply_empty(req, 204), -EALREADY);
    http_request_free(req);
}

static void errno_table(void **state)
{
    const char *code;
    struct {
        int err;
        unsigned status;
        const char *code;
    } cases[] = {
        {-ENOENT, 404, "NOT_FOUND"},        {-EEXIST, 409, "CONFLICT"},
        {-EBUSY, 503, "SERVICE_UNAVAILABLE"}, {-ECONNREFUSED, 503, "SERVICE_UNAVAILABLE"},
        {-E2BIG, 413, "PAYLOAD_TOO_LARGE"}, {-EPERM, 403, "FORBIDDEN"},
        {-EACCES, 401, "UNAUTHORIZED"},     {-EBADMSG, 400, "BAD_REQUEST"},
        {-EINVAL, 500, "INTERNAL_ERROR"},   {-ENXIO, 422, "INVALID_REFERENCE"},
        {-ESTALE, 412, "PRECONDITION_FAILED"}, {-EDOM, 422, "VALIDATION_FAILED"},
        {-ENOTTY, 500, "INTERNAL_ERROR"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        assert_int_equal(http_status_for_errno(cases[i].err, &code), cases[i].status);
        assert_string_equal(code, cases[i].code);
    }
    unsigned statuses[] = {400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 428, 429, 500, 503};
    for (size_t i = 0; i < ARRAY_SIZE(statuses); i++)
        assert_string_not_equal(http_status_title(statuses[i]), "Error");
}

static void if_match_is_required(void **state)
{
    struct http_request *req = fake_request("/v1/x");
    /* no connection: no headers at all, so If-Match is missing */
    assert_int_equal(http_require_if_match(req, "\"v1\""), -ECANCELED);
    assert_int_equal(req->status, 428);
    http_request_free(req);
}

int main(void)
{
    struct http_server_options o = {.external = true, .public_url = "https://marquee.test"};
    if (http_server_new(&o, &srv) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(problem_body_has_every_member),
        cmocka_unit_test(extra_members_cannot_override_the_standard_ones),
        cmocka_unit_test(first_reply_wins),
        cmocka_unit_test(errno_table),
        cmocka_unit_test(if_match_is_required),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    http_server_free(srv);
    return r;
}
