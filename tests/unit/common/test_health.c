/* test_health.c - common/health.c: the health codes of the agent's heal
 * pass, `meridian heal` and `meridian status`, their names and their order
 * of severity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health.h"

static const int all[] = {MRD_HEALTH_OK, MRD_HEALTH_WARNING, MRD_HEALTH_CRITICAL,
                          MRD_HEALTH_UNKNOWN};
static const int out_of_range[] = {4, 42, 1000, -1, INT32_MIN, INT32_MAX};
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void test_code_names(void **state)
{
    (void)state;
    /* the exit codes of `meridian status`, `meridian heal` and
     * `meridian-agent check`: monitoring reads them */
    assert_int_equal(MRD_HEALTH_OK, 0);
    assert_int_equal(MRD_HEALTH_WARNING, 1);
    assert_int_equal(MRD_HEALTH_CRITICAL, 2);
    assert_int_equal(MRD_HEALTH_UNKNOWN, 3);
    assert_string_equal(mrd_health_name(MRD_HEALTH_OK), "ok");
    assert_string_equal(mrd_health_name(MRD_HEALTH_WARNING), "warning");
    assert_string_equal(mrd_health_name(MRD_HEALTH_CRITICAL), "critical");
    assert_string_equal(mrd_health_name(MRD_HEALTH_UNKNOWN), "unknown");
}

static void test_code_name_out_of_range(void **state)
{
    (void)state;
    for (int i = 0; i < N_OF(out_of_range); i++)
        assert_string_equal(mrd_health_name(out_of_range[i]), "unknown");
    assert_string_equal(mrd_health_name((mrd_health)4), "unknown");
}

/* Severity as the contract states it: OK < WARNING < UNKNOWN < CRITICAL. */
static int severity(int h)
{
    switch (h) {
    case MRD_HEALTH_OK:
        return 0;
    case MRD_HEALTH_WARNING:
        return 1;
    case MRD_HEALTH_UNKNOWN:
        return 2;
    case MRD_HEALTH_CRITICAL:
        return 3;
    }
    fail_msg("not a health code: %d", h);
    return -1;
}

static void test_worst_order(void **state)
{
    (void)state;
    assert_int_equal(mrd_health_worst(MRD_HEALTH_OK, MRD_HEALTH_WARNING), MRD_HEALTH_WARNING);
    assert_int_equal(mrd_health_worst(MRD_HEALTH_WARNING, MRD_HEALTH_OK), MRD_HEALTH_WARNING);
    assert_int_equal(mrd_health_worst(MRD_HEALTH_WARNING, MRD_HEALTH_UNKNOWN),
                     MRD_HEALTH_UNKNOWN);
    /* a known failure is never hidden behind not knowing */
    assert_int_equal(mrd_health_worst(MRD_HEALTH_UNKNOWN, MRD_HEALTH_CRITICAL),
                     MRD_HEALTH_CRITICAL);
    assert_int_equal(mrd_health_worst(MRD_HEALTH_CRITICAL, MRD_HEALTH_UNKNOWN),
                     MRD_HEALTH_CRITICAL);
    /* every pair, both ways: the more severe, and symmetric */
    for (int i = 0; i < N_OF(all); i++)
        for (int j = 0; j < N_OF(all); j++) {
            int a = all[i], b = all[j];
            int want = severity(a) >= severity(b) ? a : b;
            assert_int_equal(mrd_health_worst(a, b), want);
            assert_int_equal(mrd_health_worst(b, a), want);
        }
}

static void test_worst_out_of_range_is_unknown(void **state)
{
    (void)state;
    for (int i = 0; i < N_OF(out_of_range); i++) {
        int x = out_of_range[i];
        assert_int_equal(mrd_health_worst(MRD_HEALTH_OK, x), MRD_HEALTH_UNKNOWN);
        assert_int_equal(mrd_health_worst(x, MRD_HEALTH_OK), MRD_HEALTH_UNKNOWN);
        assert_int_equal(mrd_health_worst(x, MRD_HEALTH_WARNING), MRD_HEALTH_UNKNOWN);
        assert_int_equal(mrd_health_worst(x, x), MRD_HEALTH_UNKNOWN);
        /* still below a known failure */
        assert_int_equal(mrd_health_worst(x, MRD_HEALTH_CRITICAL), MRD_HEALTH_CRITICAL);
        assert_int_equal(mrd_health_worst(MRD_HEALTH_CRITICAL, x), MRD_HEALTH_CRITICAL);
    }
}

static void test_majority(void **state)
{
    (void)state;
    assert_int_equal(mrd_majority(1), 1);
    assert_int_equal(mrd_majority(2), 2);
    assert_int_equal(mrd_majority(3), 2);
    assert_int_equal(mrd_majority(4), 3);
    assert_int_equal(mrd_majority(5), 3);
}

/* The most-named entry, NULLs (voters that did not answer) ignored; ties
 * go to the first named; with the majority rule, "the master a majority
 * of the sentinels name". */
static void test_plurality(void **state)
{
    (void)state;
    int votes = -1;
    const char *none[] = {NULL, NULL, NULL};
    assert_int_equal(mrd_plurality(none, 3, &votes), -1);
    assert_int_equal(votes, 0);
    assert_int_equal(mrd_plurality(none, 0, &votes), -1);

    const char *three[] = {"127.0.1.1:16379", NULL, "127.0.1.1:16379"};
    assert_int_equal(mrd_plurality(three, 3, &votes), 0);
    assert_int_equal(votes, 2);
    assert_true(votes >= mrd_majority(3));

    /* a split vote: no majority of 3 */
    const char *split[] = {"127.0.1.1:16379", "127.0.2.1:16379", NULL};
    assert_int_equal(mrd_plurality(split, 3, &votes), 0);
    assert_int_equal(votes, 1);
    assert_false(votes >= mrd_majority(3));

    /* the later name wins with more votes; a port is part of the name */
    const char *later[] = {"127.0.1.1:16379", "127.0.2.1:16380", "127.0.2.1:16380",
                           "127.0.2.1:16379", "127.0.2.1:16380"};
    assert_int_equal(mrd_plurality(later, 5, &votes), 1);
    assert_int_equal(votes, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_names),
        cmocka_unit_test(test_code_name_out_of_range),
        cmocka_unit_test(test_worst_order),
        cmocka_unit_test(test_worst_out_of_range_is_unknown),
        cmocka_unit_test(test_majority),
        cmocka_unit_test(test_plurality),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
