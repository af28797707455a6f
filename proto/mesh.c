/* proto/mesh.c — the private mesh of proto/mesh.h: the network key's printable
 * form, its subkeys and id, the request MAC header, the replay table and the
 * sealed response streams. Pure: no I/O, no clock, no logging; libsodium only
 * (keyed BLAKE2b-256 through crypto_generichash, crypto_verify_32,
 * randombytes_buf, crypto_secretstream_xchacha20poly1305).
 *
 * Derivations (each BLAKE2b-256 keyed with the 32-byte key named first, over
 * the ASCII label; no label is a prefix of a message of another use):
 *   auth   = H(network key, "cratecast-mesh-auth-v1")
 *   enc    = H(network key, "cratecast-mesh-enc-v1")
 *   id     = hex(H(network key, "cratecast-mesh-id-v1")[0..8])
 *   MAC    = H(auth, "cratecast-mesh-request-v1\n" METHOD "\n" PATH "\n" TIME "\n" NONCE-HEX)
 *   rkey   = H(enc, "cratecast-mesh-response-v1\n" NONCE-HEX "\n" TIME)
 *   cksum  = H_unkeyed("cratecast-network-key-v1" || network key)[0..4]
 * TIME is the decimal of the request's time without sign or leading zeros
 * (what the header carries: its parser admits no other spelling) and
 * NONCE-HEX the lower-case hex of the 16 nonce bytes, whatever case the
 * header used.
 *
 * The opener is a two-state machine over the bytes fed to it:
 *   header (have < 24 bytes of the secretstream header; started == false)
 *     -> chunks (started: buf holds a partial 4-byte length and ciphertext)
 *     -> finished (the FINAL chunk opened; any further byte fails)
 *   and from any state -> failed (sticky: every later call returns -EBADMSG).
 */
#include "proto/mesh.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/alloc.h"
#include "proto/sha256.h"

#define KEY_PREFIX "ccnk1-"
#define KEY_PREFIX_LEN (sizeof KEY_PREFIX - 1)
#define KEY_CKSUM_LABEL "cratecast-network-key-v1"
#define KEY_CKSUM_LEN 4
#define KEY_RAW_LEN (PROTO_MESH_KEY_LEN + KEY_CKSUM_LEN) /* 36 bytes */
#define KEY_B32_LEN ((KEY_RAW_LEN * 8 + 4) / 5)          /* 58 characters */
#define KEY_GROUP 6

#define LABEL_AUTH "cratecast-mesh-auth-v1"
#define LABEL_ENC "cratecast-mesh-enc-v1"
#define LABEL_ID "cratecast-mesh-id-v1"
#define LABEL_REQUEST "cratecast-mesh-request-v1\n"
#define LABEL_RESPONSE "cratecast-mesh-response-v1\n"

#define NONCE_HEX_LEN (2 * PROTO_MESH_NONCE_LEN)
#define MAC_HEX_LEN 64
#define TIME_DIGITS_MAX 19 /* INT64_MAX */

#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define TAG_FINAL crypto_secretstream_xchacha20poly1305_TAG_FINAL

_Static_assert(PROTO_MESH_STREAM_HEADER == crypto_secretstream_xchacha20poly1305_HEADERBYTES,
               "stream header size");
_Static_assert(PROTO_MESH_CHUNK_OVERHEAD == 4 + crypto_secretstream_xchacha20poly1305_ABYTES,
               "chunk overhead");
_Static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == 32, "stream key size");
_Static_assert(KEY_B32_LEN == 58, "printable key length");
_Static_assert(KEY_PREFIX_LEN + KEY_B32_LEN + (KEY_B32_LEN - 1) / KEY_GROUP <
                   PROTO_MESH_KEY_TEXT_MAX,
               "printable key fits");

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char hex_digits[] = "0123456789abcdef";

/* ---- keys ---- */

static void subkey(uint8_t out[32], const uint8_t key[32], const char *label)
{
    crypto_generichash(out, 32, (const uint8_t *)label, strlen(label), key, 32);
}

static void hex_lower(char *out, const uint8_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 15];
    }
}

