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

static const struct cli_option options[] = {
    CLI_OPTION_STORE(1),
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_verify = {
    "verify",
    "re-hash every stored crate; report and quarantine any mismatch",
    "Reads every blob in the store and checks it against its SHA-256 name. A damaged blob is\n"
    "moved to quarantine/ (the agent fetches it again when needed); a missing one is reported.\n"
    "Safe while an agent runs on the store. Exit 0 when every blob is whole, 1 otherwise.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    char *dir;
    struct store *s;
    int rc = cli_open_store(&cmd_verify, argc, argv, &dir, &s);
    if (s == NULL)
        return rc;
    struct store_verify_result r;
    rc = store_verify(s, verify_cb, NULL, &r);
    store_close(s);
    if (rc < 0) {
        cli_error("verify %s: %s", dir, strerror(-rc));
        free(dir);
        return 1;
    }
    printf("verified %llu blobs in %s: %llu ok, %llu missing, %llu quarantined\n",
           (unsigned long long)r.checked, dir, (unsigned long long)r.ok,
           (unsigned long long)r.missing, (unsigned long long)r.quarantined);
    free(dir);
    return (r.missing || r.quarantined) ? 1 : 0;
}
