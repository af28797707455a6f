/* cli/import_cargo.c — `cratecast import-cargo [CARGO_HOME]`: copy a Cargo
 * cache's crates.io index entries and verified crates into the store
 * (agent/import.h does the work; safe while an agent runs).
 *
 * Output: on a terminal, a progress bar on stderr (cli/progress.h: index files,
 * then crates done of total, bytes, rate, the registry directory being read);
 * then, terminal or not, one summary line on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/import.h"
#include "proto/textbuf.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "proto/alloc.h"

static const struct cli_option options[] = {
    {0, "CARGO_HOME", NULL, "the Cargo home to import", "$CARGO_HOME, else ~/.cargo", 0},
    CLI_OPTION_STORE(1),
    {0},
};

/* The import's progress (agent/import.h), drawn on stderr on a terminal; the
 * last report is kept for the summary line. */
struct watch {
    struct progress bar;
    struct import_progress last; /* .registry not kept */
};

static void on_progress(void *ud, const struct import_progress *p)
{
    struct watch *w = ud;
    w->last = *p;
    w->last.registry = NULL;
    if (!w->bar.tty)
        return;
    char detail[300];
    snprintf(detail, sizeof detail, "%s%s", p->registry[0] ? "from " : "", p->registry);
    struct progress_view v = {
        .done = p->files_done,
        .total = p->files_total,
        .items = p->phase == IMPORT_PHASE_INDEX ? "index files" : "crates",
        .bytes = p->bytes_done,
        .bytes_total = p->bytes_total,
        .detail = detail,
    };
    progress_draw(&w->bar, &v, p->final);
}

static int run(int argc, char **argv);

const struct cli_command cmd_import_cargo = {
    "import-cargo",
    "import an existing Cargo cache (crates.io only) into the store",
    "Copies the crates.io index entries and crates of a Cargo home into the store, checking\n"
    "each crate against its index entry; other registries are skipped (never shared, never\n"
    "served as crates.io). Safe while an agent runs on the store. The agent does this at start\n"
    "for $CARGO_HOME unless started with --no-import. On a terminal, a progress bar (crates\n"
    "done of total, bytes, rate, the registry directory); then one summary line.\n",
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
    struct watch w;
    memset(&w, 0, sizeof w);
    progress_start(&w.bar, stderr);
    int rc = agent_import_cargo_home(dir, h, &r, on_progress, &w);
    progress_end(&w.bar);
    if (rc < 0) {
        cli_error("%s", r.error_text);
    } else {
        /* one line, whatever happened */
        char bytes[32], rate[32], skipped[700] = "";
        uint64_t nb = w.last.phase == IMPORT_PHASE_CRATES ? w.last.bytes_done : 0;
        text_bytes(nb, bytes, sizeof bytes);
        text_bytes(r.seconds > 0 ? (uint64_t)((double)nb / r.seconds) : 0, rate, sizeof rate);
        if (r.registries_skipped)
            snprintf(skipped, sizeof skipped,
                     "; skipped %llu registr%s that %s not crates.io's (never shared, never "
                     "served as crates.io): %s",
                     (unsigned long long)r.registries_skipped,
                     r.registries_skipped == 1 ? "y" : "ies",
                     r.registries_skipped == 1 ? "is" : "are", r.skipped_text);
        printf("imported %s into %s: %llu index entries (%llu new, %llu conflicting), "
               "%llu crates added, %llu already held, %llu without a trusted index entry, "
               "%llu bad; %s of .crate files in %.2f s (%s/s)%s\n",
               h, dir, (unsigned long long)r.index_entries, (unsigned long long)r.index_new,
               (unsigned long long)r.conflicts, (unsigned long long)r.crates_added,
               (unsigned long long)r.crates_present, (unsigned long long)r.crates_untrusted,
               (unsigned long long)r.crates_bad, bytes, r.seconds, rate, skipped);
    }
    free(dir);
    free(h);
    return rc < 0 ? 1 : 0;
}
