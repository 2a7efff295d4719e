/* test_drill_report.c - orchestrator/drill/drill_report.c: the result
 * computed from a drill's record (drill_result_compute) and its three
 * reports (JSON, text, SVG), on records built here by hand.  The only I/O is
 * drill_report_write() into a mkdtemp folder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "drill_report.h"
#include "fsutil.h"

/* Sentinels are named by host, writes by the node they went to. */
static const char *const hosts[] = {"euw-a1", "euw-b1", "use-a1"};
static const char *const nodes[] = {"euw-a1:16379", "euw-b1:16379", "use-a1:16379"};
static const drill_names NAMES = {.hosts = hosts, .nhosts = 3, .nodes = nodes, .nnodes = 3};

/* ==== RECORD BUILDERS =================================================== */

/* A record with room for N_W writes and N_E events (freed by rec_free). */
typedef struct rec {
    drill_record r;
    int64_t capw, cape;
} rec;

static rec *rec_new(const char *scenario, const char *target)
{
    rec *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    x->capw = 4096;
    x->cape = 64;
    x->r.writes = calloc((size_t)x->capw, sizeof(drill_write));
    x->r.events = calloc((size_t)x->cape, sizeof(drill_event));
    assert_non_null(x->r.writes);
    assert_non_null(x->r.events);
    snprintf(x->r.topology, sizeof(x->r.topology), "demo");
    snprintf(x->r.scenario, sizeof(x->r.scenario), "%s", scenario);
    snprintf(x->r.target, sizeof(x->r.target), "%s", target);
    x->r.fault_ms = -1;
    x->r.failover_seen_ms = -1;
    x->r.restore_ms = -1;
    x->r.ready_ms = -1;
    return x;
}

static void rec_free(rec *x)
{
    if (!x)
        return;
    free(x->r.writes);
    free(x->r.events);
    free(x);
}

static void add_write(rec *x, int64_t t, int leader, drill_write_state st, bool isolated)
{
    assert_true(x->r.nwrites < x->capw);
    drill_write *w = &x->r.writes[x->r.nwrites];
    w->t_ms = t;
    w->seq = x->r.nwrites;
    w->leader = (int16_t)leader;
    w->state = (uint8_t)st;
    w->isolated = isolated;
    x->r.nwrites++;
}

/* Main-writer writes every STEP ms in [FROM, TO). */
static void add_writes(rec *x, int64_t from, int64_t to, int64_t step, int leader,
                       drill_write_state st)
{
    for (int64_t t = from; t < to; t += step)
        add_write(x, t, leader, st, false);
}

static void add_event(rec *x, int64_t t, int sentinel, const char *name, const char *detail)
{
    assert_true(x->r.nevents < x->cape);
    drill_event *e = &x->r.events[x->r.nevents++];
    e->t_ms = t;
    e->sentinel = (int16_t)sentinel;
    snprintf(e->name, sizeof(e->name), "%s", name);
    snprintf(e->detail, sizeof(e->detail), "%s", detail);
}

/* kill-leader: a write every 10 ms over 10 s; the fault at 3000 ms; writes
 * fail from 3010 to 3690 and are acknowledged again by the new leader from
 * 3700 (a 700 ms gap); +odown at +400 ms, +switch-master at +600 ms;
 * restore at 6000, ready at 8300; healed, nothing lost.  Events are stored
 * out of order, as several sentinel connections deliver them. */
static rec *kill_leader(void)
{
    rec *x = rec_new("kill-leader", "euw-a1");
    add_writes(x, 0, 3010, 10, 0, DRILL_W_ACKED);
    add_writes(x, 3010, 3700, 10, 0, DRILL_W_ERROR);
    add_writes(x, 3700, 10000, 10, 2, DRILL_W_ACKED);
    x->r.writes[500].state = DRILL_W_WRITTEN; /* one write WAIT did not confirm */

    add_event(x, 3600, 2, "+switch-master", "mymaster 127.0.1.1 16379 127.0.3.1 16379");
    add_event(x, 1000, 0, "+odown", "master old 127.0.9.9 16379 #quorum 2/2");
    add_event(x, 3000, -1, "fault", "SIGKILL redis-server on euw-a1");
    add_event(x, 3300, 1, "+sdown", "master mymaster 127.0.1.1 16379");
    add_event(x, 3400, 1, "+odown", "master mymaster 127.0.1.1 16379 #quorum 2/2");
    add_event(x, 3450, 0, "+odown", "master mymaster 127.0.1.1 16379 #quorum 2/2");
    add_event(x, 3500, 2, "+try-failover", "master mymaster 127.0.1.1 16379");

    x->r.fault_ms = 3000;
    x->r.failover_seen_ms = 3600;
    x->r.restore_ms = 6000;
    x->r.ready_ms = 8300;
    x->r.end_ms = 10000;
    snprintf(x->r.leader_before, sizeof(x->r.leader_before), "euw-a1");
    snprintf(x->r.leader_after, sizeof(x->r.leader_after), "use-a1");
    /* What only the orchestrator knows. */
    x->r.r.healed = true;
    x->r.r.acked_writes_lost = 0;
    x->r.r.unacked_writes_lost = 5;
    x->r.r.full_syncs = 1;
    x->r.r.partial_syncs = 2;
    return x;
}

