/* tests/fuzz/fuzz-cargo-cache.c — libFuzzer target for Cargo's .cache reader:
 * open, iterate every record (parsing its JSON line as an index line), and
 * re-encode what was read with the put_* encoders to check the round trip. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cargo_cache.h"
#include "proto/index_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_cargo_cache_iter it;
    if (proto_cargo_cache_open(data, size, &it) != 0)
        return 0;
    if (it.cache_version != PROTO_CARGO_CACHE_VERSION || it.header + it.header_len >= data + size)
        abort();

    /* Re-encode into a buffer of the input's size: the encoding is the same
     * bytes, so it must fit exactly and compare equal up to where we stop. */
    uint8_t *out = malloc(size);
    if (out == NULL)
        abort();
    char *hdr = malloc(it.header_len + 1);
    if (hdr == NULL)
        abort();
    memcpy(hdr, it.header, it.header_len);
    hdr[it.header_len] = '\0';
    size_t off = proto_cargo_cache_put_header(it.index_version, hdr, out, size);
    free(hdr);
    if (off != 5 + it.header_len + 1 || off > size)
        abort();

    const uint8_t *v, *l;
    size_t vl, ll;
    int rc;
    while ((rc = proto_cargo_cache_next(&it, &v, &vl, &l, &ll)) == 1) {
        if (v < data || l + ll >= data + size || memchr(v, 0, vl) || memchr(l, 0, ll))
            abort();
        char *vers = malloc(vl + 1);
        if (vers == NULL)
            abort();
        memcpy(vers, v, vl);
        vers[vl] = '\0';
        size_t n = proto_cargo_cache_put_record(vers, l, ll, out + off, size - off);
        free(vers);
        if (n != vl + ll + 2 || n > size - off)
            abort();
        off += n;
        struct proto_index_entry e;
        if (proto_index_line_parse(l, ll, &e) == 0)
            proto_index_entry_clear(&e);
    }
    if (rc == 0 && (off != size || memcmp(out, data, size) != 0))
        abort();
    if (rc != 0 && (rc != -EBADMSG || memcmp(out, data, off) != 0))
        abort();
    free(out);
    return 0;
}
