/* rebalance_run.h - put a cluster's masters back where the plan put them,
 * one shard at a time (`meridian rebalance`, and `meridian heal` after the
 * agents' passes).
 *
 * Each round reads every node again (status_probe: INFO, CLUSTER NODES,
 * CLUSTER INFO of every node at once) and asks cluster/rebalance.h for the
 * next step; nothing is decided from an older view.  The steps:
 *
 *   move     CLUSTER FAILOVER (coordinated: no FORCE, no TAKEOVER) on the
 *            chosen replica, then wait, reading every view again, until
 *            every view agrees that it is the master of the shard's slots
 *            and the old master is its linked replica (at most the step
 *            timeout: 10 s + 2 x cluster-node-timeout), asking again
 *            every REBAL_MF_RETRY_MS while a fresh look decides the same
 *            move (Redis refused the votes: a failover of that shard
 *            less than 2 x node timeout ago);
 *   repoint  CLUSTER REPLICATE <its shard's master> on a replica that
 *            follows another shard's master, then wait until it is linked.
 *
 * Then the next round; the run ends when nothing is off plan (or, dry,
 * after the first decision).  A refusal (a node down, a failover running,
 * the replica lags) stops the run before that step: a step already taken
 * stays taken and is reported.  meridian never sends FORCE, TAKEOVER,
 * CLUSTER RESET or FLUSHALL. */
#ifndef MRD_REBALANCE_RUN_H
#define MRD_REBALANCE_RUN_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "err.h"
#include "orch.h"
#include "rebalance.h"

/* A run never takes more steps than this (a cluster that keeps moving
 * back is refused, not chased). */
#define REBAL_MAX_STEPS 32
/* A move must be agreed by every view within this plus twice the
 * cluster's node timeout (see REBAL_MF_RETRY_MS). */
#define REBAL_STEP_BASE_MS 10000
/* Redis' masters give their vote for a shard's failover at most once per
 * 2 x cluster-node-timeout, and a replica's manual failover that got no
 * majority ends after 5 s (CLUSTER_MF_TIMEOUT) with nothing changed.  So
 * a move right after another failover of the same shard is asked again
 * after this long, as long as a fresh look still decides the same move. */
#define REBAL_MF_RETRY_MS 5500
/* Between two looks while a step spreads. */
#define REBAL_POLL_MS 100

typedef struct rebalance_opts {
    bool apply;         /* --yes: act; false: decide only (dry run) */
    int settle_ms;      /* a cluster that is not settled (a failover still
                           spreading, a node flagged fail?) is looked at
                           again for this long before the run refuses;
                           0: refuse at once */
    int timeout_ms;     /* the whole run; 0: no limit but the steps' own */
    FILE *progress;     /* one line per step taken; NULL: quiet */
} rebalance_opts;

/* One step taken. */
typedef struct rebal_step {
    rebal_kind kind;    /* REBAL_MOVE or REBAL_REPOINT */
    int shard;
    int from;           /* MOVE: the old master */
    int to;             /* MOVE: the new master; REPOINT: the master followed */
    int node;           /* REPOINT: the replica repointed */
    long long lag_bytes;/* MOVE: the new master's lag before the move */
    long long ms;       /* from the command to every view agreeing */
    int attempts;       /* CLUSTER FAILOVERs sent (see REBAL_MF_RETRY_MS) */
} rebal_step;

typedef enum rebal_outcome {
    REBAL_OUT_BALANCED = 0, /* nothing (left) to do */
    REBAL_OUT_PLANNED,      /* dry run: steps are needed; `first` is the next */
    REBAL_OUT_REFUSED,      /* a step is needed and refused: `last.text` */
    REBAL_OUT_FAILED,       /* a command failed or a step did not spread in
                               time: `error` */
} rebal_outcome;

typedef struct rebalance_report {
    rebal_outcome outcome;
    rebal_decision first;   /* the decision of the first look */
    rebal_decision last;    /* the decision of the last look */
    rebal_step steps[REBAL_MAX_STEPS];
    int nsteps;
    char error[512];        /* REBAL_OUT_FAILED: a sentence */
    long long ms;
} rebalance_report;

/* Rebalance C's cluster as O says; R is filled entirely.  Returns MRD_OK
 * whatever the outcome (it is in R); an error only when it could not look
 * at all (credentials, out of memory), with ERR set.  Cluster mode only:
 * MRD_ERR_STATE for another mode. */
mrd_rc rebalance_run(const orch_ctx *c, const rebalance_opts *o, rebalance_report *r,
                     mrd_error *err);

/* Take step D (a move or a repoint) with ADMIN's password, then wait
 * until every view agrees on its result, within the step timeout
 * (REBAL_STEP_BASE_MS + 2 x node timeout), asking again as
 * REBAL_MF_RETRY_MS says.  The step goes into R->steps, or R->outcome is
 * REBAL_OUT_FAILED with R->error.  False only when the cluster could not
 * be read at all (ERR).  A switchover takes its move through this too. */
bool rebalance_take(const orch_ctx *c, const char *admin, const rebal_decision *d,
                    rebalance_report *r, mrd_error *err);

/* "balanced", "planned", "refused", "failed". */
const char *rebalance_outcome_name(rebal_outcome o);

/* The report as JSON (new reference):
 *   {"outcome", "reason" (refusal or failure, else null),
 *    "next": {"action", "shard", "from", "to", "lag_bytes", "text"} | null,
 *    "moves": [{"action": "move"|"repoint", "shard", "from": {"host",
 *               "region", "address", "port"}, "to": {...}, "lag_bytes", "ms"}],
 *    "ms"} */
json_t *rebalance_report_json(const orch_ctx *c, const rebalance_report *r);

/* One line per step: "shard 3: master use-b1 (us-east) -> aps-a1
 * (ap-south) in 1.23 s, lag before 0 bytes" (no newline), into BUF. */
void rebalance_step_text(const orch_ctx *c, const rebal_step *s, char *buf, size_t n);

#endif
