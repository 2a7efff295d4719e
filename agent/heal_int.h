/* heal_int.h - what the heal pass's front end (heal.c, heal_restore.c)
 * and its mode implementations (heal_sentinel.c; heal_cluster.c and its
 * parts, which share heal_cluster_int.h) share.  Not for other modules:
 * they use heal.h.
 *
 * The front end owns the pass: the heal lock, the per-node state kept
 * across passes, deciding (heal_decide, pure), the report, the API views
 * and the metrics.  A mode (heal_mode) owns what depends on how the store
 * is run: how a node is observed (who names its master), how each action
 * is carried out, and the host's own processes besides its nodes (sentinel
 * mode: its sentinel).  The front end picks the mode once, in heal_new(),
 * as curl's vtls picks a TLS backend; modes never call each other. */
#ifndef MRD_HEAL_INT_H
#define MRD_HEAL_INT_H

#include <pthread.h>
#include <stdbool.h>

#include <jansson.h>

#include "conn.h"
#include "heal.h"
#include "probe.h"
#include "retire.h"

#define HEAL_PROBE_TIMEOUT_MS 1000
#define HEAL_MAX_ACTIONS 32
/* The crash fast path: at most this many nodes to ask, and how long it may
 * wait for one of them (it runs in the agent's loop, between passes). */
#define HEAL_FAST_MAX 16
#define HEAL_FAST_TIMEOUT_MS 300
/* Cluster mode's fence: at most this many other masters remembered from
 * one pass to the next (more are probed in a second round). */
#define HEAL_FENCE_MAX_PEERS 64

/* One store node of this host: what the last observation said of it, and
 * what is kept across passes (persisted in ROOT/heal-state.json, keyed by
 * port, since cron-mode runs are short-lived). */
typedef struct heal_node {
    int node;                     /* index in the manifest's nodes */
    sv_proc *proc;                /* its process (the host's) */

    /* last observation, for /v1/health and the gauges */
    bool ready;
    char reason[160];
    bool g_up, g_master, g_link;
    long long g_lag;

    /* persisted */
    long long down_since_ms;      /* wall clock; 0: up */
    int failures;                 /* consecutive failed restores */
    long long next_try_ms;        /* wall clock before which no restore */
    long long restores[HEAL_FLAP_COUNT]; /* wall clock of recent restores */
    long long failover_asked_ms;  /* wall clock of the last ask */

    bool last_self_leader;        /* the last pass saw this node serve as the
                                     master its shard's authority names */
    int fast_to[HEAL_FAST_MAX];   /* ... and these nodes (manifest indexes)
                                     as fit to take over from it at once: the
                                     mode's choice (heal_obs), kept for the
                                     crash fast path, which must not observe */
    int nfast_to;
    bool fenced;                  /* writes refused: isolated from a majority */
    int fence_peers[HEAL_FENCE_MAX_PEERS]; /* cluster mode: the other masters
                                     owning slots in the node's own view at
                                     the last pass (manifest indexes), probed
                                     in the next pass's first round */
    int nfence_peers;

    /* metrics */
    long heals_ok, heals_failed;
    long long snapshot_bytes;
    long syncs_partial, syncs_full;

    /* the replica-side failover request (cluster mode, heal_cluster_failover.c):
     * in memory only, touched by passes alone (under the heal lock) */
    int master_lost;              /* manifest index of this replica's master
                                     while it does not answer */
    long long master_lost_since_ms; /* monotonic ms when the first probe it
                                       did not answer was sent; 0: it answers */
    long long failover_req_ms;    /* monotonic ms of this node's last request */
} heal_node;

/* A node folder of this host that the manifest does not list and that the
 * last pass did not retire (retire.h): /v1/health names it, and its
 * sentence is logged when it changes, else once per HEAL_LEFTOVER_RELOG_MS. */
#define HEAL_LEFTOVER_RELOG_MS 60000
typedef struct heal_leftover {
    int port;
    char reason[384];             /* retire_explain()'s sentence */
    long long logged_ms;          /* monotonic ms it was last logged */
} heal_leftover;

