/* plan.c - placement and survivability matrix (pure: no I/O).
 *
 * Everything here is arithmetic over the topology's arrays, so the whole
 * module is unit-tested from topologies built in memory.  The sentences in
 * mrd_domain_loss.reason are the ones `meridian plan` shows an operator:
 * each names the failure domain, what its loss leaves, and one concrete
 * change to the topology file that fixes it.
 */
#include "plan.h"
#include "plan_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ==== PLACEMENT ======================================================== */

/* The initial leader: the first host that is not a spare of the first
 * zone with one in the leader region; -1 when that region has none. */
static int leader_host(const mrd_topology *t, int region)
{
    const mrd_region *r = &t->regions[region];
    for (int z = r->first_zone; z < r->first_zone + r->nzones; z++)
        for (int h = t->zones[z].first_host; h < t->zones[z].first_host + t->zones[z].nhosts;
             h++)
            if (!t->hosts[h].spare)
                return h;
    return -1;
}

/* Round-robin, one sentinel at a time, on the free host (no sentinel yet)
 * with the smallest (sentinels in its region, region position counted from
 * the leader's region in file order, sentinels in its zone, file
 * position): one sentinel per region per round, zones rotating within a
 * region, and a region that runs out of hosts gives its turn to the next.
 * Per-region counts differ by at most one unless a region lacks hosts.
 *
 * Rounds start at the leader's region so that, when the count does not
 * divide evenly, the leader's region is one of those holding the most.
 * The matrix is computed for the initial leader, and a region holding more
 * sentinels than the leader's would pass the check (the leader keeps
 * writing) yet be fatal as soon as a failover moved the leader there; with
 * this order losing any region is at most as bad, for the sentinels, as
 * losing the leader's region, which the check does judge. */
static mrd_rc place_sentinels(const mrd_topology *t, mrd_plan *p, int lr)
{
    int *per_region = calloc((size_t)t->nregions, sizeof(int));
    int *per_zone = calloc((size_t)t->nzones, sizeof(int));
    if (!per_region || !per_zone) {
        free(per_region);
        free(per_zone);
        return MRD_ERR_NOMEM;
    }
    for (int s = 0; s < p->nsentinels; s++) {
        int best = -1;
        for (int h = 0; h < t->nhosts; h++) {
            if (p->hosts[h].sentinel || t->hosts[h].spare)
                continue;
            if (best < 0) {
                best = h;
                continue;
            }
            const mrd_host *a = &t->hosts[h], *b = &t->hosts[best];
            int ra = per_region[a->region], rb = per_region[b->region];
            int za = per_zone[a->zone], zb = per_zone[b->zone];
            int oa = (a->region - lr + t->nregions) % t->nregions;
            int ob = (b->region - lr + t->nregions) % t->nregions;
            if (ra < rb || (ra == rb && (oa < ob || (oa == ob && za < zb))))
                best = h;
        }
        if (best < 0) /* callers checked count <= hosts */
            break;
        p->hosts[best].sentinel = true;
        per_region[t->hosts[best].region]++;
        per_zone[t->hosts[best].zone]++;
    }
    free(per_region);
    free(per_zone);
    return MRD_OK;
}

/* ==== SURVIVABILITY ==================================================== */

/* The smallest change of sentinel.count, near N, for which N' sentinels
 * spread evenly over D domains survive the loss of any one domain:
 * ceil(N'/D) <= N' - majority(N').  0 when none fits the hosts. */
static int spreadable_count(int n, int domains, int nhosts)
{
    int max = nhosts < MRD_MAX_SENTINELS ? nhosts : MRD_MAX_SENTINELS;
    for (int d = 1; d <= MRD_MAX_SENTINELS; d++) {
        int cand[2] = { n - d, n + d };
        for (int i = 0; i < 2; i++) {
            int c = cand[i];
            if (c < 3 || c > max)
                continue;
            int per = (c + domains - 1) / domains;
            if (per <= c - mrd_majority(c))
                return c;
        }
    }
    return 0;
}

/* The fix for "losing this domain leaves fewer sentinels than the
 * majority".  Written into BUF as the part after the colon. */
