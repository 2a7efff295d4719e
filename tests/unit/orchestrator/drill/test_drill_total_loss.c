/* test_drill_total_loss.c - the total-loss drill's pure parts
 * (orchestrator/drill/drill_report.c): each acknowledged write classed
 * against the backup's marks and the kill, the losses, RPO, RTO and the
 * verdict computed from hand-built records, and the report's fields. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill_report.h"

/* The drill's clock in this record: backup from 2000 to 2500 ms, kill at
 * 4500 (all down at 4600), ready at 6000. */
#define B0 2000
#define B1 2500
#define KILL 4500
#define DOWN 4600
#define READY 6000

typedef struct tl_rec {
    drill_record r;
    drill_write w[64];
    uint8_t present[64];
} tl_rec;

static tl_rec *tl_new(void)
{
    tl_rec *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    snprintf(x->r.topology, sizeof(x->r.topology), "demo");
    snprintf(x->r.scenario, sizeof(x->r.scenario), "total-loss");
    snprintf(x->r.target, sizeof(x->r.target), "every region");
    x->r.writes = x->w;
    x->r.fault_ms = KILL;
    x->r.failover_seen_ms = -1;
    x->r.restore_ms = DOWN + 10;
    x->r.ready_ms = READY;
    x->r.end_ms = READY + 1000;
    x->r.r.healed = true;
    drill_total_loss *t = &x->r.total_loss;
    *t = (drill_total_loss){.present = true, .backup_start_ms = B0, .backup_end_ms = B1,
                            .backup_ms = B1 - B0, .backup_keys = 10, .kill_end_ms = DOWN,
                            .nodes_killed = 6, .nodes_total = 6, .restored = true,
                            .restore_ms = 900, .restore_writable_ms = 100,
                            .keys_restored = 10, .write_present = x->present};
    snprintf(t->backup_id, sizeof(t->backup_id), "20261202T193012Z");
    snprintf(t->key_prefix, sizeof(t->key_prefix), "drill:1");
    return x;
}

/* A write sent at T, done at DONE, in state ST, read back or not. */
static void w(tl_rec *x, int64_t t, int64_t done, drill_write_state st, bool present)
{
    int64_t i = x->r.nwrites++;
    assert_true(i < 64);
    x->w[i] = (drill_write){.t_ms = t, .done_ms = done, .seq = 100 + i, .state = (uint8_t)st,
                            .leader = 0};
    x->present[i] = present;
}

/* The usual story: 3 acknowledged before the backup (kept), 2 during it
 * (one kept, one lost), 3 after it (lost), one unacknowledged after it
 * (lost), 2 after the kill (kept; the first acknowledged at 5100). */
static tl_rec *story(void)
{
    tl_rec *x = tl_new();
    w(x, 1000, 1005, DRILL_W_ACKED, true);
    w(x, 1500, 1505, DRILL_W_ACKED, true);
    w(x, 1995, 1999, DRILL_W_ACKED, true);   /* acknowledged just before the backup */
    w(x, 1998, 2003, DRILL_W_ACKED, true);   /* acknowledged after it started: during */
    w(x, 2400, 2405, DRILL_W_ACKED, false);  /* during, not in the RDB */
    w(x, 2500, 2505, DRILL_W_ACKED, false);  /* sent as the backup returned: after */
    w(x, 3000, 3005, DRILL_W_ACKED, false);
    w(x, 4000, 4005, DRILL_W_ACKED, false);
    w(x, 4100, 5100, DRILL_W_WRITTEN, false);
    w(x, 4550, 4560, DRILL_W_ERROR, false);  /* during the kill */
    w(x, 5000, 5100, DRILL_W_ACKED, true);   /* to the restored leader */
    w(x, 5500, 5505, DRILL_W_ACKED, true);
    return x;
}

