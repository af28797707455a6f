/* tests/fuzz/fuzz-peer-index.c — libFuzzer target for
 * proto_peer_index_decode. Each input is decoded as it is and once more
 * re-signed with a fixed key; what decodes has a valid lower-case name and
 * lines without NUL inside the owned buffer, and re-encodes to the same
 * bytes. */
#include "fuzz-peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct proto_peer_index *x, const uint8_t *owned)
{
    size_t n = strnlen(x->name, sizeof x->name);
    if (owned == NULL || x->lines == NULL || n == sizeof x->name ||
        !proto_crate_name_valid(x->name, n))
        abort();
    for (size_t i = 0; i < n; i++)
        if (x->name[i] >= 'A' && x->name[i] <= 'Z')
            abort();
    if (x->len && memchr(x->lines, 0, x->len) != NULL)
        abort();
    /* the lines lie inside the owned buffer: touching every byte lets ASan
     * check it */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < x->len; i++)
        sink ^= x->lines[i];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_key_init();
    struct proto_peer_index x;
    uint8_t *owned;
    int rc = proto_peer_index_decode(data, size, &x, &owned);
    if (!fuzz_rc_ok(rc) || (rc != 0 && owned != NULL))
        abort();
    if (rc == 0)
        check(&x, owned);
    free(owned);

    size_t wl;
    uint8_t *w = fuzz_resign(data, size, 'I', &wl);
    if (w == NULL)
        return 0;
    rc = proto_peer_index_decode(w, wl, &x, &owned);
    if (rc == -EPERM || rc == -EPROTO || !fuzz_rc_ok(rc))
        abort();
    if (rc == 0) {
        check(&x, owned);
        uint8_t *again;
        size_t al;
        if (proto_peer_index_encode(&x, fuzz_sk, false, &again, &al) != 0)
            abort();
        fuzz_same(w, wl, again, al);
        free(again);
    }
    free(owned);
    free(w);
    return 0;
}
