/* SPDX-License-Identifier: MIT */
/* token.c — HS256 access tokens and their keys; see token.h for the design. */
#include "auth/token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <jwt.h>
#include <sodium.h>

#include "buf.h"
#include "jsonx.h"
#include "macro.h"
#include "secretfile.h"

#define KEY_MIN_BYTES 32
#define KEY_MAX_BYTES 128
#define KID_MAX       32
#define HEADER_MAX    192 /* base64url of {"alg":"HS256","kid":…,"typ":"JWT"} with the longest kid */
#define MAX_KEYS      8

struct token_key {
    char kid[KID_MAX + 1];
    unsigned char secret[KEY_MAX_BYTES];
    size_t len;
    /* HMAC-SHA256 with the key already absorbed: a verification copies it and hashes the
     * token alone (libsodium; OpenSSL 3's one-shot HMAC() looks its algorithm up each call) */
    crypto_auth_hmacsha256_state keyed;
    /* the header segment of the tokens marquee signs with this key: a token that has it is
     * known to be HS256 with this kid without parsing it */
    char header[HEADER_MAX + 1];
};

struct token_keys {
    size_t n;
    struct token_key keys[MAX_KEYS];
};

static const char *const tenant_role_names[] = {"TENANT_ADMIN", "TENANT_VIEWER"};
static const char *const venue_role_names[] = {"", "VENUE_VIEWER", "VENUE_EDITOR", "VENUE_MANAGER"};
static const char *const capability_names[] = {"EDIT_SHARED_LIBRARY"};

unsigned token_tenant_role_parse(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(tenant_role_names); i++)
        if (s && !strcmp(s, tenant_role_names[i]))
            return 1u << i;
    return 0;
}

const char *token_tenant_role_name(unsigned bit)
{
    for (size_t i = 0; i < ARRAY_SIZE(tenant_role_names); i++)
        if (bit == 1u << i)
            return tenant_role_names[i];
    return NULL;
}

enum venue_role token_venue_role_parse(const char *s)
{
    for (size_t i = 1; i < ARRAY_SIZE(venue_role_names); i++)
        if (s && !strcmp(s, venue_role_names[i]))
            return (enum venue_role)i;
    return VROLE_NONE;
}

const char *token_venue_role_name(enum venue_role r)
{
    return r > VROLE_NONE && r <= VROLE_MANAGER ? venue_role_names[r] : NULL;
}

unsigned token_capability_parse(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(capability_names); i++)
        if (s && !strcmp(s, capability_names[i]))
            return 1u << i;
    return 0;
}

const char *token_capability_name(unsigned bit)
{
    for (size_t i = 0; i < ARRAY_SIZE(capability_names); i++)
        if (bit == 1u << i)
            return capability_names[i];
    return NULL;
}

/* ---- keys -------------------------------------------------------------------------------- */

