/* agent/uploads.h — crate uploads to peers: a bounded number of slots, a
 * fair queue beyond them (one requester cannot take every turn), first copies
 * before repeats, and a send deadline that takes a slow reader's slot back
 * (uploads.c).
 *
 * Ownership: the part's state is allocated zeroed by agent_uploads_new and
 * owned by uploads.c; an upload lives until h2o disposes of its request. A
 * queued request is answered exactly once: sent, or 503 when its wait is over.
 * agent_uploads_close stops the timer (safe when init never ran); queued
 * requests are not answered after it (their connections die with the
 * process). Loop thread only.
 */
#ifndef CRATECAST_AGENT_UPLOADS_H
#define CRATECAST_AGENT_UPLOADS_H

#include <stdint.h>

#include "proto/sha256.h"

struct agent;
struct agent_uploads;
struct st_h2o_req_t;

struct agent_uploads *agent_uploads_new(void);
void agent_uploads_init(struct agent *a);
void agent_uploads_close(struct agent *a);
/* Uploads holding a slot now, and requests waiting for one. */
unsigned agent_uploads_active(const struct agent *a);
unsigned agent_uploads_waiting(const struct agent *a);
/* Send a held blob to a peer now, or queue the request fairly. */
void agent_uploads_request(struct agent *a, struct st_h2o_req_t *req,
                           const uint8_t sha[PROTO_SHA256_LEN]);
/* A slot came free: start the next waiting upload. */
void agent_uploads_next(struct agent *a);
/* Upload slots (concurrent crate uploads), the rest wait their turn. */
unsigned agent_uploads_slots(const struct agent *a);

#endif
