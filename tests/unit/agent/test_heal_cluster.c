/* test_heal_cluster.c - the pure parts of cluster-mode heal: source
 * choice, a node's own nodes.conf, the id of a restored node, the shard's
 * master as a view says, and heal_decide on the facts a crashed master
 * leaves at each stage of a failover (never restored while any view still
 * gives it its slots, nor while no view names a master), the replica
 * the crash fast path asks, and the replica-side failover request's
 * verdict (unreachable for node-timeout, the majority side, the replica
 * chosen, the cooldown, the switch).  No I/O. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "cluster.h"
#include "heal_int.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccc"
#define ID_D "dddddddddddddddddddddddddddddddddddddddd"

/* One shard (A master of 0-16383, B and C its replicas) and the node D
 * of no shard, as B sees it. */
static const char view_healthy[] =
    ID_A " 127.0.1.1:7000@17000 master - 0 1 1 connected 0-16383\n"
    ID_B " 127.0.2.2:7000@17000 myself,slave " ID_A " 0 1 1 connected\n"
    ID_C " 127.0.1.2:7001@17001 slave " ID_A " 0 1 1 connected\n"
    ID_D " 127.0.3.1:7000@17000 master - 0 1 2 connected\n";
/* A died; the cluster has not agreed yet (B only suspects it). */
static const char view_pfail[] =
    ID_A " 127.0.1.1:7000@17000 master,fail? - 5 1 1 disconnected 0-16383\n"
    ID_B " 127.0.2.2:7000@17000 myself,slave " ID_A " 0 1 1 connected\n"
    ID_C " 127.0.1.2:7001@17001 slave " ID_A " 0 1 1 connected\n";
/* A failed; no replica promoted yet: its slots stay with it, flagged. */
static const char view_failed[] =
    ID_A " 127.0.1.1:7000@17000 master,fail - 5 1 1 disconnected 0-16383\n"
    ID_B " 127.0.2.2:7000@17000 myself,slave " ID_A " 0 1 1 connected\n"
    ID_C " 127.0.1.2:7001@17001 slave " ID_A " 0 1 1 connected\n";
/* B was promoted: it owns the slots; A is a failed master without any. */
static const char view_promoted[] =
    ID_A " 127.0.1.1:7000@17000 master,fail - 5 1 1 disconnected\n"
    ID_B " 127.0.2.2:7000@17000 myself,master - 0 1 3 connected 0-16383\n"
    ID_C " 127.0.1.2:7001@17001 slave " ID_B " 0 1 3 connected\n";

static const char *const shard_ip[] = {"127.0.1.1", "127.0.2.2", "127.0.1.2"};
static const int shard_port[] = {7000, 7000, 7001};

static store_cluster_view *parse(const char *text)
{
    store_cluster_view *v = store_cluster_view_new();
    assert_non_null(v);
    assert_int_equal(store_cluster_nodes_parse(text, strlen(text), v, NULL), MRD_OK);
    return v;
}

/* ==== source choice ==== */

static void test_source_same_region_first(void **state)
{
    (void)state;
    heal_source c[] = {
        {.node = 3, .healthy = true, .same_region = false, .lag = 0},
        {.node = 4, .healthy = true, .same_region = true, .lag = 900},
    };
    assert_int_equal(heal_choose_source(c, 2, 0), 4);
}

static void test_source_least_lag_among_equals(void **state)
{
    (void)state;
    heal_source c[] = {
        {.node = 3, .healthy = true, .same_region = false, .lag = 50},
        {.node = 4, .healthy = true, .same_region = false, .lag = 10},
        {.node = 5, .healthy = true, .same_region = false, .lag = 10},
    };
    assert_int_equal(heal_choose_source(c, 3, 0), 4);
}

static void test_source_unhealthy_skipped_then_master(void **state)
{
    (void)state;
    heal_source c[] = {
        {.node = 3, .healthy = false, .same_region = true, .lag = 0},
        {.node = 4, .healthy = true, .same_region = false, .lag = 7},
    };
    assert_int_equal(heal_choose_source(c, 2, 9), 4);
    c[1].healthy = false;
    assert_int_equal(heal_choose_source(c, 2, 9), 9);
    assert_int_equal(heal_choose_source(NULL, 0, 9), 9);
}

