/* tests/unit/test-proto-cargo-cache.c — Cargo's .cache index files: encoder
 * round trips, a hand-written file, and every truncation and corruption. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/cargo_cache.h"

struct rec {
    const char *vers;
    const char *line;
};

/* Encode a whole file with the put_* encoders, sizing each call first. */
static uint8_t *encode(uint32_t iv, const char *header, const struct rec *recs, size_t n,
                       size_t *len)
{
    size_t need = proto_cargo_cache_put_header(iv, header, NULL, 0);
    for (size_t i = 0; i < n; i++)
        need += proto_cargo_cache_put_record(recs[i].vers, (const uint8_t *)recs[i].line,
                                             strlen(recs[i].line), NULL, 0);
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    size_t off = proto_cargo_cache_put_header(iv, header, buf, need);
    for (size_t i = 0; i < n; i++)
        off += proto_cargo_cache_put_record(recs[i].vers, (const uint8_t *)recs[i].line,
                                            strlen(recs[i].line), buf + off, need - off);
    assert_int_equal(off, need);
    *len = need;
    return buf;
}

static const struct rec recs[] = {
    {"0.1.0", "{\"name\":\"a\",\"vers\":\"0.1.0\"}"},
    {"1.0.0-rc.1", "{\"name\":\"a\",\"vers\":\"1.0.0-rc.1\",\"yanked\":true}"},
    {"", ""}, /* empty fields are representable */
    {"2.0.0", "{}"},
};

static void test_round_trip(void **state)
{
    (void)state;
    static const char *headers[] = {"etag: \"abc\"", "last-modified: Tue, 01 Jan 2030", "Unknown",
                                    ""};
    static const uint32_t ivs[] = {2, 0, 0xdeadbeef};
    for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++) {
        for (size_t v = 0; v < sizeof ivs / sizeof ivs[0]; v++) {
            for (size_t n = 0; n <= sizeof recs / sizeof recs[0]; n++) {
                size_t len;
                uint8_t *buf = encode(ivs[v], headers[h], recs, n, &len);
                struct proto_cargo_cache_iter it;
                assert_int_equal(proto_cargo_cache_open(buf, len, &it), 0);
                assert_int_equal(it.cache_version, 3);
                assert_int_equal(it.index_version, ivs[v]);
                assert_int_equal(it.header_len, strlen(headers[h]));
                assert_memory_equal(it.header, headers[h], it.header_len);
                const uint8_t *vp, *lp;
                size_t vl, ll, k = 0;
                int rc;
                while ((rc = proto_cargo_cache_next(&it, &vp, &vl, &lp, &ll)) == 1) {
                    assert_true(k < n);
                    assert_int_equal(vl, strlen(recs[k].vers));
                    assert_memory_equal(vp, recs[k].vers, vl);
                    assert_int_equal(ll, strlen(recs[k].line));
                    assert_memory_equal(lp, recs[k].line, ll);
                    assert_true(vp >= buf && lp + ll < buf + len); /* into the buffer */
                    k++;
                }
                assert_int_equal(rc, 0);
                assert_int_equal(k, n);
                assert_int_equal(proto_cargo_cache_next(&it, &vp, &vl, &lp, &ll), 0);
                free(buf);
            }
        }
    }
}

static void test_known_bytes(void **state)
{
    (void)state;
    /* written by hand from the format description */
    static const uint8_t file[] = {3, 2, 0, 0, 0, 'e', 't', 'a', 'g', ':', ' ', 'x', 0,
                                   '1', '.', '0', 0, '{', '}', 0};
    uint8_t enc[sizeof file];
    size_t off = proto_cargo_cache_put_header(2, "etag: x", enc, sizeof enc);
    assert_int_equal(off, 13);
    off += proto_cargo_cache_put_record("1.0", (const uint8_t *)"{}", 2, enc + off,
                                        sizeof enc - off);
    assert_int_equal(off, sizeof file);
    assert_memory_equal(enc, file, sizeof file);

    struct proto_cargo_cache_iter it;
    assert_int_equal(proto_cargo_cache_open(file, sizeof file, &it), 0);
    assert_int_equal(it.index_version, 2);
    const uint8_t *vp, *lp;
    size_t vl, ll;
    assert_int_equal(proto_cargo_cache_next(&it, &vp, &vl, &lp, &ll), 1);
    assert_int_equal(vl, 3);
    assert_int_equal(ll, 2);
    assert_int_equal(proto_cargo_cache_next(&it, &vp, &vl, &lp, &ll), 0);

    /* little endian */
    static const uint8_t le[] = {3, 0x78, 0x56, 0x34, 0x12, 0};
    assert_int_equal(proto_cargo_cache_open(le, sizeof le, &it), 0);
    assert_int_equal(it.index_version, 0x12345678);
    assert_int_equal(it.header_len, 0);
}

static const struct {
    const char *name;
    const uint8_t *buf;
    size_t len;
    int rc;
} open_cases[] = {
    {"empty", (const uint8_t *)"", 0, -EBADMSG},
    {"version only", (const uint8_t *)"\x03", 1, -EBADMSG},
    {"short index version", (const uint8_t *)"\x03\x02\x00\x00", 4, -EBADMSG},
    {"no header NUL", (const uint8_t *)"\x03\x02\x00\x00\x00", 5, -EBADMSG},
    {"unterminated header", (const uint8_t *)"\x03\x02\x00\x00\x00" "etag", 9, -EBADMSG},
    {"cache version 1", (const uint8_t *)"\x01\x02\x00\x00\x00\x00", 6, -EPROTO},
    {"cache version 2", (const uint8_t *)"\x02\x02\x00\x00\x00\x00", 6, -EPROTO},
    {"cache version 4", (const uint8_t *)"\x04\x02\x00\x00\x00\x00", 6, -EPROTO},
    {"garbage", (const uint8_t *)"{\"name\":\"a\"}", 12, -EPROTO},
    {"minimal", (const uint8_t *)"\x03\x02\x00\x00\x00\x00", 6, 0},
};