typedef struct heal_mode heal_mode;

struct heal_ctx {
    sv_host *h;
    events *ev;
    bool child_mode;
    const heal_mode *mode;
    pthread_mutex_t mu; /* guards the observation fields below */

    heal_node nodes[MRD_MF_MAX_HOST_NODES]; /* this host's, in manifest order */
    int nnodes;

    bool observed;
    bool host_ready;              /* the host's own processes (the sentinel) */
    char host_reason[160];
    bool g_host_up;
    json_t *last_nodes;           /* /v1/nodes of the last observation */
    long long last_heal_ms;
    heal_leftover leftovers[RETIRE_MAX]; /* not retired by the last pass */
    int nleftovers;
};

/* What one pass saw of one node.  The front end fills the process facts
 * (proc_alive, data_dir_ok, down_ms, backing_off); the mode fills the rest
 * of F, DRIFT and its own part. */
typedef struct heal_obs {
    heal_facts f;
    heal_node *hn;
    char drift[256];     /* "replica-priority 0 (manifest: 110), ..." */
    int fast_to[HEAL_FAST_MAX]; /* a master's nodes fit to take over from it
                                   at once (the mode fills it; cluster mode:
                                   its caught-up replicas, in manifest order;
                                   sentinel mode asks a sentinel instead) */
    int nfast_to;
    void *mode_data;     /* the mode's own observation (owned) */
} heal_obs;

/* One node's part of a pass. */
typedef struct heal_step {
    heal_ctx *hc;
    heal_obs *o;
    heal_node *hn;
    json_t *actions;
    bool acted;  /* something was changed */
    bool failed; /* something could not be healed */
    bool restart; /* a requested restart (heal_restart()), not a loss: a
                     restore says +restart and counts toward no flapping */
    char summary[256];
} heal_step;

/* Observe node HN into O (the process facts, then the mode's); the caller
 * holds the heal lock and frees O with the mode's obs_free. */
mrd_rc heal_observe(heal_ctx *hc, heal_node *hn, heal_obs *o, mrd_error *err);

/* Save the state kept across passes (ROOT/heal-state.json). */
void heal_state_save(const heal_ctx *hc);

/* A mode's observe and act steps. */
struct heal_mode {
    const char *name;
    /* Observe node O->hn: the mode's part of O (see heal_obs). */
    mrd_rc (*observe)(heal_ctx *hc, heal_obs *o, mrd_error *err);
    void (*obs_free)(heal_obs *o);
    /* Carry out action A for the node of PS (and what every pass does for
     * a node, such as fencing). */
    void (*act)(heal_step *ps, heal_action a);
    /* The host's own processes besides its nodes: lost (to be healed by
     * host_act), their /v1/nodes entries (appended to NODES) and their
     * readiness, judged from observation O (the host's first node's). */
    bool (*host_lost)(const heal_ctx *hc, const heal_obs *o);
    void (*host_act)(heal_step *ps);
    void (*host_json)(const heal_ctx *hc, const heal_obs *o, json_t *nodes);
    bool (*host_state)(const heal_ctx *hc, const heal_obs *o, bool *up, bool *ready,
                       char *reason, size_t n);
    /* The crash fast path: ask now for a failover of HN's shard, whose
     * master (HN) just died (DIED: "signal 9", "exit status 1").  TO: the
     * NTO nodes the last observation found fit to take over (a copy of
     * hn->fast_to).  The event's detail goes to DETAIL, whether or not it
     * asked (false: why not).  At most about HEAL_FAST_TIMEOUT_MS per node
     * it talks to. */
    bool (*fail_over_now)(const heal_ctx *hc, const heal_node *hn, const int *to, int nto,
                          const char *died, char *detail, size_t n);
    /* At most one fast-path request per node within this long (Sentinel:
     * 2 x failover-timeout; the cluster: 2 x node-timeout). */
    long long (*fast_path_cooldown_ms)(const mrd_manifest *m);
    /* How long a lost master may stay down before a failover is asked for
     * (heal_decide's DOWN_AFTER_MS). */
    int (*down_after_ms)(const mrd_manifest *m);
    /* Why a node whose action is A is not ready, in the mode's words
     * (static): the actions that name the authority (the leader and the
     * sentinels, the master and the cluster); NULL for the others, whose
     * words every mode shares (heal.c's heal_reason). */
    const char *(*reason)(heal_action a);
};

