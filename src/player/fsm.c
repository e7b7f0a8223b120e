/* SPDX-License-Identifier: MIT */
/*
 * fsm.c — the player's state machine; see fsm.h for the shell's side of the contract.
 *
 * Design:
 * - A step works on a copy of the machine and a local action list, and commits both only when
 *   it succeeds, so a failure leaves the caller's machine and actions as they were.
 * - One decision, settle(), runs wherever the screen is free to change — at an item end (a safe
 *   boundary: an image's end, a video's end, a skipped item), after the renderer gave up, on
 *   boot, after pairing, and after every step spent on the error screen (nothing plays there, so
 *   any moment is a boundary). It applies the staged manifest when fsm_staged_applicable() says
 *   so, then puts on screen the current manifest if playable, else the previous one
 *   (FALLBACK_TO_PREVIOUS_MANIFEST), else the error card (NO_PLAYABLE_CONTENT +
 *   ERROR_SCREEN_ENTERED). Nothing else ever plays, applies or blanks, so nothing changes
 *   mid-video, and the error card shows only when no manifest held has a playable item (the
 *   one other screen is pairing's: a device whose token is refused stops showing content).
 * - Applying moves current to previous only when current can play: previous is the fallback,
 *   and a current that cannot play (playlist null, assets missing, failing in the renderer) is
 *   no fallback, so the playable previous is kept instead (§28.5 says previous ← current; this
 *   is that rule where it can matter, never losing the last good manifest).
 * - A renderer failure rests that manifest for broken_retry_ms (it is not playable until then),
 *   so a decoder that fails every item cannot make the player flap between manifests.
 * - The sync loop is a timer (next_fetch_ms) and one fetch in flight, named by a fetch id so a
 *   late answer from a superseded fetch is ignored. After a 200/304 the next poll is
 *   nextCheckSeconds away (clamped to [min_poll, max_poll], max_poll being the periodic sync),
 *   or at validToUtc if sooner; after a failure, full-jitter backoff; after 429/503 with
 *   Retry-After, exactly that (clamped), and nothing — not a refresh command, not a push —
 *   fetches before it. If-None-Match names the newest manifest held (staged or rejected, else
 *   current), so the server answers 304 until it has something newer.
 * - Offline means no HTTP answer at all (or the link down): any status, even 5xx, proves the
 *   network works. OFFLINE_ENTERED / ONLINE_RESTORED mark the edges; while offline, failed
 *   fetches do not each emit MANIFEST_FETCH_FAILED.
 * - 401: the first is retried after auth_retry_ms (§25.10 "retry once"); auth_fail_limit in a
 *   row, from any player endpoint with no success between, clear the token: UNREGISTERED,
 *   DEVICE_TOKEN_INVALID, pairing. Pending commands and the staged manifest go with the token.
 * - Commands wait for a safe boundary (§28.7), except REQUEST_MANIFEST_REFRESH and
 *   SET_LOG_LEVEL, which do not touch the screen: a refresh fetches now (a full sync) and the
 *   swap still waits for a boundary.
 * - Wall-clock jumps: a poll planned further ahead than any delay this machine chooses was
 *   planned before the clock went back, and is brought forward to now.
 */
#include "player/fsm.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "backoff.h"
#include "protocol.h"

#define NEVER      INT64_MAX
#define TIME_LIMIT (INT64_C(1) << 53)

struct step {
    struct fsm f;
    int64_t now;
    struct fsm_actions out;
    struct fsm_action scratch; /* where pushes go once the list is full */
    bool overflow;
};

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* ---- configuration ------------------------------------------------------------------------ */

void fsm_config_default(struct fsm_config *cfg)
{
    *cfg = (struct fsm_config){
        .min_poll_ms = 5 * 1000,
        .default_poll_ms = 60 * 1000,
        .max_poll_ms = 4 * 3600 * 1000,
        .backoff_base_ms = 5 * 1000,
        .backoff_cap_ms = 5 * 60 * 1000,
        .retry_after_cap_ms = 3600 * 1000,
        .auth_retry_ms = 5 * 1000,
        .full_sync_after_ms = 24 * 3600 * 1000,
        .broken_retry_ms = 5 * 60 * 1000,
        .stale_grace_ms = 15 * 60 * 1000,
        .stale_after_ms = 24 * 3600 * 1000,
        .auth_fail_limit = 2,
        .failed_after_fetch = 3,
    };
}