/* ==== the node's own nodes.conf ==== */

static void test_conf_missing(void **state)
{
    (void)state;
    store_cluster_view *v = store_cluster_view_new();
    assert_int_equal(heal_cluster_conf_judge(NULL, 0, "127.0.2.2", 7000, v), HEAL_CONF_MISSING);
    store_cluster_view_free(&v);
}

static void test_conf_damaged(void **state)
{
    (void)state;
    store_cluster_view *v = store_cluster_view_new();
    const char cut[] = ID_A " 127.0.1.1:7000@17000 mas";
    assert_int_equal(heal_cluster_conf_judge(cut, strlen(cut), "127.0.2.2", 7000, v),
                     HEAL_CONF_DAMAGED);
    assert_int_equal(heal_cluster_conf_judge("", 0, "127.0.2.2", 7000, v), HEAL_CONF_DAMAGED);
    /* B's file, but this node is 127.0.1.2:7001 (C) */
    assert_int_equal(heal_cluster_conf_judge(view_healthy, strlen(view_healthy), "127.0.1.2",
                                             7001, v),
                     HEAL_CONF_DAMAGED);
    store_cluster_view_free(&v);
}

static void test_conf_ok_with_vars_line(void **state)
{
    (void)state;
    store_cluster_view *v = store_cluster_view_new();
    char text[1024];
    snprintf(text, sizeof(text), "%svars currentEpoch 3 lastVoteEpoch 0\n", view_healthy);
    assert_int_equal(heal_cluster_conf_judge(text, strlen(text), "127.0.2.2", 7000, v),
                     HEAL_CONF_OK);
    assert_string_equal(store_cluster_myself(v)->id, ID_B);
    store_cluster_view_free(&v);
}

/* ==== the restored node's id ==== */

static void test_id_from_intact_nodes_conf(void **state)
{
    (void)state;
    store_cluster_view *old = parse(view_healthy), *peer = parse(view_promoted);
    char id[41];
    assert_int_equal(heal_cluster_node_id(old, peer, "127.0.2.2", 7000, id),
                     HEAL_ID_NODES_CONF);
    assert_string_equal(id, ID_B);
    store_cluster_view_free(&old);
    store_cluster_view_free(&peer);
}

static void test_id_from_cluster_view(void **state)
{
    (void)state;
    store_cluster_view *peer = parse(view_promoted); /* B's view */
    char id[41];
    assert_int_equal(heal_cluster_node_id(NULL, peer, "127.0.1.1", 7000, id),
                     HEAL_ID_CLUSTER_VIEW);
    assert_string_equal(id, ID_A);
    store_cluster_view_free(&peer);
}

static void test_id_new_when_unknown(void **state)
{
    (void)state;
    store_cluster_view *peer = parse(view_promoted);
    char id[41] = "x";
    assert_int_equal(heal_cluster_node_id(NULL, peer, "127.0.9.9", 7000, id), HEAL_ID_NEW);
    assert_string_equal(id, "");
    /* the peer itself is never whom a lost node is */
    assert_int_equal(heal_cluster_node_id(NULL, peer, "127.0.2.2", 7000, id), HEAL_ID_NEW);
    assert_int_equal(heal_cluster_node_id(NULL, NULL, "127.0.1.1", 7000, id), HEAL_ID_NEW);
    store_cluster_view_free(&peer);
}

/* ==== the crashed master, stage by stage ==== */

/* The facts of a node whose process is gone, given the index in the
 * shard (0: A) the view names as master, for node SELF. */
static heal_facts lost_facts(int master, int self, long long down_ms)
{
    heal_facts f = {
        .proc_alive = false, .data_dir_ok = false, .reachable = false, .lag_bytes = -1,
        .have_leader = master >= 0, .self_is_leader = master == self, .down_ms = down_ms,
    };
    return f;
}

static int master_in(const char *text)
{
    store_cluster_view *v = parse(text);
    int k = heal_cluster_master(v, shard_ip, shard_port, 3);
    store_cluster_view_free(&v);
    return k;
}

