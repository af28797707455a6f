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

#define STR_(x) #x
#define STR(x) STR_(x)

enum { OPT_MAX_SIZE = 1, OPT_STORE, OPT_KEEP_DAYS, OPT_CONFIG };

static const struct cli_option options[] = {
    {OPT_MAX_SIZE, "--max-size", "SIZE",
     "evict until the store's crates take at most this: 20G, 500M, 1.5T or bytes (K, M, G, T are "
     "powers of 1024); 0 evicts every crate",
     "the max-size of the --config file", 0},
    CLI_OPTION_STORE(OPT_STORE),
    {OPT_KEEP_DAYS, "--keep-days", "N",
     "crates a prefetch asked for in the last N days go only after all others; 0 ignores "
     "prefetches (0.." STR(KEEP_DAYS_MAX) ")",
     STR(STORE_KEEP_DAYS_DEFAULT), 0},
    {OPT_CONFIG, "--config", "FILE",
     "the agent's config file: its max-size, and its store unless --store is given", NULL, 0},
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_gc = {
    "gc",
    "evict least-recently-used crates until the store is within a size",
    "Removes the crates not used for longest until the crates in the store take at most SIZE,\n"
    "then prints `evicted N crates (X MB), store now Y MB`. Crates a prefetch asked for\n"
    "recently go last. Index entries stay, so an evicted crate is fetched again when a build\n"
    "needs it. Safe while an agent runs on the store, and safe to kill: the next gc or verify\n"
    "finishes an interrupted eviction. Exit 0 when done, 2 for a bad argument, 1 when the store\n"
    "cannot be opened or written.\n",
    options,
    run,
};

/* A size: 0, or a negative errno after an "error: <where><v>: ..." line. */
static int size_arg(const char *where, const char *v, uint64_t *out)
{
    int rc = proto_size_parse((const uint8_t *)v, strlen(v), out);
    if (rc == -ERANGE)
        cli_error("%s%s: too large", where, v);
    else if (rc < 0)
        cli_error("%s%s: expected a size such as 20G, 500M, 1.5T or a number of bytes", where, v);
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
    return cli_config_parse(c->path, config_cb, c);
}

static double mb(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static int run(int argc, char **argv)
{
    const char *store = NULL, *max_arg = NULL, *v;
    struct config c = {0};
    unsigned keep_days = STORE_KEEP_DAYS_DEFAULT;
    uint64_t max_size = 0;
    char *dir = NULL;
    struct store *s = NULL;
    struct cli_parser p;
    int id, rc = 2;

    cli_parser_init(&p, &cmd_gc, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP)
            return p.status;
        if (id == OPT_STORE) {
            store = v;
        } else if (id == OPT_MAX_SIZE) {
            max_arg = v;
        } else if (id == OPT_CONFIG) {
            c.path = v;
        } else if (id == OPT_KEEP_DAYS) {
            char *end;
            errno = 0;
            unsigned long n = strtoul(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-' || n > KEEP_DAYS_MAX)
                return cli_usage_error(&cmd_gc, "--keep-days %s: expected days (0..%d)", v,
                                       KEEP_DAYS_MAX);
            keep_days = (unsigned)n;
        }
    }
    if (c.path && load_config(&c) < 0)
        goto out;
    if (max_arg) {
        if (size_arg("--max-size ", max_arg, &max_size) < 0) {
            cli_hint("--max-size SIZE: %s", options[0].help);
            goto out;
        }
    } else if (c.has_max_size) {
        max_size = c.max_size;
    } else {
        cli_error("no size given");
        cli_hint("cratecast gc --max-size 20G (or a --config FILE that sets max-size)");
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
        cli_error("gc %s: %s (%s)", dir, strerror(-rc), store_errmsg(s));
        if (r.removed)
            cli_hint("evicted %llu crates (%.1f MB) before the error",
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
