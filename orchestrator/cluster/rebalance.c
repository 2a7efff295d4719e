/* rebalance.c - the next step that puts a cluster's masters back where the
 * plan put them (see rebalance.h).  Pure: views in, one decision out. */
#include "rebalance.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"

/* Flags that mean a view doubts a node: a failover may be under way. */
#define REBAL_DOUBT (STORE_CLUSTER_FAIL | STORE_CLUSTER_PFAIL | STORE_CLUSTER_HANDSHAKE | \
                     STORE_CLUSTER_NOADDR)

const char *rebalance_kind_name(rebal_kind k)
{
    switch (k) {
    case REBAL_MOVE:
        return "move";
    case REBAL_REPOINT:
        return "repoint";
    case REBAL_REFUSED:
        return "refused";
    case REBAL_BALANCED:
    default:
        return "balanced";
    }
}

const char *rebalance_why_name(rebal_why w)
{
    switch (w) {
    case REBAL_WHY_DOWN:
        return "node-down";
    case REBAL_WHY_FAILING:
        return "node-failing";
    case REBAL_WHY_UNSETTLED:
        return "unsettled";
    case REBAL_WHY_NO_MASTER:
        return "no-master";
    case REBAL_WHY_LAG:
        return "replica-lags";
    case REBAL_WHY_NO_TARGET:
        return "no-target";
    case REBAL_WHY_NONE:
    default:
        return "";
    }
}

int rebalance_plan_node(const mrd_plan *p, const store_cluster_node *n)
{
    for (int i = 0; n && i < p->nnodes; i++)
        if (p->nodes[i].port == n->port && strcmp(plan_node_host(p, i)->address, n->ip) == 0)
            return i;
    return -1;
}

int rebalance_reference(const store_cluster_view *const *views, int n)
{
    int best = -1, ref = -1;
    for (int i = 0; i < n; i++) {
        if (!views[i])
            continue;
        int agree = 0;
        for (int j = 0; j < n; j++)
            agree += views[j] && store_cluster_slots_agree(views[i], views[j], NULL);
        if (agree > best) {
            best = agree;
            ref = i;
        }
    }
    return ref;
}

/* ==== helpers ==== */

typedef struct decider {
    const mrd_plan *p;
    const rebal_node *n;
    rebal_decision *d;
    int ref;      /* the node whose slot map most nodes share */
    int *master;  /* per shard: plan node of its master now, -1 none */
    bool *empty;  /* per shard: no node of it owns a slot in the reference
                     view (a new shard not filled yet, a drained retiring
                     one): it has no master to rebalance, and is skipped */
} decider;

static const store_cluster_node *me(const decider *x, int i)
{
    return store_cluster_myself(x->n[i].view);
}

static int region_of(const decider *x, int i)
{
    return plan_node_host(x->p, i)->region;
}

static const char *region_name(const decider *x, int i)
{
    return x->p->topo->regions[region_of(x, i)].name;
}

/* "aps-a1 (ap-south)" */
static const char *who(const decider *x, int i, char *buf, size_t n)
{
    char name[96];
    plan_node_name(x->p, i, name, sizeof(name));
    snprintf(buf, n, "%s (%s)", name, region_name(x, i));
    return buf;
}

static void refuse(decider *x, rebal_why why, int node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse(decider *x, rebal_why why, int node, const char *fmt, ...)
{
    x->d->kind = REBAL_REFUSED;
    x->d->why = why;
    x->d->node = node;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->d->text, sizeof(x->d->text), fmt, ap);
    va_end(ap);
}

/* Shard S's master in the reference view: the plan node of the shard that
 * owns the most slots there (after a scale a shard's slots are any set,
 * not its plan range), not flagged fail there; -1 none.  *EMPTY: no node
 * of the shard owns a slot. */
static int shard_master(const decider *x, int s, bool *empty)
{
    const store_cluster_view *v = x->n[x->ref].view;
    const store_cluster_node *o = NULL;
    int m = -1;
    for (int k = 0; k < v->nnodes; k++) {
        const store_cluster_node *e = &v->nodes[k];
        if (e->nslots == 0 || (o && e->nslots <= o->nslots))
            continue;
        int i = rebalance_plan_node(x->p, e);
        if (i >= 0 && x->p->nodes[i].shard == s) {
            o = e;
            m = i;
        }
    }
    *empty = !o;
    if (!o || (o->flags & STORE_CLUSTER_FAIL))
        return -1;
    return m;
}

