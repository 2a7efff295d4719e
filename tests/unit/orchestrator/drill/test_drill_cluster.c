/* test_drill_cluster.c - orchestrator/drill/drill_cluster.c's pure
 * helpers, on CLUSTER NODES texts written here in Redis 7.0's format. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill_cluster.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* shard 1's master */
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" /* shard 2's master */
#define ID_R "cccccccccccccccccccccccccccccccccccccccc" /* A's replica */

static store_cluster_view *view(const char *text)
{
    store_cluster_view *v = store_cluster_view_new();
    assert_non_null(v);
    mrd_error err;
    assert_int_equal(store_cluster_nodes_parse(text, strlen(text), v, &err), MRD_OK);
    return v;
}

/* As R sees the cluster: before (A master), A suspected, A failed, R
 * promoted with epoch 7 (A still listed, failed). */
static const char R_BEFORE[] =
    ID_A " 127.0.1.1:15000@25000 master - 0 1 1 connected 0-8191\n"
    ID_B " 127.0.2.1:15000@25000 master - 0 1 2 connected 8192-16383\n"
    ID_R " 127.0.3.1:15000@25000 myself,slave " ID_A " 0 1 1 connected\n";
static const char R_PFAIL[] =
    ID_A " 127.0.1.1:15000@25000 master,fail? - 5 1 1 disconnected 0-8191\n"
    ID_B " 127.0.2.1:15000@25000 master - 0 1 2 connected 8192-16383\n"
    ID_R " 127.0.3.1:15000@25000 myself,slave " ID_A " 0 1 1 connected\n";
static const char R_FAIL[] =
    ID_A " 127.0.1.1:15000@25000 master,fail - 5 1 1 disconnected 0-8191\n"
    ID_B " 127.0.2.1:15000@25000 master - 0 1 2 connected 8192-16383\n"
    ID_R " 127.0.3.1:15000@25000 myself,slave " ID_A " 0 1 1 connected\n";
static const char R_PROMOTED[] =
    ID_A " 127.0.1.1:15000@25000 master,fail - 5 1 1 disconnected\n"
    ID_B " 127.0.2.1:15000@25000 master - 0 1 2 connected 8192-16383\n"
    ID_R " 127.0.3.1:15000@25000 myself,master - 0 1 7 connected 0-8191\n";
/* A back as R's replica, as B sees it */
static const char B_AFTER[] =
    ID_A " 127.0.1.1:15000@25000 slave " ID_R " 0 1 7 connected\n"
    ID_B " 127.0.2.1:15000@25000 myself,master - 0 1 2 connected 8192-16383\n"
    ID_R " 127.0.3.1:15000@25000 master - 0 1 7 connected 0-8191\n";
static const char B_FAIL[] =
    ID_A " 127.0.1.1:15000@25000 master,fail - 5 1 1 disconnected\n"
    ID_B " 127.0.2.1:15000@25000 myself,master - 0 1 2 connected 8192-16383\n"
    ID_R " 127.0.3.1:15000@25000 master - 0 1 7 connected 0-8191\n";
/* A's stale view after a partition: it still owns 0-8191, epoch 1 */
static const char A_STALE[] =
    ID_A " 127.0.1.1:15000@25000 myself,master - 0 1 1 connected 0-8191\n"
    ID_B " 127.0.2.1:15000@25000 master - 0 1 2 connected 8192-16383\n"
    ID_R " 127.0.3.1:15000@25000 slave " ID_A " 0 1 1 connected\n";

static const drill_target NODES[] = {
    {.address = "127.0.1.1", .port = 15000, .index = 0},
    {.address = "127.0.2.1", .port = 15000, .index = 3},
    {.address = "127.0.3.1", .port = 15000, .index = 1},
};

static void test_next_seq(void **state)
{
    (void)state;
    for (int64_t from = 1; from < 200; from += 7) {
        int64_t s = drill_cluster_next_seq("drill:1", from, 3, 5461, 10922);
        assert_true(s >= from);
        assert_int_equal((s - from) % 3, 0);
        char key[64];
        int n = snprintf(key, sizeof(key), "drill:1:%lld", (long long)s);
        int slot = store_cluster_keyslot(key, (size_t)n);
        assert_true(slot >= 5461 && slot <= 10922);
    }
    /* the whole range: the first try */
    assert_int_equal(drill_cluster_next_seq("p", 5, 2, 0, 16383), 5);
    /* an empty range */
    assert_int_equal(drill_cluster_next_seq("p", 1, 1, 10, 9), -1);
}

