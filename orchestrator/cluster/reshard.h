/* reshard.h - which hash slots move where, so that every shard owns its
 * quota of the 16384 (pure: no I/O; unit-tested).
 *
 * OWNER[slot] is the plan shard that owns the slot now (-1: nobody, which
 * forming assigns, not this), QUOTA[s] how many it should own (the plan's
 * nslots: 0 for a retiring shard).  The moves are the fewest: a shard
 * above its quota gives exactly its excess (its highest slots, so ranges
 * stay whole), a shard below takes exactly its shortfall, filled in shard
 * order from the givers in shard order.  Nothing else moves.
 *
 * Their order keeps the time Redis counts a different number of masters
 * short.  Redis Cluster's failover votes need a majority of the masters
 * that own slots, so the count of those masters matters, and it changes
 * only when a shard gets its first slot or gives its last:
 *   1. "first": the first slot of every shard that owns none yet, back to
 *      back, each the emptiest slot it will get (3 masters to 5 passes
 *      through 4, which no layout over 3 regions survives; this way it
 *      lasts one small slot);
 *   2. "bulk": the rest, grouped by giving shard and then by taking shard
 *      (one worker per pair, in parallel);
 *   3. "last": the last slot of every shard that ends with none, back to
 *      back, each the emptiest (5 to 3 passes through 4 the same way).
 * Within a group, slots in ascending order. */
#ifndef MRD_CLUSTER_RESHARD_H
#define MRD_CLUSTER_RESHARD_H

#include "err.h"

#define RESHARD_SLOTS 16384

typedef enum reshard_phase {
    RESHARD_FIRST = 0,
    RESHARD_BULK,
    RESHARD_LAST,
} reshard_phase;

typedef struct reshard_move {
    int slot;
    int from, to;        /* plan shards */
    long long keys;      /* keys in the slot when planned (0 without KEYS) */
    reshard_phase phase;
} reshard_move;

typedef struct reshard_plan {
    reshard_move *moves; /* phase by phase; "bulk" grouped by FROM, TO */
    int nmoves;
    long long keys;      /* sum of the moves' keys */
    int *gives;          /* per shard: slots it gives */
    int *takes;          /* per shard: slots it takes */
} reshard_plan;

/* Plan the moves (see above).  KEYS[slot] may be NULL (every slot 0 keys).
 * MRD_ERR_INVALID when a quota is negative or NSHARDS < 1; MRD_ERR_NOMEM.
 * *OUT is filled (reshard_plan_free() it), with no moves when every shard
 * owns its quota. */
mrd_rc reshard_plan_moves(const int *owner, const int *quota, int nshards,
                          const long long *keys, reshard_plan *out, mrd_error *err);

void reshard_plan_free(reshard_plan *r);

#endif
