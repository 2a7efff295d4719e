/* test_rebalance.c - the rebalance decision (orchestrator/cluster/
 * rebalance.c): for a chosen state of regions/local-cluster.json's cluster
 * (which node is each shard's master, who lags, who is down or doubted),
 * CLUSTER NODES texts are written here for every node, parsed, and the one
 * step (or the refusal) is checked.  Two cases scale the cluster first:
 * a shard's slots are then any set, not its plan range, and a new shard
 * may own none yet. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "health.h"
#include "orch.h"
#include "rebalance.h"

/* regions/local-cluster.json: 3 regions x 2 hosts, %d shards (3 there),
 * 2 replicas.  Shard 3: master aps-a1 (ap-south), replicas use-b1
 * (us-east) and aps-b1:16380 (ap-south). */
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

#define MAXS 5  /* shards of a case's plan, at most */
#define MAXN 15 /* its nodes */

/* The state of the cluster a case describes. */
typedef struct world {
    int master[MAXS];       /* per shard: the plan node that is its master */
    const int16_t *owner;   /* per slot: the shard whose master owns it;
                               NULL: each shard its plan range */
    int follows[MAXN];      /* per node: the node it replicates; -1: its shard's master */
    long long lag[MAXN];    /* per replica: bytes behind */
    bool down[MAXN];        /* does not answer */
    bool nofailover[MAXN];  /* being restored */
    int doubted;            /* a node every view flags fail?; -1 */
    long long epoch[MAXN];  /* per node: cluster_current_epoch */
} world;

typedef struct fixture {
    orch_ctx c;
    store_cluster_view *v[MAXN];
    rebal_node n[MAXN];
} fixture;

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
    fixture *f = calloc(1, sizeof(*f));
    mrd_error err;
    if (!f || !(f->c.topo = topology_of(3)) ||
        plan_build(f->c.topo, &f->c.plan, &err) != MRD_OK || f->c.plan->nnodes != 9)
        return -1;
    for (int i = 0; i < MAXN; i++)
        if (!(f->v[i] = store_cluster_view_new()))
            return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < MAXN; i++)
        store_cluster_view_free(&f->v[i]);
    plan_free(&f->c.plan);
    topology_free(&f->c.topo);
    free(f);
    return 0;
}

static world planned(const fixture *f)
{
    world w = {.doubted = -1};
    for (int s = 0; s < f->c.plan->nshards; s++)
        w.master[s] = f->c.plan->shards[s].master;
    for (int i = 0; i < MAXN; i++) {
        w.follows[i] = -1;
        w.epoch[i] = 3;
    }
    return w;
}

/* Plan node of shard S on host HOST ("use-b1"). */
static int node_on(const fixture *f, int s, const char *host)
{
    int h = topology_find_host(f->c.topo, host);
    assert_true(h >= 0);
    int i = plan_node_on(f->c.plan, s, h);
    assert_true(i >= 0);
    return i;
}

static int master_of(const world *w, const mrd_plan *p, int i)
{
    return w->follows[i] >= 0 ? w->follows[i] : w->master[p->nodes[i].shard];
}

