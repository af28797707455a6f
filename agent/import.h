/* agent/import.h — importing a CARGO_HOME's crates.io cache into a store
 * (agent/import.c). The agent runs it on the thread pool at startup
 * (agent/import_job.c); `cratecast import-cargo` runs it directly. */
#ifndef CRATECAST_AGENT_IMPORT_H
#define CRATECAST_AGENT_IMPORT_H

#include <stdbool.h>
#include <stdint.h>

struct import_result {
    uint64_t files, index_entries, index_new, conflicts, bad_lines;
    uint64_t crates_seen, crates_added, crates_present, crates_untrusted, crates_bad;
    uint64_t registries, registries_skipped; /* registry directories read / not crates.io's */
    char skipped_text[512];                  /* "DIR: why; DIR: why" of the skipped ones */
    double seconds;
    int error;
    char error_text[256];
};
/* Where an import is, for a progress display. Two passes: the index cache
 * files, then the .crate files. files_total and bytes_total are counted by a
 * walk before each pass starts; files_done and bytes_done are those decided so
 * far (a crate is done once held already, untrusted, recorded or bad; a
 * queued copy is done when its batch is recorded). */
enum import_phase {
    IMPORT_PHASE_INDEX,  /* registry/index/<dir>/.cache files */
    IMPORT_PHASE_CRATES, /* registry/cache/<dir>/<name>-<version>.crate files */
};
struct import_progress {
    enum import_phase phase;
    const char *registry; /* the registry directory being read ("" before the first) */
    uint64_t files_done, files_total;
    uint64_t bytes_done, bytes_total;
    bool final; /* the last call: every crate decided and recorded */
};
/* Called on the importing thread, at the start of each pass, after each file
 * and at the end: often, so throttle the drawing. p and p->registry are valid
 * during the call only. */
typedef void (*import_progress_fn)(void *ud, const struct import_progress *p);

/* Synchronous: opens its own store connection. Safe on the thread pool.
 * progress: NULL (the agent's own import), or a callback (with ud) that hears
 * where the import is; it then also costs a counting walk of each pass. */
int agent_import_cargo_home(const char *store_dir, const char *cargo_home,
                            struct import_result *res, import_progress_fn progress, void *ud);

/* Ask a running import to stop at the next file (shutdown). */
void agent_import_cancel(void);

#endif
