/* agent/waiters.c — see waiters.h. */
#include <stdlib.h>

#include "agent/waiters.h"
#include "proto/alloc.h"

void agent_waiters_add(struct agent *a, struct agent_waiter **list, agent_ready_cb cb, void *ud)
{
    struct agent_waiter *w = cc_malloc(sizeof *w);
    if (w == NULL) {
        cb(a, ud);
        return;
    }
    w->cb = cb;
    w->ud = ud;
    w->next = *list;
    *list = w;
}

void agent_waiters_release(struct agent *a, struct agent_waiter **list)
{
    struct agent_waiter *w = *list;
    *list = NULL;
    while (w) {
        struct agent_waiter *next = w->next;
        w->cb(a, w->ud);
        free(w);
        w = next;
    }
}

void agent_waiters_drop(struct agent_waiter **list)
{
    while (*list) {
        struct agent_waiter *w = *list;
        *list = w->next;
        free(w);
    }
}
