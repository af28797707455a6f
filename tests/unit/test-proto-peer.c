/* tests/unit/test-proto-peer.c — the peer messages of proto/peer.h: fixed
 * test vectors (the same as in docs/protocol.md, cross-checked against an
 * independent Ed25519/BLAKE2b implementation), round trips compressed and
 * not, tampering, domain separation, truncation, caps and zstd bombs, the
 * key text form and the mDNS TXT strings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <zstd.h>

#include "proto/peer.h"

/* ---- fixed key and vectors (docs/protocol.md, "Test vectors") ------------ */

#define VEC_KEY_TEXT "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
#define VEC_KEY_ID "9d24e2eeaf27c2a0"
#define VEC_PK "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"

static const char vec_hello[] =
    "43435031480000000000009803a107bff3ce10be1d70dd18e74bc09967e4d630"
    "9ba50d5f1ddc8664125531b800010000001f000000000000002a000000006553"
    "f1001ec7a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babb"
    "bcbdbebfd4d96c50f2b8bd83cdcd7f6ba51c027cdc319945a824e79c7e357ce5"
    "91a4fcc7986f633b11bd536ebbd4b9db6a38fc77e43ed858c3ee483b86eccc3a"
    "3a646f09";

static const char vec_manifest[] =
    "434350314d000000000000e703a107bff3ce10be1d70dd18e74bc09967e4d630"
    "9ba50d5f1ddc8664125531b80000000000000007000000000000000000000000"
    "6553f10000000001e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
    "a495991b7852b85500000000000004d200000001057365726465abababababab"
    "abababababababababababababababababababababababababab000000006553"
    "f10000010e3139322e302e322e373a37383739b2bc7a7d4c98c38ba76093c6c9"
    "3ce354173e47ba57fc6df007a1ef9e93eec1ed85f8f3ea38abe86cecf6cfc4da"
    "6fe9a9232a2f478afa51e0e328e0b371476801";

/* news: gen 5, seq 7, time 1700000000, uploads 2 of 8 with 1 waiting, fetching
 * SHA-256(""), peers 192.0.2.7:7879 and [2001:db8::1]:7879 (docs/protocol.md;
 * computed independently with Python's cryptography) */
static const char vec_news[] =
    "434350314e000000000000bc03a107bff3ce10be1d70dd18e74bc09967e4d630"
    "9ba50d5f1ddc8664125531b800000000000000050000000000000007000000006553"
    "f1000002000800010001e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
    "a495991b7852b855000204c00002071ec70620010db8000000000000000000000001"
    "1ec786c50eb7e5e4870ba0795f35040275e609bcd4597ff7d3241f731cd03622aaa3"
    "12836e8b6827649f1be3cac3b4792a528b0248cc1fd0217bea87bf6b3fea820b";

/* the same news asked with gains=1: gains_since 6, one crate (SHA-256(""),
 * 1234 bytes) and one index entry (serde, hash 32 x 0xab, updated
 * 1700000000) gained (docs/protocol.md; computed with Python's cryptography) */
static const char vec_news_gains[] =
    "434350314e0000000000011e03a107bff3ce10be1d70dd18e74bc09967e4d630"
    "9ba50d5f1ddc8664125531b80000000000000005000000000000000700000000"
    "6553f1000002000800010001e3b0c44298fc1c149afbf4c8996fb92427ae41e4"
    "649b934ca495991b7852b855000204c00002071ec70620010db8000000000000"
    "0000000000011ec700000000000000060001e3b0c44298fc1c149afbf4c8996f"
    "b92427ae41e4649b934ca495991b7852b85500000000000004d2000105736572"
    "6465abababababababababababababababababababababababababababababab"
    "abab000000006553f1009433a8e31d1f6ddeae1a95d107070508fedd1d08ea14"
    "4c1a7af663e1b1568110e9bbf9c2285e736c6d32cf6184920e89f3be750de0cd"
    "6ea6393a8faad63bf202";

static uint8_t g_pk[PROTO_PK_LEN], g_sk[PROTO_SK_LEN];

static int setup(void **state)
{
    (void)state;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    if (sodium_init() < 0)
        return -1;
    crypto_sign_seed_keypair(g_pk, g_sk, seed);
    return 0;
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    proto_hex_encode(b, n, out);
}

static void vec_hello_msg(struct proto_hello *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->pk, g_pk, PROTO_PK_LEN);
    h->version = PROTO_PEER_VERSION;
    h->caps = 0x1f;
    h->seq = 42;
    h->time = 1700000000;
    h->peer_port = 7879;
    for (int i = 0; i < PROTO_NONCE_LEN; i++)
        h->nonce[i] = (uint8_t)(0xa0 + i);
}

static struct proto_manifest_crate vec_crate = {{0}, 1234};
static struct proto_manifest_index vec_index = {"serde", {0}, 1700000000};
static char vec_pex[1][PROTO_PEER_ADDR_MAX + 1] = {"192.0.2.7:7879"};

static void vec_manifest_msg(struct proto_manifest *m)
{
    memset(m, 0, sizeof *m);
    proto_sha256("", 0, vec_crate.sha256);
    memset(vec_index.hash, 0xab, sizeof vec_index.hash);
    memcpy(m->pk, g_pk, PROTO_PK_LEN);
    m->seq = 7;
    m->since = 0;
    m->time = 1700000000;
    m->crates = &vec_crate;
    m->ncrates = 1;
    m->index = &vec_index;
    m->nindex = 1;
    m->pex = vec_pex;
    m->npex = 1;
}

static void assert_hello_equal(const struct proto_hello *a, const struct proto_hello *b)
{
    assert_memory_equal(a->pk, b->pk, PROTO_PK_LEN);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->caps, b->caps);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->time, b->time);
    assert_int_equal(a->peer_port, b->peer_port);
    assert_memory_equal(a->nonce, b->nonce, PROTO_NONCE_LEN);
}

static void test_vectors(void **state)
{
    (void)state;
    char kt[PROTO_KEY_TEXT_LEN + 1], kid[PROTO_KEYID_HEX_LEN + 1], pkhex[65];
    proto_key_encode(g_pk, kt);
    proto_key_id(g_pk, kid);
    to_hex(g_pk, PROTO_PK_LEN, pkhex);
    assert_string_equal(pkhex, VEC_PK);
    assert_string_equal(kt, VEC_KEY_TEXT);
    assert_string_equal(kid, VEC_KEY_ID);

    struct proto_hello h;
    vec_hello_msg(&h);
    uint8_t *w;
    size_t wl;
    assert_int_equal(proto_hello_encode(&h, g_sk, &w, &wl), 0);
    char *hx = malloc(2 * wl + 1);
    assert_non_null(hx);
    to_hex(w, wl, hx);
    assert_string_equal(hx, vec_hello);
    struct proto_hello d;
    assert_int_equal(proto_hello_decode(w, wl, &d), 0);
    assert_hello_equal(&d, &h);
    free(hx);
    free(w);

    struct proto_manifest m, md;
    vec_manifest_msg(&m);
    assert_int_equal(proto_manifest_encode(&m, g_sk, false, &w, &wl), 0);
    hx = malloc(2 * wl + 1);
    assert_non_null(hx);
    to_hex(w, wl, hx);
    assert_string_equal(hx, vec_manifest);
    assert_int_equal(proto_manifest_decode(w, wl, &md), 0);
    assert_int_equal(md.ncrates, 1);
    assert_int_equal(md.crates[0].size, 1234);
    assert_string_equal(md.index[0].name, "serde");
    assert_string_equal(md.pex[0], "192.0.2.7:7879");
    proto_manifest_clear(&md);
    free(hx);
    free(w);
}

/* ---- keys ------------------------------------------------------------------ */