static void test_slot_map_highest_epoch(void **state)
{
    (void)state;
    store_cluster_view *stale = view(A_STALE), *b = view(B_AFTER);
    const store_cluster_view *vs[] = {stale, NULL, b};
    int16_t owner[STORE_CLUSTER_SLOTS];
    drill_cluster_slot_map(vs, 3, NODES, 3, owner);
    /* R's epoch 7 beats A's own stale claim (epoch 1), in either order */
    assert_int_equal(owner[0], 1);
    assert_int_equal(owner[8191], 1);
    assert_int_equal(owner[8192], 3);
    const store_cluster_view *vs2[] = {b, stale};
    drill_cluster_slot_map(vs2, 2, NODES, 3, owner);
    assert_int_equal(owner[100], 1);
    /* only the stale view: A; an owner that is not a target: -1 */
    drill_cluster_slot_map(vs, 1, NODES, 3, owner);
    assert_int_equal(owner[0], 0);
    drill_cluster_slot_map(vs, 1, NODES, 2, owner); /* without R and with A */
    assert_int_equal(owner[0], 0);
    const store_cluster_view *only_b[] = {b};
    drill_cluster_slot_map(only_b, 1, NODES, 2, owner); /* R is not a target */
    assert_int_equal(owner[0], -1);
    assert_int_equal(owner[16383], 3);
    store_cluster_view_free(&stale);
    store_cluster_view_free(&b);
}

/* After a scale: shard 1 (A) owns 0-99 and 8192-12000, shard 2 (B)
 * 100-8191 and 12011-15999, a retiring shard 3 (R's node here) 16000-16383;
 * 12001-12010 are in no view.  The plan ranges are a fresh 2-shard
 * cluster's, which this map no longer is. */
static const char SCALED[] =
    ID_A " 127.0.1.1:15000@25000 myself,master - 0 1 1 connected 0-99 8192-12000\n"
    ID_B " 127.0.2.1:15000@25000 master - 0 1 2 connected 100-8191 12011-15999\n"
    ID_R " 127.0.3.1:15000@25000 master - 0 1 3 connected 16000-16383\n";

/* plan node -> shard: NODES' .index 0 (A), 3 (B), 1 (R) */
static const int NODE_SHARD[] = {0, 2, 0, 1, 1, 1};
static const int FIRST2[] = {0, 8192}, LAST2[] = {8191, 16383};

/* The slot map as the writer's router keeps it: positions in NODES (a copy
 * of them with .index = position), not plan nodes. */
static void positions_map(const store_cluster_view *const *vs, int n, int16_t *owner)
{
    drill_target pos[3];
    for (int i = 0; i < 3; i++)
        pos[i] = (drill_target){.address = NODES[i].address, .port = NODES[i].port, .index = i};
    drill_cluster_slot_map(vs, n, pos, 3, owner);
}

static void test_slot_shards_after_a_scale(void **state)
{
    (void)state;
    store_cluster_view *v = view(SCALED);
    const store_cluster_view *vs[] = {v};
    int16_t owner[STORE_CLUSTER_SLOTS], shard[STORE_CLUSTER_SLOTS];
    positions_map(vs, 1, owner);
    drill_cluster_slot_shards(owner, NODES, 3, NODE_SHARD, 6, FIRST2, LAST2, 2, shard);
    assert_int_equal(shard[0], 0);
    assert_int_equal(shard[99], 0);
    assert_int_equal(shard[100], 1);
    assert_int_equal(shard[8192], 0);   /* the live map, not the plan range */
    assert_int_equal(shard[12000], 0);
    assert_int_equal(shard[12005], 1);  /* in no view: the plan range's */
    assert_int_equal(shard[15999], 1);
    assert_int_equal(shard[16000], -1); /* the retiring shard's: no writer */
    /* without plan ranges a slot no view places is nobody's */
    drill_cluster_slot_shards(owner, NODES, 3, NODE_SHARD, 6, NULL, NULL, 2, shard);
    assert_int_equal(shard[12005], -1);
    assert_int_equal(shard[8192], 0);
    /* shard 1's keys hash to its own slots only */
    for (int64_t from = 1; from < 400; from += 11) {
        int64_t s = drill_cluster_next_seq_of("drill:1", from, 2, shard, 0);
        assert_true(s >= from);
        assert_int_equal((s - from) % 2, 0);
        char key[64];
        int n = snprintf(key, sizeof(key), "drill:1:%lld", (long long)s);
        assert_int_equal(shard[store_cluster_keyslot(key, (size_t)n)], 0);
    }
    /* a shard with no slot: none */
    assert_int_equal(drill_cluster_next_seq_of("p", 1, 1, shard, 2), -1);
    store_cluster_view_free(&v);
}

