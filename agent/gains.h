/* agent/gains.h — a holder's log of what its store gained lately, which its
 * news carries to requesters that ask gains=1 (gains.c; pure: the caller
 * queries the store and passes what changed).
 *
 * The log holds everything gained after `base`, up to `top`: each entry is
 * tagged with the store sequence it came with, entries are in sequence order,
 * and an index name appears once, with its latest digest. So for any since
 * with base <= since <= top, the entries tagged after since are exactly what
 * a manifest delta since `since` would list (docs/protocol.md, "Gains in
 * news"). Ownership: the caller owns the struct (zeroed, or after
 * agent_gains_reset); agent_gains_free frees the entries.
 */
#ifndef CRATECAST_AGENT_GAINS_H
#define CRATECAST_AGENT_GAINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/peer.h"

struct agent_gain {
    uint64_t at; /* the store sequence it came with */
    bool is_index;
    struct proto_manifest_crate crate;
    struct proto_manifest_index index;
};

struct agent_gains {
    uint64_t base, top;
    struct agent_gain *v; /* in sequence order */
    size_t n, cap;
    size_t ncrates, nindex;
};

/* Forget every gain: from now on the log reaches back to seq only. */
void agent_gains_reset(struct agent_gains *g, uint64_t seq);
/* The store went from g->top to seq (> g->top), gaining m's crates and index
 * entries. The log then keeps at most `steps` sequence steps and at most `max`
 * crates and `max` index entries, dropping the oldest steps (base moves up to
 * the last one dropped; a single step larger than that empties the log at
 * base = top = seq). 0, or -EINVAL (seq not after top: reset it), -ENOMEM
 * (the log is reset at seq). */
int agent_gains_add(struct agent_gains *g, uint64_t seq, const struct proto_manifest *m,
                    size_t steps, size_t max);
/* Copy the log into crates[] (room for g->ncrates) and index[] (g->nindex). */
void agent_gains_view(const struct agent_gains *g, struct proto_manifest_crate *crates,
                      uint32_t *ncrates, struct proto_manifest_index *index, uint32_t *nindex);
void agent_gains_free(struct agent_gains *g);

#endif
