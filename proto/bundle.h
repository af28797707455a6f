/* proto/bundle.h — the bundle file: index entries and crates signed by one
 * store's Ed25519 identity, for carrying on a USB stick (pure; no I/O, no
 * clock, no randomness: the caller passes the time and the bundle id).
 * docs/bundle.md is the specification, with test vectors.
 *
 * A bundle file is one or more zstd frames (content checksum on). Their
 * decompressed bytes, concatenated, are the stream (integers big-endian):
 *
 *   header   0   8  magic "CCBUNDLE"
 *            8   2  format version (PROTO_BUNDLE_VERSION)
 *            10  2  flags, zero
 *            12  32 signer's Ed25519 public key
 *            44  16 bundle id (random, chosen by the writer)
 *            60  8  created, unix seconds (signed)
 *            68  2  registry length R (1 <= R <= PROTO_BUNDLE_REGISTRY_MAX)
 *            70  R  registry URL the index entries are of (UTF-8, not NUL-terminated,
 *                   no byte below 0x20 and no 0x7f)
 *   records, each starting with a one-byte type:
 *     'I' index chunk   1  3  zero
 *                       4  4  body length B (PROTO_BUNDLE_SIG_LEN + 4 < B <= PROTO_BUNDLE_CHUNK_MAX)
 *                       8  B  body: 4 chunk number (0, 1, 2, ... in order),
 *                             index lines, each ended by '\n' (no empty line;
 *                             so one line is at most PROTO_BUNDLE_LINE_MAX),
 *                             64 signature
 *     'C' crate         1  7  zero
 *                       8  32 SHA-256 of the .crate
 *                       40 8  size S (<= PROTO_BUNDLE_CRATE_MAX; 0 allowed)
 *                       48 S  the .crate's bytes
 *     'E' end           1  3  zero
 *                       4  4  body length (PROTO_BUNDLE_END_LEN)
 *                       8  .. body: 8 index chunks, 8 index lines, 8 crates,
 *                             8 crate bytes (sum of S), 64 signature
 *   and nothing after 'E'. Index chunks and crates are numbered from 0 in
 *   file order, each kind on its own (error texts use these numbers).
 *
 * The zstd frames: every one a zstd frame (no skippable frame) with the
 * content checksum flag, window at most 1 << PROTO_BUNDLE_WINDOW_LOG; the
 * file ends with the frame that holds the end record's last byte. The writer
 * ends a frame after every PROTO_BUNDLE_FRAME_BYTES stream bytes and at the
 * end; a reader takes frame boundaries anywhere.
 *
 * Signatures: Ed25519 (detached) by the header's key over
 *   "cratecast/bundle/1/" TYPE "\0" || SHA-256(header bytes) || body without its signature
 * so a chunk cannot move to another bundle (the header hash holds the bundle
 * id and the key) or pass as an end record. Crates are not signed: a crate is
 * what its SHA-256 says, and the importer takes it only when a trusted index
 * entry (e.g. one of this bundle's signed lines, which come before it) has
 * that digest as its cksum. The end record's counts detect a dropped record
 * and truncation.
 *
 * Reader: fed the file's bytes in pieces of any size, it decompresses, parses,
 * checks every bound and every signature, and reports through callbacks, in
 * file order, only what it has checked: the header (before any record; the
 * caller decides whether it trusts the key), each index chunk after its
 * signature verified, each crate's digest and size, its bytes in pieces as
 * they arrive (unverified: the caller hashes them), its end, and, from
 * finish(), the end record after its signature and counts verified and the
 * file ended with it. The first problem stops the
 * reader for good: every later call returns the same error, and
 * proto_bundle_reader_error() says what was wrong and where. Memory: one
 * index chunk, plus zstd's window (capped at PROTO_BUNDLE_WINDOW_LOG).
 * The events do not depend on how the file was cut into pieces, except the
 * sizes of the crate_data pieces (their bytes, concatenated, are the same).
 * Before an error the reader may have reported records that precede the
 * damage, and crate bytes that are damaged (a zstd checksum is checked at
 * the end of its frame): the caller keeps only what it verified itself.
 *
 * Writer: the same stream, compressed, handed to a sink in pieces. Index lines
 * are gathered into chunks of at most PROTO_BUNDLE_CHUNK_MAX bytes, each
 * signed when full and before the first crate or the end. A call that
 * answers -EINVAL (misuse) changes nothing; any other error fails the
 * writer for good (every later call returns it).
 */
