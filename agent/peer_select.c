/* agent/peer_select.c — see peer_select.h. */
#include <stdint.h>
#include <string.h>

#include "agent/peer_select.h"

#define KEY_LEN 32

static double score(const struct peer_cand *c, size_t max_crates)
{
    double load = c->inflight * 1000.0 + c->remote_load * 400.0;
    double share = max_crates ? 600.0 * (double)c->ncrates / (double)max_crates : 0.0;
    double cost = c->ms_per_mb > 2000.0 ? 2000.0 : c->ms_per_mb;
    return c->penalty * 5000.0 + load + share + cost + (double)(c->noise % 100);
}

size_t peer_select_order(struct peer_cand *v, size_t n)
{
    double sc[PEER_SELECT_MAX];
    size_t max_crates = 0;
    if (n > PEER_SELECT_MAX)
        n = PEER_SELECT_MAX;
    for (size_t i = 0; i < n; i++)
        if (v[i].ncrates > max_crates)
            max_crates = v[i].ncrates;
    for (size_t i = 0; i < n; i++)
        sc[i] = score(&v[i], max_crates);
    for (size_t i = 1; i < n; i++) { /* insertion sort: stable, n is small */
        struct peer_cand x = v[i];
        double xs = sc[i];
        size_t j = i;
        while (j > 0 && sc[j - 1] > xs) {
            v[j] = v[j - 1];
            sc[j] = sc[j - 1];
            j--;
        }
        v[j] = x;
        sc[j] = xs;
    }
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        bool dup = false;
        for (size_t i = 0; i < w && !dup; i++)
            dup = memcmp(v[i].key, v[r].key, KEY_LEN) == 0;
        if (!dup)
            v[w++] = v[r];
    }
    return w;
}

int peer_select_take(const struct peer_cand *v, size_t n, unsigned inflight_max, bool *saturated)
{
    *saturated = false;
    bool honest_waiting = false;
    size_t max_crates = 0, min_crates = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (v[i].penalty == 0 && !v[i].tried)
            honest_waiting = true;
        if (v[i].ncrates > max_crates)
            max_crates = v[i].ncrates;
        if (v[i].ncrates < min_crates)
            min_crates = v[i].ncrates;
    }
    /* the room's sole source: holds the most, and another holder holds fewer */
    bool has_sole = n > 1 && min_crates < max_crates;
    bool classmate_waiting = false; /* a holder other than the sole source passed over for now */
    for (size_t i = 0; i < n; i++) {
        if (v[i].tried)
            continue;
        bool sole = has_sole && v[i].ncrates == max_crates;
        if ((v[i].penalty > 0 && honest_waiting) || v[i].inflight >= inflight_max || v[i].busy) {
            *saturated = true;
            if (!sole && v[i].penalty == 0)
                classmate_waiting = true;
            continue;
        }
        if (sole && classmate_waiting) {
            *saturated = true; /* a classmate's slot frees soon: the teacher's link is the room's */
            continue;
        }
        return (int)i;
    }
    return -1;
}