static void test_key_text(void **state)
{
    (void)state;
    uint8_t pk[PROTO_PK_LEN];
    assert_int_equal(proto_key_decode(VEC_KEY_TEXT, 43, pk), 0);
    assert_memory_equal(pk, g_pk, PROTO_PK_LEN);
    static const struct {
        const char *s;
        int rc;
    } cases[] = {
        {VEC_KEY_TEXT, 0},
        {"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=", -EINVAL},  /* padding */
        {"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMb", -EINVAL},   /* short */
        {"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg", -EINVAL},  /* standard alphabet */
        {"A6EHv+POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg", -EINVAL},
        {"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbh", -EINVAL},  /* non-zero spare bits */
        {"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMb ", -EINVAL},
        {"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbgA", -EINVAL}, /* long */
        {"", -EINVAL},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0},
        {"___________________________________________", -EINVAL}, /* spare bits set */
        {"__________________________________________8", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s);
        char *copy = malloc(n ? n : 1); /* no NUL: ASan catches an overread */
        assert_non_null(copy);
        memcpy(copy, cases[i].s, n);
        int rc = proto_key_decode(copy, n, pk);
        free(copy);
        if (rc != cases[i].rc)
            fail_msg("key \"%s\": rc %d, want %d", cases[i].s, rc, cases[i].rc);
        if (rc == 0) {
            char again[PROTO_KEY_TEXT_LEN + 1];
            proto_key_encode(pk, again);
            assert_string_equal(again, cases[i].s);
        }
    }
    assert_int_equal(proto_key_decode(NULL, 43, pk), -EINVAL);
}

/* ---- message builders --------------------------------------------------- */

enum kind { K_HELLO, K_MANIFEST, K_INDEX };

/* A message to encode: which kind and its fields. */
struct msg {
    const char *what;
    enum kind kind;
    struct proto_hello hello;
    struct proto_manifest manifest;
    struct proto_peer_index index;
};

static struct proto_manifest_crate many_crates[300];
static struct proto_manifest_index many_index[70];
static char many_pex[PROTO_PEX_MAX][PROTO_PEER_ADDR_MAX + 1];
static char long_lines[100000];

static int encode_msg(const struct msg *m, bool compress, uint8_t **w, size_t *wl)
{
    switch (m->kind) {
    case K_HELLO:
        return proto_hello_encode(&m->hello, g_sk, w, wl);
    case K_MANIFEST:
        return proto_manifest_encode(&m->manifest, g_sk, compress, w, wl);
    case K_INDEX:
        return proto_peer_index_encode(&m->index, g_sk, compress, w, wl);
    }
    return -EINVAL;
}

/* Decode w as m's kind; on success compare with m. */
static int decode_check(const struct msg *m, const uint8_t *w, size_t wl, bool compare)
{
    int rc;
    switch (m->kind) {
    case K_HELLO: {
        struct proto_hello d;
        rc = proto_hello_decode(w, wl, &d);
        if (rc == 0 && compare)
            assert_hello_equal(&d, &m->hello);
        return rc;
    }
    case K_MANIFEST: {
        struct proto_manifest d;
        const struct proto_manifest *e = &m->manifest;
        rc = proto_manifest_decode(w, wl, &d);
        if (rc == 0 && compare) {
            assert_memory_equal(d.pk, e->pk, PROTO_PK_LEN);
            assert_int_equal(d.seq, e->seq);
            assert_int_equal(d.since, e->since);
            assert_int_equal(d.time, e->time);
            assert_int_equal(d.ncrates, e->ncrates);
            assert_int_equal(d.nindex, e->nindex);
            assert_int_equal(d.npex, e->npex);
            for (uint32_t i = 0; i < d.ncrates; i++)
                assert_memory_equal(&d.crates[i], &e->crates[i], sizeof d.crates[i]);
            for (uint32_t i = 0; i < d.nindex; i++) {
                assert_string_equal(d.index[i].name, e->index[i].name);
                assert_memory_equal(d.index[i].hash, e->index[i].hash, PROTO_SHA256_LEN);
                assert_int_equal(d.index[i].updated, e->index[i].updated);
            }
            for (uint32_t i = 0; i < d.npex; i++)
                assert_string_equal(d.pex[i], e->pex[i]);
        }
        proto_manifest_clear(&d);
        return rc;
    }
    case K_INDEX: {
        struct proto_peer_index d;
        uint8_t *owned = (uint8_t *)"not touched";
        rc = proto_peer_index_decode(w, wl, &d, &owned);
        if (rc != 0) {
            assert_null(owned);
            return rc;
        }
        assert_non_null(owned);
        if (compare) {
            assert_memory_equal(d.pk, m->index.pk, PROTO_PK_LEN);
            assert_string_equal(d.name, m->index.name);
            assert_int_equal(d.time, m->index.time);
            assert_int_equal(d.len, m->index.len);
            if (d.len)
                assert_memory_equal(d.lines, m->index.lines, d.len);
        }
        free(owned);
        return rc;
    }
    }
    return -EINVAL;
}

#define NMSGS 8
static struct msg msgs[NMSGS];

static void build_msgs(void)
{
    struct msg *m = msgs;
    memset(msgs, 0, sizeof msgs);

    m->what = "hello";
    m->kind = K_HELLO;
    vec_hello_msg(&m->hello);
    m++;

    m->what = "hello, extremes";
    m->kind = K_HELLO;
    vec_hello_msg(&m->hello);
    m->hello.caps = UINT32_MAX;
    m->hello.seq = UINT64_MAX;
    m->hello.time = 0;
    m->hello.peer_port = 0;
    m++;

    m->what = "manifest, vector";
    m->kind = K_MANIFEST;
    vec_manifest_msg(&m->manifest);
    m++;

    m->what = "manifest, empty";
    m->kind = K_MANIFEST;
    memcpy(m->manifest.pk, g_pk, PROTO_PK_LEN);
    m++;

    m->what = "manifest, delta with many entries";
    m->kind = K_MANIFEST;
    memcpy(m->manifest.pk, g_pk, PROTO_PK_LEN);
    for (size_t i = 0; i < 300; i++) {
        memset(many_crates[i].sha256, (int)i, PROTO_SHA256_LEN);
        many_crates[i].sha256[0] = (uint8_t)(i >> 8);
        many_crates[i].size = UINT64_C(1) << (i % 64);
    }
    for (size_t i = 0; i < 70; i++) {
        if (i == 0)
            snprintf(many_index[i].name, sizeof many_index[i].name, "a");
        else if (i == 1)
            memset(many_index[i].name, 'z', PROTO_NAME_MAX); /* 64 chars, NUL after */
        else
            snprintf(many_index[i].name, sizeof many_index[i].name, "crate_%zu-x", i);
        memset(many_index[i].hash, (int)(0x80 + i), PROTO_SHA256_LEN);
        many_index[i].updated = 1700000000u + i;
    }
    for (size_t i = 0; i < PROTO_PEX_MAX; i++)
        snprintf(many_pex[i], sizeof many_pex[i], i % 2 ? "[fe80::%zx]:%zu" : "host-%zu.local:%zu",
                 i, 1 + i * 1000);
    memset(many_pex[3], 'h', PROTO_PEER_ADDR_MAX - 6);
    memcpy(many_pex[3] + PROTO_PEER_ADDR_MAX - 6, ":65535", 7); /* 255 chars */
    m->manifest.seq = 1000;
    m->manifest.since = 999;
    m->manifest.time = UINT64_MAX;
    m->manifest.crates = many_crates;
    m->manifest.ncrates = 300;
    m->manifest.index = many_index;
    m->manifest.nindex = 70;
    m->manifest.pex = many_pex;
    m->manifest.npex = PROTO_PEX_MAX;
    m++;

    static const char lines[] = "{\"name\":\"serde\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":"
                                "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
                                "\"features\":{},\"yanked\":false}\n";
    m->what = "index";
    m->kind = K_INDEX;
    memcpy(m->index.pk, g_pk, PROTO_PK_LEN);
    snprintf(m->index.name, sizeof m->index.name, "serde");
    m->index.time = 1700000000;
    m->index.lines = (const uint8_t *)lines;
    m->index.len = sizeof lines - 1;
    m++;

    m->what = "index, empty";
    m->kind = K_INDEX;
    memcpy(m->index.pk, g_pk, PROTO_PK_LEN);
    snprintf(m->index.name, sizeof m->index.name, "x");
    m++;

    for (size_t i = 0; i < sizeof long_lines; i++)
        long_lines[i] = (i % 100 == 99) ? '\n' : (char)('a' + i % 26);
    m->what = "index, 100 kB";
    m->kind = K_INDEX;
    memcpy(m->index.pk, g_pk, PROTO_PK_LEN);
    memset(m->index.name, 'q', PROTO_NAME_MAX);
    m->index.time = 1;
    m->index.lines = (const uint8_t *)long_lines;
    m->index.len = sizeof long_lines;
    m++;
    assert_int_equal(m - msgs, NMSGS);
}

