/* agent/registry.h — the Cargo side: an HTTP server (h2o, http_server.h)
 * serving the sparse registry (config.json, index files, crates), the status
 * document, `why` and the news of misses (registry.c).
 *
 * Ownership: the part's state (struct agent_registry) is allocated zeroed by
 * agent_registry_new and owned by registry.c. agent_registry_start binds the
 * listener (nothing is served before the loop runs); agent_registry_stop stops
 * accepting (safe when start never ran). A request waiting on a fetch when the
 * agent stops is not answered: its connection dies with the process. Loop
 * thread only.
 */
#ifndef CRATECAST_AGENT_REGISTRY_H
#define CRATECAST_AGENT_REGISTRY_H

struct agent;
struct agent_registry;

struct agent_registry *agent_registry_new(void);
/* Listen on listen, or on fd when >= 0 (a socket handed over, listen_fds.h):
 * 0, or a libuv error (UV_EADDRINUSE, ...). */
int agent_registry_start(struct agent *a, const char *listen, int fd);
void agent_registry_stop(struct agent *a);
/* host:port Cargo is told to use (valid while the agent runs). */
const char *agent_registry_host(const struct agent *a);

#endif
