/* agent/activity.h — one log line per Cargo build's worth of crates: what a
 * client (by IP) was sent and where it came from, e.g.
 *   "sent 24 crates (3.1 MB) to 127.0.0.1: 20 from the store, 3 from 2 peers,
 *    1 from the upstream"
 * A client's burst ends when it asks for no crate for ACTIVITY_QUIET_MS; a
 * long one is summed up every ACTIVITY_MAX_MS. At most ACTIVITY_CLIENTS
 * clients are followed at once (more are summed up early).
 *
 * Ownership: the part's state is allocated zeroed by agent_activity_new and
 * owned by activity.c; agent_activity_close sums up what is pending and stops
 * the timer (safe when never used). Loop thread only.
 */
#ifndef CRATECAST_AGENT_ACTIVITY_H
#define CRATECAST_AGENT_ACTIVITY_H

#include <stdint.h>

#define ACTIVITY_QUIET_MS 2000
#define ACTIVITY_MAX_MS 30000
#define ACTIVITY_CLIENTS 16

struct agent;
struct agent_activity;
struct sockaddr;

struct agent_activity *agent_activity_new(void);
/* A crate of size bytes was sent to the client at sa; source as in
 * X-Cratecast-Source: "store", "upstream" or "peer ADDR". */
void agent_activity_crate(struct agent *a, const struct sockaddr *sa, const char *source,
                          uint64_t size);
void agent_activity_close(struct agent *a);

#endif