/* ==== drill_result_compute ============================================== */

static void test_kill_leader_result(void **state)
{
    (void)state;
    rec *x = kill_leader();
    drill_result_compute(&x->r, 1);
    const drill_result *o = &x->r.r;
    assert_int_equal(o->detect_ms, 400);   /* the +odown at 1000 is before the fault */
    assert_int_equal(o->failover_ms, 600);
    assert_int_equal(o->write_unavailable_ms, 700);
    assert_int_equal(o->writes_attempted, 1000);
    assert_int_equal(o->writes_acked, 1000 - 69 - 1);
    assert_int_equal(o->heal_ms, 2300);
    assert_int_equal(o->isolated_accepted, 0);
    assert_int_equal(o->isolated_refused_ms, -1);
    assert_true(o->pass);
    assert_non_null(strstr(o->verdict_reason, "No acknowledged write was lost"));
    assert_non_null(strstr(o->verdict_reason, "2.300 s"));
    /* The orchestrator's fields and the marks are left alone. */
    assert_int_equal(o->unacked_writes_lost, 5);
    assert_int_equal(o->full_syncs, 1);
    assert_int_equal(o->partial_syncs, 2);
    assert_true(o->healed);
    assert_false(o->split_brain);
    assert_int_equal(x->r.failover_seen_ms, 3600);
    rec_free(x);
}

/* The gap is measured from the last ack before the fault even when the
 * writes are stored out of order, and WRITTEN writes do not close it. */
static void test_gap_unordered_and_written(void **state)
{
    (void)state;
    rec *x = rec_new("kill-leader", "euw-a1");
    add_write(x, 5000, 1, DRILL_W_ACKED, false);
    add_write(x, 1000, 0, DRILL_W_ACKED, false);
    add_write(x, 2400, 1, DRILL_W_WRITTEN, false); /* not confirmed: no ack */
    add_write(x, 1900, 0, DRILL_W_ACKED, false);  /* last ack before the fault */
    add_write(x, 2600, 1, DRILL_W_ACKED, false);  /* 700 after 1900 */
    add_write(x, 4000, 1, DRILL_W_ACKED, false);  /* 1400 after 2600: longest */
    add_write(x, 2100, 0, DRILL_W_ACKED, true);   /* isolated: ignored */
    x->r.fault_ms = 2000;
    x->r.end_ms = 6000;
    x->r.r.healed = true;
    drill_result_compute(&x->r, 1);
    assert_int_equal(x->r.r.write_unavailable_ms, 1400);
    assert_int_equal(x->r.r.writes_attempted, 6);
    assert_int_equal(x->r.r.writes_acked, 5);
    assert_int_equal(x->r.r.heal_ms, -1);
    assert_true(x->r.r.pass);
    rec_free(x);
}

/* No ack before the fault: the gap counts from the fault itself. */
static void test_gap_from_fault_without_earlier_ack(void **state)
{
    (void)state;
    rec *x = rec_new("kill-leader", "euw-a1");
    add_write(x, 500, 0, DRILL_W_ERROR, false);
    add_write(x, 1800, 1, DRILL_W_ACKED, false);
    x->r.fault_ms = 1000;
    x->r.end_ms = 3000;
    drill_result_compute(&x->r, 1);
    assert_int_equal(x->r.r.write_unavailable_ms, 800);
    rec_free(x);
}

static void test_acks_never_resume(void **state)
{
    (void)state;
    rec *x = rec_new("region-outage", "us-east");
    add_writes(x, 0, 3010, 10, 0, DRILL_W_ACKED);
    add_writes(x, 3010, 10000, 10, -1, DRILL_W_ERROR);
    add_event(x, 4100, 1, "+odown", "master mymaster 127.0.1.1 16379 #quorum 2/2");
    x->r.fault_ms = 3000;
    x->r.restore_ms = 10000;
    x->r.end_ms = 12000;
    x->r.r.healed = false;
    drill_result_compute(&x->r, 1);
    const drill_result *o = &x->r.r;
    assert_int_equal(o->write_unavailable_ms, 9000); /* 3000 -> end 12000 */
    assert_int_equal(o->detect_ms, 1100);
    assert_int_equal(o->failover_ms, -1);
    assert_int_equal(o->heal_ms, -1);
    assert_int_equal(o->writes_acked, 301);
    assert_false(o->pass);
    assert_non_null(strstr(o->verdict_reason, "did not heal"));
    rec_free(x);
}

static void test_acked_lost_fails(void **state)
{
    (void)state;
    rec *x = kill_leader();
    x->r.r.acked_writes_lost = 3;
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_int_equal(x->r.r.acked_writes_lost, 3); /* an input, untouched */
    assert_non_null(strstr(x->r.r.verdict_reason, "3 acknowledged writes were lost"));
    assert_null(strstr(x->r.r.verdict_reason, "No acknowledged"));

    /* With wait_replicas 0 the reason says what to change. */
    drill_result_compute(&x->r, 0);
    assert_non_null(strstr(x->r.r.verdict_reason, "wait_replicas 0"));

    /* One lost and not healed: both reasons, singular. */
    x->r.r.acked_writes_lost = 1;
    x->r.r.healed = false;
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_non_null(strstr(x->r.r.verdict_reason, "1 acknowledged write was lost"));
    assert_non_null(strstr(x->r.r.verdict_reason, "not healthy at the end"));
    rec_free(x);
}

