/* tests/unit/test-proto-mesh.c — the private mesh of proto/mesh.h: the fixed
 * test vectors (computed independently by tests/unit/mesh_vectors.py with
 * Python's hashlib.blake2b; docs/protocol.md lists them), the printable key
 * form (every one-character typo of a key is refused), the request header's
 * parser and check, the replay table, and sealed response streams (round
 * trips at the chunk boundaries, incremental opening in any split, every
 * flipped byte, every truncation, appended bytes, another key). */
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

#include "proto/alloc.h"
#include "proto/mesh.h"

/* ---- the vectors: key = 00..1f, GET /peer/1/manifest?since=3 at 1764000000, nonce 00..0f */

#define V_AUTH "ecc52edf5fc9dfda0f644a773972b7a98484c6d8bef78efa5163ecd955681dee"
#define V_ENC "c79950e575ee0d60544b1abe60810b5edf15d616541ecb9d209f9d0a9c9edb52"
#define V_ID "5854272255d52d58"
#define V_PRINTABLE "ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4"
#define V_PATH "/peer/1/manifest?since=3"
#define V_TIME 1764000000
#define V_HEADER                                                                                   \
    "v1 1764000000 000102030405060708090a0b0c0d0e0f "                                              \
    "5bf896fb1e74adc02390238b7f3f78f7429bcbc598d084424559465cbb4178bb"
#define V_RKEY "538552e1b9a6b7753ac77f818445db8b0bf022b06dd1bcf5424f5021d51d7ab3"

static uint8_t g_key[PROTO_MESH_KEY_LEN];
static uint8_t g_nonce[PROTO_MESH_NONCE_LEN];
static struct proto_mesh_key g_k;

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < PROTO_MESH_KEY_LEN; i++)
        g_key[i] = (uint8_t)i;
    for (int i = 0; i < PROTO_MESH_NONCE_LEN; i++)
        g_nonce[i] = (uint8_t)i;
    proto_mesh_key_init(&g_k, g_key);
    return 0;
}

static void assert_hex(const uint8_t *b, size_t n, const char *hex)
{
    char got[2 * 64 + 1];
    assert_true(n <= 64);
    sodium_bin2hex(got, sizeof got, b, n);
    assert_string_equal(got, hex);
}

static void test_vectors(void **state)
{
    (void)state;
    assert_hex(g_k.auth, 32, V_AUTH);
    assert_hex(g_k.enc, 32, V_ENC);
    assert_string_equal(g_k.id, V_ID);
    assert_memory_equal(g_k.key, g_key, 32);

    char text[PROTO_MESH_KEY_TEXT_MAX];
    assert_int_equal(proto_mesh_key_encode(g_key, text), strlen(V_PRINTABLE));
    assert_string_equal(text, V_PRINTABLE);

    char h[PROTO_MESH_HEADER_MAX];
    size_t hl = proto_mesh_header_make(&g_k, "GET", V_PATH, strlen(V_PATH), V_TIME, g_nonce, h);
    assert_int_equal(hl, strlen(V_HEADER));
    assert_string_equal(h, V_HEADER);

    struct proto_mesh_request r;
    assert_int_equal(proto_mesh_header_parse(h, hl, &r), 0);
    assert_int_equal(r.time, V_TIME);
    assert_memory_equal(r.nonce, g_nonce, 16);
    uint8_t rk[32];
    proto_mesh_response_key(&g_k, &r, rk);
    assert_hex(rk, 32, V_RKEY);

    /* key_init in place (k->key aliasing the input) gives the same */
    struct proto_mesh_key k2;
    memcpy(k2.key, g_key, 32);
    proto_mesh_key_init(&k2, k2.key);
    assert_memory_equal(&k2, &g_k, sizeof k2);
}

/* ---- printable form ---- */

static void test_key_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++) {
        uint8_t key[32], back[32];
        char text[PROTO_MESH_KEY_TEXT_MAX];
        proto_mesh_key_new(key);
        size_t n = proto_mesh_key_encode(key, text);
        assert_int_equal(n, 73);
        assert_int_equal(strlen(text), n);
        assert_int_equal(proto_mesh_key_decode(text, n, back), 0);
        assert_memory_equal(key, back, 32);
    }
    uint8_t a[32], b[32];
    proto_mesh_key_new(a);
    proto_mesh_key_new(b);
    assert_memory_not_equal(a, b, 32);
}

