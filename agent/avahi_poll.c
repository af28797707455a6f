/* agent/avahi_poll.c — Avahi's watches and timeouts on the libuv loop
 * (agent/avahi_poll.h).
 *
 * An AvahiPoll adapter over libuv. An AvahiWatch maps onto a uv_poll_t,
 * but libdbus watches one socket twice (a read and a write watch) and
 * libuv allows one uv_poll_t per fd, so watches on one fd share one
 * `struct uvp_fd` whose poll mask is the union of theirs. An AvahiTimeout
 * is a one-shot uv_timer_t (Avahi passes absolute gettimeofday times; we
 * round the delay up and call uv_update_time() first so nothing fires
 * early). Handles are freed only in their close callbacks; a watch freed
 * while its fd is dispatching is only marked dead and swept afterwards.
 */
#include "agent/avahi_poll.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <avahi-common/timeval.h>

#include "agent/log.h"
#include "proto/alloc.h"

#define uvp_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct AvahiWatch {
    struct uvp_fd *pf;
    AvahiWatchEvent want; /* what Avahi asked for */
    AvahiWatchEvent got;  /* what the current callback is being told */
    AvahiWatchCallback cb;
    void *ud;
    bool dead; /* freed by Avahi during a dispatch; swept after it */
    AvahiWatch *next;
};

/* All watches on one fd share one uv_poll_t. */
struct uvp_fd {
    uv_poll_t h;
    struct uvp *p;
    int fd;
    int active; /* uv events the handle is started with */
    unsigned dispatching;
    AvahiWatch *watches;
    struct uvp_fd *next; /* in p->fds while not closing */
};

struct AvahiTimeout {
    uv_timer_t h;
    struct uvp *p;
    AvahiTimeoutCallback cb;
    void *ud;
    AvahiTimeout *prev, *next;
};

/* Every handle's close callback ends here; the owner may free p in closed(). */
static void uvp_handle_closed(struct uvp *p)
{
    p->open_handles--;
    if (p->closed != NULL)
        p->closed(p);
}

static int uvp_to_uv(AvahiWatchEvent ev)
{
    int m = 0;
    if (ev & AVAHI_WATCH_IN)
        m |= UV_READABLE;
    if (ev & AVAHI_WATCH_OUT)
        m |= UV_WRITABLE;
    if (ev & AVAHI_WATCH_HUP)
        m |= UV_DISCONNECT;
    return m;
}

static void uvp_fd_closed(uv_handle_t *h)
{
    struct uvp_fd *pf = uvp_container_of((uv_poll_t *)h, struct uvp_fd, h);
    struct uvp *p = pf->p;
    free(pf);
    uvp_handle_closed(p);
}

static void uvp_poll_cb(uv_poll_t *h, int status, int events);

/* Sweep dead watches, then make the uv_poll_t match the union of the live
 * watches' masks; close it when none is left. Not during a dispatch. */
static void uvp_fd_sync(struct uvp_fd *pf)
{
    if (pf->dispatching > 0)
        return;
    int mask = 0;
    bool any = false;
    for (AvahiWatch **pw = &pf->watches; *pw != NULL;) {
        AvahiWatch *w = *pw;
        if (w->dead) {
            *pw = w->next;
            free(w);
            continue;
        }
        any = true;
        mask |= uvp_to_uv(w->want);
        pw = &w->next;
    }
    if (!any) {
        for (struct uvp_fd **pp = &pf->p->fds; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == pf) {
                *pp = pf->next;
                break;
            }
        }
        uv_close((uv_handle_t *)&pf->h, uvp_fd_closed);
        return;
    }
    if (mask == pf->active)
        return;
    if (mask == 0) {
        uv_poll_stop(&pf->h);
        pf->active = 0;
        return;
    }
    int rc = uv_poll_start(&pf->h, mask, uvp_poll_cb);
    if (rc < 0) {
        log_warn("discovery: poll on fd %d: %s", pf->fd, uv_strerror(rc));
        return;
    }
    pf->active = mask;
}

static void uvp_poll_cb(uv_poll_t *h, int status, int events)
{
    struct uvp_fd *pf = uvp_container_of(h, struct uvp_fd, h);
    AvahiWatchEvent ev = 0;
    if (status < 0) {
        /* libuv has stopped the handle; let the owner read the error. */
        pf->active = 0;
        ev = AVAHI_WATCH_ERR | AVAHI_WATCH_IN;
    } else {
        if (events & UV_READABLE)
            ev |= AVAHI_WATCH_IN;
        if (events & UV_WRITABLE)
            ev |= AVAHI_WATCH_OUT;
        if (events & UV_DISCONNECT)
            ev |= AVAHI_WATCH_HUP;
    }
    pf->dispatching++;
    for (AvahiWatch *w = pf->watches; w != NULL; w = w->next) {
        if (w->dead || w->want == 0)
            continue;
        AvahiWatchEvent mine = ev & (w->want | AVAHI_WATCH_ERR | AVAHI_WATCH_HUP);
        if (mine == 0)
            continue;
        w->got = mine;
        w->cb(w, pf->fd, mine, w->ud);
        w->got = 0;
    }
    pf->dispatching--;
    uvp_fd_sync(pf);
}