static void test_partition_isolated(void **state)
{
    (void)state;
    rec *x = rec_new("partition", "us-east");
    add_writes(x, 0, 3010, 10, 0, DRILL_W_ACKED);
    add_writes(x, 3010, 4500, 10, 0, DRILL_W_WRITTEN); /* no replica to confirm */
    add_writes(x, 4500, 9000, 10, 1, DRILL_W_ACKED);
    /* The isolated prober: one refusal before the fault (ignored), then
     * accepted by the old leader until it has to refuse at 4100. */
    add_write(x, 2900, 0, DRILL_W_ERROR, true);
    for (int64_t t = 3000; t <= 5000; t += 100)
        add_write(x, t, 0, t <= 4000 ? DRILL_W_WRITTEN : DRILL_W_ERROR, true);
    add_write(x, 3550, 0, DRILL_W_ACKED, true);
    x->r.fault_ms = 3000;
    x->r.restore_ms = 7000;
    x->r.ready_ms = 7500;
    x->r.end_ms = 9000;
    x->r.r.healed = true;
    drill_result_compute(&x->r, 1);
    const drill_result *o = &x->r.r;
    assert_int_equal(o->isolated_accepted, 12); /* 3000..4000 step 100, and 3550 */
    assert_int_equal(o->isolated_refused_ms, 1100);
    assert_int_equal(o->writes_attempted, 900); /* isolated writes not counted */
    assert_int_equal(o->write_unavailable_ms, 1500);
    assert_int_equal(o->heal_ms, 500);
    assert_true(o->pass);
    rec_free(x);
}

static void test_no_fault(void **state)
{
    (void)state;
    drill_result_compute(NULL, 1); /* no-op */
    rec *x = rec_new("sentinel-loss", "");
    add_event(x, 100, 0, "+odown", "master x 1.2.3.4 5 #quorum 2/2");
    x->r.end_ms = 500;
    x->r.r.healed = true;
    drill_result_compute(&x->r, 1);
    assert_int_equal(x->r.r.detect_ms, -1);
    assert_int_equal(x->r.r.failover_ms, -1);
    assert_int_equal(x->r.r.write_unavailable_ms, -1);
    assert_int_equal(x->r.r.isolated_refused_ms, -1);
    assert_int_equal(x->r.r.writes_attempted, 0);
    assert_true(x->r.r.pass);
    rec_free(x);
}

/* ==== report.json ======================================================= */

static void test_json_fields(void **state)
{
    (void)state;
    rec *x = kill_leader();
    drill_result_compute(&x->r, 1);
    json_t *j = drill_report_json(&x->r);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "scenario")), "kill-leader");
    assert_string_equal(json_string_value(json_object_get(j, "target")), "euw-a1");
    assert_string_equal(json_string_value(json_object_get(j, "topology")), "demo");
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "pass");
    assert_non_null(json_string_value(json_object_get(j, "verdict_reason")));
    assert_string_equal(json_string_value(json_object_get(j, "leader_before")), "euw-a1");
    assert_string_equal(json_string_value(json_object_get(j, "leader_after")), "use-a1");
    assert_int_equal(json_integer_value(json_object_get(j, "detect_ms")), 400);
    assert_int_equal(json_integer_value(json_object_get(j, "failover_ms")), 600);
    assert_int_equal(json_integer_value(json_object_get(j, "write_unavailable_ms")), 700);
    assert_int_equal(json_integer_value(json_object_get(j, "writes_attempted")), 1000);
    assert_int_equal(json_integer_value(json_object_get(j, "writes_acked")), 930);
    assert_int_equal(json_integer_value(json_object_get(j, "writes_written")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "writes_failed")), 69);
    assert_int_equal(json_integer_value(json_object_get(j, "acked_writes_lost")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "unacked_writes_lost")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "heal_ms")), 2300);
    assert_int_equal(json_integer_value(json_object_get(j, "full_syncs")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "partial_syncs")), 2);
    assert_true(json_is_false(json_object_get(j, "split_brain")));
    assert_true(json_is_true(json_object_get(j, "healed")));
    assert_int_equal(json_integer_value(json_object_get(j, "isolated_accepted")), 0);
    assert_true(json_is_null(json_object_get(j, "isolated_refused_ms")));

    json_t *marks = json_object_get(j, "marks");
    assert_int_equal(json_integer_value(json_object_get(marks, "fault_ms")), 3000);
    assert_int_equal(json_integer_value(json_object_get(marks, "failover_seen_ms")), 3600);
    assert_int_equal(json_integer_value(json_object_get(marks, "restore_ms")), 6000);
    assert_int_equal(json_integer_value(json_object_get(marks, "ready_ms")), 8300);

    /* The timeline is in time order, sources are host indexes or "drill". */
    json_t *tl = json_object_get(j, "timeline");
    assert_int_equal(json_array_size(tl), 7);
    int64_t prev = -1;
    for (size_t i = 0; i < json_array_size(tl); i++) {
        json_t *e = json_array_get(tl, i);
        int64_t t = json_integer_value(json_object_get(e, "t_ms"));
        assert_true(t >= prev);
        prev = t;
        assert_non_null(json_string_value(json_object_get(e, "event")));
        assert_non_null(json_string_value(json_object_get(e, "detail")));
    }
    json_t *fault = json_array_get(tl, 1);
    assert_string_equal(json_string_value(json_object_get(fault, "source")), "drill");
    assert_string_equal(json_string_value(json_object_get(fault, "event")), "fault");
    json_t *odown = json_array_get(tl, 3);
    assert_int_equal(json_integer_value(json_object_get(odown, "source")), 1);
    assert_string_equal(json_string_value(json_object_get(odown, "event")), "+odown");
    json_decref(j);
    rec_free(x);
}

