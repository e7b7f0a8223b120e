/* SPDX-License-Identifier: MIT */
/*
 * argon2-verify.c — the reference for the login benchmark: how many Argon2id verifications of
 * a password hash made with marqueed's parameters (libsodium interactive limits) this machine
 * does per second on THREADS threads for SECONDS. Prints "N verify/s". Login can not be
 * faster than this; the ratio shows what HTTP, the store and token issue add.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "macro.h"

static char hash[crypto_pwhash_STRBYTES];
static const char password[] = "correct horse battery staple";
static _Atomic unsigned long done;
static double deadline;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    while (now_s() < deadline) {
        if (crypto_pwhash_str_verify(hash, password, strlen(password)) != 0)
            abort();
        atomic_fetch_add(&done, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int64_t threads = 2, seconds = 5;
    if ((argc > 1 && parse_int64(argv[1], 1, 64, &threads) < 0) ||
        (argc > 2 && parse_int64(argv[2], 1, 600, &seconds) < 0)) {
        fprintf(stderr, "usage: argon2-verify [THREADS] [SECONDS]\n");
        return 2;
    }
    if (sodium_init() < 0 ||
        crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return 1;
    double start = now_s();
    deadline = start + (double)seconds;
    pthread_t t[64];
    for (int64_t i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int64_t i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("%.1f verify/s\n", (double)atomic_load(&done) / (now_s() - start));
    return 0;
}
