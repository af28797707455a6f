/* proto/peer.c — the agent-to-agent messages of proto/peer.h: the signed
 * envelope, the hello, manifest and index-file bodies, the key text form and
 * key id, and the mDNS TXT strings. Pure: no I/O, no logging, no globals
 * beyond libsodium's own (sodium_init is idempotent and thread-safe).
 *
 * Decoding a message is one fixed sequence, each step before any later read
 * (docs/protocol.md has the byte layouts):
 *
 *   1. envelope: 12 bytes present (-EBADMSG), magic (-EPROTO), type is the
 *      one asked for (-EPROTO), unknown flag bits or non-zero reserved bytes
 *      (-EPROTO), body length <= PROTO_PEER_BODY_MAX (-EMSGSIZE) and >= the
 *      type's minimum (-EBADMSG);
 *   2. body: uncompressed, the payload is exactly the stated length; zstd,
 *      the payload is exactly one frame whose declared content size is
 *      present and <= PROTO_PEER_BODY_MAX (-EMSGSIZE) and equal to the stated
 *      length (-EBADMSG), decompressed into a buffer of exactly that length,
 *      so no frame can make us allocate or write more than the cap;
 *   3. signature over "cratecast/1/" type "\0" || body-without-signature,
 *      checked before any field is interpreted (-EPERM): a byte changed
 *      anywhere in a body is a bad signature, never a strange value;
 *   4. fields: every count capped (-EMSGSIZE) and checked against the bytes
 *      left before anything is allocated (-EBADMSG); names, addresses and
 *      index bytes validated; the body must be consumed exactly.
 *
 * Encoders validate their input with the same rules (-EINVAL, -EMSGSIZE), so
 * whatever they produce decodes. The encoding is canonical: decoding an
 * uncompressed message and encoding it again with the same key gives the
 * same bytes (Ed25519 signatures are deterministic).
 */
#include "proto/peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>
#include <zstd_errors.h>

#define ENV_LEN 12
#define ENV_FLAG_ZSTD 0x01u
#define DOMAIN_PREFIX "cratecast/1/"
#define DOMAIN_LEN (sizeof DOMAIN_PREFIX - 1 + 2) /* prefix, type, NUL */
#define ZSTD_LEVEL 3
#define ZSTD_WINDOWLOG_MAX 25 /* 32 MiB: no frame needs more for a capped body */

/* Fixed parts of each body, signature included. */
#define HELLO_BODY_LEN (PROTO_PK_LEN + 2 + 4 + 8 + 8 + 2 + PROTO_NONCE_LEN + PROTO_SIG_LEN)
#define MANIFEST_BODY_MIN (PROTO_PK_LEN + 8 + 8 + 8 + 4 + 4 + 2 + PROTO_SIG_LEN)
#define MANIFEST_CRATE_LEN (PROTO_SHA256_LEN + 8)
#define MANIFEST_INDEX_MIN (1 + 1 + PROTO_SHA256_LEN + 8)
#define INDEX_BODY_MIN (PROTO_PK_LEN + 1 + 1 + 8 + 4 + PROTO_SIG_LEN)
#define NEWS_BODY_MIN (PROTO_PK_LEN + 8 + 8 + 8 + 2 + 2 + 2 + 2 + 2 + PROTO_SIG_LEN)
#define NEWS_PEER_MIN (1 + 4 + 2) /* family, IPv4, port */

#define TXT_TOTAL_MAX 1300u
#define TXT_STRING_MAX 255u

/* sodium_init fails only when no randomness source can be opened, which
 * none of the operations here needs; treat it as a resource failure. */
static int sodium_ready(void)
{
    return sodium_init() < 0 ? -ENOMEM : 0;
}

/* ---- big-endian cursor ---------------------------------------------------- */

struct wr {
    uint8_t *p;
    size_t off;
};

static void put_bytes(struct wr *w, const void *src, size_t n)
{
    if (n)
        memcpy(w->p + w->off, src, n);
    w->off += n;
}
static void put_u8(struct wr *w, uint8_t v)
{
    w->p[w->off++] = v;
}
static void put_u16(struct wr *w, uint16_t v)
{
    put_u8(w, (uint8_t)(v >> 8));
    put_u8(w, (uint8_t)v);
}
static void put_u32(struct wr *w, uint32_t v)
{
    put_u16(w, (uint16_t)(v >> 16));
    put_u16(w, (uint16_t)v);
}
static void put_u64(struct wr *w, uint64_t v)
{
    put_u32(w, (uint32_t)(v >> 32));
    put_u32(w, (uint32_t)v);
}