static void test_json_nulls(void **state)
{
    (void)state;
    rec *x = rec_new("region-outage", "us-east");
    add_writes(x, 0, 2000, 10, 0, DRILL_W_ACKED);
    /* Bytes that are not UTF-8 and a control character must not make the
     * report unrepresentable. */
    add_event(x, 1500, 0, "+sdown", "master \xff\xfe bad\x01 utf8");
    x->r.fault_ms = 1000;
    x->r.end_ms = 2000;
    x->r.r.acked_writes_lost = 2;
    drill_result_compute(&x->r, 1);
    json_t *j = drill_report_json(&x->r);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "fail");
    assert_true(json_is_null(json_object_get(j, "detect_ms")));
    assert_true(json_is_null(json_object_get(j, "failover_ms")));
    assert_true(json_is_null(json_object_get(j, "heal_ms")));
    assert_true(json_is_null(json_object_get(j, "isolated_refused_ms")));
    assert_true(json_is_null(json_object_get(j, "leader_before")));
    assert_true(json_is_null(json_object_get(j, "leader_after")));
    json_t *marks = json_object_get(j, "marks");
    assert_true(json_is_null(json_object_get(marks, "failover_seen_ms")));
    assert_true(json_is_null(json_object_get(marks, "restore_ms")));
    assert_true(json_is_null(json_object_get(marks, "ready_ms")));
    assert_int_equal(json_integer_value(json_object_get(marks, "fault_ms")), 1000);
    json_t *e = json_array_get(json_object_get(j, "timeline"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "detail")),
                        "master ?? bad\x01 utf8");
    assert_int_equal(json_integer_value(json_object_get(j, "write_unavailable_ms")), 10);
    json_decref(j);
    rec_free(x);
}

/* ==== report.txt ======================================================== */

static void test_text(void **state)
{
    (void)state;
    rec *x = kill_leader();
    drill_result_compute(&x->r, 1);
    char *t = drill_report_text(&x->r, &NAMES);
    assert_non_null(t);
    assert_non_null(strstr(t, "kill-leader on euw-a1 (topology demo)"));
    assert_non_null(strstr(t, "verdict: PASS - No acknowledged write was lost"));
    assert_non_null(strstr(t, "leader:  euw-a1 -> use-a1"));
    /* Measurements with units. */
    assert_non_null(strstr(t, "(fault -> first +odown)"));
    assert_non_null(strstr(t, "0.400 s\n"));
    assert_non_null(strstr(t, "0.700 s\n"));
    assert_non_null(strstr(t, "2.300 s\n"));
    assert_non_null(strstr(t, "930 writes (93.0 %)"));
    /* Timeline, relative to the fault, sources named. */
    assert_non_null(strstr(t, "+0.400 s  euw-b1  +odown"));
    assert_non_null(strstr(t, "master mymaster 127.0.1.1 16379 #quorum 2/2\n"));
    assert_non_null(strstr(t, "-2.000 s  euw-a1  +odown"));
    assert_non_null(strstr(t, "+0.000 s  drill   fault"));
    assert_non_null(strstr(t, "+0.600 s  use-a1  +switch-master"));
    /* The lines come in time order. */
    assert_true(strstr(t, "+0.300 s") < strstr(t, "+0.400 s  euw-b1"));
    assert_true(strstr(t, "+0.450 s") < strstr(t, "+0.600 s  use-a1"));
    /* Writer summary. */
    assert_non_null(strstr(t, "main writer: 1000 writes"));
    assert_non_null(strstr(t, "last acknowledged write before the fault: +0.000 s; "
                               "first after: +0.700 s"));
    assert_non_null(strstr(t, "euw-a1:16379 370 (301 acknowledged)"));
    assert_non_null(strstr(t, "use-a1:16379 630 (629 acknowledged)"));
    free(t);

    /* Failing, with unnamed hosts and a control character in a detail. */
    x->r.r.acked_writes_lost = 3;
    x->r.events[3].detail[0] = '\033';
    drill_result_compute(&x->r, 1);
    t = drill_report_text(&x->r, NULL);
    assert_non_null(t);
    assert_non_null(strstr(t, "verdict: FAIL - 3 acknowledged writes were lost"));
    assert_non_null(strstr(t, "+0.400 s  host#1  +odown"));
    assert_non_null(strstr(t, "node#0 370 (301 acknowledged)"));
    assert_null(strchr(t, '\033'));
    free(t);
    rec_free(x);
}

