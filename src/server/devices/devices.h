/* SPDX-License-Identifier: MIT */
/*
 * devices.h — the device module (issue 7; spec §8, §17, §18, §26.4, §26.5, §26.10, §27.6–§27.8):
 * groups, devices and their settings, pairing, remote commands, telemetry and alerts.
 * Each file registers its own routes.
 */
#pragma once

struct app;
struct store_conn;

/** Groups CRUD under /v1/venues/{venueId}/groups (groups.c). */
int groups_register(struct app *app);
/** GET/PATCH/DELETE /v1/venues/{venueId}/devices[/{deviceId}] (devices.c). */
int devices_register(struct app *app);
/** POST /v1/devices/pairing/start, GET …/status, POST /v1/venues/{venueId}/devices/pairing/claim
 *  (pairing.c). */
int pairing_register(struct app *app);
/** Remote commands: issue and history for users, fetch and result for players (commands.c). */
int commands_register(struct app *app);
/** POST /v1/player/heartbeat and /v1/player/events, and the reads of what they say
 *  (telemetry.c). */
int telemetry_register(struct app *app);
/** Online/offline, alerts and their views, event retention (alerts.c). */
int alerts_register(struct app *app);

/** Whether @group_id is a live group of @venue_id in @tenant_id: 1 (and, on PostgreSQL, the
 *  group's row is locked until the transaction ends), 0 if not, or -errno. Whatever makes
 *  something point at a group — a device joining it, a schedule slot aiming at it — calls this
 *  inside its transaction instead of merely reading the row, so that it and a concurrent
 *  delete of the group run one after the other: either the delete sees the newcomer, or the
 *  newcomer sees the group gone (groups.c). */
int device_group_lock(struct store_conn *c, const char *tenant_id, const char *venue_id,
                      const char *group_id);
