/* SPDX-License-Identifier: MIT */
/*
 * agent.c — marquee-player's core thread (agent-internal.h, agent.h): the state machine fed
 * with what the other threads report, and its actions carried out against the manifest store,
 * the cache, the download engine and the outbox.
 *
 * feed() is the heart: an event goes through fsm_step(), and the actions come out in order;
 * an action whose answer is known at once (LOAD_LOCAL) queues that answer as the next event
 * rather than feeding it from inside the action, so the machine always sees its events one at
 * a time and after every earlier action was carried out (fsm.h).
 */
#include "player/agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "clock.h"
#include "fsx.h"
#include "ids.h"
#include "log.h"
#include "macro.h"
#include "player/agent-internal.h"

#define LOOP_WAIT_MS      1000 /* the longest the core sleeps without looking at the clock */
#define STATUS_EVERY_MS   1000 /* status.json at most this often */
#define SNAPSHOT_EVERY_MS 1000 /* the heartbeat's snapshot at least this often */
#define CLOCK_FILE_MS     500  /* test_clock_file re-read */
#define EVENT_QUEUE_MAX   16
#define INVENTORY_MAX     5000 /* files a heartbeat's inventory lists at most (the server's bound) */
#define NEXT_ITEMS        2    /* the items after the one on screen fetched first (§28.9) */
#define VERIFY_BYTES      (64u << 20) /* re-hashed at a sync that is not full */

static struct agent *_Atomic signal_agent;
static atomic_bool stop_signalled; /* SIGTERM came, perhaps before the agent existed */

/* ---- messages ------------------------------------------------------------------------------ */

struct msg *agent_msg_new(enum msg_type t)
{
    struct msg *m = xcalloc(1, sizeof(*m));
    m->type = t;
    m->retry_after_s = -1;
    return m;
}

void agent_msg_free(struct msg *m)
{
    if (!m)
        return;
    free(m->body);
    json_decref(m->params);
    free(m);
}

void agent_post_locked(struct agent *a, struct msg *m)
{
    m->next = NULL;
    *a->q_tail = m;
    a->q_tail = &m->next;
    dl_wakeup(a->dl);
}

void agent_post(struct agent *a, struct msg *m)
{
    pthread_mutex_lock(&a->mu);
    agent_post_locked(a, m);
    pthread_mutex_unlock(&a->mu);
}

void agent_request_stop(struct agent *a)
{
    atomic_store(&a->stopping, true);
    if (a->api)
        api_interrupt(a->api);
    if (a->dl)
        dl_wakeup(a->dl);
}

/* ---- the token ----------------------------------------------------------------------------- */

int agent_token_load(const char *dir, char *token, size_t size, char *device_id, size_t id_size,
                     char *name, size_t name_size)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, AGENT_TOKEN_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    char buf[API_TOKEN_MAX + API_NAME_MAX + 512];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EBADMSG;
    buf[n] = '\0';
    json_t *v = json_loads(buf, 0, NULL);
    explicit_bzero(buf, sizeof(buf));
    const char *t = json_string_value(json_object_get(v, "token"));
    const char *id = json_string_value(json_object_get(v, "deviceId"));
    const char *nm = json_string_value(json_object_get(v, "deviceName"));
    int r = -EBADMSG;
    if (t && id && strlen(t) < size && strlen(id) < id_size) {
        snprintf(token, size, "%s", t);
        snprintf(device_id, id_size, "%s", id);
        snprintf(name, name_size, "%s", nm ? nm : "");
        r = 0;
    }
    json_decref(v);
    return r;
}

static bool token_present(struct agent *a)
{
    char token[API_TOKEN_MAX], id[API_ID_MAX], name[API_NAME_MAX];
    bool ok =
        agent_token_load(a->dir, token, sizeof(token), id, sizeof(id), name, sizeof(name)) == 0;
    explicit_bzero(token, sizeof(token));
    return ok;
}

/* ---- manifests and the cache ---------------------------------------------------------------- */

static const struct manifest *slot_manifest(struct agent *a, enum fsm_slot s)
{
    int i = s == FSM_SLOT_CURRENT    ? MANIFEST_SLOT_CURRENT
            : s == FSM_SLOT_PREVIOUS ? MANIFEST_SLOT_PREVIOUS
            : s == FSM_SLOT_STAGED   ? MANIFEST_SLOT_STAGED
                                     : -1;
    if (i < 0 || a->slots.slot[i].state != MANIFEST_SLOT_OK)
        return NULL;
    return a->slots.slot[i].manifest;
}

static bool item_ready(const struct manifest_item *it, void *userdata)
{
    struct agent *a = userdata;
    struct cache_entry e;
    return cache_get(a->cache, it->asset_id, &e) == 0 && e.state == CACHE_STATE_READY &&
           strcmp(e.sha256, it->checksum_sha256) == 0;
}

static struct fsm_manifest_info manifest_info(struct agent *a, const struct manifest *m)
{
    struct fsm_manifest_info i = {0};
    if (!m)
        return i;
    enum manifest_playability p = manifest_playability(m, item_ready, a);
    i.present = true;
    i.playable = p != MANIFEST_PLAYABLE_NONE;
    i.complete = p == MANIFEST_PLAYABLE_ALL || !m->has_playlist || m->n_items == 0;
    i.valid_to_ms = m->valid_to_ms;
    i.next_check_s = (int32_t)m->next_check_seconds;
    return i;
}

static struct fsm_avail avail(struct agent *a, const struct manifest *m)
{
    struct fsm_manifest_info i = manifest_info(a, m);
    return (struct fsm_avail){i.playable, i.complete};
}

static void manifests_changed(struct agent *a);

static void slots_reload(struct agent *a)
{
    struct manifest_slots s;
    int r = manifest_store_load(a->store, &s);
    if (r < 0) {
        log_msg(LOG_ERROR, "manifest.load_failed", "%s", strerror(-r));
        return;
    }
    manifest_slots_release(&a->slots);
    a->slots = s;
    const struct manifest *cur = slot_manifest(a, FSM_SLOT_CURRENT);
    const struct manifest *stg = slot_manifest(a, FSM_SLOT_STAGED);
    const struct manifest *b = cur ? cur : stg;
    a->budget_bytes = b ? b->settings.cache_budget_bytes : MANIFEST_BUDGET_DEFAULT;
    manifests_changed(a);
}

/* The assets the held manifests name, as the cache's wants. */
static size_t wants(struct agent *a, struct cache_want **ret)
{
    size_t n = 0, cap = 0;
    struct cache_want *w = NULL;
    for (int s = 0; s < MANIFEST_SLOT_COUNT; s++) {
        if (a->slots.slot[s].state != MANIFEST_SLOT_OK)
            continue;
        const struct manifest *m = a->slots.slot[s].manifest;
        for (size_t i = 0; i < m->n_items; i++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                w = xrealloc(w, cap * sizeof(*w));
            }
            w[n++] = (struct cache_want){m->items[i].asset_id, m->items[i].checksum_sha256,
                                         (uint64_t)m->items[i].file_size_bytes};
        }
    }
    *ret = w;
    return n;
}

static bool protected_id(struct agent *a, const char *asset_id)
{
    for (int s = 0; s < MANIFEST_SLOT_COUNT; s++)
        if (a->slots.slot[s].state == MANIFEST_SLOT_OK &&
            manifest_references(a->slots.slot[s].manifest, asset_id))
            return true;
    return false;
}

static void event(struct agent *a, const char *type, const char *severity, json_t *payload)
{
    int r = outbox_event_add(a->outbox, type, severity, clock_now_ms(), payload);
    if (r < 0)
        log_msg(LOG_WARN, "event.dropped", "%s: %s", type, strerror(-r));
    json_decref(payload);
    if (log_enabled(LOG_INFO))
        log_msg(LOG_INFO, "event", "%s", type);
}