static void expect_key(const char *s, int rc)
{
    uint8_t out[32];
    memset(out, 0xaa, sizeof out);
    int got = proto_mesh_key_decode(s, strlen(s), out);
    if (got != rc)
        print_error("decode \"%s\": %d, expected %d\n", s, got, rc);
    assert_int_equal(got, rc);
    if (rc == 0)
        assert_memory_equal(out, g_key, 32);
    else
        for (int i = 0; i < 32; i++)
            assert_int_equal(out[i], 0xaa); /* untouched on error */
}

static void test_key_forms(void **state)
{
    (void)state;
    /* accepted spellings of the one key */
    static const char *const good[] = {
        V_PRINTABLE,
        "CCNK1-AAAQEA-YEAUDA-OCAJBI-FQYDIO-B4IBCE-QTCQKR-MFYYDE-NBWHA5-DYP3JB-XTS4",
        "ccnk1-aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3jbxts4",
        "ccnk1-aaaqea-yeaudaocajbi-fqydiob4ibce-qtcqkrmfyyde-nbwha5dyp3jb-xts4",
        "CcNk1-aAaQeA-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4",
        V_PRINTABLE "\n",
        V_PRINTABLE "\r\n",
        V_PRINTABLE " \t\n",
        "  " V_PRINTABLE,
        "\n" V_PRINTABLE "\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        expect_key(good[i], 0);

    static const struct {
        const char *s;
        int rc;
    } bad[] = {
        {"", -EINVAL},
        {"\n", -EINVAL},
        {"ccnk1-", -EINVAL},
        {"ccnk1", -EINVAL},
        {"ccnk2-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk0-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"cnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1_aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        /* dashes: doubled, leading, trailing, inside a group */
        {"ccnk1--aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1-aaaqea--yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4-", -EINVAL},
        {"ccnk1-aaaqe-a-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xt-s4", -EINVAL},
        /* other separators and characters */
        {"ccnk1-aaaqea yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1-aaaqea_yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4=", -EINVAL},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4==", -EINVAL},
        {"ccnk1-0aaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1-1aaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1-8aaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EINVAL},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4\x01", -EINVAL},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts\xc3\xa4",
         -EINVAL},
        /* lengths */
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts", -EINVAL},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4a", -EINVAL},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4-aaaaaa",
         -EINVAL},
        /* the last character's two unused bits set ('4' = 28 = 11100b: '5', '6', '7') */
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts5", -EBADMSG},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts7", -EBADMSG},
        /* checksum */
        {"ccnk1-baaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4", -EBADMSG},
        {"ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xta4", -EBADMSG},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_key(bad[i].s, bad[i].rc);

    /* not NUL-terminated: only len bytes are read */
    char buf[128];
    memcpy(buf, V_PRINTABLE "zzzz", sizeof V_PRINTABLE + 4);
    uint8_t out[32];
    assert_int_equal(proto_mesh_key_decode(buf, strlen(V_PRINTABLE), out), 0);
    assert_memory_equal(out, g_key, 32);
}

static bool is_space_char(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The decoder's verdict on a variant: accepted only where `same` says the
 * variant spells the key itself; otherwise -EINVAL or -EBADMSG. Never another key. */
static void expect_variant(const char *v, size_t len, bool same)
{
    uint8_t out[32];
    int rc = proto_mesh_key_decode(v, len, out);
    if (rc == 0) {
        if (!same || memcmp(out, g_key, 32) != 0)
            print_error("variant \"%.*s\" accepted\n", (int)len, v);
        assert_true(same);
        assert_memory_equal(out, g_key, 32);
    } else {
        if (same)
            print_error("variant \"%.*s\" refused: %d\n", (int)len, v, rc);
        assert_false(same);
        assert_true(rc == -EINVAL || rc == -EBADMSG);
    }
}

static void test_key_every_typo(void **state)
{
    (void)state;
    const char *p = V_PRINTABLE;
    size_t n = strlen(p);
    char v[PROTO_MESH_KEY_TEXT_MAX + 2];
    size_t substitutions_caught = 0;
    /* every substitution by every byte: only a change of case is the same key */
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 256; c++) {
            if (c == (unsigned char)p[i])
                continue;
            memcpy(v, p, n);
            v[i] = (char)c;
            bool same = c >= 'A' && c <= 'Z' && c - 'A' + 'a' == p[i];
            expect_variant(v, n, same);
            substitutions_caught += !same;
        }
    assert_true(substitutions_caught > 70 * 250);
    /* every deletion: only a dash between two groups may go */
    for (size_t i = 0; i < n; i++) {
        memcpy(v, p, i);
        memcpy(v + i, p + i + 1, n - i - 1);
        expect_variant(v, n - 1, p[i] == '-' && i > 5);
    }
    /* every insertion of every byte: only whitespace at either end */
    for (size_t i = 0; i <= n; i++)
        for (int c = 0; c < 256; c++) {
            memcpy(v, p, i);
            v[i] = (char)c;
            memcpy(v + i + 1, p + i, n - i);
            expect_variant(v, n + 1, (i == 0 || i == n) && is_space_char(c));
        }
}

