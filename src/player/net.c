/* SPDX-License-Identifier: MIT */
/*
 * net.c — the network thread (agent-internal.h): every HTTP call to marqueed, one at a time.
 *
 * What it does, in order of urgency each round: pairing while there is no token (§8, §28.10);
 * the manifest fetch the core asked for (§28.6); the heartbeat when due (§27.8.2, every
 * max(nextCheckSeconds, heartbeat_min_s)); command results to post and the command poll
 * (§28.7); the events the outbox holds (§27.8.3, batches of ≤ 100, at most one batch every
 * EVENTS_GAP_MS for the server's `events` rate class, full-jitter backoff on failure). It
 * posts what it learnt to the core and never decides anything about content itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backoff.h"
#include "clock.h"
#include "fsx.h"
#include "ids.h"
#include "log.h"
#include "macro.h"
#include "secretfile.h"
#include "player/agent-internal.h"

#define EVENTS_GAP_MS 10000 /* the server's `events` class allows 6 a minute */
#define PAIR_RETRY_MS 5000
#define MAX_WAIT_MS   1000

static int64_t mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* Waits on net_cond (a->mu held) until @until_ms (monotonic) at the latest. */
static void net_wait(struct agent *a, int64_t until_ms)
{
    int64_t now = mono_ms();
    if (until_ms <= now)
        return;
    struct timespec ts;
    clock_mono_deadline(MIN(until_ms - now, MAX_WAIT_MS), &ts);
    pthread_cond_timedwait(&a->net_cond, &a->mu, &ts);
}

/* Waits the whole @ms (net_wait() returns at every broadcast), or until we stop. */
static void net_sleep(struct agent *a, int64_t ms)
{
    int64_t until = mono_ms() + ms;
    pthread_mutex_lock(&a->mu);
    while (!atomic_load(&a->stopping) && mono_ms() < until)
        net_wait(a, until);
    pthread_mutex_unlock(&a->mu);
}

static void post_status(struct agent *a, const struct api_outcome *o)
{
    struct msg *m = agent_msg_new(MSG_API_STATUS);
    m->http_status = o->http_status;
    agent_post(a, m);
}

/* ---- the device token ------------------------------------------------------------------------ */

static int token_store(struct agent *a, const struct api_pairing_status *st)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", a->dir, AGENT_TOKEN_FILE);
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s}", "deviceId", st->device_id, "venueId",
                          st->venue_id, "tenantId", st->tenant_id, "deviceName", st->device_name,
                          "token", st->device_token);
    if (!v)
        return -EINVAL;
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v); /* jansson keeps no copy we could wipe; the text is wiped below */
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    int r = fsx_write_atomic(path, text, len, 0600, true);
    explicit_bzero(text, len);
    free(text);
    return r;
}

static void hardware_id(struct agent *a, char *out, size_t size)
{
    if (*a->set->hardware_id) {
        snprintf(out, size, "%s", a->set->hardware_id);
        return;
    }
    FILE *f = fopen("/etc/machine-id", "re");
    if (f) {
        bool ok = fgets(out, (int)size, f) != NULL;
        fclose(f);
        out[strcspn(out, "\r\n")] = '\0';
        if (ok && *out)
            return;
    }
    /* no machine id: one random id, kept in the data directory */
    _cleanup_free_ char *path = xasprintf("%s/%s", a->dir, AGENT_HWID_FILE);
    char fresh[33];
    ids_random_hex(fresh, sizeof(fresh));
    size_t len;
    if (secret_file_read(path, fresh, out, size, &len) < 0)
        snprintf(out, size, "%s", fresh);
}

