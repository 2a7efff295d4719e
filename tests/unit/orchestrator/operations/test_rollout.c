/* test_rollout.c - rollout_plan() over the local layouts, with each
 * shard's plan master leading. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_layout.h"
#include "rollout.h"

static const char topology_fmt[] = MRD_TEST_LOCAL_LAYOUT;

typedef struct fixture {
    orch_ctx c;
    st_report r;
    st_shard shards[8];
    ro_plan p;
} fixture;

static fixture *open_fixture(const char *mode)
{
    char text[4096];
    snprintf(text, sizeof(text), topology_fmt, mode);
    fixture *f = calloc(1, sizeof(*f));
    mrd_error err;
    assert_non_null(f);
    if (topology_parse(text, strlen(text), "test.json", &f->c.topo, &err) != MRD_OK ||
        plan_build(f->c.topo, &f->c.plan, &err) != MRD_OK)
        fail_msg("setup: %s", err.msg);
    for (int s = 0; s < f->c.plan->nshards; s++)
        f->shards[s] = (st_shard){.master = f->c.plan->shards[s].master};
    f->r = (st_report){.health = MRD_HEALTH_OK, .shards = f->shards,
                       .nshards = f->c.plan->nshards};
    return f;
}

static void close_fixture(fixture *f)
{
    plan_free(&f->c.plan);
    topology_free(&f->c.topo);
    free(f);
}

static int region(const fixture *f, int node)
{
    return f->c.topo->hosts[f->c.plan->nodes[node].host].region;
}

/* The checks every plan must pass: agents first; every plan node
 * restarted exactly once; every sentinel once; each leader's switchover
 * to a replica of its region, right before the leader's own restart, and
 * after every other replica and sentinel. */
static void check_plan(const fixture *f)
{
    const mrd_plan *p = f->c.plan;
    const ro_plan *rp = &f->p;
    assert_true(rp->n > 0);
    assert_int_equal(rp->steps[0].kind, RO_AGENTS);
    int restarted[64] = {0}, sentinels = 0, last_plain = -1;
    for (int i = 1; i < rp->n; i++) {
        const ro_step *s = &rp->steps[i];
        if (s->kind == RO_REPLICA)
            restarted[s->node]++;
        if (s->kind == RO_SENTINEL)
            sentinels++;
        bool leader = s->kind == RO_REPLICA && s->node == f->shards[s->shard].master;
        if (s->kind == RO_SENTINEL || (s->kind == RO_REPLICA && !leader))
            last_plain = i;
        if (s->kind == RO_SWITCHOVER) {
            int m = f->shards[s->shard].master;
            assert_int_equal(region(f, s->node), region(f, m));
            assert_int_not_equal(s->node, m);
            assert_true(i + 1 < rp->n);
            assert_int_equal(rp->steps[i + 1].kind, RO_REPLICA);
            assert_int_equal(rp->steps[i + 1].node, m);
        }
    }
    for (int i = 0; i < p->nnodes; i++)
        assert_int_equal(restarted[i], 1);
    assert_int_equal(sentinels, p->nsentinels);
    for (int i = 1; i < rp->n; i++)
        if (rp->steps[i].kind == RO_SWITCHOVER)
            assert_true(i > last_plain);
}

static void sentinel_layout(void **state)
{
    (void)state;
    fixture *f = open_fixture("sentinel");
    char why[200] = "";
    assert_int_equal(rollout_plan(&f->c, &f->r, &f->p, why, sizeof(why)), MRD_OK);
    /* agents, 5 replicas, 3 sentinels, switchover, the old leader */
    assert_int_equal(f->p.n, 11);
    check_plan(f);
    /* replicas outside us-east before the one in it */
    int m = f->shards[0].master;
    bool seen_here = false;
    for (int i = 1; i < f->p.n; i++) {
        const ro_step *s = &f->p.steps[i];
        if (s->kind != RO_REPLICA || s->node == m)
            continue;
        if (region(f, s->node) == region(f, m))
            seen_here = true;
        else
            assert_false(seen_here);
    }
    close_fixture(f);
}

static void cluster_layout(void **state)
{
    (void)state;
    fixture *f = open_fixture("cluster");
    char why[200] = "";
    assert_int_equal(rollout_plan(&f->c, &f->r, &f->p, why, sizeof(why)), MRD_OK);
    /* agents, 6 replicas, 3 x (switchover, old leader); no sentinel */
    assert_int_equal(f->p.n, 13);
    check_plan(f);
    close_fixture(f);
}

/* After an earlier failover another node leads: the plan follows who
 * leads now, not the plan's master. */
static void follows_the_live_leader(void **state)
{
    (void)state;
    fixture *f = open_fixture("sentinel");
    const mrd_plan_shard *ps = &f->c.plan->shards[0];
    int other = ps->first + ps->nnodes - 1;
    assert_int_not_equal(other, ps->master);
    f->shards[0].master = other;
    char why[200] = "";
    assert_int_equal(rollout_plan(&f->c, &f->r, &f->p, why, sizeof(why)), MRD_OK);
    check_plan(f);
    assert_int_equal(f->p.steps[f->p.n - 1].node, other);
    close_fixture(f);
}

static void refused_without_a_master(void **state)
{
    (void)state;
    fixture *f = open_fixture("cluster");
    f->shards[1].master = -1;
    char why[200] = "";
    assert_int_not_equal(rollout_plan(&f->c, &f->r, &f->p, why, sizeof(why)), MRD_OK);
    assert_non_null(strstr(why, "shard 2 has no master serving now"));
    close_fixture(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sentinel_layout),
        cmocka_unit_test(cluster_layout),
        cmocka_unit_test(follows_the_live_leader),
        cmocka_unit_test(refused_without_a_master),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