static void test_roundtrip(void **state)
{
    (void)state;
    build_msgs();
    for (size_t i = 0; i < NMSGS; i++) {
        for (int z = 0; z < 2; z++) {
            uint8_t *w;
            size_t wl;
            int rc = encode_msg(&msgs[i], z, &w, &wl);
            if (rc != 0)
                fail_msg("%s (zstd %d): encode %d", msgs[i].what, z, rc);
            bool zstd_flag = msgs[i].kind != K_HELLO && z; /* hello is never compressed */
            assert_int_equal(w[5], zstd_flag ? 1 : 0);
            rc = decode_check(&msgs[i], w, wl, true);
            if (rc != 0)
                fail_msg("%s (zstd %d): decode %d", msgs[i].what, z, rc);
            /* canonical: encoding is deterministic */
            uint8_t *w2;
            size_t wl2;
            assert_int_equal(encode_msg(&msgs[i], z, &w2, &wl2), 0);
            assert_int_equal(wl2, wl);
            assert_memory_equal(w2, w, wl);
            free(w2);
            free(w);
        }
    }
}

/* Every byte of every message changed, two ways; also every truncation and
 * one byte too many. Nothing decodes, nothing crashes. */
static void test_tamper_and_truncate(void **state)
{
    (void)state;
    build_msgs();
    for (size_t i = 0; i < NMSGS; i++) {
        if (msgs[i].kind == K_INDEX && msgs[i].index.len > 1000)
            continue; /* the 100 kB one: too slow byte by byte, covered by the others */
        for (int z = 0; z < 2; z++) {
            uint8_t *w;
            size_t wl;
            assert_int_equal(encode_msg(&msgs[i], z, &w, &wl), 0);
            bool zstd_flag = w[5] & 1;
            for (size_t pos = 0; pos < wl; pos++) {
                for (int f = 0; f < 2; f++) {
                    uint8_t keep = w[pos];
                    w[pos] ^= f ? 0x80 : 0x01;
                    int rc = decode_check(&msgs[i], w, wl, false);
                    if (rc == 0 && zstd_flag && pos >= 12) {
                        /* zstd is not canonical: some bits of a frame do not
                         * change what it decodes to. The signed body is then
                         * the original one, which is all that matters. */
                        assert_int_equal(decode_check(&msgs[i], w, wl, true), 0);
                        w[pos] = keep;
                        continue;
                    }
                    w[pos] = keep;
                    if (rc == 0)
                        fail_msg("%s (zstd %d): byte %zu changed, still decodes", msgs[i].what,
                                 z, pos);
                    if (pos >= 12 && !zstd_flag && rc != -EPERM && rc != -EBADMSG)
                        fail_msg("%s: body byte %zu changed: rc %d", msgs[i].what, pos, rc);
                    if (rc != -EPERM && rc != -EBADMSG && rc != -EPROTO && rc != -EMSGSIZE)
                        fail_msg("%s (zstd %d): byte %zu changed: rc %d", msgs[i].what, z, pos,
                                 rc);
                }
            }
            /* truncated at every length, as an exact-size heap copy */
            for (size_t n = 0; n <= wl + 1; n++) {
                if (n == wl)
                    continue;
                uint8_t *t = malloc(n ? n : 1);
                assert_non_null(t);
                memcpy(t, w, n < wl ? n : wl);
                if (n > wl)
                    t[wl] = 0;
                int rc = decode_check(&msgs[i], t, n, false);
                free(t);
                if (rc != -EBADMSG && rc != -EPROTO && rc != -EMSGSIZE)
                    fail_msg("%s (zstd %d): %zu of %zu bytes: rc %d", msgs[i].what, z, n, wl, rc);
            }
            free(w);
        }
    }
}

/* ---- hand-built messages: signed by the test key, any body --------------- */

struct bw {
    uint8_t b[4096];
    size_t n;
};
static void bw_bytes(struct bw *w, const void *p, size_t n)
{
    assert_true(w->n + n <= sizeof w->b);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void bw_be(struct bw *w, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        bw_bytes(w, &c, 1);
    }
}

enum wrap { RAW, ZSTD };

/* body (pk first, no signature) signed for domain type dtype, sent as type
 * etype; the envelope's length field is the body's unless lenfield != 0. */
static uint8_t *wrap(const struct bw *body, char dtype, char etype, enum wrap how,
                     uint32_t lenfield, size_t *outlen)
{
    size_t blen = body->n + PROTO_SIG_LEN;
    uint8_t *signed_part = malloc(14 + body->n);
    assert_non_null(signed_part);
    memcpy(signed_part, "cratecast/1/", 12);
    signed_part[12] = (uint8_t)dtype;
    signed_part[13] = 0;
    memcpy(signed_part + 14, body->b, body->n);
    uint8_t *full = malloc(blen);
    assert_non_null(full);
    memcpy(full, body->b, body->n);
    crypto_sign_detached(full + body->n, NULL, signed_part, 14 + body->n, g_sk);
    free(signed_part);

    size_t cap = how == ZSTD ? ZSTD_compressBound(blen) : blen;
    uint8_t *w = malloc(12 + cap);
    assert_non_null(w);
    size_t plen = blen;
    if (how == ZSTD) {
        plen = ZSTD_compress(w + 12, cap, full, blen, 3);
        assert_false(ZSTD_isError(plen));
    } else {
        memcpy(w + 12, full, blen);
    }
    free(full);
    uint32_t lf = lenfield ? lenfield : (uint32_t)blen;
    memcpy(w, "CCP1", 4);
    w[4] = (uint8_t)etype;
    w[5] = how == ZSTD ? 1 : 0;
    w[6] = w[7] = 0;
    w[8] = (uint8_t)(lf >> 24);
    w[9] = (uint8_t)(lf >> 16);
    w[10] = (uint8_t)(lf >> 8);
    w[11] = (uint8_t)lf;
    *outlen = 12 + plen;
    return w;
}

static int decode_as(char type, const uint8_t *w, size_t wl)
{
    struct msg m = {.kind = type == 'H' ? K_HELLO : type == 'M' ? K_MANIFEST : K_INDEX};
    return decode_check(&m, w, wl, false);
}

static void manifest_head(struct bw *b, uint64_t seq, uint64_t since)
{
    b->n = 0;
    bw_bytes(b, g_pk, PROTO_PK_LEN);
    bw_be(b, seq, 8);
    bw_be(b, since, 8);
    bw_be(b, 1700000000, 8);
}

static void index_body(struct bw *b, const char *name, size_t namelen, const char *lines,
                       size_t len, uint32_t lenfield)
{
    b->n = 0;
    bw_bytes(b, g_pk, PROTO_PK_LEN);
    bw_be(b, namelen, 1);
    bw_bytes(b, name, namelen);
    bw_be(b, 1700000000, 8);
    bw_be(b, lenfield, 4);
    bw_bytes(b, lines, len);
}

