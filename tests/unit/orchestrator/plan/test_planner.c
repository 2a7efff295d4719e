/* test_planner.c - placement and survivability matrix.
 *
 * Topologies are built in memory from a compact description, so these
 * tests do not depend on the topology parser:
 *
 *   "us-east:a1,b1;eu-west:a2"
 *
 * is region us-east with zones us-east-a (1 host) and us-east-b (1 host),
 * then region eu-west with zone eu-west-a (2 hosts).  Hosts are named
 * <zone><n> ("us-east-a1") with address 127.0.R.H (region R, host H within
 * the region, both 1-based), as in regions/local.json.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* ==== TOPOLOGY BUILDER ================================================= */

static void topo_free_test(mrd_topology **t)
{
    if (!t || !*t)
        return;
    free((*t)->regions);
    free((*t)->zones);
    free((*t)->hosts);
    free(*t);
    *t = NULL;
}

/* Defaults as topology.h documents them; survive "region"; the leader
 * region is the first region. */
static mrd_topology *topo_new(const char *spec)
{
    mrd_topology *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    snprintf(t->path, sizeof(t->path), "test.json");
    snprintf(t->name, sizeof(t->name), "demo");
    topology_set_defaults(t);

    /* Generous fixed capacity: test topologies are small. */
    t->regions = calloc(16, sizeof(*t->regions));
    t->zones = calloc(64, sizeof(*t->zones));
    t->hosts = calloc(256, sizeof(*t->hosts));
    assert_non_null(t->regions);
    assert_non_null(t->zones);
    assert_non_null(t->hosts);

    const char *s = spec;
    while (*s) {
        size_t rlen = strcspn(s, ":");
        assert_true(s[rlen] == ':' && rlen > 0 && rlen < MRD_NAME_MAX);
        assert_true(t->nregions < 16);
        mrd_region *r = &t->regions[t->nregions];
        snprintf(r->name, sizeof(r->name), "%.*s", (int)rlen, s);
        r->first_zone = t->nzones;
        s += rlen + 1;
        int hosts_in_region = 0;
        for (;;) {
            size_t zlen = strcspn(s, "0123456789");
            assert_true(zlen > 0);
            char *end = NULL;
            long nh = strtol(s + zlen, &end, 10);
            assert_true(end != s + zlen && nh >= 1 && nh <= 32);
            assert_true(t->nzones < 64);
            mrd_zone *z = &t->zones[t->nzones];
            int n = snprintf(z->name, sizeof(z->name), "%s-%.*s", r->name,
                             (int)zlen, s);
            assert_true(n > 0 && n < (int)sizeof(z->name));
            z->region = t->nregions;
            z->first_host = t->nhosts;
            z->nhosts = (int)nh;
            for (int k = 1; k <= nh; k++) {
                assert_true(t->nhosts < 256);
                mrd_host *h = &t->hosts[t->nhosts++];
                n = snprintf(h->name, sizeof(h->name), "%s%d", z->name, k);
                assert_true(n > 0 && n < (int)sizeof(h->name));
                snprintf(h->address, sizeof(h->address), "127.0.%d.%d",
                         t->nregions + 1, ++hosts_in_region);
                h->region = t->nregions;
                h->zone = t->nzones;
            }
            t->nzones++;
            r->nzones++;
            s = end;
            if (*s == ',') {
                s++;
                continue;
            }
            break;
        }
        t->nregions++;
        if (*s == ';')
            s++;
        else
            assert_int_equal(*s, '\0');
    }
    snprintf(t->settings.store.leader_region, sizeof(t->settings.store.leader_region), "%s",
             t->regions[0].name);
    return t;
}

#define LOCAL_LAYOUT "us-east:a1,b1;eu-west:a1,b1;ap-south:a1,b1"

static mrd_plan *build_ok(const mrd_topology *t)
{
    mrd_plan *p = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(plan_build(t, &p, &err), MRD_OK);
    assert_non_null(p);
    return p;
}

static const mrd_domain_loss *loss(const mrd_plan *p, mrd_domain_kind kind,
                                   const char *name)
{
    for (int i = 0; i < p->nlosses; i++)
        if (p->losses[i].kind == kind && strcmp(p->losses[i].name, name) == 0)
            return &p->losses[i];
    fail_msg("no loss entry for %s", name);
    return NULL;
}

static void assert_loss(const mrd_domain_loss *l, int sentinels_left,
                        int replicas_left, bool leader_lost,
                        bool failover_possible, bool writes_resume)
{
    assert_int_equal(l->sentinels_left, sentinels_left);
    assert_int_equal(l->replicas_left, replicas_left);
    assert_int_equal(l->leader_lost, leader_lost);
    assert_int_equal(l->failover_possible, failover_possible);
    assert_int_equal(l->writes_resume, writes_resume);
    if (writes_resume)
        assert_string_equal(l->reason, "");
    else
        assert_true(l->reason[0] != '\0');
}

static void assert_sentinels(const mrd_plan *p, const char *expected)
{
    /* EXPECTED: one character per host, 'S' for a sentinel, '.' without. */
    assert_int_equal((int)strlen(expected), p->topo->nhosts);
    for (int h = 0; h < p->topo->nhosts; h++)
        assert_int_equal(p->hosts[h].sentinel, expected[h] == 'S');
}

/* The host of the plan's (one) shard's master. */
static int master_host(const mrd_plan *p)
{
    assert_int_equal(p->nshards, 1);
    return p->nodes[p->shards[0].master].host;
}

/* The replica priority of host H's node (sentinel mode: one per host). */
static int prio_of(const mrd_plan *p, int h)
{
    int n = plan_node_on(p, 0, h);
    assert_true(n >= 0);
    return p->nodes[n].replica_priority;
}

/* ==== TESTS ============================================================ */

static void test_one_host_survive_none(void **state)
{
    (void)state;
    mrd_topology *t = topo_new("us-east:a1");
    t->settings.sentinel.count = 1;
    t->survive = MRD_SURVIVE_NONE;

    mrd_plan *p = build_ok(t);
    assert_int_equal(master_host(p), 0);
    assert_true(p->nodes[0].master);
    assert_true(p->hosts[0].sentinel);
    assert_int_equal(prio_of(p, 0), 100);
    assert_int_equal(p->nsentinels, 1);
    assert_int_equal(p->majority, 1);
    assert_int_equal(p->quorum, 1);
    assert_int_equal(p->nlosses, 2);
    assert_loss(&p->losses[0], 0, 0, true, false, false);
    assert_loss(&p->losses[1], 0, 0, true, false, false);

    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_OK);

    /* The same layout must not claim to survive a region. */
    t->survive = MRD_SURVIVE_REGION;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_int_equal(err.code, MRD_ERR_UNSAFE);
    assert_string_equal(err.file, "test.json");
    assert_string_equal(err.msg,
                        "losing region us-east leaves no replica outside it to "
                        "promote: add hosts in two more regions (a sentinel "
                        "majority must survive too), or lower \"survive\"");

    t->survive = MRD_SURVIVE_ZONE;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_non_null(strstr(err.msg, "losing zone us-east-a leaves no replica"));

    plan_free(&p);
    assert_null(p);
    topo_free_test(&t);
}

static void test_one_region_three_zones_survive_zone(void **state)
{
    (void)state;
    mrd_topology *t = topo_new("us-east:a1,b1,c1");
    t->survive = MRD_SURVIVE_ZONE;
    t->settings.consistency.min_replicas_to_write = 1;

    mrd_plan *p = build_ok(t);
    assert_sentinels(p, "SSS");
    assert_int_equal(p->nlosses, 4);
    assert_loss(loss(p, MRD_DOMAIN_REGION, "us-east"), 0, 0, true, false, false);
    assert_loss(loss(p, MRD_DOMAIN_ZONE, "us-east-a"), 2, 2, true, true, true);
    assert_loss(loss(p, MRD_DOMAIN_ZONE, "us-east-b"), 2, 1, false, true, true);
    assert_loss(loss(p, MRD_DOMAIN_ZONE, "us-east-c"), 2, 1, false, true, true);
    for (int h = 0; h < 3; h++)
        assert_int_equal(prio_of(p, h), 100);

    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_OK);
    assert_int_equal(err.code, MRD_OK);

    t->survive = MRD_SURVIVE_REGION;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_non_null(strstr(err.msg, "losing region us-east "));

    plan_free(&p);
    topo_free_test(&t);
}

