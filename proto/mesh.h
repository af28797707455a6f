/* proto/mesh.h — a private mesh: one shared 256-bit network key makes a set of
 * agents that talk only to each other (docs/protocol.md, "Private meshes";
 * docs/security.md says what it protects and what it does not).
 *
 * Three things follow from the key, each from its own subkey (BLAKE2b-256
 * keyed with the network key over a fixed label, so no two uses share a key):
 *   auth = BLAKE2b-256(key = network key, msg = "cratecast-mesh-auth-v1"),
 *   enc  = BLAKE2b-256(key = network key, msg = "cratecast-mesh-enc-v1"),
 *   id   = hex of the first 8 bytes of BLAKE2b-256(network key, "cratecast-mesh-id-v1"):
 *   - the key id, 16 hex digits, announced in the mDNS TXT record (`net=`):
 *     members find each other, outsiders learn only that a mesh exists;
 *   - membership: every peer request carries the header
 *       X-Cratecast-Mesh: v1 <unix time> <32 hex: 16-byte random nonce> <64 hex: MAC>
 *     where MAC = BLAKE2b-256 keyed with the auth subkey over
 *       "cratecast-mesh-request-v1\n" METHOD "\n" PATH-WITH-QUERY "\n" TIME "\n" NONCE-HEX
 *     PATH-WITH-QUERY is the request target byte for byte as on the request
 *     line; TIME is the decimal without sign or leading zeros (the only form
 *     the parser admits); NONCE-HEX is the nonce in lower-case hex whatever
 *     case the header used; METHOD contains no '\n'. The responder accepts it
 *     within PROTO_MESH_SKEW_S of its own clock and only once (proto_mesh_replay);
 *   - confidentiality: every 200 body the responder sends to a member is a
 *     sealed stream (libsodium crypto_secretstream_xchacha20poly1305) under a
 *     per-request key = BLAKE2b-256 keyed with the encryption subkey over
 *     "cratecast-mesh-response-v1\n" NONCE-HEX "\n" TIME: only the member that
 *     sent that request can open it, and it cannot be swapped for the answer
 *     to another request. Wire form of a sealed stream:
 *       24 bytes  the secretstream header
 *       then chunks: 4 bytes big-endian ciphertext length L (17..PROTO_MESH_CHUNK+17)
 *                    L bytes ciphertext (plaintext of L-17 bytes + tag)
 *     The last chunk carries the FINAL tag; bytes after it, a missing FINAL
 *     chunk, or a chunk that fails to open mean the body is not trusted at all.
 *
 * The printable form of a key (what `cratecast network-key new` prints and the
 * key file holds): "ccnk1-" followed by the base32 (RFC 4648 alphabet,
 * lower-case, no padding) of the 32 key bytes and 4 checksum bytes
 * (BLAKE2b-256 of "cratecast-network-key-v1" || key, first 4 bytes), in groups
 * of 6 characters joined by '-' (73 characters in all). The 58th character
 * carries 2 unused bits, which are 0. Decoding ignores case (prefix included)
 * and accepts or omits each dash between two groups; it rejects any other
 * character or dash (two dashes, a dash inside a group, after the last group),
 * a wrong length, set unused bits or a wrong checksum (a one-character typo).
 *
 * Pure: no I/O, no clock (times are passed in). Fuzzed: proto_mesh_key_decode,
 * proto_mesh_header_parse, the opener.
 */
#ifndef CRATECAST_PROTO_MESH_H
#define CRATECAST_PROTO_MESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define PROTO_MESH_KEY_LEN 32
#define PROTO_MESH_KEY_TEXT_MAX 96 /* printable form, NUL included */
#define PROTO_MESH_ID_HEX_LEN 16   /* key id as announced in TXT net= */
#define PROTO_MESH_NONCE_LEN 16
#define PROTO_MESH_HEADER "x-cratecast-mesh"
#define PROTO_MESH_HEADER_MAX 160    /* the header's value, NUL included */
#define PROTO_MESH_SKEW_S 120        /* accepted clock difference, seconds */
#define PROTO_MESH_CHUNK 65536       /* plaintext bytes per sealed chunk at most */
#define PROTO_MESH_STREAM_HEADER 24  /* crypto_secretstream_xchacha20poly1305_HEADERBYTES */
#define PROTO_MESH_CHUNK_OVERHEAD 21 /* 4-byte length + 17-byte ABYTES */

