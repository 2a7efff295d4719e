/* drill.h - region outage drills: break something on purpose, measure
 * what happened, put everything back.
 *
 *   preflight -> writer load -> fault -> timeline -> restore -> heal ->
 *   verify -> report
 *
 * Times in a drill record are milliseconds since the drill's start
 * (CLOCK_MONOTONIC), so every part of the report shares one clock. */
#ifndef MRD_DRILL_H
#define MRD_DRILL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "orch.h"

typedef enum drill_scenario {
    DRILL_KILL_LEADER = 0, /* SIGKILL the leader's redis-server (cluster
                              mode: a shard's master, shard 1 by default) */
    DRILL_REPLICA_LOSS,    /* kill a replica and wipe its data dir */
    DRILL_REGION_OUTAGE,   /* stop every process of a region */
    DRILL_PARTITION,       /* cut a region off, its processes running */
    DRILL_SENTINEL_LOSS,   /* kill a sentinel (sentinel mode) */
    DRILL_HOST_LOSS,       /* stop every process of a host for good: heal
                              replaces it on a spare; then the old host
                              returns and must stay fenced */
    DRILL_SCALE,           /* cluster mode: run the deploy of a changed
                              cluster.shards (grow or shrink) under the
                              writer load; no fault (drill_scale.h) */
    DRILL_SWITCHOVER,      /* a planned `meridian switchover --to HOST|REGION`
                              (operations/switchover.h) under the load */
    DRILL_SENTINEL_FAILOVER, /* sentinel mode, the baseline of the above:
                              SENTINEL FAILOVER sent by hand, as operators
                              do it without meridian */
    DRILL_ROLLOUT,         /* a `meridian rollout --yes` (operations/rollout.h)
                              under the load */
    DRILL_TOTAL_LOSS,      /* sentinel mode: a backup under the load, more
                              writes, every node of every region killed,
                              the backup restored; RTO and RPO measured
                              (drill_total_loss.h) */
    DRILL__COUNT
} drill_scenario;

/* "kill-leader", ...; drill_scenario_parse returns -1 when unknown. */
const char *drill_scenario_name(drill_scenario s);
int drill_scenario_parse(const char *name);

/* ==== the record of one drill ==== */

/* What happened to one write of the load. */
typedef enum drill_write_state {
    DRILL_W_ERROR = 0, /* refused or failed (no leader, NOREPLICAS, I/O) */
    DRILL_W_WRITTEN,   /* SET answered OK, WAIT did not confirm enough replicas */
    DRILL_W_ACKED,     /* SET OK and WAIT confirmed >= wait_replicas */
} drill_write_state;

typedef struct drill_write {
    int64_t t_ms;        /* when the SET was sent */
    int64_t done_ms;     /* when the attempt ended: for an ACKED write, when
                            WAIT's answer came (the acknowledgement); 0 in
                            records built without it */
    int64_t seq;         /* the key is "<prefix>:<seq>", the value "<seq>" */
    int16_t leader;      /* node index (the plan's) it was sent to, -1 none */
    uint8_t state;       /* drill_write_state */
    uint8_t isolated;    /* sent by the in-partition probe writer */
    int16_t shard;       /* cluster mode: the plan shard whose slot range
                            holds the key's slot; 0 in sentinel mode */
} drill_write;

/* One message from a sentinel's event channels, a change a cluster node
 * showed when polled (or a drill marker). */
typedef struct drill_event {
    int64_t t_ms;
    int16_t sentinel;    /* host index of the source: the sentinel, or in
                            cluster mode the node that showed the change;
                            -1 for drill markers */
    int16_t node;        /* cluster mode: plan node index of the source,
                            -1 none (sentinel mode: always -1) */
    int16_t shard;       /* cluster mode: the plan shard the event is
                            about, -1 none (sentinel mode: always -1) */
    char name[32];       /* "+sdown", "+odown", "+switch-master", ...;
                            cluster mode: "+pfail", "+fail", "-fail",
                            "+promoted", "+demoted", "+cluster-fail",
                            "+cluster-ok" */
    char detail[160];    /* the message payload */
} drill_event;

/* Cluster mode: what happened to one shard (plan shard index = position in
 * drill_record.shards). */
