/* proto/sha256.h — SHA-256 and hex helpers (OpenSSL EVP; pure, no I/O).
 *
 * SHA-256 goes through OpenSSL's EVP interface because it uses the CPU's SHA
 * instructions (4-5x libsodium on this hardware, see docs/performance.md).
 * All functions are thread-safe and allocate nothing the caller must free.
 */
#ifndef CRATECAST_PROTO_SHA256_H
#define CRATECAST_PROTO_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_SHA256_LEN 32
#define PROTO_SHA256_HEX_LEN 64

/* Incremental hashing. ctx is opaque (an EVP_MD_CTX). */
struct proto_sha256 {
    void *ctx;
};
int proto_sha256_init(struct proto_sha256 *h); /* 0 or -ENOMEM */
void proto_sha256_update(struct proto_sha256 *h, const void *buf, size_t len);
void proto_sha256_final(struct proto_sha256 *h, uint8_t out[PROTO_SHA256_LEN]); /* frees ctx */
void proto_sha256_abort(struct proto_sha256 *h); /* frees ctx; NULL-safe */

/* One-shot. */
void proto_sha256(const void *buf, size_t len, uint8_t out[PROTO_SHA256_LEN]);

/* Lower-case hex of n bytes into out (2n chars + NUL). */
void proto_hex_encode(const uint8_t *in, size_t n, char *out);

/* Decode exactly 2*outlen hex digits (either case). 0, or -EINVAL. */
int proto_hex_decode(const char *s, size_t slen, uint8_t *out, size_t outlen);

/* The value of one hex digit (either case), or -1. */
int proto_hex_digit(unsigned char c);

/* True when s is exactly 64 hex digits (either case). */
bool proto_sha256_hex_valid(const char *s, size_t len);

#endif
