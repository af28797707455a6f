/* agent/port_owner.h — which process listens on a TCP port of this machine,
 * to name it when the agent cannot listen there ("port already in use").
 *
 * Linux only, best effort: the listening socket is found in /proc/net/tcp and
 * /proc/net/tcp6 (its inode and owner's uid), then its process by a
 * "socket:[inode]" link under /proc/PID/fd. Another user's processes cannot be
 * searched; then only the uid is known. Runs once, on the startup error path:
 * it reads /proc synchronously.
 */
#ifndef CRATECAST_AGENT_PORT_OWNER_H
#define CRATECAST_AGENT_PORT_OWNER_H

#include <stddef.h>
#include <stdint.h>

struct agent_port_owner {
    long pid;      /* 0: the process was not found (another user's, or gone) */
    char comm[64]; /* its name (/proc/PID/comm), "" when pid is 0 */
    unsigned uid;  /* the socket's owner */
};

/* 0 with *out filled, or -ENOENT when no socket listens on that port (or /proc
 * cannot be read). */
int agent_port_owner(uint16_t port, struct agent_port_owner *out);

/* Pure: a /proc/net/tcp or tcp6 text; the first socket in state LISTEN on
 * port. 0 with *inode and *uid set, or -ENOENT. */
int agent_port_owner_scan(const char *text, size_t len, uint16_t port, unsigned long *inode,
                          unsigned *uid);

#endif
