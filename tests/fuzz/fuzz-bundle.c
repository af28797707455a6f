/* tests/fuzz/fuzz-bundle.c — libFuzzer target for the bundle reader
 * (proto_bundle_reader_feed, proto_bundle_reader_finish).
 *
 * Input: one byte, then the body. The byte's low two bits pick the mode, the
 * other six seed the piece sizes the file is fed in:
 *   0  the body is a bundle file;
 *   1  the body is a stream: it is compressed here (one zstd frame with a
 *      checksum), so mutations reach the stream parser past zstd's checksum;
 *   2  the same, after re-signing: the header's key is replaced by the
 *      target's own and every 'I' and 'E' record that the framing reaches
 *      gets a valid signature, so mutations reach the checks behind the
 *      signatures (chunk numbers, lines, end counts);
 *   3  as 2, the stream cut into several zstd frames.
 * The file is read twice, in pieces and whole. What must hold for every input:
 * feed and finish answer 0 or one of the reader's errors; the error sticks
 * and has a text without a newline, and there is none on success; the events
 * come in the documented order (the header first, chunks numbered from 0,
 * a crate's bytes adding up to its size, the end last and only on success,
 * nothing after an error); both readings agree on success or failure and,
 * on success, on every event (crate bytes compared as a stream) and on the
 * stream length; the end's totals are what the events counted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "proto/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RESIGN_MAX (1u << 20) /* bigger streams are compressed as they are */

static uint8_t fuzz_pk[PROTO_PK_LEN], fuzz_sk[PROTO_SK_LEN];

struct watch {
    crypto_generichash_state h; /* every event, crate bytes as one stream per crate */
    int stage;                  /* 0 before the header, 1 records, 2 in a crate, 3 ended */
    int failed;                 /* an error was returned: no event may follow */
    uint64_t chunks, lines, crates, crate_bytes, crate_left;
};

static void put(struct watch *w, const void *p, size_t n)
{
    crypto_generichash_update(&w->h, p, n);
}

static int on_header(void *ud, const struct proto_bundle_header *h)
{
    struct watch *w = ud;
    if (w->failed || w->stage != 0 || h->version != PROTO_BUNDLE_VERSION ||
        h->registry[0] == '\0' || strlen(h->registry) > PROTO_BUNDLE_REGISTRY_MAX)
        abort();
    w->stage = 1;
    put(w, "H", 1);
    put(w, h, sizeof *h);
    return 0;
}

static int on_index(void *ud, uint32_t chunk, const uint8_t *lines, size_t len)
{
    struct watch *w = ud;
    if (w->failed || w->stage != 1 || chunk != w->chunks || len == 0 ||
        len > PROTO_BUNDLE_CHUNK_MAX - 4 - PROTO_BUNDLE_SIG_LEN || lines[len - 1] != '\n' ||
        lines[0] == '\n')
        abort();
    for (size_t i = 0; i < len; i++) {
        if (lines[i] != '\n')
            continue;
        if (i > 0 && lines[i - 1] == '\n')
            abort();
        w->lines++;
    }
    w->chunks++;
    put(w, "I", 1);
    put(w, &chunk, sizeof chunk);
    put(w, lines, len);
    return 0;
}

static int on_crate_begin(void *ud, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size)
{
    struct watch *w = ud;
    if (w->failed || w->stage != 1 || size > PROTO_BUNDLE_CRATE_MAX)
        abort();
    w->stage = 2;
    w->crate_left = size;
    put(w, "B", 1);
    put(w, sha, PROTO_SHA256_LEN);
    put(w, &size, sizeof size);
    return 0;
}

static int on_crate_data(void *ud, const uint8_t *p, size_t n)
{
    struct watch *w = ud;
    if (w->failed || w->stage != 2 || n == 0 || n > w->crate_left)
        abort();
    w->crate_left -= n;
    w->crate_bytes += n;
    put(w, p, n);
    return 0;
}

static int on_crate_end(void *ud)
{
    struct watch *w = ud;
    if (w->failed || w->stage != 2 || w->crate_left != 0)
        abort();
    w->stage = 1;
    w->crates++;
    put(w, "X", 1);
    return 0;
}

static int on_end(void *ud, const struct proto_bundle_totals *t)
{
    struct watch *w = ud;
    if (w->failed || w->stage != 1 || t->chunks != w->chunks || t->lines != w->lines ||
        t->crates != w->crates || t->crate_bytes != w->crate_bytes)
        abort();
    w->stage = 3;
    put(w, "E", 1);
    put(w, t, sizeof *t);
    return 0;
}

static const struct proto_bundle_events events = {on_header,     on_index,     on_crate_begin,
                                                  on_crate_data, on_crate_end, on_end};

static bool reader_error(int rc)
{
    return rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -EPERM || rc == -EPROTO ||
           rc == -EPIPE || rc == -ENOMEM;
}

/* Reads f[0..n) in pieces after `seed` (0: whole). Returns 0 or the error;
 * digest and *stream_len describe what was read. */
