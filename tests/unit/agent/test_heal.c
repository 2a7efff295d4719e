/* test_heal.c - the pure half of agent/heal.c: the decision table
 * (heal_decide), action and code names, and the stale sentinel entries
 * (heal_stale_replicas).
 *
 * The decision table is checked three ways: by named scenario (each
 * asserting one exact action), by safety invariants over every
 * combination of facts (a dead leader is never restored, nothing is
 * restored without an agreed leader, ...), and against a reference model
 * written from heal.h's contract over the whole fact space.  No I/O. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "heal.h"
#include "heal_int.h"

/* The sentinel down-after the scenarios use, in ms. */
#define DOWN_AFTER_MS 5000

/* Every action, in enum order. */
static const heal_action all_actions[] = {
    HEAL_NONE,          HEAL_WAIT_SYNC,     HEAL_WAIT_RECONFIG, HEAL_WAIT_SENTINELS,
    HEAL_WAIT_FAILOVER, HEAL_ASK_FAILOVER,  HEAL_RESTORE,       HEAL_BACKOFF,
    HEAL_REPOINT,       HEAL_REPAIR,
};
#define N_ACTIONS ((int)(sizeof(all_actions) / sizeof(all_actions[0])))

/* ==== FACT BUILDERS ===================================================== */

/* A ready replica: alive, data dir present, answering, following the
 * agreed leader, link up, no lag. */
static heal_facts healthy_replica(void)
{
    heal_facts f = {
        .proc_alive = true,
        .data_dir_ok = true,
        .reachable = true,
        .is_master = false,
        .follows_leader = true,
        .link_up = true,
        .lag_bytes = 0,
        .have_leader = true,
        .self_is_leader = false,
        .failover_in_progress = false,
        .down_ms = 0,
        .backing_off = false,
    };
    return f;
}

/* The agreed leader, serving as a master. */
static heal_facts healthy_leader(void)
{
    heal_facts f = healthy_replica();
    f.is_master = true;
    f.self_is_leader = true;
    f.follows_leader = false; /* a master follows nobody */
    f.link_up = false;
    f.lag_bytes = -1;
    return f;
}

/* A replica whose process is gone (nothing observed beyond that). */
static heal_facts dead_replica(void)
{
    heal_facts f = healthy_replica();
    f.proc_alive = false;
    f.reachable = false;
    f.follows_leader = false;
    f.link_up = false;
    f.lag_bytes = -1;
    f.down_ms = 1000;
    return f;
}

/* The leader the sentinels still name, whose process is gone. */
static heal_facts dead_leader(long long down_ms)
{
    heal_facts f = healthy_leader();
    f.proc_alive = false;
    f.reachable = false;
    f.is_master = false;
    f.down_ms = down_ms;
    return f;
}

/* Assert one exact action, naming both sides when they differ. */
#define assert_action(facts, expected)                                                    \
    do {                                                                                  \
        heal_facts f_ = (facts);                                                          \
        heal_action got_ = heal_decide(&f_, DOWN_AFTER_MS);                               \
        if (got_ != (expected))                                                           \
            fail_msg("expected %s, got %s", heal_action_name(expected),                  \
                     heal_action_name(got_));                                             \
    } while (0)

/* ==== A REQUESTED RESTART (heal_restart_decide) ========================= */

static void test_restart_decide(void **state)
{
    (void)state;
    heal_facts f = healthy_replica();
    assert_int_equal(heal_restart_decide(&f), HEAL_RESTART_GO);
    f.link_up = false; /* a replica catching up: a restart rebuilds it */
    assert_int_equal(heal_restart_decide(&f), HEAL_RESTART_GO);
    f = healthy_replica();
    f.proc_alive = false;
    f.reachable = false; /* a lost replica: the restore the pass would do */
    assert_int_equal(heal_restart_decide(&f), HEAL_RESTART_GO);
    f = healthy_leader();
    assert_int_equal(heal_restart_decide(&f), HEAL_RESTART_LEADER);
    f = dead_leader(DOWN_AFTER_MS * 2); /* never restarted as a master */
    assert_int_equal(heal_restart_decide(&f), HEAL_RESTART_LEADER);
    f = healthy_replica();
    f.is_master = true; /* a master the sentinels do not name: still a master */
    assert_int_equal(heal_restart_decide(&f), HEAL_RESTART_LEADER);
    f = healthy_replica();
    f.have_leader = false;
    assert_int_equal(heal_restart_decide(&f), HEAL_RESTART_NOT_NOW);
    f = healthy_replica();
    f.failover_in_progress = true;
    assert_int_equal(heal_restart_decide(&f), HEAL_RESTART_NOT_NOW);
    f = healthy_replica();
    f.reachable = false; /* alive, loading */
    assert_int_equal(heal_restart_decide(&f), HEAL_RESTART_NOT_NOW);
}

/* ==== A RESTORE'S SEED (heal_seed_decide) ============================== */