static void test_master_in_each_stage(void **state)
{
    (void)state;
    assert_int_equal(master_in(view_healthy), 0);
    assert_int_equal(master_in(view_pfail), 0);   /* suspected only: still A */
    assert_int_equal(master_in(view_failed), -1); /* failed, none promoted */
    assert_int_equal(master_in(view_promoted), 1);
}

static void test_crashed_master_never_restored_before_promotion(void **state)
{
    (void)state;
    const int timeout = 1000;
    const char *const before[] = {view_healthy, view_pfail, view_failed};
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
        for (long long down = 0; down <= 3 * timeout; down += timeout / 2) {
            heal_facts f = lost_facts(master_in(before[i]), 0, down);
            for (int backoff = 0; backoff < 2; backoff++) {
                f.backing_off = backoff;
                heal_action a = heal_decide(&f, timeout);
                assert_int_not_equal(a, HEAL_RESTORE);
                assert_int_not_equal(a, HEAL_BACKOFF);
                assert_int_not_equal(a, HEAL_NONE);
            }
        }
}

static void test_crashed_master_waits_then_asks(void **state)
{
    (void)state;
    heal_facts f = lost_facts(master_in(view_pfail), 0, 500);
    assert_int_equal(heal_decide(&f, 1000), HEAL_WAIT_FAILOVER);
    f.down_ms = 1000;
    assert_int_equal(heal_decide(&f, 1000), HEAL_ASK_FAILOVER); /* a no-op in cluster mode */
    f = lost_facts(master_in(view_failed), 0, 5000);
    assert_int_equal(heal_decide(&f, 1000), HEAL_WAIT_SENTINELS);
}

static void test_crashed_master_restored_after_promotion(void **state)
{
    (void)state;
    heal_facts f = lost_facts(master_in(view_promoted), 0, 5000);
    assert_int_equal(heal_decide(&f, 1000), HEAL_RESTORE);
    f.backing_off = true;
    assert_int_equal(heal_decide(&f, 1000), HEAL_BACKOFF);
}

static void test_lost_replica_restored(void **state)
{
    (void)state;
    heal_facts f = lost_facts(master_in(view_healthy), 2, 0);
    assert_int_equal(heal_decide(&f, 1000), HEAL_RESTORE);
}

/* ==== the crash fast path: which replica to ask ==== */

/* A candidate that answered with OFFSET. */
#define ANS(n, plan, off) {.node = (n), .planned = (plan), .answered = true, .offset = (off)}
#define SILENT(n, plan) {.node = (n), .planned = (plan), .answered = false, .offset = -1}

static void test_target_planned_region_first(void **state)
{
    (void)state;
    /* manifest order: the in-region replica first here, the planned one second */
    heal_fo_candidate c[] = {ANS(2, false, 900), ANS(1, true, 900)};
    assert_int_equal(heal_cluster_failover_target(c, 2), 1);
}

static void test_target_first_when_none_planned(void **state)
{
    (void)state;
    heal_fo_candidate c[] = {ANS(4, false, 900), ANS(5, false, 900)};
    assert_int_equal(heal_cluster_failover_target(c, 2), 0);
}

static void test_target_most_data_beats_the_plan(void **state)
{
    (void)state;
    /* the planned replica lacks 10 bytes the other has: they may be a
     * write acknowledged by WAIT 1, so the other one is asked */
    heal_fo_candidate c[] = {ANS(1, true, 890), ANS(2, false, 900)};
    assert_int_equal(heal_cluster_failover_target(c, 2), 1);
}

static void test_target_silent_skipped(void **state)
{
    (void)state;
    /* the planned replica did not answer at the crash: it cannot be asked,
     * and its offset cannot be compared */
    heal_fo_candidate c[] = {SILENT(1, true), ANS(2, false, 100)};
    assert_int_equal(heal_cluster_failover_target(c, 2), 1);
    heal_fo_candidate d[] = {SILENT(1, true), SILENT(2, false)};
    assert_int_equal(heal_cluster_failover_target(d, 2), -1);
}

