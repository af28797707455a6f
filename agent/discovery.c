/* agent/discovery.c — announce "_cratecast._tcp" and browse for peers over
 * mDNS/DNS-SD, with Avahi driven by the agent's libuv loop (agent/discovery.h).
 *
 * Two parts (Avahi runs on the loop through agent/avahi_poll.h; its
 * libraries come from agent/avahi_load.h):
 *   1. Two backends behind one set of functions: avahi-client (the system's
 *      avahi-daemon over D-Bus) and an embedded avahi-core server.
 *   2. A bounded table of browsed services (DISC_SVC_MAX), one resolver each,
 *      kept open so that a TXT change is reported again through found().
 *
 * Backend state machine (d->backend, d->dead; transitions in the named
 * function):
 *
 *   NONE --disc_backend_start: client ok--> CLIENT    (force 0 or 1)
 *   NONE --disc_backend_start: client fails, force != 1--> CORE
 *   NONE --disc_backend_start: nothing starts--> NONE, retry in DISC_RETRY_MS
 *                                                (at start: -ENOTSUP instead)
 *   CLIENT|CORE --FAILURE state (disc_client_cb/disc_server_cb)--> dead=1,
 *        then disc_reconcile (on the next loop turn, never inside an Avahi
 *        callback) drops it (lost() for every reported service) --> NONE,
 *        and starts again: auto mode falls back to avahi-core when the daemon
 *        is gone; a forced backend retries itself.
 *   any --agent_discovery_stop--> torn down; d freed in the last close cb.
 *
 * Server states as seen by disc_client_cb / disc_server_cb:
 *   REGISTERING, COLLISION: the host name is being (re)probed: our entry
 *        group is reset (disc_group_reset) and refilled when RUNNING.
 *        avahi-core COLLISION also picks an alternative host name.
 *   RUNNING: disc_ensure publishes (if port != 0) and browses.
 *   CONNECTING (client with AVAHI_CLIENT_NO_FAIL, daemon gone): browse and
 *        publish state dropped in disc_reconcile; back on RUNNING.
 *   FAILURE: see above.
 *
 * Entry group (our announcement) states, disc_group_state:
 *   (none) --disc_ensure_published: new + add service + commit--> REGISTERING
 *   REGISTERING --> ESTABLISHED (logged)
 *   REGISTERING|ESTABLISHED --COLLISION--> alternative service name, reset,
 *        add, commit (disc_group_collision) --> REGISTERING
 *   any --FAILURE--> group_failed; disc_reconcile frees it and publishes anew.
 *   agent_discovery_update replaces the TXT in place (update_service_txt);
 *   if that fails, the group is reset and refilled.
 *
 * Our own service is browsed and resolved like any other and filtered when
 * resolved (disc_is_own), so that a name we lose in a collision is still
 * seen once the peer that won it owns it.
 *
 * Invariants: no Avahi top-level object (client, server, browser) is freed
 * inside one of its own callbacks (disc_kick defers to d->timer); found() and
 * lost() are never called after agent_discovery_stop; every found(host, port)
 * is followed by lost(host, port) unless stop comes first; at most
 * DISC_SVC_MAX services are tracked.
 */
#include "agent/discovery.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/address.h>
#include <avahi-common/alternative.h>
#include <avahi-common/defs.h>
#include <avahi-common/domain.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-core/core.h>
#include <avahi-core/lookup.h>
#include <avahi-core/publish.h>

#include "agent/avahi_load.h"
#include "agent/avahi_poll.h"
#include "agent/log.h"
#include "proto/alloc.h"

#define DISC_TYPE "_cratecast._tcp"
#define DISC_SVC_MAX 256        /* services tracked at once */
#define DISC_TXT_STRINGS_MAX 64 /* TXT strings handed to the decoder */
#define DISC_RESOLVE_TRIES 4    /* resolver attempts per service before giving up */
#define DISC_RETRY_MS 5000      /* back-off for a backend or browser that failed */
#define DISC_RENAME_MAX 16      /* local name collisions tolerated in one publish */
#define DISC_IFACE_ENV "CRATECAST_MDNS_IFACE"

#define disc_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* The two Avahi libraries (agent/avahi_load.h): set when a backend first
 * starts; a backend is only used once its library is loaded. */
static const struct avahi_load_client_fns *dcl;
static const struct avahi_load_core_fns *dco;

enum disc_backend { DISC_NONE = 0, DISC_CLIENT, DISC_CORE };

/* ---- discovery state ----------------------------------------------------- */

struct disc_svc {
    struct agent_discovery *d;
    AvahiIfIndex iface;
    AvahiProtocol proto;
    char name[AVAHI_LABEL_MAX];
    char domain[AVAHI_DOMAIN_NAME_MAX];
    AvahiServiceResolver *cres;  /* backend client */
    AvahiSServiceResolver *sres; /* backend core */
    unsigned tries;
    bool reported; /* found() was called for host/port/txt */
    char host[AVAHI_ADDRESS_STR_MAX];
    uint16_t port;
    struct proto_txt txt;
    struct disc_svc *next;
};