static bool config_valid(const struct fsm_config *c)
{
    const int64_t ms[] = {c->min_poll_ms,     c->default_poll_ms,    c->max_poll_ms,
                          c->backoff_base_ms, c->backoff_cap_ms,     c->retry_after_cap_ms,
                          c->auth_retry_ms,   c->full_sync_after_ms, c->broken_retry_ms,
                          c->stale_grace_ms,  c->stale_after_ms};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
        if (ms[i] < 1 || ms[i] > FSM_CONFIG_MAX_MS)
            return false;
    return c->min_poll_ms <= c->default_poll_ms && c->default_poll_ms <= c->max_poll_ms &&
           c->backoff_base_ms <= c->backoff_cap_ms && c->auth_fail_limit >= 1 &&
           c->failed_after_fetch >= 1;
}

int fsm_init(struct fsm *f, const struct fsm_config *cfg)
{
    struct fsm_config c;
    if (!f)
        return -EINVAL;
    if (cfg)
        c = *cfg;
    else
        fsm_config_default(&c);
    if (!config_valid(&c))
        return -EINVAL;
    *f = (struct fsm){
        .cfg = c,
        .state = FSM_BOOT,
        .active = FSM_SLOT_NONE,
        .online = true, /* until a fetch finds otherwise: the first failure is an edge */
        .next_fetch_ms = NEVER,
    };
    return 0;
}

/* ---- queries ------------------------------------------------------------------------------ */

bool fsm_slot_playable(const struct fsm_slot_state *m, int64_t now_ms)
{
    return m->present && m->playable && now_ms >= m->broken_until_ms;
}

static bool staged_live(const struct fsm *f)
{
    return f->staged_state == FSM_STAGED_WAITING_ASSETS || f->staged_state == FSM_STAGED_READY;
}

static bool current_spent(const struct fsm *f, int64_t now)
{
    return !f->current.present || now >= f->current.valid_to_ms ||
           (!fsm_slot_playable(&f->current, now) && !fsm_slot_playable(&f->previous, now));
}

bool fsm_staged_applicable(const struct fsm *f, int64_t now_ms)
{
    if (!staged_live(f))
        return false;
    return f->staged.complete || (f->staged.playable && current_spent(f, now_ms));
}

static bool syncing_allowed(const struct fsm *f)
{
    return f->has_token && (f->state == FSM_PLAYING || f->state == FSM_ERROR_SCREEN);
}

int64_t fsm_next_wakeup(const struct fsm *f, int64_t now_ms)
{
    int64_t t = NEVER;
    if (syncing_allowed(f) && !f->fetch_in_flight)
        t = f->next_fetch_ms;
    const int64_t later[] = {f->current.broken_until_ms, f->previous.broken_until_ms,
                             f->current.present ? f->current.valid_to_ms : NEVER};
    for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
        if (later[i] > now_ms)
            t = min64(t, later[i]);
    return t;
}

enum fsm_sync_status fsm_sync_status(const struct fsm *f, const struct fsm_downloads *d,
                                     int64_t now_ms)
{
    const struct fsm_downloads none = {0, 0, 0};
    if (!d)
        d = &none;
    if (f->state == FSM_BOOT || f->state == FSM_LOAD_LOCAL)
        return FSM_SYNC_PENDING;
    if (!f->has_token || f->state == FSM_UNREGISTERED)
        return FSM_SYNC_STALE;
    if (f->current.present && !staged_live(f) &&
        now_ms >= sat_add(f->current.valid_to_ms, f->cfg.stale_grace_ms))
        return FSM_SYNC_STALE;
    if (f->last_sync_ms > 0 && now_ms - f->last_sync_ms >= f->cfg.stale_after_ms)
        return FSM_SYNC_STALE;
    if (f->fetch_failures >= f->cfg.failed_after_fetch || d->failed > 0)
        return FSM_SYNC_FAILED;
    if (d->active > 0 || f->staged_state == FSM_STAGED_READY)
        return FSM_SYNC_SYNCING;
    if (!f->current.present || f->staged_state == FSM_STAGED_WAITING_ASSETS || d->queued > 0)
        return FSM_SYNC_PENDING;
    return FSM_SYNC_SYNCED;
}

const char *fsm_heartbeat_state(const struct fsm *f)
{
    switch (f->state) {
    case FSM_PLAYING:
        return "PLAYING";
    case FSM_ERROR_SCREEN:
        return "ERROR_SCREEN";
    case FSM_UNREGISTERED:
        return "PAIRING";
    case FSM_BOOT:
    case FSM_LOAD_LOCAL:
    case FSM_PLAYABLE_CHECK:
        break;
    }
    return "BOOTING";
}

int64_t fsm_backoff_ms(const struct fsm_config *cfg, unsigned failures, uint32_t jitter)
{
    return backoff_full_jitter_ms(cfg->backoff_base_ms, cfg->backoff_cap_ms, failures, jitter);
}

/* ---- actions ------------------------------------------------------------------------------ */

static struct fsm_action *push(struct step *s, enum fsm_action_type type)
{
    struct fsm_action *a = &s->scratch;
    if (s->out.n < FSM_MAX_ACTIONS)
        a = &s->out.a[s->out.n++];
    else
        s->overflow = true;
    *a = (struct fsm_action){.type = type};
    return a;
}

