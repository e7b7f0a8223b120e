/* SPDX-License-Identifier: MIT */
/*
 * loader.h — what the resolver needs about one device, read from the store: its group, the
 * zones of device, venue and tenant, the venue's usable fallback, and the slots of the live
 * schedule (or the draft) aimed at the device or its group, as a resolver index. Shared by the
 * schedule preview and the manifest.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ids.h"
#include "resolver/resolver.h"
#include "store/store.h"
#include "tz.h"

struct rl_device {
    char group[UUID_STR_LEN];    /* "" = in no (live) group */
    char fallback[UUID_STR_LEN]; /* "" = none usable */
    int64_t fallback_version;
    const struct tz *zones[3]; /* device, venue, tenant; NULL = none (or not loadable) */
    /* what the manifest carries besides the resolution (§27.8.1), from the same row */
    char run_mode[16];
    char orientation[16];
    bool launch_on_boot, auto_relaunch, keep_awake, watchdog;
    int64_t cache_budget; /* bytes of media the player may keep (§11.1) */
    int64_t epoch;        /* the venue's manifest epoch, 0 before its first */
    bool live;            /* ACTIVE, of an ACTIVE tenant: a device token of it is good (§25.7) */
    bool named;           /* the live schedule has slots aimed at the device itself */
};

/** The device @id of @venue, not deleted (-ENOENT if none). The fallback counts only while its
 *  playlist is live, usable by the venue and published. A zone that cannot be loaded counts as
 *  absent (and is logged). */
int rl_device_load(struct store_conn *c, const char *tid, const char *venue, const char *id,
                   struct rl_device *d);
/** The zone the resolver applies: the first of device, venue, tenant that is set, else UTC. */
const struct tz *rl_device_zone(const struct rl_device *d);
/** The slots of the live snapshot (or the draft) aimed at @device or @group ("" = none). */
int rl_slots_query(struct store_conn *c, const char *tid, const char *venue, const char *device,
                   const char *group, bool draft, struct store_result **ret);
/** The resolver index of rl_slots_query's rows; a row the store should never hold is -EIO. */
int rl_index_build(const struct store_result *res, struct resolver_index **ret);
/** The resolver input for the device (now_utc left 0). */
struct resolver_input rl_input(const struct rl_device *d, const char *device_id);