static int read_all(const uint8_t *f, size_t n, unsigned seed, uint8_t digest[32],
                    uint64_t *stream_len)
{
    struct watch w;
    memset(&w, 0, sizeof w);
    crypto_generichash_init(&w.h, NULL, 0, 32);
    struct proto_bundle_reader *r;
    if (proto_bundle_reader_new(&events, &w, &r) != 0)
        abort();
    uint32_t x = 0x9e3779b9u ^ seed;
    size_t off = 0;
    int rc = 0;
    while (off < n && rc == 0) {
        x = x * 1103515245u + 12345u;
        size_t k = seed == 0 ? n - off : 1 + (x >> 16) % (seed * 16u);
        if (k > n - off)
            k = n - off;
        rc = proto_bundle_reader_feed(r, f + off, k);
        off += k;
    }
    if (rc == 0)
        rc = proto_bundle_reader_finish(r);
    const char *text = proto_bundle_reader_error(r);
    if (rc == 0) {
        struct proto_bundle_totals t;
        proto_bundle_reader_totals(r, &t);
        if (text[0] != '\0' || w.stage != 3 || t.chunks != w.chunks || t.crates != w.crates ||
            t.lines != w.lines || t.crate_bytes != w.crate_bytes)
            abort();
    } else {
        if (!reader_error(rc) || text[0] == '\0' || strchr(text, '\n') != NULL || w.stage == 3)
            abort();
        w.failed = 1;
        /* sticky, and no event after it */
        if (proto_bundle_reader_feed(r, (const uint8_t *)"CC", 2) != rc ||
            proto_bundle_reader_finish(r) != rc)
            abort();
    }
    *stream_len = proto_bundle_reader_offset(r);
    crypto_generichash_final(&w.h, digest, 32);
    proto_bundle_reader_free(r);
    return rc;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* The stream s[0..n) re-signed in place with the target's key, as far as
 * its framing goes. */
static void resign(uint8_t *s, size_t n)
{
    if (n < PROTO_BUNDLE_HEADER_FIXED || n > RESIGN_MAX)
        return;
    memcpy(s + 12, fuzz_pk, PROTO_PK_LEN);
    size_t off = PROTO_BUNDLE_HEADER_FIXED + (size_t)be(s + 68, 2);
    if (off > n)
        return;
    uint8_t hh[32];
    crypto_hash_sha256(hh, s, off);
    static uint8_t msg[21 + 32 + RESIGN_MAX];
    while (n - off >= 8) {
        uint8_t type = s[off];
        if (type == 'C') {
            if (n - off < 48)
                return;
            uint64_t sz = be(s + off + 40, 8);
            if (sz > n - off - 48)
                return;
            off += 48 + (size_t)sz;
            continue;
        }
        if (type != 'I' && type != 'E')
            return;
        uint64_t blen = be(s + off + 4, 4);
        if (blen < PROTO_BUNDLE_SIG_LEN || blen > n - off - 8)
            return;
        uint8_t *body = s + off + 8;
        size_t m = (size_t)blen - PROTO_BUNDLE_SIG_LEN;
        memcpy(msg, "cratecast/bundle/1/", 19);
        msg[19] = type;
        msg[20] = 0;
        memcpy(msg + 21, hh, 32);
        memcpy(msg + 53, body, m);
        crypto_sign_detached(body + m, NULL, msg, 53 + m, fuzz_sk);
        off += 8 + (size_t)blen;
    }
}

/* s compressed into *out as zstd frames with checksums, cut `cuts` times. */
static uint8_t *compress(const uint8_t *s, size_t n, unsigned cuts, unsigned seed, size_t *outlen)
{
    size_t cap = ZSTD_compressBound(n) + (cuts + 1) * 128;
    uint8_t *out = malloc(cap);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (out == NULL || c == NULL ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1)))
        abort();
    size_t from = 0, o = 0;
    uint32_t x = seed * 2654435761u + 1;
    for (unsigned i = 0; i <= cuts; i++) {
        x = x * 1103515245u + 12345u;
        size_t to = i == cuts ? n : from + (n - from) * ((x >> 16) % 100) / 100;
        size_t z = ZSTD_compress2(c, out + o, cap - o, s + from, to - from);
        if (ZSTD_isError(z))
            abort();
        o += z;
        from = to;
    }
    ZSTD_freeCCtx(c);
    *outlen = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        uint8_t seed[32];
        memset(seed, 0x42, sizeof seed);
        if (sodium_init() < 0)
            abort();
        crypto_sign_seed_keypair(fuzz_pk, fuzz_sk, seed);
        ready = 1;
    }
    if (size < 1)
        return 0;
    unsigned mode = data[0] & 3, seed = data[0] >> 2;
    const uint8_t *body = data + 1;
    size_t n = size - 1;

    uint8_t *file = NULL, *stream = NULL;
    size_t flen = n;
    if (mode == 0) {
        file = malloc(n ? n : 1);
        if (file == NULL)
            abort();
        memcpy(file, body, n);
    } else {
        stream = malloc(n ? n : 1);
        if (stream == NULL)
            abort();
        memcpy(stream, body, n);
        if (mode >= 2)
            resign(stream, n);
        file = compress(stream, n, mode == 3 ? 1 + seed % 4 : 0, seed, &flen);
    }

    uint8_t d1[32], d2[32];
    uint64_t l1, l2;
    int rc1 = read_all(file, flen, seed, d1, &l1);
    int rc2 = read_all(file, flen, 0, d2, &l2);
    if ((rc1 == 0) != (rc2 == 0))
        abort();
    if (rc1 == 0 && (memcmp(d1, d2, 32) != 0 || l1 != l2))
        abort();
    if (rc1 == 0 && mode != 0 && l1 != n)
        abort(); /* the whole stream was read */
    free(file);
    free(stream);
    return 0;
}
