/* heal.h - the agent's check-and-heal pass for its host.
 *
 * A pass has two halves, as Sentinel's loop does: for each store node of
 * the host it first OBSERVES (is the process alive, does the node answer,
 * what role does it have, which master do a majority of sentinels name for
 * its shard, which peers are healthy), then it DECIDES one action per node
 * with heal_decide(), a pure function, and only then, when asked to heal,
 * ACTS.  Observing and acting go through the mode's table (heal_int.h;
 * heal_sentinel.c, heal_cluster*.c); deciding, the state kept across
 * passes and the report are the front end's (heal.c), and so is the
 * restore of a lost replica that both modes use (heal_restore.c, with a
 * mode's hooks for the node's first start).  The steps below are sentinel
 * mode's; cluster mode's differ in step 1 (the master is the one a live
 * node's CLUSTER NODES gives the shard's slots) and step 4 (nodes.conf
 * "myself,slave <master>" written before the start, no replicaof).
 *
 * Restoring a lost replica:
 *   1. ask the sentinels for the current leader (a majority must agree);
 *   2. choose a snapshot source: a healthy replica in the same region with
 *      the least lag, else a healthy replica elsewhere, else the leader;
 *   3. fetch an RDB snapshot from it over the replication protocol,
 *      installed atomically as the node's data/dump.rdb; the AOF folder
 *      of the node's previous life, if any, is moved aside, never loaded
 *      (heal_int.h);
 *   4. render the node's config with `replicaof <leader>` and
 *      replica-priority 0 (not promotable while it loads), start it: Redis
 *      asks the leader only for the writes since the snapshot (a partial
 *      resync) when the leader's backlog still covers them, else it falls
 *      back to a full sync, which is reported as +full-resync;
 *      The config says appendonly no whatever store.persistence says:
 *      Redis 7.0 with appendonly yes would load only an AOF, never the
 *      snapshot, and get a full sync;
 *   5. ready once its link is up and its lag is small: with
 *      store.persistence "aof" the AOF is turned on (CONFIG SET appendonly
 *      yes: Redis writes it in a forked rewrite), then the plan's replica
 *      priority is restored (CONFIG SET + CONFIG REWRITE).  Whatever
 *      interrupts a restore (kill -9 of the pass, a sync slower than
 *      HEAL_SYNC_TIMEOUT_MS, a failed CONFIG SET), every later pass
 *      compares the node's live safety settings with the manifest and
 *      repairs them once the node is ready (HEAL_REPAIR; appendonly is not
 *      one of them: a node left with appendonly no is drift that `meridian
 *      status` reports and `meridian deploy` sets back live);
 *   6. stale sentinel entries are cleared (see heal_stale_replicas()).
 *
 * A crashed leader is never restarted as a leader: with persistence off it
 * would come back empty and its replicas would copy the empty dataset;
 * with an AOF (store.persistence "aof") it would come back without up to a
 * second of writes it acknowledged, and with keys deleted since, while its
 * replicas took writes it never saw.  Its AOF is moved aside, not loaded.  The
 * agent waits for the sentinels to fail over (asking them once, when the
 * leader has been down longer than down-after), then restores the node as a
 * replica of the new leader through the same path.
 *
 * Passes never overlap: each holds ROOT/heal.lock (flock), which both the
 * agent's loop and cron-mode `meridian-agent check --heal` take. */
#ifndef MRD_HEAL_H
#define MRD_HEAL_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"
#include "events.h"
#include "health.h"
#include "settings.h"
#include "supervise.h"

/* How long a restored node may take to link up and catch up. */
#define HEAL_SYNC_TIMEOUT_MS 120000
/* Snapshot transfer idle timeout. */
#define HEAL_FETCH_TIMEOUT_MS 30000
/* Backoff after a failed or repeated restore: first delay, and the cap. */
#define HEAL_BACKOFF_FIRST_MS 5000
#define HEAL_BACKOFF_MAX_MS 600000
/* A node restored this many times within HEAL_FLAP_WINDOW_MS is flapping. */
#define HEAL_FLAP_COUNT 3
#define HEAL_FLAP_WINDOW_MS 600000
/* Pause between two sentinel resets so the group keeps a quorum that
 * knows the replicas (each reset sentinel must see them all again). */
