/* agent/evict.h — the agent keeps its store under --max-size: it evicts
 * least-recently-used crates (prefetched ones last) when the store's crates
 * pass the limit (store_evict, store/evict.c), checking every
 * EVICT_INTERVAL_S seconds and soon after crates arrive.
 *
 * The eviction runs on the libuv thread pool with its own store connection
 * (it fsyncs and unlinks; the loop keeps serving). Its result is logged at
 * info and the store's sequence moves, so the manifest drops the evicted
 * crates: a peer whose manifest predates the eviction gets a full one
 * (agent_manifest_get). One eviction at a time.
 *
 * Ownership: the part's state is allocated zeroed by agent_evict_new and owned
 * by evict.c. agent_evict_close stops the timer (safe when init never ran); an
 * eviction still running on the pool is left to finish or to process exit
 * (store_evict is crash-safe). Loop thread only.
 */
#ifndef CRATECAST_AGENT_EVICT_H
#define CRATECAST_AGENT_EVICT_H

#include <stdint.h>

#define EVICT_INTERVAL_S 60

struct agent;
struct agent_evict;

struct agent_evict *agent_evict_new(void);
/* Start checking (nothing happens without --max-size). */
void agent_evict_init(struct agent *a);
void agent_evict_close(struct agent *a);
/* Crates were added: check within a few seconds. */
void agent_evict_soon(struct agent *a);

#endif
