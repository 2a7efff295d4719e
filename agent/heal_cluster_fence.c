/* heal_cluster_fence.c - cluster mode's fence (see heal_cluster.c,
 * heal_cluster_int.h): whether a master owning slots is cut off from the
 * other masters (heal_cl_judge_isolation), fencing it, and the drift of
 * the safety settings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "heal_cluster_int.h"
#include "hold.h"
#include "log.h"
#include "probe.h"

/* ==== pure ==== */

bool heal_cluster_isolated(const store_cluster_view *v, const bool *answered, int *masters,
                           int *reached)
{
    *masters = *reached = 0;
    const store_cluster_node *me = store_cluster_myself(v);
    if (!me || !(me->flags & STORE_CLUSTER_MASTER) || me->nslots == 0)
        return false;
    for (int i = 0; i < v->nnodes; i++) {
        const store_cluster_node *x = &v->nodes[i];
        if (!(x->flags & STORE_CLUSTER_MASTER) || x->nslots == 0)
            continue;
        (*masters)++;
        *reached += x == me || answered[i];
    }
    return *reached < mrd_majority(*masters);
}

/* ==== observing ==== */

/* Append to o->reach (the +fenced and -fenced details) the name of the
 * view's node X: its host's, or its address when the manifest does not
 * have it. */
static void describe(const mrd_manifest *m, observation *o, const store_cluster_node *x,
                     bool first, bool answered)
{
    size_t len = strlen(o->reach);
    int k = manifest_find_node(m, x->ip, x->port);
    char name[128];
    if (k >= 0)
        snprintf(name, sizeof(name), "%s", heal_node_host(m, k)->host);
    else
        snprintf(name, sizeof(name), "%s:%d", x->ip[0] ? x->ip : "?", x->port);
    snprintf(o->reach + len, sizeof(o->reach) - len, "%s%s", first ? (answered ? "" : "not ")
             : ", ", name);
}

/* The fence's question, for a node of this host that its own view (this
 * round's) shows as a master owning slots: how many of the masters
 * owning slots in that view answer?  They answered in this round when
 * they are of its shard or were masters at the last pass (remembered in
 * hn->fence_peers); the others (the first pass, a new master) are asked
 * now, in a second round with the pass's probe timeout.  The agent's
 * connections leave from this host's address (store_set_source), so a
 * partition that cuts the node off cuts the agent off the same way. */
mrd_rc heal_cl_judge_isolation(heal_ctx *hc, observation *o)
{
    const mrd_manifest *m = hc->h->m;
    heal_node *hn = o->b->hn;
    const store_cluster_view *v = o->view;
    hn->nfence_peers = 0;
    if (!m->settings.agent.fence || !o->b->f.reachable || o->view_node != hn->node)
        return MRD_OK;
    const store_cluster_node *me = store_cluster_myself(v);
    if (!me || !(me->flags & STORE_CLUSTER_MASTER) || me->nslots == 0)
        return MRD_OK;
    bool *answered = calloc((size_t)v->nnodes, sizeof(*answered));
    store_probe *late = calloc((size_t)v->nnodes, sizeof(*late));
    int *late_of = calloc((size_t)v->nnodes, sizeof(*late_of));
    if (!answered || !late || !late_of) {
        free(answered);
        free(late);
        free(late_of);
        return MRD_ERR_NOMEM;
    }
    int nlate = 0;
    for (int i = 0; i < v->nnodes; i++) {
        const store_cluster_node *x = &v->nodes[i];
        if (x == me || !(x->flags & STORE_CLUSTER_MASTER) || x->nslots == 0)
            continue;
        int k = x->ip[0] ? manifest_find_node(m, x->ip, x->port) : -1;
        const store_probe *p = NULL;
        if (k >= o->shard->first && k < o->shard->first + o->shard->nnodes)
            p = heal_cl_node_probe(o, k);
        for (int j = o->shard->nnodes; !p && k >= 0 && j < o->nprobes; j++)
            if (strcmp(o->probes[j].address, manifest_node_address(m, k)) == 0 &&
                o->probes[j].port == m->nodes[k].port)
                p = &o->probes[j];
        if (k >= 0 && m->nodes[k].shard != m->nodes[hn->node].shard &&
            hn->nfence_peers < HEAL_FENCE_MAX_PEERS)
            hn->fence_peers[hn->nfence_peers++] = k;
        if (p)
            answered[i] = p->rc == MRD_OK;
        else if (x->ip[0]) { /* not asked yet */
            late_of[nlate] = i;
            late[nlate++] = heal_cl_ping_probe(hc, x->ip, x->port);
        }
    }
    mrd_rc rc = nlate ? store_probe_all(late, nlate, HEAL_PROBE_TIMEOUT_MS) : MRD_OK;
    for (int j = 0; j < nlate; j++) {
        answered[late_of[j]] = rc == MRD_OK && late[j].rc == MRD_OK;
        store_probe_clear(&late[j]);
    }
    if (rc == MRD_OK) {
        o->isolated = heal_cluster_isolated(v, answered, &o->masters, &o->reached);
        /* "itself, use-b1; not euw-a1, aps-a1" */
        snprintf(o->reach, sizeof(o->reach), "itself");
        for (int pass = 0; pass < 2; pass++) {
            bool first = pass == 1;
            for (int i = 0; i < v->nnodes; i++) {
                const store_cluster_node *x = &v->nodes[i];
                if (x == me || !(x->flags & STORE_CLUSTER_MASTER) || x->nslots == 0 ||
                    answered[i] != (pass == 0))
                    continue;
                if (first) { /* the unreached, after a "; " */
                    size_t len = strlen(o->reach);
                    snprintf(o->reach + len, sizeof(o->reach) - len, "; ");
                }
                describe(hc->h->m, o, x, first, pass == 0);
                first = false;
            }
        }
    }
    free(answered);
    free(late);
    free(late_of);
    return rc;
}