/* Pairs until a token is stored, the pairing is no longer wanted, or we stop. */
static void pair(struct agent *a)
{
    char hwid[128];
    hardware_id(a, hwid, sizeof(hwid));
    struct utsname u;
    char model[160] = "linux";
    if (uname(&u) == 0)
        snprintf(model, sizeof(model), "%s %s", u.sysname, u.machine);

    while (!atomic_load(&a->stopping)) {
        struct api_pairing p;
        struct api_outcome o;
        int r = api_pairing_start(a->api, hwid, AGENT_VERSION, model, &p, &o);
        if (r < 0) {
            log_msg(LOG_WARN, "pairing.start_failed", "status %d: %s", o.http_status, strerror(-r));
            net_sleep(a, o.retry_after_s > 0 ? MAX(o.retry_after_s * 1000, PAIR_RETRY_MS)
                                             : PAIR_RETRY_MS);
            continue;
        }
        struct msg *m = agent_msg_new(MSG_PAIRING_CODE);
        snprintf(m->code, sizeof(m->code), "%s", p.code);
        agent_post(a, m);
        log_msg(LOG_INFO, "pairing.code", "pairing code %s", p.code);

        bool again = false;
        while (!again && !atomic_load(&a->stopping)) {
            net_sleep(a, (int64_t)p.poll_interval_s * 1000);
            if (atomic_load(&a->stopping))
                break;
            if (clock_now_ms() >= p.expires_at_ms) {
                again = true;
                break;
            }
            struct api_pairing_status st;
            r = api_pairing_status(a->api, p.poll_token, &st, &o);
            if (r < 0) {
                /* 404: the server no longer knows this pairing; anything else: try again */
                again = o.http_status == 404;
                continue;
            }
            p.poll_interval_s = st.poll_interval_s;
            if (st.state == API_PAIRING_EXPIRED) {
                again = true;
            } else if (st.state == API_PAIRING_COMPLETED) {
                if (!*st.device_token) {
                    again = true; /* handed out already (to an earlier poll we lost) */
                    continue;
                }
                r = token_store(a, &st);
                if (r == 0) {
                    pthread_mutex_lock(&a->mu); /* before PAIRED: an error card names it */
                    snprintf(a->device_name, sizeof(a->device_name), "%s", st.device_name);
                    pthread_mutex_unlock(&a->mu);
                }
                api_pairing_status_wipe(&st);
                if (r < 0) {
                    log_msg(LOG_ERROR, "pairing.store_failed", "%s", strerror(-r));
                    again = true;
                    continue;
                }
                api_pairing_wipe(&p);
                log_msg(LOG_INFO, "pairing.completed", "device token stored");
                pthread_mutex_lock(&a->mu);
                a->want_pairing = false;
                a->token_changed = true;
                pthread_mutex_unlock(&a->mu);
                agent_post(a, agent_msg_new(MSG_PAIRED));
                return;
            }
        }
        api_pairing_wipe(&p);
    }
}

static void token_reload(struct agent *a)
{
    char token[API_TOKEN_MAX], id[API_ID_MAX], name[API_NAME_MAX];
    if (agent_token_load(a->dir, token, sizeof(token), id, sizeof(id), name, sizeof(name)) == 0) {
        api_set_device_token(a->api, token);
        pthread_mutex_lock(&a->mu);
        snprintf(a->device_id, sizeof(a->device_id), "%s", id);
        snprintf(a->device_name, sizeof(a->device_name), "%s", name);
        pthread_mutex_unlock(&a->mu);
    } else {
        api_set_device_token(a->api, NULL);
    }
    explicit_bzero(token, sizeof(token));
}

/* ---- manifest -------------------------------------------------------------------------------- */

static void fetch(struct agent *a, uint32_t id, bool full, const char *inm)
{
    struct api_manifest m = {0};
    struct api_outcome o;
    int r = api_manifest_get(a->api, *inm ? inm : NULL, &m, &o);
    struct msg *msg = agent_msg_new(MSG_FETCHED);
    msg->fetch_id = id;
    msg->full = full;
    msg->http_status = r == API_MANIFEST_NOT_MODIFIED ? 304
                       : r == API_MANIFEST_NEW        ? 200
                                                      : o.http_status;
    if (r == -EBADMSG || r == -E2BIG)
        msg->http_status = 0; /* an answer we cannot use counts as none */
    msg->curl_code = o.curl_code;
    msg->retry_after_s = o.retry_after_s;
    if (r == API_MANIFEST_NEW) {
        msg->body = m.body;
        msg->len = m.len;
        snprintf(msg->etag, sizeof(msg->etag), "%s", m.etag);
        m.body = NULL;
    }
    api_manifest_release(&m);
    agent_post(a, msg);
}

