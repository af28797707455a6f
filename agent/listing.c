/* agent/listing.c — what an index file looks like when served: the offline
 * listing rule and the body (see listing.h). */
#include "agent/listing.h"

#include <string.h>

#include "proto/alloc.h"
#include "proto/semver.h"
#include "store/store.h"

/* A range is "satisfied" when it holds a deliverable, non-yanked version: a
 * fresh resolution can then pick something that builds. */
struct range {
    struct proto_semver_group g;
    bool semver;      /* false: a non-semver version, a range of its own */
    const char *vers; /* for non-semver ranges: the version itself */
    bool satisfied;
};

static void range_of(const struct agent_listing_version *v, struct range *r)
{
    struct proto_semver sv;
    memset(r, 0, sizeof *r);
    if (proto_semver_parse(v->vers, strlen(v->vers), &sv) == 0) {
        proto_semver_group(&sv, &r->g);
        r->semver = true;
    } else {
        r->vers = v->vers;
    }
}

static bool same_range(const struct range *a, const struct range *b)
{
    if (a->semver != b->semver)
        return false;
    return a->semver ? proto_semver_group_eq(&a->g, &b->g) : strcmp(a->vers, b->vers) == 0;
}

size_t agent_listing_offline(struct agent_listing_version *v, size_t n)
{
    /* Two passes over the versions; the satisfied ranges are few (usually
     * one or two per crate), so each version is compared with them only. */
    enum { SAT_MAX = 64 };
    struct range sat[SAT_MAX];
    size_t nsat = 0;
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].available || v[i].yanked)
            continue;
        struct range r;
        range_of(&v[i], &r);
        bool known = false;
        for (size_t j = 0; j < nsat && !known; j++)
            known = same_range(&sat[j], &r);
        if (known)
            continue;
        if (nsat == SAT_MAX) {
            overflow = true;
            continue;
        }
        sat[nsat++] = r;
    }
    size_t withheld = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].available) {
            v[i].listed = true;
            continue;
        }
        struct range r;
        range_of(&v[i], &r);
        bool satisfied = false;
        for (size_t j = 0; j < nsat && !satisfied; j++)
            satisfied = same_range(&sat[j], &r);
        if (!satisfied && overflow) {
            /* more satisfied ranges than the table holds: look them up the slow way */
            for (size_t k = 0; k < n && !satisfied; k++) {
                if (!v[k].available || v[k].yanked)
                    continue;
                struct range rk;
                range_of(&v[k], &rk);
                satisfied = same_range(&rk, &r);
            }
        }
        v[i].listed = !satisfied;
        if (!v[i].listed)
            withheld++;
    }
    return withheld;
}

char *agent_index_body(const struct store_index_list *l, const bool *keep, size_t *len)
{
    size_t total = 0;
    *len = 0;
    for (size_t i = 0; i < l->n; i++)
        if (keep == NULL || keep[i])
            total += l->rows[i].line_len + 1;
    char *body = total ? cc_malloc(total) : NULL;
    if (body == NULL)
        return NULL;
    size_t off = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (keep != NULL && !keep[i])
            continue;
        memcpy(body + off, l->rows[i].line, l->rows[i].line_len);
        off += l->rows[i].line_len;
        body[off++] = '\n';
    }
    *len = total;
    return body;
}
