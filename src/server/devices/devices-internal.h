/* SPDX-License-Identifier: MIT */
/* devices-internal.h — what the device module's files share: one device representation. */
#pragma once

#include <stddef.h>
#include <stdint.h>

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

struct token_claims;

/* ---- alerts.c: what telemetry.c calls inside its transactions ---------------------------- */

/** The device of @cl came back online at @now_ms: the transition as an event, and its
 *  DEVICE_OFFLINE alert resolved. */
int telemetry_went_online(struct store_conn *c, const struct token_claims *cl, int64_t now_ms);
/** Opens or resolves the alerts a heartbeat (just written to device_status) decides. */
int alerts_after_heartbeat(struct store_conn *c, const struct token_claims *cl, int64_t now_ms);
/** Opens the alerts the device's recent events decide (download failures, errors rising). */
int alerts_after_events(struct store_conn *c, const struct token_claims *cl, int64_t now_ms);
