/* reshard.c - the moves that give every shard its quota (see reshard.h). */
#include "reshard.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void reshard_plan_free(reshard_plan *r)
{
    free(r->moves);
    free(r->gives);
    free(r->takes);
    memset(r, 0, sizeof(*r));
}

/* Index in M[0..N) of the move with the fewest keys whose shard (TO when
 * BY_TO, else FROM) is S; -1 when none. */
static int emptiest(const reshard_move *m, int n, int s, bool by_to)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if ((by_to ? m[i].to : m[i].from) == s && (best < 0 || m[i].keys < m[best].keys))
            best = i;
    return best;
}

static int by_phase_from_slot(const void *a, const void *b)
{
    const reshard_move *x = a, *y = b;
    if (x->phase != y->phase)
        return (int)x->phase - (int)y->phase;
    if (x->phase == RESHARD_BULK && x->from != y->from)
        return x->from - y->from;
    if (x->phase == RESHARD_BULK && x->to != y->to)
        return x->to - y->to;
    return x->slot - y->slot;
}

mrd_rc reshard_plan_moves(const int *owner, const int *quota, int nshards,
                          const long long *keys, reshard_plan *out, mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    if (nshards < 1)
        return mrd_error_set(err, MRD_ERR_INVALID, "no shards");
    for (int s = 0; s < nshards; s++)
        if (quota[s] < 0)
            return mrd_error_set(err, MRD_ERR_INVALID, "shard %d: negative quota", s + 1);
    int *owned = calloc((size_t)nshards, sizeof(int));
    out->gives = calloc((size_t)nshards, sizeof(int));
    out->takes = calloc((size_t)nshards, sizeof(int));
    out->moves = calloc(RESHARD_SLOTS, sizeof(*out->moves));
    if (!owned || !out->gives || !out->takes || !out->moves) {
        free(owned);
        reshard_plan_free(out);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    for (int slot = 0; slot < RESHARD_SLOTS; slot++)
        if (owner[slot] >= 0 && owner[slot] < nshards)
            owned[owner[slot]]++;
    int excess = 0, shortfall = 0;
    for (int s = 0; s < nshards; s++) {
        out->gives[s] = owned[s] > quota[s] ? owned[s] - quota[s] : 0;
        out->takes[s] = owned[s] < quota[s] ? quota[s] - owned[s] : 0;
        excess += out->gives[s];
        shortfall += out->takes[s];
    }
    /* with slots unassigned, or quotas that do not add up, move only
     * what both sides allow: givers first in shard order keep theirs */
    int moving = excess < shortfall ? excess : shortfall;
    for (int s = 0, left = moving; s < nshards; s++) {
        out->gives[s] = out->gives[s] < left ? out->gives[s] : left;
        left -= out->gives[s];
    }
    for (int s = 0, left = moving; s < nshards; s++) {
        out->takes[s] = out->takes[s] < left ? out->takes[s] : left;
        left -= out->takes[s];
    }
    /* givers' highest slots, to takers in shard order */
    int to = 0, taken = 0;
    for (int s = 0; s < nshards; s++) {
        int give = out->gives[s];
        for (int slot = RESHARD_SLOTS - 1; slot >= 0 && give > 0; slot--) {
            if (owner[slot] != s)
                continue;
            while (to < nshards && taken >= out->takes[to]) {
                to++;
                taken = 0;
            }
            if (to >= nshards)
                break;
            out->moves[out->nmoves++] = (reshard_move){.slot = slot,
                                                       .from = s,
                                                       .to = to,
                                                       .keys = keys ? keys[slot] : 0,
                                                       .phase = RESHARD_BULK};
            out->keys += keys ? keys[slot] : 0;
            taken++;
            give--;
        }
    }
    for (int s = 0; s < nshards; s++) {
        int i;
        if (owned[s] == 0 && out->takes[s] > 0 &&
            (i = emptiest(out->moves, out->nmoves, s, true)) >= 0)
            out->moves[i].phase = RESHARD_FIRST;
        if (owned[s] > 0 && out->gives[s] == owned[s] &&
            (i = emptiest(out->moves, out->nmoves, s, false)) >= 0 &&
            out->moves[i].phase == RESHARD_BULK)
            out->moves[i].phase = RESHARD_LAST;
    }
    qsort(out->moves, (size_t)out->nmoves, sizeof(*out->moves), by_phase_from_slot);
    free(owned);
    return MRD_OK;
}
