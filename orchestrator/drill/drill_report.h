/* drill_report.h - what a drill measured, computed from its record and
 * written out for people and tools:
 *
 *   report.json   the measurements, the marks and the timeline
 *   report.txt    the same, to read: verdict, measurements, timeline,
 *                 writer summary
 *   timeline.svg  writes per 100 ms with the fault, first +odown, first
 *                 +switch-master, restore and ready drawn as labelled lines
 *
 * Pure: every function works on a drill_record in memory and does no I/O,
 * except drill_report_write(), which writes the three files, and
 * drill_report_publish(), which also prints the report.  The unit tests
 * build records by hand.
 *
 * Times are the record's: milliseconds since the drill's start.  Reports
 * show them relative to the fault ("+1.024 s"), the moment a reader
 * measures from.  A time or duration of -1 means "did not happen" and is
 * null in JSON, "-" in text. */
#ifndef MRD_DRILL_REPORT_H
#define MRD_DRILL_REPORT_H

#include <jansson.h>

#include "drill.h"
#include "err.h"

/* ==== computing the result ==== */

/* Fill the fields of R->r that follow from R's writes, events and marks.
 *
 * Inputs (read, never written):
 *   R->fault_ms, R->restore_ms, R->ready_ms, R->end_ms, R->writes,
 *   R->nwrites, R->events, R->nevents; and the fields of R->r only the
 *   orchestrator can know, which this function never touches:
 *   acked_writes_lost, unacked_writes_lost, full_syncs, partial_syncs,
 *   split_brain, healed.
 *
 * Outputs (overwritten):
 *   detect_ms            fault -> first "+odown" event at/after fault_ms
 *   failover_ms          fault -> first "+switch-master" at/after fault_ms
 *   write_unavailable_ms the longest gap between consecutive acknowledged
 *                        writes of the main (non-isolated) writer, counted
 *                        from the last one at/before the fault (the fault
 *                        itself when there is none); when no write was
 *                        acknowledged after the fault, the gap runs to
 *                        end_ms.  -1 when there was no fault.
 *   writes_attempted     main-writer writes sent
 *   writes_acked         main-writer writes in state DRILL_W_ACKED
 *   isolated_accepted    isolated writes in state WRITTEN or ACKED
 *   isolated_refused_ms  fault -> first isolated write in state ERROR
 *                        at/after fault_ms
 *   heal_ms              restore_ms -> ready_ms
 *   pass                 acked_writes_lost == 0 && healed
 *   verdict_reason       one sentence saying why (also when it passed)
 * Durations that cannot be measured are -1.
 *
 * A scale record (R->scale.present; its fault_ms is the deploy's start,
 * restore_ms its return) also gets R->scale's scale_ms, acked_per_s_before
 * (load_ready_ms -> fault_ms), _during (fault_ms -> restore_ms), _after
 * (restore_ms -> end_ms) and longest_gap_writer; its write_unavailable_ms
 * is the longest gap of one writer thread (the writes whose .shard is
 * that writer, 0 .. scale.writers - 1) counted as above, and pass needs
 * scale.deploy_exit 0 and scale.readback_complete as well (healed is not
 * read).
 *
 * A total-loss record (R->total_loss.present) gets R->total_loss's
 * classes (drill_total_loss_classify() of every write, its losses from
 * write_present), rto_writable_ms (fault -> the done_ms of the first
 * acknowledged write sent at/after kill_end_ms), rto_healthy_ms (fault ->
 * ready_ms), rpo_writes and rpo_window_ms; pass needs a backup, a restore,
 * healed, the writes read back, a write acknowledged after the restore
 * and nothing lost that was acknowledged before the backup or after the
 * kill (what was acknowledged in between may be lost: the RPO).
 *
 * WAIT_REPLICAS is the topology's wait_replicas, the number of replicas a
 * WAIT had to confirm for a write to count as acknowledged; it is quoted in
 * the verdict reason.  The record's other fields (failover_seen_ms
 * included) are left as they are.  R may be NULL (no-op). */
void drill_result_compute(drill_record *r, int wait_replicas);

/* ==== total-loss ==== */

/* Where an acknowledged write of a total-loss drill stands against the
 * backup's cut (drill.h, drill_total_loss). */
typedef enum drill_tl_class {
    DRILL_TL_NONE = 0,  /* not acknowledged, or the isolated writer's */
    DRILL_TL_BEFORE,    /* acknowledged (done_ms) before backup_start_ms */
    DRILL_TL_DURING,    /* neither: either side of the cut */
    DRILL_TL_AFTER,     /* sent at/after backup_end_ms, before KILL_END_MS */
    DRILL_TL_RESTORED,  /* sent at/after KILL_END_MS (>= 0): to the restored
                           leader */
} drill_tl_class;

/* The class of write W given X's backup marks and KILL_END_MS (-1: no
 * kill yet).  Pure. */
drill_tl_class drill_total_loss_classify(const drill_total_loss *x, const drill_write *w,
                                         int64_t kill_end_ms);

