/* agent/upstream_state.c — see upstream_state.h. */
#include <string.h>

#include "agent/upstream_state.h"

static void set(struct upstream_sm *m, enum upstream_state st, struct upstream_action *act)
{
    if (m->state != st)
        act->changed = true;
    m->state = st;
}

/* Arm the probe timer with the current back-off, then double it (capped);
 * nothing while a probe is in flight (its answer decides). */
static void schedule(struct upstream_sm *m, struct upstream_action *act)
{
    if (m->probing)
        return;
    if (m->backoff_ms == 0)
        m->backoff_ms = UPSTREAM_BACKOFF_MIN_MS;
    act->arm_timer = true;
    act->timer_ms = m->backoff_ms;
    m->backoff_ms *= 2;
    if (m->backoff_ms > UPSTREAM_BACKOFF_MAX_MS)
        m->backoff_ms = UPSTREAM_BACKOFF_MAX_MS;
}

struct upstream_action upstream_state_init(struct upstream_sm *m, bool has_upstream)
{
    struct upstream_action act = {0};
    memset(m, 0, sizeof *m);
    if (!has_upstream) {
        m->state = UPSTREAM_NONE;
        return act;
    }
    m->state = UPSTREAM_UNKNOWN;
    act.probe_now = true;
    return act;
}

struct upstream_action upstream_state_probe_started(struct upstream_sm *m, bool ok, uint64_t now_ms)
{
    struct upstream_action act = {0};
    m->probed_ms = now_ms;
    if (ok) {
        m->probing = true;
        return act;
    }
    schedule(m, &act);
    if (m->state == UPSTREAM_UNKNOWN) /* the first probe could not even start */
        set(m, UPSTREAM_OFFLINE, &act);
    return act;
}

struct upstream_action upstream_state_failed(struct upstream_sm *m)
{
    struct upstream_action act = {0};
    if (m->state == UPSTREAM_NONE)
        return act;
    set(m, UPSTREAM_OFFLINE, &act);
    schedule(m, &act);
    return act;
}

struct upstream_action upstream_state_probe_done(struct upstream_sm *m, bool ok)
{
    m->probing = false;
    if (!ok)
        return upstream_state_failed(m);
    struct upstream_action act = {0};
    if (m->state == UPSTREAM_NONE)
        return act;
    m->backoff_ms = 0;
    set(m, UPSTREAM_ONLINE, &act);
    return act;
}

struct upstream_action upstream_state_timer(struct upstream_sm *m)
{
    struct upstream_action act = {0};
    act.probe_now = m->state != UPSTREAM_NONE && !m->probing;
    return act;
}

struct upstream_action upstream_state_nudge(struct upstream_sm *m, uint64_t now_ms)
{
    struct upstream_action act = {0};
    if (m->state != UPSTREAM_OFFLINE || m->probing)
        return act;
    if (now_ms - m->probed_ms < UPSTREAM_NUDGE_MIN_MS)
        return act;
    act.stop_timer = true;
    act.probe_now = true;
    return act;
}

const char *upstream_state_name(enum upstream_state s)
{
    switch (s) {
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
