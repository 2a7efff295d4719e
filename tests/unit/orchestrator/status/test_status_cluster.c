/* test_status_cluster.c - cluster mode's health judgement
 * (orchestrator/status/cluster.c through status_mode.h).
 *
 * The judge is pure: each case builds a report by hand, as
 * status_probe_ex fills it from INFO, CLUSTER NODES and CLUSTER INFO, with
 * CLUSTER NODES texts written here for a chosen state of the cluster
 * (which node is each shard's master, who owns which slot, who failed),
 * and checks the verdict.  The scale cases plan from a deployed placement
 * (3 shards grown to 5, 5 shrunk to 3), where a shard's slots are any set
 * of its quota's size, not its plan range. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "status_mode.h"

/* regions/local-cluster.json: 3 regions x 2 hosts, %d shards (3 there),
 * 2 replicas. */
static const char topology_fmt[] =
    "{\"name\": \"demo\", \"mode\": \"cluster\", \"transport\": {\"kind\": \"local\"},"
    " \"store\": {\"port\": 16379},"
    " \"cluster\": {\"shards\": %d, \"replicas_per_shard\": 2},"
    " \"consistency\": {\"min_replicas_to_write\": 1, \"wait_replicas\": 1},"
    " \"regions\": ["
    "  {\"name\": \"us-east\", \"zones\": ["
    "   {\"name\": \"us-east-a\", \"hosts\": [{\"name\": \"use-a1\", \"address\": \"127.0.1.1\"}]},"
    "   {\"name\": \"us-east-b\", \"hosts\": [{\"name\": \"use-b1\", \"address\": \"127.0.1.2\"}]}]},"
    "  {\"name\": \"eu-west\", \"zones\": ["
    "   {\"name\": \"eu-west-a\", \"hosts\": [{\"name\": \"euw-a1\", \"address\": \"127.0.2.1\"}]},"
    "   {\"name\": \"eu-west-b\", \"hosts\": [{\"name\": \"euw-b1\", \"address\": \"127.0.2.2\"}]}]},"
    "  {\"name\": \"ap-south\", \"zones\": ["
    "   {\"name\": \"ap-south-a\", \"hosts\": [{\"name\": \"aps-a1\", \"address\": \"127.0.3.1\"}]},"
    "   {\"name\": \"ap-south-b\", \"hosts\": [{\"name\": \"aps-b1\", \"address\": \"127.0.3.2\"}]}]}]}";

static mrd_topology *topology_of(int shards)
{
    char text[sizeof(topology_fmt) + 16];
    snprintf(text, sizeof(text), topology_fmt, shards);
    mrd_topology *t = NULL;
    mrd_error err;
    if (topology_parse(text, strlen(text), "test.json", &t, &err) != MRD_OK)
        fail_msg("topology: %s", err.msg);
    return t;
}

