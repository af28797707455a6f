/* tests/fuzz/fuzz-route.c — libFuzzer target for proto_route_parse. The path
 * is copied to an exact-size heap buffer (no NUL after it), and every accepted
 * route is checked: no component can name anything outside the store. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = calloc(size ? size : 1, 1);
    if (path == NULL)
        abort();
    if (size)
        memcpy(path, data, size);
    struct proto_route r;
    int rc = proto_route_parse(path, size, &r);
    free(path);
    switch (rc) {
    case 0:
        break;
    case -EINVAL:
    case -ENOENT:
        if (size > PROTO_PATH_MAX)
            abort();
        return 0;
    case -ENAMETOOLONG:
        if (size <= PROTO_PATH_MAX)
            abort();
        return 0;
    default:
        abort();
    }
    size_t nl = strnlen(r.name, sizeof r.name), vl = strnlen(r.vers, sizeof r.vers);
    if (nl == sizeof r.name || vl == sizeof r.vers)
        abort();
    switch (r.kind) {
    case PROTO_ROUTE_CONFIG:
    case PROTO_ROUTE_STATUS:
        if (nl || vl)
            abort();
        break;
    case PROTO_ROUTE_INDEX: {
        char p[PROTO_INDEX_PATH_MAX];
        if (!proto_crate_name_valid(r.name, nl) || vl ||
            proto_index_path(r.name, nl, p, sizeof p) < 0)
            abort();
        break;
    }
    case PROTO_ROUTE_CRATE:
        if (!proto_crate_name_valid(r.name, nl) || !proto_version_valid(r.vers, vl))
            abort();
        break;
    case PROTO_ROUTE_PEER_HELLO:
    case PROTO_ROUTE_PEER_CRATE:
        if (nl || vl || r.since)
            abort();
        break;
    case PROTO_ROUTE_PEER_MANIFEST:
        if (nl || vl || r.port || r.wait)
            abort();
        break;
    case PROTO_ROUTE_PEER_NEWS:
        if (nl || vl || r.port || r.wait > PROTO_NEWS_WAIT_MAX)
            abort();
        break;
    case PROTO_ROUTE_WHY:
        if (!proto_crate_name_valid(r.name, nl) || vl || r.since || r.port || r.wait)
            abort();
        break;
    case PROTO_ROUTE_PEER_INDEX:
        if (!proto_crate_name_valid(r.name, nl) || vl || r.since || r.port)
            abort();
        break;
    default:
        abort();
    }
    return 0;
}
