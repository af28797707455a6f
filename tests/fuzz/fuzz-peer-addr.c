/* tests/fuzz/fuzz-peer-addr.c — libFuzzer target for proto_peer_addr_parse:
 * whatever parses is an IP literal with a port 1..65535 whose canonical form
 * parses back to the same value; nothing is read past the input (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (s == NULL)
        return 0;
    s[0] = '\0';
    if (size)
        memcpy(s, data, size);
    struct proto_peer_addr a, b;
    if (proto_peer_addr_parse(s, size, &a) == 0) {
        char text[PROTO_PEER_ADDR_TEXT_MAX];
        int n = proto_peer_addr_format(&a, text);
        if ((a.family != 4 && a.family != 6) || a.port == 0 || n <= 0 ||
            proto_peer_addr_parse(text, (size_t)n, &b) != 0 || !proto_peer_addr_eq(&a, &b))
            abort();
        if (memchr(s, '/', size) || memchr(s, '@', size) || memchr(s, '?', size))
            abort(); /* no URL syntax ever passes */
    } else if (a.family != 0) {
        abort();
    }
    free(s);
    return 0;
}