struct rd {
    const uint8_t *p;
    size_t len, off;
};

static bool rd_has(const struct rd *r, size_t n)
{
    return r->len - r->off >= n;
}
static const uint8_t *get_bytes(struct rd *r, size_t n) /* caller checked rd_has */
{
    const uint8_t *s = r->p + r->off;
    r->off += n;
    return s;
}
static uint8_t get_u8(struct rd *r)
{
    return r->p[r->off++];
}
static uint16_t get_u16(struct rd *r)
{
    uint16_t hi = get_u8(r);
    return (uint16_t)(hi << 8 | get_u8(r));
}
static uint32_t get_u32(struct rd *r)
{
    uint32_t hi = get_u16(r);
    return hi << 16 | get_u16(r);
}
static uint64_t get_u64(struct rd *r)
{
    uint64_t hi = get_u32(r);
    return hi << 32 | get_u32(r);
}

/* ---- field rules ------------------------------------------------------------ */

static bool name_lower_valid(const char *s, size_t n)
{
    if (!proto_crate_name_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return false;
    return true;
}

/* "host:port": printable ASCII without spaces, a non-empty host, and after the
 * last ':' a decimal port 1..65535 of at most 5 digits. */
static bool pex_addr_valid(const char *s, size_t n)
{
    if (n < 3 || n > PROTO_PEER_ADDR_MAX)
        return false;
    size_t colon = n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return false;
        if (c == ':')
            colon = i;
    }
    if (colon == 0 || colon == n || n - colon - 1 > 5 || n - colon - 1 == 0)
        return false;
    uint32_t port = 0;
    for (size_t i = colon + 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        port = port * 10 + (uint32_t)(s[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

/* ---- envelope: sign + wrap, unwrap + verify ------------------------------ */

static void put_domain(uint8_t *dst, char type)
{
    memcpy(dst, DOMAIN_PREFIX, sizeof DOMAIN_PREFIX - 1);
    dst[sizeof DOMAIN_PREFIX - 1] = (uint8_t)type;
    dst[sizeof DOMAIN_PREFIX] = 0;
}

static bool sk_matches(const uint8_t sk[PROTO_SK_LEN], const uint8_t pk[PROTO_PK_LEN])
{
    uint8_t derived[PROTO_PK_LEN];
    crypto_sign_ed25519_sk_to_pk(derived, sk);
    return sodium_memcmp(derived, pk, PROTO_PK_LEN) == 0;
}

/* scratch holds DOMAIN_LEN bytes of headroom and then a body of blen bytes
 * whose last PROTO_SIG_LEN bytes are to be filled: sign it, then emit the
 * envelope (compressing when asked) into a new buffer. scratch is not freed. */
static int seal(uint8_t *scratch, size_t blen, char type, const uint8_t sk[PROTO_SK_LEN],
                bool compress, uint8_t **out, size_t *outlen)
{
    uint8_t *body = scratch + DOMAIN_LEN;
    put_domain(scratch, type);
    if (crypto_sign_detached(body + blen - PROTO_SIG_LEN, NULL, scratch,
                             DOMAIN_LEN + blen - PROTO_SIG_LEN, sk) != 0)
        return -EINVAL;

    size_t cap = compress ? ZSTD_compressBound(blen) : blen;
    if (compress && ZSTD_isError(cap))
        return -EMSGSIZE;
    uint8_t *w = malloc(ENV_LEN + cap);
    if (w == NULL)
        return -ENOMEM;
    size_t plen = blen;
    if (compress) {
        plen = ZSTD_compress(w + ENV_LEN, cap, body, blen, ZSTD_LEVEL);
        if (ZSTD_isError(plen)) {
            free(w);
            return ZSTD_getErrorCode(plen) == ZSTD_error_memory_allocation ? -ENOMEM : -EINVAL;
        }
    } else {
        memcpy(w + ENV_LEN, body, blen);
    }
    struct wr h = {w, 0};
    put_bytes(&h, "CCP1", 4);
    put_u8(&h, (uint8_t)type);
    put_u8(&h, compress ? ENV_FLAG_ZSTD : 0);
    put_u16(&h, 0);
    put_u32(&h, (uint32_t)blen);
    *out = w;
    *outlen = ENV_LEN + plen;
    return 0;
}

static bool known_type(uint8_t t)
{
    return t == 'H' || t == 'M' || t == 'I' || t == 'N';
}

/* Steps 1-3 of the file comment. On success *scratch is a malloc'd buffer of
 * DOMAIN_LEN + *blen bytes, the verified body at offset DOMAIN_LEN. */
static int open_envelope(const uint8_t *buf, size_t len, char type, size_t minbody,
                         uint8_t **scratch, size_t *blen)
{
    *scratch = NULL;
    *blen = 0;
    if (buf == NULL || len < ENV_LEN)
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

    const uint8_t *payload = buf + ENV_LEN;
    size_t plen = len - ENV_LEN;
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

    uint8_t *s = malloc(DOMAIN_LEN + (size_t)want);
    if (s == NULL)
        return -ENOMEM;
    uint8_t *body = s + DOMAIN_LEN;
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

    int rc = sodium_ready();
    if (rc < 0) {
        free(s);
        return rc;
    }
    put_domain(s, type);
    if (crypto_sign_verify_detached(body + want - PROTO_SIG_LEN, s,
                                    DOMAIN_LEN + want - PROTO_SIG_LEN, body) != 0) {
        free(s);
        return -EPERM;
    }
    *scratch = s;
    *blen = want;
    return 0;
}

/* ---- keys ------------------------------------------------------------------ */

void proto_key_encode(const uint8_t pk[PROTO_PK_LEN], char out[PROTO_KEY_TEXT_LEN + 1])
{
    (void)sodium_ready(); /* base64 needs no initialised state */
    sodium_bin2base64(out, PROTO_KEY_TEXT_LEN + 1, pk, PROTO_PK_LEN,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int proto_key_decode(const char *s, size_t len, uint8_t pk[PROTO_PK_LEN])
{
    if (s == NULL || len != PROTO_KEY_TEXT_LEN)
        return -EINVAL;
    uint8_t bin[PROTO_PK_LEN];
    size_t binlen = 0;
    const char *end = NULL;
    if (sodium_base642bin(bin, sizeof bin, s, len, NULL, &binlen, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        binlen != PROTO_PK_LEN || end != s + len)
        return -EINVAL;
    /* Exactly the encoder's output: the unused low bits of the last
     * character must be zero, so one key has one text form. */
    char again[PROTO_KEY_TEXT_LEN + 1];
    proto_key_encode(bin, again);
    if (memcmp(again, s, PROTO_KEY_TEXT_LEN) != 0)
        return -EINVAL;
    memcpy(pk, bin, PROTO_PK_LEN);
    return 0;
}

void proto_key_id(const uint8_t pk[PROTO_PK_LEN], char out[PROTO_KEYID_HEX_LEN + 1])
{
    uint8_t h[crypto_generichash_BYTES]; /* 32: BLAKE2b-256 */
    (void)sodium_ready();
    crypto_generichash(h, sizeof h, pk, PROTO_PK_LEN, NULL, 0);
    proto_hex_encode(h, PROTO_KEYID_HEX_LEN / 2, out);
    out[PROTO_KEYID_HEX_LEN] = '\0';
}

/* ---- hello ----------------------------------------------------------------- */

int proto_hello_encode(const struct proto_hello *h, const uint8_t sk[PROTO_SK_LEN], uint8_t **out,
                       size_t *outlen)
{
    if (h == NULL || sk == NULL || out == NULL || outlen == NULL)
        return -EINVAL;
    *out = NULL;
    *outlen = 0;
    int rc = sodium_ready();
    if (rc < 0)
        return rc;
    if (h->version != PROTO_PEER_VERSION || !sk_matches(sk, h->pk))
        return -EINVAL;
    uint8_t scratch[DOMAIN_LEN + HELLO_BODY_LEN];
    struct wr w = {scratch + DOMAIN_LEN, 0};
    put_bytes(&w, h->pk, PROTO_PK_LEN);
    put_u16(&w, h->version);
    put_u32(&w, h->caps);
    put_u64(&w, h->seq);
    put_u64(&w, h->time);
    put_u16(&w, h->peer_port);
    put_bytes(&w, h->nonce, PROTO_NONCE_LEN);
    return seal(scratch, HELLO_BODY_LEN, 'H', sk, false, out, outlen);
}

int proto_hello_decode(const uint8_t *buf, size_t len, struct proto_hello *out)
{
    if (out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    uint8_t *s;
    size_t blen;
    int rc = open_envelope(buf, len, 'H', HELLO_BODY_LEN, &s, &blen);
    if (rc < 0)
        return rc;
    struct proto_hello h;
    memset(&h, 0, sizeof h);
    rc = -EBADMSG;
    if (blen != HELLO_BODY_LEN)
        goto done;
    struct rd r = {s + DOMAIN_LEN, blen - PROTO_SIG_LEN, 0};
    memcpy(h.pk, get_bytes(&r, PROTO_PK_LEN), PROTO_PK_LEN);
    h.version = get_u16(&r);
    h.caps = get_u32(&r);
    h.seq = get_u64(&r);
    h.time = get_u64(&r);
    h.peer_port = get_u16(&r);
    memcpy(h.nonce, get_bytes(&r, PROTO_NONCE_LEN), PROTO_NONCE_LEN);
    rc = h.version == PROTO_PEER_VERSION ? 0 : -EPROTO; /* signed, so not a corruption */
    if (rc == 0)
        *out = h;
done:
    free(s);
    return rc;
}

/* ---- manifest -------------------------------------------------------------- */

void proto_manifest_clear(struct proto_manifest *m)
{
    if (m == NULL)
        return;
    free(m->crates);
    free(m->index);
    free(m->pex);
    memset(m, 0, sizeof *m);
}

int proto_manifest_encode(const struct proto_manifest *m, const uint8_t sk[PROTO_SK_LEN],
                          bool compress, uint8_t **out, size_t *outlen)
{
    if (m == NULL || sk == NULL || out == NULL || outlen == NULL)
        return -EINVAL;
    *out = NULL;
    *outlen = 0;
    int rc = sodium_ready();
    if (rc < 0)
        return rc;
    if (m->ncrates > PROTO_MANIFEST_CRATES_MAX || m->nindex > PROTO_MANIFEST_INDEX_MAX ||
        m->npex > PROTO_PEX_MAX)
        return -EMSGSIZE;
    if ((m->ncrates && m->crates == NULL) || (m->nindex && m->index == NULL) ||
        (m->npex && m->pex == NULL) || m->since > m->seq || !sk_matches(sk, m->pk))
        return -EINVAL;

    uint64_t size = MANIFEST_BODY_MIN + (uint64_t)m->ncrates * MANIFEST_CRATE_LEN;
    for (uint32_t i = 0; i < m->nindex; i++) {
        size_t n = strnlen(m->index[i].name, sizeof m->index[i].name);
        if (!name_lower_valid(m->index[i].name, n))
            return -EINVAL;
        size += 1 + n + PROTO_SHA256_LEN + 8;
    }
    for (uint32_t i = 0; i < m->npex; i++) {
        size_t n = strnlen(m->pex[i], sizeof m->pex[i]);
        if (!pex_addr_valid(m->pex[i], n))
            return -EINVAL;
        size += 1 + n;
    }
    if (size > PROTO_PEER_BODY_MAX)
        return -EMSGSIZE;

    uint8_t *scratch = malloc(DOMAIN_LEN + (size_t)size);
    if (scratch == NULL)
        return -ENOMEM;
    struct wr w = {scratch + DOMAIN_LEN, 0};
    put_bytes(&w, m->pk, PROTO_PK_LEN);
    put_u64(&w, m->seq);
    put_u64(&w, m->since);
    put_u64(&w, m->time);
    put_u32(&w, m->ncrates);
    for (uint32_t i = 0; i < m->ncrates; i++) {
        put_bytes(&w, m->crates[i].sha256, PROTO_SHA256_LEN);
        put_u64(&w, m->crates[i].size);
    }
    put_u32(&w, m->nindex);
    for (uint32_t i = 0; i < m->nindex; i++) {
        size_t n = strnlen(m->index[i].name, sizeof m->index[i].name);
        put_u8(&w, (uint8_t)n);
        put_bytes(&w, m->index[i].name, n);
        put_bytes(&w, m->index[i].hash, PROTO_SHA256_LEN);
        put_u64(&w, m->index[i].updated);
    }
    put_u16(&w, (uint16_t)m->npex);
    for (uint32_t i = 0; i < m->npex; i++) {
        size_t n = strnlen(m->pex[i], sizeof m->pex[i]);
        put_u8(&w, (uint8_t)n);
        put_bytes(&w, m->pex[i], n);
    }
    rc = seal(scratch, (size_t)size, 'M', sk, compress, out, outlen);
    free(scratch);
    return rc;
}

static int parse_manifest(struct rd *r, struct proto_manifest *m)
{
    if (!rd_has(r, PROTO_PK_LEN + 8 + 8 + 8 + 4))
        return -EBADMSG;
    memcpy(m->pk, get_bytes(r, PROTO_PK_LEN), PROTO_PK_LEN);
    m->seq = get_u64(r);
    m->since = get_u64(r);
    m->time = get_u64(r);
    if (m->since > m->seq)
        return -EBADMSG;

    uint32_t nc = get_u32(r);
    if (nc > PROTO_MANIFEST_CRATES_MAX)
        return -EMSGSIZE;
    if ((r->len - r->off) / MANIFEST_CRATE_LEN < nc)
        return -EBADMSG;
    if (nc) {
        m->crates = calloc(nc, sizeof *m->crates);
        if (m->crates == NULL)
            return -ENOMEM;
    }
    for (uint32_t i = 0; i < nc; i++) {
        memcpy(m->crates[i].sha256, get_bytes(r, PROTO_SHA256_LEN), PROTO_SHA256_LEN);
        m->crates[i].size = get_u64(r);
    }
    m->ncrates = nc;

    if (!rd_has(r, 4))
        return -EBADMSG;
    uint32_t ni = get_u32(r);
    if (ni > PROTO_MANIFEST_INDEX_MAX)
        return -EMSGSIZE;
    if ((r->len - r->off) / MANIFEST_INDEX_MIN < ni)
        return -EBADMSG;
    if (ni) {
        m->index = calloc(ni, sizeof *m->index);
        if (m->index == NULL)
            return -ENOMEM;
    }
    for (uint32_t i = 0; i < ni; i++) {
        struct proto_manifest_index *e = &m->index[i];
        if (!rd_has(r, 1))
            return -EBADMSG;
        size_t n = get_u8(r);
        if (!rd_has(r, n + PROTO_SHA256_LEN + 8))
            return -EBADMSG;
        const char *name = (const char *)get_bytes(r, n);
        if (!name_lower_valid(name, n))
            return -EBADMSG;
        memcpy(e->name, name, n);
        e->name[n] = '\0';
        memcpy(e->hash, get_bytes(r, PROTO_SHA256_LEN), PROTO_SHA256_LEN);
        e->updated = get_u64(r);
    }
    m->nindex = ni;

    if (!rd_has(r, 2))
        return -EBADMSG;
    uint16_t np = get_u16(r);
    if (np > PROTO_PEX_MAX)
        return -EMSGSIZE;
    if (r->len - r->off < (size_t)np * 4) /* shortest address "h:1" plus its length byte */
        return -EBADMSG;
    if (np) {
        m->pex = calloc(np, sizeof *m->pex);
        if (m->pex == NULL)
            return -ENOMEM;
    }
    for (uint32_t i = 0; i < np; i++) {
        if (!rd_has(r, 1))
            return -EBADMSG;
        size_t n = get_u8(r);
        if (!rd_has(r, n))
            return -EBADMSG;
        const char *a = (const char *)get_bytes(r, n);
        if (!pex_addr_valid(a, n))
            return -EBADMSG;
        memcpy(m->pex[i], a, n);
        m->pex[i][n] = '\0';
    }
    m->npex = np;
    return r->off == r->len ? 0 : -EBADMSG;
}

int proto_manifest_decode(const uint8_t *buf, size_t len, struct proto_manifest *out)
{
    if (out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    uint8_t *s;
    size_t blen;
    int rc = open_envelope(buf, len, 'M', MANIFEST_BODY_MIN, &s, &blen);
    if (rc < 0)
        return rc;
    struct rd r = {s + DOMAIN_LEN, blen - PROTO_SIG_LEN, 0};
    rc = parse_manifest(&r, out);
    free(s);
    if (rc < 0)
        proto_manifest_clear(out);
    return rc;
}

/* ---- index file ------------------------------------------------------------ */

int proto_peer_index_encode(const struct proto_peer_index *x, const uint8_t sk[PROTO_SK_LEN],
                            bool compress, uint8_t **out, size_t *outlen)
{
    if (x == NULL || sk == NULL || out == NULL || outlen == NULL)
        return -EINVAL;
    *out = NULL;
    *outlen = 0;
    int rc = sodium_ready();
    if (rc < 0)
        return rc;
    size_t n = strnlen(x->name, sizeof x->name);
    if (!name_lower_valid(x->name, n) || (x->len && x->lines == NULL) || !sk_matches(sk, x->pk))
        return -EINVAL;
    if (x->len > PROTO_PEER_BODY_MAX - INDEX_BODY_MIN - n + 1)
        return -EMSGSIZE;
    if (x->len && memchr(x->lines, 0, x->len) != NULL)
        return -EINVAL;
    size_t size = INDEX_BODY_MIN - 1 + n + x->len;

    uint8_t *scratch = malloc(DOMAIN_LEN + size);
    if (scratch == NULL)
        return -ENOMEM;
    struct wr w = {scratch + DOMAIN_LEN, 0};
    put_bytes(&w, x->pk, PROTO_PK_LEN);
    put_u8(&w, (uint8_t)n);
    put_bytes(&w, x->name, n);
    put_u64(&w, x->time);
    put_u32(&w, (uint32_t)x->len);
    put_bytes(&w, x->lines, x->len);
    rc = seal(scratch, size, 'I', sk, compress, out, outlen);
    free(scratch);
    return rc;
}

int proto_peer_index_decode(const uint8_t *buf, size_t len, struct proto_peer_index *out,
                            uint8_t **owned)
{
    if (out == NULL || owned == NULL)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    *owned = NULL;
    uint8_t *s;
    size_t blen;
    int rc = open_envelope(buf, len, 'I', INDEX_BODY_MIN, &s, &blen);
    if (rc < 0)
        return rc;
    struct proto_peer_index x;
    memset(&x, 0, sizeof x);
    struct rd r = {s + DOMAIN_LEN, blen - PROTO_SIG_LEN, 0};
    rc = -EBADMSG;
    memcpy(x.pk, get_bytes(&r, PROTO_PK_LEN), PROTO_PK_LEN); /* within INDEX_BODY_MIN */
    size_t n = get_u8(&r);
    if (!rd_has(&r, n + 8 + 4))
        goto fail;
    const char *name = (const char *)get_bytes(&r, n);
    if (!name_lower_valid(name, n))
        goto fail;
    memcpy(x.name, name, n);
    x.name[n] = '\0';
    x.time = get_u64(&r);
    uint32_t ll = get_u32(&r);
    if (r.len - r.off != ll) /* the lines end where the signature starts */
        goto fail;
    x.lines = get_bytes(&r, ll);
    x.len = ll;
    if (ll && memchr(x.lines, 0, ll) != NULL)
        goto fail;
    *out = x;
    *owned = s;
    return 0;
fail:
    free(s);
    return rc;
}

/* ---- peer addresses ------------------------------------------------------ */

int proto_peer_addr_parse(const char *s, size_t len, struct proto_peer_addr *out)
{
    memset(out, 0, sizeof *out);
    if (s == NULL || len < 3 || len >= PROTO_PEER_ADDR_TEXT_MAX)
        return -EINVAL;
    char host[PROTO_PEER_ADDR_TEXT_MAX];
    const char *port;
    size_t hl;
    struct proto_peer_addr a;
    memset(&a, 0, sizeof a);
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL || (size_t)(rb - s) + 2 > len || rb[1] != ':')
            return -EINVAL;
        hl = (size_t)(rb - s - 1);
        memcpy(host, s + 1, hl);
        port = rb + 2;
        a.family = 6;
    } else {
        const char *c = memchr(s, ':', len);
        if (c == NULL)
            return -EINVAL;
        hl = (size_t)(c - s);
        memcpy(host, s, hl);
        port = c + 1;
        a.family = 4;
    }
    host[hl] = '\0';
    if (hl == 0)
        return -EINVAL;
    /* only the literal's own alphabet: no NUL (inet_pton would stop there),
     * no zone id, nothing a URL could carry */
    for (size_t i = 0; i < hl; i++) {
        char c = host[i];
        bool ok = (c >= '0' && c <= '9') || c == '.' ||
                  (a.family == 6 && (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        if (!ok)
            return -EINVAL;
    }
    if (inet_pton(a.family == 4 ? AF_INET : AF_INET6, host, a.ip) != 1)
        return -EINVAL;
    size_t pn = len - (size_t)(port - s);
    uint32_t v = 0;
    if (pn == 0 || pn > 5)
        return -EINVAL;
    for (size_t i = 0; i < pn; i++) {
        if (port[i] < '0' || port[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint32_t)(port[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -EINVAL;
    a.port = (uint16_t)v;
    *out = a;
    return 0;
}

int proto_peer_addr_format(const struct proto_peer_addr *a, char out[PROTO_PEER_ADDR_TEXT_MAX])
{
    char host[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if ((a->family != 4 && a->family != 6) ||
        inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->ip, host, sizeof host) == NULL)
        return -EINVAL;
    int n = snprintf(out, PROTO_PEER_ADDR_TEXT_MAX, a->family == 4 ? "%s:%u" : "[%s]:%u", host,
                     (unsigned)a->port);
    return n < 0 || n >= PROTO_PEER_ADDR_TEXT_MAX ? -EINVAL : n;
}

bool proto_peer_addr_eq(const struct proto_peer_addr *a, const struct proto_peer_addr *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

/* ---- news ------------------------------------------------------------------ */

void proto_news_clear(struct proto_news *n)
{
    if (n == NULL)
        return;
    free(n->fetching);
    free(n->peers);
    memset(n, 0, sizeof *n);
}

static bool addr_valid(const struct proto_peer_addr *a)
{
    return (a->family == 4 || a->family == 6) && a->port != 0;
}

int proto_news_encode(const struct proto_news *n, const uint8_t sk[PROTO_SK_LEN], uint8_t **out,
                      size_t *outlen)
{
    if (n == NULL || sk == NULL || out == NULL || outlen == NULL)
        return -EINVAL;
    *out = NULL;
    *outlen = 0;
    int rc = sodium_ready();
    if (rc < 0)
        return rc;
    if (n->nfetching > PROTO_NEWS_FETCHING_MAX || n->npeers > PROTO_NEWS_PEERS_MAX)
        return -EMSGSIZE;
    if ((n->nfetching && n->fetching == NULL) || (n->npeers && n->peers == NULL) ||
        !sk_matches(sk, n->pk))
        return -EINVAL;
    size_t size = NEWS_BODY_MIN + (size_t)n->nfetching * PROTO_SHA256_LEN;
    for (uint32_t i = 0; i < n->npeers; i++) {
        if (!addr_valid(&n->peers[i]))
            return -EINVAL;
        size += 1 + (n->peers[i].family == 4 ? 4 : 16) + 2;
    }
    uint8_t *scratch = malloc(DOMAIN_LEN + size);
    if (scratch == NULL)
        return -ENOMEM;
    struct wr w = {scratch + DOMAIN_LEN, 0};
    put_bytes(&w, n->pk, PROTO_PK_LEN);
    put_u64(&w, n->gen);
    put_u64(&w, n->seq);
    put_u64(&w, n->time);
    put_u16(&w, n->uploads);
    put_u16(&w, n->upload_slots);
    put_u16(&w, n->upload_waiting);
    put_u16(&w, (uint16_t)n->nfetching);
    for (uint32_t i = 0; i < n->nfetching; i++)
        put_bytes(&w, n->fetching[i], PROTO_SHA256_LEN);
    put_u16(&w, (uint16_t)n->npeers);
    for (uint32_t i = 0; i < n->npeers; i++) {
        put_u8(&w, n->peers[i].family);
        put_bytes(&w, n->peers[i].ip, n->peers[i].family == 4 ? 4 : 16);
        put_u16(&w, n->peers[i].port);
    }
    rc = seal(scratch, size, 'N', sk, false, out, outlen);
    free(scratch);
    return rc;
}

static int parse_news(struct rd *r, struct proto_news *n)
{
    /* the fixed part is within NEWS_BODY_MIN, checked by open_envelope */
    memcpy(n->pk, get_bytes(r, PROTO_PK_LEN), PROTO_PK_LEN);
    n->gen = get_u64(r);
    n->seq = get_u64(r);
    n->time = get_u64(r);
    n->uploads = get_u16(r);
    n->upload_slots = get_u16(r);
    n->upload_waiting = get_u16(r);
    uint16_t nf = get_u16(r);
    if (nf > PROTO_NEWS_FETCHING_MAX)
        return -EMSGSIZE;
    if ((r->len - r->off) / PROTO_SHA256_LEN < nf)
        return -EBADMSG;
    if (nf) {
        n->fetching = calloc(nf, sizeof *n->fetching);
        if (n->fetching == NULL)
            return -ENOMEM;
        for (uint32_t i = 0; i < nf; i++)
            memcpy(n->fetching[i], get_bytes(r, PROTO_SHA256_LEN), PROTO_SHA256_LEN);
    }
    n->nfetching = nf;
    if (!rd_has(r, 2))
        return -EBADMSG;
    uint16_t np = get_u16(r);
    if (np > PROTO_NEWS_PEERS_MAX)
        return -EMSGSIZE;
    if ((r->len - r->off) / NEWS_PEER_MIN < np)
        return -EBADMSG;
    if (np) {
        n->peers = calloc(np, sizeof *n->peers);
        if (n->peers == NULL)
            return -ENOMEM;
    }
    for (uint32_t i = 0; i < np; i++) {
        struct proto_peer_addr *a = &n->peers[i];
        if (!rd_has(r, 1))
            return -EBADMSG;
        a->family = get_u8(r);
        if (a->family != 4 && a->family != 6)
            return -EBADMSG;
        size_t il = a->family == 4 ? 4 : 16;
        if (!rd_has(r, il + 2))
            return -EBADMSG;
        memcpy(a->ip, get_bytes(r, il), il);
        a->port = get_u16(r);
        if (a->port == 0)
            return -EBADMSG;
    }
    n->npeers = np;
    return r->off == r->len ? 0 : -EBADMSG;
}

int proto_news_decode(const uint8_t *buf, size_t len, struct proto_news *out)
{
    if (out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    uint8_t *s;
    size_t blen;
    int rc = open_envelope(buf, len, 'N', NEWS_BODY_MIN, &s, &blen);
    if (rc < 0)
        return rc;
    struct rd r = {s + DOMAIN_LEN, blen - PROTO_SIG_LEN, 0};
    rc = parse_news(&r, out);
    free(s);
    if (rc < 0)
        proto_news_clear(out);
    return rc;
}

/* ---- mDNS TXT ---------------------------------------------------------------- */

static bool hex16_valid(const char *s, size_t n)
{
    if (n != PROTO_KEYID_HEX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static void hex16_copy_lower(char dst[PROTO_KEYID_HEX_LEN + 1], const char *s)
{
    for (size_t i = 0; i < PROTO_KEYID_HEX_LEN; i++)
        dst[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a') : s[i];
    dst[PROTO_KEYID_HEX_LEN] = '\0';
}

/* Decimal without sign, 1..20 digits, no overflow. */
static int parse_u64(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 20)
        return -EBADMSG;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EBADMSG;
        unsigned d = (unsigned)(s[i] - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        acc = acc * 10 + d;
    }
    *v = acc;
    return 0;
}

static bool key_is(const char *k, size_t kn, const char *lit)
{
    size_t n = strlen(lit);
    if (kn != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

int proto_txt_encode(const struct proto_txt *t, char out[4][64])
{
    if (t == NULL || out == NULL || t->version == 0)
        return -EINVAL;
    size_t idn = strnlen(t->id, sizeof t->id), netn = strnlen(t->net, sizeof t->net);
    if (!hex16_valid(t->id, idn) || (netn != 0 && !hex16_valid(t->net, netn)))
        return -EINVAL;
    int k = 0;
    snprintf(out[k++], 64, "v=%u", t->version);
    snprintf(out[k++], 64, "id=%.16s", t->id);
    snprintf(out[k++], 64, "seq=%llu", (unsigned long long)t->seq);
    if (netn != 0)
        snprintf(out[k++], 64, "net=%.16s", t->net);
    return k;
}

int proto_txt_decode(const uint8_t *const *strs, const size_t *lens, size_t n,
                     struct proto_txt *out)
{
    if (out == NULL || (n && (strs == NULL || lens == NULL)))
        return -EINVAL;
    memset(out, 0, sizeof *out);
    /* The cap is on the record's wire size: one length byte per string. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > TXT_STRING_MAX)
            return -EBADMSG; /* cannot be a DNS character-string */
        if (lens[i] && strs[i] == NULL)
            return -EINVAL;
        total += 1 + lens[i];
        if (total > TXT_TOTAL_MAX)
            return -EMSGSIZE;
    }

    /* RFC 6763 6.4-6.5: keys are case-insensitive, the first occurrence of a
     * key wins, a string without '=' is a key with no value. */
    struct proto_txt t;
    memset(&t, 0, sizeof t);
    bool have_v = false, have_id = false, have_seq = false, have_net = false;
    for (size_t i = 0; i < n; i++) {
        const char *s = (const char *)strs[i];
        size_t len = lens[i];
        if (len == 0)
            continue;
        const char *eq = memchr(s, '=', len);
        size_t kn = eq ? (size_t)(eq - s) : len;
        const char *val = eq ? eq + 1 : NULL;
        size_t vn = eq ? len - kn - 1 : 0;
        if (key_is(s, kn, "v")) {
            if (have_v)
                continue;
            uint64_t v;
            if (val == NULL || vn > 9 || parse_u64(val, vn, &v) < 0 || v == 0)
                return -EBADMSG;
            t.version = (unsigned)v;
            have_v = true;
        } else if (key_is(s, kn, "id")) {
            if (have_id)
                continue;
            if (val == NULL || !hex16_valid(val, vn))
                return -EBADMSG;
            hex16_copy_lower(t.id, val);
            have_id = true;
        } else if (key_is(s, kn, "seq")) {
            if (have_seq)
                continue;
            if (val == NULL || parse_u64(val, vn, &t.seq) < 0)
                return -EBADMSG;
            have_seq = true;
        } else if (key_is(s, kn, "net")) {
            if (have_net)
                continue;
            if (val == NULL || !hex16_valid(val, vn))
                return -EBADMSG;
            hex16_copy_lower(t.net, val);
            have_net = true;
        }
    }
    if (!have_v || !have_id)
        return -EBADMSG;
    *out = t;
    return 0;
}