static void hello_body(struct bw *b, uint16_t version)
{
    b->n = 0;
    bw_bytes(b, g_pk, PROTO_PK_LEN);
    bw_be(b, version, 2);
    bw_be(b, 0x1f, 4);
    bw_be(b, 1, 8);
    bw_be(b, 2, 8);
    bw_be(b, 7879, 2);
    bw_bytes(b, g_pk, PROTO_NONCE_LEN);
}

/* A manifest body: head, then the given crate/index/pex sections. */
enum mshape {
    M_OK,
    M_SINCE_GT_SEQ,
    M_CRATES_OVER_CAP,
    M_CRATES_OVER_BYTES,
    M_INDEX_OVER_CAP,
    M_INDEX_OVER_BYTES,
    M_PEX_OVER_CAP,
    M_PEX_OVER_BYTES,
    M_NAME_UPPER,
    M_NAME_EMPTY,
    M_NAME_65,
    M_NAME_BAD_CHAR,
    M_PEX_SPACE,
    M_PEX_NO_PORT,
    M_PEX_PORT_0,
    M_PEX_PORT_BIG,
    M_PEX_NO_HOST,
    M_PEX_CTRL,
    M_TRAILING,
    M_MISSING_PEX_COUNT,
};

static void manifest_body(struct bw *b, enum mshape s)
{
    manifest_head(b, 5, s == M_SINCE_GT_SEQ ? 6 : 4);
    uint32_t nc = s == M_CRATES_OVER_CAP     ? PROTO_MANIFEST_CRATES_MAX + 1
                  : s == M_CRATES_OVER_BYTES ? 1000
                                             : 1;
    bw_be(b, nc, 4);
    uint8_t h[32];
    memset(h, 0x11, sizeof h);
    bw_bytes(b, h, 32);
    bw_be(b, 99, 8);
    uint32_t ni = s == M_INDEX_OVER_CAP     ? PROTO_MANIFEST_INDEX_MAX + 1
                  : s == M_INDEX_OVER_BYTES ? 50
                                            : 1;
    bw_be(b, ni, 4);
    const char *name = s == M_NAME_UPPER      ? "Serde"
                       : s == M_NAME_EMPTY    ? ""
                       : s == M_NAME_BAD_CHAR ? "ser.de"
                       : s == M_NAME_65 ? "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm"
                                        : "serde";
    bw_be(b, strlen(name), 1);
    bw_bytes(b, name, strlen(name));
    bw_bytes(b, h, 32);
    bw_be(b, 1, 8);
    if (s == M_MISSING_PEX_COUNT)
        return;
    uint16_t np = s == M_PEX_OVER_CAP ? PROTO_PEX_MAX + 1 : s == M_PEX_OVER_BYTES ? 10 : 1;
    bw_be(b, np, 2);
    const char *a = s == M_PEX_SPACE      ? "host name:7879"
                    : s == M_PEX_NO_PORT  ? "host"
                    : s == M_PEX_PORT_0   ? "host:0"
                    : s == M_PEX_PORT_BIG ? "host:65536"
                    : s == M_PEX_NO_HOST  ? ":7879"
                    : s == M_PEX_CTRL     ? "host\x01:7879"
                                          : "10.0.0.1:7879";
    bw_be(b, strlen(a), 1);
    bw_bytes(b, a, strlen(a));
    if (s == M_TRAILING)
        bw_be(b, 0, 1);
}

static void test_manifest_fields(void **state)
{
    (void)state;
    static const struct {
        enum mshape s;
        int rc;
    } cases[] = {
        {M_OK, 0},
        {M_SINCE_GT_SEQ, -EBADMSG},
        {M_CRATES_OVER_CAP, -EMSGSIZE},
        {M_CRATES_OVER_BYTES, -EBADMSG},
        {M_INDEX_OVER_CAP, -EMSGSIZE},
        {M_INDEX_OVER_BYTES, -EBADMSG},
        {M_PEX_OVER_CAP, -EMSGSIZE},
        {M_PEX_OVER_BYTES, -EBADMSG},
        {M_NAME_UPPER, -EBADMSG},
        {M_NAME_EMPTY, -EBADMSG},
        {M_NAME_65, -EBADMSG},
        {M_NAME_BAD_CHAR, -EBADMSG},
        {M_PEX_SPACE, -EBADMSG},
        {M_PEX_NO_PORT, -EBADMSG},
        {M_PEX_PORT_0, -EBADMSG},
        {M_PEX_PORT_BIG, -EBADMSG},
        {M_PEX_NO_HOST, -EBADMSG},
        {M_PEX_CTRL, -EBADMSG},
        {M_TRAILING, -EBADMSG},
        {M_MISSING_PEX_COUNT, -EBADMSG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int z = 0; z < 2; z++) {
            struct bw b;
            manifest_body(&b, cases[i].s);
            size_t wl;
            uint8_t *w = wrap(&b, 'M', 'M', z ? ZSTD : RAW, 0, &wl);
            int rc = decode_as('M', w, wl);
            free(w);
            if (rc != cases[i].rc)
                fail_msg("manifest shape %d (zstd %d): rc %d, want %d", cases[i].s, z, rc,
                         cases[i].rc);
        }
    }
}

static void test_hello_index_fields(void **state)
{
    (void)state;
    struct bw b;
    size_t wl;
    uint8_t *w;
    static const struct {
        uint16_t version;
        int rc;
    } hv[] = {{1, 0}, {0, -EPROTO}, {2, -EPROTO}, {0xffff, -EPROTO}};
    for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++) {
        hello_body(&b, hv[i].version);
        w = wrap(&b, 'H', 'H', RAW, 0, &wl);
        assert_int_equal(decode_as('H', w, wl), hv[i].rc);
        free(w);
    }
    hello_body(&b, 1);
    bw_be(&b, 0, 1); /* one byte too long, correctly signed */
    w = wrap(&b, 'H', 'H', RAW, 0, &wl);
    assert_int_equal(decode_as('H', w, wl), -EBADMSG);
    free(w);

    static const struct {
        const char *name, *lines;
        int lendelta;
        int rc;
    } iv[] = {
        {"serde", "{}\n{}\n", 0, 0},
        {"serde", "", 0, 0},
        {"Serde", "{}\n", 0, -EBADMSG},
        {"", "{}\n", 0, -EBADMSG},
        {"ser/de", "{}\n", 0, -EBADMSG},
        {"serde", "{}\n", 1, -EBADMSG},
        {"serde", "{}\n", -1, -EBADMSG},
        {"serde", "{}\n", 100000, -EBADMSG},
    };
    for (size_t i = 0; i < sizeof iv / sizeof iv[0]; i++) {
        size_t ll = strlen(iv[i].lines);
        index_body(&b, iv[i].name, strlen(iv[i].name), iv[i].lines, ll,
                   (uint32_t)((int)ll + iv[i].lendelta));
        for (int z = 0; z < 2; z++) {
            w = wrap(&b, 'I', 'I', z ? ZSTD : RAW, 0, &wl);
            int rc = decode_as('I', w, wl);
            free(w);
            if (rc != iv[i].rc)
                fail_msg("index case %zu (zstd %d): rc %d, want %d", i, z, rc, iv[i].rc);
        }
    }
    /* a NUL inside the lines */
    index_body(&b, "serde", 5, "{}\0{}\n", 6, 6);
    w = wrap(&b, 'I', 'I', RAW, 0, &wl);
    assert_int_equal(decode_as('I', w, wl), -EBADMSG);
    free(w);
    /* a 65-byte name and a 255-byte name (the length byte's maximum) */
    char longname[255];
    memset(longname, 'a', sizeof longname);
    index_body(&b, longname, 65, "", 0, 0);
    w = wrap(&b, 'I', 'I', RAW, 0, &wl);
    assert_int_equal(decode_as('I', w, wl), -EBADMSG);
    free(w);
    index_body(&b, longname, 255, "", 0, 0);
    w = wrap(&b, 'I', 'I', RAW, 0, &wl);
    assert_int_equal(decode_as('I', w, wl), -EBADMSG);
    free(w);
}

