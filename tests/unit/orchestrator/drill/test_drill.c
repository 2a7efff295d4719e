/* test_drill.c - the pure parts of orchestrator/drill/drill.c and
 * drill_scale.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "drill.h"
#include "drill_scale.h"
#include "topology.h"

/* How long the fault is kept: the documented sums, in long long, also
 * with every setting at the INT_MAX the parser accepts (in int, down_after
 * + failover_timeout + 5000 overflowed: undefined behaviour, a negative
 * limit in practice, and a drill that ended its observation at once). */
static void test_fault_window(void **state)
{
    (void)state;
    mrd_topology t;
    memset(&t, 0, sizeof(t));
    topology_set_defaults(&t);
    long long limit = -1, hold = -1;

    drill_fault_window(&t, true, false, &limit, &hold);
    assert_int_equal(limit, 5000 + 60000 + 5000);
    assert_int_equal(hold, 0);
    drill_fault_window(&t, false, false, &limit, &hold);
    assert_int_equal(limit, 3000);
    assert_int_equal(hold, 0);
    drill_fault_window(&t, true, true, &limit, &hold);
    assert_int_equal(hold, (10 + 2) * 1000LL);

    t.settings.sentinel.down_after_ms = INT_MAX;
    t.settings.sentinel.failover_timeout_ms = INT_MAX;
    t.settings.consistency.min_replicas_max_lag_s = INT_MAX;
    drill_fault_window(&t, true, true, &limit, &hold);
    assert_true(limit == 2LL * INT_MAX + 5000);
    assert_true(hold == ((long long)INT_MAX + 2) * 1000);
}

/* "scale" is a scenario like the others. */
static void test_scale_parse(void **state)
{
    (void)state;
    assert_int_equal(drill_scenario_parse("scale"), DRILL_SCALE);
    assert_string_equal(drill_scenario_name(DRILL_SCALE), "scale");
}

/* When the scale drill refuses: sentinel mode (a usage error), nothing
 * deployed, and a topology that asks for no change; a shard added, one
 * retiring, or only slots to move (a scale an earlier deploy left
 * unfinished) are changes. */
static void test_scale_check(void **state)
{
    (void)state;
    mrd_topology t;
    memset(&t, 0, sizeof(t));
    topology_set_defaults(&t);
    snprintf(t.name, sizeof(t.name), "demo");
    t.settings.cluster.shards = 3;
    mrd_plan p;
    memset(&p, 0, sizeof(p));
    p.topo = &t;
    p.nshards = 3;
    mrd_error err;

    t.mode = MRD_MODE_SENTINEL;
    assert_int_equal(drill_scale_check(&t, &p, true, 5, &err), MRD_ERR_USAGE);
    assert_non_null(strstr(err.msg, "needs cluster mode"));

    t.mode = MRD_MODE_CLUSTER;
    assert_int_equal(drill_scale_check(&t, &p, false, 5, &err), MRD_ERR_STATE);
    assert_non_null(strstr(err.msg, "deploy it first"));
    assert_int_equal(drill_scale_check(&t, &p, true, 0, &err), MRD_ERR_STATE);
    assert_non_null(strstr(err.msg, "asks for no change"));
    assert_non_null(strstr(err.msg, "runs 3 shards, cluster.shards is 3"));

    assert_int_equal(drill_scale_check(&t, &p, true, 12, &err), MRD_OK);
    p.nshards = 5;
    p.nadded = 2;
    assert_int_equal(drill_scale_check(&t, &p, true, 0, &err), MRD_OK);
    p.nadded = 0;
    p.nretiring = 2;
    assert_int_equal(drill_scale_check(&t, &p, true, 0, &err), MRD_OK);
}

/* The writers' slots: contiguous, in order, every slot once, shares that
 * differ by at most one slot. */
static void test_scale_writer_slots(void **state)
{
    (void)state;
    for (int n = 1; n <= 64; n++) {
        int next = 0, lo = 16384, hi = 0;
        for (int w = 0; w < n; w++) {
            int first, last;
            drill_scale_writer_slots(w, n, &first, &last);
            assert_int_equal(first, next);
            assert_true(last >= first);
            lo = last - first + 1 < lo ? last - first + 1 : lo;
            hi = last - first + 1 > hi ? last - first + 1 : hi;
            next = last + 1;
        }
        assert_int_equal(next, 16384);
        assert_true(hi - lo <= 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_window),
        cmocka_unit_test(test_scale_parse),
        cmocka_unit_test(test_scale_check),
        cmocka_unit_test(test_scale_writer_slots),
    };
    return cmocka_run_group_tests_name("drill", tests, NULL, NULL);
}
