/* cli/status.c — `cratecast status`: a running agent's state (GET /-/status),
 * as text (cli/status_text.h) or --json (the document as the agent sent it). */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/status_text.h"

enum { OPT_JSON = 1, OPT_AGENT };

static const struct cli_option options[] = {
    {OPT_JSON, "--json", NULL, "print the agent's whole status document as JSON", NULL, 0},
    CLI_OPTION_AGENT(OPT_AGENT),
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_status = {
    "status",
    "a running agent's state: upstream, store, peers, what it sent both ways, recent misses",
    "Asks the running agent (GET /-/status) and prints whether it is online, where it serves\n"
    "Cargo and how it finds peers, what its store holds, what it sent Cargo and where those\n"
    "crates came from, what it fetched and what it sent peers, each peer it knows with the\n"
    "crates and bytes both ways, and the crates Cargo asked for that it could not deliver.\n"
    "Exit 1 when no agent answers.\n",
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
        status_text_print(stdout, doc, (int64_t)time(NULL));
    }
    json_decref(doc);
    return 0;
}