static void test_seed_decide(void **state)
{
    (void)state;
    heal_facts f = healthy_leader();
    assert_int_equal(heal_seed_decide(&f, 0, false), HEAL_SEED_GO);
    /* a leader with data is replaced only when forced */
    assert_int_equal(heal_seed_decide(&f, 12, false), HEAL_SEED_HOLDS_DATA);
    assert_int_equal(heal_seed_decide(&f, 12, true), HEAL_SEED_GO);
    /* the leader of a total loss: dead, still the one the sentinels name */
    f = dead_leader(DOWN_AFTER_MS * 2);
    assert_int_equal(heal_seed_decide(&f, 0, false), HEAL_SEED_GO);
    /* a replica never gets the backup, forced or not */
    f = healthy_replica();
    assert_int_equal(heal_seed_decide(&f, 0, false), HEAL_SEED_NOT_LEADER);
    assert_int_equal(heal_seed_decide(&f, 0, true), HEAL_SEED_NOT_LEADER);
    f = healthy_leader();
    f.have_leader = false;
    assert_int_equal(heal_seed_decide(&f, 0, true), HEAL_SEED_NOT_NOW);
}

/* ==== REPLICA SCENARIOS ================================================= */

static void test_replica_healthy_is_none(void **state)
{
    (void)state;
    assert_action(healthy_replica(), HEAL_NONE);
}

static void test_replica_lag_at_limit_is_none(void **state)
{
    (void)state;
    heal_facts f = healthy_replica();
    f.lag_bytes = MRD_CAUGHT_UP_LAG_BYTES; /* "at most" the limit: ready */
    assert_action(f, HEAL_NONE);
    f.lag_bytes = 1;
    assert_action(f, HEAL_NONE);
}

/* An interrupted restore left the replica at replica-priority 0: once it
 * is linked and caught up, the pass repairs it; while it still syncs, it
 * stays unpromotable. */
static void test_unpromotable_replica_repaired_once_ready(void **state)
{
    (void)state;
    heal_facts f = healthy_replica();
    f.settings_drift = true;
    assert_action(f, HEAL_REPAIR);
    f.lag_bytes = MRD_CAUGHT_UP_LAG_BYTES + 1;
    assert_action(f, HEAL_WAIT_SYNC);
    f = healthy_replica();
    f.settings_drift = true;
    f.link_up = false;
    assert_action(f, HEAL_WAIT_SYNC);
}

/* A leader left fenced by a dead agent (min-replicas-to-write 1000) is
 * repaired too. */
static void test_drifted_leader_repaired(void **state)
{
    (void)state;
    heal_facts f = healthy_leader();
    f.settings_drift = true;
    assert_action(f, HEAL_REPAIR);
    f.have_leader = false;
    assert_action(f, HEAL_WAIT_SENTINELS);
}

static void test_replica_lag_over_limit_waits_sync(void **state)
{
    (void)state;
    heal_facts f = healthy_replica();
    f.lag_bytes = MRD_CAUGHT_UP_LAG_BYTES + 1;
    assert_action(f, HEAL_WAIT_SYNC);
    f.lag_bytes = 1LL << 40;
    assert_action(f, HEAL_WAIT_SYNC);
}

static void test_replica_lag_unknown_waits_sync(void **state)
{
    (void)state;
    heal_facts f = healthy_replica();
    f.lag_bytes = -1;
    assert_action(f, HEAL_WAIT_SYNC);
}

static void test_replica_link_down_waits_sync(void **state)
{
    (void)state;
    heal_facts f = healthy_replica();
    f.link_up = false;
    assert_action(f, HEAL_WAIT_SYNC);
}

static void test_replica_unreachable_waits_sync(void **state)
{
    (void)state;
    /* alive but not answering, e.g. loading a large RDB */
    heal_facts f = healthy_replica();
    f.reachable = false;
    assert_action(f, HEAL_WAIT_SYNC);
    /* the other facts cannot have been observed either */
    f.follows_leader = false;
    f.link_up = false;
    f.lag_bytes = -1;
    assert_action(f, HEAL_WAIT_SYNC);
}

static void test_replica_following_other_waits_reconfig(void **state)
{
    (void)state;
    /* a replica of another node (e.g. of the old leader): repointed ... */
    heal_facts f = healthy_replica();
    f.follows_leader = false;
    assert_action(f, HEAL_REPOINT);
    /* ... except during a failover, when the sentinels reconfigure it */
    f.failover_in_progress = true;
    assert_action(f, HEAL_WAIT_RECONFIG);
}

static void test_second_master_waits_reconfig(void **state)
{
    (void)state;
    /* a master that the sentinel majority does not name (back from a
     * partition): the agent demotes it at once ... */
    heal_facts f = healthy_replica();
    f.is_master = true;
    f.follows_leader = false;
    f.link_up = false;
    f.lag_bytes = -1;
    assert_action(f, HEAL_REPOINT);
    /* ... but never in the middle of a failover: the sentinels act then */
    f.failover_in_progress = true;
    assert_action(f, HEAL_WAIT_RECONFIG);
}

/* ==== LEADER SCENARIOS ================================================== */

static void test_leader_healthy_is_none(void **state)
{
    (void)state;
    assert_action(healthy_leader(), HEAL_NONE);
}

static void test_leader_named_but_replica_waits_reconfig(void **state)
{
    (void)state;
    /* the sentinels name this node, but it still runs as a replica */
    heal_facts f = healthy_replica();
    f.self_is_leader = true;
    assert_action(f, HEAL_WAIT_RECONFIG);
}

