/* scale.h - carry out a cluster plan whose shards own other slots than
 * they do now: a grow (shards added), a shrink (shards retiring), or a
 * move left unfinished (a deploy killed in the middle).
 *
 * The moves are reshard.h's (the fewest, in the order that keeps the
 * count of slot-owning masters changing for the shortest time), carried
 * out with Redis' own primitives as store/slots.h describes, as the admin
 * user.  Why not `redis-cli --cluster reshard/rebalance`: it decides
 * itself which slots go where (by weights, ignoring regions), moves 10
 * keys per MIGRATE and one slot at a time, and a run killed in the middle
 * leaves open slots that only `--cluster fix` closes; here the plan
 * decides, sources work in parallel, and every run first finishes what an
 * earlier one left open.
 *
 *   cluster_scale_look()     what the deployment serves now: each shard's
 *                            live master, each slot's shard, open moves;
 *   cluster_scale_preview()  the plan diff: new nodes, slots to move from
 *                            which shard to which, keys, bytes, time, and
 *                            when the layout between two steps is not safe;
 *   cluster_reshard()        finish open moves, wait for added shards'
 *                            replicas, move slots until every shard owns
 *                            its quota, with progress (slots and keys per
 *                            shard, rate, time left);
 *   cluster_forget()         once the nodes of retired shards no longer
 *                            answer, CLUSTER FORGET them on every node.
 *
 * A migration that fails for one key stops with the key, its slot and the
 * two nodes named; the slot stays open (clients follow ASK to every key)
 * and the next run resumes it. */
#ifndef MRD_CLUSTER_SCALE_H
#define MRD_CLUSTER_SCALE_H

#include <stdio.h>

#include "err.h"
#include "orch.h"

/* Keys per MIGRATE, and its first timeout: a batch that times out is sent
 * again with twice the timeout, up to the last (big values take longer;
 * the batch is not made smaller). */
#define SCALE_BATCH_KEYS 1000
#define SCALE_MIGRATE_TIMEOUT_MS 5000
#define SCALE_MIGRATE_MAX_TIMEOUT_MS 80000
/* For the estimate the preview prints: keys per second one source moves
 * on loopback, and per slot (its SETSLOT and GETKEYSINSLOT round trips),
 * as measured on a 2-core machine running 15 nodes. */
#define SCALE_ESTIMATE_KEYS_PER_S 60000
#define SCALE_ESTIMATE_MS_PER_SLOT 6

typedef struct scale_report {
    int repaired;       /* open moves finished */
    int slots;          /* slots moved */
    long long keys;     /* keys moved */
    long long ms;
} scale_report;

/* Print the plan diff of C's plan against what runs (see above) to OUT.
 * *MOVES gets the number of slots that would move.  MRD_ERR_STATE when
 * the running cluster cannot be read as this deployment's (a slot owned
 * by a node outside it). */
mrd_rc cluster_scale_preview(orch_ctx *c, FILE *out, int *moves, mrd_error *err);

/* Do C's retiring shards own no slot and have no open move?  (Then the
 * drain is done: a deploy killed after it only has to retire them.)
 * False when it cannot tell. */
bool cluster_scale_drained(orch_ctx *c);

/* Finish open moves and move slots until every shard of C's plan owns its
 * quota (nslots).  Progress to OUT (may be NULL).  Fills *R. */
mrd_rc cluster_reshard(orch_ctx *c, FILE *out, scale_report *r, mrd_error *err);

/* Only finish the slot moves an earlier run left open (`meridian heal`);
 * *DONE gets how many. */
mrd_rc cluster_finish_open(orch_ctx *c, FILE *out, int *done, mrd_error *err);

/* The nodes at GONE[0..N) ("address:port") are retired: wait (at most
 * TIMEOUT_MS) until none answers, then CLUSTER FORGET each on every node
 * of C's plan that still lists it.  *FORGOTTEN gets how many FORGETs. */
mrd_rc cluster_forget(orch_ctx *c, char (*gone)[80], int n, int timeout_ms, int *forgotten,
                      mrd_error *err);

#endif
