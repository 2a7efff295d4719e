/* test_reconcile.c - reconcile's pure decisions (orchestrator/reconcile/
 * reconcile.c): reconcile_differs() over live values as CONFIG GET and
 * SENTINEL MASTER report them, reconcile_human_size(), and
 * reconcile_fenced(): a master its agent fenced (min-replicas-to-write
 * MRD_FENCE_MIN_REPLICAS) is neither drift nor set back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "reconcile.h"
#include "settings.h"

static const mrd_setting *row(const char *section, const char *key)
{
    const mrd_setting *r = mrd_setting_find(section, key);
    assert_non_null(r);
    return r;
}

static mrd_settings wanted(void)
{
    mrd_settings s;
    mrd_settings_defaults(&s);
    snprintf(s.store.maxmemory, sizeof(s.store.maxmemory), "128mb");
    s.consistency.min_replicas_to_write = 1;
    s.sentinel.down_after_ms = 3000;
    return s;
}

static void test_human_size(void **state)
{
    (void)state;
    char b[32];
    reconcile_human_size(268435456LL, b, sizeof(b));
    assert_string_equal(b, "256mb");
    reconcile_human_size(1024LL * 1024 * 1024, b, sizeof(b));
    assert_string_equal(b, "1gb");
    reconcile_human_size(3LL * 1024 * 1024 * 1024, b, sizeof(b));
    assert_string_equal(b, "3gb");
    reconcile_human_size(1536LL * 1024, b, sizeof(b)); /* 1.5 mb: kb is whole */
    assert_string_equal(b, "1536kb");
    reconcile_human_size(1024, b, sizeof(b));
    assert_string_equal(b, "1kb");
    reconcile_human_size(1000, b, sizeof(b)); /* no whole unit */
    assert_string_equal(b, "1000");
    reconcile_human_size(0, b, sizeof(b)); /* no limit: never "0gb" */
    assert_string_equal(b, "0");
    reconcile_human_size(-1024, b, sizeof(b));
    assert_string_equal(b, "-1024");
}

static void test_differs_size(void **state)
{
    (void)state;
    mrd_settings want = wanted();
    char from[64], to[64];
    const mrd_setting *mm = row("store", "maxmemory");
    assert_true(reconcile_differs(mm, "268435456", &want, from, to, sizeof(from)));
    assert_string_equal(from, "256mb");
    assert_string_equal(to, "128mb");
    assert_false(reconcile_differs(mm, "134217728", &want, from, to, sizeof(from)));
}

static void test_differs_int_and_sentinel(void **state)
{
    (void)state;
    mrd_settings want = wanted();
    char from[64], to[64];
    const mrd_setting *da = row("sentinel", "down_after_ms");
    assert_true(reconcile_differs(da, "1000", &want, from, to, sizeof(from)));
    assert_string_equal(from, "1000");
    assert_string_equal(to, "3000");
    assert_false(reconcile_differs(da, "3000", &want, from, to, sizeof(from)));
    const mrd_setting *mr = row("consistency", "min_replicas_to_write");
    assert_true(reconcile_differs(mr, "0", &want, from, to, sizeof(from)));
    assert_string_equal(from, "0");
    assert_string_equal(to, "1");
    assert_false(reconcile_differs(mr, "1", &want, from, to, sizeof(from)));
}

static void test_differs_unknown(void **state)
{
    (void)state;
    mrd_settings want = wanted();
    char from[64] = "untouched", to[64] = "untouched";
    /* not reported: cannot judge, so no change */
    assert_false(reconcile_differs(row("store", "maxmemory"), NULL, &want, from, to,
                                   sizeof(from)));
    /* no directive: nothing running reports it */
    assert_false(reconcile_differs(row("agent", "interval_ms"), "1", &want, from, to,
                                   sizeof(from)));
    assert_string_equal(from, "untouched");
    assert_string_equal(to, "untouched");
}

/* The agent's fence, whatever the topology wants, is its own to lift. */
static void test_fence_is_not_drift(void **state)
{
    (void)state;
    mrd_settings want = wanted();
    char from[64], to[64], fence[16], above[16];
    snprintf(fence, sizeof(fence), "%d", MRD_FENCE_MIN_REPLICAS);
    snprintf(above, sizeof(above), "%d", MRD_FENCE_MIN_REPLICAS + 5);
    const mrd_setting *mr = row("consistency", "min_replicas_to_write");
    assert_true(reconcile_fenced(mr, fence));
    assert_true(reconcile_fenced(mr, above)); /* at least the fence */
    assert_false(reconcile_differs(mr, fence, &want, from, to, sizeof(from)));
    assert_false(reconcile_differs(mr, above, &want, from, to, sizeof(from)));
    want.consistency.min_replicas_to_write = 0;
    assert_false(reconcile_differs(mr, fence, &want, from, to, sizeof(from)));
}

static void test_fenced_only_that_setting(void **state)
{
    (void)state;
    char below[16], fence[16];
    snprintf(below, sizeof(below), "%d", MRD_FENCE_MIN_REPLICAS - 1);
    snprintf(fence, sizeof(fence), "%d", MRD_FENCE_MIN_REPLICAS);
    const mrd_setting *mr = row("consistency", "min_replicas_to_write");
    assert_false(reconcile_fenced(mr, below));
    assert_false(reconcile_fenced(mr, "1"));
    assert_false(reconcile_fenced(mr, NULL));
    assert_false(reconcile_fenced(mr, ""));
    assert_false(reconcile_fenced(mr, "1000x"));
    /* the same number in another setting is an ordinary value */
    assert_false(reconcile_fenced(row("consistency", "min_replicas_max_lag_s"), fence));
    assert_false(reconcile_fenced(row("sentinel", "down_after_ms"), fence));
    mrd_settings want = wanted();
    char from[64], to[64];
    assert_true(reconcile_differs(row("consistency", "min_replicas_max_lag_s"), fence, &want,
                                  from, to, sizeof(from)));
    assert_true(reconcile_differs(mr, below, &want, from, to, sizeof(from)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human_size),
        cmocka_unit_test(test_differs_size),
        cmocka_unit_test(test_differs_int_and_sentinel),
        cmocka_unit_test(test_differs_unknown),
        cmocka_unit_test(test_fence_is_not_drift),
        cmocka_unit_test(test_fenced_only_that_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
