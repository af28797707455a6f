/* cli/id.c — `cratecast id`: print this store's public key.
 * The key pair itself lives in the store (store_identity). A store or key that
 * cannot be used is reported as the agent reports it at startup
 * (agent_store_error): one line, help: lines, exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/agent.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "proto/peer.h"
#include "store/store.h"

static const struct cli_option options[] = {
    CLI_OPTION_STORE(1),
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_id = {
    "id",
    "this agent's public key (for --trust-key on other machines)",
    "Prints the public half of the store's identity key (made when the store is new). Other\n"
    "machines name this one with it in `cratecast agent --trust keys --trust-key KEY`.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    char *dir;
    struct store *s;
    int rc = cli_open_store(&cmd_id, argc, argv, &dir, &s);
    if (s == NULL)
        return rc;
    struct store_error err;
    uint8_t pk[PROTO_PK_LEN], sk[PROTO_SK_LEN];
    if ((rc = store_identity_err(s, pk, sk, &err)) < 0)
        agent_store_error(AGENT_STORE_IDENTITY, rc, dir, &err);
    store_close(s);
    if (rc < 0) {
        free(dir);
        return 1;
    }
    char text[PROTO_KEY_TEXT_LEN + 1];
    proto_key_encode(pk, text);
    puts(text);
    sodium_memzero(sk, sizeof sk);
    free(dir);
    return 0;
}