/* ==== reports ==== */

/* The names of the numbers a record holds: drill_event.sentinel is a host
 * index, drill_write.leader a node index.  Either list may be NULL (or
 * shorter than an index): such an index prints as "host#I" / "node#I".
 * All borrowed. */
typedef struct drill_names {
    const char *const *hosts;
    int nhosts;
    const char *const *nodes;
    int nnodes;
} drill_names;

/* report.json as a new reference (caller json_decref()s), NULL on OOM:
 *   scenario, target, topology, verdict ("pass"/"fail"), verdict_reason,
 *   leader_before, leader_after (null when unknown), detect_ms,
 *   failover_ms, write_unavailable_ms, heal_ms, isolated_refused_ms
 *   (null when -1), writes_attempted, writes_acked, writes_written (sent,
 *   answered OK, not acknowledged), writes_failed, acked_writes_lost,
 *   unacked_writes_lost, full_syncs, partial_syncs, split_brain, healed,
 *   isolated_attempted, isolated_accepted,
 *   scale (a scale record only): {shards_before, shards_after,
 *     shards_added, shards_retiring, slots_to_move, deploy_exit, scale_ms,
 *     writers, rate, acked_per_s_before, acked_per_s_during,
 *     acked_per_s_after, longest_gap_ms, longest_gap_writer (from 1),
 *     masters_after, readback_complete}; full_syncs and partial_syncs are
 *     null in a scale record (not counted),
 *   marks: {fault_ms, failover_seen_ms, restore_ms, ready_ms, end_ms},
 *   total_loss (a total-loss record only): {backup_id, backup_keys,
 *     backup_ms, nodes_killed, nodes_total, kept_running, restored,
 *     restore_ms, restore_writable_ms, keys_restored, rto_writable_ms,
 *     rto_healthy_ms, rpo_writes, rpo_window_ms, acked_before_backup,
 *     lost_before_backup, acked_during_backup, kept_during_backup,
 *     lost_during_backup, acked_after_backup, lost_after_backup,
 *     acked_after_restore, lost_after_restore, key_prefix,
 *     acked_since_backup_seqs and lost_seqs ([[first, last], ...] ranges
 *     of seqs: the writes acknowledged during or after the backup and
 *     before the kill; every acknowledged write missing), backup_start_ms,
 *     backup_end_ms, kill_end_ms, error}; the lost counts are null when
 *     the writes were not read back,
 *   timeline: [{t_ms, source (sentinel host index, or "drill"), event,
 *               detail}] ordered by time.
 * R is borrowed; it must not be NULL. */
json_t *drill_report_json(const drill_record *r);

/* report.txt as a new NUL-terminated string (caller free()s), NULL on
 * OOM: a header (topology, scenario, target, verdict in capitals and its
 * reason), a table of the measurements with units, the timeline (one line
 * per event, "+1.024 s  euw-a1  +odown  master local 127.0.1.1 16379
 * #quorum 2/2", seconds relative to the fault) and the writer summary.
 *
 * NAMES (may be NULL) names the hosts of event sources and the nodes
 * writes were sent to.  Control characters in details print as '?'.  All
 * borrowed; R must not be NULL. */
char *drill_report_text(const drill_record *r, const drill_names *names);

/* timeline.svg as a new NUL-terminated string (caller free()s), NULL on
 * OOM: a self-contained 960x360 SVG (generic font family, no scripts, no
 * external references): a title line (scenario, target, verdict,
 * write_unavailable_ms), stacked bars of the main writer's writes per
 * 100 ms (acknowledged, written but not acknowledged), thin strips for
 * failed writes and for writes the isolated leader accepted, an x axis in
 * seconds from the fault, a y axis in writes/100 ms, and a vertical line
 * with its label beside it for each of fault, first +odown, first
 * +switch-master, restore and ready.  Timeline events (the sentinels'
 * and the drill's own) are small ticks above the plot whose <title>
 * (tooltip) holds the event.  All text is XML-escaped; invalid UTF-8 and
 * control characters become '?'.
 * Arguments as for drill_report_text(). */
char *drill_report_svg(const drill_record *r, const drill_names *names);

/* Create DIR and its parents (mode 0755) and write DIR/report.json,
 * DIR/report.txt and DIR/timeline.svg, each atomically with mode 0644.
 * MRD_ERR_NOMEM when a report cannot be built, MRD_ERR_IO / MRD_ERR_INVALID
 * from the file system (detail in ERR, which may be NULL).  A file already
 * written stays when a later one fails.  Arguments borrowed. */
mrd_rc drill_report_write(const char *dir, const drill_record *r, const drill_names *names,
                          mrd_error *err);

/* The end of every drill: compute R's result (drill_result_compute), write
 * the three files to OUT_DIR when it is not NULL, and print the report to
 * stdout, as JSON or as text.  The files' failure is returned (the report
 * is printed anyway). */
mrd_rc drill_report_publish(drill_record *r, int wait_replicas, const drill_names *names,
                            const char *out_dir, bool json, mrd_error *err);

#endif