static int setup(void **state)
{
    orch_ctx *c = calloc(1, sizeof(*c));
    mrd_error err;
    if (!c || !(c->topo = topology_of(3)) || plan_build(c->topo, &c->plan, &err) != MRD_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    orch_ctx *c = *state;
    plan_free(&c->plan);
    topology_free(&c->topo);
    free(c);
    return 0;
}

/* A context whose plan scales a deployed FROM shards to TO: built, as
 * every command builds it, from the placement a FROM-shard deploy
 * recorded and a topology that asks for TO.  Freed with teardown(). */
static orch_ctx *scaled(int from, int to)
{
    orch_ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    mrd_topology *was = topology_of(from);
    mrd_plan *deployed = NULL;
    mrd_placement pl;
    mrd_error err;
    assert_int_equal(plan_build(was, &deployed, &err), MRD_OK);
    assert_int_equal(plan_placement(deployed, false, &pl, &err), MRD_OK);
    c->topo = topology_of(to);
    if (plan_build_from(c->topo, &pl, &c->plan, &err) != MRD_OK)
        fail_msg("plan_build_from: %s", err.msg);
    assert_true(c->plan->from_placement);
    placement_free(&pl);
    plan_free(&deployed);
    topology_free(&was);
    return c;
}

#define MAXS 5        /* shards of a case's plan, at most */
#define MAXN 15       /* its nodes */
#define NOBODY (-1)   /* world.owner: the slot is not assigned */
#define OUTSIDE 99    /* world.owner: a node outside the deployment owns it */
#define OUTSIDE_ADDR "10.9.9.9"

/* The state of the cluster a case describes. */
typedef struct world {
    int master[MAXS];    /* per shard: the plan node that is its master now */
    int16_t owner[STORE_CLUSTER_SLOTS]; /* per slot: the shard whose master
                                           owns it, NOBODY or OUTSIDE */
    bool down[MAXN];     /* does not answer; the others flag it fail */
    int blind;           /* a plan node whose view has slot 100 unassigned; -1 */
} world;

/* W as the plan puts it: each shard's master the plan's, each slot its
 * plan range's (a fresh cluster). */
static void planned_into(const orch_ctx *c, world *w)
{
    memset(w, 0, sizeof(*w));
    w->blind = -1;
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS; slot++)
        w->owner[slot] = NOBODY;
    for (int s = 0; s < c->plan->nshards; s++) {
        const mrd_plan_shard *sh = &c->plan->shards[s];
        w->master[s] = sh->master;
        for (int slot = sh->slot_first; slot <= sh->slot_last; slot++)
            w->owner[slot] = (int16_t)s;
    }
}

static world *planned(const orch_ctx *c)
{
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    planned_into(c, w);
    return w;
}

/* Slot SLOT's owner as plan node VIEWER sees it in W. */
static int seen_owner(const world *w, int viewer, int slot)
{
    return viewer == w->blind && slot == 100 ? NOBODY : w->owner[slot];
}

/* Append " A-B" (or " A") for each run of slots VIEWER sees owned by WHO. */
static void add_slots(mrd_buf *b, const world *w, int viewer, int who)
{
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS; slot++) {
        if (seen_owner(w, viewer, slot) != who)
            continue;
        int last = slot;
        while (last + 1 < STORE_CLUSTER_SLOTS && seen_owner(w, viewer, last + 1) == who)
            last++;
        assert_int_equal(last == slot ? mrd_buf_addf(b, " %d", slot)
                                      : mrd_buf_addf(b, " %d-%d", slot, last),
                         MRD_OK);
        slot = last;
    }
}

static void node_id(int i, char *buf, size_t n)
{
    snprintf(buf, n, "%040d", i + 1);
}

/* CLUSTER NODES as plan node VIEWER prints it in world W. */
static char *nodes_text(const orch_ctx *c, const world *w, int viewer)
{
    const mrd_plan *p = c->plan;
    mrd_buf b;
    mrd_buf_init(&b, SIZE_MAX);
    bool outside = false;
    for (int i = 0; i < p->nnodes; i++) {
        int s = p->nodes[i].shard;
        bool master = w->master[s] == i;
        char id[41], mid[41];
        node_id(i, id, sizeof(id));
        node_id(w->master[s], mid, sizeof(mid));
        assert_int_equal(mrd_buf_addf(&b, "%s %s:%d@%d %s%s%s %s 0 0 %d %s", id,
                                      plan_node_host(p, i)->address, p->nodes[i].port,
                                      p->nodes[i].bus_port, i == viewer ? "myself," : "",
                                      master ? "master" : "slave",
                                      w->down[i] ? ",fail" : "", master ? "-" : mid,
                                      s + 1, w->down[i] ? "disconnected" : "connected"),
                         MRD_OK);
        if (master)
            add_slots(&b, w, viewer, s);
        assert_int_equal(mrd_buf_addf(&b, "\n"), MRD_OK);
    }
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS && !outside; slot++)
        outside = w->owner[slot] == OUTSIDE;
    if (outside) { /* a master of another cluster, met by mistake */
        assert_int_equal(mrd_buf_addf(&b, "%040d " OUTSIDE_ADDR ":7000@17000 master - 0 0 99 "
                                          "connected", 99),
                         MRD_OK);
        add_slots(&b, w, viewer, OUTSIDE);
        assert_int_equal(mrd_buf_addf(&b, "\n"), MRD_OK);
    }
    char *text = mrd_buf_take(&b);
    mrd_buf_free(&b);
    assert_non_null(text);
    return text;
}

