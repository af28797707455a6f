/* agent/gains.c — a holder's log of what its store gained lately (see
 * gains.h). Pure: no store, no loop; news.c feeds it one delta per step of
 * the store's sequence.
 */
#include "agent/gains.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/alloc.h"

void agent_gains_reset(struct agent_gains *g, uint64_t seq)
{
    g->base = g->top = seq;
    g->n = g->ncrates = g->nindex = 0;
}

static void drop_front(struct agent_gains *g, size_t k)
{
    for (size_t i = 0; i < k; i++)
        if (g->v[i].is_index)
            g->nindex--;
        else
            g->ncrates--;
    memmove(g->v, g->v + k, (g->n - k) * sizeof g->v[0]);
    g->n -= k;
}

static void drop_at(struct agent_gains *g, size_t i)
{
    if (g->v[i].is_index)
        g->nindex--;
    else
        g->ncrates--;
    memmove(&g->v[i], &g->v[i + 1], (g->n - i - 1) * sizeof g->v[0]);
    g->n--;
}

static int push(struct agent_gains *g, const struct agent_gain *e)
{
    if (cc_grow((void **)&g->v, &g->cap, g->n, sizeof *g->v, 64) < 0)
        return -ENOMEM;
    g->v[g->n++] = *e;
    if (e->is_index)
        g->nindex++;
    else
        g->ncrates++;
    return 0;
}

static size_t count_steps(const struct agent_gains *g)
{
    size_t steps = 0;
    for (size_t i = 0; i < g->n; i++)
        steps += i == 0 || g->v[i].at != g->v[i - 1].at;
    return steps;
}

int agent_gains_add(struct agent_gains *g, uint64_t seq, const struct proto_manifest *m,
                    size_t steps, size_t max)
{
    if (seq <= g->top)
        return -EINVAL;
    /* an index name keeps only its latest digest */
    for (uint32_t i = 0; i < m->nindex; i++)
        for (size_t j = 0; j < g->n; j++)
            if (g->v[j].is_index && strcmp(g->v[j].index.name, m->index[i].name) == 0) {
                drop_at(g, j);
                break;
            }
    int rc = 0;
    for (uint32_t i = 0; i < m->ncrates && rc == 0; i++)
        rc = push(g, &(struct agent_gain){.at = seq, .crate = m->crates[i]});
    for (uint32_t i = 0; i < m->nindex && rc == 0; i++)
        rc = push(g, &(struct agent_gain){.at = seq, .is_index = true, .index = m->index[i]});
    if (rc < 0) {
        agent_gains_reset(g, seq);
        return rc;
    }
    g->top = seq;
    /* the oldest steps go first (the entries are in sequence order) */
    while (g->n > 0 && (count_steps(g) > steps || g->ncrates > max || g->nindex > max)) {
        uint64_t oldest = g->v[0].at;
        size_t k = 0;
        while (k < g->n && g->v[k].at == oldest)
            k++;
        drop_front(g, k);
        g->base = oldest;
    }
    return 0;
}

void agent_gains_view(const struct agent_gains *g, struct proto_manifest_crate *crates,
                      uint32_t *ncrates, struct proto_manifest_index *index, uint32_t *nindex)
{
    *ncrates = *nindex = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->v[i].is_index)
            index[(*nindex)++] = g->v[i].index;
        else
            crates[(*ncrates)++] = g->v[i].crate;
}

void agent_gains_free(struct agent_gains *g)
{
    free(g->v);
    g->v = NULL;
    g->n = g->cap = g->ncrates = g->nindex = 0;
}
