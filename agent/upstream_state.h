/* agent/upstream_state.h — whether the upstream can be reached: the state
 * machine alone, with time passed in (no loop, no I/O), so it is unit-tested
 * with a fake clock (tests/unit/test-agent-upstream-state.c). upstream.c owns
 * one, performs the actions it asks for (start a probe, arm the probe timer)
 * and reports what happened.
 *
 * States and transitions:
 *   NONE     --upstream none; final: no event changes it, no action is asked.
 *   UNKNOWN  at start, while the first probe of config.json is in flight.
 *            Requests park here (agent_upstream_when_ready) so that Cargo's
 *            first request is not answered "offline" by accident.
 *   ONLINE   the last probe or transfer succeeded.
 *   OFFLINE  a probe or transfer failed with a network error, a timeout or a
 *            5xx. The next probe comes after a back-off that doubles from
 *            UPSTREAM_BACKOFF_MIN_MS up to UPSTREAM_BACKOFF_MAX_MS, and a
 *            request from Cargo probes at once (at most every
 *            UPSTREAM_NUDGE_MIN_MS), so a healed uplink is used again within
 *            seconds.
 *   UNKNOWN/OFFLINE -> ONLINE on a successful probe (which resets the back-off).
 *   any but NONE    -> OFFLINE on a failed probe or transfer.
 * At most one probe is in flight: no event asks for another while one is.
 *
 * Memory: the struct is plain data, embedded by its owner; nothing to free.
 */
#ifndef CRATECAST_AGENT_UPSTREAM_STATE_H
#define CRATECAST_AGENT_UPSTREAM_STATE_H

#include <stdbool.h>
#include <stdint.h>

#define UPSTREAM_BACKOFF_MIN_MS 1000u
#define UPSTREAM_BACKOFF_MAX_MS 15000u
#define UPSTREAM_NUDGE_MIN_MS 2000u /* a Cargo request re-probes at most this often */

enum upstream_state {
    UPSTREAM_NONE = 0, /* --upstream none: never online */
    UPSTREAM_UNKNOWN,  /* first probe in flight: requests wait for it */
    UPSTREAM_ONLINE,
    UPSTREAM_OFFLINE,
};

/* What the owner must do after an event. */
struct upstream_action {
    bool probe_now;    /* start a probe now (then call upstream_state_probe_started) */
    bool arm_timer;    /* (re)arm the probe timer to fire after timer_ms */
    bool stop_timer;   /* stop the probe timer */
    uint32_t timer_ms; /* with arm_timer */
    bool changed;      /* the state changed (log it, wake parked requests) */
};

struct upstream_sm {
    enum upstream_state state;
    bool probing;       /* a probe is in flight */
    uint64_t probed_ms; /* when the last probe started */
    uint32_t backoff_ms;
};

/* NONE when !has_upstream (no action), else UNKNOWN with a probe now. */
struct upstream_action upstream_state_init(struct upstream_sm *m, bool has_upstream);
/* The owner started the probe it was asked for (or could not: ok == false,
 * which counts as a failed probe and returns what to do then). */
struct upstream_action upstream_state_probe_started(struct upstream_sm *m, bool ok,
                                                    uint64_t now_ms);
/* The probe in flight answered: ok (config.json read) or not. */
struct upstream_action upstream_state_probe_done(struct upstream_sm *m, bool ok);
/* A transfer to the upstream failed (network error, timeout, 5xx). */
struct upstream_action upstream_state_failed(struct upstream_sm *m);
/* The probe timer fired. */
struct upstream_action upstream_state_timer(struct upstream_sm *m);
/* Cargo asked for something that needs the upstream. */
struct upstream_action upstream_state_nudge(struct upstream_sm *m, uint64_t now_ms);
/* "none", "probing", "online", "offline". */
const char *upstream_state_name(enum upstream_state s);

#endif
