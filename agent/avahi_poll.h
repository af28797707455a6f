/* agent/avahi_poll.h — an AvahiPoll that runs Avahi's watches and timeouts on
 * a libuv loop (uv_poll_t for watches, uv_timer_t for timeouts); used by
 * agent/discovery.c for both backends (avahi-client and avahi-core).
 *
 * Ownership: the owner embeds a struct uvp (it is plain memory: no
 * allocation of its own), calls uvp_init and hands &p->api to
 * avahi_client_new / avahi_server_new. The AvahiWatch and AvahiTimeout
 * objects Avahi asks for are allocated here and freed here: a watch when
 * Avahi frees it (or, if that happens while its fd is dispatching, right
 * after the dispatch), a timeout and the uv_poll_t shared by the watches of
 * one fd only in their uv close callbacks.
 *
 * Callbacks: Avahi's watch and timeout callbacks run only from libuv
 * callbacks on the loop thread, never synchronously from inside
 * watch_new/watch_update/timeout_new/timeout_update (a timeout already due
 * fires from the loop, after the call has returned). A timeout is one-shot: its callback runs at
 * most once per arming, never early, and not at all for an arming replaced
 * by timeout_update (tv == NULL disarms) or ended by timeout_free. A watch's
 * callback runs once per readiness event it asked for (plus errors and
 * hang-ups), until it is freed; a watch freed by another watch's callback
 * during the same dispatch is not called. When libuv refuses an fd,
 * watch_new returns NULL or the watch stays silent; either is logged.
 *
 * Close (the uv_close model): every uv handle made here is closed
 * asynchronously. Its close callback frees the object, decrements
 * p->open_handles, and then calls the owner's closed(p) if set: exactly
 * once per handle, never synchronously from a uvp_* call or from an Avahi
 * free, and nothing of p is touched after it returns, so closed() may free
 * the memory holding p once p->open_handles is 0 and no new handles can be
 * made. The loop must run on until then.
 *
 * Shutdown: uvp_shutdown closes whatever the Avahi objects left open (they
 * should be freed first): every pending timeout and watch is dropped
 * without its callback ever running again; the AvahiWatch and AvahiTimeout
 * pointers Avahi may still hold become invalid. Not from inside a watch or
 * timeout callback of p; after it, p must not be handed to Avahi again.
 *
 * Pointers: &p->api is valid as long as p; an AvahiWatch until watch_free or
 * uvp_shutdown; an AvahiTimeout until timeout_free or uvp_shutdown.
 *
 * Threads: loop thread only.
 */
#ifndef CRATECAST_AGENT_AVAHI_POLL_H
#define CRATECAST_AGENT_AVAHI_POLL_H

#include <avahi-common/watch.h>
#include <uv.h>

struct uvp;
struct uvp_fd;

/* A handle of p went through its close callback (see above). */
typedef void (*uvp_closed_cb)(struct uvp *p);

/* Embedded by its owner; the fields are this module's, except open_handles,
 * which the owner may read. */
struct uvp {
    AvahiPoll api; /* api.userdata == this */
    uv_loop_t *loop;
    struct uvp_fd *fds;
    AvahiTimeout *timeouts;
    unsigned open_handles; /* uv handles not yet through their close callback */
    uvp_closed_cb closed;
};

/* Cannot fail: handles are made only when Avahi asks for them. */
void uvp_init(struct uvp *p, uv_loop_t *loop, uvp_closed_cb closed);
/* Close every timeout and watch still open (see Shutdown above). */
void uvp_shutdown(struct uvp *p);

#endif