static void test_classify(void **state)
{
    (void)state;
    drill_total_loss t = {.backup_start_ms = B0, .backup_end_ms = B1};
    drill_write a = {.t_ms = 1000, .done_ms = 1999, .state = DRILL_W_ACKED};
    assert_int_equal(drill_total_loss_classify(&t, &a, DOWN), DRILL_TL_BEFORE);
    a.done_ms = B0; /* acknowledged as the backup was called: during */
    assert_int_equal(drill_total_loss_classify(&t, &a, DOWN), DRILL_TL_DURING);
    a.t_ms = B1 - 1;
    a.done_ms = B1 + 100; /* sent before the backup returned: either side */
    assert_int_equal(drill_total_loss_classify(&t, &a, DOWN), DRILL_TL_DURING);
    a.t_ms = B1;
    assert_int_equal(drill_total_loss_classify(&t, &a, DOWN), DRILL_TL_AFTER);
    a.t_ms = DOWN - 1;
    assert_int_equal(drill_total_loss_classify(&t, &a, DOWN), DRILL_TL_AFTER);
    a.t_ms = DOWN;
    assert_int_equal(drill_total_loss_classify(&t, &a, DOWN), DRILL_TL_RESTORED);
    assert_int_equal(drill_total_loss_classify(&t, &a, -1), DRILL_TL_AFTER); /* no kill yet */
    a.state = DRILL_W_WRITTEN;
    assert_int_equal(drill_total_loss_classify(&t, &a, DOWN), DRILL_TL_NONE);
    a.state = DRILL_W_ACKED;
    a.isolated = 1;
    assert_int_equal(drill_total_loss_classify(&t, &a, DOWN), DRILL_TL_NONE);
    /* a backup that never returned: nothing is "after" it */
    drill_total_loss u = {.backup_start_ms = B0, .backup_end_ms = -1};
    drill_write b = {.t_ms = 4000, .done_ms = 4001, .state = DRILL_W_ACKED};
    assert_int_equal(drill_total_loss_classify(&u, &b, -1), DRILL_TL_DURING);
}

static void test_result(void **state)
{
    (void)state;
    tl_rec *x = story();
    drill_result_compute(&x->r, 1);
    const drill_total_loss *t = &x->r.total_loss;
    assert_int_equal(t->acked_before, 3);
    assert_int_equal(t->lost_before, 0);
    assert_int_equal(t->acked_during, 2);
    assert_int_equal(t->kept_during, 1);
    assert_int_equal(t->lost_during, 1);
    assert_int_equal(t->acked_after, 3);
    assert_int_equal(t->lost_after, 3);
    assert_int_equal(t->acked_restored, 2);
    assert_int_equal(t->lost_restored, 0);
    assert_int_equal(t->rpo_writes, 4);           /* during + after: counted */
    assert_int_equal(t->rpo_window_ms, KILL - 2400); /* the first lost one was sent at 2400 */
    assert_int_equal(t->rto_writable_ms, 5100 - KILL);
    assert_int_equal(t->rto_healthy_ms, READY - KILL);
    assert_true(x->r.r.pass);
    assert_non_null(strstr(x->r.r.verdict_reason, "4 acknowledged writes made after the backup"));
    free(x);
}

static void test_fails(void **state)
{
    (void)state;
    /* a write acknowledged before the backup is missing */
    tl_rec *x = story();
    x->present[1] = 0;
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_int_equal(x->r.total_loss.lost_before, 1);
    assert_non_null(strstr(x->r.r.verdict_reason, "acknowledged before the backup started"));
    free(x);
    /* one acknowledged by the restored leader is missing */
    x = story();
    x->present[11] = 0;
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_int_equal(x->r.total_loss.lost_restored, 1);
    assert_non_null(strstr(x->r.r.verdict_reason, "acknowledged by the restored leader"));
    free(x);
    /* the restore failed */
    x = story();
    x->r.total_loss.restored = false;
    snprintf(x->r.total_loss.error, sizeof(x->r.total_loss.error), "no manifest");
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_non_null(strstr(x->r.r.verdict_reason, "The restore failed: no manifest"));
    free(x);
    /* the backup failed: nothing was killed, nothing read back */
    x = tl_new();
    x->r.total_loss.backup_id[0] = '\0';
    x->r.total_loss.write_present = NULL;
    x->r.fault_ms = -1;
    snprintf(x->r.total_loss.error, sizeof(x->r.total_loss.error), "no replica");
    w(x, 1000, 1005, DRILL_W_ACKED, true);
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_non_null(strstr(x->r.r.verdict_reason, "The backup failed: no replica"));
    assert_int_equal(x->r.total_loss.rto_writable_ms, -1);
    free(x);
    /* never writable again */
    x = tl_new();
    w(x, 1000, 1005, DRILL_W_ACKED, true);
    w(x, 5000, 6000, DRILL_W_ERROR, false);
    drill_result_compute(&x->r, 1);
    assert_false(x->r.r.pass);
    assert_non_null(strstr(x->r.r.verdict_reason, "No write was acknowledged after the restore"));
    free(x);
}

