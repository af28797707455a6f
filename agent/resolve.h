/* agent/resolve.h — where a crate comes from next: the decision fetch.c makes
 * each time a crate fetch looks for a source (at start, after a failed source,
 * when news, a free slot or a delay wakes it). Pure: the caller describes the
 * room as it is now and the time; the decision and the little state it keeps
 * between looks are here, unit-tested with a fake clock
 * (tests/unit/test-agent-resolve.c).
 *
 * The rule, in order:
 *   1. With at most one holder (a teacher, or none and the upstream), a live
 *      neighbour announcing that it is fetching the crate is asked to pass it
 *      on as it arrives (relay.h) when one offers that and may be asked now;
 *      otherwise it is waited for (up to RESOLVE_NEIGHBOUR_WAIT_MS from the
 *      first such look), and so is a neighbour whose newer manifest is not
 *      applied yet once we were waiting: the single source then sends the
 *      crate about once to the room.
 *   2. Still with at most one holder, when a neighbour comes first in the
 *      rendezvous order for this crate (it is asked for the same crates now),
 *      it gets a deferral once to announce the crate (resolve_defer_ms); then
 *      rule 1 holds. RESOLVE_DEFER_HOLDER_MS when the one holder is a peer (a
 *      teacher: the designated classmate takes its share of the crates first,
 *      one or two at a time, and announces each as it starts),
 *      RESOLVE_DEFER_MS when it is the upstream (colleagues asked at the same
 *      moment announce at once; an idle one costs every fetch the wait).
 *   3. A holder that may be asked now (peer_select_take) is asked.
 *   4. A holder passed over only for now (at its bound, busy, behind an honest
 *      one) is waited for, up to RESOLVE_SLOT_WAIT_MS from the fetch's start:
 *      busy is never a failure while someone can still deliver.
 *   5. Online with the upstream's dl template: the upstream; but first, once,
 *      RESOLVE_SETTLE_MS when a neighbour may be asked for it too (fetch.c:
 *      with the upstream as the only source, any live neighbour), so
 *      that its news that it already started on this crate, on its way, lands
 *      (then rule 1 holds): two agents asked for one crate within a news round
 *      trip would otherwise both fetch it. The settle is shorter than the
 *      deferral of rule 2, so a designated neighbour that settles still
 *      announces within a deferring one's wait.
 *   6. Otherwise nobody can deliver: the fetch ends with its last error.
 *
 * Memory: plain data embedded in the fetch; nothing to free.
 */
#ifndef CRATECAST_AGENT_RESOLVE_H
#define CRATECAST_AGENT_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESOLVE_SLOT_WAIT_MS 25000      /* a crate waits this long at most for a busy holder */
#define RESOLVE_NEIGHBOUR_WAIT_MS 20000 /* ... and this long for a neighbour fetching it */
#define RESOLVE_DEFER_MS 50 /* a neighbour designated for a crate gets this long to go first */
#define RESOLVE_DEFER_HOLDER_MS 200 /* ... when a peer is the single holder (rule 2) */
#define RESOLVE_SETTLE_MS 20        /* before the upstream, with an active neighbour (rule 5) */

enum resolve_step {
    RESOLVE_WAIT_NEIGHBOUR, /* park until news or a manifest wakes the fetch */
    RESOLVE_DEFER,          /* park for resolve_defer_ms(view) */
    RESOLVE_PEER,           /* ask the holder peer_select_take chose */
    RESOLVE_RELAY,          /* ask a neighbour fetching it to pass it on as it arrives */
    RESOLVE_WAIT_SLOT,      /* park until a slot frees or a back-off ends */
    RESOLVE_SETTLE,         /* park for RESOLVE_SETTLE_MS, then look again (rule 5) */
    RESOLVE_UPSTREAM,       /* the upstream's dl URL */
    RESOLVE_FAIL,           /* nobody can deliver */
};

/* What a fetch remembers between looks. */
struct resolve_crate {
    uint64_t created_ms;      /* the fetch started */
    uint64_t neighbour_since; /* it began waiting for a neighbour (0: never) */
    bool deferred;            /* it gave a designated neighbour RESOLVE_DEFER_MS already */
    bool settled;             /* it waited RESOLVE_SETTLE_MS before the upstream already */
};

/* The room as it is at this look. */
struct resolve_view {
    size_t holders;            /* live holders of the crate (one per key) */
    bool neighbour_fetching;   /* a live neighbour says it is fetching the crate now */
    bool manifest_due;         /* a live neighbour's newer manifest is not applied yet */
    bool designated_elsewhere; /* a neighbour comes first in the rendezvous order */
    bool relay_ready;          /* a neighbour fetching it relays and may be asked now */
    bool peer_ready;           /* peer_select_take found a holder to ask now */
    bool saturated;            /* ... or passed one over only for now */
    bool upstream;             /* online, with the upstream's dl template */
    bool neighbour_active;     /* a live neighbour with news is fetching something now */
};

void resolve_crate_init(struct resolve_crate *r, uint64_t now_ms);
/* The next step, by the rule above; updates r (the neighbour wait's start, the
 * one deferral). */
enum resolve_step resolve_crate_next(struct resolve_crate *r, const struct resolve_view *v,
                                     uint64_t now_ms);
/* How long RESOLVE_DEFER parks, for the room as v describes it (rule 2). */
uint64_t resolve_defer_ms(const struct resolve_view *v);
const char *resolve_step_name(enum resolve_step s);

#endif
