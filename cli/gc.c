/* cli/gc.c — `cratecast gc`: evict least-recently-used crates until the store
 * is within a size (store_evict in store/store.h; docs/store.md, "Eviction").
 *
 *   cratecast gc [--max-size SIZE] [--store DIR] [--keep-days N] [--config FILE]
 *
 * The size is --max-size, else the max-size of the agent's --config file (its
 * store too, unless --store is given). Like verify, gc does not take the agent
 * lock: it is one more connection to the store (SQLite WAL), safe beside a
 * running agent, which sees the crates gone at its next lookup and fetches
 * them again when they are needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "proto/alloc.h"
#include "proto/options.h"
#include "proto/size.h"
#include "store/store.h"

#define KEEP_DAYS_MAX 36500

static void usage(FILE *f)
{
    fputs("usage: cratecast gc [--max-size SIZE] [--store DIR] [--keep-days N] [--config FILE]\n"
          "\n"
          "Evict least-recently-used crates until the store holds at most SIZE (20G, 500M,\n"
          "1.5T, bytes; K/M/G/T are powers of 1024; 0 evicts every crate). Crates a prefetch\n"
          "asked for in the last N days (default 30) go last. Index entries stay, so an\n"
          "evicted crate is fetched again when a build needs it. SIZE defaults to the\n"
          "max-size of the agent's --config FILE. Safe while an agent runs on the store.\n",
          f);
}

static int size_arg(const char *where, const char *v, uint64_t *out)
{
    int rc = proto_size_parse((const uint8_t *)v, strlen(v), out);
    if (rc == -ERANGE)
        fprintf(stderr, "cratecast: gc: %s%s: too large\n", where, v);
    else if (rc < 0)
        fprintf(stderr,
                "cratecast: gc: %s%s: expected a size such as 20G, 500M, 1.5T or a number of "
                "bytes\n",
                where, v);
    return rc;
}

/* What gc takes from the agent's config file: max-size and store. */
struct config {
    const char *path;
    uint64_t max_size;
    int has_max_size;
    char *store;
};

static int config_cb(void *ud, const char *key, const char *value, int is_bool, unsigned line)
{
    struct config *c = ud;
    char where[4200];
    (void)is_bool;
    if (strcmp(key, "max-size") == 0) {
        snprintf(where, sizeof where, "%s:%u: max-size ", c->path, line);
        if (size_arg(where, value, &c->max_size) < 0)
            return -EINVAL;
        c->has_max_size = 1;
    } else if (strcmp(key, "store") == 0) {
        char *d = cc_strdup(value);
        if (d == NULL)
            return -ENOMEM;
        free(c->store);
        c->store = d;
    }
    return 0; /* the agent's other settings are not gc's business */
}

static int load_config(struct config *c)
{
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > (off_t)PROTO_OPTIONS_MAX) {
        fprintf(stderr, "cratecast: gc: --config %s: %s\n", c->path,
                fd < 0 ? strerror(errno) : "not a regular file of at most 1 MiB");
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    size_t len = (size_t)st.st_size, off = 0;
    uint8_t *buf = cc_malloc(len + 1);
    while (buf && off < len) {
        ssize_t n = read(fd, buf + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    if (buf == NULL || off != len) {
        fprintf(stderr, "cratecast: gc: --config %s: cannot read\n", c->path);
        free(buf);
        return -EINVAL;
    }
    unsigned err_line = 0;
    int rc = proto_options_parse(buf, len, config_cb, c, &err_line);
    free(buf);
    if (rc == -EBADMSG || rc == -EMSGSIZE)
        fprintf(stderr, "cratecast: %s:%u: syntax error (expected key = value)\n", c->path,
                err_line);
    else if (rc == -ENOMEM)
        fprintf(stderr, "cratecast: out of memory\n");
    return rc < 0 ? -EINVAL : 0;
}

static double mb(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

int cmd_gc(int argc, char **argv)
{
    const char *store = NULL, *max_arg = NULL;
    struct config c = {0};
    unsigned keep_days = STORE_KEEP_DAYS_DEFAULT;
    uint64_t max_size = 0;
    char *dir = NULL;
    struct store *s = NULL;
    int rc = 2;

    for (int i = 0; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = cli_opt_value(argc, argv, &i, "--store")) != NULL) {
            store = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-size")) != NULL) {
            max_arg = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--config")) != NULL) {
            c.path = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--keep-days")) != NULL) {
            char *end;
            errno = 0;
            unsigned long n = strtoul(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-' || n > KEEP_DAYS_MAX) {
                fprintf(stderr, "cratecast: gc: --keep-days %s: expected days (0..%d)\n", v,
                        KEEP_DAYS_MAX);
                return 2;
            }
            keep_days = (unsigned)n;
        } else {
            fprintf(stderr, "cratecast: gc: unknown argument '%s' (see cratecast gc --help)\n",
                    argv[i]);
            return 2;
        }
    }
    if (c.path && load_config(&c) < 0)
        goto out;
    if (max_arg) {
        if (size_arg("--max-size ", max_arg, &max_size) < 0)
            goto out;
    } else if (c.has_max_size) {
        max_size = c.max_size;
    } else {
        fprintf(stderr, "cratecast: gc: no size given\n"
                        "help: cratecast gc --max-size 20G (or a --config FILE that sets "
                        "max-size)\n");
        goto out;
    }
    if ((dir = cli_store_dir(store ? store : c.store)) == NULL)
        goto out;
    struct store_error err;
    rc = store_open_err(dir, &s, &err);
    if (rc < 0) {
        agent_store_error(AGENT_STORE_OPEN, rc, dir, &err);
        rc = 1;
        goto out;
    }
    struct store_evict_result r;
    rc = store_evict(s, max_size, (int64_t)time(NULL), keep_days, &r);
    if (r.unlinked_late)
        printf("finished an interrupted eviction: %llu files removed\n",
               (unsigned long long)r.unlinked_late);
    if (rc < 0) {
        fprintf(stderr, "cratecast: gc: %s (%s)\n", strerror(-rc), store_errmsg(s));
        if (r.removed)
            fprintf(stderr, "cratecast: gc: evicted %llu crates (%.1f MB) before the error\n",
                    (unsigned long long)r.removed, mb(r.bytes_freed));
        rc = 1;
        goto out;
    }
    printf("evicted %llu crates (%.1f MB), store now %.1f MB\n", (unsigned long long)r.removed,
           mb(r.bytes_freed), mb(r.bytes_remaining));
    if (r.removed_pinned)
        printf("%llu of them were prefetched in the last %u days: the store cannot hold them "
               "all within %.1f MB\n",
               (unsigned long long)r.removed_pinned, keep_days, mb(max_size));
    rc = 0;

out:
    store_close(s);
    free(dir);
    free(c.store);
    return rc;
}