void proto_mesh_key_init(struct proto_mesh_key *k, const uint8_t key[PROTO_MESH_KEY_LEN])
{
    uint8_t id[32];
    memmove(k->key, key, PROTO_MESH_KEY_LEN);
    subkey(k->auth, k->key, LABEL_AUTH);
    subkey(k->enc, k->key, LABEL_ENC);
    subkey(id, k->key, LABEL_ID);
    hex_lower(k->id, id, PROTO_MESH_ID_HEX_LEN / 2);
    k->id[PROTO_MESH_ID_HEX_LEN] = '\0';
}

void proto_mesh_key_new(uint8_t key[PROTO_MESH_KEY_LEN])
{
    randombytes_buf(key, PROTO_MESH_KEY_LEN);
}

static void key_checksum(const uint8_t key[PROTO_MESH_KEY_LEN], uint8_t out[KEY_CKSUM_LEN])
{
    crypto_generichash_state st;
    uint8_t h[32];
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)KEY_CKSUM_LABEL, sizeof KEY_CKSUM_LABEL - 1);
    crypto_generichash_update(&st, key, PROTO_MESH_KEY_LEN);
    crypto_generichash_final(&st, h, sizeof h);
    memcpy(out, h, KEY_CKSUM_LEN);
}

size_t proto_mesh_key_encode(const uint8_t key[PROTO_MESH_KEY_LEN],
                             char out[PROTO_MESH_KEY_TEXT_MAX])
{
    uint8_t raw[KEY_RAW_LEN];
    memcpy(raw, key, PROTO_MESH_KEY_LEN);
    key_checksum(key, raw + PROTO_MESH_KEY_LEN);

    size_t o = 0;
    memcpy(out, KEY_PREFIX, KEY_PREFIX_LEN);
    o += KEY_PREFIX_LEN;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t nchar = 0;
    for (size_t i = 0; i < KEY_RAW_LEN || bits > 0;) {
        if (bits < 5 && i < KEY_RAW_LEN) {
            acc = (acc << 8) | raw[i++];
            bits += 8;
        }
        unsigned v;
        if (bits >= 5) {
            v = (acc >> (bits - 5)) & 31;
            bits -= 5;
        } else {
            v = (acc << (5 - bits)) & 31; /* the last character: zero-padded */
            bits = 0;
        }
        if (nchar > 0 && nchar % KEY_GROUP == 0)
            out[o++] = '-';
        out[o++] = b32_alphabet[v];
        nchar++;
    }
    out[o] = '\0';
    sodium_memzero(raw, sizeof raw);
    return o;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int b32_value(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

int proto_mesh_key_decode(const char *s, size_t len, uint8_t key[PROTO_MESH_KEY_LEN])
{
    while (len > 0 && is_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len < KEY_PREFIX_LEN)
        return -EINVAL;
    for (size_t i = 0; i < KEY_PREFIX_LEN; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != KEY_PREFIX[i])
            return -EINVAL;
    }

    uint8_t vals[KEY_B32_LEN];
    size_t n = 0;
    bool dash_ok = false; /* only right after a whole group, and only one */
    for (size_t i = KEY_PREFIX_LEN; i < len; i++) {
        if (s[i] == '-') {
            if (!dash_ok)
                return -EINVAL;
            dash_ok = false;
            continue;
        }
        int v = b32_value(s[i]);
        if (v < 0 || n == KEY_B32_LEN)
            return -EINVAL;
        vals[n++] = (uint8_t)v;
        dash_ok = n % KEY_GROUP == 0 && n < KEY_B32_LEN;
    }
    if (n != KEY_B32_LEN || (len > KEY_PREFIX_LEN && s[len - 1] == '-'))
        return -EINVAL;

    uint8_t raw[KEY_RAW_LEN];
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < KEY_B32_LEN; i++) {
        acc = (acc << 5) | vals[i];
        bits += 5;
        if (bits >= 8) {
            raw[o++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    /* 58 * 5 = 290 bits for 288: the last character's two low bits must be 0,
     * so that exactly one text spells a key (a change there is a typo). */
    int rc = 0;
    uint8_t want[KEY_CKSUM_LEN];
    if (o != KEY_RAW_LEN || bits != 2 || (acc & 3) != 0) {
        rc = -EBADMSG;
    } else {
        key_checksum(raw, want);
        if (sodium_memcmp(want, raw + PROTO_MESH_KEY_LEN, KEY_CKSUM_LEN) != 0)
            rc = -EBADMSG;
        else
            memcpy(key, raw, PROTO_MESH_KEY_LEN);
    }
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(vals, sizeof vals);
    return rc;
}

/* ---- the request header ---- */

/* The decimal of t >= 0, no sign, no leading zeros; returns its length. */
static size_t put_time(char *out, int64_t t)
{
    char tmp[TIME_DIGITS_MAX];
    size_t n = 0;
    uint64_t u = t < 0 ? 0 : (uint64_t)t;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void request_mac(const struct proto_mesh_key *k, const char *method, const char *path,
                        size_t path_len, int64_t time, const uint8_t nonce[PROTO_MESH_NONCE_LEN],
                        uint8_t mac[32])
{
    char tbuf[TIME_DIGITS_MAX];
    size_t tlen = put_time(tbuf, time);
    char nhex[NONCE_HEX_LEN];
    hex_lower(nhex, nonce, PROTO_MESH_NONCE_LEN);

    crypto_generichash_state st;
    crypto_generichash_init(&st, k->auth, sizeof k->auth, 32);
    crypto_generichash_update(&st, (const uint8_t *)LABEL_REQUEST, sizeof LABEL_REQUEST - 1);
    crypto_generichash_update(&st, (const uint8_t *)method, strlen(method));
    crypto_generichash_update(&st, (const uint8_t *)"\n", 1);
    crypto_generichash_update(&st, (const uint8_t *)path, path_len);
    crypto_generichash_update(&st, (const uint8_t *)"\n", 1);
    crypto_generichash_update(&st, (const uint8_t *)tbuf, tlen);
    crypto_generichash_update(&st, (const uint8_t *)"\n", 1);
    crypto_generichash_update(&st, (const uint8_t *)nhex, sizeof nhex);
    crypto_generichash_final(&st, mac, 32);
}

size_t proto_mesh_header_make(const struct proto_mesh_key *k, const char *method, const char *path,
                              size_t path_len, int64_t now,
                              const uint8_t nonce[PROTO_MESH_NONCE_LEN],
                              char out[PROTO_MESH_HEADER_MAX])
{
    uint8_t mac[32];
    if (now < 0)
        now = 0;
    request_mac(k, method, path, path_len, now, nonce, mac);
    size_t o = 0;
    memcpy(out, "v1 ", 3);
    o += 3;
    o += put_time(out + o, now);
    out[o++] = ' ';
    hex_lower(out + o, nonce, PROTO_MESH_NONCE_LEN);
    o += NONCE_HEX_LEN;
    out[o++] = ' ';
    hex_lower(out + o, mac, sizeof mac);
    o += MAC_HEX_LEN;
    out[o] = '\0';
    return o;
}

int proto_mesh_header_parse(const char *s, size_t len, struct proto_mesh_request *out)
{
    memset(out, 0, sizeof *out);
    /* "v1 " TIME " " 32 hex " " 64 hex: the tail has a fixed length */
    const size_t tail = 1 + NONCE_HEX_LEN + 1 + MAC_HEX_LEN;
    if (len < 3 + 1 + tail || len > 3 + TIME_DIGITS_MAX + tail || memcmp(s, "v1 ", 3) != 0)
        return -EINVAL;
    size_t tlen = len - 3 - tail;
    const char *t = s + 3;
    if (t[0] == '0' && tlen > 1)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < tlen; i++) {
        if (t[i] < '0' || t[i] > '9')
            return -EINVAL;
        uint64_t d = (uint64_t)(t[i] - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    const char *p = t + tlen;
    if (p[0] != ' ' || p[1 + NONCE_HEX_LEN] != ' ')
        return -EINVAL;
    struct proto_mesh_request r;
    r.time = (int64_t)v;
    if (proto_hex_decode(p + 1, NONCE_HEX_LEN, r.nonce, PROTO_MESH_NONCE_LEN) < 0 ||
        proto_hex_decode(p + 2 + NONCE_HEX_LEN, MAC_HEX_LEN, r.mac, sizeof r.mac) < 0)
        return -EINVAL;
    *out = r;
    return 0;
}

int proto_mesh_header_check(const struct proto_mesh_key *k, const struct proto_mesh_request *r,
                            const char *method, const char *path, size_t path_len, int64_t now)
{
    /* METHOD is the one field the MAC's input does not delimit otherwise */
    if (strchr(method, '\n') != NULL || r->time < 0)
        return -EPERM;
    uint8_t mac[32];
    request_mac(k, method, path, path_len, r->time, r->nonce, mac);
    if (crypto_verify_32(mac, r->mac) != 0)
        return -EPERM;
    /* only a verified time is worth reporting as a clock difference */
    if (now < 0 || (now > r->time ? (uint64_t)now - (uint64_t)r->time
                                  : (uint64_t)r->time - (uint64_t)now) > PROTO_MESH_SKEW_S)
        return -ETIME;
    return 0;
}

/* ---- the replay table ---- */

static bool replay_old(int64_t t, int64_t now)
{
    return t < now && (uint64_t)now - (uint64_t)t > 2 * (uint64_t)PROTO_MESH_SKEW_S;
}

static size_t replay_slot(const struct proto_mesh_replay *t,
                          const uint8_t nonce[PROTO_MESH_NONCE_LEN])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, nonce, PROTO_MESH_NONCE_LEN, t->hash_key);
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof h; i++)
        v = v << 8 | h[i];
    return (size_t)(v & (PROTO_MESH_REPLAY_SLOTS - 1));
}

/* The slot holding nonce, or the free slot where it would go. */
static size_t replay_find(const struct proto_mesh_replay *t,
                          const uint8_t nonce[PROTO_MESH_NONCE_LEN])
{
    size_t i = replay_slot(t, nonce);
    while (t->e[i].time != 0 && memcmp(t->e[i].nonce, nonce, PROTO_MESH_NONCE_LEN) != 0)
        i = (i + 1) & (PROTO_MESH_REPLAY_SLOTS - 1);
    return i;
}

/* Sweep the forgotten entries out: the live ones are put back in a clean table. */
static int replay_sweep(struct proto_mesh_replay *t, int64_t now)
{
    size_t live = 0;
    for (size_t i = 0; i < PROTO_MESH_REPLAY_SLOTS; i++)
        if (t->e[i].time != 0 && !replay_old(t->e[i].time, now))
            live++;
    struct {
        uint8_t nonce[PROTO_MESH_NONCE_LEN];
        int64_t time;
    } *keep = live ? cc_malloc(live * sizeof *keep) : NULL;
    if (live && keep == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < PROTO_MESH_REPLAY_SLOTS; i++) {
        if (t->e[i].time != 0 && !replay_old(t->e[i].time, now)) {
            memcpy(keep[k].nonce, t->e[i].nonce, PROTO_MESH_NONCE_LEN);
            keep[k++].time = t->e[i].time;
        }
        t->e[i].time = 0;
    }
    t->n = 0;
    for (size_t i = 0; i < k; i++) {
        size_t s = replay_find(t, keep[i].nonce);
        memcpy(t->e[s].nonce, keep[i].nonce, PROTO_MESH_NONCE_LEN);
        t->e[s].time = keep[i].time;
        t->n++;
    }
    free(keep);
    return 0;
}

int proto_mesh_replay_add(struct proto_mesh_replay *t, const struct proto_mesh_request *r,
                          int64_t now)
{
    if (r->time <= 0)
        return -EINVAL; /* never a request that passed the check */
    if (!t->keyed) {    /* chosen nonces cannot line up in one probe chain */
        randombytes_buf(t->hash_key, sizeof t->hash_key);
        t->keyed = true;
    }
    size_t i = replay_find(t, r->nonce);
    if (t->e[i].time != 0) {
        if (!replay_old(t->e[i].time, now))
            return -EALREADY;
        t->e[i].time = r->time; /* forgotten before: seen afresh */
        return 0;
    }
    if (t->n >= PROTO_MESH_REPLAY_MAX) {
        int rc = replay_sweep(t, now);
        if (rc < 0)
            return rc;
        if (t->n >= PROTO_MESH_REPLAY_MAX)
            return -EBUSY;
        i = replay_find(t, r->nonce);
    }
    memcpy(t->e[i].nonce, r->nonce, PROTO_MESH_NONCE_LEN);
    t->e[i].time = r->time;
    t->n++;
    return 0;
}

/* ---- the response key ---- */

void proto_mesh_response_key(const struct proto_mesh_key *k, const struct proto_mesh_request *r,
                             uint8_t out[32])
{
    char nhex[NONCE_HEX_LEN];
    char tbuf[TIME_DIGITS_MAX];
    hex_lower(nhex, r->nonce, PROTO_MESH_NONCE_LEN);
    size_t tlen = put_time(tbuf, r->time);
    crypto_generichash_state st;
    crypto_generichash_init(&st, k->enc, sizeof k->enc, 32);
    crypto_generichash_update(&st, (const uint8_t *)LABEL_RESPONSE, sizeof LABEL_RESPONSE - 1);
    crypto_generichash_update(&st, (const uint8_t *)nhex, sizeof nhex);
    crypto_generichash_update(&st, (const uint8_t *)"\n", 1);
    crypto_generichash_update(&st, (const uint8_t *)tbuf, tlen);
    crypto_generichash_final(&st, out, 32);
}

/* ---- sealing ---- */

void proto_mesh_seal_init(struct proto_mesh_sealer *s, const uint8_t key[32],
                          uint8_t hdr[PROTO_MESH_STREAM_HEADER])
{
    crypto_secretstream_xchacha20poly1305_init_push(&s->state, hdr, key);
}

size_t proto_mesh_seal_chunk(struct proto_mesh_sealer *s, const uint8_t *in, size_t n, bool final,
                             uint8_t *out)
{
    static const uint8_t empty[1];
    size_t clen = n + ABYTES;
    out[0] = (uint8_t)(clen >> 24);
    out[1] = (uint8_t)(clen >> 16);
    out[2] = (uint8_t)(clen >> 8);
    out[3] = (uint8_t)clen;
    crypto_secretstream_xchacha20poly1305_push(&s->state, out + 4, NULL, n > 0 ? in : empty, n,
                                               NULL, 0, final ? TAG_FINAL : TAG_MESSAGE);
    return 4 + clen;
}

uint64_t proto_mesh_sealed_size(uint64_t n)
{
    uint64_t chunks = n == 0 ? 1 : n / PROTO_MESH_CHUNK + (n % PROTO_MESH_CHUNK != 0);
    uint64_t over = PROTO_MESH_STREAM_HEADER + chunks * PROTO_MESH_CHUNK_OVERHEAD;
    return n > UINT64_MAX - over ? UINT64_MAX : n + over;
}

int proto_mesh_seal(const uint8_t key[32], const uint8_t *in, size_t n, uint8_t **out,
                    size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    uint64_t total = proto_mesh_sealed_size(n);
    if (total > SIZE_MAX)
        return -ENOMEM;
    uint8_t *w = cc_malloc((size_t)total);
    if (w == NULL)
        return -ENOMEM;
    struct proto_mesh_sealer s;
    proto_mesh_seal_init(&s, key, w);
    size_t o = PROTO_MESH_STREAM_HEADER, off = 0;
    do {
        size_t c = n - off < PROTO_MESH_CHUNK ? n - off : PROTO_MESH_CHUNK;
        o += proto_mesh_seal_chunk(&s, in + off, c, off + c == n, w + o);
        off += c;
    } while (off < n);
    sodium_memzero(&s, sizeof s);
    *out = w;
    *out_len = o;
    return 0;
}

/* ---- opening ---- */

void proto_mesh_open_init(struct proto_mesh_opener *o, const uint8_t key[32])
{
    memset(&o->state, 0, sizeof o->state);
    memcpy(o->key, key, sizeof o->key);
    o->have = 0;
    o->started = o->finished = o->failed = false;
}

static int open_fail(struct proto_mesh_opener *o, int rc)
{
    o->failed = true;
    o->have = 0;
    sodium_memzero(o->key, sizeof o->key);
    sodium_memzero(&o->state, sizeof o->state);
    return rc;
}

int proto_mesh_open_feed(struct proto_mesh_opener *o, const uint8_t *in, size_t n,
                         proto_mesh_emit emit, void *ud)
{
    if (o->failed)
        return -EBADMSG;
    while (n > 0) {
        if (o->finished)
            return open_fail(o, -EBADMSG); /* bytes after the final chunk */
        /* how many bytes the current unit needs in all */
        size_t need;
        if (!o->started) {
            need = PROTO_MESH_STREAM_HEADER;
        } else if (o->have < 4) {
            need = 4;
        } else {
            size_t clen = (size_t)o->buf[0] << 24 | (size_t)o->buf[1] << 16 |
                          (size_t)o->buf[2] << 8 | o->buf[3];
            if (clen < ABYTES || clen > PROTO_MESH_CHUNK + ABYTES)
                return open_fail(o, -EBADMSG);
            need = 4 + clen;
        }
        size_t take = need - o->have < n ? need - o->have : n;
        memcpy(o->buf + o->have, in, take);
        o->have += take;
        in += take;
        n -= take;
        if (o->have < need)
            break;
        if (!o->started) {
            if (crypto_secretstream_xchacha20poly1305_init_pull(&o->state, o->buf, o->key) != 0)
                return open_fail(o, -EBADMSG);
            sodium_memzero(o->key, sizeof o->key);
            o->started = true;
            o->have = 0;
            continue;
        }
        if (need == 4)
            continue; /* the length is in: validate it and read the ciphertext */
        unsigned long long mlen = 0;
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&o->state, o->plain, &mlen, &tag, o->buf + 4,
                                                       need - 4, NULL, 0) != 0 ||
            (tag != TAG_MESSAGE && tag != TAG_FINAL))
            return open_fail(o, -EBADMSG);
        o->have = 0;
        if (tag == TAG_FINAL)
            o->finished = true;
        if (mlen > 0 && emit != NULL) {
            int rc = emit(ud, o->plain, (size_t)mlen);
            if (rc < 0)
                return open_fail(o, rc);
        }
    }
    /* a 4-byte length can be judged before its ciphertext arrives */
    if (o->started && !o->finished && o->have >= 4) {
        size_t clen =
            (size_t)o->buf[0] << 24 | (size_t)o->buf[1] << 16 | (size_t)o->buf[2] << 8 | o->buf[3];
        if (clen < ABYTES || clen > PROTO_MESH_CHUNK + ABYTES)
            return open_fail(o, -EBADMSG);
    }
    return 0;
}

