/* SPDX-License-Identifier: MIT */
/* loader.c — the resolver's inputs from the store (see loader.h). */
#include "resolver/loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"

/* ---- the device -------------------------------------------------------------------------- */

static const struct tz *zone_load(const char *name, const char *whose)
{
    const struct tz *z = NULL;
    if (!name)
        return NULL;
    int r = tz_get(name, &z);
    if (r < 0) {
        log_msg(LOG_WARN, "zone_unknown", "%s time zone \"%s\" cannot be loaded (%s)", whose, name,
                strerror(-r));
        return NULL;
    }
    return z;
}

/* The live device @id of @venue, with what the resolver needs about it; -ENOENT if none. The
 * fallback counts only while its playlist is live, usable by the venue and published. */
int rl_device_load(struct store_conn *c, const char *tid, const char *venue, const char *id,
                   struct rl_device *d)
{
    struct store_result *res = NULL;
    int r = store_exec(c,
                       "SELECT d.timezone, v.timezone, t.default_timezone, g.group_id, "
                       "fp.playlist_id, fp.published_version, d.run_mode, d.orientation, "
                       "d.launch_on_boot, d.auto_relaunch, d.keep_awake, "
                       "d.watchdog_return_to_foreground, e.manifest_epoch, d.cache_budget_bytes, "
                       "CASE WHEN d.status = 'ACTIVE' AND t.status = 'ACTIVE' THEN 1 ELSE 0 END, "
                       "CASE WHEN EXISTS (SELECT 1 FROM venue_schedule_sets vs JOIN "
                       "schedule_published_slots s ON s.tenant_id = vs.tenant_id AND "
                       "s.venue_id = vs.venue_id AND s.published_version = vs.published_version "
                       "WHERE vs.tenant_id = d.tenant_id AND vs.venue_id = d.venue_id AND "
                       "s.target_type = 'DEVICE' AND s.target_id = d.device_id) THEN 1 ELSE 0 END "
                       "FROM devices d "
                       "JOIN venues v ON v.tenant_id = d.tenant_id AND v.venue_id = d.venue_id "
                       "JOIN tenants t ON t.tenant_id = d.tenant_id "
                       "LEFT JOIN device_groups g ON g.tenant_id = d.tenant_id AND "
                       "g.venue_id = d.venue_id AND g.group_id = d.primary_group_id AND "
                       "g.deleted_at_utc IS NULL "
                       "LEFT JOIN playlists fp ON fp.tenant_id = v.tenant_id AND "
                       "fp.playlist_id = v.fallback_playlist_id AND fp.deleted_at_utc IS NULL "
                       "AND fp.published_version >= 1 AND "
                       "(fp.scope_venue_id IS NULL OR fp.scope_venue_id = v.venue_id) "
                       "LEFT JOIN venue_epochs e ON e.venue_id = d.venue_id "
                       "WHERE d.tenant_id = $1 AND d.venue_id = $2 AND d.device_id = $3 AND "
                       "d.deleted_at_utc IS NULL",
                       (struct store_param[]){STORE_TEXT(tid), STORE_TEXT(venue), STORE_TEXT(id)},
                       3, &res);
    if (r < 0)
        return r;
    if (store_result_rows(res) != 1) {
        store_result_free(res);
        return -ENOENT;
    }
    static const char *const whose[] = {"device", "venue", "tenant"};
    for (size_t i = 0; i < ARRAY_SIZE(d->zones); i++)
        d->zones[i] = zone_load(store_result_text(res, 0, i), whose[i]);
    snprintf(d->group, sizeof(d->group), "%s", store_result_text(res, 0, 3) ?: "");
    snprintf(d->fallback, sizeof(d->fallback), "%s", store_result_text(res, 0, 4) ?: "");
    d->fallback_version = 0;
    if (d->fallback[0])
        store_result_int(res, 0, 5, &d->fallback_version);
    snprintf(d->run_mode, sizeof(d->run_mode), "%s", store_result_text(res, 0, 6) ?: "");
    snprintf(d->orientation, sizeof(d->orientation), "%s", store_result_text(res, 0, 7) ?: "");
    int64_t flag[4] = {0};
    for (size_t i = 0; i < ARRAY_SIZE(flag); i++)
        store_result_int(res, 0, 8 + i, &flag[i]);
    d->launch_on_boot = flag[0], d->auto_relaunch = flag[1], d->keep_awake = flag[2],
    d->watchdog = flag[3];
    d->epoch = 0;
    store_result_int(res, 0, 12, &d->epoch);
    d->cache_budget = 0;
    store_result_int(res, 0, 13, &d->cache_budget);
    int64_t live = 0, named = 0;
    store_result_int(res, 0, 14, &live);
    store_result_int(res, 0, 15, &named);
    d->live = live != 0;
    d->named = named != 0;
    store_result_free(res);
    return 0;
}