static void test_open_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof open_cases / sizeof open_cases[0]; i++) {
        struct proto_cargo_cache_iter it;
        int rc = proto_cargo_cache_open(open_cases[i].buf, open_cases[i].len, &it);
        if (rc != open_cases[i].rc)
            fail_msg("%s: rc %d, want %d", open_cases[i].name, rc, open_cases[i].rc);
    }
    struct proto_cargo_cache_iter it;
    assert_int_equal(proto_cargo_cache_open(NULL, 0, &it), -EBADMSG);
    /* the size cap is checked first, before anything is read */
    assert_int_equal(proto_cargo_cache_open((const uint8_t *)"", PROTO_CARGO_CACHE_MAX + 1, &it),
                     -EMSGSIZE);
}

/* Every strict prefix of a valid file either fails to open, or yields a
 * prefix of the records and then -EBADMSG; only cuts at a record boundary end
 * cleanly. */
static void test_truncations(void **state)
{
    (void)state;
    size_t len;
    uint8_t *full = encode(2, "etag: \"x\"", recs, 2, &len);
    size_t hdr = proto_cargo_cache_put_header(2, "etag: \"x\"", NULL, 0);
    size_t r1 = hdr + proto_cargo_cache_put_record(recs[0].vers, (const uint8_t *)recs[0].line,
                                                   strlen(recs[0].line), NULL, 0);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *buf = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
        assert_non_null(buf);
        memcpy(buf, full, cut);
        struct proto_cargo_cache_iter it;
        int rc = proto_cargo_cache_open(buf, cut, &it);
        if (cut < hdr) {
            assert_int_equal(rc, -EBADMSG);
            free(buf);
            continue;
        }
        assert_int_equal(rc, 0);
        const uint8_t *vp, *lp;
        size_t vl, ll, k = 0;
        while ((rc = proto_cargo_cache_next(&it, &vp, &vl, &lp, &ll)) == 1)
            k++;
        if (cut == hdr || cut == r1) {
            assert_int_equal(rc, 0);
            assert_int_equal(k, cut == hdr ? 0 : 1);
        } else {
            assert_int_equal(rc, -EBADMSG);
            assert_int_equal(k, cut < r1 ? 0 : 1);
            /* the error is sticky */
            assert_int_equal(proto_cargo_cache_next(&it, &vp, &vl, &lp, &ll), -EBADMSG);
        }
        free(buf);
    }
    free(full);
}

static void test_garbage_records(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *tail; /* after a valid preamble */
        size_t tail_len;
        int records;
        int rc;
    } cases[] = {
        {"version without line", "1.0\0", 4, 0, -EBADMSG},
        {"no NUL at all", "1.0", 3, 0, -EBADMSG},
        {"line without NUL", "1.0\0{}", 6, 0, -EBADMSG},
        {"one good then junk", "1.0\0{}\0zz", 9, 1, -EBADMSG},
        {"NULs only", "\0\0\0\0", 4, 2, 0},
        {"binary", "\xff\xfe\0\x01\x02\0", 6, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t hl = proto_cargo_cache_put_header(2, "Unknown", NULL, 0);
        size_t len = hl + cases[i].tail_len;
        uint8_t *buf = malloc(len);
        assert_non_null(buf);
        proto_cargo_cache_put_header(2, "Unknown", buf, hl);
        memcpy(buf + hl, cases[i].tail, cases[i].tail_len);
        struct proto_cargo_cache_iter it;
        assert_int_equal(proto_cargo_cache_open(buf, len, &it), 0);
        const uint8_t *vp, *lp;
        size_t vl, ll;
        int rc, k = 0;
        while ((rc = proto_cargo_cache_next(&it, &vp, &vl, &lp, &ll)) == 1)
            k++;
        if (rc != cases[i].rc || k != cases[i].records)
            fail_msg("%s: rc %d after %d records", cases[i].name, rc, k);
        free(buf);
    }
}

static void test_encoder_edges(void **state)
{
    (void)state;
    uint8_t out[32];
    memset(out, 0xee, sizeof out);
    /* too small: nothing written, size still reported */
    assert_int_equal(proto_cargo_cache_put_header(2, "Unknown", out, 12), 13);
    assert_int_equal(out[0], 0xee);
    assert_int_equal(proto_cargo_cache_put_record("1.0", (const uint8_t *)"{}", 2, out, 6), 7);
    assert_int_equal(out[0], 0xee);
    assert_int_equal(proto_cargo_cache_put_header(2, NULL, out, sizeof out), 6);
    assert_int_equal(out[5], 0);
    /* not encodable */
    assert_int_equal(proto_cargo_cache_put_record("1.0", (const uint8_t *)"a\0b", 3, out,
                                                  sizeof out),
                     0);
    assert_int_equal(proto_cargo_cache_put_record(NULL, (const uint8_t *)"{}", 2, out,
                                                  sizeof out),
                     0);
    assert_int_equal(proto_cargo_cache_put_record("1.0", NULL, 1, out, sizeof out), 0);
    assert_int_equal(proto_cargo_cache_put_record("1.0", NULL, 0, out, sizeof out), 5);
    assert_int_equal(proto_cargo_cache_put_record("1.0", (const uint8_t *)"x", SIZE_MAX, NULL, 0),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_known_bytes),
        cmocka_unit_test(test_open_malformed),  cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_garbage_records), cmocka_unit_test(test_encoder_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
