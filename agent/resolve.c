/* agent/resolve.c — see resolve.h. */
#include <string.h>

#include "agent/resolve.h"

void resolve_crate_init(struct resolve_crate *r, uint64_t now_ms)
{
    memset(r, 0, sizeof *r);
    r->created_ms = now_ms;
}

enum resolve_step resolve_crate_next(struct resolve_crate *r, const struct resolve_view *v,
                                     uint64_t now_ms)
{
    if (v->holders <= 1) {
        if (v->neighbour_fetching && v->relay_ready)
            return RESOLVE_RELAY;
        if (v->neighbour_fetching || (r->neighbour_since != 0 && v->manifest_due)) {
            if (r->neighbour_since == 0)
                r->neighbour_since = now_ms;
            if (now_ms - r->neighbour_since < RESOLVE_NEIGHBOUR_WAIT_MS)
                return RESOLVE_WAIT_NEIGHBOUR;
        }
        if (!r->deferred && v->designated_elsewhere) {
            r->deferred = true;
            return RESOLVE_DEFER;
        }
    }
    if (v->peer_ready)
        return RESOLVE_PEER;
    if (v->saturated && now_ms - r->created_ms < RESOLVE_SLOT_WAIT_MS)
        return RESOLVE_WAIT_SLOT;
    if (v->upstream) {
        if (!r->settled && v->neighbour_active && v->holders <= 1) {
            r->settled = true;
            return RESOLVE_SETTLE;
        }
        return RESOLVE_UPSTREAM;
    }
    return RESOLVE_FAIL;
}

uint64_t resolve_defer_ms(const struct resolve_view *v)
{
    return v->holders ? RESOLVE_DEFER_HOLDER_MS : RESOLVE_DEFER_MS;
}

const char *resolve_step_name(enum resolve_step s)
{
    switch (s) {
    case RESOLVE_WAIT_NEIGHBOUR:
        return "wait-neighbour";
    case RESOLVE_DEFER:
        return "defer";
    case RESOLVE_PEER:
        return "peer";
    case RESOLVE_RELAY:
        return "relay";
    case RESOLVE_WAIT_SLOT:
        return "wait-slot";
    case RESOLVE_SETTLE:
        return "settle";
    case RESOLVE_UPSTREAM:
        return "upstream";
    case RESOLVE_FAIL:
        return "fail";
    }
    return "?";
}