static void test_target_none(void **state)
{
    (void)state;
    assert_int_equal(heal_cluster_failover_target(NULL, 0), -1);
}

static void test_target_offset_zero(void **state)
{
    (void)state;
    /* a shard that never took a write: offset 0 is an answer, not "none" */
    heal_fo_candidate c[] = {ANS(2, false, 0), ANS(1, true, 0)};
    assert_int_equal(heal_cluster_failover_target(c, 2), 1);
}

static void test_target_planned_among_the_most_data(void **state)
{
    (void)state;
    /* three replicas: the two with the most data tie; the planned one of
     * those wins over the earlier one, the laggard never */
    heal_fo_candidate c[] = {ANS(1, true, 10), ANS(2, false, 50), ANS(3, true, 50)};
    assert_int_equal(heal_cluster_failover_target(c, 3), 2);
}

/* ==== the fence ==== */

#define ID_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define ID_F "ffffffffffffffffffffffffffffffffffffffff"

/* Three shards, as shard 1's master A sees them while cut off from the
 * other two masters (D, E: flagged fail? by A, still owning their slots),
 * with a replica of its own (B), another shard's replica (F) and C, a
 * master owning nothing (a spare just met). */
static const char view_three[] =
    ID_A " 127.0.1.1:7000@17000 myself,master - 0 1 1 connected 0-5460\n"
    ID_B " 127.0.1.2:7001@17001 slave " ID_A " 0 1 1 connected\n"
    ID_C " 127.0.1.3:7000@17000 master - 0 1 7 connected\n"
    ID_D " 127.0.2.1:7000@17000 master,fail? - 5 1 2 disconnected 5461-10922\n"
    ID_E " 127.0.3.1:7000@17000 master,fail? - 5 1 3 disconnected 10923-16383\n"
    ID_F " 127.0.2.2:7001@17001 slave " ID_D " 0 1 2 connected\n";

/* Which of view_three's nodes answered: A, B, C, D, E, F. */
static bool isolated_three(bool d, bool e, int *masters, int *reached)
{
    store_cluster_view *v = parse(view_three);
    bool answered[] = {false /* myself: not read */, true, true, d, e, true};
    bool iso = heal_cluster_isolated(v, answered, masters, reached);
    store_cluster_view_free(&v);
    return iso;
}

static void test_isolated_majority_of_slot_owners(void **state)
{
    (void)state;
    int masters, reached;
    /* neither other master: 1 of 3, cut off (its replica and the empty
     * master answering do not count) */
    assert_true(isolated_three(false, false, &masters, &reached));
    assert_int_equal(masters, 3);
    assert_int_equal(reached, 1);
    /* one of them: 2 of 3 is a majority */
    assert_false(isolated_three(true, false, &masters, &reached));
    assert_int_equal(reached, 2);
    assert_false(isolated_three(false, true, &masters, &reached));
    /* both */
    assert_false(isolated_three(true, true, &masters, &reached));
    assert_int_equal(reached, 3);
}

static void test_isolated_even_and_failed_masters(void **state)
{
    (void)state;
    /* four masters owning slots, one of them flagged fail (counted: Redis
     * keeps it in the cluster's size): 2 of 4 is not a majority, 3 is */
    static const char four[] =
        ID_A " 127.0.1.1:7000@17000 myself,master - 0 1 1 connected 0-4000\n"
        ID_B " 127.0.2.1:7000@17000 master - 0 1 2 connected 4001-8000\n"
        ID_C " 127.0.3.1:7000@17000 master,fail - 5 1 3 disconnected 8001-12000\n"
        ID_D " 127.0.4.1:7000@17000 master - 0 1 4 connected 12001-16383\n";
    store_cluster_view *v = parse(four);
    int masters, reached;
    bool answered[] = {false, true, false, false};
    assert_true(heal_cluster_isolated(v, answered, &masters, &reached));
    assert_int_equal(masters, 4);
    assert_int_equal(reached, 2);
    answered[3] = true;
    assert_false(heal_cluster_isolated(v, answered, &masters, &reached));
    assert_int_equal(reached, 3);
    store_cluster_view_free(&v);
}

