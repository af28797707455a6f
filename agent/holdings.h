/* agent/holdings.h — what the store holds, as manifest entries (holdings.c).
 * Loop thread only.
 */
#ifndef CRATECAST_AGENT_HOLDINGS_H
#define CRATECAST_AGENT_HOLDINGS_H

#include <stddef.h>
#include <stdint.h>

struct agent;
struct proto_manifest;

/* What the store gained after sequence `since` (0 = everything it holds), as a
 * manifest's crates and index entries (each index entry with the digest and
 * time of the body a peer would receive now), into m->crates/ncrates and
 * m->index/nindex (malloc'd; proto_manifest_clear frees them). -E2BIG when
 * more than `max` crates or names changed; 0 or -errno, with nothing set on
 * error. Read the store's sequence before calling: what is listed is at least
 * what that sequence holds. */
int agent_holdings_since(struct agent *a, uint64_t since, size_t max, struct proto_manifest *m);

#endif