/* ---- heartbeat ------------------------------------------------------------------------------- */

static json_t *time_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char t[TIMESTAMP_STR_LEN];
    ids_timestamp(ms, t);
    return json_string(t);
}

static const char *network_type(void)
{
    /* the first link that is up and not the loopback says what the device is on */
    static const char *const names[] = {"eth0", "enp0s3", "end0", "wlan0", "wlp2s0"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char path[96];
        snprintf(path, sizeof(path), "/sys/class/net/%s/operstate", names[i]);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        char st[16] = "";
        bool up = fgets(st, sizeof(st), f) && strncmp(st, "up", 2) == 0;
        fclose(f);
        if (up)
            return names[i][0] == 'w' ? "WIFI" : "ETHERNET";
    }
    return "ETHERNET";
}

/* The §27.8.2 body from the core's snapshot (a->mu held); clears what it reports once. */
static char *heartbeat_body(struct agent *a, bool *with_inventory)
{
    struct hb_snapshot *h = &a->hb;
    json_t *playback = json_null();
    if (h->item_index >= 0 && *h->playlist_id)
        playback = json_pack("{s:s, s:I, s:s, s:I, s:I}", "playlistId", h->playlist_id,
                             "publishedVersion", (json_int_t)h->published_version, "currentAssetId",
                             h->asset_id, "currentItemIndex", (json_int_t)h->item_index,
                             "loopCount", (json_int_t)h->loop_count);
    json_t *v = json_pack(
        "{s:o, s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:b, s:s, s:o},"
        " s:{s:I, s:I, s:I}, s:s, s:I}",
        "deviceTime", time_or_null(clock_now_ms()), "appVersion", AGENT_VERSION, "state", h->state,
        "manifestEtag", *h->manifest_etag ? json_string(h->manifest_etag) : json_null(), "playback",
        playback, "cache", "totalBytes", (json_int_t)h->budget_bytes, "usedBytes",
        (json_int_t)h->used_bytes, "assetCount", (json_int_t)h->assets, "pendingDownloads",
        (json_int_t)h->pending_downloads, "network", "connected", h->connected, "type",
        network_type(), "lastSyncAtUtc", time_or_null(h->last_sync_ms), "errors",
        "playbackFailures", (json_int_t)h->playback_failures, "downloadFailures",
        (json_int_t)h->download_failures, "manifestFetchFailures", (json_int_t)h->fetch_failures,
        "syncStatus", fsm_sync_status_name(h->sync), "heartbeatIntervalSeconds",
        (json_int_t)h->interval_s);
    if (!v)
        return NULL;
    *with_inventory = false;
    if (a->inventory_changed && a->inventory) {
        json_t *inv = json_loads(a->inventory, 0, NULL);
        if (inv) {
            json_object_set_new(v, "inventory", inv);
            *with_inventory = true;
        }
    }
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return s;
}

static void heartbeat(struct agent *a)
{
    bool inv;
    pthread_mutex_lock(&a->mu);
    struct hb_snapshot sent = a->hb;
    uint64_t inv_gen = a->inventory_gen; /* a newer inventory while this one is sent stays due */
    char *body = heartbeat_body(a, &inv);
    pthread_mutex_unlock(&a->mu);
    if (!body)
        return;
    struct api_outcome o;
    int r = api_heartbeat(a->api, body, &o);
    free(body);
    post_status(a, &o);
    if (r < 0) {
        log_msg(LOG_WARN, "heartbeat.failed", "status %d: %s", o.http_status, strerror(-r));
        return;
    }
    /* the counters are "since the last heartbeat": take off what this one reported */
    pthread_mutex_lock(&a->mu);
    a->hb.playback_failures -= MIN(a->hb.playback_failures, sent.playback_failures);
    a->hb.download_failures -= MIN(a->hb.download_failures, sent.download_failures);
    a->hb.fetch_failures -= MIN(a->hb.fetch_failures, sent.fetch_failures);
    if (inv && a->inventory_gen == inv_gen)
        a->inventory_changed = false;
    pthread_mutex_unlock(&a->mu);
}

