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

#include <uv.h>

#include "agent/core.h"
#include "agent/http_client.h"
#include "agent/log.h"
#include "agent/upstream.h"
#include "agent/upstream_state.h"
#include "agent/waiters.h"
#include "proto/alloc.h"
#include "proto/config.h"

struct agent_upstream {
    bool started;          /* agent_upstream_init ran (probe_timer initialised); close clears it */
    struct upstream_sm sm; /* the state machine (upstream_state.h) */
    char *base;            /* index root with a trailing '/', "sparse+" stripped */
    char *dl;              /* the upstream's dl template, once config.json was read */
    uv_timer_t probe_timer;
    int64_t since; /* unix time of the last state change */
    char last_error[256];
    struct agent_waiters waiters; /* parked until the first probe answers */
};

struct agent_upstream *agent_upstream_new(void)
{
    return cc_calloc(1, sizeof(struct agent_upstream));
}

static void probe_start(struct agent *a);

const char *agent_upstream_state_name(const struct agent *a)
{
    return upstream_state_name(agent_upstream(a)->sm.state);
}

enum upstream_state agent_upstream_state(const struct agent *a)
{
    return agent_upstream(a)->sm.state;
}

bool agent_upstream_online(const struct agent *a)
{
    return agent_upstream(a)->sm.state == UPSTREAM_ONLINE;
}

const char *agent_upstream_base(const struct agent *a)
{
    return agent_upstream(a)->base;
}

const char *agent_upstream_dl(const struct agent *a)
{
    return agent_upstream(a)->dl;
}

const char *agent_upstream_last_error(const struct agent *a)
{
    return agent_upstream(a)->last_error[0] ? agent_upstream(a)->last_error : NULL;
}

int64_t agent_upstream_since(const struct agent *a)
{
    return agent_upstream(a)->since;
}

static void on_probe_timer(uv_timer_t *t);

/* Do what the state machine asked for after an event. */
static void act(struct agent *a, struct upstream_action x, const char *why)
{
    if (why)
        snprintf(agent_upstream(a)->last_error, sizeof agent_upstream(a)->last_error, "%s", why);
    if (x.changed) {
        agent_upstream(a)->since = agent_now();
        if (agent_upstream(a)->sm.state == UPSTREAM_ONLINE)
            log_info("upstream %s is reachable: online", agent_upstream(a)->base);
        else if (agent_upstream(a)->sm.state == UPSTREAM_OFFLINE)
            log_warn("upstream %s unreachable (%s): offline, serving what the store holds",
                     agent_upstream(a)->base, why ? why : "?");
    }
    if (agent_upstream(a)->sm.state != UPSTREAM_UNKNOWN)
        agent_waiters_release(a, &agent_upstream(a)->waiters, 0, NULL);
    if (agent_stopping(a))
        return;
    if (x.stop_timer)
        uv_timer_stop(&agent_upstream(a)->probe_timer);
    if (x.arm_timer) {
        uv_update_time(agent_loop(a));
        uv_timer_start(&agent_upstream(a)->probe_timer, on_probe_timer, x.timer_ms, 0);
    }
    if (x.probe_now)
        probe_start(a);
}

void agent_upstream_failed(struct agent *a, const char *why)
{
    if (agent_upstream(a)->sm.state == UPSTREAM_NONE)
        return;
    agent_counters(a)->upstream_errors++;
    act(a, upstream_state_failed(&agent_upstream(a)->sm), why);
}

static void probe_done(void *ud, struct agent_http_response *res)
{
    struct agent *a = ud;
    if (agent_stopping(a)) {
        agent_upstream(a)->sm.probing = false;
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
            free(agent_upstream(a)->dl);
            agent_upstream(a)->dl = cfg.dl;
            cfg.dl = NULL;
            proto_config_clear(&cfg);
            act(a, upstream_state_probe_done(&agent_upstream(a)->sm, true), NULL);
            return;
        }
        snprintf(why, sizeof why, "config.json is not a registry configuration (%s)",
                 strerror(-rc));
    }
    agent_counters(a)->upstream_errors++;
    act(a, upstream_state_probe_done(&agent_upstream(a)->sm, false), why);
}

