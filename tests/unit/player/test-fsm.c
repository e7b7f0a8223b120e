/* SPDX-License-Identifier: MIT */
/*
 * test-fsm.c — the player's state machine (fsm.h).
 *
 * Unit cases feed events and compare the whole action list, rendered as one line
 * ("ENTER PLAYING; PLAY CURRENT; POLL +60s"), with what the spec asks: every row of §28.12, the
 * two-phase apply (§28.5), the sync loop's schedule (nextCheckSeconds, validToUtc, backoff with
 * full jitter and its cap, Retry-After, the periodic and the full sync), 401 twice, offline and
 * back, commands at safe boundaries, the sync status, and refused input.
 *
 * Then a property test: a model of the shell (world) executes the actions and feeds random,
 * consistent events — fetch answers of every kind, cache changes, item ends, renderer failures,
 * commands, network changes, 401s from other endpoints, crashes (kill -9: a fresh machine that
 * reloads current and previous, sometimes corrupt), clock leaps. After every step it checks:
 * nothing is applied, played or blanked mid-item; an apply has its assets ready, or is partly
 * playable with the current spent (expired, absent, or nothing else playable); the error card
 * is up only when nothing held can play; at a boundary the best manifest plays and no applicable
 * staged one waits; failed fetches back off within [0, min(cap, base · 2^(n−1))], or exactly the
 * Retry-After; a registered player always has a poll planned. -DPROPERTY_CASES=… -DPROPERTY_SEED=…
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../unit/cmocka-prelude.h"
#include "player/fsm.h"

#define S   INT64_C(1000)
#define MIN (60 * S)
#define H   (3600 * S)

static const int64_t T0 = INT64_C(1781870400000); /* 2026-06-19T12:00:00Z */

/* ---- rendering actions ---------------------------------------------------------------------- */

static void append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

static void render_delay(char *buf, size_t size, int64_t d)
{
    if (d % S == 0)
        append(buf, size, "%+llds", (long long)(d / S));
    else
        append(buf, size, "%+lldms", (long long)d);
}

static void render_action(char *buf, size_t size, const struct fsm_action *a, int64_t now)
{
    switch (a->type) {
    case FSM_ACT_ENTER:
        append(buf, size, "ENTER %s", fsm_state_name(a->state));
        return;
    case FSM_ACT_EMIT:
        append(buf, size, "EMIT %s", fsm_emit_name(a->emit));
        if (a->slot != FSM_SLOT_NONE)
            append(buf, size, " %s", fsm_slot_name(a->slot));
        if (a->value > INT64_C(1000000000000)) { /* an instant: relative to T0 */
            append(buf, size, " =T0");
            render_delay(buf, size, a->value - T0);
        } else if (a->value != 0) {
            append(buf, size, " =%lld", (long long)a->value);
        }
        if (a->reason != FSM_REASON_NONE)
            append(buf, size, " %s", fsm_reason_name(a->reason));
        return;
    case FSM_ACT_SCHEDULE_POLL:
        append(buf, size, "POLL ");
        render_delay(buf, size, a->at_ms - now);
        return;
    case FSM_ACT_FETCH_MANIFEST:
        append(buf, size, "FETCH #%u", a->fetch_id);
        if (a->full)
            append(buf, size, " full");
        if (a->slot != FSM_SLOT_NONE)
            append(buf, size, " %s", fsm_slot_name(a->slot));
        return;
    case FSM_ACT_REJECT:
        append(buf, size, "REJECT %s %s", fsm_slot_name(a->slot), fsm_reason_name(a->reason));
        return;
    case FSM_ACT_APPLY_STAGED:
        append(buf, size, "APPLY%s", a->rotate ? " rotate" : "");
        return;
    case FSM_ACT_PLAY:
        append(buf, size, "PLAY %s", fsm_slot_name(a->slot));
        return;
    case FSM_ACT_EXECUTE_COMMAND:
        append(buf, size, "EXECUTE %s", fsm_command_name(a->command));
        return;
    case FSM_ACT_LOAD_LOCAL:
    case FSM_ACT_START_PAIRING:
    case FSM_ACT_CLEAR_TOKEN:
    case FSM_ACT_STAGE:
    case FSM_ACT_DISCARD_STAGED:
    case FSM_ACT_SHOW_ERROR_SCREEN:
        break;
    }
    append(buf, size, "%s", fsm_action_name(a->type));
}

/* ---- the rig: one machine, a clock, and the last fetch id ----------------------------------- */

struct rig {
    struct fsm f;
    int64_t now;
    uint32_t fetch_id;
    struct fsm_actions a;
    char text[4096];
};

static const char *feed(struct rig *r, struct fsm_event e)
{
    e.now_ms = r->now;
    memset(&r->a, 0xa5, sizeof(r->a));
    int n = fsm_step(&r->f, &e, &r->a);
    if (n < 0)
        fail_msg("fsm_step(%s) failed: %d", fsm_event_name(e.type), n);
    assert_int_equal((size_t)n, r->a.n);
    r->text[0] = '\0';
    for (size_t i = 0; i < r->a.n; i++) {
        if (i)
            append(r->text, sizeof(r->text), "; ");
        render_action(r->text, sizeof(r->text), &r->a.a[i], r->now);
        if (r->a.a[i].type == FSM_ACT_FETCH_MANIFEST)
            r->fetch_id = r->a.a[i].fetch_id;
    }
    return r->text;
}

static void expect_text(int line, const char *got, const char *expected)
{
    if (strcmp(got, expected) != 0)
        fail_msg("line %d:\n  got      \"%s\"\n  expected \"%s\"", line, got, expected);
}
#define FEED(r, e, expected) expect_text(__LINE__, feed(r, e), expected)

static struct fsm_event ev(enum fsm_event_type t)
{
    return (struct fsm_event){.type = t};
}

static struct fsm_manifest_info man(bool playable, bool complete, int64_t valid_to, int32_t check)
{
    return (struct fsm_manifest_info){true, playable, complete, valid_to, check};
}

static const struct fsm_manifest_info NO_MANIFEST = {false, false, false, 0, 0};

#define READY   ((struct fsm_avail){true, true})
#define PARTIAL ((struct fsm_avail){true, false})
#define MISSING ((struct fsm_avail){false, false})

static struct fsm_event result(struct rig *r, int status, int32_t retry_after, uint32_t jitter)
{
    struct fsm_event e = ev(FSM_EV_FETCH_RESULT);
    e.fetch = (struct fsm_fetch_result){.fetch_id = r->fetch_id,
                                        .http_status = status,
                                        .match = FSM_SLOT_NONE,
                                        .retry_after_s = retry_after,
                                        .jitter = jitter};
    return e;
}
#define ANSWER(r, status) result(r, status, -1, UINT32_MAX)

/* 200 with the body of an already held manifest */
static struct fsm_event same(struct rig *r, enum fsm_slot match)
{
    struct fsm_event e = result(r, 200, -1, 0);
    e.fetch.match = match;
    return e;
}

/* 200 with a new manifest */
static struct fsm_event fresh(struct rig *r, struct fsm_manifest_info m)
{
    struct fsm_event e = result(r, 200, -1, 0);
    e.fetch.valid = true;
    e.fetch.manifest = m;
    return e;
}

static struct fsm_event assets(struct fsm_avail cur, struct fsm_avail prev, struct fsm_avail stg)
{
    struct fsm_event e = ev(FSM_EV_ASSETS);
    e.assets = (struct fsm_assets){cur, prev, stg, false};
    return e;
}

static struct fsm_event command(enum fsm_command c)
{
    struct fsm_event e = ev(FSM_EV_COMMAND);
    e.command = c;
    return e;
}

static struct fsm_event impossible(enum fsm_slot slot)
{
    struct fsm_event e = ev(FSM_EV_PLAYBACK_IMPOSSIBLE);
    e.slot = slot;
    return e;
}

static struct fsm_event api(int status)
{
    struct fsm_event e = ev(FSM_EV_API_STATUS);
    e.http_status = status;
    return e;
}

static struct fsm_event loaded(bool token, struct fsm_manifest_info cur,
                               struct fsm_manifest_info prev)
{
    struct fsm_event e = ev(FSM_EV_LOCAL_LOADED);
    e.local = (struct fsm_local){
        .has_token = token, .current = cur, .previous = prev, .last_sync_ms = T0 - 60 * S};
    return e;
}

/* What LOCAL_LOADED (or PAIRED) answers, by what can play: the first sync starts with it. */
#define PLAYS_CURRENT "ENTER PLAYABLE_CHECK; ENTER PLAYING; PLAY CURRENT; POLL +0s; FETCH #1 full"
#define PLAYS_PREVIOUS                                                                             \
    "ENTER PLAYABLE_CHECK; ENTER PLAYING; EMIT FALLBACK_TO_PREVIOUS_MANIFEST PREVIOUS; "           \
    "PLAY PREVIOUS; POLL +0s; FETCH #1 full"
