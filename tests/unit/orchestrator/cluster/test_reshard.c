/* test_reshard.c - the fewest slot moves, and their order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "reshard.h"

/* OWNER as a fresh cluster of N shards has it (contiguous ranges). */
static void fresh(int *owner, int n)
{
    for (int s = 0; s < n; s++)
        for (int slot = (int)((long long)s * 16384 / n);
             slot < (int)((long long)(s + 1) * 16384 / n); slot++)
            owner[slot] = s;
}

static void fresh_quota(int *quota, int n, int of)
{
    for (int s = 0; s < of; s++)
        quota[s] = s < n ? (int)((long long)(s + 1) * 16384 / n) - (int)((long long)s * 16384 / n)
                         : 0;
}

/* Apply RP to OWNER, checking each move's source owns its slot. */
static void apply(int *owner, const reshard_plan *rp)
{
    for (int k = 0; k < rp->nmoves; k++) {
        assert_int_equal(owner[rp->moves[k].slot], rp->moves[k].from);
        owner[rp->moves[k].slot] = rp->moves[k].to;
    }
}

static int count(const int *owner, int s)
{
    int n = 0;
    for (int slot = 0; slot < 16384; slot++)
        n += owner[slot] == s;
    return n;
}

/* 3 shards to 5: exactly the excess of each moves (6554 slots), each
 * shard ends at its quota, the two new shards' first slots come first
 * (the emptiest of theirs), then the rest grouped by source. */
static void test_grow(void **state)
{
    (void)state;
    int owner[16384], quota[5];
    long long keys[16384];
    fresh(owner, 3);
    fresh_quota(quota, 5, 5);
    for (int slot = 0; slot < 16384; slot++)
        keys[slot] = 10 + slot % 7;
    keys[10000] = 1; /* goes to shard 4: its emptiest */
    reshard_plan rp;
    mrd_error err;
    assert_int_equal(reshard_plan_moves(owner, quota, 5, keys, &rp, &err), MRD_OK);
    assert_int_equal(rp.nmoves, 2 * 3277);
    assert_int_equal(rp.takes[3] + rp.takes[4], 6554);
    assert_int_equal(rp.gives[0] + rp.gives[1] + rp.gives[2], 6554);
    assert_int_equal(rp.moves[0].phase, RESHARD_FIRST);
    assert_int_equal(rp.moves[1].phase, RESHARD_FIRST);
    assert_int_equal(rp.moves[2].phase, RESHARD_BULK);
    bool to4 = false, to5 = false;
    for (int k = 0; k < 2; k++) {
        to4 |= rp.moves[k].to == 3;
        to5 |= rp.moves[k].to == 4;
        if (rp.moves[k].to == 3)
            assert_int_equal(rp.moves[k].slot, 10000);
    }
    assert_true(to4 && to5);
    for (int k = 3; k < rp.nmoves; k++)
        assert_true(rp.moves[k].from >= rp.moves[k - 1].from);
    apply(owner, &rp);
    for (int s = 0; s < 5; s++)
        assert_int_equal(count(owner, s), quota[s]);
    reshard_plan_free(&rp);
    /* done: nothing more moves */
    assert_int_equal(reshard_plan_moves(owner, quota, 5, NULL, &rp, &err), MRD_OK);
    assert_int_equal(rp.nmoves, 0);
    reshard_plan_free(&rp);
}

/* 5 shards to 3 (two retiring, quota 0): everything of shards 4 and 5
 * moves, their last slots last, back to back. */
static void test_shrink(void **state)
{
    (void)state;
    int owner[16384], quota[5];
    fresh(owner, 5);
    fresh_quota(quota, 3, 5);
    reshard_plan rp;
    mrd_error err;
    assert_int_equal(reshard_plan_moves(owner, quota, 5, NULL, &rp, &err), MRD_OK);
    assert_int_equal(rp.gives[3], 3277);
    assert_int_equal(rp.gives[4], 3277);
    assert_int_equal(rp.moves[rp.nmoves - 1].phase, RESHARD_LAST);
    assert_int_equal(rp.moves[rp.nmoves - 2].phase, RESHARD_LAST);
    assert_int_not_equal(rp.moves[rp.nmoves - 1].from, rp.moves[rp.nmoves - 2].from);
    apply(owner, &rp);
    for (int s = 0; s < 5; s++)
        assert_int_equal(count(owner, s), quota[s]);
    reshard_plan_free(&rp);
}

/* Unassigned slots are forming's: they never move, and the moves stay
 * within what both sides allow. */
static void test_unassigned_and_errors(void **state)
{
    (void)state;
    int owner[16384], quota[2] = {8192, 8192};
    for (int slot = 0; slot < 16384; slot++)
        owner[slot] = slot < 10000 ? 0 : -1;
    reshard_plan rp;
    mrd_error err;
    assert_int_equal(reshard_plan_moves(owner, quota, 2, NULL, &rp, &err), MRD_OK);
    assert_int_equal(rp.nmoves, 1808);
    for (int k = 0; k < rp.nmoves; k++)
        assert_true(rp.moves[k].slot < 10000);
    reshard_plan_free(&rp);
    quota[1] = -1;
    assert_int_equal(reshard_plan_moves(owner, quota, 2, NULL, &rp, &err), MRD_ERR_INVALID);
    assert_int_equal(reshard_plan_moves(owner, quota, 0, NULL, &rp, &err), MRD_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_shrink),
        cmocka_unit_test(test_unassigned_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