static void sentinel_fix(const mrd_plan *p, mrd_domain_kind kind, char *buf,
                         size_t n)
{
    const mrd_topology *t = p->topo;
    const char *k = plan_kind_name(kind);
    int domains = kind == MRD_DOMAIN_REGION ? t->nregions : t->nzones;
    int count = p->nsentinels;

    if (domains == 1) {
        snprintf(buf, n,
                 "add two more %ss, each with a host for a sentinel%s, or "
                 "lower \"survive\"",
                 k, count < 3 ? ", and set sentinel.count to 3" : "");
    } else if (domains == 2) {
        snprintf(buf, n, "put a sentinel in a third %s%s", k,
                 count < 3 ? " and set sentinel.count to 3" : "");
    } else if (count < 3) {
        snprintf(buf, n, "set sentinel.count to 3 so that three %ss hold one each",
                 k);
    } else {
        int at_most = count - p->majority;
        int per = (count + domains - 1) / domains;
        int better = per > at_most ? spreadable_count(count, domains, t->nhosts)
                                   : 0;
        if (better > 0)
            snprintf(buf, n,
                     "set sentinel.count to %d: %d sentinels cannot be spread "
                     "over %d %ss so that any one can be lost",
                     better, count, domains, k);
        else
            snprintf(buf, n,
                     "spread sentinels: at most %d per %s; add hosts to the "
                     "other %ss or lower sentinel.count",
                     at_most, k, k);
    }
}

static void explain(const mrd_plan *p, mrd_domain_loss *l, int nodes_outside)
{
    const mrd_topology *t = p->topo;
    const char *k = plan_kind_name(l->kind);
    int domains = l->kind == MRD_DOMAIN_REGION ? t->nregions : t->nzones;
    int mrw = t->settings.consistency.min_replicas_to_write;

    l->reason[0] = '\0';
    if (l->writes_resume)
        return;

    if (!l->leader_lost) {
        /* The leader stays up; only min-replicas-to-write can stop it. */
        plan_set_reason(l,
                   "losing %s %s leaves %d %s, below min_replicas_to_write %d: "
                   "the leader would refuse writes; add replicas in other %ss "
                   "or lower consistency.min_replicas_to_write",
                   k, l->name, l->replicas_left,
                   plan_plural(l->replicas_left, "replica", "replicas"), mrw, k);
        return;
    }
    if (nodes_outside == 0) {
        if (domains == 1)
            plan_set_reason(l,
                       "losing %s %s leaves no replica outside it to promote: "
                       "add hosts in two more %ss (a sentinel majority must "
                       "survive too), or lower \"survive\"",
                       k, l->name, k);
        else
            plan_set_reason(l,
                       "losing %s %s leaves no replica outside it to promote: "
                       "add a host in another %s",
                       k, l->name, k);
        return;
    }
    if (l->sentinels_left < l->majority) {
        char fix[160];
        sentinel_fix(p, l->kind, fix, sizeof(fix));
        plan_set_reason(l, "losing %s %s leaves %d of %d sentinels, below the "
                      "majority of %d: %s",
                   k, l->name, l->sentinels_left, p->nsentinels, l->majority,
                   fix);
        return;
    }
    if (l->sentinels_left < l->quorum) {
        plan_set_reason(l,
                   "losing %s %s leaves %d of %d sentinels, below the quorum "
                   "of %d: lower sentinel.quorum to %d or less (0 means the "
                   "majority)",
                   k, l->name, l->sentinels_left, p->nsentinels, l->quorum,
                   l->sentinels_left);
        return;
    }
    if (l->replicas_left < 1) { /* unreachable: a sentinel host runs a node */
        plan_set_reason(l,
                   "losing %s %s leaves no replica outside it to promote: add "
                   "a host in another %s",
                   k, l->name, k);
        return;
    }
    plan_set_reason(l,
               "losing %s %s leaves %d %s, %d after one is promoted, below "
               "min_replicas_to_write %d: the new leader would refuse writes; "
               "add replicas in other %ss or lower "
               "consistency.min_replicas_to_write",
               k, l->name, l->replicas_left,
               plan_plural(l->replicas_left, "replica", "replicas"),
               l->replicas_left - 1, mrw, k);
}

/* Why the live state would not survive losing L's domain (a state, not a
 * change to the file: the topology itself passed plan_check). */
