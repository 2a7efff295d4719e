/* cluster.c - the planner's cluster mode (pure: no I/O).
 *
 * Redis Cluster splits the 16384 hash slots over S shards, each a master
 * and R replicas.  A replica of a lost master is promoted only with the
 * votes of a majority of the slot-owning masters, so the placement must
 * keep that majority through the loss of any one region (and zone):
 *
 *   - masters, one at a time, on the host with the fewest masters in its
 *     region, then in its zone, then the fewest nodes (so S masters over D
 *     regions hold at most ceil(S/D) per region, which survives only when
 *     ceil(S/D) <= S - majority(S): 3 shards over 3 regions yes, 4 no);
 *   - each shard's first replica outside its master's region (what a
 *     failover after a region's loss promotes), its second inside it (a
 *     cheap snapshot source for the agent's restores), any further ones
 *     where that shard has the fewest copies; never two copies of a shard
 *     on one host; the least loaded host first;
 *   - a host's i-th node listens on store.port + i, its cluster bus on
 *     store.port + CLUSTER_BUS_OFFSET + i;
 *   - shard s owns slots [s * 16384 / S, (s + 1) * 16384 / S - 1].
 *
 * The loss of a domain is judged as Redis Cluster would: the masters left
 * must be a majority of S to vote, and every shard whose master was lost
 * needs a replica outside the domain to promote.  A layout that fails is
 * still placed (so `plan` can show it); plan_check refuses it with the
 * domain and the fix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "plan_int.h"

#define CLUSTER_SLOTS 16384
/* The cluster bus of a host's i-th node: store.port + this + i, Redis'
 * own offset (sentinel.port's default too, but cluster mode runs no
 * sentinel).  It must stay below the kernel's ephemeral ports (32768 and
 * up by default): there an outgoing connection from the host's address
 * can hold the port when the node starts, and the node exits ("Failed
 * listening on port ... (cluster)"), as seen here with +20000. */
#define CLUSTER_BUS_OFFSET 10000
#define EPHEMERAL_FIRST 32768

/* ==== placement ==== */

typedef struct placing {
    const mrd_topology *t;
    mrd_plan *p;
    int *load;          /* nodes per host */
    unsigned long long *ports; /* per host: bit i when store.port + i is taken */
    int top;            /* the highest port index taken on any host */
    int *region_masters;
    int *zone_masters;
    int *placed;        /* per shard: nodes placed so far (its master first) */
    bool adding;        /* placing what is new to a deployed placement */
} placing;

/* May host H take a new node?  Never a spare; when adding to a deployed
 * placement, never a replaced host either (the layout placed from the
 * topology alone includes them: their nodes move to their spares). */
static bool may_place(const placing *pl, int h)
{
    return pl->adding ? plan_host_takes_new(pl->p, h) : !pl->t->hosts[h].spare;
}

/* Does host H hold a copy of shard S? */
static bool holds_copy(const placing *pl, int s, int h)
{
    const mrd_plan_shard *sh = &pl->p->shards[s];
    for (int i = sh->first; i < sh->first + pl->placed[s]; i++)
        if (pl->p->nodes[i].host == h)
            return true;
    return false;
}

/* Copies of shard S in region R. */
static int copies_in_region(const placing *pl, int s, int r)
{
    const mrd_plan_shard *sh = &pl->p->shards[s];
    int c = 0;
    for (int i = sh->first; i < sh->first + pl->placed[s]; i++)
        c += pl->t->hosts[pl->p->nodes[i].host].region == r;
    return c;
}

/* Put shard SHARD's next node on host H at port index I (store.port + I,
 * its bus CLUSTER_BUS_OFFSET above), or, with I -1, at the host's lowest
 * free index. */
static void add_node_at(placing *pl, int h, int i, int shard, bool master, int prio)
{
    const mrd_topology *t = pl->t;
    if (i < 0)
        for (i = 0; i < 63 && (pl->ports[h] >> i & 1u); i++)
            ;
    pl->ports[h] |= 1ull << i;
    pl->top = i > pl->top ? i : pl->top;
    pl->load[h]++;
    if (master) {
        pl->region_masters[t->hosts[h].region]++;
        pl->zone_masters[t->hosts[h].zone]++;
    }
    pl->p->nodes[pl->p->shards[shard].first + pl->placed[shard]++] = (mrd_plan_node){
        .host = h,
        .shard = shard,
        .port = t->settings.store.port + i,
        .bus_port = t->settings.store.port + CLUSTER_BUS_OFFSET + i,
        .replica_priority = prio,
        .master = master,
    };
}

