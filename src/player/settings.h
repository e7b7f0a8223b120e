/* SPDX-License-Identifier: MIT */
/*
 * settings.h — marquee-player's settings (the table is settings.c; the engine lib/options.h):
 * flag > MARQUEE_PLAYER_* variable > config file > default. `marquee-player --help` lists them.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "options.h"

struct settings {
    char *config_file;
    char *server;   /* the marqueed base URL (required) */
    char *data_dir; /* required */
    char *renderer; /* headless | mpv */
    char *timeline; /* headless: the timeline file (default DATA_DIR/timeline.jsonl) */
    char *log_level;
    char *hardware_id;         /* sent when pairing (default /etc/machine-id, else random, kept) */
    char *ca_file;             /* TLS trust store (default: the system's) */
    int64_t max_downloads;     /* transfers at once */
    int64_t download_attempts; /* attempts per asset before FAILED (until a later sync) */
    int64_t download_backoff_ms;
    int64_t bandwidth_bytes_s; /* 0: no cap */
    char *offpeak_window;      /* "HH:MM-HH:MM" device local time; "" none */
    int64_t offpeak_min_bytes; /* files at least this large wait for the window … */
    int64_t poll_min_s;        /* the soonest a manifest poll follows the last */
    int64_t poll_max_s;        /* the longest between two polls, whatever nextCheckSeconds says */
    int64_t heartbeat_min_s;   /* the floor of the heartbeat interval */
    int64_t command_poll_s;    /* 0: with the heartbeat */
    int64_t backoff_base_ms;   /* manifest and telemetry backoff */
    int64_t backoff_cap_ms;
    char *test_clock_file; /* tests only: a file holding a wall-clock offset in ms */
};

extern const struct opt_table settings_table;

/** Defaults. */
void settings_init(struct settings *s);

/** Loads from flags, environment and file, and checks the values together. 0 or -EINVAL/-ENOENT
 *  with @err. */
int settings_load(struct settings *s, int argc, char **argv, struct config_error *err);

void settings_release(struct settings *s);

/**
 * Parses an off-peak window "HH:MM-HH:MM" into minutes of the day (the end may be before the
 * start: the window spans midnight). "" is no window (*from = *to = -1). 0 or -EINVAL.
 */
int settings_window_parse(const char *s, int *from_min, int *to_min);

/** Whether minute of the day @minute lies in [from, to) (wrapping); false without a window. */
bool settings_window_contains(int from_min, int to_min, int minute);
