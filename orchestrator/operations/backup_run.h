/* backup_run.h - `meridian backup` and `meridian restore`: a deployment's
 * data to S3-compatible object storage and back (catalog.h says what a
 * backup is there).
 *
 * backup: for every shard, the RDB of a healthy replica (the replication
 * protocol's snapshot, store/snapshot.h: the replica forks for it, the
 * leader never does) is fetched into STATE/backup/work, checked (header,
 * CRC64, end opcode) and walked to count its keys (store/rdb_scan.h),
 * uploaded with its SHA-256 (multipart when large), and read back (HEAD:
 * size and checksum); the manifest is written last.  Only then are old
 * backups deleted (backup.keep_last, backup.keep_days), with interrupted
 * ones and abandoned multipart uploads, and STATE/backup/last.json
 * recorded (record.h).  A failed backup deletes nothing.  Cluster mode
 * fetches the shards one after the other: each shard's RDB is consistent
 * in itself, the set spans the seconds the fetches take (Redis offers no
 * cross-shard snapshot).
 *
 * restore: into an empty deployment: every shard's RDB is downloaded into
 * STATE/restore/ID (a file already there with the manifest's checksum is
 * kept: a restore killed midway resumes), checked against the manifest's
 * SHA-256 and key count, put on the host of the shard's master and loaded
 * there by its agent (POST /v1/seed) while the shard's replicas are held
 * at replica-priority 0 (no sentinel promotes an empty replica meanwhile);
 * the replicas then sync from the master.  The restore waits until every
 * node is healthy and checks that the master holds the manifest's keys
 * (loaded + expired while loading).  A deployment whose nodes hold keys is
 * refused unless FORCE.  Cluster mode: every shard of the deployment gets
 * the backup shard that owned exactly its slots (a fresh deploy of the
 * same cluster.shards); its replicas are held with
 * cluster-replica-no-failover.
 *
 * Both take the lock of STATE/backup (one backup or restore at a time, not
 * in the way of deploys and heals), which the caller takes
 * (backup_lock()). */
#ifndef MRD_BACKUP_RUN_H
#define MRD_BACKUP_RUN_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "err.h"
#include "lock.h"
#include "orch.h"
#include "s3.h"

#define BACKUP_FETCH_TIMEOUT_MS 60000      /* the snapshot's idle timeout */
#define RESTORE_SEED_TIMEOUT_MS 1800000    /* a seed loads the whole RDB */
#define RESTORE_HEALTHY_TIMEOUT_MS 600000  /* replicas sync after the seed */
#define RESTORE_HOLD_MS 300000             /* replicas held while the master loads */

typedef struct backup_opts {
    FILE *progress; /* steps, bytes and rates (stderr); NULL: quiet */
} backup_opts;

/* Take the lock of STATE/backup, waiting at most WAIT_MS.  *out as
 * mrd_lock_take(); MRD_ERR_TIMEOUT names who holds it. */
mrd_rc backup_lock(const orch_ctx *c, int wait_ms, mrd_lock **out, mrd_error *err);

/* A client of the topology's bucket with the credentials of
 * backup.credentials_file or the AWS_* environment.  MRD_ERR_INVALID
 * when the topology has no backup section. */
mrd_rc backup_store_open(const orch_ctx *c, s3_client **out, mrd_error *err);

/* Back up C's deployment.  *result (new) gets {"id", "topology", "keys",
 * "bytes", "duration_ms", "shards": [...], "deleted": [ids],
 * "aborted_uploads": N}.  Errors are sentences naming the shard, the node
 * or the object, and the cause. */
mrd_rc backup_run(orch_ctx *c, const backup_opts *o, json_t **result, mrd_error *err);

/* The backups of C's topology in its bucket, newest first: {"backups":
 * [{"id", "created", "complete", "bytes", "objects"}]} (new). */
mrd_rc backup_list(orch_ctx *c, json_t **result, mrd_error *err);

/* The SHA-256 of the file at PATH, as 64 hex digits in HEX. */
mrd_rc backup_sha256_file(const char *path, char hex[65], mrd_error *err);

typedef struct restore_opts {
    const char *from;  /* a backup id, or NAME/ID: another topology's */
    bool apply;        /* false: check the backup and the deployment only */
    bool force;        /* even over nodes that hold keys */
    FILE *progress;
} restore_opts;

/* Restore backup O->from into C's deployment.  *result (new) gets {"id",
 * "keys": expected, "keys_loaded", "keys_expired", "writable_ms" (every
 * master loaded and has the linked replicas min_replicas_to_write asks),
 * "healthy_ms", "duration_ms", "shards": [...], "applied": true}; without
 * O->apply, once the manifest and the deployment are checked, {"id",
 * "keys", "shards", "applied": false}. */
mrd_rc restore_run(orch_ctx *c, const restore_opts *o, json_t **result, mrd_error *err);

#endif
