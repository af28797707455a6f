/* agent/listing.h — which versions of a crate the Cargo side lists offline.
 *
 * The rule (docs/operations.md, "Offline listing"): offline, the agent lists
 * every version it can deliver (in this store or at a live peer), and for each
 * compatible range (proto/semver.h) in which it can deliver no non-yanked
 * version, every version of that range as well.
 *
 * Why: Cargo resolves for every target, so it needs index entries for crates
 * it will never download here (winapi on Linux); listing a whole range where
 * nothing is deliverable lets such a requirement resolve, and Cargo fails only
 * if it really downloads one. Where something in the range is deliverable,
 * listing only that makes Cargo pick it instead of a newer version nobody can
 * send. Versions that are not semver each form their own range.
 *
 * Pure: no I/O, no agent state; the Cargo side, the peer side, the manifest
 * and `why` call it.
 */
#ifndef CRATECAST_AGENT_LISTING_H
#define CRATECAST_AGENT_LISTING_H

#include <stdbool.h>
#include <stddef.h>

struct store_index_list;

struct agent_listing_version {
    const char *vers; /* NUL-terminated */
    bool yanked;
    bool available; /* can be delivered: here or at a live peer */
    bool listed;    /* out: served to Cargo offline */
};

/* Sets v[i].listed for every i by the rule above. Returns how many versions
 * are withheld (not listed). O(n * ranges). */
size_t agent_listing_offline(struct agent_listing_version *v, size_t n);

/* A crate's index file as served (to Cargo, to peers, in the manifest's
 * digest): every row's original line + '\n', in arrival order; with keep !=
 * NULL, just the rows i where keep[i]. malloc'd (NULL when no row is kept or
 * out of memory, *len = 0). */
char *agent_index_body(const struct store_index_list *l, const bool *keep, size_t *len);

#endif
