/* heal_cluster.c - the heal pass's cluster mode (see heal_int.h).
 *
 * A node's master is the node of its shard that the cluster says serves
 * the shard's slots: in the node's own view (CLUSTER NODES) when it
 * answers, else in the first of its shard's peers' that answers.  The
 * cluster itself fails a lost master over (its replicas vote); the agent
 * never restarts a crashed master as a master.
 *
 * Acting:
 * - a lost node (process dead; its data and nodes.conf gone with it or
 *   not) is restored through heal_restore(): a peer's snapshot, then a
 *   nodes.conf written before its first start that says "myself,slave
 *   <the shard's master now>" (taken from a live node's CLUSTER NODES,
 *   never from the plan), then its config (no replicaof: nodes.conf names
 *   the master; cluster-replica-no-failover yes, so that it cannot win an
 *   election before it has caught up, set back to no once it is ready,
 *   and by HEAL_REPAIR after an interrupted restore).  Never started
 *   blank: a blank node would be an empty
 *   master that meets no one, and a stale nodes.conf of a crashed master
 *   would make it claim its slots with an empty dataset.
 * - a master whose process dies under this agent (its child, reaped by
 *   the loop's heal_watch) is failed over at once: the crash fast path
 *   asks a caught-up replica for CLUSTER FAILOVER FORCE (see
 *   heal_cl_fail_over_now; it still needs the masters' votes).
 * - a replica of this host whose master has not answered for node-timeout
 *   while a majority of the masters answer and have lost it too (a region
 *   outage took the master's agent with it) is asked for CLUSTER FAILOVER
 *   FORCE when it is the replica to promote (see "the replica-side
 *   failover request").
 * - a crashed master waits (HEAL_WAIT_FAILOVER / HEAL_ASK_FAILOVER: the
 *   cluster elects a replica by itself after cluster-node-timeout; while a
 *   view still lists it with its slots it is "the master", and
 *   heal_decide never restores the master; once flagged fail and before a
 *   replica owns its slots no view names a master: HEAL_WAIT_SENTINELS),
 *   then, once a replica owns the slots, it is a lost replica like any
 *   other and rejoins as the new master's replica.
 * - a replica of a node outside its shard is repointed (CLUSTER REPLICATE
 *   the shard's master: a replica's data is a copy).  A replica still
 *   following its shard's old master is left to the cluster, which moves
 *   it itself once it learns the failover; a master the cluster does not
 *   name is left to the cluster's epochs (it may hold data).
 * - a master owning slots that reaches fewer than a majority of the
 *   masters owning slots (its own view's; asked every pass) is fenced:
 *   min-replicas-to-write HEAL_FENCE_MIN_REPLICAS until a majority answers
 *   again or it is no longer such a master (see heal_cl_fence()); a fence no
 *   agent holds is repaired as drift once the node is not isolated.
 * - a running node whose nodes.conf is missing or damaged keeps its
 *   cluster state in memory: CLUSTER SAVECONFIG writes it back (nothing
 *   else is safe, and nothing else is needed: Redis rewrites the file on
 *   every change of its state anyway).
 * meridian never sends CLUSTER RESET, FLUSHALL or CLUSTER FAILOVER
 * TAKEOVER.
 *
 * The mode's files, one job each, sharing heal_cluster_int.h:
 * - heal_cluster.c: observing (the views, the shard's master, nodes.conf's
 *   state, the replicas fit for the crash fast path), the act dispatch,
 *   the host's part and the mode's table;
 * - heal_cluster_view.c: reading an observation (a node's probe and INFO,
 *   a node in a view, its id), which every other file of the mode uses;
 * - heal_cluster_restore.c: restoring a lost node (nodes.conf and the
 *   restore hooks) and whether the agent's start may start a node blank;
 * - heal_cluster_repair.c: a running node set right (repointing, a lost
 *   nodes.conf saved back, drifted safety settings repaired);
 * - heal_cluster_failover.c: the crash fast path's target and the
 *   replica-side failover request;
 * - heal_cluster_fence.c: the fence (isolation, fencing, settings drift). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fsutil.h"
#include "heal_cluster_int.h"
#include "info.h"
#include "log.h"
#include "probe.h"

/* ==== observing ==== */

