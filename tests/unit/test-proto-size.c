/* tests/unit/test-proto-size.c — proto_size_parse (proto/size.h): a table of
 * accepted sizes with their exact byte counts, and of refused ones with their
 * error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/size.h"

static const struct {
    const char *in;
    int rc;
    uint64_t want;
} cases[] = {
    {"0", 0, 0},
    {"1", 0, 1},
    {"4096", 0, 4096},
    {"512B", 0, 512},
    {"512b", 0, 512},
    {"1K", 0, 1024},
    {"1k", 0, 1024},
    {"1KB", 0, 1024},
    {"1KiB", 0, 1024},
    {"1kib", 0, 1024},
    {"500M", 0, 500ull << 20},
    {"500MB", 0, 500ull << 20},
    {"20G", 0, 20ull << 30},
    {"20g", 0, 20ull << 30},
    {"1.5T", 0, 3ull << 39},
    {"1.5K", 0, 1536},
    {"0.5G", 0, 1ull << 29},
    {"0.001K", 0, 1},           /* 1.024 bytes, rounded down */
    {"0.0001K", 0, 0},          /* 0.1024 bytes */
    {"1.1G", 0, 1181116006ull}, /* 1.1 * 2^30 = 1181116006.4 */
    {"0.999999999P", 0, 1125899905716724ull},
    {"1P", 0, 1ull << 50},
    {"16383P", 0, 16383ull << 50},
    {"00020G", 0, 20ull << 30},
    {"18446744073709551615", 0, UINT64_MAX},
    {"18446744073709551615B", 0, UINT64_MAX},

    {"18446744073709551616", -ERANGE, 0},
    {"16384P", -ERANGE, 0},
    {"16383.999999999P", 0, 18446744073708425716ull},
    {"18446744073709551615.5K", -ERANGE, 0},
    {"17179869184T", -ERANGE, 0},
    {"", -EINVAL, 0},
    {"G", -EINVAL, 0},
    {".5G", -EINVAL, 0},
    {"1.", -EINVAL, 0},
    {"1.G", -EINVAL, 0},
    {"1.5", -EINVAL, 0}, /* a fraction of a byte */
    {"1.5B", -EINVAL, 0},
    {"-1", -EINVAL, 0},
    {"+1", -EINVAL, 0},
    {" 1", -EINVAL, 0},
    {"1 ", -EINVAL, 0},
    {"1 G", -EINVAL, 0},
    {"1X", -EINVAL, 0},
    {"1E", -EINVAL, 0},
    {"1GG", -EINVAL, 0},
    {"1Gi", -EINVAL, 0},
    {"1GBB", -EINVAL, 0},
    {"1iB", -EINVAL, 0},
    {"1.0000000001G", -EINVAL, 0}, /* ten fraction digits */
    {"1e9", -EINVAL, 0},
    {"0x10", -EINVAL, 0},
    {"1,5G", -EINVAL, 0},
    {"000000000000000000000000000000001", -EINVAL, 0}, /* 33 bytes: over the cap */
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t v = 12345;
        int rc = proto_size_parse((const uint8_t *)cases[i].in, strlen(cases[i].in), &v);
        if (rc != cases[i].rc || v != cases[i].want)
            fail_msg("case %zu \"%s\": rc %d value %llu, want rc %d value %llu", i, cases[i].in, rc,
                     (unsigned long long)v, cases[i].rc, (unsigned long long)cases[i].want);
    }
}

/* The length is what counts, not a NUL: "20G" followed by more bytes is refused,
 * a prefix of it is what the prefix says. */
static void test_length(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(proto_size_parse((const uint8_t *)"20G\0", 4, &v), -EINVAL);
    assert_int_equal(proto_size_parse((const uint8_t *)"20G", 2, &v), 0);
    assert_int_equal(v, 20);
    assert_int_equal(proto_size_parse(NULL, 0, &v), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
