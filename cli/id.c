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

int cmd_id(int argc, char **argv)
{
    char *dir;
    struct store *s;
    int rc = cli_open_store("id", argc, argv, &dir, &s);
    if (rc != 0)
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