struct agent_discovery {
    uv_loop_t *loop;
    struct uvp poll;
    uv_timer_t timer;      /* disc_kick: deferred work and retries */
    unsigned open_handles; /* uv handles not yet through their close callback */
                           /* (d->timer; poll.open_handles counts the poll's) */

    char *name; /* current instance name (avahi_malloc'd; may be renamed) */
    uint16_t port;
    struct proto_txt txt;
    discovery_found_cb found;
    discovery_lost_cb lost;
    void *ud;
    int force;

    enum disc_backend backend;
    bool dead; /* backend reached FAILURE; disc_reconcile replaces it */
    AvahiClient *client;
    AvahiClientState cstate;
    AvahiServer *server;
    AvahiServerState sstate;

    AvahiEntryGroup *cgroup;
    AvahiSEntryGroup *sgroup;
    bool group_filled; /* the service is added to the group */
    bool group_failed;

    AvahiServiceBrowser *cbrowser;
    AvahiSServiceBrowser *sbrowser;
    bool browser_failed;

    struct disc_svc *svcs;
    unsigned nsvc;
    bool warned_full;

    unsigned depth; /* > 0 while a user callback runs */
    bool stopping;
    bool torn_down;
};

static void disc_reconcile(struct agent_discovery *d);
static void disc_kick(struct agent_discovery *d, uint64_t ms);

/* Every uv handle's close callback ends here; the last one frees d. */
static void disc_handle_closed(struct agent_discovery *d)
{
    if (d->open_handles + d->poll.open_handles > 0 || !d->torn_down)
        return;
    avahi_free(d->name);
    free(d);
}

static struct agent_discovery *disc_of_poll(struct uvp *p)
{
    return disc_container_of(p, struct agent_discovery, poll);
}

/* One of the poll's handles is closed (uvp_closed_cb). */
static void disc_poll_closed(struct uvp *p)
{
    disc_handle_closed(disc_of_poll(p));
}

/* ---- helpers ------------------------------------------------------------- */

static void disc_timer_cb(uv_timer_t *h)
{
    disc_reconcile(disc_container_of(h, struct agent_discovery, timer));
}

/* Run disc_reconcile after ms, outside any Avahi callback. An earlier
 * pending kick wins over a later one. */
static void disc_kick(struct agent_discovery *d, uint64_t ms)
{
    if (d->torn_down)
        return;
    if (uv_is_active((uv_handle_t *)&d->timer) && uv_timer_get_due_in(&d->timer) <= ms)
        return;
    uv_update_time(d->loop);
    uv_timer_start(&d->timer, disc_timer_cb, ms, 0);
}

/* The TXT strings of proto_txt_encode as an AvahiStringList; NULL on error. */
static AvahiStringList *disc_txt_strlst(const struct proto_txt *t)
{
    char s[4][64];
    int n = proto_txt_encode(t, s);
    if (n <= 0 || n > 4)
        return NULL;
    AvahiStringList *l = NULL;
    for (int i = n - 1; i >= 0; i--) { /* avahi_string_list_add prepends */
        AvahiStringList *nl = avahi_string_list_add(l, s[i]);
        if (nl == NULL) {
            avahi_string_list_free(l);
            return NULL;
        }
        l = nl;
    }
    return l;
}

static bool disc_txt_equal(const struct proto_txt *a, const struct proto_txt *b)
{
    return a->version == b->version && a->seq == b->seq && strcmp(a->id, b->id) == 0 &&
           strcmp(a->net, b->net) == 0;
}

static void disc_emit_found(struct agent_discovery *d, struct disc_svc *s)
{
    if (d->stopping || d->found == NULL)
        return;
    d->depth++;
    d->found(d->ud, s->host, s->port, &s->txt);
    d->depth--;
}

static void disc_emit_lost(struct agent_discovery *d, const char *host, uint16_t port)
{
    if (d->stopping || d->lost == NULL)
        return;
    d->depth++;
    d->lost(d->ud, host, port);
    d->depth--;
}

/* ---- services ------------------------------------------------------------ */

static void disc_resolver_free(struct disc_svc *s)
{
    if (s->cres != NULL)
        dcl->avahi_service_resolver_free(s->cres);
    if (s->sres != NULL)
        dco->avahi_s_service_resolver_free(s->sres);
    s->cres = NULL;
    s->sres = NULL;
}

/* Unlink and free s; lost() first when it had been reported and report is set. */
static void disc_svc_drop(struct agent_discovery *d, struct disc_svc *s, bool report)
{
    for (struct disc_svc **ps = &d->svcs; *ps != NULL; ps = &(*ps)->next) {
        if (*ps == s) {
            *ps = s->next;
            d->nsvc--;
            break;
        }
    }
    disc_resolver_free(s);
    if (report && s->reported) {
        log_debug("discovery: lost '%s' at %s:%u", s->name, s->host, s->port);
        disc_emit_lost(d, s->host, s->port);
    }
    free(s);
}

