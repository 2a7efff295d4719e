/* cluster.c - `meridian status` in cluster mode: shards of a Redis
 * Cluster, each with the master that serves its slots.
 *
 * Every node is asked INFO replication, the live settings, CLUSTER NODES
 * and CLUSTER INFO in one round trip.  The slot map most nodes share is
 * the cluster's; a node with another one disagrees.  A shard's master is
 * the plan node of the shard that owns the shard's slots in that map and
 * acts as a master; its replicas should be linked to it and caught up,
 * one of them outside its region.  The masters' spread is judged as the
 * planner judges a layout: losing any one region (or zone) must leave a
 * majority of masters to vote a replica in.  Pure (see status_mode.h). */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "rebalance.h"
#include "status_mode.h"

/* ==== probing ==== */

static mrd_rc cluster_probes(const orch_ctx *c, const char *pass, probe_set **out,
                             mrd_error *err)
{
    MRD_TRY(probe_set_new(c, pass, false, out, err));
    for (int i = 0; i < (*out)->nnodes; i++)
        (*out)->probes[i].cluster = true;
    return MRD_OK;
}

/* ==== judging ==== */

/* The parsed views of the nodes that answered (NULL for the others). */
typedef struct views {
    store_cluster_view **v; /* per plan node */
    int n;
    int ref;                /* the node whose slot map most nodes share; -1 */
} views;

static void views_free(views *vs)
{
    for (int i = 0; vs->v && i < vs->n; i++)
        store_cluster_view_free(&vs->v[i]);
    free(vs->v);
}

static bool views_parse(const st_report *r, views *vs)
{
    *vs = (views){.n = r->nnodes, .ref = -1};
    if (!(vs->v = calloc((size_t)(r->nnodes ? r->nnodes : 1), sizeof(*vs->v))))
        return false;
    for (int i = 0; i < r->nnodes; i++) {
        const char *text = r->nodes[i].cluster_nodes;
        if (!r->nodes[i].reachable || !text)
            continue;
        if (!(vs->v[i] = store_cluster_view_new()))
            return false;
        mrd_error err;
        if (store_cluster_nodes_parse(text, strlen(text), vs->v[i], &err) != MRD_OK)
            store_cluster_view_free(&vs->v[i]); /* judged as unknown */
    }
    /* the reference: the map that agrees with the most others */
    int best = -1;
    for (int i = 0; i < vs->n; i++) {
        if (!vs->v[i])
            continue;
        int agree = 0;
        for (int j = 0; j < vs->n; j++)
            agree += vs->v[j] && store_cluster_slots_agree(vs->v[i], vs->v[j], NULL);
        if (agree > best) {
            best = agree;
            vs->ref = i;
        }
    }
    return true;
}

/* The plan node at the address of view node N, or -1 (not a plan node). */
static int plan_node_of(const orch_ctx *c, const store_cluster_node *n)
{
    const mrd_plan *p = c->plan;
    for (int i = 0; n && i < p->nnodes; i++)
        if (p->nodes[i].port == n->port && strcmp(plan_node_host(p, i)->address, n->ip) == 0)
            return i;
    return -1;
}

/* Shard S in the reference map: its master and how many of its slots that
 * master serves; a problem when another node serves some of them, or
 * nobody does. */
static void judge_shard_slots(const orch_ctx *c, const views *vs, int s, st_report *r)
{
    const mrd_plan_shard *sh = &c->plan->shards[s];
    st_shard *x = &r->shards[s];
    const store_cluster_view *ref = vs->v[vs->ref];
    int unassigned = 0, elsewhere = 0, first_elsewhere = -1;
    const store_cluster_node *owner = NULL;
    for (int slot = sh->slot_first; slot <= sh->slot_last; slot++) {
        const store_cluster_node *o = store_cluster_slot_owner(ref, slot);
        int i = plan_node_of(c, o);
        if (!o) {
            unassigned++;
        } else if (i < 0 || c->plan->nodes[i].shard != s) {
            if (elsewhere++ == 0)
                first_elsewhere = slot;
        } else if (!owner) {
            owner = o;
        }
    }
    int m = plan_node_of(c, owner);
    if (m >= 0 && !(owner->flags & (STORE_CLUSTER_FAIL | STORE_CLUSTER_PFAIL)) &&
        r->nodes[m].reachable && r->nodes[m].is_master) {
        x->master = m;
        x->slots_served = owner->nslots;
    }
    int total = sh->slot_last - sh->slot_first + 1;
    char name[96];
    if (x->master < 0)
        snprintf(x->problem, sizeof(x->problem),
                 "slots %d-%d have no live master: shard %d does not serve", sh->slot_first,
                 sh->slot_last, s + 1);
    else if (unassigned)
        snprintf(x->problem, sizeof(x->problem), "%d of its %d slots are not assigned",
                 unassigned, total);
    else if (elsewhere) {
        const store_cluster_node *o = store_cluster_slot_owner(ref, first_elsewhere);
        snprintf(x->problem, sizeof(x->problem),
                 "%d of its slots (the first %d) are served by %s:%d, outside the shard",
                 elsewhere, first_elsewhere, o->ip, o->port);
    } else if (x->slots_served != total) {
        plan_node_name(c->plan, m, name, sizeof(name));
        snprintf(x->problem, sizeof(x->problem), "its master %s also serves %d slot%s of "
                 "other shards", name, x->slots_served - total,
                 x->slots_served - total == 1 ? "" : "s");
    }
}