static void test_serving_leader_without_data_dir_is_none(void **state)
{
    (void)state;
    /* never kill or restore a serving leader, even with its dir gone */
    heal_facts f = healthy_leader();
    f.data_dir_ok = false;
    assert_action(f, HEAL_NONE);
}

/* ==== NO SENTINEL MAJORITY ============================================== */

static void test_no_majority_healthy_node_waits_sentinels(void **state)
{
    (void)state;
    heal_facts f = healthy_replica();
    f.have_leader = false;
    assert_action(f, HEAL_WAIT_SENTINELS);
    f = healthy_replica();
    f.have_leader = false;
    f.is_master = true; /* a master nobody agrees on */
    f.follows_leader = false;
    assert_action(f, HEAL_WAIT_SENTINELS);
}

static void test_no_majority_dead_node_waits_sentinels(void **state)
{
    (void)state;
    /* never restore without an agreed leader */
    heal_facts f = dead_replica();
    f.have_leader = false;
    assert_action(f, HEAL_WAIT_SENTINELS);
    f.backing_off = true;
    assert_action(f, HEAL_WAIT_SENTINELS);
    f.failover_in_progress = true;
    assert_action(f, HEAL_WAIT_SENTINELS);
    f.down_ms = 10LL * DOWN_AFTER_MS;
    assert_action(f, HEAL_WAIT_SENTINELS);
}

static void test_no_majority_missing_dir_waits_sentinels(void **state)
{
    (void)state;
    heal_facts f = healthy_replica();
    f.have_leader = false;
    f.data_dir_ok = false;
    assert_action(f, HEAL_WAIT_SENTINELS);
}

/* ==== LOST REPLICA ====================================================== */

static void test_dead_replica_restores(void **state)
{
    (void)state;
    assert_action(dead_replica(), HEAL_RESTORE);
}

static void test_replica_without_data_dir_restores(void **state)
{
    (void)state;
    /* alive and serving with its data dir gone: it keeps serving (the dir
     * is recreated by the pass), it is not restored */
    heal_facts f = healthy_replica();
    f.data_dir_ok = false;
    assert_action(f, HEAL_NONE);
    /* its pid file gone with the folder, but it still answers: alive */
    f.proc_alive = false;
    assert_action(f, HEAL_NONE);
    /* process dead and data dir gone (host rebuilt): restore */
    f.reachable = false;
    assert_action(f, HEAL_RESTORE);
}

static void test_dead_replica_during_failover_waits(void **state)
{
    (void)state;
    heal_facts f = dead_replica();
    f.failover_in_progress = true;
    assert_action(f, HEAL_WAIT_FAILOVER);
    f.backing_off = true; /* the failover decides first */
    assert_action(f, HEAL_WAIT_FAILOVER);
}

static void test_dead_replica_backing_off(void **state)
{
    (void)state;
    heal_facts f = dead_replica();
    f.backing_off = true;
    assert_action(f, HEAL_BACKOFF);
}

static void test_dead_replica_ignores_down_time(void **state)
{
    (void)state;
    /* down-after is the leader's business; a replica is restored at once */
    heal_facts f = dead_replica();
    f.down_ms = 0;
    assert_action(f, HEAL_RESTORE);
    f.down_ms = 100LL * DOWN_AFTER_MS;
    assert_action(f, HEAL_RESTORE);
}

/* ==== LOST LEADER ======================================================= */

static void test_dead_leader_before_down_after_waits(void **state)
{
    (void)state;
    assert_action(dead_leader(0), HEAL_WAIT_FAILOVER);
    assert_action(dead_leader(DOWN_AFTER_MS - 1), HEAL_WAIT_FAILOVER);
}

static void test_dead_leader_after_down_after_asks(void **state)
{
    (void)state;
    assert_action(dead_leader(DOWN_AFTER_MS), HEAL_ASK_FAILOVER);
    assert_action(dead_leader(DOWN_AFTER_MS + 1), HEAL_ASK_FAILOVER);
    assert_action(dead_leader(1LL << 40), HEAL_ASK_FAILOVER);
}

static void test_dead_leader_during_failover_waits(void **state)
{
    (void)state;
    heal_facts f = dead_leader(10LL * DOWN_AFTER_MS);
    f.failover_in_progress = true;
    assert_action(f, HEAL_WAIT_FAILOVER);
    f.down_ms = 0;
    assert_action(f, HEAL_WAIT_FAILOVER);
}

static void test_dead_leader_backing_off_still_fails_over(void **state)
{
    (void)state;
    /* backoff is about restores: it never applies to the leader */
    heal_facts f = dead_leader(DOWN_AFTER_MS);
    f.backing_off = true;
    assert_action(f, HEAL_ASK_FAILOVER);
    f.down_ms = 0;
    assert_action(f, HEAL_WAIT_FAILOVER);
}

static void test_leader_without_data_dir_not_serving_fails_over(void **state)
{
    (void)state;
    /* dead with its dir gone: lost, but a leader, so the sentinels must
     * move the leadership before anything is restored */
    heal_facts f = healthy_leader();
    f.data_dir_ok = false;
    f.reachable = false;
    f.proc_alive = false;
    f.down_ms = 0;
    assert_action(f, HEAL_WAIT_FAILOVER);
    f.down_ms = DOWN_AFTER_MS;
    assert_action(f, HEAL_ASK_FAILOVER);
    /* still serving without pid file or dir: never failed over */
    f.reachable = true;
    assert_action(f, HEAL_NONE);
}

