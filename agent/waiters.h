/* agent/waiters.h — a list of requests parked until some state is known (the
 * upstream's first probe, the first polls of static peers).
 *
 * Ownership: the list head belongs to the module that parks requests; the
 * entries are malloc'd here and freed when released or dropped. cb is called
 * exactly once per entry: by agent_waiters_release (synchronously, from the
 * releasing call), or at once by agent_waiters_add when out of memory; never
 * after agent_waiters_drop (shutdown: the parked work was cancelled already).
 */
#ifndef CRATECAST_AGENT_WAITERS_H
#define CRATECAST_AGENT_WAITERS_H

struct agent;

typedef void (*agent_ready_cb)(struct agent *a, void *ud);

/* One parked request. */
struct agent_waiter {
    struct agent_waiter *next;
    agent_ready_cb cb;
    void *ud;
};
/* Park cb on a list (called at once when out of memory). */
void agent_waiters_add(struct agent *a, struct agent_waiter **list, agent_ready_cb cb, void *ud);
/* Call and free every waiter of a list, in no particular order. */
void agent_waiters_release(struct agent *a, struct agent_waiter **list);
/* Free a list without calling anyone (shutdown). */
void agent_waiters_drop(struct agent_waiter **list);

#endif
