/* proto/bundle.c — the bundle file of proto/bundle.h: a streaming reader and a
 * writer. Pure: no I/O, no clock, no randomness, no logging; zstd streaming
 * (ZSTD_DCtx, ZSTD_CCtx), libsodium Ed25519 (crypto_sign_detached,
 * crypto_sign_verify_detached) and proto/sha256.h for the header hash.
 * docs/bundle.md is the specification.
 *
 * Signed bytes, for TYPE 'I' (index chunk) or 'E' (end record):
 *   "cratecast/bundle/1/" TYPE "\0"  21 bytes
 *   SHA-256(header bytes)            32 bytes
 *   the record's body without its last 64 bytes (the signature)
 * Both directions keep SIGN_HEADROOM (53) bytes in front of a body so that
 * the domain and the hash are put there and the whole is signed or verified
 * in place, without copying the body.
 *
 * The reader is two machines, one feeding the other:
 *
 *   zstd layer (over the file's bytes):
 *     between frames -> magic (the first 5 bytes of a frame are gathered and
 *     checked: a zstd frame, not skippable, content checksum flag set) ->
 *     frame (bytes go to ZSTD_decompressStream until it answers 0: frame
 *     closed, its checksum verified) -> between frames ...
 *     Once the end record was parsed and its frame closed, any further file
 *     byte is an error.
 *
 *   stream layer (over the decompressed bytes, in order):
 *     HEADER (70 fixed bytes, checked as they come: magic, version, flags,
 *     registry length) -> REGISTRY (R bytes; then the header hash and the
 *     header event) -> RECORD (a record's head: the type byte, then 8 bytes
 *     for 'I' and 'E', 48 for 'C'; reserved bytes zero, lengths in range)
 *       'I' -> CHUNK (B bytes gathered; signature, then number, then lines;
 *              index event) -> RECORD
 *       'C' -> crate_begin event -> CRATE (bytes passed on as they come;
 *              crate_end event after S) -> RECORD
 *       'E' -> END (96 bytes gathered; signature, then counts)
 *              -> DONE (any further stream byte is an error; finish() gives
 *              the end event once the frame closed with nothing after it)
 *   and from anywhere -> failed (sticky: err and msg kept, every later call
 *   returns err).
 *
 * Bounds: the header buffer is 70 + 1024 bytes inside the reader; one body
 * buffer, grown to the largest record body seen (at most 1 MiB + 53); zstd's
 * output buffer (ZSTD_DStreamOutSize()); zstd's window, at most
 * 1 << PROTO_BUNDLE_WINDOW_LOG. No count is trusted before it is checked.
 *
 * The writer is one sequence: header at new(), then lines gathered into the
 * pending chunk (signed and written when the next line does not fit, before
 * a crate and before the end record), crates written as they come, the end
 * record at finish. Every stream byte goes through one compress() which ends
 * the zstd frame after each PROTO_BUNDLE_FRAME_BYTES bytes of input.
 */
#include "proto/bundle.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "proto/alloc.h"
#include "proto/cursor.h"

#define DOMAIN_PREFIX "cratecast/bundle/1/"
#define DOMAIN_LEN (sizeof DOMAIN_PREFIX - 1 + 2)     /* prefix, type, NUL: 21 */
#define SIGN_HEADROOM (DOMAIN_LEN + PROTO_SHA256_LEN) /* 53 */

#define REC_HEAD_SHORT 8                              /* 'I' and 'E': type, 3 zero, 4 length */
#define REC_HEAD_CRATE 48                             /* 'C': type, 7 zero, 32 sha, 8 size */
#define CHUNK_BODY_MIN (4 + 2 + PROTO_BUNDLE_SIG_LEN) /* number, "x\n", signature */
#define LEVEL_DEFAULT 3
#define ZSTD_FRAME_MAGIC 0xFD2FB528u
#define ZSTD_FRAME_START 5      /* magic, frame header descriptor */
#define ZSTD_FHD_CHECKSUM 0x04u /* Content_Checksum_flag */
#define ERR_MAX 256