static void probe_start(struct agent *a)
{
    if (agent_upstream(a)->sm.probing || agent_stopping(a))
        return;
    uv_update_time(agent_loop(a));
    char url[PROTO_URL_MAX];
    struct agent_http_request req = {
        .url = url,
        .max_body = PROTO_CONFIG_MAX,
        .connect_timeout_ms = 3000,
        .timeout_ms = 10000,
        .follow_redirects = 1,
    };
    bool ok = agent_upstream_url(a, "config.json", url, sizeof url) >= 0 &&
              agent_http_get(agent_http(a), &req, probe_done, a) == 0;
    act(a, upstream_state_probe_started(&agent_upstream(a)->sm, ok, uv_now(agent_loop(a))),
        ok ? NULL : "could not start the probe");
}

static void on_probe_timer(uv_timer_t *t)
{
    struct agent *a = t->data;
    act(a, upstream_state_timer(&agent_upstream(a)->sm), NULL);
}

void agent_upstream_nudge(struct agent *a)
{
    if (agent_stopping(a))
        return;
    uv_update_time(agent_loop(a));
    act(a, upstream_state_nudge(&agent_upstream(a)->sm, uv_now(agent_loop(a))), NULL);
}

int agent_upstream_url(const struct agent *a, const char *rel, char *out, size_t outsz)
{
    int n =
        snprintf(out, outsz, "%s%s", agent_upstream(a)->base ? agent_upstream(a)->base : "", rel);
    if (n < 0 || (size_t)n >= outsz)
        return -ENAMETOOLONG;
    return n;
}

void agent_upstream_when_ready(struct agent *a, agent_done_cb cb, void *ud)
{
    if (agent_upstream(a)->sm.state != UPSTREAM_UNKNOWN)
        cb(a, ud, 0, NULL);
    else
        agent_waiters_park(a, &agent_upstream(a)->waiters, cb, ud);
}

/* Lifetime: agent_upstream_init initialises the probe timer and sets
 * `started`; agent_upstream_close undoes it and clears `started`, and does
 * nothing when `started` is not set (init never ran, as after a startup error
 * before it, or close ran already): struct agent starts zeroed. */
int agent_upstream_init(struct agent *a, const char *url)
{
    memset(agent_upstream(a), 0, sizeof *agent_upstream(a));
    uv_timer_init(agent_loop(a), &agent_upstream(a)->probe_timer);
    agent_upstream(a)->probe_timer.data = a;
    agent_upstream(a)->started = true;
    if (url != NULL) {
        if (strncmp(url, "sparse+", 7) == 0)
            url += 7;
        size_t n = strlen(url);
        agent_upstream(a)->base = cc_malloc(n + 2);
        if (agent_upstream(a)->base == NULL)
            return -ENOMEM;
        memcpy(agent_upstream(a)->base, url, n);
        if (n == 0 || url[n - 1] != '/')
            agent_upstream(a)->base[n++] = '/';
        agent_upstream(a)->base[n] = '\0';
    }
    agent_upstream(a)->since = agent_now();
    act(a, upstream_state_init(&agent_upstream(a)->sm, url != NULL), NULL);
    return 0;
}

void agent_upstream_close(struct agent *a)
{
    if (!agent_upstream(a)->started)
        return;
    agent_upstream(a)->started = false;
    uv_timer_stop(&agent_upstream(a)->probe_timer);
    uv_close((uv_handle_t *)&agent_upstream(a)->probe_timer, NULL);
    /* at shutdown the parked fetches were already aborted: drop, do not call */
    agent_waiters_drop(&agent_upstream(a)->waiters);
    free(agent_upstream(a)->base);
    free(agent_upstream(a)->dl);
    agent_upstream(a)->base = agent_upstream(a)->dl = NULL;
}
