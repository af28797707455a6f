/* tests/unit/test-proto-config.c — config.json parsing and Cargo's dl template
 * expansion, table-driven. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/config.h"

static const struct {
    const char *json;
    int rc;
    const char *dl;
    const char *api;
    bool auth;
} parse_cases[] = {
    {"{\"dl\":\"https://static.crates.io/crates\",\"api\":\"https://crates.io\"}", 0,
     "https://static.crates.io/crates", "https://crates.io", false},
    {"{\"dl\":\"http://h/{crate}\"}", 0, "http://h/{crate}", NULL, false},
    {" \n{\"dl\":\"x\",\"auth-required\":true}\n", 0, "x", NULL, true},
    {"{\"dl\":\"x\",\"auth-required\":false,\"api\":null,\"extra\":[1,2,{}]}", 0, "x", NULL,
     false},
    {"{\"dl\":\"caf\\u00e9\"}", 0, "caf\xc3\xa9", NULL, false},
    /* malformed */
    {"", -EBADMSG, NULL, NULL, false},
    {"{", -EBADMSG, NULL, NULL, false},
    {"[]", -EBADMSG, NULL, NULL, false},
    {"\"dl\"", -EBADMSG, NULL, NULL, false},
    {"null", -EBADMSG, NULL, NULL, false},
    {"{}", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":null}", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":\"\"}", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":42}", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":[\"x\"]}", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":\"a\\u0000b\"}", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":\"x\",\"dl\":\"y\"}", -EBADMSG, NULL, NULL, false}, /* duplicate key */
    {"{\"dl\":\"x\",\"api\":1}", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":\"x\",\"api\":\"\"}", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":\"x\",\"auth-required\":\"yes\"}", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":\"x\"} trailing", -EBADMSG, NULL, NULL, false},
    {"{\"dl\":\"\xff\"}", -EBADMSG, NULL, NULL, false}, /* invalid UTF-8 */
};

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        struct proto_registry_config c;
        memset(&c, 0x5a, sizeof c);
        const char *j = parse_cases[i].json;
        int rc = proto_config_parse((const uint8_t *)j, strlen(j), &c);
        if (rc != parse_cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, j, rc, parse_cases[i].rc);
        if (rc == 0) {
            assert_non_null(c.dl);
            assert_string_equal(c.dl, parse_cases[i].dl);
            if (parse_cases[i].api)
                assert_string_equal(c.api, parse_cases[i].api);
            else
                assert_null(c.api);
            assert_int_equal(c.auth_required, parse_cases[i].auth);
        } else {
            assert_null(c.dl); /* cleared on error */
            assert_null(c.api);
        }
        proto_config_clear(&c);
        assert_null(c.dl);
        proto_config_clear(&c); /* idempotent */
    }
    proto_config_clear(NULL);
}

static void test_parse_limits(void **state)
{
    (void)state;
    struct proto_registry_config c;
    /* over the size cap: refused before parsing */
    size_t big = PROTO_CONFIG_MAX + 1;
    uint8_t *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, ' ', big);
    memcpy(buf, "{\"dl\":\"x\"}", 10);
    assert_int_equal(proto_config_parse(buf, big, &c), -EMSGSIZE);
    assert_int_equal(proto_config_parse(buf, PROTO_CONFIG_MAX, &c), 0);
    proto_config_clear(&c);

    /* dl of PROTO_URL_MAX-1 chars is accepted, PROTO_URL_MAX is too long */
    for (size_t n = PROTO_URL_MAX - 1; n <= PROTO_URL_MAX; n++) {
        size_t len = 0;
        memcpy(buf, "{\"dl\":\"", 7);
        len = 7;
        memset(buf + len, 'u', n);
        len += n;
        memcpy(buf + len, "\"}", 2);
        len += 2;
        int rc = proto_config_parse(buf, len, &c);
        assert_int_equal(rc, n < PROTO_URL_MAX ? 0 : -EBADMSG);
        proto_config_clear(&c);
    }
    assert_int_equal(proto_config_parse(NULL, 0, &c), -EBADMSG);
    free(buf);
}

