/* sentinel.c - `meridian status` in sentinel mode: one shard, whose
 * master is the node a majority of sentinels names.
 *
 * Every node of the shard should be that master or a replica linked to
 * it and caught up (MRD_CAUGHT_UP_LAG_BYTES), with the replica-priority
 * the plan gave it; every sentinel should name the master and see the
 * shard's replicas and the other sentinels.  The judgement is pure (see
 * status_mode.h); status.c probes and prints. */
#include <stdlib.h>
#include <string.h>

#include "status_mode.h"

/* ==== probing ==== */

/* Every node, and every sentinel about the one shard. */
static mrd_rc sentinel_probes(const orch_ctx *c, const char *pass, probe_set **out,
                              mrd_error *err)
{
    return probe_set_new(c, pass, true, out, err);
}

/* ==== judging ==== */

/* "ADDR:PORT" of plan node I, as Sentinel names a master. */
static void node_addr(const mrd_plan *p, int i, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%d", plan_node_host(p, i)->address, p->nodes[i].port);
}

/* The node of shard SHARD that ADDR_PORT ("ADDR:PORT") names, or -1. */
static int node_by_addr(const mrd_plan *p, int shard, const char *addr_port)
{
    const mrd_plan_shard *sh = &p->shards[shard];
    for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
        char buf[96];
        node_addr(p, i, buf, sizeof(buf));
        if (strcmp(buf, addr_port) == 0)
            return i;
    }
    return -1;
}

/* A healthy replica is promotable when its live replica-priority is the
 * plan's: 0 (left by an interrupted restore) makes Sentinel skip it, and
 * any other value reorders the failover the plan chose. */
static void judge_priority(const orch_ctx *c, st_node *n)
{
    int want = c->plan->nodes[n->node].replica_priority;
    if (!n->healthy || n->is_master)
        return;
    n->promotable = n->replica_priority == want;
    if (n->replica_priority == 0)
        snprintf(n->problem, sizeof(n->problem),
                 "not promotable: replica-priority 0 (plan: %d)", want);
    else if (!n->promotable)
        snprintf(n->problem, sizeof(n->problem), "replica-priority %d, plan: %d",
                 n->replica_priority, want);
}

/* The survivability matrix of what runs now (as `plan` judges the file):
 * which sentinels answer and name the leader, which replicas are linked,
 * caught up and promotable. */
static void judge_live_survival(const orch_ctx *c, st_report *r)
{
    const mrd_topology *t = c->topo;
    r->live_unsafe = -1;
    if (r->master < 0)
        return;
    bool *sentinel_up = calloc((size_t)t->nhosts, sizeof(*sentinel_up));
    mrd_live_node *nodes = calloc((size_t)c->plan->nnodes, sizeof(*nodes));
    r->live_losses = calloc((size_t)c->plan->nlosses, sizeof(*r->live_losses));
    if (!sentinel_up || !nodes || !r->live_losses) {
        free(sentinel_up);
        free(nodes);
        free(r->live_losses);
        r->live_losses = NULL;
        return;
    }
    char want[96];
    node_addr(c->plan, r->master, want, sizeof(want));
    for (int i = 0; i < r->nsentinels; i++)
        sentinel_up[r->sentinels[i].host] =
            r->sentinels[i].reachable && strcmp(r->sentinels[i].leader, want) == 0;
    for (int i = 0; i < r->nnodes; i++) {
        nodes[i].replica_ok = i != r->master && r->nodes[i].healthy;
        nodes[i].promotable = r->nodes[i].replica_priority > 0;
    }
    mrd_live live = {.master = r->master, .sentinel_up = sentinel_up, .nodes = nodes};
    plan_live_losses(c->plan, &live, r->live_losses);
    r->live_unsafe = plan_first_unsafe(c->plan, r->live_losses);
    free(sentinel_up);
    free(nodes);
}

/* The master of shard 0 the sentinels agree on: named by at least a
 * majority.  A node index, -1 when none. */
static int sentinel_majority_master(const orch_ctx *c, const st_report *r, int *votes)
{
    const char **names = calloc((size_t)r->nsentinels + 1, sizeof(*names));
    if (!names) {
        *votes = 0;
        return -1;
    }
    for (int i = 0; i < r->nsentinels; i++)
        names[i] = r->sentinels[i].reachable ? r->sentinels[i].leader : NULL;
    int v = mrd_plurality(names, r->nsentinels, votes);
    free(names);
    if (v < 0 || *votes < mrd_majority(c->plan->nsentinels))
        return -1;
    return node_by_addr(c->plan, 0, r->sentinels[v].leader);
}

