/* tests/unit/test-agent-listen-fds.c — the sd_listen_fds variables
 * (agent/listen_fds.h): whose they are, how many, names, malformed values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/listen_fds.h"

static void test_unset_and_other_pid(void **state)
{
    (void)state;
    struct listen_fds lf;
    assert_int_equal(listen_fds_parse(NULL, NULL, NULL, 42, &lf), 0);
    assert_int_equal(lf.n, 0);
    assert_int_equal(listen_fds_parse("42", NULL, NULL, 42, &lf), 0);
    assert_int_equal(lf.n, 0);
    /* inherited from a parent that was socket-activated: not ours */
    assert_int_equal(listen_fds_parse("41", "2", NULL, 42, &lf), 0);
    assert_int_equal(lf.n, 0);
}

static void test_counts_and_names(void **state)
{
    (void)state;
    struct listen_fds lf;
    assert_int_equal(listen_fds_parse("42", "1", NULL, 42, &lf), 0);
    assert_int_equal(lf.n, 1);
    assert_string_equal(lf.names[0], "");
    assert_int_equal(listen_fds_parse("42", "2", "cargo:peer", 42, &lf), 0);
    assert_int_equal(lf.n, 2);
    assert_string_equal(lf.names[0], "cargo");
    assert_string_equal(lf.names[1], "peer");
    /* fewer names than fds, an empty name, more names than fds */
    assert_int_equal(listen_fds_parse("42", "3", ":peer", 42, &lf), 0);
    assert_string_equal(lf.names[0], "");
    assert_string_equal(lf.names[1], "peer");
    assert_string_equal(lf.names[2], "");
    assert_int_equal(listen_fds_parse("42", "1", "cargo:peer:x", 42, &lf), 0);
    assert_int_equal(lf.n, 1);
    assert_string_equal(lf.names[0], "cargo");
    assert_int_equal(listen_fds_parse("42", "0", NULL, 42, &lf), 0);
    assert_int_equal(lf.n, 0);
}

static void test_malformed(void **state)
{
    (void)state;
    struct listen_fds lf;
    const char *bad[][2] = {
        {"x", "1"},   {"42", "one"}, {"42", "-1"}, {"", "1"},
        {"42", "1 "}, {"42", ""},    {"4x2", "1"}, {"42", "99999999999999999999999"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(listen_fds_parse(bad[i][0], bad[i][1], NULL, 42, &lf), -EINVAL);
    assert_int_equal(listen_fds_parse("42", "17", NULL, 42, &lf), -E2BIG);
    char longname[64];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(listen_fds_parse("42", "1", longname, 42, &lf), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unset_and_other_pid),
        cmocka_unit_test(test_counts_and_names),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
