/* SPDX-License-Identifier: MIT */
/*
 * test-api.c — marquee-player's HTTP client (player/api.h) against a REAL marqueed.
 *
 * The group setup makes a data dir (mkdtemp), creates a tenant in it with `marqueed
 * create-tenant`, starts `marqueed serve --listen 127.0.0.1:0 --test-routes` with its log in a
 * file, and reads the port from the log's "listening" line. The binary is $MARQUEED (meson sets
 * it to this build's), else ./marqueed beside this test. The test logs in as the tenant admin
 * and makes a venue with a plain libcurl client, then walks the player's life in order (the
 * tests share the server and depend on each other's order): pairing start → PENDING → the
 * admin claims → COMPLETED with the token → a second poll without it → manifest 200 (gzip,
 * weak ETag, playlist null) on a kept-alive connection → If-None-Match 304 → heartbeat 204 →
 * events 204 → a command issued by the admin, fetched and answered (and a conflicting answer
 * 409) → a bad token 401 → the manifest's third call in a minute 429 with Retry-After (the
 * server's default `manifest` class is 2 a minute). Then the failures no server gives: a
 * refused connection, an answer over its bound, an interrupt, bad arguments, Retry-After
 * parsing. The teardown stops the server with SIGTERM and fails on a non-zero exit or a
 * sanitizer report in its log.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../cmocka-prelude.h"
#include "buf.h"
#include "clock.h"
#include "macro.h"
/* the .c, for its statics (perform) and the handle's connection count */
#include "player/api.c"

#define ADMIN_EMAIL    "admin@api.test"
#define ADMIN_PASSWORD "correct-horse-battery-staple"

extern char **environ;

static struct {
    char dir[PATH_MAX]; /* mkdtemp: data/ and server.log */
    char data_dir[PATH_MAX];
    char log_path[PATH_MAX];
    char marqueed[PATH_MAX];
    pid_t pid;
    char url[64];
    char tenant_id[64], venue_id[64], device_id[64], admin_token[2048];
    struct api *api;
    struct api_pairing pairing;
    char device_token[API_TOKEN_MAX];
    char etag[MANIFEST_HTTP_ETAG_MAX + 1];
} S;

/* ---- the server --------------------------------------------------------------------------- */

/* The environment without MARQUEE_* (marqueed reads every option from MARQUEE_<NAME>). */
static char **child_env(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = xcalloc(n + 1, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "MARQUEE_", 8) != 0)
            env[k++] = environ[i];
    return env;
}

/* Runs marqueed @argv (argv[0] ignored) with stdout into @out_fd (-1: /dev/null) and stderr into
 * @err_fd; returns the pid. */