static void evicted(struct agent *a, const char *asset_id, uint64_t bytes, const char *reason)
{
    event(a, "CACHE_EVICTION", "INFO",
          json_pack("{s:s, s:I, s:s}", "assetId", asset_id, "freedBytes", (json_int_t)bytes,
                    "reason", reason));
}

/*
 * The cache policy (§11.2, §11.3) over the index: with @incoming_id and @bytes before a download
 * starts (evict least recently used to make room, else pause), with NULL and 0 as a sweep
 * (expired content, and use above the high-water mark). Protected: every asset a held manifest
 * names, and every download in progress. 1 when downloads must pause, else 0.
 */
static int budget_apply(struct agent *a, const char *incoming_id, uint64_t bytes)
{
    struct cache_entry *es = NULL;
    size_t n = 0;
    if (cache_list(a->cache, &es, &n) < 0)
        return 0; /* the index cannot say: let the download try, commit checks again */
    /* a download resumed (after a kill, a failed attempt) has its reservation already: it is
     * the incoming bytes, not more use beside them */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!incoming_id || es[i].state != CACHE_STATE_PENDING ||
            strcmp(es[i].asset_id, incoming_id) != 0)
            es[kept++] = es[i];
    n = kept;
    struct cache_want *w = NULL;
    size_t nw = wants(a, &w);
    const char **prot = xcalloc(nw + n + 1, sizeof(*prot)); /* repeats are fine to the policy */
    size_t np = 0;
    for (size_t i = 0; i < nw; i++)
        prot[np++] = w[i].asset_id;
    for (size_t i = 0; i < n; i++)
        if (es[i].state == CACHE_STATE_PENDING)
            prot[np++] = es[i].asset_id;
    int64_t now = clock_now_ms() / 1000;
    struct cache_policy_input in = {
        .entries = es,
        .n_entries = n,
        .protected_ids = prot,
        .n_protected = np,
        .budget_bytes = (uint64_t)a->budget_bytes,
        .incoming_bytes = bytes,
        .now_utc = now,
        .keep_unused_s = CACHE_KEEP_UNUSED_S,
    };
    struct cache_plan plan;
    int ret = 0;
    if (cache_policy_plan(&in, &plan) == 0) {
        for (size_t k = 0; k < plan.n_evict; k++) {
            const struct cache_entry *e = &es[plan.evict[k]];
            if (cache_remove(a->cache, e->asset_id) == 0) {
                evicted(a, e->asset_id, e->bytes,
                        now - e->last_used_utc >= CACHE_KEEP_UNUSED_S ? "EXPIRED" : "BUDGET");
                a->assets_dirty = true;
            }
        }
        if (incoming_id && plan.action == CACHE_ACTION_PAUSE) {
            if (!a->paused)
                log_msg(LOG_WARN, "downloads.paused",
                        "the cache budget (%lld bytes) is full of assets the manifests need",
                        (long long)a->budget_bytes);
            a->paused = true;
            ret = 1;
        }
        cache_plan_release(&plan);
    }
    free(prot);
    free(w); /* after the policy: prot points into it */
    free(es);
    return ret;
}

/* The download engine's admit hook: the budget rule before each download starts. */
static int admit(void *userdata, const char *asset_id, uint64_t bytes)
{
    return budget_apply(userdata, asset_id, bytes);
}

/* Expired content removed automatically (§11.3), and use brought under the high-water mark. */
static void sweep(struct agent *a)
{
    budget_apply(a, NULL, 0);
}