static AvahiWatch *uvp_watch_new(const AvahiPoll *api, int fd, AvahiWatchEvent event,
                                 AvahiWatchCallback cb, void *ud)
{
    struct uvp *p = api->userdata;
    struct uvp_fd *pf = p->fds;
    while (pf != NULL && pf->fd != fd)
        pf = pf->next;
    if (pf == NULL) {
        pf = cc_calloc(1, sizeof *pf);
        if (pf == NULL)
            return NULL;
        int rc = uv_poll_init(p->loop, &pf->h, fd);
        if (rc < 0) {
            log_warn("discovery: cannot watch fd %d: %s", fd, uv_strerror(rc));
            free(pf);
            return NULL;
        }
        p->open_handles++;
        pf->p = p;
        pf->fd = fd;
        pf->next = p->fds;
        p->fds = pf;
    }
    AvahiWatch *w = cc_calloc(1, sizeof *w);
    if (w != NULL) {
        w->pf = pf;
        w->want = event;
        w->cb = cb;
        w->ud = ud;
        w->next = pf->watches;
        pf->watches = w;
    }
    uvp_fd_sync(pf); /* closes a fresh pf again when w could not be allocated */
    return w;
}

static void uvp_watch_update(AvahiWatch *w, AvahiWatchEvent event)
{
    w->want = event;
    uvp_fd_sync(w->pf);
}

static AvahiWatchEvent uvp_watch_get_events(AvahiWatch *w)
{
    return w->got;
}

static void uvp_watch_free(AvahiWatch *w)
{
    w->dead = true;
    w->want = 0;
    uvp_fd_sync(w->pf);
}

static void uvp_timeout_cb(uv_timer_t *h)
{
    AvahiTimeout *t = uvp_container_of(h, AvahiTimeout, h);
    t->cb(t, t->ud);
}

static void uvp_timeout_arm(AvahiTimeout *t, const struct timeval *tv)
{
    if (tv == NULL) {
        uv_timer_stop(&t->h);
        return;
    }
    AvahiUsec age = avahi_age(tv); /* now - tv: negative while in the future */
    /* Rounded up, plus one: libuv's clock truncates to the millisecond. */
    uint64_t ms = age >= 0 ? 0 : (uint64_t)((-age + 999) / 1000) + 1;
    uv_update_time(t->p->loop);
    uv_timer_start(&t->h, uvp_timeout_cb, ms, 0);
}

static AvahiTimeout *uvp_timeout_new(const AvahiPoll *api, const struct timeval *tv,
                                     AvahiTimeoutCallback cb, void *ud)
{
    struct uvp *p = api->userdata;
    AvahiTimeout *t = cc_calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    int rc = uv_timer_init(p->loop, &t->h);
    if (rc < 0) {
        free(t);
        return NULL;
    }
    p->open_handles++;
    t->p = p;
    t->cb = cb;
    t->ud = ud;
    t->next = p->timeouts;
    if (p->timeouts != NULL)
        p->timeouts->prev = t;
    p->timeouts = t;
    uvp_timeout_arm(t, tv);
    return t;
}

static void uvp_timeout_update(AvahiTimeout *t, const struct timeval *tv)
{
    uvp_timeout_arm(t, tv);
}

static void uvp_timeout_closed(uv_handle_t *h)
{
    AvahiTimeout *t = uvp_container_of((uv_timer_t *)h, AvahiTimeout, h);
    struct uvp *p = t->p;
    free(t);
    uvp_handle_closed(p);
}

static void uvp_timeout_free(AvahiTimeout *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        t->p->timeouts = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    uv_timer_stop(&t->h);
    uv_close((uv_handle_t *)&t->h, uvp_timeout_closed);
}

void uvp_init(struct uvp *p, uv_loop_t *loop, uvp_closed_cb closed)
{
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->closed = closed;
    p->api.userdata = p;
    p->api.watch_new = uvp_watch_new;
    p->api.watch_update = uvp_watch_update;
    p->api.watch_get_events = uvp_watch_get_events;
    p->api.watch_free = uvp_watch_free;
    p->api.timeout_new = uvp_timeout_new;
    p->api.timeout_update = uvp_timeout_update;
    p->api.timeout_free = uvp_timeout_free;
}

/* After the backends are freed nothing should be left; close whatever a
 * library forgot so that d can still be freed. */
void uvp_shutdown(struct uvp *p)
{
    unsigned leaked = 0;
    while (p->timeouts != NULL) {
        uvp_timeout_free(p->timeouts);
        leaked++;
    }
    while (p->fds != NULL) {
        struct uvp_fd *pf = p->fds;
        for (AvahiWatch *w = pf->watches; w != NULL; w = w->next) {
            w->dead = true;
            leaked++;
        }
        pf->dispatching = 0;
        uvp_fd_sync(pf); /* unlinks and closes pf */
    }
    if (leaked > 0)
        log_debug("discovery: closed %u poll objects left by avahi", leaked);
}
