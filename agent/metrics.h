/* agent/metrics.h — GET /metrics: the status document in the Prometheus text
 * exposition format (version 0.0.4), plus a histogram of how long the Cargo
 * side takes to answer.
 *
 * Names follow Prometheus' conventions: the cratecast_ prefix, base units
 * (bytes, seconds), _total on counters, one metric with a label where a
 * quantity is split (cratecast_crates_fetched_total{source="peer"}). The list
 * with their meanings is in docs/operations.md ("Metrics").
 *
 * Pure: no I/O, no agent state (unit-tested). The histogram is plain data
 * owned by whoever observes (registry.c).
 */
#ifndef CRATECAST_AGENT_METRICS_H
#define CRATECAST_AGENT_METRICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_BUCKETS 14

/* Request durations: counts per upper bound (cumulative when rendered). */
struct metrics_histogram {
    uint64_t le[METRICS_BUCKETS]; /* observations <= metrics_bounds[i] and > the one before */
    uint64_t inf;                 /* above the last bound */
    uint64_t count;
    double sum; /* seconds */
};

extern const double metrics_bounds[METRICS_BUCKETS]; /* seconds, increasing */

void metrics_observe(struct metrics_histogram *h, double seconds);
/* The metrics text for a status document (agent/status.h) and the Cargo
 * side's request durations; malloc'd, NULL on out-of-memory. */
char *metrics_text(const json_t *status, const struct metrics_histogram *h, size_t *len);

#endif
