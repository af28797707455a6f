/* tests/fuzz/fuzz-route.c — libFuzzer target for proto_route_parse. The path
 * is copied to an exact-size heap buffer (no NUL after it), and every accepted
 * route is checked: no component can name anything outside the store. A peer
 * route is built again (proto_route_peer_path) and must parse back to the
 * same route; no other route can be built. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rebuilt(const struct proto_route *r)
{
    char path[PROTO_PATH_MAX + 1];
    int n = proto_route_peer_path(r, path, sizeof path);
    bool peer = r->kind == PROTO_ROUTE_PEER_HELLO || r->kind == PROTO_ROUTE_PEER_MANIFEST ||
                r->kind == PROTO_ROUTE_PEER_INDEX || r->kind == PROTO_ROUTE_PEER_CRATE ||
                r->kind == PROTO_ROUTE_PEER_NEWS;
    if (!peer) {
        if (n != -EINVAL)
            abort();
        return;
    }
    struct proto_route b;
    if (n <= 0 || proto_route_parse(path, (size_t)n, &b) != 0 || memcmp(&b, r, sizeof b) != 0)
        abort(); /* both zeroed by proto_route_parse before it fills them: padding too */
}

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
    case PROTO_ROUTE_PAGE:
    case PROTO_ROUTE_METRICS:
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
    check_rebuilt(&r);
    return 0;
}
