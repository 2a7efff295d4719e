#include <stdlib.h>
#include <sys/wait.h>

#include "fsutil.h"
#include "proc.h"
#include "transport.h"

static mrd_rc local_mkdir_p(const mrd_host *host, const char *path, mode_t mode,
                            mrd_error *err)
{
    (void)host;
    return mrd_mkdir_p(path, mode, err);
}

static mrd_rc local_put_file(const mrd_host *host, const char *path, const void *data,
                             size_t len, mode_t mode, mrd_error *err)
{
    (void)host;
    return mrd_write_atomic(path, data, len, mode, err);
}

static mrd_rc local_get_file(const mrd_host *host, const char *path, char **out,
                             mrd_error *err)
{
    (void)host;
    return mrd_read_file(path, 16 << 20, out, NULL, err);
}

static mrd_rc local_run(const mrd_host *host, const char *const argv[],
                        const char *log_path, int *status, mrd_error *err)
{
    (void)host;
    pid_t pid;
    mrd_rc rc = mrd_spawn(argv, log_path, MRD_SPAWN_CHILD, &pid, err);
    if (rc != MRD_OK)
        return rc;
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return mrd_error_set(err, MRD_ERR_PROCESS, "lost track of %s", argv[0]);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return MRD_OK;
}

static mrd_rc local_spawn_daemon(const mrd_host *host, const char *const argv[],
                                 const char *log_path, mrd_error *err)
{
    (void)host;
    pid_t pid;
    return mrd_spawn(argv, log_path, MRD_SPAWN_DAEMON, &pid, err);
}

static mrd_rc local_remove_tree(const mrd_host *host, const char *path, mrd_error *err)
{
    (void)host;
    return mrd_rm_rf(path, err);
}

static const mrd_transport_ops local_ops = {
    .name = "local",
    .mkdir_p = local_mkdir_p,
    .put_file = local_put_file,
    .get_file = local_get_file,
    .run = local_run,
    .spawn_daemon = local_spawn_daemon,
    .remove_tree = local_remove_tree,
};

const mrd_transport_ops *transport_local(void)
{
    return &local_ops;
}