/* The host for shard SHARD's master: fewest masters in its region, then
 * in its zone, then fewest nodes, then file order. */
static int master_host(const placing *pl)
{
    const mrd_topology *t = pl->t;
    int best = -1;
    for (int h = 0; h < t->nhosts; h++) {
        if (!may_place(pl, h))
            continue;
        if (best < 0) {
            best = h;
            continue;
        }
        const mrd_host *a = &t->hosts[h], *b = &t->hosts[best];
        int ra = pl->region_masters[a->region], rb = pl->region_masters[b->region];
        int za = pl->zone_masters[a->zone], zb = pl->zone_masters[b->zone];
        if (ra < rb || (ra == rb && (za < zb || (za == zb && pl->load[h] < pl->load[best]))))
            best = h;
    }
    return best;
}

/* Does host A come before host B in the ordering of candidates for a
 * replica of shard S (master region MR)?  The fewest
 * nodes, then the fewest copies of the shard in the host's region, then
 * the region next after the master's (so each region's masters send their
 * outside replicas to the following region, and the load stays even),
 * then file order. */
static bool replica_before(const placing *pl, int s, int mr, int a, int b)
{
    const mrd_topology *t = pl->t;
    if (pl->load[a] != pl->load[b])
        return pl->load[a] < pl->load[b];
    int ca = copies_in_region(pl, s, t->hosts[a].region);
    int cb = copies_in_region(pl, s, t->hosts[b].region);
    if (ca != cb)
        return ca < cb;
    int da = (t->hosts[a].region - mr + t->nregions) % t->nregions;
    int db = (t->hosts[b].region - mr + t->nregions) % t->nregions;
    return da < db;
}

/* The host for the next replica of shard S:
 * WANT_OUTSIDE 1 takes a host outside the master's region when there is
 * one, 0 inside, -1 either; among those, replica_before's order.  -1 when
 * every host holds a copy. */
static int replica_host(const placing *pl, int s, int want_outside)
{
    const mrd_topology *t = pl->t;
    int mr = t->hosts[pl->p->nodes[pl->p->shards[s].master].host].region;
    int best = -1, best_fit = 0;
    for (int h = 0; h < t->nhosts; h++) {
        if (holds_copy(pl, s, h) || !may_place(pl, h))
            continue;
        bool outside = t->hosts[h].region != mr;
        int fit = want_outside < 0 ? 1 : outside == (want_outside == 1);
        if (best < 0 || fit > best_fit ||
            (fit == best_fit && replica_before(pl, s, mr, h, best))) {
            best = h;
            best_fit = fit;
        }
    }
    return best;
}

static mrd_rc too_many_per_host(const mrd_topology *t, int n, int per_host, mrd_error *err)
{
    return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                        "%d nodes over %d hosts is %d on a host, more than the %d one agent "
                        "starts: add hosts or lower cluster.shards",
                        n, topology_placeable_hosts(t), per_host, MRD_MF_MAX_HOST_NODES);
}

/* The ports of hosts whose highest node index is TOP - 1: the bus below
 * the ephemeral ports, and both clear of agent.port. */
static mrd_rc check_ports(const mrd_topology *t, int per_host, mrd_error *err)
{
    int store = t->settings.store.port, agent = t->settings.agent.port;
    int top = store + CLUSTER_BUS_OFFSET + per_host - 1;
    if (top < EPHEMERAL_FIRST && !(agent >= store && agent < store + per_host) &&
        !(agent >= store + CLUSTER_BUS_OFFSET && agent <= top))
        return MRD_OK;
    return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                        "cluster mode uses ports %d to %d for its nodes and %d to %d for "
                        "their cluster bus: move store.port or agent.port (%d) so that they "
                        "do not overlap and the bus stays below %d, where the kernel's "
                        "ephemeral ports start",
                        store, store + per_host - 1, store + CLUSTER_BUS_OFFSET, top, agent,
                        EPHEMERAL_FIRST);
}

/* Copies PREV gives shard S. */
static int prev_copies(const mrd_placement *prev, int s)
{
    int n = 0;
    for (int i = 0; prev && i < prev->nnodes; i++)
        n += prev->nodes[i].shard == s;
    return n;
}