#define PLAYS_NOTHING(reason)                                                                      \
    "ENTER PLAYABLE_CHECK; ENTER ERROR_SCREEN; SHOW_ERROR_SCREEN; "                                \
    "EMIT NO_PLAYABLE_CONTENT CURRENT; EMIT ERROR_SCREEN_ENTERED " reason "; POLL +0s; "           \
    "FETCH #1 full"

static void start(struct rig *r, const struct fsm_config *cfg)
{
    memset(r, 0, sizeof(*r));
    r->now = T0;
    assert_int_equal(fsm_init(&r->f, cfg), 0);
    assert_int_equal(r->f.state, FSM_BOOT);
    assert_string_equal(fsm_heartbeat_state(&r->f), "BOOTING");
    FEED(r, ev(FSM_EV_BOOT_DONE), "EMIT APP_STARTED; ENTER LOAD_LOCAL; LOAD_LOCAL");
    assert_int_equal(r->f.state, FSM_LOAD_LOCAL);
}

/* Registered, no manifest held: the error card, and the first sync running. */
static void empty(struct rig *r)
{
    start(r, NULL);
    FEED(r, loaded(true, NO_MANIFEST, NO_MANIFEST), PLAYS_NOTHING("NO_MANIFEST"));
}

/* Playing current (ready, valid for 1 h, nextCheckSeconds 60), previous ready; first sync done. */
static void playing(struct rig *r)
{
    start(r, NULL);
    FEED(r, loaded(true, man(true, true, T0 + H, 60), man(true, true, T0 - H, 60)), PLAYS_CURRENT);
    r->now += S;
    FEED(r, same(r, FSM_SLOT_CURRENT), "POLL +60s");
    assert_int_equal(r->f.state, FSM_PLAYING);
    assert_int_equal(r->f.active, FSM_SLOT_CURRENT);
}

/* Advances to the planned poll and expects the fetch it starts. */
static void poll_now(int line, struct rig *r, const char *expected)
{
    r->now = r->f.next_fetch_ms;
    expect_text(line, feed(r, ev(FSM_EV_TICK)), expected);
}
#define POLL(r, expected) poll_now(__LINE__, r, expected)

/* ---- §28.12, row by row --------------------------------------------------------------------- */

static void boot_to_playing(void **state)
{
    struct rig r;
    start(&r, NULL); /* BOOT —init complete→ LOAD_LOCAL, APP_STARTED */
    /* LOAD_LOCAL —loaded→ PLAYABLE_CHECK —playable found→ PLAYING; the first sync is full */
    FEED(&r, loaded(true, man(true, false, T0 + H, 60), NO_MANIFEST), PLAYS_CURRENT);
    assert_string_equal(fsm_heartbeat_state(&r.f), "PLAYING");
    /* events that do not apply now change nothing */
    FEED(&r, ev(FSM_EV_BOOT_DONE), "");
    FEED(&r, loaded(true, NO_MANIFEST, NO_MANIFEST), "");
    FEED(&r, ev(FSM_EV_PAIRED), "");
    FEED(&r, ev(FSM_EV_TICK), "");
    assert_int_equal(r.f.active, FSM_SLOT_CURRENT);
}

static void boot_fallback_to_previous(void **state)
{
    struct rig r;
    start(&r, NULL);
    FEED(&r, loaded(true, man(false, false, T0 + H, 60), man(true, true, T0 - H, 60)),
         PLAYS_PREVIOUS);
    assert_int_equal(r.f.active, FSM_SLOT_PREVIOUS);
    /* the current one's assets arrive: back to it at the next boundary, not before */
    r.now += S;
    FEED(&r, assets(READY, READY, MISSING), "");
    FEED(&r, ev(FSM_EV_ITEM_END), "PLAY CURRENT");
    assert_int_equal(r.f.active, FSM_SLOT_CURRENT);
}

static void boot_local_corrupt(void **state)
{
    struct rig r;
    start(&r, NULL);
    struct fsm_event e = loaded(true, man(true, true, T0 + H, 60), man(true, true, T0, 60));
    e.local.current_corrupt = true;
    FEED(&r, e,
         "EMIT LOCAL_MANIFEST_CORRUPT CURRENT INVALID; ENTER PLAYABLE_CHECK; ENTER PLAYING; "
         "EMIT FALLBACK_TO_PREVIOUS_MANIFEST PREVIOUS; PLAY PREVIOUS; POLL +0s; FETCH #1 full");
    assert_false(r.f.current.present);

    start(&r, NULL);
    e.local.previous_corrupt = true;
    FEED(&r, e,
         "EMIT LOCAL_MANIFEST_CORRUPT CURRENT INVALID; EMIT LOCAL_MANIFEST_CORRUPT PREVIOUS "
         "INVALID; ENTER PLAYABLE_CHECK; ENTER ERROR_SCREEN; SHOW_ERROR_SCREEN; "
         "EMIT NO_PLAYABLE_CONTENT CURRENT; EMIT ERROR_SCREEN_ENTERED NO_MANIFEST; POLL +0s; "
         "FETCH #1 full");
}

static void boot_nothing_playable(void **state)
{
    struct rig r;
    start(&r, NULL);
    /* PLAYABLE_CHECK —none playable→ ERROR_SCREEN; sync goes on */
    FEED(&r, loaded(true, man(false, false, T0 + H, 60), man(false, false, T0, 60)),
         "ENTER PLAYABLE_CHECK; ENTER ERROR_SCREEN; SHOW_ERROR_SCREEN; "
         "EMIT NO_PLAYABLE_CONTENT CURRENT; EMIT ERROR_SCREEN_ENTERED NO_PLAYABLE_CONTENT; "
         "POLL +0s; FETCH #1 full");
    assert_string_equal(fsm_heartbeat_state(&r.f), "ERROR_SCREEN");
    FEED(&r, ev(FSM_EV_ITEM_END), "");
    FEED(&r, impossible(FSM_SLOT_NONE), "");
    /* ERROR_SCREEN —content restored→ PLAYING, at once: nothing plays to wait for */
    r.now += 2 * S;
    FEED(&r, assets(MISSING, READY, MISSING),
         "ENTER PLAYING; EMIT FALLBACK_TO_PREVIOUS_MANIFEST PREVIOUS; PLAY PREVIOUS");
    r.now += 2 * S;
    FEED(&r, ev(FSM_EV_ITEM_END), "");
    FEED(&r, assets(PARTIAL, READY, MISSING), "");
    FEED(&r, ev(FSM_EV_ITEM_END), "PLAY CURRENT");
}

static void playback_impossible(void **state)
{
    struct rig r;
    playing(&r);
    /* a late report about a manifest no longer on screen is ignored */
    FEED(&r, impossible(FSM_SLOT_PREVIOUS), "");
    /* PLAYING —playback impossible→ PLAYABLE_CHECK → the previous one */
    r.now += 10 * S;
    FEED(&r, impossible(FSM_SLOT_CURRENT),
         "ENTER PLAYABLE_CHECK; ENTER PLAYING; EMIT FALLBACK_TO_PREVIOUS_MANIFEST PREVIOUS; "
         "PLAY PREVIOUS");
    assert_int_equal(r.f.current.broken_until_ms, r.now + 5 * MIN);
    /* … then nothing: the error card */
    r.now += 10 * S;
    FEED(&r, impossible(FSM_SLOT_PREVIOUS),
         "ENTER PLAYABLE_CHECK; ENTER ERROR_SCREEN; SHOW_ERROR_SCREEN; "
         "EMIT NO_PLAYABLE_CONTENT CURRENT; EMIT ERROR_SCREEN_ENTERED PLAYBACK_FAILED");
    /* the failed manifests rest; the first is tried again when its rest is over */
    assert_int_equal(fsm_next_wakeup(&r.f, r.now), T0 + S + 60 * S);
    r.now = T0 + S + 10 * S + 5 * MIN - S;
    FEED(&r, ev(FSM_EV_TICK), "FETCH #2 CURRENT"); /* its poll was due */
    FEED(&r, same(&r, FSM_SLOT_CURRENT), "POLL +60s");
    assert_int_equal(fsm_next_wakeup(&r.f, r.now), r.now + S);
    r.now += S;
    FEED(&r, ev(FSM_EV_TICK), "ENTER PLAYING; PLAY CURRENT");
}