static void emit(struct step *s, enum fsm_emit e, enum fsm_slot slot, int64_t value,
                 enum fsm_reason reason)
{
    struct fsm_action *a = push(s, FSM_ACT_EMIT);
    a->emit = e;
    a->slot = slot;
    a->value = value;
    a->reason = reason;
}

static void enter(struct step *s, enum fsm_state st)
{
    if (s->f.state == st)
        return;
    s->f.state = st;
    push(s, FSM_ACT_ENTER)->state = st;
}

static void schedule(struct step *s, int64_t at)
{
    at = max64(at, s->f.not_before_ms);
    s->f.next_fetch_ms = at;
    push(s, FSM_ACT_SCHEDULE_POLL)->at_ms = at;
}

/* Fetch now when one is due; called at the end of every step. */
static void maybe_fetch(struct step *s)
{
    struct fsm *f = &s->f;
    if (!syncing_allowed(f) || f->fetch_in_flight || f->next_fetch_ms > s->now)
        return;
    bool full = f->want_full || f->last_sync_ms <= 0 ||
                s->now - f->last_sync_ms > f->cfg.full_sync_after_ms;
    enum fsm_slot inm = FSM_SLOT_NONE;
    if (!full && f->staged_state != FSM_STAGED_NONE)
        inm = FSM_SLOT_STAGED;
    else if (!full && f->current.present)
        inm = FSM_SLOT_CURRENT;
    f->fetch_in_flight = true;
    f->fetch_full = full;
    f->fetch_inm = inm;
    f->fetch_id++;
    f->next_fetch_ms = NEVER;
    struct fsm_action *a = push(s, FSM_ACT_FETCH_MANIFEST);
    a->fetch_id = f->fetch_id;
    a->full = full;
    a->slot = inm;
}

/* Fetch as soon as allowed: now, or right after the fetch in flight. */
static void fetch_soon(struct step *s)
{
    if (!syncing_allowed(&s->f))
        return;
    if (s->f.fetch_in_flight)
        s->f.refetch = true;
    else
        schedule(s, s->now);
}

/* ---- the screen --------------------------------------------------------------------------- */

static void apply_staged(struct step *s)
{
    struct fsm *f = &s->f;
    bool rotate = fsm_slot_playable(&f->current, s->now);
    push(s, FSM_ACT_APPLY_STAGED)->rotate = rotate;
    if (rotate)
        f->previous = f->current;
    f->current = f->staged;
    f->staged = (struct fsm_slot_state){0};
    f->staged_state = FSM_STAGED_NONE;
    emit(s, FSM_EMIT_MANIFEST_APPLIED, FSM_SLOT_CURRENT, 0, FSM_REASON_NONE);
}

static enum fsm_reason error_reason(const struct fsm *f, int64_t now)
{
    if (!f->current.present && !f->previous.present)
        return FSM_REASON_NO_MANIFEST;
    if ((f->current.present && now < f->current.broken_until_ms) ||
        (f->previous.present && now < f->previous.broken_until_ms))
        return FSM_REASON_PLAYBACK_FAILED;
    return FSM_REASON_NO_PLAYABLE_CONTENT;
}

/*
 * The screen is free to change: apply the staged manifest if allowed, then show the best
 * manifest that can play, or the error card. @restart replays the loop even when the manifest
 * on screen stays (RESTART_PLAYBACK_LOOP).
 */
static void settle(struct step *s, bool restart)
{
    struct fsm *f = &s->f;
    bool applied = false;
    if (fsm_staged_applicable(f, s->now)) {
        apply_staged(s);
        applied = true;
    }
    enum fsm_slot target = FSM_SLOT_NONE;
    if (fsm_slot_playable(&f->current, s->now))
        target = FSM_SLOT_CURRENT;
    else if (fsm_slot_playable(&f->previous, s->now))
        target = FSM_SLOT_PREVIOUS;

    if (target == FSM_SLOT_NONE) {
        f->active = FSM_SLOT_NONE;
        if (f->state == FSM_ERROR_SCREEN)
            return;
        enter(s, FSM_ERROR_SCREEN);
        push(s, FSM_ACT_SHOW_ERROR_SCREEN);
        emit(s, FSM_EMIT_NO_PLAYABLE_CONTENT, FSM_SLOT_CURRENT, 0, FSM_REASON_NONE);
        emit(s, FSM_EMIT_ERROR_SCREEN_ENTERED, FSM_SLOT_NONE, 0, error_reason(f, s->now));
        return;
    }
    if (f->state == FSM_PLAYING && target == f->active && !applied && !restart)
        return;
    enter(s, FSM_PLAYING);
    if (target == FSM_SLOT_PREVIOUS && (f->active != FSM_SLOT_PREVIOUS || applied))
        emit(s, FSM_EMIT_FALLBACK_TO_PREVIOUS_MANIFEST, FSM_SLOT_PREVIOUS, 0, FSM_REASON_NONE);
    push(s, FSM_ACT_PLAY)->slot = target;
    f->active = target;
}