/* ---- the request header ---- */

static void test_header_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "v1",
        "v1 ",
        /* version, separators */
        "v2 1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "V1 1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1  1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 1764000000  000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 1764000000 000102030405060708090a0b0c0d0e0f  " V_AUTH,
        "v1\t1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 1764000000\t000102030405060708090a0b0c0d0e0f " V_AUTH,
        " v1 1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH " ",
        "v1 1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH "\n",
        "v1 1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH "0",
        /* time */
        "v1  000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 01764000000 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 00 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 +1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 -1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 1764000000.5 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 17640x0000 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 9223372036854775808 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 18446744073709551616 000102030405060708090a0b0c0d0e0f " V_AUTH,
        "v1 99999999999999999999 000102030405060708090a0b0c0d0e0f " V_AUTH,
        /* nonce */
        "v1 1764000000 000102030405060708090a0b0c0d0e0 " V_AUTH,
        "v1 1764000000 000102030405060708090a0b0c0d0e0f0 " V_AUTH,
        "v1 1764000000 000102030405060708090a0b0c0d0e0g " V_AUTH,
        "v1 1764000000 0x0102030405060708090a0b0c0d0e0f " V_AUTH,
        /* MAC */
        "v1 1764000000 000102030405060708090a0b0c0d0e0f "
        "ecc52edf5fc9dfda0f644a773972b7a98484c6d8bef78efa5163ecd955681de",
        "v1 1764000000 000102030405060708090a0b0c0d0e0f "
        "ecc52edf5fc9dfda0f644a773972b7a98484c6d8bef78efa5163ecd955681dee0",
        "v1 1764000000 000102030405060708090a0b0c0d0e0f "
        "ecc52edf5fc9dfda0f644a773972b7a98484c6d8bef78efa5163ecd955681de ",
        "v1 1764000000 000102030405060708090a0b0c0d0e0f "
        "ecc52edf5fc9dfda0f644a773972b7a98484c6d8bef78efa5163ecd955681dez",
        "v1 1764000000 000102030405060708090a0b0c0d0e0f",
        "v1 1764000000 000102030405060708090a0b0c0d0e0f " V_AUTH " " V_AUTH,
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct proto_mesh_request r;
        int rc = proto_mesh_header_parse(bad[i], strlen(bad[i]), &r);
        if (rc != -EINVAL)
            print_error("parsed \"%s\": %d\n", bad[i], rc);
        assert_int_equal(rc, -EINVAL);
    }
    /* a NUL inside */
    char h[] = V_HEADER;
    h[20] = '\0';
    struct proto_mesh_request r;
    assert_int_equal(proto_mesh_header_parse(h, sizeof h - 1, &r), -EINVAL);
}

