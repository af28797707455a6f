/* tests/unit/test-proto-bundle.c — the bundle file of proto/bundle.h: the fixed
 * test vectors (computed independently by tests/unit/bundle_vectors.py with
 * Python's hashlib and its own Ed25519; docs/bundle.md lists them) and the
 * committed tests/unit/vectors/bundle-v1.ccb; round trips (empty, lines only,
 * crates only, chunks past PROTO_BUNDLE_CHUNK_MAX, a crate over 1 MiB, the
 * writer's frame boundary at PROTO_BUNDLE_FRAME_BYTES); the same events however
 * the file is cut; every flipped byte and every truncation of a small bundle;
 * streams made by hand (an encoder of its own below, with libsodium) for every
 * rule of the reader; callbacks that stop the reader; writer misuse, sink
 * errors and allocation failures.
 *
 * CRATECAST_BUNDLE_WRITE_VECTOR=PATH makes test_vectors write the vector
 * bundle to PATH (how tests/unit/vectors/bundle-v1.ccb was made).
 */
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
#include <zstd_errors.h>

#include "proto/alloc.h"
#include "proto/bundle.h"

/* ---- the vectors ---------------------------------------------------------------- */

#define V_CREATED 1764000000
#define V_REGISTRY "https://index.crates.io/"
#define V_CRATE "not really a gzip\nnot really a gzip\nnot really a gzip\n"
#define V_CKSUM "847497bfa2811d33f9cdcb007339b817fb76852bf0f4dd05fdcc3b64e0b31874"
#define V_LINE1                                                                                    \
    "{\"name\":\"demo\",\"vers\":\"0.1.0\",\"deps\":[],\"cksum\":\"" V_CKSUM                       \
    "\",\"features\":{},\"yanked\":false}"
#define V_LINE2                                                                                    \
    "{\"name\":\"demo\",\"vers\":\"0.2.0\",\"deps\":[{\"name\":\"serde\",\"req\":\"^1.0\","        \
    "\"features\":[],\"optional\":false,\"default_features\":true,\"target\":null,"                \
    "\"kind\":\"normal\"}],\"cksum\":\"" V_CKSUM "\",\"features\":{\"std\":[]},"                   \
    "\"yanked\":false,\"rust_version\":\"1.70\"}"
#define V_PK "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
#define V_HEADER                                                                                   \
    "434342554e444c45"                                                                             \
    "0001"                                                                                         \
    "0000" V_PK "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"                                                 \
    "0000000069248100"                                                                             \
    "0018"                                                                                         \
    "68747470733a2f2f696e6465782e6372617465732e696f2f"
#define V_HEADER_SHA256 "07c1a25d2325050aa2abe73d6201ac8ca961f0ae4412fe608111c3c11bd526ce"
#define V_CHUNK_SIG                                                                                \
    "18aa75abf45f6ad2d6018bdf0942ae8855f2af17cf9dc1d3cfa332fb996a15c2"                             \
    "18a6172976b3b4681b514c7ab0c69868da7a143e20dd6c03dd701eb2f18cce06"
#define V_END_SIG                                                                                  \
    "dff20108c5eccad03cbc589072d399d468e649c90d59b940207351aee0196a15"                             \
    "5b654aec61b7c46e016529ffa3461a1c5a5bd549bafd91491b6d806f57f89a0e"
#define V_STREAM_LEN 810
#define V_STREAM_SHA256 "4b9350bb8dcd54a472014bb5be6cc6a6ae74eb94b597ebd26b2c42793a62a748"

#define HDR_LEN (PROTO_BUNDLE_HEADER_FIXED + sizeof V_REGISTRY - 1) /* 94 */

static uint8_t g_pk[PROTO_PK_LEN], g_sk[PROTO_SK_LEN];   /* seed 01..20 */
static uint8_t g_pk2[PROTO_PK_LEN], g_sk2[PROTO_SK_LEN]; /* another key */
static uint8_t g_id[PROTO_BUNDLE_ID_LEN];                /* a0..af */

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i + 1);
    crypto_sign_seed_keypair(g_pk, g_sk, seed);
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(0x80 + i);
    crypto_sign_seed_keypair(g_pk2, g_sk2, seed);
    for (int i = 0; i < PROTO_BUNDLE_ID_LEN; i++)
        g_id[i] = (uint8_t)(0xa0 + i);
    return 0;
}

static void assert_hex(const uint8_t *b, size_t n, const char *hex)
{
    char got[2 * 128 + 1];
    assert_true(n <= 128);
    sodium_bin2hex(got, sizeof got, b, n);
    assert_string_equal(got, hex);
}

static void sha256_hex(const uint8_t *b, size_t n, const char *hex)
{
    uint8_t h[32];
    crypto_hash_sha256(h, b, n);
    assert_hex(h, 32, hex);
}

/* ---- growable buffers ---------------------------------------------------------- */

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_u8(struct buf *b, uint8_t v)
{
    buf_add(b, &v, 1);
}

static void buf_be(struct buf *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        buf_u8(b, (uint8_t)(v >> (8 * i)));
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int sink_buf(void *ud, const uint8_t *p, size_t n)
{
    assert_true(n > 0);
    buf_add(ud, p, n);
    return 0;
}

/* ---- zstd helpers: the test's own decompression and compression ---------------- */

static void decompress(const struct buf *file, struct buf *stream)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    assert_non_null(d);
    ZSTD_inBuffer in = {file->p, file->len, 0};
    uint8_t out[1 << 16];
    size_t zrc = 1;
    while (in.pos < in.size || zrc != 0) {
        ZSTD_outBuffer o = {out, sizeof out, 0};
        zrc = ZSTD_decompressStream(d, &o, &in);
        assert_false(ZSTD_isError(zrc));
        buf_add(stream, out, o.pos);
        if (in.pos == in.size && o.pos < o.size && zrc != 0)
            fail_msg("the test's file is truncated");
    }
    ZSTD_freeDCtx(d);
}

/* The stream compressed as frames cut at cuts[0..ncuts) (increasing stream
 * offsets), each with a checksum when `checksum`. */
static void compress_cut(const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts,
                         bool checksum, struct buf *file)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    assert_non_null(c);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum)));
    size_t from = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        size_t cap = ZSTD_compressBound(to - from);
        uint8_t *out = malloc(cap);
        assert_non_null(out);
        size_t z = ZSTD_compress2(c, out, cap, s + from, to - from);
        assert_false(ZSTD_isError(z));
        buf_add(file, out, z);
        free(out);
        from = to;
    }
    ZSTD_freeCCtx(c);
}

static void compress_one(const struct buf *stream, struct buf *file)
{
    compress_cut(stream->p, stream->len, NULL, 0, true, file);
}

/* One frame with a window of 1 << wlog. */
static void compress_wlog(const struct buf *stream, int wlog, struct buf *file)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    assert_non_null(c);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, wlog)));
    size_t cap = ZSTD_compressBound(stream->len);
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    size_t z = ZSTD_compress2(c, out, cap, stream->p, stream->len);
    assert_false(ZSTD_isError(z));
    buf_add(file, out, z);
    free(out);
    ZSTD_freeCCtx(c);
}

/* ---- an encoder of the test's own, for streams the writer would not make ---- */

static void enc_header(struct buf *s, const uint8_t pk[32], const uint8_t id[16], int64_t created,
                       const char *registry, uint16_t version, uint16_t flags)
{
    buf_add(s, "CCBUNDLE", 8);
    buf_be(s, version, 2);
    buf_be(s, flags, 2);
    buf_add(s, pk, 32);
    buf_add(s, id, 16);
    buf_be(s, (uint64_t)created, 8);
    buf_be(s, strlen(registry), 2);
    buf_add(s, registry, strlen(registry));
}

static void std_header(struct buf *s)
{
    enc_header(s, g_pk, g_id, V_CREATED, V_REGISTRY, 1, 0);
}

/* The signature over "cratecast/bundle/1/" type "\0" || SHA-256(header) || body. */
static void enc_sign(const uint8_t *header, size_t hlen, char type, const uint8_t *body,
                     size_t blen, const uint8_t *sk, uint8_t sig[64])
{
    struct buf m = {0};
    buf_add(&m, "cratecast/bundle/1/", 19);
    buf_u8(&m, (uint8_t)type);
    buf_u8(&m, 0);
    uint8_t h[32];
    crypto_hash_sha256(h, header, hlen);
    buf_add(&m, h, 32);
    buf_add(&m, body, blen);
    crypto_sign_detached(sig, NULL, m.p, m.len, sk);
    buf_free(&m);
}

/* An index chunk after the header (s->p[0..hlen)), signed with sk. */
static void enc_chunk(struct buf *s, size_t hlen, uint32_t number, const char *lines,
                      const uint8_t *sk)
{
    struct buf b = {0};
    buf_be(&b, number, 4);
    buf_add(&b, lines, strlen(lines));
    uint8_t sig[64];
    enc_sign(s->p, hlen, 'I', b.p, b.len, sk, sig);
    buf_add(&b, sig, 64);
    buf_add(s, "I\0\0\0", 4);
    buf_be(s, b.len, 4);
    buf_add(s, b.p, b.len);
    buf_free(&b);
}

