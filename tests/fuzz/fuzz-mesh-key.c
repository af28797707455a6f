/* tests/fuzz/fuzz-mesh-key.c — libFuzzer target for proto_mesh_key_decode.
 * Checks what holds for every input: only 0, -EINVAL or -EBADMSG; the key is
 * written only on success; an accepted text, with surrounding whitespace and
 * its dashes dropped and its letters lowered, is exactly the canonical
 * encoding without dashes (one key, one spelling up to case and dashes); and
 * the canonical encoding decodes to the same key. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mesh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t squeeze(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
            continue;
        out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t key[PROTO_MESH_KEY_LEN], again[PROTO_MESH_KEY_LEN];
    memset(key, 0xa5, sizeof key);
    int rc = proto_mesh_key_decode((const char *)data, size, key);
    if (rc != 0 && rc != -EINVAL && rc != -EBADMSG)
        abort();
    if (rc != 0) {
        for (size_t i = 0; i < sizeof key; i++)
            if (key[i] != 0xa5)
                abort();
        return 0;
    }
    char text[PROTO_MESH_KEY_TEXT_MAX];
    size_t n = proto_mesh_key_encode(key, text);
    if (n != 73 || text[n] != '\0')
        abort();
    if (proto_mesh_key_decode(text, n, again) != 0 || memcmp(key, again, sizeof key) != 0)
        abort();
    char *a = malloc(size + 1), b[PROTO_MESH_KEY_TEXT_MAX];
    if (a == NULL)
        abort();
    size_t an = squeeze((const char *)data, size, a), bn = squeeze(text, n, b);
    if (an != bn || memcmp(a, b, an) != 0)
        abort();
    free(a);
    return 0;
}
