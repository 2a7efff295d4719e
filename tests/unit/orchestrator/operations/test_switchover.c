/* test_switchover.c - switchover_choose() over hand-made status reports,
 * sw_resume_decide() over every state, the state names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_layout.h"
#include "switchover.h"

/* The local layout: three regions of two hosts, sentinel mode, the leader
 * on use-a1 (127.0.1.1:16379). */
static const char topology_fmt[] = MRD_TEST_LOCAL_LAYOUT;

typedef struct fixture {
    orch_ctx c;
    st_report r;
    st_node nodes[16];
    st_shard shard;
} fixture;

/* Every replica linked to the plan's master and caught up. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    mrd_error err;
    char topology[4096];
    snprintf(topology, sizeof(topology), topology_fmt, "sentinel");
    assert_non_null(f);
    if (topology_parse(topology, strlen(topology), "test.json", &f->c.topo, &err) != MRD_OK ||
        plan_build(f->c.topo, &f->c.plan, &err) != MRD_OK)
        fail_msg("setup: %s", err.msg);
    const mrd_plan *p = f->c.plan;
    int m = p->shards[0].master;
    for (int i = 0; i < p->nnodes; i++) {
        f->nodes[i] = (st_node){.node = i, .host = p->nodes[i].host, .reachable = true,
                                .is_master = i == m, .link_up = i != m,
                                .master_port = p->nodes[m].port, .healthy = true};
        snprintf(f->nodes[i].master_host, sizeof(f->nodes[i].master_host), "%s",
                 f->c.topo->hosts[p->nodes[m].host].address);
    }
    f->shard = (st_shard){.master = m};
    f->r = (st_report){.health = MRD_HEALTH_OK, .master = m, .nodes = f->nodes,
                       .nnodes = p->nnodes, .shards = &f->shard, .nshards = 1};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    plan_free(&f->c.plan);
    topology_free(&f->c.topo);
    free(f);
    return 0;
}

static int node_on(const fixture *f, const char *host)
{
    for (int i = 0; i < f->c.plan->nnodes; i++)
        if (strcmp(f->c.topo->hosts[f->c.plan->nodes[i].host].name, host) == 0)
            return i;
    fail_msg("no node on %s", host);
    return -1;
}

static void choose_region_and_host(void **state)
{
    fixture *f = *state;
    char why[300] = "";
    int to = switchover_choose(&f->c, &f->r, 0, "eu-west", why, sizeof(why));
    assert_true(to == node_on(f, "euw-a1") || to == node_on(f, "euw-b1"));
    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "aps-b1", why, sizeof(why)),
                     node_on(f, "aps-b1"));
}

static void least_lag_wins_in_a_region(void **state)
{
    fixture *f = *state;
    char why[300] = "";
    f->nodes[node_on(f, "euw-a1")].lag_bytes = 500;
    f->nodes[node_on(f, "euw-b1")].lag_bytes = 10;
    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "eu-west", why, sizeof(why)),
                     node_on(f, "euw-b1"));
}

static void leader_there_already(void **state)
{
    fixture *f = *state;
    char why[300] = "";
    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "us-east", why, sizeof(why)), -2);
    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "use-a1", why, sizeof(why)), -2);
}

static void refusals_name_the_cause(void **state)
{
    fixture *f = *state;
    char why[300] = "";
    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "mars", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "\"mars\" is neither a host nor a region"));

    f->nodes[node_on(f, "aps-a1")].lag_bytes = 50LL * 1024 * 1024;
    f->nodes[node_on(f, "aps-b1")].link_up = false;
    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "ap-south", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "no caught-up replica of shard 1 on ap-south"));

    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "aps-a1", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "not caught up"));

    f->nodes[node_on(f, "euw-a1")].reachable = false;
    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "euw-a1", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "does not answer"));

    /* a replica of another node */
    snprintf(f->nodes[node_on(f, "euw-b1")].master_host, 64, "127.0.9.9");
    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "euw-b1", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "does not replicate from the leader"));

    f->shard.master = -1;
    assert_int_equal(switchover_choose(&f->c, &f->r, 0, "eu-west", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "no master serving"));
    assert_int_equal(switchover_choose(&f->c, &f->r, 3, "eu-west", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "no shard 4"));
}

static void states_in_order(void **state)
{
    (void)state;
    const char *order[] = {"hold", "pause", "catchup", "failover", "promoted",
                           "verify", "release", "done"};
    for (int i = 0; i < SW__COUNT; i++) {
        assert_string_equal(sw_state_name((sw_state)i), order[i]);
        assert_int_equal(sw_state_parse(order[i]), i);
    }
    assert_int_equal(sw_state_parse("paused"), -1);
    assert_int_equal(sw_state_parse(NULL), -1);
}

/* Before the failover was asked for nothing can have moved: roll back
 * (whoever leads).  After it: go on while the target leads, wait while a
 * failover runs (or a sentinel could not be asked); a failover that ended
 * without the target is rolled back before verifying, and dropped from
 * verifying on (the target had led: another failover moved it since). */
static void resume_decisions(void **state)
{
    (void)state;
    for (int s = SW_HOLD; s < SW_FAILOVER; s++)
        for (int t = 0; t < 2; t++)
            for (int f = 0; f < 2; f++)
                assert_int_equal(sw_resume_decide((sw_state)s, t, f), SW_RESUME_ROLLBACK);
    for (int s = SW_FAILOVER; s < SW_DONE; s++) {
        assert_int_equal(sw_resume_decide((sw_state)s, true, false), SW_RESUME_ON);
        assert_int_equal(sw_resume_decide((sw_state)s, true, true), SW_RESUME_ON);
        assert_int_equal(sw_resume_decide((sw_state)s, false, true), SW_RESUME_WAIT);
    }
    assert_int_equal(sw_resume_decide(SW_FAILOVER, false, false), SW_RESUME_ROLLBACK);
    assert_int_equal(sw_resume_decide(SW_PROMOTED, false, false), SW_RESUME_ROLLBACK);
    assert_int_equal(sw_resume_decide(SW_VERIFY, false, false), SW_RESUME_DROP);
    assert_int_equal(sw_resume_decide(SW_RELEASE, false, false), SW_RESUME_DROP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(choose_region_and_host, setup, teardown),
        cmocka_unit_test_setup_teardown(least_lag_wins_in_a_region, setup, teardown),
        cmocka_unit_test_setup_teardown(leader_there_already, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_name_the_cause, setup, teardown),
        cmocka_unit_test(states_in_order),
        cmocka_unit_test(resume_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