static void enc_crate(struct buf *s, const uint8_t *data, size_t n)
{
    uint8_t h[32];
    crypto_hash_sha256(h, data, n);
    buf_add(s, "C\0\0\0\0\0\0\0", 8);
    buf_add(s, h, 32);
    buf_be(s, n, 8);
    buf_add(s, data, n);
}

static void enc_end(struct buf *s, size_t hlen, uint64_t chunks, uint64_t lines, uint64_t crates,
                    uint64_t bytes, const uint8_t *sk)
{
    struct buf b = {0};
    buf_be(&b, chunks, 8);
    buf_be(&b, lines, 8);
    buf_be(&b, crates, 8);
    buf_be(&b, bytes, 8);
    uint8_t sig[64];
    enc_sign(s->p, hlen, 'E', b.p, b.len, sk, sig);
    buf_add(&b, sig, 64);
    buf_add(s, "E\0\0\0", 4);
    buf_be(s, b.len, 4);
    buf_add(s, b.p, b.len);
    buf_free(&b);
}

/* The vector stream, by the test's encoder. */
static void enc_vector(struct buf *s)
{
    std_header(s);
    enc_chunk(s, HDR_LEN, 0, V_LINE1 "\n" V_LINE2 "\n", g_sk);
    enc_crate(s, (const uint8_t *)V_CRATE, strlen(V_CRATE));
    enc_end(s, HDR_LEN, 1, 2, 1, strlen(V_CRATE), g_sk);
}

/* The records of a stream: where each starts and how long it is. */
struct rec {
    size_t off, len;
    char type;
};

static size_t walk(const uint8_t *s, size_t n, struct rec *out, size_t max)
{
    size_t off = PROTO_BUNDLE_HEADER_FIXED + ((size_t)s[68] << 8 | s[69]), k = 0;
    while (off < n) {
        assert_true(k < max);
        size_t len;
        uint64_t v = 0;
        if (s[off] == 'C') {
            for (int i = 0; i < 8; i++)
                v = v << 8 | s[off + 40 + i];
            len = 48 + (size_t)v;
        } else {
            for (int i = 0; i < 4; i++)
                v = v << 8 | s[off + 4 + i];
            len = 8 + (size_t)v;
        }
        out[k++] = (struct rec){off, len, (char)s[off]};
        off += len;
    }
    assert_int_equal(off, n);
    return k;
}

/* ---- reading, with an event log ------------------------------------------------- */

struct log {
    struct buf b;   /* the events; crate bytes as one run per crate */
    bool in_data;   /* the last event was crate data */
    bool keep_data; /* log the crate bytes themselves (else only hash them) */
    int events;
    int stop_at; /* the event (counting from 1) that returns stop_rc; 0: none */
    int stop_rc;
    bool saw_header, saw_end, in_crate;
    uint64_t crate_left;
    uint8_t crate_sha[32];
    crypto_hash_sha256_state h;
    int crates_bad; /* crates whose bytes do not hash to their digest */
    struct proto_bundle_header hdr;
    struct proto_bundle_totals end;
    uint64_t chunks_seen;
};

static int ev_next(struct log *l)
{
    l->events++;
    return l->stop_at == l->events ? l->stop_rc : 0;
}

static int ev_header(void *ud, const struct proto_bundle_header *h)
{
    struct log *l = ud;
    assert_false(l->saw_header);
    l->saw_header = true;
    l->hdr = *h;
    assert_int_equal(strlen(h->registry) > 0, 1);
    buf_u8(&l->b, 'H');
    buf_add(&l->b, h, sizeof *h);
    l->in_data = false;
    return ev_next(l);
}

static int ev_index(void *ud, uint32_t chunk, const uint8_t *lines, size_t len)
{
    struct log *l = ud;
    assert_true(l->saw_header && !l->saw_end && !l->in_crate);
    assert_int_equal(chunk, l->chunks_seen);
    l->chunks_seen++;
    assert_true(len > 0 && len <= PROTO_BUNDLE_CHUNK_MAX - 4 - 64);
    assert_int_equal(lines[len - 1], '\n');
    buf_u8(&l->b, 'I');
    buf_be(&l->b, chunk, 4);
    buf_be(&l->b, len, 8);
    buf_add(&l->b, lines, len);
    l->in_data = false;
    return ev_next(l);
}

static int ev_crate_begin(void *ud, const uint8_t sha[32], uint64_t size)
{
    struct log *l = ud;
    assert_true(l->saw_header && !l->saw_end && !l->in_crate);
    l->in_crate = true;
    l->crate_left = size;
    memcpy(l->crate_sha, sha, 32);
    crypto_hash_sha256_init(&l->h);
    buf_u8(&l->b, 'B');
    buf_add(&l->b, sha, 32);
    buf_be(&l->b, size, 8);
    l->in_data = false;
    return ev_next(l);
}

static int ev_crate_data(void *ud, const uint8_t *p, size_t n)
{
    struct log *l = ud;
    assert_true(l->in_crate);
    assert_true(n > 0 && n <= l->crate_left);
    l->crate_left -= n;
    crypto_hash_sha256_update(&l->h, p, n);
    if (!l->in_data)
        buf_u8(&l->b, 'D');
    if (l->keep_data)
        buf_add(&l->b, p, n);
    l->in_data = true;
    return ev_next(l);
}

static int ev_crate_end(void *ud)
{
    struct log *l = ud;
    assert_true(l->in_crate);
    assert_int_equal(l->crate_left, 0);
    l->in_crate = false;
    uint8_t got[32];
    crypto_hash_sha256_final(&l->h, got);
    if (memcmp(got, l->crate_sha, 32) != 0)
        l->crates_bad++;
    buf_u8(&l->b, 'X');
    l->in_data = false;
    return ev_next(l);
}

static int ev_end(void *ud, const struct proto_bundle_totals *t)
{
    struct log *l = ud;
    assert_true(l->saw_header && !l->saw_end && !l->in_crate);
    l->saw_end = true;
    l->end = *t;
    buf_u8(&l->b, 'E');
    buf_add(&l->b, t, sizeof *t);
    l->in_data = false;
    return ev_next(l);
}

static const struct proto_bundle_events g_ev = {ev_header,     ev_index,     ev_crate_begin,
                                                ev_crate_data, ev_crate_end, ev_end};

static void log_init(struct log *l)
{
    memset(l, 0, sizeof *l);
    l->keep_data = true;
}

/* Reads f[0..n) cut in pieces of `piece` bytes (0: all at once; SIZE_MAX:
 * sizes from a fixed pseudo-random sequence, 1 to 300 bytes). Returns the
 * first error of feed or finish, or 0; err: the reader's text. */
static int read_file(const uint8_t *f, size_t n, size_t piece, struct log *l, char *err,
                     size_t errcap)
{
    struct proto_bundle_reader *r;
    assert_int_equal(proto_bundle_reader_new(&g_ev, l, &r), 0);
    assert_string_equal(proto_bundle_reader_error(r), "");
    int rc = 0;
    uint32_t x = 12345;
    size_t off = 0;
    while (off < n) {
        size_t k = piece == 0 ? n - off : piece;
        if (piece == SIZE_MAX) {
            x = x * 1103515245u + 12345u;
            k = 1 + (x >> 16) % 300;
        }
        if (k > n - off)
            k = n - off;
        rc = proto_bundle_reader_feed(r, f + off, k);
        off += k;
        if (rc != 0)
            break;
    }
    if (rc == 0)
        rc = proto_bundle_reader_finish(r);
    if (rc != 0) {
        /* sticky */
        assert_int_equal(proto_bundle_reader_feed(r, (const uint8_t *)"x", 1), rc);
        assert_int_equal(proto_bundle_reader_finish(r), rc);
        assert_true(strlen(proto_bundle_reader_error(r)) > 0);
        assert_null(strchr(proto_bundle_reader_error(r), '\n'));
    } else {
        assert_string_equal(proto_bundle_reader_error(r), "");
        assert_true(l->saw_end);
        struct proto_bundle_totals t;
        proto_bundle_reader_totals(r, &t);
        assert_memory_equal(&t, &l->end, sizeof t);
    }
    if (err != NULL)
        snprintf(err, errcap, "%s", proto_bundle_reader_error(r));
    proto_bundle_reader_free(r);
    return rc;
}

/* Reads a whole stream (compressed here as one frame); expects rc and, when
 * `text` is not NULL, that the error text contains it. */
