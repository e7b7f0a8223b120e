/* SPDX-License-Identifier: MIT */
/*
 * main.c — the marquee-player command line: the daemon, `status`, --help, --version.
 */
#include <curl/curl.h>
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/close_range.h>
#include <unistd.h>

#include "log.h"
#include "player/agent-internal.h"
#include "player/agent.h"
#include "player/settings.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: marquee-player --server URL --data-dir DIR [--renderer headless|mpv]\n"
               "                      [--config FILE] [--timeline FILE] [--OPTION VALUE …]\n"
               "       marquee-player status --data-dir DIR [--json]\n"
               "       marquee-player --help | --version\n\n"
               "The marquee device agent: pairs with a marqueed, keeps its content in sync and\n"
               "plays it. SIGTERM stops it. Options (flag, environment variable, config key):\n\n");
    opts_print_help(&settings_table, f);
}

int main(int argc, char **argv)
{
    agent_signals_install();
    if (argc > 1 && !strcmp(argv[1], "status"))
        return status_main(argc - 2, argv + 2);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("marquee-player %s\n", AGENT_VERSION);
            return 0;
        }
    }
    struct settings set;
    struct config_error err = {{0}};
    settings_init(&set);
    int r = settings_load(&set, argc - 1, argv + 1, &err);
    if (r < 0) {
        fprintf(stderr, "marquee-player: %s\n", err.text);
        settings_release(&set);
        return 2;
    }
    enum log_level level;
    if (log_level_parse(set.log_level, &level) < 0) {
        fprintf(stderr, "marquee-player: log_level must be debug, info, warn, error or off\n");
        settings_release(&set);
        return 2;
    }
    log_set_level(level);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (sodium_init() < 0) { /* the random numbers of ids and backoff jitter */
        fprintf(stderr, "marquee-player: libsodium could not start\n");
        return 1;
    }
    bool reexec = false;
    r = agent_run(&set, &reexec);
    settings_release(&set);
    curl_global_cleanup();
    if (reexec) {
        /* REBOOT_APP (§28.7): the same program, the same arguments, a fresh process image */
        /* nothing of this process may leak into the next: libcurl 7.88 opens its sockets
         * without CLOEXEC (everything was closed above; this is the guarantee) */
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "marquee-player: restart failed: %s\n", strerror(errno));
        return 1;
    }
    return r < 0 ? 1 : 0;
}
