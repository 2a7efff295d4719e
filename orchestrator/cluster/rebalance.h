/* rebalance.h - which single step puts a Redis Cluster's masters (and
 * replicas) back where the plan put them, or why none may be taken now.
 *
 * Pure: it reads the plan and what every node answered (its CLUSTER
 * NODES view, CLUSTER INFO and INFO replication), does no I/O, and decides
 * one step at a time.  Whoever acts (`meridian rebalance`, `meridian heal`)
 * reads every node again and asks again before each step: a step decided
 * from a stale view is how a healthy master gets demoted (DESIGN.md).
 *
 * A shard is off plan when its master (the plan node of the shard that
 * owns the most slots in the reference view: after a scale a shard's
 * slots are any set, not its plan range) is in another region than the
 * plan's master of the shard.  A shard that owns no slot (a new shard not
 * filled yet, a drained retiring one) has no master to move: it is
 * skipped, and so are its replicas.  The step that fixes it is a
 * coordinated CLUSTER FAILOVER (no FORCE, no TAKEOVER: the master hands
 * over its offset, nothing acknowledged is lost) sent to one replica of
 * the current master in the planned region: the plan's master itself when
 * it is such a replica, else another one there (the planned zone first,
 * then the least lag).  A master in the planned region on another host is
 * left where it is: the region is the domain the plan protects.
 *
 * A replica that follows another shard's master (set by hand, or by a
 * Redis that migrated it) is repointed first: CLUSTER REPLICATE of its
 * own shard's master, safe because its data is a copy.
 *
 * No step is decided (REBAL_REFUSED, with a sentence naming the node)
 * while a plan node does not answer, a view flags a node fail or fail?
 * (a failover may be running), the views disagree on the slot map, on a
 * node's role or master, on a master's config epoch or on the current
 * epoch (a failover is still spreading), a node says cluster_state:fail,
 * or the chosen replica lags more than MRD_CAUGHT_UP_LAG_BYTES, is not
 * linked, or is still being restored (nofailover).  One step per decision
 * means never two shards at once. */
#ifndef MRD_CLUSTER_REBALANCE_H
#define MRD_CLUSTER_REBALANCE_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster.h"
#include "plan.h"

/* What one plan node answered (all borrowed). */
typedef struct rebal_node {
    bool up;                        /* answered INFO as admin */
    const store_cluster_view *view; /* its CLUSTER NODES; NULL unknown */
    bool cluster_ok;                /* cluster_state:ok */
    long long current_epoch;        /* cluster_current_epoch; -1 unknown */
    bool is_master;                 /* INFO replication's role */
    long long offset;               /* master_repl_offset, or slave_repl_offset */
    bool link_up;                   /* a replica's master_link_status:up */
} rebal_node;

typedef enum rebal_kind {
    REBAL_BALANCED = 0, /* every master in its planned region, every
                           replica follows its own shard's master */
    REBAL_MOVE,         /* CLUSTER FAILOVER on `to`: shard's master `from` -> `to` */
    REBAL_REPOINT,      /* CLUSTER REPLICATE on `node`: follow `to`, its shard's master */
    REBAL_REFUSED,      /* a step is needed, but not now: `why`, `text` */
} rebal_kind;

/* Why a needed step is refused. */
typedef enum rebal_why {
    REBAL_WHY_NONE = 0,
    REBAL_WHY_DOWN,      /* `node` does not answer, or its view is unknown */
    REBAL_WHY_FAILING,   /* a view flags `node` fail / fail? / handshake / noaddr */
    REBAL_WHY_UNSETTLED, /* the views disagree: a failover is running or spreading */
    REBAL_WHY_NO_MASTER, /* `shard` has no master that serves its slots */
    REBAL_WHY_LAG,       /* the only candidate `to` lags `lag_bytes` or is not linked */
    REBAL_WHY_NO_TARGET, /* no replica of the master in the planned region */
} rebal_why;

typedef struct rebal_decision {
    rebal_kind kind;
    rebal_why why;
    int shard;          /* the shard of the step or refusal; -1 */
    int from;           /* plan node: the shard's master now; -1 */
    int to;             /* plan node: the replica to promote, or the master
                           to follow (REPOINT); -1 */
    int node;           /* plan node: the one repointed, or a refusal names; -1 */
    long long lag_bytes;/* `to`'s lag behind `from` (MOVE, LAG); -1 */
    int off_plan;       /* shards whose master is outside its planned region */
    int misplaced;      /* replicas following another shard's master */
    bool settled;       /* every node answers, no view doubts a node, every
                           view agrees with every other (judged even when
                           nothing is needed: who waits for a step to
                           spread asks this) */
    char unsettled[320];/* why not settled; "" when settled */
    char text[320];     /* one sentence: the step, the refusal, or "balanced" */
} rebal_decision;

/* Decide the next step for plan P, NODES[i] being what plan node i
 * answered (P->nnodes entries).  D is filled entirely. */
void rebalance_decide(const mrd_plan *p, const rebal_node *nodes, rebal_decision *d);

/* True when D needs a step (REBAL_MOVE, REBAL_REPOINT, or a refused one). */
static inline bool rebalance_needed(const rebal_decision *d)
{
    return d->kind != REBAL_BALANCED;
}

/* "move", "repoint", "balanced", "refused". */
const char *rebalance_kind_name(rebal_kind k);

/* "node-down", "node-failing", "unsettled", "no-master", "replica-lags",
 * "no-target", "" for none. */
const char *rebalance_why_name(rebal_why w);

/* The plan node at the address of view node N, or -1. */
int rebalance_plan_node(const mrd_plan *p, const store_cluster_node *n);

/* The reference view: the index in VIEWS[0..N) (a NULL entry is a node
 * that did not answer, or whose view did not parse) of the view whose
 * slot map agrees with the most of them, itself included, i.e. the slot
 * map most nodes share; the first on a tie; -1 when every entry is NULL.
 * What rebalance_decide() and `meridian status` both judge against. */
int rebalance_reference(const store_cluster_view *const *views, int n);

#endif