/* The zone the resolver applies: the first of device, venue, tenant that is set, else UTC. */
const struct tz *rl_device_zone(const struct rl_device *d)
{
    for (size_t i = 0; i < ARRAY_SIZE(d->zones); i++)
        if (d->zones[i])
            return d->zones[i];
    return tz_utc();
}

/* ---- the slots --------------------------------------------------------------------------- */

#define SLOT_SELECT                                                                                \
    "SELECT s.slot_id, s.target_type, s.target_id, s.playlist_id, p.published_version, "           \
    "s.days_of_week_mask, s.start_minutes, s.end_minutes, s.priority, s.valid_from_date, "         \
    "s.valid_to_date, s.enabled, s.updated_at_utc "
#define SLOT_PLAYLIST                                                                              \
    "LEFT JOIN playlists p ON p.tenant_id = s.tenant_id AND p.playlist_id = s.playlist_id AND "    \
    "p.deleted_at_utc IS NULL "
#define SLOT_TARGET                                                                                \
    "AND ((s.target_type = 'DEVICE' AND s.target_id = $3) OR "                                     \
    "(s.target_type = 'GROUP' AND s.target_id = $4))"

/* The slots of the live snapshot (or the draft) aimed at @device or @group ("" = none). */
int rl_slots_query(struct store_conn *c, const char *tid, const char *venue, const char *device,
                   const char *group, bool draft, struct store_result **ret)
{
    const struct store_param p[] = {STORE_TEXT(tid), STORE_TEXT(venue), STORE_TEXT(device),
                                    STORE_TEXT(group)};
    if (draft)
        return store_exec(c,
                          SLOT_SELECT "FROM schedule_slots s " SLOT_PLAYLIST
                                      "WHERE s.tenant_id = $1 AND s.venue_id = $2 " SLOT_TARGET,
                          p, ARRAY_SIZE(p), ret);
    return store_exec(c,
                      SLOT_SELECT "FROM venue_schedule_sets vs JOIN schedule_published_slots s ON "
                                  "s.tenant_id = vs.tenant_id AND s.venue_id = vs.venue_id AND "
                                  "s.published_version = vs.published_version " SLOT_PLAYLIST
                                  "WHERE vs.tenant_id = $1 AND vs.venue_id = $2 " SLOT_TARGET,
                      p, ARRAY_SIZE(p), ret);
}

/* The resolver index of @res's rows. A row the store should never hold is -EIO. */
int rl_index_build(const struct store_result *res, struct resolver_index **ret)
{
    size_t n = store_result_rows(res);
    _cleanup_free_ struct resolver_slot *s = xcalloc(n ? n : 1, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        int64_t mask = 0, start = 0, end = 0, prio = 0, enabled = 0;
        const char *type = store_result_text(res, i, 1) ?: "";
        s[i].slot_id = store_result_text(res, i, 0);
        s[i].target_type = strcmp(type, "GROUP") ? RESOLVER_TARGET_DEVICE : RESOLVER_TARGET_GROUP;
        s[i].target_id = store_result_text(res, i, 2);
        s[i].playlist_id = store_result_text(res, i, 3);
        if (store_result_int(res, i, 4, &s[i].playlist_version) < 0)
            s[i].playlist_version = 0; /* playlist deleted */
        if (store_result_int(res, i, 5, &mask) < 0 || store_result_int(res, i, 6, &start) < 0 ||
            store_result_int(res, i, 7, &end) < 0 || store_result_int(res, i, 8, &prio) < 0 ||
            store_result_int(res, i, 11, &enabled) < 0 ||
            resolver_date_parse(store_result_text(res, i, 9), &s[i].valid_from) < 0 ||
            resolver_date_parse(store_result_text(res, i, 10), &s[i].valid_to) < 0 ||
            ids_timestamp_parse(store_result_text(res, i, 12), &s[i].updated_at_ms) < 0 ||
            !s[i].target_id || !s[i].playlist_id || mask < 0 || mask > 127 || start < 0 ||
            start > 1439 || end < 0 || end > 1439 || prio < INT32_MIN || prio > INT32_MAX)
            return -EIO;
        s[i].days_mask = (unsigned)mask;
        s[i].start_minutes = (int)start;
        s[i].end_minutes = (int)end;
        s[i].priority = (int)prio;
        s[i].enabled = enabled != 0;
    }
    int r = resolver_index_build(s, n, ret);
    return r == -EINVAL ? -EIO : r;
}

struct resolver_input rl_input(const struct rl_device *d, const char *device_id)
{
    return (struct resolver_input){
        .device_id = device_id,
        .group_id = d->group[0] ? d->group : NULL,
        .device_tz = d->zones[0],
        .venue_tz = d->zones[1],
        .tenant_tz = d->zones[2],
        .venue_fallback = {.playlist_id = d->fallback[0] ? d->fallback : NULL,
                           .version = d->fallback_version},
        .tenant_default = {.playlist_id = NULL}, /* no tenant default yet */
    };
}
