/* proto/peer.c — the agent-to-agent messages of proto/peer.h: the hello,
 * manifest, index-file and news bodies (each in the signed envelope of
 * proto/envelope.c), the key text form and key id, and the mDNS TXT strings.
 * Pure: no I/O, no logging, no globals beyond libsodium's own.
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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/cursor.h"
#include "proto/alloc.h"

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

/* ---- keys ------------------------------------------------------------------ */

void proto_key_encode(const uint8_t pk[PROTO_PK_LEN], char out[PROTO_KEY_TEXT_LEN + 1])
{
    (void)proto_envelope_ready(); /* base64 needs no initialised state */
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
    (void)proto_envelope_ready();
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
    int rc = proto_envelope_ready();
    if (rc < 0)
        return rc;
    if (h->version != PROTO_PEER_VERSION || !proto_envelope_key_matches(sk, h->pk))
        return -EINVAL;
    uint8_t scratch[PROTO_ENVELOPE_HEADROOM + HELLO_BODY_LEN];
    struct wr w = {scratch + PROTO_ENVELOPE_HEADROOM, 0};
    put_bytes(&w, h->pk, PROTO_PK_LEN);
    put_u16(&w, h->version);
    put_u32(&w, h->caps);
    put_u64(&w, h->seq);
    put_u64(&w, h->time);
    put_u16(&w, h->peer_port);
    put_bytes(&w, h->nonce, PROTO_NONCE_LEN);
    return proto_envelope_seal(scratch, HELLO_BODY_LEN, 'H', sk, false, out, outlen);
}

int proto_hello_decode(const uint8_t *buf, size_t len, struct proto_hello *out)
{
    if (out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    uint8_t *s;
    size_t blen;
    int rc = proto_envelope_open(buf, len, 'H', HELLO_BODY_LEN, &s, &blen);
    if (rc < 0)
        return rc;
    struct proto_hello h;
    memset(&h, 0, sizeof h);
    rc = -EBADMSG;
    if (blen != HELLO_BODY_LEN)
        goto done;
    struct rd r = {s + PROTO_ENVELOPE_HEADROOM, blen - PROTO_SIG_LEN, 0};
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

/* ---- crate and index-entry lists (manifest, and the gains in news) ----------- */

/* Bytes the index entries take on the wire, or -EINVAL for a name that is not
 * a valid lower-case crate name. */
static int64_t index_entries_size(const struct proto_manifest_index *v, uint32_t n)
{
    int64_t size = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t nl = strnlen(v[i].name, sizeof v[i].name);
        if (!name_lower_valid(v[i].name, nl))
            return -EINVAL;
        size += (int64_t)(1 + nl + PROTO_SHA256_LEN + 8);
    }
    return size;
}

static void put_crates(struct wr *w, const struct proto_manifest_crate *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        put_bytes(w, v[i].sha256, PROTO_SHA256_LEN);
        put_u64(w, v[i].size);
    }
}

static void put_index_entries(struct wr *w, const struct proto_manifest_index *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        size_t nl = strnlen(v[i].name, sizeof v[i].name);
        put_u8(w, (uint8_t)nl);
        put_bytes(w, v[i].name, nl);
        put_bytes(w, v[i].hash, PROTO_SHA256_LEN);
        put_u64(w, v[i].updated);
    }
}

/* n crates (a count already read), at most max: the bytes are checked before
 * anything is allocated. *out is malloc'd (NULL when n == 0). */
static int get_crates(struct rd *r, uint32_t n, uint32_t max, struct proto_manifest_crate **out)
{
    if (n > max)
        return -EMSGSIZE;
    if ((r->len - r->off) / MANIFEST_CRATE_LEN < n)
        return -EBADMSG;
    if (n == 0)
        return 0;
    struct proto_manifest_crate *v = cc_calloc(n, sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(v[i].sha256, get_bytes(r, PROTO_SHA256_LEN), PROTO_SHA256_LEN);
        v[i].size = get_u64(r);
    }
    *out = v;
    return 0;
}

/* n index entries, as get_crates. On an error after the allocation, *out is
 * still set (the caller's clear frees it). */