#define HEAL_RESET_SETTLE_MS 5000

/* A fenced leader's min-replicas-to-write: more than any topology has
 * (common/settings.h: the orchestrator's reconcile and status know it). */
#define HEAL_FENCE_MIN_REPLICAS MRD_FENCE_MIN_REPLICAS

/* What was observed about one store node of this host. */
typedef struct heal_facts {
    bool proc_alive;        /* its pid file names a live redis-server */
    bool data_dir_ok;       /* its data dir exists (a live node without one
                               gets it recreated; never a reason to restore) */
    bool reachable;         /* it answered INFO as the admin user */
    bool is_master;
    bool follows_leader;    /* replica of the leader the sentinels name */
    bool link_up;
    long long lag_bytes;    /* -1 when unknown */
    bool have_leader;       /* a majority of the sentinels agree on a master
                               of the node's shard */
    bool self_is_leader;    /* ... and it is this node */
    bool failover_in_progress;
    long long down_ms;      /* how long the process has been seen down */
    bool backing_off;       /* a restore failed or flaps: wait */
    bool settings_drift;    /* a live setting the plan's safety depends on
                               (replica-priority, min-replicas-*) differs
                               from the manifest, e.g. replica-priority 0
                               left by an interrupted restore */
} heal_facts;

/* The one action a pass takes for a store node. */
typedef enum heal_action {
    HEAL_NONE = 0,          /* ready: nothing to do */
    HEAL_WAIT_SYNC,         /* a replica catching up: wait */
    HEAL_WAIT_RECONFIG,     /* running but not (yet) what the sentinels say:
                               they reconfigure it; wait */
    HEAL_WAIT_SENTINELS,    /* no sentinel majority agrees on a leader:
                               nothing safe to do */
    HEAL_WAIT_FAILOVER,     /* the leader (this node) is lost; sentinels
                               have not promoted another yet */
    HEAL_ASK_FAILOVER,      /* ...and it has been down longer than
                               down-after: ask a sentinel to fail over */
    HEAL_RESTORE,           /* a lost replica: restore from a snapshot */
    HEAL_BACKOFF,           /* lost, but waiting after failures */
    HEAL_REPOINT,           /* a master the sentinel majority does not name
                               (an old leader back from a partition), or a
                               replica of anything but that leader, outside
                               a failover: REPLICAOF the leader now, rather
                               than after Sentinel's ~8 s role-change wait */
    HEAL_REPAIR,            /* ready in every other way, but a safety
                               setting differs from the manifest (a replica
                               left unpromotable by an interrupted restore,
                               a fence left behind by a dead agent): set it
                               back now.  Never while the node still syncs:
                               a loading replica stays unpromotable. */
} heal_action;

/* Decide a store node's action from its facts alone (pure, unit-tested). */
heal_action heal_decide(const heal_facts *f, int down_after_ms);

/* Stable name of an action ("restore", "wait-sync", ...). */
const char *heal_action_name(heal_action a);

/* Pure: which of a sentinel's replica entries ("ip:port" strings, N of
 * them) are not among the EXPECTED ones (M of them)?  Writes their indexes
 * to STALE and returns how many. */
int heal_stale_replicas(const char *const *seen, int n, const char *const *expected,
                        int m, int *stale);

typedef struct heal_ctx heal_ctx; /* opaque: the agent's heal state */

/* New heal state for host H (borrowed; must outlive it) emitting to EV
 * (may be NULL).  CHILD_MODE: processes started by a pass are children of
 * this process (the agent's loop) or daemons (cron mode). */
heal_ctx *heal_new(sv_host *h, events *ev, bool child_mode);
void heal_free(heal_ctx **hc);

/* Hold ROOT/heal.lock of M's host (an flock: one heal pass at a time, and
 * the fence never stopping processes under a running pass), waiting at
 * most WAIT_MS.  Returns the fd to close, or -1. */
int heal_lock_take(const mrd_manifest *m, int wait_ms);

