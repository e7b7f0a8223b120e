/* SPDX-License-Identifier: MIT */
/*
 * api.h — marquee-player's HTTP client to marqueed (spec §27.7, §27.8, §25.10, §28.10;
 * docs/player.md, docs/devices.md "Pairing", "Remote commands", "Telemetry"): pairing, the
 * manifest, heartbeats, events and commands, on one libcurl easy handle per api object.
 *
 * Calls block, bounded by a connect timeout and a total timeout; the daemon runs them on its
 * sync thread. The handle is reused from call to call, so its connection (and TLS session) is
 * kept alive between them. Every answer body is bounded (a manifest by MANIFEST_BODY_MAX after
 * gzip decoding, the rest by smaller limits): a server cannot make the player hold more.
 *
 * Each call reports what happened in a struct api_outcome, which is exactly what the state
 * machine's FSM_EV_FETCH_RESULT and FSM_EV_API_STATUS want: the HTTP status (0 when there was no
 * HTTP answer, with the libcurl code saying why) and Retry-After. The return value says how to
 * read it:
 *     ≥ 0        the call's success (its 2xx, or 304 for the manifest); outputs filled
 *     -EIO       no HTTP answer: DNS, connect, TLS, timeout (outcome.curl_code says which)
 *     -EACCES    401: the token was refused (outcome.problem_code: INVALID_TOKEN, …)
 *     -EPROTO    any other HTTP status (429 and 503 with outcome.retry_after_s)
 *     -EBADMSG   a success answer whose body or headers are not what the protocol says
 *     -E2BIG     the answer's body exceeded its bound (the transfer was cut off)
 *     -ECANCELED api_interrupt() was called
 *     -EINVAL    a bad argument (nothing was sent)
 * Outputs are untouched unless the call succeeds; the outcome is always filled.
 *
 * Secrets: the device token and the poll token are sent only as `Authorization: Bearer`, never
 * in a URL; nothing here logs (callers do, and must not log tokens either), libcurl's verbose
 * mode is never on, the copies this module keeps are wiped when dropped. TLS peers and host
 * names are verified (libcurl's defaults, set explicitly); redirects are not followed, so a
 * token never goes to another host; only http and https are spoken.
 *
 * Threads: an api object is used by one thread at a time; api_interrupt() may be called from
 * any thread. libcurl must be initialized (curl_global_init) by main before any thread starts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ids.h"
#include "player/manifest.h"

/* Bounds on answer bodies (bytes, after content decoding). */
#define API_MANIFEST_MAX     MANIFEST_BODY_MAX
#define API_COMMANDS_MAX     (1024u * 1024) /* 50 commands, each with ≤ 4 KiB of parameters */
#define API_SMALL_MAX        (64u * 1024)   /* pairing, statuses, results, problem bodies */
#define API_TOKEN_MAX        4096u          /* a device token (a JWT) or a poll token */
#define API_ID_MAX           64u            /* pairingId, deviceId, commandId … */
#define API_NAME_MAX         1024u          /* a device's name (≤ 200 characters of UTF-8) */
#define API_BASE_URL_MAX     2048u
#define API_PROBLEM_CODE_MAX 64u

/** What one call came to. */
struct api_outcome {
    int http_status;       /* the answer's status; 0: no HTTP answer (curl_code says why) */
    int curl_code;         /* the CURLcode of the transfer; CURLE_OK (0) when it completed */
    int32_t retry_after_s; /* Retry-After in seconds (delta or HTTP-date); < 0: none */
    char problem_code[API_PROBLEM_CODE_MAX]; /* the problem+json `code` of an error, or "" */
};

struct api_options {
    int64_t connect_timeout_ms; /* [10 s] */
    int64_t timeout_ms;         /* [30 s] the whole call; a 4 MiB manifest fits on slow links */
    const char *ca_file;        /* NULL: the system's trust store */
};

struct api;

/**
 * A client of the marqueed at @base_url ("http(s)://host[:port]", with or without a trailing
 * slash). @opts: NULL for the defaults. 0 and *ret, or -EINVAL (not an http(s) URL, longer than
 * API_BASE_URL_MAX, a timeout ≤ 0) or -ENOMEM (libcurl could not make a handle); *ret
 * untouched on failure.
 */
int api_new(const char *base_url, const struct api_options *opts, struct api **ret);

/** Frees @a (NULL is fine), wiping the token it holds. Returns NULL. */
struct api *api_free(struct api *a);

/**
 * The device token sent with the player calls (copied; wiped when replaced or freed); NULL
 * forgets it. 0, or -EINVAL (longer than API_TOKEN_MAX, or characters a header cannot carry).
 */
int api_set_device_token(struct api *a, const char *token);

/**
 * Makes the call in progress, and every later one, end at once with -ECANCELED (SIGTERM: the
 * daemon must not wait out a timeout). Any thread; async-signal-safe.
 */
void api_interrupt(struct api *a);

/* ---- pairing (docs/devices.md "Pairing"; no device token) ------------------------------- */

