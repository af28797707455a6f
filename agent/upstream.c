/* agent/upstream.c — the upstream registry and whether it can be reached.
 *
 * The states and their transitions are agent/upstream_state.h's (pure, tested
 * with a fake clock); this file performs what it asks for: probes of
 * config.json over HTTP (agent_http_get), the probe timer, logging the changes
 * and waking the requests parked while the first probe was in flight. A
 * successful probe keeps the upstream's dl template for crate downloads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "agent/log.h"
#include "proto/config.h"
#include "proto/alloc.h"

static void probe_start(struct agent *a);

const char *agent_upstream_state_name(const struct agent *a)
{
    return upstream_state_name(a->up.sm.state);
}

enum upstream_state agent_upstream_state(const struct agent *a)
{
    return a->up.sm.state;
}

bool agent_upstream_online(const struct agent *a)
{
    return a->up.sm.state == UPSTREAM_ONLINE;
}

const char *agent_upstream_base(const struct agent *a)
{
    return a->up.base;
}

const char *agent_upstream_dl(const struct agent *a)
{
    return a->up.dl;
}

const char *agent_upstream_last_error(const struct agent *a)
{
    return a->up.last_error[0] ? a->up.last_error : NULL;
}

int64_t agent_upstream_since(const struct agent *a)
{
    return a->up.since;
}

static void on_probe_timer(uv_timer_t *t);

/* Do what the state machine asked for after an event. */
static void act(struct agent *a, struct upstream_action x, const char *why)
{
    if (why)
        snprintf(a->up.last_error, sizeof a->up.last_error, "%s", why);
    if (x.changed) {
        a->up.since = agent_now();
        if (a->up.sm.state == UPSTREAM_ONLINE)
            log_info("upstream %s is reachable: online", a->up.base);
        else if (a->up.sm.state == UPSTREAM_OFFLINE)
            log_warn("upstream %s unreachable (%s): offline, serving what the store holds",
                     a->up.base, why ? why : "?");
    }
    if (a->up.sm.state != UPSTREAM_UNKNOWN)
        agent_waiters_release(a, &a->up.waiters);
    if (a->stopping)
        return;
    if (x.stop_timer)
        uv_timer_stop(&a->up.probe_timer);
    if (x.arm_timer) {
        uv_update_time(&a->loop);
        uv_timer_start(&a->up.probe_timer, on_probe_timer, x.timer_ms, 0);
    }
    if (x.probe_now)
        probe_start(a);
}

void agent_upstream_failed(struct agent *a, const char *why)
{
    if (a->up.sm.state == UPSTREAM_NONE)
        return;
    a->counters.upstream_errors++;
    act(a, upstream_state_failed(&a->up.sm), why);
}

static void probe_done(void *ud, struct agent_http_response *res)
{
    struct agent *a = ud;
    if (a->stopping) {
        a->up.sm.probing = false;
        return;
    }
    char why[256];
    if (res->error || res->status != 200) {
        char f[200];
        snprintf(why, sizeof why, "config.json: %s", agent_http_failure(res, f, sizeof f));
    } else {
        struct proto_registry_config cfg;
        int rc = proto_config_parse(res->body, res->len, &cfg);
        if (rc == 0) {
            free(a->up.dl);
            a->up.dl = cfg.dl;
            cfg.dl = NULL;
            proto_config_clear(&cfg);
            act(a, upstream_state_probe_done(&a->up.sm, true), NULL);
            return;
        }
        snprintf(why, sizeof why, "config.json is not a registry configuration (%s)",
                 strerror(-rc));
    }
    a->counters.upstream_errors++;
    act(a, upstream_state_probe_done(&a->up.sm, false), why);
}

static void probe_start(struct agent *a)
{
    if (a->up.sm.probing || a->stopping)
        return;
    uv_update_time(&a->loop);
    char url[PROTO_URL_MAX];
    struct agent_http_request req = {
        .url = url,
        .max_body = PROTO_CONFIG_MAX,
        .connect_timeout_ms = 3000,
        .timeout_ms = 10000,
        .follow_redirects = 1,
    };
    bool ok = agent_upstream_url(a, "config.json", url, sizeof url) >= 0 &&
              agent_http_get(&a->http, &req, probe_done, a) == 0;
    act(a, upstream_state_probe_started(&a->up.sm, ok, uv_now(&a->loop)),
        ok ? NULL : "could not start the probe");
}

static void on_probe_timer(uv_timer_t *t)
{
    struct agent *a = container_of(t, struct agent, up.probe_timer);
    act(a, upstream_state_timer(&a->up.sm), NULL);
}

void agent_upstream_nudge(struct agent *a)
{
    if (a->stopping)
        return;
    uv_update_time(&a->loop);
    act(a, upstream_state_nudge(&a->up.sm, uv_now(&a->loop)), NULL);
}

int agent_upstream_url(const struct agent *a, const char *rel, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s%s", a->up.base ? a->up.base : "", rel);
    if (n < 0 || (size_t)n >= outsz)
        return -ENAMETOOLONG;
    return n;
}

void agent_upstream_when_ready(struct agent *a, agent_ready_cb cb, void *ud)
{
    if (a->up.sm.state != UPSTREAM_UNKNOWN)
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
    if (url != NULL) {
        if (strncmp(url, "sparse+", 7) == 0)
            url += 7;
        size_t n = strlen(url);
        a->up.base = cc_malloc(n + 2);
        if (a->up.base == NULL)
            return -ENOMEM;
        memcpy(a->up.base, url, n);
        if (n == 0 || url[n - 1] != '/')
            a->up.base[n++] = '/';
        a->up.base[n] = '\0';
    }
    a->up.since = agent_now();
    act(a, upstream_state_init(&a->up.sm, url != NULL), NULL);
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