#ifndef CRATECAST_PROTO_BUNDLE_H
#define CRATECAST_PROTO_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/envelope.h" /* PROTO_PK_LEN, PROTO_SK_LEN, PROTO_SIG_LEN */
#include "proto/sha256.h"

#define PROTO_BUNDLE_VERSION 1
#define PROTO_BUNDLE_MAGIC "CCBUNDLE"
#define PROTO_BUNDLE_ID_LEN 16
#define PROTO_BUNDLE_HEADER_FIXED 70
#define PROTO_BUNDLE_REGISTRY_MAX 1024
#define PROTO_BUNDLE_SIG_LEN 64
#define PROTO_BUNDLE_CHUNK_MAX (1u << 20)     /* one index chunk's body */
#define PROTO_BUNDLE_CRATE_MAX (512ull << 20) /* one .crate (STORE_BLOB_MAX) */
#define PROTO_BUNDLE_LINE_MAX (PROTO_BUNDLE_CHUNK_MAX - 4 - 1 - PROTO_BUNDLE_SIG_LEN)
#define PROTO_BUNDLE_END_LEN (4 * 8 + PROTO_BUNDLE_SIG_LEN)
#define PROTO_BUNDLE_WINDOW_LOG 23 /* zstd window: 8 MiB at most */
/* The writer starts a new zstd frame after this much of the stream. */
#define PROTO_BUNDLE_FRAME_BYTES (64u << 20)
#define PROTO_BUNDLE_LEVEL_MAX 19 /* higher zstd levels want windows over 8 MiB */

struct proto_bundle_header {
    uint16_t version;
    uint8_t signer[PROTO_PK_LEN];
    uint8_t id[PROTO_BUNDLE_ID_LEN];
    int64_t created;
    char registry[PROTO_BUNDLE_REGISTRY_MAX + 1]; /* NUL-terminated; no NUL inside */
};

struct proto_bundle_totals {
    uint64_t chunks, lines, crates, crate_bytes;
};

/* ---- reading -------------------------------------------------------------- */

/* Each callback returns 0 to go on, or a negative errno to stop the reader
 * (proto_bundle_reader_feed then returns it; the error text is the caller's
 * to give, the reader's says "stopped by the caller"). */
struct proto_bundle_events {
    int (*header)(void *ud, const struct proto_bundle_header *h);
    /* A verified chunk: lines is the chunk's lines, each ended by '\n'
     * (len > 0). Valid during the call. */
    int (*index)(void *ud, uint32_t chunk, const uint8_t *lines, size_t len);
    int (*crate_begin)(void *ud, const uint8_t sha[PROTO_SHA256_LEN], uint64_t size);
    /* Some of the crate's bytes, in order; n > 0. Unverified. */
    int (*crate_data)(void *ud, const uint8_t *p, size_t n);
    /* All `size` bytes were given. */
    int (*crate_end)(void *ud);
    /* The end record, its signature and its counts checked, and the file
     * ended right after it (its zstd frame closed, its checksum verified):
     * called by proto_bundle_reader_finish(), so the bundle is whole. */
    int (*end)(void *ud, const struct proto_bundle_totals *t);
};

struct proto_bundle_reader;

/* -ENOMEM. ev's callbacks may be NULL (skipped). */
int proto_bundle_reader_new(const struct proto_bundle_events *ev, void *ud,
                            struct proto_bundle_reader **out);
