/* tests/unit/test-cli-agent-options.c — `cratecast agent`'s option parser
 * (cli_agent_parse in cli/agent.c) for --max-size: on the command line, in a
 * --config file, the command line winning, and the values refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* network-key in a --config file: a key file's path, or the key itself (then the
 * config file must be mode 0600); a typo is refused. */
static int parse_mesh(const char *config_text, mode_t mode, bool *mesh, uint8_t key[32])
{
    char path[] = "/tmp/cratecast-test-meshcfg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, config_text, strlen(config_text)), (ssize_t)strlen(config_text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    char *argv[] = {"--store", "/tmp/x", "--config", path};
    struct agent_options o;
    int status = -1;
    int rc = cli_agent_parse(4, argv, &o, &status);
    *mesh = o.mesh;
    memcpy(key, o.mesh_key, 32);
    agent_options_free(&o);
    unlink(path);
    return rc;
}

static void test_network_key_config(void **state)
{
    (void)state;
    /* proto/mesh.h's vector: the key 00 01 .. 1f */
    static const char text[] =
        "network-key = "
        "\"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4\"\n";
    bool mesh = false;
    uint8_t key[32];
    assert_int_equal(parse_mesh(text, 0600, &mesh, key), 0);
    assert_true(mesh);
    for (int i = 0; i < 32; i++)
        assert_int_equal(key[i], i);
    /* the key itself in a file others can read: refused */
    assert_int_equal(parse_mesh(text, 0644, &mesh, key), -EINVAL);
    /* a typo */
    static const char typo[] =
        "network-key = "
        "\"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts5\"\n";
    assert_int_equal(parse_mesh(typo, 0600, &mesh, key), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_size_argv),
        cmocka_unit_test(test_max_size_refused),
        cmocka_unit_test(test_max_size_config),
        cmocka_unit_test(test_network_key_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
