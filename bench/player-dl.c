/* SPDX-License-Identifier: MIT */
/*
 * player-dl.c — marquee-player's download engine (src/player/download.h) on its own, for the
 * download and resume rows of bench/run.sh.
 *
 *   player-dl --cache DIR --url URL --sha256 HEX --bytes N [--url … --sha256 … --bytes …]…
 *             [--max-active N] [--max-recv BYTES_PER_S]
 *
 * Opens the cache of DIR (which must exist) as the daemon does at boot — cache_open(), then
 * cache_reconcile() with the jobs as the wanted set, so that a .part a killed run left is kept
 * and resumed with Range — queues one job per --url (assetIds dl0, dl1, … in the order given:
 * the .part of the first is DIR/tmp/dl0.part, its file DIR/assets/dl0), and runs the engine
 * until every job is DONE or FAILED. --sha256 and --bytes belong to the --url before them.
 * --max-active and --max-recv are dl_config's max_active (default 2) and max_recv_bytes_s (0:
 * no cap; shared by the transfers: each gets max_recv / max_active).
 *
 * Prints one JSON line: {"seconds":…,"bytes":…,"failed":n,"bytes_received":…} — seconds from
 * the first dl_add() to the last result (the cache's commit, fsync and SHA-256 included; not
 * the process start, cache_open() or reconcile), bytes the sizes of the DONE jobs, and
 * bytes_received the sum of every result's dl_result.bytes_received (body bytes written this
 * run: more than bytes when an attempt was retried, less when a .part was resumed). A
 * FAILED job is also reported on stderr. Exits 0 when every job is DONE, 1 when one FAILED or
 * the engine could not run, 2 on a usage error.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "macro.h"
#include "player/cache.h"
#include "player/download.h"

#define JOBS_MAX 64 /* a bench's handful of files; the engine itself takes far more */

struct options {
    const char *cache_dir;
    struct dl_job jobs[JOBS_MAX];
    char ids[JOBS_MAX][16];
    size_t n_jobs;
    int64_t max_active;
    int64_t max_recv;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: player-dl --cache DIR --url URL --sha256 HEX --bytes N\n"
               "                 [--url URL --sha256 HEX --bytes N]... [--max-active N]\n"
               "                 [--max-recv BYTES_PER_S]\n"
               "prints: {\"seconds\":S,\"bytes\":N,\"failed\":N,\"bytes_received\":N}\n");
}

/* Reports an option's bad value on stderr; -EINVAL. */
static int bad_arg(const char *name, const char *value, const char *wanted)
{
    fprintf(stderr, "player-dl: %s %s: not %s\n", name, value, wanted);
    return -EINVAL;
}

/* Parses argv into opt (strings borrowed from argv); 0 or -EINVAL. */
static int parse_args(int argc, char **argv, struct options *opt)
{
    enum { OPT_CACHE = 256, OPT_URL, OPT_SHA256, OPT_BYTES, OPT_MAX_ACTIVE, OPT_MAX_RECV };
    static const struct option longopts[] = {
        {"cache", required_argument, NULL, OPT_CACHE},
        {"url", required_argument, NULL, OPT_URL},
        {"sha256", required_argument, NULL, OPT_SHA256},
        {"bytes", required_argument, NULL, OPT_BYTES},
        {"max-active", required_argument, NULL, OPT_MAX_ACTIVE},
        {"max-recv", required_argument, NULL, OPT_MAX_RECV},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct dl_job *cur = NULL;
    int64_t v;
    int ch;
    opt->max_active = 2;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_CACHE:
            opt->cache_dir = optarg;
            break;
        case OPT_URL:
            if (opt->n_jobs == JOBS_MAX)
                return bad_arg("--url", optarg, "within the limit of 64 URLs");
            snprintf(opt->ids[opt->n_jobs], sizeof(opt->ids[0]), "dl%zu", opt->n_jobs);
            cur = &opt->jobs[opt->n_jobs];
            *cur = (struct dl_job){
                .asset_id = opt->ids[opt->n_jobs],
                .url = optarg,
                .priority = DL_PRIO_STAGED,
            };
            opt->n_jobs++;
            break;
        case OPT_SHA256:
            if (!cur || cur->sha256)
                return bad_arg("--sha256", optarg, "after a --url without one");
            cur->sha256 = optarg;
            break;
        case OPT_BYTES:
            if (!cur || cur->bytes > 0)
                return bad_arg("--bytes", optarg, "after a --url without one");
            if (parse_int64(optarg, 1, INT64_MAX, &v) < 0)
                return bad_arg("--bytes", optarg, "a size of 1 byte or more");
            cur->bytes = (uint64_t)v;
            break;
        case OPT_MAX_ACTIVE:
            if (parse_int64(optarg, 1, 16, &opt->max_active) < 0)
                return bad_arg("--max-active", optarg, "a number of transfers from 1 to 16");
            break;
        case OPT_MAX_RECV:
            if (parse_int64(optarg, 0, INT64_MAX, &opt->max_recv) < 0)
                return bad_arg("--max-recv", optarg, "a rate in bytes per second");
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -EINVAL;
        }
    }
    if (optind != argc || !opt->cache_dir || opt->n_jobs == 0) {
        fprintf(stderr, "player-dl: --cache and at least one --url are needed\n");
        return -EINVAL;
    }
    for (size_t i = 0; i < opt->n_jobs; i++)
        if (!opt->jobs[i].sha256 || opt->jobs[i].bytes == 0) {
            fprintf(stderr, "player-dl: --url %s needs --sha256 and --bytes\n", opt->jobs[i].url);
            return -EINVAL;
        }
    return 0;
}