static void sentinel_judge(const orch_ctx *c, st_report *r)
{
    const mrd_topology *t = c->topo;
    const mrd_plan_shard *shard = &c->plan->shards[0]; /* sentinel mode: the one shard */
    int votes;
    r->master = sentinel_majority_master(c, r, &votes);
    r->shards[0].master = r->master;
    int masters = 0, healthy = 0, unpromotable = 0;
    for (int i = 0; i < r->nnodes; i++)
        masters += r->nodes[i].reachable && r->nodes[i].is_master;

    const st_node *lead = r->master >= 0 ? &r->nodes[r->master] : NULL;
    const mrd_host *lead_host = lead ? &t->hosts[lead->host] : NULL;
    int lead_port = lead ? c->plan->nodes[r->master].port : 0;
    for (int i = 0; i < r->nnodes; i++) {
        st_node *n = &r->nodes[i];
        n->lag_bytes = -1;
        if (!n->reachable)
            continue;
        if (i == r->master) {
            n->healthy = n->is_master;
            if (!n->is_master)
                snprintf(n->problem, sizeof(n->problem),
                         "the sentinels name it leader but it is a replica");
        } else if (n->is_master) {
            snprintf(n->problem, sizeof(n->problem),
                     "a second master: the sentinels name another leader");
        } else if (!lead) {
            snprintf(n->problem, sizeof(n->problem), "no agreed leader to follow");
        } else if (strcmp(n->master_host, lead_host->address) != 0 ||
                   n->master_port != lead_port) {
            snprintf(n->problem, sizeof(n->problem), "follows %s:%d, not the leader",
                     n->master_host, n->master_port);
        } else if (!n->link_up) {
            snprintf(n->problem, sizeof(n->problem), "replication link is down");
        } else {
            n->lag_bytes = lead->offset > n->offset ? lead->offset - n->offset : 0;
            n->healthy = n->lag_bytes <= MRD_CAUGHT_UP_LAG_BYTES;
            if (!n->healthy)
                snprintf(n->problem, sizeof(n->problem), "lags %lld bytes", n->lag_bytes);
        }
        healthy += n->healthy;
        judge_priority(c, n);
        unpromotable += n->healthy && !n->is_master && !n->promotable;
    }

    int sentinels_ok = 0;
    char want[96] = "";
    if (r->master >= 0)
        node_addr(c->plan, r->master, want, sizeof(want));
    for (int i = 0; i < r->nsentinels; i++) {
        st_sentinel *s = &r->sentinels[i];
        if (!s->reachable)
            continue;
        if (strcmp(s->leader, want) != 0)
            snprintf(s->problem, sizeof(s->problem), "names %s as leader", s->leader);
        else if (s->replicas_ok < shard->nnodes - 1)
            snprintf(s->problem, sizeof(s->problem), "sees %d of %d replicas",
                     s->replicas_ok, shard->nnodes - 1);
        else if (s->sentinels_ok < r->nsentinels - 1)
            snprintf(s->problem, sizeof(s->problem), "sees %d of %d other sentinels",
                     s->sentinels_ok, r->nsentinels - 1);
        else
            s->ok = true;
        sentinels_ok += s->ok;
    }

    if (r->master < 0 || !lead->healthy) {
        r->health = MRD_HEALTH_CRITICAL;
        snprintf(r->summary, sizeof(r->summary),
                 r->master < 0 ? "no leader agreed by a majority of sentinels (%d of %d agree)"
                               : "the agreed leader is not a writable master (%d of %d agree)",
                 votes, r->nsentinels);
    } else if (masters > 1) {
        r->health = MRD_HEALTH_CRITICAL;
        snprintf(r->summary, sizeof(r->summary), "%d nodes act as master", masters);
    } else if (healthy < r->nnodes || sentinels_ok < r->nsentinels) {
        r->health = MRD_HEALTH_WARNING;
        snprintf(r->summary, sizeof(r->summary),
                 "degraded: %d of %d nodes healthy, %d of %d sentinels ok", healthy,
                 r->nnodes, sentinels_ok, r->nsentinels);
    } else if (unpromotable > 0) {
        r->health = MRD_HEALTH_WARNING;
        snprintf(r->summary, sizeof(r->summary),
                 "%d %s not promotable as the plan says (replica-priority)", unpromotable,
                 unpromotable == 1 ? "replica is" : "replicas are");
    } else {
        r->health = MRD_HEALTH_OK;
        snprintf(r->summary, sizeof(r->summary),
                 "healthy: leader %s, %d replicas linked, %d sentinels agree",
                 lead_host->name, shard->nnodes - 1, r->nsentinels);
    }

    judge_live_survival(c, r);
    if (r->live_unsafe >= 0 && r->health != MRD_HEALTH_CRITICAL) {
        const char *why = r->live_losses[r->live_unsafe].reason;
        if (r->health == MRD_HEALTH_OK)
            snprintf(r->summary, sizeof(r->summary), "%s", why);
        else {
            size_t sl = strlen(r->summary);
            snprintf(r->summary + sl, sizeof(r->summary) - sl, "; %s", why);
        }
        r->health = MRD_HEALTH_WARNING;
    }
}

const status_mode status_mode_sentinel = {
    .name = "sentinel",
    .probes = sentinel_probes,
    .judge = sentinel_judge,
};