/* What the probes find in world W: every node but the failed one answers,
 * each replica linked to its shard's master and caught up. */
static st_report *report(const orch_ctx *c, const world *w)
{
    const mrd_plan *p = c->plan;
    st_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->nodes = calloc((size_t)p->nnodes, sizeof(*r->nodes));
    r->hosts = calloc((size_t)c->topo->nhosts, sizeof(*r->hosts));
    r->shards = calloc((size_t)p->nshards, sizeof(*r->shards));
    assert_non_null(r->nodes);
    assert_non_null(r->hosts);
    assert_non_null(r->shards);
    r->master = -1;
    r->live_unsafe = -1;
    r->nnodes = p->nnodes;
    r->nshards = p->nshards;
    for (int i = 0; i < p->nnodes; i++) {
        st_node *n = &r->nodes[i];
        int m = w->master[p->nodes[i].shard];
        n->node = i;
        n->host = p->nodes[i].host;
        n->shard = p->nodes[i].shard;
        n->ready = -1;
        n->replica_priority = -1;
        if (w->down[i]) {
            snprintf(n->problem, sizeof(n->problem), "connection refused");
            continue;
        }
        n->reachable = true;
        n->is_master = i == m;
        n->link_up = !n->is_master;
        if (!n->is_master) {
            snprintf(n->master_host, sizeof(n->master_host), "%s",
                     plan_node_host(p, m)->address);
            n->master_port = p->nodes[m].port;
        }
        n->offset = 7000;
        n->cluster_nodes = nodes_text(c, w, i);
        snprintf(n->cluster_state, sizeof(n->cluster_state), "ok");
    }
    return r;
}

static st_report *judge(const orch_ctx *c, const world *w)
{
    st_report *r = report(c, w);
    status_mode_cluster.judge(c, r);
    return r;
}

/* The plan node of shard S in region REGION other than its master. */
static int replica_in(const orch_ctx *c, int s, const char *region)
{
    const mrd_plan_shard *sh = &c->plan->shards[s];
    for (int i = sh->first; i < sh->first + sh->nnodes; i++)
        if (i != sh->master &&
            strcmp(c->topo->regions[plan_node_host(c->plan, i)->region].name, region) == 0)
            return i;
    return -1;
}

static void test_healthy(void **state)
{
    const orch_ctx *c = *state;
    world *w = planned(c);
    st_report *r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_OK);
    assert_string_equal(r->summary, "healthy: 3 shards serve all 16384 slots, 6 replicas "
                                    "linked, cluster_state ok on 9 nodes");
    for (int s = 0; s < 3; s++) {
        assert_int_equal(r->shards[s].master, c->plan->shards[s].master);
        assert_int_equal(r->shards[s].replicas_linked, 2);
        assert_true(r->shards[s].replica_outside);
        assert_string_equal(r->shards[s].problem, "");
    }
    assert_int_equal(r->shards[0].slots_served, 5461);
    for (int i = 0; i < r->nnodes; i++) {
        assert_true(r->nodes[i].healthy);
        assert_true(r->nodes[i].map_agrees);
    }
    assert_int_equal(r->live_unsafe, -1);
    status_free(&r);
    free(w);
}

/* After a failover, us-east holds shard 1's master and shard 3's: losing
 * us-east would leave 1 of 3 masters. */
