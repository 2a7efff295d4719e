/* transport.h - how the orchestrator reaches a host.
 *
 * A small function table, in the style of curl's vssh/vtls backends: the
 * local transport runs things directly on this machine (every host is a
 * loopback address); the ssh transport (libssh2) will implement the same
 * operations on remote machines.  Tests can swap the table freely. */
#ifndef MRD_TRANSPORT_H
#define MRD_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "topology.h"

typedef struct mrd_transport_ops {
    const char *name;
    /* Create PATH and its parents on HOST. */
    mrd_rc (*mkdir_p)(const mrd_host *host, const char *path, mode_t mode,
                      mrd_error *err);
    /* Replace PATH on HOST atomically with LEN bytes of DATA, mode MODE. */
    mrd_rc (*put_file)(const mrd_host *host, const char *path, const void *data,
                       size_t len, mode_t mode, mrd_error *err);
    /* Read PATH on HOST into *out (new, NUL-terminated).  MRD_ERR_NOT_FOUND
     * when it does not exist. */
    mrd_rc (*get_file)(const mrd_host *host, const char *path, char **out,
                       mrd_error *err);
    /* Run ARGV on HOST and wait; *status gets its exit status (or 128+sig).
     * Its output goes to LOG_PATH on the host (NULL: discarded). */
    mrd_rc (*run)(const mrd_host *host, const char *const argv[],
                  const char *log_path, int *status, mrd_error *err);
    /* Start ARGV on HOST as a daemon, output appended to LOG_PATH. */
    mrd_rc (*spawn_daemon)(const mrd_host *host, const char *const argv[],
                           const char *log_path, mrd_error *err);
    /* Remove PATH on HOST recursively. */
    mrd_rc (*remove_tree)(const mrd_host *host, const char *path, mrd_error *err);
} mrd_transport_ops;

/* The local transport (borrowed, static). */
const mrd_transport_ops *transport_local(void);

#endif