static void explain_live(const mrd_plan *p, mrd_domain_loss *l)
{
    const char *k = plan_kind_name(l->kind);
    int mrw = p->topo->settings.consistency.min_replicas_to_write;

    l->reason[0] = '\0';
    if (l->writes_resume)
        return;
    if (!l->leader_lost)
        plan_set_reason(l,
                   "losing %s %s now leaves the leader %d linked %s, below "
                   "min_replicas_to_write %d: it would refuse writes",
                   k, l->name, l->replicas_left,
                   plan_plural(l->replicas_left, "replica", "replicas"), mrw);
    else if (l->sentinels_left < l->majority || l->sentinels_left < l->quorum)
        plan_set_reason(l,
                   "losing %s %s now leaves %d of %d sentinels up, below the %s "
                   "of %d: no failover",
                   k, l->name, l->sentinels_left, p->nsentinels,
                   l->sentinels_left < l->majority ? "majority" : "quorum",
                   l->sentinels_left < l->majority ? l->majority : l->quorum);
    else if (l->promotable_left < 1)
        plan_set_reason(l,
                   "losing %s %s now leaves no promotable replica outside it: "
                   "%d linked %s there, none with a replica-priority above 0",
                   k, l->name, l->replicas_left,
                   plan_plural(l->replicas_left, "replica", "replicas"));
    else
        plan_set_reason(l,
                   "losing %s %s now leaves %d linked %s, %d after one is "
                   "promoted, below min_replicas_to_write %d: the new leader "
                   "would refuse writes",
                   k, l->name, l->replicas_left,
                   plan_plural(l->replicas_left, "replica", "replicas"),
                   l->replicas_left - 1, mrw);
}

/* Sentinel mode: fill L for the loss of domain KIND/INDEX.  LIVE NULL:
 * the plan (every placed sentinel up, the shard's initial master, every
 * other node a promotable replica); else what the live state holds. */
static void sentinel_loss(const mrd_plan *p, mrd_domain_loss *l, mrd_domain_kind kind,
                          int index, const mrd_live *live)
{
    const mrd_topology *t = p->topo;
    const mrd_plan_shard *sh = &p->shards[0];
    int master = live ? live->master : sh->master;
    int nodes_out = 0;

    plan_loss_init(p, l, kind, index);
    l->leader_lost = plan_host_in_domain(plan_node_host(p, master), kind, index);
    for (int h = 0; h < t->nhosts; h++)
        if (!plan_host_in_domain(&t->hosts[h], kind, index))
            l->sentinels_left += live ? live->sentinel_up[h] : p->hosts[h].sentinel;
    for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
        if (plan_host_in_domain(plan_node_host(p, i), kind, index))
            continue;
        nodes_out++;
        bool replica = live ? live->nodes[i].replica_ok : i != master;
        bool promotable = live ? live->nodes[i].replica_ok && live->nodes[i].promotable
                               : i != master;
        l->replicas_left += replica;
        l->promotable_left += promotable;
    }
    l->majority = p->majority;
    l->quorum = p->quorum;

    /* Could the surviving sentinels carry out a failover (needed now when
     * the leader was lost, later otherwise)?  ODOWN needs the quorum;
     * authorisation needs the majority of all sentinels. */
    l->failover_possible = l->sentinels_left >= l->majority &&
                           l->sentinels_left >= l->quorum &&
                           l->promotable_left >= 1;

    int mrw = t->settings.consistency.min_replicas_to_write;
    if (!l->leader_lost)
        l->writes_resume = l->replicas_left >= mrw;
    else /* the promoted replica stops counting as a replica */
        l->writes_resume = l->failover_possible && l->replicas_left - 1 >= mrw;

    if (live)
        explain_live(p, l);
    else
        explain(p, l, nodes_out);
}

/* Sentinel mode: a replica on host H gets PRIO_BASE in the leader
 * region LR, PRIO_PER_REGION_HOP more per region between them in file
 * order; the master PRIO_BASE. */
static int sentinel_priority_on(const mrd_topology *t, int h, int lr, bool master)
{
    return master ? PRIO_BASE : PRIO_BASE + PRIO_PER_REGION_HOP * abs(t->hosts[h].region - lr);
}