typedef struct drill_shard {
    char name[64];               /* "local-cluster-1" */
    char master_before[64];      /* node names; "" unknown */
    char master_after[64];
    char region_before[32];      /* the masters' regions */
    char region_after[32];
    char region_planned[32];     /* where the plan puts its master */
    bool faulted;                /* the fault hit its master */
    /* the orchestrator's (never written by drill_result_compute) */
    int64_t acked_writes_lost;
    int64_t unacked_writes_lost;
    /* drill_result_compute's */
    int64_t failover_ms;         /* fault -> first +promoted of a node of
                                    the shard; -1 none */
    int64_t write_unavailable_ms; /* longest gap between acknowledged
                                    writes of the shard's keys, as the
                                    record-wide figure */
    int64_t writes_attempted;
    int64_t writes_acked;
} drill_shard;

typedef struct drill_result {
    int64_t detect_ms;            /* fault -> first +odown; -1 none */
    int64_t failover_ms;          /* fault -> first +switch-master; -1 none */
    int64_t write_unavailable_ms; /* longest gap between acknowledged writes
                                     of the main writer, from the fault
                                     (scale: of one writer thread, from
                                     the deploy's start) */
    int64_t writes_attempted;
    int64_t writes_acked;
    int64_t acked_writes_lost;    /* acked but not readable at the end */
    int64_t unacked_writes_lost;  /* sent, not acked, not readable */
    int64_t heal_ms;              /* restore -> topology back to plan; -1 */
    int64_t full_syncs;           /* sync_full the leaders (before and after)
                                     served during the drill */
    int64_t partial_syncs;        /* sync_partial_ok, the same way */
    bool split_brain;             /* two nodes accepted writes as leader at once
                                     after the isolated one had to refuse */
    int64_t isolated_accepted;    /* partition: writes the isolated old
                                     leader accepted */
    int64_t isolated_refused_ms;  /* partition: fault -> its first refusal;
                                     -1 none */
    /* cluster mode (-1 in sentinel mode) */
    int64_t cluster_fail_ms;      /* time after the fault during which some
                                     node the fault did not hit reported
                                     cluster_state:fail */
    int64_t cluster_ok_ms;        /* fault -> every such node ok again after
                                     the last fail; -1 none (never failed,
                                     or still failing at the end) */
    int longest_gap_shard;        /* the shard of write_unavailable_ms, -1 */
    bool healed;                  /* status OK at the end */
    bool pass;                    /* nothing acked lost and healed (scale:
                                     and the deploy exited 0, every write
                                     read back) */
    char verdict_reason[256];     /* why not, when !pass */
} drill_result;

/* The scale drill's part of a record (scenario "scale"; all zero, PRESENT
 * false, for every other scenario).  Its marks: fault_ms is when the
 * deploy started, restore_ms when it returned; drill_write.shard is the
 * writer thread (each writes keys of its own share of the slots), not a
 * plan shard. */
typedef struct drill_scale {
    bool present;
    int shards_before;       /* shards owning slots before (the deployed
                                placement's, retiring ones included) */
    int shards_after;        /* cluster.shards */
    int added, retiring;     /* shards the plan adds, retires */
    int slots_to_move;       /* the plan diff's slot moves, before the deploy */
    int writers;             /* writer threads */
    int rate;                /* writes per second asked of them, together */
    int deploy_exit;         /* deploy_run's exit code */
    int masters_after;       /* masters owning slots when read back; -1 unknown */
    bool readback_complete;  /* every write was read back */
    int64_t load_ready_ms;   /* every writer had an acknowledged write */
    /* drill_result_compute's */
    int64_t scale_ms;             /* fault_ms -> restore_ms: the deploy */
    double acked_per_s_before;    /* load_ready_ms -> fault_ms */
    double acked_per_s_during;    /* fault_ms -> restore_ms */
    double acked_per_s_after;     /* restore_ms -> end_ms */
    int longest_gap_writer;       /* the writer of r.write_unavailable_ms, -1 */
} drill_scale;

/* The host-loss drill's part of a record (PRESENT false for every other
 * scenario).  Times are from the fault. */
