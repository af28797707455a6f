/* proto/envelope.h — the signed envelope every peer message travels in
 * (pure; no I/O). The messages themselves are proto/peer.h's.
 *
 * Wire envelope (all integers big-endian):
 *   0   4  magic "CCP1"
 *   4   1  type: 'H' hello, 'M' manifest, 'I' index file, 'N' news
 *   5   1  flags: bit 0 = body is one zstd frame
 *   6   2  reserved, zero
 *   8   4  body length after decompression (capped at PROTO_PEER_BODY_MAX)
 *   12  .. body (compressed when flags bit 0)
 * The body ends with a 64-byte Ed25519 signature over
 *   "cratecast/1/" type "\0" || body-without-signature
 * and begins with the signer's 32-byte public key. The type in the signed
 * bytes (domain separation) means a signature for one message type can never
 * be replayed as another.
 *
 * Both directions work on a scratch buffer of PROTO_ENVELOPE_HEADROOM bytes
 * (where the domain prefix is put) followed by the body, so that neither
 * signing nor verifying copies the body again.
 */
#ifndef CRATECAST_PROTO_ENVELOPE_H
#define CRATECAST_PROTO_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_PK_LEN 32 /* Ed25519 public key */
#define PROTO_SK_LEN 64 /* Ed25519 secret key (libsodium layout) */
#define PROTO_SIG_LEN 64
#define PROTO_PEER_BODY_MAX (32u << 20)
#define PROTO_ENVELOPE_LEN 12
#define PROTO_ENVELOPE_HEADROOM (sizeof "cratecast/1/" - 1 + 2) /* prefix, type, NUL */

/* libsodium ready (sodium_init is idempotent and thread-safe). It fails only
 * when no randomness source can be opened, which nothing here needs: 0, or
 * -ENOMEM as for any resource failure. */
int proto_envelope_ready(void);

/* Whether sk's public half is pk. */
bool proto_envelope_key_matches(const uint8_t sk[PROTO_SK_LEN], const uint8_t pk[PROTO_PK_LEN]);

/* scratch holds PROTO_ENVELOPE_HEADROOM bytes of headroom and then a body of
 * blen bytes (>= PROTO_SIG_LEN) whose last PROTO_SIG_LEN bytes are to be
 * filled: sign it with sk for `type`, then emit the envelope (the body zstd
 * compressed when compress) into a new malloc'd *out. scratch is not freed.
 * 0 or -EINVAL/-EMSGSIZE/-ENOMEM. */
int proto_envelope_seal(uint8_t *scratch, size_t blen, char type, const uint8_t sk[PROTO_SK_LEN],
                        bool compress, uint8_t **out, size_t *outlen);

/* Steps 1-3 of the decode order in proto/peer.c's file comment: the envelope
 * of a message of `type` whose body is at least minbody bytes (minbody >=
 * PROTO_PK_LEN + PROTO_SIG_LEN), its body
 * (decompressed when it is zstd), and the signature by the key at the body's
 * start. On success *scratch is a malloc'd buffer of PROTO_ENVELOPE_HEADROOM +
 * *blen bytes, the verified body at offset PROTO_ENVELOPE_HEADROOM. Else
 * -EBADMSG, -EPROTO, -EMSGSIZE, -EPERM or -ENOMEM, and nothing to free. */
int proto_envelope_open(const uint8_t *buf, size_t len, char type, size_t minbody,
                        uint8_t **scratch, size_t *blen);

#endif