static pid_t spawn(char *const argv[], int out_fd, int err_fd)
{
    _cleanup_free_ char **env = child_env();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        dup2(null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        dup2(err_fd >= 0 ? err_fd : null, 2);
        execve(S.marqueed, argv, env);
        _exit(127);
    }
    return pid;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void find_marqueed(void)
{
    const char *env = getenv("MARQUEED");
    if (env && *env) {
        snprintf(S.marqueed, sizeof(S.marqueed), "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(n > 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(S.marqueed, sizeof(S.marqueed), "%.*s/marqueed", PATH_MAX - 16, self);
}

static void create_tenant(void)
{
    char out_path[PATH_MAX];
    snprintf(out_path, sizeof(out_path), "%.*s/create-tenant.out", PATH_MAX - 32, S.dir);
    int fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    char *argv[] = {"marqueed",  "create-tenant",    "--name",       "Api Pub",    "--admin-email",
                    ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD, "--data-dir", S.data_dir,
                    NULL};
    pid_t pid = spawn(argv, fd, -1);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char text[1024] = "";
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    close(fd);
    assert_true(n > 0);
    text[n] = '\0';
    assert_int_equal(sscanf(text, "tenant %63s created", S.tenant_id), 1);
    assert_true(ids_is_uuid(S.tenant_id));
}

/* The port of the log's {"event":"listening",…,"port":N} line; 0 while there is none. */
static int listening_port(void)
{
    FILE *f = fopen(S.log_path, "re");
    if (!f)
        return 0;
    char line[4096];
    int port = 0;
    while (!port && fgets(line, sizeof(line), f)) {
        json_t *v = json_loads(line, 0, NULL);
        json_t *p = json_object_get(v, "port");
        if (json_is_string(json_object_get(v, "event")) &&
            !strcmp(json_string_value(json_object_get(v, "event")), "listening") &&
            json_is_integer(p))
            port = (int)json_integer_value(p);
        json_decref(v);
    }
    fclose(f);
    return port;
}

static void start_server(void)
{
    int fd = open(S.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    /* info: the "listening" line is logged at info */
    char *argv[] = {"marqueed",    "serve",         "--data-dir",  S.data_dir, "--listen",
                    "127.0.0.1:0", "--test-routes", "--log-level", "info",     NULL};
    S.pid = spawn(argv, -1, fd);
    close(fd);
    int port = 0;
    for (int i = 0; i < 3000 && !port; i++) {
        int st = 0;
        if (waitpid(S.pid, &st, WNOHANG) == S.pid) {
            S.pid = 0;
            fail_msg("marqueed exited before listening (see %s)", S.log_path);
        }
        port = listening_port();
        if (!port)
            usleep(10 * 1000);
    }
    if (!port)
        fail_msg("marqueed did not listen within 30 s (see %s)", S.log_path);
    snprintf(S.url, sizeof(S.url), "http://127.0.0.1:%d", port);
}

/* Fails if the server's log holds a sanitizer report. */
static void check_log(void)
{
    FILE *f = fopen(S.log_path, "re");
    assert_non_null(f);
    char line[8192];
    while (fgets(line, sizeof(line), f))
        if (strstr(line, "AddressSanitizer") || strstr(line, "LeakSanitizer") ||
            strstr(line, "runtime error:"))
            fail_msg("marqueed: sanitizer report: %s", line);
    fclose(f);
}

/* ---- the admin's side: a plain libcurl client ---------------------------------------------- */

static size_t admin_write(char *p, size_t size, size_t n, void *userdata)
{
    return buf_append(userdata, p, n) < 0 ? 0 : n;
}

/* @method @path with @body (NULL: none) as @token; asserts the status is @want; the answer. */
static json_t *admin(const char *method, const char *path, const char *token, const char *body,
                     long want)
{
    CURL *h = curl_easy_init();
    assert_non_null(h);
    _cleanup_free_ char *url = xasprintf("%s%s", S.url, path);
    struct buf b;
    buf_init(&b, 1024 * 1024);
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    _cleanup_free_ char *auth = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
    if (auth)
        l = curl_slist_append(l, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, admin_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 15L);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(l);
    curl_easy_cleanup(h);
    if (status != want)
        fail_msg("%s %s: %ld, not %ld: %s", method, path, status, want, b.data ? b.data : "");
    json_t *v = b.len ? json_loadb(b.data, b.len, 0, NULL) : json_object();
    buf_release(&b);
    assert_non_null(v);
    return v;
}

static void copy_member(json_t *v, const char *key, char *dst, size_t cap)
{
    const char *s = json_string_value(json_object_get(v, key));
    if (!s)
        fail_msg("no string %s in the answer", key);
    assert_true(strlen(s) < cap);
    memcpy(dst, s, strlen(s) + 1);
}

/* ---- setup and teardown ------------------------------------------------------------------- */

static int group_setup(void **state)
{
    find_marqueed();
    if (access(S.marqueed, X_OK) != 0)
        fail_msg("no marqueed at %s (set MARQUEED)", S.marqueed);
    snprintf(S.dir, sizeof(S.dir), "/tmp/marquee-test-api-XXXXXX");
    assert_non_null(mkdtemp(S.dir));
    snprintf(S.data_dir, sizeof(S.data_dir), "%.*s/data", PATH_MAX - 16, S.dir);
    snprintf(S.log_path, sizeof(S.log_path), "%.*s/server.log", PATH_MAX - 16, S.dir);
    assert_int_equal(mkdir(S.data_dir, 0700), 0);
    create_tenant();
    start_server();

    _cleanup_free_ char *login =
        xasprintf("{\"email\":\"%s\",\"password\":\"%s\"}", ADMIN_EMAIL, ADMIN_PASSWORD);
    json_t *v = admin("POST", "/v1/auth/login", NULL, login, 200);
    copy_member(v, "accessToken", S.admin_token, sizeof(S.admin_token));
    json_decref(v);
    _cleanup_free_ char *path = xasprintf("/v1/tenants/%s/venues", S.tenant_id);
    v = admin("POST", path, S.admin_token, "{\"name\":\"Bar\",\"timezone\":\"Europe/London\"}",
              201);
    copy_member(v, "venueId", S.venue_id, sizeof(S.venue_id));
    json_decref(v);

    assert_int_equal(api_new(S.url, NULL, &S.api), 0);
    return 0;
}

static int group_teardown(void **state)
{
    S.api = api_free(S.api);
    api_pairing_wipe(&S.pairing);
    if (S.pid > 0) {
        kill(S.pid, SIGTERM);
        int st = 0;
        assert_int_equal(waitpid(S.pid, &st, 0), S.pid);
        S.pid = 0;
        check_log();
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("marqueed ended with status %d (see %s)", st, S.log_path);
    }
    nftw(S.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- pairing ------------------------------------------------------------------------------ */

static void test_pairing(void **state)
{
    struct api_outcome out;
    assert_int_equal(
        api_pairing_start(S.api, "linux-test-0001", "0.1.0", "test-rig", &S.pairing, &out), 0);
    assert_int_equal(out.http_status, 201);
    assert_int_equal(out.curl_code, CURLE_OK);
    assert_int_equal(strlen(S.pairing.code), 9); /* XXXX-XXXX */
    assert_int_equal(S.pairing.code[4], '-');
    assert_true(S.pairing.expires_at_ms > clock_now_ms());
    assert_true(S.pairing.poll_interval_s >= 1);
    assert_true(!strncmp(S.pairing.poll_token, "pt_", 3));

    struct api_pairing_status st;
    assert_int_equal(api_pairing_status(S.api, S.pairing.poll_token, &st, &out), 0);
    assert_int_equal(out.http_status, 200);
    assert_int_equal(st.state, API_PAIRING_PENDING);
    assert_string_equal(st.device_token, "");

    _cleanup_free_ char *claim =
        xasprintf("{\"pairingCode\":\"%s\",\"name\":\"Bar screen\"}", S.pairing.code);
    _cleanup_free_ char *path = xasprintf("/v1/venues/%s/devices/pairing/claim", S.venue_id);
    json_decref(admin("POST", path, S.admin_token, claim, 201));

    assert_int_equal(api_pairing_status(S.api, S.pairing.poll_token, &st, &out), 0);
    assert_int_equal(st.state, API_PAIRING_COMPLETED);
    assert_true(strlen(st.device_token) > 20);
    assert_string_equal(st.venue_id, S.venue_id);
    assert_string_equal(st.tenant_id, S.tenant_id);
    assert_true(ids_is_uuid(st.device_id));
    assert_string_equal(st.device_name, "Bar screen");
    assert_true(st.device_token_expires_at_ms > clock_now_ms());
    memcpy(S.device_token, st.device_token, sizeof(S.device_token));
    memcpy(S.device_id, st.device_id, sizeof(S.device_id));
    api_pairing_status_wipe(&st);
    assert_string_equal(st.device_token, "");

    /* the token is handed over once */
    assert_int_equal(api_pairing_status(S.api, S.pairing.poll_token, &st, &out), 0);
    assert_int_equal(st.state, API_PAIRING_COMPLETED);
    assert_string_equal(st.device_token, "");

    /* a poll token naming no pairing: 404 PAIRING_NOT_FOUND, outputs untouched */
    struct api_pairing_status before = st;
    assert_int_equal(api_pairing_status(S.api, "pt_nope_nope", &st, &out), -EPROTO);
    assert_int_equal(out.http_status, 404);
    assert_string_equal(out.problem_code, "PAIRING_NOT_FOUND");
    assert_memory_equal(&st, &before, sizeof(st));
}

/* ---- the manifest ------------------------------------------------------------------------- */

static void test_manifest(void **state)
{
    struct api_outcome out;
    struct api_manifest m = {0};
    assert_int_equal(api_manifest_get(S.api, NULL, &m, &out), -EINVAL); /* no token yet */
    assert_int_equal(api_set_device_token(S.api, S.device_token), 0);

    assert_int_equal(api_manifest_get(S.api, NULL, &m, &out), API_MANIFEST_NEW);
    assert_int_equal(out.http_status, 200);
    assert_int_equal(out.retry_after_s, -1);
    /* gzip was accepted, so the tag is the weak form; the body arrives decoded */
    assert_true(!strncmp(m.etag, "W/\"", 3));
    assert_true(m.source[0] != '\0');
    assert_int_equal(strlen(m.body), m.len);
    struct manifest *man = NULL;
    struct manifest_error err = {.field = ""};
    if (manifest_parse(m.body, m.len, &man, &err) < 0)
        fail_msg("manifest refused: %s: %s", err.field, err.reason);
    assert_false(man->has_playlist);
    /* the body's manifestEtag is the header's tag */
    _cleanup_free_ char *quoted = xasprintf("W/\"%s\"", man->etag);
    assert_string_equal(quoted, m.etag);
    man = manifest_free(man);
    memcpy(S.etag, m.etag, sizeof(S.etag));
    api_manifest_release(&m);
    assert_null(m.body);

    /* conditional: 304, on the connection the 200 left open */
    struct api_manifest untouched = {.len = 7};
    assert_int_equal(api_manifest_get(S.api, S.etag, &untouched, &out), API_MANIFEST_NOT_MODIFIED);
    assert_int_equal(out.http_status, 304);
    assert_null(untouched.body);
    assert_int_equal(untouched.len, 7);
    long connects = -1;
    curl_easy_getinfo(S.api->curl, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0);

    /* a header value that could smuggle another header is refused before sending */
    assert_int_equal(api_manifest_get(S.api, "\"a\"\r\nX-Evil: 1", &m, &out), -EINVAL);
}

/* ---- telemetry ---------------------------------------------------------------------------- */

static void test_telemetry(void **state)
{
    struct api_outcome out;
    char now[TIMESTAMP_STR_LEN];
    ids_timestamp(clock_now_ms(), now);
    _cleanup_free_ char *hb =
        xasprintf("{\"deviceTime\":\"%s\",\"appVersion\":\"0.1.0\",\"state\":\"PLAYING\","
                  "\"manifestEtag\":null,\"syncStatus\":\"SYNCED\",\"heartbeatIntervalSeconds\":60,"
                  "\"inventory\":[]}",
                  now);
    assert_int_equal(api_heartbeat(S.api, hb, &out), 0);
    assert_int_equal(out.http_status, 204);

    char id[UUID_STR_LEN];
    ids_uuid(id);
    _cleanup_free_ char *ev = xasprintf(
        "{\"deviceTime\":\"%s\",\"events\":[{\"eventId\":\"%s\",\"eventType\":\"APP_STARTED\","
        "\"eventTimeUtc\":\"%s\",\"severity\":\"INFO\",\"payload\":{}}]}",
        now, id, now);
    assert_int_equal(api_events(S.api, ev, &out), 0);
    assert_int_equal(out.http_status, 204);

    /* a bad body: 400 naming why */
    assert_int_equal(api_events(S.api, "{\"deviceTime\":\"x\",\"events\":[]}", &out), -EPROTO);
    assert_int_equal(out.http_status, 400);
    assert_true(out.problem_code[0] != '\0');
}

/* ---- commands ----------------------------------------------------------------------------- */

static void test_commands(void **state)
{
    _cleanup_free_ char *path =
        xasprintf("/v1/venues/%s/devices/%s/commands", S.venue_id, S.device_id);
    json_t *issued =
        admin("POST", path, S.admin_token, "{\"type\":\"REQUEST_MANIFEST_REFRESH\"}", 201);
    char cid[API_ID_MAX];
    copy_member(issued, "commandId", cid, sizeof(cid));
    json_decref(issued);

    struct api_outcome out;
    json_t *cmds = NULL;
    assert_int_equal(api_commands_get(S.api, &cmds, &out), 0);
    assert_int_equal(out.http_status, 200);
    assert_int_equal(json_array_size(cmds), 1);
    json_t *c = json_array_get(cmds, 0);
    assert_string_equal(json_string_value(json_object_get(c, "commandId")), cid);
    assert_string_equal(json_string_value(json_object_get(c, "type")), "REQUEST_MANIFEST_REFRESH");
    json_decref(cmds);

    assert_int_equal(api_command_result(S.api, cid, "{\"status\":\"SUCCEEDED\"}", &out), 0);
    assert_int_equal(out.http_status, 200);
    /* idempotent; a different answer is a conflict, never to be retried */
    assert_int_equal(api_command_result(S.api, cid, "{\"status\":\"SUCCEEDED\"}", &out), 0);
    assert_int_equal(api_command_result(S.api, cid, "{\"status\":\"FAILED\"}", &out), -EPROTO);
    assert_int_equal(out.http_status, 409);
    assert_string_equal(out.problem_code, "COMMAND_RESULT_CONFLICT");

    /* an id that would change the path is refused before sending */
    assert_int_equal(api_command_result(S.api, "../x", "{}", &out), -EINVAL);
}

/* ---- failures ----------------------------------------------------------------------------- */

static void test_unauthorized(void **state)
{
    struct api *bad = NULL;
    assert_int_equal(api_new(S.url, NULL, &bad), 0);
    assert_int_equal(api_set_device_token(bad, "eyJhbGciOiJIUzI1NiJ9.e30.bm9wZQ"), 0);
    struct api_outcome out;
    struct api_manifest m = {0};
    assert_int_equal(api_manifest_get(bad, NULL, &m, &out), -EACCES);
    assert_int_equal(out.http_status, 401);
    assert_int_equal(out.curl_code, CURLE_OK);
    assert_true(out.problem_code[0] != '\0');
    assert_null(m.body);
    assert_int_equal(api_heartbeat(bad, "{}", &out), -EACCES);
    assert_int_equal(out.http_status, 401);
    bad = api_free(bad);
}

static void test_rate_limited(void **state)
{
    /* the third manifest within a minute: the `manifest` class allows 2 */
    struct api_outcome out;
    struct api_manifest m = {0};
    assert_int_equal(api_manifest_get(S.api, S.etag, &m, &out), -EPROTO);
    assert_int_equal(out.http_status, 429);
    assert_true(out.retry_after_s >= 1 && out.retry_after_s <= 60);
    assert_null(m.body);
}

static void test_too_big(void **state)
{
    /* any answer past its bound is cut off: here a pairing status with an 8-byte bound */
    struct call c = {"GET", "/v1/devices/pairing/status", .bearer = S.pairing.poll_token, .max = 8};
    struct answer ans = {0};
    static const int ok[] = {200, 0};
    struct api_outcome out;
    assert_int_equal(perform(S.api, &c, &ans, ok, &out), -E2BIG);
    assert_int_equal(out.http_status, 200);
    assert_int_equal(out.curl_code, CURLE_WRITE_ERROR);
    answer_release(&ans);
}

static void test_transport(void **state)
{
    /* a port nothing listens on (the server's own, after it is gone, is not reliable) */
    struct api *a = NULL;
    struct api_options o = {.connect_timeout_ms = 2000, .timeout_ms = 2000};
    assert_int_equal(api_new("http://127.0.0.1:1/", &o, &a), 0);
    struct api_outcome out;
    struct api_pairing p = {.poll_interval_s = 99};
    assert_int_equal(api_pairing_start(a, "hw", NULL, NULL, &p, &out), -EIO);
    assert_int_equal(out.http_status, 0);
    assert_int_equal(out.curl_code, CURLE_COULDNT_CONNECT);
    assert_int_equal(p.poll_interval_s, 99);

    api_interrupt(a);
    assert_int_equal(api_pairing_start(a, "hw", NULL, NULL, &p, &out), -ECANCELED);
    a = api_free(a);
}

static void test_arguments(void **state)
{
    struct api *a = NULL;
    assert_int_equal(api_new("ftp://x", NULL, &a), -EINVAL);
    assert_int_equal(api_new("file:///etc/passwd", NULL, &a), -EINVAL);
    assert_int_equal(api_new("http://a b", NULL, &a), -EINVAL);
    struct api_options o = {.connect_timeout_ms = 0, .timeout_ms = 1};
    assert_int_equal(api_new("http://x", &o, &a), -EINVAL);
    assert_null(a);
    assert_int_equal(api_new("https://example.invalid///", NULL, &a), 0);
    assert_string_equal(a->base_url, "https://example.invalid");
    assert_int_equal(api_set_device_token(a, "a\nb"), -EINVAL);
    assert_int_equal(api_set_device_token(a, ""), -EINVAL);
    assert_int_equal(api_set_device_token(a, "tok"), 0);
    assert_int_equal(api_set_device_token(a, NULL), 0);
    assert_null(a->token);
    struct api_outcome out;
    assert_int_equal(api_heartbeat(a, "{}", &out), -EINVAL); /* no token */
    a = api_free(a);
    assert_null(api_free(NULL));
}

static void test_retry_after(void **state)
{
    assert_int_equal(api_retry_after_s("120"), 120);
    assert_int_equal(api_retry_after_s(" 7 "), 7);
    assert_int_equal(api_retry_after_s("0"), 0);
    assert_int_equal(api_retry_after_s("99999999999999999999"), INT32_MAX);
    assert_int_equal(api_retry_after_s("12s"), -1);
    assert_int_equal(api_retry_after_s("soon"), -1);
    assert_int_equal(api_retry_after_s(""), -1);
    assert_int_equal(api_retry_after_s(NULL), -1);
    clock_set_fake_ms(INT64_C(1445412480000)); /* Wed, 21 Oct 2015 07:28:00 GMT */
    assert_int_equal(api_retry_after_s("Wed, 21 Oct 2015 07:30:00 GMT"), 120);
    assert_int_equal(api_retry_after_s("Wed, 21 Oct 2015 07:00:00 GMT"), 0); /* past */
    clock_set_fake_ms(0);
}

/* A setup that fails half way never reaches the teardown: the server must not outlive us. */
static void kill_server(void)
{
    if (S.pid > 0) {
        kill(S.pid, SIGKILL);
        waitpid(S.pid, NULL, 0);
        S.pid = 0;
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atexit(kill_server);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arguments),    cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_pairing),      cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_telemetry),    cmocka_unit_test(test_commands),
        cmocka_unit_test(test_unauthorized), cmocka_unit_test(test_rate_limited),
        cmocka_unit_test(test_too_big),      cmocka_unit_test(test_transport),
    };
    int r = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return r;
}
