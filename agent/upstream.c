/* agent/upstream.c — the upstream registry and whether it can be reached.
 *
 * States (enum upstream_state) and transitions:
 *   NONE     --upstream none; final.
 *   UNKNOWN  at start, while the first probe of config.json is in flight.
 *            Requests park here (agent_upstream_when_ready) so that Cargo's
 *            first request is not answered "offline" by accident.
 *   ONLINE   the last probe or transfer succeeded.
 *   OFFLINE  a probe or transfer failed with a network error, a timeout or a
 *            5xx (agent_upstream_failed). The probe timer re-reads config.json
 *            after a back-off that doubles from 1 s up to 15 s, and a request
 *            from Cargo probes at once (at most every 2 s: agent_upstream_nudge),
 *            so a healed uplink is used again within seconds.
 * UNKNOWN/OFFLINE -> ONLINE happens in probe_done() on a 200 with a valid
 * config.json; its dl template is kept for crate downloads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "agent/log.h"
#include "proto/config.h"

#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 15000u
#define NUDGE_MIN_MS 2000u /* a Cargo request re-probes an offline upstream at most this often */

static void probe_start(struct agent *a);

const char *agent_upstream_state_name(const struct agent *a)
{
    switch (a->up.state) {
    case UPSTREAM_NONE:
        return "none";
    case UPSTREAM_UNKNOWN:
        return "probing";
    case UPSTREAM_ONLINE:
        return "online";
    case UPSTREAM_OFFLINE:
        return "offline";
    }
    return "?";
}

bool agent_upstream_online(const struct agent *a)
{
    return a->up.state == UPSTREAM_ONLINE;
}

void agent_waiters_add(struct agent *a, struct upstream_waiter **list, upstream_ready_cb cb,
                       void *ud)
{
    struct upstream_waiter *w = malloc(sizeof *w);
    if (w == NULL) {
        cb(a, ud);
        return;
    }
    w->cb = cb;
    w->ud = ud;
    w->next = *list;
    *list = w;
}

void agent_waiters_release(struct agent *a, struct upstream_waiter **list)
{
    struct upstream_waiter *w = *list;
    *list = NULL;
    while (w) {
        struct upstream_waiter *next = w->next;
        w->cb(a, w->ud);
        free(w);
        w = next;
    }
}

void agent_waiters_drop(struct upstream_waiter **list)
{
    while (*list) {
        struct upstream_waiter *w = *list;
        *list = w->next;
        free(w);
    }
}

static void set_state(struct agent *a, enum upstream_state st, const char *why)
{
    enum upstream_state old = a->up.state;
    a->up.state = st;
    if (old != st) {
        a->up.since = agent_now();
        if (st == UPSTREAM_ONLINE)
            log_info("upstream %s is reachable: online", a->up.base);
        else if (st == UPSTREAM_OFFLINE)
            log_warn("upstream %s unreachable (%s): offline, serving what the store holds",
                     a->up.base, why ? why : "?");
    }
    if (why)
        snprintf(a->up.last_error, sizeof a->up.last_error, "%s", why);
    if (st != UPSTREAM_UNKNOWN)
        agent_waiters_release(a, &a->up.waiters);
}

static void on_probe_timer(uv_timer_t *t)
{
    struct agent *a = container_of(t, struct agent, up.probe_timer);
    probe_start(a);
}

static void schedule_probe(struct agent *a)
{
    if (a->stopping || a->up.probing)
        return;
    if (a->up.backoff_ms == 0)
        a->up.backoff_ms = BACKOFF_MIN_MS;
    uv_update_time(&a->loop);
    uv_timer_start(&a->up.probe_timer, on_probe_timer, a->up.backoff_ms, 0);
    a->up.backoff_ms *= 2;
    if (a->up.backoff_ms > BACKOFF_MAX_MS)
        a->up.backoff_ms = BACKOFF_MAX_MS;
}

void agent_upstream_failed(struct agent *a, const char *why)
{
    if (a->up.state == UPSTREAM_NONE)
        return;
    a->counters.upstream_errors++;
    set_state(a, UPSTREAM_OFFLINE, why);
    schedule_probe(a);
}

