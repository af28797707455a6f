/* agent/import_job.h — the agent's import of a CARGO_HOME at startup
 * (import_job.c): agent/import.c runs on the thread pool with its own store
 * connection while the agent keeps serving; the result comes back on the loop.
 *
 * Ownership: the part's state is allocated zeroed by agent_imports_new and
 * owned by import_job.c; a job running at shutdown is cancelled with
 * agent_import_cancel (import.h) and left to process exit. Loop thread only.
 */
#ifndef CRATECAST_AGENT_IMPORT_JOB_H
#define CRATECAST_AGENT_IMPORT_JOB_H

#include <stdbool.h>

struct agent;
struct agent_imports;
struct import_result;

struct agent_imports *agent_imports_new(void);
/* Start an import of cargo_home on the thread pool: 0 or -errno. */
int agent_import_start(struct agent *a, const char *cargo_home);
bool agent_import_running(const struct agent *a);
/* The result of the last import that ended (NULL if none; valid until the
 * next one ends). */
const struct import_result *agent_import_last(const struct agent *a);

#endif