static void test_isolated_only_for_a_slot_owning_master(void **state)
{
    (void)state;
    int masters = -1, reached = -1;
    bool none[8] = {false};
    /* a replica (B in view_healthy) is never isolated */
    store_cluster_view *v = parse(view_healthy);
    assert_false(heal_cluster_isolated(v, none, &masters, &reached));
    assert_int_equal(masters, 0);
    assert_int_equal(reached, 0);
    store_cluster_view_free(&v);
    /* nor a master owning no slot (an old master after the failover) */
    static const char empty_master[] =
        ID_A " 127.0.1.1:7000@17000 myself,master - 0 1 1 connected\n"
        ID_B " 127.0.2.2:7000@17000 master - 0 1 3 connected 0-16383\n";
    v = parse(empty_master);
    assert_false(heal_cluster_isolated(v, none, &masters, &reached));
    store_cluster_view_free(&v);
    /* the only master owning slots reaches a majority of one: itself */
    v = parse(view_promoted);
    assert_false(heal_cluster_isolated(v, none, &masters, &reached));
    assert_int_equal(masters, 1);
    assert_int_equal(reached, 1);
    store_cluster_view_free(&v);
}

static void test_fence_transitions(void **state)
{
    (void)state;
    /* enabled, isolated, fenced by us, live fenced */
    assert_int_equal(heal_fence_next(true, true, false, false), HEAL_FENCE_SET);
    assert_int_equal(heal_fence_next(true, true, true, true), HEAL_FENCE_KEEP);
    /* ours, but set back behind our back while still isolated: again */
    assert_int_equal(heal_fence_next(true, true, true, false), HEAL_FENCE_SET);
    /* a dead agent's (or a check run's) fence, still isolated */
    assert_int_equal(heal_fence_next(true, true, false, true), HEAL_FENCE_ADOPT);
    /* a majority again, or no longer a master owning slots */
    assert_int_equal(heal_fence_next(true, false, true, true), HEAL_FENCE_LIFT);
    assert_int_equal(heal_fence_next(true, false, true, false), HEAL_FENCE_LIFT);
    assert_int_equal(heal_fence_next(true, false, false, false), HEAL_FENCE_KEEP);
    /* not ours and not isolated: the repair's (heal_fence_drift) */
    assert_int_equal(heal_fence_next(true, false, false, true), HEAL_FENCE_KEEP);
    /* agent.fence false: never set, ours lifted */
    assert_int_equal(heal_fence_next(false, true, false, false), HEAL_FENCE_KEEP);
    assert_int_equal(heal_fence_next(false, true, true, true), HEAL_FENCE_LIFT);
    assert_int_equal(heal_fence_next(false, true, false, true), HEAL_FENCE_KEEP);
}

static void test_fence_repair_only_when_not_isolated(void **state)
{
    (void)state;
    /* a dead agent's fence on a node that reaches a majority: repair */
    assert_true(heal_fence_drift(false, false, HEAL_FENCE_MIN_REPLICAS, 1));
    /* a change by hand */
    assert_true(heal_fence_drift(false, false, 0, 1));
    assert_false(heal_fence_drift(false, false, 1, 1));
    /* isolated: the fence is right, whoever set it */
    assert_false(heal_fence_drift(true, false, HEAL_FENCE_MIN_REPLICAS, 1));
    /* ours: the fence step lifts it, not the repair */
    assert_false(heal_fence_drift(false, true, HEAL_FENCE_MIN_REPLICAS, 1));
    /* not reported */
    assert_false(heal_fence_drift(false, false, -1, 1));
    /* and heal_decide repairs a ready master with that drift */
    heal_facts f = {.proc_alive = true, .data_dir_ok = true, .reachable = true,
                    .is_master = true, .have_leader = true, .self_is_leader = true,
                    .lag_bytes = -1, .settings_drift = true};
    assert_int_equal(heal_decide(&f, 3000), HEAL_REPAIR);
    /* a replica still syncing keeps it until it is caught up */
    f = (heal_facts){.proc_alive = true, .data_dir_ok = true, .reachable = true,
                     .have_leader = true, .follows_leader = true, .link_up = false,
                     .lag_bytes = -1, .settings_drift = true};
    assert_int_equal(heal_decide(&f, 3000), HEAL_WAIT_SYNC);
}

