/* heal_cluster_repair.c - cluster mode's repairs of a running node (see
 * heal_cluster.c, heal_cluster_int.h): a replica of a node outside its
 * shard repointed, a missing or damaged nodes.conf saved back, drifted
 * safety settings set back. */
#include <stdio.h>

#include "cluster.h"
#include "heal_cluster_int.h"
#include "info.h"

/* A replica of a node outside its shard (or of one the manifest does not
 * have): CLUSTER REPLICATE the shard's master.  Only replicas: a master
 * may hold data, and its own shard's epochs settle it. */
void heal_cl_repoint(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    const mrd_manifest *m = hc->h->m;
    observation *o = ps->o->mode_data;
    const char *label = ps->hn->proc->label;
    store_info self;
    if (ps->o->f.is_master || !heal_cl_node_info(o, ps->hn->node, &self))
        return; /* left to the cluster; reported as not ready */
    int followed = manifest_find_node(m, self.master_host, self.master_port);
    if (followed >= 0 && m->nodes[followed].shard == m->nodes[ps->hn->node].shard)
        return; /* its shard's old master: the cluster moves it by itself */
    const char *id = heal_cl_view_id(hc, o, o->leader);
    store_conn *c = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = id[0] ? heal_node_conn(hc, ps->hn->node, &c, &err)
                      : mrd_error_set(&err, MRD_ERR_STATE, "the master's id is not in the view");
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CLUSTER", "REPLICATE", id, NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        heal_act(ps, "+heal-failed", label, "%scould not repoint it to the master: %s",
            o->shard_tag, err.msg);
        return;
    }
    ps->acted = true;
    heal_act(ps, "+repointed", label, "%sfollowed %s:%d, outside its shard; now a replica of %s",
        o->shard_tag, self.master_host, self.master_port, heal_node_host(m, o->leader)->host);
}

/* A running node whose nodes.conf is gone or damaged: CLUSTER SAVECONFIG
 * writes its in-memory state back.  Never a restart, a reset or a new
 * file of ours: the node is serving, and its memory is the truth. */
void heal_cl_keep_conf(heal_step *ps)
{
    observation *o = ps->o->mode_data;
    if (o->conf == HEAL_CONF_OK || !ps->o->f.reachable)
        return;
    store_conn *c = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = heal_node_conn(ps->hc, ps->hn->node, &c, &err);
    if (rc == MRD_OK)
        rc = store_cmdl(c, NULL, &err, "CLUSTER", "SAVECONFIG", NULL);
    store_conn_close(&c);
    if (rc != MRD_OK) {
        ps->failed = true;
        heal_act(ps, "+heal-failed", ps->hn->proc->label, "%snodes.conf %s; CLUSTER SAVECONFIG "
            "failed: %s", o->shard_tag, o->conf == HEAL_CONF_MISSING ? "missing" : "damaged",
            err.msg);
        return;
    }
    ps->acted = true;
    heal_act(ps, "+nodes-conf-saved", ps->hn->proc->label,
        "%sthe node runs but its nodes.conf was %s; rewritten from its memory "
        "(CLUSTER SAVECONFIG)", o->shard_tag,
        o->conf == HEAL_CONF_MISSING ? "missing" : "damaged");
}

/* Drifted safety settings, once the node is caught up (and not isolated):
 * a node left unable to fail over (a restore interrupted before it was
 * ready), a fence left by an agent that died or by a `check` run, a change
 * by hand.  CONFIG SET, then CONFIG REWRITE so a restart keeps the
 * manifest's values (a change by hand may have been rewritten). */
void heal_cl_repair(heal_step *ps)
{
    const observation *o = ps->o->mode_data;
    const mrd_manifest *m = ps->hc->h->m;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = MRD_OK;
    if (o->drift_min_replicas)
        rc = heal_set_min_replicas(ps->hc, ps->hn,
                                   m->settings.consistency.min_replicas_to_write, &err);
    if (rc == MRD_OK) /* heal_cl_set_no_failover rewrites the config, this one too */
        rc = heal_cl_set_no_failover(ps->hc, ps->hn, "no", &err);
    if (rc != MRD_OK) {
        ps->failed = true;
        heal_act(ps, "+heal-failed", ps->hn->proc->label, "%scould not repair %s: %s",
            o->shard_tag, ps->o->drift, err.msg);
        return;
    }
    ps->acted = true;
    heal_act(ps, "+setting-repaired", ps->hn->proc->label,
        "%slive %s; set back to the manifest's values%s", o->shard_tag, ps->o->drift,
        o->drift_no_failover ? ": it may fail over again" : "");
}

