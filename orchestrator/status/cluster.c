/* cluster.c - `meridian status` in cluster mode: shards of a Redis
 * Cluster, each with the master that serves its slots.
 *
 * Every node is asked INFO replication, the live settings, CLUSTER NODES
 * and CLUSTER INFO in one round trip.  The slot map most nodes share is
 * the cluster's; a node with another one disagrees.  A shard's slots are
 * the slots that map gives any node of the shard: its plan range only in
 * a fresh cluster, any set after a scale (cluster/reshard.h moves the
 * fewest).  Its master is the node of the shard that owns them and acts
 * as a master; its replicas should be linked to it and caught up, one of
 * them outside its region.  How many slots it owns is judged against its
 * quota (the plan's nslots) only to tell a scale under way or left
 * unfinished (st_shard_state), never as an error.  The masters' spread is
 * judged as the planner judges a layout: losing any one region (or zone)
 * must leave a majority of masters to vote a replica in.  Pure (see
 * status_mode.h). */
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
    /* the reference: the map that agrees with the most others, as
     * rebalance judges it */
    vs->ref = rebalance_reference((const store_cluster_view *const *)vs->v, vs->n);
    return true;
}

/* ==== the slot map ==== */

#define SLOT_NOBODY (-1)  /* slot_shard(): no node owns the slot */
#define SLOT_OUTSIDE (-2) /* slot_shard(): a node outside the deployment does */

/* Per node of the reference view, its plan node (-1: outside the
 * deployment); new, NULL on OOM. */
static int *plan_nodes_of(const orch_ctx *c, const store_cluster_view *ref)
{
    int *of = malloc(sizeof(*of) * (size_t)(ref->nnodes ? ref->nnodes : 1));
    for (int k = 0; of && k < ref->nnodes; k++)
        of[k] = rebalance_plan_node(c->plan, &ref->nodes[k]);
    return of;
}

/* The plan shard whose node owns SLOT in REF (OF: plan_nodes_of()), or
 * SLOT_NOBODY, SLOT_OUTSIDE. */
static int slot_shard(const orch_ctx *c, const store_cluster_view *ref, const int *of, int slot)
{
    uint16_t o = ref->owner[slot];
    if (o == STORE_CLUSTER_NONE)
        return SLOT_NOBODY;
    return of[o] < 0 ? SLOT_OUTSIDE : c->plan->nodes[of[o]].shard;
}

/* Every shard's slots_owned and ranges, and the slots no shard owns
 * (r->slots_unassigned, slots_outside, slots_problem).  False on OOM. */
static bool map_slots(const orch_ctx *c, const store_cluster_view *ref, const int *of,
                      st_report *r)
{
    int first_unassigned = -1, first_outside = -1, prev = SLOT_NOBODY;
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS; slot++) {
        int s = slot_shard(c, ref, of, slot);
        if (s == SLOT_NOBODY && r->slots_unassigned++ == 0)
            first_unassigned = slot;
        else if (s == SLOT_OUTSIDE && r->slots_outside++ == 0)
            first_outside = slot;
        else if (s >= 0) {
            r->shards[s].slots_owned++;
            r->shards[s].nranges += s != prev;
        }
        prev = s;
    }
    for (int s = 0; s < r->nshards; s++) {
        st_shard *x = &r->shards[s];
        if (x->nranges && !(x->ranges = calloc((size_t)x->nranges, sizeof(*x->ranges))))
            return false;
        x->nranges = 0;
    }
    prev = SLOT_NOBODY;
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS; slot++) {
        int s = slot_shard(c, ref, of, slot);
        if (s >= 0 && s == prev)
            r->shards[s].ranges[r->shards[s].nranges - 1].last = slot;
        else if (s >= 0)
            r->shards[s].ranges[r->shards[s].nranges++] = (st_range){slot, slot};
        prev = s;
    }
    int n = r->slots_unassigned ? r->slots_unassigned : r->slots_outside;
    if (r->slots_unassigned)
        snprintf(r->slots_problem, sizeof(r->slots_problem),
                 "%d slot%s (the first %d) %s not assigned: no node serves %s", n,
                 n == 1 ? "" : "s", first_unassigned, n == 1 ? "is" : "are",
                 n == 1 ? "it" : "them");
    else if (r->slots_outside) {
        const store_cluster_node *o = store_cluster_slot_owner(ref, first_outside);
        snprintf(r->slots_problem, sizeof(r->slots_problem),
                 "%d slot%s (the first %d) %s owned by %s:%d, a node outside the deployment",
                 n, n == 1 ? "" : "s", first_outside, n == 1 ? "is" : "are",
                 o->ip[0] ? o->ip : "?", o->port);
    }
    return true;
}

/* X's slots for a sentence: "slot 7", "slots 0-5460", "3277 slots in 2
 * ranges". */
static void slots_words(const st_shard *x, char *buf, size_t n)
{
    if (x->nranges == 1 && x->slots_owned == 1)
        snprintf(buf, n, "slot %d", x->ranges[0].first);
    else if (x->nranges == 1)
        snprintf(buf, n, "slots %d-%d", x->ranges[0].first, x->ranges[0].last);
    else
        snprintf(buf, n, "%d slots in %d ranges", x->slots_owned, x->nranges);
}