/* Shard S's nodes as PREV places them, into PL: same host, port and
 * planned master. */
static mrd_rc keep_shard(placing *pl, const mrd_placement *prev, int s, mrd_error *err)
{
    const mrd_topology *t = pl->t;
    for (int k = 0; k < prev->nnodes; k++) {
        const mrd_placed_node *x = &prev->nodes[k];
        if (x->shard != s)
            continue;
        int h = topology_find_host(t, x->host);
        int i = x->port - t->settings.store.port;
        if (h < 0)
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "host %s runs a node of shard %d (port %d) but is not in the "
                                "topology: put it back; to retire a host, first lower "
                                "cluster.shards so that its shards go, and deploy",
                                x->host, s + 1, x->port);
        if (i < 0 || i >= MRD_MF_MAX_HOST_NODES || (pl->ports[h] >> i & 1u))
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "host %s runs a node of shard %d on port %d, outside "
                                "store.port %d to %d or taken twice: the placement record "
                                "does not match the topology",
                                x->host, s + 1, x->port, t->settings.store.port,
                                t->settings.store.port + MRD_MF_MAX_HOST_NODES - 1);
        add_node_at(pl, h, i, s, x->master && s < t->settings.cluster.shards, PRIO_BASE);
        mrd_plan_node *n = &pl->p->nodes[pl->p->shards[s].first + pl->placed[s] - 1];
        n->master = x->master;
        n->bus_port = x->bus_port;
        if (x->master)
            pl->p->shards[s].master = pl->p->shards[s].first + pl->placed[s] - 1;
    }
    return MRD_OK;
}

/* Counts, shard entries and their nodes' room: shards 0..S-1 of the
 * topology, then PREV's beyond them (retiring).  A shard PREV has keeps
 * its copies, which must be what the topology asks. */
static mrd_rc size_plan(const mrd_topology *t, const mrd_placement *prev, mrd_plan *p,
                        mrd_error *err)
{
    int S = t->settings.cluster.shards, R = t->settings.cluster.replicas_per_shard;
    int P = prev ? prev->nshards : 0, T = S > P ? S : P;
    int hosts = topology_placeable_hosts(t);
    if (S < 1 || R < 0 || (long long)T * (1 + R) > MRD_MF_MAX_NODES || T > MRD_MF_MAX_SHARDS)
        return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                            "cluster mode places at most %d nodes in %d shards: lower "
                            "cluster.shards or cluster.replicas_per_shard",
                            MRD_MF_MAX_NODES, MRD_MF_MAX_SHARDS);
    if (R + 1 > hosts)
        return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                            "a shard's %d copies (a master and %d %s) go on distinct hosts, "
                            "but the topology has %d%s: lower cluster.replicas_per_shard or "
                            "add hosts",
                            R + 1, R, plan_plural(R, "replica", "replicas"), hosts,
                            hosts < t->nhosts ? " that are not spares" : "");
    p->nshards = T;
    p->shards = calloc((size_t)T, sizeof(*p->shards));
    if (!p->shards)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building the plan");
    int n = 0;
    for (int s = 0; s < T; s++) {
        mrd_plan_shard *sh = &p->shards[s];
        int copies = s < P ? prev_copies(prev, s) : 1 + R;
        if (s < S && s < P && copies != 1 + R)
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "shard %d runs %d copies but cluster.replicas_per_shard %d "
                                "asks for %d: changing the replicas of a running cluster is "
                                "not supported yet; set it back to %d",
                                s + 1, copies, R, 1 + R, copies - 1);
        snprintf(sh->name, sizeof(sh->name), "%s-%d", t->name, s + 1); /* from 1 */
        sh->first = n;
        sh->master = n;
        sh->nnodes = copies;
        sh->added = prev && s >= P;
        sh->retiring = s >= S;
        if (sh->retiring) {
            sh->slot_first = 0;
            sh->slot_last = -1;
        } else {
            sh->slot_first = (int)((long long)s * CLUSTER_SLOTS / S);
            sh->slot_last = (int)((long long)(s + 1) * CLUSTER_SLOTS / S) - 1;
        }
        sh->nslots = sh->slot_last - sh->slot_first + 1;
        p->nretiring += sh->retiring;
        p->nadded += sh->added;
        n += copies;
    }
    p->nnodes = n;
    p->from_placement = prev != NULL;
    int per_host = (n + hosts - 1) / hosts;
    if (per_host > MRD_MF_MAX_HOST_NODES)
        return too_many_per_host(t, n, per_host, err);
    if (!prev)
        MRD_TRY(check_ports(t, per_host, err));
    p->nodes = calloc((size_t)n, sizeof(*p->nodes));
    return p->nodes ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building the plan");
}

