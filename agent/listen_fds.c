/* agent/listen_fds.c — see listen_fds.h. */
#include "agent/listen_fds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/addr.h"

static int parse_uint(const char *s, unsigned long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -EINVAL;
    *out = v;
    return 0;
}

int listen_fds_parse(const char *pid, const char *fds, const char *names, pid_t self,
                     struct listen_fds *out)
{
    memset(out, 0, sizeof *out);
    if (pid == NULL || fds == NULL)
        return 0;
    unsigned long p, n;
    if (parse_uint(pid, &p) < 0 || parse_uint(fds, &n) < 0)
        return -EINVAL;
    if (p != (unsigned long)self)
        return 0; /* meant for another process (a parent's, inherited) */
    if (n > LISTEN_FDS_MAX)
        return -E2BIG;
    out->n = (unsigned)n;
    if (names == NULL)
        return 0;
    /* "a:b:c": one name per fd; fewer names leave the rest unnamed */
    const char *s = names;
    for (unsigned i = 0; i < out->n && *s; i++) {
        const char *colon = strchr(s, ':');
        size_t len = colon ? (size_t)(colon - s) : strlen(s);
        if (len >= sizeof out->names[i])
            return -EINVAL;
        memcpy(out->names[i], s, len);
        out->names[i][len] = '\0';
        if (colon == NULL)
            break;
        s = colon + 1;
    }
    return 0;
}

/* fd is a listening stream socket; *bound is its address. */
static int check_socket(int fd, struct proto_peer_addr *bound)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
        return -EINVAL;
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
        return -EINVAL;
    struct sockaddr_storage ss;
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        proto_peer_addr_from_sockaddr((struct sockaddr *)&ss, bound) < 0)
        return -EINVAL;
    return 0;
}

static bool is_addr(const struct proto_peer_addr *bound, const char *configured)
{
    struct proto_peer_addr want;
    return configured && proto_peer_addr_parse(configured, strlen(configured), &want) == 0 &&
           proto_peer_addr_eq(bound, &want);
}

int listen_fds_take(const char *cargo_addr, const char *peer_addr, int *cargo_fd, int *peer_fd)
{
    struct listen_fds lf;
    *cargo_fd = *peer_fd = -1;
    int rc = listen_fds_parse(getenv("LISTEN_PID"), getenv("LISTEN_FDS"), getenv("LISTEN_FDNAMES"),
                              getpid(), &lf);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (rc < 0)
        return rc;
    struct proto_peer_addr bound[LISTEN_FDS_MAX];
    for (unsigned i = 0; i < lf.n; i++)
        if (check_socket(LISTEN_FDS_START + (int)i, &bound[i]) < 0)
            return -EINVAL;
    /* by name, then by address, then the first left serves Cargo */
    for (unsigned i = 0; i < lf.n; i++) {
        int fd = LISTEN_FDS_START + (int)i;
        if (strcmp(lf.names[i], "cargo") == 0 && *cargo_fd < 0)
            *cargo_fd = fd;
        else if (strcmp(lf.names[i], "peer") == 0 && *peer_fd < 0 && peer_addr)
            *peer_fd = fd;
    }
    for (unsigned i = 0; i < lf.n; i++) {
        int fd = LISTEN_FDS_START + (int)i;
        if (fd == *cargo_fd || fd == *peer_fd)
            continue;
        if (*cargo_fd < 0 && is_addr(&bound[i], cargo_addr))
            *cargo_fd = fd;
        else if (*peer_fd < 0 && peer_addr && is_addr(&bound[i], peer_addr))
            *peer_fd = fd;
    }
    for (unsigned i = 0; i < lf.n && *cargo_fd < 0; i++) {
        int fd = LISTEN_FDS_START + (int)i;
        if (fd != *peer_fd && lf.names[i][0] == '\0')
            *cargo_fd = fd;
    }
    for (unsigned i = 0; i < lf.n; i++) {
        int fd = LISTEN_FDS_START + (int)i;
        if (fd != *cargo_fd && fd != *peer_fd)
            close(fd);
    }
    return 0;
}