static void test_header_parse_good(void **state)
{
    (void)state;
    struct proto_mesh_request r;
    const char *s = "v1 0 000102030405060708090a0b0c0d0e0f " V_AUTH;
    assert_int_equal(proto_mesh_header_parse(s, strlen(s), &r), 0);
    assert_int_equal(r.time, 0);
    s = "v1 9223372036854775807 FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF " V_AUTH;
    assert_int_equal(proto_mesh_header_parse(s, strlen(s), &r), 0);
    assert_int_equal(r.time, INT64_MAX);
    for (int i = 0; i < 16; i++)
        assert_int_equal(r.nonce[i], 0xff);
    assert_hex(r.mac, 32, V_AUTH);

    /* upper-case hex on the wire verifies: the MAC is over the lower-case nonce */
    char up[] = V_HEADER;
    for (char *c = up; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    assert_int_equal(proto_mesh_header_parse(up, strlen(up), &r), 0);
    assert_int_equal(proto_mesh_header_check(&g_k, &r, "GET", V_PATH, strlen(V_PATH), V_TIME), 0);

    /* the longest header fits */
    char h[PROTO_MESH_HEADER_MAX];
    size_t hl = proto_mesh_header_make(&g_k, "GET", "/", 1, INT64_MAX, g_nonce, h);
    assert_int_equal(hl, 120);
    assert_int_equal(proto_mesh_header_parse(h, hl, &r), 0);
    assert_int_equal(r.time, INT64_MAX);
    /* a negative clock is written as 0 */
    hl = proto_mesh_header_make(&g_k, "GET", "/", 1, -5, g_nonce, h);
    assert_int_equal(proto_mesh_header_parse(h, hl, &r), 0);
    assert_int_equal(r.time, 0);
}

static void test_header_check(void **state)
{
    (void)state;
    char h[PROTO_MESH_HEADER_MAX];
    size_t plen = strlen(V_PATH);
    size_t hl = proto_mesh_header_make(&g_k, "GET", V_PATH, plen, V_TIME, g_nonce, h);
    struct proto_mesh_request r, x;
    assert_int_equal(proto_mesh_header_parse(h, hl, &r), 0);

    assert_int_equal(proto_mesh_header_check(&g_k, &r, "GET", V_PATH, plen, V_TIME), 0);
    assert_int_equal(
        proto_mesh_header_check(&g_k, &r, "GET", V_PATH, plen, V_TIME + PROTO_MESH_SKEW_S), 0);
    assert_int_equal(
        proto_mesh_header_check(&g_k, &r, "GET", V_PATH, plen, V_TIME - PROTO_MESH_SKEW_S), 0);
    assert_int_equal(
        proto_mesh_header_check(&g_k, &r, "GET", V_PATH, plen, V_TIME + PROTO_MESH_SKEW_S + 1),
        -ETIME);
    assert_int_equal(
        proto_mesh_header_check(&g_k, &r, "GET", V_PATH, plen, V_TIME - PROTO_MESH_SKEW_S - 1),
        -ETIME);
    assert_int_equal(proto_mesh_header_check(&g_k, &r, "GET", V_PATH, plen, INT64_MIN), -ETIME);
    assert_int_equal(proto_mesh_header_check(&g_k, &r, "GET", V_PATH, plen, INT64_MAX), -ETIME);

    /* a changed request */
    assert_int_equal(proto_mesh_header_check(&g_k, &r, "HEAD", V_PATH, plen, V_TIME), -EPERM);
    assert_int_equal(proto_mesh_header_check(&g_k, &r, "get", V_PATH, plen, V_TIME), -EPERM);
    assert_int_equal(proto_mesh_header_check(&g_k, &r, "GET", V_PATH, plen - 1, V_TIME), -EPERM);
    assert_int_equal(
        proto_mesh_header_check(&g_k, &r, "GET", "/peer/1/manifest?since=4", plen, V_TIME), -EPERM);
    assert_int_equal(proto_mesh_header_check(&g_k, &r, "GET\n", V_PATH, plen, V_TIME), -EPERM);
    x = r;
    x.time++;
    assert_int_equal(proto_mesh_header_check(&g_k, &x, "GET", V_PATH, plen, V_TIME), -EPERM);
    x = r;
    x.time = -1;
    assert_int_equal(proto_mesh_header_check(&g_k, &x, "GET", V_PATH, plen, V_TIME), -EPERM);
    for (int i = 0; i < 16; i++) {
        x = r;
        x.nonce[i] ^= 0x01;
        assert_int_equal(proto_mesh_header_check(&g_k, &x, "GET", V_PATH, plen, V_TIME), -EPERM);
    }
    for (int i = 0; i < 32; i++) {
        x = r;
        x.mac[i] ^= 0x80;
        assert_int_equal(proto_mesh_header_check(&g_k, &x, "GET", V_PATH, plen, V_TIME), -EPERM);
    }
    /* a changed time beyond the skew is -EPERM: the MAC is checked first */
    x = r;
    x.time += 1000;
    assert_int_equal(proto_mesh_header_check(&g_k, &x, "GET", V_PATH, plen, V_TIME), -EPERM);

    /* another key, with its own subkeys */
    uint8_t other[32];
    memcpy(other, g_key, 32);
    other[31] ^= 1;
    struct proto_mesh_key k2;
    proto_mesh_key_init(&k2, other);
    assert_string_not_equal(k2.id, g_k.id);
    assert_int_equal(proto_mesh_header_check(&k2, &r, "GET", V_PATH, plen, V_TIME), -EPERM);

    /* the path is bytes, NULs and newlines included */
    static const char odd[] = "/a\0b\nc";
    hl = proto_mesh_header_make(&g_k, "GET", odd, sizeof odd - 1, 5, g_nonce, h);
    assert_int_equal(proto_mesh_header_parse(h, hl, &x), 0);
    assert_int_equal(proto_mesh_header_check(&g_k, &x, "GET", odd, sizeof odd - 1, 5), 0);
    assert_int_equal(proto_mesh_header_check(&g_k, &x, "GET", odd, 2, 5), -EPERM);
}

/* ---- the replay table ---- */

static struct proto_mesh_request req(uint32_t i, int64_t time)
{
    struct proto_mesh_request r;
    memset(&r, 0, sizeof r);
    r.time = time;
    r.nonce[0] = (uint8_t)(i >> 24);
    r.nonce[1] = (uint8_t)(i >> 16);
    r.nonce[2] = (uint8_t)(i >> 8);
    r.nonce[3] = (uint8_t)i;
    r.nonce[15] = 0x5a;
    return r;
}

static void test_replay(void **state)
{
    (void)state;
    struct proto_mesh_replay *t = cc_calloc(1, sizeof *t);
    assert_non_null(t);
    const int64_t T = V_TIME, S = PROTO_MESH_SKEW_S;
    struct proto_mesh_request a = req(1, T), b = req(2, T);

    assert_int_equal(proto_mesh_replay_add(t, &a, T), 0);
    assert_int_equal(proto_mesh_replay_add(t, &a, T), -EALREADY);
    assert_int_equal(proto_mesh_replay_add(t, &b, T), 0);
    assert_int_equal(proto_mesh_replay_add(t, &a, T + 2 * S), -EALREADY);
    /* the same nonce with another time is still the same nonce */
    struct proto_mesh_request a2 = req(1, T + 5);
    assert_int_equal(proto_mesh_replay_add(t, &a2, T + 5), -EALREADY);
    /* past 2 * SKEW it is forgotten (the time check refuses it anyway) */
    assert_int_equal(proto_mesh_replay_add(t, &a, T + 2 * S + 1), 0);
    struct proto_mesh_request a3 = req(1, T + 2 * S + 1);
    assert_int_equal(proto_mesh_replay_add(t, &a3, T + 2 * S + 1), 0);
    assert_int_equal(proto_mesh_replay_add(t, &a3, T + 2 * S + 1), -EALREADY);

    /* full: every entry young -> -EBUSY, new and old nonces alike, the seen still -EALREADY */
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < PROTO_MESH_REPLAY_MAX; i++) {
        struct proto_mesh_request r = req(i, T + (int64_t)(i % 3));
        assert_int_equal(proto_mesh_replay_add(t, &r, T), 0);
    }
    assert_int_equal(t->n, PROTO_MESH_REPLAY_MAX);
    struct proto_mesh_request fresh = req(PROTO_MESH_REPLAY_MAX + 7, T);
    struct proto_mesh_request seen = req(17, T);
    assert_int_equal(proto_mesh_replay_add(t, &fresh, T), -EBUSY);
    assert_int_equal(proto_mesh_replay_add(t, &seen, T), -EALREADY);
    assert_int_equal(proto_mesh_replay_add(t, &fresh, T + 2 * S), -EBUSY);
    /* at T + 2S + 1 the entries of time T (a third) are forgotten, the others kept */
    assert_int_equal(proto_mesh_replay_add(t, &fresh, T + 2 * S + 1), 0);
    assert_int_equal(t->n, PROTO_MESH_REPLAY_MAX - (PROTO_MESH_REPLAY_MAX + 2) / 3 + 1);
    struct proto_mesh_request kept = req(1, T + 1);
    assert_int_equal(proto_mesh_replay_add(t, &kept, T + 2 * S + 1), -EALREADY);
    struct proto_mesh_request gone = req(0, T);
    assert_int_equal(proto_mesh_replay_add(t, &gone, T + 2 * S + 1), 0);
    /* far later everything goes */
    for (uint32_t i = 0; t->n < PROTO_MESH_REPLAY_MAX; i++) {
        struct proto_mesh_request r = req(0x80000000u + i, T + 2 * S + 1);
        assert_int_equal(proto_mesh_replay_add(t, &r, T + 2 * S + 1), 0);
    }
    assert_int_equal(proto_mesh_replay_add(t, &gone, T + 10 * S), 0);
    /* a new nonce on the full table sweeps every forgotten entry out */
    struct proto_mesh_request later = req(0x40000000u, T + 10 * S);
    assert_int_equal(proto_mesh_replay_add(t, &later, T + 10 * S), 0);
    assert_int_equal(t->n, 1); /* later: gone's time was forgotten already */
    assert_int_equal(proto_mesh_replay_add(t, &later, T + 10 * S), -EALREADY);
    free(t);
}

