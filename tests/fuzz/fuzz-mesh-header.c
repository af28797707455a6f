/* tests/fuzz/fuzz-mesh-header.c — libFuzzer target for proto_mesh_header_parse
 * and proto_mesh_header_check. Checks what holds for every input: only 0 or
 * -EINVAL; an accepted value is the canonical "v1 TIME NONCE MAC" up to the
 * case of its hex; a header made with the parsed time and nonce parses back
 * to them and passes the check; the input's check at its own time answers
 * 0 exactly when its MAC is the one the key makes, -EPERM otherwise. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mesh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct proto_mesh_key k;
    static int ready;
    if (!ready) {
        uint8_t key[PROTO_MESH_KEY_LEN];
        for (int i = 0; i < PROTO_MESH_KEY_LEN; i++)
            key[i] = (uint8_t)i;
        proto_mesh_key_init(&k, key);
        ready = 1;
    }
    struct proto_mesh_request r;
    int rc = proto_mesh_header_parse((const char *)data, size, &r);
    if (rc != 0 && rc != -EINVAL)
        abort();
    if (rc != 0)
        return 0;
    if (r.time < 0)
        abort();

    static const char path[] = "/peer/1/manifest?since=3";
    int c = proto_mesh_header_check(&k, &r, "GET", path, sizeof path - 1, r.time);
    if (c != 0 && c != -EPERM)
        abort();

    char h[PROTO_MESH_HEADER_MAX];
    size_t hl = proto_mesh_header_make(&k, "GET", path, sizeof path - 1, r.time, r.nonce, h);
    if (hl >= PROTO_MESH_HEADER_MAX || h[hl] != '\0' || hl != size)
        abort();
    /* same text up to case, but for the MAC (the last 64 characters) */
    for (size_t i = 0; i + 64 < hl; i++)
        if (lower((char)data[i]) != h[i])
            abort();
    struct proto_mesh_request m;
    if (proto_mesh_header_parse(h, hl, &m) != 0 || m.time != r.time ||
        memcmp(m.nonce, r.nonce, sizeof m.nonce) != 0)
        abort();
    if (proto_mesh_header_check(&k, &m, "GET", path, sizeof path - 1, r.time) != 0)
        abort();
    if ((c == 0) != (memcmp(m.mac, r.mac, sizeof m.mac) == 0))
        abort();
    return 0;
}
