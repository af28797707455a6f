/* tests/unit/test-proto-sha256.c — SHA-256 against the FIPS 180-2 vectors,
 * incremental vs one-shot hashing, and the hex helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/sha256.h"

static const struct {
    const char *msg;
    size_t repeat; /* msg repeated this many times */
    const char *hex;
} vectors[] = {
    {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

static void test_vectors_oneshot(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        size_t ml = strlen(vectors[i].msg), n = ml * vectors[i].repeat;
        uint8_t *buf = malloc(n ? n : 1);
        assert_non_null(buf);
        for (size_t r = 0; r < vectors[i].repeat; r++)
            memcpy(buf + r * ml, vectors[i].msg, ml);
        uint8_t d[PROTO_SHA256_LEN];
        char hex[PROTO_SHA256_HEX_LEN + 1];
        proto_sha256(buf, n, d);
        proto_hex_encode(d, sizeof d, hex);
        assert_string_equal(hex, vectors[i].hex);
        free(buf);
    }
}

static void test_vectors_incremental(void **state)
{
    (void)state;
    static const size_t chunks[] = {1, 3, 63, 64, 65, 4096};
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            if (vectors[i].repeat > 1 && chunks[c] < 63)
                continue; /* a million one-byte updates add nothing but time */
            size_t ml = strlen(vectors[i].msg), n = ml * vectors[i].repeat;
            struct proto_sha256 h;
            assert_int_equal(proto_sha256_init(&h), 0);
            /* Feed the message stream in chunks[c]-byte pieces. */
            char piece[4096];
            size_t done = 0;
            while (done < n) {
                size_t k = n - done < chunks[c] ? n - done : chunks[c];
                for (size_t j = 0; j < k; j++)
                    piece[j] = vectors[i].msg[(done + j) % ml];
                proto_sha256_update(&h, piece, k);
                done += k;
            }
            proto_sha256_update(&h, NULL, 0); /* empty update is a no-op */
            uint8_t d[PROTO_SHA256_LEN];
            char hex[PROTO_SHA256_HEX_LEN + 1];
            proto_sha256_final(&h, d);
            assert_null(h.ctx);
            proto_hex_encode(d, sizeof d, hex);
            assert_string_equal(hex, vectors[i].hex);
        }
    }
}

static void test_abort(void **state)
{
    (void)state;
    struct proto_sha256 h;
    assert_int_equal(proto_sha256_init(&h), 0);
    proto_sha256_update(&h, "abc", 3);
    proto_sha256_abort(&h);
    assert_null(h.ctx);
    proto_sha256_abort(&h); /* twice is fine */
    proto_sha256_abort(NULL);
    /* reusable after abort */
    assert_int_equal(proto_sha256_init(&h), 0);
    proto_sha256_update(&h, "abc", 3);
    uint8_t d[PROTO_SHA256_LEN], want[PROTO_SHA256_LEN];
    proto_sha256_final(&h, d);
    proto_sha256("abc", 3, want);
    assert_memory_equal(d, want, sizeof d);
}

static void test_hex_encode(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof in + 1];
    memset(out, 'x', sizeof out);
    proto_hex_encode(in, sizeof in, out);
    assert_string_equal(out, "00017f80abff");
    proto_hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

static const struct {
    const char *s;
    size_t outlen;
    int rc;
    const char *want; /* lower-case re-encoding on success */
} decode_cases[] = {
    {"", 0, 0, ""},
    {"00", 1, 0, "00"},
    {"aBcD", 2, 0, "abcd"},
    {"FFee", 2, 0, "ffee"},
    {"0", 1, -EINVAL, NULL},       /* odd length */
    {"000", 1, -EINVAL, NULL},     /* too long for outlen */
    {"0g", 1, -EINVAL, NULL},      /* not hex */
    {"g0", 1, -EINVAL, NULL},
    {" 0", 1, -EINVAL, NULL},
    {"0x", 1, -EINVAL, NULL},
    {"-1", 1, -EINVAL, NULL},
    {"\xff\xff", 1, -EINVAL, NULL}, /* high bytes */
    {"abcd", 1, -EINVAL, NULL},
};

static void test_hex_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof decode_cases / sizeof decode_cases[0]; i++) {
        uint8_t out[8];
        memset(out, 0x5a, sizeof out);
        const char *s = decode_cases[i].s;
        int rc = proto_hex_decode(s, strlen(s), out, decode_cases[i].outlen);
        assert_int_equal(rc, decode_cases[i].rc);
        if (rc == 0) {
            char back[17];
            proto_hex_encode(out, decode_cases[i].outlen, back);
            assert_string_equal(back, decode_cases[i].want);
        } else {
            assert_int_equal(out[0], 0x5a); /* untouched on error */
        }
    }
    assert_int_equal(proto_hex_decode(NULL, 0, NULL, 0), -EINVAL);
}

static void test_hex_valid(void **state)
{
    (void)state;
    const char *good = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const char *upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    assert_true(proto_sha256_hex_valid(good, 64));
    assert_true(proto_sha256_hex_valid(upper, 64));
    assert_false(proto_sha256_hex_valid(good, 63));
    assert_false(proto_sha256_hex_valid(good, 0));
    assert_false(proto_sha256_hex_valid(NULL, 64));
    char bad[65];
    memcpy(bad, good, 65);
    bad[10] = 'g';
    assert_false(proto_sha256_hex_valid(bad, 64));
    bad[10] = '\0';
    assert_false(proto_sha256_hex_valid(bad, 64));

    /* round trip through decode */
    uint8_t d[PROTO_SHA256_LEN];
    char back[PROTO_SHA256_HEX_LEN + 1];
    assert_int_equal(proto_hex_decode(upper, 64, d, sizeof d), 0);
    proto_hex_encode(d, sizeof d, back);
    assert_string_equal(back, good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_oneshot), cmocka_unit_test(test_vectors_incremental),
        cmocka_unit_test(test_abort),           cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_hex_decode),      cmocka_unit_test(test_hex_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
