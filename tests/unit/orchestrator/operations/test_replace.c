/* test_replace.c - when heal may replace a lost host: replace_can_act()
 * over hand-made status reports, as status_probe_ex() fills them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_layout.h"
#include "replace.h"

/* Three regions of two hosts each: sentinel mode (3 sentinels, the master
 * on use-a1) or cluster mode (3 shards). */
static const char topology_fmt[] = MRD_TEST_LOCAL_LAYOUT;

static orch_ctx *open_ctx(const char *mode)
{
    char text[4096];
    snprintf(text, sizeof(text), topology_fmt, mode);
    orch_ctx *c = calloc(1, sizeof(*c));
    mrd_error err;
    assert_non_null(c);
    if (topology_parse(text, strlen(text), "test.json", &c->topo, &err) != MRD_OK ||
        plan_build(c->topo, &c->plan, &err) != MRD_OK)
        fail_msg("setup: %s", err.msg);
    return c;
}

static void close_ctx(orch_ctx *c)
{
    plan_free(&c->plan);
    topology_free(&c->topo);
    free(c);
}

/* Every node reachable, each shard's plan master serving as master, every
 * sentinel answering and naming the master. */
static st_report *healthy(const orch_ctx *c)
{
    const mrd_plan *p = c->plan;
    st_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->nnodes = p->nnodes;
    r->nodes = calloc((size_t)p->nnodes, sizeof(*r->nodes));
    r->nshards = p->nshards;
    r->shards = calloc((size_t)p->nshards, sizeof(*r->shards));
    r->nsentinels = p->nsentinels;
    r->sentinels = calloc((size_t)(p->nsentinels ? p->nsentinels : 1), sizeof(*r->sentinels));
    assert_true(r->nodes && r->shards && r->sentinels);
    for (int i = 0; i < p->nnodes; i++)
        r->nodes[i] = (st_node){.node = i, .host = p->nodes[i].host,
                                .shard = p->nodes[i].shard, .reachable = true,
                                .is_master = p->nodes[i].master};
    for (int s = 0; s < p->nshards; s++)
        r->shards[s] = (st_shard){.master = p->shards[s].master,
                                  .state = ST_SHARD_SERVING};
    r->master = p->shards[0].master;
    for (int i = 0, k = 0; i < c->topo->nhosts; i++)
        if (p->hosts[i].sentinel) {
            r->sentinels[k] = (st_sentinel){.host = i, .reachable = true};
            snprintf(r->sentinels[k].leader, sizeof(r->sentinels[k].leader),
                     "127.0.1.1:16379");
            k++;
        }
    return r;
}

static void free_report(st_report *r)
{
    free(r->nodes);
    free(r->shards);
    free(r->sentinels);
    free(r);
}

/* A replica's host lost, the rest healthy: heal may act. */
static void test_sentinel_majority_acts(void **state)
{
    (void)state;
    orch_ctx *c = open_ctx("sentinel");
    st_report *r = healthy(c);
    int lost = topology_find_host(c->topo, "euw-b1");
    char why[300] = "";
    assert_true(replace_can_act(c, r, lost, why, sizeof(why)));
    free_report(r);
    close_ctx(c);
}

/* The minority side of a partition: no sentinel majority names a master
 * (the status judge leaves r->master at -1), so nothing is replaced. */
static void test_sentinel_minority_never_acts(void **state)
{
    (void)state;
    orch_ctx *c = open_ctx("sentinel");
    st_report *r = healthy(c);
    r->master = -1;
    for (int k = 1; k < r->nsentinels; k++)
        r->sentinels[k].reachable = false;
    char why[300] = "";
    assert_false(replace_can_act(c, r, topology_find_host(c->topo, "euw-b1"), why, sizeof(why)));
    assert_non_null(strstr(why, "majority"));
    free_report(r);
    close_ctx(c);
}

/* The lost host held the master and the sentinels still name it (their
 * failover runs): wait. */
static void test_sentinel_waits_for_failover(void **state)
{
    (void)state;
    orch_ctx *c = open_ctx("sentinel");
    st_report *r = healthy(c);
    int m = r->master;
    r->nodes[m].reachable = false;
    r->nodes[m].is_master = false;
    char why[300] = "";
    assert_false(replace_can_act(c, r, r->nodes[m].host, why, sizeof(why)));
    assert_non_null(strstr(why, "failover"));
    free_report(r);
    close_ctx(c);
}

/* Cluster mode: a shard whose master was on the lost host and has no live
 * master yet, then after its failover; and a majority of masters gone. */
static void test_cluster(void **state)
{
    (void)state;
    orch_ctx *c = open_ctx("cluster");
    st_report *r = healthy(c);
    const mrd_plan *p = c->plan;
    int m = p->shards[1].master, lost = p->nodes[m].host;
    char why[300] = "";
    r->nodes[m].reachable = false;
    r->shards[1].master = -1;
    r->shards[1].state = ST_SHARD_DOWN;
    assert_false(replace_can_act(c, r, lost, why, sizeof(why)));
    assert_non_null(strstr(why, "shard 2"));
    /* a replica of shard 2 promoted */
    int promoted = m == p->shards[1].first ? m + 1 : p->shards[1].first;
    r->shards[1].master = promoted;
    r->shards[1].state = ST_SHARD_SERVING;
    r->nodes[promoted].is_master = true;
    assert_true(replace_can_act(c, r, lost, why, sizeof(why)));
    /* two of the three masters unreachable from here */
    for (int s = 0; s < 2; s++)
        r->nodes[r->shards[s].master].reachable = false;
    assert_false(replace_can_act(c, r, lost, why, sizeof(why)));
    free_report(r);
    close_ctx(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentinel_majority_acts),
        cmocka_unit_test(test_sentinel_minority_never_acts),
        cmocka_unit_test(test_sentinel_waits_for_failover),
        cmocka_unit_test(test_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