/* ==== INVARIANTS OVER THE WHOLE FACT SPACE ============================== */

/* Facts from a 12-bit mask (the 10 booleans and two choices of lag) plus a
 * down time: every combination, consistent or not, is walked. */
#define N_BOOL_FACTS 11
static const long long lag_values[] = {-1, 0, MRD_CAUGHT_UP_LAG_BYTES,
                                       MRD_CAUGHT_UP_LAG_BYTES + 1};
#define N_LAGS ((int)(sizeof(lag_values) / sizeof(lag_values[0])))
static const long long down_values[] = {0, 1, DOWN_AFTER_MS - 1, DOWN_AFTER_MS,
                                        DOWN_AFTER_MS + 1, 1LL << 40};
#define N_DOWNS ((int)(sizeof(down_values) / sizeof(down_values[0])))

static heal_facts facts_from(unsigned mask, int lag_i, int down_i)
{
    heal_facts f = {
        .proc_alive = mask & 1u,
        .data_dir_ok = (mask >> 1) & 1u,
        .reachable = (mask >> 2) & 1u,
        .is_master = (mask >> 3) & 1u,
        .follows_leader = (mask >> 4) & 1u,
        .link_up = (mask >> 5) & 1u,
        .have_leader = (mask >> 6) & 1u,
        .self_is_leader = (mask >> 7) & 1u,
        .failover_in_progress = (mask >> 8) & 1u,
        .backing_off = (mask >> 9) & 1u,
        .settings_drift = (mask >> 10) & 1u,
        .lag_bytes = lag_values[lag_i],
        .down_ms = down_values[down_i],
    };
    return f;
}

static void describe(const heal_facts *f, char *buf, size_t size)
{
    snprintf(buf, size,
             "alive=%d dir=%d reach=%d master=%d follows=%d link=%d lag=%lld "
             "have_leader=%d self_leader=%d failover=%d down_ms=%lld backoff=%d drift=%d",
             f->proc_alive, f->data_dir_ok, f->reachable, f->is_master,
             f->follows_leader, f->link_up, f->lag_bytes, f->have_leader,
             f->self_is_leader, f->failover_in_progress, f->down_ms, f->backing_off,
             f->settings_drift);
}

/* Walk every combination, calling CHECK with the facts and the action. */
typedef const char *(*fact_check)(const heal_facts *f, heal_action a);

static void walk_all(fact_check check)
{
    char what[256];
    for (unsigned mask = 0; mask < (1u << N_BOOL_FACTS); mask++)
        for (int l = 0; l < N_LAGS; l++)
            for (int d = 0; d < N_DOWNS; d++) {
                heal_facts f = facts_from(mask, l, d);
                heal_action a = heal_decide(&f, DOWN_AFTER_MS);
                const char *why = check(&f, a);
                if (why) {
                    describe(&f, what, sizeof(what));
                    fail_msg("%s: got %s for %s", why, heal_action_name(a), what);
                }
            }
}

static const char *check_in_range(const heal_facts *f, heal_action a)
{
    (void)f;
    for (int i = 0; i < N_ACTIONS; i++)
        if (a == all_actions[i])
            return NULL;
    return "action out of range";
}

static const char *check_dead_leader_never_restored(const heal_facts *f, heal_action a)
{
    if (f->self_is_leader && !f->proc_alive && a == HEAL_RESTORE)
        return "a dead leader was restored";
    if (f->self_is_leader && !f->proc_alive && a == HEAL_BACKOFF)
        return "a dead leader was sent to the restore backoff";
    return NULL;
}

static const char *check_leader_never_restored(const heal_facts *f, heal_action a)
{
    /* whatever else is observed, the node the sentinels name as leader is
     * never restored (it would come back empty) */
    if (f->self_is_leader && (a == HEAL_RESTORE || a == HEAL_BACKOFF))
        return "the named leader was restored";
    return NULL;
}

static const char *check_nothing_without_leader(const heal_facts *f, heal_action a)
{
    if (!f->have_leader && a != HEAL_WAIT_SENTINELS && a != HEAL_WAIT_SYNC)
        return "acted or judged without an agreed leader";
    return NULL;
}

static const char *check_restore_only_when_lost(const heal_facts *f, heal_action a)
{
    if (a == HEAL_RESTORE &&
        (!f->have_leader || f->self_is_leader || f->failover_in_progress ||
         f->backing_off || (f->proc_alive && f->data_dir_ok)))
        return "restored a node that is not a lost replica";
    return NULL;
}

static const char *check_ask_failover_only_after_down_after(const heal_facts *f,
                                                            heal_action a)
{
    if (a == HEAL_ASK_FAILOVER &&
        (!f->self_is_leader || !f->have_leader || f->failover_in_progress ||
         f->down_ms < DOWN_AFTER_MS))
        return "asked for a failover too early or for a non-leader";
    return NULL;
}

