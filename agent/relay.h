/* agent/relay.h — passing a crate on to a peer while it is still arriving.
 *
 * A classmate asks this agent for a crate it is fetching right now (its news
 * says so). Rather than "not held", the peer side answers 200 at once and
 * sends the bytes as the transfer writes them (a reader of the blob writer's
 * temporary file), ending when the transfer ends: the body is complete when
 * the transfer brought every byte, cut off (an error, so the requester's
 * transfer fails) when it failed. The bytes are not verified here: the
 * requester checks the digest against its trusted cksum, as it does for every
 * source, before anything is stored. Big crates then travel down a chain of
 * classmates at once instead of one whole hop after another (issue 7).
 *
 * A transfer that is itself a relay answers only once its first byte has
 * arrived: its source might be relaying from us, and a ring of classmates
 * relaying from each other would wait on itself until the low-speed timeout.
 * Every member of a ring has no byte, so a request held longer than
 * RELAY_HOLD_MS without one is answered 404 ("not held": the requester asks
 * elsewhere), and the ring comes apart within that time.
 *
 * Ownership: a relay lives in its request's memory pool and is unlinked and
 * its descriptor closed when h2o disposes of the request; nothing is sent
 * after that. At most RELAY_MAX relays run at once. Loop thread only.
 */
#ifndef CRATECAST_AGENT_RELAY_H
#define CRATECAST_AGENT_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#define RELAY_MAX 16
#define RELAY_HOLD_MS 300 /* a relay of a relay waits this long for its first byte */

struct agent;
struct st_h2o_req_t;
struct agent_relays;

struct agent_relays *agent_relays_new(void);

/* Answer req with the crate being fetched now: 0 (the answer has started), or
 * -ENOENT (no transfer of it in flight), -EBUSY (RELAY_MAX reached), -errno. */
int agent_relay_start(struct agent *a, struct st_h2o_req_t *req, const uint8_t sha[32]);
/* The transfer of sha has written size bytes so far. */
void agent_relay_progress(struct agent *a, const uint8_t sha[32], uint64_t size);
/* The transfer of sha ended: complete (every byte written: relays finish) or
 * not (relays are cut off). */
void agent_relay_end(struct agent *a, const uint8_t sha[32], bool complete);
/* At shutdown: the timer of held requests is closed. */
void agent_relay_close(struct agent *a);
/* Relays running now. */
unsigned agent_relay_count(const struct agent *a);

#endif
