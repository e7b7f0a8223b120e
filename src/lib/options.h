/* SPDX-License-Identifier: MIT */
/*
 * options.h — settings from four places in order of strength: command-line flag > environment
 * variable > config file > built-in default, described by one table per program (marqueed's in
 * config.c, marquee-player's in player/settings.c).
 *
 * Each row names an option once; the flag (`--data-dir`, or `--data_dir`), the environment
 * variable (<prefix>DATA_DIR) and the file key (`data_dir = …`) all derive from it. The file
 * is `key = value` lines; `#` starts a comment; values may be quoted with "…". An unknown key,
 * flag or a bad value is an error naming where it came from.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL };

/** One option: a field of the caller's struct at @offset (char *, int64_t or bool). */
struct opt {
    const char *name; /* file key; flag --name (with '-' or '_'); env <prefix>NAME */
    enum opt_type type;
    size_t offset;
    const char *def;
    int64_t min, max; /* OPT_INT only */
    const char *help;
};

/** A program's options. The first row is the config file's (`config`): read before the rest. */
struct opt_table {
    const struct opt *opts;
    size_t n;
    const char *env_prefix; /* "MARQUEE_" */
};

#define OPT_STR_ROW(T, f, d, h)                                                                    \
    {                                                                                              \
#f, OPT_STR, offsetof(T, f), d, 0, 0, h                                                    \
    }
#define OPT_INT_ROW(T, f, d, lo, hi, h)                                                            \
    {                                                                                              \
#f, OPT_INT, offsetof(T, f), d, lo, hi, h                                                  \
    }
#define OPT_BOOL_ROW(T, f, d, h)                                                                   \
    {                                                                                              \
#f, OPT_BOOL, offsetof(T, f), d, 0, 1, h                                                   \
    }

struct config_error {
    char text[512];
};

/** Fills @target with every row's default. Never fails. */
void opts_init(const struct opt_table *t, void *target);

/** Frees the strings of @target; it may be reused after opts_init(). */
void opts_release(const struct opt_table *t, void *target);

/**
 * Loads @target (already opts_init()ed): the file (from the config flag or <prefix>CONFIG, if
 * any), then <prefix>* variables, then the @argc flags in @argv (no program name, no command).
 * 0, or -EINVAL / -ENOENT (config file missing) with @err saying what and where.
 */
int opts_load(const struct opt_table *t, void *target, int argc, char **argv,
              struct config_error *err);

/** Prints the table (flag, env, default, help) for --help. */
void opts_print_help(const struct opt_table *t, FILE *f);
