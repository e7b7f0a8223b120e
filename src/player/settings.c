/* SPDX-License-Identifier: MIT */
/*
 * settings.c — marquee-player's option table (settings.h).
 */
#include "player/settings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"

#define STR(f, d, h)         OPT_STR_ROW(struct settings, f, d, h)
#define INT(f, d, lo, hi, h) OPT_INT_ROW(struct settings, f, d, lo, hi, h)

static const struct opt rows[] = {
    {"config", OPT_STR, offsetof(struct settings, config_file), "", 0, 0,
     "config file of `key = value` lines"},
    STR(server, "", "the marqueed base URL, http(s)://host[:port] (required)"),
    STR(data_dir, "", "the player's data directory (required)"),
    STR(renderer, "headless", "headless (a JSON-lines timeline) or mpv (the screen)"),
    STR(timeline, "", "headless: the timeline file (default DATA_DIR/timeline.jsonl)"),
    STR(log_level, "info", "debug, info, warn, error or off"),
    STR(hardware_id, "", "hardware id sent when pairing (default /etc/machine-id)"),
    STR(ca_file, "", "CA bundle for https (default: the system's)"),
    INT(max_downloads, "2", 1, 16, "downloads at once"),
    INT(download_attempts, "3", 1, 100, "attempts per file before it waits for a later sync"),
    INT(download_backoff_ms, "1000", 1, 3600000, "first retry backoff of a download (ms)"),
    INT(bandwidth_bytes_s, "0", 0, INT64_MAX, "download bandwidth cap, bytes/s (0 = none)"),
    STR(offpeak_window, "", "HH:MM-HH:MM local time for large optional downloads (\"\" = any)"),
    INT(offpeak_min_bytes, "104857600", 0, INT64_MAX, "size from which a file waits for off-peak"),
    INT(poll_min_s, "5", 1, 3600, "the soonest a manifest poll follows the last (s)"),
    INT(poll_max_s, "14400", 1, 86400, "the longest between two manifest polls (s; periodic sync)"),
    INT(heartbeat_min_s, "30", 1, 3600, "the shortest heartbeat interval (s)"),
    INT(command_poll_s, "0", 0, 3600, "command poll interval, s (0 = with each heartbeat)"),
    INT(backoff_base_ms, "5000", 1, 3600000, "first backoff of the manifest poll and telemetry"),
    INT(backoff_cap_ms, "300000", 1, 86400000, "longest backoff of the manifest poll (ms)"),
    STR(test_clock_file, "", "tests only: a file holding a clock offset in ms (re-read)"),
};

const struct opt_table settings_table = {rows, ARRAY_SIZE(rows), "MARQUEE_PLAYER_"};

void settings_init(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    opts_init(&settings_table, s);
}

void settings_release(struct settings *s)
{
    opts_release(&settings_table, s);
}

static int two_digits(const char *p, int max, int *ret)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
        return -EINVAL;
    int v = (p[0] - '0') * 10 + (p[1] - '0');
    if (v > max)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int hhmm(const char *p, int *ret)
{
    int h, m;
    if (two_digits(p, 24, &h) < 0 || p[2] != ':' || two_digits(p + 3, 59, &m) < 0 ||
        (h == 24 && m != 0))
        return -EINVAL;
    *ret = h * 60 + m;
    return 0;
}

int settings_window_parse(const char *s, int *from_min, int *to_min)
{
    if (!s || !from_min || !to_min)
        return -EINVAL;
    if (!*s) {
        *from_min = *to_min = -1;
        return 0;
    }
    int a, b;
    if (strlen(s) != 11 || s[5] != '-' || hhmm(s, &a) < 0 || hhmm(s + 6, &b) < 0 || a == b)
        return -EINVAL;
    *from_min = a % 1440;
    *to_min = b % 1440;
    return 0;
}

bool settings_window_contains(int from_min, int to_min, int minute)
{
    if (from_min < 0)
        return false;
    if (from_min < to_min)
        return minute >= from_min && minute < to_min;
    return minute >= from_min || minute < to_min;
}

int settings_load(struct settings *s, int argc, char **argv, struct config_error *err)
{
    int r = opts_load(&settings_table, s, argc, argv, err);
    if (r < 0)
        return r;
    if (!*s->server || (strncmp(s->server, "http://", 7) && strncmp(s->server, "https://", 8))) {
        snprintf(err->text, sizeof(err->text), "--server must be an http(s):// URL%s",
                 *s->server ? "" : " (required)");
        return -EINVAL;
    }
    if (!*s->data_dir) {
        snprintf(err->text, sizeof(err->text), "--data-dir is required");
        return -EINVAL;
    }
    if (strcmp(s->renderer, "headless") && strcmp(s->renderer, "mpv")) {
        snprintf(err->text, sizeof(err->text), "--renderer must be headless or mpv, not \"%.40s\"",
                 s->renderer);
        return -EINVAL;
    }
    int a, b;
    if (settings_window_parse(s->offpeak_window, &a, &b) < 0) {
        snprintf(err->text, sizeof(err->text),
                 "offpeak_window must be HH:MM-HH:MM (01:00-05:00) or empty, not \"%.40s\"",
                 s->offpeak_window);
        return -EINVAL;
    }
    if (s->poll_min_s > s->poll_max_s) {
        snprintf(err->text, sizeof(err->text), "poll_min_s must not exceed poll_max_s");
        return -EINVAL;
    }
    if (s->backoff_base_ms > s->backoff_cap_ms) {
        snprintf(err->text, sizeof(err->text), "backoff_base_ms must not exceed backoff_cap_ms");
        return -EINVAL;
    }
    return 0;
}