/* What a boot does before its first download: keep the .part files the jobs can resume. */
static int cache_boot(struct cache *c, const struct options *opt)
{
    struct cache_want want[JOBS_MAX];
    for (size_t i = 0; i < opt->n_jobs; i++)
        want[i] = (struct cache_want){
            .asset_id = opt->jobs[i].asset_id,
            .sha256 = opt->jobs[i].sha256,
            .bytes = opt->jobs[i].bytes,
        };
    struct cache_reconcile_stats st;
    int r = cache_reconcile(c, want, opt->n_jobs, clock_now_ms() / 1000, &st);
    if (r < 0) {
        fprintf(stderr, "player-dl: cache_reconcile: %s\n", strerror(-r));
        return r;
    }
    if (st.parts_kept > 0)
        fprintf(stderr, "player-dl: %u .part file(s) kept to resume\n", st.parts_kept);
    return 0;
}

/* The job a result names (every result names one of ours). */
static size_t job_index(const struct options *opt, const char *asset_id)
{
    size_t i = 0;
    while (i + 1 < opt->n_jobs && strcmp(opt->ids[i], asset_id) != 0)
        i++;
    return i;
}

/* Runs the jobs to their end; the JSON line on stdout. 0 when all are DONE, 1 if one FAILED,
 * -errno when the engine could not run. */
static int download_all(struct cache *c, const struct options *opt)
{
    struct dl_config cfg;
    dl_config_default(&cfg);
    cfg.max_active = (unsigned)opt->max_active;
    cfg.max_recv_bytes_s = (uint64_t)opt->max_recv;
    _cleanup_(dl_freep) struct dl *e = NULL;
    int r = dl_new(c, &cfg, &e);
    if (r < 0) {
        fprintf(stderr, "player-dl: dl_new: %s\n", strerror(-r));
        return r;
    }
    int64_t t0 = clock_mono_ns();
    for (size_t i = 0; i < opt->n_jobs; i++) {
        r = dl_add(e, &opt->jobs[i]);
        if (r < 0) {
            fprintf(stderr, "player-dl: dl_add %s: %s\n", opt->jobs[i].url, strerror(-r));
            return r;
        }
    }
    uint64_t bytes = 0, received = 0;
    unsigned failed = 0;
    for (size_t left = opt->n_jobs; left > 0;) {
        r = dl_run(e, 1000);
        if (r < 0) {
            fprintf(stderr, "player-dl: dl_run: %s\n", strerror(-r));
            return r;
        }
        struct dl_result res;
        while (dl_result_next(e, &res) == 1) {
            left--;
            received += res.bytes_received;
            size_t k = job_index(opt, res.asset_id);
            if (res.outcome == DL_DONE) {
                bytes += opt->jobs[k].bytes;
                continue;
            }
            failed++;
            fprintf(stderr, "player-dl: %s (%s) FAILED: %s, HTTP %d, %u retries\n", res.asset_id,
                    opt->jobs[k].url, strerror(-res.error), res.http_status, res.retry_count);
        }
    }
    double seconds = (double)(clock_mono_ns() - t0) / 1e9;
    printf("{\"seconds\":%.6f,\"bytes\":%" PRIu64 ",\"failed\":%u,\"bytes_received\":%" PRIu64
           "}\n",
           seconds, bytes, failed, received);
    return failed > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct options opt = {0};
    if (parse_args(argc, argv, &opt) < 0) {
        usage(stderr);
        return 2;
    }
    /* a peer closing a connection must be a failed attempt, not a signal */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "player-dl: curl_global_init failed\n");
        return 1;
    }
    _cleanup_(cache_freep) struct cache *c = NULL;
    int r = cache_open(opt.cache_dir, &c);
    if (r < 0)
        fprintf(stderr, "player-dl: cache_open %s: %s\n", opt.cache_dir, strerror(-r));
    if (r == 0)
        r = cache_boot(c, &opt);
    if (r == 0)
        r = download_all(c, &opt);
    c = cache_free(c);
    curl_global_cleanup();
    return r == 0 ? 0 : 1;
}