/* Feed the next n bytes of the file. 0, or the reader's error: -EBADMSG (not a
 * bundle, damaged: zstd error, checksum, bad framing or sizes, a nonzero
 * reserved byte, bytes after the end), -EPROTONOSUPPORT (a newer format
 * version), -EPERM (a signature does not verify), -EPROTO (the end record's
 * counts disagree with what was read, or chunks out of order: judged after
 * the signature), -ENOMEM, or a callback's own error. -EINVAL (buf NULL with
 * n > 0) changes nothing. */
int proto_bundle_reader_feed(struct proto_bundle_reader *r, const uint8_t *buf, size_t n);
/* The file ended. 0 when the end record was read and its zstd frame closed
 * (the end event is given here, once); else the reader's error, or -EPIPE:
 * truncated (which then is the reader's error), or the end callback's. */
int proto_bundle_reader_finish(struct proto_bundle_reader *r);
/* What went wrong, one sentence without a newline naming the place ("index
 * chunk 3 (stream offset 1048640): the signature does not verify"); "" while
 * all is well. */
const char *proto_bundle_reader_error(const struct proto_bundle_reader *r);
/* Decompressed stream bytes consumed so far. */
uint64_t proto_bundle_reader_offset(const struct proto_bundle_reader *r);
/* What was read and checked so far (counting whole records only). */
void proto_bundle_reader_totals(const struct proto_bundle_reader *r, struct proto_bundle_totals *t);
void proto_bundle_reader_free(struct proto_bundle_reader *r); /* NULL-safe */

/* ---- writing -------------------------------------------------------------- */

/* The sink gets the compressed file in pieces: 0, or a negative errno, which
 * the writer call then returns (the writer is then failed: every later call
 * returns it). */
typedef int (*proto_bundle_sink)(void *ud, const uint8_t *p, size_t n);

struct proto_bundle_writer;

/* Starts the stream (the header goes to the compressor at once; the sink may
 * see nothing of it before later calls). sk: the signer's secret key
 * (libsodium layout; the public half goes in the header, and must be the
 * seed's). registry: 1 to PROTO_BUNDLE_REGISTRY_MAX bytes, no control
 * character. level: zstd level 1 to PROTO_BUNDLE_LEVEL_MAX (0: the default,
 * 3). -EINVAL, -ENOMEM, or the sink's error; *out is NULL on error. */
int proto_bundle_writer_new(const uint8_t sk[PROTO_SK_LEN], const uint8_t id[PROTO_BUNDLE_ID_LEN],
                            int64_t created, const char *registry, int level,
                            proto_bundle_sink sink, void *ud, struct proto_bundle_writer **out);
/* One index line (without '\n'; non-empty, no '\n' inside, at most
 * PROTO_BUNDLE_LINE_MAX bytes, a little under PROTO_LINE_MAX: else -EINVAL).
 * It is written with its chunk. */
int proto_bundle_writer_index(struct proto_bundle_writer *w, const uint8_t *line, size_t len);
/* A crate of `size` bytes (<= PROTO_BUNDLE_CRATE_MAX) follows in crate_data
 * calls totalling exactly size (more: -EINVAL; an index line, a new
 * crate_begin, or finish, before all were given: -EINVAL). The writer does
 * not hash the bytes: sha is the caller's word. */
int proto_bundle_writer_crate_begin(struct proto_bundle_writer *w,
                                    const uint8_t sha[PROTO_SHA256_LEN], uint64_t size);
int proto_bundle_writer_crate_data(struct proto_bundle_writer *w, const uint8_t *p, size_t n);
/* The pending chunk, the end record, the last frame's end: the file is whole.
 * Every call after it answers -EINVAL. */
int proto_bundle_writer_finish(struct proto_bundle_writer *w);
/* What the stream holds so far: whole chunks (a pending chunk's lines count
 * when it is written) and whole crates; after finish, the end record's counts. */
void proto_bundle_writer_totals(const struct proto_bundle_writer *w, struct proto_bundle_totals *t);
void proto_bundle_writer_free(struct proto_bundle_writer *w); /* NULL-safe; no output */

#endif
