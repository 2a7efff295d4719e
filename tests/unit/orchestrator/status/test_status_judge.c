/* test_status_judge.c - the sentinel mode's health judgement
 * (orchestrator/status/sentinel.c through status_mode.h).
 *
 * The judge is pure: it reads the topology and plan and what the probes
 * found, so each case builds a report by hand (as status_probe_ex fills it
 * from INFO and SENTINEL answers) and checks the verdict. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status_mode.h"

#define PORT 16379

/* The local three-region layout (tests/integration/lib.sh's
 * write_topology): six hosts, three sentinels, the master on use-a1. */
static const char topology_json[] =
    "{\"name\": \"demo\", \"mode\": \"sentinel\", \"transport\": {\"kind\": \"local\"},"
    " \"store\": {\"port\": 16379, \"leader_region\": \"us-east\"},"
    " \"sentinel\": {\"count\": 3, \"port\": 26379},"
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

/* What the probes find on a healthy deployment whose master is plan
 * node MASTER: every node reachable, the master serving, every replica
 * linked to it and caught up with the plan's replica-priority; every
 * sentinel naming the master and seeing everyone. */
static st_report *healthy(const orch_ctx *c, int master)
{
    const mrd_plan *p = c->plan;
    st_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->nodes = calloc((size_t)p->nnodes, sizeof(*r->nodes));
    r->hosts = calloc((size_t)c->topo->nhosts, sizeof(*r->hosts));
    r->sentinels = calloc((size_t)p->nsentinels, sizeof(*r->sentinels));
    r->shards = calloc(1, sizeof(*r->shards));
    r->nshards = 1;
    assert_non_null(r->shards);
    assert_non_null(r->nodes);
    assert_non_null(r->hosts);
    assert_non_null(r->sentinels);
    r->master = -1;
    r->live_unsafe = -1;
    r->nnodes = p->nnodes;
    const char *master_host = plan_node_host(p, master)->address;
    for (int i = 0; i < p->nnodes; i++) {
        st_node *n = &r->nodes[i];
        n->node = i;
        n->host = p->nodes[i].host;
        n->shard = p->nodes[i].shard;
        n->reachable = true;
        n->is_master = i == master;
        n->link_up = !n->is_master;
        if (!n->is_master) {
            snprintf(n->master_host, sizeof(n->master_host), "%s", master_host);
            n->master_port = p->nodes[master].port;
        }
        n->offset = 5000;
        n->replica_priority = n->is_master ? -1 : p->nodes[i].replica_priority;
        n->ready = -1;
    }
    for (int h = 0; h < c->topo->nhosts; h++) {
        if (!p->hosts[h].sentinel)
            continue;
        st_sentinel *s = &r->sentinels[r->nsentinels++];
        s->host = h;
        s->reachable = true;
        snprintf(s->leader, sizeof(s->leader), "%s:%d", master_host, p->nodes[master].port);
        s->replicas_ok = p->nnodes - 1;
        s->sentinels_ok = p->nsentinels - 1;
    }
    return r;
}

static void test_healthy(void **state)
{
    const orch_ctx *c = *state;
    st_report *r = healthy(c, 0);
    status_mode_sentinel.judge(c, r);
    assert_int_equal(r->health, MRD_HEALTH_OK);
    assert_int_equal(r->master, c->plan->shards[0].master);
    assert_string_equal(r->summary, "healthy: leader use-a1, 5 replicas linked, 3 sentinels agree");
    for (int i = 0; i < r->nnodes; i++) {
        assert_true(r->nodes[i].healthy);
        assert_string_equal(r->nodes[i].problem, "");
        assert_int_equal(r->nodes[i].lag_bytes, r->nodes[i].is_master ? -1 : 0);
    }
    for (int i = 0; i < r->nsentinels; i++)
        assert_true(r->sentinels[i].ok);
    assert_non_null(r->live_losses);
    assert_int_equal(r->live_unsafe, -1);
    status_free(&r);
}

/* The master is the node the sentinels name by its host's address and
 * its own port, not by the host's store.port. */