static void expect_stream(const struct buf *s, int rc, const char *text)
{
    struct buf f = {0};
    compress_one(s, &f);
    struct log l;
    log_init(&l);
    char err[512];
    int got = read_file(f.p, f.len, 0, &l, err, sizeof err);
    if (got != rc || (text != NULL && strstr(err, text) == NULL))
        print_error("got %d \"%s\", expected %d \"%s\"\n", got, err, rc, text ? text : "");
    assert_int_equal(got, rc);
    if (text != NULL)
        assert_non_null(strstr(err, text));
    /* and one byte at a time: the same verdict */
    struct log l1;
    log_init(&l1);
    assert_int_equal(read_file(f.p, f.len, 1, &l1, NULL, 0), rc);
    buf_free(&l.b);
    buf_free(&l1.b);
    buf_free(&f);
}

/* ---- writing -------------------------------------------------------------------- */

static void write_vector(struct buf *f, int level)
{
    struct proto_bundle_writer *w;
    assert_int_equal(
        proto_bundle_writer_new(g_sk, g_id, V_CREATED, V_REGISTRY, level, sink_buf, f, &w), 0);
    assert_int_equal(proto_bundle_writer_index(w, (const uint8_t *)V_LINE1, strlen(V_LINE1)), 0);
    assert_int_equal(proto_bundle_writer_index(w, (const uint8_t *)V_LINE2, strlen(V_LINE2)), 0);
    uint8_t sha[32];
    crypto_hash_sha256(sha, (const uint8_t *)V_CRATE, strlen(V_CRATE));
    assert_int_equal(proto_bundle_writer_crate_begin(w, sha, strlen(V_CRATE)), 0);
    assert_int_equal(proto_bundle_writer_crate_data(w, (const uint8_t *)V_CRATE, 10), 0);
    assert_int_equal(
        proto_bundle_writer_crate_data(w, (const uint8_t *)V_CRATE + 10, strlen(V_CRATE) - 10), 0);
    assert_int_equal(proto_bundle_writer_finish(w), 0);
    struct proto_bundle_totals t;
    proto_bundle_writer_totals(w, &t);
    assert_int_equal(t.chunks, 1);
    assert_int_equal(t.lines, 2);
    assert_int_equal(t.crates, 1);
    assert_int_equal(t.crate_bytes, strlen(V_CRATE));
    proto_bundle_writer_free(w);
}

static void check_vector_events(const struct log *l)
{
    assert_true(l->saw_header && l->saw_end);
    assert_int_equal(l->hdr.version, 1);
    assert_memory_equal(l->hdr.signer, g_pk, 32);
    assert_memory_equal(l->hdr.id, g_id, 16);
    assert_int_equal(l->hdr.created, V_CREATED);
    assert_string_equal(l->hdr.registry, V_REGISTRY);
    assert_int_equal(l->end.chunks, 1);
    assert_int_equal(l->end.lines, 2);
    assert_int_equal(l->end.crates, 1);
    assert_int_equal(l->end.crate_bytes, strlen(V_CRATE));
    assert_int_equal(l->crates_bad, 0);
    /* the log: header, the chunk, the crate, the end */
    const uint8_t *p = l->b.p;
    size_t o = 1 + sizeof(struct proto_bundle_header);
    const char lines[] = V_LINE1 "\n" V_LINE2 "\n";
    assert_int_equal(p[o], 'I');
    assert_memory_equal(p + o + 13, lines, sizeof lines - 1);
    o += 13 + sizeof lines - 1;
    assert_int_equal(p[o], 'B');
    o += 41;
    assert_int_equal(p[o], 'D');
    assert_memory_equal(p + o + 1, V_CRATE, strlen(V_CRATE));
    o += 1 + strlen(V_CRATE);
    assert_int_equal(p[o], 'X');
    assert_int_equal(p[o + 1], 'E');
    assert_int_equal(o + 2 + sizeof(struct proto_bundle_totals), l->b.len);
}

static void test_vectors(void **state)
{
    (void)state;
    assert_hex(g_pk, 32, V_PK);
    struct buf f = {0}, s = {0}, mine = {0};
    write_vector(&f, 0);
    decompress(&f, &s);
    assert_int_equal(s.len, V_STREAM_LEN);
    sha256_hex(s.p, s.len, V_STREAM_SHA256);
    assert_hex(s.p, HDR_LEN, V_HEADER);
    sha256_hex(s.p, HDR_LEN, V_HEADER_SHA256);
    struct rec r[8];
    assert_int_equal(walk(s.p, s.len, r, 8), 3);
    assert_int_equal(r[0].type, 'I');
    assert_int_equal(r[1].type, 'C');
    assert_int_equal(r[2].type, 'E');
    assert_hex(s.p + r[0].off + r[0].len - 64, 64, V_CHUNK_SIG);
    assert_hex(s.p + r[2].off + r[2].len - 64, 64, V_END_SIG);
    /* the test's own encoder agrees byte for byte */
    enc_vector(&mine);
    assert_int_equal(mine.len, s.len);
    assert_memory_equal(mine.p, s.p, s.len);

    struct log l;
    log_init(&l);
    assert_int_equal(read_file(f.p, f.len, 0, &l, NULL, 0), 0);
    check_vector_events(&l);
    buf_free(&l.b);

    const char *out = getenv("CRATECAST_BUNDLE_WRITE_VECTOR");
    if (out != NULL && *out) {
        FILE *fp = fopen(out, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(f.p, 1, f.len, fp), f.len);
        assert_int_equal(fclose(fp), 0);
    }
    buf_free(&f);
    buf_free(&s);
    buf_free(&mine);
}

/* The committed file: whatever zstd made it, it holds the vector stream. */
static void test_vector_file(void **state)
{
    (void)state;
    FILE *fp = fopen(BUNDLE_VECTOR, "rb");
    assert_non_null(fp);
    struct buf f = {0}, s = {0};
    uint8_t tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, fp)) > 0)
        buf_add(&f, tmp, k);
    fclose(fp);
    decompress(&f, &s);
    sha256_hex(s.p, s.len, V_STREAM_SHA256);
    for (size_t piece = 0; piece <= 3; piece++) {
        struct log l;
        log_init(&l);
        assert_int_equal(read_file(f.p, f.len, piece, &l, NULL, 0), 0);
        check_vector_events(&l);
        buf_free(&l.b);
    }
    buf_free(&f);
    buf_free(&s);
}

/* ---- round trips ---------------------------------------------------------------- */

/* Reads f whole, in 1, 7 and 4096-byte pieces and in pseudo-random ones:
 * always success and always the same log. */
static void read_every_way(const struct buf *f, struct log *l)
{
    log_init(l);
    assert_int_equal(read_file(f->p, f->len, 0, l, NULL, 0), 0);
    static const size_t pieces[] = {1, 7, 4096, SIZE_MAX};
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) {
        if (pieces[i] == 1 && f->len > 200000)
            continue;
        struct log m;
        log_init(&m);
        assert_int_equal(read_file(f->p, f->len, pieces[i], &m, NULL, 0), 0);
        assert_int_equal(m.b.len, l->b.len);
        assert_memory_equal(m.b.p, l->b.p, l->b.len);
        buf_free(&m.b);
    }
}

static struct proto_bundle_writer *new_writer(struct buf *f)
{
    struct proto_bundle_writer *w;
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, V_CREATED, V_REGISTRY, 0, sink_buf, f, &w),
                     0);
    return w;
}

static void test_empty(void **state)
{
    (void)state;
    struct buf f = {0}, s = {0};
    struct proto_bundle_writer *w = new_writer(&f);
    assert_int_equal(proto_bundle_writer_finish(w), 0);
    proto_bundle_writer_free(w);
    decompress(&f, &s);
    assert_int_equal(s.len, HDR_LEN + 8 + PROTO_BUNDLE_END_LEN);
    struct log l;
    read_every_way(&f, &l);
    assert_int_equal(l.events, 2);
    assert_int_equal(l.end.chunks + l.end.lines + l.end.crates + l.end.crate_bytes, 0);
    buf_free(&l.b);
    buf_free(&f);
    buf_free(&s);
}

static size_t make_line(char *out, size_t cap, size_t i)
{
    int n = snprintf(out, cap,
                     "{\"name\":\"crate-%zu\",\"vers\":\"%zu.0.%zu\",\"deps\":[],\"cksum\":"
                     "\"%064zx\",\"features\":{},\"yanked\":false}",
                     i / 7, i % 5, i, i * 2654435761u);
    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static void test_lines_only(void **state)
{
    (void)state;
    struct buf f = {0}, want = {0};
    struct proto_bundle_writer *w = new_writer(&f);
    char line[256];
    for (size_t i = 0; i < 1000; i++) {
        size_t n = make_line(line, sizeof line, i);
        assert_int_equal(proto_bundle_writer_index(w, (uint8_t *)line, n), 0);
        buf_add(&want, line, n);
        buf_u8(&want, '\n');
    }
    struct proto_bundle_totals t;
    proto_bundle_writer_totals(w, &t);
    assert_int_equal(t.lines, 0); /* pending, not yet written */
    assert_int_equal(proto_bundle_writer_finish(w), 0);
    proto_bundle_writer_totals(w, &t);
    assert_int_equal(t.chunks, 1);
    assert_int_equal(t.lines, 1000);
    proto_bundle_writer_free(w);
    struct log l;
    read_every_way(&f, &l);
    assert_int_equal(l.end.chunks, 1);
    assert_int_equal(l.end.lines, 1000);
    assert_int_equal(l.b.p[1 + sizeof(struct proto_bundle_header)], 'I');
    assert_memory_equal(l.b.p + 1 + sizeof(struct proto_bundle_header) + 13, want.p, want.len);
    buf_free(&l.b);
    buf_free(&f);
    buf_free(&want);
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (uint8_t)(x >> 24);
    }
}

