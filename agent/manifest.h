/* agent/manifest.h — this agent's signed manifest (what the store holds, for
 * peers), rebuilt when the store's sequence moves (manifest.c).
 *
 * Ownership: the part's state (cached encodings) is allocated zeroed by
 * agent_manifest_new and owned by manifest.c; agent_manifest_close frees the
 * encodings (safe when init never ran). Loop thread only.
 */
#ifndef CRATECAST_AGENT_MANIFEST_H
#define CRATECAST_AGENT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

struct agent;
struct agent_manifest;

struct agent_manifest *agent_manifest_new(void);
/* Start from the store's sequence now (at startup). */
void agent_manifest_init(struct agent *a);
void agent_manifest_close(struct agent *a);
/* The encoded, signed manifest (since == 0) or delta (since > 0) of this
 * agent: 0 or -errno. *buf stays owned by manifest.c (valid until the next
 * call). */
int agent_manifest_get(struct agent *a, uint64_t since, const uint8_t **buf, size_t *len);
/* Called every second: notices a new store sequence, rebuilds, re-announces. */
void agent_manifest_tick(struct agent *a);
/* The store sequence peers were last told of (TXT record, status). */
uint64_t agent_manifest_seq(const struct agent *a);

#endif
