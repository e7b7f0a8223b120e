/* SPDX-License-Identifier: MIT */
/*
 * options.c — one table of options, four sources (see options.h).
 * DESIGN: sources are applied weakest first onto the same struct, so "flag > env > file >
 * default" is simply the order of the calls in opts_load(). Every value is validated as it
 * is applied, and the error says which source held it (file:line, variable name or flag).
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

static int opt_apply(void *c, const struct opt *o, const char *value, const char *where,
                     struct config_error *err)
{
    char *field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_STR:
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    case OPT_INT: {
        int64_t v;
        int r = parse_int64(value, o->min, o->max, &v);
        if (r < 0) {
            snprintf(err->text, sizeof(err->text),
                     "%s: %s must be a whole number from %lld to %lld, not \"%.40s\"", where,
                     o->name, (long long)o->min, (long long)o->max, value);
            return -EINVAL;
        }
        *(int64_t *)field = v;
        return 0;
    }
    case OPT_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes") ||
            !strcmp(value, "on")) {
            *(bool *)field = true;
        } else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no") ||
                   !strcmp(value, "off")) {
            *(bool *)field = false;
        } else {
            snprintf(err->text, sizeof(err->text), "%s: %s must be true or false, not \"%.40s\"",
                     where, o->name, value);
            return -EINVAL;
        }
        return 0;
    }
    return -EINVAL;
}

static const struct opt *opt_find(const struct opt_table *t, const char *name, size_t len, char sep)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *n = t->opts[i].name;
        if (strlen(n) != len)
            continue;
        size_t k = 0;
        for (; k < len; k++) {
            /* a flag may spell the underscores of its key with '-' or '_' */
            if (name[k] != n[k] && !(n[k] == '_' && name[k] == sep))
                break;
        }
        if (k == len)
            return &t->opts[i];
    }
    return NULL;
}

void opts_init(const struct opt_table *t, void *target)
{
    struct config_error ignored;
    for (size_t i = 0; i < t->n; i++)
        (void)opt_apply(target, &t->opts[i], t->opts[i].def, "default", &ignored);
}

void opts_release(const struct opt_table *t, void *target)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->opts[i].type == OPT_STR) {
            char **p = (char **)((char *)target + t->opts[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(const struct opt_table *t, void *c, const char *path, struct config_error *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err->text, sizeof(err->text), "config file %.200s: %s", path, strerror(e));
        return e == ENOENT ? -ENOENT : -EINVAL;
    }
    char line[4096];
    int lineno = 0, r = 0;
    while (r == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char where[240];
        snprintf(where, sizeof(where), "%.200s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err->text, sizeof(err->text), "%s: line too long", where);
            r = -EINVAL;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err->text, sizeof(err->text), "%s: expected `key = value`", where);
            r = -EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        const struct opt *o = opt_find(t, key, strlen(key), '_');
        if (!o || o == &t->opts[0]) {
            snprintf(err->text, sizeof(err->text), "%s: unknown setting \"%.60s\"", where, key);
            r = -EINVAL;
            break;
        }
        r = opt_apply(c, o, value, where, err);
    }
    fclose(f);
    return r;
}

static void env_name(const struct opt_table *t, const struct opt *o, char *out, size_t n)
{
    size_t k = (size_t)snprintf(out, n, "%s", t->env_prefix);
    for (const char *p = o->name; *p && k + 1 < n; p++)
        out[k++] = (char)toupper((unsigned char)*p);
    out[k] = '\0';
}

/* One pass over the flags. With @only_config set it applies --config alone (it must be known
 * before the file is read); otherwise every flag but --config. */
static int load_flags(const struct opt_table *t, void *c, int argc, char **argv, bool only_config,
                      struct config_error *err)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err->text, sizeof(err->text), "unexpected argument \"%.60s\"", a);
            return -EINVAL;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = opt_find(t, name, nlen, '-');
        if (!o) {
            snprintf(err->text, sizeof(err->text), "unknown option \"%.60s\"", a);
            return -EINVAL;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (o->type == OPT_BOOL) {
            value = "true";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err->text, sizeof(err->text), "option %.60s needs a value", a);
            return -EINVAL;
        }
        bool is_config = o == &t->opts[0];
        if (is_config != only_config)
            continue;
        char where[80];
        snprintf(where, sizeof(where), "option --%.*s", (int)nlen, name);
        int r = opt_apply(c, o, value, where, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int opts_load(const struct opt_table *t, void *target, int argc, char **argv,
              struct config_error *err)
{
    int r;
    char name[64];
    snprintf(name, sizeof(name), "%sCONFIG", t->env_prefix);
    const char *env_config = getenv(name);
    if (env_config && *env_config) {
        r = opt_apply(target, &t->opts[0], env_config, name, err);
        if (r < 0)
            return r;
    }
    r = load_flags(t, target, argc, argv, true, err);
    if (r < 0)
        return r;
    const char *file = *(char **)((char *)target + t->opts[0].offset);
    if (file && *file) {
        r = load_file(t, target, file, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 1; i < t->n; i++) {
        env_name(t, &t->opts[i], name, sizeof(name));
        const char *v = getenv(name);
        if (!v)
            continue;
        r = opt_apply(target, &t->opts[i], v, name, err);
        if (r < 0)
            return r;
    }
    return load_flags(t, target, argc, argv, false, err);
}

void opts_print_help(const struct opt_table *t, FILE *f)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct opt *o = &t->opts[i];
        char flag[64], env[64];
        snprintf(flag, sizeof(flag), "--%s", o->name);
        for (char *p = flag; *p; p++)
            if (*p == '_')
                *p = '-';
        env_name(t, o, env, sizeof(env));
        fprintf(f, "  %-28s %s\n  %-28s env %s, default \"%s\"\n", flag, o->help, "", env, o->def);
    }
}