static void test_target_never_no_failover(void **state)
{
    (void)state;
    /* a replica being restored (cluster-replica-no-failover yes) is never
     * asked, even with the most data: FORCE would ignore the setting */
    heal_fo_candidate c[] = {ANS(1, true, 900), ANS(2, false, 500)};
    c[0].no_failover = true;
    assert_int_equal(heal_cluster_failover_target(c, 2), 1);
    c[1].no_failover = true;
    assert_int_equal(heal_cluster_failover_target(c, 2), -1);
}

/* ==== the replica-side failover request ==== */

#define NT 3000
/* The master of a 3-master cluster lost since t=10000; the one live
 * replica (this agent's, planned) at offset 900; now node-timeout later;
 * masters not probed yet. */
static heal_fo_candidate one_live[] = {ANS(4, true, 900)};
static heal_rfail_facts lost_for(long long ms)
{
    return (heal_rfail_facts){.enabled = true, .node_timeout_ms = NT, .lost_since_ms = 10000,
                              .now_ms = 10000 + ms, .c = one_live, .n = 1, .self = 0,
                              .masters = -1};
}

static void test_rfail_unreachable_duration(void **state)
{
    (void)state;
    heal_rfail_facts f = lost_for(NT - 1);
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_TOO_SOON);
    f = lost_for(0);
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_TOO_SOON);
    f = lost_for(NT);
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_PROBE);
    f.lost_since_ms = 0; /* it answered */
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_MASTER_ANSWERS);
}

static void test_rfail_majority_side(void **state)
{
    (void)state;
    heal_rfail_facts f = lost_for(NT + 200);
    f.masters = 3;
    f.masters_lost_it = 2; /* the two other masters answer, both lost it */
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_ASK);
    f.masters_lost_it = 1; /* a minority side, or a link only we lost */
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_NO_MAJORITY);
    f.masters_lost_it = 0;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_NO_MAJORITY);
    f.masters = 5; /* 3 of 5 needed */
    f.masters_lost_it = 2;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_NO_MAJORITY);
    f.masters_lost_it = 3;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_ASK);
    f.masters = 0; /* a view with no master: never */
    f.masters_lost_it = 0;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_NO_MAJORITY);
}

static void test_rfail_choice_of_replica(void **state)
{
    (void)state;
    heal_rfail_facts f = lost_for(NT);
    f.masters = 3;
    f.masters_lost_it = 3;
    /* two live replicas at the same offset: the planned one asks, the
     * other's agent does not */
    heal_fo_candidate c[] = {ANS(4, false, 900), ANS(5, true, 900)};
    f.c = c;
    f.n = 2;
    f.self = 0;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_NOT_CHOSEN);
    f.self = 1;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_ASK);
    /* the unplanned one has more data: it is the one */
    c[0].offset = 950;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_NOT_CHOSEN);
    f.self = 0;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_ASK);
    /* ... unless it may not fail over: then the planned one */
    c[0].no_failover = true;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_NOT_CHOSEN);
    f.self = 1;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_ASK);
    /* this node not among the live replicas (-1) */
    f.self = -1;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_NOT_CHOSEN);
    /* not chosen is decided before any master is probed */
    f.masters = -1;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_NOT_CHOSEN);
}

static void test_rfail_cooldown(void **state)
{
    (void)state;
    heal_rfail_facts f = lost_for(NT);
    f.masters = 3;
    f.masters_lost_it = 2;
    f.asked_ms = f.now_ms - 1; /* asked a moment ago */
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_COOLDOWN);
    f.asked_ms = f.now_ms - 2 * NT + 1;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_COOLDOWN);
    f.asked_ms = f.now_ms - 2 * NT;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_ASK);
    f.asked_ms = 0;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_ASK);
}