/* Compare the node's live safety settings (CONFIG GET in its probe) with
 * the manifest: cluster-replica-no-failover (the manifest never wants
 * yes, but while a hold lasts: a restore interrupted before the node was
 * ready) and
 * min-replicas-to-write (a fence left by an agent that died, a CONFIG SET
 * by hand), the latter never while the node is isolated or this agent
 * holds its fence (heal_fence_drift). */
void heal_cl_check_drift(const heal_ctx *hc, observation *o)
{
    const mrd_manifest *m = hc->h->m;
    heal_obs *b = o->b;
    const store_probe *self = heal_cl_node_probe(o, b->hn->node);
    const char *nf = self->config_values[0], *mr = self->config_values[1];
    o->live_min_replicas = -1;
    if (mr) {
        char *end;
        long v = strtol(mr, &end, 10);
        o->live_min_replicas = *end == '\0' && end != mr && v >= 0 ? v : -1;
    }
    /* a held replica (a restore's seed: hold.h) keeps its yes */
    o->drift_no_failover = nf && strcmp(nf, "yes") == 0 &&
                           !hold_active(m->root, m->nodes[b->hn->node].port, mrd_wall_ms());
    o->drift_min_replicas = heal_fence_drift(o->isolated, b->hn->fenced, o->live_min_replicas,
                                             m->settings.consistency.min_replicas_to_write);
    snprintf(b->drift, sizeof(b->drift), "%s%s", o->drift_no_failover ? NO_FAILOVER " yes "
             "(manifest: no)" : "", o->drift_no_failover && o->drift_min_replicas ? ", " : "");
    if (o->drift_min_replicas) {
        size_t len = strlen(b->drift);
        snprintf(b->drift + len, sizeof(b->drift) - len, "min-replicas-to-write %ld "
                 "(manifest: %d)", o->live_min_replicas,
                 m->settings.consistency.min_replicas_to_write);
    }
    b->f.settings_drift = o->drift_no_failover || o->drift_min_replicas;
}

/* ==== the fence ==== */