/* Every new shard's master first, then each new shard's first replica,
 * then each one's second, ... (a fresh plan: every shard is new). */
static mrd_rc place_new(placing *pl, int from, int to, int R, mrd_error *err)
{
    const mrd_topology *t = pl->t;
    for (int s = from; s < to; s++) {
        int h = master_host(pl);
        if (h < 0) /* when adding, every host may be a spare or replaced */
            return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                "no host left for the master of shard %d: every host is a "
                                "spare or was replaced; add hosts",
                                s + 1);
        add_node_at(pl, h, -1, s, true, PRIO_BASE);
    }
    for (int r = 0; r < R; r++)
        for (int s = from; s < to; s++) {
            int h = replica_host(pl, s, r == 0 ? 1 : r == 1 ? 0 : -1);
            if (h < 0) /* the R + 1 <= hosts check: only when replaced hosts */
                return mrd_error_at(err, MRD_ERR_INVALID, t->path, 0, 0,
                                    "no host left for a replica of shard %d: a shard's copies "
                                    "go on distinct hosts that are neither spares nor "
                                    "replaced; add hosts",
                                    s + 1);
            add_node_at(pl, h, -1, s, false, PRIO_BASE);
        }
    return MRD_OK;
}

static mrd_rc cluster_place(const mrd_topology *t, const mrd_placement *prev, mrd_plan *p,
                            mrd_error *err)
{
    MRD_TRY(size_plan(t, prev, p, err));
    int S = t->settings.cluster.shards, P = prev ? prev->nshards : 0;
    placing pl = {.t = t, .p = p, .adding = prev != NULL};
    pl.load = calloc((size_t)t->nhosts, sizeof(int));
    pl.ports = calloc((size_t)t->nhosts, sizeof(*pl.ports));
    pl.region_masters = calloc((size_t)t->nregions, sizeof(int));
    pl.zone_masters = calloc((size_t)t->nzones, sizeof(int));
    pl.placed = calloc((size_t)p->nshards, sizeof(int));
    mrd_rc rc = MRD_OK;
    if (!pl.load || !pl.ports || !pl.region_masters || !pl.zone_masters || !pl.placed)
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory building the plan");
    for (int s = 0; rc == MRD_OK && s < P; s++)
        rc = keep_shard(&pl, prev, s, err);
    if (rc == MRD_OK && S > P)
        rc = place_new(&pl, P, S, t->settings.cluster.replicas_per_shard, err);
    /* the greedy spread may put one more than the average on a host */
    int most = 0;
    for (int h = 0; rc == MRD_OK && h < t->nhosts; h++)
        most = pl.load[h] > most ? pl.load[h] : most;
    if (rc == MRD_OK && most > MRD_MF_MAX_HOST_NODES)
        rc = too_many_per_host(t, p->nnodes, most, err);
    if (rc == MRD_OK)
        rc = check_ports(t, pl.top + 1, err);
    free(pl.load);
    free(pl.ports);
    free(pl.region_masters);
    free(pl.zone_masters);
    free(pl.placed);
    return rc;
}

/* ==== survivability ==== */

/* What the loss of domain KIND/INDEX leaves: the plan's layout, or with
 * LIVE the running cluster's (its masters now, its linked replicas; a
 * shard with no master now counts as lost wherever the domain is). */
