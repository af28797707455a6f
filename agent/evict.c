/* agent/evict.c — see evict.h. */
#include "agent/evict.h"

#include <stdlib.h>
#include <string.h>

#include "agent/core.h"
#include "agent/log.h"
#include "proto/alloc.h"
#include "store/store.h"

#define EVICT_SOON_MS 3000

struct agent_evict {
    uv_timer_t timer;
    bool started;
    bool running; /* a job is on the pool */
};

struct evict_job {
    uv_work_t work;
    struct agent *a;
    char *dir;
    uint64_t max;
    int64_t now;
    int rc;
    struct store_evict_result res;
};

struct agent_evict *agent_evict_new(void)
{
    return cc_calloc(1, sizeof(struct agent_evict));
}

static void evict_work(uv_work_t *w)
{
    struct evict_job *j = container_of(w, struct evict_job, work);
    struct store *s = NULL;
    j->rc = store_open(j->dir, &s);
    if (j->rc == 0)
        j->rc = store_evict(s, j->max, j->now, STORE_KEEP_DAYS_DEFAULT, &j->res);
    store_close(s);
}

static void evict_after(uv_work_t *w, int status)
{
    struct evict_job *j = container_of(w, struct evict_job, work);
    struct agent *a = j->a;
    agent_evict(a)->running = false;
    if (status == 0 && j->rc < 0)
        log_warn("store: eviction failed: %s", strerror(-j->rc));
    if (j->res.removed > 0) {
        log_info("evicted %llu crates (%.1f MB%s) to keep the store under %.1f MB; it holds "
                 "%.1f MB",
                 (unsigned long long)j->res.removed, (double)j->res.bytes_freed / 1e6,
                 j->res.removed_pinned ? ", some of them prefetched" : "", (double)j->max / 1e6,
                 (double)j->res.bytes_remaining / 1e6);
        agent_changed(a); /* the manifest's next tick sees the new sequence */
    }
    free(j->dir);
    free(j);
}

static void check(struct agent *a)
{
    struct agent_evict *e = agent_evict(a);
    uint64_t max = agent_opt(a)->max_size;
    if (max == 0 || e->running || agent_stopping(a))
        return;
    struct store_stats st;
    memset(&st, 0, sizeof st);
    if (store_stats(agent_store(a), &st) < 0 || st.bytes <= max)
        return;
    struct evict_job *j = cc_calloc(1, sizeof *j);
    if (j == NULL)
        return;
    j->a = a;
    j->dir = cc_strdup(store_dir(agent_store(a)));
    j->max = max;
    j->now = agent_now();
    /* crates served in the last second count as used */
    if (j->dir == NULL || store_touch_flush(agent_store(a)) < 0 ||
        uv_queue_work(agent_loop(a), &j->work, evict_work, evict_after) < 0) {
        free(j->dir);
        free(j);
        return;
    }
    e->running = true;
}

static void on_timer(uv_timer_t *t)
{
    check(t->data);
}

void agent_evict_init(struct agent *a)
{
    struct agent_evict *e = agent_evict(a);
    if (agent_opt(a)->max_size == 0)
        return;
    uv_timer_init(agent_loop(a), &e->timer);
    e->timer.data = a;
    e->started = true;
    uv_timer_start(&e->timer, on_timer, EVICT_SOON_MS, EVICT_INTERVAL_S * 1000);
}

void agent_evict_soon(struct agent *a)
{
    struct agent_evict *e = agent_evict(a);
    if (!e->started || agent_stopping(a))
        return;
    if (uv_timer_get_due_in(&e->timer) > EVICT_SOON_MS)
        uv_timer_start(&e->timer, on_timer, EVICT_SOON_MS, EVICT_INTERVAL_S * 1000);
}

void agent_evict_close(struct agent *a)
{
    struct agent_evict *e = agent_evict(a);
    if (e == NULL || !e->started)
        return;
    e->started = false;
    uv_timer_stop(&e->timer);
    uv_close((uv_handle_t *)&e->timer, NULL);
}
