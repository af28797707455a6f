/* tests/fuzz/fuzz-mesh-open.c — libFuzzer target for the sealed-stream opener
 * (proto_mesh_open_feed, proto_mesh_open_end) under a fixed key.
 *
 * Input: one mode byte, one split seed byte, then the body.
 *   mode even: the body is taken as a sealed stream, fed in pieces whose sizes
 *     follow the seed; feed answers only 0 or -EBADMSG and the opener never
 *     emits more bytes than were fed (less 24 for the stream header and 21
 *     for a chunk); end answers only 0 or -EBADMSG, and a stream it accepts
 *     is at least proto_mesh_sealed_size of what it emitted.
 *   mode odd: the body is the plaintext: it is sealed (with proto_mesh_seal),
 *     opened in pieces and must come back equal; then, when mode & 2, the byte
 *     at a position the seed picks is changed and the opening must fail.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mesh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
    uint8_t *p; /* NULL: count only */
    size_t len, cap;
};

static int emit(void *ud, const uint8_t *buf, size_t len)
{
    struct count *c = ud;
    if (len == 0 || len > PROTO_MESH_CHUNK || len > c->cap - c->len)
        abort();
    if (c->p != NULL)
        memcpy(c->p + c->len, buf, len);
    c->len += len;
    return 0;
}

static struct proto_mesh_opener opener;

/* Feeds in[0..n) in pieces; returns the first error or open_end's verdict. */
static int feed_all(const uint8_t key[32], const uint8_t *in, size_t n, uint8_t seed,
                    struct count *c)
{
    proto_mesh_open_init(&opener, key);
    uint32_t x = 0x9e3779b9u ^ seed;
    size_t off = 0;
    int rc = 0;
    while (off < n) {
        x = x * 1103515245u + 12345u;
        size_t k = seed == 0 ? n - off : (x >> 16) % (seed * 64u + 1);
        if (k > n - off)
            k = n - off;
        rc = proto_mesh_open_feed(&opener, in + off, k, emit, c);
        if (rc != 0 && rc != -EBADMSG)
            abort();
        off += k;
        if (c->len > 0 && c->len + PROTO_MESH_STREAM_HEADER + PROTO_MESH_CHUNK_OVERHEAD > off)
            abort(); /* emitted more than the bytes fed can carry */
        if (rc != 0)
            break;
    }
    int end = proto_mesh_open_end(&opener);
    if (end != 0 && end != -EBADMSG)
        abort();
    return rc != 0 ? rc : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0x40 + i);
    uint8_t mode = data[0], seed = data[1];
    const uint8_t *body = data + 2;
    size_t n = size - 2;

    if ((mode & 1) == 0) {
        struct count c = {NULL, 0, n};
        int rc = feed_all(key, body, n, seed, &c);
        if (rc == 0 && n < proto_mesh_sealed_size(c.len))
            abort(); /* a whole stream is at least the sealed size of what it holds */
        return 0;
    }

    uint8_t *s;
    size_t sl;
    if (proto_mesh_seal(key, body, n, &s, &sl) != 0)
        abort();
    if (sl != proto_mesh_sealed_size(n))
        abort();
    struct count c = {malloc(n + 1), 0, n};
    if (c.p == NULL)
        abort();
    if (feed_all(key, s, sl, seed, &c) != 0 || c.len != n || memcmp(c.p, body, n) != 0)
        abort();
    if (mode & 2) {
        size_t at = ((size_t)seed * 2654435761u) % sl;
        s[at] ^= (uint8_t)(1u << (mode >> 5));
        c.len = 0;
        if (feed_all(key, s, sl, seed, &c) != -EBADMSG)
            abort();
    }
    free(c.p);
    free(s);
    return 0;
}