static void test_two_regions_unsafe(void **state)
{
    (void)state;
    mrd_topology *t = topo_new("us-east:a1,b1;eu-west:a1,b1");

    mrd_plan *p = build_ok(t);
    /* Round 1: one per region; round 2 starts again with us-east. */
    assert_sentinels(p, "SSS.");
    assert_int_equal(p->majority, 2);
    assert_loss(loss(p, MRD_DOMAIN_REGION, "us-east"), 1, 2, true, false, false);
    assert_loss(loss(p, MRD_DOMAIN_REGION, "eu-west"), 2, 1, false, true, true);

    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_string_equal(err.file, "test.json");
    assert_string_equal(err.msg,
                        "losing region us-east leaves 1 of 3 sentinels, below "
                        "the majority of 2: put a sentinel in a third region");
    char buf[600];
    mrd_error_format(&err, buf, sizeof(buf));
    assert_non_null(strstr(buf, "test.json: losing region us-east"));

    /* Each zone holds one sentinel: a zone loss is survived. */
    t->survive = MRD_SURVIVE_ZONE;
    assert_int_equal(plan_check(p, &err), MRD_OK);
    plan_free(&p);

    /* With the leader in the second region, rounds start there: the
     * leader's region holds the extra sentinel, so the layout is still
     * refused (otherwise it would pass until a failover moved the leader
     * into the region holding two). */
    t->survive = MRD_SURVIVE_REGION;
    snprintf(t->settings.store.leader_region, sizeof(t->settings.store.leader_region), "eu-west");
    p = build_ok(t);
    assert_int_equal(master_host(p), 2);
    assert_sentinels(p, "S.SS");
    assert_loss(loss(p, MRD_DOMAIN_REGION, "us-east"), 2, 1, false, true, true);
    assert_loss(loss(p, MRD_DOMAIN_REGION, "eu-west"), 1, 2, true, false, false);
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_string_equal(err.msg,
                        "losing region eu-west leaves 1 of 3 sentinels, below "
                        "the majority of 2: put a sentinel in a third region");
    plan_free(&p);
    topo_free_test(&t);
}

static void test_three_regions_local_layout(void **state)
{
    (void)state;
    mrd_topology *t = topo_new(LOCAL_LAYOUT);
    t->settings.consistency.min_replicas_to_write = 1;

    mrd_plan *p = build_ok(t);
    assert_int_equal(master_host(p), 0);
    assert_string_equal(t->hosts[master_host(p)].name, "us-east-a1");
    assert_string_equal(t->hosts[master_host(p)].address, "127.0.1.1");
    /* one shard named as the topology, one node per host on store.port */
    assert_string_equal(p->shards[0].name, t->name);
    assert_int_equal(p->shards[0].first, 0);
    assert_int_equal(p->shards[0].nnodes, 6);
    assert_int_equal(p->nnodes, 6);
    for (int h = 0; h < 6; h++) {
        assert_int_equal(p->nodes[h].host, h);
        assert_int_equal(p->nodes[h].shard, 0);
        assert_int_equal(p->nodes[h].port, t->settings.store.port);
    }
    assert_sentinels(p, "S.S.S.");
    assert_int_equal(p->nsentinels, 3);
    assert_int_equal(p->majority, 2);
    assert_int_equal(p->quorum, 2);

    const int prio[6] = { 100, 100, 110, 110, 120, 120 };
    for (int h = 0; h < 6; h++) {
        assert_int_equal(prio_of(p, h), prio[h]);
        assert_int_equal(p->nodes[h].master, h == 0);
    }

    assert_int_equal(p->nlosses, 9);
    const char *order[9] = { "us-east", "eu-west", "ap-south",
                             "us-east-a", "us-east-b", "eu-west-a",
                             "eu-west-b", "ap-south-a", "ap-south-b" };
    for (int i = 0; i < 9; i++) {
        assert_string_equal(p->losses[i].name, order[i]);
        assert_int_equal(p->losses[i].kind,
                         i < 3 ? MRD_DOMAIN_REGION : MRD_DOMAIN_ZONE);
        assert_int_equal(p->losses[i].index, i < 3 ? i : i - 3);
        assert_int_equal(p->losses[i].majority, 2);
        assert_int_equal(p->losses[i].quorum, 2);
    }
    /*                          sentinels replicas lost  failover writes */
    assert_loss(&p->losses[0], 2, 4, true, true, true);   /* us-east */
    assert_loss(&p->losses[1], 2, 3, false, true, true);  /* eu-west */
    assert_loss(&p->losses[2], 2, 3, false, true, true);  /* ap-south */
    assert_loss(&p->losses[3], 2, 5, true, true, true);   /* us-east-a */
    assert_loss(&p->losses[4], 3, 4, false, true, true);  /* us-east-b */
    assert_loss(&p->losses[5], 2, 4, false, true, true);  /* eu-west-a */
    assert_loss(&p->losses[6], 3, 4, false, true, true);  /* eu-west-b */
    assert_loss(&p->losses[7], 2, 4, false, true, true);  /* ap-south-a */
    assert_loss(&p->losses[8], 3, 4, false, true, true);  /* ap-south-b */

    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_OK);

    plan_free(&p);
    topo_free_test(&t);
}

/* The live matrix: with everything up it is the plan's; replicas outside
 * the leader's region left at replica-priority 0 (an interrupted restore)
 * make the loss of that region fatal, and so does a sentinel down. */
static void test_live_losses(void **state)
{
    (void)state;
    mrd_topology *t = topo_new(LOCAL_LAYOUT);
    t->settings.consistency.min_replicas_to_write = 1;
    mrd_plan *p = build_ok(t);
    mrd_domain_loss live[9];
    bool sentinel_up[6];
    mrd_live_node nodes[6];
    for (int h = 0; h < 6; h++) {
        sentinel_up[h] = p->hosts[h].sentinel;
        nodes[h] = (mrd_live_node){.replica_ok = h != 0, .promotable = true};
    }
    mrd_live st = {.master = 0, .sentinel_up = sentinel_up, .nodes = nodes};

    plan_live_losses(p, &st, live);
    for (int i = 0; i < 9; i++) {
        assert_int_equal(live[i].writes_resume, p->losses[i].writes_resume);
        assert_int_equal(live[i].replicas_left, p->losses[i].replicas_left);
        assert_int_equal(live[i].promotable_left, p->losses[i].replicas_left);
    }
    assert_int_equal(plan_first_unsafe(p, live), -1);

    for (int h = 2; h < 6; h++) /* every replica outside us-east */
        nodes[h].promotable = false;
    plan_live_losses(p, &st, live);
    assert_loss(&live[0], 2, 4, true, false, false);
    assert_int_equal(live[0].promotable_left, 0);
    assert_non_null(strstr(live[0].reason, "losing region us-east now leaves no "
                                           "promotable replica outside it"));
    assert_loss(&live[1], 2, 3, false, true, true); /* eu-west: leader stays */
    assert_int_equal(plan_first_unsafe(p, live), 0);

    for (int h = 2; h < 6; h++)
        nodes[h].promotable = true;
    sentinel_up[2] = false; /* eu-west's sentinel */
    plan_live_losses(p, &st, live);
    assert_loss(&live[0], 1, 4, true, false, false);
    assert_non_null(strstr(live[0].reason, "leaves 1 of 3 sentinels up, below the "
                                           "majority of 2"));

    /* the leader moved to eu-west: losing it is what matters now */
    sentinel_up[2] = true;
    nodes[0].replica_ok = true;
    nodes[2].replica_ok = false;
    st.master = 2;
    plan_live_losses(p, &st, live);
    assert_true(live[1].leader_lost);
    assert_false(live[0].leader_lost);
    assert_int_equal(plan_first_unsafe(p, live), -1);

    plan_free(&p);
    topo_free_test(&t);
}

static void test_five_regions_five_sentinels(void **state)
{
    (void)state;
    mrd_topology *t = topo_new("r1:a1,b1;r2:a1,b1;r3:a1,b1;r4:a1,b1;r5:a1,b1");
    t->settings.sentinel.count = 5;
    snprintf(t->settings.store.leader_region, sizeof(t->settings.store.leader_region), "r3");

    mrd_plan *p = build_ok(t);
    assert_int_equal(p->majority, 3);
    assert_int_equal(master_host(p), 4);
    assert_sentinels(p, "S.S.S.S.S.");
    /* Priorities grow with the distance from the leader's region. */
    const int prio[10] = { 120, 120, 110, 110, 100, 100, 110, 110, 120, 120 };
    for (int h = 0; h < 10; h++)
        assert_int_equal(prio_of(p, h), prio[h]);
    for (int r = 0; r < 5; r++) {
        assert_int_equal(p->losses[r].sentinels_left, 4);
        assert_true(p->losses[r].writes_resume);
    }
    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_OK);
    plan_free(&p);
    topo_free_test(&t);

    /* Five sentinels over three regions: 2, 2, 1, and any one region can
     * still be lost (3 of 5 left). */
    t = topo_new(LOCAL_LAYOUT);
    t->settings.sentinel.count = 5;
    p = build_ok(t);
    assert_sentinels(p, "SSSSS.");
    assert_int_equal(p->majority, 3);
    assert_loss(&p->losses[0], 3, 4, true, true, true);
    assert_loss(&p->losses[1], 3, 3, false, true, true);
    assert_loss(&p->losses[2], 4, 3, false, true, true);
    assert_int_equal(plan_check(p, &err), MRD_OK);
    plan_free(&p);
    topo_free_test(&t);
}