#define CK "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct {
    const char *tmpl, *name, *vers, *cksum;
    int rc;
    const char *url;
} expand_cases[] = {
    /* no marker: Cargo's default suffix */
    {"https://crates.io/api/v1/crates", "serde", "1.0.0", CK, 0,
     "https://crates.io/api/v1/crates/serde/1.0.0/download"},
    {"https://h/dl/", "serde", "1.0.0", CK, 0, "https://h/dl//serde/1.0.0/download"},
    {"http://h/{unknown}", "serde", "1.0.0", CK, 0,
     "http://h/{unknown}/serde/1.0.0/download"},
    {"x{crat}e}{", "a", "1", CK, 0, "x{crat}e}{/a/1/download"},
    /* each marker */
    {"http://h/{crate}", "Serde", "1.0.0", CK, 0, "http://h/Serde"},
    {"http://h/{version}", "Serde", "1.0.0-rc.1+b", CK, 0, "http://h/1.0.0-rc.1+b"},
    {"http://h/{prefix}", "Serde", "1.0.0", CK, 0, "http://h/Se/rd"},
    {"http://h/{lowerprefix}", "Serde", "1.0.0", CK, 0, "http://h/se/rd"},
    {"http://h/{sha256-checksum}", "Serde", "1.0.0", CK, 0, "http://h/" CK},
    /* all together, repeated, and short names */
    {"http://h/{prefix}/{lowerprefix}/{crate}/{crate}-{version}.crate?c={sha256-checksum}",
     "Serde", "1.0.0", CK, 0,
     "http://h/Se/rd/se/rd/Serde/Serde-1.0.0.crate?c=" CK},
    {"/{prefix}/{crate}", "a", "1.0.0", CK, 0, "/1/a"},
    {"/{prefix}/{crate}", "ab", "1.0.0", CK, 0, "/2/ab"},
    {"/{prefix}/{lowerprefix}/{crate}", "ABC", "1.0.0", CK, 0, "/3/A/3/a/ABC"},
    {"{crate}{{version}}", "a", "1", CK, 0, "a{1}"},
    {"http://127.0.0.1:7878/crates/{crate}/{version}/{sha256-checksum}", "serde_json", "1.0.1",
     CK, 0, "http://127.0.0.1:7878/crates/serde_json/1.0.1/" CK},
    /* invalid arguments */
    {"http://h/{crate}", "", "1.0.0", CK, -EINVAL, NULL},
    {"http://h/{crate}", "../etc", "1.0.0", CK, -EINVAL, NULL},
    {"http://h/{crate}", "serde", "x1", CK, -EINVAL, NULL},
    {"http://h/{crate}", "serde", "1/../..", CK, -EINVAL, NULL},
    {"http://h/{crate}", "serde", "1.0.0", "abc", -EINVAL, NULL},
    {"http://h/{crate}", "serde", "1.0.0", CK "0", -EINVAL, NULL},
    {"http://h/{crate}", "serde", "1.0.0",
     "z3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", -EINVAL, NULL},
};

static void test_expand(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof expand_cases / sizeof expand_cases[0]; i++) {
        char out[PROTO_URL_MAX];
        int rc = proto_dl_expand(expand_cases[i].tmpl, expand_cases[i].name,
                                 expand_cases[i].vers, expand_cases[i].cksum, out, sizeof out);
        if (expand_cases[i].rc < 0) {
            if (rc != expand_cases[i].rc)
                fail_msg("case %zu: rc %d, want %d", i, rc, expand_cases[i].rc);
            continue;
        }
        if (rc < 0)
            fail_msg("case %zu (%s): rc %d", i, expand_cases[i].tmpl, rc);
        assert_string_equal(out, expand_cases[i].url);
        assert_int_equal((size_t)rc, strlen(expand_cases[i].url));
    }
    char out[8];
    assert_int_equal(proto_dl_expand(NULL, "a", "1", CK, out, sizeof out), -EINVAL);
    assert_int_equal(proto_dl_expand("x", NULL, "1", CK, out, sizeof out), -EINVAL);
    assert_int_equal(proto_dl_expand("x", "a", NULL, CK, out, sizeof out), -EINVAL);
    assert_int_equal(proto_dl_expand("x", "a", "1", NULL, out, sizeof out), -EINVAL);
}

static void test_expand_small_buffer(void **state)
{
    (void)state;
    const char *want = "http://h/serde/1.0.0/download";
    size_t n = strlen(want);
    char out[64];
    for (size_t sz = 0; sz <= n + 1; sz++) {
        memset(out, 'X', sizeof out);
        int rc = proto_dl_expand("http://h", "serde", "1.0.0", CK, out, sz);
        if (sz <= n) {
            assert_int_equal(rc, -ENAMETOOLONG);
            assert_int_equal(out[sz], 'X'); /* nothing written past outsz */
        } else {
            assert_int_equal(rc, (int)n);
            assert_string_equal(out, want);
        }
    }
    assert_int_equal(proto_dl_expand("{crate}", "serde", "1.0.0", CK, NULL, 0), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_expand_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