/* A signature made for one type never verifies as another, even when the
 * body is a valid body of the other type. */
static void test_domain_separation(void **state)
{
    (void)state;
    static const char types[] = {'H', 'M', 'I'};
    for (size_t d = 0; d < 3; d++) {
        for (size_t e = 0; e < 3; e++) {
            struct bw b;
            if (types[e] == 'H')
                hello_body(&b, 1);
            else if (types[e] == 'M')
                manifest_body(&b, M_OK);
            else
                index_body(&b, "serde", 5, "{}\n", 3, 3);
            size_t wl;
            uint8_t *w = wrap(&b, types[d], types[e], RAW, 0, &wl);
            int rc = decode_as(types[e], w, wl);
            free(w);
            if (rc != (d == e ? 0 : -EPERM))
                fail_msg("body of '%c' signed as '%c': rc %d", types[e], types[d], rc);
        }
    }
    /* an encoded message relabelled: the decoder for the new type rejects
     * the label (-EPROTO), and a decoder of the right type rejects the
     * changed envelope the same way */
    build_msgs();
    uint8_t *w;
    size_t wl;
    assert_int_equal(encode_msg(&msgs[2], false, &w, &wl), 0); /* manifest */
    assert_int_equal(decode_as('I', w, wl), -EPROTO);
    assert_int_equal(decode_as('H', w, wl), -EPROTO);
    w[4] = 'I';
    assert_int_equal(decode_as('M', w, wl), -EPROTO);
    free(w);
}

static void test_envelope(void **state)
{
    (void)state;
    build_msgs();
    uint8_t *w;
    size_t wl;
    assert_int_equal(encode_msg(&msgs[2], false, &w, &wl), 0);
    static const struct {
        size_t pos;
        uint8_t val;
        int rc;
    } cases[] = {
        {0, 'X', -EPROTO},  /* magic */
        {3, '2', -EPROTO},  /* "CCP2" */
        {4, 'X', -EPROTO},  /* unknown type */
        {5, 0x02, -EPROTO}, /* unknown flag */
        {5, 0x81, -EPROTO},
        {6, 0x01, -EPROTO}, /* reserved */
        {7, 0x01, -EPROTO},
        {8, 0x02, -EMSGSIZE}, /* length 32 MiB + ...: over the cap */
        {8, 0xff, -EMSGSIZE},
        {8, 0x01, -EBADMSG},  /* 16 MiB + ...: under the cap, not what follows */
        {11, 0x00, -EBADMSG}, /* shorter than the minimum body */
        {5, 0x01, -EBADMSG},  /* claims zstd, is not a frame */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t keep = w[cases[i].pos];
        w[cases[i].pos] = cases[i].val;
        int rc = decode_as('M', w, wl);
        w[cases[i].pos] = keep;
        if (rc != cases[i].rc)
            fail_msg("envelope byte %zu = 0x%02x: rc %d, want %d", cases[i].pos, cases[i].val, rc,
                     cases[i].rc);
    }
    assert_int_equal(decode_as('M', w, wl), 0);
    /* length field exactly at the cap: bigger than what follows */
    w[8] = 0x02;
    w[9] = w[10] = w[11] = 0;
    assert_int_equal(decode_as('M', w, wl), -EBADMSG);
    free(w);
    assert_int_equal(decode_as('M', NULL, 0), -EBADMSG);
    assert_int_equal(decode_as('M', NULL, 100), -EBADMSG);
}

/* ---- zstd: declared sizes, bombs, frames ---------------------------------- */

/* Envelope around an arbitrary zstd payload. */
static uint8_t *zwrap(char type, uint32_t lenfield, const uint8_t *frame, size_t flen,
                      size_t *wl)
{
    uint8_t *w = malloc(12 + flen);
    assert_non_null(w);
    memcpy(w, "CCP1", 4);
    w[4] = (uint8_t)type;
    w[5] = 1;
    w[6] = w[7] = 0;
    w[8] = (uint8_t)(lenfield >> 24);
    w[9] = (uint8_t)(lenfield >> 16);
    w[10] = (uint8_t)(lenfield >> 8);
    w[11] = (uint8_t)lenfield;
    memcpy(w + 12, frame, flen);
    *wl = 12 + flen;
    return w;
}

static size_t compress_zeros(size_t n, bool with_size, uint8_t **frame)
{
    uint8_t *src = calloc(n ? n : 1, 1);
    assert_non_null(src);
    size_t cap = ZSTD_compressBound(n);
    *frame = malloc(cap);
    assert_non_null(*frame);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    assert_non_null(c);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, with_size)));
    size_t r = ZSTD_compress2(c, *frame, cap, src, n);
    assert_false(ZSTD_isError(r));
    ZSTD_freeCCtx(c);
    free(src);
    return r;
}

static void test_zstd_caps(void **state)
{
    (void)state;
    uint8_t *f, *w;
    size_t fl, wl;

    /* a bomb: 32 MiB + 1 of zeros in a few kB, declared honestly */
    fl = compress_zeros(PROTO_PEER_BODY_MAX + 1, true, &f);
    assert_true(fl < 4096);
    w = zwrap('M', PROTO_PEER_BODY_MAX, f, fl, &wl);
    assert_int_equal(decode_as('M', w, wl), -EMSGSIZE);
    free(w);
    w = zwrap('I', 1000, f, fl, &wl);
    assert_int_equal(decode_as('I', w, wl), -EMSGSIZE);
    free(w);
    free(f);

    /* no declared content size */
    fl = compress_zeros(1000, false, &f);
    assert_int_equal(ZSTD_getFrameContentSize(f, fl), ZSTD_CONTENTSIZE_UNKNOWN);
    w = zwrap('M', 1000, f, fl, &wl);
    assert_int_equal(decode_as('M', w, wl), -EMSGSIZE);
    free(w);
    free(f);

    /* declared size != the length field, either way */
    fl = compress_zeros(1000, true, &f);
    w = zwrap('M', 999, f, fl, &wl);
    assert_int_equal(decode_as('M', w, wl), -EBADMSG);
    free(w);
    w = zwrap('M', 1001, f, fl, &wl);
    assert_int_equal(decode_as('M', w, wl), -EBADMSG);
    free(w);
    /* right size, garbage content: decompresses, fails the signature */
    w = zwrap('M', 1000, f, fl, &wl);
    assert_int_equal(decode_as('M', w, wl), -EPERM);
    free(w);

    /* a frame that lies about its size (the declared size patched down):
     * decompressing into a buffer of the declared size fails */
    uint8_t fhd = f[4];
    assert_true((fhd >> 6) == 1 && (fhd & 0x20) && (fhd & 3) == 0); /* 2-byte FCS at 5 */
    uint8_t keep5 = f[5], keep6 = f[6];
    f[5] = (uint8_t)(900 - 256);
    f[6] = (uint8_t)((900 - 256) >> 8);
    assert_int_equal(ZSTD_getFrameContentSize(f, fl), 900);
    w = zwrap('M', 900, f, fl, &wl);
    assert_int_equal(decode_as('M', w, wl), -EBADMSG);
    free(w);
    f[5] = keep5;
    f[6] = keep6;

    /* trailing bytes after the frame, and two frames */
    uint8_t *two = malloc(2 * fl);
    assert_non_null(two);
    memcpy(two, f, fl);
    memcpy(two + fl, f, fl);
    w = zwrap('M', 1000, two, fl + 1, &wl);
    assert_int_equal(decode_as('M', w, wl), -EBADMSG);
    free(w);
    w = zwrap('M', 1000, two, 2 * fl, &wl);
    assert_int_equal(decode_as('M', w, wl), -EBADMSG);
    free(w);
    free(two);
    free(f);

    /* a skippable frame and an empty payload */
    static const uint8_t skip[] = {0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4};
    w = zwrap('M', 1000, skip, sizeof skip, &wl);
    int rc = decode_as('M', w, wl);
    assert_true(rc == -EBADMSG || rc == -EMSGSIZE);
    free(w);
    w = zwrap('M', 1000, skip, 0, &wl);
    assert_int_equal(decode_as('M', w, wl), -EBADMSG);
    free(w);

    /* exactly at the cap: allowed through to the signature check */
    fl = compress_zeros(PROTO_PEER_BODY_MAX, true, &f);
    w = zwrap('I', PROTO_PEER_BODY_MAX, f, fl, &wl);
    assert_int_equal(decode_as('I', w, wl), -EPERM);
    free(w);
    free(f);
}

