/* test_drill.c - the pure parts of orchestrator/drill/drill.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "drill.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_window),
    };
    return cmocka_run_group_tests_name("drill", tests, NULL, NULL);
}