static void test_sentinel_round_robin(void **state)
{
    (void)state;
    /* One per region per round, zones rotating within a region. */
    mrd_topology *t = topo_new("us-east:a2,b2;eu-west:a2");
    t->settings.sentinel.count = 4;
    mrd_plan *p = build_ok(t);
    assert_sentinels(p, "S.S.SS");
    plan_free(&p);

    t->settings.sentinel.count = 5;
    p = build_ok(t);
    assert_sentinels(p, "SSS.SS");
    plan_free(&p);
    topo_free_test(&t);

    /* A region out of hosts gives its turn to the others. */
    t = topo_new("us-east:a1;eu-west:a1,b1,c1");
    t->survive = MRD_SURVIVE_ZONE;
    p = build_ok(t);
    assert_sentinels(p, "SSS.");
    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_OK);
    plan_free(&p);
    topo_free_test(&t);
}

static void test_concentrated_sentinels(void **state)
{
    (void)state;
    mrd_topology *t = topo_new("us-east:a4;eu-west:a1;ap-south:a1");
    t->settings.sentinel.count = 5;
    mrd_plan *p = build_ok(t);
    assert_sentinels(p, "SSS.SS");
    assert_loss(&p->losses[0], 2, 2, true, false, false);
    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_string_equal(err.msg,
                        "losing region us-east leaves 2 of 5 sentinels, below "
                        "the majority of 3: spread sentinels: at most 2 per "
                        "region; add hosts to the other regions or lower "
                        "sentinel.count");
    plan_free(&p);
    topo_free_test(&t);

    /* Four sentinels cannot be spread over three regions. */
    t = topo_new(LOCAL_LAYOUT);
    t->settings.sentinel.count = 4;
    p = build_ok(t);
    assert_int_equal(p->majority, 3);
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_string_equal(err.msg,
                        "losing region us-east leaves 2 of 4 sentinels, below "
                        "the majority of 3: set sentinel.count to 3: 4 "
                        "sentinels cannot be spread over 3 regions so that any "
                        "one can be lost");
    plan_free(&p);
    topo_free_test(&t);
}

static void test_leader_region_single_host(void **state)
{
    (void)state;
    mrd_topology *t = topo_new("us-east:a1;eu-west:a1,b1;ap-south:a1,b1");
    t->settings.consistency.min_replicas_to_write = 1;
    mrd_plan *p = build_ok(t);
    assert_int_equal(master_host(p), 0);
    assert_sentinels(p, "SS.S.");
    assert_loss(loss(p, MRD_DOMAIN_REGION, "us-east"), 2, 4, true, true, true);
    assert_loss(loss(p, MRD_DOMAIN_ZONE, "us-east-a"), 2, 4, true, true, true);
    assert_loss(loss(p, MRD_DOMAIN_REGION, "eu-west"), 2, 2, false, true, true);
    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_OK);
    plan_free(&p);
    topo_free_test(&t);
}

static void test_min_replicas_too_high(void **state)
{
    (void)state;
    mrd_topology *t = topo_new(LOCAL_LAYOUT);
    t->settings.consistency.min_replicas_to_write = 4;
    mrd_plan *p = build_ok(t);
    /* Failover works, but the new leader has 3 replicas, not 4. */
    assert_loss(&p->losses[0], 2, 4, true, true, false);
    /* The leader survives with 3 replicas. */
    assert_loss(&p->losses[1], 2, 3, false, true, false);
    assert_string_equal(p->losses[1].reason,
                        "losing region eu-west leaves 3 replicas, below "
                        "min_replicas_to_write 4: the leader would refuse "
                        "writes; add replicas in other regions or lower "
                        "consistency.min_replicas_to_write");
    assert_loss(&p->losses[3], 2, 5, true, true, true);

    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_string_equal(err.msg,
                        "losing region us-east leaves 4 replicas, 3 after one "
                        "is promoted, below min_replicas_to_write 4: the new "
                        "leader would refuse writes; add replicas in other "
                        "regions or lower consistency.min_replicas_to_write");
    plan_free(&p);
    topo_free_test(&t);

    /* The example from the design: every replica in the lost region. */
    t = topo_new("us-east:a1;eu-west:a1,b1");
    t->settings.consistency.min_replicas_to_write = 1;
    t->settings.sentinel.count = 1;
    p = build_ok(t);
    const mrd_domain_loss *l = loss(p, MRD_DOMAIN_REGION, "eu-west");
    assert_loss(l, 1, 0, false, false, false);
    assert_string_equal(l->reason,
                        "losing region eu-west leaves 0 replicas, below "
                        "min_replicas_to_write 1: the leader would refuse "
                        "writes; add replicas in other regions or lower "
                        "consistency.min_replicas_to_write");
    l = loss(p, MRD_DOMAIN_ZONE, "eu-west-a");
    assert_loss(l, 1, 1, false, true, true);
    plan_free(&p);
    topo_free_test(&t);
}

static void test_quorum(void **state)
{
    (void)state;
    mrd_topology *t = topo_new(LOCAL_LAYOUT);
    t->settings.sentinel.quorum = 3;
    mrd_plan *p = build_ok(t);
    assert_int_equal(p->quorum, 3);
    assert_int_equal(p->majority, 2);
    assert_int_equal(p->losses[0].quorum, 3);
    /* Two sentinels left cannot agree the leader is down. */
    assert_loss(&p->losses[0], 2, 4, true, false, false);
    /* The leader survives: writes go on, a later failover could not. */
    assert_loss(&p->losses[1], 2, 3, false, false, true);
    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_string_equal(err.msg,
                        "losing region us-east leaves 2 of 3 sentinels, below "
                        "the quorum of 3: lower sentinel.quorum to 2 or less "
                        "(0 means the majority)");
    plan_free(&p);

    t->settings.sentinel.quorum = 1;
    p = build_ok(t);
    assert_int_equal(p->quorum, 1);
    assert_int_equal(p->majority, 2);
    assert_loss(&p->losses[0], 2, 4, true, true, true);
    assert_int_equal(plan_check(p, &err), MRD_OK);
    plan_free(&p);

    t->settings.sentinel.count = 5;
    t->settings.sentinel.quorum = 0;
    p = build_ok(t);
    assert_int_equal(p->quorum, 3);
    assert_int_equal(p->majority, 3);
    plan_free(&p);
    topo_free_test(&t);
}

static void test_build_errors(void **state)
{
    (void)state;
    mrd_topology *t = topo_new("us-east:a1;eu-west:a1;ap-south:a1");
    t->settings.sentinel.count = 4;
    mrd_plan *p = (mrd_plan *)1;
    mrd_error err;
    assert_int_equal(plan_build(t, &p, &err), MRD_ERR_INVALID);
    assert_null(p);
    assert_int_equal(err.code, MRD_ERR_INVALID);
    assert_string_equal(err.file, "test.json");
    assert_string_equal(err.msg,
                        "sentinel.count is 4 but the topology has 3 hosts and "
                        "a host runs at most one sentinel: lower "
                        "sentinel.count to 3 or add hosts");

    t->settings.sentinel.count = 3;
    t->mode = MRD_MODE_CLUSTER;
    /* the mode table chooses: sentinel has one, cluster none yet */
    assert_non_null(plan_mode_for(MRD_MODE_SENTINEL));
    assert_string_equal(plan_mode_for(MRD_MODE_SENTINEL)->name, "sentinel");
    assert_string_equal(plan_mode_for(MRD_MODE_CLUSTER)->name, "cluster");
    /* cluster mode: a shard's copies go on distinct hosts (3 here) */
    t->settings.cluster.replicas_per_shard = 3;
    assert_int_equal(plan_build(t, &p, &err), MRD_ERR_INVALID);
    assert_null(p);
    assert_string_equal(err.msg, "a shard's 4 copies (a master and 3 replicas) go on distinct "
                                 "hosts, but the topology has 3: lower "
                                 "cluster.replicas_per_shard or add hosts");

    t->mode = MRD_MODE_SENTINEL;
    snprintf(t->settings.store.leader_region, sizeof(t->settings.store.leader_region), "mars");
    assert_int_equal(plan_build(t, &p, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "\"mars\""));

    /* Errors go nowhere when err is NULL. */
    assert_int_equal(plan_build(t, &p, NULL), MRD_ERR_INVALID);
    topo_free_test(&t);

    plan_free(NULL);
    p = NULL;
    plan_free(&p);
}