/* ---- encoders refuse what decoders would refuse --------------------------- */

static void test_encode_invalid(void **state)
{
    (void)state;
    uint8_t *w = (uint8_t *)"x";
    size_t wl = 1;
    uint8_t other_pk[PROTO_PK_LEN], other_sk[PROTO_SK_LEN];
    uint8_t seed[32] = {1};
    crypto_sign_seed_keypair(other_pk, other_sk, seed);

    struct proto_hello h;
    vec_hello_msg(&h);
    h.version = 2;
    assert_int_equal(proto_hello_encode(&h, g_sk, &w, &wl), -EINVAL);
    assert_null(w);
    assert_int_equal(wl, 0);
    vec_hello_msg(&h);
    assert_int_equal(proto_hello_encode(&h, other_sk, &w, &wl), -EINVAL);
    assert_int_equal(proto_hello_encode(NULL, g_sk, &w, &wl), -EINVAL);

    struct proto_manifest m;
    struct proto_manifest_index bad_ix = {"Serde", {0}, 0};
    struct proto_manifest_index bad_ix2 = {"", {0}, 0};
    char bad_pex[1][PROTO_PEER_ADDR_MAX + 1] = {"host:port"};
    static const struct {
        int what;
        int rc;
    } mc[] = {{0, 0},       {1, -EINVAL}, {2, -EINVAL},   {3, -EINVAL},   {4, -EINVAL},
              {5, -EINVAL}, {6, -EINVAL}, {7, -EMSGSIZE}, {8, -EMSGSIZE}, {9, -EMSGSIZE}};
    for (size_t i = 0; i < sizeof mc / sizeof mc[0]; i++) {
        vec_manifest_msg(&m);
        const uint8_t *sk = g_sk;
        switch (mc[i].what) {
        case 1: sk = other_sk; break;
        case 2: m.index = &bad_ix; break;
        case 3: m.index = &bad_ix2; break;
        case 4: m.pex = bad_pex; break;
        case 5: m.since = m.seq + 1; break;
        case 6: m.crates = NULL; break;
        case 7: m.ncrates = PROTO_MANIFEST_CRATES_MAX + 1; break;
        case 8: m.nindex = PROTO_MANIFEST_INDEX_MAX + 1; break;
        case 9: m.npex = PROTO_PEX_MAX + 1; break;
        }
        int rc = proto_manifest_encode(&m, sk, false, &w, &wl);
        if (rc != mc[i].rc)
            fail_msg("manifest encode case %d: rc %d, want %d", mc[i].what, rc, mc[i].rc);
        free(w);
    }

    struct proto_peer_index x;
    memset(&x, 0, sizeof x);
    memcpy(x.pk, g_pk, PROTO_PK_LEN);
    snprintf(x.name, sizeof x.name, "serde");
    x.lines = (const uint8_t *)"a\0b";
    x.len = 3;
    assert_int_equal(proto_peer_index_encode(&x, g_sk, false, &w, &wl), -EINVAL);
    x.len = 1;
    assert_int_equal(proto_peer_index_encode(&x, g_sk, false, &w, &wl), 0);
    free(w);
    x.lines = NULL;
    assert_int_equal(proto_peer_index_encode(&x, g_sk, false, &w, &wl), -EINVAL);
    x.lines = (const uint8_t *)"a"; /* the size is checked before any byte is read */
    x.len = PROTO_PEER_BODY_MAX;
    assert_int_equal(proto_peer_index_encode(&x, g_sk, false, &w, &wl), -EMSGSIZE);
    x.len = 0;
    snprintf(x.name, sizeof x.name, "SERDE");
    assert_int_equal(proto_peer_index_encode(&x, g_sk, false, &w, &wl), -EINVAL);
    snprintf(x.name, sizeof x.name, "serde");
    assert_int_equal(proto_peer_index_encode(&x, other_sk, true, &w, &wl), -EINVAL);

    /* largest index body that fits: encodes and decodes */
    size_t big = PROTO_PEER_BODY_MAX - (32 + 1 + 5 + 8 + 4 + 64);
    uint8_t *lines = malloc(big);
    assert_non_null(lines);
    memset(lines, '\n', big);
    x.lines = lines;
    x.len = big + 1;
    assert_int_equal(proto_peer_index_encode(&x, g_sk, true, &w, &wl), -EMSGSIZE);
    x.len = big;
    assert_int_equal(proto_peer_index_encode(&x, g_sk, true, &w, &wl), 0);
    struct proto_peer_index d;
    uint8_t *owned;
    assert_int_equal(proto_peer_index_decode(w, wl, &d, &owned), 0);
    assert_int_equal(d.len, big);
    free(owned);
    free(w);
    free(lines);
    proto_manifest_clear(NULL);
}

/* ---- TXT ------------------------------------------------------------------ */

/* ---- news ------------------------------------------------------------------ */

static uint8_t news_fetching[2][PROTO_SHA256_LEN];
static struct proto_peer_addr news_peers[2];

static void vec_news_msg(struct proto_news *n)
{
    memset(n, 0, sizeof *n);
    memcpy(n->pk, g_pk, PROTO_PK_LEN);
    n->gen = 5;
    n->seq = 7;
    n->time = 1700000000;
    n->uploads = 2;
    n->upload_slots = 8;
    n->upload_waiting = 1;
    proto_sha256("", 0, news_fetching[0]);
    n->fetching = news_fetching;
    n->nfetching = 1;
    assert_int_equal(proto_peer_addr_parse("192.0.2.7:7879", 14, &news_peers[0]), 0);
    assert_int_equal(proto_peer_addr_parse("[2001:db8::1]:7879", 18, &news_peers[1]), 0);
    n->peers = news_peers;
    n->npeers = 2;
}

/* The wire bytes are exactly the vector's (hex). */
static void assert_wire_is(const uint8_t *w, size_t wl, const char *vec)
{
    char *hex = malloc(2 * wl + 1);
    assert_non_null(hex);
    to_hex(w, wl, hex);
    assert_string_equal(hex, vec);
    free(hex);
}

/* Every byte of a news message changed (a signed body: nothing decodes,
 * nothing crashes) and every truncation: refused, nothing left behind. */
static void news_refuses_damage(uint8_t *w, size_t wl)
{
    struct proto_news d;
    for (size_t i = 0; i < wl; i++) {
        w[i] ^= 0x01;
        assert_true(proto_news_decode(w, wl, &d) < 0);
        assert_int_equal(d.npeers + d.nfetching + d.ngained + d.ngained_index, 0);
        assert_null(d.gained);
        assert_null(d.gained_index);
        w[i] ^= 0x01;
    }
    for (size_t k = 0; k < wl; k++)
        assert_true(proto_news_decode(w, k, &d) < 0);
}

