/* switchover.h - move a shard's leader to a chosen replica without losing
 * an acknowledged write (`meridian switchover`, and the leader's turn in a
 * rollout).
 *
 * Sentinel mode, as an explicit state machine (one step function per
 * state, the state persisted in STATE/switchover.json before its step
 * runs, as Sentinel's own failover state machine):
 *
 *   hold      every other replica's agent holds it at replica-priority 0
 *             (POST /v1/hold, agent/hold.h) so the sentinels can promote
 *             only the target; wait until the sentinel that will run the
 *             failover shows exactly that (it reads priorities from INFO,
 *             every 10 s); then wait until that sentinel's last INFO of
 *             the target is SWITCHOVER_INFO_ALIGN_MS old (see below);
 *   pause     CLIENT PAUSE WRITE on the old leader with a short lease
 *             (SWITCHOVER_LEASE_MS), renewed while the switchover waits:
 *             the pause can never outlive the process that set it by
 *             more than the lease;
 *   catchup   wait until the target's replication offset equals the
 *             leader's (SWITCHOVER_CATCHUP_MS at most);
 *   failover  SENTINEL FAILOVER on that sentinel;
 *   promoted  wait until the target answers ROLE master, then make the
 *             old leader its replica (REPLICAOF, CONFIG REWRITE: writes it
 *             held are refused with READONLY, never accepted) and unpause;
 *   verify    wait until every sentinel names the target, every replica
 *             follows it with its link up, the old leader too;
 *   release   lift the holds: the plan's priorities are back.
 *
 * A step that fails before the failover was asked for rolls back: unpause,
 * lift the holds; the old leader keeps serving, and the report says why.
 * A run killed at any step (kill -9) is finished by the next run: before
 * the failover it is rolled back and started again; after it, it goes on
 * from where the leader is.  Writes are never left paused: the lease ends
 * the pause, and the holds end by themselves too.
 *
 * Cluster mode: CLUSTER FAILOVER (coordinated: the master pauses its
 * clients and the replica waits for its offset; no FORCE, no TAKEOVER)
 * sent to the chosen replica, then wait until every node agrees; the
 * shard's master is recorded there (STATE/placement.json, the plan's
 * "master" of the shard) so that `meridian heal` and `rebalance` keep it
 * where the operator put it.
 *
 * The choice of target, the order of the states and what a resumed run
 * does are pure functions, unit-tested. */
#ifndef MRD_SWITCHOVER_H
#define MRD_SWITCHOVER_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "err.h"
#include "orch.h"
#include "status.h"

#define SWITCHOVER_STATE_FILE "switchover.json"
#define SWITCHOVER_LEASE_MS 2000    /* one CLIENT PAUSE; renewed every
                                       SWITCHOVER_RENEW_MS while waiting,
                                       and just before the demotion: each
                                       call in between is bounded by
                                       SWITCHOVER_CALL_MS */
#define SWITCHOVER_RENEW_MS 200
#define SWITCHOVER_CALL_MS 500      /* connect and command, while paused */
/* A target that does not answer for this long after the failover was
 * asked is taken for dead: the pause ends, the old leader serves (the
 * sentinel aborts its failover after failover-timeout). */
#define SWITCHOVER_TARGET_DEAD_MS 2000
#define SWITCHOVER_CATCHUP_MS 2000  /* target's offset equal to the leader's */
#define SWITCHOVER_HOLD_SEEN_MS 15000 /* sentinel shows the holds (INFO: 10 s) */
#define SWITCHOVER_VERIFY_MS 30000  /* + failover-timeout: all agree */
#define SWITCHOVER_POLL_MS 10
/* Sentinel notices a promotion only in a promoted replica's INFO, which it
 * asks for once a second during a failover (hard-coded in sentinel.c):
 * at the first tick where its last INFO is over 1 s old.  Its REPLICAOF NO
 * ONE comes 2-3 ticks (100-300 ms) after SENTINEL FAILOVER.  Starting the
 * pause when the target's last INFO is this old puts the promotion just
 * before the next INFO: the sentinels name the target about 0.4 s after
 * the pause instead of 1 s (bench/switchover.sh). */
#define SWITCHOVER_INFO_ALIGN_MS 600
/* A hold outlives the longest switchover: it ends by itself after this
 * plus the failover timeout, should the switchover die. */
#define SWITCHOVER_HOLD_TTL_MS 60000

/* The states, in the order a run goes through them. */
typedef enum sw_state {
    SW_HOLD = 0,
    SW_PAUSE,
    SW_CATCHUP,
    SW_FAILOVER,
    SW_PROMOTED,
    SW_VERIFY,
    SW_RELEASE,
    SW_DONE,
    SW__COUNT
} sw_state;

/* "hold", "pause", ...; sw_state_parse returns -1 for an unknown name. */
const char *sw_state_name(sw_state s);
int sw_state_parse(const char *name);