struct api_pairing {
    char pairing_id[API_ID_MAX];
    char code[16];                  /* "K7PX-4MNC", to show */
    int64_t expires_at_ms;          /* the code's expiry */
    int32_t poll_interval_s;        /* ≥ 1 */
    char poll_token[API_TOKEN_MAX]; /* secret: wipe with api_pairing_wipe() */
};

/**
 * POST /v1/devices/pairing/start with @hardware_id (required), @app_version and @model
 * (NULL: left out). 0 (201) and *ret, or as the top of this file says.
 */
int api_pairing_start(struct api *a, const char *hardware_id, const char *app_version,
                      const char *model, struct api_pairing *ret, struct api_outcome *out);

/** Wipes the poll token. */
void api_pairing_wipe(struct api_pairing *p);

enum api_pairing_state {
    API_PAIRING_PENDING,
    API_PAIRING_CLAIMED, /* claimed, token not collected yet: poll again */
    API_PAIRING_COMPLETED,
    API_PAIRING_EXPIRED, /* start again */
};

struct api_pairing_status {
    enum api_pairing_state state;
    int32_t poll_interval_s; /* ≥ 1; 5 when the answer has none */
    /* COMPLETED with the token (the first poll after the claim) only; "" otherwise. A
     * COMPLETED answer without a token means it was handed out already: pair again. */
    char device_id[API_ID_MAX], venue_id[API_ID_MAX], tenant_id[API_ID_MAX];
    char device_name[API_NAME_MAX];   /* the claim's name, for the error card ("" if not sent) */
    char device_token[API_TOKEN_MAX]; /* secret: store it (0600), then api_pairing_status_wipe() */
    int64_t device_token_expires_at_ms; /* 0: not given */
};

/**
 * GET /v1/devices/pairing/status with @poll_token as Bearer. 0 (200) and *ret. An unknown
 * pairing (a restarted server, a wrong token) is -EPROTO with 404 PAIRING_NOT_FOUND: start
 * again.
 */
int api_pairing_status(struct api *a, const char *poll_token, struct api_pairing_status *ret,
                       struct api_outcome *out);

/** Wipes the device token. */
void api_pairing_status_wipe(struct api_pairing_status *s);

/* ---- player calls (the device token as Bearer) ------------------------------------------ */

#define API_MANIFEST_NEW          0 /* 200: a body */
#define API_MANIFEST_NOT_MODIFIED 1 /* 304: the If-None-Match tag still holds */

struct api_manifest {
    char *body; /* 200: the decoded body, NUL-terminated, ≤ API_MANIFEST_MAX; owned */
    size_t len;
    char etag[MANIFEST_HTTP_ETAG_MAX + 1]; /* the ETag header as sent (quotes, W/), or "" */
    char source[16]; /* X-Marquee-Manifest: cached, resolved, stale, degraded; or "" */
};

/**
 * GET /v1/player/manifest, gzip accepted, conditional when @if_none_match (a stored ETag header
 * value, sent as is) is not NULL. API_MANIFEST_NEW and *ret filled (release it with
 * api_manifest_release()), API_MANIFEST_NOT_MODIFIED (*ret untouched), or a failure as at the
 * top of this file. The body is not parsed here: manifest_parse() does it.
 */
int api_manifest_get(struct api *a, const char *if_none_match, struct api_manifest *ret,
                     struct api_outcome *out);

/** Frees what a manifest answer holds and zeroes it. */
void api_manifest_release(struct api_manifest *m);

/** POST /v1/player/heartbeat with the §27.8.2 body @json. 0 (204). */
int api_heartbeat(struct api *a, const char *json, struct api_outcome *out);

/** POST /v1/player/events with the §27.8.3 batch @json. 0 (204). */
int api_events(struct api *a, const char *json, struct api_outcome *out);

/**
 * GET /v1/player/commands. 0 (200) and *ret: a new reference to the `commands` array, every
 * element an object with string `commandId` (1…API_ID_MAX - 1 URL-safe characters) and `type`
 * (the caller refuses types it does not know, and reports them FAILED).
 */
int api_commands_get(struct api *a, json_t **ret, struct api_outcome *out);

/**
 * POST /v1/player/commands/{@command_id}/result with @json ({"status": "SUCCEEDED" | "FAILED",
 * …}). 0 (200; the same result again is 200 too). 409 (COMMAND_RESULT_CONFLICT,
 * COMMAND_EXPIRED …) is -EPROTO: a result the server will never take, so do not retry it.
 */
int api_command_result(struct api *a, const char *command_id, const char *json,
                       struct api_outcome *out);

/**
 * A Retry-After value (RFC 9110 §10.2.3) in seconds from now: delta-seconds, or an HTTP-date
 * (a date in the past is 0); saturated to INT32_MAX. -1 when @value is NULL or neither. The
 * one parser of Retry-After: the manifest sync and the download engine both use it.
 */
int32_t api_retry_after_s(const char *value);