/* Plan node I, up, is a replica (in its own view) of a master of another
 * shard: the plan node it follows, else -1.  A node of an empty shard is
 * left alone: its shard has no master to follow. */
static int follows_other_shard(const decider *x, int i)
{
    if (!x->n[i].up || !x->n[i].view || !(me(x, i)->flags & STORE_CLUSTER_SLAVE) ||
        x->empty[x->p->nodes[i].shard])
        return -1;
    const store_cluster_node *m = store_cluster_find(x->n[i].view, me(x, i)->master_id);
    int j = rebalance_plan_node(x->p, m);
    if (j < 0 || x->p->nodes[j].shard == x->p->nodes[i].shard ||
        !(m->flags & STORE_CLUSTER_MASTER))
        return -1;
    return j;
}

/* ==== is it safe to act at all? ==== */

/* Every node answers and every view agrees with every other: same slot
 * map, same current epoch, same role, master and (masters) config epoch
 * for every node as the node says of itself, nobody doubted, every node
 * cluster_state:ok.  Otherwise refuse, naming the first node in the way. */
static bool settled(decider *x)
{
    const mrd_plan *p = x->p;
    char a[128], b[128];
    for (int i = 0; i < p->nnodes; i++)
        if (!x->n[i].up || !x->n[i].view) {
            refuse(x, REBAL_WHY_DOWN, i, "%s does not answer%s: no master moves while a node is down",
                   who(x, i, a, sizeof(a)), x->n[i].up ? " with its cluster view" : "");
            return false;
        }
    for (int i = 0; i < p->nnodes; i++) {
        const store_cluster_view *v = x->n[i].view;
        for (int k = 0; k < v->nnodes; k++) {
            const store_cluster_node *e = &v->nodes[k];
            if (!(e->flags & REBAL_DOUBT))
                continue;
            int j = rebalance_plan_node(p, e);
            char name[128];
            if (j >= 0)
                who(x, j, name, sizeof(name));
            else
                snprintf(name, sizeof(name), "%s:%d", e->ip[0] ? e->ip : "?", e->port);
            refuse(x, REBAL_WHY_FAILING, j, "%s flags %s %s: a failover may be running",
                   who(x, i, a, sizeof(a)), name,
                   e->flags & STORE_CLUSTER_FAIL    ? "fail"
                   : e->flags & STORE_CLUSTER_PFAIL ? "fail?"
                   : e->flags & STORE_CLUSTER_NOADDR ? "noaddr"
                                                     : "handshake");
            return false;
        }
    }
    for (int i = 0; i < p->nnodes; i++) {
        int slot;
        if (!x->n[i].cluster_ok) {
            refuse(x, REBAL_WHY_UNSETTLED, i, "%s says cluster_state:fail",
                   who(x, i, a, sizeof(a)));
            return false;
        }
        if (!store_cluster_slots_agree(x->n[x->ref].view, x->n[i].view, &slot)) {
            refuse(x, REBAL_WHY_UNSETTLED, i,
                   "%s disagrees on the owner of slot %d: a failover is still spreading",
                   who(x, i, a, sizeof(a)), slot);
            return false;
        }
        if (x->n[i].current_epoch != x->n[x->ref].current_epoch) {
            refuse(x, REBAL_WHY_UNSETTLED, i,
                   "%s is at current epoch %lld, %s at %lld: a failover is still spreading",
                   who(x, i, a, sizeof(a)), x->n[i].current_epoch,
                   who(x, x->ref, b, sizeof(b)), x->n[x->ref].current_epoch);
            return false;
        }
    }
    for (int i = 0; i < p->nnodes; i++)
        for (int j = 0; j < p->nnodes; j++) {
            const store_cluster_node *self = me(x, j);
            const store_cluster_node *e = store_cluster_find(x->n[i].view, self->id);
            unsigned role = STORE_CLUSTER_MASTER | STORE_CLUSTER_SLAVE;
            bool same = e && (e->flags & role) == (self->flags & role) &&
                        strcmp(e->master_id, self->master_id) == 0 &&
                        (!(self->flags & STORE_CLUSTER_MASTER) ||
                         e->config_epoch == self->config_epoch);
            if (same)
                continue;
            refuse(x, REBAL_WHY_UNSETTLED, j,
                   e ? "%s sees %s otherwise than it sees itself: a failover is still spreading"
                     : "%s does not know %s by its id yet",
                   who(x, i, a, sizeof(a)), who(x, j, b, sizeof(b)));
            return false;
        }
    for (int s = 0; s < p->nshards; s++) {
        if (x->empty[s] || (x->master[s] >= 0 && x->n[x->master[s]].is_master))
            continue;
        x->d->shard = s;
        refuse(x, REBAL_WHY_NO_MASTER, -1, "shard %d has no master serving its slots", s + 1);
        return false;
    }
    return true;
}

