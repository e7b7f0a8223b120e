/* SPDX-License-Identifier: MIT */
/* test-config.c — flag > env > file > default, and clear errors for bad input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cmocka-prelude.h"
#include "config.h"
#include "macro.h"

static char dir[64];

static const char *write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state)
{
    unsetenv("MARQUEE_CONFIG");
    unsetenv("MARQUEE_LISTEN");
    unsetenv("MARQUEE_THREADS");
    unsetenv("MARQUEE_LOG_LEVEL");
    unsetenv("MARQUEE_DEMO");
    return 0;
}

static void defaults(void **state)
{
    struct config c;
    struct config_error e;
    config_init(&c);
    assert_int_equal(config_load(&c, 0, NULL, &e), 0);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.data_dir, "./var");
    assert_int_equal(c.max_body_bytes, 1048576);
    assert_int_equal(c.json_max_depth, 32);
    assert_false(c.demo);
    config_release(&c);
}

static void precedence_flag_env_file_default(void **state)
{
    const char *path = write_file("a.conf", "# comment\n\nlisten = 127.0.0.1:9001\n"
                                            "threads = 3\nlog_level = \"warn\"\n"
                                            "data_dir = /tmp/from-file\n");
    char *argv[] = {"--config", (char *)path, "--threads=5"};
    setenv("MARQUEE_THREADS", "4", 1);
    setenv("MARQUEE_LOG_LEVEL", "error", 1);
    struct config c;
    struct config_error e;
    config_init(&c);
    assert_int_equal(config_load(&c, 3, argv, &e), 0);
    assert_string_equal(c.listen, "127.0.0.1:9001"); /* file over default */
    assert_string_equal(c.log_level, "error");       /* env over file */
    assert_int_equal(c.threads, 5);                  /* flag over env */
    assert_string_equal(c.data_dir, "/tmp/from-file");
    assert_int_equal(c.max_header_bytes, 8192); /* default */
    config_release(&c);
    unsetenv("MARQUEE_THREADS");
    unsetenv("MARQUEE_LOG_LEVEL");
}

static void config_file_from_env_and_bool_flags(void **state)
{
    const char *path = write_file("b.conf", "demo = yes\n");
    setenv("MARQUEE_CONFIG", path, 1);
    struct config c;
    struct config_error e;
    config_init(&c);
    assert_int_equal(config_load(&c, 0, NULL, &e), 0);
    assert_true(c.demo);
    config_release(&c);
    char *argv[] = {"--demo=false"};
    config_init(&c);
    assert_int_equal(config_load(&c, 1, argv, &e), 0);
    assert_false(c.demo);
    config_release(&c);
    unsetenv("MARQUEE_CONFIG");
}

static void errors_name_the_problem(void **state)
{
    struct config c;
    struct config_error e;
    char *unknown[] = {"--no-such-option", "1"};
    config_init(&c);
    assert_int_equal(config_load(&c, 2, unknown, &e), -EINVAL);
    assert_non_null(strstr(e.text, "--no-such-option"));
    config_release(&c);

    char *badnum[] = {"--threads", "many"};
    config_init(&c);
    assert_int_equal(config_load(&c, 2, badnum, &e), -EINVAL);
    assert_non_null(strstr(e.text, "threads"));
    config_release(&c);

    char *range[] = {"--json-max-depth", "100000"};
    config_init(&c);
    assert_int_equal(config_load(&c, 2, range, &e), -EINVAL);
    config_release(&c);

    char *missing[] = {"--listen"};
    config_init(&c);
    assert_int_equal(config_load(&c, 1, missing, &e), -EINVAL);
    assert_non_null(strstr(e.text, "needs a value"));
    config_release(&c);

    char *badlisten[] = {"--listen", "localhost"};
    config_init(&c);
    assert_int_equal(config_load(&c, 2, badlisten, &e), -EINVAL);
    config_release(&c);

    /* a name, not an address: refused here, not later as a puzzling bind error */
    char *hostname[] = {"--listen", "localhost:8080"};
    config_init(&c);
    assert_int_equal(config_load(&c, 2, hostname, &e), -EINVAL);
    assert_non_null(strstr(e.text, "numeric"));
    config_release(&c);

    /* a header limit the connection buffer cannot hold would never take effect */
    char *headers[] = {"--max-header-bytes", "16000"};
    config_init(&c);
    assert_int_equal(config_load(&c, 2, headers, &e), -EINVAL);
    assert_non_null(strstr(e.text, "connection_memory_limit"));
    config_release(&c);
    char *headers_ok[] = {"--max-header-bytes", "16000", "--connection-memory-limit", "32768"};
    config_init(&c);
    assert_int_equal(config_load(&c, 4, headers_ok, &e), 0);
    config_release(&c);

    const char *path = write_file("c.conf", "listen = 127.0.0.1:1\nbogus = 1\n");
    char *withfile[] = {"--config", (char *)path};
    config_init(&c);
    assert_int_equal(config_load(&c, 2, withfile, &e), -EINVAL);
    assert_non_null(strstr(e.text, ":2:"));
    assert_non_null(strstr(e.text, "bogus"));
    config_release(&c);

    char *nofile[] = {"--config", "/nonexistent/marquee.conf"};
    config_init(&c);
    assert_int_equal(config_load(&c, 2, nofile, &e), -ENOENT);
    config_release(&c);

    setenv("MARQUEE_THREADS", "-1", 1);
    config_init(&c);
    assert_int_equal(config_load(&c, 0, NULL, &e), -EINVAL);
    assert_non_null(strstr(e.text, "MARQUEE_THREADS"));
    config_release(&c);
    unsetenv("MARQUEE_THREADS");
}

static void split_listen(void **state)
{
    char host[64];
    uint16_t port = 0;
    assert_int_equal(config_split_listen("127.0.0.1:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(config_split_listen("[::1]:0", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(config_split_listen("::1:80", host, sizeof(host), &port), 0);
    assert_int_equal(config_split_listen("[::1]80", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(config_split_listen(":80", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(config_split_listen("h:65536", host, sizeof(host), &port), -EINVAL);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/marquee-config-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults, setup),
        cmocka_unit_test_setup(precedence_flag_env_file_default, setup),
        cmocka_unit_test_setup(config_file_from_env_and_bool_flags, setup),
        cmocka_unit_test_setup(errors_name_the_problem, setup),
        cmocka_unit_test_setup(split_listen, setup),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        r = r ? r : 1;
    return r;
}