static void disc_svcs_drop_all(struct agent_discovery *d, bool report)
{
    while (d->svcs != NULL)
        disc_svc_drop(d, d->svcs, report);
}

static struct disc_svc *disc_svc_find(struct agent_discovery *d, AvahiIfIndex iface,
                                      AvahiProtocol proto, const char *name, const char *domain)
{
    for (struct disc_svc *s = d->svcs; s != NULL; s = s->next) {
        if (s->iface == iface && s->proto == proto && strcmp(s->name, name) == 0 &&
            strcmp(s->domain, domain) == 0)
            return s;
    }
    return NULL;
}

static void disc_client_resolve_cb(AvahiServiceResolver *r, AvahiIfIndex iface, AvahiProtocol proto,
                                   AvahiResolverEvent ev, const char *name, const char *type,
                                   const char *domain, const char *host_name, const AvahiAddress *a,
                                   uint16_t port, AvahiStringList *txt,
                                   AvahiLookupResultFlags flags, void *ud);
static void disc_core_resolve_cb(AvahiSServiceResolver *r, AvahiIfIndex iface, AvahiProtocol proto,
                                 AvahiResolverEvent ev, const char *name, const char *type,
                                 const char *domain, const char *host_name, const AvahiAddress *a,
                                 uint16_t port, AvahiStringList *txt, AvahiLookupResultFlags flags,
                                 void *ud);

/* Resolve IPv4 addresses only: the peer side listens on IPv4 by default, and
 * the test daemons run with use-ipv6=no. The resolver stays open so that
 * Avahi reports TXT and address changes. */
static int disc_svc_resolve(struct disc_svc *s)
{
    struct agent_discovery *d = s->d;
    s->tries++;
    if (d->backend == DISC_CLIENT)
        s->cres = dcl->avahi_service_resolver_new(d->client, s->iface, s->proto, s->name, DISC_TYPE,
                                                  s->domain, AVAHI_PROTO_INET, 0,
                                                  disc_client_resolve_cb, s);
    else if (d->backend == DISC_CORE)
        s->sres = dco->avahi_s_service_resolver_new(d->server, s->iface, s->proto, s->name,
                                                    DISC_TYPE, s->domain, AVAHI_PROTO_INET, 0,
                                                    disc_core_resolve_cb, s);
    if (s->cres == NULL && s->sres == NULL) {
        int err = d->backend == DISC_CLIENT ? dcl->avahi_client_errno(d->client)
                                            : dco->avahi_server_errno(d->server);
        log_warn("discovery: cannot resolve '%s': %s", s->name, avahi_strerror(err));
        return -EIO;
    }
    return 0;
}

/* Whether a resolved service is our own announcement. Decided per
 * resolution, not per browse event, since a name can change hands in a
 * collision. The client marks ours OUR_OWN; the embedded server publishes
 * nothing but ours, so LOCAL there means ours (LOCAL alone is not enough with
 * the daemon: another agent on this host is a peer); and a service carrying
 * our own key id is us whatever the flags say. */
static bool disc_is_own(const struct agent_discovery *d, AvahiLookupResultFlags flags,
                        const struct proto_txt *t)
{
    if (flags & AVAHI_LOOKUP_RESULT_OUR_OWN)
        return true;
    if ((flags & AVAHI_LOOKUP_RESULT_LOCAL) && d->backend == DISC_CORE)
        return true;
    return d->txt.id[0] != '\0' && strcmp(t->id, d->txt.id) == 0;
}

static void disc_on_resolved(struct disc_svc *s, AvahiResolverEvent ev, const AvahiAddress *a,
                             uint16_t port, AvahiStringList *txt, AvahiLookupResultFlags flags)
{
    struct agent_discovery *d = s->d;
    if (ev != AVAHI_RESOLVER_FOUND) {
        /* Usually a timeout: the service went quiet. Try again a few times;
         * the browser reports its removal if it is really gone. */
        disc_resolver_free(s);
        if (s->tries < DISC_RESOLVE_TRIES) {
            log_debug("discovery: resolving '%s' failed, retrying", s->name);
            disc_svc_resolve(s);
        } else {
            log_debug("discovery: giving up resolving '%s'", s->name);
        }
        return;
    }
    if (a == NULL || a->proto != AVAHI_PROTO_INET)
        return;

    const uint8_t *strs[DISC_TXT_STRINGS_MAX];
    size_t lens[DISC_TXT_STRINGS_MAX];
    size_t n = 0;
    AvahiStringList *l = txt;
    for (; l != NULL && n < DISC_TXT_STRINGS_MAX; l = avahi_string_list_get_next(l), n++) {
        strs[n] = avahi_string_list_get_text(l);
        lens[n] = avahi_string_list_get_size(l);
    }
    struct proto_txt t;
    memset(&t, 0, sizeof t);
    int rc = l != NULL ? -EMSGSIZE : proto_txt_decode(strs, lens, n, &t);
    if (rc < 0) {
        log_debug("discovery: '%s' has an unusable TXT record (%s)", s->name, strerror(-rc));
        return;
    }
    if (disc_is_own(d, flags, &t)) {
        if (s->reported) { /* it was a peer's until we took the name */
            s->reported = false;
            disc_emit_lost(d, s->host, s->port);
        }
        return; /* the resolver stays open: the name may change hands again */
    }
    char host[AVAHI_ADDRESS_STR_MAX];
    if (avahi_address_snprint(host, sizeof host, a) == NULL)
        return;

    if (s->reported) {
        if (s->port == port && strcmp(s->host, host) == 0 && disc_txt_equal(&s->txt, &t))
            return; /* nothing new */
        if (s->port != port || strcmp(s->host, host) != 0) {
            s->reported = false;
            disc_emit_lost(d, s->host, s->port);
        }
    }
    memcpy(s->host, host, sizeof host);
    s->port = port;
    s->txt = t;
    s->tries = 0;
    s->reported = true;
    log_debug("discovery: found '%s' at %s:%u id=%s seq=%llu", s->name, s->host, s->port, s->txt.id,
              (unsigned long long)s->txt.seq);
    disc_emit_found(d, s);
}