static void test_masters_spread_against_the_plan(void **state)
{
    const orch_ctx *c = *state;
    world *w = planned(c);
    const char *east = c->topo->regions[plan_node_host(c->plan, w->master[0])->region].name;
    int s = -1, m = -1;
    for (int t = 1; t < 3 && m < 0; t++)
        if ((m = replica_in(c, t, east)) >= 0)
            s = t;
    assert_true(m >= 0);
    w->master[s] = m;
    st_report *r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    char want[400], name[64], planned[64];
    int back = c->plan->shards[s].master;
    plan_node_name(c->plan, m, name, sizeof(name));
    plan_node_name(c->plan, back, planned, sizeof(planned));
    snprintf(want, sizeof(want),
             "%s holds 2 masters (plan: 1): losing %s now leaves 1 of 3 masters, too few to "
             "vote a replica in; `meridian rebalance` would move shard %d's master from %s "
             "(%s) to %s (%s)",
             east, east, s + 1, name, east, planned,
             c->topo->regions[plan_node_host(c->plan, back)->region].name);
    assert_string_equal(r->summary, want);
    /* the same decision, as status --json gives it */
    assert_true(r->has_rebalance);
    assert_int_equal(r->rebalance.kind, REBAL_MOVE);
    assert_int_equal(r->rebalance.from, m);
    assert_int_equal(r->rebalance.to, back);
    assert_int_equal(r->shards[s].master, m);
    assert_true(r->live_unsafe >= 0);
    status_free(&r);
    free(w);
}

/* Shard 2's master owns a slot of shard 1's range: no error (a shard's
 * slots are any set), but each owns another count than the plan gives
 * it, which `meridian deploy` evens out. */
static void test_slot_served_by_another_shard(void **state)
{
    const orch_ctx *c = *state;
    world *w = planned(c);
    w->owner[0] = 1;
    st_report *r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    assert_string_equal(r->summary,
                        "shard 1 owns 5460 slots, the plan gives it 5461: `meridian deploy` "
                        "moves the difference; shard 2 owns 5462 slots, the plan gives it "
                        "5461: `meridian deploy` moves the difference");
    assert_string_equal(r->shards[0].problem, "");
    assert_string_equal(r->shards[1].problem, "");
    assert_int_equal(r->shards[0].state, ST_SHARD_UNBALANCED);
    assert_int_equal(r->shards[0].slots_owned, 5460);
    assert_int_equal(r->shards[1].slots_owned, 5462);
    assert_int_equal(r->shards[1].slots_served, 5462);
    assert_int_equal(r->shards[1].nranges, 2);
    assert_int_equal(r->shards[1].ranges[0].first, 0);
    assert_int_equal(r->shards[1].ranges[0].last, 0);
    assert_int_equal(r->shards[1].master, w->master[1]);
    for (int i = 0; i < r->nnodes; i++)
        assert_true(r->nodes[i].healthy);
    status_free(&r);
    free(w);
}

/* A slot owned by a master outside the deployment (another cluster's,
 * met by mistake). */
static void test_slot_owned_outside_the_deployment(void **state)
{
    const orch_ctx *c = *state;
    world *w = planned(c);
    w->owner[0] = OUTSIDE;
    st_report *r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    assert_int_equal(r->slots_outside, 1);
    assert_int_equal(r->slots_unassigned, 0);
    assert_string_equal(r->slots_problem, "1 slot (the first 0) is owned by " OUTSIDE_ADDR
                                          ":7000, a node outside the deployment");
    assert_non_null(strstr(r->summary, r->slots_problem));
    assert_ptr_equal(r->summary, strstr(r->summary, r->slots_problem)); /* first */
    status_free(&r);
    free(w);
}