static int sentinel_priority(const mrd_plan *p, int i)
{
    const mrd_topology *t = p->topo;
    return sentinel_priority_on(t, p->nodes[i].host,
                                topology_find_region(t, t->settings.store.leader_region),
                                p->nodes[i].master);
}

/* Sentinel mode: one shard, one node per host (spares aside) on
 * store.port, the master in store.leader_region, sentinels spread (see
 * place_sentinels). */
static mrd_rc sentinel_place(const mrd_topology *t, const mrd_placement *prev, mrd_plan *p,
                             mrd_error *err)
{
    (void)prev; /* one node per host: nothing to keep */
    int hosts = topology_placeable_hosts(t);
    if (t->settings.sentinel.count < 1)
        return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                            "sentinel.count is %d: set it to at least 1",
                            t->settings.sentinel.count);
    if (t->settings.sentinel.count > hosts)
        return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                            "sentinel.count is %d but the topology has %d "
                            "%s%s and a host runs at most one sentinel: lower "
                            "sentinel.count to %d or add hosts",
                            t->settings.sentinel.count, hosts,
                            plan_plural(hosts, "host", "hosts"),
                            hosts < t->nhosts ? " that are not spares" : "", hosts);
    p->nsentinels = t->settings.sentinel.count;
    p->majority = mrd_majority(p->nsentinels);
    p->quorum = t->settings.sentinel.quorum > 0 ? t->settings.sentinel.quorum : p->majority;
    int lr = topology_find_region(t, t->settings.store.leader_region);
    if (lr < 0)
        return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                            "store.leader_region \"%s\" is not a region of "
                            "the topology: name one of its regions",
                            t->settings.store.leader_region);
    int leader = leader_host(t, lr);
    if (leader < 0)
        return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                            "store.leader_region \"%s\" has no host that is not a "
                            "spare: add one or choose another region",
                            t->settings.store.leader_region);
    p->nshards = 1;
    p->nnodes = hosts;
    p->shards = calloc(1, sizeof(*p->shards));
    p->nodes = calloc((size_t)hosts, sizeof(*p->nodes));
    if (!p->shards || !p->nodes)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building the plan");
    mrd_plan_shard *sh = &p->shards[0];
    snprintf(sh->name, sizeof(sh->name), "%s", t->name);
    sh->first = 0;
    sh->nnodes = hosts;
    sh->slot_first = 0;
    sh->slot_last = 16383;
    sh->nslots = 16384;
    int n = 0; /* without spares, node i runs on host i */
    for (int h = 0; h < t->nhosts; h++) {
        if (t->hosts[h].spare)
            continue;
        if (h == leader)
            sh->master = n;
        p->nodes[n++] = (mrd_plan_node){
            .host = h,
            .shard = 0,
            .port = t->settings.store.port,
            .replica_priority = sentinel_priority_on(t, h, lr, h == leader),
            .master = h == leader,
        };
    }
    if (place_sentinels(t, p, lr) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building the plan");
    return MRD_OK;
}

static json_t *sentinel_host_json(const mrd_plan *p, int h);
static json_t *sentinel_loss_json(const mrd_plan *p, const mrd_domain_loss *l);
static json_t *sentinel_to_json(const mrd_plan *p, json_t *hosts, json_t *shards,
                                json_t *losses);
static void sentinel_print(FILE *out, const mrd_plan *p);

const plan_mode plan_mode_sentinel = {
    .name = "sentinel",
    .place = sentinel_place,
    .loss = sentinel_loss,
    .host_json = sentinel_host_json,
    .loss_json = sentinel_loss_json,
    .to_json = sentinel_to_json,
    .print = sentinel_print,
    .priority = sentinel_priority,
};

const plan_mode *plan_mode_for(mrd_mode mode)
{
    switch (mode) {
    case MRD_MODE_SENTINEL:
        return &plan_mode_sentinel;
    case MRD_MODE_CLUSTER:
        return &plan_mode_cluster;
    }
    return NULL;
}

int plan_node_on(const mrd_plan *p, int shard, int host)
{
    const mrd_plan_shard *sh = &p->shards[shard];
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        if (p->nodes[i].host == host)
            return i;
    return -1;
}

/* ==== PUBLIC =========================================================== */