static void disc_client_resolve_cb(AvahiServiceResolver *r, AvahiIfIndex iface, AvahiProtocol proto,
                                   AvahiResolverEvent ev, const char *name, const char *type,
                                   const char *domain, const char *host_name, const AvahiAddress *a,
                                   uint16_t port, AvahiStringList *txt,
                                   AvahiLookupResultFlags flags, void *ud)
{
    struct disc_svc *s = ud;
    s->cres = r;
    disc_on_resolved(s, ev, a, port, txt, flags);
}

static void disc_core_resolve_cb(AvahiSServiceResolver *r, AvahiIfIndex iface, AvahiProtocol proto,
                                 AvahiResolverEvent ev, const char *name, const char *type,
                                 const char *domain, const char *host_name, const AvahiAddress *a,
                                 uint16_t port, AvahiStringList *txt, AvahiLookupResultFlags flags,
                                 void *ud)
{
    struct disc_svc *s = ud;
    s->sres = r;
    disc_on_resolved(s, ev, a, port, txt, flags);
}

static void disc_on_browse(struct agent_discovery *d, AvahiIfIndex iface, AvahiProtocol proto,
                           AvahiBrowserEvent ev, const char *name, const char *domain,
                           AvahiLookupResultFlags flags)
{
    struct disc_svc *s;
    switch (ev) {
    case AVAHI_BROWSER_NEW:
        /* Our own service is tracked too (and never reported, see
         * disc_is_own): after a name collision the name we gave up belongs
         * to the peer that won it, and the browser will not say NEW again. */
        if (name == NULL || domain == NULL)
            return;
        if (disc_svc_find(d, iface, proto, name, domain) != NULL)
            return;
        if (strlen(name) >= sizeof s->name || strlen(domain) >= sizeof s->domain)
            return;
        if (d->nsvc >= DISC_SVC_MAX) {
            if (!d->warned_full)
                log_warn("discovery: more than %d services; ignoring the rest", DISC_SVC_MAX);
            d->warned_full = true;
            return;
        }
        s = cc_calloc(1, sizeof *s);
        if (s == NULL)
            return;
        s->d = d;
        s->iface = iface;
        s->proto = proto;
        memcpy(s->name, name, strlen(name) + 1);
        memcpy(s->domain, domain, strlen(domain) + 1);
        if (disc_svc_resolve(s) < 0) {
            free(s);
            return;
        }
        s->next = d->svcs;
        d->svcs = s;
        d->nsvc++;
        log_debug("discovery: new service '%s'", name);
        break;
    case AVAHI_BROWSER_REMOVE:
        if (name == NULL || domain == NULL)
            return;
        s = disc_svc_find(d, iface, proto, name, domain);
        if (s != NULL)
            disc_svc_drop(d, s, true);
        break;
    case AVAHI_BROWSER_FAILURE:
        log_warn("discovery: browsing failed: %s",
                 avahi_strerror(d->backend == DISC_CLIENT ? dcl->avahi_client_errno(d->client)
                                                          : dco->avahi_server_errno(d->server)));
        d->browser_failed = true;
        disc_kick(d, DISC_RETRY_MS);
        break;
    case AVAHI_BROWSER_ALL_FOR_NOW:
    case AVAHI_BROWSER_CACHE_EXHAUSTED:
        break;
    }
}

static void disc_client_browse_cb(AvahiServiceBrowser *b, AvahiIfIndex iface, AvahiProtocol proto,
                                  AvahiBrowserEvent ev, const char *name, const char *type,
                                  const char *domain, AvahiLookupResultFlags flags, void *ud)
{
    disc_on_browse(ud, iface, proto, ev, name, domain, flags);
}

static void disc_core_browse_cb(AvahiSServiceBrowser *b, AvahiIfIndex iface, AvahiProtocol proto,
                                AvahiBrowserEvent ev, const char *name, const char *type,
                                const char *domain, AvahiLookupResultFlags flags, void *ud)
{
    disc_on_browse(ud, iface, proto, ev, name, domain, flags);
}

