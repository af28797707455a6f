/* agent/import_job.c — the agent's import of a CARGO_HOME at startup: the
 * import (agent/import.c) runs on the thread pool with its own store
 * connection; the agent keeps serving, and on the loop the result is logged,
 * kept for status, and peers hear of the new holdings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/import.h"
#include "agent/internal.h"
#include "agent/log.h"
#include "proto/alloc.h"

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
    agent_import_cargo_home(j->store_dir, j->home, &j->res);
}

static void import_after(uv_work_t *w, int status)
{
    struct import_job *j = container_of(w, struct import_job, work);
    struct agent *a = j->a;
    a->importing = false;
    a->have_import = true;
    agent_news_changed(a);
    a->last_import = j->res;
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
    a->counters.rejected_conflict += j->res.conflicts;
    a->counters.rejected += j->res.conflicts;
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
    j->store_dir = cc_strdup(store_dir(a->store));
    j->home = cc_strdup(cargo_home);
    if (j->store_dir == NULL || j->home == NULL) {
        free(j->store_dir);
        free(j->home);
        free(j);
        return -ENOMEM;
    }
    int rc = uv_queue_work(&a->loop, &j->work, import_work, import_after);
    if (rc < 0) {
        free(j->store_dir);
        free(j->home);
        free(j);
        return rc;
    }
    a->importing = true;
    return 0;
}