typedef struct drill_host_loss {
    bool present;
    char spare[64];          /* the spare heal chose, "" none */
    int replace_after_s;     /* agent.replace_after_s the drill used */
    int generation;          /* the replacement's generation, 0 none */
    bool replaced;           /* heal replaced the host */
    int64_t detect_ms;       /* fault -> the host fenced (+host-lost); -1 */
    int64_t ready_ms;        /* fault -> the spare's nodes ready; -1 */
    int64_t leader_bytes;    /* replication bytes the leader sent the
                                spare's node (its backlog's delta and the
                                stream since); -1 unknown */
    int64_t full_sync_bytes; /* what a full sync would have sent: the RDB
                                the spare restored from; -1 unknown */
    bool layout_ok;          /* the live layout keeps the plan's rules */
    bool old_host_fenced;    /* the old host, back, started no node and
                                its agent says it was replaced */
    char old_host[160];      /* what the returning old host showed */
} drill_host_loss;

/* The planned-operation drills' part of a record (switchover and its
 * baseline sentinel-failover; PRESENT false for every other scenario).
 * The writes the application saw are the record's usual figures
 * (r.write_unavailable_ms: the longest gap between acknowledged writes). */
typedef struct drill_planned {
    bool present;
    char operation[24];      /* "switchover", "sentinel-failover" */
    char outcome[16];        /* switchover: sw_outcome_name(); the baseline:
                                "done" once the command was accepted */
    char from[64], to[64];   /* node names, "" unknown */
    int64_t pause_ms;        /* writes paused on the old leader by the
                                operation; -1 none or unknown */
    int64_t op_ms;           /* the operation, from its start to its end */
    char reason[256];        /* why it was not done, "" */
    char steps[1024];        /* rollout: "euw-a1 0.6 s partial, ..." */
    int full_syncs;          /* rollout: restarted nodes that needed a full
                                sync, as their agents saw the master's
                                counters (a restart resets a node's own:
                                the record's sync figures come from here) */
    int partial_syncs;       /* rollout: ... that resumed by a partial one */
} drill_planned;

/* The total-loss drill's part of a record (PRESENT false for every other
 * scenario).  Its marks: fault_ms is the kill's start, restore_ms when
 * restore_run() was called, ready_ms when status was OK again after it.
 *
 * The backup's cut (the moment the source replica forked for its RDB) is
 * somewhere between backup_start_ms and backup_end_ms: the drill cannot
 * see it, so it classes each acknowledged write by time and reads every
 * one back instead of guessing:
 *   before   acknowledged (done_ms) before backup_start_ms: in the RDB;
 *            one missing is a failure (lost_before);
 *   during   the rest sent before backup_end_ms: either side of the cut,
 *            each checked (kept_during, lost_during);
 *   after    sent at/after backup_end_ms, before kill_end_ms: not in the
 *            RDB, expected lost (lost_after);
 *   restored sent at/after kill_end_ms: written to the restored master;
 *            one missing is a failure (lost_restored).
 * rpo_writes = lost_during + lost_after: the acknowledged writes the total
 * loss cost, counted. */
typedef struct drill_total_loss {
    bool present;
    char key_prefix[96];       /* the writer's keys: "<prefix>:<seq>" */
    char backup_id[32];        /* "" when the backup failed */
    int64_t backup_start_ms;   /* backup_run() called (drill clock) */
    int64_t backup_end_ms;     /* ... returned */
    int64_t backup_ms;         /* its duration_ms; -1 none */
    int64_t backup_keys;       /* keys in the backup; -1 unknown */
    int64_t kill_end_ms;       /* every node seen down (drill clock); -1 */
    int nodes_killed;          /* redis-server processes SIGKILLed */
    int nodes_total;           /* the plan's nodes */
    bool restored;             /* restore_run() returned OK */
    int64_t restore_ms;        /* restore_run()'s duration_ms; -1 */
    int64_t restore_writable_ms; /* its writable_ms (loaded, replicas linked); -1 */
    int64_t keys_restored;     /* its keys_loaded; -1 */
    char error[256];           /* why the backup or the restore failed */
    /* one flag per record write (borrowed, may be NULL: not read back):
     * 1 when its key was read back with its value from the restored
     * master */
    const uint8_t *write_present;
    /* drill_result_compute's */
    int64_t rto_writable_ms;   /* fault -> the first acknowledged write
                                  after the kill (its done_ms); -1 none */
    int64_t rto_healthy_ms;    /* fault -> ready_ms; -1 */
    int64_t acked_before, lost_before;
    int64_t acked_during, kept_during, lost_during;
    int64_t acked_after, lost_after;
    int64_t acked_restored, lost_restored;
    int64_t rpo_writes;        /* lost_during + lost_after */
    int64_t rpo_window_ms;     /* fault -> the earliest lost acknowledged
                                  write before it (t_ms); -1 none */
} drill_total_loss;

