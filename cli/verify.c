/* cli/verify.c — `cratecast verify`: re-hash every stored crate and
 * quarantine the ones that no longer match (safe while an agent runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "store/store.h"

static void verify_cb(void *ud, const char *sha_hex, const char *problem)
{
    (void)ud;
    printf("%s: %s\n", sha_hex, problem);
}

int cmd_verify(int argc, char **argv)
{
    char *dir;
    struct store *s;
    int rc = cli_open_store("verify", argc, argv, &dir, &s);
    if (rc != 0)
        return rc;
    struct store_verify_result r;
    rc = store_verify(s, verify_cb, NULL, &r);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "cratecast: verify: %s\n", strerror(-rc));
        free(dir);
        return 1;
    }
    printf("verified %llu blobs in %s: %llu ok, %llu missing, %llu quarantined\n",
           (unsigned long long)r.checked, dir, (unsigned long long)r.ok,
           (unsigned long long)r.missing, (unsigned long long)r.quarantined);
    free(dir);
    return (r.missing || r.quarantined) ? 1 : 0;
}
