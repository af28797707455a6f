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
    const char *store = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            store = argv[++i];
        else if (strncmp(argv[i], "--store=", 8) == 0)
            store = argv[i] + 8;
        else {
            fprintf(stderr, "cratecast: id: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char *dir = cli_store_dir(store);
    if (dir == NULL)
        return 2;
    struct store *s = NULL;
    struct store_error err;
    uint8_t pk[PROTO_PK_LEN], sk[PROTO_SK_LEN];
    int rc = store_open_err(dir, &s, &err);
    if (rc < 0)
        agent_store_error(AGENT_STORE_OPEN, rc, dir, &err);
    else if ((rc = store_identity_err(s, pk, sk, &err)) < 0)
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
