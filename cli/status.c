/* cli/status.c — `cratecast status`: a running agent's state (GET /-/status),
 * as text or --json. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"

static json_int_t geti(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* Recent misses, the ones that fail a build (crate, index) before the
 * withheld-version notes; at most 10 lines. */
static void print_misses(json_t *misses)
{
    size_t n = json_array_size(misses);
    if (n == 0) {
        printf("misses:    none\n");
        return;
    }
    printf("misses:    %zu recent (`cratecast why CRATE` for one crate)\n", n);
    int shown = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        json_t *m;
        json_array_foreach(misses, i, m)
        {
            const char *kind = json_string_value(json_object_get(m, "kind"));
            bool withheld = kind && strcmp(kind, "withheld") == 0;
            if (withheld != (pass == 1) || shown >= 10)
                continue;
            const char *ver = json_string_value(json_object_get(m, "version"));
            printf("           %s%s%s: %s\n", json_string_value(json_object_get(m, "crate")),
                   ver && !withheld ? " " : "", ver && !withheld ? ver : "",
                   json_string_value(json_object_get(m, "reason")));
            shown++;
        }
    }
    if ((size_t)shown < n)
        printf("           ... and %zu more (status --json)\n", n - (size_t)shown);
}

enum { OPT_JSON = 1, OPT_AGENT };

static const struct cli_option options[] = {
    {OPT_JSON, "--json", NULL, "print the agent's whole status document as JSON", NULL, 0},
    CLI_OPTION_AGENT(OPT_AGENT),
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_status = {
    "status",
    "a running agent's state: upstream, store, peers, counters, recent misses",
    "Asks the running agent (GET /-/status) and prints whether it is online, what its store\n"
    "holds, which peers it knows, what it served and rejected, and the crates Cargo asked for\n"
    "that it could not deliver. Exit 1 when no agent answers.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    bool as_json = false;
    const char *url = NULL, *v;
    struct cli_parser args;
    int opt;
    cli_parser_init(&args, &cmd_status, argc, argv);
    while ((opt = cli_next(&args, &v)) != CLI_END) {
        if (opt == CLI_STOP)
            return args.status;
        if (opt == OPT_JSON)
            as_json = true;
        else if (opt == OPT_AGENT)
            url = v;
    }
    char full[CLIENT_URL_MAX];
    if (client_url("status", url, "/-/status", full, sizeof full) < 0)
        return 2;
    long http_status;
    json_t *doc = client_get_json("status", full, 5000, &http_status);
    if (doc == NULL)
        return 1;
    if (as_json) {
        client_print_json(doc);
    } else {
        json_t *up = json_object_get(doc, "upstream");
        printf("upstream:  %s (%s)\n",
               json_string_value(json_object_get(up, "url"))
                   ? json_string_value(json_object_get(up, "url"))
                   : "none",
               json_string_value(json_object_get(up, "state")));
        printf("store:     %s\n",
               json_string_value(json_object_get(json_object_get(doc, "store"), "dir")));
        printf("           %lld crates, %.1f MiB, %lld index entries\n",
               (long long)geti(doc, "store", "crates"),
               (double)geti(doc, "store", "bytes") / (1024.0 * 1024.0),
               (long long)geti(doc, "store", "index_entries"));
        json_t *peers = json_object_get(doc, "peers");
        printf("peers:     %zu\n", json_array_size(peers));
        size_t i;
        json_t *p;
        json_array_foreach(peers, i, p)
        {
            const char *id = json_string_value(json_object_get(p, "id"));
            printf("           %-21s %-6s %-10s %5lld crates  %s\n",
                   json_string_value(json_object_get(p, "addr")),
                   json_string_value(json_object_get(p, "via")),
                   json_string_value(json_object_get(p, "state")),
                   (long long)geti(p, "crates", NULL), id ? id : "(no key yet)");
        }
        printf("served:    %lld (crates from store %lld, from upstream %lld, from peers %lld)\n",
               (long long)geti(doc, "counters", "served"),
               (long long)geti(doc, "counters", "from_store"),
               (long long)geti(doc, "counters", "from_upstream"),
               (long long)geti(doc, "counters", "from_peers"));
        printf("rejected:  %lld (bad checksum %lld, conflicting index %lld, bad request %lld)\n",
               (long long)geti(doc, "counters", "rejected"),
               (long long)geti(doc, "rejected", "checksum"),
               (long long)geti(doc, "rejected", "conflict"),
               (long long)geti(doc, "rejected", "request"));
        printf("transfers: %lld in flight\n", (long long)geti(doc, "transfers", "in_flight"));
        print_misses(json_object_get(doc, "misses"));
    }
    json_decref(doc);
    return 0;
}
