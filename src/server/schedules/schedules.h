/* SPDX-License-Identifier: MIT */
/*
 * schedules.h — the venue schedule module (spec §7, §15, §16, §26.8, §27.6, §27.9,
 * §27.10): a venue's draft slots edited under ETags, publish and rollback of immutable
 * snapshots, and the venue's fallback playlist. Design in schedules.c; the contract in
 * docs/publishing.md.
 */
#pragma once

struct app;

/**
 * Registers the routes under /v1/venues/{venueId}: scheduleset (GET), scheduleset/slots
 * (POST, PUT, DELETE), scheduleset/publish, scheduleset/rollback and fallback-playlist (PUT).
 * Called once at start-up, before the server starts. 0 or -EINVAL (a route table bug).
 */
int schedules_register(struct app *app);
