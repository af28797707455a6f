/* tests/unit/test-proto-name.c — crate names, versions, the sparse-index path
 * and the {prefix}/{lowerprefix} values, table-driven. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/name.h"

#define N64 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"

static const struct {
    const char *s;
    bool ok;
} names[] = {
    {"a", true},
    {"Z", true},
    {"9", true},
    {"_", true},
    {"_priv", true},
    {"serde", true},
    {"serde_json", true},
    {"Serde-JSON_2", true},
    {"0xdeadbeef", true},
    {N64, true},
    {N64 "m", false}, /* 65 chars */
    {"", false},
    {"-lead", false},
    {".", false},
    {"..", false},
    {"a.b", false},
    {"a/b", false},
    {"a b", false},
    {"a+b", false},
    {"caf\xc3\xa9", false}, /* non-ASCII */
    {"a%2e", false},
    {"a\\b", false},
};

static void test_name_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (proto_crate_name_valid(names[i].s, strlen(names[i].s)) != names[i].ok)
            fail_msg("name \"%s\": expected %d", names[i].s, names[i].ok);
    }
    /* an embedded NUL is counted by len and rejected */
    assert_false(proto_crate_name_valid("ab\0c", 4));
    /* len bounds only what is read: a prefix of a longer buffer is fine */
    assert_true(proto_crate_name_valid("serde/x", 5));
    assert_false(proto_crate_name_valid(NULL, 3));
}

#define V128                                                                                       \
    "1.2345678901234567890123456789012345678901234567890123456789012345678901234567890123456"      \
    "78901234567890123456789012345678901234567"

static const struct {
    const char *s;
    bool ok;
} versions[] = {
    {"0", true},
    {"1.0.0", true},
    {"1.0.0-alpha.1", true},
    {"1.0.0+build.5", true},
    {"1.0.0-rc.1+sha.abc-DEF", true},
    {"10.20.30", true},
    {V128, true},
    {V128 "9", false}, /* 129 chars */
    {"", false},
    {"v1.0.0", false},
    {".1", false},
    {"-1", false},
    {"+1", false},
    {"1.0 .0", false},
    {"1.0/0", false},
    {"1.0_0", false},
    {"1.0.0~1", false},
    {"1..", true}, /* not a semver check: alphabet and first digit only */
};

static void test_version_valid(void **state)
{
    (void)state;
    assert_int_equal(strlen(V128), 128);
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        if (proto_version_valid(versions[i].s, strlen(versions[i].s)) != versions[i].ok)
            fail_msg("version \"%s\": expected %d", versions[i].s, versions[i].ok);
    }
    assert_false(proto_version_valid("1\0", 2));
    assert_false(proto_version_valid(NULL, 1));
}

static const struct {
    const char *name;
    int rc; /* length or -errno */
    const char *path;
    const char *prefix;
    const char *lowerprefix;
} paths[] = {
    {"a", 3, "1/a", "1", "1"},
    {"A", 3, "1/a", "1", "1"},
    {"ab", 4, "2/ab", "2", "2"},
    {"Ab", 4, "2/ab", "2", "2"},
    {"abc", 7, "3/a/abc", "3/a", "3/a"},
    {"Abc", 7, "3/a/abc", "3/A", "3/a"},
    {"abcd", 10, "ab/cd/abcd", "ab/cd", "ab/cd"},
    {"serde", 11, "se/rd/serde", "se/rd", "se/rd"},
    {"Serde", 11, "se/rd/serde", "Se/rd", "se/rd"},
    {"SERDE_json", 16, "se/rd/serde_json", "SE/RD", "se/rd"},
    {"_a-b", 10, "_a/-b/_a-b", "_a/-b", "_a/-b"},
    {"", -EINVAL, NULL, NULL, NULL},
    {"a/b", -EINVAL, NULL, NULL, NULL},
    {"..", -EINVAL, NULL, NULL, NULL},
    {N64 "m", -EINVAL, NULL, NULL, NULL},
};