/* Fill f->v and f->n for world W, and decide. */
static void decide(fixture *f, const world *w, rebal_decision *d)
{
    const mrd_plan *p = f->c.plan;
    assert_true(p->nnodes <= MAXN && p->nshards <= MAXS);
    for (int viewer = 0; viewer < p->nnodes; viewer++) {
        mrd_buf b;
        mrd_buf_init(&b, SIZE_MAX);
        for (int i = 0; i < p->nnodes; i++) {
            int s = p->nodes[i].shard;
            bool master = w->master[s] == i;
            char mid[41];
            snprintf(mid, sizeof(mid), "%040d", master_of(w, p, i) + 1);
            assert_int_equal(
                mrd_buf_addf(&b, "%040d %s:%d@%d %s%s%s%s %s 0 0 %d connected", i + 1,
                             plan_node_host(p, i)->address, p->nodes[i].port,
                             p->nodes[i].bus_port, i == viewer ? "myself," : "",
                             master ? "master" : "slave", i == w->doubted ? ",fail?" : "",
                             w->nofailover[i] ? ",nofailover" : "", master ? "-" : mid, s + 1),
                MRD_OK);
            if (master && !w->owner && p->shards[s].nslots)
                assert_int_equal(mrd_buf_addf(&b, " %d-%d", p->shards[s].slot_first,
                                              p->shards[s].slot_last),
                                 MRD_OK);
            for (int slot = 0; master && w->owner && slot < STORE_CLUSTER_SLOTS; slot++)
                if (w->owner[slot] == s)
                    assert_int_equal(mrd_buf_addf(&b, " %d", slot), MRD_OK);
            assert_int_equal(mrd_buf_addf(&b, "\n"), MRD_OK);
        }
        assert_int_equal(store_cluster_nodes_parse(b.p, b.len, f->v[viewer], NULL), MRD_OK);
        mrd_buf_free(&b);
        int s = p->nodes[viewer].shard;
        bool m = w->master[s] == viewer;
        f->n[viewer] = (rebal_node){.up = !w->down[viewer],
                                    .view = w->down[viewer] ? NULL : f->v[viewer],
                                    .cluster_ok = true,
                                    .current_epoch = w->epoch[viewer],
                                    .is_master = m,
                                    .offset = m ? 50000000 : 50000000 - w->lag[viewer],
                                    .link_up = !m};
    }
    rebalance_decide(p, f->n, d);
}

/* Shard 3's master on its us-east replica: what the integration test does. */
static world shard3_on_use_b1(const fixture *f)
{
    world w = planned(f);
    w.master[2] = node_on(f, 2, "use-b1");
    return w;
}

static void test_balanced(void **state)
{
    fixture *f = *state;
    world w = planned(f);
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_BALANCED);
    assert_false(rebalance_needed(&d));
    assert_true(d.settled);
    assert_int_equal(d.off_plan, 0);
}

static void test_moves_back_to_the_planned_master(void **state)
{
    fixture *f = *state;
    world w = shard3_on_use_b1(f);
    w.lag[f->c.plan->shards[2].master] = 300;
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_MOVE);
    assert_int_equal(d.shard, 2);
    assert_int_equal(d.from, node_on(f, 2, "use-b1"));
    assert_int_equal(d.to, f->c.plan->shards[2].master);
    assert_int_equal(d.lag_bytes, 300);
    assert_int_equal(d.off_plan, 1);
    assert_string_equal(d.text,
                        "move shard 3's master from use-b1 (us-east) to aps-a1 (ap-south)");
}

static void test_lagging_planned_master_another_replica_there(void **state)
{
    fixture *f = *state;
    world w = shard3_on_use_b1(f);
    w.lag[f->c.plan->shards[2].master] = MRD_CAUGHT_UP_LAG_BYTES + 1;
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_MOVE);
    assert_int_equal(d.to, node_on(f, 2, "aps-b1"));
    assert_string_equal(d.text,
                        "move shard 3's master from use-b1 (us-east) to aps-b1:16380 (ap-south)");
}

static void test_every_candidate_lags(void **state)
{
    fixture *f = *state;
    world w = shard3_on_use_b1(f);
    w.lag[f->c.plan->shards[2].master] = 5 * 1024 * 1024;
    w.lag[node_on(f, 2, "aps-b1")] = 2 * 1024 * 1024;
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_REFUSED);
    assert_int_equal(d.why, REBAL_WHY_LAG);
    assert_int_equal(d.node, f->c.plan->shards[2].master);
    assert_non_null(strstr(d.text, "aps-a1 (ap-south) lags 5242880 bytes"));
}

static void test_restoring_replica_is_not_a_target(void **state)
{
    fixture *f = *state;
    world w = shard3_on_use_b1(f);
    w.nofailover[f->c.plan->shards[2].master] = true;
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_MOVE);
    assert_int_equal(d.to, node_on(f, 2, "aps-b1"));
    w.nofailover[node_on(f, 2, "aps-b1")] = true;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_REFUSED);
    assert_int_equal(d.why, REBAL_WHY_LAG);
    assert_non_null(strstr(d.text, "still being restored"));
}

