/* tests/unit/test-proto-envelope.c — the signed envelope of proto/envelope.h
 * on its own: seal and open round trips (plain and zstd), the header bytes,
 * domain separation by type, a changed byte anywhere, the key check. The
 * messages inside it, and the envelope's caps against hostile input, are in
 * tests/unit/test-proto-peer.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto/envelope.h"

#define BODY_LEN (PROTO_PK_LEN + 100 + PROTO_SIG_LEN)

static uint8_t g_pk[PROTO_PK_LEN], g_sk[PROTO_SK_LEN];

static int setup(void **state)
{
    (void)state;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 3);
    if (proto_envelope_ready() < 0)
        return -1;
    crypto_sign_seed_keypair(g_pk, g_sk, seed);
    return 0;
}

/* A body: the key, 100 bytes of text (compressible), room for the signature. */
static void make_scratch(uint8_t scratch[PROTO_ENVELOPE_HEADROOM + BODY_LEN])
{
    memset(scratch, 0xee, PROTO_ENVELOPE_HEADROOM + BODY_LEN);
    uint8_t *body = scratch + PROTO_ENVELOPE_HEADROOM;
    memcpy(body, g_pk, PROTO_PK_LEN);
    for (int i = 0; i < 100; i++)
        body[PROTO_PK_LEN + i] = (uint8_t)('a' + i % 4);
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int compress = 0; compress <= 1; compress++) {
        uint8_t scratch[PROTO_ENVELOPE_HEADROOM + BODY_LEN];
        make_scratch(scratch);
        uint8_t *w;
        size_t wl;
        assert_int_equal(proto_envelope_seal(scratch, BODY_LEN, 'M', g_sk, compress, &w, &wl), 0);
        assert_memory_equal(w, "CCP1M", 5);
        assert_int_equal(w[5], compress ? 1 : 0);
        assert_int_equal(w[6], 0);
        assert_int_equal(w[7], 0);
        assert_int_equal((size_t)w[8] << 24 | (size_t)w[9] << 16 | (size_t)w[10] << 8 | w[11],
                         BODY_LEN);
        if (compress)
            assert_true(wl < PROTO_ENVELOPE_LEN + BODY_LEN);
        else
            assert_int_equal(wl, PROTO_ENVELOPE_LEN + BODY_LEN);

        uint8_t *s;
        size_t blen;
        assert_int_equal(proto_envelope_open(w, wl, 'M', BODY_LEN, &s, &blen), 0);
        assert_int_equal(blen, BODY_LEN);
        /* the signed body as sealed, signature included */
        assert_memory_equal(s + PROTO_ENVELOPE_HEADROOM, scratch + PROTO_ENVELOPE_HEADROOM,
                            BODY_LEN);
        assert_memory_equal(s, "cratecast/1/M", 14); /* the domain, NUL included */
        free(s);

        /* a longer minimum than the body is malformed */
        assert_int_equal(proto_envelope_open(w, wl, 'M', BODY_LEN + 1, &s, &blen), -EBADMSG);
        assert_null(s);
        assert_int_equal(blen, 0);
        free(w);
    }
}

/* The type is signed: the same body sealed as 'I' opens as 'I' only, and
 * relabelling the envelope does not make it verify as another type. */
static void test_domain_separation(void **state)
{
    (void)state;
    uint8_t scratch[PROTO_ENVELOPE_HEADROOM + BODY_LEN];
    make_scratch(scratch);
    uint8_t *w, *s;
    size_t wl, blen;
    assert_int_equal(proto_envelope_seal(scratch, BODY_LEN, 'I', g_sk, false, &w, &wl), 0);
    assert_int_equal(proto_envelope_open(w, wl, 'M', BODY_LEN, &s, &blen), -EPROTO);
    w[4] = 'M';
    assert_int_equal(proto_envelope_open(w, wl, 'M', BODY_LEN, &s, &blen), -EPERM);
    w[4] = 'X';
    assert_int_equal(proto_envelope_open(w, wl, 'X', BODY_LEN, &s, &blen), -EPROTO);
    w[4] = 'I';
    assert_int_equal(proto_envelope_open(w, wl, 'I', BODY_LEN, &s, &blen), 0);
    free(s);
    free(w);
}

static void test_tamper(void **state)
{
    (void)state;
    uint8_t scratch[PROTO_ENVELOPE_HEADROOM + BODY_LEN];
    make_scratch(scratch);
    uint8_t *w, *s;
    size_t wl, blen;
    assert_int_equal(proto_envelope_seal(scratch, BODY_LEN, 'H', g_sk, false, &w, &wl), 0);
    for (size_t i = PROTO_ENVELOPE_LEN; i < wl; i++) {
        w[i] ^= 0x01;
        assert_int_equal(proto_envelope_open(w, wl, 'H', BODY_LEN, &s, &blen), -EPERM);
        w[i] ^= 0x01;
    }
    w[5] = 0x02; /* an unknown flag */
    assert_int_equal(proto_envelope_open(w, wl, 'H', BODY_LEN, &s, &blen), -EPROTO);
    w[5] = 0;
    w[7] = 1; /* reserved */
    assert_int_equal(proto_envelope_open(w, wl, 'H', BODY_LEN, &s, &blen), -EPROTO);
    w[7] = 0;
    w[8] = 0x02; /* 32 MiB + the body */
    assert_int_equal(proto_envelope_open(w, wl, 'H', BODY_LEN, &s, &blen), -EMSGSIZE);
    w[8] = 0;
    assert_int_equal(proto_envelope_open(w, wl - 1, 'H', BODY_LEN, &s, &blen), -EBADMSG);
    assert_int_equal(proto_envelope_open(w, PROTO_ENVELOPE_LEN - 1, 'H', 0, &s, &blen), -EBADMSG);
    assert_int_equal(proto_envelope_open(NULL, 0, 'H', BODY_LEN, &s, &blen), -EBADMSG);
    assert_int_equal(proto_envelope_open(w, wl, 'H', BODY_LEN, &s, &blen), 0);
    free(s);
    free(w);
}

static void test_key_matches(void **state)
{
    (void)state;
    uint8_t pk[PROTO_PK_LEN], sk[PROTO_SK_LEN];
    crypto_sign_keypair(pk, sk);
    assert_true(proto_envelope_key_matches(g_sk, g_pk));
    assert_true(proto_envelope_key_matches(sk, pk));
    assert_false(proto_envelope_key_matches(sk, g_pk));
    /* a body whose key is not the signer's seals, but does not verify */
    uint8_t scratch[PROTO_ENVELOPE_HEADROOM + BODY_LEN];
    make_scratch(scratch);
    uint8_t *w, *s;
    size_t wl, blen;
    assert_int_equal(proto_envelope_seal(scratch, BODY_LEN, 'N', sk, false, &w, &wl), 0);
    assert_int_equal(proto_envelope_open(w, wl, 'N', BODY_LEN, &s, &blen), -EPERM);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_domain_separation),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_key_matches),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