static const char *check_none_means_ready(const heal_facts *f, heal_action a)
{
    if (a != HEAL_NONE)
        return NULL;
    if (!f->reachable || !f->have_leader)
        return "ready while unreachable or without a leader";
    if (f->self_is_leader)
        return f->is_master ? NULL : "a named leader running as replica is ready";
    if (f->is_master || !f->follows_leader || !f->link_up || f->lag_bytes < 0 ||
        f->lag_bytes > MRD_CAUGHT_UP_LAG_BYTES)
        return "a replica that is not caught up is ready";
    if (f->settings_drift)
        return "ready while a safety setting differs from the manifest";
    return NULL;
}

/* A drifted safety setting is repaired exactly when the node is ready in
 * every other way: never while it syncs (a loading replica stays
 * unpromotable), never left alone once it is ready. */
static const char *check_repair_when_ready(const heal_facts *f, heal_action a)
{
    heal_facts clean = *f;
    clean.settings_drift = false;
    bool ready = heal_decide(&clean, DOWN_AFTER_MS) == HEAL_NONE;
    if (a == HEAL_REPAIR && !(f->settings_drift && ready))
        return "repaired a node that is not ready, or has no drift";
    if (a != HEAL_REPAIR && f->settings_drift && ready)
        return "left a drifted safety setting on a ready node";
    return NULL;
}

static void test_every_combination_in_range(void **state)
{
    (void)state;
    walk_all(check_in_range);
}

static void test_dead_leader_never_restored(void **state)
{
    (void)state;
    walk_all(check_dead_leader_never_restored);
}

static void test_named_leader_never_restored(void **state)
{
    (void)state;
    walk_all(check_leader_never_restored);
}

static void test_no_leader_no_action(void **state)
{
    (void)state;
    walk_all(check_nothing_without_leader);
}

static void test_restore_only_lost_replicas(void **state)
{
    (void)state;
    walk_all(check_restore_only_when_lost);
}

static void test_ask_failover_only_after_down_after(void **state)
{
    (void)state;
    walk_all(check_ask_failover_only_after_down_after);
}

static void test_none_only_when_ready(void **state)
{
    (void)state;
    walk_all(check_none_means_ready);
}

static void test_repair_exactly_when_ready(void **state)
{
    (void)state;
    walk_all(check_repair_when_ready);
}

static void test_down_after_is_a_parameter(void **state)
{
    (void)state;
    /* tests and drills shrink down-after: the threshold follows it */
    heal_facts f = dead_leader(100);
    assert_int_equal(heal_decide(&f, 100), HEAL_ASK_FAILOVER);
    assert_int_equal(heal_decide(&f, 101), HEAL_WAIT_FAILOVER);
    assert_int_equal(heal_decide(&f, 60000), HEAL_WAIT_FAILOVER);
    f = dead_replica(); /* a replica's restore does not wait for it */
    f.down_ms = 0;
    assert_int_equal(heal_decide(&f, 60000), HEAL_RESTORE);
}

/* ==== REFERENCE MODEL =================================================== */

/* The decision table of heal.h, written as a table walk, for comparison. */
static heal_action reference(const heal_facts *f, int down_after_ms)
{
    /* alive = the pid file names a live process, or the node answers; a
     * missing data dir alone never makes a live node lost */
    if (!f->proc_alive && !f->reachable) { /* lost */
        if (!f->have_leader)
            return HEAL_WAIT_SENTINELS;
        if (f->self_is_leader) {
            if (f->failover_in_progress)
                return HEAL_WAIT_FAILOVER;
            return f->down_ms >= down_after_ms ? HEAL_ASK_FAILOVER : HEAL_WAIT_FAILOVER;
        }
        if (f->failover_in_progress)
            return HEAL_WAIT_FAILOVER;
        if (f->backing_off)
            return HEAL_BACKOFF;
        return HEAL_RESTORE;
    }
    if (!f->reachable)
        return HEAL_WAIT_SYNC;
    if (!f->have_leader)
        return HEAL_WAIT_SENTINELS;
    if (f->self_is_leader)
        return !f->is_master ? HEAL_WAIT_RECONFIG
               : f->settings_drift ? HEAL_REPAIR : HEAL_NONE;
    if (f->is_master || !f->follows_leader)
        return f->failover_in_progress ? HEAL_WAIT_RECONFIG : HEAL_REPOINT;
    if (!f->link_up)
        return HEAL_WAIT_SYNC;
    if (f->lag_bytes < 0 || f->lag_bytes > MRD_CAUGHT_UP_LAG_BYTES)
        return HEAL_WAIT_SYNC;
    return f->settings_drift ? HEAL_REPAIR : HEAL_NONE;
}

static const char *check_reference(const heal_facts *f, heal_action a)
{
    static char msg[64];
    heal_action want = reference(f, DOWN_AFTER_MS);
    if (a == want)
        return NULL;
    snprintf(msg, sizeof(msg), "expected %s", heal_action_name(want));
    return msg;
}

static void test_table_matches_reference(void **state)
{
    (void)state;
    walk_all(check_reference);
}