/* A slot the node of view V is migrating or importing: a move left
 * unfinished, or keys for a slot another node owns (Redis marks such a
 * slot importing when it starts).  Described in PROBLEM (N bytes). */
static bool open_move(const store_cluster_view *v, char *problem, size_t n)
{
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS; slot++) {
        uint16_t to = v->migrating_to[slot], from = v->importing_from[slot];
        if (to == STORE_CLUSTER_NONE && from == STORE_CLUSTER_NONE)
            continue;
        const store_cluster_node *o = &v->nodes[to != STORE_CLUSTER_NONE ? to : from];
        snprintf(problem, n,
                 to != STORE_CLUSTER_NONE
                     ? "slot %d is left migrating to %s:%d (an unfinished move)"
                     : "slot %d is importing from %s:%d (an unfinished move, or keys for a "
                       "slot that node owns)",
                 slot, o->ip, o->port);
        return true;
    }
    return false;
}

/* Node I of shard S whose master is X->master: linked and caught up, and
 * agreeing with the reference map. */
static void judge_node(const orch_ctx *c, const views *vs, int i, st_report *r)
{
    st_node *n = &r->nodes[i];
    const st_shard *x = &r->shards[n->shard];
    n->lag_bytes = -1;
    if (!n->reachable)
        return;
    const store_cluster_view *v = vs->v[i];
    if (!v) {
        snprintf(n->problem, sizeof(n->problem), "its CLUSTER NODES does not parse");
        return;
    }
    n->slots = store_cluster_myself(v)->nslots;
    int slot = -1;
    n->map_agrees = store_cluster_slots_agree(v, vs->v[vs->ref], &slot);
    if (!n->map_agrees) {
        snprintf(n->problem, sizeof(n->problem),
                 "disagrees on the slot map (first at slot %d)", slot);
        return;
    }
    if (open_move(v, n->problem, sizeof(n->problem)))
        return;
    if (strcmp(n->cluster_state, "ok") != 0) {
        snprintf(n->problem, sizeof(n->problem), "cluster_state:%s",
                 n->cluster_state[0] ? n->cluster_state : "unknown");
        return;
    }
    const st_node *lead = x->master >= 0 ? &r->nodes[x->master] : NULL;
    if (i == x->master) {
        n->healthy = true;
        return;
    }
    const mrd_host *lh = lead ? &c->topo->hosts[lead->host] : NULL;
    if (n->is_master)
        snprintf(n->problem, sizeof(n->problem),
                 n->slots ? "a master of other slots than its shard's"
                          : "a master with no slots: not a replica of its shard");
    else if (!lead)
        snprintf(n->problem, sizeof(n->problem), "its shard has no live master to follow");
    else if (strcmp(n->master_host, lh->address) != 0 ||
             n->master_port != c->plan->nodes[x->master].port)
        snprintf(n->problem, sizeof(n->problem), "replicates %s:%d, not its shard's master",
                 n->master_host, n->master_port);
    else if (!n->link_up)
        snprintf(n->problem, sizeof(n->problem), "replication link is down");
    else {
        n->lag_bytes = lead->offset > n->offset ? lead->offset - n->offset : 0;
        n->healthy = n->lag_bytes <= MRD_CAUGHT_UP_LAG_BYTES;
        if (!n->healthy)
            snprintf(n->problem, sizeof(n->problem), "lags %lld bytes", n->lag_bytes);
    }
}

