/* tests/fuzz/fuzz-txt.c — libFuzzer target for proto_txt_decode. The input
 * is read as DNS TXT rdata (a length byte, then that many bytes, repeated; a
 * last string cut short keeps what is there), each string copied to an
 * exact-size heap buffer without a NUL, as avahi hands them over. A record
 * over 1300 bytes must be -EMSGSIZE; what decodes is well-formed and survives
 * an encode/decode round trip. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STRINGS 2048

static void check_hex16(const char *s, bool may_be_empty)
{
    size_t n = strnlen(s, PROTO_KEYID_HEX_LEN + 1);
    if (n == 0 && may_be_empty)
        return;
    if (n != PROTO_KEYID_HEX_LEN)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *strs[MAX_STRINGS];
    static size_t lens[MAX_STRINGS];
    size_t n = 0, off = 0, total = 0;
    while (off < size && n < MAX_STRINGS) {
        size_t l = data[off++];
        if (l > size - off)
            l = size - off;
        strs[n] = malloc(l ? l : 1);
        if (strs[n] == NULL)
            abort();
        if (l)
            memcpy(strs[n], data + off, l);
        lens[n++] = l;
        off += l;
        total += 1 + l;
    }
    struct proto_txt t;
    int rc = proto_txt_decode((const uint8_t *const *)strs, lens, n, &t);
    for (size_t i = 0; i < n; i++)
        free(strs[i]);
    if (rc != 0 && rc != -EBADMSG && rc != -EMSGSIZE)
        abort();
    if ((total > 1300) != (rc == -EMSGSIZE))
        abort();
    if (rc != 0)
        return 0;
    if (t.version == 0)
        abort();
    check_hex16(t.id, false);
    check_hex16(t.net, true);

    char out[4][64];
    int k = proto_txt_encode(&t, out);
    if (k < 3 || k > 4)
        abort();
    const uint8_t *s2[4];
    size_t l2[4];
    for (int i = 0; i < k; i++) {
        s2[i] = (const uint8_t *)out[i];
        l2[i] = strnlen(out[i], 64);
        if (l2[i] == 64)
            abort();
    }
    struct proto_txt u;
    if (proto_txt_decode(s2, l2, (size_t)k, &u) != 0 || u.version != t.version ||
        u.seq != t.seq || strcmp(u.id, t.id) != 0 || strcmp(u.net, t.net) != 0)
        abort();
    return 0;
}