static bool in_offpeak(struct agent *a)
{
    time_t t = (time_t)(clock_now_ms() / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    return settings_window_contains(a->off_from, a->off_to, tm.tm_hour * 60 + tm.tm_min);
}

/* Re-hashes a held asset; a damaged one (or one gone) is removed, to be fetched again. True
 * when it was removed. */
static bool verify_or_drop(struct agent *a, const char *asset_id, const char *sha256)
{
    int r = cache_verify(a->cache, asset_id, sha256);
    if (r != -EBADMSG && r != -ENOENT)
        return false;
    log_msg(LOG_WARN, "cache.corrupt", "asset %s failed verification: fetched again", asset_id);
    dl_cancel(a->dl, asset_id);
    cache_remove(a->cache, asset_id);
    a->assets_dirty = true;
    return true;
}

static struct failed_asset *failed_find(struct agent *a, const char *asset_id)
{
    for (size_t i = 0; i < a->n_failed; i++)
        if (!strcmp(a->failed[i].id, asset_id))
            return &a->failed[i];
    return NULL;
}

static void failed_set(struct agent *a, const char *asset_id, bool failed)
{
    struct failed_asset *f = failed_find(a, asset_id);
    if (failed && !f) {
        a->failed = xrealloc(a->failed, (a->n_failed + 1) * sizeof(*a->failed));
        f = &a->failed[a->n_failed++];
        snprintf(f->id, sizeof(f->id), "%s", asset_id);
    } else if (!failed && f) {
        *f = a->failed[--a->n_failed];
        f = NULL;
    }
    if (f)
        f->retry = false;
    a->dl_failed = (unsigned)a->n_failed;
}

static void queue_item(struct agent *a, const struct manifest_item *it, enum dl_priority prio)
{
    if (item_ready(it, a))
        return;
    const struct failed_asset *f = failed_find(a, it->asset_id);
    if (f && !f->retry)
        return; /* it failed its attempts: the next sync tries it again, not the next item */
    struct dl_job j = {it->asset_id, it->url, it->checksum_sha256, (uint64_t)it->file_size_bytes,
                       prio};
    int r = dl_add(a->dl, &j);
    if (r < 0 && r != -EEXIST)
        log_msg(LOG_WARN, "download.refused", "asset %s: %s", it->asset_id, strerror(-r));
}

/*
 * What to download, in §28.9's order: the staged manifest's assets; the items after the one on
 * screen; the rest of the current manifest; the previous manifest's missing assets (it is the
 * fallback) — those last, and when large only inside the off-peak window: they are the only
 * downloads that no manifest on screen or about to be needs.
 */
static bool wanted(void *userdata, const char *asset_id)
{
    return protected_id(userdata, asset_id);
}

/* The manifests changed: downloads and failures of assets none of them names are dropped, and
 * paused downloads are looked at again (the change may have freed space). */
static void manifests_changed(struct agent *a)
{
    dl_retain(a->dl, wanted, a);
    for (size_t i = 0; i < a->n_failed;)
        if (!protected_id(a, a->failed[i].id))
            a->failed[i] = a->failed[--a->n_failed];
        else
            i++;
    a->dl_failed = (unsigned)a->n_failed;
    if (a->paused) {
        a->paused = false;
        dl_unpause(a->dl);
    }
}

static void plan_downloads(struct agent *a)
{
    const struct manifest *stg = slot_manifest(a, FSM_SLOT_STAGED);
    const struct manifest *cur = slot_manifest(a, FSM_SLOT_CURRENT);
    const struct manifest *prev = slot_manifest(a, FSM_SLOT_PREVIOUS);
    if (stg && (!a->rejected_etag || strcmp(a->rejected_etag, stg->etag)))
        for (size_t i = 0; i < stg->n_items; i++)
            queue_item(a, &stg->items[i], DL_PRIO_STAGED);
    if (cur && cur->n_items > 0) {
        size_t start = a->now_index >= 0 ? (size_t)a->now_index + 1 : 0;
        for (size_t k = 0; k < cur->n_items; k++)
            queue_item(a, &cur->items[(start + k) % cur->n_items],
                       k < NEXT_ITEMS ? DL_PRIO_NEXT : DL_PRIO_REST);
    }
    if (prev) {
        bool window = a->off_from < 0 || in_offpeak(a);
        for (size_t i = 0; i < prev->n_items; i++)
            if (window || prev->items[i].file_size_bytes < a->set->offpeak_min_bytes)
                queue_item(a, &prev->items[i], DL_PRIO_REST);
    }
}

/* ---- what the other threads see -------------------------------------------------------------- */

static struct playlist *playlist_of(struct agent *a, const struct manifest *m, enum fsm_slot slot)
{
    struct playlist *p = xcalloc(1, sizeof(*p) + m->n_items * sizeof(p->items[0]));
    p->refs = 1;
    p->etag = xstrdup(m->etag);
    snprintf(p->playlist_id, sizeof(p->playlist_id), "%s", m->playlist_id);
    p->version = m->published_version;
    p->orientation = m->settings.orientation;
    p->slot = slot;
    p->n = m->n_items;
    for (size_t i = 0; i < m->n_items; i++) {
        const struct manifest_item *it = &m->items[i];
        struct pl_item *pi = &p->items[i];
        snprintf(pi->asset_id, sizeof(pi->asset_id), "%s", it->asset_id);
        cache_asset_path(a->cache, it->asset_id, &pi->path);
        pi->type = it->type;
        pi->duration_ms = it->duration_seconds * 1000;
        pi->ready = item_ready(it, a);
    }
    return p;
}

/* The items' readiness changed (a download, an eviction): tell the playlist on screen. */
static void playlist_refresh(struct agent *a)
{
    pthread_mutex_lock(&a->mu);
    struct playlist *p = playlist_ref(a->pl);
    pthread_mutex_unlock(&a->mu);
    if (!p)
        return;
    const struct manifest *m = slot_manifest(a, p->slot);
    bool changed = false;
    for (size_t i = 0; m && i < p->n && i < m->n_items; i++) {
        bool r = item_ready(&m->items[i], a);
        pthread_mutex_lock(&a->mu);
        if (r != p->items[i].ready) {
            p->items[i].ready = r;
            changed = true;
        }
        pthread_mutex_unlock(&a->mu);
    }
    pthread_mutex_lock(&a->mu);
    playlist_unref(p);
    if (changed)
        pthread_cond_broadcast(&a->play_cond);
    pthread_mutex_unlock(&a->mu);
}

static void set_mode(struct agent *a, enum play_mode mode, struct playlist *p, const char *reason)
{
    pthread_mutex_lock(&a->mu);
    bool cut = a->mode == PLAY_ITEMS && mode != PLAY_ITEMS && a->in_play;
    a->mode = mode;
    if (mode == PLAY_ITEMS) {
        playlist_unref(a->pl);
        a->pl = p;
        a->play_gen++;
        a->hb.loop_count = 0; /* "loops since the last manifest apply" */
    }
    if (reason)
        snprintf(a->error_reason, sizeof(a->error_reason), "%s", reason);
    pthread_cond_broadcast(&a->play_cond);
    pthread_mutex_unlock(&a->mu);
    if (cut)
        render_interrupt(a->render); /* a screen change does not wait for the item's end */
}

/* The heartbeat snapshot and status.json: after every batch of events. */
static void snapshot(struct agent *a)
{
    struct dl_counts dc;
    dl_counts_get(a->dl, &dc);
    struct fsm_downloads d = {dc.active, dc.queued, a->dl_failed};
    uint64_t used = 0;
    cache_total_bytes(a->cache, &used);
    struct cache_entry *es = NULL;
    size_t n = 0;
    cache_list(a->cache, &es, &n);
    int64_t now = clock_now_ms();
    const struct manifest *cur = slot_manifest(a, a->fsm.active);

    json_t *inv = json_array();
    size_t ready = 0;
    for (size_t i = 0; i < n; i++) {
        bool is_ready = es[i].state == CACHE_STATE_READY;
        ready += is_ready;
        if (i < INVENTORY_MAX)
            json_array_append_new(inv, json_pack("{s:s, s:s, s:I, s:s}", "assetId", es[i].asset_id,
                                                 "checksumSha256", es[i].sha256, "bytes",
                                                 (json_int_t)es[i].bytes, "state",
                                                 is_ready ? "READY" : "DOWNLOADING"));
    }
    /* what the manifests name and the cache does not hold: queued (PENDING) or FAILED */
    struct cache_want *w = NULL;
    size_t nw = wants(a, &w);
    for (size_t k = 0; k < nw && json_array_size(inv) < INVENTORY_MAX; k++) {
        bool held = false, listed = false;
        for (size_t i = 0; i < n && !held; i++)
            held = !strcmp(es[i].asset_id, w[k].asset_id);
        for (size_t j = 0; j < k && !listed; j++)
            listed = !strcmp(w[j].asset_id, w[k].asset_id);
        if (held || listed)
            continue;
        json_array_append_new(inv, json_pack("{s:s, s:s, s:i, s:s}", "assetId", w[k].asset_id,
                                             "checksumSha256", w[k].sha256, "bytes", 0, "state",
                                             failed_find(a, w[k].asset_id) ? "FAILED" : "PENDING"));
    }
    free(w);
    free(es);
    char *inv_text = json_dumps(inv, JSON_COMPACT);
    json_decref(inv);

    pthread_mutex_lock(&a->mu);
    struct hb_snapshot *h = &a->hb;
    h->state = fsm_heartbeat_state(&a->fsm);
    snprintf(h->manifest_etag, sizeof(h->manifest_etag), "%s", cur ? cur->etag : "");
    snprintf(h->playlist_id, sizeof(h->playlist_id), "%s", cur ? cur->playlist_id : "");
    h->published_version = cur ? cur->published_version : 0;
    snprintf(h->asset_id, sizeof(h->asset_id), "%s", a->now_asset);
    h->item_index = a->fsm.state == FSM_PLAYING ? a->now_index : -1;
    h->budget_bytes = (uint64_t)a->budget_bytes;
    h->used_bytes = used;
    h->assets = ready;
    h->pending_downloads = dc.active + dc.queued;
    h->connected = a->fsm.online;
    h->last_sync_ms = a->fsm.last_sync_ms;
    h->sync = fsm_sync_status(&a->fsm, &d, now);
    int64_t next = cur ? cur->next_check_seconds : 60;
    h->interval_s = MAX(next, a->set->heartbeat_min_s);
    a->has_token = a->fsm.has_token;
    if (inv_text && (!a->inventory || strcmp(a->inventory, inv_text))) {
        free(a->inventory);
        a->inventory = inv_text;
        a->inventory_changed = true;
        a->inventory_gen++;
        inv_text = NULL;
    }
    pthread_cond_broadcast(&a->net_cond);
    pthread_mutex_unlock(&a->mu);
    free(inv_text);
    a->status_dirty = true;
}

/* ---- the state machine's actions ----------------------------------------------------------- */

static void push_event(struct agent *a, const struct fsm_event *ev);

static const char *slot_etag(struct agent *a, enum fsm_slot s)
{
    const struct manifest *m = slot_manifest(a, s);
    return m ? m->etag : NULL;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void emit(struct agent *a, const struct fsm_action *act)
{
    const char *type = fsm_emit_name(act->emit), *sev = fsm_emit_severity(act->emit);
    json_t *p = NULL;
    char t[TIMESTAMP_STR_LEN];
    switch (act->emit) {
    case FSM_EMIT_APP_STARTED: {
        struct utsname u;
        bool ok = uname(&u) == 0;
        p = json_pack("{s:s, s:s, s:s}", "appVersion", AGENT_VERSION, "deviceModel",
                      ok ? u.machine : "unknown", "osVersion", ok ? u.release : "unknown");
        break;
    }
    case FSM_EMIT_MANIFEST_STAGED:
        p = json_pack("{s:o}", "manifestEtag", str_or_null(slot_etag(a, FSM_SLOT_STAGED)));
        break;
    case FSM_EMIT_MANIFEST_APPLIED:
        p = json_pack("{s:o, s:o}", "manifestEtag", str_or_null(slot_etag(a, FSM_SLOT_CURRENT)),
                      "previousEtag", str_or_null(a->applied_from));
        break;
    case FSM_EMIT_MANIFEST_REJECTED:
        p = json_pack("{s:o, s:s}", "manifestEtag", str_or_null(a->rejected_etag), "reason",
                      fsm_reason_name(act->reason));
        break;
    case FSM_EMIT_MANIFEST_FETCH_FAILED:
        p = json_pack("{s:I, s:s}", "httpStatus", (json_int_t)act->value, "reason",
                      fsm_reason_name(act->reason));
        pthread_mutex_lock(&a->mu);
        a->hb.fetch_failures++;
        pthread_mutex_unlock(&a->mu);
        break;
    case FSM_EMIT_OFFLINE_ENTERED:
        if (act->value > 0)
            ids_timestamp(act->value, t);
        p = json_pack("{s:o}", "lastOnlineAtUtc", act->value > 0 ? json_string(t) : json_null());
        break;
    case FSM_EMIT_ONLINE_RESTORED:
        p = json_pack("{s:I}", "offlineDurationSeconds", (json_int_t)act->value);
        break;
    case FSM_EMIT_FALLBACK_TO_PREVIOUS_MANIFEST:
        p = json_pack("{s:o, s:o}", "currentEtag", str_or_null(slot_etag(a, FSM_SLOT_CURRENT)),
                      "fallbackEtag", str_or_null(slot_etag(a, FSM_SLOT_PREVIOUS)));
        break;
    case FSM_EMIT_NO_PLAYABLE_CONTENT:
        p = json_pack("{s:o}", "manifestEtag", str_or_null(slot_etag(a, FSM_SLOT_CURRENT)));
        break;
    case FSM_EMIT_ERROR_SCREEN_ENTERED:
        p = json_pack("{s:s}", "reason", fsm_reason_name(act->reason));
        break;
    case FSM_EMIT_LOCAL_MANIFEST_CORRUPT: {
        int i = act->slot == FSM_SLOT_PREVIOUS ? MANIFEST_SLOT_PREVIOUS : MANIFEST_SLOT_CURRENT;
        const struct manifest_error *e = &a->slots.slot[i].error;
        char why[300];
        snprintf(why, sizeof(why), "%s: %s", e->field, e->reason);
        p = json_pack("{s:s, s:s}", "fileName",
                      i == MANIFEST_SLOT_PREVIOUS ? "previous.manifest" : "current.manifest",
                      "parseError", why);
        break;
    }
    case FSM_EMIT_DEVICE_TOKEN_INVALID:
        p = json_pack("{s:I}", "httpStatus", (json_int_t)act->value);
        break;
    default:
        p = json_object();
        break;
    }
    event(a, type, sev, p);
}

static void fetch_request(struct agent *a, const struct fsm_action *act)
{
    /* every sync re-verifies the cache against the manifests: each file's presence and size */
    struct cache_want *w = NULL;
    size_t n = wants(a, &w);
    struct cache_reconcile_stats st;
    cache_reconcile(a->cache, w, n, clock_now_ms() / 1000, &st);
    /* SHA-256 too: every held asset at a full sync; otherwise the next few past a cursor, up to
     * VERIFY_BYTES a sync, so that each file is re-hashed every so often at a bounded cost */
    uint64_t hashed = 0;
    bool corrupt = false;
    for (size_t k = 0; k < n && (act->full || hashed < VERIFY_BYTES); k++) {
        size_t i = act->full ? k : (a->verify_cursor + k) % n;
        struct cache_entry e;
        if (cache_get(a->cache, w[i].asset_id, &e) < 0 || e.state != CACHE_STATE_READY)
            continue;
        hashed += e.bytes;
        if (!act->full)
            a->verify_cursor = (i + 1) % n;
        if (verify_or_drop(a, w[i].asset_id, w[i].sha256))
            corrupt = true;
    }
    free(w);
    for (size_t i = 0; i < a->n_failed; i++)
        a->failed[i].retry = true; /* this is the "later sync" failed downloads wait for */
    if (st.rows_dropped)
        a->assets_dirty = true;
    if (st.rows_dropped || corrupt || a->n_failed) {
        playlist_refresh(a);
        plan_downloads(a);
    }
    const char *inm = NULL;
    char quoted[MANIFEST_HTTP_ETAG_MAX + 1];
    if (act->slot == FSM_SLOT_CURRENT &&
        a->slots.slot[MANIFEST_SLOT_CURRENT].state == MANIFEST_SLOT_OK)
        inm = a->slots.slot[MANIFEST_SLOT_CURRENT].http_etag;
    else if (act->slot == FSM_SLOT_STAGED) {
        if (a->slots.slot[MANIFEST_SLOT_STAGED].state == MANIFEST_SLOT_OK)
            inm = a->slots.slot[MANIFEST_SLOT_STAGED].http_etag;
        else if (a->rejected_etag) {
            snprintf(quoted, sizeof(quoted), "\"%s\"", a->rejected_etag);
            inm = quoted;
        }
    }
    pthread_mutex_lock(&a->mu);
    a->want_fetch = true;
    a->fetch_id = act->fetch_id;
    a->fetch_full = act->full;
    snprintf(a->fetch_inm, sizeof(a->fetch_inm), "%s", inm ? inm : "");
    pthread_cond_broadcast(&a->net_cond);
    pthread_mutex_unlock(&a->mu);
}

static void load_local(struct agent *a)
{
    slots_reload(a);
    if (a->slots.slot[MANIFEST_SLOT_CURRENT].state != MANIFEST_SLOT_OK &&
        a->slots.slot[MANIFEST_SLOT_STAGED].state == MANIFEST_SLOT_OK) {
        /* an apply that must not rotate is two steps (drop current, apply): a kill between
         * them leaves this, which the apply completes — the staged one was due to be current */
        int r = manifest_store_apply(a->store);
        if (r < 0)
            log_msg(LOG_ERROR, "manifest.apply_failed", "%s", strerror(-r));
        slots_reload(a);
    }
    if (a->slots.recovered)
        log_msg(LOG_INFO, "manifest.recovered", "an apply cut short was completed");
    struct fsm_event ev = {.type = FSM_EV_LOCAL_LOADED, .now_ms = clock_now_ms()};
    ev.local.has_token = token_present(a);
    /* orphans of a crash (§11): .part files nobody wants, rows without files */
    struct cache_want *w = NULL;
    size_t n = wants(a, &w);
    struct cache_reconcile_stats st;
    if (cache_reconcile(a->cache, w, n, ev.now_ms / 1000, &st) == 0 &&
        (st.rows_dropped || st.files_deleted || st.parts_deleted))
        log_msg(LOG_INFO, "cache.reconciled", "%u rows dropped, %u files and %u .part deleted",
                st.rows_dropped, st.files_deleted, st.parts_deleted);
    free(w);
    ev.local.current = manifest_info(a, slot_manifest(a, FSM_SLOT_CURRENT));
    ev.local.previous = manifest_info(a, slot_manifest(a, FSM_SLOT_PREVIOUS));
    ev.local.current_corrupt = a->slots.slot[MANIFEST_SLOT_CURRENT].state == MANIFEST_SLOT_CORRUPT;
    ev.local.previous_corrupt =
        a->slots.slot[MANIFEST_SLOT_PREVIOUS].state == MANIFEST_SLOT_CORRUPT;
    char v[32];
    int64_t last = 0;
    if (outbox_kv_get(a->outbox, "last_sync_ms", v, sizeof(v)) == 0)
        parse_int64(v, 0, INT64_MAX, &last);
    ev.local.last_sync_ms = last;
    plan_downloads(a);
    push_event(a, &ev);
}

static void stage(struct agent *a)
{
    if (!a->fetched || !a->fetched->body)
        return;
    struct manifest_error err;
    int r = manifest_store_stage(a->store, a->fetched->body, a->fetched->len,
                                 *a->fetched->etag ? a->fetched->etag : NULL, NULL, &err);
    if (r < 0) {
        log_msg(LOG_ERROR, "manifest.stage_failed", "%s", strerror(-r));
        return;
    }
    free(a->rejected_etag);
    a->rejected_etag = NULL;
    slots_reload(a);
    plan_downloads(a);
}

static void reject(struct agent *a, enum fsm_slot slot)
{
    char *etag = NULL;
    if (slot == FSM_SLOT_STAGED) {
        const char *e = slot_etag(a, FSM_SLOT_STAGED);
        etag = e ? xstrdup(e) : NULL;
        manifest_store_discard_staged(a->store);
        slots_reload(a);
    } else if (a->fetched && a->fetched->body) {
        /* its manifestEtag, if the body has one at all */
        json_t *v = json_loadb(a->fetched->body, a->fetched->len, 0, NULL);
        const char *e = json_string_value(json_object_get(v, "manifestEtag"));
        etag = e && strlen(e) <= MANIFEST_ETAG_MAX ? xstrdup(e) : NULL;
        json_decref(v);
    }
    free(a->rejected_etag);
    a->rejected_etag = etag;
}

static void apply(struct agent *a, bool rotate)
{
    free(a->applied_from);
    const char *from = slot_etag(a, FSM_SLOT_CURRENT);
    a->applied_from = from ? xstrdup(from) : NULL;
    int r = 0;
    if (!rotate && a->slots.slot[MANIFEST_SLOT_CURRENT].state == MANIFEST_SLOT_OK)
        r = manifest_store_drop_current(a->store); /* keep the fallback that can still play */
    if (r == 0)
        r = manifest_store_apply(a->store);
    if (r < 0)
        log_msg(LOG_ERROR, "manifest.apply_failed", "%s", strerror(-r));
    slots_reload(a);
    a->now_index = -1;
    plan_downloads(a);
}

static void persist_sync(struct agent *a)
{
    char v[32];
    snprintf(v, sizeof(v), "%lld", (long long)a->fsm.last_sync_ms);
    outbox_kv_set(a->outbox, "last_sync_ms", v);
}

/* ---- commands (§28.7) ------------------------------------------------------------------------ */

void agent_command_interrupted(struct outbox *ob, const struct outbox_command *c)
{
    /* the process ended while executing it: a reboot did what it was asked; anything else was
     * cut short, and is reported so rather than run twice */
    const char *res = strcmp(c->type, "REBOOT_APP") == 0
                          ? "{\"status\":\"SUCCEEDED\"}"
                          : "{\"status\":\"FAILED\",\"errorCode\":\"INTERRUPTED\","
                            "\"errorMessage\":\"the player stopped while executing it\"}";
    if (outbox_command_finish(ob, c->command_id, res) < 0)
        return;
    log_msg(LOG_WARN, "command.interrupted", "command %s (%s): the player stopped before its end",
            c->command_id, c->type);
    /* its event, as every result has one (COMMAND_EXECUTED or COMMAND_FAILED) */
    bool reboot = strcmp(c->type, "REBOOT_APP") == 0;
    json_t *p = reboot ? json_pack("{s:s, s:s}", "commandId", c->command_id, "commandType", c->type)
                       : json_pack("{s:s, s:s, s:s}", "commandId", c->command_id, "commandType",
                                   c->type, "reason", "INTERRUPTED");
    outbox_event_add(ob, reboot ? "COMMAND_EXECUTED" : "COMMAND_FAILED", reboot ? "INFO" : "ERROR",
                     clock_now_ms(), p);
    json_decref(p);
}

/* At a start: the commands a kill (or REBOOT_APP) cut short get their result now. */
static void commands_recover(struct agent *a)
{
    struct outbox_command *c = NULL;
    size_t n = 0;
    if (outbox_commands_executing(a->outbox, &c, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        agent_command_interrupted(a->outbox, &c[i]);
        outbox_command_release(&c[i]);
    }
    free(c);
    a->results_waiting = n > 0;
}

static int clear_cache(struct agent *a, bool all, unsigned *ret_evicted)
{
    struct cache_entry *es = NULL;
    size_t n = 0;
    int r = cache_list(a->cache, &es, &n);
    if (r < 0)
        return r;
    const struct manifest *cur = slot_manifest(a, FSM_SLOT_CURRENT);
    const struct manifest *shown = slot_manifest(a, a->fsm.active);
    unsigned count = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = es[i].asset_id;
        /* UNUSED keeps every manifest's assets; ALL keeps only what is on screen (the current
         * manifest's), each re-verified below against its SHA-256 */
        bool keep =
            all ? (cur && manifest_references(cur, id)) || (shown && manifest_references(shown, id))
                : protected_id(a, id);
        if (keep || es[i].state == CACHE_STATE_PENDING)
            continue;
        dl_cancel(a->dl, id);
        if (cache_remove(a->cache, id) == 0) {
            evicted(a, id, es[i].bytes, all ? "CLEAR_CACHE_ALL" : "CLEAR_CACHE_UNUSED");
            count++;
            a->assets_dirty = true;
        }
    }
    free(es);
    if (all && cur)
        for (size_t i = 0; i < cur->n_items; i++)
            if (verify_or_drop(a, cur->items[i].asset_id, cur->items[i].checksum_sha256))
                count++; /* damaged: removed by the verification, fetched again below */
    *ret_evicted = count;
    playlist_refresh(a);
    plan_downloads(a);
    return 0;
}

static void command_done(struct agent *a, const struct pending_cmd *c, int r, json_t *result)
{
    json_t *body;
    if (r == 0) {
        body = json_pack("{s:s}", "status", "SUCCEEDED");
        if (result)
            json_object_set(body, "result", result);
        event(
            a, "COMMAND_EXECUTED", "INFO",
            json_pack("{s:s, s:s}", "commandId", c->id, "commandType", fsm_command_name(c->type)));
    } else {
        body = json_pack("{s:s, s:s, s:s}", "status", "FAILED", "errorCode", "EXECUTION_FAILED",
                         "errorMessage", strerror(-r));
        event(a, "COMMAND_FAILED", "ERROR",
              json_pack("{s:s, s:s, s:s}", "commandId", c->id, "commandType",
                        fsm_command_name(c->type), "reason", strerror(-r)));
    }
    json_decref(result);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text && outbox_command_finish(a->outbox, c->id, text) < 0)
        log_msg(LOG_ERROR, "command.record_failed", "command %s", c->id);
    free(text);
    pthread_mutex_lock(&a->mu);
    a->results_waiting = true;
    pthread_cond_broadcast(&a->net_cond);
    pthread_mutex_unlock(&a->mu);
}

/* SET_LOG_LEVEL {"level", "durationSeconds"?}: the level, for that long when given (then back
 * to the configured one), else until the next such command or a restart. */
static int set_log_level(struct agent *a, json_t *params)
{
    const char *lv = json_string_value(json_object_get(params, "level"));
    if (!lv)
        return -EINVAL;
    char lower[16];
    size_t i = 0;
    for (; lv[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)(lv[i] >= 'A' && lv[i] <= 'Z' ? lv[i] + 32 : lv[i]);
    lower[i] = '\0';
    enum log_level l;
    if (log_level_parse(lower, &l) < 0)
        return -EINVAL;
    json_t *d = json_object_get(params, "durationSeconds");
    if (d && !json_is_null(d) &&
        (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 7 * 86400))
        return -EINVAL;
    log_set_level(l);
    a->log_until_ms = d && json_is_integer(d) ? clock_now_ms() + json_integer_value(d) * 1000 : 0;
    return 0;
}

static void execute(struct agent *a, enum fsm_command type)
{
    for (size_t i = 0; i < a->n_cmds;) {
        struct pending_cmd c = a->cmds[i];
        if (c.type != type) {
            i++;
            continue;
        }
        a->cmds[i] = a->cmds[--a->n_cmds];
        int r = 0;
        json_t *result = NULL;
        unsigned count = 0;
        switch (type) {
        case FSM_CMD_REQUEST_MANIFEST_REFRESH:
        case FSM_CMD_RESTART_PLAYBACK_LOOP:
            break; /* the state machine did them with its own actions */
        case FSM_CMD_CLEAR_CACHE_UNUSED:
        case FSM_CMD_CLEAR_CACHE_ALL:
            r = clear_cache(a, type == FSM_CMD_CLEAR_CACHE_ALL, &count);
            result = json_pack("{s:I}", "evictedAssets", (json_int_t)count);
            break;
        case FSM_CMD_SET_LOG_LEVEL:
            r = set_log_level(a, c.params);
            break;
        case FSM_CMD_REBOOT_APP:
            /* the result first: the process that reports it is the one that ends */
            command_done(a, &c, 0, NULL);
            json_decref(c.params);
            a->reexec = true;
            agent_request_stop(a);
            continue;
        }
        command_done(a, &c, r, result);
        json_decref(c.params);
    }
}

static void act(struct agent *a, const struct fsm_action *x)
{
    switch (x->type) {
    case FSM_ACT_ENTER:
        log_msg(LOG_INFO, "state", "%s", fsm_state_name(x->state));
        break;
    case FSM_ACT_EMIT:
        emit(a, x);
        break;
    case FSM_ACT_LOAD_LOCAL:
        load_local(a);
        break;
    case FSM_ACT_START_PAIRING:
        pthread_mutex_lock(&a->mu);
        a->want_pairing = true;
        a->pairing_code[0] = '\0';
        pthread_cond_broadcast(&a->net_cond);
        pthread_mutex_unlock(&a->mu);
        set_mode(a, PLAY_PAIRING, NULL, NULL);
        break;
    case FSM_ACT_CLEAR_TOKEN: {
        /* the machine drops the commands waiting for a boundary: each gets its result */
        while (a->n_cmds > 0) {
            struct pending_cmd c = a->cmds[--a->n_cmds];
            command_done(a, &c, -EPERM, NULL);
            json_decref(c.params);
        }
        _cleanup_free_ char *path = xasprintf("%s/%s", a->dir, AGENT_TOKEN_FILE);
        fsx_unlink(path);
        pthread_mutex_lock(&a->mu);
        a->token_changed = true;
        a->device_id[0] = '\0';
        pthread_mutex_unlock(&a->mu);
        break;
    }
    case FSM_ACT_SCHEDULE_POLL:
        log_msg(LOG_DEBUG, "sync.scheduled", "in %lld ms", (long long)(x->at_ms - clock_now_ms()));
        break;
    case FSM_ACT_FETCH_MANIFEST:
        fetch_request(a, x);
        break;
    case FSM_ACT_STAGE:
        stage(a);
        break;
    case FSM_ACT_REJECT:
        reject(a, x->slot);
        break;
    case FSM_ACT_DISCARD_STAGED:
        manifest_store_discard_staged(a->store);
        free(a->rejected_etag);
        a->rejected_etag = NULL;
        slots_reload(a);
        break;
    case FSM_ACT_APPLY_STAGED:
        apply(a, x->rotate);
        break;
    case FSM_ACT_PLAY: {
        const struct manifest *m = slot_manifest(a, x->slot);
        if (m)
            set_mode(a, PLAY_ITEMS, playlist_of(a, m, x->slot), NULL);
        break;
    }
    case FSM_ACT_SHOW_ERROR_SCREEN:
        set_mode(a, PLAY_ERROR, NULL, fsm_reason_name(a->error_reason_code));
        break;
    case FSM_ACT_EXECUTE_COMMAND:
        execute(a, x->command);
        break;
    }
}

/* ---- feeding the machine --------------------------------------------------------------------- */

struct evq {
    size_t n;
    struct fsm_event ev[EVENT_QUEUE_MAX];
};
static struct evq evq;

static void push_event(struct agent *a, const struct fsm_event *ev)
{
    (void)a;
    if (evq.n < EVENT_QUEUE_MAX)
        evq.ev[evq.n++] = *ev;
    else
        log_msg(LOG_ERROR, "fsm.queue_full", "event %s dropped", fsm_event_name(ev->type));
}

static void feed(struct agent *a, const struct fsm_event *first)
{
    a->changed = true;
    push_event(a, first);
    while (evq.n > 0) {
        struct fsm_event ev = evq.ev[0];
        memmove(&evq.ev[0], &evq.ev[1], --evq.n * sizeof(evq.ev[0]));
        struct fsm_actions out;
        int n = fsm_step(&a->fsm, &ev, &out);
        if (n < 0) {
            log_msg(LOG_ERROR, "fsm.step_failed", "%s: %s", fsm_event_name(ev.type), strerror(-n));
            continue;
        }
        /* the card shows why; the machine says it in the event that follows the action */
        for (int i = 0; i < n; i++)
            if (out.a[i].type == FSM_ACT_EMIT && out.a[i].emit == FSM_EMIT_ERROR_SCREEN_ENTERED)
                a->error_reason_code = out.a[i].reason;
        for (int i = 0; i < n; i++)
            act(a, &out.a[i]);
    }
}

static void feed_assets(struct agent *a)
{
    struct fsm_event ev = {.type = FSM_EV_ASSETS, .now_ms = clock_now_ms()};
    ev.assets.current = avail(a, slot_manifest(a, FSM_SLOT_CURRENT));
    ev.assets.previous = avail(a, slot_manifest(a, FSM_SLOT_PREVIOUS));
    ev.assets.staged = avail(a, slot_manifest(a, FSM_SLOT_STAGED));
    feed(a, &ev);
}

static void on_fetched(struct agent *a, struct msg *m)
{
    struct fsm_event ev = {.type = FSM_EV_FETCH_RESULT, .now_ms = clock_now_ms()};
    struct fsm_fetch_result *f = &ev.fetch;
    f->fetch_id = m->fetch_id;
    f->http_status = m->http_status;
    f->retry_after_s = m->retry_after_s;
    f->jitter = randombytes_random();
    struct manifest *parsed = NULL;
    if (m->http_status == 200) {
        struct manifest_error err;
        f->valid = manifest_parse(m->body, m->len, &parsed, &err) == 0;
        if (!f->valid)
            log_msg(LOG_WARN, "manifest.invalid", "%s: %s", err.field, err.reason);
        const char *cur = slot_etag(a, FSM_SLOT_CURRENT), *stg = slot_etag(a, FSM_SLOT_STAGED);
        if (parsed && cur && !strcmp(parsed->etag, cur))
            f->match = FSM_SLOT_CURRENT;
        else if (parsed && ((stg && !strcmp(parsed->etag, stg)) ||
                            (a->rejected_etag && !strcmp(parsed->etag, a->rejected_etag))))
            f->match = FSM_SLOT_STAGED;
        else
            f->match = FSM_SLOT_NONE;
        if (parsed)
            f->manifest = manifest_info(a, parsed);
        manifest_free(parsed);
    }
    agent_msg_free(a->fetched);
    a->fetched = m;
    int64_t before = a->fsm.last_sync_ms;
    feed(a, &ev);
    a->fetched = NULL;
    agent_msg_free(m);
    if (a->fsm.last_sync_ms != before)
        persist_sync(a);
}

static void on_command(struct agent *a, struct msg *m)
{
    enum fsm_command c;
    struct pending_cmd pc = {0};
    snprintf(pc.id, sizeof(pc.id), "%s", m->command_id);
    if (fsm_command_parse(m->name, &c) < 0) {
        json_t *body = json_pack("{s:s, s:s, s:s}", "status", "FAILED", "errorCode",
                                 "UNKNOWN_COMMAND", "errorMessage", "this player does not know it");
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        outbox_command_finish(a->outbox, pc.id, text);
        free(text);
        event(a, "COMMAND_FAILED", "ERROR",
              json_pack("{s:s, s:s, s:s}", "commandId", pc.id, "commandType", m->name, "reason",
                        "UNKNOWN_COMMAND"));
        return;
    }
    pc.type = c;
    pc.params = json_incref(m->params);
    a->cmds = xrealloc(a->cmds, (a->n_cmds + 1) * sizeof(*a->cmds));
    a->cmds[a->n_cmds++] = pc;
    struct fsm_event ev = {.type = FSM_EV_COMMAND, .now_ms = clock_now_ms(), .command = c};
    feed(a, &ev);
}

static void on_msg(struct agent *a, struct msg *m)
{
    a->changed = true;
    struct fsm_event ev = {.now_ms = clock_now_ms()};
    switch (m->type) {
    case MSG_FETCHED:
        on_fetched(a, m);
        return; /* it took m */
    case MSG_API_STATUS:
        ev.type = FSM_EV_API_STATUS;
        ev.http_status = m->http_status;
        feed(a, &ev);
        break;
    case MSG_PAIRING_CODE:
        pthread_mutex_lock(&a->mu);
        snprintf(a->pairing_code, sizeof(a->pairing_code), "%s", m->code);
        pthread_cond_broadcast(&a->play_cond);
        pthread_mutex_unlock(&a->mu);
        a->status_dirty = true;
        break;
    case MSG_PAIRED:
        ev.type = FSM_EV_PAIRED;
        feed(a, &ev);
        break;
    case MSG_COMMAND:
        on_command(a, m);
        break;
    case MSG_ITEM_START:
        pthread_mutex_lock(&a->mu);
        bool current_gen = m->gen == a->play_gen;
        pthread_mutex_unlock(&a->mu);
        if (!current_gen)
            break;
        snprintf(a->now_asset, sizeof(a->now_asset), "%s", m->asset_id);
        if (a->now_index >= 0 && m->index <= (size_t)a->now_index) {
            pthread_mutex_lock(&a->mu);
            a->hb.loop_count++;
            pthread_mutex_unlock(&a->mu);
        }
        a->now_index = (int64_t)m->index;
        cache_touch(a->cache, m->asset_id, clock_now_ms() / 1000);
        plan_downloads(a); /* the next items move up (§28.9 "upcoming playlist items") */
        break;
    case MSG_ITEM_END:
        ev.type = FSM_EV_ITEM_END;
        feed(a, &ev);
        pthread_mutex_lock(&a->mu);
        a->ends_done = m->seq;
        pthread_cond_broadcast(&a->play_cond);
        pthread_mutex_unlock(&a->mu);
        break;
    case MSG_PLAY_FAILED:
        pthread_mutex_lock(&a->mu);
        a->hb.playback_failures++;
        pthread_mutex_unlock(&a->mu);
        event(a, "PLAYBACK_FAILED", "ERROR",
              json_pack("{s:s, s:s, s:s}", "assetId", m->asset_id, "reason",
                        m->error == -ENOENT ? "FILE_MISSING" : "DECODE_ERROR", "message",
                        strerror(-m->error)));
        break;
    case MSG_PLAY_IMPOSSIBLE:
        pthread_mutex_lock(&a->mu);
        bool same = m->gen == a->play_gen;
        enum fsm_slot slot = a->pl ? a->pl->slot : FSM_SLOT_NONE;
        pthread_mutex_unlock(&a->mu);
        if (same && slot != FSM_SLOT_NONE) {
            ev.type = FSM_EV_PLAYBACK_IMPOSSIBLE;
            ev.slot = slot;
            feed(a, &ev);
        }
        break;
    }
    agent_msg_free(m);
}

static void on_download(struct agent *a, const struct dl_result *r)
{
    failed_set(a, r->asset_id, r->outcome == DL_FAILED);
    if (r->outcome == DL_DONE) {
        log_msg(LOG_INFO, "download.done", "asset %s (%llu bytes received)", r->asset_id,
                (unsigned long long)r->bytes_received);
        return;
    }
    pthread_mutex_lock(&a->mu);
    a->hb.download_failures++;
    pthread_mutex_unlock(&a->mu);
    const char *url = NULL;
    for (int s = 0; s < MANIFEST_SLOT_COUNT && !url; s++) {
        const struct manifest *m =
            a->slots.slot[s].state == MANIFEST_SLOT_OK ? a->slots.slot[s].manifest : NULL;
        for (size_t i = 0; m && i < m->n_items && !url; i++)
            if (!strcmp(m->items[i].asset_id, r->asset_id))
                url = m->items[i].url;
    }
    /* the URL without its query: a signed URL's signature is a credential of sorts */
    char bare[512] = "";
    if (url)
        snprintf(bare, sizeof(bare), "%.*s", (int)strcspn(url, "?"), url);
    log_msg(LOG_WARN, "download.failed", "asset %s: status %d, %s, after %u retries", r->asset_id,
            r->http_status, strerror(-r->error), r->retry_count);
    event(a, "DOWNLOAD_FAILED", "WARNING",
          json_pack("{s:s, s:s, s:i, s:I}", "assetId", r->asset_id, "url", bare, "httpStatus",
                    r->http_status, "retryCount", (json_int_t)r->retry_count));
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void test_clock(struct agent *a, int64_t *next_ms)
{
    if (!*a->set->test_clock_file)
        return;
    int64_t now = clock_mono_ns() / 1000000;
    if (now < *next_ms)
        return;
    *next_ms = now + CLOCK_FILE_MS;
    FILE *f = fopen(a->set->test_clock_file, "re");
    if (!f)
        return;
    char buf[32] = "";
    int64_t off;
    if (fgets(buf, sizeof(buf), f)) {
        buf[strcspn(buf, "\r\n \t")] = '\0';
        if (parse_int64(buf, -(INT64_C(1) << 50), INT64_C(1) << 50, &off) == 0)
            clock_set_offset_ms(off);
    }
    fclose(f);
}

static void drain(struct agent *a)
{
    pthread_mutex_lock(&a->mu);
    struct msg *m = a->q_head;
    a->q_head = NULL;
    a->q_tail = &a->q_head;
    pthread_mutex_unlock(&a->mu);
    while (m) {
        struct msg *next = m->next;
        on_msg(a, m);
        m = next;
    }
}

static void loop(struct agent *a)
{
    int64_t clock_next = 0, sweep_next = 0;
    test_clock(a, &clock_next);
    struct fsm_event boot = {.type = FSM_EV_BOOT_DONE, .now_ms = clock_now_ms()};
    feed(a, &boot);
    snapshot(a);
    while (!atomic_load(&a->stopping)) {
        drain(a);
        test_clock(a, &clock_next);
        int64_t now = clock_now_ms();
        int64_t wake = fsm_next_wakeup(&a->fsm, now);
        if (wake <= now) {
            struct fsm_event tick = {.type = FSM_EV_TICK, .now_ms = now};
            feed(a, &tick);
            wake = fsm_next_wakeup(&a->fsm, now);
        }
        int64_t mono = clock_mono_ns() / 1000000;
        if (a->log_until_ms && clock_now_ms() >= a->log_until_ms) {
            a->log_until_ms = 0; /* SET_LOG_LEVEL's durationSeconds is over */
            enum log_level l;
            if (log_level_parse(a->set->log_level, &l) == 0) {
                log_set_level(l);
                log_msg(LOG_INFO, "log.level_restored", "log level %s again (durationSeconds over)",
                        a->set->log_level);
            }
        }
        if (mono >= sweep_next) {
            sweep_next = mono + 60000;
            sweep(a);
            plan_downloads(a); /* the off-peak window may have opened */
        }

        int timeout = LOOP_WAIT_MS;
        if (wake != INT64_MAX && wake - now < timeout)
            timeout = (int)MAX(wake - now, 0);
        int r = dl_run(a->dl, timeout);
        if (r < 0 && r != -EINTR) {
            log_msg(LOG_ERROR, "download.run", "%s", strerror(-r));
            struct timespec ts = {0, 100 * 1000000}; /* no spin while the engine fails */
            nanosleep(&ts, NULL);
        }
        struct dl_result res;
        bool changed = false;
        while (dl_result_next(a->dl, &res) == 1) {
            on_download(a, &res);
            changed = true;
        }
        if (changed || a->assets_dirty) {
            /* downloads, evictions, removals: what can play changed (§28.5's apply waits on it) */
            a->changed = true;
            a->assets_dirty = false;
            playlist_refresh(a);
            feed_assets(a);
        }
        /* after anything happened, and every second (a sync status can change with time) */
        if (a->changed || mono - a->snapshot_ms >= SNAPSHOT_EVERY_MS) {
            a->changed = false;
            a->snapshot_ms = mono;
            snapshot(a);
        }
        if (a->status_dirty && mono - a->status_written_ms >= STATUS_EVERY_MS) {
            a->status_written_ms = mono;
            a->status_dirty = false;
            status_write(a);
        }
    }
}

/* ---- setup and teardown ---------------------------------------------------------------------- */

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    atomic_store(&stop_signalled, true);
    struct agent *a = atomic_load(&signal_agent);
    if (a) {
        atomic_store(&a->stopping, true);
        /* libcurl's wakeup is a send() on its socketpair; the core's wait is 1 s at most anyway */
        dl_wakeup(a->dl);
    }
    errno = saved;
}

static int lock_dir(struct agent *a)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", a->dir, AGENT_LOCK_FILE);
    a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (a->lock_fd < 0)
        return -errno;
    if (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? -EBUSY : -errno;
    return 0;
}

static int open_parts(struct agent *a)
{
    int r = fsx_mkdir(a->dir, 0700);
    if (r < 0 && r != -EEXIST) {
        log_msg(LOG_ERROR, "player.data_dir", "%s: %s", a->dir, strerror(-r));
        return r;
    }
    r = lock_dir(a);
    if (r < 0) {
        log_msg(LOG_ERROR, "player.locked",
                r == -EBUSY ? "another marquee-player runs on %s" : "cannot lock %s", a->dir);
        return r;
    }
    if ((r = cache_open(a->dir, &a->cache)) < 0 ||
        (r = manifest_store_open(a->dir, false, &a->store)) < 0 ||
        (r = outbox_open(a->dir, false, &a->outbox)) < 0) {
        log_msg(LOG_ERROR, "player.open", "the data directory: %s", strerror(-r));
        return r;
    }
    struct dl_config dc;
    dl_config_default(&dc);
    dc.max_active = (unsigned)a->set->max_downloads;
    dc.max_attempts = (unsigned)a->set->download_attempts;
    dc.backoff_base_ms = a->set->download_backoff_ms;
    dc.backoff_cap_ms = MAX(dc.backoff_cap_ms, dc.backoff_base_ms);
    dc.max_recv_bytes_s = (uint64_t)a->set->bandwidth_bytes_s;
    dc.admit = admit;
    dc.userdata = a;
    dc.user_agent = "marquee-player/" AGENT_VERSION;
    dc.ca_file = *a->set->ca_file ? a->set->ca_file : NULL;
    if ((r = dl_new(a->cache, &dc, &a->dl)) < 0) {
        log_msg(LOG_ERROR, "player.downloads", "%s", strerror(-r));
        return r;
    }
    struct api_options ao = {
        .connect_timeout_ms = 10000, .timeout_ms = 30000, .ca_file = dc.ca_file};
    if ((r = api_new(a->set->server, &ao, &a->api)) < 0) {
        log_msg(LOG_ERROR, "player.server", "bad --server %s", a->set->server);
        return r;
    }
    _cleanup_free_ char *timeline =
        *a->set->timeline ? xstrdup(a->set->timeline) : xasprintf("%s/timeline.jsonl", a->dir);
    struct render_options ro = {
        .kind = a->render_kind, .timeline_path = timeline, .data_dir = a->dir, .fullscreen = true};
    if ((r = render_open(&ro, &a->render)) < 0) {
        log_msg(LOG_ERROR, "player.renderer", "cannot open the %s renderer: %s", a->set->renderer,
                strerror(-r));
        return r;
    }
    struct fsm_config fc;
    fsm_config_default(&fc);
    fc.min_poll_ms = a->set->poll_min_s * 1000;
    fc.max_poll_ms = a->set->poll_max_s * 1000;
    fc.default_poll_ms = MIN(MAX(fc.default_poll_ms, fc.min_poll_ms), fc.max_poll_ms);
    fc.backoff_base_ms = a->set->backoff_base_ms;
    fc.backoff_cap_ms = a->set->backoff_cap_ms;
    if ((r = fsm_init(&a->fsm, &fc)) < 0) {
        log_msg(LOG_ERROR, "player.config", "poll and backoff settings out of range");
        return r;
    }
    settings_window_parse(a->set->offpeak_window, &a->off_from, &a->off_to);
    commands_recover(a);
    return 0;
}

static void close_parts(struct agent *a)
{
    render_free(a->render);
    api_free(a->api);
    dl_free(a->dl);
    outbox_free(a->outbox);
    manifest_store_free(a->store);
    manifest_slots_release(&a->slots);
    cache_free(a->cache);
    if (a->lock_fd >= 0)
        close(a->lock_fd);
    while (a->q_head) {
        struct msg *m = a->q_head;
        a->q_head = m->next;
        agent_msg_free(m);
    }
    for (size_t i = 0; i < a->n_cmds; i++)
        json_decref(a->cmds[i].params);
    free(a->cmds);
    playlist_unref(a->pl);
    free(a->inventory);
    free(a->rejected_etag);
    free(a->applied_from);
    free(a->failed);
    free(a->status_last);
    free(a->dir);
}

void agent_signals_install(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int agent_run(struct settings *set, bool *ret_reexec)
{
    struct agent a = {.set = set, .lock_fd = -1, .now_index = -1};
    a.q_tail = &a.q_head;
    a.dir = xstrdup(set->data_dir);
    render_kind_parse(set->renderer, &a.render_kind);
    pthread_mutex_init(&a.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a.net_cond, &ca);
    pthread_cond_init(&a.play_cond, &ca);
    pthread_condattr_destroy(&ca);

    int r = open_parts(&a);
    if (r == 0) {
        signal_agent = &a;
        if (atomic_load(&stop_signalled))
            atomic_store(&a.stopping, true);
        log_msg(LOG_INFO, "player.started", "marquee-player %s, data %s, server %s, renderer %s",
                AGENT_VERSION, a.dir, set->server, set->renderer);
        bool net = pthread_create(&a.net_thread, NULL, net_main, &a) == 0;
        bool play = pthread_create(&a.play_thread, NULL, playback_main, &a) == 0;
        if (net && play)
            loop(&a);
        else
            r = -EAGAIN;
        if (a.fatal < 0)
            r = a.fatal;
        /* stop: every wait is interrupted, every thread joined, before anything is freed */
        agent_request_stop(&a);
        pthread_mutex_lock(&a.mu);
        pthread_cond_broadcast(&a.net_cond);
        pthread_cond_broadcast(&a.play_cond);
        pthread_mutex_unlock(&a.mu);
        render_interrupt(a.render);
        if (net)
            pthread_join(a.net_thread, NULL);
        if (play)
            pthread_join(a.play_thread, NULL);
        signal_agent = NULL;
        a.stopped = true;
        status_write(&a);
        log_msg(LOG_INFO, "player.stopped", "%s", a.reexec ? "restarting (REBOOT_APP)" : "stopped");
    }
    *ret_reexec = a.reexec;
    close_parts(&a);
    pthread_cond_destroy(&a.net_cond);
    pthread_cond_destroy(&a.play_cond);
    pthread_mutex_destroy(&a.mu);
    return r;
}