#define BOUNDARY_COMMANDS                                                                          \
    ((1u << FSM_CMD_RESTART_PLAYBACK_LOOP) | (1u << FSM_CMD_CLEAR_CACHE_UNUSED) |                  \
     (1u << FSM_CMD_CLEAR_CACHE_ALL) | (1u << FSM_CMD_REBOOT_APP))

/* At a safe boundary, after the screen settled: the deferred commands, a reboot last. */
static void run_boundary_commands(struct step *s)
{
    static const enum fsm_command order[] = {FSM_CMD_RESTART_PLAYBACK_LOOP,
                                             FSM_CMD_CLEAR_CACHE_UNUSED, FSM_CMD_CLEAR_CACHE_ALL,
                                             FSM_CMD_REBOOT_APP};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (s->f.pending_commands & (1u << order[i])) {
            s->f.pending_commands &= ~(1u << order[i]);
            push(s, FSM_ACT_EXECUTE_COMMAND)->command = order[i];
        }
}

/* ---- network and authentication ----------------------------------------------------------- */

static void go_offline(struct step *s)
{
    struct fsm *f = &s->f;
    if (!f->online)
        return;
    f->online = false;
    f->offline_since_ms = s->now;
    emit(s, FSM_EMIT_OFFLINE_ENTERED, FSM_SLOT_NONE, f->last_online_ms, FSM_REASON_NONE);
}

/* An answer (status > 0) or its absence (0) from any player endpoint. */
static void note_answer(struct step *s, int status)
{
    struct fsm *f = &s->f;
    if (status <= 0) {
        go_offline(s);
        return;
    }
    f->last_online_ms = s->now;
    if (f->online)
        return;
    f->online = true;
    emit(s, FSM_EMIT_ONLINE_RESTORED, FSM_SLOT_NONE, max64(0, s->now - f->offline_since_ms) / 1000,
         FSM_REASON_NONE);
}

static void unregister(struct step *s)
{
    struct fsm *f = &s->f;
    enter(s, FSM_UNREGISTERED);
    push(s, FSM_ACT_CLEAR_TOKEN);
    emit(s, FSM_EMIT_DEVICE_TOKEN_INVALID, FSM_SLOT_NONE, 401, FSM_REASON_UNAUTHORIZED);
    if (f->staged_state != FSM_STAGED_NONE) {
        push(s, FSM_ACT_DISCARD_STAGED);
        f->staged = (struct fsm_slot_state){0};
        f->staged_state = FSM_STAGED_NONE;
    }
    push(s, FSM_ACT_START_PAIRING);
    f->has_token = false;
    f->active = FSM_SLOT_NONE;
    f->auth_failures = 0;
    f->fetch_failures = 0;
    f->fetch_in_flight = false;
    f->fetch_id++; /* whatever answers the fetch still running is ignored */
    f->next_fetch_ms = NEVER;
    f->refetch = false;
    f->pending_commands = 0;
}

static void auth_failed(struct step *s)
{
    struct fsm *f = &s->f;
    if (++f->auth_failures >= f->cfg.auth_fail_limit) {
        unregister(s);
        return;
    }
    if (!f->fetch_in_flight)
        schedule(s, s->now + f->cfg.auth_retry_ms);
}

static enum fsm_reason fetch_reason(int status)
{
    if (status <= 0)
        return FSM_REASON_NETWORK;
    if (status == 401)
        return FSM_REASON_UNAUTHORIZED;
    if (status == 429)
        return FSM_REASON_RATE_LIMITED;
    if (status >= 500 && status <= 599)
        return FSM_REASON_SERVER_ERROR;
    return FSM_REASON_HTTP_ERROR;
}

/* ---- manifest sync ------------------------------------------------------------------------ */

/* When to poll after a successful sync: nextCheckSeconds of the newest manifest, or its
 * validToUtc if sooner, never sooner than min_poll nor later than max_poll (periodic sync). */
static int64_t poll_after_success(const struct fsm *f, int64_t now)
{
    const struct fsm_slot_state *m = staged_live(f) ? &f->staged : &f->current;
    int64_t every = f->cfg.default_poll_ms;
    if (m->present && m->next_check_s > 0)
        every = (int64_t)m->next_check_s * 1000;
    every = max64(f->cfg.min_poll_ms, min64(every, f->cfg.max_poll_ms));
    int64_t at = now + every;
    if (m->present && m->valid_to_ms > now)
        at = min64(at, max64(m->valid_to_ms, now + f->cfg.min_poll_ms));
    return at;
}