mrd_rc plan_placement(const mrd_plan *p, bool without_retiring, mrd_placement *out,
                      mrd_error *err)
{
    memset(out, 0, sizeof(*out));
    out->nodes = calloc(p->nnodes ? (size_t)p->nnodes : 1, sizeof(*out->nodes));
    if (!out->nodes)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (int s = 0; s < p->nshards; s++) {
        const mrd_plan_shard *sh = &p->shards[s];
        if (without_retiring && sh->retiring)
            continue;
        out->nshards++;
        for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
            mrd_placed_node *x = &out->nodes[out->nnodes++];
            snprintf(x->host, sizeof(x->host), "%s", plan_node_host(p, i)->name);
            x->port = p->nodes[i].port;
            x->bus_port = p->nodes[i].bus_port;
            x->shard = s;
            x->master = i == sh->master;
        }
    }
    return MRD_OK;
}

/* ==== REPLACEMENTS ===================================================== */

/* Each replacement of R as host indices, checked, into P's hosts
 * (stands_for, replaced_by, generation): before placing, so that the
 * modes know which hosts were replaced. */
static mrd_rc resolve_replacements(mrd_plan *p, const mrd_replacements *r, mrd_error *err)
{
    const mrd_topology *t = p->topo;
    for (int k = 0; r && k < r->n; k++) {
        const mrd_replacement *x = &r->items[k];
        int l = topology_find_host(t, x->host), s = topology_find_host(t, x->by);
        if (l < 0 || s < 0)
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "host %s, %s at generation %d, is not in the topology: put "
                                "it back (a replacement is recorded in the state dir, the "
                                "topology keeps both hosts)",
                                l < 0 ? x->host : x->by,
                                l < 0 ? "replaced" : "standing in", x->generation);
        if (!t->hosts[s].spare)
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "host %s stands in for %s (generation %d) but is not a spare: "
                                "mark it \"spare\": true in the topology",
                                x->by, x->host, x->generation);
        if (k > 0 && x->generation <= r->items[k - 1].generation)
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "the replacement of %s has generation %d, not above the one "
                                "before it (%d): replacements apply in generation order",
                                x->host, x->generation, r->items[k - 1].generation);
        if (l == s || p->hosts[l].replaced_by >= 0 || p->hosts[s].stands_for >= 0 ||
            p->hosts[s].replaced_by >= 0)
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "%s cannot stand in for %s at generation %d: a host is "
                                "replaced once, a spare stands in once, and a replaced host "
                                "never stands in",
                                x->by, x->host, x->generation);
        p->hosts[l].replaced_by = s;
        p->hosts[l].generation = x->generation;
        p->hosts[s].stands_for = l;
        p->hosts[s].generation = x->generation;
    }
    return MRD_OK;
}

/* Move what P puts on each lost host to its spare, in generation order
 * (resolve_replacements() checked R). */
static mrd_rc apply_replacements(mrd_plan *p, const mrd_replacements *r, mrd_error *err)
{
    const mrd_topology *t = p->topo;
    for (int k = 0; r && k < r->n; k++) {
        int l = topology_find_host(t, r->items[k].host), s = topology_find_host(t, r->items[k].by);
        bool on_l = plan_host_holds(p, l), on_s = plan_host_holds(p, s);
        if (on_s && on_l)
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "%s cannot stand in for %s (generation %d): it already holds "
                                "nodes of the plan; a spare stands in for one host only",
                                r->items[k].by, r->items[k].host, r->items[k].generation);
        if (!on_l) /* done already: PREV records the nodes on S */
            continue;
        for (int i = 0; i < p->nnodes; i++) {
            if (p->nodes[i].host != l)
                continue;
            p->nodes[i].host = s;
            if (p->mode->priority)
                p->nodes[i].replica_priority = p->mode->priority(p, i);
        }
        p->hosts[s].sentinel = p->hosts[l].sentinel;
        p->hosts[l].sentinel = false;
    }
    return MRD_OK;
}

/* A placement (PREV) may put nodes on a spare only where it stands in. */
static mrd_rc check_spares_idle(const mrd_plan *p, mrd_error *err)
{
    const mrd_topology *t = p->topo;
    for (int i = 0; i < p->nnodes; i++) {
        int h = p->nodes[i].host;
        if (t->hosts[h].spare && p->hosts[h].stands_for < 0)
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "the placement record puts a node of shard %d on %s, a spare "
                                "that stands in for no host in the replacement record: the "
                                "state dir is inconsistent; restore it from a backup",
                                p->nodes[i].shard + 1, t->hosts[h].name);
    }
    return MRD_OK;
}