static void test_news_vector(void **state)
{
    (void)state;
    struct proto_news n, d;
    vec_news_msg(&n);
    uint8_t *w;
    size_t wl;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), 0);
    assert_wire_is(w, wl, vec_news);
    assert_int_equal(proto_news_decode(w, wl, &d), 0);
    assert_memory_equal(d.pk, g_pk, PROTO_PK_LEN);
    assert_true(d.gen == 5 && d.seq == 7 && d.time == 1700000000);
    assert_true(d.uploads == 2 && d.upload_slots == 8 && d.upload_waiting == 1);
    assert_int_equal(d.nfetching, 1);
    assert_memory_equal(d.fetching[0], news_fetching[0], PROTO_SHA256_LEN);
    assert_int_equal(d.npeers, 2);
    assert_true(proto_peer_addr_eq(&d.peers[0], &news_peers[0]));
    assert_true(proto_peer_addr_eq(&d.peers[1], &news_peers[1]));
    proto_news_clear(&d);
    proto_news_clear(NULL);

    /* every byte changed and every truncation are refused; one byte more too */
    news_refuses_damage(w, wl);
    uint8_t *more = malloc(wl + 1);
    memcpy(more, w, wl);
    more[wl] = 0;
    assert_true(proto_news_decode(more, wl + 1, &d) < 0);
    free(more);
    /* a hello is not news, nor news a hello */
    struct proto_hello h;
    assert_int_equal(proto_hello_decode(w, wl, &h), -EPROTO);
    free(w);
    vec_hello_msg(&h);
    assert_int_equal(proto_hello_encode(&h, g_sk, &w, &wl), 0);
    assert_int_equal(proto_news_decode(w, wl, &d), -EPROTO);
    free(w);
}

static struct proto_manifest_crate news_gained[PROTO_NEWS_GAINS_MAX + 1];
static struct proto_manifest_index news_gained_index[PROTO_NEWS_GAINS_MAX + 1];

static void vec_news_gains_msg(struct proto_news *n)
{
    vec_news_msg(n);
    n->has_gains = true;
    n->gains_since = 6;
    proto_sha256("", 0, news_gained[0].sha256);
    news_gained[0].size = 1234;
    n->gained = news_gained;
    n->ngained = 1;
    snprintf(news_gained_index[0].name, sizeof news_gained_index[0].name, "serde");
    memset(news_gained_index[0].hash, 0xab, PROTO_SHA256_LEN);
    news_gained_index[0].updated = 1700000000;
    n->gained_index = news_gained_index;
    n->ngained_index = 1;
}

static void test_news_gains_vector(void **state)
{
    (void)state;
    struct proto_news n, d;
    vec_news_gains_msg(&n);
    uint8_t *w;
    size_t wl;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), 0);
    assert_wire_is(w, wl, vec_news_gains);
    assert_int_equal(proto_news_decode(w, wl, &d), 0);
    assert_true(d.has_gains);
    assert_true(d.gains_since == 6 && d.seq == 7 && d.gen == 5);
    assert_int_equal(d.npeers, 2);
    assert_int_equal(d.ngained, 1);
    assert_memory_equal(d.gained[0].sha256, news_gained[0].sha256, PROTO_SHA256_LEN);
    assert_true(d.gained[0].size == 1234);
    assert_int_equal(d.ngained_index, 1);
    assert_string_equal(d.gained_index[0].name, "serde");
    assert_memory_equal(d.gained_index[0].hash, news_gained_index[0].hash, PROTO_SHA256_LEN);
    assert_true(d.gained_index[0].updated == 1700000000);
    proto_news_clear(&d);
    news_refuses_damage(w, wl);
    free(w);
    /* empty gains are still a trailer: has_gains survives the round trip */
    n.ngained = n.ngained_index = 0;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), 0);
    assert_int_equal(proto_news_decode(w, wl, &d), 0);
    assert_true(d.has_gains && d.gains_since == 6);
    assert_int_equal(d.ngained + d.ngained_index, 0);
    proto_news_clear(&d);
    free(w);
    /* without gains the message is the plain one */
    n.has_gains = false;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), 0);
    assert_int_equal(proto_news_decode(w, wl, &d), 0);
    assert_false(d.has_gains);
    assert_null(d.gained);
    proto_news_clear(&d);
    free(w);
}

static void test_news_gains_limits(void **state)
{
    (void)state;
    struct proto_news n, d;
    vec_news_gains_msg(&n);
    uint8_t *w;
    size_t wl;
    for (size_t i = 0; i <= PROTO_NEWS_GAINS_MAX; i++) {
        news_gained[i] = news_gained[0];
        news_gained[i].sha256[0] = (uint8_t)i;
        news_gained_index[i] = news_gained_index[0];
    }
    n.ngained = n.ngained_index = PROTO_NEWS_GAINS_MAX;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), 0);
    assert_int_equal(proto_news_decode(w, wl, &d), 0);
    assert_int_equal(d.ngained, PROTO_NEWS_GAINS_MAX);
    assert_int_equal(d.ngained_index, PROTO_NEWS_GAINS_MAX);
    proto_news_clear(&d);
    free(w);
    n.ngained = PROTO_NEWS_GAINS_MAX + 1;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), -EMSGSIZE);
    n.ngained = 1;
    n.ngained_index = PROTO_NEWS_GAINS_MAX + 1;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), -EMSGSIZE);
    /* the caps do not apply when there is no trailer */
    n.has_gains = false;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), 0);
    free(w);
    n.has_gains = true;
    n.ngained_index = 1;
    /* since after seq; a name that is not lower-case; a missing array */
    n.gains_since = n.seq + 1;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), -EINVAL);
    n.gains_since = n.seq;
    snprintf(news_gained_index[0].name, sizeof news_gained_index[0].name, "Serde");
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), -EINVAL);
    snprintf(news_gained_index[0].name, sizeof news_gained_index[0].name, "serde");
    n.gained = NULL;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), -EINVAL);
    n.gained = news_gained;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), 0);
    free(w);
}

static void test_news_limits(void **state)
{
    (void)state;
    struct proto_news n, d;
    vec_news_msg(&n);
    uint8_t *w;
    size_t wl;
    /* empty lists */
    n.nfetching = n.npeers = 0;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), 0);
    assert_int_equal(proto_news_decode(w, wl, &d), 0);
    assert_int_equal(d.nfetching + d.npeers, 0);
    free(w);
    /* caps on encode */
    static uint8_t many[PROTO_NEWS_FETCHING_MAX + 1][PROTO_SHA256_LEN];
    n.fetching = many;
    n.nfetching = PROTO_NEWS_FETCHING_MAX;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), 0);
    assert_int_equal(proto_news_decode(w, wl, &d), 0);
    assert_int_equal(d.nfetching, PROTO_NEWS_FETCHING_MAX);
    proto_news_clear(&d);
    free(w);
    n.nfetching = PROTO_NEWS_FETCHING_MAX + 1;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), -EMSGSIZE);
    n.nfetching = 0;
    static struct proto_peer_addr addrs[PROTO_NEWS_PEERS_MAX + 1];
    for (size_t i = 0; i <= PROTO_NEWS_PEERS_MAX; i++)
        addrs[i] = news_peers[0];
    n.peers = addrs;
    n.npeers = PROTO_NEWS_PEERS_MAX + 1;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), -EMSGSIZE);
    /* invalid fields on encode */
    n.npeers = 1;
    addrs[0].port = 0;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), -EINVAL);
    addrs[0] = news_peers[0];
    addrs[0].family = 5;
    assert_int_equal(proto_news_encode(&n, g_sk, &w, &wl), -EINVAL);
    addrs[0] = news_peers[0];
    uint8_t other_sk[PROTO_SK_LEN], other_pk[PROTO_PK_LEN];
    crypto_sign_keypair(other_pk, other_sk);
    assert_int_equal(proto_news_encode(&n, other_sk, &w, &wl), -EINVAL); /* not pk's key */
    assert_int_equal(proto_news_decode(NULL, 0, &d), -EBADMSG);
    assert_int_equal(proto_news_decode(NULL, 0, NULL), -EINVAL);
}