/* ---- commands -------------------------------------------------------------------------------- */

static void post_results(struct agent *a, struct outbox *ob)
{
    struct outbox_command *c = NULL;
    size_t n = 0;
    if (outbox_commands_unposted(ob, &c, &n) < 0)
        return;
    for (size_t i = 0; i < n && !atomic_load(&a->stopping); i++) {
        struct api_outcome o;
        int r = api_command_result(a->api, c[i].command_id, c[i].result_json, &o);
        post_status(a, &o);
        if (r == 0 || r == -EPROTO) {
            /* -EPROTO: a result the server will never take (expired, conflict): stop trying */
            if (r < 0)
                log_msg(LOG_WARN, "command.result_refused", "command %s: status %d %s",
                        c[i].command_id, o.http_status, o.problem_code);
            outbox_command_posted(ob, c[i].command_id);
        }
    }
    for (size_t i = 0; i < n; i++)
        outbox_command_release(&c[i]);
    free(c);
}

/* A command taken before (a restart, a lost answer): its recorded result, never a re-run. */
static void command_again(struct outbox *ob, const struct outbox_command *c)
{
    if (c->state == OUTBOX_COMMAND_EXECUTING)
        agent_command_interrupted(ob, c);
    /* FINISHED: posted by post_results(); POSTED: nothing left to do */
}

static void commands(struct agent *a, struct outbox *ob)
{
    json_t *list = NULL;
    struct api_outcome o;
    int r = api_commands_get(a->api, &list, &o);
    post_status(a, &o);
    if (r < 0)
        return;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "commandId"));
        const char *type = json_string_value(json_object_get(c, "type"));
        struct outbox_command prev = {0};
        r = outbox_command_begin(ob, id, type, clock_now_ms(), &prev);
        if (r == -EALREADY) {
            command_again(ob, &prev);
            outbox_command_release(&prev);
            continue;
        }
        if (r < 0) {
            /* not recorded, so not executed — and the server delivers a command once: answer
             * it now, or nobody ever will */
            struct api_outcome o2;
            api_command_result(a->api, id,
                               "{\"status\":\"FAILED\",\"errorCode\":\"NOT_RECORDED\","
                               "\"errorMessage\":\"the player could not record the command\"}",
                               &o2);
            continue;
        }
        struct msg *m = agent_msg_new(MSG_COMMAND);
        snprintf(m->command_id, sizeof(m->command_id), "%s", id);
        snprintf(m->name, sizeof(m->name), "%s", type);
        m->params = json_incref(json_object_get(c, "parameters"));
        agent_post(a, m);
    }
    json_decref(list);
}

/* ---- events ---------------------------------------------------------------------------------- */

/* Sends one batch. 1: sent (more may wait), 0: nothing to send, < 0: failed. */
static int events_flush(struct agent *a, struct outbox *ob)
{
    char *body = NULL;
    int64_t last;
    outbox_events_expire(ob, clock_now_ms());
    outbox_commands_expire(ob, clock_now_ms());
    int r = outbox_events_batch(ob, OUTBOX_BATCH_MAX, clock_now_ms(), &body, &last);
    if (r < 0 || !body)
        return r;
    struct api_outcome o;
    r = api_events(a->api, body, &o);
    free(body);
    post_status(a, &o);
    if (r == 0 || (r == -EPROTO && o.http_status == 400)) {
        /* a batch the server refuses as malformed would block every later one: it is logged
         * and dropped (the API suite pins what the server takes, so this is a bug's path) */
        if (r < 0)
            log_msg(LOG_ERROR, "events.refused", "status 400 %s: batch dropped", o.problem_code);
        outbox_events_ack(ob, last);
        return 1;
    }
    return -EIO;
}

/* ---- the loop -------------------------------------------------------------------------------- */