mrd_rc plan_build_bare(const mrd_topology *t, const mrd_placement *prev,
                       const mrd_replacements *repl, mrd_plan **out, mrd_error *err)
{
    *out = NULL;
    const plan_mode *mode = plan_mode_for(t->mode);
    if (!mode)
        return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                            "this mode cannot be planned: use \"mode\": "
                            "\"sentinel\" or \"cluster\"");
    if (t->nhosts < 1)
        return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                            "the topology has no hosts: add at least one "
                            "region with a zone and a host");

    mrd_plan *p = calloc(1, sizeof(*p));
    if (!p)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building the plan");
    p->topo = t;
    p->mode = mode;
    p->nlosses = t->nregions + t->nzones;
    p->hosts = calloc((size_t)t->nhosts, sizeof(*p->hosts));
    p->losses = calloc((size_t)p->nlosses, sizeof(*p->losses));
    if (!p->hosts || !p->losses) {
        plan_free(&p);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building the plan");
    }
    p->generation = repl ? repl->generation : 1;
    for (int h = 0; h < t->nhosts; h++)
        p->hosts[h].stands_for = p->hosts[h].replaced_by = -1;
    mrd_rc rc = resolve_replacements(p, repl, err);
    if (rc == MRD_OK)
        rc = mode->place(t, prev, p, err);
    if (rc == MRD_OK)
        rc = apply_replacements(p, repl, err);
    if (rc == MRD_OK)
        rc = check_spares_idle(p, err);
    if (rc != MRD_OK) {
        plan_free(&p);
        return rc;
    }
    for (int h = 0; h < t->nhosts; h++)
        p->hosts[h].spare = t->hosts[h].spare && p->hosts[h].stands_for < 0 &&
                            p->hosts[h].replaced_by < 0;
    plan_live_losses(p, NULL, p->losses);
    *out = p;
    return MRD_OK;
}

void plan_live_losses(const mrd_plan *p, const mrd_live *live, mrd_domain_loss *out)
{
    const mrd_topology *t = p->topo;
    int i = 0;
    for (int r = 0; r < t->nregions; r++)
        p->mode->loss(p, &out[i++], MRD_DOMAIN_REGION, r, live);
    for (int z = 0; z < t->nzones; z++)
        p->mode->loss(p, &out[i++], MRD_DOMAIN_ZONE, z, live);
}

int plan_first_unsafe(const mrd_plan *p, const mrd_domain_loss *losses)
{
    mrd_survive level = p->topo->survive;
    for (int i = 0; i < p->nlosses; i++) {
        const mrd_domain_loss *l = &losses[i];
        bool checked = l->kind == MRD_DOMAIN_REGION ? level >= MRD_SURVIVE_REGION
                                                     : level >= MRD_SURVIVE_ZONE;
        if (checked && !l->writes_resume)
            return i;
    }
    return -1;
}

mrd_rc plan_check(const mrd_plan *p, mrd_error *err)
{
    int i = plan_first_unsafe(p, p->losses);
    if (i >= 0)
        return mrd_error_at(err, MRD_ERR_UNSAFE, p->topo->path, 0, 0, "%s",
                            p->losses[i].reason);
    mrd_error_clear(err);
    return MRD_OK;
}

void plan_free(mrd_plan **p)
{
    if (!p || !*p)
        return;
    free((*p)->hosts);
    free((*p)->nodes);
    free((*p)->shards);
    free((*p)->losses);
    free((*p)->host_losses);
    free(*p);
    *p = NULL;
}

/* Host H's roles and the priority of its node (sentinel mode: one per
 * host, in the one shard). */