static json_int_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void test_json(void **state)
{
    (void)state;
    tl_rec *x = story();
    drill_result_compute(&x->r, 1);
    json_t *j = drill_report_json(&x->r);
    assert_non_null(j);
    json_t *t = json_object_get(j, "total_loss");
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "backup_id")), "20261202T193012Z");
    assert_int_equal(jint(t, "rpo_writes"), 4);
    assert_int_equal(jint(t, "lost_before_backup"), 0);
    assert_int_equal(jint(t, "kept_during_backup"), 1);
    assert_int_equal(jint(t, "lost_during_backup"), 1);
    assert_int_equal(jint(t, "lost_after_backup"), 3);
    assert_int_equal(jint(t, "lost_after_restore"), 0);
    assert_int_equal(jint(t, "rto_writable_ms"), 600);
    assert_int_equal(jint(t, "rto_healthy_ms"), 1500);
    assert_int_equal(jint(t, "nodes_killed"), 6);
    assert_int_equal(jint(t, "keys_restored"), 10);
    assert_string_equal(json_string_value(json_object_get(t, "key_prefix")), "drill:1");
    /* seqs 103..107 acknowledged since the backup (writes 3 to 7), one
     * range; lost: 104..107 */
    char *since = json_dumps(json_object_get(t, "acked_since_backup_seqs"), JSON_COMPACT);
    char *lost = json_dumps(json_object_get(t, "lost_seqs"), JSON_COMPACT);
    assert_string_equal(since, "[[103,107]]");
    assert_string_equal(lost, "[[104,107]]");
    free(since);
    free(lost);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "pass");
    assert_int_equal(jint(j, "acked_writes_lost"), 0); /* the orchestrator's: not set here */
    json_decref(j);
    /* not read back: the lost counts are null, the acknowledged ones stay */
    x->r.total_loss.write_present = NULL;
    drill_result_compute(&x->r, 1);
    j = drill_report_json(&x->r);
    t = json_object_get(j, "total_loss");
    assert_true(json_is_null(json_object_get(t, "rpo_writes")));
    assert_true(json_is_null(json_object_get(t, "lost_seqs")));
    assert_int_equal(jint(t, "acked_after_backup"), 3);
    json_decref(j);
    free(x);
}

static void test_ranges_split(void **state)
{
    (void)state;
    /* an unacknowledged write between two acknowledged ones ends a range */
    tl_rec *x = tl_new();
    w(x, 3000, 3001, DRILL_W_ACKED, false);
    w(x, 3010, 3011, DRILL_W_WRITTEN, false);
    w(x, 3020, 3021, DRILL_W_ACKED, false);
    w(x, 3030, 3031, DRILL_W_ACKED, true);
    w(x, 5000, 5001, DRILL_W_ACKED, true);
    drill_result_compute(&x->r, 1);
    json_t *j = drill_report_json(&x->r);
    json_t *t = json_object_get(j, "total_loss");
    char *since = json_dumps(json_object_get(t, "acked_since_backup_seqs"), JSON_COMPACT);
    char *lost = json_dumps(json_object_get(t, "lost_seqs"), JSON_COMPACT);
    assert_string_equal(since, "[[100,100],[102,103]]");
    assert_string_equal(lost, "[[100,100],[102,102]]");
    free(since);
    free(lost);
    json_decref(j);
    free(x);
}

static void test_text(void **state)
{
    (void)state;
    tl_rec *x = story();
    drill_result_compute(&x->r, 1);
    char *txt = drill_report_text(&x->r, NULL);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "TOTAL LOSS (times from the kill)"));
    assert_non_null(strstr(txt, "6 of 6 redis-server (SIGKILL); sentinels and agents kept"));
    assert_non_null(strstr(txt, "RTO writable  (kill -> first acknowledged write)   0.600 s"));
    assert_non_null(strstr(txt, "4 acknowledged writes lost, the first sent 2.100 s before "
                                "the kill"));
    assert_non_null(strstr(txt, "2 acknowledged: 1 in the backup, 1 lost"));
    assert_non_null(strstr(txt, "a real total power loss also stops the sentinels"));
    free(txt);
    char *svg = drill_report_svg(&x->r, NULL);
    assert_non_null(svg);
    assert_non_null(strstr(svg, "writable +0.600 s"));
    free(svg);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_result),
        cmocka_unit_test(test_fails),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_ranges_split),
        cmocka_unit_test(test_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
