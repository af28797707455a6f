/* tests/fuzz/fuzz-peer-hello.c — libFuzzer target for proto_hello_decode.
 * Each input is decoded as it is (envelope, signature: nothing may decode
 * that was not signed) and once more re-signed with a fixed key, so that
 * mutations reach the field checks; what decodes re-encodes to the same
 * bytes. */
#include "fuzz-peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_key_init();
    struct proto_hello h;
    int rc = proto_hello_decode(data, size, &h);
    if (!fuzz_rc_ok(rc))
        abort();
    if (rc == 0 && h.version != PROTO_PEER_VERSION)
        abort();

    size_t wl;
    uint8_t *w = fuzz_resign(data, size, 'H', &wl);
    if (w == NULL)
        return 0;
    rc = proto_hello_decode(w, wl, &h);
    if (rc == -EPERM || !fuzz_rc_ok(rc))
        abort(); /* signed with a valid key: only the fields can be wrong */
    if (rc == 0) {
        uint8_t *again;
        size_t al;
        if (proto_hello_encode(&h, fuzz_sk, &again, &al) != 0)
            abort();
        fuzz_same(w, wl, again, al);
        free(again);
    }
    free(w);
    return 0;
}