static void cluster_obs_free(heal_obs *b)
{
    observation *o = b->mode_data;
    if (!o)
        return;
    for (int i = 0; o->probes && i < o->nprobes; i++)
        store_probe_clear(&o->probes[i]);
    free(o->probes);
    store_cluster_view_free(&o->view);
    store_cluster_view_free(&o->old);
    free(o);
    b->mode_data = NULL;
}

/* ==== pure ==== */

int heal_cluster_master(const store_cluster_view *v, const char *const *ip, const int *port,
                        int n)
{
    for (int i = 0; i < n; i++) {
        const store_cluster_node *x = store_cluster_find_addr(v, ip[i], port[i]);
        if (x && (x->flags & STORE_CLUSTER_MASTER) && x->nslots > 0 &&
            !(x->flags & STORE_CLUSTER_FAIL))
            return i;
    }
    return -1;
}

heal_conf heal_cluster_conf_judge(const char *text, size_t len, const char *ip, int port,
                                  store_cluster_view *out)
{
    if (!text)
        return HEAL_CONF_MISSING;
    if (store_cluster_nodes_parse(text, len, out, NULL) != MRD_OK)
        return HEAL_CONF_DAMAGED;
    const store_cluster_node *me = store_cluster_myself(out);
    /* another node's file (copied by hand), or one from before the node
     * had its address: not its identity */
    if (!me || me->port != port || (me->ip[0] && strcmp(me->ip, ip) != 0))
        return HEAL_CONF_DAMAGED;
    return HEAL_CONF_OK;
}

/* The shard's master in view V: the node of the shard that the view has
 * as a master owning slots and not failed; -1 when none. */
static int leader_in(const mrd_manifest *m, const observation *o, const store_cluster_view *v)
{
    const char *ip[MRD_MF_MAX_NODES];
    int port[MRD_MF_MAX_NODES];
    int n = 0;
    for (int i = o->shard->first; i < o->shard->first + o->shard->nnodes; i++, n++) {
        ip[n] = manifest_node_address(m, i);
        port[n] = m->nodes[i].port;
    }
    int k = heal_cluster_master(v, ip, port, n);
    return k < 0 ? -1 : o->shard->first + k;
}

/* Read and judge the nodes.conf in node HN's data dir into o->conf and,
 * when intact, o->old. */
static void read_conf(const heal_ctx *hc, const heal_node *hn, observation *o)
{
    const mrd_manifest *m = hc->h->m;
    char path[MRD_MF_PATH], *text = NULL;
    size_t len = 0;
    o->conf = HEAL_CONF_MISSING;
    if (mrd_path_fmt(path, sizeof(path), "%s/nodes.conf", hn->proc->dir) != MRD_OK)
        return;
    if (!mrd_path_exists(path))
        return;
    if (mrd_read_file(path, NODES_CONF_MAX, &text, &len, NULL) != MRD_OK ||
        !(o->old = store_cluster_view_new())) {
        free(text);
        o->conf = HEAL_CONF_DAMAGED;
        return;
    }
    o->conf = heal_cluster_conf_judge(text, len, manifest_node_address(m, hn->node),
                                      m->nodes[hn->node].port, o->old);
    free(text);
    if (o->conf != HEAL_CONF_OK)
        store_cluster_view_free(&o->old);
}

/* For the crash fast path, of a master (this node, INFO SELF): the
 * replicas of its shard that could take over from it at once without a
 * loss, as this round saw them: replicas of it, linked, at most
 * MRD_CAUGHT_UP_LAG_BYTES behind, and allowed to fail over (not flagged
 * nofailover in the view: a replica still being restored).  In manifest
 * order, into o->b->fast_to. */
