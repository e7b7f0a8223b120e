/* SPDX-License-Identifier: MIT */
/*
 * protocol.h — the names the player protocol defines, written once for marqueed (which checks
 * what players send) and marquee-player (which sends it): the §27.8.3 event types with their
 * severities, and the §28.7 command types.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PROTOCOL_EVENT_COUNT   17
#define PROTOCOL_COMMAND_COUNT 6

struct protocol_event {
    const char *type, *severity;
};

/** The §27.8.3 table, in its order (enum fsm_emit follows it). */
extern const struct protocol_event protocol_events[PROTOCOL_EVENT_COUNT];

/** "INFO", "WARNING", "ERROR", then NULL. */
extern const char *const protocol_severities[4];

/** The §28.7 command types, in its order (enum fsm_command follows it). */
extern const char *const protocol_commands[PROTOCOL_COMMAND_COUNT];

/** Whether @type is a §27.8.3 event type (NULL: no). */
bool protocol_event_known(const char *type);

/** Whether @s is a §27.8.3 severity (NULL: no). */
bool protocol_severity_known(const char *s);

/** The index of §28.7 command type @type, or -1 (NULL or unknown). */
int protocol_command_index(const char *type);
