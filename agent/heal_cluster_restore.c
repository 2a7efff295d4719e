/* heal_cluster_restore.c - cluster mode's restore of a lost node (see
 * heal_cluster.c, heal_cluster_int.h): the nodes.conf written before its
 * first start, the restore hooks, and whether the agent's start may start
 * a node blank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cluster.h"
#include "fsutil.h"
#include "heal_cluster_int.h"
#include "probe.h"

/* ==== pure ==== */

heal_id_from heal_cluster_node_id(const store_cluster_view *old, const store_cluster_view *peer,
                                  const char *ip, int port, char out[STORE_CLUSTER_ID_LEN + 1])
{
    const store_cluster_node *n = old ? store_cluster_myself(old) : NULL;
    if (n) {
        snprintf(out, STORE_CLUSTER_ID_LEN + 1, "%s", n->id);
        return HEAL_ID_NODES_CONF;
    }
    n = peer ? store_cluster_find_addr(peer, ip, port) : NULL;
    if (n && !(n->flags & STORE_CLUSTER_MYSELF)) {
        snprintf(out, STORE_CLUSTER_ID_LEN + 1, "%s", n->id);
        return HEAL_ID_CLUSTER_VIEW;
    }
    out[0] = '\0';
    return HEAL_ID_NEW;
}

const char *heal_cluster_id_from_name(heal_id_from f)
{
    switch (f) {
    case HEAL_ID_NODES_CONF: return "its own, from its nodes.conf";
    case HEAL_ID_CLUSTER_VIEW: return "the one the cluster knows at its address";
    case HEAL_ID_NEW: return "a new one";
    }
    return "";
}

/* ==== restoring ==== */

/* Before the first start: nodes.conf saying "myself,slave <MASTER's id>"
 * with every other node of a live peer's view, then the config (cluster
 * mode renders no replicaof; the plan's replica priority). */
static mrd_rc restore_prepare(heal_step *ps, int master, mrd_error *err)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o->mode_data;
    int self = ps->hn->node;
    /* a requested restart observed the node alive, in its own view: the
     * nodes.conf is written from a peer's, as for a lost node */
    for (int i = o->shard->first;
         ps->restart && o->view_node == self && i < o->shard->first + o->shard->nnodes; i++)
        if (i != self) {
            store_cluster_view_free(&o->view);
            heal_cl_take_view(o, i);
        }
    store_cluster_info ci;
    const store_probe *vp =
        o->view && o->view_node >= 0 ? heal_cl_node_probe(o, o->view_node) : NULL;
    if (!vp || o->view_node == self || !vp->cluster_info ||
        store_cluster_info_parse(vp->cluster_info, strlen(vp->cluster_info), &ci, NULL) !=
            MRD_OK)
        return mrd_error_set(err, MRD_ERR_STATE,
                             "no live peer's view of the cluster to write nodes.conf from");
    const char *ip = manifest_node_address(m, self);
    o->id_from = heal_cluster_node_id(o->old, o->view, ip, m->nodes[self].port, o->new_id);
    if (o->id_from == HEAL_ID_NEW)
        MRD_TRY(store_cluster_new_id(o->new_id, err));
    store_cluster_replica_spec spec = {
        .id = o->new_id,
        .ip = ip,
        .port = m->nodes[self].port,
        .bus_port = m->nodes[self].bus_port,
        .master_id = heal_cl_view_id(hc, o, master),
        .current_epoch = (unsigned long long)ci.current_epoch,
    };
    char path[MRD_MF_PATH];
    mrd_buf buf;
    mrd_buf_init(&buf, NODES_CONF_MAX);
    mrd_rc rc = mrd_path_fmt(path, sizeof(path), "%s/nodes.conf", ps->hn->proc->dir);
    if (rc != MRD_OK)
        mrd_error_set(err, rc, "%s: the data dir's path is too long", ps->hn->proc->label);
    if (rc == MRD_OK)
        rc = store_cluster_replica_conf(o->view, &spec, &buf, err);
    if (rc == MRD_OK)
        rc = mrd_write_atomic(path, mrd_buf_str(&buf), mrd_buf_len(&buf), 0600, err);
    mrd_buf_free(&buf);
    MRD_TRY(rc);
    /* priority 0: cluster-replica-no-failover yes until it is ready */
    return sv_render(hc->h, ps->hn->proc, master, 0, true, err);
}

