/* agent/peer_select.h — which holder to ask for a crate: the order of the
 * holders and the bound on transfers per holder, as pure functions over a
 * description of each candidate (no loop, no clock: the caller says what is
 * busy), unit-tested in tests/unit/test-agent-peer-select.c. peers.c orders
 * the holders of a crate with peer_select_order; fetch.c takes the first it
 * may ask now with peer_select_take.
 *
 * Memory: the caller owns the arrays; nothing is allocated or kept.
 */
#ifndef CRATECAST_AGENT_PEER_SELECT_H
#define CRATECAST_AGENT_PEER_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_SELECT_MAX 64 /* candidates ordered at most (the rest are dropped) */

struct peer_cand {
    void *ref;            /* the caller's peer, carried along */
    const uint8_t *key;   /* its identity (32 bytes): one candidate per key */
    unsigned penalty;     /* bad bytes or signatures it sent */
    unsigned inflight;    /* our transfers from it now */
    unsigned remote_load; /* uploads it reports running plus waiting (news) */
    size_t ncrates;       /* crates its manifest lists */
    double ms_per_mb;     /* its measured cost so far (0: unknown) */
    uint32_t noise;       /* 0..99: spreads candidates that score the same */
    bool tried;           /* this fetch asked it already */
    bool busy;            /* it said busy a moment ago: asked again after a back-off */
};

/* Sort best first and keep one candidate per key (the best of a machine known
 * under two addresses). Lower score is better; in order of weight:
 * misbehaviour, our own transfers from it, the load it reports, the share of
 * crates it holds (a teacher holding everything is the sole source of what the
 * others still need: a classmate holding the crate is asked first), the
 * measured cost, then the noise. Returns the number kept (<= PEER_SELECT_MAX). */
size_t peer_select_order(struct peer_cand *v, size_t n);

/* The index of the first candidate (in v's order) this fetch may ask now:
 * not tried yet, not busy, fewer than inflight_max transfers from it, and no
 * penalised candidate while an honest one is untried (even a busy one: a peer
 * that lied waits behind every honest holder). The room's sole source (it
 * holds the most crates, another holder fewer: a teacher) is not asked while
 * an honest classmate holding the crate was passed over only for now: its
 * slot frees within a transfer, and the teacher's link is what every student
 * still needs. -1 when none; *saturated tells whether one was passed over only
 * for now (at its bound, busy, behind an honest one, or the sole source behind
 * a classmate), so waiting can help. */
int peer_select_take(const struct peer_cand *v, size_t n, unsigned inflight_max, bool *saturated);

#endif
