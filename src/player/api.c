/* SPDX-License-Identifier: MIT */
/*
 * api.c — marquee-player's HTTP client to marqueed (api.h).
 *
 * DESIGN. Every call is one `struct call` (method, path, bearer, body, If-None-Match, bound)
 * run by perform() on the object's single easy handle: curl_easy_reset() before each call
 * drops the previous call's options but keeps the connection cache, so consecutive calls reuse
 * one keep-alive connection (and TLS session). The body lands in a struct buf whose ceiling is
 * the call's bound; the write callback refusing the byte past it makes libcurl stop with
 * CURLE_WRITE_ERROR, which becomes -E2BIG. Decoding (gzip) happens before the write callback,
 * so the bound is on what the player would hold, and a small gzip bomb is cut off the same way.
 * Headers are read after the transfer with curl_easy_header(), which answers for the last
 * response only (never a 100 Continue). finish() then turns the transfer into the outcome and
 * the return value: the one place that decides what a status means.
 *
 * Secrets: the Authorization header is built in a heap string and in curl's header list, and
 * both are wiped before they are freed; the device token held between calls is wiped when
 * replaced or freed. Nothing here logs.
 */
#include "player/api.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "buf.h"
#include "clock.h"
#include "jsonx.h"
#include "macro.h"

#ifndef MARQUEE_VERSION
#define MARQUEE_VERSION "0"
#endif

#define API_JSON_DEPTH     32u
#define DEFAULT_CONNECT_MS 10000
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_POLL_S     5
#define MAX_POLL_S         3600

struct api {
    CURL *curl;
    char *base_url; /* without a trailing slash */
    char *token;    /* the device token, or NULL */
    int64_t connect_timeout_ms, timeout_ms;
    char *ca_file;
    atomic_bool interrupted;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Whether @s can be a header value: visible ASCII (spaces too when @spaces), no CR or LF. */
static bool header_safe(const char *s, size_t max, bool spaces)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c > 0x7e || c < (spaces ? 0x20 : 0x21) || n >= max)
            return false;
    }
    return n > 0;
}

/* Whether @s can be one path segment as it is: 1…max-1 of [A-Za-z0-9_-]. */
static bool segment_safe(const char *s, size_t max)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    return n > 0 && s[n] == '\0' && n < max;
}

int32_t api_retry_after_s(const char *v)
{
    if (!v)
        return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v >= '0' && *v <= '9') {
        int64_t s = 0;
        for (; *v >= '0' && *v <= '9'; v++)
            s = MIN(s * 10 + (*v - '0'), (int64_t)INT32_MAX);
        while (*v == ' ' || *v == '\t')
            v++;
        return *v ? -1 : (int32_t)s;
    }
    time_t at = curl_getdate(v, NULL);
    if (at < 0)
        return -1;
    int64_t d = (int64_t)at - clock_now_ms() / 1000;
    return (int32_t)MAX(INT64_C(0), MIN(d, (int64_t)INT32_MAX));
}

/* The string member @key of @obj copied into @dst (capacity @cap, so ≤ cap - 1 bytes).
 * Absent or null: "" when !@required, else -EBADMSG; wrong type, empty or too long: -EBADMSG. */
static int get_str(json_t *obj, const char *key, bool required, char *dst, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return -EBADMSG;
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v))
        return -EBADMSG;
    size_t n = json_string_length(v);
    if (n == 0 || n >= cap || strlen(json_string_value(v)) != n)
        return -EBADMSG;
    memcpy(dst, json_string_value(v), n + 1);
    return 0;
}

/* pollIntervalSeconds: absent → the default; else an integer 1…MAX_POLL_S. */
static int get_poll_interval(json_t *obj, int32_t *ret)
{
    json_t *v = json_object_get(obj, "pollIntervalSeconds");
    if (!v || json_is_null(v)) {
        *ret = DEFAULT_POLL_S;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > MAX_POLL_S)
        return -EBADMSG;
    *ret = (int32_t)json_integer_value(v);
    return 0;
}

/* A time member (ISO 8601 UTC), required or not (0 when absent). */
static int get_time(json_t *obj, const char *key, bool required, int64_t *ret)
{
    char s[64];
    int r = get_str(obj, key, required, s, sizeof(s));
    if (r < 0)
        return r;
    if (!s[0]) {
        *ret = 0;
        return 0;
    }
    return ids_timestamp_parse(s, ret) < 0 ? -EBADMSG : 0;
}

