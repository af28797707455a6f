/* agent/import_job.c — the agent's import of a CARGO_HOME at startup: the
 * import (agent/import.c) runs on the thread pool with its own store
 * connection; the agent keeps serving, and on the loop the result is logged,
 * kept for status, and peers hear of the new holdings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "agent/core.h"
#include "agent/import.h"
#include "agent/import_job.h"
#include "agent/log.h"
#include "proto/alloc.h"
#include "store/store.h"

/* The import's state: only import_job.c reads or writes it. */
struct agent_imports {
    bool importing;
    bool have_import;
    struct import_result last_import;
};

struct agent_imports *agent_imports_new(void)
{
    return cc_calloc(1, sizeof(struct agent_imports));
}

bool agent_import_running(const struct agent *a)
{
    return agent_imports(a)->importing;
}

const struct import_result *agent_import_last(const struct agent *a)
{
    struct agent_imports *im = agent_imports(a);
    return im->have_import ? &im->last_import : NULL;
}

struct import_job {
    uv_work_t work;
    struct agent *a;
    char *store_dir;
    char *home;
    struct import_result res;
};

static void import_work(uv_work_t *w)
{
    struct import_job *j = container_of(w, struct import_job, work);
    agent_import_cargo_home(j->store_dir, j->home, &j->res, NULL, NULL);
}

static void import_after(uv_work_t *w, int status)
{
    struct import_job *j = container_of(w, struct import_job, work);
    struct agent *a = j->a;
    agent_imports(a)->importing = false;
    agent_imports(a)->have_import = true;
    agent_changed(a);
    agent_imports(a)->last_import = j->res;
    if (j->res.error)
        log_warn("import of %s: %s", j->home, j->res.error_text);
    else
        log_info("imported %s: %llu index entries (%llu new, %llu conflicting), %llu crates "
                 "added, %llu already held, %llu without a trusted entry, in %.2f s%s%s",
                 j->home, (unsigned long long)j->res.index_entries,
                 (unsigned long long)j->res.index_new, (unsigned long long)j->res.conflicts,
                 (unsigned long long)j->res.crates_added, (unsigned long long)j->res.crates_present,
                 (unsigned long long)j->res.crates_untrusted, j->res.seconds,
                 j->res.registries_skipped ? "; skipped registries that are not crates.io's: " : "",
                 j->res.skipped_text);
    agent_counters(a)->rejected_conflict += j->res.conflicts;
    agent_counters(a)->rejected += j->res.conflicts;
    free(j->store_dir);
    free(j->home);
    free(j);
}

int agent_import_start(struct agent *a, const char *cargo_home)
{
    struct import_job *j = cc_calloc(1, sizeof *j);
    if (j == NULL)
        return -ENOMEM;
    j->a = a;
    j->store_dir = cc_strdup(store_dir(agent_store(a)));
    j->home = cc_strdup(cargo_home);
    if (j->store_dir == NULL || j->home == NULL) {
        free(j->store_dir);
        free(j->home);
        free(j);
        return -ENOMEM;
    }
    int rc = uv_queue_work(agent_loop(a), &j->work, import_work, import_after);
    if (rc < 0) {
        free(j->store_dir);
        free(j->home);
        free(j);
        return rc;
    }
    agent_imports(a)->importing = true;
    return 0;
}