/* Shard S's master in the reference view REF (OF: plan_nodes_of()): of
 * its nodes there, the one that owns the most slots; when none owns any
 * (a new shard not filled yet, a drained one), one the view names a
 * master, undoubted first, then the plan's.  Borrowed; NULL when none,
 * else *M is its plan node. */
static const store_cluster_node *shard_owner(const orch_ctx *c, const store_cluster_view *ref,
                                             const int *of, int s, int *m)
{
    const mrd_plan *p = c->plan;
    const store_cluster_node *best = NULL;
    int best_score = -1;
    *m = -1;
    for (int k = 0; k < ref->nnodes; k++) {
        const store_cluster_node *n = &ref->nodes[k];
        if (of[k] < 0 || p->nodes[of[k]].shard != s || !(n->flags & STORE_CLUSTER_MASTER))
            continue;
        bool doubted = n->flags & (STORE_CLUSTER_FAIL | STORE_CLUSTER_PFAIL);
        /* slots first; among empty masters, undoubted, then the plan's */
        int score = n->nslots > 0 ? 4 + n->nslots
                                  : 2 * !doubted + (of[k] == p->shards[s].master);
        if (score > best_score) {
            best = n;
            best_score = score;
            *m = of[k];
        }
    }
    return best;
}

/* Shard S in the reference map: its master, where its slots stand against
 * its quota (state, scale), and what is wrong (problem). */