/* ---- sealed streams ---- */

struct collect {
    uint8_t *p;
    size_t len, cap;
    size_t calls;
};

static int collect_emit(void *ud, const uint8_t *buf, size_t len)
{
    struct collect *c = ud;
    assert_true(len > 0);
    assert_true(len <= PROTO_MESH_CHUNK);
    assert_true(c->len + len <= c->cap);
    memcpy(c->p + c->len, buf, len);
    c->len += len;
    c->calls++;
    return 0;
}

static uint8_t *pattern(size_t n)
{
    uint8_t *p = cc_malloc(n > 0 ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + (i >> 8));
    return p;
}

/* Opens in with the opener fed in pieces cut by next(); returns open_end's
 * verdict (or the first feed error) and the plaintext in *c. */
static int open_split(const uint8_t key[32], const uint8_t *in, size_t n, struct collect *c,
                      size_t (*next)(size_t left))
{
    struct proto_mesh_opener *o = cc_malloc(sizeof *o);
    assert_non_null(o);
    proto_mesh_open_init(o, key);
    int rc = 0;
    size_t off = 0;
    while (off < n && rc == 0) {
        size_t k = next(n - off);
        rc = proto_mesh_open_feed(o, in + off, k, collect_emit, c);
        off += k;
    }
    int end = proto_mesh_open_end(o);
    free(o);
    return rc != 0 ? rc : end;
}