/* Slots no node owns: no key in them can be written. */
static void test_unassigned_slots(void **state)
{
    const orch_ctx *c = *state;
    world *w = planned(c);
    for (int slot = 7000; slot < 7010; slot++)
        w->owner[slot] = NOBODY;
    st_report *r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_CRITICAL);
    assert_int_equal(r->slots_unassigned, 10);
    assert_string_equal(r->summary,
                        "10 slots (the first 7000) are not assigned: no node serves them");
    assert_int_equal(r->shards[1].nranges, 2);
    assert_int_equal(r->shards[1].master, w->master[1]);
    status_free(&r);
    free(w);
}

/* Shard 1's master is down and flagged fail; no replica promoted yet. */
static void test_shard_without_a_master(void **state)
{
    const orch_ctx *c = *state;
    world *w = planned(c);
    int failed = w->master[0];
    w->down[failed] = true;
    st_report *r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_CRITICAL);
    assert_string_equal(r->summary, "2 of 3 shards serve: shard 1: slots 0-5460 have no live "
                                    "master: shard 1 does not serve");
    assert_int_equal(r->shards[0].master, -1);
    assert_false(r->nodes[failed].healthy);
    /* its replicas have no live master to follow */
    int i = c->plan->shards[0].first + (c->plan->shards[0].first == failed);
    assert_string_equal(r->nodes[i].problem, "its shard has no live master to follow");
    status_free(&r);
    free(w);
}

static void test_node_disagrees_on_the_slot_map(void **state)
{
    const orch_ctx *c = *state;
    world *w = planned(c);
    /* shard 1's replica in its master's region: the one outside stays */
    w->blind = replica_in(c, 0, c->topo->regions[plan_node_host(c->plan, w->master[0])->region].name);
    assert_true(w->blind >= 0);
    st_report *r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    assert_string_equal(r->summary, "degraded: 8 of 9 nodes healthy");
    assert_false(r->nodes[w->blind].map_agrees);
    assert_string_equal(r->nodes[w->blind].problem,
                        "disagrees on the slot map (first at slot 100)");
    for (int i = 0; i < r->nnodes; i++)
        if (i != w->blind)
            assert_true(r->nodes[i].map_agrees);
    status_free(&r);
    free(w);
}

static void test_lagging_replica_and_failing_state(void **state)
{
    const orch_ctx *c = *state;
    world *w = planned(c);
    st_report *r = report(c, w);
    int lagging = c->plan->shards[1].first + (c->plan->shards[1].master ==
                                              c->plan->shards[1].first);
    r->nodes[lagging].offset = 7000 - 5 * 1024 * 1024;
    int failing = c->plan->shards[2].master;
    snprintf(r->nodes[failing].cluster_state, sizeof(r->nodes[failing].cluster_state), "fail");
    status_mode_cluster.judge(c, r);
    char want[64];
    snprintf(want, sizeof(want), "lags %d bytes", 5 * 1024 * 1024);
    assert_string_equal(r->nodes[lagging].problem, want);
    assert_string_equal(r->nodes[failing].problem, "cluster_state:fail");
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    status_free(&r);
    free(w);
}

/* Append ITEM (" [7000-<-<id>]") to node I's own line of its view. */
static void add_to_own_line(st_report *r, int i, const char *item)
{
    /* the node's own line is its first with "myself" */
    char *text = r->nodes[i].cluster_nodes, *mine = strstr(text, "myself");
    assert_non_null(mine);
    char *eol = strchr(mine, '\n');
    char *fixed = calloc(1, strlen(text) + strlen(item) + 1);
    assert_non_null(fixed);
    memcpy(fixed, text, (size_t)(eol - text));
    strcat(fixed, item);
    strcat(fixed, eol);
    free(text);
    r->nodes[i].cluster_nodes = fixed;
}

/* A master left importing a slot from another shard's master (an
 * unfinished move, or keys for a slot that node owns). */
