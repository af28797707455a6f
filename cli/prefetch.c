/* cli/prefetch.c — `cratecast prefetch`: make every crates.io package of one
 * or more Cargo.locks present in this machine's store, through the running
 * agent, before going offline.
 *
 * Two steps: locate (cli/locate.h: GET /-/why/<name> for each crate, which
 * also brings each index file up to date), then GET /crates/<name>/<version>/<sha>
 * for every package not already here, 8 at a time; the agent fetches from a
 * peer or the upstream, verifies, stores, and answers. The body is counted
 * and dropped; X-Cratecast-Source says where it came from. Every target's
 * packages are in a Cargo.lock, so Windows-only crates are fetched too and this
 * machine can serve a classmate on another OS.
 * Output: a progress bar on a terminal (stderr), else one summary line.
 * Exit status: 0 when every package is here at the end, 1 when not (the
 * failures are listed), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/locate.h"
#include "cli/lockfiles.h"
#include "cli/progress.h"
#include "store/store.h"
#include "proto/alloc.h"

#define PREFETCH_CONCURRENCY 8

struct run {
    const struct lock_set *s;
    struct locate_item *it;
    size_t *todo; /* indexes into s->v */
    size_t ntodo;
    char (*urls)[CLIENT_URL_MAX];
    char **errors; /* per package, malloc'd, NULL = ok */
    size_t done, ok_here, from_peers, from_upstream, from_store, failed;
    uint64_t bytes;
    struct progress bar; /* stderr, on a terminal */
};

static void draw(struct run *r, bool final)
{
    char detail[160], failed[40] = "";
    if (r->failed)
        snprintf(failed, sizeof failed, ", FAILED %zu", r->failed);
    snprintf(detail, sizeof detail, "(here %zu, peers %zu, upstream %zu%s)",
             r->ok_here + r->from_store, r->from_peers, r->from_upstream, failed);
    struct progress_view v = {
        .done = r->ok_here + r->done,
        .total = r->s->n,
        .items = "packages",
        .bytes = r->bytes,
        .detail = detail,
    };
    progress_draw(&r->bar, &v, final);
    if (final)
        progress_end(&r->bar);
}

static const char *url_of(void *ud, size_t i)
{
    struct run *r = ud;
    return r->urls[i];
}

static void done(void *ud, size_t i, struct agent_http_response *res)
{
    struct run *r = ud;
    size_t k = r->todo[i];
    char msg[400];
    r->done++;
    if (res->error == 0 && res->status == 200) {
        r->bytes += res->len;
        if (strncmp(res->source, "peer", 4) == 0)
            r->from_peers++;
        else if (strcmp(res->source, "upstream") == 0)
            r->from_upstream++;
        else
            r->from_store++;
    } else {
        if (res->error == 0 && res->status == 404)
            snprintf(msg, sizeof msg, "not available (see `cratecast why %s`)", r->s->v[k].name);
        else
            agent_http_failure(res, msg, sizeof msg);
        r->errors[k] = cc_strdup(msg);
        r->failed++;
    }
    draw(r, false);
}

static const struct cli_option options[] = {
    {0, "PATH", NULL, "a project directory or a Cargo.lock", ".", CLI_REPEAT},
    CLI_OPTION_AGENT(1),
    {0},
};

static int prefetch(int argc, char **argv);

const struct cli_command cmd_prefetch = {
    "prefetch",
    "fetch everything the Cargo.lock needs (every target) into this machine's store",
    "Fetches every crates.io package of each PATH's Cargo.lock into this machine's store, for\n"
    "every target (so this machine can serve a classmate on another OS too), from peers or\n"
    "the upstream through the running agent; a progress bar on a terminal. Exit 0 when all\n"
    "are here, 1 when some could not be fetched or no agent answers.\n",
    options,
    prefetch,
};

static int prefetch(int argc, char **argv)
{
    const char *agent = NULL, *v;
    char **paths = cc_calloc((size_t)argc + 1, sizeof *paths);
    size_t npaths = 0;
    struct cli_parser p;
    int id;
    if (paths == NULL)
        return cli_error("out of memory");
    cli_parser_init(&p, &cmd_prefetch, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP) {
            free(paths);
            return p.status;
        }
        if (id == 1)
            agent = v;
        else if (id == CLI_ARG)
            paths[npaths++] = (char *)v;
    }
    struct lock_set s;
    int rc = lockfiles_load_for_agent("prefetch", agent, paths, npaths, &s);
    free(paths);
    if (rc != 0)
        return rc;
    struct run r;
    memset(&r, 0, sizeof r);
    r.s = &s;
    progress_start(&r.bar, stderr);
    r.it = cc_calloc(s.n + 1, sizeof *r.it);
    r.todo = cc_calloc(s.n + 1, sizeof *r.todo);
    r.urls = cc_calloc(s.n + 1, sizeof *r.urls);
    r.errors = cc_calloc(s.n + 1, sizeof *r.errors);
    rc = 1;
    if (r.it == NULL || r.todo == NULL || r.urls == NULL || r.errors == NULL) {
        cli_error("out of memory");
        goto out;
    }
    bool online = false;
    rc = locate_packages("prefetch", agent, &s, r.it, &online);
    if (rc != 0)
        goto out;
    for (size_t k = 0; k < s.n; k++) {
        if (r.it[k].where == LOCATE_HERE) {
            r.ok_here++;
            continue;
        }
        if (!r.it[k].known) {
            r.errors[k] = cc_strdup(r.it[k].note);
            r.failed++;
            r.done++;
            continue;
        }
        char hex[PROTO_SHA256_HEX_LEN + 1], path[PROTO_NAME_MAX + PROTO_VERS_MAX + 96];
        proto_hex_encode(r.it[k].cksum, PROTO_SHA256_LEN, hex);
        /* ?prefetch: the agent keeps these crates longest when it evicts */
        snprintf(path, sizeof path, "/crates/%s/%s/%s?prefetch", s.v[k].name, s.v[k].vers, hex);
        if (client_url("prefetch", agent, path, r.urls[r.ntodo], CLIENT_URL_MAX) < 0) {
            rc = 2;
            goto out;
        }
        r.todo[r.ntodo++] = k;
    }
    draw(&r, false);
    struct agent_http_request tmpl = {
        .max_body = STORE_BLOB_MAX,
        .connect_timeout_ms = 3000,
        .low_speed_secs = 60,
        .discard_body = 1,
    };
    if (client_batch(r.ntodo, PREFETCH_CONCURRENCY, &tmpl, url_of, done, &r) < 0) {
        rc = cli_error("out of memory");
        goto out;
    }
    draw(&r, true);
    double el = progress_elapsed(&r.bar);
    printf("prefetch: %zu of %zu packages here (%zu already, %zu from peers, %zu from the "
           "upstream; %.1f MB fetched in %.1f s)%s\n",
           s.n - r.failed, s.n, r.ok_here + r.from_store, r.from_peers, r.from_upstream,
           (double)r.bytes / 1e6, el, r.failed ? "" : ": ready to build offline");
    if (r.failed) {
        printf("failed (%zu):\n", r.failed);
        for (size_t k = 0; k < s.n; k++)
            if (r.errors[k])
                printf("  %s %s: %s\n", s.v[k].name, s.v[k].vers, r.errors[k]);
        if (!online)
            printf("the agent is offline: only the room's peers could be asked\n");
    }
    rc = r.failed ? 1 : 0;
out:
    for (size_t k = 0; r.errors && k < s.n; k++)
        free(r.errors[k]);
    free(r.errors);
    free(r.it);
    free(r.todo);
    free(r.urls);
    lockfiles_free(&s);
    return rc;
}
