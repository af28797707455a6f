/* agent/metrics.c — see metrics.h. */
#include "agent/metrics.h"

#include <string.h>

#include "proto/textbuf.h"

const double metrics_bounds[METRICS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void metrics_observe(struct metrics_histogram *h, double seconds)
{
    if (seconds < 0)
        seconds = 0;
    size_t i = 0;
    while (i < METRICS_BUCKETS && seconds > metrics_bounds[i])
        i++;
    if (i < METRICS_BUCKETS)
        h->le[i]++;
    else
        h->inf++;
    h->count++;
    h->sum += seconds;
}

static json_int_t num(const json_t *doc, const char *obj, const char *key)
{
    const json_t *o = obj ? json_object_get(doc, obj) : doc;
    return json_integer_value(json_object_get(o, key));
}

static void head(struct textbuf *b, const char *name, const char *type, const char *help)
{
    textbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct textbuf *b, const char *name, const char *type, const char *help,
                long long v)
{
    head(b, name, type, help);
    textbuf_printf(b, "%s %lld\n", name, v);
}

/* A counter split by one label: pairs of (label value, key in obj). */
static void split(struct textbuf *b, const char *name, const char *help, const char *label,
                  const json_t *doc, const char *obj, const char *const *pairs)
{
    head(b, name, "counter", help);
    for (size_t i = 0; pairs[i]; i += 2)
        textbuf_printf(b, "%s{%s=\"%s\"} %lld\n", name, label, pairs[i],
                       (long long)num(doc, obj, pairs[i + 1]));
}

char *metrics_text(const json_t *doc, const struct metrics_histogram *h, size_t *len)
{
    struct textbuf b;
    textbuf_init(&b);
    one(&b, "cratecast_online", "gauge", "1 when the upstream registry answers, else 0.",
        json_is_true(json_object_get(doc, "online")) ? 1 : 0);
    one(&b, "cratecast_uptime_seconds", "gauge", "Seconds since the agent started.",
        (long long)num(doc, NULL, "uptime_s"));
    one(&b, "cratecast_store_bytes", "gauge", "Bytes of crate files in the store.",
        (long long)num(doc, "store", "bytes"));
    one(&b, "cratecast_store_crates", "gauge", "Crate files in the store.",
        (long long)num(doc, "store", "crates"));
    one(&b, "cratecast_store_index_entries", "gauge", "Index entries (crate versions) known.",
        (long long)num(doc, "store", "index_entries"));

    /* peers by state */
    static const char *const states[] = {"live", "connecting", "failing", "rejected"};
    long long by_state[4] = {0};
    const json_t *peers = json_object_get(doc, "peers");
    size_t i;
    const json_t *p;
    json_array_foreach(peers, i, p)
    {
        const char *st = json_string_value(json_object_get(p, "state"));
        for (size_t k = 0; st && k < 4; k++)
            if (strcmp(st, states[k]) == 0)
                by_state[k]++;
    }
    head(&b, "cratecast_peers", "gauge", "Peers in the peer table, by state.");
    for (size_t k = 0; k < 4; k++)
        textbuf_printf(&b, "cratecast_peers{state=\"%s\"} %lld\n", states[k], by_state[k]);

    static const char *const served[] = {"index", "index_served", "crate", "crates_served", NULL};
    split(&b, "cratecast_cargo_responses_total", "Successful answers to Cargo, by kind.", "kind",
          doc, "counters", served);
    one(&b, "cratecast_cargo_sent_bytes_total", "counter",
        "Bytes of crate files and index files sent to Cargo.",
        (long long)num(doc, "counters", "bytes_served"));
    static const char *const fetched[] = {"store", "from_store", "upstream", "from_upstream",
                                          "peer",  "from_peers", NULL};
    split(&b, "cratecast_crates_total", "Crates handed to Cargo, by where they came from.",
          "source", doc, "counters", fetched);
    static const char *const bytes_in[] = {"upstream", "bytes_from_upstream", "peer",
                                           "bytes_from_peers", NULL};
    split(&b, "cratecast_received_bytes_total", "Crate bytes fetched, by source.", "source", doc,
          "counters", bytes_in);
    one(&b, "cratecast_peer_sent_crates_total", "counter", "Crates uploaded to peers.",
        (long long)num(doc, "counters", "served_to_peers"));
    one(&b, "cratecast_peer_sent_bytes_total", "counter", "Crate bytes uploaded to peers.",
        (long long)num(doc, "counters", "bytes_to_peers"));
    one(&b, "cratecast_peer_relayed_total", "counter",
        "Crates passed on to peers while they were arriving.",
        (long long)num(doc, "counters", "relayed"));
    one(&b, "cratecast_peer_busy_total", "counter", "Upload requests answered busy (503).",
        (long long)num(doc, "counters", "peer_busy"));
    static const char *const rejected[] = {
        "checksum",      "checksum",      "conflict",         "conflict",         "request",
        "request",       "peer_checksum", "peer_checksum",    "peer_signature",   "peer_signature",
        "peer_conflict", "peer_conflict", "peer_unconfirmed", "peer_unconfirmed", NULL};
    split(&b, "cratecast_rejected_total", "Things refused, by cause.", "cause", doc, "rejected",
          rejected);
    one(&b, "cratecast_upstream_errors_total", "counter", "Failed transfers from the upstream.",
        (long long)num(doc, "counters", "upstream_errors"));
    one(&b, "cratecast_misses_total", "counter",
        "Things Cargo asked for that nobody could give (see cratecast status).",
        (long long)num(doc, NULL, "misses_total"));
    one(&b, "cratecast_transfers_in_flight", "gauge", "Fetches running now.",
        (long long)num(doc, "transfers", "in_flight"));
    one(&b, "cratecast_uploads_active", "gauge", "Uploads to peers holding a slot now.",
        (long long)num(doc, "uploads", "active"));
    one(&b, "cratecast_uploads_waiting", "gauge", "Upload requests waiting for a slot.",
        (long long)num(doc, "uploads", "waiting"));

    head(&b, "cratecast_cargo_request_duration_seconds", "histogram",
         "Time from a Cargo request to the end of its answer.");
    uint64_t cum = 0;
    for (size_t k = 0; k < METRICS_BUCKETS; k++) {
        cum += h->le[k];
        textbuf_printf(&b, "cratecast_cargo_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                       metrics_bounds[k], (unsigned long long)cum);
    }
    textbuf_printf(&b,
                   "cratecast_cargo_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                   "cratecast_cargo_request_duration_seconds_sum %.6f\n"
                   "cratecast_cargo_request_duration_seconds_count %llu\n",
                   (unsigned long long)h->count, h->sum, (unsigned long long)h->count);
    return textbuf_take(&b, len);
}