static void test_open_slot_move(void **state)
{
    const orch_ctx *c = *state;
    world *w = planned(c);
    st_report *r = report(c, w);
    int m = w->master[0], other = w->master[1];
    char id[41], item[96];
    node_id(other, id, sizeof(id));
    snprintf(item, sizeof(item), " [7000-<-%s]", id);
    add_to_own_line(r, m, item);
    status_mode_cluster.judge(c, r);
    char want[160];
    snprintf(want, sizeof(want),
             "slot 7000 is importing from %s:%d (an unfinished move, or keys for a slot that "
             "node owns)",
             plan_node_host(c->plan, other)->address, c->plan->nodes[other].port);
    assert_string_equal(r->nodes[m].problem, want);
    assert_false(r->nodes[m].healthy);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    status_free(&r);
    free(w);
}

/* ==== scaled clusters ==== */

/* W for 3 shards grown to 5 as cluster/reshard.h moves slots: each
 * deployed shard keeps the lowest slots of its old range, up to its new
 * quota, and gives the rest in order to the new shards, shard 4 first.
 * A new shard's slots are then pieces of several old ranges. */
static void grown_into(const orch_ctx *c, world *w)
{
    const mrd_plan *p = c->plan;
    planned_into(c, w);
    int have[MAXS] = {0}, taker = 3;
    for (int s = 0; s < 3; s++) {
        int first = s * STORE_CLUSTER_SLOTS / 3, last = (s + 1) * STORE_CLUSTER_SLOTS / 3 - 1;
        for (int slot = first; slot <= last; slot++) {
            int to = s;
            if (have[s] == p->shards[s].nslots) {
                while (have[taker] == p->shards[taker].nslots)
                    taker++;
                to = taker;
            }
            w->owner[slot] = (int16_t)to;
            have[to]++;
        }
    }
}

/* After a grow carried out: every shard owns its quota, the new ones in
 * pieces, none its plan range.  Healthy, no warning. */
static void test_scaled_non_contiguous_slots(void **state)
{
    (void)state;
    orch_ctx *c = scaled(3, 5);
    assert_int_equal(c->plan->nadded, 2);
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    grown_into(c, w);
    st_report *r = judge(c, w);
    assert_string_equal(r->summary, "healthy: 5 shards serve all 16384 slots, 10 replicas "
                                    "linked, cluster_state ok on 15 nodes");
    assert_int_equal(r->health, MRD_HEALTH_OK);
    for (int s = 0; s < 5; s++) {
        const st_shard *x = &r->shards[s];
        assert_int_equal(x->state, ST_SHARD_SERVING);
        assert_int_equal(x->slots_owned, c->plan->shards[s].nslots);
        assert_int_equal(x->slots_served, x->slots_owned);
        assert_int_equal(x->master, c->plan->shards[s].master);
        assert_string_equal(x->problem, "");
        assert_string_equal(x->scale, "");
    }
    /* shard 4 took the top of shard 1's old range and a piece of shard 2's */
    assert_int_equal(r->shards[3].nranges, 2);
    assert_int_equal(r->shards[3].ranges[0].first, c->plan->shards[0].nslots);
    assert_true(r->shards[3].ranges[0].first != c->plan->shards[3].slot_first);
    for (int i = 0; i < r->nnodes; i++)
        assert_true(r->nodes[i].healthy);
    assert_false(rebalance_needed(&r->rebalance));
    status_free(&r);
    free(w);
    teardown((void **)&c);
}

/* A grow under way: shard 4 has 1200 of its 3277 slots, the next one
 * moving (open on both ends); shards 1 and 2 still hold what they will
 * give it. */