static size_t split_one(size_t left)
{
    (void)left;
    return 1;
}

static size_t split_random(size_t left)
{
    size_t k = 1 + randombytes_uniform(70000);
    return k < left ? k : left;
}

static size_t split_small(size_t left)
{
    size_t k = randombytes_uniform(40); /* empty feeds too */
    return k < left ? k : left;
}

static void test_seal_open_sizes(void **state)
{
    (void)state;
    uint8_t key[32];
    proto_mesh_key_new(key);
    const size_t C = PROTO_MESH_CHUNK;
    const size_t sizes[] = {0, 1, 2, 100, C - 1, C, C + 1, 2 * C, 3 * C + 5};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si];
        uint8_t *in = pattern(n);
        uint8_t *s;
        size_t sl;
        assert_int_equal(proto_mesh_seal(key, in, n, &s, &sl), 0);
        assert_int_equal(sl, proto_mesh_sealed_size(n));
        size_t chunks = n == 0 ? 1 : (n + C - 1) / C;
        assert_int_equal(sl, 24 + n + 21 * chunks);

        uint8_t *out;
        size_t ol;
        assert_int_equal(proto_mesh_open(key, s, sl, &out, &ol), 0);
        assert_int_equal(ol, n);
        if (n > 0)
            assert_memory_equal(out, in, n);
        free(out);

        size_t (*splits[])(size_t) = {split_random, split_small, split_one};
        for (size_t k = 0; k < 3; k++) {
            if (splits[k] == split_one && n > C + 1)
                continue; /* byte by byte up to just past one chunk is enough */
            struct collect c = {pattern(n), 0, n, 0};
            memset(c.p, 0, n);
            assert_int_equal(open_split(key, s, sl, &c, splits[k]), 0);
            assert_int_equal(c.len, n);
            assert_int_equal(c.calls, n == 0 ? 0 : chunks);
            if (n > 0)
                assert_memory_equal(c.p, in, n);
            free(c.p);
        }
        free(s);
        free(in);
    }
    assert_int_equal(proto_mesh_sealed_size(0), 45);
    assert_true(proto_mesh_sealed_size(UINT64_MAX) == UINT64_MAX);
    assert_true(proto_mesh_sealed_size(UINT64_MAX - 100) == UINT64_MAX);
}

