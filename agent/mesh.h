/* agent/mesh.h — a private mesh on the agent's two sides (the construction is
 * proto/mesh.h; what it protects is in docs/security.md).
 *
 * With --network-key, the agent:
 *   - signs every request it sends to a peer (agent_mesh_ticket: the
 *     X-Cratecast-Mesh header, and the key its 200 answer is sealed with, which
 *     agent/http_client.c uses to open it as it arrives);
 *   - answers a peer request only when its header proves the same key, is
 *     fresh and not a replay (agent_mesh_admit); anything else gets 403 and no
 *     body, before any work;
 *   - seals every 200 body it sends to a member (agent_mesh_respond for
 *     messages, agent_mesh_send_file for crates; relay.c seals as it relays);
 *   - announces only its key id (TXT net=) and takes only peers announcing the
 *     same (peers.c).
 * Without a key, a request that carries X-Cratecast-Mesh gets 403 too: a
 * mesh member is given nothing, and takes nothing (its answers would not open).
 *
 * Ownership: the part's state (key, replay table) is allocated zeroed by
 * agent_mesh_new and owned by mesh.c; agent_mesh_close wipes the key. A file
 * being sent lives in its request's memory pool and is closed when h2o
 * disposes of the request. Loop thread only.
 */
#ifndef CRATECAST_AGENT_MESH_H
#define CRATECAST_AGENT_MESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/mesh.h"

struct agent;
struct agent_mesh;
struct agent_http_request;
struct st_h2o_req_t;

struct agent_mesh *agent_mesh_new(void);
/* From the options (--network-key): 0. */
int agent_mesh_init(struct agent *a);
void agent_mesh_close(struct agent *a);
/* The agent is a mesh member; its key id (NULL when not). */
bool agent_mesh_on(const struct agent *a);
const char *agent_mesh_id(const struct agent *a);

/* What one request to a peer carries: set up by agent_mesh_ticket for the URL
 * (method GET), then given to agent_mesh_apply, which points req at it (keep
 * the ticket alive until agent_http_get returned: the client copies it). */
struct agent_mesh_ticket {
    bool on;
    char header[PROTO_MESH_HEADER_MAX];
    uint8_t key[32];
};
void agent_mesh_ticket(struct agent *a, const char *url, struct agent_mesh_ticket *t);
void agent_mesh_apply(const struct agent_mesh_ticket *t, struct agent_http_request *req);

/* Peer side, before anything else: 0 (serve it), or -EPERM (answer 403: not a
 * member's request, a stale one, a replay, or a member's request to an agent
 * that is not in a mesh). */
int agent_mesh_admit(struct agent *a, struct st_h2o_req_t *req);
/* The key req's 200 body must be sealed with: true and key set for a mesh
 * request, false otherwise (send it as it is). */
bool agent_mesh_response_key(struct agent *a, struct st_h2o_req_t *req, uint8_t key[32]);
/* A body sent sealed chunk by chunk (crate files, relays): the stream header
 * goes out before the first chunk. agent_mesh_stream_start: true and st
 * ready for a mesh request, false otherwise (send the bytes as they are). */
struct agent_mesh_stream {
    struct proto_mesh_sealer sealer;
    uint8_t hdr[PROTO_MESH_STREAM_HEADER];
    bool hdr_sent;
};
bool agent_mesh_stream_start(struct agent *a, struct st_h2o_req_t *req,
                             struct agent_mesh_stream *st);
/* Seal n <= PROTO_MESH_CHUNK bytes (final: the last, may be empty) into out,
 * which holds PROTO_MESH_STREAM_HEADER + n + PROTO_MESH_CHUNK_OVERHEAD bytes;
 * returns the bytes written. */
size_t agent_mesh_stream_chunk(struct agent_mesh_stream *st, const uint8_t *in, size_t n,
                               bool final, uint8_t *out);
/* Answer 200 with body, sealed when req is a mesh request. */
void agent_mesh_respond(struct agent *a, struct st_h2o_req_t *req, const char *ctype,
                        const void *body, size_t len);
/* Answer 200 with the file at path (like h2o_file_send), sealed chunk by
 * chunk when req is a mesh request. 0, or -errno (nothing was sent). */
int agent_mesh_send_file(struct agent *a, struct st_h2o_req_t *req, const char *path,
                         const char *ctype);

#endif