static void test_scale_filling_shard(void **state)
{
    (void)state;
    orch_ctx *c = scaled(3, 5);
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    grown_into(c, w);
    int taken = 0, next = -1;
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS; slot++) {
        if (w->owner[slot] != 3 || taken++ < 1200)
            continue;
        if (next < 0)
            next = slot;
        w->owner[slot] = (int16_t)(slot * 3 / STORE_CLUSTER_SLOTS); /* not moved yet */
    }
    assert_true(next >= 0);
    assert_int_equal(w->owner[next], 0);
    st_report *r = report(c, w);
    int to = w->master[3], from = w->master[0];
    char id[41], item[96];
    node_id(from, id, sizeof(id));
    snprintf(item, sizeof(item), " [%d-<-%s]", next, id);
    add_to_own_line(r, to, item);
    node_id(to, id, sizeof(id));
    snprintf(item, sizeof(item), " [%d->-%s]", next, id);
    add_to_own_line(r, from, item);
    status_mode_cluster.judge(c, r);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    /* as status --json and the table give it */
    json_t *j = status_to_json(c, r), *x = json_array_get(json_object_get(j, "shards"), 3);
    assert_non_null(x);
    assert_string_equal(json_string_value(json_object_get(x, "state")), "filling");
    assert_int_equal(json_integer_value(json_object_get(x, "slots_owned")), 1200);
    assert_int_equal(json_integer_value(json_object_get(x, "slot_quota")), 3277);
    assert_string_equal(json_string_value(json_object_get(x, "scale")),
                        "shard 4 is being filled: 1200 of 3277 slots");
    json_t *ranges = json_object_get(x, "slot_ranges");
    assert_int_equal(json_array_size(ranges), 1);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(ranges, 0), 0)),
                     c->plan->shards[0].nslots);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(ranges, 0), 1)),
                     c->plan->shards[0].nslots + 1199);
    /* the plan's range, kept as it was: what a fresh cluster gives it */
    assert_int_equal(json_integer_value(json_object_get(x, "slot_first")),
                     c->plan->shards[3].slot_first);
    assert_int_equal(json_integer_value(json_object_get(x, "slot_last")),
                     c->plan->shards[3].slot_last);
    assert_int_equal(json_integer_value(json_object_get(j, "slots_unassigned")), 0);
    json_decref(j);
    char *table = NULL;
    size_t tlen = 0;
    FILE *out = open_memstream(&table, &tlen);
    assert_non_null(out);
    status_print(out, c, r);
    fclose(out);
    char row[128];
    snprintf(row, sizeof(row), "4      1200/3277  %d-%d", c->plan->shards[0].nslots,
             c->plan->shards[0].nslots + 1199);
    assert_non_null(strstr(table, row));
    free(table);
    assert_int_equal(r->shards[3].state, ST_SHARD_FILLING);
    assert_int_equal(r->shards[3].slots_owned, 1200);
    assert_int_equal(r->shards[3].master, to);
    assert_string_equal(r->shards[3].scale, "shard 4 is being filled: 1200 of 3277 slots");
    assert_int_equal(r->shards[4].state, ST_SHARD_SERVING);
    assert_int_equal(r->shards[0].state, ST_SHARD_UNBALANCED);
    char want[512];
    snprintf(want, sizeof(want),
             "shard 1 owns %d slots, the plan gives it %d: `meridian deploy` moves the "
             "difference; shard 2 owns %d slots, the plan gives it %d: `meridian deploy` "
             "moves the difference; shard 4 is being filled: 1200 of 3277 slots; degraded: "
             "13 of 15 nodes healthy",
             r->shards[0].slots_owned, c->plan->shards[0].nslots, r->shards[1].slots_owned,
             c->plan->shards[1].nslots);
    assert_string_equal(r->summary, want);
    /* the open move is reported on both nodes */
    snprintf(want, sizeof(want), "slot %d is left migrating to %s:%d (an unfinished move)",
             next, plan_node_host(c->plan, to)->address, c->plan->nodes[to].port);
    assert_string_equal(r->nodes[from].problem, want);
    assert_non_null(strstr(r->nodes[to].problem, "is importing from"));
    status_free(&r);
    free(w);
    teardown((void **)&c);
}