static void drop_staged(struct step *s)
{
    if (s->f.staged_state == FSM_STAGED_NONE)
        return;
    push(s, FSM_ACT_DISCARD_STAGED);
    s->f.staged = (struct fsm_slot_state){0};
    s->f.staged_state = FSM_STAGED_NONE;
}

static void reject(struct step *s, enum fsm_slot which, enum fsm_reason reason)
{
    struct fsm_action *a = push(s, FSM_ACT_REJECT);
    a->slot = which;
    a->reason = reason;
    emit(s, FSM_EMIT_MANIFEST_REJECTED, which, 0, reason);
    s->f.staged = (struct fsm_slot_state){0};
    s->f.staged_state = FSM_STAGED_REJECTED;
}

static void stage(struct step *s, const struct fsm_manifest_info *m)
{
    struct fsm *f = &s->f;
    f->staged = (struct fsm_slot_state){
        .present = true,
        .playable = m->playable,
        .complete = m->complete,
        .valid_to_ms = m->valid_to_ms,
        .next_check_s = m->next_check_s,
    };
    f->staged_state = m->complete ? FSM_STAGED_READY : FSM_STAGED_WAITING_ASSETS;
    push(s, FSM_ACT_STAGE);
    emit(s, FSM_EMIT_MANIFEST_STAGED, FSM_SLOT_STAGED, 0, FSM_REASON_NONE);
}

static void fetch_succeeded(struct step *s, const struct fsm_fetch_result *r)
{
    struct fsm *f = &s->f;
    f->auth_failures = 0;
    f->fetch_failures = 0;
    f->last_sync_ms = s->now;
    if (f->fetch_full)
        f->want_full = false;
    if (r->http_status == 200) {
        if (r->match == FSM_SLOT_CURRENT) {
            drop_staged(s); /* the server went back to what plays: the candidate is moot */
        } else if (r->match == FSM_SLOT_STAGED && f->staged_state != FSM_STAGED_NONE) {
            /* the same candidate (or the same rejected one): nothing new */
        } else if (!r->valid) {
            reject(s, FSM_SLOT_FETCHED, FSM_REASON_INVALID);
        } else {
            stage(s, &r->manifest);
        }
    }
    if (f->refetch) {
        f->refetch = false;
        schedule(s, s->now);
    } else {
        schedule(s, poll_after_success(f, s->now));
    }
}

static void on_fetch_result(struct step *s, const struct fsm_fetch_result *r)
{
    struct fsm *f = &s->f;
    if (!f->fetch_in_flight || r->fetch_id != f->fetch_id)
        return;
    f->fetch_in_flight = false;
    bool was_online = f->online;
    int status = r->http_status;
    note_answer(s, status);
    if (status == 401) {
        emit(s, FSM_EMIT_MANIFEST_FETCH_FAILED, FSM_SLOT_NONE, status, FSM_REASON_UNAUTHORIZED);
        f->refetch = false;
        auth_failed(s);
        return;
    }
    if (status == 200 || status == 304) {
        fetch_succeeded(s, r);
        return;
    }
    if (f->fetch_failures < UINT_MAX)
        f->fetch_failures++;
    f->refetch = false;
    if (status > 0 || was_online)
        emit(s, FSM_EMIT_MANIFEST_FETCH_FAILED, FSM_SLOT_NONE, max64(status, 0),
             fetch_reason(status));
    int64_t delay;
    if ((status == 429 || status == 503) && r->retry_after_s >= 0) {
        delay = min64((int64_t)r->retry_after_s * 1000, f->cfg.retry_after_cap_ms);
        f->not_before_ms = s->now + delay;
    } else {
        delay = fsm_backoff_ms(&f->cfg, f->fetch_failures, r->jitter);
    }
    f->last_delay_ms = delay;
    schedule(s, s->now + delay);
}

/* ---- the other events --------------------------------------------------------------------- */

static void load_slot(struct fsm_slot_state *m, const struct fsm_manifest_info *in, bool corrupt)
{
    *m = (struct fsm_slot_state){0};
    if (corrupt || !in->present)
        return;
    *m = (struct fsm_slot_state){
        .present = true,
        .playable = in->playable,
        .complete = in->complete,
        .valid_to_ms = in->valid_to_ms,
        .next_check_s = in->next_check_s,
    };
}

/* Registered and the screen decided: play, and sync at once, fully (boot, pairing). */
static void start_up(struct step *s)
{
    s->f.want_full = true;
    enter(s, FSM_PLAYABLE_CHECK);
    settle(s, false);
    schedule(s, s->now);
}

