/* SPDX-License-Identifier: MIT */
/*
 * preview.h — the schedule preview (issue 6, "Schedule preview"): what a device of a venue
 * plays at an instant, or over a range of up to 14 days, and why — from the published
 * schedule or the draft. Design in preview.c; the contract in docs/publishing.md.
 */
#pragma once

struct app;

/**
 * Registers GET /v1/venues/{venueId}/devices/{deviceId}/schedule-preview (venue viewer and
 * up). Called once at start-up, before the server starts. 0 or -EINVAL (a route table bug).
 */
int preview_register(struct app *app);
