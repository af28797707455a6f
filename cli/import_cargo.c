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

int cmd_import_cargo(int argc, char **argv)
{
    const char *store = NULL, *home = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = cli_opt_value(argc, argv, &i, "--store")) != NULL)
            store = v;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "cratecast: import-cargo: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (home == NULL)
            home = argv[i];
        else {
            fprintf(stderr, "cratecast: import-cargo: one CARGO_HOME at a time\n");
            return 2;
        }
    }
    char *dir = cli_store_dir(store);
    if (dir == NULL)
        return 2;
    char *h = home ? cc_strdup(home) : agent_default_cargo_home();
    if (h == NULL) {
        fprintf(stderr, "cratecast: neither CARGO_HOME nor HOME is set\n");
        free(dir);
        return 2;
    }
    struct import_result r;
    int rc = agent_import_cargo_home(dir, h, &r);
    if (rc < 0)
        fprintf(stderr, "cratecast: import-cargo: %s\n", r.error_text);
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
