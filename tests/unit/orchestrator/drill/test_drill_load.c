/* test_drill_load.c - the pure half of the drill load (orchestrator/
 * drill/drill_load.h): pacing without catch-up bursts, leader address to host
 * mapping, +switch-master payloads, and the argument checks of the start
 * functions.  The threads against real sentinels are covered by
 * integration.drill_load. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "drill_load.h"

#define MS 1000000LL /* nanoseconds */

static void test_pace_on_time(void **state)
{
    (void)state;
    /* written before the next slot: the slot stands, phase is kept */
    assert_int_equal(drill_load_pace_next(0, 100000, 5 * MS), 5 * MS);
    assert_int_equal(drill_load_pace_next(5 * MS, 5 * MS + 4 * MS, 5 * MS), 10 * MS);
    /* exactly at the next slot: that slot */
    assert_int_equal(drill_load_pace_next(0, 5 * MS - 1, 5 * MS), 5 * MS);
}

static void test_pace_no_catch_up(void **state)
{
    (void)state;
    /* a write stalled 1 s at 200/s: the next one goes now, not 200 at once */
    int64_t period = 5 * MS;
    int64_t due = 0, now = 1000 * MS;
    int64_t next = drill_load_pace_next(due, now, period);
    assert_int_equal(next, now);
    /* and the one after it is a full period later */
    assert_int_equal(drill_load_pace_next(next, now + 100000, period), now + period);
}

static void test_pace_rate_over_a_second(void **state)
{
    (void)state;
    /* simulate a writer whose writes take 0.3 ms, rate 200/s: 200 slots in
     * the first second, every slot on the grid */
    int64_t period = 1000 * MS / 200, due = 0;
    int count = 0;
    while (due < 1000 * MS) {
        int64_t done = due + 300000;
        count++;
        int64_t next = drill_load_pace_next(due, done, period);
        assert_int_equal(next % period, 0);
        due = next;
    }
    assert_int_equal(count, 200);
    /* and a writer slower than its rate makes one write per write time */
    due = 0;
    count = 0;
    int64_t now = 0;
    while (now < 1000 * MS) {
        now = (due > now ? due : now) + 20 * MS; /* each write takes 20 ms */
        count++;
        due = drill_load_pace_next(due, now, period);
    }
    assert_int_equal(count, 50);
}

static const drill_target NODES[] = {
    {"127.0.1.1", 16379, 0}, {"127.0.1.2", 16379, 1}, {"127.0.2.1", 16379, 2},
    {"127.0.2.1", 16380, 7}, {"127.0.3.1", 16379, 4},
};

static void test_host_of(void **state)
{
    (void)state;
    assert_int_equal(drill_load_index_of(NODES, 5, "127.0.1.1", 16379), 0);
    assert_int_equal(drill_load_index_of(NODES, 5, "127.0.2.1", 16379), 2);
    /* the port matters: two nodes on one address */
    assert_int_equal(drill_load_index_of(NODES, 5, "127.0.2.1", 16380), 7);
    assert_int_equal(drill_load_index_of(NODES, 5, "127.0.3.1", 16379), 4);
    /* unknown address or port, prefix of a known address, empty list */
    assert_int_equal(drill_load_index_of(NODES, 5, "127.0.9.9", 16379), -1);
    assert_int_equal(drill_load_index_of(NODES, 5, "127.0.1.1", 26379), -1);
    assert_int_equal(drill_load_index_of(NODES, 5, "127.0.1.", 16379), -1);
    assert_int_equal(drill_load_index_of(NODES, 0, "127.0.1.1", 16379), -1);
}

static void test_parse_switch(void **state)
{
    (void)state;
    char ip[64];
    int port = 0;
    assert_true(drill_load_parse_switch("demo 127.0.1.1 16379 127.0.2.1 16379", "demo", ip,
                                        sizeof(ip), &port));
    assert_string_equal(ip, "127.0.2.1");
    assert_int_equal(port, 16379);
    /* another master, or a master whose name starts like ours */
    assert_false(drill_load_parse_switch("other 127.0.1.1 16379 127.0.2.1 16379", "demo", ip,
                                         sizeof(ip), &port));
    assert_false(drill_load_parse_switch("demo2 127.0.1.1 16379 127.0.2.1 16379", "demo", ip,
                                         sizeof(ip), &port));
    /* malformed: missing words, extra words, bad port */
    assert_false(drill_load_parse_switch("demo 127.0.1.1 16379 127.0.2.1", "demo", ip,
                                         sizeof(ip), &port));
    assert_false(drill_load_parse_switch("demo 127.0.1.1 16379 127.0.2.1 16379 x", "demo", ip,
                                         sizeof(ip), &port));
    assert_false(drill_load_parse_switch("demo 127.0.1.1 16379 127.0.2.1 0", "demo", ip,
                                         sizeof(ip), &port));
    assert_false(drill_load_parse_switch("demo 127.0.1.1 16379 127.0.2.1 99999", "demo", ip,
                                         sizeof(ip), &port));
    assert_false(drill_load_parse_switch("demo 127.0.1.1 16379 127.0.2.1 16379x", "demo", ip,
                                         sizeof(ip), &port));
    assert_false(drill_load_parse_switch("", "demo", ip, sizeof(ip), &port));
    /* an address that does not fit the caller's buffer */
    char tiny[8];
    assert_false(drill_load_parse_switch("demo 127.0.1.1 16379 127.0.2.1 16379", "demo", tiny,
                                         sizeof(tiny), &port));
    /* extra spaces are tolerated */
    assert_true(drill_load_parse_switch("demo  a 1  b 2 ", "demo", ip, sizeof(ip), &port));
    assert_string_equal(ip, "b");
    assert_int_equal(port, 2);
}

static void test_start_refuses_bad_options(void **state)
{
    (void)state;
    mrd_error err;
    drill_load *l = NULL;
    drill_target s = {"127.0.0.1", 1, 0};
    drill_load_opts o = {.master = "demo", .sentinels = &s, .nsentinels = 1, .user = "app",
                         .pass = "x", .prefix = "drill", .rate = 0};
    assert_int_equal(drill_load_start(&o, &l, &err), MRD_ERR_INVALID);
    assert_null(l);
    o.rate = 10;
    o.nsentinels = 0;
    assert_int_equal(drill_load_start(&o, &l, &err), MRD_ERR_INVALID);
    o.nsentinels = 1;
    o.source_address = "127.0.1.250"; /* isolated without a node */
    assert_int_equal(drill_load_start(&o, &l, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "isolated"));
    drill_target nameless = {NULL, 16379, 0};
    o.source_address = NULL;
    o.nodes = &nameless;
    o.nnodes = 1;
    assert_int_equal(drill_load_start(&o, &l, &err), MRD_ERR_INVALID);
    assert_null(l);

    drill_timeline *t = NULL;
    drill_timeline_opts to = {.sentinels = &s, .nsentinels = 0, .user = "admin", .pass = "x"};
    assert_int_equal(drill_timeline_start(&to, &t, &err), MRD_ERR_INVALID);
    assert_null(t);
    /* free functions accept NULL */
    drill_load_free(NULL);
    drill_load_free(&l);
    drill_timeline_free(NULL);
    drill_timeline_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pace_on_time),
        cmocka_unit_test(test_pace_no_catch_up),
        cmocka_unit_test(test_pace_rate_over_a_second),
        cmocka_unit_test(test_host_of),
        cmocka_unit_test(test_parse_switch),
        cmocka_unit_test(test_start_refuses_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
