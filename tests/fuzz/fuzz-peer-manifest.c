/* tests/fuzz/fuzz-peer-manifest.c — libFuzzer target for
 * proto_manifest_decode. Each input is decoded as it is and once more
 * re-signed with a fixed key, so that mutations reach the count caps, names
 * and peer addresses; what decodes obeys every cap and re-encodes to the same
 * bytes, and its compressed encoding decodes too. */
#include "fuzz-peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct proto_manifest *m)
{
    if (m->ncrates > PROTO_MANIFEST_CRATES_MAX || m->nindex > PROTO_MANIFEST_INDEX_MAX ||
        m->npex > PROTO_PEX_MAX || m->since > m->seq)
        abort();
    if ((m->ncrates != 0) != (m->crates != NULL) || (m->nindex != 0) != (m->index != NULL) ||
        (m->npex != 0) != (m->pex != NULL))
        abort();
    for (uint32_t i = 0; i < m->nindex; i++) {
        size_t n = strnlen(m->index[i].name, sizeof m->index[i].name);
        if (n == sizeof m->index[i].name || !proto_crate_name_valid(m->index[i].name, n))
            abort();
    }
    for (uint32_t i = 0; i < m->npex; i++)
        if (strnlen(m->pex[i], sizeof m->pex[i]) == sizeof m->pex[i])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_key_init();
    struct proto_manifest m;
    int rc = proto_manifest_decode(data, size, &m);
    if (!fuzz_rc_ok(rc))
        abort();
    if (rc == 0)
        check(&m);
    proto_manifest_clear(&m);

    size_t wl;
    uint8_t *w = fuzz_resign(data, size, 'M', &wl);
    if (w == NULL)
        return 0;
    rc = proto_manifest_decode(w, wl, &m);
    if (rc == -EPERM || rc == -EPROTO || !fuzz_rc_ok(rc))
        abort();
    if (rc == 0) {
        check(&m);
        uint8_t *again;
        size_t al;
        if (proto_manifest_encode(&m, fuzz_sk, false, &again, &al) != 0)
            abort();
        fuzz_same(w, wl, again, al);
        free(again);
        if (proto_manifest_encode(&m, fuzz_sk, true, &again, &al) != 0)
            abort();
        struct proto_manifest z;
        if (proto_manifest_decode(again, al, &z) != 0 || z.ncrates != m.ncrates ||
            z.nindex != m.nindex || z.npex != m.npex)
            abort();
        proto_manifest_clear(&z);
        free(again);
    }
    proto_manifest_clear(&m);
    free(w);
    return 0;
}