typedef struct drill_record {
    char topology[64];
    char scenario[32];
    char target[64];       /* host or region name */
    int64_t fault_ms;      /* when the fault was applied */
    int64_t failover_seen_ms; /* first +switch-master, -1 */
    int64_t restore_ms;    /* when the fault was undone */
    int64_t ready_ms;      /* topology back to plan, -1 */
    int64_t end_ms;
    char leader_before[64]; /* the leader (cluster mode: the target shard's
                               master) before the fault and after it, as
                               node names (plan_node_name(): "aps-a1",
                               "aps-a1:16380" for a node off store.port);
                               "" unknown */
    char leader_after[64];
    drill_write *writes;
    int64_t nwrites;
    drill_event *events;
    int64_t nevents;
    /* Cluster mode: one entry per plan shard (0 and NULL in sentinel
     * mode); the events that mark detection and failover ("" means
     * sentinel mode's "+odown" and "+switch-master"); which plan nodes
     * the fault hit (NODE_FAULTED[i] != 0), left out of cluster_fail_ms
     * (borrowed, may be NULL). */
    drill_shard *shards;
    int nshards;
    char detect_event[32];
    char failover_event[32];
    const uint8_t *node_faulted;
    int nnodes_faulted;
    drill_scale scale;     /* scenario "scale" only */
    drill_host_loss host_loss; /* scenario "host-loss" only */
    drill_planned planned; /* scenarios "switchover", "sentinel-failover",
                              "rollout" */
    drill_total_loss total_loss; /* scenario "total-loss" only */
    drill_result r;
} drill_record;

/* ==== running a drill ==== */

typedef struct drill_opts {
    drill_scenario scenario;
    const char *arg;     /* NODE, REGION or HOST; NULL: a sensible default */
    const char *out_dir; /* report.json, report.txt, timeline.svg; NULL: none */
    bool json;           /* print report.json on stdout */
    int duration_s;      /* writer runs at least this long (default 12) */
    int rate;            /* writes per second (default 200) */
    bool wait_cooldown;  /* wait out the failover cooldown, else refuse */
    int timeout_s;       /* scale: the deploy's verification timeout
                            (deploy --timeout); 0: 60 */
    int replace_after_s; /* host-loss: agent.replace_after_s for the
                            drill's heal; 0: DRILL_REPLACE_AFTER_S */
    /* Cluster mode: run once the topology is ready again after the fault,
     * what `meridian heal` runs (the front end passes its own, so a drill
     * ends as the operator's heal leaves a deployment: masters back in
     * their planned regions once heal rebalances).  Returns heal's exit
     * code.  NULL: none. */
    int (*heal)(orch_ctx *c);
} drill_opts;

/* host-loss: the drill shrinks agent.replace_after_s to this by default. */
#define DRILL_REPLACE_AFTER_S 5

/* Run the drill; exit code 0 pass, 2 fail, 1 refused in preflight, 3 could
 * not run, 64 the scenario does not fit the topology.  Progress goes to
 * stderr, the summary to stdout (DRILL_SCALE: see drill_scale.h). */
int drill_run(orch_ctx *c, const drill_opts *o);

/* A drill's progress line on stderr, "drill  +1.234 s  TEXT", stamped
 * with the time since T0_MS (mrd_now_ms() at the drill's start). */
void drill_vsay(long long t0_ms, const char *fmt, va_list ap);

/* How long a drill keeps its fault in place, in ms (pure): at most
 * *LIMIT_MS, down_after_ms + failover_timeout_ms + 5 s for a fault that
 * MOVES_LEADER (the drill waits for the failover), 3 s otherwise; and at
 * least *HOLD_MS, min_replicas_max_lag_s + 2 s when the fault ISOLATES the
 * leader (a partition of its region: it must have had time to refuse
 * writes), else 0.  Every setting may be up to INT_MAX: the sums are in
 * long long. */
void drill_fault_window(const mrd_topology *t, bool moves_leader, bool isolates_leader,
                        long long *limit_ms, long long *hold_ms);

#endif