static void disc_browser_free(struct agent_discovery *d)
{
    if (d->cbrowser != NULL)
        dcl->avahi_service_browser_free(d->cbrowser);
    if (d->sbrowser != NULL)
        dco->avahi_s_service_browser_free(d->sbrowser);
    d->cbrowser = NULL;
    d->sbrowser = NULL;
    d->browser_failed = false;
}

static bool disc_can_browse(const struct agent_discovery *d)
{
    if (d->dead)
        return false;
    if (d->backend == DISC_CLIENT)
        return d->client != NULL &&
               (d->cstate == AVAHI_CLIENT_S_RUNNING || d->cstate == AVAHI_CLIENT_S_REGISTERING ||
                d->cstate == AVAHI_CLIENT_S_COLLISION);
    return d->backend == DISC_CORE && d->server != NULL;
}

static int disc_ensure_browser(struct agent_discovery *d)
{
    if (!disc_can_browse(d) || d->cbrowser != NULL || d->sbrowser != NULL)
        return 0;
    if (d->backend == DISC_CLIENT)
        d->cbrowser = dcl->avahi_service_browser_new(d->client, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET,
                                                     DISC_TYPE, NULL, 0, disc_client_browse_cb, d);
    else
        d->sbrowser = dco->avahi_s_service_browser_new(d->server, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET,
                                                       DISC_TYPE, NULL, 0, disc_core_browse_cb, d);
    if (d->cbrowser == NULL && d->sbrowser == NULL) {
        log_warn("discovery: cannot browse: %s",
                 avahi_strerror(d->backend == DISC_CLIENT ? dcl->avahi_client_errno(d->client)
                                                          : dco->avahi_server_errno(d->server)));
        return -EIO;
    }
    return 0;
}

/* ---- our announcement ---------------------------------------------------- */

static void disc_group_reset(struct agent_discovery *d)
{
    if (d->cgroup != NULL)
        dcl->avahi_entry_group_reset(d->cgroup);
    if (d->sgroup != NULL)
        dco->avahi_s_entry_group_reset(d->sgroup);
    d->group_filled = false;
}

static void disc_group_free(struct agent_discovery *d)
{
    if (d->cgroup != NULL)
        dcl->avahi_entry_group_free(d->cgroup);
    if (d->sgroup != NULL)
        dco->avahi_s_entry_group_free(d->sgroup);
    d->cgroup = NULL;
    d->sgroup = NULL;
    d->group_filled = false;
    d->group_failed = false;
}

static bool disc_rename(struct agent_discovery *d)
{
    char *n = avahi_alternative_service_name(d->name);
    if (n == NULL)
        return false;
    log_info("discovery: service name '%s' is taken; now '%s'", d->name, n);
    avahi_free(d->name);
    d->name = n;
    return true;
}

/* Add the service to the (empty) group and commit it. */
static int disc_group_fill(struct agent_discovery *d)
{
    AvahiStringList *l = disc_txt_strlst(&d->txt);
    if (l == NULL)
        return -EINVAL;
    int r = AVAHI_ERR_COLLISION;
    for (int i = 0; i < DISC_RENAME_MAX && r == AVAHI_ERR_COLLISION; i++) {
        if (i > 0 && !disc_rename(d))
            break;
        if (d->backend == DISC_CLIENT)
            r = dcl->avahi_entry_group_add_service_strlst(d->cgroup, AVAHI_IF_UNSPEC,
                                                          AVAHI_PROTO_UNSPEC, 0, d->name, DISC_TYPE,
                                                          NULL, NULL, d->port, l);
        else
            r = dco->avahi_server_add_service_strlst(d->server, d->sgroup, AVAHI_IF_UNSPEC,
                                                     AVAHI_PROTO_UNSPEC, 0, d->name, DISC_TYPE,
                                                     NULL, NULL, d->port, l);
    }
    avahi_string_list_free(l);
    if (r >= 0)
        r = d->backend == DISC_CLIENT ? dcl->avahi_entry_group_commit(d->cgroup)
                                      : dco->avahi_s_entry_group_commit(d->sgroup);
    if (r < 0) {
        log_warn("discovery: cannot announce '%s': %s", d->name, avahi_strerror(r));
        return -EIO;
    }
    d->group_filled = true;
    return 0;
}

static void disc_group_collision(struct agent_discovery *d)
{
    disc_group_reset(d);
    if (disc_rename(d))
        disc_group_fill(d);
}

static void disc_group_state(struct agent_discovery *d, AvahiEntryGroupState st)
{
    switch (st) {
    case AVAHI_ENTRY_GROUP_ESTABLISHED:
        log_info("discovery: announced '%s' (%s) on port %u", d->name, DISC_TYPE, d->port);
        break;
    case AVAHI_ENTRY_GROUP_COLLISION:
        disc_group_collision(d);
        break;
    case AVAHI_ENTRY_GROUP_FAILURE:
        log_warn("discovery: announcement failed: %s",
                 avahi_strerror(d->backend == DISC_CLIENT ? dcl->avahi_client_errno(d->client)
                                                          : dco->avahi_server_errno(d->server)));
        d->group_failed = true;
        disc_kick(d, DISC_RETRY_MS);
        break;
    case AVAHI_ENTRY_GROUP_UNCOMMITED:
    case AVAHI_ENTRY_GROUP_REGISTERING:
        break;
    }
}

