/* tests/fuzz/fuzz-peer-news.c — libFuzzer target for proto_news_decode. Each
 * input is decoded as it is (nothing unsigned may decode) and once more
 * re-signed with a fixed key so mutations reach the field checks; what decodes
 * re-encodes to the same bytes, within the caps. */
#include "fuzz-peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_key_init();
    struct proto_news n;
    int rc = proto_news_decode(data, size, &n);
    if (!fuzz_rc_ok(rc))
        abort();
    if (rc == 0)
        proto_news_clear(&n);
    else if (n.fetching != NULL || n.peers != NULL || n.nfetching || n.npeers ||
             n.gained != NULL || n.gained_index != NULL || n.ngained || n.ngained_index)
        abort(); /* nothing left behind on error */

    size_t wl;
    uint8_t *w = fuzz_resign(data, size, 'N', &wl);
    if (w == NULL)
        return 0;
    rc = proto_news_decode(w, wl, &n);
    if (rc == -EPERM || !fuzz_rc_ok(rc))
        abort();
    if (rc == 0) {
        if (n.nfetching > PROTO_NEWS_FETCHING_MAX || n.npeers > PROTO_NEWS_PEERS_MAX ||
            n.ngained > PROTO_NEWS_GAINS_MAX || n.ngained_index > PROTO_NEWS_GAINS_MAX ||
            (n.has_gains && n.gains_since > n.seq) ||
            (!n.has_gains && (n.ngained || n.ngained_index)))
            abort();
        for (uint32_t i = 0; i < n.npeers; i++) {
            char text[PROTO_PEER_ADDR_TEXT_MAX];
            struct proto_peer_addr back;
            int tl = proto_peer_addr_format(&n.peers[i], text);
            if (tl < 0 || proto_peer_addr_parse(text, (size_t)tl, &back) != 0 ||
                !proto_peer_addr_eq(&back, &n.peers[i]))
                abort();
        }
        uint8_t *again;
        size_t al;
        if (proto_news_encode(&n, fuzz_sk, &again, &al) != 0)
            abort();
        fuzz_same(w, wl, again, al);
        free(again);
        proto_news_clear(&n);
    }
    free(w);
    return 0;
}
