/* lock.h - one process at a time in a folder: an exclusive flock(2) on
 * the folder itself.
 *
 * The kernel drops a flock when its descriptor is closed, and so when the
 * holder dies, kill -9 included: a crash never leaves a lock behind.
 * Locking the folder rather than a file in it ties the lock to the
 * folder's life: a holder that removes the folder (destroy removes the
 * state dir) keeps everybody out until it is done, and whoever waited is
 * told the folder is gone instead of getting a lock on a removed one.
 * (A lock file inside the folder would be unlinked before the folder, and
 * a waiter could create a new one in the half-removed folder.)
 *
 * The holder writes "PID WHAT\n" (e.g. "4242 deploy") to a file in the
 * folder, so whoever waits can name it.  That file is only a record:
 * removing it frees nothing.  flock locks belong to an open file, so two
 * takes in one process exclude each other too. */
#ifndef MRD_LOCK_H
#define MRD_LOCK_H

#include <sys/types.h>

#include "err.h"

typedef struct mrd_lock mrd_lock; /* opaque: a held lock */

typedef struct mrd_lock_holder {
    pid_t pid;     /* 0 when unknown */
    char what[32]; /* what it is doing ("deploy"), "" when unknown */
} mrd_lock_holder;

/* Lock folder DIR, which must exist, waiting at most WAIT_MS (0: try
 * once).  On success *out is a new lock (release it with
 * mrd_lock_release(), or exit) and DIR/RECORD (mode 0600) says "PID WHAT".
 *   MRD_ERR_TIMEOUT    another process held it for all of WAIT_MS;
 *                      *holder (may be NULL) says who, as far as known
 *   MRD_ERR_NOT_FOUND  DIR does not exist, or was removed while we waited
 *   MRD_ERR_IO         open or flock failed (errno in the message) */
mrd_rc mrd_lock_take(const char *dir, const char *record, const char *what, int wait_ms,
                     mrd_lock **out, mrd_lock_holder *holder, mrd_error *err);

/* Release and free *l, set it to NULL; the record is emptied first, so
 * nobody reads us as the holder any more (it may be gone with the folder:
 * fine).  Accepts NULL and *l == NULL. */
void mrd_lock_release(mrd_lock **l);

#endif