/* ---- one call ----------------------------------------------------------------------------- */

struct call {
    const char *method; /* "GET" or "POST" */
    const char *path;   /* "/v1/…" */
    const char *bearer; /* NULL: no Authorization */
    const char *body;   /* POST: JSON */
    const char *if_none_match;
    bool gzip;
    size_t max; /* bound on the answer's body */
};

struct answer {
    struct buf body;
    bool too_big;
};

static void answer_release(struct answer *ans)
{
    buf_release(&ans->body);
}

static size_t on_write(char *p, size_t size, size_t n, void *userdata)
{
    struct answer *ans = userdata;
    if (buf_append(&ans->body, p, n) < 0) {
        ans->too_big = true;
        return 0;
    }
    return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct api *a = userdata;
    return atomic_load(&a->interrupted) ? 1 : 0;
}

/* The value of response header @name, or NULL. */
static const char *header(struct api *a, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(a->curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return NULL;
    return h->value;
}

/* Out of memory aborts, as xmalloc does. */
static struct curl_slist *slist_add(struct curl_slist *l, const char *s)
{
    struct curl_slist *n = curl_slist_append(l, s);
    if (!n)
        abort();
    return n;
}

static void slist_wipe_free(struct curl_slist *l)
{
    for (struct curl_slist *s = l; s; s = s->next)
        explicit_bzero(s->data, strlen(s->data));
    curl_slist_free_all(l);
}

/* Sets the options of @c on the freshly reset handle; the header list it makes goes to *hdrs
 * (the caller frees it). 0, or -ENOMEM / -EINVAL (libcurl refused an option: a build without
 * http/https, say). */
static int setup(struct api *a, const struct call *c, struct answer *ans, struct curl_slist **hdrs)
{
    _cleanup_free_ char *url = xasprintf("%s%s", a->base_url, c->path);
    CURL *h = a->curl;
    CURLcode e = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (e == CURLE_OK)                                                                         \
            e = curl_easy_setopt(h, opt, val);                                                     \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)a->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)a->timeout_ms);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (a->ca_file)
        SET(CURLOPT_CAINFO, a->ca_file);
    SET(CURLOPT_USERAGENT, "marquee-player/" MARQUEE_VERSION);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, ans);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, a);
    if (c->gzip)
        SET(CURLOPT_ACCEPT_ENCODING, "gzip");
    if (c->body) {
        SET(CURLOPT_POSTFIELDS, c->body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
    } else if (strcmp(c->method, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, c->method);
    }
#undef SET
    if (e != CURLE_OK)
        return e == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;

    struct curl_slist *l = slist_add(NULL, "Accept: application/json");
    if (c->body) {
        l = slist_add(l, "Content-Type: application/json");
        l = slist_add(l, "Expect:"); /* no 100-continue round trip */
    }
    if (c->if_none_match) {
        _cleanup_free_ char *v = xasprintf("If-None-Match: %s", c->if_none_match);
        l = slist_add(l, v);
    }
    if (c->bearer) {
        char *v = xasprintf("Authorization: Bearer %s", c->bearer);
        l = slist_add(l, v);
        wipe_free(v);
    }
    *hdrs = l;
    return curl_easy_setopt(h, CURLOPT_HTTPHEADER, l) == CURLE_OK ? 0 : -ENOMEM;
}

/*
 * Runs @c. Fills *out; the body stays in @ans for the caller. Returns 0 when the status is one
 * of @ok (0-terminated), else the failure of api.h.
 */
static int perform(struct api *a, const struct call *c, struct answer *ans, const int *ok,
                   struct api_outcome *out)
{
    *out = (struct api_outcome){.retry_after_s = -1};
    buf_init(&ans->body, c->max);
    ans->too_big = false;
    if (atomic_load(&a->interrupted)) {
        out->curl_code = CURLE_ABORTED_BY_CALLBACK;
        return -ECANCELED;
    }