extern const heal_mode heal_mode_sentinel;
extern const heal_mode heal_mode_cluster;

/* Record an action: the report, the log and the webhooks. */
void heal_act(heal_step *ps, const char *event, const char *proc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* CONFIG SET min-replicas-to-write N on node HN (no CONFIG REWRITE: a
 * fence is the running process's state, see the modes' fence()). */
mrd_rc heal_set_min_replicas(const heal_ctx *hc, const heal_node *hn, int n, mrd_error *err);

/* ==== the self-fence (pure) ====
 *
 * A master cut off from a majority (sentinel mode: of the sentinels and of
 * its shard's nodes; cluster mode: of the masters owning slots) is fenced:
 * min-replicas-to-write HEAL_FENCE_MIN_REPLICAS, so that it refuses writes
 * (NOREPLICAS) that the majority side, which is electing another master,
 * would never see. */

/* What a pass does about a node's fence. */
typedef enum heal_fence_move {
    HEAL_FENCE_KEEP = 0, /* nothing to change */
    HEAL_FENCE_SET,      /* isolated and writable: fence it (+fenced) */
    HEAL_FENCE_ADOPT,    /* isolated and already fenced, by an earlier agent
                            or `check` run: the fence is this agent's now */
    HEAL_FENCE_LIFT,     /* this agent's fence, and no longer isolated (a
                            majority answers, or it is no longer a master
                            owning slots, or agent.fence is off): the
                            manifest's value back (-fenced) */
} heal_fence_move;

/* Pure: the move for a node that answered, ENABLED being agent.fence,
 * ISOLATED this pass's judgement, FENCED whether this agent holds its
 * fence and LIVE_FENCED whether its live min-replicas-to-write is at
 * least HEAL_FENCE_MIN_REPLICAS. */
heal_fence_move heal_fence_next(bool enabled, bool isolated, bool fenced, bool live_fenced);

/* Pure: does a live min-replicas-to-write LIVE (-1: not reported) differ
 * from the manifest's MANIFEST in a way HEAL_REPAIR sets back?  Never
 * while the node is ISOLATED (a fence there is right, whoever left it) or
 * while this agent holds its fence (FENCED: the fence step lifts it). */
bool heal_fence_drift(bool isolated, bool fenced, long live, int manifest);

/* An admin connection to node I of the manifest. */
mrd_rc heal_node_conn(const heal_ctx *hc, int i, store_conn **c, mrd_error *err);

/* The host holding node I. */
const mrd_mf_host *heal_node_host(const mrd_manifest *m, int i);

/* ==== restoring a lost replica (heal_restore.c) ====
 *
 * The steps every mode takes to rebuild a lost node as a replica of its
 * shard's master, in the front end (modes never call each other): choose
 * a snapshot source, fetch an RDB from it over the replication protocol,
 * let the mode prepare the node's first start (heal_restore_hooks), start
 * it, wait until it is linked and caught up, say whether the master did a
 * partial or a full resync, and keep the failure, backoff and flap
 * bookkeeping.  Events: +replica-lost, +snapshot-fetched, +partial-resync
 * or +full-resync, +replica-ready, +backoff, +heal-failed. */

/* One node of the shard as a pass saw it: a candidate snapshot source. */
typedef struct heal_source {
    int node;           /* manifest node index */
    bool healthy;       /* answered as a replica of the shard's master, link
                           up */
    bool same_region;   /* in this host's region */
    long long lag;      /* bytes behind the master */
} heal_source;

/* Pure: the snapshot source among the N candidates C: the healthy replica
 * in this region with the least lag, else the healthy one in another
 * region with the least lag (the first of equals), else MASTER (the
 * shard's master, a node index), which is returned as it is. */
int heal_choose_source(const heal_source *c, int n, int master);

/* ==== the AOF of a node's previous life (heal_restore.c) ====
 *
 * With store.persistence "aof" a lost node's data dir still holds its
 * appendonlydir.  It is never loaded again: it may lack up to a second of
 * acknowledged writes, and the shard moved on without the node (a
 * crashed leader's replicas took writes it never saw; keys it holds were
 * deleted since).  Redis 7.0 with appendonly yes would load it instead of
 * the fetched dump.rdb, so a restore moves it aside first, as
 * appendonlydir.lost-<unix time>, rather than deleting it: an operator may
 * want the last second of a lost master by hand, or, after a power loss
 * of every region, the freshest AOF there is.  Only the newest
 * HEAL_AOF_LOST_KEEP folders are kept, so a node that keeps dying cannot
 * fill its disk with copies of its dataset. */
#define HEAL_AOF_DIR SV_AOF_DIR
#define HEAL_AOF_LOST_PREFIX "appendonlydir.lost-"
#define HEAL_AOF_LOST_KEEP 2
/* How long a restore waits for the AOF rewrite that `CONFIG SET appendonly
 * yes` starts before it calls the node ready anyway (the rewrite goes on;
 * INFO persistence says when it ends). */
#define HEAL_AOF_REWRITE_WAIT_MS 10000

/* Pure: which of the N entry names NAMES of a data dir are kept-aside AOF
 * folders (HEAL_AOF_LOST_PREFIX and a unix time in decimal) beyond the
 * KEEP newest.  Writes their indexes to DROP (room for N) and returns how
 * many.  Other names are never dropped. */
int heal_aof_lost_prune(const char *const *names, int n, int keep, int *drop);

/* Move the node's AOF folder in DIR, if any, aside (appendonlydir.lost-<unix
 * time>), so that the node never loads it again, and keep only the newest
 * of those.  Says what it did in PS (+aof-set-aside); nothing when there
 * is no folder.  Shared by a restore and a seed (heal_seed.c). */
mrd_rc heal_aof_set_aside(heal_step *ps, const char *dir, mrd_error *err);

/* store.persistence "aof": node HN started from a snapshot with appendonly
 * no (supervise.h); now that it has its data, turn the AOF on.  Redis
 * writes a new AOF from the dataset in a forked child (a rewrite); wait
 * for it at most HEAL_AOF_REWRITE_WAIT_MS.  What happened goes to DETAIL
 * (N bytes). */
mrd_rc heal_aof_on(const heal_ctx *hc, const heal_node *hn, char *detail, size_t n,
                   mrd_error *err);

/* A requested restart's or seed's refusal: {"error": sentence, "process":
 * LABEL or null} (new; NULL when out of memory). */
json_t *heal_refusal(const char *label, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The mode's part of a restore. */
typedef struct heal_restore_hooks {
    const char *master_word; /* what the events call the master: "leader" */
    /* With the snapshot installed as dir/dump.rdb and the process stopped:
     * write what the node must find at its first start so that it starts
     * as a replica of node MASTER and keeps the snapshot's replication id
     * (sentinel mode: its config with replicaof and replica-priority 0;
     * cluster mode: its nodes.conf, then its config).  Nothing is started
     * when it fails. */
    mrd_rc (*prepare)(heal_step *ps, int master, mrd_error *err);
    /* Once the node is linked and caught up: what the mode does then
     * (sentinel mode: the plan's replica priority back), and what it adds
     * to +replica-ready's detail (N bytes at DETAIL, "" for nothing). */
    mrd_rc (*ready)(heal_step *ps, char *detail, size_t n, mrd_error *err);
} heal_restore_hooks;

/* What one restore is about. */
typedef struct heal_restore_req {
    const char *why;            /* "process not running", ... */
    const char *shard;          /* prefix of every detail ("shard x: "), or "" */
    int master;                 /* node index of the shard's master now */
    const store_probe *probes;  /* INFO of the shard's nodes, in manifest order */
    const mrd_mf_shard *sh;
    const heal_restore_hooks *hooks;
} heal_restore_req;

/* Restore PS's node as RQ says; sets ps->acted, ps->failed, ps->summary. */
void heal_restore(heal_step *ps, const heal_restore_req *rq);

/* ==== the crash fast path's pure parts ==== */

/* Pure: may the crash fast path ask again, ASKED_MS (wall clock; 0: never)
 * being its last request for the node and NOW_MS now?  Only once
 * COOLDOWN_MS have passed since.  A wall clock that went back before
 * ASKED_MS makes it due: the time kept is meaningless then, and the store
 * refuses a second failover within the cooldown itself (Sentinel's
 * 2 x failover-timeout, a master's one vote per master per 2 x
 * node-timeout), so a request too many is noise, not harm. */
bool heal_fast_path_due(long long asked_ms, long long now_ms, long long cooldown_ms);

/* ==== cluster mode's pure parts (heal_cluster*.c) ==== */

struct store_cluster_view;

/* The state of a node's own nodes.conf. */
typedef enum heal_conf {
    HEAL_CONF_OK = 0,   /* parses, and "myself" is this node's address */
    HEAL_CONF_MISSING,  /* no file */
    HEAL_CONF_DAMAGED,  /* unreadable, does not parse, or another node's */
} heal_conf;

/* Pure: judge the nodes.conf text TEXT (LEN bytes; NULL: no file) of the
 * node at IP:PORT, parsed into OUT.  An empty ip on myself's line (a node
 * that never learned its address) is accepted. */
heal_conf heal_cluster_conf_judge(const char *text, size_t len, const char *ip, int port,
                                  struct store_cluster_view *out);

/* Where a restored node's id comes from. */
typedef enum heal_id_from {
    HEAL_ID_NODES_CONF = 0, /* its old nodes.conf, intact: the cluster keeps
                               knowing it as the same node */
    HEAL_ID_CLUSTER_VIEW,   /* the id the cluster's view has at its address */
    HEAL_ID_NEW,            /* neither: the caller makes a new one */
} heal_id_from;

/* Pure: the id a restored node at IP:PORT takes, from OLD (its own intact
 * nodes.conf, NULL when missing or damaged), else from PEER (a live node's
 * view; NULL accepted), else none.  OUT gets the id ("" for HEAL_ID_NEW). */
heal_id_from heal_cluster_node_id(const struct store_cluster_view *old,
                                  const struct store_cluster_view *peer, const char *ip,
                                  int port, char out[41]);

/* Words for an id's origin, for events (static). */
const char *heal_cluster_id_from_name(heal_id_from f);

/* A replica the cluster-mode crash fast path may ask for CLUSTER FAILOVER
 * FORCE: one the last observation found caught up with the master that
 * died (linked, lag at most MRD_CAUGHT_UP_LAG_BYTES, allowed to fail
 * over), asked again for its offset when the master died. */
typedef struct heal_fo_candidate {
    int node;          /* manifest node index */
    bool planned;      /* in the region the plan fails the shard over to */
    bool answered;     /* answered INFO as a replica when the master died */
    long long offset;  /* ... its replication offset then */
    bool no_failover;  /* cluster-replica-no-failover yes (a replica being
                          restored): never asked, FORCE would ignore it */
} heal_fo_candidate;

/* Pure: which of the N candidates C to ask (an index into C; -1 when none
 * answered).  Never one flagged no_failover.  Only those with the highest
 * offset: a replica behind another lacks writes the other may have
 * acknowledged (WAIT), and FORCE does not compare offsets as an
 * election's rank does.  Among those, the first in the planned region,
 * else the first. */
int heal_cluster_failover_target(const heal_fo_candidate *c, int n);

/* ==== the replica-side failover request (heal_cluster_failover.c) ====
 *
 * A region outage takes the master's agent with it, so the crash fast path
 * cannot fire.  Instead the agent of one surviving replica asks its own
 * node for CLUSTER FAILOVER FORCE once the master has not answered the
 * agent's probes for node-timeout, a majority of the slot-owning masters
 * answer and have lost it too, and that replica is the one to promote.
 * FORCE still needs a majority of the masters' votes: a replica on the
 * minority side of a partition cannot be promoted by it. */

/* What heal_cluster_rfail_decide() says of one replica of this host. */
typedef enum heal_rfail {
    HEAL_RFAIL_ASK = 0,          /* ask this replica for CLUSTER FAILOVER FORCE */
    HEAL_RFAIL_OFF,              /* agent.crash_fast_path is false */
    HEAL_RFAIL_MASTER_ANSWERS,   /* its master answered the last probe */
    HEAL_RFAIL_TOO_SOON,         /* ... not for node-timeout yet */
    HEAL_RFAIL_COOLDOWN,         /* asked for the shard within 2 x node-timeout */
    HEAL_RFAIL_NOT_CHOSEN,       /* another live replica is the one to promote
                                    (or this one may not fail over) */
    HEAL_RFAIL_PROBE,            /* every other condition holds: probe the
                                    other masters, then decide again */
    HEAL_RFAIL_NO_MAJORITY,      /* fewer than a majority of the slot-owning
                                    masters answer and have lost it too */
} heal_rfail;

/* The facts, all from the agent's own probes. */
typedef struct heal_rfail_facts {
    bool enabled;                /* agent.crash_fast_path */
    int node_timeout_ms;         /* cluster-node-timeout */
    long long lost_since_ms;     /* when the first probe the master did not
                                    answer was sent (monotonic); 0: it answers */
    long long now_ms;            /* the same clock */
    long long asked_ms;          /* this host's last request for the shard; 0 */
    const heal_fo_candidate *c;  /* the live replicas of the lost master that
                                    answered, this host's among them */
    int n;
    int self;                    /* index in C of the replica deciding */
    int masters;                 /* slot-owning masters, the lost one
                                    included; -1: not probed yet */
    int masters_lost_it;         /* those that answered and whose view shows
                                    the lost master disconnected, fail? or fail */
} heal_rfail_facts;

/* Pure: the verdict for F, checked in the order of heal_rfail's values
 * (the cheap ones first, so that the other masters are probed only when
 * nothing else stands in the way: HEAL_RFAIL_PROBE).  The replica to
 * promote is heal_cluster_failover_target()'s: the most data first, the
 * planned region among equals, never a no_failover one.  The cooldown is
 * 2 x node-timeout (heal_fast_path_due), as a master votes for a replica
 * of the same master once per 2 x node-timeout. */
heal_rfail heal_cluster_rfail_decide(const heal_rfail_facts *f);

/* Stable name of a verdict ("ask", "too-soon", ...; static). */
const char *heal_cluster_rfail_name(heal_rfail r);

/* Pure: has the master that printed view V lost the node at IP:PORT while
 * that node still owns slots in V?  "fail", "fail?" or "disconnected"
 * (static) when so; NULL when V's printer is no master owning slots, the
 * node is absent, owns no slots (a failover happened) or looks fine. */
const char *heal_cluster_lost_by(const struct store_cluster_view *v, const char *ip, int port);

/* Pure: which of the shard's N nodes (IP[i]:PORT[i]) view V has as the
 * shard's master: a master owning slots and not flagged fail; -1 when
 * none (a dead master the cluster has not failed yet is still it). */
int heal_cluster_master(const struct store_cluster_view *v, const char *const *ip,
                        const int *port, int n);

/* Pure: is the node that printed view V (its "myself") a master cut off
 * from the cluster?  ANSWERED[i] says whether the view's node i answered
 * this pass (myself's entry is not read).  *MASTERS gets the number of
 * masters owning slots in V, fail-flagged ones included (Redis counts
 * them in the cluster's size, and so in the quorum), and *REACHED those
 * of them that answered, myself included in both.  Isolated when fewer
 * than a majority of them answered: the side that holds the majority can
 * elect a replica in its place, and the writes it takes meanwhile are
 * lost when the partition heals.  False (and 0, 0) when myself is not a
 * master owning slots. */
bool heal_cluster_isolated(const struct store_cluster_view *v, const bool *answered,
                           int *masters, int *reached);

#endif