static void test_every_action_reachable(void **state)
{
    (void)state;
    bool seen[N_ACTIONS] = {false};
    for (unsigned mask = 0; mask < (1u << N_BOOL_FACTS); mask++)
        for (int l = 0; l < N_LAGS; l++)
            for (int d = 0; d < N_DOWNS; d++) {
                heal_facts f = facts_from(mask, l, d);
                heal_action a = heal_decide(&f, DOWN_AFTER_MS);
                for (int i = 0; i < N_ACTIONS; i++)
                    if (a == all_actions[i])
                        seen[i] = true;
            }
    for (int i = 0; i < N_ACTIONS; i++)
        if (!seen[i])
            fail_msg("%s is never decided", heal_action_name(all_actions[i]));
}

/* ==== NAMES ============================================================= */

static void test_action_names(void **state)
{
    (void)state;
    assert_string_equal(heal_action_name(HEAL_NONE), "none");
    assert_string_equal(heal_action_name(HEAL_WAIT_SYNC), "wait-sync");
    assert_string_equal(heal_action_name(HEAL_WAIT_RECONFIG), "wait-reconfig");
    assert_string_equal(heal_action_name(HEAL_WAIT_SENTINELS), "wait-sentinels");
    assert_string_equal(heal_action_name(HEAL_WAIT_FAILOVER), "wait-failover");
    assert_string_equal(heal_action_name(HEAL_ASK_FAILOVER), "ask-failover");
    assert_string_equal(heal_action_name(HEAL_RESTORE), "restore");
    assert_string_equal(heal_action_name(HEAL_BACKOFF), "backoff");
    assert_string_equal(heal_action_name(HEAL_REPOINT), "repoint");
}

static void test_action_names_distinct(void **state)
{
    (void)state;
    for (int i = 0; i < N_ACTIONS; i++) {
        const char *a = heal_action_name(all_actions[i]);
        assert_non_null(a);
        assert_true(a[0] != '\0');
        assert_string_not_equal(a, "unknown");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(a, heal_action_name(all_actions[j]));
    }
}

static void test_action_name_out_of_range(void **state)
{
    (void)state;
    assert_string_equal(heal_action_name((heal_action)N_ACTIONS), "unknown");
    assert_string_equal(heal_action_name((heal_action)(HEAL_REPAIR + 1)), "unknown");
    assert_string_equal(heal_action_name((heal_action)1000), "unknown");
    assert_string_equal(heal_action_name((heal_action)-1), "unknown");
    assert_string_equal(heal_action_name((heal_action)INT32_MIN), "unknown");
}

/* ==== STALE SENTINEL ENTRIES ============================================ */

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Run heal_stale_replicas and compare the indexes with WANT (NWANT of
 * them).  STALE is pre-filled with a marker to catch stray writes. */
static void expect_stale(const char *const *seen, int n, const char *const *expected,
                         int m, const int *want, int nwant)
{
    int stale[16];
    for (int i = 0; i < N_OF(stale); i++)
        stale[i] = -7;
    assert_true(n <= N_OF(stale));
    int k = heal_stale_replicas(seen, n, expected, m, stale);
    assert_int_equal(k, nwant);
    for (int i = 0; i < nwant; i++)
        assert_int_equal(stale[i], want[i]);
    for (int i = k; i < N_OF(stale); i++)
        assert_int_equal(stale[i], -7);
}

static void test_stale_identical_sets(void **state)
{
    (void)state;
    const char *const set[] = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"};
    expect_stale(set, N_OF(set), set, N_OF(set), NULL, 0);
}

static void test_stale_extra_entry(void **state)
{
    (void)state;
    const char *const expected[] = {"10.0.0.1:6379", "10.0.0.2:6379"};
    const char *const seen[] = {"10.0.0.1:6379", "10.0.0.9:6379", "10.0.0.2:6379"};
    const int want[] = {1};
    expect_stale(seen, N_OF(seen), expected, N_OF(expected), want, N_OF(want));
}

static void test_stale_extra_entries_in_order(void **state)
{
    (void)state;
    const char *const expected[] = {"10.0.0.2:6379"};
    const char *const seen[] = {"10.0.0.8:6379", "10.0.0.2:6379", "10.0.0.9:6379"};
    const int want[] = {0, 2};
    expect_stale(seen, N_OF(seen), expected, N_OF(expected), want, N_OF(want));
}

static void test_stale_port_differs(void **state)
{
    (void)state;
    /* the same address on another port is another entry; and no prefix
     * matching ("10.0.0.1:63790" is not "10.0.0.1:6379") */
    const char *const expected[] = {"10.0.0.1:6379"};
    const char *const seen[] = {"10.0.0.1:6380", "10.0.0.1:63790", "10.0.0.1:637",
                                "10.0.0.1:6379"};
    const int want[] = {0, 1, 2};
    expect_stale(seen, N_OF(seen), expected, N_OF(expected), want, N_OF(want));
}

static void test_stale_duplicate_entry(void **state)
{
    (void)state;
    const char *const expected[] = {"10.0.0.1:6379", "10.0.0.2:6379"};
    const char *const seen[] = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.1:6379"};
    const int want[] = {2};
    expect_stale(seen, N_OF(seen), expected, N_OF(expected), want, N_OF(want));

    /* adjacent, and three times: all but the first */
    const char *const seen3[] = {"10.0.0.2:6379", "10.0.0.2:6379", "10.0.0.1:6379",
                                 "10.0.0.2:6379"};
    const int want3[] = {1, 3};
    expect_stale(seen3, N_OF(seen3), expected, N_OF(expected), want3, N_OF(want3));
}