static void write_crate(struct proto_bundle_writer *w, const uint8_t *p, size_t n, size_t piece)
{
    uint8_t sha[32];
    crypto_hash_sha256(sha, p, n);
    assert_int_equal(proto_bundle_writer_crate_begin(w, sha, n), 0);
    for (size_t o = 0; o < n; o += piece)
        assert_int_equal(proto_bundle_writer_crate_data(w, p + o, n - o < piece ? n - o : piece),
                         0);
}

static void test_crates_only(void **state)
{
    (void)state;
    struct buf f = {0};
    struct proto_bundle_writer *w = new_writer(&f);
    static const size_t sizes[] = {0, 1, 1000, 70000};
    uint8_t *data = malloc(70000);
    assert_non_null(data);
    uint64_t total = 0;
    for (size_t i = 0; i < 4; i++) {
        fill(data, sizes[i], (uint32_t)i);
        write_crate(w, data, sizes[i], 333);
        total += sizes[i];
    }
    assert_int_equal(proto_bundle_writer_finish(w), 0);
    proto_bundle_writer_free(w);
    struct log l;
    read_every_way(&f, &l);
    assert_int_equal(l.end.chunks, 0);
    assert_int_equal(l.end.crates, 4);
    assert_int_equal(l.end.crate_bytes, total);
    assert_int_equal(l.crates_bad, 0);
    buf_free(&l.b);
    buf_free(&f);
    free(data);
}

/* Lines past several chunks, one line of the largest size, interleaved with
 * crates: chunks numbered on, each at most PROTO_BUNDLE_CHUNK_MAX. */
static void test_many_chunks(void **state)
{
    (void)state;
    struct buf f = {0}, s = {0};
    struct proto_bundle_writer *w = new_writer(&f);
    char line[256];
    uint64_t lines = 0;
    for (size_t i = 0; i < 30000; i++, lines++) {
        size_t n = make_line(line, sizeof line, i);
        assert_int_equal(proto_bundle_writer_index(w, (uint8_t *)line, n), 0);
    }
    uint8_t *big = malloc(PROTO_BUNDLE_LINE_MAX + 1);
    assert_non_null(big);
    memset(big, 'x', PROTO_BUNDLE_LINE_MAX + 1);
    assert_int_equal(proto_bundle_writer_index(w, big, PROTO_BUNDLE_LINE_MAX + 1), -EINVAL);
    assert_int_equal(proto_bundle_writer_index(w, big, PROTO_BUNDLE_LINE_MAX), 0);
    lines++;
    write_crate(w, (const uint8_t *)"abc", 3, 3);
    for (size_t i = 0; i < 100; i++, lines++) {
        size_t n = make_line(line, sizeof line, i);
        assert_int_equal(proto_bundle_writer_index(w, (uint8_t *)line, n), 0);
    }
    assert_int_equal(proto_bundle_writer_finish(w), 0);
    struct proto_bundle_totals t;
    proto_bundle_writer_totals(w, &t);
    proto_bundle_writer_free(w);
    free(big);

    decompress(&f, &s);
    struct rec r[16];
    size_t nr = walk(s.p, s.len, r, 16);
    uint64_t chunks = 0;
    bool full = false;
    for (size_t i = 0; i < nr; i++) {
        if (r[i].type != 'I')
            continue;
        chunks++;
        assert_true(r[i].len - 8 <= PROTO_BUNDLE_CHUNK_MAX);
        full |= r[i].len - 8 == PROTO_BUNDLE_CHUNK_MAX; /* the longest line alone */
    }
    assert_true(full);
    assert_true(chunks >= 5);
    assert_int_equal(t.chunks, chunks);
    assert_int_equal(t.lines, lines);

    struct log l;
    read_every_way(&f, &l);
    assert_int_equal(l.end.chunks, chunks);
    assert_int_equal(l.end.lines, lines);
    assert_int_equal(l.chunks_seen, chunks);
    buf_free(&l.b);
    buf_free(&f);
    buf_free(&s);
}

/* A crate of 3 MiB (more than a chunk and than zstd's blocks), written in
 * uneven pieces, read in pieces: its bytes come through unchanged. */
static void test_big_crate(void **state)
{
    (void)state;
    size_t n = 3u << 20;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    fill(data, n, 7);
    for (size_t i = 0; i < n; i += 4096)
        memset(data + i, 'a', 1024); /* partly compressible */
    struct buf f = {0};
    struct proto_bundle_writer *w = new_writer(&f);
    write_crate(w, data, n, 100000);
    assert_int_equal(proto_bundle_writer_finish(w), 0);
    proto_bundle_writer_free(w);
    struct log l;
    read_every_way(&f, &l);
    assert_int_equal(l.end.crates, 1);
    assert_int_equal(l.end.crate_bytes, n);
    assert_int_equal(l.crates_bad, 0);
    buf_free(&l.b);
    buf_free(&f);
    free(data);
}

/* Over PROTO_BUNDLE_FRAME_BYTES of stream: the writer makes two frames, the
 * first holding exactly PROTO_BUNDLE_FRAME_BYTES, and the reader crosses the
 * boundary in the middle of a crate. */
static int sink_count(void *ud, const uint8_t *p, size_t n)
{
    buf_add(ud, p, n);
    return 0;
}

static void test_frame_boundary(void **state)
{
    (void)state;
    size_t n = PROTO_BUNDLE_FRAME_BYTES + (1u << 20);
    uint8_t piece[1 << 16];
    for (size_t i = 0; i < sizeof piece; i++)
        piece[i] = (uint8_t)(i * 31 + (i >> 8));
    /* the digest of the crate: the piece repeated */
    uint8_t sha[32];
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    for (size_t o = 0; o < n; o += sizeof piece)
        crypto_hash_sha256_update(&h, piece, sizeof piece);
    crypto_hash_sha256_final(&h, sha);
    assert_int_equal(n % sizeof piece, 0);

    struct buf f = {0};
    struct proto_bundle_writer *w;
    assert_int_equal(
        proto_bundle_writer_new(g_sk, g_id, V_CREATED, V_REGISTRY, 1, sink_count, &f, &w), 0);
    assert_int_equal(proto_bundle_writer_index(w, (const uint8_t *)V_LINE1, strlen(V_LINE1)), 0);
    assert_int_equal(proto_bundle_writer_crate_begin(w, sha, n), 0);
    for (size_t o = 0; o < n; o += sizeof piece)
        assert_int_equal(proto_bundle_writer_crate_data(w, piece, sizeof piece), 0);
    assert_int_equal(proto_bundle_writer_finish(w), 0);
    proto_bundle_writer_free(w);

    /* two frames, the first of exactly PROTO_BUNDLE_FRAME_BYTES */
    size_t first = ZSTD_findFrameCompressedSize(f.p, f.len);
    assert_false(ZSTD_isError(first));
    assert_true(first < f.len);
    size_t second = ZSTD_findFrameCompressedSize(f.p + first, f.len - first);
    assert_false(ZSTD_isError(second));
    assert_int_equal(first + second, f.len);
    ZSTD_DCtx *d = ZSTD_createDCtx();
    ZSTD_inBuffer in = {f.p, first, 0};
    uint8_t *out = malloc(1 << 17);
    assert_non_null(out);
    uint64_t got = 0;
    size_t zrc = 1;
    while (zrc != 0) {
        ZSTD_outBuffer o = {out, 1 << 17, 0};
        zrc = ZSTD_decompressStream(d, &o, &in);
        assert_false(ZSTD_isError(zrc));
        got += o.pos;
    }
    assert_int_equal(got, PROTO_BUNDLE_FRAME_BYTES);
    ZSTD_freeDCtx(d);
    free(out);

    for (int way = 0; way < 2; way++) {
        struct log l;
        log_init(&l);
        l.keep_data = false;
        assert_int_equal(read_file(f.p, f.len, way == 0 ? 0 : 100000, &l, NULL, 0), 0);
        assert_int_equal(l.end.crate_bytes, n);
        assert_int_equal(l.crates_bad, 0);
        buf_free(&l.b);
    }
    buf_free(&f);
}

/* Frames cut anywhere (a reader takes boundaries where they fall), and the
 * highest level the writer takes. */
