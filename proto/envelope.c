/* proto/envelope.c — the signed envelope of proto/envelope.h: signing and
 * sealing (with zstd when asked), opening and verifying, with the domain
 * separation of each message type. Pure: no I/O, no logging, no globals
 * beyond libsodium's own (sodium_init is idempotent and thread-safe).
 *
 * Opening follows steps 1-3 of the decode order in proto/peer.c's file
 * comment, each step before any later read.
 */
#include "proto/envelope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "proto/cursor.h"
#include "proto/alloc.h"

#define ENV_FLAG_ZSTD 0x01u
#define DOMAIN_PREFIX "cratecast/1/"
#define ZSTD_LEVEL 3
#define ZSTD_WINDOWLOG_MAX 25 /* 32 MiB: no frame needs more for a capped body */

int proto_envelope_ready(void)
{
    return sodium_init() < 0 ? -ENOMEM : 0;
}

static void put_domain(uint8_t *dst, char type)
{
    memcpy(dst, DOMAIN_PREFIX, sizeof DOMAIN_PREFIX - 1);
    dst[sizeof DOMAIN_PREFIX - 1] = (uint8_t)type;
    dst[sizeof DOMAIN_PREFIX] = 0;
}

bool proto_envelope_key_matches(const uint8_t sk[PROTO_SK_LEN], const uint8_t pk[PROTO_PK_LEN])
{
    uint8_t derived[PROTO_PK_LEN];
    crypto_sign_ed25519_sk_to_pk(derived, sk);
    return sodium_memcmp(derived, pk, PROTO_PK_LEN) == 0;
}

int proto_envelope_seal(uint8_t *scratch, size_t blen, char type, const uint8_t sk[PROTO_SK_LEN],
                        bool compress, uint8_t **out, size_t *outlen)
{
    uint8_t *body = scratch + PROTO_ENVELOPE_HEADROOM;
    put_domain(scratch, type);
    if (crypto_sign_detached(body + blen - PROTO_SIG_LEN, NULL, scratch,
                             PROTO_ENVELOPE_HEADROOM + blen - PROTO_SIG_LEN, sk) != 0)
        return -EINVAL;

    size_t cap = compress ? ZSTD_compressBound(blen) : blen;
    if (compress && ZSTD_isError(cap))
        return -EMSGSIZE;
    uint8_t *w = cc_malloc(PROTO_ENVELOPE_LEN + cap);
    if (w == NULL)
        return -ENOMEM;
    size_t plen = blen;
    if (compress) {
        plen = ZSTD_compress(w + PROTO_ENVELOPE_LEN, cap, body, blen, ZSTD_LEVEL);
        if (ZSTD_isError(plen)) {
            free(w);
            return ZSTD_getErrorCode(plen) == ZSTD_error_memory_allocation ? -ENOMEM : -EINVAL;
        }
    } else {
        memcpy(w + PROTO_ENVELOPE_LEN, body, blen);
    }
    struct wr h = {w, 0};
    put_bytes(&h, "CCP1", 4);
    put_u8(&h, (uint8_t)type);
    put_u8(&h, compress ? ENV_FLAG_ZSTD : 0);
    put_u16(&h, 0);
    put_u32(&h, (uint32_t)blen);
    *out = w;
    *outlen = PROTO_ENVELOPE_LEN + plen;
    return 0;
}

static bool known_type(uint8_t t)
{
    return t == 'H' || t == 'M' || t == 'I' || t == 'N';
}

int proto_envelope_open(const uint8_t *buf, size_t len, char type, size_t minbody,
                        uint8_t **scratch, size_t *blen)
{
    *scratch = NULL;
    *blen = 0;
    if (buf == NULL || len < PROTO_ENVELOPE_LEN)
        return -EBADMSG;
    if (memcmp(buf, "CCP1", 4) != 0 || !known_type(buf[4]) || buf[4] != (uint8_t)type)
        return -EPROTO;
    if ((buf[5] & ~ENV_FLAG_ZSTD) != 0 || buf[6] != 0 || buf[7] != 0)
        return -EPROTO;
    struct rd hr = {buf + 8, 4, 0};
    uint32_t want = get_u32(&hr);
    if (want > PROTO_PEER_BODY_MAX)
        return -EMSGSIZE;
    if (want < minbody)
        return -EBADMSG;

    const uint8_t *payload = buf + PROTO_ENVELOPE_LEN;
    size_t plen = len - PROTO_ENVELOPE_LEN;
    bool zstd = (buf[5] & ENV_FLAG_ZSTD) != 0;
    if (!zstd) {
        if (plen != want)
            return -EBADMSG;
    } else {
        unsigned long long fcs = ZSTD_getFrameContentSize(payload, plen);
        if (fcs == ZSTD_CONTENTSIZE_ERROR)
            return -EBADMSG;
        if (fcs == ZSTD_CONTENTSIZE_UNKNOWN || fcs > PROTO_PEER_BODY_MAX)
            return -EMSGSIZE;
        if (fcs != want)
            return -EBADMSG;
        size_t fsz = ZSTD_findFrameCompressedSize(payload, plen);
        if (ZSTD_isError(fsz) || fsz != plen)
            return -EBADMSG; /* truncated, or anything after the one frame */
    }

    uint8_t *s = cc_malloc(PROTO_ENVELOPE_HEADROOM + (size_t)want);
    if (s == NULL)
        return -ENOMEM;
    uint8_t *body = s + PROTO_ENVELOPE_HEADROOM;
    if (!zstd) {
        memcpy(body, payload, want);
    } else {
        ZSTD_DCtx *dctx = ZSTD_createDCtx();
        if (dctx == NULL) {
            free(s);
            return -ENOMEM;
        }
        size_t r = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, ZSTD_WINDOWLOG_MAX);
        if (!ZSTD_isError(r))
            r = ZSTD_decompressDCtx(dctx, body, want, payload, plen);
        ZSTD_freeDCtx(dctx);
        if (ZSTD_isError(r) || r != want) {
            free(s);
            return ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation
                       ? -ENOMEM
                       : -EBADMSG;
        }
    }

    int rc = proto_envelope_ready();
    if (rc < 0) {
        free(s);
        return rc;
    }
    put_domain(s, type);
    if (crypto_sign_verify_detached(body + want - PROTO_SIG_LEN, s,
                                    PROTO_ENVELOPE_HEADROOM + want - PROTO_SIG_LEN, body) != 0) {
        free(s);
        return -EPERM;
    }
    *scratch = s;
    *blen = want;
    return 0;
}
