/* agent/discovery.h — announce this agent and find others over mDNS/DNS-SD.
 *
 * Service type "_cratecast._tcp", port = the peer-side port, TXT as in
 * proto/peer.h (struct proto_txt). Two backends behind one interface:
 *   - avahi-client, talking to the running avahi-daemon over the system D-Bus
 *     (the normal case on a desktop);
 *   - an embedded avahi-core responder, used when no avahi-daemon answers
 *     (containers, minimal systems). Never both at once on one host.
 * Both are driven by the agent's libuv loop through an AvahiPoll adapter
 * (uv_poll_t for watches, uv_timer_t for timeouts); nothing blocks.
 *
 * What mDNS says is only a hint: the callbacks hand the agent an address, a
 * port and the TXT fields; the agent then verifies the peer (hello, signed
 * manifest, key id) before using it. Our own announcement is filtered out.
 *
 * Ownership: created and used on the loop thread; agent_discovery_stop frees
 * everything (handles are closed asynchronously; the loop must run on).
 * agent_discovery_start copies what it keeps of cfg (instance name, TXT), so
 * cfg need not outlive the call; ud must stay valid until
 * agent_discovery_stop. A failed start leaves nothing to free but may leave
 * handles closing: run the loop before closing it. After
 * agent_discovery_stop, d must not be used again.
 *
 * Callbacks: found() and lost() run on the loop thread, from Avahi's events
 * or from deferred work (a timer), never synchronously from inside
 * agent_discovery_start, agent_discovery_update or agent_discovery_stop.
 * found() runs when a service is resolved and again when its TXT changes;
 * when its address or port changes, lost() for the old one comes first.
 * A service reported by found(host, port) is reported by lost(host, port)
 * exactly once, unless stop comes first (a failing backend or browser, or
 * the daemon going away, loses every service). Either callback may call
 * agent_discovery_stop: the teardown then waits for the next loop turn.
 *
 * Shutdown: agent_discovery_stop withdraws our announcement and drops the
 * browser, resolvers and backend at once without calling lost(); no found()
 * or lost() runs after it, not even one already pending. d's memory is
 * freed by the last close callback (agent/avahi_poll.h for the poll's
 * handles), so the loop must run until then.
 *
 * Pointers: host and txt handed to found() and lost() are valid only during
 * the call (copy them); agent_discovery_backend returns a static string.
 */
#ifndef CRATECAST_AGENT_DISCOVERY_H
#define CRATECAST_AGENT_DISCOVERY_H

#include <stdint.h>
#include <uv.h>

#include "proto/peer.h"

struct agent_discovery;

/* A service was resolved: host is a numeric IPv4 (or IPv6) address. Called
 * again when its TXT changes (e.g. a new seq). */
typedef void (*discovery_found_cb)(void *ud, const char *host, uint16_t port,
                                   const struct proto_txt *txt);
/* The service went away. */
typedef void (*discovery_lost_cb)(void *ud, const char *host, uint16_t port);

struct agent_discovery_config {
    const char *instance; /* service instance name, e.g. "cratecast-<keyid>" */
    uint16_t port;        /* peer-side port to announce; 0 = browse only */
    struct proto_txt txt;
    discovery_found_cb found;
    discovery_lost_cb lost;
    void *ud;
    int force_backend; /* 0 auto, 1 avahi-client only, 2 avahi-core only (tests) */
};

/* 0 or a negative errno (-ENOTSUP when neither backend can start). */
int agent_discovery_start(uv_loop_t *loop, const struct agent_discovery_config *cfg,
                          struct agent_discovery **out);
/* Re-announce with a new TXT (the manifest sequence moved on). */
int agent_discovery_update(struct agent_discovery *d, const struct proto_txt *txt);
void agent_discovery_stop(struct agent_discovery *d); /* NULL-safe */
/* "avahi-daemon" or "avahi-core". */
const char *agent_discovery_backend(const struct agent_discovery *d);

#endif
