/* tests/unit/test-proto-route.c — the Cargo-facing URL space: every route,
 * traversal attempts raw and percent-encoded, bad components, limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/route.h"

#define CK "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CKU "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
#define N64 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"

static const struct {
    const char *path;
    int rc;
    enum proto_route_kind kind;
    const char *name, *vers;
} cases[] = {
    /* routes */
    {"/index/config.json", 0, PROTO_ROUTE_CONFIG, "", ""},
    {"/index/config.json?x=1", 0, PROTO_ROUTE_CONFIG, "", ""},
    {"/-/status", 0, PROTO_ROUTE_STATUS, "", ""},
    {"/-/status?json", 0, PROTO_ROUTE_STATUS, "", ""},
    {"/index/1/a", 0, PROTO_ROUTE_INDEX, "a", ""},
    {"/index/2/ab", 0, PROTO_ROUTE_INDEX, "ab", ""},
    {"/index/3/a/abc", 0, PROTO_ROUTE_INDEX, "abc", ""},
    {"/index/ab/cd/abcd", 0, PROTO_ROUTE_INDEX, "abcd", ""},
    {"/index/se/rd/serde", 0, PROTO_ROUTE_INDEX, "serde", ""},
    {"/index/se/rd/serde?a=../../x", 0, PROTO_ROUTE_INDEX, "serde", ""},
    {"/index/se/rd/Serde", 0, PROTO_ROUTE_INDEX, "Serde", ""}, /* case preserved */
    {"/index/SE/rd/serde", 0, PROTO_ROUTE_INDEX, "serde", ""},
    {"/index/se/rd/serde_json", 0, PROTO_ROUTE_INDEX, "serde_json", ""},
    {"/index/%73e/rd/ser%64e", 0, PROTO_ROUTE_INDEX, "serde", ""}, /* decoded once */
    {"/index/ab/cd/" N64, 0, PROTO_ROUTE_INDEX, N64, ""},
    {"/crates/serde/1.0.0/" CK, 0, PROTO_ROUTE_CRATE, "serde", "1.0.0"},
    {"/crates/Serde/1.0.0-rc.1+b/" CKU, 0, PROTO_ROUTE_CRATE, "Serde", "1.0.0-rc.1+b"},
    {"/crates/serde/1.0.0%2Bb/" CK, 0, PROTO_ROUTE_CRATE, "serde", "1.0.0+b"},
    {"/crates/serde/1.0.0/" CK "?download", 0, PROTO_ROUTE_CRATE, "serde", "1.0.0"},

    /* traversal, raw and encoded */
    {"/index/../etc/passwd", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/..", -EINVAL, 0, NULL, NULL},
    {"/index/%2e%2e/x", -EINVAL, 0, NULL, NULL},
    {"/index/%2E%2e/x", -EINVAL, 0, NULL, NULL},
    {"/index/.%2e/x", -EINVAL, 0, NULL, NULL},
    {"/crates/%2e%2e/1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/serde/%2e%2e/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/serde/../" CK, -EINVAL, 0, NULL, NULL},
    {"/index/se%2frd/serde", -EINVAL, 0, NULL, NULL},
    {"/index/se%2Frd%2Fserde", -EINVAL, 0, NULL, NULL},
    {"/crates/..%2f..%2fetc/1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/../index/config.json", -EINVAL, 0, NULL, NULL},
    {"/./index/config.json", -EINVAL, 0, NULL, NULL},
    {"/x/../../y", -EINVAL, 0, NULL, NULL}, /* traversal beats "unknown" */
    {"/%2e%2e", -EINVAL, 0, NULL, NULL},
    {"/index/%252e%252e/x", -EINVAL, 0, NULL, NULL}, /* decoded once: "%2e%2e" is no name */

    /* NUL and bad escapes */
    {"/index/se/rd/serde%00", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/ser%00de", -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/" CK "%00", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde%", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde%2", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde%zz", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde%g0", -EINVAL, 0, NULL, NULL},
    {"/unknown%", -EINVAL, 0, NULL, NULL},

    /* empty components */
    {"/index//se/rd/serde", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/serde/", -EINVAL, 0, NULL, NULL},
    {"//index/config.json", -EINVAL, 0, NULL, NULL},

    /* index path that does not match its name */
    {"/index/se/rd/serdf", 0, PROTO_ROUTE_INDEX, "serdf", ""}, /* control: this one matches */
    {"/index/xx/rd/serde", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/x/serde", -EINVAL, 0, NULL, NULL},
    {"/index/serde", -EINVAL, 0, NULL, NULL},
    {"/index/2/abc", -EINVAL, 0, NULL, NULL},
    {"/index/1/ab", -EINVAL, 0, NULL, NULL},
    {"/index/3/b/abc", -EINVAL, 0, NULL, NULL},
    {"/index/3/abc", -EINVAL, 0, NULL, NULL},
    {"/index/ab/abcd", -EINVAL, 0, NULL, NULL},
    {"/index/se/rd/ser de", -EINVAL, 0, NULL, NULL},
    {"/index/ab/cd/" N64 "m", -EINVAL, 0, NULL, NULL}, /* 65-char name */
    {"/index/config.jso", -EINVAL, 0, NULL, NULL},
    {"/index/a/b/c/d/e/f/g/h/i/j", -EINVAL, 0, NULL, NULL},

    /* bad crate components */
    {"/crates/ser de/1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/" N64 "m/1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/serde/v1.0.0/" CK, -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/" CK "0", -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/abc", -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/"
     "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     -EINVAL, 0, NULL, NULL},
    {"/crates/serde/1.0.0/download", -EINVAL, 0, NULL, NULL},

    /* well-formed but not a route */
    {"/", -ENOENT, 0, NULL, NULL},
    {"/?x", -ENOENT, 0, NULL, NULL},
    {"/index", -ENOENT, 0, NULL, NULL},
    {"/crates", -ENOENT, 0, NULL, NULL},
    {"/crates/serde", -ENOENT, 0, NULL, NULL},
    {"/crates/serde/1.0.0", -ENOENT, 0, NULL, NULL},
    {"/crates/serde/1.0.0/" CK "/x", -ENOENT, 0, NULL, NULL},
    {"/-", -ENOENT, 0, NULL, NULL},
    {"/-/statuz", -ENOENT, 0, NULL, NULL},
    {"/-/status/x", -ENOENT, 0, NULL, NULL},
    {"/favicon.ico", -ENOENT, 0, NULL, NULL},
    {"/api/v1/crates", -ENOENT, 0, NULL, NULL},
    {"/Index/config.json", -ENOENT, 0, NULL, NULL},

    /* not an origin-form path */
    {"", -EINVAL, 0, NULL, NULL},
    {"index/config.json", -EINVAL, 0, NULL, NULL},
    {"*", -EINVAL, 0, NULL, NULL},
    {"http://h/index/config.json", -EINVAL, 0, NULL, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = cases[i].path;
        size_t len = strlen(p);
        /* an exact-size heap copy with no NUL: ASan catches any overread */
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, p, len);
        struct proto_route r;
        memset(&r, 0x5a, sizeof r);
        int rc = proto_route_parse(copy, len, &r);
        free(copy);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", p, rc, cases[i].rc);
        if (rc != 0)
            continue;
        assert_int_equal(r.kind, cases[i].kind);
        assert_string_equal(r.name, cases[i].name);
        assert_string_equal(r.vers, cases[i].vers);
        if (r.kind == PROTO_ROUTE_CRATE) {
            uint8_t want[PROTO_SHA256_LEN];
            assert_int_equal(proto_hex_decode(CK, 64, want, sizeof want), 0);
            assert_memory_equal(r.sha256, want, sizeof want);
        }
    }
}

static void test_raw_nul(void **state)
{
    (void)state;
    static const char p[] = "/index/se/rd/ser\0de";
    struct proto_route r;
    assert_int_equal(proto_route_parse(p, sizeof p - 1, &r), -EINVAL);
    static const char q[] = "/index/config.json\0";
    assert_int_equal(proto_route_parse(q, sizeof q - 1, &r), -EINVAL);
    /* len bounds the parse: bytes after it are not part of the path */
    static const char s[] = "/-/status/garbage";
    assert_int_equal(proto_route_parse(s, 9, &r), 0);
    assert_int_equal(r.kind, PROTO_ROUTE_STATUS);
    assert_int_equal(proto_route_parse(NULL, 0, &r), -EINVAL);
}

static void test_length_limit(void **state)
{
    (void)state;
    char *p = malloc(PROTO_PATH_MAX + 2);
    assert_non_null(p);
    /* "/-/status?" padded with query bytes to exactly PROTO_PATH_MAX: fine */
    memset(p, 'q', PROTO_PATH_MAX + 1);
    memcpy(p, "/-/status?", 10);
    struct proto_route r;
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX, &r), 0);
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX + 1, &r), -ENAMETOOLONG);
    /* a long path of valid-looking components */
    for (size_t i = 0; i < PROTO_PATH_MAX + 1; i += 2)
        memcpy(p + i, "/a", 2);
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX, &r), -ENOENT);
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX + 1, &r), -ENAMETOOLONG);
    /* a path full of escapes decodes to a third of its length */
    for (size_t i = 1; i + 3 <= PROTO_PATH_MAX; i += 3)
        memcpy(p + i, "%41", 3);
    p[0] = '/';
    assert_int_equal(proto_route_parse(p, PROTO_PATH_MAX - (PROTO_PATH_MAX - 1) % 3, &r),
                     -ENOENT);
    /* the length check comes first, even for garbage */
    assert_int_equal(proto_route_parse("x", 100000, &r), -ENAMETOOLONG);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_raw_nul),
        cmocka_unit_test(test_length_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