static void disc_client_group_cb(AvahiEntryGroup *g, AvahiEntryGroupState st, void *ud)
{
    struct agent_discovery *d = ud;
    if (d->cgroup == NULL)
        d->cgroup = g; /* first call comes from inside avahi_entry_group_new */
    disc_group_state(d, st);
}

static void disc_core_group_cb(AvahiServer *srv, AvahiSEntryGroup *g, AvahiEntryGroupState st,
                               void *ud)
{
    struct agent_discovery *d = ud;
    if (d->sgroup == NULL)
        d->sgroup = g;
    disc_group_state(d, st);
}

static bool disc_running(const struct agent_discovery *d)
{
    if (d->dead)
        return false;
    if (d->backend == DISC_CLIENT)
        return d->client != NULL && d->cstate == AVAHI_CLIENT_S_RUNNING;
    return d->backend == DISC_CORE && d->server != NULL && d->sstate == AVAHI_SERVER_RUNNING;
}

static int disc_ensure_published(struct agent_discovery *d)
{
    if (d->port == 0 || !disc_running(d) || d->group_failed)
        return 0;
    if (d->backend == DISC_CLIENT && d->cgroup == NULL)
        d->cgroup = dcl->avahi_entry_group_new(d->client, disc_client_group_cb, d);
    if (d->backend == DISC_CORE && d->sgroup == NULL)
        d->sgroup = dco->avahi_s_entry_group_new(d->server, disc_core_group_cb, d);
    if (d->cgroup == NULL && d->sgroup == NULL) {
        log_warn("discovery: cannot create an entry group");
        return -ENOMEM;
    }
    if (d->group_filled)
        return 0;
    return disc_group_fill(d);
}

/* Publish and browse as far as the backend's state allows; retry later on failure. */
static void disc_ensure(struct agent_discovery *d)
{
    int a = disc_ensure_published(d);
    int b = disc_ensure_browser(d);
    if (a < 0 || b < 0)
        disc_kick(d, DISC_RETRY_MS);
}

/* ---- backends ------------------------------------------------------------ */

static void disc_client_cb(AvahiClient *c, AvahiClientState st, void *ud)
{
    struct agent_discovery *d = ud;
    if (d->client == NULL)
        d->client = c; /* first calls come from inside avahi_client_new */
    d->cstate = st;
    switch (st) {
    case AVAHI_CLIENT_S_RUNNING:
        disc_ensure(d);
        break;
    case AVAHI_CLIENT_S_REGISTERING:
    case AVAHI_CLIENT_S_COLLISION:
        /* The daemon re-probes its host name; our records follow when RUNNING. */
        disc_group_reset(d);
        disc_ensure(d);
        break;
    case AVAHI_CLIENT_CONNECTING:
        log_info("discovery: waiting for avahi-daemon");
        disc_kick(d, 0);
        break;
    case AVAHI_CLIENT_FAILURE:
        log_warn("discovery: avahi-daemon connection failed: %s",
                 avahi_strerror(dcl->avahi_client_errno(c)));
        d->dead = true;
        disc_kick(d, 0);
        break;
    }
}

static void disc_server_cb(AvahiServer *s, AvahiServerState st, void *ud)
{
    struct agent_discovery *d = ud;
    if (d->server == NULL)
        d->server = s; /* first calls come from inside avahi_server_new */
    d->sstate = st;
    switch (st) {
    case AVAHI_SERVER_RUNNING:
        log_info("discovery: avahi-core running as %s", dco->avahi_server_get_host_name_fqdn(s));
        disc_ensure(d);
        break;
    case AVAHI_SERVER_COLLISION: {
        char *n = avahi_alternative_host_name(dco->avahi_server_get_host_name(s));
        if (n == NULL)
            break;
        log_info("discovery: host name %s is taken; now %s", dco->avahi_server_get_host_name(s), n);
        dco->avahi_server_set_host_name(s, n);
        avahi_free(n);
        break;
    }
    case AVAHI_SERVER_REGISTERING:
        disc_group_reset(d);
        break;
    case AVAHI_SERVER_FAILURE:
        log_warn("discovery: avahi-core failed: %s", avahi_strerror(dco->avahi_server_errno(s)));
        d->dead = true;
        disc_kick(d, 0);
        break;
    case AVAHI_SERVER_INVALID:
        break;
    }
}