static void test_text_partition_and_empty(void **state)
{
    (void)state;
    rec *x = rec_new("partition", "us-east");
    add_writes(x, 0, 2000, 100, 0, DRILL_W_ACKED);
    add_write(x, 1000, 0, DRILL_W_WRITTEN, true);
    add_write(x, 1500, 0, DRILL_W_ERROR, true);
    x->r.fault_ms = 1000;
    x->r.end_ms = 2000;
    x->r.r.healed = true;
    drill_result_compute(&x->r, 1);
    char *t = drill_report_text(&x->r, &NAMES);
    assert_non_null(t);
    assert_non_null(strstr(t, "isolated leader: writes accepted"));
    assert_non_null(strstr(t, "2 writes, 1 accepted by the isolated leader; first refusal "
                              "0.500 s after the fault"));
    assert_non_null(strstr(t, "(no events recorded)"));
    free(t);
    rec_free(x);

    /* Nothing at all: still a report. */
    x = rec_new("sentinel-loss", "");
    drill_result_compute(&x->r, 1);
    t = drill_report_text(&x->r, &NAMES);
    assert_non_null(t);
    assert_non_null(strstr(t, "the main writer sent no write"));
    free(t);
    char *svg = drill_report_svg(&x->r, &NAMES);
    assert_non_null(svg);
    free(svg);
    json_t *j = drill_report_json(&x->r);
    assert_non_null(j);
    json_decref(j);
    rec_free(x);
}

/* ==== timeline.svg ====================================================== */

/* Tags balance, attribute values are quoted, '&' only starts an entity:
 * enough of XML to catch a broken report without a parser. */
static void assert_xml_balanced(const char *s)
{
    char stack[64][32];
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            assert_true(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
                        strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 ||
                        strncmp(p, "&apos;", 6) == 0);
            continue;
        }
        if (*p == '>')
            fail_msg("stray '>' at offset %td", p - s);
        if (*p != '<')
            continue;
        const char *end = p + 1;
        bool quoted = false;
        while (*end && (quoted || *end != '>')) {
            if (*end == '"')
                quoted = !quoted;
            assert_false(*end == '<');
            end++;
        }
        assert_int_equal(*end, '>');
        bool closing = p[1] == '/';
        bool selfclose = end[-1] == '/';
        const char *n = p + (closing ? 2 : 1);
        size_t nl = strcspn(n, " />\n");
        assert_true(nl > 0 && nl < 32);
        if (closing) {
            assert_true(depth > 0);
            depth--;
            assert_int_equal(strlen(stack[depth]), nl);
            assert_memory_equal(stack[depth], n, nl);
        } else if (!selfclose) {
            assert_true(depth < 64);
            memcpy(stack[depth], n, nl);
            stack[depth][nl] = '\0';
            depth++;
        }
        p = end;
    }
    assert_int_equal(depth, 0);
}

static void test_svg(void **state)
{
    (void)state;
    rec *x = kill_leader();
    /* Text from outside must be escaped wherever it lands. */
    snprintf(x->r.events[4].detail, sizeof(x->r.events[4].detail),
             "master <&> \"quoted\" 127.0.1.1 16379");
    snprintf(x->r.target, sizeof(x->r.target), "euw-a1 <x>");
    drill_result_compute(&x->r, 1);
    char *svg = drill_report_svg(&x->r, &NAMES);
    assert_non_null(svg);
    size_t n = strlen(svg);
    assert_true(strncmp(svg, "<svg", 4) == 0);
    assert_true(n > 8 && strcmp(svg + n - 7, "</svg>\n") == 0);
    assert_non_null(strstr(svg, "width=\"960\" height=\"360\""));
    assert_null(strstr(svg, "<script"));
    assert_null(strstr(svg, "href"));
    assert_null(strstr(svg, "@import"));
    /* The marker labels, drawn as text with their times. */
    assert_non_null(strstr(svg, ">fault</text>"));
    assert_non_null(strstr(svg, ">+odown +0.400 s</text>"));
    assert_non_null(strstr(svg, ">+switch-master +0.600 s</text>"));
    assert_non_null(strstr(svg, ">restore +3.000 s</text>"));
    assert_non_null(strstr(svg, ">ready +5.300 s</text>"));
    /* Title: scenario, target, verdict, write unavailability. */
    assert_non_null(strstr(svg, "kill-leader euw-a1 &lt;x&gt;"));
    assert_non_null(strstr(svg, ">PASS</tspan>"));
    assert_non_null(strstr(svg, "writes unavailable 700 ms"));
    /* Axes. */
    assert_non_null(strstr(svg, "writes / 100 ms"));
    assert_non_null(strstr(svg, "seconds from the fault"));
    assert_non_null(strstr(svg, ">+5</text>"));
    assert_non_null(strstr(svg, ">-3</text>"));
    /* The detail, escaped. */
    assert_non_null(strstr(svg, "master &lt;&amp;&gt; &quot;quoted&quot;"));
    assert_null(strstr(svg, "<&>"));
    assert_xml_balanced(svg);
    free(svg);

    /* Failing, partition (isolated strip), no +switch-master event but a
     * failover_seen mark. */
    rec_free(x);
    x = rec_new("partition", "us-east");
    add_writes(x, 0, 4000, 10, 0, DRILL_W_ACKED);
    for (int64_t t = 1000; t < 2000; t += 50)
        add_write(x, t, 0, t < 1500 ? DRILL_W_WRITTEN : DRILL_W_ERROR, true);
    x->r.fault_ms = 1000;
    x->r.failover_seen_ms = 1800;
    x->r.end_ms = 4000;
    x->r.r.acked_writes_lost = 1;
    drill_result_compute(&x->r, 1);
    svg = drill_report_svg(&x->r, &NAMES);
    assert_non_null(svg);
    assert_non_null(strstr(svg, ">FAIL</tspan>"));
    assert_non_null(strstr(svg, ">+switch-master +0.800 s</text>"));
    assert_non_null(strstr(svg, ">isolated</text>"));
    assert_null(strstr(svg, ">restore"));
    assert_xml_balanced(svg);
    free(svg);
    rec_free(x);
}

