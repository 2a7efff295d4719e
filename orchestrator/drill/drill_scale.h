/* drill_scale.h - the scale drill, `meridian drill TOPOLOGY scale`: the
 * deploy of a changed cluster.shards (a grow or a shrink, see
 * cluster/scale.h) run under the drill's writer load, and what the
 * application saw meanwhile.
 *
 *   preflight  cluster mode, deployed, and the topology asks for a change
 *              (shards added or retiring, or slots to move);
 *   load       the cluster writer (drill_cluster.h, user app) at --rate,
 *              until every writer thread has an acknowledged write
 *              (else refused), then DRILL_SCALE_WARMUP_MS more to measure
 *              the throughput before;
 *   scale      deploy_run(), as `meridian deploy` runs it, its progress
 *              on stdout (on stderr with --json, whose stdout is the
 *              report);
 *   tail       DRILL_SCALE_TAIL_MS more writes (longer to fill --duration);
 *   read-back  every write, from the node that owns its slot now
 *              (drill_cluster_verify());
 *   report     drill_report.h's, with the record's "scale" part.
 *
 * The writer's nodes are every node of the scale plan: the new shards'
 * nodes do not run yet when it starts (its router leaves out what does not
 * answer and reads them once they do), and a shrink's retiring nodes stop
 * during the scale.  Its threads do not follow the plan's shards: a plan
 * range is the slots of a fresh cluster, which a scaled one does not own,
 * and a retiring shard's is empty; each thread writes keys of an even
 * share of all 16384 slots instead (drill_scale_writer_slots()), one
 * thread per shard the scale leaves.
 *
 * Nothing is put back: the scale is the change the operator asked for.  A
 * drill interrupted (Ctrl-C) dies as deploy does; the next deploy finishes
 * the moves it left open. */
#ifndef MRD_DRILL_SCALE_H
#define MRD_DRILL_SCALE_H

#include <stdbool.h>

#include "drill.h"
#include "err.h"
#include "orch.h"

#define DRILL_SCALE_ACK_WAIT_MS 15000 /* every writer acknowledged within */
#define DRILL_SCALE_WARMUP_MS 2000    /* writes measured before the deploy */
#define DRILL_SCALE_TAIL_MS 2000      /* writes after the deploy returned */
#define DRILL_SCALE_VERIFY_MS 5000    /* read-back: each connect and batch */
#define DRILL_SCALE_VERIFY_TRIES 3    /* read-back attempts, 1 s apart */
#define DRILL_SCALE_DEPLOY_TIMEOUT_S 60 /* the deploy's verify, without --timeout */

/* Can a scale drill run on topology T's plan P?  MRD_OK, or with a
 * sentence in ERR: MRD_ERR_USAGE for sentinel mode; MRD_ERR_STATE when
 * nothing is deployed (DEPLOYED false: the state dir records no
 * placement), or when the topology asks for no change (P adds and retires
 * no shard and MOVES, the slots the plan diff would move, is 0).  Pure. */
mrd_rc drill_scale_check(const mrd_topology *t, const mrd_plan *p, bool deployed, int moves,
                         mrd_error *err);

/* Writer W of N (0 <= W < N): its slots, *FIRST..*LAST, an even split of
 * the 16384 in order.  Pure. */
void drill_scale_writer_slots(int w, int n, int *first, int *last);

/* Run the scale drill on C (whose plan is the scale plan: orch_open()
 * builds it from the deployed placement and the changed topology), with
 * O's out_dir, json, duration_s, rate and timeout_s (the deploy's verify
 * timeout).  The deploy may replace C's plan (a shrink's retired shards
 * leave it).  Exit code: 0 the deploy exited 0, every write was read back
 * and none acknowledged was lost; 2 not so; 1 refused (not deployed, no
 * change, writes not acknowledged before the scale, or another deploy held
 * the state dir); 3 could not run; 64 sentinel mode, an argument, or a
 * rate below one write per second per writer.  Progress on stderr, the
 * deploy's on stdout (stderr with --json), the report on stdout. */
int drill_scale_run(orch_ctx *c, const drill_opts *o);

#endif
