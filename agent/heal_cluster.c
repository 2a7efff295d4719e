/* heal_cluster.c - the heal pass's cluster mode (see heal_int.h).
 *
 * A node's master is the node of its shard that the cluster says serves
 * the shard's slots: in the node's own view (CLUSTER NODES) when it
 * answers, else in the first of its shard's peers' that answers.  The
 * cluster itself fails a lost master over (its replicas vote); the agent
 * never restarts a crashed master as a master. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "heal_int.h"
#include "info.h"
#include "probe.h"

/* ==== observing ==== */

/* What one pass saw of one node of this host and its shard. */
typedef struct observation {
    heal_obs *b;
    const mrd_mf_shard *shard;
    int leader;              /* node index of the shard's master now; -1 */
    store_probe *probes;     /* the shard's nodes, in manifest order: INFO,
                                CLUSTER NODES, CLUSTER INFO */
    store_cluster_view *view;/* the view the leader was read from; NULL */
    int view_node;           /* whose view that is (node index); -1 */
} observation;

static const store_probe *node_probe(const observation *o, int node)
{
    return &o->probes[node - o->shard->first];
}

static bool node_info(const observation *o, int node, store_info *out)
{
    const store_probe *p = node_probe(o, node);
    return p->rc == MRD_OK && p->info &&
           store_info_parse(p->info, strlen(p->info), out, NULL) == MRD_OK;
}

static void cluster_obs_free(heal_obs *b)
{
    observation *o = b->mode_data;
    if (!o)
        return;
    for (int i = 0; o->probes && i < o->shard->nnodes; i++)
        store_probe_clear(&o->probes[i]);
    free(o->probes);
    store_cluster_view_free(&o->view);
    free(o);
    b->mode_data = NULL;
}

/* The view node of manifest node I in V, or NULL. */
static const store_cluster_node *in_view(const mrd_manifest *m, const store_cluster_view *v,
                                         int i)
{
    return store_cluster_find_addr(v, manifest_node_address(m, i), m->nodes[i].port);
}

/* The shard's master in view V: the node of the shard that the view has
 * as a master owning slots and not failed; -1 when none. */
static int leader_in(const mrd_manifest *m, const observation *o, const store_cluster_view *v)
{
    for (int i = o->shard->first; i < o->shard->first + o->shard->nnodes; i++) {
        const store_cluster_node *n = in_view(m, v, i);
        if (n && (n->flags & STORE_CLUSTER_MASTER) && n->nslots > 0 &&
            !(n->flags & STORE_CLUSTER_FAIL))
            return i;
    }
    return -1;
}

/* Read the view of node I (its probe's CLUSTER NODES) into o->view. */
static bool take_view(observation *o, int i)
{
    const store_probe *p = node_probe(o, i);
    if (p->rc != MRD_OK || !p->cluster_nodes)
        return false;
    if (!o->view && !(o->view = store_cluster_view_new()))
        return false;
    if (store_cluster_nodes_parse(p->cluster_nodes, strlen(p->cluster_nodes), o->view,
                                  NULL) != MRD_OK)
        return false;
    o->view_node = i;
    return true;
}

/* Observe node B->hn: every node of its shard (INFO, CLUSTER NODES and
 * CLUSTER INFO), in one concurrent round. */
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
    o->probes = calloc((size_t)o->shard->nnodes, sizeof(*o->probes));
    if (!o->probes) {
        cluster_obs_free(b);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    for (int i = o->shard->first, k = 0; i < o->shard->first + o->shard->nnodes; i++, k++)
        o->probes[k] = (store_probe){.kind = STORE_PROBE_INFO,
                                     .address = manifest_node_address(m, i),
                                     .port = m->nodes[i].port, .user = "admin",
                                     .pass = hc->h->secrets.admin, .cluster = true};
    mrd_rc rc = store_probe_all(o->probes, o->shard->nnodes, HEAL_PROBE_TIMEOUT_MS);
    if (rc != MRD_OK) {
        cluster_obs_free(b);
        return mrd_error_set(err, rc, "out of memory");
    }

    /* the node's own view first, then its peers' in manifest order */
    if (take_view(o, hn->node))
        o->leader = leader_in(m, o, o->view);
    for (int i = o->shard->first; o->leader < 0 && i < o->shard->first + o->shard->nnodes; i++)
        if (i != hn->node && take_view(o, i))
            o->leader = leader_in(m, o, o->view);

    heal_facts *f = &b->f;
    f->have_leader = o->leader >= 0;
    f->self_is_leader = o->leader == hn->node;
    f->lag_bytes = -1;
    store_info self, lead;
    if (node_info(o, hn->node, &self)) {
        f->reachable = true;
        f->is_master = self.is_master;
        f->link_up = self.link_up;
        if (o->leader >= 0) {
            f->follows_leader =
                strcmp(self.master_host, manifest_node_address(m, o->leader)) == 0 &&
                self.master_port == m->nodes[o->leader].port;
            if (!self.is_master && node_info(o, o->leader, &lead))
                f->lag_bytes = lead.master_repl_offset > self.slave_repl_offset
                                   ? lead.master_repl_offset - self.slave_repl_offset
                                   : 0;
        }
    }
    return MRD_OK;
}

/* ==== acting ==== */

static void cluster_act(heal_step *ps, heal_action a)
{
    (void)ps;
    (void)a; /* restores, repoints and failovers in cluster mode come next */
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

/* Redis Cluster fails a master over by itself (its replicas vote). */
static bool cluster_fail_over_now(const heal_ctx *hc, const heal_node *hn, char *who, size_t n)
{
    (void)hc;
    (void)hn;
    (void)who;
    (void)n;
    return false;
}

static int cluster_down_after_ms(const mrd_manifest *m)
{
    return m->settings.cluster.node_timeout_ms;
}

static const char *cluster_reason(heal_action a)
{
    switch (a) {
    case HEAL_NONE: return "";
    case HEAL_WAIT_SYNC: return "replica is syncing or catching up";
    case HEAL_WAIT_RECONFIG: return "does not follow its shard's master yet";
    case HEAL_WAIT_SENTINELS: return "the cluster names no master for its shard";
    case HEAL_WAIT_FAILOVER: return "the master is lost; waiting for the cluster to fail over";
    case HEAL_ASK_FAILOVER: return "the master is lost; waiting for the cluster to fail over";
    case HEAL_RESTORE: return "lost: needs a restore";
    case HEAL_BACKOFF: return "lost; backing off after failed or repeated restores";
    case HEAL_REPOINT: return "does not replicate its shard's master";
    case HEAL_REPAIR: return "a safety setting differs from the manifest";
    }
    return "";
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
    .fail_over_now = cluster_fail_over_now,
    .down_after_ms = cluster_down_after_ms,
    .reason = cluster_reason,
};