/* A small stream of three chunks (10, 0 and 7 bytes, the last FINAL), so
 * every byte of a multi-chunk stream can be changed or cut. */
static size_t small_stream(const uint8_t key[32], uint8_t *out)
{
    static const uint8_t text[] = "0123456789abcdefg";
    struct proto_mesh_sealer s;
    proto_mesh_seal_init(&s, key, out);
    size_t o = PROTO_MESH_STREAM_HEADER;
    o += proto_mesh_seal_chunk(&s, text, 10, false, out + o);
    o += proto_mesh_seal_chunk(&s, NULL, 0, false, out + o);
    o += proto_mesh_seal_chunk(&s, text + 10, 7, true, out + o);
    return o;
}

static void test_open_tampered(void **state)
{
    (void)state;
    uint8_t key[32];
    proto_mesh_key_new(key);
    uint8_t s[256], v[300];
    size_t sl = small_stream(key, s);
    assert_int_equal(sl, 24 + 17 + 3 * 21);
    uint8_t *out;
    size_t ol;
    assert_int_equal(proto_mesh_open(key, s, sl, &out, &ol), 0);
    assert_int_equal(ol, 17);
    assert_memory_equal(out, "0123456789abcdefg", 17);
    free(out);

    /* every byte flipped, with every one-bit change and a whole-byte change */
    for (size_t i = 0; i < sl; i++)
        for (int m = 0; m < 9; m++) {
            memcpy(v, s, sl);
            v[i] ^= m < 8 ? (uint8_t)(1u << m) : 0xff;
            out = (uint8_t *)1;
            assert_int_equal(proto_mesh_open(key, v, sl, &out, &ol), -EBADMSG);
            assert_null(out);
            struct collect c = {cc_malloc(sl), 0, sl, 0};
            assert_int_equal(open_split(key, v, sl, &c, split_one), -EBADMSG);
            free(c.p);
        }
    /* every truncation */
    for (size_t cut = 0; cut < sl; cut++) {
        assert_int_equal(proto_mesh_open(key, s, cut, &out, &ol), -EBADMSG);
        struct proto_mesh_opener *o = cc_malloc(sizeof *o);
        proto_mesh_open_init(o, key);
        struct collect c = {cc_malloc(sl), 0, sl, 0};
        assert_int_equal(proto_mesh_open_feed(o, s, cut, collect_emit, &c), 0);
        assert_true(c.len <= cut);
        assert_int_equal(proto_mesh_open_end(o), -EBADMSG);
        free(c.p);
        free(o);
    }
    /* bytes appended after the final chunk, at once or later */
    for (size_t extra = 1; extra < 30; extra++) {
        memcpy(v, s, sl);
        memset(v + sl, 0, extra);
        assert_int_equal(proto_mesh_open(key, v, sl + extra, &out, &ol), -EBADMSG);
    }
    struct proto_mesh_opener *o = cc_malloc(sizeof *o);
    proto_mesh_open_init(o, key);
    assert_int_equal(proto_mesh_open_feed(o, s, sl, NULL, NULL), 0);
    assert_int_equal(proto_mesh_open_feed(o, s, 0, NULL, NULL), 0);
    assert_int_equal(proto_mesh_open_feed(o, s, 1, NULL, NULL), -EBADMSG);
    assert_int_equal(proto_mesh_open_feed(o, s, 0, NULL, NULL), -EBADMSG);
    assert_int_equal(proto_mesh_open_end(o), -EBADMSG);
    /* the stream twice over: a valid final chunk does not end the doubt */
    memcpy(v, s, sl);
    memcpy(v + sl, s, sl);
    assert_int_equal(proto_mesh_open(key, v, 2 * sl, &out, &ol), -EBADMSG);
    /* the FINAL chunk dropped: the stream ends after the empty chunk */
    assert_int_equal(proto_mesh_open(key, s, sl - 28, &out, &ol), -EBADMSG);

    /* another key, and the response key of another request */
    uint8_t k2[32];
    memcpy(k2, key, 32);
    k2[0] ^= 1;
    assert_int_equal(proto_mesh_open(k2, s, sl, &out, &ol), -EBADMSG);
    struct proto_mesh_request r1 = req(1, V_TIME), r2 = req(2, V_TIME), r3 = req(1, V_TIME + 1);
    uint8_t rk1[32], rk2[32], rk3[32];
    proto_mesh_response_key(&g_k, &r1, rk1);
    proto_mesh_response_key(&g_k, &r2, rk2);
    proto_mesh_response_key(&g_k, &r3, rk3);
    uint8_t *sealed;
    size_t sealed_len;
    assert_int_equal(proto_mesh_seal(rk1, (const uint8_t *)"manifest", 8, &sealed, &sealed_len), 0);
    assert_int_equal(proto_mesh_open(rk2, sealed, sealed_len, &out, &ol), -EBADMSG);
    assert_int_equal(proto_mesh_open(rk3, sealed, sealed_len, &out, &ol), -EBADMSG);
    assert_int_equal(proto_mesh_open(rk1, sealed, sealed_len, &out, &ol), 0);
    assert_memory_equal(out, "manifest", 8);
    free(out);
    free(sealed);

    /* lengths out of range fail as soon as their 4 bytes are in */
    static const uint32_t lens[] = {0, 16, PROTO_MESH_CHUNK + 18, 0xffffffffu};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        memcpy(v, s, 24);
        v[24] = (uint8_t)(lens[i] >> 24);
        v[25] = (uint8_t)(lens[i] >> 16);
        v[26] = (uint8_t)(lens[i] >> 8);
        v[27] = (uint8_t)lens[i];
        proto_mesh_open_init(o, key);
        assert_int_equal(proto_mesh_open_feed(o, v, 28, NULL, NULL), -EBADMSG);
        assert_int_equal(proto_mesh_open_end(o), -EBADMSG);
    }
    free(o);
}