static int get_index_entries(struct rd *r, uint32_t n, uint32_t max,
                             struct proto_manifest_index **out)
{
    if (n > max)
        return -EMSGSIZE;
    if ((r->len - r->off) / MANIFEST_INDEX_MIN < n)
        return -EBADMSG;
    if (n == 0)
        return 0;
    struct proto_manifest_index *v = cc_calloc(n, sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    *out = v;
    for (uint32_t i = 0; i < n; i++) {
        if (!rd_has(r, 1))
            return -EBADMSG;
        size_t nl = get_u8(r);
        if (!rd_has(r, nl + PROTO_SHA256_LEN + 8))
            return -EBADMSG;
        const char *name = (const char *)get_bytes(r, nl);
        if (!name_lower_valid(name, nl))
            return -EBADMSG;
        memcpy(v[i].name, name, nl);
        v[i].name[nl] = '\0';
        memcpy(v[i].hash, get_bytes(r, PROTO_SHA256_LEN), PROTO_SHA256_LEN);
        v[i].updated = get_u64(r);
    }
    return 0;
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
    int rc = proto_envelope_ready();
    if (rc < 0)
        return rc;
    if (m->ncrates > PROTO_MANIFEST_CRATES_MAX || m->nindex > PROTO_MANIFEST_INDEX_MAX ||
        m->npex > PROTO_PEX_MAX)
        return -EMSGSIZE;
    if ((m->ncrates && m->crates == NULL) || (m->nindex && m->index == NULL) ||
        (m->npex && m->pex == NULL) || m->since > m->seq || !proto_envelope_key_matches(sk, m->pk))
        return -EINVAL;

    int64_t isize = index_entries_size(m->index, m->nindex);
    if (isize < 0)
        return (int)isize;
    uint64_t size = MANIFEST_BODY_MIN + (uint64_t)m->ncrates * MANIFEST_CRATE_LEN + (uint64_t)isize;
    for (uint32_t i = 0; i < m->npex; i++) {
        size_t n = strnlen(m->pex[i], sizeof m->pex[i]);
        if (proto_host_port_parse(m->pex[i], n, NULL) < 0)
            return -EINVAL;
        size += 1 + n;
    }
    if (size > PROTO_PEER_BODY_MAX)
        return -EMSGSIZE;

    uint8_t *scratch = cc_malloc(PROTO_ENVELOPE_HEADROOM + (size_t)size);
    if (scratch == NULL)
        return -ENOMEM;
    struct wr w = {scratch + PROTO_ENVELOPE_HEADROOM, 0};
    put_bytes(&w, m->pk, PROTO_PK_LEN);
    put_u64(&w, m->seq);
    put_u64(&w, m->since);
    put_u64(&w, m->time);
    put_u32(&w, m->ncrates);
    put_crates(&w, m->crates, m->ncrates);
    put_u32(&w, m->nindex);
    put_index_entries(&w, m->index, m->nindex);
    put_u16(&w, (uint16_t)m->npex);
    for (uint32_t i = 0; i < m->npex; i++) {
        size_t n = strnlen(m->pex[i], sizeof m->pex[i]);
        put_u8(&w, (uint8_t)n);
        put_bytes(&w, m->pex[i], n);
    }
    rc = proto_envelope_seal(scratch, (size_t)size, 'M', sk, compress, out, outlen);
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
    int rc = get_crates(r, nc, PROTO_MANIFEST_CRATES_MAX, &m->crates);
    if (rc < 0)
        return rc;
    m->ncrates = nc;
    if (!rd_has(r, 4))
        return -EBADMSG;
    uint32_t ni = get_u32(r);
    rc = get_index_entries(r, ni, PROTO_MANIFEST_INDEX_MAX, &m->index);
    if (rc < 0)
        return rc;
    m->nindex = ni;

    if (!rd_has(r, 2))
        return -EBADMSG;
    uint16_t np = get_u16(r);
    if (np > PROTO_PEX_MAX)
        return -EMSGSIZE;
    if (r->len - r->off < (size_t)np * 4) /* shortest address "h:1" plus its length byte */
        return -EBADMSG;
    if (np) {
        m->pex = cc_calloc(np, sizeof *m->pex);
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
        if (proto_host_port_parse(a, n, NULL) < 0)
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
    int rc = proto_envelope_open(buf, len, 'M', MANIFEST_BODY_MIN, &s, &blen);
    if (rc < 0)
        return rc;
    struct rd r = {s + PROTO_ENVELOPE_HEADROOM, blen - PROTO_SIG_LEN, 0};
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
    int rc = proto_envelope_ready();
    if (rc < 0)
        return rc;
    size_t n = strnlen(x->name, sizeof x->name);
    if (!name_lower_valid(x->name, n) || (x->len && x->lines == NULL) ||
        !proto_envelope_key_matches(sk, x->pk))
        return -EINVAL;
    if (x->len > PROTO_PEER_BODY_MAX - INDEX_BODY_MIN - n + 1)
        return -EMSGSIZE;
    if (x->len && memchr(x->lines, 0, x->len) != NULL)
        return -EINVAL;
    size_t size = INDEX_BODY_MIN - 1 + n + x->len;

    uint8_t *scratch = cc_malloc(PROTO_ENVELOPE_HEADROOM + size);
    if (scratch == NULL)
        return -ENOMEM;
    struct wr w = {scratch + PROTO_ENVELOPE_HEADROOM, 0};
    put_bytes(&w, x->pk, PROTO_PK_LEN);
    put_u8(&w, (uint8_t)n);
    put_bytes(&w, x->name, n);
    put_u64(&w, x->time);
    put_u32(&w, (uint32_t)x->len);
    put_bytes(&w, x->lines, x->len);
    rc = proto_envelope_seal(scratch, size, 'I', sk, compress, out, outlen);
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
    int rc = proto_envelope_open(buf, len, 'I', INDEX_BODY_MIN, &s, &blen);
    if (rc < 0)
        return rc;
    struct proto_peer_index x;
    memset(&x, 0, sizeof x);
    struct rd r = {s + PROTO_ENVELOPE_HEADROOM, blen - PROTO_SIG_LEN, 0};
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

/* ---- news ------------------------------------------------------------------ */

void proto_news_clear(struct proto_news *n)
{
    if (n == NULL)
        return;
    free(n->fetching);
    free(n->peers);
    free(n->gained);
    free(n->gained_index);
    memset(n, 0, sizeof *n);
}

int proto_news_encode(const struct proto_news *n, const uint8_t sk[PROTO_SK_LEN], uint8_t **out,
                      size_t *outlen)
{
    if (n == NULL || sk == NULL || out == NULL || outlen == NULL)
        return -EINVAL;
    *out = NULL;
    *outlen = 0;
    int rc = proto_envelope_ready();
    if (rc < 0)
        return rc;
    if (n->nfetching > PROTO_NEWS_FETCHING_MAX || n->npeers > PROTO_NEWS_PEERS_MAX)
        return -EMSGSIZE;
    if (n->has_gains &&
        (n->ngained > PROTO_NEWS_GAINS_MAX || n->ngained_index > PROTO_NEWS_GAINS_MAX))
        return -EMSGSIZE;
    if ((n->nfetching && n->fetching == NULL) || (n->npeers && n->peers == NULL) ||
        !proto_envelope_key_matches(sk, n->pk))
        return -EINVAL;
    if (n->has_gains && ((n->ngained && n->gained == NULL) ||
                         (n->ngained_index && n->gained_index == NULL) || n->gains_since > n->seq))
        return -EINVAL;
    size_t size = NEWS_BODY_MIN + (size_t)n->nfetching * PROTO_SHA256_LEN;
    for (uint32_t i = 0; i < n->npeers; i++) {
        if (!proto_peer_addr_valid(&n->peers[i]))
            return -EINVAL;
        size += 1 + (n->peers[i].family == 4 ? 4 : 16) + 2;
    }
    if (n->has_gains) {
        int64_t isize = index_entries_size(n->gained_index, n->ngained_index);
        if (isize < 0)
            return (int)isize;
        size += 8 + 2 + (size_t)n->ngained * MANIFEST_CRATE_LEN + 2 + (size_t)isize;
    }
    uint8_t *scratch = cc_malloc(PROTO_ENVELOPE_HEADROOM + size);
    if (scratch == NULL)
        return -ENOMEM;
    struct wr w = {scratch + PROTO_ENVELOPE_HEADROOM, 0};
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
    if (n->has_gains) {
        put_u64(&w, n->gains_since);
        put_u16(&w, (uint16_t)n->ngained);
        put_crates(&w, n->gained, n->ngained);
        put_u16(&w, (uint16_t)n->ngained_index);
        put_index_entries(&w, n->gained_index, n->ngained_index);
    }
    rc = proto_envelope_seal(scratch, size, 'N', sk, false, out, outlen);
    free(scratch);
    return rc;
}

/* The optional trailer of a news message: what the sender gained after
 * gains_since. Present exactly when bytes follow the peer list. */
static int parse_news_gains(struct rd *r, struct proto_news *n)
{
    if (!rd_has(r, 8 + 2))
        return -EBADMSG;
    n->gains_since = get_u64(r);
    if (n->gains_since > n->seq)
        return -EBADMSG;
    uint16_t nc = get_u16(r);
    int rc = get_crates(r, nc, PROTO_NEWS_GAINS_MAX, &n->gained);
    if (rc < 0)
        return rc;
    n->ngained = nc;
    if (!rd_has(r, 2))
        return -EBADMSG;
    uint16_t ni = get_u16(r);
    rc = get_index_entries(r, ni, PROTO_NEWS_GAINS_MAX, &n->gained_index);
    if (rc < 0)
        return rc;
    n->ngained_index = ni;
    n->has_gains = true;
    return r->off == r->len ? 0 : -EBADMSG;
}

static int parse_news(struct rd *r, struct proto_news *n)
{
    /* the fixed part is within NEWS_BODY_MIN, checked by proto_envelope_open */
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
        n->fetching = cc_calloc(nf, sizeof *n->fetching);
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
        n->peers = cc_calloc(np, sizeof *n->peers);
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
    if (r->off == r->len)
        return 0;
    return parse_news_gains(r, n);
}

int proto_news_decode(const uint8_t *buf, size_t len, struct proto_news *out)
{
    if (out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    uint8_t *s;
    size_t blen;
    int rc = proto_envelope_open(buf, len, 'N', NEWS_BODY_MIN, &s, &blen);
    if (rc < 0)
        return rc;
    struct rd r = {s + PROTO_ENVELOPE_HEADROOM, blen - PROTO_SIG_LEN, 0};
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