/* ==== choosing ==== */

/* The off-plan shard to move first: the one whose master's region holds
 * the most masters above its planned share, then the lowest number. */
static int pick_shard(const decider *x)
{
    const mrd_plan *p = x->p;
    int nr = p->topo->nregions;
    int *excess = calloc((size_t)nr, sizeof(*excess));
    if (!excess)
        return -1;
    for (int s = 0; s < p->nshards; s++) {
        if (x->empty[s])
            continue;
        excess[region_of(x, x->master[s])]++;
        excess[region_of(x, p->shards[s].master)]--;
    }
    int best = -1;
    for (int s = 0; s < p->nshards; s++) {
        int m = x->master[s];
        if (x->empty[s] || region_of(x, m) == region_of(x, p->shards[s].master))
            continue;
        if (best < 0 || excess[region_of(x, m)] > excess[region_of(x, x->master[best])])
            best = s;
    }
    free(excess);
    return best;
}

/* How far plan node I is behind master M; -1 when it is not M's linked
 * replica (in its own view and INFO). */
static long long lag_behind(const decider *x, int i, int m)
{
    const rebal_node *r = &x->n[i];
    if (r->is_master || !r->link_up || !(me(x, i)->flags & STORE_CLUSTER_SLAVE) ||
        strcmp(me(x, i)->master_id, me(x, m)->id) != 0)
        return -1;
    long long lag = x->n[m].offset - r->offset;
    return lag > 0 ? lag : 0;
}

/* Shard S moves from its master to the best replica in its planned region:
 * the plan's master, else the planned zone first, then the least lag. */
static void choose_target(decider *x, int s)
{
    const mrd_plan *p = x->p;
    const mrd_plan_shard *sh = &p->shards[s];
    int from = x->master[s], planned = sh->master;
    int zone = plan_node_host(p, planned)->zone;
    int best = -1, lagging = -1;
    long long best_lag = -1, lagging_lag = -1;
    int best_rank = 0;
    for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
        if (i == from || region_of(x, i) != region_of(x, planned))
            continue;
        long long lag = lag_behind(x, i, from);
        bool restoring = me(x, i)->flags & STORE_CLUSTER_NOFAILOVER;
        if (lag < 0 || lag > MRD_CAUGHT_UP_LAG_BYTES || restoring) {
            if (lagging < 0) {
                lagging = i;
                lagging_lag = restoring ? -2 : lag;
            }
            continue;
        }
        int rank = i == planned ? 0 : plan_node_host(p, i)->zone == zone ? 1 : 2;
        if (best < 0 || rank < best_rank || (rank == best_rank && lag < best_lag)) {
            best = i;
            best_rank = rank;
            best_lag = lag;
        }
    }
    rebal_decision *d = x->d;
    char a[128], b[128];
    d->shard = s;
    d->from = from;
    if (best >= 0) {
        d->kind = REBAL_MOVE;
        d->to = best;
        d->lag_bytes = best_lag;
        snprintf(d->text, sizeof(d->text), "move shard %d's master from %s to %s", s + 1,
                 who(x, from, a, sizeof(a)), who(x, best, b, sizeof(b)));
        return;
    }
    if (lagging >= 0) {
        d->to = lagging;
        d->lag_bytes = lagging_lag >= 0 ? lagging_lag : -1;
        who(x, lagging, b, sizeof(b));
        if (lagging_lag == -2)
            refuse(x, REBAL_WHY_LAG, lagging,
                   "shard %d's master stays on %s: %s is still being restored (nofailover)",
                   s + 1, who(x, from, a, sizeof(a)), b);
        else if (lagging_lag < 0)
            refuse(x, REBAL_WHY_LAG, lagging,
                   "shard %d's master stays on %s: %s is not its linked replica", s + 1,
                   who(x, from, a, sizeof(a)), b);
        else
            refuse(x, REBAL_WHY_LAG, lagging,
                   "shard %d's master stays on %s: %s lags %lld bytes (at most %d may be "
                   "moved to)",
                   s + 1, who(x, from, a, sizeof(a)), b, lagging_lag, MRD_CAUGHT_UP_LAG_BYTES);
        return;
    }
    refuse(x, REBAL_WHY_NO_TARGET, planned,
           "shard %d's master stays on %s: it has no replica in %s to hand over to", s + 1,
           who(x, from, a, sizeof(a)), region_name(x, planned));
}