/* 5 shards shrunk to 3, the shrink's slot moves done: shards 4 and 5 own
 * nothing and their nodes are stopped (the others flag them fail).  The
 * plan still lists them until the deploy finishes: no finding. */
static void test_scale_retiring_shards_stopped(void **state)
{
    (void)state;
    orch_ctx *c = scaled(5, 3);
    assert_int_equal(c->plan->nretiring, 2);
    world *w = planned(c);
    for (int i = 0; i < c->plan->nnodes; i++)
        w->down[i] = c->plan->shards[c->plan->nodes[i].shard].retiring;
    st_report *r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_OK);
    assert_string_equal(r->summary,
                        "healthy: 3 shards serve all 16384 slots, 6 replicas linked, "
                        "cluster_state ok on 9 nodes; shard 4 is drained: it retires when "
                        "`meridian deploy` finishes; shard 5 is drained: it retires when "
                        "`meridian deploy` finishes");
    for (int s = 3; s < 5; s++) {
        assert_int_equal(r->shards[s].state, ST_SHARD_RETIRING);
        assert_int_equal(r->shards[s].master, -1);
        assert_int_equal(r->shards[s].slots_owned, 0);
        assert_null(r->shards[s].ranges);
        assert_string_equal(r->shards[s].problem, "");
    }
    int i = c->plan->shards[3].first;
    assert_string_equal(r->nodes[i].problem, "retiring with shard 4 (connection refused)");
    status_free(&r);
    free(w);
    teardown((void **)&c);
}

/* A shrink under way: shard 5 still owns 800 slots, taken from shard 3;
 * shard 4 is drained and stopped.  WARNING; CRITICAL once shard 5's
 * master is down too, for its slots are then served by nobody. */
static void test_scale_draining_shard(void **state)
{
    (void)state;
    orch_ctx *c = scaled(5, 3);
    world *w = planned(c);
    for (int i = 0; i < c->plan->nnodes; i++)
        w->down[i] = c->plan->nodes[i].shard == 3;
    for (int slot = STORE_CLUSTER_SLOTS - 800; slot < STORE_CLUSTER_SLOTS; slot++)
        w->owner[slot] = 4;
    st_report *r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    assert_string_equal(r->summary,
                        "shard 3 owns 4662 slots, the plan gives it 5462: `meridian deploy` "
                        "moves the difference; shard 5 is being drained: 800 slots left, then "
                        "its nodes retire; shard 4 is drained: it retires when `meridian "
                        "deploy` finishes");
    assert_int_equal(r->shards[4].state, ST_SHARD_DRAINING);
    assert_int_equal(r->shards[4].master, w->master[4]);
    assert_int_equal(r->shards[3].state, ST_SHARD_RETIRING);
    status_free(&r);

    w->down[w->master[4]] = true;
    r = judge(c, w);
    assert_int_equal(r->health, MRD_HEALTH_CRITICAL);
    assert_int_equal(r->shards[4].state, ST_SHARD_DOWN);
    assert_string_equal(r->summary, "3 of 4 shards serve: shard 5: slots 15584-16383 have no "
                                    "live master: shard 5 does not serve");
    status_free(&r);
    free(w);
    teardown((void **)&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy),
        cmocka_unit_test(test_masters_spread_against_the_plan),
        cmocka_unit_test(test_slot_served_by_another_shard),
        cmocka_unit_test(test_shard_without_a_master),
        cmocka_unit_test(test_node_disagrees_on_the_slot_map),
        cmocka_unit_test(test_lagging_replica_and_failing_state),
        cmocka_unit_test(test_open_slot_move),
        cmocka_unit_test(test_slot_owned_outside_the_deployment),
        cmocka_unit_test(test_unassigned_slots),
        cmocka_unit_test(test_scaled_non_contiguous_slots),
        cmocka_unit_test(test_scale_filling_shard),
        cmocka_unit_test(test_scale_retiring_shards_stopped),
        cmocka_unit_test(test_scale_draining_shard),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
