/* cli/why.c — `cratecast why CRATE`: every version of a crate the running
 * agent knows and where it can come from (GET /-/why/<crate>, agent/why.c). */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "proto/name.h"

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

enum { OPT_AGENT = 1, OPT_JSON };

static const struct cli_option options[] = {
    {0, "CRATE", NULL, "the crate's name, as in Cargo.toml", NULL, CLI_REQUIRED},
    CLI_OPTION_AGENT(OPT_AGENT),
    {OPT_JSON, "--json", NULL, "print the agent's answer as JSON", NULL, 0},
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_why = {
    "why",
    "every known version of a crate and where it can come from",
    "Every version of CRATE the running agent knows, whether Cargo is shown it now, and\n"
    "where it can come from: here (this machine's store), a named peer, the upstream,\n"
    "or nowhere. Also the agent's recent misses for CRATE. Exit 1 when no agent answers.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    const char *agent = NULL, *name = NULL, *arg;
    bool as_json = false;
    struct cli_parser p;
    int id;
    cli_parser_init(&p, &cmd_why, argc, argv);
    while ((id = cli_next(&p, &arg)) != CLI_END) {
        if (id == CLI_STOP)
            return p.status;
        if (id == OPT_JSON)
            as_json = true;
        else if (id == OPT_AGENT)
            agent = arg;
        else if (id == CLI_ARG)
            name = arg;
    }
    if (!proto_crate_name_valid(name, strlen(name)))
        return cli_usage_error(&cmd_why, "'%s' is not a crate name", name);
    char url[CLIENT_URL_MAX];
    if (client_url("why", agent, "/-/why/", url, sizeof url) < 0)
        return 2;
    size_t ul = strlen(url);
    snprintf(url + ul, sizeof url - ul, "%s", name);
    long status;
    json_t *doc = client_get_json("why", url, 65000, &status);
    if (doc == NULL)
        return 1;
    if (as_json) {
        int rc = client_print_json(doc);
        json_decref(doc);
        return rc;
    }
    json_t *versions = json_object_get(doc, "versions");
    bool offline = strcmp(jstr(doc, "listing"), "offline") == 0;
    printf("%s: upstream %s%s\n", name, jstr(doc, "upstream_state"),
           offline ? "; offline listing (versions nobody can send are withheld)" : "");
    if (json_array_size(versions) == 0)
        printf("  no version known: not in this store, at no live peer%s\n",
               json_is_true(json_object_get(doc, "online")) ? ", not at the upstream" : "");
    else
        printf("  %-24s %-7s %s\n", "version", "listed", "can come from");
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        char where[512];
        const char *src = jstr(v, "source");
        json_t *peers = json_object_get(v, "peers");
        if (strcmp(src, "here") == 0) {
            snprintf(where, sizeof where, "here (this machine's store)");
        } else if (strcmp(src, "peer") == 0) {
            json_t *p0 = json_array_get(peers, 0);
            size_t np = json_array_size(peers);
            snprintf(where, sizeof where, "peer %s (key %.12s…)%s", jstr(p0, "addr"),
                     jstr(p0, "id"), np > 1 ? " and others" : "");
        } else if (strcmp(src, "upstream") == 0) {
            snprintf(where, sizeof where, "the upstream");
        } else {
            snprintf(where, sizeof where, "nowhere (%s)",
                     json_is_true(json_object_get(doc, "online")) ? "upstream lacks it"
                                                                  : "offline");
        }
        printf("  %-24s %-7s %s%s%s\n", jstr(v, "version"),
               json_is_true(json_object_get(v, "listed")) ? "yes" : "no", where,
               json_is_true(json_object_get(v, "yanked")) ? " [yanked]" : "",
               json_is_true(json_object_get(v, "peer_only")) ? " [on a peer's word only]" : "");
    }
    json_t *misses = json_object_get(doc, "misses");
    if (json_array_size(misses) > 0) {
        printf("recent misses:\n");
        json_array_foreach(misses, i, v)
        {
            const char *ver = json_string_value(json_object_get(v, "version"));
            printf("  %s%s%s: %s (%lld times)\n", name, ver ? " " : "", ver ? ver : "",
                   jstr(v, "reason"), (long long)json_integer_value(json_object_get(v, "count")));
        }
    }
    json_decref(doc);
    return 0;
}