static void probe_done(void *ud, struct agent_http_response *res)
{
    struct agent *a = ud;
    a->up.probing = false;
    if (a->stopping)
        return;
    char why[256];
    if (res->error) {
        snprintf(why, sizeof why, "%s", res->error_text ? res->error_text : "transfer failed");
    } else if (res->status != 200) {
        snprintf(why, sizeof why, "config.json answered HTTP %ld", res->status);
    } else {
        struct proto_registry_config cfg;
        int rc = proto_config_parse(res->body, res->len, &cfg);
        if (rc == 0) {
            free(a->up.dl);
            a->up.dl = cfg.dl;
            cfg.dl = NULL;
            proto_config_clear(&cfg);
            a->up.backoff_ms = 0;
            set_state(a, UPSTREAM_ONLINE, NULL);
            return;
        }
        snprintf(why, sizeof why, "config.json is not a registry configuration (%s)",
                 strerror(-rc));
    }
    agent_upstream_failed(a, why);
}

static void probe_start(struct agent *a)
{
    if (a->up.probing || a->stopping)
        return;
    uv_update_time(&a->loop);
    a->up.probed_ms = uv_now(&a->loop);
    char url[PROTO_URL_MAX];
    if (agent_upstream_url(a, "config.json", url, sizeof url) < 0)
        return;
    struct agent_http_request req = {
        .url = url,
        .max_body = PROTO_CONFIG_MAX,
        .connect_timeout_ms = 3000,
        .timeout_ms = 10000,
        .follow_redirects = 1,
    };
    if (agent_http_get(&a->http, &req, probe_done, a) == 0)
        a->up.probing = true;
    else
        schedule_probe(a);
}

void agent_upstream_nudge(struct agent *a)
{
    if (a->up.state != UPSTREAM_OFFLINE || a->up.probing || a->stopping)
        return;
    uv_update_time(&a->loop);
    if (uv_now(&a->loop) - a->up.probed_ms < NUDGE_MIN_MS)
        return;
    uv_timer_stop(&a->up.probe_timer);
    probe_start(a);
}

int agent_upstream_url(const struct agent *a, const char *rel, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s%s", a->up.base ? a->up.base : "", rel);
    if (n < 0 || (size_t)n >= outsz)
        return -ENAMETOOLONG;
    return n;
}

void agent_upstream_when_ready(struct agent *a, upstream_ready_cb cb, void *ud)
{
    if (a->up.state != UPSTREAM_UNKNOWN)
        cb(a, ud);
    else
        agent_waiters_add(a, &a->up.waiters, cb, ud);
}

/* Lifetime: agent_upstream_init initialises the probe timer and sets
 * `started`; agent_upstream_close undoes it and clears `started`, and does
 * nothing when `started` is not set (init never ran, as after a startup error
 * before it, or close ran already): struct agent starts zeroed. */
int agent_upstream_init(struct agent *a, const char *url)
{
    memset(&a->up, 0, sizeof a->up);
    uv_timer_init(&a->loop, &a->up.probe_timer);
    a->up.started = true;
    if (url == NULL) {
        a->up.state = UPSTREAM_NONE;
        return 0;
    }
    if (strncmp(url, "sparse+", 7) == 0)
        url += 7;
    size_t n = strlen(url);
    a->up.base = malloc(n + 2);
    if (a->up.base == NULL)
        return -ENOMEM;
    memcpy(a->up.base, url, n);
    if (n == 0 || url[n - 1] != '/')
        a->up.base[n++] = '/';
    a->up.base[n] = '\0';
    a->up.state = UPSTREAM_UNKNOWN;
    a->up.since = agent_now();
    probe_start(a);
    if (!a->up.probing)
        set_state(a, UPSTREAM_OFFLINE, "could not start the probe");
    return 0;
}

void agent_upstream_close(struct agent *a)
{
    if (!a->up.started)
        return;
    a->up.started = false;
    uv_timer_stop(&a->up.probe_timer);
    uv_close((uv_handle_t *)&a->up.probe_timer, NULL);
    /* at shutdown the parked fetches were already aborted: drop, do not call */
    agent_waiters_drop(&a->up.waiters);
    free(a->up.base);
    free(a->up.dl);
    a->up.base = a->up.dl = NULL;
}