void *net_main(void *userdata)
{
    struct agent *a = userdata;
    struct outbox *ob = NULL;
    if (outbox_open(a->dir, false, &ob) < 0) {
        log_msg(LOG_ERROR, "net.outbox", "cannot open the outbox");
        pthread_mutex_lock(&a->mu);
        a->fatal = -EIO;
        pthread_mutex_unlock(&a->mu);
        agent_request_stop(a);
        return NULL;
    }
    /* before the first call: the token an earlier run stored (a restart, REBOOT_APP) */
    token_reload(a);
    int64_t hb_due = 0, cmd_due = 0, ev_due = 0, hb_last = 0;
    /* what the last heartbeat said: a change of state, manifest or sync status is reported as
     * soon as heartbeat_min_s allows, not a whole interval later ("confirm sync complete") */
    const char *sent_state = NULL;
    char sent_etag[MANIFEST_ETAG_MAX + 1] = "";
    enum fsm_sync_status sent_sync = FSM_SYNC_PENDING;
    unsigned ev_failures = 0;

    pthread_mutex_lock(&a->mu);
    while (!atomic_load(&a->stopping)) {
        if (a->token_changed) {
            a->token_changed = false;
            pthread_mutex_unlock(&a->mu);
            token_reload(a);
            hb_due = cmd_due = ev_due = 0; /* a new device: say so at once */
            pthread_mutex_lock(&a->mu);
            continue;
        }
        if (a->want_pairing) {
            pthread_mutex_unlock(&a->mu);
            pair(a);
            pthread_mutex_lock(&a->mu);
            continue;
        }
        if (a->want_fetch) {
            a->want_fetch = false;
            uint32_t id = a->fetch_id;
            bool full = a->fetch_full;
            char inm[sizeof(a->fetch_inm)];
            memcpy(inm, a->fetch_inm, sizeof(inm));
            pthread_mutex_unlock(&a->mu);
            fetch(a, id, full, inm);
            pthread_mutex_lock(&a->mu);
            continue;
        }
        int64_t now = mono_ms();
        int64_t interval_ms = a->hb.interval_s * 1000;
        bool token = a->has_token;
        bool news = a->hb.state != sent_state || a->hb.sync != sent_sync ||
                    strcmp(a->hb.manifest_etag, sent_etag) != 0;
        int64_t early = hb_last + a->set->heartbeat_min_s * 1000;
        if (token && (now >= hb_due || (news && now >= early))) {
            sent_state = a->hb.state;
            sent_sync = a->hb.sync;
            memcpy(sent_etag, a->hb.manifest_etag, sizeof(sent_etag));
            pthread_mutex_unlock(&a->mu);
            heartbeat(a);
            pthread_mutex_lock(&a->mu);
            hb_last = mono_ms();
            hb_due = hb_last + interval_ms;
            continue;
        }
        if (token && (a->results_waiting || now >= cmd_due)) {
            bool poll = now >= cmd_due;
            a->results_waiting = false;
            pthread_mutex_unlock(&a->mu);
            post_results(a, ob);
            if (poll)
                commands(a, ob);
            post_results(a, ob);
            pthread_mutex_lock(&a->mu);
            if (poll) {
                int64_t every = a->set->command_poll_s > 0 ? a->set->command_poll_s * 1000
                                                           : MAX(interval_ms, 30000);
                cmd_due = mono_ms() + every;
            }
            continue;
        }
        if (token && now >= ev_due && outbox_events_count(ob) > 0) {
            pthread_mutex_unlock(&a->mu);
            int r = events_flush(a, ob);
            if (r > 0) {
                ev_failures = 0;
                ev_due = mono_ms() + EVENTS_GAP_MS;
            } else if (r < 0) {
                ev_failures++;
                ev_due = mono_ms() +
                         MAX(EVENTS_GAP_MS,
                             backoff_full_jitter_ms(a->set->backoff_base_ms, a->set->backoff_cap_ms,
                                                    ev_failures, randombytes_random()));
            }
            pthread_mutex_lock(&a->mu);
            continue;
        }
        int64_t next = now + MAX_WAIT_MS;
        if (token)
            next = MIN(next, MIN(news ? MAX(early, now) : hb_due, MIN(hb_due, cmd_due)));
        net_wait(a, next);
    }
    pthread_mutex_unlock(&a->mu);
    outbox_free(ob);
    return NULL;
}