/* cluster-replica-no-failover VALUE on node HN, kept across restarts. */
mrd_rc heal_cl_set_no_failover(const heal_ctx *hc, const heal_node *hn, const char *value,
                               mrd_error *err)
{
    store_conn *c = NULL;
    mrd_rc rc = heal_node_conn(hc, hn->node, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "SET", NO_FAILOVER, value, NULL);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CONFIG", "REWRITE", NULL);
    store_conn_close(&c);
    return rc;
}

/* A node with a new id is unknown to the others: they answer its pings
 * but never add an id they have not met (verified on Redis 7.0.15, see
 * store/cluster.h), so it meets its master, whose gossip spreads it. */
static mrd_rc meet_master(heal_step *ps, int master, mrd_error *err)
{
    const mrd_manifest *m = ps->hc->h->m;
    char port[8], bus[8];
    snprintf(port, sizeof(port), "%d", m->nodes[master].port);
    snprintf(bus, sizeof(bus), "%d", m->nodes[master].bus_port);
    store_conn *c = NULL;
    mrd_rc rc = heal_node_conn(ps->hc, ps->hn->node, &c, err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, err, "CLUSTER", "MEET", manifest_node_address(m, master), port,
                        bus, NULL);
    store_conn_close(&c);
    return rc;
}

/* Caught up: it may win an election again. */
static mrd_rc restore_ready(heal_step *ps, char *detail, size_t n, mrd_error *err)
{
    const observation *o = ps->o->mode_data;
    if (o->id_from == HEAL_ID_NEW)
        MRD_TRY(meet_master(ps, o->leader, err));
    MRD_TRY(heal_cl_set_no_failover(ps->hc, ps->hn, "no", err));
    snprintf(detail, n, ", node id %.8s (%s%s), may fail over again", o->new_id,
             heal_cluster_id_from_name(o->id_from),
             o->id_from == HEAL_ID_NEW ? ", met the master" : "");
    return MRD_OK;
}

static const heal_restore_hooks restore_hooks = {
    .master_word = "master",
    .prepare = restore_prepare,
    .ready = restore_ready,
};

void heal_cl_restore(heal_step *ps)
{
    const observation *o = ps->o->mode_data;
    const heal_facts *f = &ps->o->f;
    const store_cluster_node *me = o->old ? store_cluster_myself(o->old) : NULL;
    char why[160];
    snprintf(why, sizeof(why), "process not running%s%s",
             !f->data_dir_ok                ? " and data dir missing"
             : o->conf == HEAL_CONF_MISSING ? " and nodes.conf missing"
             : o->conf == HEAL_CONF_DAMAGED ? " and nodes.conf damaged"
                                            : "",
             me && (me->flags & STORE_CLUSTER_MASTER) && me->nslots > 0
                 ? " (it was the master; the cluster promoted a replica)"
                 : "");
    heal_restore(ps, &(heal_restore_req){.why = why, .shard = o->shard_tag,
                                         .master = o->leader, .probes = o->probes,
                                         .sh = o->shard, .hooks = &restore_hooks});
}

/* ==== the agent's start ==== */

bool heal_cluster_may_start_blank(const sv_host *h, int node, int timeout_ms)
{
    const mrd_manifest *m = h->m;
    const mrd_mf_shard *sh = &m->shards[m->nodes[node].shard];
    store_probe *p = calloc((size_t)sh->nnodes, sizeof(*p));
    if (!p)
        return false; /* cannot tell: leave it to the heal pass */
    int n = 0;
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        if (i != node)
            p[n++] = (store_probe){.kind = STORE_PROBE_INFO,
                                   .address = manifest_node_address(m, i),
                                   .port = m->nodes[i].port, .user = "admin",
                                   .pass = h->secrets.admin, .cluster = true};
    bool formed = store_probe_all(p, n, timeout_ms) != MRD_OK;
    for (int i = 0; i < n; i++) {
        store_cluster_info ci;
        formed |= p[i].rc == MRD_OK && p[i].cluster_info &&
                  store_cluster_info_parse(p[i].cluster_info, strlen(p[i].cluster_info), &ci,
                                           NULL) == MRD_OK &&
                  ci.slots_assigned > 0;
        store_probe_clear(&p[i]);
    }
    free(p);
    return !formed;
}

