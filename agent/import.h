/* agent/import.h — importing a CARGO_HOME's crates.io cache into a store
 * (agent/import.c). The agent runs it on the thread pool at startup
 * (agent/import_job.c); `cratecast import-cargo` runs it directly. */
#ifndef CRATECAST_AGENT_IMPORT_H
#define CRATECAST_AGENT_IMPORT_H

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
/* Synchronous: opens its own store connection. Safe on the thread pool. */
int agent_import_cargo_home(const char *store_dir, const char *cargo_home,
                            struct import_result *res);

/* Ask a running import to stop at the next file (shutdown). */
void agent_import_cancel(void);

#endif
