/* SPDX-License-Identifier: MIT */
/* test-token.c — access tokens: round trip, rotation, and every forgery §25 and issue 3 name
 * (alg none, forged signature, another key, wrong audience or issuer, expired, tampering). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "../../../unit/cmocka-prelude.h"
#include "auth/token.h"
#include "macro.h"

#define ISS   "marquee"
#define AUD   "marquee-api"
#define NOW   1795339800
#define KEY_A "ka:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define KEY_B "kb:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA"

static struct token_claims sample(void)
{
    struct token_claims c = {.tenant_roles = TROLE_ADMIN,
                             .caps = CAP_EDIT_SHARED_LIBRARY,
                             .iat = NOW,
                             .exp = NOW + 900,
                             .n_venue_roles = 2};
    snprintf(c.sub, sizeof(c.sub), "0f8fad5b-d9cb-469f-a165-70867728950e");
    snprintf(c.tid, sizeof(c.tid), "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    snprintf(c.venue_roles[0].venue_id, UUID_STR_LEN, "16fd2706-8baf-433b-82eb-8c7fada847da");
    c.venue_roles[0].role = VROLE_MANAGER;
    snprintf(c.venue_roles[1].venue_id, UUID_STR_LEN, "886313e1-3b8a-4372-9b90-0c9aee199e5d");
    c.venue_roles[1].role = VROLE_VIEWER;
    return c;
}

static struct token_keys *keys(const char *spec)
{
    struct token_keys *k = NULL;
    const char *problem = NULL;
    assert_int_equal(token_keys_load(spec, "/nonexistent", &k, &problem), 0);
    return k;
}

static char *b64(const char *s)
{
    char *out = xmalloc(strlen(s) * 2 + 8);
    sodium_bin2base64(out, strlen(s) * 2 + 8, (const unsigned char *)s, strlen(s),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static void round_trip(void **state)
{
    struct token_keys *k = keys(KEY_A);
    struct token_claims c = sample(), out;
    char *t = token_issue(k, &c, ISS, AUD);
    assert_int_equal(token_verify(k, t, NOW + 10, ISS, AUD, &out, NULL), 0);
    assert_string_equal(out.sub, c.sub);
    assert_string_equal(out.tid, c.tid);
    assert_int_equal(out.tenant_roles, TROLE_ADMIN);
    assert_int_equal(out.caps, CAP_EDIT_SHARED_LIBRARY);
    assert_int_equal(out.n_venue_roles, 2);
    assert_string_equal(out.venue_roles[0].venue_id, c.venue_roles[0].venue_id);
    assert_int_equal(out.venue_roles[0].role, VROLE_MANAGER);
    assert_int_equal(out.venue_roles[1].role, VROLE_VIEWER);
    assert_true(out.exp == NOW + 900);
    /* the payload carries exactly the §25.3 claims */
    const char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    unsigned char raw[2048];
    size_t rl;
    assert_int_equal(sodium_base642bin(raw, sizeof(raw), d1 + 1, (size_t)(d2 - d1 - 1), NULL, &rl,
                                       NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    json_t *p = json_loadb((const char *)raw, rl, 0, NULL);
    const char *want[] = {"sub", "tid", "t_roles", "v_roles", "cap", "exp", "iss", "aud"};
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        assert_non_null(json_object_get(p, want[i]));
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "t_roles"), 0)),
                        "TENANT_ADMIN");
    json_decref(p);
    free(t);
    token_keys_free(k);
}

static void expired_wrong_audience_wrong_issuer(void **state)
{
    struct token_keys *k = keys(KEY_A);
    struct token_claims c = sample(), out = {0};
    char *t = token_issue(k, &c, ISS, AUD);
    const char *why = NULL;
    assert_int_equal(token_verify(k, t, NOW + 900, ISS, AUD, &out, &why), -EACCES);
    assert_string_equal(why, "expired");
    assert_int_equal(token_verify(k, t, NOW, ISS, "other-api", &out, NULL), -EACCES);
    assert_int_equal(token_verify(k, t, NOW, "someone-else", AUD, &out, NULL), -EACCES);
    assert_string_equal(out.sub, ""); /* untouched on failure */
    free(t);
    token_keys_free(k);
}

