/* drill_total_loss.h - the total-loss drill, `meridian drill TOPOLOGY
 * total-loss`: what a backup is worth when every copy of the data is gone.
 *
 *   preflight  sentinel mode (cluster mode is refused, exit 64: restore
 *              is sentinel-only), no argument, a backup section whose
 *              storage opens (credentials included), healthy (a
 *              converging topology gets DRILL_TL_PREFLIGHT_WAIT_MS), no
 *              failover cooldown (--wait waits it out), the lock of
 *              STATE/backup free;
 *   load       the sentinel-mode writer (drill_load.h) and the sentinels'
 *              timeline; DRILL_TL_WARMUP_MS of writes, one acknowledged
 *              at least (else refused);
 *   backup     backup_run() under the load, as `meridian backup` runs it
 *              (its progress on stderr): the RDB of a replica, whose fork
 *              is the cut;
 *   more load  DRILL_TL_AFTER_BACKUP_MS of writes the backup lacks;
 *   kill       every redis-server of every region SIGKILLed through the
 *              transport (`meridian-agent fault --kill`, by pid file), the
 *              leader first (an agent rebuilds a replica only from a
 *              living leader: none is rebuilt in the kill's window), then
 *              the replicas host by host, each held at replica-priority 0
 *              beforehand (agent /v1/hold) so that the crash fast path's
 *              SENTINEL FAILOVER finds no replica to promote in the
 *              meantime.  Then every node is probed; one that answers
 *              again is killed again (DRILL_TL_KILL_ROUNDS).
 *              Sentinels and agents keep running: the report says so, and
 *              what a real power loss adds;
 *   restore    restore_run() of the backup, apply, no force, as `meridian
 *              restore --yes` runs it (the leader's agent loads the RDB,
 *              the replicas are rebuilt from it by their agents); then
 *              status is polled until OK (ready);
 *   tail       DRILL_TL_TAIL_MS more writes (longer to fill --duration);
 *   verify     every write read back from the restored leader, one flag
 *              per write (drill_load_present()), classed against the
 *              backup's marks (drill_report.h, drill_total_loss_classify()).
 *
 * The drill never kills before a backup has succeeded: a failed backup
 * ends it (exit 2) with every node running.  After the kill it does not
 * stop for Ctrl-C before the restore has run.  Sentinel's failover
 * attempt (aborted: no replica to promote) is noted as a failover in the
 * state dir, so a drill that moves the leader waits out the cooldown. */
#ifndef MRD_DRILL_TOTAL_LOSS_H
#define MRD_DRILL_TOTAL_LOSS_H

#include "drill.h"
#include "orch.h"

#define DRILL_TL_PREFLIGHT_WAIT_MS 15000 /* a converging topology gets this long */
#define DRILL_TL_WARMUP_MS 2000          /* writes before the backup */
#define DRILL_TL_AFTER_BACKUP_MS 2000    /* writes after it, before the kill */
#define DRILL_TL_HOLD_MS 120000          /* replicas held across kill and restore */
#define DRILL_TL_KILL_ROUNDS 5           /* probe and kill again, at most */
#define DRILL_TL_PROBE_MS 300            /* each node's probe after the kill */
#define DRILL_TL_READY_TIMEOUT_MS 90000  /* status OK after the restore */
#define DRILL_TL_TAIL_MS 1000            /* writes after ready */
#define DRILL_TL_VERIFY_MS 5000          /* read-back: connect and each batch */

/* Run the total-loss drill on C with O's out_dir, json, duration_s, rate
 * and wait_cooldown.  Exit code: 0 pass, 2 fail (the backup or the
 * restore failed, a write acknowledged before the backup or after the
 * restore is missing, not healthy again), 1 refused in preflight (no
 * backup section, storage not reachable, not healthy, cooldown, another
 * backup or restore running, no write acknowledged), 3 could not run,
 * 64 cluster mode or an argument.  Progress on stderr, the report on
 * stdout. */
int drill_total_loss_run(orch_ctx *c, const drill_opts *o);

#endif