static int disc_client_start(struct agent_discovery *d)
{
    /* Forced: wait for a daemon that is not up yet (a bus is still needed).
     * Auto: fail at once so that avahi-core can take over. */
    AvahiClientFlags flags = d->force == 1 ? AVAHI_CLIENT_NO_FAIL : 0;
    int err = 0;
    if ((dcl = avahi_load_client()) == NULL)
        return -ENOTSUP;
    d->backend = DISC_CLIENT;
    d->dead = false;
    d->client = NULL;
    AvahiClient *c = dcl->avahi_client_new(&d->poll.api, flags, disc_client_cb, d, &err);
    if (c == NULL) {
        log_info("discovery: no avahi-daemon: %s", avahi_strerror(err));
        /* Whatever the constructor's callback created went with it. */
        d->client = NULL;
        d->cgroup = NULL;
        d->cbrowser = NULL;
        d->group_filled = false;
        d->backend = DISC_NONE;
        d->dead = false;
        return -ENOTSUP;
    }
    d->client = c;
    log_info("discovery: using avahi-daemon %s", dcl->avahi_client_get_version_string(c));
    disc_ensure(d);
    return 0;
}

/* Host names of the embedded responder must not clash with a daemon's (or
 * another agent's) name: "cc-<keyid>". */
static int disc_core_start(struct agent_discovery *d)
{
    AvahiServerConfig cfg;
    char host[AVAHI_LABEL_MAX];
    int err = 0;
    if ((dco = avahi_load_core()) == NULL)
        return -ENOTSUP;
    if (dco->avahi_server_config_init(&cfg) == NULL)
        return -ENOMEM;
    if (d->txt.id[0] != '\0')
        snprintf(host, sizeof host, "cc-%s", d->txt.id);
    else
        snprintf(host, sizeof host, "cc-%lx", (unsigned long)getpid());
    cfg.host_name = avahi_strdup(host);
    cfg.use_ipv4 = 1;
    cfg.use_ipv6 = 0;
    cfg.publish_aaaa_on_ipv4 = 0;
    cfg.publish_a_on_ipv6 = 0;
    cfg.publish_hinfo = 0;
    cfg.publish_workstation = 0;
    cfg.publish_domain = 0;
    cfg.enable_wide_area = 0;
    cfg.enable_reflector = 0;
    cfg.disallow_other_stacks = 0;
    const char *ifaces = getenv(DISC_IFACE_ENV);
    if (ifaces != NULL && ifaces[0] != '\0') {
        /* A comma-separated list of interface names. */
        const char *p = ifaces;
        while (*p != '\0') {
            size_t len = strcspn(p, ",");
            if (len > 0) {
                AvahiStringList *nl =
                    avahi_string_list_add_arbitrary(cfg.allow_interfaces, (const uint8_t *)p, len);
                if (nl != NULL)
                    cfg.allow_interfaces = nl;
            }
            p += len;
            if (*p == ',')
                p++;
        }
    }
    d->backend = DISC_CORE;
    d->dead = false;
    d->server = NULL;
    d->sstate = AVAHI_SERVER_INVALID;
    AvahiServer *s = cfg.host_name != NULL
                         ? dco->avahi_server_new(&d->poll.api, &cfg, disc_server_cb, d, &err)
                         : NULL;
    dco->avahi_server_config_free(&cfg);
    if (s == NULL) {
        log_warn("discovery: avahi-core cannot start: %s",
                 avahi_strerror(err != 0 ? err : AVAHI_ERR_NO_MEMORY));
        d->server = NULL;
        d->sgroup = NULL;
        d->sbrowser = NULL;
        d->group_filled = false;
        d->backend = DISC_NONE;
        return -ENOTSUP;
    }
    d->server = s;
    log_info("discovery: using embedded avahi-core (host %s%s%s)", host,
             ifaces != NULL ? ", interfaces " : "", ifaces != NULL ? ifaces : "");
    /* Browse at once: queries go out while our host name is still probed. */
    disc_ensure(d);
    return 0;
}

static int disc_backend_start(struct agent_discovery *d)
{
    if (d->force != 2 && disc_client_start(d) == 0)
        return 0;
    if (d->force != 1 && disc_core_start(d) == 0)
        return 0;
    return -ENOTSUP;
}

/* Free the backend and everything made from it; lost() for what was found
 * when report is set. Never inside one of the backend's callbacks. */
static void disc_backend_drop(struct agent_discovery *d, bool report)
{
    disc_svcs_drop_all(d, report);
    disc_browser_free(d);
    disc_group_free(d);
    if (d->client != NULL)
        dcl->avahi_client_free(d->client);
    if (d->server != NULL)
        dco->avahi_server_free(d->server);
    d->client = NULL;
    d->server = NULL;
    d->backend = DISC_NONE;
    d->dead = false;
}

static void disc_timer_closed(uv_handle_t *h)
{
    struct agent_discovery *d = disc_container_of((uv_timer_t *)h, struct agent_discovery, timer);
    d->open_handles--;
    disc_handle_closed(d);
}

static void disc_teardown(struct agent_discovery *d)
{
    if (d->torn_down)
        return;
    d->stopping = true;
    disc_backend_drop(d, false);
    uvp_shutdown(&d->poll);
    d->torn_down = true;
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, disc_timer_closed);
}