_Static_assert(PROTO_BUNDLE_SIG_LEN == crypto_sign_BYTES, "signature size");
_Static_assert(PROTO_PK_LEN == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(PROTO_SK_LEN == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(SIGN_HEADROOM == 53, "signing headroom");
_Static_assert(PROTO_BUNDLE_LINE_MAX + 1 + 4 + PROTO_BUNDLE_SIG_LEN == PROTO_BUNDLE_CHUNK_MAX,
               "a longest line fills a chunk");
_Static_assert(PROTO_BUNDLE_CRATE_MAX <= SIZE_MAX / 2, "crate sizes fit size_t");

/* The signing headroom in front of a body: the domain for `type`, the
 * header's hash. */
static void put_signed_prefix(uint8_t *dst, char type, const uint8_t hhash[PROTO_SHA256_LEN])
{
    memcpy(dst, DOMAIN_PREFIX, sizeof DOMAIN_PREFIX - 1);
    dst[sizeof DOMAIN_PREFIX - 1] = (uint8_t)type;
    dst[sizeof DOMAIN_PREFIX] = 0;
    memcpy(dst + DOMAIN_LEN, hhash, PROTO_SHA256_LEN);
}

static bool registry_valid(const uint8_t *s, size_t n)
{
    if (n == 0 || n > PROTO_BUNDLE_REGISTRY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* ---- reading ---------------------------------------------------------------- */

enum zstate {
    Z_BETWEEN, /* before a frame's first byte */
    Z_MAGIC,   /* gathering a frame's first ZSTD_FRAME_START bytes */
    Z_FRAME,   /* inside a frame */
};

enum pstate { P_HEADER, P_REGISTRY, P_RECORD, P_CHUNK, P_CRATE, P_END, P_DONE };

struct proto_bundle_reader {
    struct proto_bundle_events ev;
    void *ud;
    int err; /* 0, or the sticky error */
    char msg[ERR_MAX];

    /* zstd layer */
    ZSTD_DCtx *dctx;
    uint8_t *zout;
    size_t zout_cap;
    enum zstate zs;
    uint8_t fstart[ZSTD_FRAME_START];
    size_t fhave;
    uint64_t file_bytes; /* file bytes fed */

    /* stream layer */
    enum pstate ps;
    uint64_t off;     /* stream bytes parsed */
    uint64_t rec_off; /* where the current record began */
    uint8_t head[PROTO_BUNDLE_HEADER_FIXED + PROTO_BUNDLE_REGISTRY_MAX];
    size_t hhave, hneed;
    uint8_t hhash[PROTO_SHA256_LEN];
    struct proto_bundle_header hdr;
    uint8_t rec[REC_HEAD_CRATE];
    size_t rhave;
    uint64_t rec_no; /* the current record's number among its kind */
    uint8_t *body;   /* SIGN_HEADROOM, then the body */
    size_t body_cap, bhave, blen;
    uint64_t crate_size, crate_left;
    struct proto_bundle_totals t;
    bool ended; /* finish() reported the end */
};

/* Where the stream layer is, for error texts. */
static void place(const struct proto_bundle_reader *r, char *out, size_t cap)
{
    uint8_t type = r->rhave > 0 ? r->rec[0] : 0;
    switch (r->ps) {
    case P_HEADER:
    case P_REGISTRY:
        snprintf(out, cap, "the header");
        return;
    case P_CHUNK:
        type = 'I';
        break;
    case P_CRATE:
        type = 'C';
        break;
    case P_END:
        type = 'E';
        break;
    case P_DONE:
        snprintf(out, cap, "after the end record (stream offset %" PRIu64 ")", r->off);
        return;
    case P_RECORD:
        break;
    }
    if (type == 'I')
        snprintf(out, cap, "index chunk %" PRIu64 " (stream offset %" PRIu64 ")", r->rec_no,
                 r->rec_off);
    else if (type == 'C')
        snprintf(out, cap, "crate %" PRIu64 " (stream offset %" PRIu64 ")", r->rec_no, r->rec_off);
    else if (type == 'E')
        snprintf(out, cap, "the end record (stream offset %" PRIu64 ")", r->rec_off);
    else
        snprintf(out, cap, "the record at stream offset %" PRIu64, r->rec_off);
}

__attribute__((format(printf, 3, 4))) static int fail_plain(struct proto_bundle_reader *r, int rc,
                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->err = rc;
    return rc;
}

/* "<place>: <what>" */
__attribute__((format(printf, 3, 4))) static int fail(struct proto_bundle_reader *r, int rc,
                                                      const char *fmt, ...)
{
    char where[ERR_MAX / 2], what[ERR_MAX];
    place(r, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fail_plain(r, rc, "%s: %s", where, what);
}

static int stopped(struct proto_bundle_reader *r, int rc)
{
    return fail(r, rc, "stopped by the caller");
}

int proto_bundle_reader_new(const struct proto_bundle_events *ev, void *ud,
                            struct proto_bundle_reader **out)
{
    *out = NULL;
    int rc = proto_envelope_ready();
    if (rc < 0)
        return rc;
    struct proto_bundle_reader *r = cc_calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    if (ev != NULL)
        r->ev = *ev;
    r->ud = ud;
    r->zout_cap = ZSTD_DStreamOutSize();
    r->zout = cc_malloc(r->zout_cap);
    r->dctx = ZSTD_createDCtx();
    if (r->zout == NULL || r->dctx == NULL ||
        ZSTD_isError(
            ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, PROTO_BUNDLE_WINDOW_LOG))) {
        proto_bundle_reader_free(r);
        return -ENOMEM;
    }
    r->zs = Z_BETWEEN;
    r->ps = P_HEADER;
    r->hneed = PROTO_BUNDLE_HEADER_FIXED;
    *out = r;
    return 0;
}

void proto_bundle_reader_free(struct proto_bundle_reader *r)
{
    if (r == NULL)
        return;
    ZSTD_freeDCtx(r->dctx);
    free(r->zout);
    free(r->body);
    free(r);
}

const char *proto_bundle_reader_error(const struct proto_bundle_reader *r)
{
    return r->err != 0 ? r->msg : "";
}

uint64_t proto_bundle_reader_offset(const struct proto_bundle_reader *r)
{
    return r->off;
}

void proto_bundle_reader_totals(const struct proto_bundle_reader *r, struct proto_bundle_totals *t)
{
    *t = r->t;
}

/* The header's fixed part, checked as far as it has come (so that a file
 * that is not a bundle is named so, however short). */
static int header_check_fixed(struct proto_bundle_reader *r)
{
    const uint8_t *h = r->head;
    size_t n = r->hhave;
    size_t m = n < 8 ? n : 8;
    if (memcmp(h, PROTO_BUNDLE_MAGIC, m) != 0)
        return fail_plain(r, -EBADMSG, "not a cratecast bundle (bad magic)");
    if (n >= 10) {
        unsigned v = (unsigned)h[8] << 8 | h[9];
        if (v > PROTO_BUNDLE_VERSION)
            return fail_plain(r, -EPROTONOSUPPORT,
                              "bundle format version %u is newer than this cratecast's (%d)", v,
                              PROTO_BUNDLE_VERSION);
        if (v == 0)
            return fail_plain(r, -EBADMSG, "not a cratecast bundle (format version 0)");
    }
    if (n >= 12 && (h[10] != 0 || h[11] != 0))
        return fail(r, -EBADMSG, "the flags are not zero (0x%02x%02x)", h[10], h[11]);
    if (n >= PROTO_BUNDLE_HEADER_FIXED) {
        unsigned rl = (unsigned)h[68] << 8 | h[69];
        if (rl == 0 || rl > PROTO_BUNDLE_REGISTRY_MAX)
            return fail(r, -EBADMSG, "registry length %u is not within 1 to %d", rl,
                        PROTO_BUNDLE_REGISTRY_MAX);
        r->hneed = PROTO_BUNDLE_HEADER_FIXED + rl;
        r->ps = P_REGISTRY;
    }
    return 0;
}

static void record_next(struct proto_bundle_reader *r)
{
    r->ps = P_RECORD;
    r->rhave = 0;
    r->rec_off = r->off;
}

static int header_done(struct proto_bundle_reader *r)
{
    const uint8_t *reg = r->head + PROTO_BUNDLE_HEADER_FIXED;
    size_t rl = r->hneed - PROTO_BUNDLE_HEADER_FIXED;
    if (!registry_valid(reg, rl))
        return fail(r, -EBADMSG, "the registry holds a control character");
    struct rd c = {r->head + 8, PROTO_BUNDLE_HEADER_FIXED - 8, 0};
    struct proto_bundle_header *h = &r->hdr;
    h->version = get_u16(&c);
    (void)get_u16(&c); /* flags, checked */
    memcpy(h->signer, get_bytes(&c, PROTO_PK_LEN), PROTO_PK_LEN);
    memcpy(h->id, get_bytes(&c, PROTO_BUNDLE_ID_LEN), PROTO_BUNDLE_ID_LEN);
    h->created = (int64_t)get_u64(&c);
    memcpy(h->registry, reg, rl);
    h->registry[rl] = '\0';
    proto_sha256(r->head, r->hneed, r->hhash);
    if (r->ev.header != NULL) {
        int rc = r->ev.header(r->ud, h);
        if (rc < 0)
            return stopped(r, rc);
    }
    record_next(r);
    return 0;
}

static int body_reserve(struct proto_bundle_reader *r, size_t blen)
{
    if (SIGN_HEADROOM + blen <= r->body_cap)
        return 0;
    uint8_t *b = cc_realloc(r->body, SIGN_HEADROOM + blen);
    if (b == NULL)
        return fail(r, -ENOMEM, "out of memory");
    r->body = b;
    r->body_cap = SIGN_HEADROOM + blen;
    return 0;
}

static bool body_verifies(struct proto_bundle_reader *r, char type)
{
    put_signed_prefix(r->body, type, r->hhash);
    size_t mlen = SIGN_HEADROOM + r->blen - PROTO_BUNDLE_SIG_LEN;
    return crypto_sign_verify_detached(r->body + mlen, r->body, mlen, r->hdr.signer) == 0;
}

/* All of a crate's bytes were passed on. */
static int crate_done(struct proto_bundle_reader *r)
{
    r->t.crates++;
    r->t.crate_bytes += r->crate_size;
    if (r->ev.crate_end != NULL) {
        int rc = r->ev.crate_end(r->ud);
        if (rc < 0)
            return stopped(r, rc);
    }
    record_next(r);
    return 0;
}

/* The record head is in: check it and go on to the body. */
static int record_head_done(struct proto_bundle_reader *r)
{
    const uint8_t *h = r->rec;
    if (h[0] == 'C') {
        if (!all_zero(h + 1, 7))
            return fail(r, -EBADMSG, "a reserved byte is not zero");
        struct rd c = {h + 40, 8, 0};
        uint64_t size = get_u64(&c);
        if (size > PROTO_BUNDLE_CRATE_MAX)
            return fail(r, -EBADMSG, "size %" PRIu64 " is over the limit (%llu)", size,
                        (unsigned long long)PROTO_BUNDLE_CRATE_MAX);
        r->crate_size = r->crate_left = size;
        r->ps = P_CRATE;
        if (r->ev.crate_begin != NULL) {
            int rc = r->ev.crate_begin(r->ud, h + 8, size);
            if (rc < 0)
                return stopped(r, rc);
        }
        return size == 0 ? crate_done(r) : 0;
    }
    if (!all_zero(h + 1, 3))
        return fail(r, -EBADMSG, "a reserved byte is not zero");
    struct rd c = {h + 4, 4, 0};
    uint32_t blen = get_u32(&c);
    if (h[0] == 'I') {
        if (blen < CHUNK_BODY_MIN || blen > PROTO_BUNDLE_CHUNK_MAX)
            return fail(r, -EBADMSG, "body length %" PRIu32 " is not within %d to %u", blen,
                        CHUNK_BODY_MIN, PROTO_BUNDLE_CHUNK_MAX);
        r->ps = P_CHUNK;
    } else {
        if (blen != PROTO_BUNDLE_END_LEN)
            return fail(r, -EBADMSG, "body length %" PRIu32 " is not %d", blen,
                        PROTO_BUNDLE_END_LEN);
        r->ps = P_END;
    }
    int rc = body_reserve(r, blen);
    if (rc < 0)
        return rc;
    r->blen = blen;
    r->bhave = 0;
    return 0;
}

static int chunk_done(struct proto_bundle_reader *r)
{
    if (!body_verifies(r, 'I'))
        return fail(r, -EPERM, "the signature does not verify");
    const uint8_t *b = r->body + SIGN_HEADROOM;
    struct rd c = {b, 4, 0};
    uint32_t number = get_u32(&c);
    if (number != r->t.chunks)
        return fail(r, -EPROTO, "it is chunk %" PRIu32 " (chunks out of order)", number);
    const uint8_t *lines = b + 4;
    size_t len = r->blen - 4 - PROTO_BUNDLE_SIG_LEN;
    if (lines[len - 1] != '\n')
        return fail(r, -EBADMSG, "the last line is not ended by a newline");
    uint64_t count = 0;
    for (size_t i = 0; i < len; i++) {
        if (lines[i] != '\n')
            continue;
        if (i == 0 || lines[i - 1] == '\n')
            return fail(r, -EBADMSG, "line %" PRIu64 " is empty", count + 1);
        count++;
    }
    r->t.lines += count;
    r->t.chunks++;
    if (r->ev.index != NULL) {
        int rc = r->ev.index(r->ud, number, lines, len);
        if (rc < 0)
            return stopped(r, rc);
    }
    record_next(r);
    return 0;
}

static int end_done(struct proto_bundle_reader *r)
{
    if (!body_verifies(r, 'E'))
        return fail(r, -EPERM, "the signature does not verify");
    struct rd c = {r->body + SIGN_HEADROOM, 32, 0};
    struct proto_bundle_totals e;
    e.chunks = get_u64(&c);
    e.lines = get_u64(&c);
    e.crates = get_u64(&c);
    e.crate_bytes = get_u64(&c);
    const struct proto_bundle_totals *t = &r->t;
    if (e.chunks != t->chunks || e.lines != t->lines || e.crates != t->crates ||
        e.crate_bytes != t->crate_bytes)
        return fail(r, -EPROTO,
                    "it counts %" PRIu64 " index chunks, %" PRIu64 " lines, %" PRIu64
                    " crates of %" PRIu64 " bytes; the bundle held %" PRIu64 ", %" PRIu64
                    ", %" PRIu64 ", %" PRIu64 " (a record is missing)",
                    e.chunks, e.lines, e.crates, e.crate_bytes, t->chunks, t->lines, t->crates,
                    t->crate_bytes);
    r->ps = P_DONE; /* the end event waits for finish: the file must end here */
    return 0;
}

/* Gather up to need - *have bytes of p into dst; returns how many were taken. */
static size_t gather(uint8_t *dst, size_t *have, size_t need, const uint8_t *p, size_t n)
{
    size_t take = need - *have < n ? need - *have : n;
    memcpy(dst + *have, p, take);
    *have += take;
    return take;
}

/* The stream layer: n decompressed bytes, in order. */
static int parse(struct proto_bundle_reader *r, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t used = 0;
        int rc = 0;
        switch (r->ps) {
        case P_HEADER:
        case P_REGISTRY: {
            size_t want = r->ps == P_HEADER ? PROTO_BUNDLE_HEADER_FIXED : r->hneed;
            used = gather(r->head, &r->hhave, want, p, n);
            r->off += used;
            if (r->ps == P_HEADER)
                rc = header_check_fixed(r);
            else if (r->hhave == r->hneed)
                rc = header_done(r);
            break;
        }
        case P_RECORD: {
            if (r->rhave == 0) {
                uint8_t type = p[0];
                if (type != 'I' && type != 'C' && type != 'E')
                    return fail(r, -EBADMSG, "unknown record type 0x%02x", type);
                r->rec[0] = type;
                r->rhave = 1;
                r->rec_no = type == 'I' ? r->t.chunks : type == 'C' ? r->t.crates : 0;
                used = 1;
                r->off++;
                break;
            }
            size_t need = r->rec[0] == 'C' ? REC_HEAD_CRATE : REC_HEAD_SHORT;
            used = gather(r->rec, &r->rhave, need, p, n);
            r->off += used;
            if (r->rhave == need)
                rc = record_head_done(r);
            break;
        }
        case P_CHUNK:
        case P_END:
            used = gather(r->body + SIGN_HEADROOM, &r->bhave, r->blen, p, n);
            r->off += used;
            if (r->bhave == r->blen)
                rc = r->ps == P_CHUNK ? chunk_done(r) : end_done(r);
            break;
        case P_CRATE:
            used = r->crate_left < n ? (size_t)r->crate_left : n;
            r->off += used;
            r->crate_left -= used;
            if (used > 0 && r->ev.crate_data != NULL) {
                rc = r->ev.crate_data(r->ud, p, used);
                if (rc < 0)
                    return stopped(r, rc);
            }
            if (r->crate_left == 0)
                rc = crate_done(r);
            break;
        case P_DONE:
            return fail(r, -EBADMSG, "more bytes follow it");
        }
        if (rc < 0)
            return rc;
        p += used;
        n -= used;
    }
    return 0;
}

static int zstd_damage(struct proto_bundle_reader *r, size_t zrc)
{
    if (ZSTD_getErrorCode(zrc) == ZSTD_error_memory_allocation)
        return fail_plain(r, -ENOMEM, "out of memory");
    return fail(r, -EBADMSG, "the zstd data is damaged: %s", ZSTD_getErrorName(zrc));
}

/* The first bytes of a frame are in: only a zstd frame with a content
 * checksum is taken. */
static int frame_start_check(struct proto_bundle_reader *r)
{
    uint32_t magic = le32(r->fstart);
    bool first = r->file_bytes == ZSTD_FRAME_START;
    if (magic != ZSTD_FRAME_MAGIC) {
        if (first)
            return fail_plain(r, -EBADMSG, "not a cratecast bundle (not zstd data)");
        if ((magic & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START)
            return fail(r, -EBADMSG, "the zstd data is damaged: a skippable frame");
        return fail(r, -EBADMSG, "the zstd data is damaged: no zstd frame starts here");
    }
    if ((r->fstart[4] & ZSTD_FHD_CHECKSUM) == 0)
        return fail(r, -EBADMSG, "the zstd data is damaged: a frame without a checksum");
    return 0;
}

/* Decompress in[0..n) (all of it within one frame, or up to the frame's end)
 * and parse what comes out. *used: the input bytes zstd took. */
static int zstd_run(struct proto_bundle_reader *r, const uint8_t *in, size_t n, size_t *used)
{
    ZSTD_inBuffer zin = {in, n, 0};
    for (;;) {
        ZSTD_outBuffer zout = {r->zout, r->zout_cap, 0};
        size_t zrc = ZSTD_decompressStream(r->dctx, &zout, &zin);
        if (ZSTD_isError(zrc))
            return zstd_damage(r, zrc);
        int rc = parse(r, r->zout, zout.pos);
        if (rc < 0)
            return rc;
        if (zrc == 0) {
            r->zs = Z_BETWEEN; /* frame closed, checksum verified */
            break;
        }
        if (zin.pos == zin.size && zout.pos < zout.size)
            break; /* all taken, nothing held back */
    }
    *used = zin.pos;
    return 0;
}

int proto_bundle_reader_feed(struct proto_bundle_reader *r, const uint8_t *buf, size_t n)
{
    if (r->err != 0)
        return r->err;
    if (buf == NULL && n > 0)
        return -EINVAL;
    while (n > 0) {
        size_t used = 0;
        int rc = 0;
        switch (r->zs) {
        case Z_BETWEEN:
            if (r->ps == P_DONE)
                return fail(r, -EBADMSG, "bytes follow the last zstd frame");
            r->zs = Z_MAGIC;
            r->fhave = 0;
            /* fall through */
        case Z_MAGIC:
            used = gather(r->fstart, &r->fhave, ZSTD_FRAME_START, buf, n);
            r->file_bytes += used;
            if (r->fhave < ZSTD_FRAME_START)
                break;
            rc = frame_start_check(r);
            if (rc < 0)
                return rc;
            r->zs = Z_FRAME;
            size_t taken = 0;
            rc = zstd_run(r, r->fstart, ZSTD_FRAME_START, &taken);
            if (rc == 0 && taken != ZSTD_FRAME_START) /* a frame is longer than 5 bytes */
                rc = fail(r, -EBADMSG, "the zstd data is damaged: a frame ends at once");
            break;
        case Z_FRAME:
            rc = zstd_run(r, buf, n, &used);
            r->file_bytes += used;
            break;
        }
        if (rc < 0)
            return rc;
        buf += used;
        n -= used;
    }
    return 0;
}

int proto_bundle_reader_finish(struct proto_bundle_reader *r)
{
    if (r->err != 0)
        return r->err;
    if (r->ps == P_DONE && r->zs == Z_BETWEEN) {
        if (!r->ended && r->ev.end != NULL) {
            int rc = r->ev.end(r->ud, &r->t);
            if (rc < 0)
                return fail_plain(
                    r, rc, "the end record (stream offset %" PRIu64 "): stopped by the caller",
                    r->rec_off);
        }
        r->ended = true;
        return 0;
    }
    if (r->file_bytes == 0)
        return fail_plain(r, -EPIPE, "truncated: the file is empty");
    if (r->ps == P_DONE)
        return fail_plain(r, -EPIPE, "truncated after the end record: its zstd frame does not end");
    if (r->ps == P_RECORD && r->rhave == 0)
        return fail_plain(
            r, -EPIPE, "truncated at stream offset %" PRIu64 ": the end record is missing", r->off);
    char where[ERR_MAX / 2];
    place(r, where, sizeof where);
    return fail_plain(r, -EPIPE, "truncated in %s", where);
}

/* ---- writing ---------------------------------------------------------------- */

struct proto_bundle_writer {
    ZSTD_CCtx *cctx;
    uint8_t *zout;
    size_t zout_cap;
    uint64_t frame_in; /* stream bytes in the current frame */
    proto_bundle_sink sink;
    void *ud;
    int err;   /* sticky */
    bool done; /* finished */
    uint8_t sk[PROTO_SK_LEN];
    uint8_t hhash[PROTO_SHA256_LEN];
    uint8_t *chunk;   /* SIGN_HEADROOM, then the pending body; NULL until a line */
    size_t clen;      /* the pending body's bytes (number and lines); 0: none */
    uint64_t pending; /* its lines */
    bool in_crate;
    uint64_t crate_size, crate_left;
    struct proto_bundle_totals t;
};

static int wfail(struct proto_bundle_writer *w, int rc)
{
    w->err = rc;
    return rc;
}

/* Give n stream bytes to zstd with directive d, the output to the sink. */
static int zpush(struct proto_bundle_writer *w, const uint8_t *p, size_t n, ZSTD_EndDirective d)
{
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {w->zout, w->zout_cap, 0};
        size_t zrc = ZSTD_compressStream2(w->cctx, &out, &in, d);
        if (ZSTD_isError(zrc)) /* with valid parameters, only resources fail */
            return wfail(w, -ENOMEM);
        if (out.pos > 0) {
            int rc = w->sink(w->ud, w->zout, out.pos);
            if (rc < 0)
                return wfail(w, rc);
        }
        if (d == ZSTD_e_end ? zrc == 0 : in.pos == in.size)
            return 0;
    }
}

/* Stream bytes, the frame ended after every PROTO_BUNDLE_FRAME_BYTES. */
static int compress(struct proto_bundle_writer *w, const uint8_t *p, size_t n)
{
    while (n > 0) {
        uint64_t room = PROTO_BUNDLE_FRAME_BYTES - w->frame_in;
        size_t take = room < n ? (size_t)room : n;
        bool end = take == room;
        int rc = zpush(w, p, take, end ? ZSTD_e_end : ZSTD_e_continue);
        if (rc < 0)
            return rc;
        w->frame_in = end ? 0 : w->frame_in + take;
        p += take;
        n -= take;
    }
    return 0;
}

int proto_bundle_writer_new(const uint8_t sk[PROTO_SK_LEN], const uint8_t id[PROTO_BUNDLE_ID_LEN],
                            int64_t created, const char *registry, int level,
                            proto_bundle_sink sink, void *ud, struct proto_bundle_writer **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (sk == NULL || id == NULL || registry == NULL || sink == NULL || level < 0 ||
        level > PROTO_BUNDLE_LEVEL_MAX)
        return -EINVAL;
    size_t rl = strnlen(registry, PROTO_BUNDLE_REGISTRY_MAX + 1);
    if (!registry_valid((const uint8_t *)registry, rl))
        return -EINVAL;
    int rc = proto_envelope_ready();
    if (rc < 0)
        return rc;
    /* the public half must be the seed's, or no signature would verify */
    uint8_t seed[crypto_sign_SEEDBYTES], pk[PROTO_PK_LEN], sk2[PROTO_SK_LEN];
    crypto_sign_ed25519_sk_to_seed(seed, sk);
    crypto_sign_seed_keypair(pk, sk2, seed);
    bool ok = proto_envelope_key_matches(sk, pk);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk2, sizeof sk2);
    if (!ok)
        return -EINVAL;

    struct proto_bundle_writer *w = cc_calloc(1, sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    w->sink = sink;
    w->ud = ud;
    memcpy(w->sk, sk, PROTO_SK_LEN);
    w->zout_cap = ZSTD_CStreamOutSize();
    w->zout = cc_malloc(w->zout_cap);
    w->cctx = ZSTD_createCCtx();
    if (w->zout == NULL || w->cctx == NULL ||
        ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel,
                                            level == 0 ? LEVEL_DEFAULT : level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1))) {
        proto_bundle_writer_free(w);
        return -ENOMEM;
    }

    uint8_t head[PROTO_BUNDLE_HEADER_FIXED + PROTO_BUNDLE_REGISTRY_MAX];
    struct wr h = {head, 0};
    put_bytes(&h, PROTO_BUNDLE_MAGIC, 8);
    put_u16(&h, PROTO_BUNDLE_VERSION);
    put_u16(&h, 0);
    put_bytes(&h, pk, PROTO_PK_LEN);
    put_bytes(&h, id, PROTO_BUNDLE_ID_LEN);
    put_u64(&h, (uint64_t)created);
    put_u16(&h, (uint16_t)rl);
    put_bytes(&h, registry, rl);
    proto_sha256(head, h.off, w->hhash);
    rc = compress(w, head, h.off);
    if (rc < 0) {
        proto_bundle_writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void proto_bundle_writer_free(struct proto_bundle_writer *w)
{
    if (w == NULL)
        return;
    ZSTD_freeCCtx(w->cctx);
    free(w->zout);
    free(w->chunk);
    sodium_memzero(w->sk, sizeof w->sk);
    free(w);
}

void proto_bundle_writer_totals(const struct proto_bundle_writer *w, struct proto_bundle_totals *t)
{
    *t = w->t;
}

/* A record with a signed body: head (type, 3 zero, length), then the body
 * at body + SIGN_HEADROOM, its last 64 bytes the signature made here. */
static int write_signed(struct proto_bundle_writer *w, char type, uint8_t *body, size_t blen)
{
    put_signed_prefix(body, type, w->hhash);
    size_t mlen = SIGN_HEADROOM + blen - PROTO_BUNDLE_SIG_LEN;
    if (crypto_sign_detached(body + mlen, NULL, body, mlen, w->sk) != 0)
        return wfail(w, -ENOMEM); /* libsodium does not fail here */
    uint8_t head[REC_HEAD_SHORT];
    struct wr h = {head, 0};
    put_u8(&h, (uint8_t)type);
    put_bytes(&h, "\0\0\0", 3);
    put_u32(&h, (uint32_t)blen);
    int rc = compress(w, head, sizeof head);
    return rc < 0 ? rc : compress(w, body + SIGN_HEADROOM, blen);
}

static int chunk_flush(struct proto_bundle_writer *w)
{
    if (w->clen == 0)
        return 0;
    int rc = write_signed(w, 'I', w->chunk, w->clen + PROTO_BUNDLE_SIG_LEN);
    if (rc < 0)
        return rc;
    w->t.chunks++;
    w->t.lines += w->pending;
    w->clen = 0;
    w->pending = 0;
    return 0;
}

static int writer_state(const struct proto_bundle_writer *w)
{
    if (w->err != 0)
        return w->err;
    return w->done ? -EINVAL : 0;
}

int proto_bundle_writer_index(struct proto_bundle_writer *w, const uint8_t *line, size_t len)
{
    int rc = writer_state(w);
    if (rc < 0)
        return rc;
    if (w->in_crate || line == NULL || len == 0 || len > PROTO_BUNDLE_LINE_MAX ||
        memchr(line, '\n', len) != NULL)
        return -EINVAL;
    if (w->chunk == NULL) {
        w->chunk = cc_malloc(SIGN_HEADROOM + PROTO_BUNDLE_CHUNK_MAX);
        if (w->chunk == NULL)
            return wfail(w, -ENOMEM);
    }
    if (w->clen > 0 && w->clen + len + 1 + PROTO_BUNDLE_SIG_LEN > PROTO_BUNDLE_CHUNK_MAX) {
        rc = chunk_flush(w);
        if (rc < 0)
            return rc;
    }
    if (w->clen == 0) {
        if (w->t.chunks > UINT32_MAX)
            return -EINVAL; /* the bundle holds no more chunks */
        struct wr n = {w->chunk + SIGN_HEADROOM, 0};
        put_u32(&n, (uint32_t)w->t.chunks);
        w->clen = 4;
    }
    uint8_t *b = w->chunk + SIGN_HEADROOM + w->clen;
    memcpy(b, line, len);
    b[len] = '\n';
    w->clen += len + 1;
    w->pending++;
    return 0;
}

int proto_bundle_writer_crate_begin(struct proto_bundle_writer *w,
                                    const uint8_t sha[PROTO_SHA256_LEN], uint64_t size)
{
    int rc = writer_state(w);
    if (rc < 0)
        return rc;
    if (w->in_crate || sha == NULL || size > PROTO_BUNDLE_CRATE_MAX)
        return -EINVAL;
    rc = chunk_flush(w);
    if (rc < 0)
        return rc;
    uint8_t head[REC_HEAD_CRATE];
    struct wr h = {head, 0};
    put_u8(&h, 'C');
    put_bytes(&h, "\0\0\0\0\0\0\0", 7);
    put_bytes(&h, sha, PROTO_SHA256_LEN);
    put_u64(&h, size);
    rc = compress(w, head, sizeof head);
    if (rc < 0)
        return rc;
    if (size == 0) {
        w->t.crates++;
        return 0;
    }
    w->in_crate = true;
    w->crate_size = w->crate_left = size;
    return 0;
}

int proto_bundle_writer_crate_data(struct proto_bundle_writer *w, const uint8_t *p, size_t n)
{
    int rc = writer_state(w);
    if (rc < 0)
        return rc;
    if (!w->in_crate || (p == NULL && n > 0) || n > w->crate_left)
        return -EINVAL;
    rc = compress(w, p, n);
    if (rc < 0)
        return rc;
    w->crate_left -= n;
    if (w->crate_left == 0) {
        w->in_crate = false;
        w->t.crates++;
        w->t.crate_bytes += w->crate_size;
    }
    return 0;
}

int proto_bundle_writer_finish(struct proto_bundle_writer *w)
{
    int rc = writer_state(w);
    if (rc < 0)
        return rc;
    if (w->in_crate)
        return -EINVAL;
    rc = chunk_flush(w);
    if (rc < 0)
        return rc;
    uint8_t body[SIGN_HEADROOM + PROTO_BUNDLE_END_LEN];
    struct wr b = {body + SIGN_HEADROOM, 0};
    put_u64(&b, w->t.chunks);
    put_u64(&b, w->t.lines);
    put_u64(&b, w->t.crates);
    put_u64(&b, w->t.crate_bytes);
    rc = write_signed(w, 'E', body, PROTO_BUNDLE_END_LEN);
    if (rc < 0)
        return rc;
    if (w->frame_in > 0) {
        rc = zpush(w, NULL, 0, ZSTD_e_end);
        if (rc < 0)
            return rc;
        w->frame_in = 0;
    }
    w->done = true;
    return 0;
}
