/* agent/waiters.c — see waiters.h. */
#include <errno.h>
#include <stdlib.h>

#include "agent/waiters.h"
#include "proto/alloc.h"

struct agent_waiter {
    struct agent_waiter *next;
    agent_done_cb cb;
    void *ud;
};

int agent_waiters_add(struct agent_waiters *l, agent_done_cb cb, void *ud)
{
    struct agent_waiter *w = cc_malloc(sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    w->next = NULL;
    w->cb = cb;
    w->ud = ud;
    *(l->tail ? l->tail : &l->head) = w;
    l->tail = &w->next;
    return 0;
}

void agent_waiters_park(struct agent *a, struct agent_waiters *l, agent_done_cb cb, void *ud)
{
    if (agent_waiters_add(l, cb, ud) < 0)
        cb(a, ud, 0, NULL);
}

void agent_waiters_release(struct agent *a, struct agent_waiters *l, int result, const char *detail)
{
    struct agent_waiter *w = l->head;
    l->head = NULL;
    l->tail = NULL;
    while (w) {
        struct agent_waiter *next = w->next;
        w->cb(a, w->ud, result, detail);
        free(w);
        w = next;
    }
}

void agent_waiters_drop(struct agent_waiters *l)
{
    struct agent_waiter *w = l->head;
    l->head = NULL;
    l->tail = NULL;
    while (w) {
        struct agent_waiter *next = w->next;
        free(w);
        w = next;
    }
}
