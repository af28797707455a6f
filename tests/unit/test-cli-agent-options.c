/* tests/unit/test-cli-agent-options.c — `cratecast agent`'s option parser
 * (cli_agent_parse in cli/agent.c) for --max-size: on the command line, in a
 * --config file, the command line winning, and the values refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "cli/commands.h"

/* Parse a NULL-terminated argument list; *max gets max_size. */
static int parse(uint64_t *max, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, max);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 16)
        argv[argc++] = (char *)a;
    va_end(ap);
    struct agent_options o;
    int status = -1;
    int rc = cli_agent_parse(argc, argv, &o, &status);
    if (rc == -EINVAL)
        assert_int_equal(status, 2); /* a usage error, never --help here */
    *max = o.max_size;
    agent_options_free(&o);
    return rc;
}

static void test_max_size_argv(void **state)
{
    (void)state;
    uint64_t m = 1;
    assert_int_equal(parse(&m, "--store", "/tmp/x", NULL), 0);
    assert_int_equal(m, 0); /* default: no limit */
    assert_int_equal(parse(&m, "--store", "/tmp/x", "--max-size", "20G", NULL), 0);
    assert_int_equal(m, 20ull << 30);
    assert_int_equal(parse(&m, "--store", "/tmp/x", "--max-size=1.5T", NULL), 0);
    assert_int_equal(m, 3ull << 39);
    assert_int_equal(parse(&m, "--store", "/tmp/x", "--max-size", "4096", NULL), 0);
    assert_int_equal(m, 4096);
}

static void test_max_size_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"0", "20X", "-1", "", "1.5", "99999999999999999999"};
    uint64_t m;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(&m, "--store", "/tmp/x", "--max-size", bad[i], NULL), -EINVAL);
    assert_int_equal(parse(&m, "--store", "/tmp/x", "--max-size", NULL), -EINVAL);
}

static void test_max_size_config(void **state)
{
    (void)state;
    char path[] = "/tmp/test-cli-agent-options-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "# the agent's config\nmax-size = 500M\nno-mdns = true\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    uint64_t m;
    assert_int_equal(parse(&m, "--store", "/tmp/x", "--config", path, NULL), 0);
    assert_int_equal(m, 500ull << 20);
    /* the command line wins */
    assert_int_equal(parse(&m, "--config", path, "--store", "/tmp/x", "--max-size", "1G", NULL), 0);
    assert_int_equal(m, 1ull << 30);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("max-size = \"lots\"\n", f);
    fclose(f);
    assert_int_equal(parse(&m, "--store", "/tmp/x", "--config", path, NULL), -EINVAL);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_size_argv),
        cmocka_unit_test(test_max_size_refused),
        cmocka_unit_test(test_max_size_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
