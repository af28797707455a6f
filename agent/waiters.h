/* agent/waiters.h — a list of callers parked until something is known or
 * done: the upstream's first probe, the first polls of static peers, a fetch
 * (fetch.c: everyone waiting for the same file).
 *
 * Ownership: the list (struct agent_waiters, zeroed = empty) belongs to the
 * module that parks callers; entries are allocated here and freed when
 * released or dropped. Each cb is called exactly once, by
 * agent_waiters_release (synchronously, in arrival order), and never after
 * agent_waiters_drop (shutdown: the parked work was cancelled already).
 */
#ifndef CRATECAST_AGENT_WAITERS_H
#define CRATECAST_AGENT_WAITERS_H

struct agent;

/* result: 0 or a negative errno; detail: a text the releasing module
 * documents (NULL when none), valid only during the call. */
typedef void (*agent_done_cb)(struct agent *a, void *ud, int result, const char *detail);

struct agent_waiter;
struct agent_waiters {
    struct agent_waiter *head;
    struct agent_waiter **tail; /* NULL while empty */
};

/* Park cb at the end of l: 0, or -ENOMEM (cb is not parked). */
int agent_waiters_add(struct agent_waiters *l, agent_done_cb cb, void *ud);
/* Park cb, or call it at once (result 0) when out of memory: for waits on a
 * state, where answering early is better than never. */
void agent_waiters_park(struct agent *a, struct agent_waiters *l, agent_done_cb cb, void *ud);
/* Empty l, then call every waiter that was on it in arrival order. */
void agent_waiters_release(struct agent *a, struct agent_waiters *l, int result,
                           const char *detail);
/* Free every entry without calling anyone (shutdown). */
void agent_waiters_drop(struct agent_waiters *l);

#endif
