/* tests/unit/test-proto-cargo-home.c — which CARGO_HOME registry directories
 * are crates.io's (proto/cargo_home.h): the import rule, case by case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/cargo_home.h"

#define CRATES_IO_CFG "{\"dl\":\"https://static.crates.io/crates\",\"api\":\"https://crates.io\"}"
#define OLD_CFG "{\"dl\":\"https://crates.io/api/v1/crates\",\"api\":\"https://crates.io\"}"
#define PRIVATE_CFG                                                                                \
    "{\"dl\":\"https://my-registry.example/api/v1/crates/{crate}/{version}/download\"}"
#define AGENT_CFG "{\"dl\":\"http://127.0.0.1:7878/crates/{crate}/{version}/{sha256-checksum}\"}"

static const struct {
    const char *dir, *cfg, *host;
    bool want;
    const char *why_has; /* a word the reason must contain, when not crates.io */
} cases[] = {
    {"index.crates.io-1949cf8c6b5b557f", NULL, NULL, true, NULL},
    {"index.crates.io-6f17d22bba15001f", CRATES_IO_CFG, NULL, true, NULL},
    {"github.com-1ecc6299db9ec823", NULL, NULL, true, NULL},
    {"index.crates.io-1949cf8c6b5b557", NULL, NULL, false, "not crates.io"}, /* 15 hex */
    {"index.crates.io-1949cf8c6b5b557fa", NULL, NULL, false, "not crates.io"},
    {"index.crates.io-1949CF8C6B5B557F", NULL, NULL, false, "not crates.io"},
    {"index.crates.io.evil.example-1949cf8c6b5b557f", NULL, NULL, false, "not crates.io"},
    {"github.com-0000000000000000", NULL, NULL, false, "not crates.io"}, /* another git index */
    {"my-registry.example-0123456789abcdef", PRIVATE_CFG, NULL, false, "my-registry.example"},
    {"my-registry.example-0123456789abcdef", NULL, NULL, false, "not crates.io"},
    {"my-registry.example-0123456789abcdef", "not json", NULL, false, "unreadable"},
    {"mirror.example-0123456789abcdef", CRATES_IO_CFG, NULL, true, NULL},
    {"mirror.example-0123456789abcdef", OLD_CFG, NULL, true, NULL},
    /* the user's Cargo config replaces crates.io with this host (a mirror, or this agent) */
    {"127.0.0.1-0123456789abcdef", AGENT_CFG, "127.0.0.1", true, NULL},
    {"127.0.0.1-0123456789abcdef", NULL, "127.0.0.1", true, NULL},
    {"127.0.0.1-0123456789abcdef", AGENT_CFG, NULL, false, "127.0.0.1:7878"},
    {"127.0.0.2-0123456789abcdef", NULL, "127.0.0.1", false, "not crates.io"},
    {"127.0.0.1-0123456789abcdef", NULL, "", false, "not crates.io"},
    {"a/b", NULL, NULL, false, "not a registry"},
};

static void test_rule(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[256];
        const char *cfg = cases[i].cfg;
        bool got = proto_cargo_registry_is_crates_io(cases[i].dir, (const uint8_t *)cfg,
                                                     cfg ? strlen(cfg) : 0, cases[i].host, why,
                                                     sizeof why);
        if (got != cases[i].want)
            fail_msg("case %zu (%s): got %d, expected %d", i, cases[i].dir, got, cases[i].want);
        if (!got && strstr(why, cases[i].why_has) == NULL)
            fail_msg("case %zu: reason '%s' lacks '%s'", i, why, cases[i].why_has);
        if (got)
            assert_string_equal(why, "");
    }
}

static void test_small_reason_buffer(void **state)
{
    (void)state;
    char why[8];
    assert_false(proto_cargo_registry_is_crates_io("x-0123456789abcdef",
                                                   (const uint8_t *)PRIVATE_CFG,
                                                   strlen(PRIVATE_CFG), NULL, why, sizeof why));
    assert_int_equal(strlen(why), 7);
    assert_false(proto_cargo_registry_is_crates_io("x", NULL, 0, NULL, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule),
        cmocka_unit_test(test_small_reason_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
