/* proto/sha256.c — SHA-256 through OpenSSL's EVP interface, and the lower-case
 * hex encoding used for digests in URLs, file names and index lines.
 *
 * EVP is used (rather than libsodium) for its SHA-instruction code path. The
 * incremental API owns one EVP_MD_CTX per hash; final and abort free it, so a
 * struct proto_sha256 is reusable after either. Nothing here allocates memory
 * the caller must free.
 */
#include "proto/sha256.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

int proto_sha256_init(struct proto_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        h->ctx = NULL;
        return -ENOMEM;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        h->ctx = NULL;
        return -ENOMEM;
    }
    h->ctx = ctx;
    return 0;
}

void proto_sha256_update(struct proto_sha256 *h, const void *buf, size_t len)
{
    if (h == NULL || h->ctx == NULL || len == 0)
        return;
    (void)EVP_DigestUpdate(h->ctx, buf, len);
}

void proto_sha256_final(struct proto_sha256 *h, uint8_t out[PROTO_SHA256_LEN])
{
    unsigned int n = 0;
    if (h == NULL || h->ctx == NULL || EVP_DigestFinal_ex(h->ctx, out, &n) != 1 ||
        n != PROTO_SHA256_LEN)
        memset(out, 0, PROTO_SHA256_LEN); /* only after a failed init: never a valid digest */
    proto_sha256_abort(h);
}

void proto_sha256_abort(struct proto_sha256 *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx); /* NULL-safe */
    h->ctx = NULL;
}

void proto_sha256(const void *buf, size_t len, uint8_t out[PROTO_SHA256_LEN])
{
    static const uint8_t empty;
    unsigned int n = 0;
    if (EVP_Digest(len ? buf : (const void *)&empty, len, out, &n, EVP_sha256(), NULL) != 1 ||
        n != PROTO_SHA256_LEN)
        memset(out, 0, PROTO_SHA256_LEN);
}

void proto_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

int proto_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int proto_hex_decode(const char *s, size_t slen, uint8_t *out, size_t outlen)
{
    if (s == NULL || outlen > SIZE_MAX / 2 || slen != 2 * outlen)
        return -EINVAL;
    /* Validate everything before writing, so out is untouched on error. */
    for (size_t i = 0; i < slen; i++)
        if (proto_hex_digit((unsigned char)s[i]) < 0)
            return -EINVAL;
    for (size_t i = 0; i < outlen; i++)
        out[i] = (uint8_t)(proto_hex_digit((unsigned char)s[2 * i]) << 4 |
                           proto_hex_digit((unsigned char)s[2 * i + 1]));
    return 0;
}

bool proto_sha256_hex_valid(const char *s, size_t len)
{
    if (s == NULL || len != PROTO_SHA256_HEX_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (proto_hex_digit((unsigned char)s[i]) < 0)
            return false;
    return true;
}