static void fit_to_take_over(const heal_ctx *hc, observation *o, const store_info *self)
{
    const mrd_manifest *m = hc->h->m;
    int me = o->b->hn->node;
    heal_obs *b = o->b;
    for (int i = o->shard->first;
         i < o->shard->first + o->shard->nnodes && b->nfast_to < HEAL_FAST_MAX; i++) {
        store_info r;
        if (i == me || !heal_cl_node_info(o, i, &r) || r.is_master || !r.link_up ||
            strcmp(r.master_host, manifest_node_address(m, me)) != 0 ||
            r.master_port != m->nodes[me].port)
            continue;
        long long lag = self->master_repl_offset - r.slave_repl_offset;
        const store_cluster_node *v = o->view ? heal_cl_in_view(m, o->view, i) : NULL;
        if (lag > MRD_CAUGHT_UP_LAG_BYTES || !v || (v->flags & STORE_CLUSTER_NOFAILOVER))
            continue;
        b->fast_to[b->nfast_to++] = i;
    }
}

/* Observe node B->hn: every node of its shard (INFO, CLUSTER NODES and
 * CLUSTER INFO; its own with its safety settings) and the other masters
 * its own view had at the last pass (INFO), in one concurrent round; for
 * a master owning slots, whether it is cut off (heal_cl_judge_isolation). */