static void cluster_loss(const mrd_plan *p, mrd_domain_loss *l, mrd_domain_kind kind,
                         int index, const mrd_live *live)
{
    const mrd_topology *t = p->topo;
    plan_loss_init(p, l, kind, index);
    l->masters_majority = mrd_majority(p->nshards - p->nretiring);
    int stranded_first = -1;
    for (int s = 0; s < p->nshards; s++) {
        const mrd_plan_shard *sh = &p->shards[s];
        if (sh->retiring) /* owns no slot once the plan is carried out */
            continue;
        int master = live ? live->shard_master[s] : sh->master;
        if (master >= 0 && !plan_host_in_domain(plan_node_host(p, master), kind, index)) {
            l->masters_left++;
            continue;
        }
        l->shards_lost++;
        int outside = 0;
        for (int i = sh->first; i < sh->first + sh->nnodes; i++)
            outside += i != master && (live ? live->nodes[i].replica_ok : true) &&
                       !plan_host_in_domain(plan_node_host(p, i), kind, index);
        l->replicas_left += outside;
        if (outside == 0 && l->shards_stranded++ == 0)
            stranded_first = s;
    }
    l->leader_lost = l->shards_lost > 0;
    l->failover_possible = l->masters_left >= l->masters_majority;
    l->writes_resume = l->shards_lost == 0 || (l->failover_possible && l->shards_stranded == 0);
    if (l->writes_resume)
        return;

    const char *k = plan_kind_name(kind);
    int domains = kind == MRD_DOMAIN_REGION ? t->nregions : t->nzones;
    int S = p->nshards - p->nretiring, at_most = S - mrd_majority(S);
    if (live && !l->failover_possible) {
        plan_set_reason(l,
                        "losing %s %s now leaves %d of %d masters, below the majority of %d "
                        "that must vote a replica in: its masters are not where the plan "
                        "put them",
                        k, l->name, l->masters_left, S, l->masters_majority);
    } else if (live) {
        plan_set_reason(l,
                        "losing %s %s now loses shard %d's master and every linked replica "
                        "of it",
                        k, l->name, stranded_first + 1);
    } else if (!l->failover_possible) {
        char fix[160];
        if (domains < 3)
            snprintf(fix, sizeof(fix), "add a third %s (or lower \"survive\")", k);
        else if ((S + domains - 1) / domains > at_most)
            snprintf(fix, sizeof(fix),
                     "%d shards cannot be spread over %d %ss so that any one can be lost: use "
                     "%d or %d shards",
                     S, domains, k, S - 1 >= 3 ? S - 1 : 3, S + 1);
        else
            snprintf(fix, sizeof(fix), "spread the masters: at most %d per %s", at_most, k);
        plan_set_reason(l,
                        "losing %s %s leaves %d of %d masters, below the majority of %d that "
                        "must vote a replica in: %s",
                        k, l->name, l->masters_left, S, l->masters_majority, fix);
    } else {
        plan_set_reason(l,
                        "losing %s %s loses shard %d's master and every replica of it: set "
                        "cluster.replicas_per_shard to at least 1 and add hosts in other %ss",
                        k, l->name, stranded_first + 1, k);
    }
}

/* ==== output ==== */

static json_t *cluster_host_json(const mrd_plan *p, int h)
{
    const mrd_topology *t = p->topo;
    const mrd_host *host = &t->hosts[h];
    json_t *nodes = json_array(), *roles = json_array();
    bool has_master = false, has_replica = false;
    for (int i = 0; i < p->nnodes; i++) {
        const mrd_plan_node *n = &p->nodes[i];
        if (n->host != h)
            continue;
        has_master |= n->master;
        has_replica |= !n->master;
        json_array_append_new(nodes, json_pack("{s:i,s:i,s:i,s:s}", "port", n->port,
                                               "bus_port", n->bus_port, "shard", n->shard,
                                               "role", n->master ? "master" : "replica"));
    }
    if (has_master)
        json_array_append_new(roles, json_string("master"));
    if (has_replica)
        json_array_append_new(roles, json_string("replica"));
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "host", host->name, "region",
                     t->regions[host->region].name, "zone", t->zones[host->zone].name,
                     "address", host->address, "roles", roles, "nodes", nodes);
}

static json_t *cluster_loss_json(const mrd_plan *p, const mrd_domain_loss *l)
{
    (void)p;
    return json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:b,s:b,s:s}", "kind",
                     plan_kind_name(l->kind), "name", l->name, "masters_left", l->masters_left,
                     "masters_majority", l->masters_majority, "shards_lost", l->shards_lost,
                     "shards_stranded", l->shards_stranded, "replicas_left", l->replicas_left,
                     "failover_possible", l->failover_possible, "serves_all_slots",
                     l->writes_resume, "reason", l->reason);
}