static void test_plan_to_json(void **state)
{
    (void)state;
    mrd_topology *t = topo_new(LOCAL_LAYOUT);
    mrd_plan *p = build_ok(t);
    json_t *j = plan_to_json(p);
    assert_non_null(j);

    assert_string_equal(json_string_value(json_object_get(j, "topology")), "demo");
    assert_string_equal(json_string_value(json_object_get(j, "survive")), "region");
    assert_string_equal(json_string_value(json_object_get(j, "leader")),
                        "us-east-a1");
    assert_int_equal(json_integer_value(json_object_get(j, "quorum")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "majority")), 2);

    json_t *hosts = json_object_get(j, "hosts");
    assert_int_equal(json_array_size(hosts), 6);
    json_t *h0 = json_array_get(hosts, 0);
    assert_string_equal(json_string_value(json_object_get(h0, "host")), "us-east-a1");
    assert_string_equal(json_string_value(json_object_get(h0, "region")), "us-east");
    assert_string_equal(json_string_value(json_object_get(h0, "zone")), "us-east-a");
    assert_string_equal(json_string_value(json_object_get(h0, "address")), "127.0.1.1");
    assert_int_equal(json_integer_value(json_object_get(h0, "replica_priority")), 100);
    json_t *roles = json_object_get(h0, "roles");
    assert_int_equal(json_array_size(roles), 2);
    assert_string_equal(json_string_value(json_array_get(roles, 0)), "leader");
    assert_string_equal(json_string_value(json_array_get(roles, 1)), "sentinel");

    json_t *h3 = json_array_get(hosts, 3);
    assert_string_equal(json_string_value(json_object_get(h3, "host")), "eu-west-b1");
    assert_string_equal(json_string_value(json_object_get(h3, "address")), "127.0.2.2");
    assert_int_equal(json_integer_value(json_object_get(h3, "replica_priority")), 110);
    roles = json_object_get(h3, "roles");
    assert_int_equal(json_array_size(roles), 1);
    assert_string_equal(json_string_value(json_array_get(roles, 0)), "replica");

    /* the mode and its one shard, in nodes */
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "sentinel");
    json_t *shards = json_object_get(j, "shards");
    assert_int_equal(json_array_size(shards), 1);
    json_t *s0 = json_array_get(shards, 0);
    assert_string_equal(json_string_value(json_object_get(s0, "name")), "demo");
    assert_string_equal(json_string_value(json_object_get(s0, "master")), "us-east-a1");
    json_t *nodes = json_object_get(s0, "nodes");
    assert_int_equal(json_array_size(nodes), 6);
    json_t *n3 = json_array_get(nodes, 3);
    assert_string_equal(json_string_value(json_object_get(n3, "host")), "eu-west-b1");
    assert_int_equal(json_integer_value(json_object_get(n3, "port")), t->settings.store.port);
    assert_string_equal(json_string_value(json_object_get(n3, "role")), "replica");
    assert_int_equal(json_integer_value(json_object_get(n3, "replica_priority")), 110);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nodes, 0), "role")),
                        "master");

    json_t *losses = json_object_get(j, "losses");
    assert_int_equal(json_array_size(losses), 9);
    json_t *l0 = json_array_get(losses, 0);
    assert_string_equal(json_string_value(json_object_get(l0, "kind")), "region");
    assert_string_equal(json_string_value(json_object_get(l0, "name")), "us-east");
    assert_int_equal(json_integer_value(json_object_get(l0, "sentinels_left")), 2);
    assert_int_equal(json_integer_value(json_object_get(l0, "majority")), 2);
    assert_int_equal(json_integer_value(json_object_get(l0, "quorum")), 2);
    assert_int_equal(json_integer_value(json_object_get(l0, "replicas_left")), 4);
    assert_true(json_is_true(json_object_get(l0, "leader_lost")));
    assert_true(json_is_true(json_object_get(l0, "failover_possible")));
    assert_true(json_is_true(json_object_get(l0, "writes_resume")));
    assert_string_equal(json_string_value(json_object_get(l0, "reason")), "");
    json_t *l4 = json_array_get(losses, 4);
    assert_string_equal(json_string_value(json_object_get(l4, "kind")), "zone");
    assert_string_equal(json_string_value(json_object_get(l4, "name")), "us-east-b");
    assert_true(json_is_false(json_object_get(l4, "leader_lost")));
    json_decref(j);
    plan_free(&p);

    /* An unsafe plan carries its reasons. */
    t->settings.consistency.min_replicas_to_write = 4;
    p = build_ok(t);
    j = plan_to_json(p);
    assert_non_null(j);
    l0 = json_array_get(json_object_get(j, "losses"), 0);
    assert_true(json_is_false(json_object_get(l0, "writes_resume")));
    assert_non_null(strstr(json_string_value(json_object_get(l0, "reason")),
                           "below min_replicas_to_write 4"));
    json_decref(j);
    plan_free(&p);
    topo_free_test(&t);
}

/* ==== CLUSTER MODE ===================================================== */

static mrd_topology *cluster_topo(const char *spec, int shards, int replicas)
{
    mrd_topology *t = topo_new(spec);
    t->mode = MRD_MODE_CLUSTER;
    t->settings.cluster.shards = shards;
    t->settings.cluster.replicas_per_shard = replicas;
    return t;
}

/* 3 regions x 2 hosts, 3 shards with 2 replicas each (the shipped
 * local-cluster layout): a master per region; each shard a replica
 * outside its master's region and one inside; no host holds two copies of
 * a shard; 9 nodes over 6 hosts, at most 2 per host, on store.port + i;
 * the slots split evenly; every region's and zone's loss survived. */
static void test_cluster_local(void **state)
{
    (void)state;
    mrd_topology *t = cluster_topo(LOCAL_LAYOUT, 3, 2);
    mrd_plan *p = build_ok(t);
    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_OK);
    assert_int_equal(p->nshards, 3);
    assert_int_equal(p->nnodes, 9);
    assert_int_equal(p->nsentinels, 0);
    bool region_has_master[3] = {false, false, false};
    int load[6] = {0};
    for (int s = 0; s < 3; s++) {
        const mrd_plan_shard *sh = &p->shards[s];
        assert_int_equal(sh->nnodes, 3);
        assert_int_equal(sh->master, sh->first);
        int mr = plan_node_host(p, sh->master)->region;
        assert_false(region_has_master[mr]);
        region_has_master[mr] = true;
        int outside = 0, inside = 0;
        for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
            assert_int_equal(p->nodes[i].shard, s);
            assert_int_equal(p->nodes[i].master, i == sh->master);
            for (int j = sh->first; j < i; j++)
                assert_int_not_equal(p->nodes[i].host, p->nodes[j].host);
            if (i != sh->master) {
                outside += plan_node_host(p, i)->region != mr;
                inside += plan_node_host(p, i)->region == mr;
            }
        }
        assert_int_equal(outside, 1);
        assert_int_equal(inside, 1);
    }
    for (int i = 0; i < p->nnodes; i++)
        load[p->nodes[i].host]++;
    for (int h = 0; h < 6; h++) {
        assert_true(load[h] >= 1 && load[h] <= 2);
        /* a host's k nodes on store.port .. store.port + k - 1, each once */
        bool used[2] = {false, false};
        for (int i = 0; i < p->nnodes; i++)
            if (p->nodes[i].host == h) {
                int k = p->nodes[i].port - t->settings.store.port;
                assert_true(k >= 0 && k < load[h]);
                assert_false(used[k]);
                used[k] = true;
                assert_int_equal(p->nodes[i].bus_port, p->nodes[i].port + 10000);
            }
    }
    assert_int_equal(p->shards[0].slot_first, 0);
    assert_int_equal(p->shards[0].slot_last, 5460);
    assert_int_equal(p->shards[1].slot_first, 5461);
    assert_int_equal(p->shards[1].slot_last, 10921);
    assert_int_equal(p->shards[2].slot_first, 10922);
    assert_int_equal(p->shards[2].slot_last, 16383);
    /* losing a region: 2 of 3 masters left (the majority), one shard to
     * fail over, its replica outside */
    for (int r = 0; r < 3; r++) {
        const mrd_domain_loss *l = &p->losses[r];
        assert_int_equal(l->masters_left, 2);
        assert_int_equal(l->masters_majority, 2);
        assert_int_equal(l->shards_lost, 1);
        assert_int_equal(l->shards_stranded, 0);
        assert_true(l->writes_resume);
    }
    json_t *j = plan_to_json(p);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "cluster");
    assert_int_equal(json_integer_value(json_object_get(j, "masters_majority")), 2);
    json_t *l0 = json_array_get(json_object_get(j, "losses"), 0);
    assert_int_equal(json_integer_value(json_object_get(l0, "masters_left")), 2);
    assert_true(json_is_true(json_object_get(l0, "serves_all_slots")));
    json_t *s1 = json_array_get(json_object_get(j, "shards"), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(s1, "slots"), 0)), 5461);
    json_decref(j);
    plan_free(&p);
    topo_free_test(&t);
}

/* 4 shards over 3 regions: one region holds 2 masters, and losing it
 * leaves 2 of 4, below the majority of 3 that votes a replica in. */