static void test_frames_anywhere(void **state)
{
    (void)state;
    struct buf s = {0}, f19 = {0};
    enc_vector(&s);
    for (size_t a = 1; a < s.len; a += 37) {
        size_t cuts[3] = {a, a + 1, a + 2};
        struct buf f = {0};
        compress_cut(s.p, s.len, cuts, a + 2 < s.len ? 3 : 1, true, &f);
        struct log l;
        log_init(&l);
        assert_int_equal(read_file(f.p, f.len, a % 5, &l, NULL, 0), 0);
        check_vector_events(&l);
        buf_free(&l.b);
        buf_free(&f);
    }
    write_vector(&f19, PROTO_BUNDLE_LEVEL_MAX);
    struct log l;
    log_init(&l);
    assert_int_equal(read_file(f19.p, f19.len, 0, &l, NULL, 0), 0);
    check_vector_events(&l);
    buf_free(&l.b);
    buf_free(&f19);
    buf_free(&s);
}

/* ---- damage --------------------------------------------------------------------- */

/* Every byte of the small vector bundle changed (three ways): the reader
 * fails, or it reads exactly the same events: a change that zstd's decoder
 * does not look at (the frame header's window size while the window still
 * suffices, a reserved bit of a block's compression modes). Never a success
 * with other bytes. */
static void test_flip_every_byte(void **state)
{
    (void)state;
    struct buf f = {0};
    write_vector(&f, 0);
    struct log good;
    log_init(&good);
    assert_int_equal(read_file(f.p, f.len, 0, &good, NULL, 0), 0);
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    int failed = 0, same = 0;
    for (size_t i = 0; i < f.len; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            f.p[i] ^= masks[m];
            struct log l;
            log_init(&l);
            int rc = read_file(f.p, f.len, m == 0 ? 1 : 0, &l, NULL, 0);
            if (rc != 0) {
                assert_true(rc == -EBADMSG || rc == -EPERM || rc == -EPROTO || rc == -EPIPE ||
                            rc == -EPROTONOSUPPORT);
                assert_false(l.saw_end);
                failed++;
            } else {
                if (l.b.len != good.b.len || memcmp(l.b.p, good.b.p, l.b.len) != 0)
                    fail_msg("byte %zu ^ 0x%02x: accepted with other contents", i, masks[m]);
                print_message("byte %zu ^ 0x%02x: ignored by zstd\n", i, masks[m]);
                same++;
            }
            buf_free(&l.b);
            f.p[i] ^= masks[m];
        }
    }
    assert_int_equal(failed + same, 3 * (int)f.len);
    assert_true(same * 50 < failed); /* a handful of bits, not whole regions */
    buf_free(&good.b);
    buf_free(&f);
}

/* Every prefix of the file: -EPIPE at finish, "truncated ...". And every
 * prefix of the stream (then compressed whole): -EPIPE too, naming where. */
static void test_truncate_everywhere(void **state)
{
    (void)state;
    struct buf f = {0}, s = {0};
    write_vector(&f, 0);
    decompress(&f, &s);
    for (size_t n = 0; n < f.len; n++) {
        struct log l;
        log_init(&l);
        char err[512];
        assert_int_equal(read_file(f.p, n, n % 3, &l, err, sizeof err), -EPIPE);
        assert_memory_equal(err, "truncated", 9);
        assert_false(l.saw_end);
        buf_free(&l.b);
    }
    struct rec r[4];
    assert_int_equal(walk(s.p, s.len, r, 4), 3);
    for (size_t n = 1; n < s.len; n++) {
        struct buf t = {0};
        buf_add(&t, s.p, n);
        const char *want = "truncated in the header";
        char text[128];
        if (n >= HDR_LEN) {
            size_t k = 0;
            while (k < 3 && n >= r[k].off + r[k].len)
                k++;
            if (n == r[k].off) {
                snprintf(text, sizeof text,
                         "truncated at stream offset %zu: the end record is missing", n);
            } else {
                const char *what[] = {"index chunk 0", "crate 0", "the end record"};
                snprintf(text, sizeof text, "truncated in %s (stream offset %zu)", what[k],
                         r[k].off);
            }
            want = text;
        }
        expect_stream(&t, -EPIPE, want);
        buf_free(&t);
    }
    buf_free(&f);
    buf_free(&s);
}

static void test_not_a_bundle(void **state)
{
    (void)state;
    struct log l;
    char err[512];
    /* not zstd at all */
    log_init(&l);
    assert_int_equal(read_file((const uint8_t *)"hello, world", 12, 0, &l, err, sizeof err),
                     -EBADMSG);
    assert_string_equal(err, "not a cratecast bundle (not zstd data)");
    buf_free(&l.b);
    /* empty */
    log_init(&l);
    assert_int_equal(read_file(NULL, 0, 0, &l, err, sizeof err), -EPIPE);
    assert_string_equal(err, "truncated: the file is empty");
    buf_free(&l.b);
    /* zstd, but not of a bundle */
    struct buf s = {0};
    buf_add(&s, "CCBUNDLX", 8);
    expect_stream(&s, -EBADMSG, "not a cratecast bundle (bad magic)");
    s.len = 0;
    buf_add(&s, "CC", 2); /* judged at once, however short */
    buf_add(&s, "x", 1);
    expect_stream(&s, -EBADMSG, "not a cratecast bundle (bad magic)");
    s.len = 0;
    enc_vector(&s);
    memcpy(s.p, "ccbundle", 8);
    expect_stream(&s, -EBADMSG, "not a cratecast bundle (bad magic)");
    buf_free(&s);
}

static void test_versions(void **state)
{
    (void)state;
    struct buf s = {0};
    enc_header(&s, g_pk, g_id, V_CREATED, V_REGISTRY, 2, 0);
    expect_stream(&s, -EPROTONOSUPPORT,
                  "bundle format version 2 is newer than this cratecast's (1)");
    s.len = 10; /* only the version: judged already */
    expect_stream(&s, -EPROTONOSUPPORT, "version 2 is newer");
    s.len = 0;
    enc_header(&s, g_pk, g_id, V_CREATED, V_REGISTRY, 0xffff, 0);
    expect_stream(&s, -EPROTONOSUPPORT, "version 65535 is newer");
    s.len = 0;
    enc_header(&s, g_pk, g_id, V_CREATED, V_REGISTRY, 0, 0);
    expect_stream(&s, -EBADMSG, "not a cratecast bundle (format version 0)");
    buf_free(&s);
}

static void test_header_fields(void **state)
{
    (void)state;
    struct buf s = {0};
    enc_header(&s, g_pk, g_id, V_CREATED, V_REGISTRY, 1, 1);
    expect_stream(&s, -EBADMSG, "the header: the flags are not zero (0x0001)");
    s.len = 0;
    enc_header(&s, g_pk, g_id, V_CREATED, V_REGISTRY, 1, 0x8000);
    expect_stream(&s, -EBADMSG, "flags are not zero");
    s.len = 0;
    enc_header(&s, g_pk, g_id, V_CREATED, "", 1, 0);
    expect_stream(&s, -EBADMSG, "registry length 0 is not within 1 to 1024");
    s.len = 0;
    enc_header(&s, g_pk, g_id, V_CREATED, "https://a\tb/", 1, 0);
    enc_end(&s, s.len, 0, 0, 0, 0, g_sk);
    expect_stream(&s, -EBADMSG, "control character");
    s.len = 0;
    enc_header(&s, g_pk, g_id, V_CREATED, "x", 1, 0);
    s.p[68] = 0x04; /* 1025 */
    s.p[69] = 0x01;
    expect_stream(&s, -EBADMSG, "registry length 1025");
    /* the longest registry, a negative time: fine */
    char reg[PROTO_BUNDLE_REGISTRY_MAX + 1];
    memset(reg, 'r', PROTO_BUNDLE_REGISTRY_MAX);
    reg[PROTO_BUNDLE_REGISTRY_MAX] = '\0';
    s.len = 0;
    enc_header(&s, g_pk, g_id, -5, reg, 1, 0);
    size_t hl = s.len;
    enc_end(&s, hl, 0, 0, 0, 0, g_sk);
    struct buf f = {0};
    compress_one(&s, &f);
    struct log l;
    log_init(&l);
    assert_int_equal(read_file(f.p, f.len, 1, &l, NULL, 0), 0);
    assert_int_equal(l.hdr.created, -5);
    assert_string_equal(l.hdr.registry, reg);
    buf_free(&l.b);
    buf_free(&f);
    buf_free(&s);
}

/* The vector stream with byte `at` set to v. */
static void expect_changed(size_t at, uint8_t v, int rc, const char *text)
{
    struct buf s = {0};
    enc_vector(&s);
    s.p[at] = v;
    expect_stream(&s, rc, text);
    buf_free(&s);
}