static int refuse_emit(void *ud, const uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    (*(int *)ud)++;
    return -ENOSPC;
}

static void test_open_emit_error(void **state)
{
    (void)state;
    uint8_t key[32], s[256];
    proto_mesh_key_new(key);
    size_t sl = small_stream(key, s);
    struct proto_mesh_opener *o = cc_malloc(sizeof *o);
    int calls = 0;
    proto_mesh_open_init(o, key);
    assert_int_equal(proto_mesh_open_feed(o, s, sl, refuse_emit, &calls), -ENOSPC);
    assert_int_equal(calls, 1);
    assert_int_equal(proto_mesh_open_feed(o, s, 0, refuse_emit, &calls), -EBADMSG);
    assert_int_equal(proto_mesh_open_end(o), -EBADMSG);
    free(o);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    uint8_t key[32], s[256];
    proto_mesh_key_new(key);
    size_t sl = small_stream(key, s);
    uint8_t *out = (uint8_t *)1;
    size_t ol = 1;
    cc_alloc_fail_nth(1);
    assert_int_equal(proto_mesh_seal(key, s, 10, &out, &ol), -ENOMEM);
    assert_null(out);
    for (long n = 1; n <= 2; n++) {
        cc_alloc_fail_nth(n);
        assert_int_equal(proto_mesh_open(key, s, sl, &out, &ol), -ENOMEM);
        assert_null(out);
    }
    cc_alloc_fail_nth(0);
    assert_int_equal(proto_mesh_open(key, s, sl, &out, &ol), 0);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),          cmocka_unit_test(test_key_round_trip),
        cmocka_unit_test(test_key_forms),        cmocka_unit_test(test_key_every_typo),
        cmocka_unit_test(test_header_parse_bad), cmocka_unit_test(test_header_parse_good),
        cmocka_unit_test(test_header_check),     cmocka_unit_test(test_replay),
        cmocka_unit_test(test_seal_open_sizes),  cmocka_unit_test(test_open_tampered),
        cmocka_unit_test(test_open_emit_error),  cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