static void on_local_loaded(struct step *s, const struct fsm_local *l)
{
    struct fsm *f = &s->f;
    if (f->state != FSM_LOAD_LOCAL)
        return;
    if (l->current_corrupt)
        emit(s, FSM_EMIT_LOCAL_MANIFEST_CORRUPT, FSM_SLOT_CURRENT, 0, FSM_REASON_INVALID);
    if (l->previous_corrupt)
        emit(s, FSM_EMIT_LOCAL_MANIFEST_CORRUPT, FSM_SLOT_PREVIOUS, 0, FSM_REASON_INVALID);
    load_slot(&f->current, &l->current, l->current_corrupt);
    load_slot(&f->previous, &l->previous, l->previous_corrupt);
    f->last_sync_ms = l->last_sync_ms;
    f->last_online_ms = l->last_sync_ms;
    f->has_token = l->has_token;
    if (!f->has_token) {
        enter(s, FSM_UNREGISTERED);
        push(s, FSM_ACT_START_PAIRING);
        return;
    }
    start_up(s);
}

static void on_assets(struct step *s, const struct fsm_assets *a)
{
    struct fsm *f = &s->f;
    const struct {
        struct fsm_slot_state *m;
        const struct fsm_avail *v;
    } map[] = {{&f->current, &a->current}, {&f->previous, &a->previous}, {&f->staged, &a->staged}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].m->present) {
            map[i].m->playable = map[i].v->playable;
            map[i].m->complete = map[i].v->complete;
        }
    if (!staged_live(f))
        return;
    if (a->staged_unplayable)
        reject(s, FSM_SLOT_STAGED, FSM_REASON_UNPLAYABLE);
    else
        f->staged_state = f->staged.complete ? FSM_STAGED_READY : FSM_STAGED_WAITING_ASSETS;
}

static struct fsm_slot_state *slot_state(struct fsm *f, enum fsm_slot slot)
{
    switch (slot) {
    case FSM_SLOT_CURRENT:
        return &f->current;
    case FSM_SLOT_PREVIOUS:
        return &f->previous;
    case FSM_SLOT_STAGED:
        return &f->staged;
    case FSM_SLOT_NONE:
    case FSM_SLOT_FETCHED:
        break;
    }
    return NULL;
}

static void on_item_end(struct step *s)
{
    struct fsm *f = &s->f;
    if (f->state != FSM_PLAYING)
        return;
    const struct fsm_slot_state *on_screen = slot_state(f, f->active);
    if (!on_screen || !fsm_slot_playable(on_screen, s->now))
        enter(s, FSM_PLAYABLE_CHECK); /* what plays cannot go on: choose again */
    settle(s, (f->pending_commands & (1u << FSM_CMD_RESTART_PLAYBACK_LOOP)) != 0);
    run_boundary_commands(s);
}

static void on_playback_impossible(struct step *s, enum fsm_slot slot)
{
    struct fsm *f = &s->f;
    if (f->state != FSM_PLAYING || slot != f->active || slot == FSM_SLOT_NONE)
        return;
    struct fsm_slot_state *m = slot_state(f, slot);
    if (!m)
        return;
    m->broken_until_ms = sat_add(s->now, f->cfg.broken_retry_ms);
    enter(s, FSM_PLAYABLE_CHECK);
    f->active = FSM_SLOT_NONE;
    settle(s, false);
    run_boundary_commands(s);
}

static void on_command(struct step *s, enum fsm_command c)
{
    struct fsm *f = &s->f;
    if (!syncing_allowed(f) || (unsigned)c >= FSM_COMMAND_COUNT)
        return;
    switch (c) {
    case FSM_CMD_REQUEST_MANIFEST_REFRESH:
        f->want_full = true;
        fetch_soon(s);
        push(s, FSM_ACT_EXECUTE_COMMAND)->command = c;
        return;
    case FSM_CMD_SET_LOG_LEVEL:
        push(s, FSM_ACT_EXECUTE_COMMAND)->command = c;
        return;
    case FSM_CMD_RESTART_PLAYBACK_LOOP:
    case FSM_CMD_CLEAR_CACHE_UNUSED:
    case FSM_CMD_CLEAR_CACHE_ALL:
    case FSM_CMD_REBOOT_APP:
        break;
    }
    f->pending_commands |= 1u << c;
    if (f->state == FSM_ERROR_SCREEN) /* nothing plays: any moment is a boundary */
        run_boundary_commands(s);
}

static void on_api_status(struct step *s, int status)
{
    struct fsm *f = &s->f;
    bool was_online = f->online;
    note_answer(s, status);
    if (!syncing_allowed(f))
        return;
    if (status == 401) {
        auth_failed(s);
    } else if (status >= 200 && status <= 299) {
        f->auth_failures = 0;
        /* back online, and the server answers well (a heartbeat got through while the manifest
         * poll waited out its backoff): a sync trigger of its own (device content sync story) */
        if (!was_online)
            fetch_soon(s);
    }
}