static void test_node_down(void **state)
{
    fixture *f = *state;
    world w = shard3_on_use_b1(f);
    int down = node_on(f, 1, "aps-b1"); /* a replica of another shard */
    w.down[down] = true;
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_REFUSED);
    assert_int_equal(d.why, REBAL_WHY_DOWN);
    assert_int_equal(d.node, down);
    assert_false(d.settled);
    assert_string_equal(d.text, "aps-b1 (ap-south) does not answer: no master moves while a "
                                "node is down");
    /* nothing needed: balanced, though not settled */
    w = planned(f);
    w.down[down] = true;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_BALANCED);
    assert_false(d.settled);
}

static void test_failover_running(void **state)
{
    fixture *f = *state;
    world w = shard3_on_use_b1(f);
    w.doubted = node_on(f, 0, "use-a1");
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_REFUSED);
    assert_int_equal(d.why, REBAL_WHY_FAILING);
    assert_non_null(strstr(d.text, "flags use-a1 (us-east) fail?"));
}

static void test_epochs_changing(void **state)
{
    fixture *f = *state;
    world w = shard3_on_use_b1(f);
    w.epoch[4] = 4;
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_REFUSED);
    assert_int_equal(d.why, REBAL_WHY_UNSETTLED);
    assert_non_null(strstr(d.text, "current epoch 4"));
}

static void test_view_disagrees_on_a_role(void **state)
{
    fixture *f = *state;
    world w = shard3_on_use_b1(f);
    rebal_decision d;
    decide(f, &w, &d);
    /* euw-a1's view still thinks aps-a1 is shard 3's master: rebuild it */
    const mrd_plan *p = f->c.plan;
    int viewer = p->shards[1].master;
    world stale = planned(f);
    store_cluster_view *keep = f->v[viewer];
    f->v[viewer] = store_cluster_view_new();
    assert_non_null(f->v[viewer]);
    decide(f, &stale, &d); /* fills f->v[viewer] with the stale view */
    store_cluster_view *old = f->v[viewer];
    f->v[viewer] = keep;
    decide(f, &w, &d);     /* the current views ... */
    f->n[viewer].view = old; /* ... but one stale */
    rebalance_decide(p, f->n, &d);
    assert_int_equal(d.kind, REBAL_REFUSED);
    assert_int_equal(d.why, REBAL_WHY_UNSETTLED);
    store_cluster_view_free(&old);
}

/* The reference view is the slot map most nodes share, whoever asks
 * (status judges against the same one): NULL entries do not vote, a tie
 * goes to the first. */
static void test_reference_is_the_map_most_share(void **state)
{
    fixture *f = *state;
    const mrd_plan *p = f->c.plan;
    const store_cluster_view *views[MAXN] = {0};
    assert_int_equal(rebalance_reference(views, p->nnodes), -1);
    world w = shard3_on_use_b1(f);
    world stale = planned(f);
    rebal_decision d;
    store_cluster_view *keep = f->v[0];
    f->v[0] = store_cluster_view_new();
    assert_non_null(f->v[0]);
    decide(f, &stale, &d); /* f->v[0]: the map before shard 3's failover */
    store_cluster_view *old = f->v[0];
    f->v[0] = keep;
    decide(f, &w, &d); /* every other view: the map after it */
    views[0] = old;
    for (int i = 1; i < p->nnodes; i++)
        views[i] = f->v[i];
    assert_int_equal(rebalance_reference(views, p->nnodes), 1);
    views[2] = NULL; /* did not answer */
    assert_int_equal(rebalance_reference(views, p->nnodes), 1);
    for (int i = 2; i < p->nnodes; i++)
        views[i] = NULL; /* one each: the first */
    assert_int_equal(rebalance_reference(views, p->nnodes), 0);
    views[0] = NULL;
    assert_int_equal(rebalance_reference(views, p->nnodes), 1);
    store_cluster_view_free(&old);
}

static void test_replica_of_another_shard_is_repointed_first(void **state)
{
    fixture *f = *state;
    world w = shard3_on_use_b1(f);
    int stray = node_on(f, 0, "euw-b1"); /* shard 1's replica */
    w.follows[stray] = f->c.plan->shards[1].master; /* follows shard 2's master */
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_REPOINT);
    assert_int_equal(d.node, stray);
    assert_int_equal(d.to, f->c.plan->shards[0].master);
    assert_int_equal(d.misplaced, 1);
    assert_int_equal(d.off_plan, 1);
}

