/* tests/unit/test-proto-semver.c — semver parsing (valid and invalid forms,
 * 64-bit limits) and compatible-range groups. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/semver.h"

static const struct {
    const char *s;
    int rc;
    uint64_t major, minor, patch;
    bool pre;
} cases[] = {
    {"0.0.0", 0, 0, 0, 0, false},
    {"1.2.3", 0, 1, 2, 3, false},
    {"10.20.30", 0, 10, 20, 30, false},
    {"1.0.0-alpha", 0, 1, 0, 0, true},
    {"1.0.0-alpha.1", 0, 1, 0, 0, true},
    {"1.0.0-0.3.7", 0, 1, 0, 0, true},
    {"1.0.0-x.7.z.92", 0, 1, 0, 0, true},
    {"1.0.0+20130313144700", 0, 1, 0, 0, false},
    {"1.0.0-beta+exp.sha.5114f85", 0, 1, 0, 0, true},
    {"1.0.0+build-1", 0, 1, 0, 0, false},
    {"0.4.18", 0, 0, 4, 18, false},
    {"18446744073709551615.0.0", 0, UINT64_MAX, 0, 0, false},
    {"18446744073709551616.0.0", -EINVAL, 0, 0, 0, false}, /* overflow */
    {"1.2", -EINVAL, 0, 0, 0, false},
    {"1", -EINVAL, 0, 0, 0, false},
    {"", -EINVAL, 0, 0, 0, false},
    {"1.2.3.4", -EINVAL, 0, 0, 0, false},
    {"01.2.3", -EINVAL, 0, 0, 0, false},
    {"1.02.3", -EINVAL, 0, 0, 0, false},
    {"1.2.03", -EINVAL, 0, 0, 0, false},
    {"1.2.3-", -EINVAL, 0, 0, 0, false},
    {"1.2.3+", -EINVAL, 0, 0, 0, false},
    {"1.2.3-a..b", -EINVAL, 0, 0, 0, false},
    {"1.2.3-a.", -EINVAL, 0, 0, 0, false},
    {"1.2.3-a_b", -EINVAL, 0, 0, 0, false},
    {"1.2.3+a+b", -EINVAL, 0, 0, 0, false},
    {"v1.2.3", -EINVAL, 0, 0, 0, false},
    {"1.2.3 ", -EINVAL, 0, 0, 0, false},
    {"-1.2.3", -EINVAL, 0, 0, 0, false},
    {"1.-2.3", -EINVAL, 0, 0, 0, false},
};

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proto_semver v;
        int rc = proto_semver_parse(cases[i].s, strlen(cases[i].s), &v);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, expected %d", cases[i].s, rc, cases[i].rc);
        if (rc == 0) {
            assert_true(v.major == cases[i].major);
            assert_true(v.minor == cases[i].minor);
            assert_true(v.patch == cases[i].patch);
            assert_int_equal(v.prerelease, cases[i].pre);
        } else {
            assert_true(v.major == 0 && v.minor == 0 && v.patch == 0 && !v.prerelease);
        }
    }
}

static void test_length_bound(void **state)
{
    (void)state;
    /* the length is honoured: a prefix of a valid version is judged alone */
    const char *s = "1.2.3-rc.1";
    struct proto_semver v;
    assert_int_equal(proto_semver_parse(s, 5, &v), 0);
    assert_false(v.prerelease);
    assert_int_equal(proto_semver_parse(s, 6, &v), -EINVAL);
    assert_int_equal(proto_semver_parse(NULL, 0, &v), -EINVAL);
    char nul[] = {'1', '.', '0', '.', '0', '+', 'a', '\0', 'b'};
    assert_int_equal(proto_semver_parse(nul, sizeof nul, &v), -EINVAL);
}

static bool same(const char *a, const char *b)
{
    struct proto_semver va, vb;
    assert_int_equal(proto_semver_parse(a, strlen(a), &va), 0);
    assert_int_equal(proto_semver_parse(b, strlen(b), &vb), 0);
    struct proto_semver_group ga, gb;
    proto_semver_group(&va, &ga);
    proto_semver_group(&vb, &gb);
    return proto_semver_group_eq(&ga, &gb);
}

static void test_groups(void **state)
{
    (void)state;
    assert_true(same("1.0.0", "1.9.9"));
    assert_true(same("1.0.0", "1.0.0+build"));
    assert_false(same("1.0.0", "2.0.0"));
    assert_true(same("0.4.17", "0.4.18"));
    assert_false(same("0.4.17", "0.5.0"));
    assert_false(same("0.0.3", "0.0.4"));
    assert_true(same("0.0.3", "0.0.3+x"));
    assert_false(same("0.1.0", "1.1.0"));
    assert_false(same("1.0.0-rc.1", "1.0.0"));     /* pre-releases are their own group */
    assert_true(same("1.0.0-rc.1", "1.2.0-beta")); /* ...per range */
    assert_false(same("0.3.0-alpha", "0.3.1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_length_bound),
        cmocka_unit_test(test_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