static void judge_shard_slots(const orch_ctx *c, const store_cluster_view *ref, const int *of,
                              int s, st_report *r)
{
    const mrd_plan_shard *sh = &c->plan->shards[s];
    st_shard *x = &r->shards[s];
    int m;
    const store_cluster_node *owner = shard_owner(c, ref, of, s, &m);
    if (owner && !(owner->flags & (STORE_CLUSTER_FAIL | STORE_CLUSTER_PFAIL)) &&
        r->nodes[m].reachable && r->nodes[m].is_master) {
        x->master = m;
        x->slots_served = owner->nslots;
    }
    int owned = x->slots_owned, quota = sh->nslots;
    if (owned > 0 && x->master < 0)
        x->state = ST_SHARD_DOWN;
    else if (sh->retiring)
        x->state = owned ? ST_SHARD_DRAINING : ST_SHARD_RETIRING;
    else if (owned == quota)
        x->state = ST_SHARD_SERVING;
    else
        x->state = sh->added && owned < quota ? ST_SHARD_FILLING : ST_SHARD_UNBALANCED;

    if (sh->retiring && owned)
        snprintf(x->scale, sizeof(x->scale),
                 "shard %d is being drained: %d slot%s left, then its nodes retire", s + 1,
                 owned, owned == 1 ? "" : "s");
    else if (sh->retiring)
        snprintf(x->scale, sizeof(x->scale),
                 "shard %d is drained: it retires when `meridian deploy` finishes", s + 1);
    else if (sh->added && owned < quota)
        snprintf(x->scale, sizeof(x->scale), "shard %d is being filled: %d of %d slots", s + 1,
                 owned, quota);
    else if (owned != quota)
        snprintf(x->scale, sizeof(x->scale),
                 "shard %d owns %d slot%s, the plan gives it %d: `meridian deploy` moves the "
                 "difference",
                 s + 1, owned, owned == 1 ? "" : "s", quota);

    char words[64], name[96];
    if (x->state == ST_SHARD_DOWN) {
        slots_words(x, words, sizeof(words));
        snprintf(x->problem, sizeof(x->problem), "%s %s no live master: shard %d does not serve",
                 words, owned == 1 ? "has" : "have", s + 1);
    } else if (x->master < 0 && !sh->retiring) {
        snprintf(x->problem, sizeof(x->problem),
                 "no node of it answers as a master: no slot can move to it");
    } else if (x->master >= 0 && x->slots_served < owned) {
        /* another node of the shard owns the rest: two masters */
        for (int k = 0; k < ref->nnodes; k++) {
            const store_cluster_node *n = &ref->nodes[k];
            if (n == owner || of[k] < 0 || c->plan->nodes[of[k]].shard != s || !n->nslots)
                continue;
            plan_node_name(c->plan, of[k], name, sizeof(name));
            snprintf(x->problem, sizeof(x->problem),
                     "%d of its slots are owned by %s, a second master of the shard",
                     owned - x->slots_served, name);
            break;
        }
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
    if (!n->reachable && x->state == ST_SHARD_RETIRING) {
        /* the deploy stops a drained shard's nodes before it forgets them */
        char was[sizeof(n->problem)];
        snprintf(was, sizeof(was), "%s", n->problem);
        snprintf(n->problem, sizeof(n->problem), "retiring with shard %d (%s)", n->shard + 1,
                 was[0] ? was : "does not answer");
    }
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
    if (n->is_master && n->slots)
        snprintf(n->problem, sizeof(n->problem),
                 lead ? "a second master of its shard, owning %d slots"
                      : "owns %d slots but is not its shard's live master",
                 n->slots);
    else if (n->is_master)
        snprintf(n->problem, sizeof(n->problem),
                 "a master with no slots: not a replica of its shard");
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
    if (x->master < 0 || x->state == ST_SHARD_RETIRING)
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
        if (p->shards[s].retiring) /* no master once the plan is carried out */
            continue;
        planned[plan_node_host(p, p->shards[s].master)->region]++;
        if (r->shards[s].master >= 0)
            now[plan_node_host(p, r->shards[s].master)->region]++;
    }
    for (int g = 0; now && planned && g < t->nregions && !found; g++) {
        if (now[g] <= planned[g])
            continue;
        int left = 0, S = p->nshards - p->nretiring;
        for (int s = 0; s < r->nshards; s++)
            left += !p->shards[s].retiring && r->shards[s].master >= 0 &&
                    plan_node_host(p, r->shards[s].master)->region != g;
        snprintf(what, n,
                 "%s holds %d masters (plan: %d): losing %s now leaves %d of %d masters%s",
                 t->regions[g].name, now[g], planned[g], t->regions[g].name, left, S,
                 left < mrd_majority(S) ? ", too few to vote a replica in" : "");
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

/* Append "; WHAT" (or WHAT to an empty BUF) to BUF (N bytes). */
static void add_finding(char *buf, size_t n, const char *what)
{
    size_t len = strlen(buf);
    if (what[0] && len < n)
        snprintf(buf + len, n - len, "%s%s", len ? "; " : "", what);
}

/* Health and summary from the shards and nodes: CRITICAL when slots are
 * served by nobody (a shard's master is down, or slots are not assigned);
 * WARNING for slots a foreign node owns, a shard's problem, a scale under
 * way or left unfinished, and unhealthy nodes.  A drained retiring shard
 * is no finding: its nodes are not counted, and the summary only says it
 * retires. */
static void summarise(const orch_ctx *c, st_report *r)
{
    int healthy = 0, counted = 0, owning = 0, serving = 0, down = -1, first = -1;
    for (int i = 0; i < r->nnodes; i++) {
        if (r->shards[r->nodes[i].shard].state == ST_SHARD_RETIRING)
            continue;
        counted++;
        healthy += r->nodes[i].healthy;
    }
    char scales[512] = "", retiring[512] = "", what[512] = "";
    for (int s = 0; s < r->nshards; s++) {
        const st_shard *x = &r->shards[s];
        owning += x->slots_owned > 0;
        serving += x->slots_owned > 0 && x->master >= 0;
        if (x->state == ST_SHARD_DOWN && down < 0)
            down = s;
        if (x->problem[0] && first < 0)
            first = s;
        add_finding(x->state == ST_SHARD_RETIRING ? retiring : scales,
                    sizeof(scales), x->scale);
    }
    if (down >= 0 || r->slots_unassigned) {
        r->health = MRD_HEALTH_CRITICAL;
        if (down >= 0)
            snprintf(what, sizeof(what), "%d of %d shards serve: shard %d: %s", serving,
                     owning, down + 1, r->shards[down].problem);
        if (r->slots_unassigned)
            add_finding(what, sizeof(what), r->slots_problem);
    } else {
        add_finding(what, sizeof(what), r->slots_problem);
        if (first >= 0) {
            char one[200];
            snprintf(one, sizeof(one), "shard %d: %s", first + 1, r->shards[first].problem);
            add_finding(what, sizeof(what), one);
        }
        add_finding(what, sizeof(what), scales);
        if (healthy < counted) {
            char one[64];
            snprintf(one, sizeof(one), "degraded: %d of %d nodes healthy", healthy, counted);
            add_finding(what, sizeof(what), one);
        }
        r->health = what[0] ? MRD_HEALTH_WARNING : MRD_HEALTH_OK;
        if (!what[0])
            snprintf(what, sizeof(what),
                     "healthy: %d shards serve all %d slots, %d replicas linked, "
                     "cluster_state ok on %d nodes",
                     owning, STORE_CLUSTER_SLOTS, counted - owning, counted);
        add_finding(what, sizeof(what), retiring);
    }
    snprintf(r->summary, sizeof(r->summary), "%s", what);
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
    int *of = NULL;
    bool parsed = views_parse(r, &vs) && vs.ref >= 0;
    if (parsed && (!(of = plan_nodes_of(c, vs.v[vs.ref])) ||
                   !map_slots(c, vs.v[vs.ref], of, r)))
        parsed = false; /* out of memory */
    if (!parsed) {
        free(of);
        views_free(&vs);
        for (int i = 0; i < r->nnodes; i++)
            r->nodes[i].lag_bytes = -1;
        r->health = MRD_HEALTH_CRITICAL;
        snprintf(r->summary, sizeof(r->summary), "no node answered with its cluster view");
        return;
    }
    for (int s = 0; s < r->nshards; s++)
        judge_shard_slots(c, vs.v[vs.ref], of, s, r);
    free(of);
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
