/* SPDX-License-Identifier: MIT */
/*
 * protocol.c — the player protocol's names (protocol.h).
 */
#include "protocol.h"

#include <string.h>

const struct protocol_event protocol_events[PROTOCOL_EVENT_COUNT] = {
    {"APP_STARTED", "INFO"},
    {"PLAYBACK_FAILED", "ERROR"},
    {"DOWNLOAD_FAILED", "WARNING"},
    {"MANIFEST_FETCH_FAILED", "WARNING"},
    {"MANIFEST_STAGED", "INFO"},
    {"MANIFEST_APPLIED", "INFO"},
    {"MANIFEST_REJECTED", "WARNING"},
    {"OFFLINE_ENTERED", "WARNING"},
    {"ONLINE_RESTORED", "INFO"},
    {"FALLBACK_TO_PREVIOUS_MANIFEST", "WARNING"},
    {"NO_PLAYABLE_CONTENT", "ERROR"},
    {"ERROR_SCREEN_ENTERED", "ERROR"},
    {"LOCAL_MANIFEST_CORRUPT", "ERROR"},
    {"COMMAND_EXECUTED", "INFO"},
    {"COMMAND_FAILED", "ERROR"},
    {"DEVICE_TOKEN_INVALID", "ERROR"},
    {"CACHE_EVICTION", "INFO"},
};

const char *const protocol_severities[4] = {"INFO", "WARNING", "ERROR", NULL};

const char *const protocol_commands[PROTOCOL_COMMAND_COUNT] = {
    "REQUEST_MANIFEST_REFRESH",
    "RESTART_PLAYBACK_LOOP",
    "CLEAR_CACHE_UNUSED",
    "CLEAR_CACHE_ALL",
    "REBOOT_APP",
    "SET_LOG_LEVEL",
};

bool protocol_event_known(const char *type)
{
    for (size_t i = 0; type && i < PROTOCOL_EVENT_COUNT; i++)
        if (!strcmp(type, protocol_events[i].type))
            return true;
    return false;
}

bool protocol_severity_known(const char *s)
{
    for (size_t i = 0; s && protocol_severities[i]; i++)
        if (!strcmp(s, protocol_severities[i]))
            return true;
    return false;
}

int protocol_command_index(const char *type)
{
    for (size_t i = 0; type && i < PROTOCOL_COMMAND_COUNT; i++)
        if (!strcmp(type, protocol_commands[i]))
            return (int)i;
    return -1;
}