/* ==== drill_report_write ================================================ */

static void test_write(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/mrd-drill-report-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char dir[256], path[320];
    snprintf(dir, sizeof(dir), "%s/out/nested", tmpl);

    rec *x = kill_leader();
    drill_result_compute(&x->r, 1);
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(drill_report_write(dir, &x->r, &NAMES, &err), MRD_OK);

    const char *files[] = {"report.json", "report.txt", "timeline.svg"};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0644);
        assert_true(st.st_size > 100);
    }
    snprintf(path, sizeof(path), "%s/report.json", dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "write_unavailable_ms")), 700);
    json_decref(j);

    /* Written again over the old files. */
    assert_int_equal(drill_report_write(dir, &x->r, &NAMES, NULL), MRD_OK);

    /* A folder that cannot be created: an error with a message. */
    snprintf(path, sizeof(path), "%s/report.txt/sub", dir);
    mrd_error_clear(&err);
    assert_int_not_equal(drill_report_write(path, &x->r, &NAMES, &err), MRD_OK);
    assert_true(err.msg[0] != '\0');

    rec_free(x);
    assert_int_equal(mrd_rm_rf(tmpl, NULL), MRD_OK);
}

/* ==== cluster mode ====================================================== */

static void add_cluster_event(rec *x, int64_t t, int node, int shard, const char *name)
{
    add_event(x, t, node / 2, name, "");
    x->r.events[x->r.nevents - 1].node = (int16_t)node;
    x->r.events[x->r.nevents - 1].shard = (int16_t)shard;
}

/* Three shards, one write every 10 ms to each; region-outage at 3000 ms
 * hits nodes 0 and 3, the masters of shards 0 and 1: shard 0's writes fail
 * from 3000 to 5200 (promoted at +2.1 s), shard 1's from 3000 to 4500
 * (promoted at +1.4 s), shard 2 never stops.  Node 5 (not hit) reports
 * cluster_state fail from 3900 to 4400 and again 4800-5100, node 6 from
 * 4000 to 5300: in all, 3900-5300; node 0 (hit) says fail until 9000,
 * which does not count. */
static rec *cluster_outage(drill_shard *shards, uint8_t *faulted)
{
    rec *x = rec_new("region-outage", "us-east");
    for (int64_t t = 0; t < 10000; t += 10)
        for (int s = 0; s < 3; s++) {
            bool down = (s == 0 && t >= 3000 && t < 5200) || (s == 1 && t >= 3000 && t < 4500);
            add_write(x, t, s, down ? DRILL_W_ERROR : DRILL_W_ACKED, false);
            x->r.writes[x->r.nwrites - 1].shard = (int16_t)s;
        }
    add_cluster_event(x, 3500, 4, -1, "+fail");
    add_cluster_event(x, 4400, 2, 1, "+promoted");
    add_cluster_event(x, 5100, 1, 0, "+promoted");
    add_cluster_event(x, 5150, 7, 0, "+promoted"); /* a later word on the same shard */
    add_cluster_event(x, 2000, 0, -1, "+cluster-ok");
    add_cluster_event(x, 3900, 5, -1, "+cluster-fail");
    add_cluster_event(x, 4000, 6, -1, "+cluster-fail");
    add_cluster_event(x, 4400, 5, -1, "+cluster-ok");
    add_cluster_event(x, 4800, 5, -1, "+cluster-fail");
    add_cluster_event(x, 5100, 5, -1, "+cluster-ok");
    add_cluster_event(x, 5300, 6, -1, "+cluster-ok");
    add_cluster_event(x, 3100, 0, -1, "+cluster-fail");
    add_cluster_event(x, 9000, 0, -1, "+cluster-ok");
    x->r.fault_ms = 3000;
    x->r.restore_ms = 6000;
    x->r.ready_ms = 8000;
    x->r.end_ms = 10000;
    x->r.r.healed = true;
    memset(shards, 0, 3 * sizeof(*shards));
    for (int s = 0; s < 3; s++) {
        snprintf(shards[s].name, sizeof(shards[s].name), "demo-%d", s + 1);
        snprintf(shards[s].region_planned, sizeof(shards[s].region_planned), "r%d", s);
    }
    shards[0].faulted = shards[1].faulted = true;
    shards[1].acked_writes_lost = 0;
    memset(faulted, 0, 9);
    faulted[0] = faulted[3] = 1;
    x->r.shards = shards;
    x->r.nshards = 3;
    x->r.node_faulted = faulted;
    x->r.nnodes_faulted = 9;
    snprintf(x->r.detect_event, sizeof(x->r.detect_event), "+fail");
    snprintf(x->r.failover_event, sizeof(x->r.failover_event), "+promoted");
    return x;
}