static void test_most_crowded_region_first(void **state)
{
    fixture *f = *state;
    /* shard 1 moved to eu-west (euw-b1), shard 3 to us-east (use-b1): eu-west
     * holds 2 masters, us-east 1, ap-south 0 -> shard 1 goes first */
    world w = shard3_on_use_b1(f);
    w.master[0] = node_on(f, 0, "euw-b1");
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_MOVE);
    assert_int_equal(d.shard, 0);
    assert_int_equal(d.off_plan, 2);
    assert_int_equal(d.to, f->c.plan->shards[0].master);
}

/* ==== after a scale ==== */

/* Shards 1 and 2 own each other's plan range (as slot moves may leave
 * them): each shard's master is still the node of it that owns slots. */
static void test_slots_not_the_plan_range(void **state)
{
    fixture *f = *state;
    const mrd_plan *p = f->c.plan;
    static int16_t owner[STORE_CLUSTER_SLOTS];
    for (int s = 0; s < 3; s++)
        for (int slot = p->shards[s].slot_first; slot <= p->shards[s].slot_last; slot++)
            owner[slot] = (int16_t)(s == 0 ? 1 : s == 1 ? 0 : s);
    world w = planned(f);
    w.owner = owner;
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_BALANCED);
    assert_true(d.settled);
    w = shard3_on_use_b1(f);
    w.owner = owner;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_MOVE);
    assert_int_equal(d.shard, 2);
    assert_int_equal(d.to, p->shards[2].master);
    assert_int_equal(d.off_plan, 1);
}

/* 3 shards grown to 5, before any slot moved: shards 4 and 5 own none,
 * so they have no master to rebalance; the others still do. */
static void test_empty_new_shards_are_skipped(void **state)
{
    fixture *f = *state;
    mrd_topology *t3 = f->c.topo, *t5 = topology_of(5);
    mrd_plan *p3 = f->c.plan, *p5 = NULL;
    mrd_placement pl;
    mrd_error err;
    assert_int_equal(plan_placement(p3, false, &pl, &err), MRD_OK);
    assert_int_equal(plan_build_from(t5, &pl, &p5, &err), MRD_OK);
    assert_int_equal(p5->nadded, 2);
    static int16_t owner[STORE_CLUSTER_SLOTS];
    for (int slot = 0; slot < STORE_CLUSTER_SLOTS; slot++)
        owner[slot] = (int16_t)(slot * 3 / STORE_CLUSTER_SLOTS); /* the 3-shard ranges */
    f->c.topo = t5;
    f->c.plan = p5;
    world w = planned(f);
    w.owner = owner;
    rebal_decision d;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_BALANCED);
    assert_true(d.settled);
    w = shard3_on_use_b1(f);
    w.owner = owner;
    decide(f, &w, &d);
    assert_int_equal(d.kind, REBAL_MOVE);
    assert_int_equal(d.shard, 2);
    assert_string_equal(d.text,
                        "move shard 3's master from use-b1 (us-east) to aps-a1 (ap-south)");
    f->c.topo = t3;
    f->c.plan = p3;
    placement_free(&pl);
    plan_free(&p5);
    topology_free(&t5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balanced),
        cmocka_unit_test(test_moves_back_to_the_planned_master),
        cmocka_unit_test(test_lagging_planned_master_another_replica_there),
        cmocka_unit_test(test_every_candidate_lags),
        cmocka_unit_test(test_restoring_replica_is_not_a_target),
        cmocka_unit_test(test_node_down),
        cmocka_unit_test(test_failover_running),
        cmocka_unit_test(test_epochs_changing),
        cmocka_unit_test(test_view_disagrees_on_a_role),
        cmocka_unit_test(test_reference_is_the_map_most_share),
        cmocka_unit_test(test_replica_of_another_shard_is_repointed_first),
        cmocka_unit_test(test_most_crowded_region_first),
        cmocka_unit_test(test_slots_not_the_plan_range),
        cmocka_unit_test(test_empty_new_shards_are_skipped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