static void cluster_print(FILE *out, const mrd_plan *p)
{
    const mrd_topology *t = p->topo;
    fprintf(out,
            "%s: cluster of %d shards with %d %s each; %d regions, %d zones, %d hosts; "
            "failover needs %d of %d masters; must survive the loss of any %s\n\n",
            t->name, p->nshards - p->nretiring, t->settings.cluster.replicas_per_shard,
            plan_plural(t->settings.cluster.replicas_per_shard, "replica", "replicas"),
            t->nregions, t->nzones, t->nhosts, mrd_majority(p->nshards - p->nretiring),
            p->nshards - p->nretiring, topology_survive_name(t->survive));
    if (p->nadded || p->nretiring)
        fprintf(out, "scale: from the deployed %d shards, %d %s added, %d retired; the "
                     "%d others keep their nodes where they run\n\n",
                p->nshards - p->nadded, p->nadded, p->nadded == 1 ? "shard" : "shards",
                p->nretiring, p->nshards - p->nadded - p->nretiring);
    fprintf(out, "%-8s %-13s %-24s %s\n", "SHARD", "SLOTS", "MASTER", "REPLICAS");
    for (int s = 0; s < p->nshards; s++) {
        const mrd_plan_shard *sh = &p->shards[s];
        char slots[24], master[96], replicas[512] = "";
        if (sh->retiring)
            snprintf(slots, sizeof(slots), "0 (retire)");
        else if (p->from_placement) /* after a scale: any slots, so many */
            snprintf(slots, sizeof(slots), "%d%s", sh->nslots, sh->added ? " (new)" : "");
        else
            snprintf(slots, sizeof(slots), "%d-%d", sh->slot_first, sh->slot_last);
        char name[80];
        plan_node_name(p, sh->master, name, sizeof(name));
        snprintf(master, sizeof(master), "%s (%s)", name,
                 t->regions[plan_node_host(p, sh->master)->region].name);
        size_t used = 0;
        for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
            if (p->nodes[i].master)
                continue;
            plan_node_name(p, i, name, sizeof(name));
            int w = snprintf(replicas + used, sizeof(replicas) - used, "%s%s (%s)",
                             used ? ", " : "", name,
                             t->regions[plan_node_host(p, i)->region].name);
            if (w > 0 && (size_t)w < sizeof(replicas) - used)
                used += (size_t)w;
        }
        fprintf(out, "%-8d %-13s %-24s %s\n", s + 1, slots, master, used ? replicas : "-");
    }
    fprintf(out, "\n%-6s %-12s %-13s %-12s %-9s %-10s %s\n", "LOSS", "DOMAIN", "MASTERS LEFT",
            "SHARDS LOST", "FAILOVER", "ALL SLOTS", "");
    for (int i = 0; i < p->nlosses; i++) {
        const mrd_domain_loss *l = &p->losses[i];
        char left[32];
        snprintf(left, sizeof(left), "%d/%d (>=%d)", l->masters_left, p->nshards,
                 l->masters_majority);
        fprintf(out, "%-6s %-12s %-13s %-12d %-9s %-10s %s\n",
                l->kind == MRD_DOMAIN_REGION ? "region" : "zone", l->name, left,
                l->shards_lost, l->shards_lost == 0 ? "-" : l->failover_possible ? "yes" : "NO",
                l->writes_resume ? "yes" : "NO", l->reason);
    }
}

/* "o" steals the arrays' references, on failure too. */
static json_t *cluster_to_json(const mrd_plan *p, json_t *hosts, json_t *shards,
                               json_t *losses)
{
    const mrd_topology *t = p->topo;
    int S = p->nshards - p->nretiring;
    return json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:o,s:o,s:o}", "topology", t->name,
                     "mode", p->mode->name, "survive", topology_survive_name(t->survive),
                     "shard_count", S, "shards_added", p->nadded, "shards_retiring",
                     p->nretiring, "replicas_per_shard",
                     t->settings.cluster.replicas_per_shard, "masters_majority",
                     mrd_majority(S), "hosts", hosts, "shards", shards, "losses", losses);
}

const plan_mode plan_mode_cluster = {
    .name = "cluster",
    .place = cluster_place,
    .loss = cluster_loss,
    .host_json = cluster_host_json,
    .loss_json = cluster_loss_json,
    .to_json = cluster_to_json,
    .print = cluster_print,
};