static void test_cluster_four_shards_three_regions(void **state)
{
    (void)state;
    mrd_topology *t = cluster_topo(LOCAL_LAYOUT, 4, 1);
    mrd_plan *p = build_ok(t);
    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_non_null(strstr(err.msg, "leaves 2 of 4 masters, below the majority of 3"));
    assert_non_null(strstr(err.msg, "4 shards cannot be spread over 3 regions so that any one "
                                    "can be lost: use 3 or 5 shards"));
    plan_free(&p);
    /* 5 shards: 2, 2, 1 per region; losing one leaves 3 of 5 */
    t->settings.cluster.shards = 5;
    p = build_ok(t);
    assert_int_equal(plan_check(p, &err), MRD_OK);
    for (int r = 0; r < 3; r++)
        assert_true(p->losses[r].masters_left >= 3);
    plan_free(&p);
    topo_free_test(&t);
}

/* No replica: losing a master's region loses its slots. */
static void test_cluster_without_replicas(void **state)
{
    (void)state;
    mrd_topology *t = cluster_topo(LOCAL_LAYOUT, 3, 0);
    mrd_plan *p = build_ok(t);
    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_non_null(strstr(err.msg, "master and every replica of it: set "
                                    "cluster.replicas_per_shard to at least 1"));
    assert_int_equal(p->losses[0].shards_stranded, 1);
    plan_free(&p);
    topo_free_test(&t);
}

/* Two regions cannot survive either's loss; more nodes than hosts can
 * take go several to a host, up to what one agent starts. */
static void test_cluster_limits(void **state)
{
    (void)state;
    mrd_topology *t = cluster_topo("east:a2;west:a2", 3, 1);
    mrd_plan *p = build_ok(t);
    mrd_error err;
    assert_int_equal(plan_check(p, &err), MRD_ERR_UNSAFE);
    assert_non_null(strstr(err.msg, "add a third region"));
    plan_free(&p);
    topo_free_test(&t);

    t = cluster_topo(LOCAL_LAYOUT, 48, 1); /* 96 nodes: 16 per host */
    p = build_ok(t);
    assert_int_equal(p->nnodes, 96);
    plan_free(&p);
    t->settings.cluster.shards = 49; /* 98: 17 per host */
    assert_int_equal(plan_build(t, &p, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "more than the 16 one agent starts"));
    /* the agent's port inside the nodes' range */
    t->settings.cluster.shards = 6; /* 12 nodes: 2 per host */
    t->settings.agent.port = t->settings.store.port + 1;
    assert_int_equal(plan_build(t, &p, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "move store.port or agent.port"));
    /* the bus ports reaching the kernel's ephemeral ports */
    t->settings.agent.port = 17379;
    t->settings.store.port = 22767; /* bus 32767 and 32768 */
    assert_int_equal(plan_build(t, &p, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "the bus stays below 32768"));
    t->settings.store.port = 22766; /* bus 32766 and 32767 */
    p = build_ok(t);
    plan_free(&p);
    topo_free_test(&t);
}

/* ==== SCALE: PLANS FROM A DEPLOYED PLACEMENT =========================== */

/* Do A and B place node I identically (host, port, bus, shard, master)? */
static void assert_same_node(const mrd_plan *a, int i, const mrd_plan *b, int k)
{
    assert_int_equal(a->nodes[i].host, b->nodes[k].host);
    assert_int_equal(a->nodes[i].port, b->nodes[k].port);
    assert_int_equal(a->nodes[i].bus_port, b->nodes[k].bus_port);
    assert_int_equal(a->nodes[i].shard, b->nodes[k].shard);
    assert_int_equal(a->nodes[i].master, b->nodes[k].master);
}

static mrd_plan *build_from_ok(const mrd_topology *t, const mrd_placement *prev)
{
    mrd_plan *p = NULL;
    mrd_error err;
    mrd_rc rc = plan_build_from(t, prev, &p, &err);
    if (rc != MRD_OK)
        fail_msg("plan_build_from: %s", err.msg);
    return p;
}

/* A plan built from its own placement is itself (so every command that
 * plans from the record sees what deploy deployed), and the record
 * survives its JSON. */
static void test_scale_fixed_point(void **state)
{
    (void)state;
    mrd_topology *t = cluster_topo(LOCAL_LAYOUT, 3, 2);
    mrd_plan *p = build_ok(t);
    mrd_placement pl, back;
    mrd_error err;
    assert_int_equal(plan_placement(p, false, &pl, &err), MRD_OK);
    json_t *j = placement_to_json(t->name, &pl);
    char *text = json_dumps(j, 0);
    assert_int_equal(placement_parse(text, strlen(text), "placement.json", &back, &err), MRD_OK);
    mrd_plan *q = build_from_ok(t, &back);
    assert_int_equal(q->nnodes, p->nnodes);
    assert_int_equal(q->nadded + q->nretiring, 0);
    assert_true(q->from_placement);
    for (int i = 0; i < p->nnodes; i++)
        assert_same_node(p, i, q, i);
    free(text);
    json_decref(j);
    placement_free(&pl);
    placement_free(&back);
    plan_free(&q);
    plan_free(&p);
    topo_free_test(&t);
}

/* 3 shards to 5 on the shipped layout: the 9 running nodes stay where
 * they run (the fewest moves), 6 new nodes on ports free on their hosts,
 * the new masters where a region has fewest (no region holds 3 of 5),
 * each new shard a replica outside its master's region, the quotas split
 * the slots, and the layout is safe.  A fresh 5-shard plan would move
 * running nodes: that is what the placement avoids. */
static void test_scale_grow(void **state)
{
    (void)state;
    mrd_topology *t3 = cluster_topo(LOCAL_LAYOUT, 3, 2), *t5 = cluster_topo(LOCAL_LAYOUT, 5, 2);
    mrd_plan *p3 = build_ok(t3), *fresh5 = build_ok(t5);
    mrd_placement pl;
    mrd_error err;
    assert_int_equal(plan_placement(p3, false, &pl, &err), MRD_OK);
    mrd_plan *p5 = build_from_ok(t5, &pl);
    assert_int_equal(plan_check(p5, &err), MRD_OK);
    assert_int_equal(p5->nshards, 5);
    assert_int_equal(p5->nnodes, 15);
    assert_int_equal(p5->nadded, 2);
    assert_int_equal(p5->nretiring, 0);
    for (int i = 0; i < 9; i++)
        assert_same_node(p3, i, p5, i);
    bool fresh_moves = false;
    for (int i = 0; i < 9; i++)
        fresh_moves |= fresh5->nodes[i].host != p3->nodes[i].host ||
                       fresh5->nodes[i].port != p3->nodes[i].port;
    assert_true(fresh_moves);
    int region_masters[3] = {0}, total = 0;
    for (int s = 0; s < 5; s++) {
        const mrd_plan_shard *sh = &p5->shards[s];
        assert_int_equal(sh->added, s >= 3);
        assert_false(sh->retiring);
        total += sh->nslots;
        int mr = plan_node_host(p5, sh->master)->region, outside = 0;
        region_masters[mr]++;
        for (int i = sh->first; i < sh->first + sh->nnodes; i++)
            outside += plan_node_host(p5, i)->region != mr;
        assert_true(outside >= 1);
    }
    assert_int_equal(total, 16384);
    for (int r = 0; r < 3; r++)
        assert_true(region_masters[r] <= 2);
    for (int i = 0; i < 15; i++)
        for (int k = i + 1; k < 15; k++)
            assert_false(p5->nodes[i].host == p5->nodes[k].host &&
                         p5->nodes[i].port == p5->nodes[k].port);
    placement_free(&pl);
    plan_free(&p5);
    plan_free(&fresh5);
    plan_free(&p3);
    topo_free_test(&t5);
    topo_free_test(&t3);
}

/* 5 shards back to 3: shards 4 and 5 stay in the plan as retiring (no
 * slots), the matrix judges the 3 that stay; without the retiring shards
 * the placement is the 3-shard one's nodes exactly. */
static void test_scale_shrink(void **state)
{
    (void)state;
    mrd_topology *t3 = cluster_topo(LOCAL_LAYOUT, 3, 2), *t5 = cluster_topo(LOCAL_LAYOUT, 5, 2);
    mrd_plan *p3 = build_ok(t3);
    mrd_placement pl3, pl5, final;
    mrd_error err;
    assert_int_equal(plan_placement(p3, false, &pl3, &err), MRD_OK);
    mrd_plan *p5 = build_from_ok(t5, &pl3);
    assert_int_equal(plan_placement(p5, false, &pl5, &err), MRD_OK);
    mrd_plan *back = build_from_ok(t3, &pl5);
    assert_int_equal(plan_check(back, &err), MRD_OK);
    assert_int_equal(back->nshards, 5);
    assert_int_equal(back->nretiring, 2);
    assert_int_equal(back->shards[3].nslots, 0);
    assert_true(back->shards[4].retiring);
    assert_int_equal(back->losses[0].masters_majority, 2);
    assert_int_equal(plan_placement(back, true, &final, &err), MRD_OK);
    assert_int_equal(final.nshards, 3);
    assert_int_equal(final.nnodes, 9);
    mrd_plan *done = build_from_ok(t3, &final);
    for (int i = 0; i < 9; i++)
        assert_same_node(p3, i, done, i);
    placement_free(&pl3);
    placement_free(&pl5);
    placement_free(&final);
    plan_free(&done);
    plan_free(&back);
    plan_free(&p5);
    plan_free(&p3);
    topo_free_test(&t5);
    topo_free_test(&t3);
}