static void on_tick(struct step *s)
{
    struct fsm *f = &s->f;
    /* the wall clock went back: plans made before it are too far ahead */
    int64_t horizon = max64(max64(f->cfg.max_poll_ms, f->cfg.retry_after_cap_ms),
                            max64(f->cfg.backoff_cap_ms, f->cfg.auth_retry_ms));
    if (f->not_before_ms > sat_add(s->now, horizon))
        f->not_before_ms = 0;
    if (f->next_fetch_ms != NEVER && f->next_fetch_ms > sat_add(s->now, horizon))
        schedule(s, s->now);
}

int fsm_step(struct fsm *f, const struct fsm_event *ev, struct fsm_actions *out)
{
    if (!f || !ev || !out || ev->now_ms > TIME_LIMIT || ev->now_ms < -TIME_LIMIT)
        return -EINVAL;
    struct step s = {.f = *f, .now = ev->now_ms};
    switch (ev->type) {
    case FSM_EV_BOOT_DONE:
        if (s.f.state == FSM_BOOT) {
            emit(&s, FSM_EMIT_APP_STARTED, FSM_SLOT_NONE, 0, FSM_REASON_NONE);
            enter(&s, FSM_LOAD_LOCAL);
            push(&s, FSM_ACT_LOAD_LOCAL);
        }
        break;
    case FSM_EV_LOCAL_LOADED:
        on_local_loaded(&s, &ev->local);
        break;
    case FSM_EV_PAIRED:
        if (s.f.state == FSM_UNREGISTERED) {
            s.f.has_token = true;
            start_up(&s);
        }
        break;
    case FSM_EV_TICK:
        on_tick(&s);
        break;
    case FSM_EV_FETCH_RESULT:
        on_fetch_result(&s, &ev->fetch);
        break;
    case FSM_EV_API_STATUS:
        on_api_status(&s, ev->http_status);
        break;
    case FSM_EV_ASSETS:
        on_assets(&s, &ev->assets);
        break;
    case FSM_EV_ITEM_END:
        on_item_end(&s);
        break;
    case FSM_EV_PLAYBACK_IMPOSSIBLE:
        on_playback_impossible(&s, ev->slot);
        break;
    case FSM_EV_COMMAND:
        on_command(&s, ev->command);
        break;
    case FSM_EV_SERVER_HINT:
        fetch_soon(&s);
        break;
    case FSM_EV_NETWORK_UP:
        if (!s.f.online)
            fetch_soon(&s);
        break;
    case FSM_EV_NETWORK_DOWN:
        go_offline(&s);
        break;
    default:
        return -EINVAL;
    }
    if (s.f.state == FSM_ERROR_SCREEN) /* nothing plays: content may show at any moment */
        settle(&s, false);
    maybe_fetch(&s);
    if (s.overflow)
        return -E2BIG;
    *f = s.f;
    *out = s.out;
    return (int)out->n;
}

/* ---- names -------------------------------------------------------------------------------- */

#define NAME(table, i)                                                                             \
    ((size_t)(i) < sizeof(table) / sizeof((table)[0]) && (table)[i] ? (table)[i] : "?")

const char *fsm_state_name(enum fsm_state s)
{
    static const char *const names[] = {
        [FSM_BOOT] = "BOOT",
        [FSM_LOAD_LOCAL] = "LOAD_LOCAL",
        [FSM_PLAYABLE_CHECK] = "PLAYABLE_CHECK",
        [FSM_PLAYING] = "PLAYING",
        [FSM_ERROR_SCREEN] = "ERROR_SCREEN",
        [FSM_UNREGISTERED] = "UNREGISTERED",
    };
    return NAME(names, s);
}

const char *fsm_event_name(enum fsm_event_type t)
{
    static const char *const names[] = {
        [FSM_EV_BOOT_DONE] = "BOOT_DONE",
        [FSM_EV_LOCAL_LOADED] = "LOCAL_LOADED",
        [FSM_EV_PAIRED] = "PAIRED",
        [FSM_EV_TICK] = "TICK",
        [FSM_EV_FETCH_RESULT] = "FETCH_RESULT",
        [FSM_EV_API_STATUS] = "API_STATUS",
        [FSM_EV_ASSETS] = "ASSETS",
        [FSM_EV_ITEM_END] = "ITEM_END",
        [FSM_EV_PLAYBACK_IMPOSSIBLE] = "PLAYBACK_IMPOSSIBLE",
        [FSM_EV_COMMAND] = "COMMAND",
        [FSM_EV_SERVER_HINT] = "SERVER_HINT",
        [FSM_EV_NETWORK_UP] = "NETWORK_UP",
        [FSM_EV_NETWORK_DOWN] = "NETWORK_DOWN",
    };
    return NAME(names, t);
}