static void test_master_by_node_port(void **state)
{
    orch_ctx *c = *state;
    c->plan->nodes[3].port = PORT + 1; /* euw-b1's node on another port */
    st_report *r = healthy(c, 3);
    status_mode_sentinel.judge(c, r);
    assert_int_equal(r->master, 3);
    assert_int_equal(r->health, MRD_HEALTH_OK);
    assert_string_equal(r->summary, "healthy: leader euw-b1, 5 replicas linked, 3 sentinels agree");
    status_free(&r);

    /* the sentinels naming that host on store.port name no node */
    r = healthy(c, 3);
    for (int i = 0; i < r->nsentinels; i++)
        snprintf(r->sentinels[i].leader, sizeof(r->sentinels[i].leader), "127.0.2.2:%d", PORT);
    status_mode_sentinel.judge(c, r);
    assert_int_equal(r->master, -1);
    assert_int_equal(r->health, MRD_HEALTH_CRITICAL);
    status_free(&r);
}

/* test_master_by_node_port moves a node of the shared plan: put it back
 * even when an assertion failed. */
static int restore_port(void **state)
{
    orch_ctx *c = *state;
    c->plan->nodes[3].port = PORT;
    return 0;
}

static void test_no_majority(void **state)
{
    const orch_ctx *c = *state;
    st_report *r = healthy(c, 0);
    snprintf(r->sentinels[1].leader, sizeof(r->sentinels[1].leader), "127.0.2.1:16379");
    r->sentinels[2].reachable = false;
    status_mode_sentinel.judge(c, r);
    assert_int_equal(r->master, -1);
    assert_int_equal(r->health, MRD_HEALTH_CRITICAL);
    assert_string_equal(r->summary,
                        "no leader agreed by a majority of sentinels (1 of 3 agree)");
    assert_null(r->live_losses);
    status_free(&r);
}

static void test_lagging_replica(void **state)
{
    const orch_ctx *c = *state;
    st_report *r = healthy(c, 0);
    r->nodes[0].offset = 5000 + MRD_CAUGHT_UP_LAG_BYTES + 1;
    r->nodes[2].offset = 5000 + 1; /* within the threshold of the others */
    status_mode_sentinel.judge(c, r);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    assert_false(r->nodes[1].healthy);
    assert_int_equal(r->nodes[1].lag_bytes, MRD_CAUGHT_UP_LAG_BYTES + 1);
    assert_true(r->nodes[2].healthy);
    assert_int_equal(r->nodes[2].lag_bytes, MRD_CAUGHT_UP_LAG_BYTES);
    const char *want = "degraded: 2 of 6 nodes healthy, 3 of 3 sentinels ok";
    assert_memory_equal(r->summary, want, strlen(want));
    status_free(&r);
}

static void test_unpromotable_replica(void **state)
{
    const orch_ctx *c = *state;
    st_report *r = healthy(c, 0);
    r->nodes[4].replica_priority = 0;
    status_mode_sentinel.judge(c, r);
    assert_int_equal(r->health, MRD_HEALTH_WARNING);
    assert_true(r->nodes[4].healthy);
    assert_false(r->nodes[4].promotable);
    assert_string_equal(r->nodes[4].problem, "not promotable: replica-priority 0 (plan: 120)");
    assert_string_equal(r->summary,
                        "1 replica is not promotable as the plan says (replica-priority)");
    status_free(&r);
}

static void test_second_master_and_sentinel_view(void **state)
{
    const orch_ctx *c = *state;
    st_report *r = healthy(c, 0);
    r->nodes[5].is_master = true;
    r->sentinels[0].replicas_ok = 3;
    status_mode_sentinel.judge(c, r);
    assert_int_equal(r->health, MRD_HEALTH_CRITICAL);
    assert_string_equal(r->summary, "2 nodes act as master");
    assert_string_equal(r->nodes[5].problem,
                        "a second master: the sentinels name another leader");
    assert_string_equal(r->sentinels[0].problem, "sees 3 of 5 replicas");
    status_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy),
        cmocka_unit_test_teardown(test_master_by_node_port, restore_port),
        cmocka_unit_test(test_no_majority),
        cmocka_unit_test(test_lagging_replica),
        cmocka_unit_test(test_unpromotable_replica),
        cmocka_unit_test(test_second_master_and_sentinel_view),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