static void forgeries(void **state)
{
    struct token_keys *a = keys(KEY_A), *b = keys(KEY_B);
    struct token_claims c = sample(), out;
    char *t = token_issue(a, &c, ISS, AUD);
    const char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');

    /* signed with another key (the other kid is unknown here) */
    char *tb = token_issue(b, &c, ISS, AUD);
    assert_int_equal(token_verify(a, tb, NOW, ISS, AUD, &out, NULL), -EACCES);

    /* alg none, with and without a signature */
    char *none_hdr = b64("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"ka\"}");
    char *none1 = xasprintf("%s.%.*s.", none_hdr, (int)(d2 - d1 - 1), d1 + 1);
    char *none2 = xasprintf("%s.%.*s.%s", none_hdr, (int)(d2 - d1 - 1), d1 + 1, d2 + 1);
    assert_int_equal(token_verify(a, none1, NOW, ISS, AUD, &out, NULL), -EACCES);
    assert_int_equal(token_verify(a, none2, NOW, ISS, AUD, &out, NULL), -EACCES);

    /* HS512 / RS256 headers with the right kid */
    char *hs512 = b64("{\"alg\":\"HS512\",\"kid\":\"ka\"}");
    char *t512 = xasprintf("%s.%.*s.%s", hs512, (int)(d2 - d1 - 1), d1 + 1, d2 + 1);
    assert_int_equal(token_verify(a, t512, NOW, ISS, AUD, &out, NULL), -EACCES);

    /* a tampered payload (tenant changed) with the original signature */
    struct token_claims evil = sample();
    snprintf(evil.tid, sizeof(evil.tid), "00000000-0000-4000-8000-000000000000");
    char *te = token_issue(a, &evil, ISS, AUD);
    const char *e1 = strchr(te, '.'), *e2 = strchr(e1 + 1, '.');
    char *spliced = xasprintf("%.*s.%s", (int)(e2 - te), te, d2 + 1);
    assert_int_equal(token_verify(a, spliced, NOW, ISS, AUD, &out, NULL), -EACCES);

    /* a flipped signature byte, garbage, empty, too long, extra parts */
    char *flip = xstrdup(t);
    flip[strlen(flip) - 2] = flip[strlen(flip) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(token_verify(a, flip, NOW, ISS, AUD, &out, NULL), -EACCES);
    const char *bad[] = {"", "x", "a.b", "a.b.c", "...", "a.b.c.d", "Bearer x"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(token_verify(a, bad[i], NOW, ISS, AUD, &out, NULL), -EACCES);
    char *huge = xmalloc(TOKEN_MAX_LEN + 10);
    memset(huge, 'a', TOKEN_MAX_LEN + 9);
    huge[TOKEN_MAX_LEN + 9] = '\0';
    assert_int_equal(token_verify(a, huge, NOW, ISS, AUD, &out, NULL), -EACCES);
    assert_int_equal(token_verify(a, NULL, NOW, ISS, AUD, &out, NULL), -EACCES);

    char *ta = xasprintf("%s", t);
    assert_int_equal(token_verify(a, ta, NOW, ISS, AUD, &out, NULL), 0);
    free(ta), free(huge), free(flip), free(spliced), free(te), free(t512), free(hs512);
    free(none2), free(none1), free(none_hdr), free(tb), free(t);
    token_keys_free(a);
    token_keys_free(b);
}

static void rotation(void **state)
{
    struct token_keys *old = keys(KEY_A);
    struct token_keys *both = keys(KEY_B "," KEY_A); /* B signs now, A still verifies */
    struct token_keys *only_b = keys(KEY_B);
    struct token_claims c = sample(), out;
    char *t_old = token_issue(old, &c, ISS, AUD);
    char *t_new = token_issue(both, &c, ISS, AUD);
    assert_string_equal(token_keys_current(both), "kb");
    assert_int_equal(token_verify(both, t_old, NOW, ISS, AUD, &out, NULL), 0);
    assert_int_equal(token_verify(both, t_new, NOW, ISS, AUD, &out, NULL), 0);
    assert_int_equal(token_verify(only_b, t_old, NOW, ISS, AUD, &out, NULL), -EACCES);
    assert_int_equal(token_verify(old, t_new, NOW, ISS, AUD, &out, NULL), -EACCES);
    free(t_old), free(t_new);
    token_keys_free(old), token_keys_free(both), token_keys_free(only_b);
}

static void many_venues_resolved_server_side(void **state)
{
    struct token_keys *k = keys(KEY_A);
    struct token_claims c = sample(), out;
    c.venue_roles_server_side = true;
    char *t = token_issue(k, &c, ISS, AUD);
    assert_int_equal(token_verify(k, t, NOW, ISS, AUD, &out, NULL), 0);
    assert_true(out.venue_roles_server_side);
    assert_int_equal(out.n_venue_roles, 0);
    free(t);
    token_keys_free(k);
}

static void key_file_and_spec(void **state)
{
    char dir[] = "/tmp/marquee-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/jwt-keys", dir);
    struct token_keys *k = NULL, *k2 = NULL;
    const char *problem = NULL;
    assert_int_equal(token_keys_load(NULL, path, &k, &problem), 0); /* generated */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(token_keys_load("", path, &k2, &problem), 0); /* read back: same key */
    assert_string_equal(token_keys_current(k), token_keys_current(k2));
    struct token_claims c = sample(), out;
    char *t = token_issue(k, &c, ISS, AUD);
    assert_int_equal(token_verify(k2, t, NOW, ISS, AUD, &out, NULL), 0);
    free(t);
    token_keys_free(k2);
    chmod(path, 0644);
    assert_int_equal(token_keys_load(NULL, path, &k2, &problem), -EINVAL);
    assert_non_null(strstr(problem, "600"));
    token_keys_free(k);
    unlink(path);
    rmdir(dir);
    free(path);

    const char *bad[] = {"nokid", "ka:short", "k a:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         KEY_A "," KEY_A, ",,"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        problem = NULL;
        assert_int_equal(token_keys_load(bad[i], "/nonexistent", &k, &problem), -EINVAL);
        assert_non_null(problem);
    }
}

/* A token of @claims_json signed with KEY_A's secret (32 zero bytes), kid "ka". */
static char *sign_raw(const char *claims_json)
{
    char *head = b64("{\"alg\":\"HS256\",\"kid\":\"ka\"}"), *body = b64(claims_json);
    char *signing = xasprintf("%s.%s", head, body);
    unsigned char secret[32] = {0}, mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), secret, sizeof(secret), (const unsigned char *)signing, strlen(signing), mac,
         &maclen);
    char sig[128];
    sodium_bin2base64(sig, sizeof(sig), mac, maclen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *t = xasprintf("%s.%s", signing, sig);
    free(head);
    free(body);
    free(signing);
    return t;
}