/* A placement that cannot be kept is refused with what to change. */
static void test_scale_refusals(void **state)
{
    (void)state;
    mrd_topology *t = cluster_topo(LOCAL_LAYOUT, 3, 2);
    mrd_plan *p = build_ok(t), *q = NULL;
    mrd_placement pl;
    mrd_error err;
    assert_int_equal(plan_placement(p, false, &pl, &err), MRD_OK);
    char saved[MRD_NAME_MAX];
    snprintf(saved, sizeof(saved), "%s", pl.nodes[0].host);
    snprintf(pl.nodes[0].host, sizeof(pl.nodes[0].host), "gone-host");
    assert_int_equal(plan_build_from(t, &pl, &q, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "host gone-host runs a node of shard 1"));
    assert_non_null(strstr(err.msg, "not in the topology"));
    snprintf(pl.nodes[0].host, sizeof(pl.nodes[0].host), "%s", saved);
    t->settings.cluster.replicas_per_shard = 1;
    assert_int_equal(plan_build_from(t, &pl, &q, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "shard 1 runs 3 copies"));
    assert_null(q);
    placement_free(&pl);
    plan_free(&p);
    topo_free_test(&t);
}

/* A damaged record names the file and what is wrong. */
static void test_placement_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"{", "placement record is damaged"},
        {"{\"version\":2,\"shards\":1,\"nodes\":[]}", "\"version\" must be 1"},
        {"{\"version\":1,\"shards\":0,\"nodes\":[]}", "\"shards\" must be 1 to 64"},
        {"{\"version\":1,\"shards\":1,\"nodes\":[]}", "shard 1 must have nodes"},
        {"{\"version\":1,\"shards\":1,\"nodes\":[{\"host\":\"a\",\"port\":1,\"bus_port\":2,"
         "\"shard\":2,\"master\":true}]}",
         "node 1: \"shard\" must be 1 to"},
        {"{\"version\":1,\"shards\":1,\"nodes\":[{\"host\":\"a\",\"port\":1,\"bus_port\":2,"
         "\"shard\":1,\"master\":true},{\"host\":\"a\",\"port\":1,\"bus_port\":3,"
         "\"shard\":1,\"master\":false}]}",
         "two nodes on one host and port"},
        {"{\"version\":1,\"shards\":1,\"nodes\":[{\"host\":\"a\",\"port\":70000,"
         "\"bus_port\":2,\"shard\":1,\"master\":true}]}",
         "must be ports"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mrd_placement pl;
        mrd_error err;
        assert_int_equal(placement_parse(cases[i].text, strlen(cases[i].text), "st/placement.json",
                                         &pl, &err),
                         MRD_ERR_PARSE);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].want);
        assert_string_equal(err.file, "st/placement.json");
    }
}


/* ==== SPARES AND REPLACEMENTS ========================================== */

/* LOCAL_LAYOUT with one spare more in each region's zone b. */
#define SPARE_LAYOUT "us-east:a1,b2;eu-west:a1,b2;ap-south:a1,b2"

static int host_named(const mrd_topology *t, const char *name)
{
    int h = topology_find_host(t, name);
    if (h < 0)
        fail_msg("no host %s", name);
    return h;
}

static mrd_topology *spare_topo(mrd_mode mode)
{
    mrd_topology *t = topo_new(SPARE_LAYOUT);
    const char *spares[] = {"us-east-b2", "eu-west-b2", "ap-south-b2"};
    for (int i = 0; i < 3; i++)
        t->hosts[host_named(t, spares[i])].spare = true;
    if (mode == MRD_MODE_CLUSTER) {
        t->mode = MRD_MODE_CLUSTER;
        t->settings.cluster.shards = 3;
        t->settings.cluster.replicas_per_shard = 2;
    }
    return t;
}

static mrd_plan *build_ex_ok(const mrd_topology *t, const mrd_placement *prev,
                             const mrd_replacements *r)
{
    mrd_plan *p = NULL;
    mrd_error err;
    if (plan_build_ex(t, prev, r, &p, &err) != MRD_OK)
        fail_msg("plan_build_ex: %s", err.msg);
    return p;
}

static void build_ex_refused(const mrd_topology *t, const mrd_placement *prev,
                             const mrd_replacements *r, const char *needle)
{
    mrd_plan *p = NULL;
    mrd_error err;
    assert_int_equal(plan_build_ex(t, prev, r, &p, &err), MRD_ERR_INVALID);
    assert_null(p);
    if (!strstr(err.msg, needle))
        fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
}

/* Nodes (by host name), priorities and sentinels of A and B agree. */
static void assert_same_layout(const mrd_plan *a, const mrd_plan *b)
{
    assert_int_equal(a->nnodes, b->nnodes);
    for (int i = 0; i < a->nnodes; i++) {
        assert_string_equal(plan_node_host(a, i)->name, plan_node_host(b, i)->name);
        assert_int_equal(a->nodes[i].port, b->nodes[i].port);
        assert_int_equal(a->nodes[i].bus_port, b->nodes[i].bus_port);
        assert_int_equal(a->nodes[i].shard, b->nodes[i].shard);
        assert_int_equal(a->nodes[i].master, b->nodes[i].master);
        assert_int_equal(a->nodes[i].replica_priority, b->nodes[i].replica_priority);
    }
    for (int h = 0; h < a->topo->nhosts; h++) {
        int k = topology_find_host(b->topo, a->topo->hosts[h].name);
        if (k >= 0)
            assert_int_equal(a->hosts[h].sentinel, b->hosts[k].sentinel);
    }
}

/* Spares get nothing in either mode: the plan is the one without them. */
static void test_spares_get_nothing(void **state)
{
    (void)state;
    for (int m = 0; m < 2; m++) {
        mrd_mode mode = m ? MRD_MODE_CLUSTER : MRD_MODE_SENTINEL;
        mrd_topology *t = spare_topo(mode);
        mrd_topology *plain = m ? cluster_topo(LOCAL_LAYOUT, 3, 2) : topo_new(LOCAL_LAYOUT);
        mrd_plan *p = build_ok(t), *q = build_ok(plain);
        mrd_error err;
        assert_int_equal(plan_check(p, &err), MRD_OK);
        assert_same_layout(p, q);
        assert_int_equal(p->generation, 1);
        for (int h = 0; h < t->nhosts; h++) {
            assert_int_equal(p->hosts[h].spare, t->hosts[h].spare);
            assert_int_equal(p->hosts[h].stands_for, -1);
            assert_int_equal(p->hosts[h].replaced_by, -1);
            assert_int_equal(p->hosts[h].generation, 0);
            if (t->hosts[h].spare)
                assert_false(p->hosts[h].sentinel);
        }
        for (int i = 0; i < p->nnodes; i++)
            assert_false(plan_node_host(p, i)->spare);
        /* the matrix is the same too */
        for (int i = 0; i < p->nlosses; i++) {
            assert_int_equal(p->losses[i].writes_resume, q->losses[i].writes_resume);
            assert_int_equal(p->losses[i].replicas_left, q->losses[i].replicas_left);
            assert_int_equal(p->losses[i].sentinels_left, q->losses[i].sentinels_left);
        }
        plan_free(&p);
        plan_free(&q);
        topo_free_test(&plain);
        topo_free_test(&t);
    }
}

/* Sentinel mode: the replaced host's node and sentinel move to the spare,
 * with the priority of the spare's region; the leader's move keeps the
 * master flag; hosts say who stands in for whom. */