void rebalance_decide(const mrd_plan *p, const rebal_node *nodes, rebal_decision *d)
{
    *d = (rebal_decision){.kind = REBAL_BALANCED, .shard = -1, .from = -1, .to = -1,
                          .node = -1, .lag_bytes = -1};
    int *master = calloc((size_t)(p->nshards ? p->nshards : 1), sizeof(*master));
    bool *empty = calloc((size_t)(p->nshards ? p->nshards : 1), sizeof(*empty));
    const store_cluster_view **views = calloc((size_t)(p->nnodes ? p->nnodes : 1),
                                              sizeof(*views));
    decider x = {.p = p, .n = nodes, .d = d, .master = master, .empty = empty};
    if (!master || !empty || !views) {
        snprintf(d->text, sizeof(d->text), "out of memory");
        d->kind = REBAL_REFUSED;
        free(master);
        free(empty);
        free(views);
        return;
    }
    /* the up nodes' views: the reference is the map most of them share */
    for (int i = 0; i < p->nnodes; i++)
        views[i] = nodes[i].up ? nodes[i].view : NULL;
    x.ref = rebalance_reference(views, p->nnodes);
    free(views);
    if (x.ref < 0) {
        refuse(&x, REBAL_WHY_DOWN, -1, "no node answered with its cluster view");
        free(master);
        free(empty);
        return;
    }
    for (int s = 0; s < p->nshards; s++) {
        master[s] = shard_master(&x, s, &empty[s]);
        d->off_plan += master[s] >= 0 &&
                       region_of(&x, master[s]) != region_of(&x, p->shards[s].master);
    }
    int misplaced = -1;
    for (int i = 0; i < p->nnodes; i++)
        if (follows_other_shard(&x, i) >= 0 && d->misplaced++ == 0)
            misplaced = i;
    /* settled() refuses into D: judge it on a copy, keep what it found */
    rebal_decision need = *d;
    d->settled = settled(&x);
    rebal_decision verdict = *d;
    *d = need;
    d->settled = verdict.settled;
    if (!d->settled)
        snprintf(d->unsettled, sizeof(d->unsettled), "%s", verdict.text);
    if (d->off_plan == 0 && d->misplaced == 0) {
        snprintf(d->text, sizeof(d->text),
                 "balanced: every shard's master is in its planned region and every replica "
                 "follows its own shard's master");
    } else if (!d->settled) {
        verdict.off_plan = d->off_plan;
        verdict.misplaced = d->misplaced;
        verdict.settled = false;
        snprintf(verdict.unsettled, sizeof(verdict.unsettled), "%s", verdict.text);
        *d = verdict;
    } else if (misplaced >= 0) {
        int s = p->nodes[misplaced].shard;
        char a[128], b[128], c[128];
        d->kind = REBAL_REPOINT;
        d->shard = s;
        d->node = misplaced;
        d->to = master[s];
        snprintf(d->text, sizeof(d->text),
                 "repoint %s, a replica of shard %d that follows %s, to its shard's master %s",
                 who(&x, misplaced, a, sizeof(a)), s + 1,
                 who(&x, follows_other_shard(&x, misplaced), b, sizeof(b)),
                 who(&x, master[s], c, sizeof(c)));
    } else {
        int s = pick_shard(&x);
        if (s >= 0)
            choose_target(&x, s);
        else
            refuse(&x, REBAL_WHY_NONE, -1, "out of memory");
    }
    free(master);
    free(empty);
}