/* A network key and its subkeys (made by proto_mesh_key_init). */
struct proto_mesh_key {
    uint8_t key[PROTO_MESH_KEY_LEN];
    uint8_t auth[32]; /* request MACs */
    uint8_t enc[32];  /* response stream keys */
    char id[PROTO_MESH_ID_HEX_LEN + 1];
};

/* Derive the subkeys and the id of key. */
void proto_mesh_key_init(struct proto_mesh_key *k, const uint8_t key[PROTO_MESH_KEY_LEN]);
/* A fresh random key (libsodium randombytes_buf). */
void proto_mesh_key_new(uint8_t key[PROTO_MESH_KEY_LEN]);
/* The printable form; returns its length. */
size_t proto_mesh_key_encode(const uint8_t key[PROTO_MESH_KEY_LEN],
                             char out[PROTO_MESH_KEY_TEXT_MAX]);
/* Parse a printable key (s need not be NUL-terminated; surrounding ASCII
 * whitespace is ignored): 0, -EINVAL (not a key: wrong prefix, character, dash
 * or length), -EBADMSG (the checksum does not match, or the last character's
 * unused bits are set: a typo). key is written only on success. */
int proto_mesh_key_decode(const char *s, size_t len, uint8_t key[PROTO_MESH_KEY_LEN]);

/* The request header's value for METHOD PATH at unix time now with nonce
 * (16 random bytes the caller draws), NUL-terminated. Returns its length (at
 * most 120). method is a NUL-terminated token without '\n'; now >= 0 (a
 * negative now is written as 0). */
size_t proto_mesh_header_make(const struct proto_mesh_key *k, const char *method, const char *path,
                              size_t path_len, int64_t now,
                              const uint8_t nonce[PROTO_MESH_NONCE_LEN],
                              char out[PROTO_MESH_HEADER_MAX]);
/* A parsed request header. */
struct proto_mesh_request {
    int64_t time;
    uint8_t nonce[PROTO_MESH_NONCE_LEN];
    uint8_t mac[32];
};
/* Parse a header value (not NUL-terminated): 0 or -EINVAL. Strict: "v1", one
 * space between fields, decimal time without sign or leading zeros, lower- or
 * upper-case hex of exactly the lengths above, nothing else. */
int proto_mesh_header_parse(const char *s, size_t len, struct proto_mesh_request *out);
/* Check a parsed header for METHOD PATH at unix time now: 0, -EPERM (the MAC
 * does not verify: another key or a changed request; also a method holding
 * '\n'), -ETIME (the MAC verifies but |now - time| > PROTO_MESH_SKEW_S). The
 * MAC is checked first, so -ETIME always means a member whose clock differs.
 * Constant time in the MAC comparison. Replays are the caller's to refuse
 * (proto_mesh_replay_add, after this returned 0). */
int proto_mesh_header_check(const struct proto_mesh_key *k, const struct proto_mesh_request *r,
                            const char *method, const char *path, size_t path_len, int64_t now);

/* Nonces accepted recently, to refuse a request seen before. A hash table
 * (open addressing, SipHash of the nonce under a key drawn at first use; about
 * 3 MiB: allocate it, zero it before first use, one per responder; not
 * thread-safe): an entry is kept with its request's time and forgotten once
 * that time is more than 2 * PROTO_MESH_SKEW_S behind now (a request that old
 * fails the time check anyway, with PROTO_MESH_SKEW_S to spare for a responder
 * clock stepped back). It holds PROTO_MESH_REPLAY_MAX entries (half its
 * slots); when that many are younger, new requests are refused (-EBUSY)
 * rather than risk a replay: capacity is PROTO_MESH_REPLAY_MAX requests per 4
 * minutes, about 270 a second sustained. An add costs a probe of a few slots;
 * when the table fills, the forgotten entries are swept out (O(n), with a
 * temporary copy of the live ones). */
#define PROTO_MESH_REPLAY_MAX 65536
#define PROTO_MESH_REPLAY_SLOTS (2 * PROTO_MESH_REPLAY_MAX)
struct proto_mesh_replay {
    struct {
        uint8_t nonce[PROTO_MESH_NONCE_LEN];
        int64_t time; /* 0: a free slot (no request has time 0) */
    } e[PROTO_MESH_REPLAY_SLOTS];
    size_t n; /* slots in use, forgotten entries not yet swept included */
    uint8_t hash_key[16];
    bool keyed;
};
/* Record r's nonce (r passed proto_mesh_header_check at now, so r->time > 0):
 * 0 (new), -EALREADY (seen: a replay), -EBUSY (table full), -ENOMEM (the sweep
 * could not allocate). */