static json_t *sentinel_host_json(const mrd_plan *p, int h)
{
    const mrd_topology *t = p->topo;
    const mrd_host *host = &t->hosts[h];
    int n = plan_node_on(p, 0, h); /* -1 on a spare or a replaced host */
    json_t *roles = json_array();
    if (!roles || (n >= 0 && json_array_append_new(roles, json_string(p->nodes[n].master
                                                                       ? "leader"
                                                                       : "replica")) != 0) ||
        (p->hosts[h].sentinel && json_array_append_new(roles, json_string("sentinel")) != 0)) {
        json_decref(roles);
        return NULL;
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:i}", "host", host->name,
                     "region", t->regions[host->region].name, "zone",
                     t->zones[host->zone].name, "address", host->address,
                     "roles", roles, "replica_priority",
                     n >= 0 ? p->nodes[n].replica_priority : 0);
}

static json_t *sentinel_loss_json(const mrd_plan *p, const mrd_domain_loss *l)
{
    (void)p;
    return json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:b,s:b,s:b,s:s}", "kind",
                     plan_kind_name(l->kind), "name", l->name, "sentinels_left",
                     l->sentinels_left, "majority", l->majority, "quorum",
                     l->quorum, "replicas_left", l->replicas_left,
                     "promotable_left", l->promotable_left,
                     "leader_lost", l->leader_lost, "failover_possible",
                     l->failover_possible, "writes_resume", l->writes_resume,
                     "reason", l->reason);
}

json_t *plan_loss_to_json(const mrd_plan *p, const mrd_domain_loss *l)
{
    return p->mode->loss_json(p, l);
}

static void sentinel_print(FILE *out, const mrd_plan *p)
{
    const mrd_topology *t = p->topo;
    fprintf(out, "%s: %d regions, %d zones, %d hosts; leader region %s; %d sentinels, "
                 "quorum %d, majority %d; must survive the loss of any %s\n\n",
            t->name, t->nregions, t->nzones, t->nhosts, t->settings.store.leader_region,
            p->nsentinels, p->quorum, p->majority, topology_survive_name(t->survive));
    fprintf(out, "%-12s %-10s %-12s %-16s %s\n", "HOST", "REGION", "ZONE", "ADDRESS", "ROLES");
    for (int i = 0; i < t->nhosts; i++) {
        const mrd_host *h = &t->hosts[i];
        int ni = plan_node_on(p, 0, i); /* sentinel mode: one node per host */
        const mrd_plan_node *n = ni >= 0 ? &p->nodes[ni] : NULL;
        const char *store = n ? (n->master ? "leader" : "replica")
                              : p->hosts[i].spare ? "spare"
                              : p->hosts[i].replaced_by >= 0 ? "replaced"
                              : "-";
        char roles[96];
        snprintf(roles, sizeof(roles), "%s%s", store, p->hosts[i].sentinel ? ", sentinel" : "");
        if (n && !n->master)
            snprintf(roles + strlen(roles), sizeof(roles) - strlen(roles),
                     " (priority %d)", n->replica_priority);
        fprintf(out, "%-12s %-10s %-12s %-16s %s\n", h->name, t->regions[h->region].name,
                t->zones[h->zone].name, h->address, roles);
    }
    fprintf(out, "\n%-6s %-12s %-11s %-9s %-12s %-13s %s\n", "LOSS", "DOMAIN", "SENTINELS",
            "REPLICAS", "LEADER LOST", "WRITES RESUME", "");
    for (int i = 0; i < p->nlosses; i++) {
        const mrd_domain_loss *l = &p->losses[i];
        char sent[32];
        snprintf(sent, sizeof(sent), "%d/%d (>=%d)", l->sentinels_left, p->nsentinels,
                 l->majority);
        fprintf(out, "%-6s %-12s %-11s %-9d %-12s %-13s %s\n",
                l->kind == MRD_DOMAIN_REGION ? "region" : "zone", l->name, sent,
                l->replicas_left, l->leader_lost ? "yes" : "no",
                l->writes_resume ? "yes" : "NO", l->reason);
    }
}

/* "o" steals the arrays' references, on failure too. */
static json_t *sentinel_to_json(const mrd_plan *p, json_t *hosts, json_t *shards,
                                json_t *losses)
{
    const mrd_topology *t = p->topo;
    return json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:o,s:o,s:o}", "topology", t->name, "mode",
                     p->mode->name, "survive", topology_survive_name(t->survive), "leader",
                     plan_node_host(p, p->shards[0].master)->name, "quorum", p->quorum,
                     "majority", p->majority, "hosts", hosts, "shards", shards, "losses",
                     losses);
}

