/* tests/fuzz/fuzz-peer.h — shared by the fuzz-peer-*.c targets: a fixed key
 * pair, and re-signing an input with it so that mutated bodies get past the
 * signature check and reach the field parsers (a random input almost never
 * carries a valid Ed25519 signature). Header-only: each target is one file
 * plus replay.c or libFuzzer. */
#ifndef CRATECAST_FUZZ_PEER_H
#define CRATECAST_FUZZ_PEER_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/peer.h"

#define FUZZ_RESIGN_MAX (1u << 20) /* bigger inputs are only decoded as they are */

static uint8_t fuzz_pk[PROTO_PK_LEN], fuzz_sk[PROTO_SK_LEN];

static void fuzz_key_init(void)
{
    static int done;
    if (done)
        return;
    uint8_t seed[32];
    memset(seed, 0x42, sizeof seed);
    if (sodium_init() < 0)
        abort();
    crypto_sign_seed_keypair(fuzz_pk, fuzz_sk, seed);
    done = 1;
}

/* The body of the input (after the envelope when it has an uncompressed one,
 * else the whole input) with its key replaced by fuzz_pk and its last 64
 * bytes by a signature for `type`, in a new uncompressed envelope. NULL when
 * the input is too short or too long to make one. */
static uint8_t *fuzz_resign(const uint8_t *data, size_t size, char type, size_t *outlen)
{
    const uint8_t *body = data;
    size_t blen = size;
    if (size >= 12 && memcmp(data, "CCP1", 4) == 0 && (data[5] & 1) == 0) {
        body = data + 12;
        blen = size - 12;
    }
    if (blen < PROTO_PK_LEN + PROTO_SIG_LEN || blen > FUZZ_RESIGN_MAX)
        return NULL;
    uint8_t *w = malloc(12 + blen);
    uint8_t *sp = malloc(14 + blen);
    if (w == NULL || sp == NULL)
        abort();
    memcpy(w, "CCP1", 4);
    w[4] = (uint8_t)type;
    w[5] = w[6] = w[7] = 0;
    w[8] = (uint8_t)(blen >> 24);
    w[9] = (uint8_t)(blen >> 16);
    w[10] = (uint8_t)(blen >> 8);
    w[11] = (uint8_t)blen;
    memcpy(w + 12, body, blen);
    memcpy(w + 12, fuzz_pk, PROTO_PK_LEN);
    memcpy(sp, "cratecast/1/", 12);
    sp[12] = (uint8_t)type;
    sp[13] = 0;
    memcpy(sp + 14, w + 12, blen - PROTO_SIG_LEN);
    crypto_sign_detached(w + 12 + blen - PROTO_SIG_LEN, NULL, sp, 14 + blen - PROTO_SIG_LEN,
                         fuzz_sk);
    free(sp);
    *outlen = 12 + blen;
    return w;
}

/* The codes a decoder may return for hostile input. */
static int fuzz_rc_ok(int rc)
{
    return rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE || rc == -EPROTO || rc == -EPERM;
}

/* An encoder's output must be the re-signed input, byte for byte: the
 * uncompressed encoding is canonical and Ed25519 is deterministic. */
static void fuzz_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen || memcmp(a, b, alen) != 0)
        abort();
}

#endif