int proto_mesh_open_end(struct proto_mesh_opener *o)
{
    int rc = !o->failed && o->finished ? 0 : -EBADMSG;
    sodium_memzero(&o->state, sizeof o->state);
    sodium_memzero(o->key, sizeof o->key);
    sodium_memzero(o->plain, sizeof o->plain);
    return rc;
}

struct sink {
    uint8_t *p;
    size_t len, cap;
};

static int sink_emit(void *ud, const uint8_t *buf, size_t len)
{
    struct sink *k = ud;
    if (len > k->cap - k->len)
        return -EBADMSG; /* cannot happen: plaintext is shorter than what was fed */
    memcpy(k->p + k->len, buf, len);
    k->len += len;
    return 0;
}

int proto_mesh_open(const uint8_t key[32], const uint8_t *in, size_t n, uint8_t **out,
                    size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    struct sink k = {cc_malloc(n > 0 ? n : 1), 0, n};
    if (k.p == NULL)
        return -ENOMEM;
    struct proto_mesh_opener *o = cc_malloc(sizeof *o);
    if (o == NULL) {
        free(k.p);
        return -ENOMEM;
    }
    proto_mesh_open_init(o, key);
    int rc = proto_mesh_open_feed(o, in, n, sink_emit, &k);
    int end = proto_mesh_open_end(o);
    free(o);
    if (rc == 0)
        rc = end;
    if (rc < 0) {
        sodium_memzero(k.p, k.len);
        free(k.p);
        return rc;
    }
    *out = k.p;
    *out_len = k.len;
    return 0;
}
