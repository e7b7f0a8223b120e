/* SPDX-License-Identifier: MIT */
/* devices-internal.h — what the device module's files share: one device representation. */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "store/store.h"

/* The columns device_json() reads, in its order: SELECT DEVICE_COLS FROM devices d … */
#define DEVICE_COLS                                                                                \
    "d.device_id, d.venue_id, d.name, d.primary_group_id, d.timezone, d.run_mode, "                \
    "d.launch_on_boot, d.auto_relaunch, d.keep_awake, d.watchdog_return_to_foreground, "           \
    "d.orientation, d.cache_budget_bytes, d.status, d.device_hardware_id, d.app_version, "         \
    "d.last_seen_at_utc, d.created_at_utc, d.updated_at_utc"
enum {
    DC_ID,
    DC_VENUE,
    DC_NAME,
    DC_GROUP,
    DC_TIMEZONE,
    DC_RUN_MODE,
    DC_LAUNCH_ON_BOOT,
    DC_AUTO_RELAUNCH,
    DC_KEEP_AWAKE,
    DC_WATCHDOG,
    DC_ORIENTATION,
    DC_CACHE_BUDGET,
    DC_STATUS,
    DC_HARDWARE_ID,
    DC_APP_VERSION,
    DC_LAST_SEEN,
    DC_CREATED,
    DC_UPDATED,
    DC_N
};

/** Row @i of a result whose first DC_N columns are DEVICE_COLS, as the API shows a device:
 *  {deviceId, venueId, name, groupId, timezone, runMode, launchOnBoot, autoRelaunch, keepAwake,
 *   watchdogReturnToForeground, orientation, cacheBudgetBytes, status, deviceHardwareId,
 *   appVersion, lastSeenAtUtc, createdAtUtc, updatedAtUtc} (null for absent values). */
json_t *device_json(const struct store_result *res, size_t i);