static void test_txt_encode(void **state)
{
    (void)state;
    char out[4][64];
    struct proto_txt t = {1, VEC_KEY_ID, 42, ""};
    assert_int_equal(proto_txt_encode(&t, out), 3);
    assert_string_equal(out[0], "v=1");
    assert_string_equal(out[1], "id=" VEC_KEY_ID);
    assert_string_equal(out[2], "seq=42");
    snprintf(t.net, sizeof t.net, "0123456789abcdef");
    t.seq = UINT64_MAX;
    assert_int_equal(proto_txt_encode(&t, out), 4);
    assert_string_equal(out[2], "seq=18446744073709551615");
    assert_string_equal(out[3], "net=0123456789abcdef");
    snprintf(t.net, sizeof t.net, "0123");
    assert_int_equal(proto_txt_encode(&t, out), -EINVAL);
    t.net[0] = '\0';
    snprintf(t.id, sizeof t.id, "xyz");
    assert_int_equal(proto_txt_encode(&t, out), -EINVAL);
    snprintf(t.id, sizeof t.id, VEC_KEY_ID);
    t.version = 0;
    assert_int_equal(proto_txt_encode(&t, out), -EINVAL);
}

#define ID "id=9d24e2eeaf27c2a0"
static const struct {
    const char *what;
    const char *strs[8]; /* NULL-terminated list */
    int rc;
    unsigned v;
    const char *id;
    uint64_t seq;
    const char *net;
} txt_cases[] = {
    {"minimal", {"v=1", ID}, 0, 1, VEC_KEY_ID, 0, ""},
    {"full", {"v=1", ID, "seq=42", "net=0123456789ABCDEF"}, 0, 1, VEC_KEY_ID, 42,
     "0123456789abcdef"},
    {"any order, unknown keys", {"zz=top", "seq=7", ID, "flag", "v=3", "=x", ""}, 0, 3,
     VEC_KEY_ID, 7, ""},
    {"key case", {"V=1", "ID=9D24E2EEAF27C2A0", "Seq=5"}, 0, 1, VEC_KEY_ID, 5, ""},
    {"first wins", {"v=1", ID, "v=x", "id=zz", "seq=1", "seq=2"}, 0, 1, VEC_KEY_ID, 1, ""},
    {"max seq", {"v=1", ID, "seq=18446744073709551615"}, 0, 1, VEC_KEY_ID, UINT64_MAX, ""},
    {"missing v", {ID, "seq=1"}, -EBADMSG, 0, NULL, 0, NULL},
    {"missing id", {"v=1", "seq=1"}, -EBADMSG, 0, NULL, 0, NULL},
    {"empty list", {NULL}, -EBADMSG, 0, NULL, 0, NULL},
    {"v without value", {"v", ID}, -EBADMSG, 0, NULL, 0, NULL},
    {"v empty", {"v=", ID}, -EBADMSG, 0, NULL, 0, NULL},
    {"v zero", {"v=0", ID}, -EBADMSG, 0, NULL, 0, NULL},
    {"v text", {"v=one", ID}, -EBADMSG, 0, NULL, 0, NULL},
    {"id short", {"v=1", "id=9d24e2eeaf27c2a"}, -EBADMSG, 0, NULL, 0, NULL},
    {"id long", {"v=1", "id=9d24e2eeaf27c2a00"}, -EBADMSG, 0, NULL, 0, NULL},
    {"id not hex", {"v=1", "id=9d24e2eeaf27c2ag"}, -EBADMSG, 0, NULL, 0, NULL},
    {"seq overflow", {"v=1", ID, "seq=18446744073709551616"}, -EBADMSG, 0, NULL, 0, NULL},
    {"seq negative", {"v=1", ID, "seq=-1"}, -EBADMSG, 0, NULL, 0, NULL},
    {"seq empty", {"v=1", ID, "seq="}, -EBADMSG, 0, NULL, 0, NULL},
    {"net bad", {"v=1", ID, "net=xyz"}, -EBADMSG, 0, NULL, 0, NULL},
};

static void test_txt_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof txt_cases / sizeof txt_cases[0]; i++) {
        const uint8_t *strs[8];
        size_t lens[8], n = 0;
        for (; n < 8 && txt_cases[i].strs[n] != NULL; n++) {
            lens[n] = strlen(txt_cases[i].strs[n]);
            uint8_t *c = malloc(lens[n] ? lens[n] : 1); /* not NUL-terminated */
            assert_non_null(c);
            memcpy(c, txt_cases[i].strs[n], lens[n]);
            strs[n] = c;
        }
        struct proto_txt t;
        int rc = proto_txt_decode(strs, lens, n, &t);
        for (size_t k = 0; k < n; k++)
            free((void *)strs[k]);
        if (rc != txt_cases[i].rc)
            fail_msg("txt \"%s\": rc %d, want %d", txt_cases[i].what, rc, txt_cases[i].rc);
        if (rc != 0)
            continue;
        assert_int_equal(t.version, txt_cases[i].v);
        assert_string_equal(t.id, txt_cases[i].id);
        assert_int_equal(t.seq, txt_cases[i].seq);
        assert_string_equal(t.net, txt_cases[i].net);
    }
}

static void test_txt_limits(void **state)
{
    (void)state;
    static char big[300];
    memset(big, 'x', sizeof big);
    memcpy(big, "v=1", 3); /* a known key in an oversized string: over 255 */
    const uint8_t *strs[64];
    size_t lens[64];
    struct proto_txt t;

    strs[0] = (const uint8_t *)"v=1";
    lens[0] = 3;
    strs[1] = (const uint8_t *)ID;
    lens[1] = strlen(ID);
    strs[2] = (const uint8_t *)big;
    lens[2] = 256; /* no DNS string is this long */
    assert_int_equal(proto_txt_decode(strs, lens, 3, &t), -EBADMSG);
    lens[2] = 255; /* the longest unknown string: ignored */
    big[0] = 'x';
    assert_int_equal(proto_txt_decode(strs, lens, 3, &t), 0);

    /* total wire size: sum of (1 + len); 1300 passes, 1301 does not */
    size_t used = 1 + 3 + 1 + strlen(ID);
    size_t n = 2;
    while (used + 256 <= 1300) {
        strs[n] = (const uint8_t *)big;
        lens[n++] = 255;
        used += 256;
    }
    strs[n] = (const uint8_t *)big;
    lens[n++] = 1300 - used - 1;
    assert_int_equal(proto_txt_decode(strs, lens, n, &t), 0);
    lens[n - 1]++;
    assert_int_equal(proto_txt_decode(strs, lens, n, &t), -EMSGSIZE);

    /* many empty strings add up too */
    for (size_t i = 0; i < 64; i++) {
        strs[i] = (const uint8_t *)"";
        lens[i] = 0;
    }
    assert_int_equal(proto_txt_decode(strs, lens, 64, &t), -EBADMSG);
    assert_int_equal(proto_txt_decode(NULL, NULL, 0, &t), -EBADMSG);
    assert_int_equal(proto_txt_decode(NULL, lens, 1, &t), -EINVAL);

    /* round trip through the encoder */
    struct proto_txt in = {1, VEC_KEY_ID, 123456789, "fedcba9876543210"};
    char out[4][64];
    int k = proto_txt_encode(&in, out);
    assert_int_equal(k, 4);
    for (int i = 0; i < k; i++) {
        strs[i] = (const uint8_t *)out[i];
        lens[i] = strlen(out[i]);
    }
    assert_int_equal(proto_txt_decode(strs, lens, (size_t)k, &t), 0);
    assert_int_equal(t.version, in.version);
    assert_string_equal(t.id, in.id);
    assert_int_equal(t.seq, in.seq);
    assert_string_equal(t.net, in.net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_key_text),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tamper_and_truncate),
        cmocka_unit_test(test_manifest_fields),
        cmocka_unit_test(test_hello_index_fields),
        cmocka_unit_test(test_domain_separation),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_zstd_caps),
        cmocka_unit_test(test_encode_invalid),
        cmocka_unit_test(test_news_vector),
        cmocka_unit_test(test_news_limits),
        cmocka_unit_test(test_news_gains_vector),
        cmocka_unit_test(test_news_gains_limits),
        cmocka_unit_test(test_txt_encode),
        cmocka_unit_test(test_txt_decode),
        cmocka_unit_test(test_txt_limits),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