    curl_easy_reset(a->curl);
    struct curl_slist *hdrs = NULL;
    int r = setup(a, c, ans, &hdrs);
    CURLcode e = r < 0 ? CURLE_FAILED_INIT : curl_easy_perform(a->curl);
    /* curl keeps a pointer to the list until the next reset: drop it before wiping */
    curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, NULL);
    slist_wipe_free(hdrs);
    if (r < 0)
        return r;

    long status = 0;
    curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
    out->curl_code = (int)e;
    if (e == CURLE_ABORTED_BY_CALLBACK)
        return -ECANCELED;
    if (e == CURLE_WRITE_ERROR && ans->too_big) {
        out->http_status = (int)status;
        return -E2BIG;
    }
    if (e != CURLE_OK)
        return -EIO; /* status 0: no complete HTTP answer to act on */
    out->http_status = (int)status;

    const char *ra = header(a, "Retry-After");
    if (ra)
        out->retry_after_s = api_retry_after_s(ra);
    for (; *ok; ok++)
        if (status == *ok)
            return 0;

    /* an error: its problem+json code, when it has one */
    _cleanup_(json_decrefp) json_t *p = NULL;
    if (ans->body.len > 0 &&
        jsonx_parse(ans->body.data, ans->body.len, c->max, API_JSON_DEPTH, 0, &p, NULL) == 0)
        (void)get_str(p, "code", false, out->problem_code, sizeof(out->problem_code));
    return status == 401 ? -EACCES : -EPROTO;
}

/* Runs @c, which succeeds with @ok_status and a JSON object: the object in *ret. -EBADMSG when
 * the body is not one; otherwise as perform(). */
static int perform_json(struct api *a, const struct call *c, int ok_status, json_t **ret,
                        struct api_outcome *out)
{
    _cleanup_(answer_release) struct answer ans = {0};
    const int ok[] = {ok_status, 0};
    int r = perform(a, c, &ans, ok, out);
    if (r < 0)
        return r;
    json_t *v = NULL;
    if (jsonx_parse(ans.body.data ? ans.body.data : "", ans.body.len, c->max, API_JSON_DEPTH, 0, &v,
                    NULL) < 0)
        return -EBADMSG;
    if (!json_is_object(v)) {
        json_decref(v);
        return -EBADMSG;
    }
    *ret = v;
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int api_new(const char *base_url, const struct api_options *opts, struct api **ret)
{
    struct api_options o = {.connect_timeout_ms = DEFAULT_CONNECT_MS,
                            .timeout_ms = DEFAULT_TIMEOUT_MS};
    if (opts)
        o = *opts;
    if (!base_url || o.connect_timeout_ms <= 0 || o.timeout_ms <= 0 ||
        o.connect_timeout_ms > LONG_MAX || o.timeout_ms > LONG_MAX)
        return -EINVAL;
    size_t n = strlen(base_url);
    if (n > API_BASE_URL_MAX || !header_safe(base_url, API_BASE_URL_MAX + 1, false) ||
        (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0))
        return -EINVAL;
    while (n > 0 && base_url[n - 1] == '/')
        n--;

    CURL *h = curl_easy_init();
    if (!h)
        return -ENOMEM;
    struct api *a = xcalloc(1, sizeof(*a));
    a->curl = h;
    a->base_url = xstrndup(base_url, n);
    a->connect_timeout_ms = o.connect_timeout_ms;
    a->timeout_ms = o.timeout_ms;
    a->ca_file = o.ca_file ? xstrdup(o.ca_file) : NULL;
    atomic_init(&a->interrupted, false);
    *ret = a;
    return 0;
}

struct api *api_free(struct api *a)
{
    if (!a)
        return NULL;
    curl_easy_cleanup(a->curl);
    free(a->base_url);
    free(a->ca_file);
    wipe_free(a->token);
    free(a);
    return NULL;
}

int api_set_device_token(struct api *a, const char *token)
{
    if (token && !header_safe(token, API_TOKEN_MAX, false))
        return -EINVAL;
    wipe_free(a->token);
    a->token = token ? xstrdup(token) : NULL;
    return 0;
}

void api_interrupt(struct api *a)
{
    atomic_store(&a->interrupted, true);
}

/* ---- pairing ------------------------------------------------------------------------------ */

int api_pairing_start(struct api *a, const char *hardware_id, const char *app_version,
                      const char *model, struct api_pairing *ret, struct api_outcome *out)
{
    *out = (struct api_outcome){.retry_after_s = -1};
    if (!hardware_id)
        return -EINVAL;
    _cleanup_(json_decrefp) json_t *req =
        json_pack("{s:s,s:s*,s:s*}", "deviceHardwareId", hardware_id, "appVersion", app_version,
                  "deviceModel", model);
    if (!req)
        return -EINVAL; /* not UTF-8 */
    _cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);
    if (!body)
        abort();

