/* agent/status_page.h — the status page at the Cargo port's root
 * (http://127.0.0.1:7878/): the status document (status.h) as one HTML page a
 * person reads at a glance. Server-rendered, no scripts, no external assets,
 * refreshing itself every STATUS_PAGE_REFRESH_S seconds.
 *
 * What it shows: online or offline (and since when), the store (crates,
 * size), what Cargo was sent, what came from peers and the upstream, what
 * went to peers, the bytes the room saved the uplink, transfers in flight,
 * every peer (who, how found, state, what it holds, bytes both ways, last
 * seen), recent misses, and where the agent listens. Elements carry ids and
 * classes (#state, #store-bytes, tr.peer[data-addr], ...) so a test can read
 * the page's DOM (tests/integration/test-status-page.py).
 *
 * Pure: no I/O, no agent state (unit-tested).
 */
#ifndef CRATECAST_AGENT_STATUS_PAGE_H
#define CRATECAST_AGENT_STATUS_PAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define STATUS_PAGE_REFRESH_S 5

/* The page for a status document at unix time now; malloc'd, NULL on
 * out-of-memory. */
char *status_page_html(const json_t *status, int64_t now, size_t *len);

#endif
