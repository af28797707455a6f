/* agent/upstream.h — the upstream registry: online/offline state, probing,
 * config.json (upstream.c; the pure state machine is upstream_state.h).
 *
 * Ownership: the part's state (struct agent_upstream) is allocated zeroed by
 * agent_upstream_new and owned by upstream.c; agent_upstream_init starts it,
 * agent_upstream_close stops it (safe when init never ran, and twice).
 * Callbacks given to agent_upstream_when_ready run exactly once: at once
 * (synchronously) when the state is known, else when the first probe answers;
 * never after close (parked ones are dropped: the work they belong to was
 * cancelled first). Loop thread only.
 */
#ifndef CRATECAST_AGENT_UPSTREAM_H
#define CRATECAST_AGENT_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/upstream_state.h"
#include "agent/waiters.h"

struct agent;
struct agent_upstream;

struct agent_upstream *agent_upstream_new(void);
int agent_upstream_init(struct agent *a, const char *url);
void agent_upstream_close(struct agent *a);
bool agent_upstream_online(const struct agent *a);
enum upstream_state agent_upstream_state(const struct agent *a);
/* The index root URL with a trailing '/' (NULL with --upstream none), the dl
 * template of its config.json (NULL until one was read), the last failure
 * (NULL if none), the unix time of the last state change. Valid until the
 * next event of the upstream (a probe's answer can replace dl). */
const char *agent_upstream_base(const struct agent *a);
const char *agent_upstream_dl(const struct agent *a);
const char *agent_upstream_last_error(const struct agent *a);
int64_t agent_upstream_since(const struct agent *a);
/* Call cb once the upstream state is known (see above). */
void agent_upstream_when_ready(struct agent *a, agent_done_cb cb, void *ud);
/* Offline and asked for something: probe now (rate-limited), so a healed
 * uplink is noticed at once. The request itself is answered offline. */
void agent_upstream_nudge(struct agent *a);
/* A transfer failed for a reason that says the upstream is unreachable. */
void agent_upstream_failed(struct agent *a, const char *why);
/* Absolute URL of a path below the index root (just rel with --upstream
 * none): its length, or -ENAMETOOLONG. */
int agent_upstream_url(const struct agent *a, const char *rel, char *out, size_t outsz);
const char *agent_upstream_state_name(const struct agent *a);

#endif
