/* agent/fetch.h — single-flight fetches of index files and crates from peers
 * and the upstream, into the store (fetch.c; where a crate comes from next is
 * the pure rule of resolve.h).
 *
 * Ownership: the part's state is allocated zeroed by agent_fetches_new and
 * owned by fetch.c; each transfer (struct agent_fetch) is allocated and freed
 * by fetch.c and shared by everyone waiting for the same file. A caller's
 * agent_fetch_cb runs exactly once, never synchronously from the call that
 * registered it (agent_fetch_index returning 1 means it is not called at all).
 * At shutdown agent_fetch_abort_all calls every waiter with -ECANCELED (the
 * request it belongs to must not be answered) and agent_fetch_close closes the
 * timers; nothing is called after that. `source` passed to a callback is valid
 * only during the call. Loop thread only.
 */
#ifndef CRATECAST_AGENT_FETCH_H
#define CRATECAST_AGENT_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "agent/waiters.h"
#include "proto/sha256.h"

struct agent;
struct agent_fetches;

/* result: 0 done (look in the store), or a negative errno: -EBADMSG bad bytes
 * from the source, -ENOENT not available anywhere, -EIO transfer failure,
 * -EAGAIN (index) the upstream failed for it and no peer had it, -ECANCELED
 * shutdown. source: for a crate that was fetched, where from ("upstream",
 * "peer ADDR"); otherwise NULL. */
typedef agent_done_cb agent_fetch_cb;

struct agent_fetches *agent_fetches_new(void);
/* Make the store's copy of a crate's index file current (when online and
 * stale). Returns 1 when nothing has to be fetched (cb is NOT called), 0 when
 * cb will be called later. */
int agent_fetch_index(struct agent *a, const char *name, agent_fetch_cb cb, void *ud);
/* Fetch one crate's bytes into the store. cb is always called later. */
void agent_fetch_crate(struct agent *a, const char *name, const char *vers,
                       const uint8_t sha[PROTO_SHA256_LEN], agent_fetch_cb cb, void *ud);
size_t agent_fetch_in_flight(const struct agent *a);
/* For relay.c: a reader of the crate transfer of sha in flight now (a new
 * descriptor the caller closes), the bytes it has written (*size) and whether
 * it is itself a relay (*relayed); -ENOENT when none, -EAGAIN while its bytes
 * are being committed (held in a moment), -errno. */
int agent_fetch_relay_reader(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], uint64_t *size,
                             bool *relayed);
/* Fetches waiting for a slot or a neighbour look for a source again. */
void agent_fetch_kick(struct agent *a);
/* At shutdown (see above). */
void agent_fetch_abort_all(struct agent *a);
void agent_fetch_close(struct agent *a);

#endif