const char *fsm_action_name(enum fsm_action_type t)
{
    static const char *const names[] = {
        [FSM_ACT_ENTER] = "ENTER",
        [FSM_ACT_EMIT] = "EMIT",
        [FSM_ACT_LOAD_LOCAL] = "LOAD_LOCAL",
        [FSM_ACT_START_PAIRING] = "START_PAIRING",
        [FSM_ACT_CLEAR_TOKEN] = "CLEAR_TOKEN",
        [FSM_ACT_SCHEDULE_POLL] = "SCHEDULE_POLL",
        [FSM_ACT_FETCH_MANIFEST] = "FETCH_MANIFEST",
        [FSM_ACT_STAGE] = "STAGE",
        [FSM_ACT_REJECT] = "REJECT",
        [FSM_ACT_DISCARD_STAGED] = "DISCARD_STAGED",
        [FSM_ACT_APPLY_STAGED] = "APPLY_STAGED",
        [FSM_ACT_PLAY] = "PLAY",
        [FSM_ACT_SHOW_ERROR_SCREEN] = "SHOW_ERROR_SCREEN",
        [FSM_ACT_EXECUTE_COMMAND] = "EXECUTE_COMMAND",
    };
    return NAME(names, t);
}

const char *fsm_slot_name(enum fsm_slot s)
{
    static const char *const names[] = {
        [FSM_SLOT_NONE] = "NONE",         [FSM_SLOT_CURRENT] = "CURRENT",
        [FSM_SLOT_PREVIOUS] = "PREVIOUS", [FSM_SLOT_STAGED] = "STAGED",
        [FSM_SLOT_FETCHED] = "FETCHED",
    };
    return NAME(names, s);
}

const char *fsm_staged_name(enum fsm_staged s)
{
    static const char *const names[] = {
        [FSM_STAGED_NONE] = "STAGED_NONE",
        [FSM_STAGED_WAITING_ASSETS] = "STAGED_WAITING_ASSETS",
        [FSM_STAGED_READY] = "STAGED_READY",
        [FSM_STAGED_REJECTED] = "STAGED_REJECTED",
    };
    return NAME(names, s);
}

const char *fsm_reason_name(enum fsm_reason r)
{
    static const char *const names[] = {
        [FSM_REASON_NONE] = "NONE",
        [FSM_REASON_NO_MANIFEST] = "NO_MANIFEST",
        [FSM_REASON_NO_PLAYABLE_CONTENT] = "NO_PLAYABLE_CONTENT",
        [FSM_REASON_PLAYBACK_FAILED] = "PLAYBACK_FAILED",
        [FSM_REASON_INVALID] = "INVALID",
        [FSM_REASON_UNPLAYABLE] = "UNPLAYABLE",
        [FSM_REASON_NETWORK] = "NETWORK",
        [FSM_REASON_UNAUTHORIZED] = "UNAUTHORIZED",
        [FSM_REASON_RATE_LIMITED] = "RATE_LIMITED",
        [FSM_REASON_SERVER_ERROR] = "SERVER_ERROR",
        [FSM_REASON_HTTP_ERROR] = "HTTP_ERROR",
    };
    return NAME(names, r);
}

const char *fsm_sync_status_name(enum fsm_sync_status s)
{
    static const char *const names[] = {
        [FSM_SYNC_SYNCED] = "SYNCED",   [FSM_SYNC_SYNCING] = "SYNCING",
        [FSM_SYNC_PENDING] = "PENDING", [FSM_SYNC_FAILED] = "FAILED",
        [FSM_SYNC_STALE] = "STALE",
    };
    return NAME(names, s);
}

_Static_assert(FSM_EMIT_CACHE_EVICTION + 1 == PROTOCOL_EVENT_COUNT, "enum fsm_emit is §27.8.3");
_Static_assert(FSM_COMMAND_COUNT == PROTOCOL_COMMAND_COUNT, "enum fsm_command is §28.7");

const char *fsm_emit_name(enum fsm_emit e)
{
    return (size_t)e < PROTOCOL_EVENT_COUNT ? protocol_events[e].type : "?";
}

const char *fsm_emit_severity(enum fsm_emit e)
{
    return (size_t)e < PROTOCOL_EVENT_COUNT ? protocol_events[e].severity : "?";
}

const char *fsm_command_name(enum fsm_command c)
{
    return (size_t)c < PROTOCOL_COMMAND_COUNT ? protocol_commands[c] : "?";
}

int fsm_command_parse(const char *name, enum fsm_command *ret)
{
    int i = protocol_command_index(name);
    if (i < 0)
        return -EINVAL;
    *ret = (enum fsm_command)i;
    return 0;
}