/* Shard S's replicas: linked, one outside the master's region. */
static void judge_shard_replicas(const orch_ctx *c, int s, st_report *r)
{
    const mrd_plan_shard *sh = &c->plan->shards[s];
    st_shard *x = &r->shards[s];
    if (x->master < 0)
        return;
    int region = c->topo->hosts[r->nodes[x->master].host].region;
    for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
        if (i == x->master || !r->nodes[i].healthy)
            continue;
        x->replicas_linked++;
        x->replica_outside |= c->topo->hosts[r->nodes[i].host].region != region;
    }
    if (!x->problem[0] && !x->replica_outside && sh->nnodes > 1)
        snprintf(x->problem, sizeof(x->problem),
                 "no linked replica outside %s: losing %s loses shard %d",
                 c->topo->regions[region].name, c->topo->regions[region].name, s + 1);
}

/* The survivability matrix of the masters and replicas as they run. */
static void judge_live_survival(const orch_ctx *c, st_report *r)
{
    const mrd_plan *p = c->plan;
    r->live_unsafe = -1;
    int *shard_master = calloc((size_t)p->nshards, sizeof(*shard_master));
    mrd_live_node *nodes = calloc((size_t)p->nnodes, sizeof(*nodes));
    r->live_losses = calloc((size_t)p->nlosses, sizeof(*r->live_losses));
    if (shard_master && nodes && r->live_losses) {
        for (int s = 0; s < p->nshards; s++)
            shard_master[s] = r->shards[s].master;
        for (int i = 0; i < r->nnodes; i++)
            nodes[i].replica_ok = r->nodes[i].healthy &&
                                  r->shards[r->nodes[i].shard].master != i;
        mrd_live live = {.master = -1, .shard_master = shard_master, .nodes = nodes};
        plan_live_losses(p, &live, r->live_losses);
        r->live_unsafe = plan_first_unsafe(p, r->live_losses);
    } else {
        free(r->live_losses);
        r->live_losses = NULL;
    }
    free(shard_master);
    free(nodes);
}

/* A region holding more masters than the plan put there (after
 * failovers): WARNING naming it and what losing it would leave, in WHAT
 * (N bytes); false when every region holds at most its planned share. */
static bool judge_spread(const orch_ctx *c, const st_report *r, char *what, size_t n)
{
    const mrd_topology *t = c->topo;
    const mrd_plan *p = c->plan;
    int *now = calloc((size_t)t->nregions, sizeof(*now));
    int *planned = calloc((size_t)t->nregions, sizeof(*planned));
    bool found = false;
    for (int s = 0; now && planned && s < r->nshards; s++) {
        planned[plan_node_host(p, p->shards[s].master)->region]++;
        if (r->shards[s].master >= 0)
            now[plan_node_host(p, r->shards[s].master)->region]++;
    }
    for (int g = 0; now && planned && g < t->nregions && !found; g++) {
        if (now[g] <= planned[g])
            continue;
        int left = 0;
        for (int s = 0; s < r->nshards; s++)
            left += r->shards[s].master >= 0 &&
                    plan_node_host(p, r->shards[s].master)->region != g;
        snprintf(what, n,
                 "%s holds %d masters (plan: %d): losing %s now leaves %d of %d masters%s",
                 t->regions[g].name, now[g], planned[g], t->regions[g].name, left,
                 r->nshards,
                 left < mrd_majority(r->nshards) ? ", too few to vote a replica in" : "");
        found = true;
    }
    free(now);
    free(planned);
    return found;
}

/* What `meridian rebalance` would do next, decided from the same views
 * (cluster/rebalance.h), into r->rebalance. */
static void decide_rebalance(const orch_ctx *c, const views *vs, st_report *r)
{
    rebal_node *n = calloc((size_t)(r->nnodes ? r->nnodes : 1), sizeof(*n));
    if (!n)
        return;
    for (int i = 0; i < r->nnodes; i++) {
        const st_node *x = &r->nodes[i];
        n[i] = (rebal_node){.up = x->reachable,
                            .view = vs->v[i],
                            .cluster_ok = strcmp(x->cluster_state, "ok") == 0,
                            .current_epoch = x->cluster_epoch,
                            .is_master = x->is_master,
                            .offset = x->offset,
                            .link_up = x->link_up};
    }
    rebalance_decide(c->plan, n, &r->rebalance);
    r->has_rebalance = true;
    free(n);
}

/* The masters are off plan (or a replica follows another shard): what
 * `meridian rebalance` would do about it, in HINT (N bytes); "" when
 * nothing is off plan.  SKEWED: the spread warning already says a region
 * holds too many masters. */
