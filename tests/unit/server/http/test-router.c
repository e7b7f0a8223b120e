/* SPDX-License-Identifier: MIT */
/* test-router.c — pattern compilation, matching, params, 405 sets, encoded-path safety. */
#include <errno.h>
#include <string.h>

#include "../../../unit/cmocka-prelude.h"
#include "http/router.h"
#include "macro.h"

static int h(struct http_request *req, void *ud)
{
    return 0;
}
static int h2(struct http_request *req, void *ud)
{
    return 1;
}

static const struct http_route routes[] = {
    {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/healthz", .handler = h},
    {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/v1/venues/{venueId}", .handler = h},
    {.audience = HTTP_PUBLIC, .method = HTTP_PATCH, .pattern = "/v1/venues/{venueId}", .handler = h2},
    {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/v1/venues/{venueId}/devices/{deviceId}", .handler = h},
    {.audience = HTTP_PUBLIC, .method = HTTP_POST, .pattern = "/v1/venues/{venueId}/devices/pairing/claim", .handler = h},
    {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/", .handler = h},
};

static struct router *make(void)
{
    struct router *r = router_new();
    assert_int_equal(router_add(r, routes, ARRAY_SIZE(routes), (void *)0x1), 0);
    return r;
}

static void matches_literals_and_params(void **state)
{
    struct router *r = make();
    struct router_match m;
    unsigned allow = 0;
    assert_int_equal(router_match(r, HTTP_GET, "/healthz", &m, &allow), 0);
    assert_string_equal(m.entry->route.pattern, "/healthz");
    assert_int_equal(m.entry->index, 0);
    assert_ptr_equal(m.entry->userdata, (void *)0x1);
    router_match_release(&m);

    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/abc/devices/d%20e", &m, &allow), 0);
    assert_int_equal(m.n_params, 2);
    assert_string_equal(m.names[0], "venueId");
    assert_string_equal(m.values[0], "abc");
    assert_string_equal(m.names[1], "deviceId");
    assert_string_equal(m.values[1], "d e");
    router_match_release(&m);

    assert_int_equal(router_match(r, HTTP_PATCH, "/v1/venues/x", &m, &allow), 0);
    assert_ptr_equal(m.entry->route.handler, h2);
    router_match_release(&m);

    assert_int_equal(router_match(r, HTTP_GET, "/", &m, &allow), 0);
    router_match_release(&m);
    router_free(r);
}

static void literal_segment_beats_nothing_but_param_still_matches(void **state)
{
    struct router *r = make();
    struct router_match m;
    unsigned allow;
    /* /v1/venues/{id}/devices/pairing has GET via {deviceId}="pairing" */
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/v/devices/pairing", &m, &allow), 0);
    assert_string_equal(m.values[1], "pairing");
    router_match_release(&m);
    assert_int_equal(router_match(r, HTTP_POST, "/v1/venues/v/devices/pairing/claim", &m, &allow),
                     0);
    router_match_release(&m);
    router_free(r);
}

static void not_found_and_method_not_allowed(void **state)
{
    struct router *r = make();
    struct router_match m;
    unsigned allow = 0;
    assert_int_equal(router_match(r, HTTP_GET, "/nope", &m, &allow), -ENOENT);
    assert_int_equal(router_match(r, HTTP_GET, "/healthz/", &m, &allow), -ENOENT);
    assert_int_equal(router_match(r, HTTP_GET, "//healthz", &m, &allow), -ENOENT);
    assert_int_equal(router_match(r, HTTP_GET, "healthz", &m, &allow), -ENOENT);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues", &m, &allow), -ENOENT);
    assert_int_equal(router_match(r, HTTP_DELETE, "/v1/venues/1", &m, &allow), -ENOTSUP);
    assert_int_equal(allow, HTTP_GET | HTTP_HEAD | HTTP_PATCH | HTTP_OPTIONS);
    char s[96];
    router_allow_string(allow, s, sizeof(s));
    assert_string_equal(s, "GET, HEAD, PATCH, OPTIONS");
    /* OPTIONS always reports the allow set, HEAD follows GET */
    assert_int_equal(router_match(r, HTTP_OPTIONS, "/healthz", &m, &allow), -ENOTSUP);
    assert_int_equal(allow, HTTP_GET | HTTP_HEAD | HTTP_OPTIONS);
    assert_int_equal(router_match(r, HTTP_HEAD, "/healthz", &m, &allow), 0);
    router_match_release(&m);
    router_free(r);
}

static void encoded_paths_are_safe(void **state)
{
    struct router *r = make();
    struct router_match m;
    unsigned allow;
    /* an encoded slash cannot split a segment: it is refused inside a parameter */
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/a%2Fb", &m, &allow), -EBADMSG);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/a%2fb", &m, &allow), -EBADMSG);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/a%00", &m, &allow), -EBADMSG);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/a%4", &m, &allow), -EBADMSG);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/a%zz", &m, &allow), -EBADMSG);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/%", &m, &allow), -EBADMSG);
    /* a parameter is text that ends up in JSON: bytes that are not UTF-8 are refused */
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/%ff", &m, &allow), -EBADMSG);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/%c3", &m, &allow), -EBADMSG);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/venues/caf%c3%a9", &m, &allow), 0);
    assert_string_equal(m.values[0], "caf\xc3\xa9");
    router_match_release(&m);
    /* literal segments compare raw: an encoded literal is not the literal */
    assert_int_equal(router_match(r, HTTP_GET, "/health%7A", &m, &allow), -ENOENT);
    /* many segments, long paths */
    char longp[4000];
    memset(longp, 'a', sizeof(longp));
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(router_match(r, HTTP_GET, longp, &m, &allow), -EMSGSIZE);
    assert_int_equal(router_match(r, HTTP_GET, "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", &m, &allow),
                     -EMSGSIZE);
    router_free(r);
}

