/* test_status_cluster.c - cluster mode's health judgement
 * (orchestrator/status/cluster.c through status_mode.h).
 *
 * The judge is pure: each case builds a report by hand, as
 * status_probe_ex fills it from INFO, CLUSTER NODES and CLUSTER INFO, with
 * CLUSTER NODES texts written here for a chosen state of the cluster
 * (which node is each shard's master, who owns which slot, who failed),
 * and checks the verdict. */
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

/* regions/local-cluster.json: 3 regions x 2 hosts, 3 shards, 2 replicas. */
static const char topology_json[] =
    "{\"name\": \"demo\", \"mode\": \"cluster\", \"transport\": {\"kind\": \"local\"},"
    " \"store\": {\"port\": 16379},"
    " \"cluster\": {\"shards\": 3, \"replicas_per_shard\": 2},"
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

static int setup(void **state)
{
    orch_ctx *c = calloc(1, sizeof(*c));
    mrd_error err;
    if (!c || topology_parse(topology_json, strlen(topology_json), "test.json", &c->topo,
                             &err) != MRD_OK ||
        plan_build(c->topo, &c->plan, &err) != MRD_OK) {
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

/* The state of the cluster a case describes. */
typedef struct world {
    int master[3];       /* per shard: the plan node that is its master now */
    int slot_owner_shard[3]; /* per shard: whose master serves its range's
                                first slot (the rest is its own) */
    int failed;          /* a plan node down and flagged fail by the others; -1 */
    int blind;           /* a plan node whose view has slot 100 unassigned; -1 */
} world;

static world planned(const orch_ctx *c)
{
    world w = {.failed = -1, .blind = -1};
    for (int s = 0; s < 3; s++) {
        w.master[s] = c->plan->shards[s].master;
        w.slot_owner_shard[s] = s;
    }
    return w;
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
    for (int i = 0; i < p->nnodes; i++) {
        int s = p->nodes[i].shard;
        bool master = w->master[s] == i;
        char id[41], mid[41];
        node_id(i, id, sizeof(id));
        node_id(w->master[s], mid, sizeof(mid));
        assert_int_equal(mrd_buf_addf(&b, "%s %s:%d@%d %s%s%s %s 0 0 %d connected", id,
                                      plan_node_host(p, i)->address, p->nodes[i].port,
                                      p->nodes[i].bus_port, i == viewer ? "myself," : "",
                                      master ? "master" : "slave",
                                      i == w->failed ? ",fail" : "", master ? "-" : mid,
                                      s + 1),
                         MRD_OK);
        for (int t = 0; master && t < 3; t++) {
            const mrd_plan_shard *sh = &p->shards[t];
            int first = sh->slot_first, last = sh->slot_last;
            if (t == s && w->slot_owner_shard[t] == s) /* its own range */
                assert_int_equal(mrd_buf_addf(&b, " %d-%d", first, last), MRD_OK);
            else if (t == s) /* all but the first slot */
                assert_int_equal(mrd_buf_addf(&b, " %d-%d", first + 1, last), MRD_OK);
            else if (w->slot_owner_shard[t] == s) /* another shard's first slot */
                assert_int_equal(mrd_buf_addf(&b, " %d", first), MRD_OK);
        }
        assert_int_equal(mrd_buf_addf(&b, "\n"), MRD_OK);
    }
    char *text = mrd_buf_take(&b);
    mrd_buf_free(&b);
    assert_non_null(text);
    if (viewer == w->blind) { /* drop slot 100 from shard 1's range */
        char *at = strstr(text, " 0-5460");
        if (at) {
            char *fixed = calloc(1, strlen(text) + 16);
            assert_non_null(fixed);
            memcpy(fixed, text, (size_t)(at - text));
            strcat(fixed, " 0-99 101-5460");
            strcat(fixed, at + strlen(" 0-5460"));
            free(text);
            text = fixed;
        }
    }
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
        if (i == w->failed)
            continue;
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
    world w = planned(c);
    st_report *r = judge(c, &w);
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
}

/* After a failover, us-east holds shard 1's master and shard 3's: losing
 * us-east would leave 1 of 3 masters. */
static void test_masters_spread_against_the_plan(void **state)
{
    const orch_ctx *c = *state;
    world w = planned(c);
    const char *east = c->topo->regions[plan_node_host(c->plan, w.master[0])->region].name;
    int s = -1, m = -1;
    for (int t = 1; t < 3 && m < 0; t++)
        if ((m = replica_in(c, t, east)) >= 0)
            s = t;
    assert_true(m >= 0);
    w.master[s] = m;
    st_report *r = judge(c, &w);
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
}

static void test_slot_served_by_another_shard(void **state)
{
    const orch_ctx *c = *state;
    world w = planned(c);
    w.slot_owner_shard[0] = 1; /* slot 0 is served by shard 2's master */
    st_report *r = judge(c, &w);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    char want[160];
    const mrd_host *h2 = plan_node_host(c->plan, w.master[1]);
    snprintf(want, sizeof(want),
             "1 of its slots (the first 0) are served by %s:%d, outside the shard",
             h2->address, c->plan->nodes[w.master[1]].port);
    assert_string_equal(r->shards[0].problem, want);
    assert_string_equal(r->shards[1].problem, "its master euw-a1 also serves 1 slot of other shards");
    assert_non_null(strstr(r->summary, "shard 1: 1 of its slots"));
    status_free(&r);
}

/* Shard 1's master is down and flagged fail; no replica promoted yet. */
static void test_shard_without_a_master(void **state)
{
    const orch_ctx *c = *state;
    world w = planned(c);
    w.failed = w.master[0];
    st_report *r = judge(c, &w);
    assert_int_equal(r->health, MRD_HEALTH_CRITICAL);
    assert_string_equal(r->summary, "2 of 3 shards serve: shard 1: slots 0-5460 have no live "
                                    "master: shard 1 does not serve");
    assert_int_equal(r->shards[0].master, -1);
    assert_false(r->nodes[w.failed].healthy);
    /* its replicas have no live master to follow */
    int i = c->plan->shards[0].first + (c->plan->shards[0].first == w.failed);
    assert_string_equal(r->nodes[i].problem, "its shard has no live master to follow");
    status_free(&r);
}

static void test_node_disagrees_on_the_slot_map(void **state)
{
    const orch_ctx *c = *state;
    world w = planned(c);
    /* shard 1's replica in its master's region: the one outside stays */
    w.blind = replica_in(c, 0, c->topo->regions[plan_node_host(c->plan, w.master[0])->region].name);
    assert_true(w.blind >= 0);
    st_report *r = judge(c, &w);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    assert_string_equal(r->summary, "degraded: 8 of 9 nodes healthy");
    assert_false(r->nodes[w.blind].map_agrees);
    assert_string_equal(r->nodes[w.blind].problem,
                        "disagrees on the slot map (first at slot 100)");
    for (int i = 0; i < r->nnodes; i++)
        if (i != w.blind)
            assert_true(r->nodes[i].map_agrees);
    status_free(&r);
}

static void test_lagging_replica_and_failing_state(void **state)
{
    const orch_ctx *c = *state;
    world w = planned(c);
    st_report *r = report(c, &w);
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
}

/* A master left importing a slot from another shard's master (an
 * unfinished move, or keys for a slot that node owns). */
static void test_open_slot_move(void **state)
{
    const orch_ctx *c = *state;
    world w = planned(c);
    st_report *r = report(c, &w);
    int m = w.master[0], other = w.master[1];
    char id[41], line[96];
    node_id(other, id, sizeof(id));
    snprintf(line, sizeof(line), " [7000-<-%s]\n", id);
    /* the master's own line is its first with "myself" */
    char *text = r->nodes[m].cluster_nodes, *mine = strstr(text, "myself");
    char *eol = strchr(mine, '\n');
    char *fixed = calloc(1, strlen(text) + strlen(line) + 1);
    assert_non_null(fixed);
    memcpy(fixed, text, (size_t)(eol - text));
    strcat(fixed, line);
    strcat(fixed, eol + 1);
    free(text);
    r->nodes[m].cluster_nodes = fixed;
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