static void test_stale_duplicate_unknown_entry(void **state)
{
    (void)state;
    const char *const expected[] = {"10.0.0.1:6379"};
    const char *const seen[] = {"10.0.0.9:6379", "10.0.0.1:6379", "10.0.0.9:6379"};
    const int want[] = {0, 2};
    expect_stale(seen, N_OF(seen), expected, N_OF(expected), want, N_OF(want));
}

static void test_stale_empty_seen(void **state)
{
    (void)state;
    const char *const expected[] = {"10.0.0.1:6379", "10.0.0.2:6379"};
    expect_stale(NULL, 0, expected, N_OF(expected), NULL, 0);
    expect_stale(NULL, 0, NULL, 0, NULL, 0);
}

static void test_stale_empty_expected(void **state)
{
    (void)state;
    const char *const seen[] = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.1:6379"};
    const int want[] = {0, 1, 2};
    expect_stale(seen, N_OF(seen), NULL, 0, want, N_OF(want));
}

static void test_stale_order_independent(void **state)
{
    (void)state;
    const char *const expected[] = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"};
    const char *const expected_rev[] = {"10.0.0.3:6379", "10.0.0.2:6379",
                                        "10.0.0.1:6379"};
    const char *const seen[] = {"10.0.0.3:6379", "10.0.0.1:6379", "10.0.0.2:6379"};
    expect_stale(seen, N_OF(seen), expected, N_OF(expected), NULL, 0);
    expect_stale(seen, N_OF(seen), expected_rev, N_OF(expected_rev), NULL, 0);
    expect_stale(expected, N_OF(expected), seen, N_OF(seen), NULL, 0);

    /* the stale entry is found wherever it sits */
    const char *const a[] = {"10.0.0.9:6379", "10.0.0.1:6379", "10.0.0.2:6379"};
    const char *const b[] = {"10.0.0.1:6379", "10.0.0.9:6379", "10.0.0.2:6379"};
    const char *const c[] = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.9:6379"};
    const int w0[] = {0}, w1[] = {1}, w2[] = {2};
    expect_stale(a, N_OF(a), expected, N_OF(expected), w0, 1);
    expect_stale(b, N_OF(b), expected_rev, N_OF(expected_rev), w1, 1);
    expect_stale(c, N_OF(c), expected, N_OF(expected), w2, 1);
}

