/* agent/activity.c — see activity.h. */
#include "agent/activity.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent/core.h"
#include "agent/log.h"
#include "proto/addr.h"
#include "proto/alloc.h"

#define ACTIVITY_PEERS 8 /* distinct peers counted per burst (more: "8+") */

struct client {
    bool used;
    struct proto_peer_addr who; /* port 0: a client is its IP */
    uint64_t first_ms, last_ms;
    uint64_t crates, bytes, from_store, from_upstream, from_peers;
    char peers[ACTIVITY_PEERS][PROTO_PEER_ADDR_MAX + 1];
    unsigned npeers;
    bool peers_more;
};

struct agent_activity {
    bool started;
    uv_timer_t timer;
    struct client c[ACTIVITY_CLIENTS];
};

struct agent_activity *agent_activity_new(void)
{
    return cc_calloc(1, sizeof(struct agent_activity));
}

static void sum_up(struct client *c)
{
    char ip[PROTO_PEER_ADDR_TEXT_MAX], parts[160] = "";
    size_t n = 0;
    if (proto_peer_addr_format(&c->who, ip) < 0)
        snprintf(ip, sizeof ip, "?");
    char *colon = strrchr(ip, ':'); /* the port is 0: drop it */
    if (colon)
        *colon = '\0';
    if (c->from_store)
        n += (size_t)snprintf(parts + n, sizeof parts - n, "%s%llu from the store", n ? ", " : "",
                              (unsigned long long)c->from_store);
    if (c->from_peers && n < sizeof parts)
        n += (size_t)snprintf(parts + n, sizeof parts - n, "%s%llu from %s%u peer%s", n ? ", " : "",
                              (unsigned long long)c->from_peers, c->peers_more ? "more than " : "",
                              c->npeers, c->npeers == 1 && !c->peers_more ? "" : "s");
    if (c->from_upstream && n < sizeof parts)
        snprintf(parts + n, sizeof parts - n, "%s%llu from the upstream", n ? ", " : "",
                 (unsigned long long)c->from_upstream);
    log_info("sent %llu crate%s (%.1f MB) to %s: %s", (unsigned long long)c->crates,
             c->crates == 1 ? "" : "s", (double)c->bytes / 1e6, ip, parts);
    memset(c, 0, sizeof *c);
}

static void on_timer(uv_timer_t *t)
{
    struct agent *a = t->data;
    struct agent_activity *ac = agent_activity(a);
    uint64_t now = uv_now(agent_loop(a));
    bool any = false;
    for (size_t i = 0; i < ACTIVITY_CLIENTS; i++) {
        struct client *c = &ac->c[i];
        if (!c->used)
            continue;
        if (now - c->last_ms >= ACTIVITY_QUIET_MS || now - c->first_ms >= ACTIVITY_MAX_MS)
            sum_up(c);
        else
            any = true;
    }
    if (!any)
        uv_timer_stop(t);
}

void agent_activity_crate(struct agent *a, const struct sockaddr *sa, const char *source,
                          uint64_t size)
{
    struct agent_activity *ac = agent_activity(a);
    struct proto_peer_addr who;
    if (sa == NULL || proto_peer_addr_from_sockaddr(sa, &who) < 0)
        return;
    who.port = 0;
    uint64_t now = uv_now(agent_loop(a));
    struct client *c = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < ACTIVITY_CLIENTS && c == NULL; i++) {
        struct client *x = &ac->c[i];
        if (!x->used) {
            if (free_slot == NULL)
                free_slot = x;
        } else if (proto_peer_addr_eq(&x->who, &who)) {
            c = x;
        } else if (oldest == NULL || x->first_ms < oldest->first_ms) {
            oldest = x;
        }
    }
    if (c == NULL) {
        c = free_slot ? free_slot : oldest;
        if (c->used)
            sum_up(c); /* more clients than followed: the oldest burst ends early */
        c->used = true;
        c->who = who;
        c->first_ms = now;
    }
    c->last_ms = now;
    c->crates++;
    c->bytes += size;
    if (strncmp(source, "peer ", 5) == 0) {
        c->from_peers++;
        bool seen = false;
        for (unsigned i = 0; i < c->npeers && !seen; i++)
            seen = strcmp(c->peers[i], source + 5) == 0;
        if (!seen && c->npeers < ACTIVITY_PEERS)
            snprintf(c->peers[c->npeers++], sizeof c->peers[0], "%s", source + 5);
        else if (!seen)
            c->peers_more = true;
    } else if (strcmp(source, "upstream") == 0) {
        c->from_upstream++;
    } else {
        c->from_store++;
    }
    if (!ac->started) {
        uv_timer_init(agent_loop(a), &ac->timer);
        ac->timer.data = a;
        ac->started = true;
    }
    if (!uv_is_active((uv_handle_t *)&ac->timer))
        uv_timer_start(&ac->timer, on_timer, 500, 500);
}

void agent_activity_close(struct agent *a)
{
    struct agent_activity *ac = agent_activity(a);
    if (ac == NULL || !ac->started)
        return;
    for (size_t i = 0; i < ACTIVITY_CLIENTS; i++)
        if (ac->c[i].used)
            sum_up(&ac->c[i]);
    ac->started = false;
    uv_timer_stop(&ac->timer);
    uv_close((uv_handle_t *)&ac->timer, NULL);
}