    struct call c = {"POST", "/v1/devices/pairing/start", .body = body, .max = API_SMALL_MAX};
    _cleanup_(json_decrefp) json_t *v = NULL;
    int r = perform_json(a, &c, 201, &v, out);
    if (r < 0)
        return r;

    struct api_pairing p = {0};
    if (get_str(v, "pairingId", true, p.pairing_id, sizeof(p.pairing_id)) < 0 ||
        get_str(v, "pairingCode", true, p.code, sizeof(p.code)) < 0 ||
        get_time(v, "expiresAtUtc", true, &p.expires_at_ms) < 0 ||
        get_poll_interval(v, &p.poll_interval_s) < 0 ||
        get_str(v, "pollToken", true, p.poll_token, sizeof(p.poll_token)) < 0 ||
        !header_safe(p.poll_token, sizeof(p.poll_token), false)) {
        api_pairing_wipe(&p);
        return -EBADMSG;
    }
    *ret = p;
    api_pairing_wipe(&p);
    return 0;
}

void api_pairing_wipe(struct api_pairing *p)
{
    explicit_bzero(p->poll_token, sizeof(p->poll_token));
}

static int parse_pairing_state(const char *s, enum api_pairing_state *ret)
{
    static const char *const names[] = {
        [API_PAIRING_PENDING] = "PENDING",
        [API_PAIRING_CLAIMED] = "CLAIMED",
        [API_PAIRING_COMPLETED] = "COMPLETED",
        [API_PAIRING_EXPIRED] = "EXPIRED",
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (!strcmp(s, names[i])) {
            *ret = (enum api_pairing_state)i;
            return 0;
        }
    return -EBADMSG;
}

int api_pairing_status(struct api *a, const char *poll_token, struct api_pairing_status *ret,
                       struct api_outcome *out)
{
    *out = (struct api_outcome){.retry_after_s = -1};
    if (!poll_token || !header_safe(poll_token, API_TOKEN_MAX, false))
        return -EINVAL;
    struct call c = {"GET", "/v1/devices/pairing/status", .bearer = poll_token,
                     .max = API_SMALL_MAX};
    _cleanup_(json_decrefp) json_t *v = NULL;
    int r = perform_json(a, &c, 200, &v, out);
    if (r < 0)
        return r;

    struct api_pairing_status s = {0};
    char state[16];
    r = get_str(v, "status", true, state, sizeof(state));
    if (r == 0)
        r = parse_pairing_state(state, &s.state);
    if (r == 0)
        r = get_poll_interval(v, &s.poll_interval_s);
    if (r == 0 && s.state == API_PAIRING_COMPLETED)
        r = get_str(v, "deviceToken", false, s.device_token, sizeof(s.device_token));
    if (r == 0 && s.device_token[0]) {
        if (!header_safe(s.device_token, sizeof(s.device_token), false) ||
            get_str(v, "deviceId", true, s.device_id, sizeof(s.device_id)) < 0 ||
            get_str(v, "venueId", true, s.venue_id, sizeof(s.venue_id)) < 0 ||
            get_str(v, "tenantId", true, s.tenant_id, sizeof(s.tenant_id)) < 0 ||
            get_str(v, "deviceName", false, s.device_name, sizeof(s.device_name)) < 0 ||
            get_time(v, "deviceTokenExpiresAtUtc", false, &s.device_token_expires_at_ms) < 0)
            r = -EBADMSG;
    }
    if (r == 0)
        *ret = s;
    api_pairing_status_wipe(&s);
    return r < 0 ? -EBADMSG : 0;
}

void api_pairing_status_wipe(struct api_pairing_status *s)
{
    explicit_bzero(s->device_token, sizeof(s->device_token));
}

/* ---- player calls ------------------------------------------------------------------------- */

/* -EINVAL, without a request, when no device token is set: a caller's mistake. */
static int need_token(struct api *a, struct api_outcome *out)
{
    *out = (struct api_outcome){.retry_after_s = -1};
    return a->token ? 0 : -EINVAL;
}

int api_manifest_get(struct api *a, const char *if_none_match, struct api_manifest *ret,
                     struct api_outcome *out)
{
    int r = need_token(a, out);
    if (r < 0)
        return r;
    if (if_none_match && !header_safe(if_none_match, MANIFEST_HTTP_ETAG_MAX + 1, true))
        return -EINVAL;
    struct call c = {
        "GET",        "/v1/player/manifest",  .bearer = a->token, .if_none_match = if_none_match,
        .gzip = true, .max = API_MANIFEST_MAX};
    _cleanup_(answer_release) struct answer ans = {0};
    static const int ok[] = {200, 304, 0};
    r = perform(a, &c, &ans, ok, out);
    if (r < 0)
        return r;
    if (out->http_status == 304)
        return API_MANIFEST_NOT_MODIFIED;

    struct api_manifest m = {0};
    const char *etag = header(a, "ETag");
    if (etag && (strlen(etag) >= sizeof(m.etag) || !header_safe(etag, sizeof(m.etag), false)))
        return -EBADMSG;
    if (etag)
        memcpy(m.etag, etag, strlen(etag) + 1);
    const char *src = header(a, "X-Marquee-Manifest");
    if (src && strlen(src) < sizeof(m.source))
        memcpy(m.source, src, strlen(src) + 1);
    if (ans.body.len == 0)
        return -EBADMSG;
    m.len = ans.body.len;
    m.body = buf_steal(&ans.body);
    *ret = m;
    return API_MANIFEST_NEW;
}

void api_manifest_release(struct api_manifest *m)
{
    free(m->body);
    *m = (struct api_manifest){0};
}

static int post_telemetry(struct api *a, const char *path, const char *json,
                          struct api_outcome *out)
{
    int r = need_token(a, out);
    if (r < 0 || !json)
        return -EINVAL;
    struct call c = {"POST", path, .bearer = a->token, .body = json, .max = API_SMALL_MAX};
    _cleanup_(answer_release) struct answer ans = {0};
    static const int ok[] = {204, 0};
    return perform(a, &c, &ans, ok, out);
}

int api_heartbeat(struct api *a, const char *json, struct api_outcome *out)
{
    return post_telemetry(a, "/v1/player/heartbeat", json, out);
}

int api_events(struct api *a, const char *json, struct api_outcome *out)
{
    return post_telemetry(a, "/v1/player/events", json, out);
}

int api_commands_get(struct api *a, json_t **ret, struct api_outcome *out)
{
    int r = need_token(a, out);
    if (r < 0)
        return r;
    struct call c = {"GET", "/v1/player/commands", .bearer = a->token, .max = API_COMMANDS_MAX};
    _cleanup_(json_decrefp) json_t *v = NULL;
    r = perform_json(a, &c, 200, &v, out);
    if (r < 0)
        return r;
    json_t *list = json_object_get(v, "commands");
    if (!json_is_array(list))
        return -EBADMSG;
    size_t i;
    json_t *cmd;
    json_array_foreach(list, i, cmd)
    {
        char id[API_ID_MAX], type[64];
        if (!json_is_object(cmd) || get_str(cmd, "commandId", true, id, sizeof(id)) < 0 ||
            !segment_safe(id, sizeof(id)) || get_str(cmd, "type", true, type, sizeof(type)) < 0)
            return -EBADMSG;
    }
    *ret = json_incref(list);
    return 0;
}

int api_command_result(struct api *a, const char *command_id, const char *json,
                       struct api_outcome *out)
{
    int r = need_token(a, out);
    if (r < 0 || !json || !command_id || !segment_safe(command_id, API_ID_MAX))
        return -EINVAL;
    _cleanup_free_ char *path = xasprintf("/v1/player/commands/%s/result", command_id);
    struct call c = {"POST", path, .bearer = a->token, .body = json, .max = API_SMALL_MAX};
    _cleanup_(answer_release) struct answer ans = {0};
    static const int ok[] = {200, 0};
    return perform(a, &c, &ans, ok, out);
}