static void bad_tables_are_refused(void **state)
{
    struct router *r = router_new();
    const struct http_route bad[] = {
        {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "nope", .handler = h},
        {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/a//b", .handler = h},
        {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/a/{}", .handler = h},
        {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/a/{x", .handler = h},
        {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/a/b c", .handler = h},
        {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/a", .handler = NULL},
        {.audience = HTTP_PUBLIC, .method = HTTP_HEAD, .pattern = "/a", .handler = h},
        {.method = 0, .pattern = "/a", .handler = h},
        {.method = HTTP_GET, .pattern = "/no-audience", .handler = h}, /* must say who calls */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(router_add(r, &bad[i], 1, NULL), -EINVAL);
    const struct http_route one = {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/x/{a}", .handler = h};
    const struct http_route same = {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/x/{b}", .handler = h};
    assert_int_equal(router_add(r, &one, 1, NULL), 0);
    assert_int_equal(router_add(r, &same, 1, NULL), -EEXIST);
    assert_int_equal(router_count(r), 1);
    assert_int_equal(router_method_parse("PATCH"), HTTP_PATCH);
    assert_int_equal(router_method_parse("patch"), 0);
    assert_int_equal(router_method_parse("BREW"), 0);
    router_free(r);
}

static void most_specific_pattern_wins(void **state)
{
    struct router *r = router_new();
    const struct http_route t[] = {
        {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/d/{id}", .handler = h},
        {.audience = HTTP_PUBLIC, .method = HTTP_GET, .pattern = "/d/pairing", .handler = h2},
    };
    assert_int_equal(router_add(r, t, 2, NULL), 0);
    struct router_match m;
    unsigned allow;
    assert_int_equal(router_match(r, HTTP_GET, "/d/pairing", &m, &allow), 0);
    assert_ptr_equal(m.entry->route.handler, h2);
    router_match_release(&m);
    assert_int_equal(router_match(r, HTTP_GET, "/d/other", &m, &allow), 0);
    assert_ptr_equal(m.entry->route.handler, h);
    assert_string_equal(m.values[0], "other");
    router_match_release(&m);
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_literals_and_params),
        cmocka_unit_test(literal_segment_beats_nothing_but_param_still_matches),
        cmocka_unit_test(not_found_and_method_not_allowed),
        cmocka_unit_test(encoded_paths_are_safe),
        cmocka_unit_test(bad_tables_are_refused),
        cmocka_unit_test(most_specific_pattern_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
