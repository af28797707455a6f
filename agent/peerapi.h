/* agent/peerapi.h — the peer side: an HTTP server (h2o, http_server.h) that
 * answers other agents (hello, manifest, index files, crates, news), only from
 * verified store contents (peerapi.c).
 *
 * Ownership: the part's state is allocated zeroed by agent_peerapi_new and
 * owned by peerapi.c; agent_peerapi_stop stops accepting (safe when start
 * never ran). Loop thread only.
 */
#ifndef CRATECAST_AGENT_PEERAPI_H
#define CRATECAST_AGENT_PEERAPI_H

#include <stdint.h>

struct agent;
struct agent_peerapi;

struct agent_peerapi *agent_peerapi_new(void);
/* Listen on listen, or on fd when >= 0 (a socket handed over, listen_fds.h):
 * 0, or a libuv error (UV_EADDRINUSE, ...). */
int agent_peerapi_start(struct agent *a, const char *listen, int fd);
void agent_peerapi_stop(struct agent *a);
/* The port the peer side listens on (0 when --peer-listen off). */
uint16_t agent_peerapi_port(const struct agent *a);

#endif
