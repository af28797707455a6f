/* agent/identity.c — `cratecast id`: print this store's public key.
 * The key pair itself lives in the store (store_identity). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/internal.h"

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
    char *dir = store ? strdup(store) : agent_default_store_dir();
    if (dir == NULL) {
        fprintf(stderr, "cratecast: no --store given and neither XDG_CACHE_HOME nor HOME is set\n");
        return 2;
    }
    struct store *s = NULL;
    int rc = store_open(dir, &s);
    uint8_t pk[PROTO_PK_LEN], sk[PROTO_SK_LEN];
    if (rc == 0)
        rc = store_identity(s, pk, sk);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "cratecast: id: cannot read the identity of the store at %s: %s\n", dir,
                strerror(-rc));
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