static void rebalance_hint(const st_report *r, bool skewed, char *hint, size_t n)
{
    const rebal_decision *d = &r->rebalance;
    hint[0] = '\0';
    if (!r->has_rebalance || !rebalance_needed(d))
        return;
    char lead[96] = "";
    if (!skewed && d->off_plan)
        snprintf(lead, sizeof(lead), "%d shard%s outside %s planned region; ",
                 d->off_plan, d->off_plan == 1 ? "'s master is" : "s' masters are",
                 d->off_plan == 1 ? "its" : "their");
    if (d->kind == REBAL_REFUSED)
        snprintf(hint, n, "%s`meridian rebalance` cannot act now: %s", lead, d->text);
    else
        snprintf(hint, n, "%s`meridian rebalance` would %s", lead, d->text);
}

static void summarise(const orch_ctx *c, st_report *r)
{
    int healthy = 0, serving = 0, shard_problems = 0, first = -1;
    for (int i = 0; i < r->nnodes; i++)
        healthy += r->nodes[i].healthy;
    for (int s = 0; s < r->nshards; s++) {
        serving += r->shards[s].master >= 0;
        if (r->shards[s].problem[0] && shard_problems++ == 0)
            first = s;
    }
    if (serving < r->nshards) {
        r->health = MRD_HEALTH_CRITICAL;
        snprintf(r->summary, sizeof(r->summary), "%d of %d shards serve: shard %d: %s",
                 serving, r->nshards, first + 1, r->shards[first].problem);
    } else if (shard_problems) {
        r->health = MRD_HEALTH_WARNING;
        snprintf(r->summary, sizeof(r->summary), "shard %d: %s", first + 1,
                 r->shards[first].problem);
    } else if (healthy < r->nnodes) {
        r->health = MRD_HEALTH_WARNING;
        snprintf(r->summary, sizeof(r->summary), "degraded: %d of %d nodes healthy", healthy,
                 r->nnodes);
    } else {
        r->health = MRD_HEALTH_OK;
        snprintf(r->summary, sizeof(r->summary),
                 "healthy: %d shards serve all %d slots, %d replicas linked, "
                 "cluster_state ok on %d nodes",
                 r->nshards, STORE_CLUSTER_SLOTS, r->nnodes - r->nshards, r->nnodes);
    }
    judge_live_survival(c, r);
    char spread[256], hint[448] = "";
    bool skewed = judge_spread(c, r, spread, sizeof(spread));
    rebalance_hint(r, skewed, hint, sizeof(hint));
    if ((skewed || hint[0] || r->live_unsafe >= 0) && r->health != MRD_HEALTH_CRITICAL) {
        char why[512];
        snprintf(why, sizeof(why), "%s%s%s",
                 skewed || !r->live_losses || r->live_unsafe < 0
                     ? (skewed ? spread : "")
                     : r->live_losses[r->live_unsafe].reason,
                 (skewed || r->live_unsafe >= 0) && hint[0] ? "; " : "", hint);
        if (r->health == MRD_HEALTH_OK)
            snprintf(r->summary, sizeof(r->summary), "%s", why);
        else {
            size_t sl = strlen(r->summary);
            snprintf(r->summary + sl, sizeof(r->summary) - sl, "; %s", why);
        }
        r->health = MRD_HEALTH_WARNING;
    }
}

static void cluster_judge(const orch_ctx *c, st_report *r)
{
    views vs;
    for (int s = 0; s < r->nshards; s++)
        r->shards[s].master = -1;
    if (!views_parse(r, &vs) || vs.ref < 0) {
        views_free(&vs);
        for (int i = 0; i < r->nnodes; i++)
            r->nodes[i].lag_bytes = -1;
        r->health = MRD_HEALTH_CRITICAL;
        snprintf(r->summary, sizeof(r->summary), "no node answered with its cluster view");
        return;
    }
    for (int s = 0; s < r->nshards; s++)
        judge_shard_slots(c, &vs, s, r);
    for (int i = 0; i < r->nnodes; i++)
        judge_node(c, &vs, i, r);
    for (int s = 0; s < r->nshards; s++)
        judge_shard_replicas(c, s, r);
    decide_rebalance(c, &vs, r);
    views_free(&vs);
    summarise(c, r);
}

const status_mode status_mode_cluster = {
    .name = "cluster",
    .probes = cluster_probes,
    .judge = cluster_judge,
};
