/* agent/status.h — the status document (GET /-/status, `cratecast status`)
 * and `why` (GET /-/why/<name>), as compact JSON (status.c, why.c).
 *
 * Ownership: every returned string is malloc'd and the caller frees it.
 */
#ifndef CRATECAST_AGENT_STATUS_H
#define CRATECAST_AGENT_STATUS_H

#include <jansson.h>
#include <stddef.h>

struct agent;

/* doc as compact JSON (doc is released), NULL when doc is NULL or on
 * out-of-memory. */
char *agent_json_take(json_t *doc, size_t *len);
/* The status document (cargo_host: where Cargo is served), NULL on
 * out-of-memory; as JSON text, and as a jansson value the caller releases. */
char *agent_status_json(struct agent *a, const char *cargo_host, size_t *len);
json_t *agent_status_doc(struct agent *a, const char *cargo_host);
/* Every known version of name and where it can come from, NULL on
 * out-of-memory or a store error. */
char *agent_why_json(struct agent *a, const char *name, size_t *len);

#endif