static mrd_rc cluster_observe(heal_ctx *hc, heal_obs *b, mrd_error *err)
{
    const mrd_manifest *m = hc->h->m;
    heal_node *hn = b->hn;
    observation *o = calloc(1, sizeof(*o));
    if (!o)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    b->mode_data = o;
    o->b = b;
    o->shard = &m->shards[m->nodes[hn->node].shard];
    o->leader = -1;
    o->view_node = -1;
    snprintf(o->shard_tag, sizeof(o->shard_tag), "shard %s: ", o->shard->name);
    read_conf(hc, hn, o);
    int npeers = m->settings.agent.fence ? hn->nfence_peers : 0;
    o->probes = calloc((size_t)(o->shard->nnodes + npeers), sizeof(*o->probes));
    if (!o->probes) {
        cluster_obs_free(b);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    static const char *const safety[] = {NO_FAILOVER, "min-replicas-to-write", NULL};
    int k = 0;
    for (int i = o->shard->first; i < o->shard->first + o->shard->nnodes; i++, k++)
        o->probes[k] = (store_probe){.kind = STORE_PROBE_INFO,
                                     .address = manifest_node_address(m, i),
                                     .port = m->nodes[i].port, .user = "admin",
                                     .pass = hc->h->secrets.admin, .cluster = true,
                                     .config = i == hn->node ? safety : NULL};
    for (int j = 0; j < npeers; j++, k++)
        o->probes[k] = heal_cl_ping_probe(hc, manifest_node_address(m, hn->fence_peers[j]),
                                  m->nodes[hn->fence_peers[j]].port);
    o->nprobes = k;
    long long t_probe = mrd_now_ms();
    mrd_rc rc = store_probe_all(o->probes, o->nprobes, HEAL_PROBE_TIMEOUT_MS);
    if (rc != MRD_OK) {
        cluster_obs_free(b);
        return mrd_error_set(err, rc, "out of memory");
    }

    /* the node's own view first, then its peers' in manifest order */
    if (heal_cl_take_view(o, hn->node))
        o->leader = leader_in(m, o, o->view);
    for (int i = o->shard->first; o->leader < 0 && i < o->shard->first + o->shard->nnodes; i++)
        if (i != hn->node && heal_cl_take_view(o, i))
            o->leader = leader_in(m, o, o->view);

    heal_facts *f = &b->f;
    f->have_leader = o->leader >= 0;
    f->self_is_leader = o->leader == hn->node;
    f->lag_bytes = -1;
    store_info self, lead;
    if (heal_cl_node_info(o, hn->node, &self)) {
        f->reachable = true;
        f->is_master = self.is_master;
        f->link_up = self.link_up;
        if (o->leader >= 0) {
            f->follows_leader =
                strcmp(self.master_host, manifest_node_address(m, o->leader)) == 0 &&
                self.master_port == m->nodes[o->leader].port;
            if (!self.is_master && heal_cl_node_info(o, o->leader, &lead))
                f->lag_bytes = lead.master_repl_offset > self.slave_repl_offset
                                   ? lead.master_repl_offset - self.slave_repl_offset
                                   : 0;
        }
        if (f->self_is_leader && self.is_master)
            fit_to_take_over(hc, o, &self);
    }
    if (heal_cl_judge_isolation(hc, o) != MRD_OK) {
        cluster_obs_free(b);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    if (f->reachable)
        heal_cl_check_drift(hc, o);
    heal_cl_watch_master(hc, o, t_probe);
    return MRD_OK;
}

/* ==== acting ==== */

static void cluster_act(heal_step *ps, heal_action a)
{
    heal_cl_keep_conf(ps);
    heal_cl_fence(ps);
    heal_cl_request_failover(ps);
    switch (a) {
    case HEAL_RESTORE:
        heal_cl_restore(ps);
        break;
    case HEAL_REPOINT:
        heal_cl_repoint(ps);
        break;
    case HEAL_REPAIR:
        heal_cl_repair(ps);
        break;
    default:
        /* HEAL_WAIT_FAILOVER, HEAL_ASK_FAILOVER: the cluster elects a
         * replica by itself after cluster-node-timeout.  The lost master's
         * own pass does not ask: it cannot tell a dead master from one it
         * cannot reach, and FORCE skips the handshake that makes a live
         * master's failover lose nothing; the crash fast path, which
         * reaped the process, asks, and so does a replica's pass once a
         * majority of the masters have lost the master too
         * (heal_cl_request_failover) */
        break;
    }
}

/* ==== the host ==== */

/* A cluster-mode host runs its nodes only. */
static bool cluster_host_lost(const heal_ctx *hc, const heal_obs *b)
{
    (void)hc;
    (void)b;
    return false;
}

static void cluster_host_act(heal_step *ps)
{
    (void)ps;
}

static void cluster_host_json(const heal_ctx *hc, const heal_obs *b, json_t *nodes)
{
    (void)hc;
    (void)b;
    (void)nodes;
}

static bool cluster_host_state(const heal_ctx *hc, const heal_obs *b, bool *up, bool *ready,
                               char *reason, size_t n)
{
    (void)hc;
    (void)b;
    (void)up;
    (void)ready;
    (void)reason;
    (void)n;
    return false;
}

/* A master votes once per master per 2 x node-timeout. */
static long long cluster_fast_path_cooldown_ms(const mrd_manifest *m)
{
    return 2LL * m->settings.cluster.node_timeout_ms;
}

static int cluster_down_after_ms(const mrd_manifest *m)
{
    return m->settings.cluster.node_timeout_ms;
}

static const char *cluster_reason(heal_action a)
{
    switch (a) {
    case HEAL_WAIT_RECONFIG: return "does not follow its shard's master yet";
    case HEAL_WAIT_SENTINELS: return "the cluster names no master for its shard";
    case HEAL_WAIT_FAILOVER: return "the master is lost; waiting for the cluster to fail over";
    case HEAL_ASK_FAILOVER: return "the master is lost; waiting for the cluster to fail over";
    case HEAL_REPOINT: return "does not replicate its shard's master";
    default: return NULL; /* the front end's words (heal_reason) */
    }
}

const heal_mode heal_mode_cluster = {
    .name = "cluster",
    .observe = cluster_observe,
    .obs_free = cluster_obs_free,
    .act = cluster_act,
    .host_lost = cluster_host_lost,
    .host_act = cluster_host_act,
    .host_json = cluster_host_json,
    .host_state = cluster_host_state,
    .fail_over_now = heal_cl_fail_over_now,
    .fast_path_cooldown_ms = cluster_fast_path_cooldown_ms,
    .down_after_ms = cluster_down_after_ms,
    .reason = cluster_reason,
};
