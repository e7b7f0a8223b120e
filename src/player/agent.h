/* SPDX-License-Identifier: MIT */
/*
 * agent.h — the marquee-player daemon (issue 8): pairing, manifest sync, downloads, cache,
 * playback, telemetry and commands over one data directory. main.c parses the command line;
 * agent-internal.h says how the daemon is built.
 */
#pragma once

#include <stdbool.h>

#include "player/settings.h"

/** Installs the SIGTERM/SIGINT handlers (first thing in main: a stop that comes while the daemon
 *  starts is kept, and acted on as soon as it can be). */
void agent_signals_install(void);

/**
 * Runs the daemon with @set until SIGTERM or SIGINT (or a REBOOT_APP command: then
 * *@ret_reexec is true and the caller executes itself again). 0 after a clean stop, or a
 * negative errno when it could not start (logged: the data directory is locked by another
 * player (-EBUSY), cannot be opened, the renderer cannot start, …).
 */
int agent_run(struct settings *set, bool *ret_reexec);