/* Run one pass.  With ACT false, only observe and say what would be done.
 * Takes the heal lock, waiting at most LOCK_WAIT_MS; MRD_ERR_STATE when
 * another pass holds it.  *report (new) gets the JSON report:
 * {"host","code","status","summary","duration_ms","actions":[{"event",
 * "node","detail"}],"nodes":[...],"leftovers":[{"folder","port","pid",
 * "action","retired","detail"}]}; *code the monitoring code.
 *
 * After the host's nodes, a pass looks for node folders its manifest does
 * not list and retires the ones that hold nothing (retire.h): +retired.
 * One that still owns slots or holds keys, or cannot be judged, is never
 * stopped: the pass is a WARNING that names it, and /v1/health says the
 * host is not ready until it is gone.  A cron-mode pass leaves retiring to
 * the host's running agent, if any. */
mrd_rc heal_pass(heal_ctx *hc, bool act, int lock_wait_ms, json_t **report,
                 mrd_health *code, mrd_error *err);

/* The crash fast path.  The agent's loop calls this every few ms between
 * passes: when this host's redis-server (the agent's child) has exited and
 * the last pass saw it serve as the leader, the agent asks for a failover
 * at once instead of waiting for the store to notice: sentinel mode asks a
 * sentinel (SENTINEL FAILOVER) rather than wait for
 * down-after-milliseconds; cluster mode asks the replica the last pass
 * found caught up (the planned region's first, the one with the most data
 * when they differ) for CLUSTER FAILOVER FORCE rather than wait for
 * cluster-node-timeout.  It never fires while the process lives (it fires
 * on reaping it), and at most once per node per 2 x failover-timeout
 * (cluster mode: 2 x node-timeout).  Off with the topology's
 * agent.crash_fast_path false, and so is cluster mode's other half of the
 * fast path, run by the heal pass: the replica-side failover request for
 * a master lost with its agent (heal_int.h). */
void heal_watch(heal_ctx *hc);

/* ==== a requested restart (POST /v1/restart; heal_restart.c) ====
 *
 * One step of a rolling restart (`meridian rollout`): a process of this
 * host restarts with what its manifest says now (a changed io-threads, a
 * new store.redis_server), keeping its data, under the heal lock (a pass
 * and a restart never overlap).
 *
 * A store node that is a replica is restored through the heal path itself
 * (heal_restore(), the mode's hooks): stopped, rebuilt from a peer's
 * snapshot, its config re-rendered from the manifest as a replica of its
 * shard's master (sentinel mode: replicaof the leader a majority of the
 * sentinels names; cluster mode: nodes.conf keeps its id and says
 * "myself,slave <master>"), started, and once linked and caught up made
 * promotable again.  The master sends only the writes since the snapshot
 * (a partial resync) when its backlog covers them.  With store.persistence
 * "aof" the node's AOF is moved aside and written anew once it is synced,
 * as in any restore: a restart never loads it.  A master is never
 * restarted (it would come back empty, or with an AOF behind its
 * replicas): a rollout switches it over first.
 *
 * The sentinel is stopped and started again with its own sentinel.conf,
 * which Redis rewrites with its state (epochs, known replicas and
 * sentinels): nothing of it is re-rendered.  The only sentinel.conf
 * setting that needs a restart, sentinel.port, is a new plan too, which
 * deploy keeps as it runs until a rollout moves the plan. */

/* What heal_restart_decide() says of a store node. */
typedef enum heal_restart_verdict {
    HEAL_RESTART_GO = 0,     /* a replica (or a lost one): restart it */
    HEAL_RESTART_LEADER,     /* the master of its shard: switch it over first */
    HEAL_RESTART_NOT_NOW,    /* no master agreed, a failover under way, or the
                                node is alive but not answering (loading) */
} heal_restart_verdict;

/* Pure: the verdict for a node's facts. */
heal_restart_verdict heal_restart_decide(const heal_facts *f);

/* How a heal_restart() call ended. */
typedef enum heal_restart_status {
    HEAL_RESTART_DONE = 0,   /* restarted; ready (a node: linked and caught up) */
    HEAL_RESTART_FAILED,     /* tried and failed (the report's detail says why;
                                the heal pass restores a node left down) */
    HEAL_RESTART_REFUSED,    /* not started: the node is its shard's master */
    HEAL_RESTART_LATER,      /* not started: heal_restart_decide() said not now */
    HEAL_RESTART_UNKNOWN,    /* no such process on this host */
    HEAL_RESTART_BUSY,       /* another pass held the heal lock past LOCK_WAIT_MS */
} heal_restart_status;