static void test_reserved_and_lengths(void **state)
{
    (void)state;
    struct buf s = {0};
    enc_vector(&s);
    struct rec r[4];
    assert_int_equal(walk(s.p, s.len, r, 4), 3);
    for (size_t i = 1; i < 4; i++) {
        expect_changed(r[0].off + i, 1, -EBADMSG,
                       "index chunk 0 (stream offset 94): a reserved byte is not zero");
        expect_changed(r[2].off + i, 0x80, -EBADMSG, "the end record");
    }
    for (size_t i = 1; i < 8; i++)
        expect_changed(r[1].off + i, 1, -EBADMSG, "crate 0 (stream offset ");
    /* unknown record types */
    expect_changed(r[0].off, 'i', -EBADMSG,
                   "the record at stream offset 94: unknown record type 0x69");
    expect_changed(r[1].off, 0, -EBADMSG, "unknown record type 0x00");
    /* lengths out of range */
    expect_changed(r[0].off + 4, 0x01, -EBADMSG, "body length"); /* > 16 MiB */
    expect_changed(r[2].off + 7, 95, -EBADMSG, "the end record (stream offset");
    expect_changed(r[2].off + 7, 97, -EBADMSG, "body length 97 is not 96");
    expect_changed(r[1].off + 40, 0x01, -EBADMSG, "is over the limit");
    /* the chunk's length field moved: the body is other bytes, so unsigned */
    expect_changed(r[0].off + 7, (uint8_t)(s.p[r[0].off + 7] - 1), -EPERM,
                   "signature does not verify");

    /* body lengths at the bounds, by a chunk made by hand */
    struct buf t = {0};
    std_header(&t);
    buf_add(&t, "I\0\0\0", 4);
    buf_be(&t, 4 + 1 + 64, 4); /* one byte of lines: too short */
    expect_stream(&t, -EBADMSG, "body length 69 is not within 70 to 1048576");
    t.len = HDR_LEN;
    buf_add(&t, "I\0\0\0", 4);
    buf_be(&t, PROTO_BUNDLE_CHUNK_MAX + 1, 4);
    expect_stream(&t, -EBADMSG, "body length 1048577 is not within 70 to 1048576");
    t.len = HDR_LEN;
    enc_chunk(&t, HDR_LEN, 0, "x\n", g_sk); /* the shortest */
    enc_end(&t, HDR_LEN, 1, 1, 0, 0, g_sk);
    expect_stream(&t, 0, NULL);
    buf_free(&t);
    buf_free(&s);
}