static bool kid_ok(const char *kid, size_t len)
{
    if (len == 0 || len > KID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = kid[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Parses "kid:secret" pairs separated by commas or newlines. */
static char *claims_sign(const struct token_key *key, json_t *claims, const struct token_claims *c,
                         const char *issuer, const char *audience);

/* Fills key->header with the header segment libjwt writes for @key. */
static void key_header(struct token_key *key)
{
    _cleanup_free_ char *t = claims_sign(key, json_object(), &(struct token_claims){0}, "", "");
    size_t n = strcspn(t, ".");
    key->header[0] = '\0';
    if (n <= HEADER_MAX)
        snprintf(key->header, sizeof(key->header), "%.*s", (int)n, t);
}

static int keys_parse(const char *text, struct token_keys *k, const char **ret_problem)
{
    const char *p = text;
    k->n = 0;
    while (*p) {
        while (*p == ',' || *p == '\n' || *p == ' ' || *p == '\r' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ",\n\r");
        const char *colon = memchr(p, ':', len);
        if (!colon || k->n == MAX_KEYS || !kid_ok(p, (size_t)(colon - p))) {
            *ret_problem = "jwt keys must be kid:secret pairs (kid of [A-Za-z0-9._-], at most 8)";
            return -EINVAL;
        }
        struct token_key *key = &k->keys[k->n];
        memcpy(key->kid, p, (size_t)(colon - p));
        key->kid[colon - p] = '\0';
        const char *secret = colon + 1;
        size_t slen = len - (size_t)(secret - p);
        while (slen > 0 && (secret[slen - 1] == ' ' || secret[slen - 1] == '\t'))
            slen--;
        if (sodium_base642bin(key->secret, sizeof(key->secret), secret, slen, NULL, &key->len, NULL,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
            key->len < KEY_MIN_BYTES) {
            *ret_problem = "a jwt key secret must be base64url (no padding) of 32 to 128 bytes";
            return -EINVAL;
        }
        crypto_auth_hmacsha256_init(&key->keyed, key->secret, key->len);
        key_header(key);
        for (size_t i = 0; i < k->n; i++) {
            if (!strcmp(k->keys[i].kid, key->kid)) {
                *ret_problem = "two jwt keys have the same kid";
                return -EINVAL;
            }
        }
        k->n++;
        p += len;
    }
    if (k->n == 0) {
        *ret_problem = "no jwt key";
        return -EINVAL;
    }
    return 0;
}

/* The text of a new key file: one fresh key. */
static void keys_initial(char *out, size_t cap)
{
    unsigned char secret[32];
    randombytes_buf(secret, sizeof(secret));
    char b64[64], idhex[17];
    sodium_bin2base64(b64, sizeof(b64), secret, sizeof(secret),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(secret, sizeof(secret));
    ids_random_hex(idhex, 8);
    snprintf(out, cap,
             "# marquee access-token keys: kid:secret, one a line. The first signs, all "
             "verify.\nk-%s:%s\n",
             idhex, b64);
    sodium_memzero(b64, sizeof(b64));
}

/* The key file (created with one key when missing), comment lines dropped, parsed. */
static int keys_read_file(const char *path, struct token_keys *k, const char **ret_problem)
{
    char initial[256], text[16385];
    size_t n = 0;
    keys_initial(initial, sizeof(initial));
    int r = secret_file_read(path, initial, text, sizeof(text), &n);
    sodium_memzero(initial, sizeof(initial));
    if (r == -EPERM)
        *ret_problem = "the jwt key file must not be readable by group or others (chmod 600)";
    else if (r == -EFBIG)
        *ret_problem = "the jwt key file is too large";
    if (r < 0)
        return r == -EPERM || r == -EFBIG ? -EINVAL : r;
    /* drop comment lines */
    struct buf b;
    buf_init(&b, sizeof(text));
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (line[0] != '#') {
            buf_append(&b, line, len);
            buf_append(&b, "\n", 1);
        }
        line = nl ? nl + 1 : NULL;
    }
    r = keys_parse(b.data ? b.data : "", k, ret_problem);
    sodium_memzero(text, sizeof(text));
    if (b.data)
        sodium_memzero(b.data, b.len);
    buf_release(&b);
    return r;
}

int token_keys_load(const char *spec, const char *path, struct token_keys **ret,
                    const char **ret_problem)
{
    const char *ignored;
    if (!ret_problem)
        ret_problem = &ignored;
    *ret_problem = NULL;
    struct token_keys *k = sodium_malloc(sizeof(*k));
    if (!k)
        abort();
    int r;
    if (spec && *spec) {
        r = keys_parse(spec, k, ret_problem);
    } else {
        r = keys_read_file(path, k, ret_problem);
    }
    if (r < 0) {
        sodium_free(k);
        return r;
    }
    *ret = k;
    return 0;
}

struct token_keys *token_keys_free(struct token_keys *k)
{
    if (k)
        sodium_free(k); /* zeroes the secrets */
    return NULL;
}

const char *token_keys_current(const struct token_keys *k)
{
    return k->keys[0].kid;
}

/* ---- issue ------------------------------------------------------------------------------- */

static char *claims_sign(const struct token_key *key, json_t *claims, const struct token_claims *c,
                         const char *issuer, const char *audience);

char *token_issue(const struct token_keys *k, const struct token_claims *c, const char *issuer,
                  const char *audience)
{
    const struct token_key *key = &k->keys[0];
    json_t *claims = json_object();
    if (c->device) {
        json_object_set_new(claims, "typ", json_string("device"));
        json_object_set_new(claims, "did", json_string(c->did));
        json_object_set_new(claims, "vid", json_string(c->vid));
        json_object_set_new(claims, "tid", json_string(c->tid));
        return claims_sign(key, claims, c, issuer, audience);
    }
    json_object_set_new(claims, "sub", json_string(c->sub));
    json_object_set_new(claims, "tid", json_string(c->tid));
    json_t *troles = json_array();
    for (unsigned bit = 1; bit <= TROLE_VIEWER; bit <<= 1)
        if (c->tenant_roles & bit)
            json_array_append_new(troles, json_string(token_tenant_role_name(bit)));
    json_object_set_new(claims, "t_roles", troles);
    json_t *vroles = json_array();
    if (!c->venue_roles_server_side)
        for (size_t i = 0; i < c->n_venue_roles; i++)
            json_array_append_new(vroles,
                                  json_pack("{s:s,s:s}", "vid", c->venue_roles[i].venue_id, "role",
                                            token_venue_role_name(c->venue_roles[i].role)));
    json_object_set_new(claims, "v_roles", vroles);
    if (c->venue_roles_server_side)
        json_object_set_new(claims, "v_srv", json_true());
    json_t *caps = json_array();
    for (unsigned bit = 1; bit <= CAP_EDIT_SHARED_LIBRARY; bit <<= 1)
        if (c->caps & bit)
            json_array_append_new(caps, json_string(token_capability_name(bit)));
    json_object_set_new(claims, "cap", caps);
    return claims_sign(key, claims, c, issuer, audience);
}

/* Adds iat, exp, iss and aud to @claims (stolen) and signs them with @key. */
static char *claims_sign(const struct token_key *key, json_t *claims, const struct token_claims *c,
                         const char *issuer, const char *audience)
{
    json_object_set_new(claims, "iat", json_integer(c->iat));
    json_object_set_new(claims, "exp", json_integer(c->exp));
    json_object_set_new(claims, "iss", json_string(issuer));
    json_object_set_new(claims, "aud", json_string(audience));
    char *claims_text = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);

    jwt_t *jwt = NULL;
    char *out = NULL;
    if (jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, claims_text) == 0 &&
        jwt_add_header(jwt, "kid", key->kid) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, key->secret, (int)key->len) == 0)
        out = jwt_encode_str(jwt);
    jwt_free(jwt);
    free(claims_text);
    if (!out)
        abort(); /* only allocation can fail here */
    char *copy = xstrdup(out);
    free(out);
    return copy;
}

/* ---- verify ------------------------------------------------------------------------------ */

static json_t *b64_json(const char *s, size_t len)
{
    unsigned char raw[TOKEN_MAX_LEN];
    size_t rlen = 0;
    if (len >= sizeof(raw) || sodium_base642bin(raw, sizeof(raw), s, len, NULL, &rlen, NULL,
                                                sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return NULL;
    json_t *j = NULL;
    if (jsonx_parse((const char *)raw, rlen, sizeof(raw), 8, 0, &j, NULL) < 0)
        return NULL;
    return j;
}

static bool uuid_claim(json_t *o, const char *name, char out[UUID_STR_LEN])
{
    const char *v = json_string_value(json_object_get(o, name));
    if (!v || !ids_is_uuid(v))
        return false;
    memcpy(out, v, UUID_STR_LEN);
    return true;
}

/* Reads the claims marquee issues; anything unexpected makes the token invalid. */
static int claims_read(json_t *o, int64_t now, const char *issuer, const char *audience,
                       struct token_claims *c, const char **why)
{
    json_t *exp = json_object_get(o, "exp"), *iat = json_object_get(o, "iat");
    if (!json_is_integer(exp) || (iat && !json_is_integer(iat)))
        return *why = "exp/iat missing or not integers", -EACCES;
    c->exp = json_integer_value(exp);
    c->iat = iat ? json_integer_value(iat) : 0;
    if (c->exp <= now)
        return *why = "expired", -EACCES;
    const char *iss = json_string_value(json_object_get(o, "iss"));
    const char *aud = json_string_value(json_object_get(o, "aud"));
    if (!iss || strcmp(iss, issuer) || !aud || strcmp(aud, audience))
        return *why = "wrong issuer or audience", -EACCES;
    const char *typ = json_string_value(json_object_get(o, "typ"));
    if (typ && !strcmp(typ, "device")) {
        /* §25.3 device claims: the device, its venue, its tenant; nothing a user has */
        if (!uuid_claim(o, "did", c->did) || !uuid_claim(o, "vid", c->vid) ||
            !uuid_claim(o, "tid", c->tid))
            return *why = "did/vid/tid missing", -EACCES;
        if (json_object_get(o, "sub") || json_object_get(o, "t_roles") ||
            json_object_get(o, "v_roles") || json_object_get(o, "cap"))
            return *why = "a device token with user claims", -EACCES;
        c->device = true;
        return 0;
    }
    if (typ)
        return *why = "unknown typ", -EACCES;
    if (!uuid_claim(o, "sub", c->sub) || !uuid_claim(o, "tid", c->tid))
        return *why = "sub/tid missing", -EACCES;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "t_roles"), i, v)
    {
        unsigned bit = token_tenant_role_parse(json_string_value(v));
        if (!bit)
            return *why = "unknown tenant role", -EACCES;
        c->tenant_roles |= bit;
    }
    json_array_foreach(json_object_get(o, "cap"), i, v)
    {
        unsigned bit = token_capability_parse(json_string_value(v));
        if (!bit)
            return *why = "unknown capability", -EACCES;
        c->caps |= bit;
    }
    c->venue_roles_server_side = json_is_true(json_object_get(o, "v_srv"));
    json_t *vroles = json_object_get(o, "v_roles");
    if (json_array_size(vroles) > TOKEN_MAX_VENUE_ROLES)
        return *why = "too many venue roles", -EACCES;
    json_array_foreach(vroles, i, v)
    {
        struct token_venue_role *vr = &c->venue_roles[c->n_venue_roles];
        vr->role = token_venue_role_parse(json_string_value(json_object_get(v, "role")));
        if (!uuid_claim(v, "vid", vr->venue_id) || vr->role == VROLE_NONE)
            return *why = "bad venue role", -EACCES;
        c->n_venue_roles++;
    }
    return 0;
}

/* The key a header names: alg HS256 and the kid of a key we hold; NULL otherwise. */
static const struct token_key *key_of_header(const struct token_keys *k, const char *h, size_t len)
{
    json_t *hdr = b64_json(h, len);
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    const struct token_key *key = NULL;
    for (size_t i = 0; alg && kid && !strcmp(alg, "HS256") && i < k->n; i++)
        if (!strcmp(k->keys[i].kid, kid))
            key = &k->keys[i];
    json_decref(hdr);
    return key;
}

int token_verify(const struct token_keys *k, const char *token, int64_t now, const char *issuer,
                 const char *audience, struct token_claims *ret, const char **ret_why)
{
    const char *ignored;
    const char **why = ret_why ? ret_why : &ignored;
    size_t len = token ? strlen(token) : 0;
    if (len == 0 || len > TOKEN_MAX_LEN)
        return *why = "empty or too long", -EACCES;
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') || dot2[1] == '\0')
        return *why = "not three parts", -EACCES;

    /* 1. the header: HS256 and a kid we hold, or nothing else is looked at; the header marquee
     *    writes itself is known without parsing */
    const struct token_key *key = NULL;
    size_t hlen = (size_t)(dot1 - token);
    for (size_t i = 0; i < k->n && !key; i++)
        if (k->keys[i].header[0] && strlen(k->keys[i].header) == hlen &&
            !memcmp(k->keys[i].header, token, hlen))
            key = &k->keys[i];
    if (!key)
        key = key_of_header(k, token, hlen);
    if (!key)
        return *why = "not HS256 or unknown kid", -EACCES;

    /* 2. the signature, in constant time */
    unsigned char mac[crypto_auth_hmacsha256_BYTES], sig[64];
    size_t siglen = 0;
    crypto_auth_hmacsha256_state st = key->keyed;
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, (size_t)(dot2 - token));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
    if (sodium_base642bin(sig, sizeof(sig), dot2 + 1, strlen(dot2 + 1), NULL, &siglen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        siglen != sizeof(mac) || sodium_memcmp(sig, mac, sizeof(mac)) != 0)
        return *why = "bad signature", -EACCES;

    /* 3. the claims (read once, with the bounded JSON reader) */
    json_t *claims = b64_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!claims)
        return *why = "claims not JSON", -EACCES;
    struct token_claims c = {0};
    int r = claims_read(claims, now, issuer, audience, &c, why);
    json_decref(claims);
    if (r < 0)
        return r;
    *ret = c;
    return 0;
}