static void test_replacement_moves_sentinel_mode(void **state)
{
    (void)state;
    mrd_topology *t = spare_topo(MRD_MODE_SENTINEL);
    int euw = host_named(t, "eu-west-a1"), aps9 = host_named(t, "ap-south-b2");
    int use = host_named(t, "us-east-a1"), use9 = host_named(t, "us-east-b2");
    mrd_replacements r;
    replacements_init(&r);
    mrd_plan *before = build_ok(t);
    assert_true(before->hosts[euw].sentinel);
    assert_int_equal(prio_of(before, euw), 110);
    assert_int_equal(master_host(before), use);

    assert_int_equal(replacements_add(&r, "eu-west-a1", "ap-south-b2", 1000), MRD_OK);
    assert_int_equal(replacements_add(&r, "us-east-a1", "us-east-b2", 2000), MRD_OK);
    mrd_plan *p = build_ex_ok(t, NULL, &r);
    assert_int_equal(p->generation, 3);
    assert_int_equal(plan_node_on(p, 0, euw), -1);
    assert_false(p->hosts[euw].sentinel);
    assert_true(p->hosts[aps9].sentinel);
    assert_int_equal(prio_of(p, aps9), 120); /* ap-south: two regions from the leader's */
    assert_int_equal(master_host(p), use9);
    assert_int_equal(prio_of(p, use9), 100);
    assert_int_equal(plan_node_on(p, 0, use), -1);
    assert_int_equal(p->nnodes, before->nnodes);
    assert_int_equal(p->hosts[aps9].stands_for, euw);
    assert_int_equal(p->hosts[euw].replaced_by, aps9);
    assert_int_equal(p->hosts[euw].generation, 2);
    assert_int_equal(p->hosts[use9].generation, 3);
    assert_false(p->hosts[aps9].spare);
    assert_true(p->hosts[host_named(t, "eu-west-b2")].spare);
    assert_false(p->hosts[euw].spare);
    /* the matrix is that of the layout after: the leader is in zone
     * us-east-b now, and ap-south holds two sentinels, so that losing it
     * leaves one (the reason plan_choose_spare would not pick this spare) */
    const mrd_domain_loss *l = loss(p, MRD_DOMAIN_ZONE, "us-east-b");
    assert_true(l->leader_lost);
    l = loss(p, MRD_DOMAIN_ZONE, "us-east-a");
    assert_false(l->leader_lost);
    l = loss(p, MRD_DOMAIN_REGION, "ap-south");
    assert_int_equal(l->sentinels_left, 1);
    assert_false(l->failover_possible);

    /* built twice: the same (no flip-flop) */
    mrd_plan *again = build_ex_ok(t, NULL, &r);
    assert_same_layout(p, again);
    plan_free(&again);
    plan_free(&p);
    plan_free(&before);
    replacements_free(&r);
    topo_free_test(&t);
}

/* A spare that stands in and is lost in turn: the planner follows the
 * chain; the first spare holds nothing. */
static void test_replacement_chain(void **state)
{
    (void)state;
    mrd_topology *t = spare_topo(MRD_MODE_SENTINEL);
    int l = host_named(t, "eu-west-b1"), s1 = host_named(t, "eu-west-b2");
    int s2 = host_named(t, "ap-south-b2");
    mrd_replacements r;
    replacements_init(&r);
    assert_int_equal(replacements_add(&r, "eu-west-b1", "eu-west-b2", 1), MRD_OK);
    assert_int_equal(replacements_add(&r, "eu-west-b2", "ap-south-b2", 2), MRD_OK);
    mrd_plan *p = build_ex_ok(t, NULL, &r);
    assert_int_equal(plan_node_on(p, 0, l), -1);
    assert_int_equal(plan_node_on(p, 0, s1), -1);
    assert_int_equal(prio_of(p, s2), 120);
    assert_int_equal(p->hosts[s1].stands_for, l);
    assert_int_equal(p->hosts[s1].replaced_by, s2);
    assert_int_equal(p->hosts[s1].generation, 3);
    assert_int_equal(p->hosts[s2].stands_for, s1);
    assert_false(p->hosts[s1].spare);
    plan_free(&p);
    replacements_free(&r);
    topo_free_test(&t);
}

/* Cluster mode: the lost host's nodes move to the spare with their ports;
 * a plan built from the placement recorded before the replacement, or
 * after it, is the same (idempotent); a scale puts nothing on the
 * replaced host nor on a spare. */
static void test_replacement_cluster(void **state)
{
    (void)state;
    mrd_topology *t = spare_topo(MRD_MODE_CLUSTER);
    int l = host_named(t, "eu-west-a1"), s = host_named(t, "eu-west-b2");
    mrd_plan *p0 = build_ok(t);
    mrd_placement before, after;
    mrd_error err;
    assert_int_equal(plan_placement(p0, false, &before, &err), MRD_OK);
    mrd_replacements r;
    replacements_init(&r);
    assert_int_equal(replacements_add(&r, "eu-west-a1", "eu-west-b2", 1), MRD_OK);

    mrd_plan *p1 = build_ex_ok(t, &before, &r);
    assert_int_equal(p1->nnodes, p0->nnodes);
    int moved = 0;
    for (int i = 0; i < p0->nnodes; i++) {
        assert_int_not_equal(p1->nodes[i].host, l);
        if (p0->nodes[i].host == l) {
            moved++;
            assert_int_equal(p1->nodes[i].host, s);
        } else {
            assert_int_equal(p1->nodes[i].host, p0->nodes[i].host);
        }
        assert_int_equal(p1->nodes[i].port, p0->nodes[i].port);
        assert_int_equal(p1->nodes[i].bus_port, p0->nodes[i].bus_port);
        assert_int_equal(p1->nodes[i].master, p0->nodes[i].master);
    }
    assert_true(moved >= 1);
    assert_int_equal(plan_check(p1, &err), MRD_OK);

    /* from the placement after, and from nothing: the same plan */
    assert_int_equal(plan_placement(p1, false, &after, &err), MRD_OK);
    mrd_plan *p2 = build_ex_ok(t, &after, &r), *p3 = build_ex_ok(t, NULL, &r);
    assert_same_layout(p1, p2);
    assert_same_layout(p1, p3);

    /* grow to 4 shards from the placement after: nothing new on the
     * replaced host or a spare */
    t->settings.cluster.shards = 4;
    mrd_plan *p4 = build_ex_ok(t, &after, &r);
    assert_int_equal(p4->nadded, 1);
    const mrd_plan_shard *sh = &p4->shards[3];
    for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
        assert_int_not_equal(p4->nodes[i].host, l);
        assert_false(plan_node_host(p4, i)->spare);
    }
    placement_free(&before);
    placement_free(&after);
    plan_free(&p0);
    plan_free(&p1);
    plan_free(&p2);
    plan_free(&p3);
    plan_free(&p4);
    replacements_free(&r);
    topo_free_test(&t);
}

static void test_replacement_refusals(void **state)
{
    (void)state;
    mrd_topology *t = spare_topo(MRD_MODE_CLUSTER);
    mrd_replacements r;
    mrd_error err;

    replacements_init(&r);
    replacements_add(&r, "eu-west-a1", "eu-west-b1", 1);
    build_ex_refused(t, NULL, &r, "is not a spare: mark it \"spare\": true");
    replacements_free(&r);

    replacements_init(&r);
    replacements_add(&r, "eu-west-a9", "eu-west-b2", 1);
    build_ex_refused(t, NULL, &r, "host eu-west-a9, replaced at generation 2, is not in the");
    replacements_free(&r);

    replacements_init(&r);
    replacements_add(&r, "eu-west-a1", "eu-west-b2", 1);
    replacements_add(&r, "us-east-a1", "eu-west-b2", 1);
    build_ex_refused(t, NULL, &r, "a spare stands in once");
    replacements_free(&r);

    /* the placement already puts nodes on the spare while the lost host
     * holds nodes too */
    mrd_plan *p = build_ok(t);
    mrd_placement pl;
    assert_int_equal(plan_placement(p, false, &pl, &err), MRD_OK);
    snprintf(pl.nodes[1].host, sizeof(pl.nodes[1].host), "eu-west-b2");
    replacements_init(&r);
    replacements_add(&r, pl.nodes[0].host, "eu-west-b2", 1);
    build_ex_refused(t, &pl, &r, "it already holds nodes of the plan");
    replacements_free(&r);
    /* ... or on a spare standing in for nobody */
    build_ex_refused(t, &pl, NULL, "a spare that stands in for no host");
    placement_free(&pl);
    plan_free(&p);
    topo_free_test(&t);
}

/* Spares in us-east and ap-south, none in eu-west. */
static mrd_topology *two_spares_topo(void)
{
    mrd_topology *t = topo_new("us-east:a1,b2;eu-west:a1,b1;ap-south:a1,b2");
    t->hosts[host_named(t, "us-east-b2")].spare = true;
    t->hosts[host_named(t, "ap-south-b2")].spare = true;
    return t;
}

static void expect_spare(const mrd_topology *t, const mrd_replacements *r, const char *lost,
                         const char *spare, const char *match)
{
    char why[256] = "x";
    int l = host_named(t, lost);
    int s = plan_choose_spare(t, NULL, r, l, why, sizeof(why));
    if (s < 0)
        fail_msg("no spare for %s: %s", lost, why);
    assert_string_equal(t->hosts[s].name, spare);
    assert_string_equal(plan_spare_match(t, l, s), match);
    assert_string_equal(why, "");
}