static void test_chunk_lines(void **state)
{
    (void)state;
    static const struct {
        const char *lines;
        const char *text;
    } bad[] = {
        {"a\n\nb\n", "index chunk 0 (stream offset 94): line 2 is empty"},
        {"\na\n", "line 1 is empty"},
        {"a\nb", "the last line is not ended by a newline"},
        {"a\n\n", "line 2 is empty"},
        {"ab", "the last line is not ended by a newline"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct buf s = {0};
        std_header(&s);
        enc_chunk(&s, HDR_LEN, 0, bad[i].lines, g_sk);
        enc_end(&s, HDR_LEN, 1, 2, 0, 0, g_sk);
        expect_stream(&s, -EBADMSG, bad[i].text);
        buf_free(&s);
    }
}

static void test_signatures(void **state)
{
    (void)state;
    struct buf s = {0};
    /* signed by another key than the header's */
    std_header(&s);
    enc_chunk(&s, HDR_LEN, 0, "a\n", g_sk2);
    enc_end(&s, HDR_LEN, 1, 1, 0, 0, g_sk2);
    expect_stream(&s, -EPERM, "index chunk 0 (stream offset 94): the signature does not verify");
    /* the header names the other key: the same records fail */
    s.len = 0;
    enc_header(&s, g_pk2, g_id, V_CREATED, V_REGISTRY, 1, 0);
    enc_chunk(&s, HDR_LEN, 0, "a\n", g_sk2);
    enc_end(&s, HDR_LEN, 1, 1, 0, 0, g_sk);
    expect_stream(&s, -EPERM, "the end record (stream offset 172): the signature does not verify");
    /* an end record signed over another header (another id) */
    s.len = 0;
    uint8_t id2[16];
    memset(id2, 0x55, sizeof id2);
    enc_header(&s, g_pk, id2, V_CREATED, V_REGISTRY, 1, 0);
    enc_end(&s, HDR_LEN, 0, 0, 0, 0, g_sk);
    memcpy(s.p + 44, g_id, 16); /* the records stay, the id changes */
    expect_stream(&s, -EPERM, "the end record (stream offset 94): the signature does not verify");
    /* an end record relabelled as a chunk: its body is 96 bytes, in range,
     * but signed as 'E' */
    s.len = 0;
    std_header(&s);
    enc_end(&s, HDR_LEN, 0, 0, 0, 0, g_sk);
    s.p[HDR_LEN] = 'I';
    expect_stream(&s, -EPERM, "index chunk 0");
    /* a signature byte changed, in each signed record */
    for (size_t k = 0; k < 2; k++) {
        s.len = 0;
        enc_vector(&s);
        struct rec r[4];
        walk(s.p, s.len, r, 4);
        size_t i = k == 0 ? 0 : 2;
        s.p[r[i].off + r[i].len - 1] ^= 0x20;
        expect_stream(&s, -EPERM, "the signature does not verify");
        s.p[r[i].off + r[i].len - 1] ^= 0x20;
        s.p[r[i].off + 9] ^= 0x01; /* and a body byte */
        expect_stream(&s, -EPERM, "the signature does not verify");
    }
    buf_free(&s);
}

/* A chunk of another bundle (same key, another id) spliced in. */
static void test_splice_other_bundle(void **state)
{
    (void)state;
    struct buf a = {0}, b = {0}, s = {0};
    uint8_t id2[16];
    memcpy(id2, g_id, 16);
    id2[15] ^= 1;
    std_header(&a);
    enc_chunk(&a, HDR_LEN, 0, "a\n", g_sk);
    enc_chunk(&a, HDR_LEN, 1, "b\n", g_sk);
    enc_end(&a, HDR_LEN, 2, 2, 0, 0, g_sk);
    enc_header(&b, g_pk, id2, V_CREATED, V_REGISTRY, 1, 0);
    enc_chunk(&b, HDR_LEN, 0, "a\n", g_sk);
    enc_chunk(&b, HDR_LEN, 1, "evil\n", g_sk);
    enc_end(&b, HDR_LEN, 2, 2, 0, 0, g_sk);
    expect_stream(&a, 0, NULL);
    expect_stream(&b, 0, NULL);
    struct rec ra[4], rb[4];
    walk(a.p, a.len, ra, 4);
    walk(b.p, b.len, rb, 4);
    buf_add(&s, a.p, ra[1].off);
    buf_add(&s, b.p + rb[1].off, rb[1].len);
    buf_add(&s, a.p + ra[2].off, ra[2].len);
    expect_stream(&s, -EPERM, "index chunk 1 (stream offset 172): the signature does not verify");
    buf_free(&a);
    buf_free(&b);
    buf_free(&s);
}

static void test_chunk_order(void **state)
{
    (void)state;
    struct buf a = {0}, s = {0};
    std_header(&a);
    enc_chunk(&a, HDR_LEN, 0, "a\n", g_sk);
    enc_chunk(&a, HDR_LEN, 1, "b\n", g_sk);
    enc_chunk(&a, HDR_LEN, 2, "c\n", g_sk);
    enc_end(&a, HDR_LEN, 3, 3, 0, 0, g_sk);
    struct rec r[5];
    assert_int_equal(walk(a.p, a.len, r, 5), 4);
    /* swapped */
    buf_add(&s, a.p, r[1].off);
    buf_add(&s, a.p + r[2].off, r[2].len);
    buf_add(&s, a.p + r[1].off, r[1].len);
    buf_add(&s, a.p + r[3].off, r[3].len);
    expect_stream(&s, -EPROTO,
                  "index chunk 1 (stream offset 172): it is chunk 2 (chunks out of order)");
    /* one dropped */
    s.len = 0;
    buf_add(&s, a.p, r[1].off);
    buf_add(&s, a.p + r[2].off, a.len - r[2].off);
    expect_stream(&s, -EPROTO, "it is chunk 2 (chunks out of order)");
    /* one repeated */
    s.len = 0;
    buf_add(&s, a.p, r[1].off);
    buf_add(&s, a.p + r[0].off, r[0].len);
    expect_stream(&s, -EPROTO, "it is chunk 0");
    /* the last dropped: the end record's counts */
    s.len = 0;
    buf_add(&s, a.p, r[2].off);
    buf_add(&s, a.p + r[3].off, r[3].len);
    expect_stream(&s, -EPROTO, "the end record (stream offset 250): it counts 3 index chunks");
    buf_free(&a);
    buf_free(&s);
}

static void test_end_counts(void **state)
{
    (void)state;
    static const uint64_t good[4] = {1, 2, 1, 54};
    for (int k = 0; k < 4; k++) {
        for (int d = -1; d <= 1; d += 2) {
            uint64_t c[4];
            memcpy(c, good, sizeof c);
            c[k] += (uint64_t)(int64_t)d;
            struct buf s = {0};
            std_header(&s);
            enc_chunk(&s, HDR_LEN, 0, V_LINE1 "\n" V_LINE2 "\n", g_sk);
            enc_crate(&s, (const uint8_t *)V_CRATE, strlen(V_CRATE));
            enc_end(&s, HDR_LEN, c[0], c[1], c[2], c[3], g_sk);
            expect_stream(&s, -EPROTO, "the bundle held 1, 2, 1, 54 (a record is missing)");
            buf_free(&s);
        }
    }
    /* a crate dropped (the rest intact) */
    struct buf s = {0}, t = {0};
    enc_vector(&s);
    struct rec r[4];
    walk(s.p, s.len, r, 4);
    buf_add(&t, s.p, r[1].off);
    buf_add(&t, s.p + r[2].off, r[2].len);
    expect_stream(&t, -EPROTO, "it counts 1 index chunks, 2 lines, 1 crates of 54 bytes");
    buf_free(&s);
    buf_free(&t);
}

static void test_trailing(void **state)
{
    (void)state;
    struct buf s = {0}, f = {0};
    /* a stream byte after the end record */
    enc_vector(&s);
    buf_u8(&s, 'I');
    expect_stream(&s, -EBADMSG, "after the end record (stream offset 810): more bytes follow it");
    /* the same in a frame of its own */
    size_t cut = V_STREAM_LEN;
    compress_cut(s.p, s.len, &cut, 1, true, &f);
    struct log l;
    log_init(&l);
    char err[512];
    assert_int_equal(read_file(f.p, f.len, 0, &l, err, sizeof err), -EBADMSG);
    assert_false(l.saw_end); /* the end is reported only when nothing follows */
    assert_string_equal(
        err, "after the end record (stream offset 810): bytes follow the last zstd frame");
    buf_free(&l.b);
    /* an empty frame, one garbage byte, a skippable frame after the last frame */
    s.len = V_STREAM_LEN;
    f.len = 0;
    compress_one(&s, &f);
    size_t whole = f.len;
    static const uint8_t skippable[] = {0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0};
    for (int k = 0; k < 3; k++) {
        f.len = whole;
        if (k == 0)
            compress_cut(s.p, 0, NULL, 0, true, &f);
        else if (k == 1)
            buf_u8(&f, 0);
        else
            buf_add(&f, skippable, sizeof skippable);
        log_init(&l);
        assert_int_equal(read_file(f.p, f.len, k, &l, err, sizeof err), -EBADMSG);
        assert_non_null(strstr(err, "bytes follow the last zstd frame"));
        buf_free(&l.b);
    }
    buf_free(&s);
    buf_free(&f);
}

static void test_frame_rules(void **state)
{
    (void)state;
    struct buf s = {0}, f = {0};
    struct log l;
    char err[512];
    enc_vector(&s);
    /* a frame without a content checksum */
    compress_cut(s.p, s.len, NULL, 0, false, &f);
    log_init(&l);
    assert_int_equal(read_file(f.p, f.len, 0, &l, err, sizeof err), -EBADMSG);
    assert_string_equal(err, "the header: the zstd data is damaged: a frame without a checksum");
    buf_free(&l.b);
    /* the second frame without one */
    f.len = 0;
    size_t cut = 100;
    compress_cut(s.p, cut, NULL, 0, true, &f);
    compress_cut(s.p + cut, s.len - cut, NULL, 0, false, &f);
    log_init(&l);
    assert_int_equal(read_file(f.p, f.len, 0, &l, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "index chunk 0 (stream offset 94): the zstd data is damaged: "
                                "a frame without a checksum"));
    buf_free(&l.b);
    /* a skippable frame first, or between frames */
    static const uint8_t skippable[] = {0x5f, 0x2a, 0x4d, 0x18, 1, 0, 0, 0, 0};
    for (int k = 0; k < 2; k++) {
        f.len = 0;
        if (k == 0) {
            buf_add(&f, skippable, sizeof skippable);
            compress_one(&s, &f);
        } else {
            compress_cut(s.p, cut, NULL, 0, true, &f);
            buf_add(&f, skippable, sizeof skippable);
            compress_cut(s.p + cut, s.len - cut, NULL, 0, true, &f);
        }
        log_init(&l);
        assert_int_equal(read_file(f.p, f.len, 1, &l, err, sizeof err), -EBADMSG);
        assert_non_null(strstr(err, k == 0 ? "not a cratecast bundle (not zstd data)"
                                           : "the zstd data is damaged: a skippable frame"));
        buf_free(&l.b);
    }
    /* a damaged content checksum: reported as damage, at the frame's end */
    f.len = 0;
    compress_one(&s, &f);
    f.p[f.len - 1] ^= 0x01;
    log_init(&l);
    assert_int_equal(read_file(f.p, f.len, 0, &l, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "the zstd data is damaged: "));
    assert_non_null(strstr(err, ZSTD_getErrorName((size_t)-ZSTD_error_checksum_wrong)));
    buf_free(&l.b);
    /* a frame whose window is over 8 MiB (one frame of 9 MiB: its window is
     * its size) */
    struct buf big = {0};
    std_header(&big);
    size_t n = 9u << 20;
    uint8_t *zeros = calloc(1, n);
    assert_non_null(zeros);
    enc_crate(&big, zeros, n);
    free(zeros);
    f.len = 0;
    compress_wlog(&big, 24, &f);
    log_init(&l);
    l.keep_data = false;
    assert_int_equal(read_file(f.p, f.len, 0, &l, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "the zstd data is damaged: "));
    assert_false(l.saw_header); /* refused before a byte came out */
    buf_free(&l.b);
    buf_free(&big);
    buf_free(&s);
    buf_free(&f);
}

/* ---- callbacks that stop the reader --------------------------------------------- */

static void test_callback_stops(void **state)
{
    (void)state;
    struct buf f = {0};
    write_vector(&f, 0);
    /* the events: header, index, crate_begin, crate_data, crate_end, end */
    static const char *const where[] = {
        "the header: stopped by the caller",
        "index chunk 0 (stream offset 94): stopped by the caller",
        "crate 0 (stream offset 604): stopped by the caller",
        "crate 0 (stream offset 604): stopped by the caller",
        "crate 0 (stream offset 604): stopped by the caller",
        "the end record (stream offset 706): stopped by the caller",
    };
    for (int at = 1; at <= 6; at++) {
        for (size_t piece = 0; piece <= 1; piece++) {
            struct log l;
            log_init(&l);
            l.stop_at = at;
            l.stop_rc = -ENOSPC;
            char err[512];
            assert_int_equal(read_file(f.p, f.len, piece, &l, err, sizeof err), -ENOSPC);
            assert_int_equal(l.events, at); /* no event after it */
            assert_string_equal(err, where[at - 1]);
            buf_free(&l.b);
        }
    }
    /* NULL callbacks are skipped */
    struct proto_bundle_events none = {0};
    struct proto_bundle_reader *r;
    assert_int_equal(proto_bundle_reader_new(&none, NULL, &r), 0);
    assert_int_equal(proto_bundle_reader_feed(r, f.p, f.len), 0);
    assert_int_equal(proto_bundle_reader_finish(r), 0);
    assert_int_equal(proto_bundle_reader_offset(r), V_STREAM_LEN);
    assert_int_equal(proto_bundle_reader_feed(r, NULL, 1), -EINVAL);
    assert_int_equal(proto_bundle_reader_feed(r, NULL, 0), 0);
    proto_bundle_reader_free(r);
    assert_int_equal(proto_bundle_reader_new(NULL, NULL, &r), 0);
    assert_int_equal(proto_bundle_reader_feed(r, f.p, f.len), 0);
    assert_int_equal(proto_bundle_reader_finish(r), 0);
    proto_bundle_reader_free(r);
    proto_bundle_reader_free(NULL);
    buf_free(&f);
}

/* ---- the writer ----------------------------------------------------------------- */

static void test_writer_misuse(void **state)
{
    (void)state;
    struct buf f = {0};
    struct proto_bundle_writer *w = (struct proto_bundle_writer *)&f;
    /* new */
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, V_REGISTRY, -1, sink_buf, &f, &w),
                     -EINVAL);
    assert_null(w);
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, V_REGISTRY, 20, sink_buf, &f, &w),
                     -EINVAL);
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, "", 0, sink_buf, &f, &w), -EINVAL);
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, "a\nb", 0, sink_buf, &f, &w), -EINVAL);
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, NULL, 0, sink_buf, &f, &w), -EINVAL);
    assert_int_equal(proto_bundle_writer_new(NULL, g_id, 0, V_REGISTRY, 0, sink_buf, &f, &w),
                     -EINVAL);
    assert_int_equal(proto_bundle_writer_new(g_sk, NULL, 0, V_REGISTRY, 0, sink_buf, &f, &w),
                     -EINVAL);
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, V_REGISTRY, 0, NULL, &f, &w), -EINVAL);
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, V_REGISTRY, 0, sink_buf, &f, NULL),
                     -EINVAL);
    char reg[PROTO_BUNDLE_REGISTRY_MAX + 2];
    memset(reg, 'r', sizeof reg - 1);
    reg[sizeof reg - 1] = '\0';
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, reg, 0, sink_buf, &f, &w), -EINVAL);
    reg[PROTO_BUNDLE_REGISTRY_MAX] = '\0';
    struct buf junk = {0};
    assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, reg, 0, sink_buf, &junk, &w), 0);
    proto_bundle_writer_free(w);
    buf_free(&junk);
    /* a secret key whose public half is not the seed's */
    uint8_t sk[PROTO_SK_LEN];
    memcpy(sk, g_sk, 32);
    memcpy(sk + 32, g_pk2, 32);
    assert_int_equal(proto_bundle_writer_new(sk, g_id, 0, V_REGISTRY, 0, sink_buf, &f, &w),
                     -EINVAL);
    assert_int_equal(f.len, 0); /* nothing written by a refused new */

    w = new_writer(&f);
    const uint8_t *line = (const uint8_t *)"x";
    assert_int_equal(proto_bundle_writer_index(w, line, 0), -EINVAL);
    assert_int_equal(proto_bundle_writer_index(w, NULL, 1), -EINVAL);
    assert_int_equal(proto_bundle_writer_index(w, (const uint8_t *)"a\nb", 3), -EINVAL);
    assert_int_equal(proto_bundle_writer_index(w, (const uint8_t *)"\n", 1), -EINVAL);
    uint8_t sha[32] = {0};
    assert_int_equal(proto_bundle_writer_crate_data(w, line, 1), -EINVAL); /* no crate */
    assert_int_equal(proto_bundle_writer_crate_begin(w, NULL, 1), -EINVAL);
    assert_int_equal(proto_bundle_writer_crate_begin(w, sha, PROTO_BUNDLE_CRATE_MAX + 1), -EINVAL);
    assert_int_equal(proto_bundle_writer_crate_begin(w, sha, 3), 0);
    assert_int_equal(proto_bundle_writer_crate_data(w, (const uint8_t *)"abcd", 4), -EINVAL);
    assert_int_equal(proto_bundle_writer_crate_data(w, (const uint8_t *)"ab", 2), 0);
    assert_int_equal(proto_bundle_writer_crate_begin(w, sha, 3), -EINVAL); /* one byte owed */
    assert_int_equal(proto_bundle_writer_index(w, line, 1), -EINVAL);
    assert_int_equal(proto_bundle_writer_finish(w), -EINVAL);
    assert_int_equal(proto_bundle_writer_crate_data(w, (const uint8_t *)"cd", 2), -EINVAL);
    assert_int_equal(proto_bundle_writer_crate_data(w, NULL, 0), 0);
    assert_int_equal(proto_bundle_writer_crate_data(w, (const uint8_t *)"c", 1), 0);
    assert_int_equal(proto_bundle_writer_crate_data(w, (const uint8_t *)"d", 1), -EINVAL);
    assert_int_equal(proto_bundle_writer_crate_begin(w, sha, 0), 0); /* an empty crate */
    assert_int_equal(proto_bundle_writer_index(w, line, 1), 0);
    assert_int_equal(proto_bundle_writer_finish(w), 0);
    /* after finish */
    assert_int_equal(proto_bundle_writer_finish(w), -EINVAL);
    assert_int_equal(proto_bundle_writer_index(w, line, 1), -EINVAL);
    assert_int_equal(proto_bundle_writer_crate_begin(w, sha, 1), -EINVAL);
    struct proto_bundle_totals t;
    proto_bundle_writer_totals(w, &t);
    assert_int_equal(t.chunks, 1);
    assert_int_equal(t.lines, 1);
    assert_int_equal(t.crates, 2);
    assert_int_equal(t.crate_bytes, 3);
    proto_bundle_writer_free(w);
    proto_bundle_writer_free(NULL);
    /* what the misuse left is a good bundle (its crate's digest is the
     * caller's word: all zero here) */
    struct log l;
    log_init(&l);
    assert_int_equal(read_file(f.p, f.len, 0, &l, NULL, 0), 0);
    assert_int_equal(l.end.crates, 2);
    assert_int_equal(l.crates_bad, 2);
    buf_free(&l.b);
    buf_free(&f);
}