/* §25.3 device tokens: issued and read back with did/vid/tid and nothing of a user; a device
 * token that also carries user claims, misses a claim, or an unknown typ, is refused. */
static void device_tokens(void **state)
{
    struct token_keys *k = keys(KEY_A);
    struct token_claims c = {.device = true, .iat = NOW, .exp = NOW + 86400}, out;
    snprintf(c.did, sizeof(c.did), "5a2d9c6e-0d6f-4a53-9a6c-2f4b0c3a1e11");
    snprintf(c.vid, sizeof(c.vid), "16fd2706-8baf-433b-82eb-8c7fada847da");
    snprintf(c.tid, sizeof(c.tid), "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    char *t = token_issue(k, &c, ISS, AUD);
    assert_int_equal(token_verify(k, t, NOW + 10, ISS, AUD, &out, NULL), 0);
    assert_true(out.device);
    assert_string_equal(out.did, c.did);
    assert_string_equal(out.vid, c.vid);
    assert_string_equal(out.tid, c.tid);
    assert_string_equal(out.sub, "");
    assert_int_equal(out.tenant_roles, 0);
    assert_int_equal(out.n_venue_roles, 0);
    free(t);

    /* the raw form verifies (the test's signer is right) … */
    const char *base = "\"iss\":\"marquee\",\"aud\":\"marquee-api\",\"exp\":1795426200,"
                       "\"tid\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\"";
    char *good =
        xasprintf("{\"typ\":\"device\",\"did\":\"%s\",\"vid\":\"%s\",%s}", c.did, c.vid, base);
    t = sign_raw(good);
    assert_int_equal(token_verify(k, t, NOW + 10, ISS, AUD, &out, NULL), 0);
    free(t);
    free(good);
    /* … and each of these does not */
    char *bad[] = {
        xasprintf("{\"typ\":\"device\",\"did\":\"%s\",\"vid\":\"%s\",\"sub\":\"%s\",%s}", c.did,
                  c.vid, c.did, base),
        xasprintf(
            "{\"typ\":\"device\",\"did\":\"%s\",\"vid\":\"%s\",\"t_roles\":[\"TENANT_ADMIN\"],"
            "%s}",
            c.did, c.vid, base),
        xasprintf("{\"typ\":\"device\",\"vid\":\"%s\",%s}", c.vid, base),
        xasprintf("{\"typ\":\"device\",\"did\":\"%s\",%s}", c.did, base),
        xasprintf("{\"typ\":\"device\",\"did\":\"not-a-uuid\",\"vid\":\"%s\",%s}", c.vid, base),
        xasprintf("{\"typ\":\"admin\",\"did\":\"%s\",\"vid\":\"%s\",%s}", c.did, c.vid, base),
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        t = sign_raw(bad[i]);
        const char *why = NULL;
        if (token_verify(k, t, NOW + 10, ISS, AUD, &out, &why) != -EACCES)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(why);
        free(t);
        free(bad[i]);
    }
    token_keys_free(k);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(expired_wrong_audience_wrong_issuer),
        cmocka_unit_test(forgeries),
        cmocka_unit_test(rotation),
        cmocka_unit_test(many_venues_resolved_server_side),
        cmocka_unit_test(key_file_and_spec),
        cmocka_unit_test(device_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