static void test_index_path(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char out[PROTO_INDEX_PATH_MAX];
        const char *n = paths[i].name;
        int rc = proto_index_path(n, strlen(n), out, sizeof out);
        if (rc != paths[i].rc)
            fail_msg("index path of \"%s\": rc %d, want %d", n, rc, paths[i].rc);
        if (rc >= 0) {
            assert_string_equal(out, paths[i].path);
            assert_int_equal(strlen(out), (size_t)rc);
        }
    }
    /* the longest name fits PROTO_INDEX_PATH_MAX */
    char out[PROTO_INDEX_PATH_MAX];
    assert_int_equal(proto_index_path(N64, 64, out, sizeof out), 70);
    assert_string_equal(out, "ab/cd/" N64);
}

static void test_index_path_small_buffer(void **state)
{
    (void)state;
    char out[12];
    /* "se/rd/serde" is 11 chars: needs 12 bytes */
    assert_int_equal(proto_index_path("serde", 5, out, 12), 11);
    assert_int_equal(proto_index_path("serde", 5, out, 11), -ENAMETOOLONG);
    assert_int_equal(proto_index_path("serde", 5, out, 0), -ENAMETOOLONG);
    assert_int_equal(proto_index_path("serde", 5, NULL, 0), -ENAMETOOLONG);
    /* an invalid name wins over a small buffer */
    assert_int_equal(proto_index_path("a b", 3, out, 0), -EINVAL);
    /* name is (pointer, length): no NUL needed */
    assert_int_equal(proto_index_path("serdeXYZ", 5, out, sizeof out), 11);
    assert_string_equal(out, "se/rd/serde");
}

static void test_prefix(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char out[8];
        const char *n = paths[i].name;
        int rc = proto_name_prefix(n, strlen(n), false, out, sizeof out);
        if (paths[i].rc < 0) {
            assert_int_equal(rc, -EINVAL);
            continue;
        }
        assert_int_equal(rc, (int)strlen(paths[i].prefix));
        assert_string_equal(out, paths[i].prefix);
        rc = proto_name_prefix(n, strlen(n), true, out, sizeof out);
        assert_int_equal(rc, (int)strlen(paths[i].lowerprefix));
        assert_string_equal(out, paths[i].lowerprefix);
    }
    char out[6];
    assert_int_equal(proto_name_prefix("serde", 5, false, out, 6), 5);
    assert_int_equal(proto_name_prefix("serde", 5, false, out, 5), -ENAMETOOLONG);
    assert_int_equal(proto_name_prefix("a", 1, false, out, 1), -ENAMETOOLONG);
}

static void test_name_lower(void **state)
{
    (void)state;
    char out[PROTO_NAME_MAX + 1];
    assert_int_equal(proto_name_lower("Serde_JSON-2", out, sizeof out), 12);
    assert_string_equal(out, "serde_json-2");
    assert_int_equal(proto_name_lower("", out, sizeof out), 0);
    assert_string_equal(out, "");
    /* only ASCII letters change; other bytes pass through */
    assert_int_equal(proto_name_lower("A\xc3\x89z[Z]", out, sizeof out), 7);
    assert_string_equal(out, "a\xc3\x89z[z]");
    /* at most PROTO_NAME_MAX bytes are read */
    char longname[PROTO_NAME_MAX + 10];
    memset(longname, 'Q', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(proto_name_lower(longname, out, sizeof out), PROTO_NAME_MAX);
    assert_int_equal(strlen(out), PROTO_NAME_MAX);
    assert_int_equal(out[0], 'q');
    /* a buffer too small is refused, not overrun */
    char small[4];
    assert_int_equal(proto_name_lower("abcd", small, sizeof small), -ENAMETOOLONG);
    assert_int_equal(proto_name_lower("abc", small, sizeof small), 3);
    assert_string_equal(small, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid), cmocka_unit_test(test_version_valid),
        cmocka_unit_test(test_index_path), cmocka_unit_test(test_index_path_small_buffer),
        cmocka_unit_test(test_prefix),     cmocka_unit_test(test_name_lower),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