static void test_rfail_switch_off(void **state)
{
    (void)state;
    heal_rfail_facts f = lost_for(10 * NT);
    f.masters = 3;
    f.masters_lost_it = 3;
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_ASK);
    f.enabled = false; /* agent.crash_fast_path false: Redis alone */
    assert_int_equal(heal_cluster_rfail_decide(&f), HEAL_RFAIL_OFF);
    assert_string_equal(heal_cluster_rfail_name(HEAL_RFAIL_OFF), "off");
    assert_string_equal(heal_cluster_rfail_name(HEAL_RFAIL_ASK), "ask");
}

/* Master A's view of B, the lost master of another shard, at each stage. */
#define VIEW_OF_B(flags, link, slots)                                              \
    ID_A " 127.0.2.1:7000@17000 myself,master - 0 1 1 connected 0-5460\n"          \
    ID_B " 127.0.1.1:7000@17000 " flags " - 5 1 2 " link slots "\n"                \
    ID_C " 127.0.3.1:7000@17000 master - 0 1 3 connected 10922-16383\n"

static void test_lost_by(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {VIEW_OF_B("master", "connected", " 5461-10921"), NULL},
        {VIEW_OF_B("master", "disconnected", " 5461-10921"), "disconnected"},
        {VIEW_OF_B("master,fail?", "connected", " 5461-10921"), "fail?"},
        {VIEW_OF_B("master,fail?", "disconnected", " 5461-10921"), "fail?"},
        {VIEW_OF_B("master,fail", "disconnected", " 5461-10921"), "fail"},
        /* a replica took its slots: nothing to ask for any more */
        {VIEW_OF_B("master,fail", "disconnected", ""), NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        store_cluster_view *v = parse(cases[i].text);
        const char *got = heal_cluster_lost_by(v, "127.0.1.1", 7000);
        if (cases[i].want)
            assert_string_equal(got, cases[i].want);
        else
            assert_null(got);
        assert_null(heal_cluster_lost_by(v, "127.0.9.9", 7000)); /* not in the view */
        store_cluster_view_free(&v);
    }
    /* printed by a replica, not a master owning slots: it does not count */
    store_cluster_view *v = parse(view_pfail);
    assert_null(heal_cluster_lost_by(v, "127.0.1.1", 7000));
    store_cluster_view_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_same_region_first),
        cmocka_unit_test(test_source_least_lag_among_equals),
        cmocka_unit_test(test_source_unhealthy_skipped_then_master),
        cmocka_unit_test(test_conf_missing),
        cmocka_unit_test(test_conf_damaged),
        cmocka_unit_test(test_conf_ok_with_vars_line),
        cmocka_unit_test(test_id_from_intact_nodes_conf),
        cmocka_unit_test(test_id_from_cluster_view),
        cmocka_unit_test(test_id_new_when_unknown),
        cmocka_unit_test(test_master_in_each_stage),
        cmocka_unit_test(test_crashed_master_never_restored_before_promotion),
        cmocka_unit_test(test_crashed_master_waits_then_asks),
        cmocka_unit_test(test_crashed_master_restored_after_promotion),
        cmocka_unit_test(test_lost_replica_restored),
        cmocka_unit_test(test_target_planned_region_first),
        cmocka_unit_test(test_target_first_when_none_planned),
        cmocka_unit_test(test_target_most_data_beats_the_plan),
        cmocka_unit_test(test_target_silent_skipped),
        cmocka_unit_test(test_target_none),
        cmocka_unit_test(test_target_offset_zero),
        cmocka_unit_test(test_target_planned_among_the_most_data),
        cmocka_unit_test(test_isolated_majority_of_slot_owners),
        cmocka_unit_test(test_isolated_even_and_failed_masters),
        cmocka_unit_test(test_isolated_only_for_a_slot_owning_master),
        cmocka_unit_test(test_fence_transitions),
        cmocka_unit_test(test_fence_repair_only_when_not_isolated),
        cmocka_unit_test(test_target_never_no_failover),
        cmocka_unit_test(test_rfail_unreachable_duration),
        cmocka_unit_test(test_rfail_majority_side),
        cmocka_unit_test(test_rfail_choice_of_replica),
        cmocka_unit_test(test_rfail_cooldown),
        cmocka_unit_test(test_rfail_switch_off),
        cmocka_unit_test(test_lost_by),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
