/* heal_cluster_int.h - what the files of the heal pass's cluster mode
 * (heal_cluster.c, heal_cluster_restore.c, heal_cluster_repair.c,
 * heal_cluster_failover.c, heal_cluster_fence.c, heal_cluster_view.c)
 * share.  Not for other modules, nor for the front end: it reaches the
 * mode through heal_mode_cluster (heal_int.h).
 *
 * heal_cluster.c observes (one observation per node and pass, below) and
 * dispatches the actions to the other files; each of them owns one job and
 * never calls another's actions. */
#ifndef MRD_HEAL_CLUSTER_INT_H
#define MRD_HEAL_CLUSTER_INT_H

#include <stdbool.h>

#include "cluster.h"
#include "heal_int.h"
#include "info.h"
#include "probe.h"

/* A replica being restored may not win an election until it is ready. */
#define NO_FAILOVER "cluster-replica-no-failover"

/* nodes.conf is small (one line per node); a larger file is damaged. */
#define NODES_CONF_MAX (1024 * 1024)

/* What one pass saw of one node of this host and its shard. */
typedef struct observation {
    heal_obs *b;
    const mrd_mf_shard *shard;
    int leader;              /* node index of the shard's master now; -1 */
    store_probe *probes;     /* the shard's nodes, in manifest order: INFO,
                                CLUSTER NODES, CLUSTER INFO */
    store_cluster_view *view;/* the view the leader was read from; NULL */
    int view_node;           /* whose view that is (node index); -1 */
    heal_conf conf;          /* the node's own nodes.conf */
    store_cluster_view *old; /* ... parsed, when intact; NULL */
    char shard_tag[MRD_MF_NAME + 16]; /* "shard NAME: " for event details */
    int nprobes;             /* probes: the shard's nodes, then the
                                other masters remembered from the last
                                pass (hn->fence_peers): INFO only */
    /* the fence (see heal_cl_judge_isolation) */
    bool isolated;           /* a master owning slots that reaches fewer
                                than a majority of the masters owning slots */
    int masters, reached;    /* ... of them in its own view, and answered */
    char reach[256];         /* "itself, euw-a1; not aps-a1 (...)" */
    long live_min_replicas;  /* its min-replicas-to-write; -1 unknown */
    bool drift_no_failover, drift_min_replicas;
    /* the replica-side failover request: the verdict for this node, and
     * +failover-requested's detail when it is HEAL_RFAIL_ASK */
    heal_rfail rfail;
    char rfail_detail[448];
    /* set by the restore's prepare hook, for +replica-ready */
    char new_id[STORE_CLUSTER_ID_LEN + 1];
    heal_id_from id_from;
} observation;

/* ==== reading an observation (heal_cluster_view.c) ==== */

/* Node NODE's probe (a node of o->shard); borrowed. */
const store_probe *heal_cl_node_probe(const observation *o, int node);

/* Node NODE's INFO from this round's probe into OUT; false when it did not
 * answer or its INFO does not parse. */
bool heal_cl_node_info(const observation *o, int node, store_info *out);

/* Read the view of node I (its probe's CLUSTER NODES) into o->view (made
 * when absent, else parsed over) and set o->view_node; false when I did
 * not answer or its view does not parse. */
bool heal_cl_take_view(observation *o, int i);

/* The view node of manifest node I in V, or NULL (borrowed from V). */
const store_cluster_node *heal_cl_in_view(const mrd_manifest *m, const store_cluster_view *v,
                                          int i);

/* The id of node I in the observation's view ("" when absent; borrowed). */
const char *heal_cl_view_id(const heal_ctx *hc, const observation *o, int i);

/* An INFO probe, with nothing else, of the node at ADDRESS:PORT. */
store_probe heal_cl_ping_probe(const heal_ctx *hc, const char *address, int port);

/* ==== restoring (heal_cluster_restore.c) ==== */

/* Restore PS's lost node as a replica of its shard's master (heal_restore
 * with cluster mode's hooks). */
void heal_cl_restore(heal_step *ps);

/* cluster-replica-no-failover VALUE on node HN, kept across restarts. */
mrd_rc heal_cl_set_no_failover(const heal_ctx *hc, const heal_node *hn, const char *value,
                               mrd_error *err);

/* ==== repairs of a running node (heal_cluster_repair.c) ==== */

/* CLUSTER REPLICATE the shard's master, for a replica of a node outside
 * its shard (HEAL_REPOINT). */
void heal_cl_repoint(heal_step *ps);

/* CLUSTER SAVECONFIG, for a running node whose nodes.conf is gone or
 * damaged (every pass). */
void heal_cl_keep_conf(heal_step *ps);

/* Set drifted safety settings back to the manifest's (HEAL_REPAIR). */
void heal_cl_repair(heal_step *ps);

/* ==== failovers the agent asks for (heal_cluster_failover.c) ==== */

/* The table's fail_over_now (heal_int.h): the crash fast path, for the
 * master HN that died under this agent; DETAIL gets what it did. */
bool heal_cl_fail_over_now(const heal_ctx *hc, const heal_node *hn, const int *to, int nto,
                           const char *died, char *detail, size_t n);

/* For a replica of this host (o->b->hn): whether its master answers, and
 * whether this pass asks it for CLUSTER FAILOVER FORCE (o->rfail).
 * T_PROBE: when this round's probes were sent (monotonic ms). */
void heal_cl_watch_master(const heal_ctx *hc, observation *o, long long t_probe);

/* CLUSTER FAILOVER FORCE on PS's node when heal_cl_watch_master() said so. */
void heal_cl_request_failover(heal_step *ps);

/* ==== the fence (heal_cluster_fence.c) ==== */

/* For a node that its own view shows as a master owning slots: is it cut
 * off (o->isolated, o->masters, o->reached, o->reach)?  MRD_ERR_NOMEM. */
mrd_rc heal_cl_judge_isolation(heal_ctx *hc, observation *o);

/* The node's live safety settings against the manifest (o->drift_*,
 * o->b->drift, o->b->f.settings_drift). */
void heal_cl_check_drift(const heal_ctx *hc, observation *o);

/* Fence, keep or lift PS's node's fence, as heal_fence_next() says. */
void heal_cl_fence(heal_step *ps);

#endif
