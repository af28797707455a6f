/* cli/lockfiles.c — see lockfiles.h. */
#include "cli/lockfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/client.h"
#include "proto/cargo_lock.h"
#include "proto/alloc.h"

static int read_all(const char *path, uint8_t **out, size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > PROTO_TOML_MAX) {
        close(fd);
        return -EFBIG;
    }
    size_t len = (size_t)st.st_size, off = 0;
    uint8_t *buf = cc_malloc(len ? len : 1);
    while (buf && off < len) {
        ssize_t n = read(fd, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    if (buf == NULL)
        return -ENOMEM;
    if (off != len) {
        free(buf);
        return -EIO;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static int add(struct lock_set *s, const struct lock_pkg *p)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct lock_pkg *q = &s->v[i];
        if (strcmp(q->name, p->name) == 0 && strcmp(q->vers, p->vers) == 0 &&
            q->has_sha == p->has_sha &&
            (!p->has_sha || memcmp(q->sha, p->sha, PROTO_SHA256_LEN) == 0))
            return 0;
    }
    if (cc_grow((void **)&s->v, &s->cap, s->n, sizeof *s->v, 64) < 0)
        return -ENOMEM;
    s->v[s->n++] = *p;
    return 0;
}

static int load_one(const char *cmd, const char *arg, struct lock_set *s)
{
    char path[4096];
    struct stat st;
    if (stat(arg, &st) < 0) {
        fprintf(stderr, "error: %s: %s\n", arg, strerror(errno));
        return 2;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(path, sizeof path, "%s/Cargo.lock", arg);
        if (access(path, F_OK) < 0) {
            fprintf(stderr,
                    "error: no Cargo.lock in %s\n"
                    "help: make one with `cargo generate-lockfile` in that directory (Cargo "
                    "resolves through the agent; online, or from what the room has)\n",
                    arg);
            return 2;
        }
    } else {
        snprintf(path, sizeof path, "%s", arg);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = read_all(path, &buf, &len);
    if (rc < 0) {
        fprintf(stderr, "error: cannot read %s: %s\n", path, strerror(-rc));
        return 1;
    }
    struct proto_cargo_lock lock;
    unsigned line = 0;
    rc = proto_cargo_lock_parse(buf, len, &lock, &line);
    free(buf);
    if (rc < 0) {
        if (rc == -EBADMSG)
            fprintf(stderr, "error: %s:%u: not a valid Cargo.lock\n", path, line);
        else
            fprintf(stderr, "error: %s: %s\n", path, strerror(-rc));
        return 1;
    }
    s->files++;
    for (size_t i = 0; i < lock.npkgs; i++) {
        const struct proto_cargo_lock_pkg *p = &lock.pkgs[i];
        if (!proto_cargo_lock_is_crates_io(p)) {
            if (p->source != NULL) /* the project's own path packages are not news */
                s->skipped++;
            continue;
        }
        struct lock_pkg q;
        memset(&q, 0, sizeof q);
        snprintf(q.name, sizeof q.name, "%s", p->name);
        snprintf(q.vers, sizeof q.vers, "%s", p->version);
        q.has_sha = p->has_checksum;
        if (q.has_sha)
            memcpy(q.sha, p->checksum, PROTO_SHA256_LEN);
        if (add(s, &q) < 0) {
            proto_cargo_lock_free(&lock);
            fprintf(stderr, "error: out of memory\n");
            return 1;
        }
    }
    proto_cargo_lock_free(&lock);
    return 0;
}

int lockfiles_load(const char *cmd, char *const *paths, size_t npaths, struct lock_set *out)
{
    memset(out, 0, sizeof *out);
    static char *const dot[] = {"."};
    if (npaths == 0) {
        paths = dot;
        npaths = 1;
    }
    for (size_t i = 0; i < npaths; i++) {
        int rc = load_one(cmd, paths[i], out);
        if (rc != 0) {
            lockfiles_free(out);
            return rc;
        }
    }
    return 0;
}

void lockfiles_free(struct lock_set *s)
{
    if (s == NULL)
        return;
    free(s->v);
    memset(s, 0, sizeof *s);
}

int lockfiles_load_for_agent(const char *cmd, const char *agent, char *const *paths, size_t npaths,
                             struct lock_set *out)
{
    char probe[CLIENT_URL_MAX];
    memset(out, 0, sizeof *out);
    if (client_url(cmd, agent, "/", probe, sizeof probe) < 0)
        return 2; /* a bad --agent, before any work */
    return lockfiles_load(cmd, paths, npaths, out);
}