static void test_cluster_shards(void **state)
{
    (void)state;
    drill_shard shards[3];
    uint8_t faulted[9];
    rec *x = cluster_outage(shards, faulted);
    drill_result_compute(&x->r, 1);
    const drill_result *o = &x->r.r;
    assert_int_equal(shards[0].failover_ms, 2100);
    assert_int_equal(shards[1].failover_ms, 1400);
    assert_int_equal(shards[2].failover_ms, -1);
    /* the last acked write before the fault is at 2990 */
    assert_int_equal(shards[0].write_unavailable_ms, 5200 - 2990);
    assert_int_equal(shards[1].write_unavailable_ms, 4500 - 2990);
    assert_int_equal(shards[2].write_unavailable_ms, 10);
    assert_int_equal(shards[0].writes_attempted, 1000);
    assert_int_equal(shards[0].writes_acked, 1000 - 220);
    assert_int_equal(shards[2].writes_acked, 1000);
    /* cluster-wide: the last shard's failover, the longest gap of any */
    assert_int_equal(o->failover_ms, 2100);
    assert_int_equal(o->detect_ms, 500);
    assert_int_equal(o->write_unavailable_ms, 5200 - 2990);
    assert_int_equal(o->longest_gap_shard, 0);
    /* some node outside the fault fails from 3900 (node 5) to 5300 (node
     * 6): node 5's ok in between does not end it; node 0 is hit */
    assert_int_equal(o->cluster_fail_ms, 1400);
    assert_int_equal(o->cluster_ok_ms, 2300);
    assert_true(o->pass);

    json_t *j = drill_report_json(&x->r);
    assert_non_null(j);
    json_t *sh = json_object_get(j, "shards");
    assert_int_equal(json_array_size(sh), 3);
    json_t *s1 = json_array_get(sh, 0);
    assert_int_equal(json_integer_value(json_object_get(s1, "shard")), 1);
    assert_string_equal(json_string_value(json_object_get(s1, "name")), "demo-1");
    assert_int_equal(json_integer_value(json_object_get(s1, "failover_ms")), 2100);
    assert_true(json_is_null(json_object_get(json_array_get(sh, 2), "failover_ms")));
    assert_true(json_is_true(json_object_get(s1, "faulted")));
    assert_true(json_is_null(json_object_get(s1, "region_after")));
    json_t *c = json_object_get(j, "cluster");
    assert_int_equal(json_integer_value(json_object_get(c, "cluster_state_fail_ms")), 1400);
    assert_int_equal(json_integer_value(json_object_get(c, "longest_gap_shard")), 1);
    json_decref(j);

    char *t = drill_report_text(&x->r, &NAMES);
    assert_non_null(t);
    assert_non_null(strstr(t, "SHARDS"));
    assert_non_null(strstr(t, "first +fail"));
    assert_non_null(strstr(t, "cluster_state fail"));
    free(t);
    char *svg = drill_report_svg(&x->r, &NAMES);
    assert_non_null(svg);
    assert_non_null(strstr(svg, "+promoted +"));
    free(svg);
    rec_free(x);
}

/* Still failing at the end: counted to the end, no ok time; sentinel
 * records have neither figure. */
static void test_cluster_state_never_ok(void **state)
{
    (void)state;
    drill_shard shards[3];
    uint8_t faulted[9];
    rec *x = cluster_outage(shards, faulted);
    x->r.nevents = 0;
    add_cluster_event(x, 4000, 6, -1, "+cluster-fail");
    drill_result_compute(&x->r, 1);
    assert_int_equal(x->r.r.cluster_fail_ms, 6000);
    assert_int_equal(x->r.r.cluster_ok_ms, -1);
    assert_int_equal(shards[0].failover_ms, -1);
    rec_free(x);

    x = kill_leader();
    drill_result_compute(&x->r, 1);
    assert_int_equal(x->r.r.cluster_fail_ms, -1);
    assert_int_equal(x->r.r.longest_gap_shard, -1);
    json_t *j = drill_report_json(&x->r);
    assert_null(json_object_get(j, "shards"));
    json_decref(j);
    rec_free(x);
}

/* ==== the scale drill =================================================== */

/* A grow from 3 to 5 shards: two writer threads (drill_write.shard 0 and
 * 1), each writing every 10 ms over 10 s; every writer acknowledged by
 * 1000, the deploy from 3000 to 8000; writer 2's writes fail from 5000 to
 * 5390 (a 410 ms gap from its ack at 4990), while writer 1 keeps writing,
 * so the gap of all writes together is 10 ms. */