int proto_mesh_replay_add(struct proto_mesh_replay *t, const struct proto_mesh_request *r,
                          int64_t now);

/* The response key for the request r (both sides compute it): BLAKE2b-256
 * keyed with k->enc over "cratecast-mesh-response-v1\n" NONCE-HEX "\n" TIME. */
void proto_mesh_response_key(const struct proto_mesh_key *k, const struct proto_mesh_request *r,
                             uint8_t out[32]);

/* Sealing a body as a stream, chunk by chunk (the responder). */
struct proto_mesh_sealer {
    crypto_secretstream_xchacha20poly1305_state state;
};
/* Start: writes the PROTO_MESH_STREAM_HEADER bytes to hdr. */
void proto_mesh_seal_init(struct proto_mesh_sealer *s, const uint8_t key[32],
                          uint8_t hdr[PROTO_MESH_STREAM_HEADER]);
/* One chunk of n <= PROTO_MESH_CHUNK plaintext bytes (final: the last one, may
 * be empty) into out, which holds n + PROTO_MESH_CHUNK_OVERHEAD bytes; returns
 * the bytes written. */
size_t proto_mesh_seal_chunk(struct proto_mesh_sealer *s, const uint8_t *in, size_t n, bool final,
                             uint8_t *out);
/* A whole body at once (header and chunks): *out malloc'd (proto/alloc.h),
 * *out_len set. Chunks of PROTO_MESH_CHUNK bytes, the last one shorter (or
 * full) and FINAL; an empty body is one empty FINAL chunk. 0 or -ENOMEM. */
int proto_mesh_seal(const uint8_t key[32], const uint8_t *in, size_t n, uint8_t **out,
                    size_t *out_len);
/* The sealed size of n plaintext bytes as proto_mesh_seal cuts them:
 * 24 + n + 21 * max(1, ceil(n / PROTO_MESH_CHUNK)); UINT64_MAX on overflow. */
uint64_t proto_mesh_sealed_size(uint64_t n);

/* Opening a sealed stream as its bytes arrive (the requester). */
struct proto_mesh_opener {
    crypto_secretstream_xchacha20poly1305_state state;
    uint8_t key[32];
    uint8_t buf[PROTO_MESH_CHUNK + PROTO_MESH_CHUNK_OVERHEAD]; /* a partial header or chunk */
    uint8_t plain[PROTO_MESH_CHUNK]; /* the opened chunk handed to emit (not in place) */
    size_t have;
    bool started, finished, failed;
};
/* emit gets each chunk's plaintext as it opens, never an empty one (return
 * < 0 to stop: that value is returned by proto_mesh_open_feed and the opener
 * is failed). An opener is about 128 KiB: allocate it rather than put it on
 * a stack. */
typedef int (*proto_mesh_emit)(void *ud, const uint8_t *buf, size_t len);
void proto_mesh_open_init(struct proto_mesh_opener *o, const uint8_t key[32]);
/* Feed the next n bytes of the body: 0, or -EBADMSG (a chunk that does not
 * open, a bad length, a tag other than MESSAGE or FINAL, bytes after the
 * final chunk; the opener stays failed and every later feed returns
 * -EBADMSG), or what emit returned. Plaintext already emitted stays the
 * caller's to discard: a body is trusted only when open_end returns 0. A
 * length outside 17..PROTO_MESH_CHUNK+17 fails as soon as its 4 bytes are in. */
int proto_mesh_open_feed(struct proto_mesh_opener *o, const uint8_t *in, size_t n,
                         proto_mesh_emit emit, void *ud);
/* The body ended: 0 when the final chunk was opened and nothing failed,
 * -EBADMSG otherwise (truncated). Wipes the stream state either way. */
int proto_mesh_open_end(struct proto_mesh_opener *o);
/* A whole body at once: *out malloc'd plaintext. 0, -EBADMSG, -ENOMEM. */
int proto_mesh_open(const uint8_t key[32], const uint8_t *in, size_t n, uint8_t **out,
                    size_t *out_len);

#endif
