/* agent/port_owner.c — see port_owner.h.
 *
 * /proc/net/tcp, one socket a line after a header:
 *   sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
 *   0: 0100007F:1EC6 00000000:0000 0A 00000000:00000000 00:00000000 00000000 1000 0 12345 ...
 * The local port is the hex after the ':' of field 1; state 0A is LISTEN;
 * uid is field 7, inode field 9. tcp6 has the same fields (a longer address).
 */
#include "agent/port_owner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/alloc.h"

#define FIELDS 10

int agent_port_owner_scan(const char *text, size_t len, uint16_t port, unsigned long *inode,
                          unsigned *uid)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        const char *f[FIELDS];
        size_t fl[FIELDS], n = 0;
        for (const char *q = p; q < eol && n < FIELDS;) {
            while (q < eol && (*q == ' ' || *q == '\t'))
                q++;
            if (q == eol)
                break;
            f[n] = q;
            while (q < eol && *q != ' ' && *q != '\t')
                q++;
            fl[n] = (size_t)(q - f[n]);
            n++;
        }
        p = eol + 1;
        if (n < FIELDS || fl[3] != 2 || memcmp(f[3], "0A", 2) != 0)
            continue; /* the header, a short line, or not listening */
        const char *colon = memchr(f[1], ':', fl[1]);
        char num[32];
        if (colon == NULL || (size_t)(f[1] + fl[1] - colon - 1) >= sizeof num)
            continue;
        snprintf(num, sizeof num, "%.*s", (int)(f[1] + fl[1] - colon - 1), colon + 1);
        char *e;
        unsigned long lport = strtoul(num, &e, 16);
        if (*e != '\0' || lport != port)
            continue;
        char u[32], ino[32];
        if (fl[7] >= sizeof u || fl[9] >= sizeof ino)
            continue;
        snprintf(u, sizeof u, "%.*s", (int)fl[7], f[7]);
        snprintf(ino, sizeof ino, "%.*s", (int)fl[9], f[9]);
        char *e1, *e2;
        unsigned long uv = strtoul(u, &e1, 10), iv = strtoul(ino, &e2, 10);
        if (*e1 != '\0' || *e2 != '\0' || iv == 0)
            continue;
        *uid = (unsigned)uv;
        *inode = iv;
        return 0;
    }
    return -ENOENT;
}

/* The first 1 MiB of a /proc file (the tables of a busy machine are long). */
static char *slurp(const char *path, size_t *len)
{
    size_t cap = 1 << 20;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = cc_malloc(cap);
    size_t n = 0;
    while (buf && n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

/* The pid whose fd links to socket:[inode], or 0. */
static long find_pid(unsigned long inode)
{
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return 0;
    long found = 0;
    struct dirent *d;
    while (found == 0 && (d = readdir(proc)) != NULL) {
        char *e;
        long pid = strtol(d->d_name, &e, 10);
        if (*e != '\0' || pid <= 0)
            continue;
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%ld/fd", pid);
        DIR *fds = opendir(dir);
        if (fds == NULL)
            continue; /* another user's, or gone */
        struct dirent *fd;
        while ((fd = readdir(fds)) != NULL) {
            char link[320], target[64];
            snprintf(link, sizeof link, "%s/%s", dir, fd->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) == 0) {
                found = pid;
                break;
            }
        }
        closedir(fds);
    }
    closedir(proc);
    return found;
}

int agent_port_owner(uint16_t port, struct agent_port_owner *out)
{
    static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    memset(out, 0, sizeof *out);
    unsigned long inode = 0;
    int rc = -ENOENT;
    for (size_t i = 0; i < 2 && rc < 0; i++) {
        size_t len = 0;
        char *text = slurp(tables[i], &len);
        if (text != NULL)
            rc = agent_port_owner_scan(text, len, port, &inode, &out->uid);
        free(text);
    }
    if (rc < 0)
        return rc;
    out->pid = find_pid(inode);
    if (out->pid > 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/comm", out->pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, out->comm, sizeof out->comm - 1);
            close(fd);
            if (n > 0 && out->comm[n - 1] == '\n')
                n--;
            out->comm[n > 0 ? n : 0] = '\0';
        }
    }
    return 0;
}
