/* agent/listen_fds.h — listening sockets handed over by a service manager
 * (systemd socket activation: the sd_listen_fds protocol).
 *
 * The manager starts the agent with its listening sockets open from fd 3 on
 * and LISTEN_PID (the agent's pid), LISTEN_FDS (how many) and, optionally,
 * LISTEN_FDNAMES (colon-separated FileDescriptorName= values) set. The agent
 * uses a handed-over socket for a side instead of binding one itself:
 *   - a socket named "cargo" or "peer" goes to that side;
 *   - an unnamed one goes to the side whose configured address it is bound to
 *     (--listen, --peer-listen);
 *   - otherwise the first unclaimed socket serves Cargo (a cratecast.socket
 *     with one ListenStream= is the Cargo port, whatever its address).
 * Sockets no side takes are closed. The variables are removed from the
 * environment once read, so processes the agent starts do not inherit them.
 *
 * listen_fds_parse is pure (unit-tested); listen_fds_take reads the
 * environment and the sockets.
 */
#ifndef CRATECAST_AGENT_LISTEN_FDS_H
#define CRATECAST_AGENT_LISTEN_FDS_H

#include <stdbool.h>
#include <sys/types.h>

#define LISTEN_FDS_START 3
#define LISTEN_FDS_MAX 16

struct listen_fds {
    unsigned n;                     /* sockets handed over: fds 3 .. 3+n-1 */
    char names[LISTEN_FDS_MAX][32]; /* FileDescriptorName= of each ("" = none) */
};

/* From the variables' values (NULL when unset) and our pid: 0 with out->n set
 * (0 when nothing was handed to this process: unset, or another pid's), or
 * -EINVAL when they are malformed (-E2BIG: more than LISTEN_FDS_MAX). */
int listen_fds_parse(const char *pid, const char *fds, const char *names, pid_t self,
                     struct listen_fds *out);

/* The handed-over sockets for the Cargo side and the peer side (-1 when none:
 * bind as usual). cargo_addr and peer_addr are the configured addresses
 * (peer_addr NULL when the peer side is off). 0, or -EINVAL on malformed
 * variables or a handed-over fd that is not a listening TCP socket. */
int listen_fds_take(const char *cargo_addr, const char *peer_addr, int *cargo_fd, int *peer_fd);

#endif
