/* agent/misses.c — the table of recent misses (see misses.h). */
#include "agent/misses.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOG_PER_CRATE_S 60 /* a crate's misses are logged at most once a minute */
#define LOG_RATE_PER_S 1.0 /* refill of the overall log budget */

const char *agent_miss_kind_name(enum agent_miss_kind k)
{
    switch (k) {
    case AGENT_MISS_WITHHELD:
        return "withheld";
    case AGENT_MISS_CRATE:
        return "crate";
    case AGENT_MISS_INDEX:
        return "index";
    }
    return "?";
}

static bool take_token(struct agent_misses *m, int64_t now)
{
    if (m->tokens_at == 0) {
        m->tokens = AGENT_MISSES_LOG_BURST;
    } else if (now > m->tokens_at) {
        m->tokens += (double)(now - m->tokens_at) * LOG_RATE_PER_S;
        if (m->tokens > AGENT_MISSES_LOG_BURST)
            m->tokens = AGENT_MISSES_LOG_BURST;
    }
    m->tokens_at = now;
    if (m->tokens < 1.0)
        return false;
    m->tokens -= 1.0;
    return true;
}

/* The newest time any entry of this crate was logged is its `at` before this
 * miss; an entry of the crate seen within the last minute means "logged". */
static bool crate_seen_recently(const struct agent_misses *m, const char *crate, int64_t now)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].crate, crate) == 0 && now - m->v[i].at < LOG_PER_CRATE_S)
            return true;
    return false;
}

bool agent_misses_record(struct agent_misses *m, enum agent_miss_kind kind, const char *crate,
                         const char *vers, const char *reason, int64_t now)
{
    char name[PROTO_NAME_MAX + 1];
    size_t nl = (size_t)proto_name_lower(crate, name, sizeof name);
    if (vers == NULL)
        vers = "";
    m->total++;
    bool recent = crate_seen_recently(m, name, now);

    struct agent_miss *e = NULL;
    for (size_t i = 0; i < m->n && e == NULL; i++)
        if (m->v[i].kind == kind && strcmp(m->v[i].crate, name) == 0 &&
            strcmp(m->v[i].vers, vers) == 0)
            e = &m->v[i];
    if (e == NULL) {
        if (m->n < AGENT_MISSES_MAX) {
            e = &m->v[m->n++];
        } else {
            e = &m->v[0];
            for (size_t i = 1; i < m->n; i++)
                if (m->v[i].at < e->at)
                    e = &m->v[i];
        }
        memset(e, 0, sizeof *e);
        e->kind = kind;
        memcpy(e->crate, name, nl + 1);
        snprintf(e->vers, sizeof e->vers, "%s", vers);
        e->first_at = now;
    }
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    e->at = now;
    e->count++;

    if (recent || !take_token(m, now)) {
        m->not_logged++;
        return false;
    }
    return true;
}

static int newest_first(const void *x, const void *y)
{
    const struct agent_miss *a = *(const struct agent_miss *const *)x;
    const struct agent_miss *b = *(const struct agent_miss *const *)y;
    if (a->at != b->at)
        return a->at < b->at ? 1 : -1;
    return strcmp(a->crate, b->crate);
}

json_t *agent_misses_json(const struct agent_misses *m, const char *only_crate)
{
    const struct agent_miss *order[AGENT_MISSES_MAX];
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        if (only_crate == NULL || strcasecmp(m->v[i].crate, only_crate) == 0)
            order[n++] = &m->v[i];
    qsort(order, n, sizeof order[0], newest_first);
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr; i++) {
        const struct agent_miss *e = order[i];
        json_t *o = json_pack("{s:s,s:s?,s:s,s:s,s:I,s:I,s:I}", "crate", e->crate, "version",
                              e->vers[0] ? e->vers : NULL, "kind", agent_miss_kind_name(e->kind),
                              "reason", e->reason, "at", (json_int_t)e->at, "first_at",
                              (json_int_t)e->first_at, "count", (json_int_t)e->count);
        if (o == NULL || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
