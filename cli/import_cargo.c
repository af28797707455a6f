/* cli/import_cargo.c — `cratecast import-cargo [CARGO_HOME]`: copy a Cargo
 * cache's crates.io index entries and verified crates into the store
 * (agent/import.h does the work; safe while an agent runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/import.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "proto/alloc.h"

static const struct cli_option options[] = {
    {0, "CARGO_HOME", NULL, "the Cargo home to import", "$CARGO_HOME, else ~/.cargo", 0},
    CLI_OPTION_STORE(1),
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_import_cargo = {
    "import-cargo",
    "import an existing Cargo cache (crates.io only) into the store",
    "Copies the crates.io index entries and crates of a Cargo home into the store, checking\n"
    "each crate against its index entry; other registries are skipped (never shared, never\n"
    "served as crates.io). Safe while an agent runs on the store. The agent does this at start\n"
    "for $CARGO_HOME unless started with --no-import.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    const char *store = NULL, *home = NULL, *v;
    struct cli_parser p;
    int id;
    cli_parser_init(&p, &cmd_import_cargo, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP)
            return p.status;
        if (id == 1)
            store = v;
        else if (id == CLI_ARG)
            home = v;
    }
    char *dir = cli_store_dir(store);
    if (dir == NULL)
        return 2;
    char *h = home ? cc_strdup(home) : agent_default_cargo_home();
    if (h == NULL) {
        cli_error("neither CARGO_HOME nor HOME is set");
        cli_hint("name the Cargo home: `cratecast import-cargo DIR`");
        free(dir);
        return 2;
    }
    struct import_result r;
    int rc = agent_import_cargo_home(dir, h, &r);
    if (rc < 0)
        cli_error("%s", r.error_text);
    else
        printf("imported %s into %s: %llu index entries (%llu new, %llu conflicting), "
               "%llu crates added, %llu already held, %llu without a trusted index entry, "
               "%llu bad, in %.2f s\n",
               h, dir, (unsigned long long)r.index_entries, (unsigned long long)r.index_new,
               (unsigned long long)r.conflicts, (unsigned long long)r.crates_added,
               (unsigned long long)r.crates_present, (unsigned long long)r.crates_untrusted,
               (unsigned long long)r.crates_bad, r.seconds);
    if (rc == 0 && r.registries_skipped)
        printf("skipped %llu registr%s that %s not crates.io's (never shared, never served as "
               "crates.io): %s\n",
               (unsigned long long)r.registries_skipped, r.registries_skipped == 1 ? "y" : "ies",
               r.registries_skipped == 1 ? "is" : "are", r.skipped_text);
    free(dir);
    free(h);
    return rc < 0 ? 1 : 0;
}