struct failing_sink {
    struct buf b;
    int calls, fail_at;
};

static int sink_fail(void *ud, const uint8_t *p, size_t n)
{
    struct failing_sink *s = ud;
    if (++s->calls == s->fail_at)
        return -EIO;
    buf_add(&s->b, p, n);
    return 0;
}

/* The sink fails at its k-th call, for every k a bundle has: the call that
 * hit it returns -EIO, every later one too. */
static void test_sink_error(void **state)
{
    (void)state;
    uint8_t *data = malloc(1 << 20);
    assert_non_null(data);
    fill(data, 1 << 20, 3);
    for (int k = 1;; k++) {
        struct failing_sink s = {{0}, 0, k};
        struct proto_bundle_writer *w = NULL;
        int rc = proto_bundle_writer_new(g_sk, g_id, 0, V_REGISTRY, 0, sink_fail, &s, &w);
        uint8_t sha[32];
        crypto_hash_sha256(sha, data, 1 << 20);
        if (rc == 0)
            rc = proto_bundle_writer_index(w, (const uint8_t *)V_LINE1, strlen(V_LINE1));
        if (rc == 0)
            rc = proto_bundle_writer_crate_begin(w, sha, 1 << 20);
        for (size_t o = 0; rc == 0 && o < (1u << 20); o += 65536)
            rc = proto_bundle_writer_crate_data(w, data + o, 65536);
        if (rc == 0)
            rc = proto_bundle_writer_finish(w);
        if (rc == 0) {
            assert_true(s.calls < k);
            assert_true(k > 2);
            proto_bundle_writer_free(w);
            buf_free(&s.b);
            break;
        }
        assert_int_equal(rc, -EIO);
        if (w != NULL) {
            assert_int_equal(proto_bundle_writer_finish(w), -EIO);
            assert_int_equal(proto_bundle_writer_index(w, (const uint8_t *)"x", 1), -EIO);
            proto_bundle_writer_free(w);
        }
        buf_free(&s.b);
    }
    free(data);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    struct proto_bundle_reader *r = (struct proto_bundle_reader *)1;
    cc_alloc_fail_nth(1);
    assert_int_equal(proto_bundle_reader_new(&g_ev, NULL, &r), -ENOMEM);
    assert_null(r);
    cc_alloc_fail_nth(2);
    assert_int_equal(proto_bundle_reader_new(&g_ev, NULL, &r), -ENOMEM);
    assert_null(r);
    cc_alloc_fail_nth(0);

    struct buf f = {0};
    struct proto_bundle_writer *w = (struct proto_bundle_writer *)1;
    for (long n = 1; n <= 2; n++) {
        cc_alloc_fail_nth(n);
        assert_int_equal(proto_bundle_writer_new(g_sk, g_id, 0, V_REGISTRY, 0, sink_buf, &f, &w),
                         -ENOMEM);
        assert_null(w);
    }
    cc_alloc_fail_nth(0);
    w = new_writer(&f);
    cc_alloc_fail_nth(1); /* the chunk's buffer */
    assert_int_equal(proto_bundle_writer_index(w, (const uint8_t *)"x", 1), -ENOMEM);
    cc_alloc_fail_nth(0);
    assert_int_equal(proto_bundle_writer_finish(w), -ENOMEM); /* failed for good */
    proto_bundle_writer_free(w);

    /* the reader's body buffer, at the first chunk */
    f.len = 0;
    write_vector(&f, 0);
    struct log l;
    log_init(&l);
    assert_int_equal(proto_bundle_reader_new(&g_ev, &l, &r), 0);
    cc_alloc_fail_nth(1);
    assert_int_equal(proto_bundle_reader_feed(r, f.p, f.len), -ENOMEM);
    cc_alloc_fail_nth(0);
    assert_string_equal(proto_bundle_reader_error(r),
                        "index chunk 0 (stream offset 94): out of memory");
    assert_int_equal(proto_bundle_reader_finish(r), -ENOMEM);
    proto_bundle_reader_free(r);
    buf_free(&l.b);
    buf_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_vector_file),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_lines_only),
        cmocka_unit_test(test_crates_only),
        cmocka_unit_test(test_many_chunks),
        cmocka_unit_test(test_big_crate),
        cmocka_unit_test(test_frame_boundary),
        cmocka_unit_test(test_frames_anywhere),
        cmocka_unit_test(test_flip_every_byte),
        cmocka_unit_test(test_truncate_everywhere),
        cmocka_unit_test(test_not_a_bundle),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_reserved_and_lengths),
        cmocka_unit_test(test_chunk_lines),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_splice_other_bundle),
        cmocka_unit_test(test_chunk_order),
        cmocka_unit_test(test_end_counts),
        cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_frame_rules),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_sink_error),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