static rec *scale_grow(void)
{
    rec *x = rec_new("scale", "3 -> 5 shards");
    for (int64_t t = 0; t < 10000; t += 10)
        for (int k = 0; k < 2; k++) {
            add_write(x, t, k, k == 1 && t >= 5000 && t < 5400 ? DRILL_W_ERROR : DRILL_W_ACKED,
                      false);
            x->r.writes[x->r.nwrites - 1].shard = (int16_t)k;
        }
    add_event(x, 3000, -1, "scale", "3 -> 5 shards");
    add_event(x, 8000, -1, "deployed", "deploy exited 0");
    x->r.fault_ms = 3000;
    x->r.restore_ms = 8000;
    x->r.end_ms = 10000;
    x->r.scale = (drill_scale){.present = true, .shards_before = 3, .shards_after = 5,
                               .added = 2, .slots_to_move = 6554, .writers = 2, .rate = 200,
                               .deploy_exit = 0, .masters_after = 5,
                               .readback_complete = true, .load_ready_ms = 1000};
    return x;
}

static void test_scale_result(void **state)
{
    (void)state;
    rec *x = scale_grow();
    drill_result_compute(&x->r, 1);
    const drill_scale *sc = &x->r.scale;
    const drill_result *o = &x->r.r;
    assert_int_equal(sc->scale_ms, 5000);
    /* one writer's longest gap, not that of all writes together */
    assert_int_equal(o->write_unavailable_ms, 410);
    assert_int_equal(sc->longest_gap_writer, 1);
    assert_true(sc->acked_per_s_before > 199.9 && sc->acked_per_s_before < 200.1);
    assert_true(sc->acked_per_s_during > 191.9 && sc->acked_per_s_during < 192.1);
    assert_true(sc->acked_per_s_after > 199.9 && sc->acked_per_s_after < 200.1);
    assert_int_equal(o->writes_attempted, 2000);
    assert_int_equal(o->writes_acked, 2000 - 40);
    assert_true(o->pass);
    assert_non_null(strstr(o->verdict_reason, "from 3 to 5 shards in 5.000 s"));
    assert_non_null(strstr(o->verdict_reason, "longest write gap was 0.410 s"));

    json_t *j = drill_report_json(&x->r);
    assert_non_null(j);
    json_t *c = json_object_get(j, "scale");
    assert_int_equal(json_integer_value(json_object_get(c, "deploy_exit")), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "scale_ms")), 5000);
    assert_int_equal(json_integer_value(json_object_get(c, "longest_gap_ms")), 410);
    assert_int_equal(json_integer_value(json_object_get(c, "longest_gap_writer")), 2);
    assert_int_equal(json_integer_value(json_object_get(c, "shards_added")), 2);
    assert_true(json_real_value(json_object_get(c, "acked_per_s_during")) == 192.0);
    assert_true(json_is_true(json_object_get(c, "readback_complete")));
    assert_true(json_is_null(json_object_get(j, "full_syncs")));
    assert_null(json_object_get(j, "shards"));
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "pass");
    json_decref(j);

    char *t = drill_report_text(&x->r, &NAMES);
    assert_non_null(t);
    assert_non_null(strstr(t, "3 -> 5 (2 added, 0 retired)"));
    assert_non_null(strstr(t, "0.410 s (writer 2)"));
    assert_non_null(strstr(t, "192.0 writes/s"));
    assert_non_null(strstr(t, "seconds from the scale's start"));
    assert_null(strstr(t, "detect"));
    free(t);
    char *svg = drill_report_svg(&x->r, &NAMES);
    assert_non_null(svg);
    assert_non_null(strstr(svg, "deployed +5.000 s"));
    assert_non_null(strstr(svg, "3 -&gt; 5 shards"));
    free(svg);

    /* no sorted record: the writes of one writer out of order */
    drill_write tmp = x->r.writes[10];
    x->r.writes[10] = x->r.writes[1500];
    x->r.writes[1500] = tmp;
    drill_result_compute(&x->r, 1);
    assert_int_equal(o->write_unavailable_ms, 410);
    rec_free(x);
}

/* A deploy that did not exit 0, or writes not read back, fail the drill
 * even with nothing lost; lost writes fail it with the deploy's success. */
static void test_scale_fails(void **state)
{
    (void)state;
    rec *x = scale_grow();
    x->r.scale.deploy_exit = 1;
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_non_null(strstr(x->r.r.verdict_reason,
                           "The deploy exited 1 (deployed, but not verified healthy in time)"));

    x->r.scale.deploy_exit = 0;
    x->r.scale.readback_complete = false;
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_non_null(strstr(x->r.r.verdict_reason, "Not every write could be read back"));

    x->r.scale.readback_complete = true;
    x->r.r.acked_writes_lost = 3;
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_non_null(strstr(x->r.r.verdict_reason, "3 acknowledged writes were lost"));
    assert_null(strstr(x->r.r.verdict_reason, "deploy"));
    rec_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_leader_result),
        cmocka_unit_test(test_gap_unordered_and_written),
        cmocka_unit_test(test_gap_from_fault_without_earlier_ack),
        cmocka_unit_test(test_acks_never_resume),
        cmocka_unit_test(test_acked_lost_fails),
        cmocka_unit_test(test_partition_isolated),
        cmocka_unit_test(test_no_fault),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_nulls),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_partition_and_empty),
        cmocka_unit_test(test_svg),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_cluster_shards),
        cmocka_unit_test(test_cluster_state_never_ok),
        cmocka_unit_test(test_scale_result),
        cmocka_unit_test(test_scale_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
