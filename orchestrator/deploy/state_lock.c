/* state_lock.c - the state dir's lock, which deploy and destroy take. */
#include "deploy_int.h"

#include <stdio.h>

#include "fsutil.h"

/* STATE/deploy.lock names the holder ("PID deploy") of the state dir's
 * lock, which is an flock on the folder itself (common/lock.h). */
#define DEPLOY_LOCK_RECORD "deploy.lock"

/* Take the state dir's lock for WHAT ("deploy", "destroy"), so that
 * deploys and destroys of one state dir run one at a time: a second one
 * says on OUT that it waits, waits up to WAIT_MS, then gives up with a
 * sentence on stderr.  CREATE: make the state dir (0700) first;
 * a destroy that removed it while we waited makes us make it again.  The
 * lock is an flock on the folder: the kernel drops it when we exit, kill
 * -9 included.  Returns 0 with *l held; DEPLOY_EXIT_BUSY when another one
 * held it all along; -1 when the state dir does not exist (only without
 * CREATE); 2 on any other error (said on stderr). */
int state_lock(orch_ctx *c, const char *what, bool create, int wait_ms, FILE *out,
               mrd_lock **l)
{
    mrd_error err;
    mrd_lock_holder who = {0};
    mrd_rc rc = MRD_ERR_NOT_FOUND;
    bool said = false;
    for (int attempt = 0; attempt < 3 && rc == MRD_ERR_NOT_FOUND; attempt++) {
        mrd_error_clear(&err);
        if (create && mrd_mkdir_p(c->state_dir, 0700, &err) != MRD_OK) {
            rc = err.code;
            break;
        }
        rc = mrd_lock_take(c->state_dir, DEPLOY_LOCK_RECORD, what, 0, l, &who, &err);
        if (rc == MRD_ERR_TIMEOUT) {
            if (out && !said) {
                char pid[32] = "pid unknown";
                if (who.pid > 0)
                    snprintf(pid, sizeof(pid), "pid %d", (int)who.pid);
                fprintf(out, "waiting for another %s of %s (%s) to finish, at most %.0f s\n",
                        who.what[0] ? who.what : "deploy or destroy", c->topo->name, pid,
                        wait_ms / 1000.0);
                fflush(out);
                said = true;
            }
            rc = mrd_lock_take(c->state_dir, DEPLOY_LOCK_RECORD, what, wait_ms, l, &who,
                               &err);
        }
        if (rc == MRD_ERR_NOT_FOUND && !create)
            return -1;
    }
    if (rc == MRD_OK)
        return 0;
    if (rc == MRD_ERR_TIMEOUT) {
        char pid[32] = "pid unknown";
        if (who.pid > 0)
            snprintf(pid, sizeof(pid), "pid %d", (int)who.pid);
        fprintf(stderr,
                "meridian: another %s of %s is running (%s, state %s); waited %.0f s for "
                "it. Run %s again once it has finished.\n",
                who.what[0] ? who.what : "deploy or destroy", c->topo->name, pid,
                c->state_dir, wait_ms / 1000.0, what);
        return DEPLOY_EXIT_BUSY;
    }
    char buf[600];
    mrd_error_format(&err, buf, sizeof(buf));
    fprintf(stderr, "meridian: cannot lock the state dir: %s\n", buf);
    return 2;
}