static void expect_no_spare(const mrd_topology *t, const mrd_replacements *r, const char *lost,
                            const char *sentence)
{
    char why[256];
    assert_int_equal(plan_choose_spare(t, NULL, r, host_named(t, lost), why, sizeof(why)), -1);
    assert_string_equal(why, sentence);
}

/* Same zone, then same region, then other regions in file order; a spare
 * is taken only when the layout stays safe; the refusal names the fix. */
static void test_spare_choice(void **state)
{
    (void)state;
    mrd_topology *t = two_spares_topo();
    expect_spare(t, NULL, "us-east-b1", "us-east-b2", "same zone");
    expect_spare(t, NULL, "us-east-a1", "us-east-b2", "same region");
    expect_spare(t, NULL, "ap-south-a1", "ap-south-b2", "same region");
    expect_spare(t, NULL, "eu-west-b1", "us-east-b2", "other region");
    /* eu-west-a1 holds a sentinel: in us-east the leader's region would
     * hold two of three, in ap-south a region without the leader would */
    expect_no_spare(t, NULL, "eu-west-a1",
                    "no spare keeps the layout safe for losing eu-west-a1 (eu-west): add a "
                    "spare in eu-west");
    assert_int_equal(plan_choose_spare(t, NULL, NULL, host_named(t, "eu-west-a1"), NULL, 0), -1);

    /* a spare that stands in, or is lost itself, is not idle */
    mrd_replacements r;
    replacements_init(&r);
    assert_int_equal(replacements_add(&r, "us-east-b1", "us-east-b2", 1), MRD_OK);
    expect_spare(t, &r, "eu-west-b1", "ap-south-b2", "other region");
    /* the leader and a sentinel into ap-south: its loss would be fatal */
    expect_no_spare(t, &r, "us-east-a1",
                    "no spare keeps the layout safe for losing us-east-a1 (us-east): add a "
                    "spare in us-east");
    assert_int_equal(replacements_lost_set(&r, "ap-south-b2", 5), MRD_OK);
    expect_no_spare(t, &r, "eu-west-b1",
                    "no idle spare can stand in for eu-west-b1 (eu-west): add a spare in "
                    "eu-west");
    /* the spare standing in can be replaced in turn; a replaced host not */
    replacements_lost_clear(&r, "ap-south-b2");
    expect_spare(t, &r, "us-east-b2", "ap-south-b2", "other region");
    expect_no_spare(t, &r, "us-east-b1",
                    "us-east-b1 was replaced already: it is fenced and runs nothing");
    replacements_free(&r);

    /* survive "zone" in one region: a spare in another zone of the region
     * would put two sentinels in one zone */
    mrd_topology *z = topo_new("us-east:a2,b1,c1");
    z->survive = MRD_SURVIVE_ZONE;
    z->hosts[host_named(z, "us-east-a2")].spare = true;
    expect_spare(z, NULL, "us-east-a1", "us-east-a2", "same zone");
    expect_no_spare(z, NULL, "us-east-b1",
                    "no spare keeps the layout safe for losing us-east-b1 (us-east): add a "
                    "spare in zone us-east-b");
    topo_free_test(&z);
    topo_free_test(&t);
}

/* plan_print(P) as a string (free() it). */
static char *printed(const mrd_plan *p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    plan_print(f, p);
    fclose(f);
    return text;
}

/* What `plan` shows: spares, who stands in for whom, replaced hosts, and
 * the host-loss section, in JSON and text. */
static void test_plan_output_spares(void **state)
{
    (void)state;
    mrd_topology *t = two_spares_topo();
    mrd_replacements r;
    replacements_init(&r);
    assert_int_equal(replacements_add(&r, "us-east-b1", "us-east-b2", 1), MRD_OK);
    mrd_plan *p = build_ex_ok(t, NULL, &r);
    json_t *j = plan_to_json(p);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "generation")), 2);
    json_t *hosts = json_object_get(j, "hosts");
    assert_int_equal(json_array_size(hosts), 8);
    for (size_t i = 0; i < json_array_size(hosts); i++) {
        json_t *h = json_array_get(hosts, i);
        const char *name = json_string_value(json_object_get(h, "host"));
        json_t *sp = json_object_get(h, "spare"), *sf = json_object_get(h, "stands_for");
        json_t *rb = json_object_get(h, "replaced_by");
        assert_true(json_is_boolean(sp));
        assert_int_equal(json_is_true(sp), strcmp(name, "ap-south-b2") == 0);
        if (strcmp(name, "us-east-b2") == 0) {
            assert_string_equal(json_string_value(sf), "us-east-b1");
            assert_true(json_is_null(rb));
        } else if (strcmp(name, "us-east-b1") == 0) {
            assert_string_equal(json_string_value(rb), "us-east-b2");
            assert_true(json_is_null(sf));
            assert_int_equal(json_array_size(json_object_get(h, "roles")), 0);
        } else {
            assert_true(json_is_null(sf) && json_is_null(rb));
        }
    }
    json_t *hl = json_object_get(j, "host_losses");
    assert_int_equal(json_array_size(hl), 6); /* the hosts that hold something */
    bool seen_standin = false;
    for (size_t i = 0; i < json_array_size(hl); i++) {
        json_t *e = json_array_get(hl, i);
        const char *name = json_string_value(json_object_get(e, "host"));
        assert_string_not_equal(name, "us-east-b1");
        assert_string_not_equal(name, "ap-south-b2");
        if (strcmp(name, "us-east-b2") == 0) {
            seen_standin = true;
            assert_string_equal(json_string_value(json_object_get(e, "spare")), "ap-south-b2");
            assert_string_equal(json_string_value(json_object_get(e, "match")), "other region");
            assert_string_equal(json_string_value(json_object_get(e, "reason")), "");
        }
        if (strcmp(name, "eu-west-a1") == 0) {
            assert_true(json_is_null(json_object_get(e, "spare")));
            assert_true(json_is_null(json_object_get(e, "match")));
            assert_non_null(strstr(json_string_value(json_object_get(e, "reason")),
                                   "add a spare in eu-west"));
        }
    }
    assert_true(seen_standin);
    json_decref(j);

    char *text = printed(p);
    const char *want[] = {
        "us-east-b2 stands in for us-east-b1 (generation 2)",
        "replaced by us-east-b2 (generation 2): fenced, runs nothing",
        "ap-south-b2  ap-south   ap-south-b   spare (idle)",
        "eu-west-a1   none: add a spare in eu-west",
        "us-east-b2   ap-south-b2 (other region)",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(text, want[i]))
            fail_msg("\"%s\" not in:\n%s", want[i], text);
    free(text);
    plan_free(&p);
    replacements_free(&r);

    /* without spares: the fields are there, every host loss says none,
     * and the text has no spare section */
    mrd_topology *plain = topo_new(LOCAL_LAYOUT);
    p = build_ok(plain);
    j = plan_to_json(p);
    json_t *h0 = json_array_get(json_object_get(j, "hosts"), 0);
    assert_true(json_is_false(json_object_get(h0, "spare")));
    assert_true(json_is_null(json_object_get(h0, "stands_for")));
    assert_int_equal(json_array_size(json_object_get(j, "host_losses")), 6);
    json_decref(j);
    text = printed(p);
    assert_null(strstr(text, "SPARE"));
    assert_null(strstr(text, "HOST LOSS"));
    free(text);
    plan_free(&p);
    topo_free_test(&plain);
    topo_free_test(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_host_survive_none),
        cmocka_unit_test(test_one_region_three_zones_survive_zone),
        cmocka_unit_test(test_two_regions_unsafe),
        cmocka_unit_test(test_three_regions_local_layout),
        cmocka_unit_test(test_live_losses),
        cmocka_unit_test(test_five_regions_five_sentinels),
        cmocka_unit_test(test_sentinel_round_robin),
        cmocka_unit_test(test_concentrated_sentinels),
        cmocka_unit_test(test_leader_region_single_host),
        cmocka_unit_test(test_min_replicas_too_high),
        cmocka_unit_test(test_quorum),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_plan_to_json),
        cmocka_unit_test(test_cluster_local),
        cmocka_unit_test(test_cluster_four_shards_three_regions),
        cmocka_unit_test(test_cluster_without_replicas),
        cmocka_unit_test(test_cluster_limits),
        cmocka_unit_test(test_scale_fixed_point),
        cmocka_unit_test(test_scale_grow),
        cmocka_unit_test(test_scale_shrink),
        cmocka_unit_test(test_scale_refusals),
        cmocka_unit_test(test_placement_parse_errors),
        cmocka_unit_test(test_spares_get_nothing),
        cmocka_unit_test(test_replacement_moves_sentinel_mode),
        cmocka_unit_test(test_replacement_chain),
        cmocka_unit_test(test_replacement_cluster),
        cmocka_unit_test(test_replacement_refusals),
        cmocka_unit_test(test_spare_choice),
        cmocka_unit_test(test_plan_output_spares),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