static void test_stale_fewer_seen_than_expected(void **state)
{
    (void)state;
    /* a sentinel that has not discovered every replica yet: nothing stale */
    const char *const expected[] = {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"};
    const char *const seen[] = {"10.0.0.2:6379"};
    expect_stale(seen, N_OF(seen), expected, N_OF(expected), NULL, 0);
}

/* ==== the AOF of a node's previous life: kept aside, the newest two ==== */

static void test_aof_lost_prune_keeps_newest(void **state)
{
    (void)state;
    /* readdir order is arbitrary; the unix times decide */
    const char *const names[] = {
        "appendonlydir.lost-1700000300", "dump.rdb", "appendonlydir.lost-1700000100",
        "appendonlydir", "appendonlydir.lost-1700000200", "appendonlydir.lost-1700000400",
    };
    int drop[N_OF(names)];
    int n = heal_aof_lost_prune(names, N_OF(names), HEAL_AOF_LOST_KEEP, drop);
    assert_int_equal(HEAL_AOF_LOST_KEEP, 2);
    assert_int_equal(n, 2);
    assert_int_equal(drop[0], 2); /* ...100 */
    assert_int_equal(drop[1], 4); /* ...200 */
}

static void test_aof_lost_prune_nothing_to_drop(void **state)
{
    (void)state;
    int drop[4];
    const char *const two[] = {"appendonlydir.lost-5", "appendonlydir.lost-6"};
    assert_int_equal(heal_aof_lost_prune(two, 2, 2, drop), 0);
    assert_int_equal(heal_aof_lost_prune(two, 0, 2, drop), 0);
    /* never the live folder, the snapshot, or names that only look alike */
    const char *const others[] = {"appendonlydir", "dump.rdb", "appendonlydir.lost-",
                                  "appendonlydir.lost-12x", "appendonlydir.lost-1"};
    assert_int_equal(heal_aof_lost_prune(others, N_OF(others), 0, drop), 1);
    assert_int_equal(drop[0], 4);
}

static void test_aof_lost_prune_equal_times(void **state)
{
    (void)state;
    /* equal times: the first is the one kept (a deterministic choice) */
    const char *const names[] = {"appendonlydir.lost-7", "appendonlydir.lost-7",
                                 "appendonlydir.lost-7"};
    int drop[3];
    assert_int_equal(heal_aof_lost_prune(names, 3, 1, drop), 2);
    assert_int_equal(drop[0], 1);
    assert_int_equal(drop[1], 2);
}

/* ==== MAIN ============================================================== */

/* ==== the crash fast path: once per cooldown ==== */

static void test_fast_path_first_time(void **state)
{
    (void)state;
    assert_true(heal_fast_path_due(0, 1000000, 6000));
}

static void test_fast_path_once_per_cooldown(void **state)
{
    (void)state;
    const long long asked = 1700000000000LL;
    const long long cooldown = 2LL * 3000; /* cluster mode: 2 x node-timeout 3000 */
    assert_false(heal_fast_path_due(asked, asked, cooldown));
    assert_false(heal_fast_path_due(asked, asked + 1, cooldown));
    assert_false(heal_fast_path_due(asked, asked + cooldown - 1, cooldown));
    assert_true(heal_fast_path_due(asked, asked + cooldown, cooldown));
    assert_true(heal_fast_path_due(asked, asked + 10 * cooldown, cooldown));
}

static void test_fast_path_clock_went_back(void **state)
{
    (void)state;
    /* the kept time is in the future: meaningless, so not a reason to wait
     * (the store refuses a second failover within its cooldown itself) */
    assert_true(heal_fast_path_due(1700000000000LL, 1600000000000LL, 6000));
}

static void test_fast_path_large_cooldown(void **state)
{
    (void)state;
    /* 2 x an INT_MAX setting does not overflow */
    const long long cooldown = 2LL * 2147483647;
    assert_false(heal_fast_path_due(1000, 1000 + 2147483647LL, cooldown));
    assert_true(heal_fast_path_due(1000, 1000 + cooldown, cooldown));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* replica */
        cmocka_unit_test(test_restart_decide),
        cmocka_unit_test(test_seed_decide),
        cmocka_unit_test(test_replica_healthy_is_none),
        cmocka_unit_test(test_replica_lag_at_limit_is_none),
        cmocka_unit_test(test_replica_lag_over_limit_waits_sync),
        cmocka_unit_test(test_replica_lag_unknown_waits_sync),
        cmocka_unit_test(test_replica_link_down_waits_sync),
        cmocka_unit_test(test_replica_unreachable_waits_sync),
        cmocka_unit_test(test_replica_following_other_waits_reconfig),
        cmocka_unit_test(test_second_master_waits_reconfig),
        /* leader */
        cmocka_unit_test(test_leader_healthy_is_none),
        cmocka_unit_test(test_leader_named_but_replica_waits_reconfig),
        cmocka_unit_test(test_serving_leader_without_data_dir_is_none),
        /* no sentinel majority */
        cmocka_unit_test(test_no_majority_healthy_node_waits_sentinels),
        cmocka_unit_test(test_no_majority_dead_node_waits_sentinels),
        cmocka_unit_test(test_no_majority_missing_dir_waits_sentinels),
        /* lost replica */
        cmocka_unit_test(test_dead_replica_restores),
        cmocka_unit_test(test_replica_without_data_dir_restores),
        cmocka_unit_test(test_dead_replica_during_failover_waits),
        cmocka_unit_test(test_dead_replica_backing_off),
        cmocka_unit_test(test_dead_replica_ignores_down_time),
        /* lost leader */
        cmocka_unit_test(test_dead_leader_before_down_after_waits),
        cmocka_unit_test(test_dead_leader_after_down_after_asks),
        cmocka_unit_test(test_dead_leader_during_failover_waits),
        cmocka_unit_test(test_dead_leader_backing_off_still_fails_over),
        cmocka_unit_test(test_leader_without_data_dir_not_serving_fails_over),
        /* the whole fact space */
        cmocka_unit_test(test_every_combination_in_range),
        cmocka_unit_test(test_dead_leader_never_restored),
        cmocka_unit_test(test_named_leader_never_restored),
        cmocka_unit_test(test_no_leader_no_action),
        cmocka_unit_test(test_restore_only_lost_replicas),
        cmocka_unit_test(test_ask_failover_only_after_down_after),
        cmocka_unit_test(test_none_only_when_ready),
        cmocka_unit_test(test_repair_exactly_when_ready),
        cmocka_unit_test(test_unpromotable_replica_repaired_once_ready),
        cmocka_unit_test(test_drifted_leader_repaired),
        cmocka_unit_test(test_down_after_is_a_parameter),
        cmocka_unit_test(test_table_matches_reference),
        cmocka_unit_test(test_every_action_reachable),
        /* names */
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_action_names_distinct),
        cmocka_unit_test(test_action_name_out_of_range),
        /* stale sentinel entries */
        cmocka_unit_test(test_stale_identical_sets),
        cmocka_unit_test(test_stale_extra_entry),
        cmocka_unit_test(test_stale_extra_entries_in_order),
        cmocka_unit_test(test_stale_port_differs),
        cmocka_unit_test(test_stale_duplicate_entry),
        cmocka_unit_test(test_stale_duplicate_unknown_entry),
        cmocka_unit_test(test_stale_empty_seen),
        cmocka_unit_test(test_stale_empty_expected),
        cmocka_unit_test(test_stale_order_independent),
        cmocka_unit_test(test_stale_fewer_seen_than_expected),
        cmocka_unit_test(test_aof_lost_prune_keeps_newest),
        cmocka_unit_test(test_aof_lost_prune_nothing_to_drop),
        cmocka_unit_test(test_aof_lost_prune_equal_times),
        cmocka_unit_test(test_fast_path_first_time),
        cmocka_unit_test(test_fast_path_once_per_cooldown),
        cmocka_unit_test(test_fast_path_clock_went_back),
        cmocka_unit_test(test_fast_path_large_cooldown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