/* Deferred work, always on a fresh loop turn (d->timer). */
static void disc_reconcile(struct agent_discovery *d)
{
    if (d->stopping) {
        disc_teardown(d);
        return;
    }
    /* lost() may call agent_discovery_stop: check again after each drop. */
    if (d->backend != DISC_NONE && d->dead) {
        bool was_client = d->backend == DISC_CLIENT;
        disc_backend_drop(d, true);
        if (was_client && d->force == 0 && !d->stopping)
            log_info("discovery: falling back to the embedded avahi-core responder");
    }
    if (d->backend == DISC_CLIENT && d->cstate == AVAHI_CLIENT_CONNECTING) {
        /* The daemon went away; its objects went with it. Back on RUNNING. */
        disc_svcs_drop_all(d, true);
        disc_browser_free(d);
        disc_group_free(d);
    }
    if (d->browser_failed) {
        disc_svcs_drop_all(d, true);
        disc_browser_free(d);
    }
    if (d->group_failed)
        disc_group_free(d);
    if (d->stopping) {
        disc_teardown(d);
        return;
    }
    if (d->backend == DISC_NONE && disc_backend_start(d) < 0) {
        disc_kick(d, DISC_RETRY_MS);
        return;
    }
    disc_ensure(d);
}

/* ---- public -------------------------------------------------------------- */

int agent_discovery_start(uv_loop_t *loop, const struct agent_discovery_config *cfg,
                          struct agent_discovery **out)
{
    char probe[4][64];
    if (loop == NULL || cfg == NULL || out == NULL || cfg->force_backend < 0 ||
        cfg->force_backend > 2)
        return -EINVAL;
    *out = NULL;
    if (cfg->port != 0 && proto_txt_encode(&cfg->txt, probe) <= 0)
        return -EINVAL;
    char defname[AVAHI_LABEL_MAX];
    const char *instance = cfg->instance;
    if (instance == NULL || instance[0] == '\0') {
        snprintf(defname, sizeof defname, "cratecast-%s", cfg->txt.id);
        instance = defname;
    }
    if (strlen(instance) >= AVAHI_LABEL_MAX)
        return -EINVAL;

    struct agent_discovery *d = cc_calloc(1, sizeof *d);
    if (d == NULL)
        return -ENOMEM;
    d->name = avahi_strdup(instance);
    if (d->name == NULL) {
        free(d);
        return -ENOMEM;
    }
    int rc = uv_timer_init(loop, &d->timer);
    if (rc < 0) {
        avahi_free(d->name);
        free(d);
        return rc;
    }
    d->open_handles = 1;
    d->loop = loop;
    uvp_init(&d->poll, loop, disc_poll_closed);
    d->port = cfg->port;
    d->txt = cfg->txt;
    d->found = cfg->found;
    d->lost = cfg->lost;
    d->ud = cfg->ud;
    d->force = cfg->force_backend;

    rc = disc_backend_start(d);
    if (rc < 0)
        goto fail;
    *out = d;
    return 0;

fail:
    disc_teardown(d); /* d is freed by the last close callback */
    return rc;
}

int agent_discovery_update(struct agent_discovery *d, const struct proto_txt *txt)
{
    char probe[4][64];
    if (d == NULL || txt == NULL || proto_txt_encode(txt, probe) <= 0)
        return -EINVAL;
    d->txt = *txt;
    if (d->stopping || d->port == 0 || !d->group_filled)
        return 0; /* used when the service is (re)published */
    AvahiStringList *l = disc_txt_strlst(&d->txt);
    if (l == NULL)
        return -ENOMEM;
    int r;
    if (d->backend == DISC_CLIENT)
        r = dcl->avahi_entry_group_update_service_txt_strlst(
            d->cgroup, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, d->name, DISC_TYPE, NULL, l);
    else
        r = dco->avahi_server_update_service_txt_strlst(d->server, d->sgroup, AVAHI_IF_UNSPEC,
                                                        AVAHI_PROTO_UNSPEC, 0, d->name, DISC_TYPE,
                                                        NULL, l);
    avahi_string_list_free(l);
    if (r < 0) {
        log_debug("discovery: TXT update failed (%s); re-announcing", avahi_strerror(r));
        disc_group_reset(d);
        if (disc_group_fill(d) < 0)
            return -EIO;
    }
    return 0;
}

void agent_discovery_stop(struct agent_discovery *d)
{
    if (d == NULL || d->stopping)
        return;
    d->stopping = true; /* no found()/lost() from here on */
    if (d->depth > 0)
        disc_kick(d, 0); /* inside our own callback: tear down on the next turn */
    else
        disc_teardown(d);
}

const char *agent_discovery_backend(const struct agent_discovery *d)
{
    if (d == NULL)
        return "none";
    switch (d->backend) {
    case DISC_CLIENT:
        return "avahi-daemon";
    case DISC_CORE:
        return "avahi-core";
    case DISC_NONE:
        break;
    }
    return "none";
}
