/* cli/files.c — see files.h. */
#include "cli/files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/alloc.h"

int cli_mkdir_p(const char *dir)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof p, "%s", dir);
    if (n < 0 || (size_t)n >= sizeof p)
        return -ENAMETOOLONG;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -errno;
        *q = '/';
    }
    return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int cli_sync_dir_of(const char *path)
{
    char *copy = cc_strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    free(copy);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0 && errno != EINVAL)
        rc = -errno;
    close(fd);
    return rc;
}

int cli_write_all(int fd, const void *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, (const uint8_t *)buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        off += (size_t)w;
    }
    return 0;
}

int cli_write_file_atomic_with(const char *path, unsigned mode, cli_file_fill fill, void *ud)
{
    char tmp[PATH_MAX + 64];
    char *copy = cc_strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    char *base = basename(copy);
    char *dir_copy = cc_strdup(path);
    if (dir_copy == NULL) {
        free(copy);
        return -ENOMEM;
    }
    int n =
        snprintf(tmp, sizeof tmp, "%s/.%s.cratecast-%ld", dirname(dir_copy), base, (long)getpid());
    free(copy);
    free(dir_copy);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (fchmod(fd, mode & 07777) < 0) /* exactly the old bits, whatever the umask */
        rc = -errno;
    if (rc == 0)
        rc = fill(ud, fd);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    return cli_sync_dir_of(path);
}

struct buf_fill {
    const void *buf;
    size_t len;
};

static int fill_buf(void *ud, int fd)
{
    const struct buf_fill *b = ud;
    return cli_write_all(fd, b->buf, b->len);
}

int cli_write_file_atomic(const char *path, const void *buf, size_t len, unsigned mode)
{
    struct buf_fill b = {buf, len};
    return cli_write_file_atomic_with(path, mode, fill_buf, &b);
}