/* What a run that finds a switchover killed in state S does, given where
 * the leader is now (pure):
 *   SW_RESUME_ROLLBACK  the failover was not asked for, or it ended with
 *                       the old leader still serving: unpause, lift the
 *                       holds, start again;
 *   SW_RESUME_WAIT      a failover runs: wait for the target's promotion;
 *   SW_RESUME_ON        go on from S (the target leads);
 *   SW_RESUME_DROP      see below.
 * FAILOVER_RUNNING is true also when a sentinel could not be asked (a
 * failover may run there: wait rather than unpause). */
typedef enum sw_resume {
    SW_RESUME_ROLLBACK = 0,
    SW_RESUME_WAIT,
    SW_RESUME_ON,
    SW_RESUME_DROP,      /* it had got to verifying, and the target leads no
                            longer (a failover since): lift the holds, drop
                            the state, start again */
} sw_resume;
sw_resume sw_resume_decide(sw_state s, bool target_is_master, bool failover_running);

typedef struct switchover_opts {
    const char *to;       /* a host name, or a region name */
    int shard;            /* cluster mode: plan shard index; sentinel: 0 */
    bool apply;           /* --yes: act; false: say what it would do */
    FILE *progress;       /* one line per step; NULL quiet */
} switchover_opts;

typedef enum sw_outcome {
    SW_OUT_DONE = 0,      /* the leader moved */
    SW_OUT_NOTHING,       /* the leader is there already */
    SW_OUT_PLANNED,       /* dry run: what it would do */
    SW_OUT_REFUSED,       /* refused before anything changed */
    SW_OUT_FAILED,        /* a step failed: rolled back, old leader serving */
} sw_outcome;

typedef struct switchover_report {
    sw_outcome outcome;
    int shard;
    int from, to;                 /* plan node indexes, -1 unknown */
    char from_name[64], to_name[64];
    char from_region[MRD_NAME_MAX], to_region[MRD_NAME_MAX];
    bool resumed;                 /* finished a run that was killed */
    char resumed_from[16];        /* its state */
    long long pause_ms;           /* writes paused on the old leader; -1 */
    long long catchup_ms;         /* pause -> target caught up; -1 */
    long long promote_ms;         /* failover asked -> target master; -1 */
    long long verify_ms;          /* unpaused -> every view agrees; -1 */
    long long total_ms;
    long long retry_after_ms;     /* refused for a cooldown: what is left
                                     of it; 0 otherwise */
    char failed_state[16];        /* the state that failed, "" none */
    char reason[400];             /* why refused or failed; what it would
                                     do (dry run) */
} switchover_report;

/* Choose the node of shard SHARD to take over, as R (a status probe) shows
 * the deployment: TO names a host (its node of the shard) or a region (its
 * healthy replica with the least lag, then the plan's preferred priority).
 * The target must be a healthy replica, linked, caught up
 * (MRD_CAUGHT_UP_LAG_BYTES), promotable in the plan.  Returns the node
 * index; -2 when the shard's master is there already (*TARGET the
 * master); -1 with WHY (N bytes) saying what is wrong.  Pure. */
int switchover_choose(const orch_ctx *c, const st_report *r, int shard, const char *to,
                      char *why, size_t n);

/* Run it (see above).  The caller holds the state dir's lock.  Exit code:
 * 0 done or nothing to do, 1 dry run (steps needed), 2 refused or failed
 * (R->reason says why; a run that failed before the failover was asked
 * leaves the old leader serving; after it, the state stays for the next
 * run, which finishes it).  A run that finds a killed switchover finishes
 * it (R->resumed) and then makes the move it was asked for. */
int switchover_run(orch_ctx *c, const switchover_opts *o, switchover_report *r);

/* Cluster mode: finish a switchover killed while its CLUSTER FAILOVER was
 * asked (STATE/switchover.json).  Once every view agrees (or the failover
 * can no longer be running: REBAL_STEP_BASE_MS + 2 x node timeout after
 * it was asked), the shard's master is recorded in the placement when the
 * target leads; else nothing changes.  A switchover run does this first,
 * and so must every command that moves masters back to the plan (`heal`,
 * `rebalance --yes`): it would otherwise undo the operator's move.  The
 * caller holds the state dir's lock; progress lines go to PROGRESS (NULL:
 * none).  Returns 1 when the move was recorded, 0 when there was nothing
 * to finish or the failover had not moved the master (the file is
 * dropped), -1 with ERR when the cluster could not be read or the
 * placement not written (the file stays for the next command).  Sentinel
 * mode: 0. */
int switchover_finish_killed(orch_ctx *c, FILE *progress, mrd_error *err);

/* `meridian switchover --json`: {"outcome", "shard", "from", "to",
 * "from_region", "to_region", "resumed", "resumed_from", "pause_ms",
 * "catchup_ms", "promote_ms", "verify_ms", "total_ms", "failed_state",
 * "reason"} (new reference). */
json_t *switchover_report_json(const switchover_report *r);

/* "done", "nothing", "planned", "refused", "failed" */
const char *sw_outcome_name(sw_outcome o);

#endif