/* A master owning slots that reaches fewer than a majority of the masters
 * owning slots (heal_cl_judge_isolation) is cut off: the majority side elects one
 * of its replicas after cluster-node-timeout, and every write it takes
 * meanwhile is lost when the partition heals.  Redis fences it itself
 * (CLUSTERDOWN) only once it has flagged the other masters PFAIL, 1 to
 * 1.5 x node-timeout after the cut; the agent fences it at its next pass
 * (about agent.interval_ms + the probe timeout): min-replicas-to-write
 * HEAL_FENCE_MIN_REPLICAS, so that it answers NOREPLICAS.  Lifted when a
 * majority answers again, or when it is no longer a master owning slots
 * (the partition healed and the cluster made it a replica of the promoted
 * one: a fence left on a replica would refuse every write once it is
 * promoted).  A partition shorter than the node timeout ends with the
 * master still the master: lifting the fence is right then.  After a
 * longer one Redis itself refuses writes for a rejoin delay (the node
 * timeout, 0.5 to 5 s) while the cluster's new configuration reaches it,
 * so a lift that races with the node's demotion accepts nothing.
 *
 * No CONFIG REWRITE, as in sentinel mode: the fence is the running
 * process's state.  A node restarted (never as a master: a restore makes
 * it a replica) must not come back fenced, since it would refuse every
 * write once promoted.  A fence this agent cannot lift (it died, or a
 * `check` run set it) is repaired by a later pass as drift, once the node
 * is no longer isolated (heal_fence_drift).
 *
 * The agent's own connections leave from this host's address, so a
 * partition of the host's region cuts the agent off exactly as it cuts
 * the node off.  A false alarm (the agent cannot reach the other masters
 * but the node can, e.g. a firewall rule on the agent alone) refuses
 * writes until a pass reaches them again and loses nothing; a fence that
 * comes late loses what Redis' own window loses. */
void heal_cl_fence(heal_step *ps)
{
    heal_ctx *hc = ps->hc;
    heal_node *hn = ps->hn;
    const mrd_manifest *m = hc->h->m;
    const observation *o = ps->o->mode_data;
    if (!ps->o->f.reachable)
        return;
    mrd_error err;
    mrd_error_clear(&err);
    bool live_fenced = o->live_min_replicas >= HEAL_FENCE_MIN_REPLICAS;
    switch (heal_fence_next(m->settings.agent.fence, o->isolated, hn->fenced, live_fenced)) {
    case HEAL_FENCE_SET:
        if (heal_set_min_replicas(hc, hn, HEAL_FENCE_MIN_REPLICAS, &err) != MRD_OK) {
            ps->failed = true;
            heal_act(ps, "+heal-failed", hn->proc->label, "%scould not fence it: %s",
                o->shard_tag, err.msg);
            return;
        }
        hn->fenced = true;
        ps->acted = true;
        heal_act(ps, "+fenced", hn->proc->label,
            "%sa master that reaches %d of %d masters owning slots (%s): refusing writes "
            "(min-replicas-to-write %d) until it reaches a majority again",
            o->shard_tag, o->reached, o->masters, o->reach, HEAL_FENCE_MIN_REPLICAS);
        break;
    case HEAL_FENCE_ADOPT:
        hn->fenced = true;
        mrd_info("%s/%s: %sfenced already while isolated (%d of %d masters); keeping it",
                 m->host, hn->proc->label, o->shard_tag, o->reached, o->masters);
        break;
    case HEAL_FENCE_LIFT:
        if (heal_set_min_replicas(hc, hn, m->settings.consistency.min_replicas_to_write,
                                  &err) != MRD_OK) {
            ps->failed = true;
            heal_act(ps, "+heal-failed", hn->proc->label, "%scould not lift its fence: %s",
                o->shard_tag, err.msg);
            return;
        }
        hn->fenced = false;
        ps->acted = true;
        if (!m->settings.agent.fence)
            heal_act(ps, "-fenced", hn->proc->label,
                "%sagent.fence is off: min-replicas-to-write %d", o->shard_tag,
                m->settings.consistency.min_replicas_to_write);
        else if (o->masters > 0)
            heal_act(ps, "-fenced", hn->proc->label,
                "%sreaches %d of %d masters owning slots again (%s): min-replicas-to-write %d",
                o->shard_tag, o->reached, o->masters, o->reach,
                m->settings.consistency.min_replicas_to_write);
        else
            heal_act(ps, "-fenced", hn->proc->label,
                "%sno longer a master owning slots%s: min-replicas-to-write %d", o->shard_tag,
                ps->o->f.is_master ? "" : " (now a replica)",
                m->settings.consistency.min_replicas_to_write);
        break;
    case HEAL_FENCE_KEEP:
        break;
    }
}