/* Restart the store node of this host on PORT, or with PORT 0 its
 * sentinel.  *report (new) gets {"process": label, "restarted": bool,
 * "ms": N, "partial_resync": true|false|null (a node: whether the master
 * counted a partial resync, false for a full one, null when unknown; null
 * for the sentinel), "detail": "...", "events": [{"event","node",
 * "detail"}]}, or when not started (REFUSED, LATER, UNKNOWN, BUSY)
 * {"error": sentence, "process": label or null}.  Returns the status; MRD_ERR_NOMEM only when
 * no report could be built (then *report is NULL). */
mrd_rc heal_restart(heal_ctx *hc, int port, int lock_wait_ms, json_t **report,
                    heal_restart_status *status, mrd_error *err);

/* ==== a restore's seed (POST /v1/seed; heal_seed.c) ====
 *
 * `meridian restore` puts a backup's RDB for the store node on PORT at
 * ROOT/HEAL_SEED_DIR/PORT.rdb, then asks for the seed: under the heal
 * lock, the node stops, the file becomes its dump.rdb (moved, so a seed
 * is never loaded twice), its config is rendered as its shard's master and
 * it starts; the call returns once it has loaded the data.  Its replicas
 * then sync from it as from any restarted master (the orchestrator holds
 * them at replica-priority 0 meanwhile, so no sentinel promotes one).
 * Only the node the sentinels name as the master is seeded, and only when
 * it holds no key, unless forced. */
#define HEAL_SEED_DIR "restore"

/* What heal_seed_decide() says. */
typedef enum heal_seed_verdict {
    HEAL_SEED_GO = 0,     /* seed it */
    HEAL_SEED_NOT_NOW,    /* no majority agrees on the shard's master */
    HEAL_SEED_NOT_LEADER, /* another node is the shard's master */
    HEAL_SEED_HOLDS_DATA, /* it answers with keys, and the call is not forced */
} heal_seed_verdict;

/* Pure: the verdict for a node's facts, the KEYS it answered with (0 when
 * it did not answer) and FORCE. */
heal_seed_verdict heal_seed_decide(const heal_facts *f, long long keys, bool force);

/* Seed the store node of this host on PORT.  *report (new) gets
 * {"process": label, "seeded": true, "keys": N, "replication_offset": N,
 * "ms": N} (DONE), or {"error": sentence, "process": label or null}
 * (FAILED: the node is left stopped or running without the data, and the
 * seed file is gone only once it was moved; REFUSED, UNKNOWN, BUSY as for
 * heal_restart()).  MRD_ERR_NOMEM only when no report could be built. */
mrd_rc heal_seed(heal_ctx *hc, int port, bool force, int lock_wait_ms, json_t **report,
                 heal_restart_status *status, mrd_error *err);

/* Readiness from the last observation: {"host","ready","nodes":[{"kind",
 * "ready","reason"}]} (new).  Kind "redis" (with "port") for each node,
 * "sentinel", and "leftover" (with "port") for each node folder the last
 * pass did not retire; while there is one, the host and every node entry
 * are not ready, and a node that is ready otherwise gives the first
 * leftover's sentence as its reason (`meridian status` reads the nodes'
 * entries).  Cheap: no I/O. */
json_t *heal_health(heal_ctx *hc, bool *ready);

/* Observe now (no action, no lock): the /v1/nodes object (new). */
json_t *heal_nodes(heal_ctx *hc);

/* Prometheus text exposition of the agent's metrics (new string). */
char *heal_metrics(heal_ctx *hc);

/* Cluster mode, when the agent starts: may node NODE (of this host, with
 * no config and no nodes.conf yet) start blank?  False when another node
 * of its shard answers (within TIMEOUT_MS) as part of a cluster that has
 * slots assigned: the cluster was formed without it (its host was rebuilt,
 * its folder removed), and a blank start would make an empty master that
 * meets no one.  The heal pass restores it instead, as a replica of the
 * shard's master.  True at a first deploy (no slots anywhere yet). */
bool heal_cluster_may_start_blank(const sv_host *h, int node, int timeout_ms);


#endif