static void unregistered_and_pairing(void **state)
{
    struct rig r;
    start(&r, NULL);
    /* no token at boot: the pairing screen (Any —token invalid→ UNREGISTERED) */
    FEED(&r, loaded(false, man(true, true, T0 + H, 60), NO_MANIFEST),
         "ENTER UNREGISTERED; START_PAIRING");
    assert_string_equal(fsm_heartbeat_state(&r.f), "PAIRING");
    assert_int_equal(fsm_next_wakeup(&r.f, r.now), T0 + H); /* only the expiry, no poll */
    FEED(&r, ev(FSM_EV_TICK), "");
    FEED(&r, command(FSM_CMD_REBOOT_APP), "");
    FEED(&r, ev(FSM_EV_SERVER_HINT), "");
    FEED(&r, ev(FSM_EV_ITEM_END), "");
    FEED(&r, api(401), "");
    /* paired: cached content plays at once, and a full sync starts */
    r.now += MIN;
    FEED(&r, ev(FSM_EV_PAIRED), PLAYS_CURRENT);
    FEED(&r, ev(FSM_EV_PAIRED), "");
}

/* 401 twice (§25.10, §28.10): from the manifest, from other endpoints, from any state. */
static void token_invalid(void **state)
{
    struct rig r;
    playing(&r);
    POLL(&r, "FETCH #2 CURRENT");
    FEED(&r, ANSWER(&r, 401), "EMIT MANIFEST_FETCH_FAILED =401 UNAUTHORIZED; POLL +5s");
    POLL(&r, "FETCH #3 CURRENT");
    r.now += S;
    FEED(&r, ANSWER(&r, 401),
         "EMIT MANIFEST_FETCH_FAILED =401 UNAUTHORIZED; ENTER UNREGISTERED; CLEAR_TOKEN; "
         "EMIT DEVICE_TOKEN_INVALID =401 UNAUTHORIZED; START_PAIRING");
    assert_false(r.f.has_token);
    assert_int_equal(r.f.active, FSM_SLOT_NONE);
    assert_int_equal(fsm_sync_status(&r.f, NULL, r.now), FSM_SYNC_STALE);

    /* a success between two 401s starts the count again */
    playing(&r);
    POLL(&r, "FETCH #2 CURRENT");
    FEED(&r, ANSWER(&r, 401), "EMIT MANIFEST_FETCH_FAILED =401 UNAUTHORIZED; POLL +5s");
    POLL(&r, "FETCH #3 CURRENT");
    FEED(&r, ANSWER(&r, 304), "POLL +60s");
    FEED(&r, api(401), "POLL +5s");
    FEED(&r, api(204), "");
    FEED(&r, api(401), "POLL +5s");
    /* two 401s from other endpoints, a 5xx between them (it proves nothing either way) */
    POLL(&r, "FETCH #4 CURRENT");
    FEED(&r, api(503), "");
    FEED(&r, api(401),
         "ENTER UNREGISTERED; CLEAR_TOKEN; EMIT DEVICE_TOKEN_INVALID =401 UNAUTHORIZED; "
         "START_PAIRING");
    /* the answer of the fetch that was running is ignored, even after pairing again */
    uint32_t stale = r.fetch_id;
    FEED(&r, ANSWER(&r, 200), "");
    FEED(&r, ev(FSM_EV_PAIRED),
         "ENTER PLAYABLE_CHECK; ENTER PLAYING; PLAY CURRENT; POLL +0s; FETCH #6 full");
    r.fetch_id = stale;
    FEED(&r, ANSWER(&r, 401), "");
    assert_true(r.f.has_token);

    /* from the error screen, with a staged manifest that goes with the token */
    empty(&r);
    FEED(&r, fresh(&r, man(false, false, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    FEED(&r, api(401), "POLL +5s");
    FEED(&r, api(401),
         "ENTER UNREGISTERED; CLEAR_TOKEN; EMIT DEVICE_TOKEN_INVALID =401 UNAUTHORIZED; "
         "DISCARD_STAGED; START_PAIRING");
    assert_int_equal(r.f.staged_state, FSM_STAGED_NONE);

    /* auth_fail_limit 1: the first 401 is enough */
    struct fsm_config cfg;
    fsm_config_default(&cfg);
    cfg.auth_fail_limit = 1;
    start(&r, &cfg);
    FEED(&r, loaded(true, man(true, true, T0 + H, 60), NO_MANIFEST), PLAYS_CURRENT);
    FEED(&r, ANSWER(&r, 401),
         "EMIT MANIFEST_FETCH_FAILED =401 UNAUTHORIZED; ENTER UNREGISTERED; CLEAR_TOKEN; "
         "EMIT DEVICE_TOKEN_INVALID =401 UNAUTHORIZED; START_PAIRING");
}

/* ---- two-phase apply (§28.5) ---------------------------------------------------------------- */

static void apply_at_boundary_when_ready(void **state)
{
    struct rig r;
    playing(&r);
    POLL(&r, "FETCH #2 CURRENT");
    FEED(&r, fresh(&r, man(true, false, T0 + 2 * H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    assert_int_equal(r.f.staged_state, FSM_STAGED_WAITING_ASSETS);
    /* partly downloaded, current still valid: boundaries pass, nothing is applied */
    FEED(&r, ev(FSM_EV_ITEM_END), "");
    /* the next poll sends the staged ETag */
    POLL(&r, "FETCH #3 STAGED");
    FEED(&r, ANSWER(&r, 304), "POLL +60s");
    /* all assets ready mid-item: wait */
    r.now += S;
    FEED(&r, assets(READY, READY, READY), "");
    assert_int_equal(r.f.staged_state, FSM_STAGED_READY);
    FEED(&r, ev(FSM_EV_TICK), "");
    /* the item ends: previous ← current, current ← staged, play it from the start */
    r.now += S;
    FEED(&r, ev(FSM_EV_ITEM_END), "APPLY rotate; EMIT MANIFEST_APPLIED CURRENT; PLAY CURRENT");
    assert_int_equal(r.f.staged_state, FSM_STAGED_NONE);
    assert_int_equal(r.f.current.valid_to_ms, T0 + 2 * H);
    assert_int_equal(r.f.previous.valid_to_ms, T0 + H);
    FEED(&r, ev(FSM_EV_ITEM_END), "");

    /* a manifest whose assets are all cached already is READY at once */
    POLL(&r, "FETCH #4 CURRENT");
    FEED(&r, fresh(&r, man(true, true, T0 + 3 * H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    FEED(&r, ev(FSM_EV_ITEM_END), "APPLY rotate; EMIT MANIFEST_APPLIED CURRENT; PLAY CURRENT");
}

static void apply_partial_when_expired(void **state)
{
    struct rig r;
    start(&r, NULL);
    FEED(&r, loaded(true, man(true, true, T0 + 10 * MIN, 600), man(true, true, T0, 60)),
         PLAYS_CURRENT);
    FEED(&r, fresh(&r, man(false, false, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    r.now += S;
    FEED(&r, assets(READY, READY, PARTIAL), "");
    FEED(&r, ev(FSM_EV_ITEM_END), ""); /* partial, current valid: no */
    assert_false(fsm_staged_applicable(&r.f, r.now));
    assert_true(fsm_staged_applicable(&r.f, T0 + 10 * MIN));
    /* current expires mid-video: still wait for its end */
    r.now = T0 + 10 * MIN;
    FEED(&r, ev(FSM_EV_TICK), "FETCH #2 STAGED");
    FEED(&r, ANSWER(&r, 304), "POLL +60s");
    r.now += 20 * S;
    FEED(&r, ev(FSM_EV_ITEM_END), "APPLY rotate; EMIT MANIFEST_APPLIED CURRENT; PLAY CURRENT");

    /* expired, but not one item playable: keep the expired one on screen */
    start(&r, NULL);
    FEED(&r, loaded(true, man(true, true, T0 - MIN, 60), NO_MANIFEST), PLAYS_CURRENT);
    FEED(&r, fresh(&r, man(false, false, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    FEED(&r, ev(FSM_EV_ITEM_END), "");
    FEED(&r, assets(READY, MISSING, PARTIAL), "");
    FEED(&r, ev(FSM_EV_ITEM_END), "APPLY rotate; EMIT MANIFEST_APPLIED CURRENT; PLAY CURRENT");

    /* nothing on screen (first content after pairing): partial applies at once */
    empty(&r);
    FEED(&r, fresh(&r, man(false, false, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    FEED(&r, assets(MISSING, MISSING, PARTIAL),
         "APPLY; EMIT MANIFEST_APPLIED CURRENT; ENTER PLAYING; PLAY CURRENT");
}

static void apply_keeps_good_previous(void **state)
{
    struct rig r;
    start(&r, NULL);
    /* current unplayable (its assets failed), previous plays as the fallback */
    FEED(&r, loaded(true, man(false, false, T0 + H, 60), man(true, true, T0 - H, 60)),
         PLAYS_PREVIOUS);
    FEED(&r, fresh(&r, man(true, true, T0 + 2 * H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    /* the current one is no fallback: it is dropped, the previous one kept */
    FEED(&r, ev(FSM_EV_ITEM_END), "APPLY; EMIT MANIFEST_APPLIED CURRENT; PLAY CURRENT");
    assert_int_equal(r.f.previous.valid_to_ms, T0 - H);
    assert_int_equal(r.f.current.valid_to_ms, T0 + 2 * H);
}

static void apply_null_playlist(void **state)
{
    struct rig r;
    playing(&r);
    POLL(&r, "FETCH #2 CURRENT");
    /* playlist null: complete, nothing to play; the last content stays on screen as fallback */
    FEED(&r, fresh(&r, man(false, true, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    FEED(&r, ev(FSM_EV_ITEM_END),
         "APPLY rotate; EMIT MANIFEST_APPLIED CURRENT; "
         "EMIT FALLBACK_TO_PREVIOUS_MANIFEST PREVIOUS; PLAY PREVIOUS");
    assert_int_equal(fsm_sync_status(&r.f, NULL, r.now), FSM_SYNC_SYNCED);
    /* on the error screen it applies at once and the card stays */
    empty(&r);
    FEED(&r, fresh(&r, man(false, true, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s; APPLY; EMIT MANIFEST_APPLIED CURRENT");
    assert_int_equal(r.f.state, FSM_ERROR_SCREEN);
}

static void reject_and_replace(void **state)
{
    struct rig r;
    playing(&r);
    POLL(&r, "FETCH #2 CURRENT");
    struct fsm_event bad = fresh(&r, man(true, true, T0 + H, 60));
    bad.fetch.valid = false;
    FEED(&r, bad, "REJECT FETCHED INVALID; EMIT MANIFEST_REJECTED FETCHED INVALID; POLL +60s");
    assert_int_equal(r.f.staged_state, FSM_STAGED_REJECTED);
    /* the rejected ETag goes in If-None-Match: 304 while the server holds it */
    POLL(&r, "FETCH #3 STAGED");
    FEED(&r, ANSWER(&r, 304), "POLL +60s");
    /* a full sync brings it again: recognised, not rejected twice */
    POLL(&r, "FETCH #4 STAGED");
    FEED(&r, same(&r, FSM_SLOT_STAGED), "POLL +60s");
    /* a new one replaces it */
    POLL(&r, "FETCH #5 STAGED");
    FEED(&r, fresh(&r, man(true, false, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    /* the shell finds it permanently unplayable */
    struct fsm_event dead = assets(READY, READY, PARTIAL);
    dead.assets.staged_unplayable = true;
    FEED(&r, dead, "REJECT STAGED UNPLAYABLE; EMIT MANIFEST_REJECTED STAGED UNPLAYABLE");
    FEED(&r, ev(FSM_EV_ITEM_END), "");
    /* the server goes back to what plays: the candidate is dropped */
    POLL(&r, "FETCH #6 STAGED");
    FEED(&r, fresh(&r, man(true, false, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    POLL(&r, "FETCH #7 STAGED");
    FEED(&r, same(&r, FSM_SLOT_CURRENT), "DISCARD_STAGED; POLL +60s");
    POLL(&r, "FETCH #8 CURRENT");
    /* a newer manifest replaces a staged one still downloading */
    FEED(&r, fresh(&r, man(true, false, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    POLL(&r, "FETCH #9 STAGED");
    FEED(&r, fresh(&r, man(true, true, T0 + 2 * H, 30)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +30s");
    assert_int_equal(r.f.staged_state, FSM_STAGED_READY);
}

/* ---- the sync loop (§28.6, device content sync story) ---------------------------------------- */

static void poll_schedule(void **state)
{
    struct rig r;
    start(&r, NULL);
    FEED(&r, loaded(true, man(true, true, T0 + H, 60), NO_MANIFEST), PLAYS_CURRENT);
    /* nextCheckSeconds of the manifest held */
    FEED(&r, ANSWER(&r, 304), "POLL +60s");
    POLL(&r, "FETCH #2 CURRENT");
    /* of the new one; clamped to min_poll and to max_poll (the periodic sync, 4 h) */
    FEED(&r, fresh(&r, man(true, false, T0 + 10 * H, 1)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +5s");
    POLL(&r, "FETCH #3 STAGED");
    FEED(&r, fresh(&r, man(true, false, T0 + 10 * H, 86400)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +14400s");
    POLL(&r, "FETCH #4 STAGED");
    FEED(&r, fresh(&r, man(true, false, T0 + 10 * H, 0)), /* none: the default */
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    /* sooner as validToUtc nears: at it, but not sooner than min_poll */
    POLL(&r, "FETCH #5 STAGED");
    FEED(&r, fresh(&r, man(true, false, r.now + 20 * S, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +20s");
    POLL(&r, "FETCH #6 STAGED");
    FEED(&r, fresh(&r, man(true, false, r.now + 2 * S, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +5s");
    /* already past (the device clock runs ahead): nextCheckSeconds */
    POLL(&r, "FETCH #7 STAGED");
    FEED(&r, fresh(&r, man(true, false, r.now - 2 * S, 45)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +45s");
    /* a push hint or a link coming up while online: sync at once */
    r.now += S;
    FEED(&r, ev(FSM_EV_SERVER_HINT), "POLL +0s; FETCH #8 STAGED");
    FEED(&r, ev(FSM_EV_SERVER_HINT), ""); /* one in flight: once more right after it */
    FEED(&r, ANSWER(&r, 304), "POLL +0s; FETCH #9 STAGED");
    FEED(&r, ANSWER(&r, 304), "POLL +45s");
    FEED(&r, ev(FSM_EV_NETWORK_UP), ""); /* online already */
    /* the clock jumps back a day: the plan is brought forward */
    r.now -= 24 * H;
    FEED(&r, ev(FSM_EV_TICK), "POLL +0s; FETCH #10 STAGED");
}

static void backoff_full_jitter(void **state)
{
    struct fsm_config cfg;
    fsm_config_default(&cfg);
    /* the ceiling doubles from base to cap; the jitter picks within [0, ceiling] */
    const int64_t ceilings[] = {5, 10, 20, 40, 80, 160, 300, 300, 300};
    for (unsigned n = 1; n <= 9; n++) {
        assert_int_equal(fsm_backoff_ms(&cfg, n, UINT32_MAX), ceilings[n - 1] * S);
        assert_int_equal(fsm_backoff_ms(&cfg, n, 0), 0);
        assert_int_equal(fsm_backoff_ms(&cfg, n, UINT32_MAX / 2), ceilings[n - 1] * S / 2 - 1);
    }
    assert_int_equal(fsm_backoff_ms(&cfg, 0, UINT32_MAX), 0);
    assert_int_equal(fsm_backoff_ms(&cfg, UINT32_MAX, UINT32_MAX), 300 * S);
    cfg.backoff_cap_ms = FSM_CONFIG_MAX_MS;
    cfg.backoff_base_ms = FSM_CONFIG_MAX_MS;
    assert_int_equal(fsm_backoff_ms(&cfg, 40, UINT32_MAX), FSM_CONFIG_MAX_MS);

    /* in the loop: offline edges, failure events once per outage, the ceiling per failure */
    struct rig r;
    playing(&r);
    POLL(&r, "FETCH #2 CURRENT");
    FEED(&r, ANSWER(&r, 0),
         "EMIT OFFLINE_ENTERED =T0+1s; EMIT MANIFEST_FETCH_FAILED NETWORK; POLL +5s");
    POLL(&r, "FETCH #3 CURRENT");
    FEED(&r, ANSWER(&r, 0), "POLL +10s");
    POLL(&r, "FETCH #4 CURRENT");
    FEED(&r, result(&r, 0, -1, 0), "POLL +0s; FETCH #5 CURRENT");
    FEED(&r, ANSWER(&r, 0), "POLL +40s");
    POLL(&r, "FETCH #6 CURRENT");
    FEED(&r, ANSWER(&r, 0), "POLL +80s");
    POLL(&r, "FETCH #7 CURRENT");
    FEED(&r, ANSWER(&r, 0), "POLL +160s");
    POLL(&r, "FETCH #8 CURRENT");
    FEED(&r, ANSWER(&r, 0), "POLL +300s");
    assert_int_equal(r.f.fetch_failures, 7);
    /* the server answers, badly: online again, every failure reported, backoff continues */
    POLL(&r, "FETCH #9 CURRENT");
    int64_t outage = r.now - (T0 + 61 * S);
    char expected[256];
    snprintf(expected, sizeof(expected),
             "EMIT ONLINE_RESTORED =%lld; EMIT MANIFEST_FETCH_FAILED =500 SERVER_ERROR; "
             "POLL +300s",
             (long long)(outage / S));
    FEED(&r, ANSWER(&r, 500), expected);
    POLL(&r, "FETCH #10 CURRENT");
    FEED(&r, ANSWER(&r, 404), "EMIT MANIFEST_FETCH_FAILED =404 HTTP_ERROR; POLL +300s");
    /* success: the count and the ceiling start again */
    POLL(&r, "FETCH #11 CURRENT");
    FEED(&r, ANSWER(&r, 304), "POLL +60s");
    POLL(&r, "FETCH #12 CURRENT");
    FEED(&r, ANSWER(&r, 502), "EMIT MANIFEST_FETCH_FAILED =502 SERVER_ERROR; POLL +5s");
}

static void retry_after(void **state)
{
    struct rig r;
    playing(&r);
    POLL(&r, "FETCH #2 CURRENT");
    FEED(&r, result(&r, 429, 120, 0), "EMIT MANIFEST_FETCH_FAILED =429 RATE_LIMITED; POLL +120s");
    /* nothing fetches before it: not a refresh, not a push, not a link coming up */
    r.now += 30 * S;
    FEED(&r, command(FSM_CMD_REQUEST_MANIFEST_REFRESH),
         "POLL +90s; EXECUTE REQUEST_MANIFEST_REFRESH");
    FEED(&r, ev(FSM_EV_SERVER_HINT), "POLL +90s");
    r.now += 90 * S;
    FEED(&r, ev(FSM_EV_TICK), "FETCH #3 full");
    /* 503 with a Retry-After beyond the cap: the cap */
    FEED(&r, result(&r, 503, 7200, 0), "EMIT MANIFEST_FETCH_FAILED =503 SERVER_ERROR; POLL +3600s");
    POLL(&r, "FETCH #4 full");
    /* 503 without one: backoff (third failure in a row) */
    FEED(&r, result(&r, 503, -1, UINT32_MAX),
         "EMIT MANIFEST_FETCH_FAILED =503 SERVER_ERROR; POLL +20s");
    POLL(&r, "FETCH #5 full");
    /* Retry-After: 0 */
    FEED(&r, result(&r, 429, 0, UINT32_MAX),
         "EMIT MANIFEST_FETCH_FAILED =429 RATE_LIMITED; POLL +0s; FETCH #6 full");
    /* a Retry-After on another status is not ours to honour */
    FEED(&r, result(&r, 500, 60, UINT32_MAX),
         "EMIT MANIFEST_FETCH_FAILED =500 SERVER_ERROR; POLL +80s");
    /* a clock jumping back forgets a wait planned too far ahead */
    POLL(&r, "FETCH #7 full");
    FEED(&r, result(&r, 429, 600, 0), "EMIT MANIFEST_FETCH_FAILED =429 RATE_LIMITED; POLL +600s");
    r.now -= 2 * 24 * H;
    FEED(&r, ev(FSM_EV_TICK), "POLL +0s; FETCH #8 full");
    assert_int_equal(r.f.not_before_ms, 0);
}

static void full_sync(void **state)
{
    struct rig r;
    playing(&r); /* the first sync after boot was full (above); the next ones conditional */
    POLL(&r, "FETCH #2 CURRENT");
    FEED(&r, ANSWER(&r, 304), "POLL +60s");
    /* a refresh command: full, now */
    r.now += S;
    FEED(&r, command(FSM_CMD_REQUEST_MANIFEST_REFRESH),
         "POLL +0s; EXECUTE REQUEST_MANIFEST_REFRESH; FETCH #3 full");
    /* a full sync that fails is full again next time */
    FEED(&r, ANSWER(&r, 0),
         "EMIT OFFLINE_ENTERED =T0+61s; EMIT MANIFEST_FETCH_FAILED NETWORK; POLL +5s");
    POLL(&r, "FETCH #4 full");
    FEED(&r, same(&r, FSM_SLOT_CURRENT), "EMIT ONLINE_RESTORED =5; POLL +60s");
    POLL(&r, "FETCH #5 CURRENT");
    /* a refresh while a fetch runs: full, right after it */
    FEED(&r, command(FSM_CMD_REQUEST_MANIFEST_REFRESH), "EXECUTE REQUEST_MANIFEST_REFRESH");
    FEED(&r, ANSWER(&r, 304), "POLL +0s; FETCH #6 full");
    FEED(&r, same(&r, FSM_SLOT_CURRENT), "POLL +60s");
    /* offline more than 24 h: the first sync back is full */
    POLL(&r, "FETCH #7 CURRENT");
    int64_t last_sync = r.f.last_sync_ms;
    FEED(&r, ANSWER(&r, 0),
         "EMIT OFFLINE_ENTERED =T0+127s; EMIT MANIFEST_FETCH_FAILED NETWORK; POLL +5s");
    while (r.f.next_fetch_ms <= last_sync + 24 * H) {
        r.now = r.f.next_fetch_ms;
        feed(&r, ev(FSM_EV_TICK));
        assert_int_equal(r.a.n, 1);
        assert_int_equal(r.a.a[0].type, FSM_ACT_FETCH_MANIFEST);
        assert_false(r.a.a[0].full);
        feed(&r, ANSWER(&r, 0));
    }
    char expected[128];
    uint32_t id = r.fetch_id;
    snprintf(expected, sizeof(expected), "FETCH #%u full", id + 1);
    POLL(&r, expected);
    /* the link coming back: at once, without waiting out the backoff */
    r.now += S;
    FEED(&r, ev(FSM_EV_NETWORK_DOWN), "");
    FEED(&r, ANSWER(&r, 0), "POLL +300s");
    snprintf(expected, sizeof(expected), "POLL +0s; FETCH #%u full", id + 2);
    FEED(&r, ev(FSM_EV_NETWORK_UP), expected);
    snprintf(expected, sizeof(expected), "EMIT ONLINE_RESTORED =%lld; POLL +60s",
             (long long)((r.now - (T0 + 187 * S)) / S));
    FEED(&r, same(&r, FSM_SLOT_CURRENT), expected);
    snprintf(expected, sizeof(expected), "FETCH #%u CURRENT", id + 3);
    POLL(&r, expected);
}

static void offline_edges(void **state)
{
    struct rig r;
    playing(&r);
    r.now += S;
    FEED(&r, ev(FSM_EV_NETWORK_DOWN), "EMIT OFFLINE_ENTERED =T0+1s");
    FEED(&r, ev(FSM_EV_NETWORK_DOWN), "");
    r.now += 10 * S;
    FEED(&r, ev(FSM_EV_NETWORK_UP), "POLL +0s; FETCH #2 CURRENT");
    FEED(&r, ev(FSM_EV_NETWORK_UP), ""); /* one in flight: after it */
    FEED(&r, ANSWER(&r, 304), "EMIT ONLINE_RESTORED =10; POLL +0s; FETCH #3 CURRENT");
    FEED(&r, ANSWER(&r, 304), "POLL +60s");
    /* any HTTP answer from another endpoint proves the network; none proves nothing good */
    FEED(&r, api(0), "EMIT OFFLINE_ENTERED =T0+12s");
    r.now += 5 * S;
    FEED(&r, api(503), "EMIT ONLINE_RESTORED =5");
    /* a 2xx after being offline is a sync trigger: the poll comes now, not after its backoff */
    FEED(&r, api(0), "EMIT OFFLINE_ENTERED =T0+17s");
    r.now += 3 * S;
    FEED(&r, api(204), "EMIT ONLINE_RESTORED =3; POLL +0s; FETCH #4 CURRENT");
    FEED(&r, api(204), "");
}

/* ---- commands (§28.7) ----------------------------------------------------------------------- */

static void commands_at_boundaries(void **state)
{
    struct rig r;
    playing(&r);
    FEED(&r, command(FSM_CMD_SET_LOG_LEVEL), "EXECUTE SET_LOG_LEVEL");
    FEED(&r, command(FSM_CMD_REBOOT_APP), "");
    FEED(&r, command(FSM_CMD_CLEAR_CACHE_ALL), "");
    FEED(&r, command(FSM_CMD_CLEAR_CACHE_UNUSED), "");
    FEED(&r, command(FSM_CMD_CLEAR_CACHE_ALL), ""); /* twice: once, the shell acks both */
    FEED(&r, ev(FSM_EV_TICK), "");
    FEED(&r, ev(FSM_EV_ITEM_END),
         "EXECUTE CLEAR_CACHE_UNUSED; EXECUTE CLEAR_CACHE_ALL; EXECUTE REBOOT_APP");
    assert_int_equal(r.f.pending_commands, 0);
    FEED(&r, ev(FSM_EV_ITEM_END), "");
    /* the loop restarts from its first item at the boundary */
    FEED(&r, command(FSM_CMD_RESTART_PLAYBACK_LOOP), "");
    FEED(&r, ev(FSM_EV_ITEM_END), "PLAY CURRENT; EXECUTE RESTART_PLAYBACK_LOOP");
    /* with an apply at the same boundary, the apply comes first, then the reboot */
    POLL(&r, "FETCH #2 CURRENT");
    FEED(&r, fresh(&r, man(true, true, T0 + H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    FEED(&r, command(FSM_CMD_REBOOT_APP), "");
    FEED(&r, ev(FSM_EV_ITEM_END),
         "APPLY rotate; EMIT MANIFEST_APPLIED CURRENT; PLAY CURRENT; EXECUTE REBOOT_APP");
    /* the renderer giving up is a boundary too */
    FEED(&r, command(FSM_CMD_CLEAR_CACHE_ALL), "");
    FEED(&r, impossible(FSM_SLOT_CURRENT),
         "ENTER PLAYABLE_CHECK; ENTER PLAYING; EMIT FALLBACK_TO_PREVIOUS_MANIFEST PREVIOUS; "
         "PLAY PREVIOUS; EXECUTE CLEAR_CACHE_ALL");
    /* on the error screen nothing plays: at once */
    FEED(&r, impossible(FSM_SLOT_PREVIOUS),
         "ENTER PLAYABLE_CHECK; ENTER ERROR_SCREEN; SHOW_ERROR_SCREEN; "
         "EMIT NO_PLAYABLE_CONTENT CURRENT; EMIT ERROR_SCREEN_ENTERED PLAYBACK_FAILED");
    FEED(&r, command(FSM_CMD_RESTART_PLAYBACK_LOOP), "EXECUTE RESTART_PLAYBACK_LOOP");
    FEED(&r, command(FSM_CMD_REBOOT_APP), "EXECUTE REBOOT_APP");
    /* unknown commands are ignored */
    FEED(&r, command((enum fsm_command)FSM_COMMAND_COUNT), "");

    /* names round-trip */
    for (int c = 0; c < FSM_COMMAND_COUNT; c++) {
        enum fsm_command back = FSM_CMD_SET_LOG_LEVEL;
        assert_int_equal(fsm_command_parse(fsm_command_name((enum fsm_command)c), &back), 0);
        assert_int_equal(back, c);
    }
    enum fsm_command keep = FSM_CMD_REBOOT_APP;
    assert_int_equal(fsm_command_parse("REBOOT", &keep), -EINVAL);
    assert_int_equal(fsm_command_parse(NULL, &keep), -EINVAL);
    assert_int_equal(keep, FSM_CMD_REBOOT_APP);
}

/* ---- sync status ---------------------------------------------------------------------------- */

static void sync_status(void **state)
{
    struct rig r;
    struct fsm_downloads d = {0, 0, 0};
    start(&r, NULL);
    assert_int_equal(fsm_sync_status(&r.f, NULL, r.now), FSM_SYNC_PENDING); /* booting */
    playing(&r);
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_SYNCED);
    assert_int_equal(fsm_sync_status(&r.f, NULL, r.now), FSM_SYNC_SYNCED);
    d.queued = 2;
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_PENDING);
    d.active = 1;
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_SYNCING);
    d.failed = 1;
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_FAILED);
    d = (struct fsm_downloads){0, 0, 0};

    /* a staged manifest: PENDING until a transfer runs, SYNCING until applied */
    POLL(&r, "FETCH #2 CURRENT");
    FEED(&r, fresh(&r, man(true, false, T0 + 2 * H, 60)),
         "STAGE; EMIT MANIFEST_STAGED STAGED; POLL +60s");
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_PENDING);
    d.active = 1;
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_SYNCING);
    d.active = 0;
    FEED(&r, assets(READY, READY, READY), "");
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_SYNCING);
    FEED(&r, ev(FSM_EV_ITEM_END), "APPLY rotate; EMIT MANIFEST_APPLIED CURRENT; PLAY CURRENT");
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_SYNCED);

    /* fetches failing: FAILED from the third in a row */
    POLL(&r, "FETCH #3 CURRENT");
    FEED(&r, ANSWER(&r, 500), "EMIT MANIFEST_FETCH_FAILED =500 SERVER_ERROR; POLL +5s");
    POLL(&r, "FETCH #4 CURRENT");
    FEED(&r, ANSWER(&r, 500), "EMIT MANIFEST_FETCH_FAILED =500 SERVER_ERROR; POLL +10s");
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_SYNCED);
    POLL(&r, "FETCH #5 CURRENT");
    FEED(&r, ANSWER(&r, 500), "EMIT MANIFEST_FETCH_FAILED =500 SERVER_ERROR; POLL +20s");
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_FAILED);

    /* STALE: current expired 15 min ago with nothing newer, or no sync for 24 h */
    int64_t expiry = r.f.current.valid_to_ms;
    int64_t last = r.f.last_sync_ms;
    assert_int_equal(fsm_sync_status(&r.f, &d, expiry + 15 * MIN - 1), FSM_SYNC_FAILED);
    assert_int_equal(fsm_sync_status(&r.f, &d, expiry + 15 * MIN), FSM_SYNC_STALE);
    r.f.current.valid_to_ms = last + 48 * H;
    assert_int_equal(fsm_sync_status(&r.f, &d, last + 24 * H - 1), FSM_SYNC_FAILED);
    assert_int_equal(fsm_sync_status(&r.f, &d, last + 24 * H), FSM_SYNC_STALE);

    /* no manifest yet after pairing: PENDING */
    empty(&r);
    assert_int_equal(fsm_sync_status(&r.f, &d, r.now), FSM_SYNC_PENDING);
    struct fsm booting;
    assert_int_equal(fsm_init(&booting, NULL), 0);
    booting.has_token = true;
    assert_int_equal(fsm_sync_status(&booting, &d, r.now), FSM_SYNC_PENDING);
}

/* ---- refused input, names ------------------------------------------------------------------- */

static void refused(void **state)
{
    struct rig r;
    playing(&r);
    struct fsm before = r.f;
    struct fsm_actions out;
    memset(&out, 0x5a, sizeof(out));
    struct fsm_actions untouched = out;
    struct fsm_event e = ev(FSM_EV_TICK);
    e.now_ms = INT64_C(1) << 60;
    assert_int_equal(fsm_step(&r.f, &e, &out), -EINVAL);
    e.now_ms = T0;
    e.type = (enum fsm_event_type)99;
    assert_int_equal(fsm_step(&r.f, &e, &out), -EINVAL);
    assert_int_equal(fsm_step(NULL, &e, &out), -EINVAL);
    assert_int_equal(fsm_step(&r.f, NULL, &out), -EINVAL);
    assert_int_equal(fsm_step(&r.f, &e, NULL), -EINVAL);
    assert_memory_equal(&r.f, &before, sizeof(before));
    assert_memory_equal(&out, &untouched, sizeof(out));

    struct fsm_config cfg;
    struct fsm f;
    memset(&f, 0x77, sizeof(f));
    struct fsm keep = f;
    assert_int_equal(fsm_init(NULL, NULL), -EINVAL);
    fsm_config_default(&cfg);
    cfg.backoff_base_ms = cfg.backoff_cap_ms + 1;
    assert_int_equal(fsm_init(&f, &cfg), -EINVAL);
    fsm_config_default(&cfg);
    cfg.min_poll_ms = 0;
    assert_int_equal(fsm_init(&f, &cfg), -EINVAL);
    fsm_config_default(&cfg);
    cfg.default_poll_ms = cfg.max_poll_ms + 1;
    assert_int_equal(fsm_init(&f, &cfg), -EINVAL);
    fsm_config_default(&cfg);
    cfg.retry_after_cap_ms = FSM_CONFIG_MAX_MS + 1;
    assert_int_equal(fsm_init(&f, &cfg), -EINVAL);
    fsm_config_default(&cfg);
    cfg.auth_fail_limit = 0;
    assert_int_equal(fsm_init(&f, &cfg), -EINVAL);
    assert_memory_equal(&f, &keep, sizeof(f));

    /* every name is one, and an unknown value is "?" */
#define ALL_NAMED(fn, type, last)                                                                  \
    do {                                                                                           \
        for (int i = 0; i <= (int)(last); i++)                                                     \
            assert_string_not_equal(fn((type)i), "?");                                             \
    } while (0)
    ALL_NAMED(fsm_state_name, enum fsm_state, FSM_UNREGISTERED);
    ALL_NAMED(fsm_event_name, enum fsm_event_type, FSM_EV_NETWORK_DOWN);
    ALL_NAMED(fsm_action_name, enum fsm_action_type, FSM_ACT_EXECUTE_COMMAND);
    ALL_NAMED(fsm_slot_name, enum fsm_slot, FSM_SLOT_FETCHED);
    ALL_NAMED(fsm_staged_name, enum fsm_staged, FSM_STAGED_REJECTED);
    ALL_NAMED(fsm_reason_name, enum fsm_reason, FSM_REASON_HTTP_ERROR);
    ALL_NAMED(fsm_sync_status_name, enum fsm_sync_status, FSM_SYNC_STALE);
    ALL_NAMED(fsm_emit_name, enum fsm_emit, FSM_EMIT_CACHE_EVICTION);
    ALL_NAMED(fsm_emit_severity, enum fsm_emit, FSM_EMIT_CACHE_EVICTION);
    ALL_NAMED(fsm_command_name, enum fsm_command, FSM_COMMAND_COUNT - 1);
#undef ALL_NAMED
    assert_string_equal(fsm_state_name((enum fsm_state)42), "?");
    assert_string_equal(fsm_emit_name((enum fsm_emit)42), "?");
    assert_string_equal(fsm_command_name((enum fsm_command)42), "?");
    assert_string_equal(fsm_emit_severity(FSM_EMIT_FALLBACK_TO_PREVIOUS_MANIFEST), "WARNING");
    assert_string_equal(fsm_sync_status_name(FSM_SYNC_STALE), "STALE");
}

/* ---- property: a model of the shell feeding random, consistent events ---------------------- */

#ifndef PROPERTY_CASES
#define PROPERTY_CASES 2000
#endif
#ifndef PROPERTY_SEED
#define PROPERTY_SEED 0x2545f4914f6cdd1dull
#endif
#define STEPS 400

#include "../rng.h" /* after PROPERTY_SEED */

struct wslot {
    bool present, playable, complete;
    int64_t valid_to, broken_until;
};

enum { W_NONE, W_LIVE, W_REJECTED };

struct world {
    struct fsm f;
    struct fsm_config cfg;
    int64_t now;
    struct wslot cur, prev, stg, body; /* body: the manifest the fetch in flight brings */
    int stg_state;
    bool token, in_flight, showing;
    uint32_t fetch_id;
    enum fsm_slot on_screen;
    unsigned failures;
    int64_t last_sync;
    unsigned applies, partial_applies, fallbacks, errors, unregisters, rejects, reboots, waits;
    unsigned fetches, backoffs;
};

static bool w_eff(const struct wslot *m, int64_t now)
{
    return m->present && m->playable && now >= m->broken_until;
}

static bool w_applicable(const struct world *w)
{
    if (w->stg_state != W_LIVE)
        return false;
    return w->stg.complete ||
           (w->stg.playable && (!w->cur.present || w->now >= w->cur.valid_to ||
                                (!w_eff(&w->cur, w->now) && !w_eff(&w->prev, w->now))));
}

static struct wslot *w_slot(struct world *w, enum fsm_slot s)
{
    return s == FSM_SLOT_CURRENT ? &w->cur : s == FSM_SLOT_PREVIOUS ? &w->prev : NULL;
}

static struct fsm_manifest_info w_info(const struct wslot *m)
{
    return (struct fsm_manifest_info){m->present, m->playable, m->complete, m->valid_to, 60};
}

static struct fsm_avail w_avail(const struct wslot *m)
{
    return (struct fsm_avail){m->playable, m->complete};
}

/* New availability: a null playlist stays what it is; otherwise anything, complete ⇒ playable. */
static void w_shuffle(struct wslot *m)
{
    if (!m->present || (m->complete && !m->playable) || rnd(3) != 0)
        return;
    m->playable = rnd(4) != 0;
    m->complete = m->playable && rnd(2) == 0;
}

static void w_reboot(struct world *w)
{
    w->stg = (struct wslot){0};
    w->stg_state = W_NONE;
    w->in_flight = w->showing = false;
    w->on_screen = FSM_SLOT_NONE;
    w->failures = 0;
    w->cur.broken_until = w->prev.broken_until = 0;
    assert_int_equal(fsm_init(&w->f, &w->cfg), 0);
    w->reboots++;
}

static struct fsm_event w_event(struct world *w, bool *boundary)
{
    struct fsm_event e = {.type = FSM_EV_TICK};
    *boundary = false;
    if (w->f.state == FSM_BOOT)
        return (struct fsm_event){.type = FSM_EV_BOOT_DONE};
    if (w->f.state == FSM_LOAD_LOCAL) { /* crash recovery: what was persisted, maybe corrupt */
        e.type = FSM_EV_LOCAL_LOADED;
        bool cc = w->cur.present && rnd(12) == 0, pc = w->prev.present && rnd(12) == 0;
        e.local =
            (struct fsm_local){w->token, w_info(&w->cur), w_info(&w->prev), cc, pc, w->last_sync};
        if (cc)
            w->cur = (struct wslot){0};
        if (pc)
            w->prev = (struct wslot){0};
        return e;
    }
    uint32_t pick = rnd(100);
    w->now += rnd(3000);
    if (w->f.state == FSM_UNREGISTERED && pick < 20) {
        w->token = true;
        e.type = FSM_EV_PAIRED;
    } else if (pick < 25) {
        w->now += rnd(30) == 0 ? (int64_t)(1 + rnd(30)) * H : (int64_t)rnd(90) * S;
    } else if (pick < 45 && w->in_flight) {
        static const int statuses[] = {200, 200, 200, 304, 304, 0, 0, 429, 503, 500, 401};
        e.type = FSM_EV_FETCH_RESULT;
        e.fetch = (struct fsm_fetch_result){.fetch_id = w->fetch_id,
                                            .http_status = statuses[rnd(11)],
                                            .retry_after_s = rnd(3) ? -1 : (int32_t)rnd(5000),
                                            .jitter = (uint32_t)rnd(UINT32_MAX)};
        uint32_t m = rnd(10);
        e.fetch.match = m < 6 ? FSM_SLOT_NONE : m < 8 ? FSM_SLOT_CURRENT : FSM_SLOT_STAGED;
        e.fetch.valid = rnd(10) != 0;
        bool playable = rnd(3) != 0;
        w->body =
            (struct wslot){true, playable, playable ? rnd(2) == 0 : rnd(4) == 0,
                           w->now + (rnd(4) ? (int64_t)rnd(7200) : -(int64_t)rnd(600)) * S, 0};
        e.fetch.manifest = w_info(&w->body);
        e.fetch.manifest.next_check_s = rnd(4) ? 1 + (int32_t)rnd(300) : 0;
        w->in_flight = false;
    } else if (pick < 60 && w->showing) {
        e.type = FSM_EV_ITEM_END;
        *boundary = true;
    } else if (pick < 72) {
        e.type = FSM_EV_ASSETS;
        w_shuffle(&w->cur);
        w_shuffle(&w->prev);
        if (w->stg_state == W_LIVE)
            w_shuffle(&w->stg);
        e.assets = (struct fsm_assets){w_avail(&w->cur), w_avail(&w->prev), w_avail(&w->stg),
                                       w->stg_state == W_LIVE && rnd(40) == 0};
    } else if (pick < 76 && w->showing) {
        e.type = FSM_EV_PLAYBACK_IMPOSSIBLE;
        e.slot = w->on_screen;
        w_slot(w, w->on_screen)->broken_until = w->now + w->cfg.broken_retry_ms;
        *boundary = true;
    } else if (pick < 82) {
        e.type = FSM_EV_COMMAND;
        e.command = (enum fsm_command)rnd(FSM_COMMAND_COUNT);
    } else if (pick < 85) {
        e.type = FSM_EV_SERVER_HINT;
    } else if (pick < 89) {
        e.type = rnd(2) ? FSM_EV_NETWORK_UP : FSM_EV_NETWORK_DOWN;
    } else if (pick < 93) {
        static const int statuses[] = {204, 204, 0, 401, 503};
        e.type = FSM_EV_API_STATUS;
        e.http_status = statuses[rnd(5)];
    } else if (pick == 93) {
        w_reboot(w);
        e.type = FSM_EV_BOOT_DONE;
    }
    return e;
}

/* Executes one action against the model, checking it is allowed. */
static void w_execute(struct world *w, const struct fsm_action *a, bool mid_item, int c, int i)
{
    switch (a->type) {
    case FSM_ACT_FETCH_MANIFEST:
        w->in_flight = true;
        w->fetch_id = a->fetch_id;
        w->fetches++;
        break;
    case FSM_ACT_STAGE:
        w->stg = w->body;
        w->stg_state = W_LIVE;
        break;
    case FSM_ACT_REJECT:
        w->stg = (struct wslot){0};
        w->stg_state = W_REJECTED;
        w->rejects++;
        break;
    case FSM_ACT_DISCARD_STAGED:
        w->stg = (struct wslot){0};
        w->stg_state = W_NONE;
        break;
    case FSM_ACT_APPLY_STAGED:
        if (mid_item)
            fail_msg("case %d step %d: applied mid-item", c, i);
        if (!w_applicable(w))
            fail_msg("case %d step %d: applied a staged manifest not ready (complete %d, "
                     "playable %d, current expired %d)",
                     c, i, w->stg.complete, w->stg.playable, w->now >= w->cur.valid_to);
        assert_int_equal(a->rotate, w_eff(&w->cur, w->now));
        w->applies++;
        w->partial_applies += !w->stg.complete && w->stg.playable;
        if (a->rotate)
            w->prev = w->cur;
        w->cur = w->stg;
        w->stg = (struct wslot){0};
        w->stg_state = W_NONE;
        break;
    case FSM_ACT_PLAY:
        if (mid_item)
            fail_msg("case %d step %d: switched manifests mid-item", c, i);
        if (!w_eff(w_slot(w, a->slot), w->now))
            fail_msg("case %d step %d: played %s, which cannot play", c, i, fsm_slot_name(a->slot));
        w->fallbacks += a->slot == FSM_SLOT_PREVIOUS;
        w->showing = true;
        w->on_screen = a->slot;
        break;
    case FSM_ACT_SHOW_ERROR_SCREEN:
        if (mid_item)
            fail_msg("case %d step %d: error card mid-item", c, i);
        w->errors++;
        w->showing = false;
        w->on_screen = FSM_SLOT_NONE;
        break;
    case FSM_ACT_START_PAIRING:
        w->showing = false;
        w->on_screen = FSM_SLOT_NONE;
        w->in_flight = false; /* superseded */
        w->failures = 0;
        break;
    case FSM_ACT_CLEAR_TOKEN:
        w->token = false;
        w->unregisters++;
        break;
    case FSM_ACT_SCHEDULE_POLL:
        assert_true(a->at_ms >= w->now);
        assert_true(a->at_ms <= w->now + w->cfg.max_poll_ms);
        break;
    case FSM_ACT_ENTER:
    case FSM_ACT_EMIT:
    case FSM_ACT_LOAD_LOCAL:
    case FSM_ACT_EXECUTE_COMMAND:
        break;
    }
}

static int64_t ra_delay(const struct world *w, int32_t ra)
{
    int64_t d = (int64_t)ra * S;
    return d < w->cfg.retry_after_cap_ms ? d : w->cfg.retry_after_cap_ms;
}

/* The sync loop's delay after a result: backoff bounds, Retry-After, success. */
static void w_check_delay(struct world *w, const struct fsm_event *e, const struct fsm_actions *out)
{
    int status = e->fetch.http_status;
    const struct fsm_action *poll = NULL;
    for (size_t k = 0; k < out->n; k++)
        if (out->a[k].type == FSM_ACT_SCHEDULE_POLL && !poll)
            poll = &out->a[k];
    if (status == 401)
        return;
    if (status == 200 || status == 304) {
        w->failures = 0;
        w->last_sync = w->now;
        return;
    }
    w->failures++;
    assert_non_null(poll);
    int64_t delay = poll->at_ms - w->now;
    if ((status == 429 || status == 503) && e->fetch.retry_after_s >= 0) {
        assert_int_equal(delay, ra_delay(w, e->fetch.retry_after_s));
        return;
    }
    int64_t ceiling = w->cfg.backoff_base_ms;
    for (unsigned k = 1; k < w->failures && ceiling < w->cfg.backoff_cap_ms; k++)
        ceiling *= 2;
    if (ceiling > w->cfg.backoff_cap_ms)
        ceiling = w->cfg.backoff_cap_ms;
    if (delay < 0 || delay > ceiling || delay > w->cfg.backoff_cap_ms)
        fail_msg("backoff %lld ms after %u failures, ceiling %lld", (long long)delay, w->failures,
                 (long long)ceiling);
    w->backoffs++;
}

static void w_check_after(struct world *w, bool boundary, int c, int i)
{
    const struct fsm *f = &w->f;
    switch (f->state) {
    case FSM_ERROR_SCREEN:
        assert_false(w->showing);
        if (w_eff(&w->cur, w->now) || w_eff(&w->prev, w->now) || w_applicable(w))
            fail_msg("case %d step %d: error card while something can play", c, i);
        break;
    case FSM_PLAYING:
        assert_true(w->showing);
        assert_true(w_slot(w, w->on_screen) && w_slot(w, w->on_screen)->present);
        assert_int_equal(f->active, w->on_screen);
        if (boundary) {
            if (!w_eff(w_slot(w, w->on_screen), w->now))
                fail_msg("case %d step %d: a boundary left an unplayable manifest on", c, i);
            if (w->on_screen == FSM_SLOT_PREVIOUS && w_eff(&w->cur, w->now))
                fail_msg("case %d step %d: previous on screen, current playable", c, i);
            if (w_applicable(w))
                fail_msg("case %d step %d: an applicable manifest waits past a boundary", c, i);
        } else if (w_applicable(w)) {
            w->waits++;
        }
        break;
    case FSM_UNREGISTERED:
        assert_false(w->showing);
        assert_false(w->token);
        break;
    case FSM_BOOT:
    case FSM_LOAD_LOCAL:
    case FSM_PLAYABLE_CHECK:
        assert_false(w->showing);
        break;
    }
    assert_int_equal(f->staged_state == FSM_STAGED_NONE, w->stg_state == W_NONE);
    assert_int_equal(f->staged_state == FSM_STAGED_REJECTED, w->stg_state == W_REJECTED);
    /* a registered player always has a sync planned or running */
    if (f->has_token && (f->state == FSM_PLAYING || f->state == FSM_ERROR_SCREEN)) {
        assert_true(w->in_flight || fsm_next_wakeup(f, w->now) != INT64_MAX);
        assert_int_equal(f->fetch_in_flight, w->in_flight);
    }
}

static void property_random_sequences(void **state)
{
    struct world w;
    unsigned applies = 0, partial = 0, fallbacks = 0, errors = 0, unregisters = 0, rejects = 0;
    unsigned reboots = 0, waits = 0, fetches = 0, backoffs = 0;
    for (int c = 0; c < PROPERTY_CASES; c++) {
        memset(&w, 0, sizeof(w));
        fsm_config_default(&w.cfg);
        w.now = T0 + (int64_t)rnd(1000) * H;
        w.token = rnd(5) != 0;
        w.last_sync = rnd(2) ? w.now - (int64_t)rnd(48) * H : 0;
        if (rnd(4)) {
            bool p = rnd(4) != 0;
            w.cur = (struct wslot){true, p, p && rnd(2), w.now + ((int64_t)rnd(120) - 30) * MIN, 0};
        }
        if (rnd(3)) {
            bool p = rnd(3) != 0;
            w.prev = (struct wslot){true, p, p, w.now - (int64_t)rnd(48) * H, 0};
        }
        assert_int_equal(fsm_init(&w.f, &w.cfg), 0);
        for (int i = 0; i < STEPS; i++) {
            bool boundary;
            struct fsm_event e = w_event(&w, &boundary);
            e.now_ms = w.now;
            bool mid_item = w.showing && !boundary;
            struct fsm_actions out;
            int n = fsm_step(&w.f, &e, &out);
            if (n < 0)
                fail_msg("case %d step %d: %s failed %d", c, i, fsm_event_name(e.type), n);
            if (e.type == FSM_EV_FETCH_RESULT)
                w_check_delay(&w, &e, &out);
            for (size_t k = 0; k < out.n; k++)
                w_execute(&w, &out.a[k], mid_item, c, i);
            w_check_after(&w, boundary, c, i);
        }
        applies += w.applies;
        partial += w.partial_applies;
        fallbacks += w.fallbacks;
        errors += w.errors;
        unregisters += w.unregisters;
        rejects += w.rejects;
        reboots += w.reboots;
        waits += w.waits;
        fetches += w.fetches;
        backoffs += w.backoffs;
    }
    /* the walk must reach every rule it checks */
    assert_true(applies > PROPERTY_CASES && partial > PROPERTY_CASES / 10);
    assert_true(fallbacks > PROPERTY_CASES && errors > PROPERTY_CASES / 10);
    assert_true(unregisters > PROPERTY_CASES / 50 && rejects > PROPERTY_CASES / 10);
    assert_true(reboots > PROPERTY_CASES && waits > PROPERTY_CASES && backoffs > PROPERTY_CASES);
    print_message("# property: %d sequences × %d events: %u fetches, %u backoffs, %u applies "
                  "(%u partial), %u staged waits at a boundary-free step, %u plays of previous, "
                  "%u error cards, %u rejects, %u tokens cleared, %u crashes\n",
                  PROPERTY_CASES, STEPS, fetches, backoffs, applies, partial, waits, fallbacks,
                  errors, rejects, unregisters, reboots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boot_to_playing),
        cmocka_unit_test(boot_fallback_to_previous),
        cmocka_unit_test(boot_local_corrupt),
        cmocka_unit_test(boot_nothing_playable),
        cmocka_unit_test(playback_impossible),
        cmocka_unit_test(unregistered_and_pairing),
        cmocka_unit_test(token_invalid),
        cmocka_unit_test(apply_at_boundary_when_ready),
        cmocka_unit_test(apply_partial_when_expired),
        cmocka_unit_test(apply_keeps_good_previous),
        cmocka_unit_test(apply_null_playlist),
        cmocka_unit_test(reject_and_replace),
        cmocka_unit_test(poll_schedule),
        cmocka_unit_test(backoff_full_jitter),
        cmocka_unit_test(retry_after),
        cmocka_unit_test(full_sync),
        cmocka_unit_test(offline_edges),
        cmocka_unit_test(commands_at_boundaries),
        cmocka_unit_test(sync_status),
        cmocka_unit_test(refused),
        cmocka_unit_test(property_random_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
