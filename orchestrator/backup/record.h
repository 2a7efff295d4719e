/* record.h - the last good backup, as this state dir knows it.
 *
 * `meridian backup` writes STATE/backup/last.json once a backup is
 * verified in object storage; `meridian status` reads it to show the age
 * of the last good backup (a WARNING past backup.warn_after_h) without
 * asking the storage, so status stays fast and needs no credentials.
 * Backups run from the machine that holds the state dir (as deploys do). */
#ifndef MRD_RECORD_H
#define MRD_RECORD_H

#include <stdbool.h>

#include "catalog.h"
#include "err.h"

#define BACKUP_DIR "backup"         /* under the state dir: the lock, work files */
#define BACKUP_LAST "last.json"

typedef struct backup_last {
    char id[CATALOG_ID_LEN];
    long long created;   /* unix seconds */
    long long keys;
    long long bytes;
    char bucket[64];
    char folder[1024];   /* PREFIX NAME/ */
} backup_last;

/* Write L as STATE_DIR/backup/last.json (atomically, 0600). */
mrd_rc backup_last_write(const char *state_dir, const backup_last *l, mrd_error *err);

/* Read it.  MRD_ERR_NOT_FOUND when no backup was recorded; MRD_ERR_PARSE
 * when the file is not one backup_last_write() wrote. */
mrd_rc backup_last_read(const char *state_dir, backup_last *l, mrd_error *err);

#endif