/* A fresh cluster's map is its plan ranges: the same keys as before. */
static void test_slot_shards_fresh_cluster(void **state)
{
    (void)state;
    store_cluster_view *b = view(B_AFTER); /* R 0-8191, B 8192-16383 */
    const store_cluster_view *vs[] = {b};
    int16_t owner[STORE_CLUSTER_SLOTS], shard[STORE_CLUSTER_SLOTS];
    static const int node_shard[] = {0, 0, 0, 1}; /* R (1) shard 1, B (3) shard 2 */
    positions_map(vs, 1, owner);
    drill_cluster_slot_shards(owner, NODES, 3, node_shard, 4, FIRST2, LAST2, 2, shard);
    for (int64_t from = 1; from < 300; from += 7)
        for (int s = 0; s < 2; s++)
            assert_int_equal(drill_cluster_next_seq_of("drill:9", from, 2, shard, s),
                             drill_cluster_next_seq("drill:9", from, 2, FIRST2[s], LAST2[s]));
    store_cluster_view_free(&b);
}

typedef struct seen {
    char names[8][32];
    char about[8][64];
    char detail[8][160];
    int n;
} seen;

static void collect(void *ctx, const char *name, const store_cluster_node *about,
                    const char *detail)
{
    seen *s = ctx;
    assert_true(s->n < 8);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    snprintf(s->about[s->n], sizeof(s->about[0]), "%s:%d", about->ip, about->port);
    snprintf(s->detail[s->n], sizeof(s->detail[0]), "%s", detail);
    s->n++;
}

static void test_diff(void **state)
{
    (void)state;
    store_cluster_view *before = view(R_BEFORE), *pfail = view(R_PFAIL), *fail = view(R_FAIL),
                       *promoted = view(R_PROMOTED), *bfail = view(B_FAIL),
                       *bafter = view(B_AFTER);
    seen s = {0};
    /* the first poll: nothing to compare with */
    assert_int_equal(drill_cluster_diff(NULL, before, collect, &s), 0);
    assert_int_equal(drill_cluster_diff(before, before, collect, &s), 0);
    assert_int_equal(drill_cluster_diff(before, pfail, collect, &s), 1);
    assert_string_equal(s.names[0], "+pfail");
    assert_string_equal(s.about[0], "127.0.1.1:15000");
    assert_int_equal(drill_cluster_diff(pfail, fail, collect, &s), 1);
    assert_string_equal(s.names[1], "+fail");
    assert_int_equal(drill_cluster_diff(fail, promoted, collect, &s), 1);
    assert_string_equal(s.names[2], "+promoted");
    assert_string_equal(s.about[2], "127.0.3.1:15000");
    assert_string_equal(s.detail[2], "epoch 7, 8192 slots");
    /* straight from healthy to failed: +pfail is not invented, +fail is */
    s.n = 0;
    assert_int_equal(drill_cluster_diff(before, fail, collect, &s), 1);
    assert_string_equal(s.names[0], "+fail");
    /* A back as R's replica, seen by B: -fail */
    s.n = 0;
    assert_int_equal(drill_cluster_diff(bfail, bafter, collect, &s), 1);
    assert_string_equal(s.names[0], "-fail");
    assert_non_null(strstr(s.detail[0], "replica"));
    /* a master turning replica: +demoted, naming its new master */
    s.n = 0;
    store_cluster_view *a_old = view(A_STALE);
    static const char A_DEMOTED[] =
        ID_A " 127.0.1.1:15000@25000 myself,slave " ID_R " 0 1 7 connected\n"
        ID_B " 127.0.2.1:15000@25000 master - 0 1 2 connected 8192-16383\n"
        ID_R " 127.0.3.1:15000@25000 master - 0 1 7 connected 0-8191\n";
    store_cluster_view *a_new = view(A_DEMOTED);
    assert_int_equal(drill_cluster_diff(a_old, a_new, collect, &s), 1);
    assert_string_equal(s.names[0], "+demoted");
    assert_string_equal(s.detail[0], "replica of 127.0.3.1:15000");
    store_cluster_view_free(&a_old);
    store_cluster_view_free(&a_new);
    store_cluster_view_free(&before);
    store_cluster_view_free(&pfail);
    store_cluster_view_free(&fail);
    store_cluster_view_free(&promoted);
    store_cluster_view_free(&bfail);
    store_cluster_view_free(&bafter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_seq),
        cmocka_unit_test(test_slot_map_highest_epoch),
        cmocka_unit_test(test_slot_shards_after_a_scale),
        cmocka_unit_test(test_slot_shards_fresh_cluster),
        cmocka_unit_test(test_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
